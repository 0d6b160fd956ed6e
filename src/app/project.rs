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

/// What a scan has loaded beyond the diff, so that widening again (after
/// the audit logs add events) reads only what the first time did not.
#[derive(Default)]
pub(super) struct Projection {
    /// Ids asked for by name.
    named: BTreeSet<String>,
    /// Scopes whose shared snapshots were loaded (block public access changed).
    exposed: HashSet<Scope>,
    /// Per scope, the earliest creation time from which snapshots were loaded.
    since: BTreeMap<Scope, Timestamp>,
}

/// What to read from the store: ids by name, scopes' shared snapshots, and
/// scopes' snapshots created since a time.
#[derive(Debug, Default, PartialEq)]
struct Loads {
    ids: BTreeSet<String>,
    exposed: Vec<Scope>,
    since: Vec<(Scope, Timestamp)>,
}

impl Projection {
    /// Of what the rules need, what was not loaded yet; remembered as loaded.
    fn not_loaded(&mut self, ids: BTreeSet<String>, exposed: Vec<Scope>, since: BTreeMap<Scope, Timestamp>) -> Loads {
        let ids: BTreeSet<String> = ids.into_iter().filter(|id| self.named.insert(id.clone())).collect();
        let exposed = exposed.into_iter().filter(|scope| self.exposed.insert(scope.clone())).collect();
        let since = since
            .into_iter()
            .filter(|(scope, from)| match self.since.get(scope) {
                Some(loaded) if loaded <= from => false,
                _ => {
                    self.since.insert(scope.clone(), *from);
                    true
                }
            })
            .collect();
        Loads { ids, exposed, since }
    }

    /// Load into `collected.snapshots` (as listed) and `baseline.snapshots`
    /// (as last known) what the events name and what bursts around this
    /// scan's new snapshots may hold, where not already there.
    pub(super) fn widen(
        &mut self,
        store: &Store,
        collected: &mut Collected,
        baseline: &mut Baseline,
        changes: &[Change],
        policy: &Policy,
    ) -> Result<(), StoreError> {
        let ids: BTreeSet<String> =
            collected.events.iter().flat_map(|e| e.subjects.iter().chain(&e.resources)).cloned().collect();
        // Where block public access changed, the public snapshots of the
        // scope (block-public-access-weakened counts those it exposes again).
        let exposed = diff::block_public_access_changes(baseline, &collected.coverage).into_iter().map(|c| c.scope);
        let mut since = BTreeMap::new();
        if let Some(lookback) = rules::creation_lookback(policy) {
            for (scope, first) in first_creations(collected, changes) {
                // A second's margin: listings round creation times differently.
                let from = first.checked_sub(lookback + SignedDuration::from_secs(1)).unwrap_or(Timestamp::MIN);
                since.insert(scope, from);
            }
        }
        let loads = self.not_loaded(ids, exposed.collect(), since);

        let mut have: HashSet<(Scope, String)> =
            collected.snapshots.iter().map(|s| (s.scope.clone(), s.id.clone())).collect();
        let mut add = |collected: &mut Collected, found: Vec<Snapshot>| {
            for s in found {
                if have.insert((s.scope.clone(), s.id.clone())) {
                    collected.snapshots.push(s);
                }
            }
        };
        if !loads.ids.is_empty() {
            let (listed, known) = store.named(&loads.ids)?;
            add(collected, listed);
            for s in known {
                baseline.snapshots.entry(s.scope.clone()).or_default().entry(s.id.clone()).or_insert(s);
            }
        }
        for scope in &loads.exposed {
            add(collected, store.listed_shared(scope)?);
        }
        for (scope, from) in &loads.since {
            add(collected, store.listed_since(scope, *from)?);
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::snapshot;

    #[test]
    fn widening_again_loads_only_what_is_new() {
        let scope = snapshot("x", vec![]).scope;
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        let since = |t: &str| BTreeMap::from([(scope.clone(), at(t))]);
        let mut projection = Projection::default();

        let first = projection.not_loaded(ids(&["snap-1"]), vec![scope.clone()], since("2026-11-24T10:00:00Z"));
        assert_eq!(first.ids, ids(&["snap-1"]));
        assert_eq!(first.exposed, vec![scope.clone()]);
        assert_eq!(first.since, vec![(scope.clone(), at("2026-11-24T10:00:00Z"))]);

        // The same again, or a later window: nothing to read.
        let again = projection.not_loaded(ids(&["snap-1"]), vec![scope.clone()], since("2026-11-24T11:00:00Z"));
        assert_eq!(again, Loads::default());

        // An event naming another id, a window reaching earlier: those only.
        let more =
            projection.not_loaded(ids(&["snap-1", "snap-2"]), vec![scope.clone()], since("2026-11-24T09:00:00Z"));
        assert_eq!(more.ids, ids(&["snap-2"]));
        assert!(more.exposed.is_empty());
        assert_eq!(more.since, vec![(scope, at("2026-11-24T09:00:00Z"))]);
    }
}
