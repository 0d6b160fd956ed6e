//! Pure: the changes between the last known state of each scope and this scan.
//!
//! A scope is compared only when it listed completely now and has a baseline;
//! a scope that failed to list yields no change at all, so a timeout or an
//! AccessDenied can never look like a deletion.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Baseline, Change, ChangeKind, Collected, Coverage, Grantee, Scope, Snapshot};

/// Where a share list could not be read this time, carry the last known one
/// forward (marked unverified) so the diff reports no false "share-removed"
/// and the findings keep the last known exposure.
pub fn carry_forward_unknown_shares(baseline: &Baseline, collected: &mut Collected) {
    for snap in collected.snapshots.iter_mut().filter(|s| !s.grantees_known) {
        if let Some(prev) = baseline.previous(&snap.scope, &snap.id) {
            snap.grantees = prev.grantees.clone();
        }
    }
}

/// Where a region's block public access state could not be read this time
/// (`unknown`), carry the last known one forward: a transient error must not
/// flip findings' severity, and `unknown` is never read as `unblocked`.
pub fn carry_forward_unknown_block_public_access(baseline: &Baseline, collected: &mut Collected) {
    for c in collected.coverage.iter_mut().filter(|c| c.block_public_access.as_deref() == Some(Coverage::UNKNOWN_STATE))
    {
        if let Some(known) = baseline.block_public_access.get(&c.scope) {
            c.block_public_access = Some(known.clone());
        }
    }
}

/// Block public access states that differ from the last known one of their
/// scope. No snapshot changes, yet every public snapshot there may have
/// become public again (or stopped being).
fn block_public_access_changes(baseline: &Baseline, collected: &Collected) -> Vec<Change> {
    collected
        .coverage
        .iter()
        .filter(|c| c.is_complete())
        .filter_map(|c| {
            let now = c.block_public_access.as_deref().filter(|s| *s != Coverage::UNKNOWN_STATE)?;
            let before = baseline.block_public_access.get(&c.scope)?;
            (before != now).then(|| Change {
                kind: ChangeKind::BlockPublicAccessChanged,
                scope: c.scope.clone(),
                snapshot_id: String::new(),
                grantee: None,
                details: format!("{before} -> {now}"),
                actor: None,
            })
        })
        .collect()
}

/// Scopes listed completely in this scan for the first time: their listing
/// is the baseline, not a burst of additions.
pub fn new_baselines(baseline: &Baseline, collected: &Collected) -> BTreeSet<Scope> {
    collected
        .coverage
        .iter()
        .filter(|c| c.is_complete() && !baseline.established.contains(&c.scope))
        .map(|c| c.scope.clone())
        .collect()
}

pub fn diff(baseline: &Baseline, collected: &Collected) -> Vec<Change> {
    let mut current: BTreeMap<&Scope, BTreeMap<&str, &Snapshot>> = BTreeMap::new();
    for snap in &collected.snapshots {
        current.entry(&snap.scope).or_default().insert(snap.id.as_str(), snap);
    }
    let empty_now = BTreeMap::new();
    let empty_before = BTreeMap::new();
    let mut changes = Vec::new();
    for cov in collected.coverage.iter().filter(|c| c.is_complete()) {
        let scope = &cov.scope;
        if !baseline.established.contains(scope) {
            continue;
        }
        let now = current.get(scope).unwrap_or(&empty_now);
        let before = baseline.snapshots.get(scope).unwrap_or(&empty_before);
        for (id, snap) in now {
            match before.get(*id) {
                None => changes.push(change(ChangeKind::Added, snap, None, added_details(snap))),
                Some(prev) => compare(prev, snap, &mut changes),
            }
        }
        for (id, prev) in before {
            if !now.contains_key(id.as_str()) {
                changes.push(change(ChangeKind::Deleted, prev, None, "no longer listed".into()));
            }
        }
    }
    changes.extend(block_public_access_changes(baseline, collected));
    changes
}

fn compare(prev: &Snapshot, now: &Snapshot, out: &mut Vec<Change>) {
    if now.grantees_known {
        for g in now.grantees.iter().filter(|g| !prev.grantees.contains(g)) {
            out.push(change(ChangeKind::ShareAdded, now, Some(g), format!("now restorable by {}", g.describe())));
        }
        for g in prev.grantees.iter().filter(|g| !now.grantees.contains(g)) {
            out.push(change(
                ChangeKind::ShareRemoved,
                now,
                Some(g),
                format!("no longer restorable by {}", g.describe()),
            ));
        }
    }
    let differences = prev.metadata_differences(now);
    if !differences.is_empty() {
        out.push(change(ChangeKind::Modified, now, None, differences.join("; ")));
    }
}

fn change(kind: ChangeKind, snap: &Snapshot, grantee: Option<&Grantee>, details: String) -> Change {
    Change {
        kind,
        scope: snap.scope.clone(),
        snapshot_id: snap.id.clone(),
        grantee: grantee.cloned(),
        details,
        actor: None,
    }
}

