//! What the rules look at, loaded from the store: a scan never holds its
//! whole listing or baseline. The per-snapshot rules read the listing's
//! shared snapshots page by page (`FromStore`); the diff
//! (`store::merge`) keeps the changed, new and deleted snapshots; this adds
//! those audit events name, those created near a new one (a burst may begin
//! before it), and the public ones where block public access changed: all
//! the other rules read (`rules::Context`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::{SignedDuration, Timestamp};

use crate::model::{Baseline, Change, ChangeKind, Collected, Finding, Provider, Scope, Snapshot, service_changed_by};
use crate::rules::{self, Policy};
use crate::store::{Store, StoreError, diff};

/// Load into `collected.snapshots` (as listed) and `baseline.snapshots` (as
/// last known) what the events name and what bursts around this scan's new
/// snapshots may hold, where not already there.
pub(super) fn widen(
    store: &Store,
    collected: &mut Collected,
    baseline: &mut Baseline,
    changes: &[Change],
    policy: &Policy,
) -> Result<(), StoreError> {
    let mut have: HashSet<(Scope, String)> =
        collected.snapshots.iter().map(|s| (s.scope.clone(), s.id.clone())).collect();
    let mut add = |collected: &mut Collected, found: Vec<Snapshot>| {
        for s in found {
            if have.insert((s.scope.clone(), s.id.clone())) {
                collected.snapshots.push(s);
            }
        }
    };
    let ids: BTreeSet<String> =
        collected.events.iter().flat_map(|e| e.subjects.iter().chain(&e.resources)).cloned().collect();
    if !ids.is_empty() {
        let (listed, known) = store.named(&ids)?;
        add(collected, listed);
        for s in known {
            baseline.snapshots.entry(s.scope.clone()).or_default().entry(s.id.clone()).or_insert(s);
        }
    }
    // Where block public access changed, the public snapshots of the
    // scope (block-public-access-weakened counts those it exposes again).
    for change in diff::block_public_access_changes(baseline, &collected.coverage) {
        let found = store.listed_shared(&change.scope)?;
        add(collected, found);
    }
    let Some(lookback) = rules::creation_lookback(policy) else { return Ok(()) };
    for (scope, first) in first_creations(collected, changes) {
        // A second's margin: listings round creation times differently.
        let since = first.checked_sub(lookback + SignedDuration::from_secs(1)).unwrap_or(Timestamp::MIN);
        let found = store.listed_since(&scope, since)?;
        add(collected, found);
    }
    Ok(())
}

/// Per scope, the earliest creation among this scan's new snapshots and
/// those the audit log shows created since the previous scan.
fn first_creations(collected: &Collected, changes: &[Change]) -> BTreeMap<Scope, Timestamp> {
    let added: HashSet<(&Scope, &str)> =
        changes.iter().filter(|c| c.kind == ChangeKind::Added).map(|c| (&c.scope, c.snapshot_id.as_str())).collect();
    let mut first: BTreeMap<Scope, Timestamp> = BTreeMap::new();
    let mut note = |scope: &Scope, at: Option<&str>| {
        if let Some(at) = at.and_then(|t| t.parse::<Timestamp>().ok()) {
            let e = first.entry(scope.clone()).or_insert(at);
            *e = (*e).min(at);
        }
    };
    for s in collected.snapshots.iter().filter(|s| added.contains(&(&s.scope, s.id.as_str()))) {
        note(&s.scope, s.created_at.as_deref());
    }
    for e in &collected.events {
        if let Some(service) = service_changed_by(&e.actor.event_name, ChangeKind::Added) {
            let scope =
                Scope { provider: Provider::Aws, service, account: e.account.clone(), region: e.region.clone() };
            note(&scope, Some(&e.actor.event_time));
        }
    }
    first
}

/// Snapshots per page of the listing for the per-snapshot rules.
const PAGE: usize = 1000;

/// The store as a scan's analysis reads it (`analyse::Reads`).
pub(super) struct FromStore<'a>(pub &'a Store);

impl super::analyse::Reads for FromStore<'_> {
    type Error = StoreError;

    /// The per-snapshot rules' findings over every shared snapshot listed
    /// in a complete scope, read from the spool a page at a time.
    fn listing_findings(&self, ctx: &rules::Context<'_>) -> Result<Vec<Finding>, StoreError> {
        let complete: HashSet<&Scope> = ctx.coverage.iter().filter(|c| c.is_complete()).map(|c| &c.scope).collect();
        let mut findings = Vec::new();
        self.0.shared_pages(PAGE, |page| {
            page.retain(|s| complete.contains(&s.scope));
            findings.extend(rules::evaluate_listing(&ctx.with_snapshots(page)));
        })?;
        Ok(findings)
    }

    fn previous_gone(&self, seen: &HashSet<u128>) -> Result<Vec<Finding>, StoreError> {
        self.0.previous_gone(seen)
    }
}
