//! Pure: the changes between the last known state of each scope and this scan.
//!
//! A scope is compared only when it listed completely now and has a baseline;
//! a scope that failed to list yields no change at all, so a timeout or an
//! AccessDenied can never look like a deletion.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Baseline, Change, ChangeKind, Collected, Coverage, Grantee, Scope, Snapshot};

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
pub fn block_public_access_changes(baseline: &Baseline, coverage: &[Coverage]) -> Vec<Change> {
    coverage
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

/// What diffing scopes found, and what of their listing the rules must see.
#[derive(Debug, Default)]
pub struct Merged {
    pub changes: Vec<Change>,
    /// Listed snapshots the rules look at besides the per-snapshot ones
    /// (which read the whole listing page by page): every one added or
    /// changed. The others stay on disk.
    pub listed: Vec<Snapshot>,
    /// Snapshots no longer listed, as last known.
    pub gone: Vec<Snapshot>,
    /// Share lists that could not be read, with the last known list carried
    /// forward: (scope, id, list) for the stored version.
    pub carried: Vec<(Scope, String, Vec<Grantee>)>,
    /// Scopes with a baseline where a stored version changes: a snapshot
    /// added, gone, or different in any field. The others need no write.
    pub versioned: BTreeSet<Scope>,
}

/// Diff one completely listed scope that has a baseline: its last known
/// snapshots (`before`) against its listing (`now`), both in ascending id
/// order, so neither is ever held whole. Either side may leave out what the
/// other leaves out too (an id identical on both sides: the store does).
/// Where a share list could not be read, the last known one is carried
/// forward (so no false "share-removed", and findings keep the last known
/// exposure).
pub fn merge_scope<E>(
    before: impl Iterator<Item = Result<Snapshot, E>>,
    now: impl Iterator<Item = Result<Snapshot, E>>,
    out: &mut Merged,
) -> Result<(), E> {
    let (mut before, mut now) = (before.peekable(), now.peekable());
    // Deletions come after the scope's other changes, as they always have.
    let mut deleted = Vec::new();
    loop {
        let order = match (before.peek(), now.peek()) {
            (None, None) => {
                out.changes.append(&mut deleted);
                return Ok(());
            }
            (Some(Err(_)), _) => return Err(before.next().and_then(Result::err).expect("peeked")),
            (_, Some(Err(_))) => return Err(now.next().and_then(Result::err).expect("peeked")),
            (Some(Ok(b)), Some(Ok(n))) => b.id.cmp(&n.id),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let prev = take(&mut before);
                out.versioned.insert(prev.scope.clone());
                deleted.push(change(ChangeKind::Deleted, &prev, None, "no longer listed".into()));
                out.gone.push(prev);
            }
            std::cmp::Ordering::Greater => {
                let snap = take(&mut now);
                out.versioned.insert(snap.scope.clone());
                out.changes.push(change(ChangeKind::Added, &snap, None, added_details(&snap)));
                out.listed.push(snap);
            }
            std::cmp::Ordering::Equal => {
                let prev = take(&mut before);
                let mut snap = take(&mut now);
                if !snap.grantees_known && snap.grantees != prev.grantees {
                    snap.grantees = prev.grantees.clone();
                    out.carried.push((snap.scope.clone(), snap.id.clone(), snap.grantees.clone()));
                }
                let changes = out.changes.len();
                compare(&prev, &snap, &mut out.changes);
                if prev != snap {
                    out.versioned.insert(snap.scope.clone());
                }
                if out.changes.len() > changes {
                    out.listed.push(snap);
                }
            }
        }
    }
}

/// The next item of a sorted listing, known by a peek to be a snapshot.
fn take<E>(it: &mut impl Iterator<Item = Result<Snapshot, E>>) -> Snapshot {
    match it.next() {
        Some(Ok(s)) => s,
        _ => unreachable!("peeked"),
    }
}