fn added_details(snap: &Snapshot) -> String {
    let mut parts = Vec::new();
    if let Some(src) = &snap.source_id {
        parts.push(format!("from {src}"));
    }
    if let Some(other) = snap.attributes.get("sourceSubscription") {
        parts.push(format!("copied from another subscription ({other})"));
    }
    if let Some(at) = &snap.created_at {
        parts.push(format!("created {at}"));
    }
    if !snap.grantees.is_empty() {
        let list: Vec<&str> = snap.grantees.iter().map(Grantee::label).collect();
        parts.push(format!("shared with {}", list.join(", ")));
    }
    if parts.is_empty() { "first seen".into() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coverage, Provider, Service};

    fn scope(region: &str) -> Scope {
        Scope { provider: Provider::Aws, service: Service::Ebs, account: "111111111111".into(), region: region.into() }
    }

    fn snap(region: &str, id: &str, grantees: Vec<Grantee>) -> Snapshot {
        Snapshot {
            scope: scope(region),
            id: id.into(),
            kind: None,
            source_id: Some("vol-1".into()),
            created_at: None,
            size_gib: Some(8),
            encrypted: false,
            kms_key_id: None,
            description: None,
            state: Some("completed".into()),
            tags: Default::default(),
            grantees,
            grantees_known: true,
            attributes: Default::default(),
        }
    }

    fn baseline_of(snaps: &[Snapshot]) -> Baseline {
        let mut b = Baseline::default();
        for s in snaps {
            b.established.insert(s.scope.clone());
            b.snapshots.entry(s.scope.clone()).or_default().insert(s.id.clone(), s.clone());
        }
        b
    }

    fn kinds(changes: &[Change]) -> Vec<(ChangeKind, &str)> {
        changes.iter().map(|c| (c.kind, c.snapshot_id.as_str())).collect()
    }

    #[test]
    fn added_deleted_and_share_changes_in_a_complete_scope() {
        let before = baseline_of(&[snap("r1", "a", vec![]), snap("r1", "b", vec![Grantee::Public])]);
        let collected = Collected {
            snapshots: vec![snap("r1", "b", vec![Grantee::Account("222222222222".into())]), snap("r1", "c", vec![])],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        let changes = diff(&before, &collected);
        assert_eq!(
            kinds(&changes),
            vec![
                (ChangeKind::ShareAdded, "b"),
                (ChangeKind::ShareRemoved, "b"),
                (ChangeKind::Added, "c"),
                (ChangeKind::Deleted, "a")
            ]
        );
        assert_eq!(changes[0].grantee, Some(Grantee::Account("222222222222".into())));
        assert_eq!(changes[1].grantee, Some(Grantee::Public));
    }

    #[test]
    fn a_failed_scope_never_reports_deletions() {
        let before = baseline_of(&[snap("r1", "a", vec![]), snap("r2", "z", vec![])]);
        let collected = Collected {
            snapshots: vec![snap("r1", "a", vec![])],
            coverage: vec![Coverage::complete(scope("r1")), Coverage::failed(scope("r2"), "AccessDenied", "denied")],
            ..Default::default()
        };
        assert!(diff(&before, &collected).is_empty());
    }

    #[test]
    fn the_first_complete_listing_of_a_scope_is_its_baseline() {
        let collected = Collected {
            snapshots: vec![snap("r1", "a", vec![Grantee::Public])],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        let before = Baseline::default();
        assert!(diff(&before, &collected).is_empty());
        assert_eq!(new_baselines(&before, &collected).into_iter().collect::<Vec<_>>(), vec![scope("r1")]);
    }

    #[test]
    fn unknown_shares_keep_the_last_known_list_and_report_no_removal() {
        let before = baseline_of(&[snap("r1", "a", vec![Grantee::Public])]);
        let mut unknown = snap("r1", "a", vec![]);
        unknown.grantees_known = false;
        let mut collected = Collected {
            snapshots: vec![unknown],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        carry_forward_unknown_shares(&before, &mut collected);
        assert_eq!(collected.snapshots[0].grantees, vec![Grantee::Public]);
        assert!(diff(&before, &collected).is_empty());
    }

    #[test]
    fn metadata_changes_are_one_modified_change_with_details() {
        let before = baseline_of(&[snap("r1", "a", vec![])]);
        let mut now = snap("r1", "a", vec![]);
        now.tags.insert("env".into(), "prod".into());
        now.description = Some("copied".into());
        let collected =
            Collected { snapshots: vec![now], coverage: vec![Coverage::complete(scope("r1"))], ..Default::default() };
        let changes = diff(&before, &collected);
        assert_eq!(kinds(&changes), vec![(ChangeKind::Modified, "a")]);
        assert!(changes[0].details.contains("tag env: (none) -> prod"), "{}", changes[0].details);
        assert!(changes[0].details.contains("description"), "{}", changes[0].details);
    }
}
