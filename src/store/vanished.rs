//! Pure: scopes the baseline holds that this scan could not reach although
//! it was asked to cover them. Each becomes a `missing` coverage row, so it
//! is a gap (exit 3) and a `scope-missing` finding, never a silence and never
//! a deletion; its findings stay open because it did not list.

use std::collections::BTreeSet;

use crate::model::{Baseline, Collected, Coverage, CoverageStatus, MissingReason, Scope};

/// Mark what vanished: an account the organization no longer has, a
/// subscription the identity no longer sees, a region no longer enabled.
pub fn mark_missing(baseline: &Baseline, collected: &mut Collected) {
    // A region the account has not enabled is only "not enabled" when
    // nothing was ever listed there; where something was, it was disabled.
    for c in collected.coverage.iter_mut() {
        if c.status == CoverageStatus::NotEnabled && baseline.established.contains(&c.scope) {
            let message = format!(
                "region {} {}: the snapshots last listed there are out of reach, their last known state stands",
                c.scope.region,
                MissingReason::RegionDisabled.describe()
            );
            *c = Coverage::missing(c.scope.clone(), MissingReason::RegionDisabled, message);
        }
    }
    let attempted: BTreeSet<&Scope> = collected.coverage.iter().map(|c| &c.scope).collect();
    let mut vanished = Vec::new();
    for scope in baseline.established.iter().filter(|s| !attempted.contains(s)) {
        let Some(reason) = collected.reach.iter().find_map(|r| r.vanished(scope)) else { continue };
        let what = scope.provider.account_noun();
        let message = format!(
            "{what} {} {}: its snapshots were not scanned, their last known state stands",
            scope.account,
            reason.describe()
        );
        vanished.push(Coverage::missing(scope.clone(), reason, message));
    }
    collected.coverage.extend(vanished);
    collected.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountReach, Provider, Reach, Service};

    fn scope(account: &str, region: &str) -> Scope {
        Scope { provider: Provider::Aws, service: Service::Ebs, account: account.into(), region: region.into() }
    }

    fn baseline(scopes: &[Scope]) -> Baseline {
        Baseline { established: scopes.iter().cloned().collect(), ..Baseline::default() }
    }

    fn reach(accounts: AccountReach, regions: Option<&[&str]>) -> Reach {
        Reach { provider: Provider::Aws, accounts, regions: regions.map(|r| r.iter().map(|s| s.to_string()).collect()) }
    }

    fn organization(found: &[&str]) -> AccountReach {
        AccountReach::Enumerated {
            found: found.iter().map(|s| s.to_string()).collect(),
            absent: MissingReason::LeftOrganization,
        }
    }

    fn statuses(c: &Collected) -> Vec<(String, String, CoverageStatus, Option<String>)> {
        c.coverage
            .iter()
            .map(|c| (c.scope.account.clone(), c.scope.region.clone(), c.status, c.error_code.clone()))
            .collect()
    }

    #[test]
    fn an_account_gone_from_the_organization_is_missing_in_the_regions_asked() {
        let before = baseline(&[scope("1", "eu-west-1"), scope("2", "eu-west-1"), scope("2", "us-east-1")]);
        let mut now = Collected {
            coverage: vec![Coverage::complete(scope("1", "eu-west-1"))],
            reach: vec![reach(organization(&["1"]), Some(&["eu-west-1"]))],
            ..Collected::default()
        };
        mark_missing(&before, &mut now);
        assert_eq!(
            statuses(&now),
            vec![
                ("1".into(), "eu-west-1".into(), CoverageStatus::Complete, None),
                ("2".into(), "eu-west-1".into(), CoverageStatus::Missing, Some("left-organization".into())),
            ],
            "us-east-1 was not asked for: not scanned, no finding"
        );
        assert!(now.coverage[1].has_gap());
        assert_eq!(now.coverage[1].missing_reason(), Some(MissingReason::LeftOrganization));
    }

    #[test]
    fn accounts_named_by_the_user_never_vanish() {
        let before = baseline(&[scope("1", "eu-west-1"), scope("2", "eu-west-1")]);
        let named = AccountReach::Named(["1".to_string()].into());
        let mut now = Collected {
            coverage: vec![Coverage::complete(scope("1", "eu-west-1"))],
            reach: vec![reach(named, None)],
            ..Collected::default()
        };
        mark_missing(&before, &mut now);
        assert_eq!(now.coverage.len(), 1, "{:?}", now.coverage);
    }

    #[test]
    fn a_region_not_enabled_is_missing_only_where_something_was_listed() {
        let before = baseline(&[scope("1", "ap-east-1")]);
        let mut now = Collected {
            coverage: vec![
                Coverage::not_enabled(scope("1", "ap-east-1"), "not-opted-in"),
                Coverage::not_enabled(scope("1", "me-south-1"), "not-opted-in"),
            ],
            reach: vec![reach(organization(&["1"]), None)],
            ..Collected::default()
        };
        mark_missing(&before, &mut now);
        assert_eq!(
            statuses(&now),
            vec![
                ("1".into(), "ap-east-1".into(), CoverageStatus::Missing, Some("region-disabled".into())),
                ("1".into(), "me-south-1".into(), CoverageStatus::NotEnabled, None),
            ]
        );
        assert!(!now.coverage[1].has_gap(), "a region never enabled holds nothing: no gap");
    }

    #[test]
    fn another_provider_s_reach_says_nothing_about_aws_scopes() {
        let before = baseline(&[scope("2", "eu-west-1")]);
        let azure = Reach {
            provider: Provider::Azure,
            accounts: AccountReach::Enumerated { found: BTreeSet::new(), absent: MissingReason::NotVisible },
            regions: None,
        };
        let mut now = Collected { reach: vec![azure], ..Collected::default() };
        mark_missing(&before, &mut now);
        assert!(now.coverage.is_empty(), "{:?}", now.coverage);
    }
}