/// The changes of a listing held in memory (tests, and the reference for
/// [`merge_scope`]): every complete scope diffed, as `Store::merge` does.
/// Block public access changes are `analyse`'s to add, as in a scan.
pub fn diff(baseline: &Baseline, collected: &Collected) -> Merged {
    let mut current: BTreeMap<&Scope, BTreeMap<&str, &Snapshot>> = BTreeMap::new();
    for snap in &collected.snapshots {
        current.entry(&snap.scope).or_default().insert(snap.id.as_str(), snap);
    }
    let mut merged = Merged::default();
    for cov in collected.coverage.iter().filter(|c| c.is_complete()) {
        let scope = &cov.scope;
        if !baseline.established.contains(scope) {
            continue;
        }
        let before = baseline.snapshots.get(scope).into_iter().flatten();
        let now = current.get(scope).into_iter().flatten();
        let ok = |s: &Snapshot| Ok::<_, std::convert::Infallible>(s.clone());
        let Ok(()) = merge_scope(before.map(|(_, s)| ok(s)), now.map(|(_, s)| ok(s)), &mut merged);
    }
    merged
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
        let changes = diff(&before, &collected).changes;
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
    fn the_diff_keeps_only_what_the_rules_look_at() {
        let before = baseline_of(&[
            snap("r1", "quiet", vec![]),
            snap("r1", "gone", vec![]),
            snap("r1", "shared", vec![Grantee::Public]),
            snap("r1", "unshared", vec![Grantee::Public]),
        ]);
        let collected = Collected {
            snapshots: vec![
                snap("r1", "quiet", vec![]),
                snap("r1", "shared", vec![Grantee::Public]),
                snap("r1", "unshared", vec![]),
                snap("r1", "new", vec![]),
            ],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        let merged = diff(&before, &collected);
        let ids = |list: &[Snapshot]| list.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&merged.listed), ["new", "unshared"], "unchanged snapshots stay on disk, shared or not");
        assert_eq!(ids(&merged.gone), ["gone"]);
        assert_eq!(merged.versioned, BTreeSet::from([scope("r1")]));
        let quiet = Collected { snapshots: vec![snap("r1", "a", vec![])], ..collected };
        let unchanged = diff(&baseline_of(&quiet.snapshots), &quiet);
        assert!(unchanged.versioned.is_empty(), "an unchanged scope needs no write");
        assert_eq!(
            kinds(&merged.changes),
            [(ChangeKind::Added, "new"), (ChangeKind::ShareRemoved, "unshared"), (ChangeKind::Deleted, "gone")]
        );
    }

    #[test]
    fn a_failed_scope_never_reports_deletions() {
        let before = baseline_of(&[snap("r1", "a", vec![]), snap("r2", "z", vec![])]);
        let collected = Collected {
            snapshots: vec![snap("r1", "a", vec![])],
            coverage: vec![Coverage::complete(scope("r1")), Coverage::failed(scope("r2"), "AccessDenied", "denied")],
            ..Default::default()
        };
        assert!(diff(&before, &collected).changes.is_empty());
    }

    #[test]
    fn the_first_complete_listing_of_a_scope_is_its_baseline() {
        let collected = Collected {
            snapshots: vec![snap("r1", "a", vec![Grantee::Public])],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        let before = Baseline::default();
        assert!(diff(&before, &collected).changes.is_empty());
        assert_eq!(new_baselines(&before, &collected).into_iter().collect::<Vec<_>>(), vec![scope("r1")]);
    }

    #[test]
    fn unknown_shares_keep_the_last_known_list_and_report_no_removal() {
        let before = baseline_of(&[snap("r1", "a", vec![Grantee::Public])]);
        let mut unknown = snap("r1", "a", vec![]);
        unknown.grantees_known = false;
        let collected = Collected {
            snapshots: vec![unknown],
            coverage: vec![Coverage::complete(scope("r1"))],
            ..Default::default()
        };
        let merged = diff(&before, &collected);
        assert!(merged.changes.is_empty());
        assert_eq!(
            merged.carried,
            vec![(scope("r1"), "a".to_owned(), vec![Grantee::Public])],
            "stored, so pages read it"
        );
    }

    #[test]
    fn metadata_changes_are_one_modified_change_with_details() {
        let before = baseline_of(&[snap("r1", "a", vec![])]);
        let mut now = snap("r1", "a", vec![]);
        now.tags.insert("env".into(), "prod".into());
        now.description = Some("copied".into());
        let collected =
            Collected { snapshots: vec![now], coverage: vec![Coverage::complete(scope("r1"))], ..Default::default() };
        let changes = diff(&before, &collected).changes;
        assert_eq!(kinds(&changes), vec![(ChangeKind::Modified, "a")]);
        assert!(changes[0].details.contains("tag env: (none) -> prod"), "{}", changes[0].details);
        assert!(changes[0].details.contains("description"), "{}", changes[0].details);
    }
}
