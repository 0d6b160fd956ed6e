//! `azure-sas-export`: an Azure snapshot has a live export (SAS) URL, so
//! whoever holds the URL can download the whole disk image.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{Finding, Grantee, Severity};

pub struct AzureSasExport;

impl Rule for AzureSasExport {
    fn meta(&self) -> Meta {
        Meta { id: "azure-sas-export", kind: Kind::State, severity: Severity::High, mitre: &["T1537"] }
    }

    fn judges_exposure(&self) -> bool {
        true
    }

    fn per_snapshot(&self) -> bool {
        true
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.snapshots
            .iter()
            .filter(|s| s.grantees.contains(&Grantee::SasExport))
            .map(|s| {
                let state = s.state.as_deref().unwrap_or("ActiveSAS");
                let mut message =
                    format!("a live export URL exists (diskState {state}): whoever holds it can download the snapshot");
                let mut severity = Severity::High;
                if s.grantees.contains(&Grantee::AnyNetwork) {
                    severity = Severity::Critical;
                    message.push_str("; usable from any network");
                }
                if let Some(mode) = super::azure_network_exposure::bare_sas_mode(s) {
                    severity = severity.raised();
                    message.push_str(&format!("; the URL alone suffices (dataAccessAuthMode {mode})"));
                }
                let mut f = raise_on(self, s, message);
                f.severity = severity;
                f.score = 3;
                f.grantees = vec![Grantee::SasExport.label().to_owned()];
                f.remedy = super::remedy_on(s, &[Grantee::SasExport]);
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{Fixture, azure_snapshot};

    #[test]
    fn high_alone_critical_when_the_network_is_open() {
        let private = azure_snapshot(
            "private",
            &[
                ("diskState", "ActiveSAS"),
                ("networkAccessPolicy", "DenyAll"),
                ("dataAccessAuthMode", "AzureActiveDirectory"),
            ],
        );
        let open = azure_snapshot(
            "open",
            &[
                ("diskState", "ActiveSAS"),
                ("networkAccessPolicy", "AllowAll"),
                ("dataAccessAuthMode", "AzureActiveDirectory"),
            ],
        );
        let quiet = azure_snapshot("quiet", &[("diskState", "Unattached"), ("networkAccessPolicy", "AllowAll")]);
        let f = AzureSasExport.evaluate(&Fixture::with(vec![private, open, quiet]).ctx());
        let got: Vec<(&str, Severity)> = f.iter().map(|f| (f.subject.as_str(), f.severity)).collect();
        assert_eq!(got, [("private", Severity::High), ("open", Severity::Critical)]);
        assert!(f[1].message.contains("any network"), "{}", f[1].message);
    }

    #[test]
    fn a_bare_sas_url_raises_the_severity() {
        // No dataAccessAuthMode means no Entra ID check on download.
        let s = azure_snapshot("bare", &[("diskState", "ActiveSASFrozen"), ("networkAccessPolicy", "AllowPrivate")]);
        let f = AzureSasExport.evaluate(&Fixture::with(vec![s]).ctx());
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("the URL alone suffices"), "{}", f[0].message);
    }
}
