//! The pure middle of a scan: what was collected and how it differs from
//! the baseline (the store's diff), with the previous findings, under a
//! policy, becomes changes and findings with their lifecycle. No network,
//! no disk: unit-tested without any server.

use std::collections::{BTreeSet, HashSet};

use jiff::Timestamp;

use crate::model::{Baseline, Change, Collected, Finding, Previous, Scope};
use crate::rules::{self, Policy};
use crate::store::{attribution, diff, vanished};

/// A scan's results, ready to save and report.
pub struct Analysis {
    /// Coverage, events, and the snapshots the rules looked at.
    pub collected: Collected,
    /// The diff's changes (snapshot by snapshot, without actors): what a
    /// second analysis with the audit logs' events starts from.
    pub diffed: Vec<Change>,
    pub changes: Vec<Change>,
    /// Scopes whose first complete listing this scan is.
    pub new_baselines: BTreeSet<Scope>,
    /// Every finding, with status new / open / resolved / suppressed.
    pub findings: Vec<Finding>,
}

/// What an analysis reads as it goes: in a scan, the store (the listing's
/// shared snapshots page by page, the previous findings this scan no
/// longer raises); in tests, memory.
pub trait Reads {
    type Error;
    /// The per-snapshot rules over the whole listing (`rules::evaluate_listing`).
    fn listing_findings(&self, ctx: &rules::Context<'_>) -> Result<Vec<Finding>, Self::Error>;
    /// The previous scan's findings, resolved ones excluded, whose key
    /// digest is not in `seen`.
    fn previous_gone(&self, seen: &HashSet<u128>) -> Result<Vec<Finding>, Self::Error>;
}

/// Vanished scopes, block public access carried and diffed, who made each
/// change (from `collected.events`), evaluate, lifecycle. `diffed` are the
/// snapshot changes of the store's diff; `collected.snapshots` and
/// `baseline.snapshots` hold what the rules look at (`project.rs`), but for
/// the per-snapshot rules, which `listing` runs over the whole listing
/// (`rules::evaluate_listing`, page by page from the store in a scan).
pub fn analyse<R: Reads>(
    baseline: &Baseline,
    previous: &Previous,
    mut collected: Collected,
    diffed: Vec<Change>,
    policy: &Policy,
    now: Timestamp,
    reads: &R,
) -> Result<Analysis, R::Error> {
    vanished::mark_missing(baseline, &mut collected);
    diff::carry_forward_unknown_block_public_access(baseline, &mut collected);
    let mut changes = diffed.clone();
    changes.extend(diff::block_public_access_changes(baseline, &collected.coverage));
    attribution::attach_to_changes(&mut changes, &collected.events);
    let new_baselines = diff::new_baselines(baseline, &collected);
    let ctx = rules::Context {
        policy,
        now,
        snapshots: &collected.snapshots,
        previous: baseline,
        changes: &changes,
        coverage: &collected.coverage,
        new_baselines: &new_baselines,
        organization: &collected.organization_accounts,
        project_numbers: &collected.project_numbers,
        organization_id: collected.organization_id.as_deref(),
        events: &collected.events,
        actors: Default::default(),
        listed: Default::default(),
        transient: Default::default(),
    };
    let listed = reads.listing_findings(&ctx)?;
    let mut findings = rules::evaluate_with_listing(&ctx, listed);
    attribution::attach_to_findings(&mut findings, &changes);
    let gone = |seen: &HashSet<u128>| reads.previous_gone(seen);
    let findings = rules::lifecycle::assign(findings, previous, gone, &collected.coverage, policy, now)?;
    Ok(Analysis { collected, diffed, changes, new_baselines, findings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeKind, Coverage, Grantee, Snapshot, Status};
    use crate::rules::test_support::snapshot;

    /// The scope of the rules' test snapshots.
    fn scope() -> Scope {
        snapshot("x", vec![]).scope
    }

    fn listing(snapshots: Vec<Snapshot>) -> Collected {
        Collected { snapshots, coverage: vec![Coverage::complete(scope())], ..Collected::default() }
    }

    /// The listing and the previous findings, in memory.
    struct Memory {
        whole: Vec<Snapshot>,
        previous: Vec<Finding>,
    }

    impl Reads for Memory {
        type Error = std::convert::Infallible;
        fn listing_findings(&self, ctx: &rules::Context<'_>) -> Result<Vec<Finding>, Self::Error> {
            Ok(rules::evaluate_listing(&ctx.with_snapshots(&self.whole)))
        }
        fn previous_gone(&self, seen: &HashSet<u128>) -> Result<Vec<Finding>, Self::Error> {
            let unseen = self.previous.iter().filter(|f| f.status != Status::Resolved);
            Ok(unseen.filter(|f| !seen.contains(&f.key_digest())).cloned().collect())
        }
    }

    /// A scan of `collected` as the store runs it: diffed, then analysed
    /// with what the diff kept, the per-snapshot rules over every snapshot.
    fn scan(
        base: &Baseline,
        previous: &[Finding],
        mut collected: Collected,
        policy: &Policy,
        now: Timestamp,
    ) -> Analysis {
        let merged = diff::diff(base, &collected);
        // The per-snapshot rules read the whole listing, as a scan's pages.
        let whole = std::mem::replace(&mut collected.snapshots, merged.listed);
        let memory = Memory { whole, previous: previous.to_vec() };
        // The baseline's snapshots stay on disk but for the deleted ones.
        let mut base = Baseline { snapshots: Default::default(), ..base.clone() };
        for s in merged.gone {
            base.snapshots.entry(s.scope.clone()).or_default().insert(s.id.clone(), s);
        }
        analyse(&base, &Previous::of(previous), collected, merged.changes, policy, now, &memory).unwrap()
    }

    /// The baseline a full listing leaves.
    fn baseline_of(collected: &Collected) -> Baseline {
        let mut b = Baseline::default();
        b.established.insert(scope());
        for s in &collected.snapshots {
            b.snapshots.entry(s.scope.clone()).or_default().insert(s.id.clone(), s.clone());
        }
        b
    }

    #[test]
    fn a_share_raises_then_stays_open_then_resolves_and_a_failed_scope_resolves_nothing() {
        let policy = Policy::default();
        let now: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
        let external = || vec![Grantee::Account("999999999999".into())];

        let first = scan(&Baseline::default(), &[], listing(vec![snapshot("a", vec![])]), &policy, now);
        assert!(first.changes.is_empty() && first.findings.is_empty());
        assert_eq!(first.new_baselines.len(), 1, "the first listing is the baseline");

        let base = baseline_of(&listing(vec![snapshot("a", vec![])]));
        let shared = scan(&base, &[], listing(vec![snapshot("a", external())]), &policy, now);
        let kinds: Vec<ChangeKind> = shared.changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::ShareAdded]);
        let external_share = |a: &Analysis| a.findings.iter().find(|f| f.rule == "external-share").map(|f| f.status);
        assert_eq!(external_share(&shared), Some(Status::New));

        let base = baseline_of(&listing(vec![snapshot("a", external())]));
        let again = scan(&base, &shared.findings, listing(vec![snapshot("a", external())]), &policy, now);
        assert!(again.changes.is_empty());
        assert_eq!(external_share(&again), Some(Status::Open));

        let mut failed = Collected::default();
        failed.coverage.push(Coverage::failed(scope(), "AccessDenied", "denied"));
        let blind = scan(&base, &again.findings, failed, &policy, now);
        assert!(blind.changes.is_empty(), "a failed scope never looks like a deletion");
        assert_ne!(external_share(&blind), Some(Status::Resolved));

        let unshared = scan(&base, &again.findings, listing(vec![snapshot("a", vec![])]), &policy, now);
        assert_eq!(external_share(&unshared), Some(Status::Resolved));
    }

    #[test]
    fn a_block_public_access_change_is_one_change() {
        let now: Timestamp = "2026-11-24T12:00:00Z".parse().unwrap();
        let mut base = baseline_of(&listing(vec![snapshot("a", vec![])]));
        base.block_public_access.insert(scope(), "block-all-sharing".into());
        let mut now_listed = listing(vec![snapshot("a", vec![])]);
        now_listed.coverage[0].block_public_access = Some("unblocked".into());
        let weakened = scan(&base, &[], now_listed, &Policy::default(), now);
        let kinds: Vec<ChangeKind> = weakened.changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::BlockPublicAccessChanged]);
    }
}
