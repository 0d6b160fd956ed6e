//! Statuses against the previous scan's findings: `new` (first raised now),
//! `open` (raised before), `resolved` (gone since). A finding is the same
//! finding across scans when its rule, scope and subject are.
//!
//! Nothing resolves because of a fault: a state finding whose scope did not
//! list completely this scan is carried forward as it was. Event findings
//! (a burst, a deletion) cannot be re-observed, so they stay `open` for the
//! policy's `events_open_for` after they were first raised, then expire.

use std::collections::HashSet;

use jiff::Timestamp;

use super::{Kind, Policy, rule};
use crate::model::{Coverage, Finding, Previous, Scope, Severity, Status};

/// Statuses against the previous scan. `gone(keys)` gives the previous
/// scan's findings, resolved ones excluded, whose key digest is not among
/// `keys` (this scan's): in a scan, read from the store.
pub fn assign<E>(
    mut current: Vec<Finding>,
    previous: &Previous,
    gone: impl FnOnce(&HashSet<u128>) -> Result<Vec<Finding>, E>,
    coverage: &[Coverage],
    policy: &Policy,
    now: Timestamp,
) -> Result<Vec<Finding>, E> {
    let stamp = now.to_string();
    for f in current.iter_mut() {
        match previous.get(f) {
            Some(prev) => {
                f.first_seen = prev.first_seen.clone().or_else(|| Some(stamp.clone()));
                if f.status == Status::New {
                    f.status = Status::Open;
                }
            }
            None => f.first_seen = Some(stamp.clone()),
        }
    }
    let seen: HashSet<u128> = current.iter().map(Finding::key_digest).collect();
    let listed: HashSet<&Scope> = coverage.iter().filter(|c| c.is_complete()).map(|c| &c.scope).collect();
    let mut carried = Vec::new();
    for mut f in gone(&seen)? {
        // A rule removed or disabled since is no longer judged.
        let Some(rule) = rule(&f.rule).filter(|r| policy.is_enabled(r.id())) else { continue };
        match rule.kind() {
            Kind::State if listed.contains(&f.scope) => f.status = Status::Resolved,
            Kind::State => f.status = keep_open(f.status),
            Kind::Event => {
                let raised = f.first_seen.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
                let expired = raised.is_none_or(|t| t + policy.events_open_for <= now);
                if expired {
                    continue;
                }
                f.status = keep_open(f.status);
            }
        }
        carried.push(f);
    }
    current.extend(carried);
    super::sort(&mut current);
    Ok(current)
}

/// [`assign`] against previous findings held in memory.
pub fn assign_in_memory(
    current: Vec<Finding>,
    previous: &[Finding],
    coverage: &[Coverage],
    policy: &Policy,
    now: Timestamp,
) -> Vec<Finding> {
    let gone = |seen: &HashSet<u128>| {
        let unseen = previous.iter().filter(|f| f.status != Status::Resolved && !seen.contains(&f.key_digest()));
        Ok::<_, std::convert::Infallible>(unseen.cloned().collect())
    };
    let Ok(assigned) = assign(current, &Previous::of(previous), gone, coverage, policy, now);
    assigned
}

fn keep_open(status: Status) -> Status {
    if status == Status::Suppressed { Status::Suppressed } else { Status::Open }
}

