//! `scope-missing`: a scope the baseline holds, within what the scan was asked
//! to cover, is out of reach: the account left the organization (removed,
//! suspended or closed: MITRE T1666, Modify Cloud Resource Hierarchy), the
//! Azure identity no longer sees the subscription, or the AWS region is no
//! longer enabled. Its snapshots were not seen; their findings stay open.
//! One finding per account (subscription) and reason, naming its scopes.

use std::collections::BTreeMap;

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, MissingReason, Provider, Scope, Severity};

pub struct ScopeMissing;

impl Rule for ScopeMissing {
    fn meta(&self) -> Meta {
        // An account that left the organization; the other reasons are medium.
        Meta { id: "scope-missing", kind: Kind::State, severity: Severity::High, mitre: &["T1666"] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut groups: BTreeMap<(Provider, &str, MissingReason), Vec<&Scope>> = BTreeMap::new();
        for c in ctx.coverage {
            if let Some(reason) = c.missing_reason() {
                groups.entry((c.scope.provider, &c.scope.account, reason)).or_default().push(&c.scope);
            }
        }
        groups
            .into_iter()
            .map(|((provider, account, reason), scopes)| {
                let what = provider.account_noun();
                // Scopes sort by service first: a region recurs per service.
                let regions: Vec<&str> = scopes
                    .iter()
                    .map(|s| s.region.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let subject = match reason {
                    MissingReason::RegionDisabled => format!("{what} {account}: regions {}", regions.join(", ")),
                    _ => format!("{what} {account}"),
                };
                let why = match reason {
                    MissingReason::RegionDisabled => format!("region(s) {} {}", regions.join(", "), reason.describe()),
                    _ => format!("{what} {account} {}", reason.describe()),
                };
                let mut f = raise(
                    self,
                    scopes[0],
                    subject,
                    format!(
                        "{why}: {} scope(s) known to the baseline were not scanned; their last known state stands \
                         and their findings stay open",
                        scopes.len()
                    ),
                );
                f.related = scopes.iter().map(|s| s.to_string()).collect();
                if reason != MissingReason::LeftOrganization {
                    f.severity = Severity::Medium;
                    f.mitre.clear();
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coverage, Service};
    use crate::rules::test_support::Fixture;

    fn scope(account: &str, service: Service, region: &str) -> Scope {
        Scope { provider: Provider::Aws, service, account: account.into(), region: region.into() }
    }

    #[test]
    fn one_finding_per_account_and_reason_high_only_for_leaving_the_organization() {
        let mut fx = Fixture::default();
        let gone =
            |service, region| Coverage::missing(scope("2", service, region), MissingReason::LeftOrganization, "left");
        fx.coverage = vec![
            Coverage::complete(scope("1", Service::Ebs, "eu-west-1")),
            gone(Service::Ebs, "eu-west-1"),
            gone(Service::Rds, "eu-west-1"),
            Coverage::missing(scope("3", Service::Ebs, "ap-east-1"), MissingReason::RegionDisabled, "off"),
            Coverage::failed(scope("4", Service::Ebs, "eu-west-1"), "AccessDenied", "denied"),
        ];
        let f = ScopeMissing.evaluate(&fx.ctx());
        let got: Vec<(&str, Severity, usize, &[String])> =
            f.iter().map(|f| (f.subject.as_str(), f.severity, f.related.len(), f.mitre.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                ("account 2", Severity::High, 2, &["T1666".to_string()][..]),
                ("account 3: regions ap-east-1", Severity::Medium, 1, &[][..]),
            ]
        );
        assert!(f[0].message.contains("no longer an active account of the organization"), "{}", f[0].message);
    }

    #[test]
    fn each_disabled_region_is_named_once_whatever_the_services() {
        let mut fx = Fixture::default();
        let off =
            |service, region| Coverage::missing(scope("3", service, region), MissingReason::RegionDisabled, "off");
        // Sorted as scopes are: by service, then region.
        fx.coverage = vec![
            off(Service::Ebs, "ap-east-1"),
            off(Service::Ebs, "me-south-1"),
            off(Service::Rds, "ap-east-1"),
            off(Service::Rds, "me-south-1"),
        ];
        let f = ScopeMissing.evaluate(&fx.ctx());
        assert_eq!(f[0].subject, "account 3: regions ap-east-1, me-south-1");
        assert_eq!(f[0].related.len(), 4);
    }
}
