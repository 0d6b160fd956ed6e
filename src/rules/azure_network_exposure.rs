//! `azure-network-exposure`: an export URL for an Azure snapshot can be
//! created and used from any network (`networkAccessPolicy: AllowAll` and
//! public network access not disabled), so one leaked grant is enough.

use super::{Context, Kind, Meta, Rule, raise_on};
use crate::model::{
    AZURE_DEFAULT_NETWORK_ACCESS_POLICY, AZURE_DEFAULT_PUBLIC_NETWORK_ACCESS, Finding, Grantee, Severity, Snapshot,
};

pub struct AzureNetworkExposure;

impl Rule for AzureNetworkExposure {
    fn meta(&self) -> Meta {
        Meta { id: "azure-network-exposure", kind: Kind::State, severity: Severity::Medium, mitre: &["T1537"] }
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
            .filter(|s| s.grantees.contains(&Grantee::AnyNetwork))
            .map(|s| {
                // An absent property is its default, and the message says so.
                let stated = |key: &str, default: &str| match s.attributes.get(key) {
                    Some(v) => v.clone(),
                    None => format!("{default} (default, not stated)"),
                };
                let network = stated("networkAccessPolicy", AZURE_DEFAULT_NETWORK_ACCESS_POLICY);
                let public = stated("publicNetworkAccess", AZURE_DEFAULT_PUBLIC_NETWORK_ACCESS);
                let mut message = format!(
                    "exportable from any network (networkAccessPolicy {network}, publicNetworkAccess {public})"
                );
                let mut f = raise_on(self, s, String::new());
                if let Some(mode) = bare_sas_mode(s) {
                    f.severity = f.severity.raised();
                    message.push_str(&format!("; an export URL alone would suffice (dataAccessAuthMode {mode})"));
                }
                f.message = message;
                f.score = 2;
                f.grantees = vec![Grantee::AnyNetwork.label().to_owned()];
                f.remedy = super::remedy_on(s, &[Grantee::AnyNetwork]);
                f
            })
            .collect()
    }
}

/// The `dataAccessAuthMode` when it is not `AzureActiveDirectory`: then a
/// SAS URL works without an Entra ID identity.
pub fn bare_sas_mode(s: &Snapshot) -> Option<&str> {
    match s.attributes.get("dataAccessAuthMode").map(String::as_str) {
        Some("AzureActiveDirectory") => None,
        other => Some(other.unwrap_or("not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{Fixture, azure_snapshot};

    #[test]
    fn medium_with_entra_checks_high_without() {
        let checked = azure_snapshot(
            "checked",
            &[("networkAccessPolicy", "AllowAll"), ("dataAccessAuthMode", "AzureActiveDirectory")],
        );
        let bare = azure_snapshot("bare", &[("networkAccessPolicy", "AllowAll")]);
        let closed =
            azure_snapshot("closed", &[("networkAccessPolicy", "AllowAll"), ("publicNetworkAccess", "Disabled")]);
        let private = azure_snapshot("private", &[("networkAccessPolicy", "DenyAll")]);
        let f = AzureNetworkExposure.evaluate(&Fixture::with(vec![checked, bare, closed, private]).ctx());
        let got: Vec<(&str, Severity)> = f.iter().map(|f| (f.subject.as_str(), f.severity)).collect();
        assert_eq!(got, [("checked", Severity::Medium), ("bare", Severity::High)]);
    }
}