/// What a webhook should hear of this scan: findings first raised now, and
/// open ones whose severity rose since the previous scan (a public share
/// that block public access stopped hiding), at or above `min`.
pub fn to_notify<'a>(current: &'a [Finding], previous: &Previous, min: Severity) -> Vec<&'a Finding> {
    current
        .iter()
        .filter(|f| f.severity >= min)
        .filter(|f| match f.status {
            Status::New => true,
            Status::Open => previous.get(f).is_some_and(|was| was.severity < f.severity),
            Status::Resolved | Status::Suppressed => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Grantee;
    use crate::rules::evaluate;
    use crate::rules::test_support::{Fixture, snapshot};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn statuses(findings: &[Finding]) -> Vec<(&str, &str, Status)> {
        findings.iter().map(|f| (f.rule.as_str(), f.subject.as_str(), f.status)).collect()
    }

    #[test]
    fn new_then_open_then_resolved_keeping_first_seen() {
        let policy = Policy::default();
        let public = Fixture::with(vec![snapshot("s", vec![Grantee::Public])]);
        let scope = public.snapshots[0].scope.clone();
        let coverage = vec![Coverage::complete(scope.clone())];
        let first = assign_in_memory(evaluate(&public.ctx()), &[], &coverage, &policy, at("2026-11-24T10:00:00Z"));
        assert!(first.iter().all(|f| f.status == Status::New), "{first:?}");
        let second = assign_in_memory(evaluate(&public.ctx()), &first, &coverage, &policy, at("2026-11-24T11:00:00Z"));
        assert!(second.iter().all(|f| f.status == Status::Open), "{second:?}");
        assert_eq!(second[0].first_seen.as_deref(), Some("2026-11-24T10:00:00Z"));

        let private = Fixture::with(vec![snapshot("s", vec![])]);
        let third = assign_in_memory(evaluate(&private.ctx()), &second, &coverage, &policy, at("2026-11-24T12:00:00Z"));
        assert_eq!(
            statuses(&third),
            vec![("public-share", "s", Status::Resolved), ("unencrypted-share", "s", Status::Resolved)]
        );
        let fourth = assign_in_memory(evaluate(&private.ctx()), &third, &coverage, &policy, at("2026-11-24T13:00:00Z"));
        assert!(fourth.is_empty(), "resolved findings are reported once: {fourth:?}");
    }

    #[test]
    fn a_scope_that_failed_to_list_resolves_nothing() {
        let policy = Policy::default();
        let public = Fixture::with(vec![snapshot("s", vec![Grantee::Public])]);
        let scope = public.snapshots[0].scope.clone();
        let first = assign_in_memory(
            evaluate(&public.ctx()),
            &[],
            &[Coverage::complete(scope.clone())],
            &policy,
            at("2026-11-24T10:00:00Z"),
        );
        let failed = vec![Coverage::failed(scope, "RequestExpired", "timed out")];
        let second = assign_in_memory(Vec::new(), &first, &failed, &policy, at("2026-11-24T11:00:00Z"));
        assert_eq!(
            statuses(&second),
            vec![("public-share", "s", Status::Open), ("unencrypted-share", "s", Status::Open)]
        );
    }

    #[test]
    fn event_findings_stay_open_for_the_configured_time_then_expire() {
        let policy = Policy { events_open_for: jiff::SignedDuration::from_hours(24), ..Policy::default() };
        let fx = Fixture::with(vec![snapshot("s", vec![])]).added(&["s"]);
        let coverage = vec![Coverage::complete(fx.snapshots[0].scope.clone())];
        let first = assign_in_memory(evaluate(&fx.ctx()), &[], &coverage, &policy, at("2026-11-24T10:00:00Z"));
        assert_eq!(statuses(&first), vec![("new-snapshot", "s", Status::New)]);
        let quiet = Fixture::with(vec![snapshot("s", vec![])]);
        let later = assign_in_memory(evaluate(&quiet.ctx()), &first, &coverage, &policy, at("2026-11-25T09:59:00Z"));
        assert_eq!(statuses(&later), vec![("new-snapshot", "s", Status::Open)]);
        let expired = assign_in_memory(evaluate(&quiet.ctx()), &later, &coverage, &policy, at("2026-11-25T10:00:00Z"));
        assert!(expired.is_empty(), "{expired:?}");
    }

    #[test]
    fn the_webhook_hears_new_findings_and_open_ones_whose_severity_rose() {
        use crate::model::Severity;
        let base = crate::rules::test_support::snapshot("p", vec![]);
        let finding = |subject: &str, severity: Severity, status: Status| Finding {
            rule: "public-share".into(),
            severity,
            score: 3,
            mitre: vec![],
            scope: base.scope.clone(),
            subject: subject.into(),
            snapshot_id: Some(subject.into()),
            grantees: vec![],
            related: vec![],
            message: String::new(),
            status,
            first_seen: None,
            suppressed_by: None,
            actor: None,
            remedy: None,
        };
        let previous =
            [finding("rose", Severity::Medium, Status::New), finding("same", Severity::Critical, Status::New)];
        let current = [
            finding("rose", Severity::Critical, Status::Open),
            finding("same", Severity::Critical, Status::Open),
            finding("fresh", Severity::High, Status::New),
            finding("low", Severity::Low, Status::New),
        ];
        let subjects: Vec<&str> = to_notify(&current, &Previous::of(&previous), Severity::Medium)
            .iter()
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(subjects, ["rose", "fresh"]);
    }
}
