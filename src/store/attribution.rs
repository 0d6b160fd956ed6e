//! Pure: who made each change, joined from audit-log events (AWS CloudTrail
//! `LookupEvents`) to the changes the diff found. A change takes the latest
//! event of a name that makes its kind of change, in its account and region,
//! naming its snapshot (or image); a finding about a change takes its actor.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{
    Actor, AuditEvent, Baseline, Change, ChangeKind, Coverage, Finding, Grantee, Provider, Scope, event_names,
    grant_event,
};

/// From when to read each place's audit log (`account`, `region`; Azure:
/// `subscription`, `*`): the earliest last complete listing of its scopes in
/// the baseline, less `overlap` (events delivered late), so a share added
/// and removed since any of them is read whatever other runs went into the
/// database since (another region, another provider, a failed scan). A
/// place none of whose scopes has a listing reads from `fallback`.
pub fn lookup_windows<'a>(
    places: impl IntoIterator<Item = (&'a str, &'a str)>,
    provider: Provider,
    baseline: &Baseline,
    fallback: jiff::Timestamp,
    overlap: jiff::SignedDuration,
) -> BTreeMap<(String, String), jiff::Timestamp> {
    let mut earliest: BTreeMap<(&str, &str), jiff::Timestamp> = BTreeMap::new();
    for (scope, read) in &baseline.shares_read {
        if scope.provider != provider {
            continue;
        }
        let Some(at) = read.listed_at else { continue };
        // Azure's Activity Log is read per subscription, for every location.
        let region = if provider == Provider::Azure { "*" } else { scope.region.as_str() };
        let slot = earliest.entry((scope.account.as_str(), region)).or_insert(at);
        *slot = (*slot).min(at);
    }
    places
        .into_iter()
        .map(|(account, region)| {
            let from = earliest.get(&(account, region)).copied().unwrap_or(fallback);
            let since = from.checked_sub(overlap).unwrap_or(from);
            ((account.to_owned(), region.to_owned()), since)
        })
        .collect()
}

/// The event names to look up per (account, region): those that make each
/// AWS change, and in every scope listed again (complete, with a baseline)
/// its share-modifying events, the only trace of a share added and removed
/// between two scans (`transient-share`), and with `transient_snapshots` its
/// creation and deletion events, the only trace of a snapshot that came and
/// went (`transient-snapshot`).
pub fn needs(
    changes: &[Change],
    coverage: &[Coverage],
    established: &BTreeSet<Scope>,
    transient_snapshots: bool,
) -> BTreeMap<(String, String), BTreeSet<&'static str>> {
    let mut out: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    let listed_again = coverage
        .iter()
        .filter(|c| c.scope.provider == Provider::Aws && c.is_complete() && established.contains(&c.scope));
    for c in listed_again {
        let names = out.entry((c.scope.account.clone(), c.scope.region.clone())).or_default();
        // The event that adds grantees (a reset only removes them).
        names.extend(grant_event(c.scope.service));
        if transient_snapshots {
            names.extend(event_names(c.scope.service, ChangeKind::Added));
            names.extend(event_names(c.scope.service, ChangeKind::Deleted));
        }
    }
    for c in changes.iter().filter(|c| c.scope.provider == Provider::Aws) {
        let names = event_names(c.scope.service, c.kind);
        if !names.is_empty() {
            out.entry((c.scope.account.clone(), c.scope.region.clone())).or_default().extend(names);
        }
    }
    out
}

/// The Azure subscriptions whose Activity Log to read: those that changed,
/// and every one listed again (an export granted and ended between two
/// scans is only in the log).
pub fn subscriptions_to_read(
    changes: &[Change],
    coverage: &[Coverage],
    established: &BTreeSet<Scope>,
) -> BTreeSet<String> {
    let changed = changes.iter().filter(|c| c.scope.provider == Provider::Azure).map(|c| &c.scope.account);
    let listed_again = coverage
        .iter()
        .filter(|c| c.scope.provider == Provider::Azure && c.is_complete() && established.contains(&c.scope))
        .map(|c| &c.scope.account);
    changed.chain(listed_again).cloned().collect()
}

/// Give each change the actor of its latest matching event: one that took
/// effect (a refused call changed nothing), of a name that makes the change,
/// and for an AWS share change one in its direction naming its grantee (a
/// share added takes the event that added that grantee, a share removed the
/// one that removed it, or a reset), so two people's calls on one snapshot
/// are never swapped.
pub fn attach_to_changes(changes: &mut [Change], events: &[AuditEvent]) {
    // Indexed once by (account, resource): a burst of changes must not scan
    // every event for each. Settings changes name no resource: by account.
    let mut by_resource: HashMap<(&str, &str), Vec<&AuditEvent>> = HashMap::new();
    let mut by_account: HashMap<&str, Vec<&AuditEvent>> = HashMap::new();
    for e in events {
        for r in &e.resources {
            by_resource.entry((e.account.as_str(), r.as_str())).or_default().push(e);
        }
        by_account.entry(e.account.as_str()).or_default().push(e);
    }
    for c in changes.iter_mut() {
        let names = event_names(c.scope.service, c.kind);
        let candidates = if c.kind == ChangeKind::BlockPublicAccessChanged {
            by_account.get(c.scope.account.as_str())
        } else {
            by_resource.get(&(c.scope.account.as_str(), c.snapshot_id.as_str()))
        };
        c.actor = candidates
            .into_iter()
            .flatten()
            // Azure's Activity Log names no location: its events say `*`.
            .filter(|e| e.region == c.scope.region || e.region == "*")
            .filter(|e| e.succeeded() && names.contains(&e.actor.event_name.as_str()))
            .filter(|e| in_direction(c, e))
            .max_by(|a, b| a.actor.event_time.cmp(&b.actor.event_time))
            .map(|e| e.actor.clone());
    }
}

/// An AWS share change matches an event that moved its grantee its way; a
/// modification, an export (the only AWS modification looked up) when its
/// details name the exports.
fn in_direction(c: &Change, e: &AuditEvent) -> bool {
    let names = |labels: &[String], grantee: &Grantee| labels.iter().any(|l| Grantee::decode(l) == *grantee);
    match (c.scope.provider, c.kind, &c.grantee) {
        (Provider::Aws, ChangeKind::ShareAdded, Some(grantee)) => names(&e.added, grantee),
        (Provider::Aws, ChangeKind::ShareRemoved, Some(grantee)) => e.resets() || names(&e.removed, grantee),
        // An export names who exported, not who changed a tag.
        (Provider::Aws, ChangeKind::Modified, _) => c.details.contains(crate::model::S3_EXPORTS),
        _ => true,
    }
}

/// A finding about a change (a new share, a deletion, a burst) takes the
/// actor of its change; a group finding, that of its first member with one.
pub fn attach_to_findings(findings: &mut [Finding], changes: &[Change]) {
    let mut by_subject: BTreeMap<(&crate::model::Scope, &str), &Actor> = BTreeMap::new();
    for c in changes {
        if let Some(actor) = &c.actor {
            by_subject.entry((&c.scope, c.snapshot_id.as_str())).or_insert(actor);
        }
    }
    for f in findings.iter_mut().filter(|f| f.actor.is_none()) {
        let own = f.snapshot_id.as_deref().and_then(|id| by_subject.get(&(&f.scope, id)));
        let member = || f.related.iter().find_map(|id| by_subject.get(&(&f.scope, id.as_str())));
        let setting = || (f.rule == "block-public-access-weakened").then(|| by_subject.get(&(&f.scope, ""))).flatten();
        f.actor = own.or_else(member).or_else(setting).map(|a| (*a).clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Grantee, Service};

    fn scope() -> Scope {
        Scope { provider: Provider::Aws, service: Service::Ebs, account: "1".into(), region: "eu-west-1".into() }
    }

    fn event(name: &str, resource: &str, at: &str, who: &str) -> AuditEvent {
        AuditEvent {
            account: "1".into(),
            region: "eu-west-1".into(),
            resources: vec![resource.into()],
            subjects: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            error_code: None,
            actor: Actor {
                principal: Some(who.into()),
                identity_type: Some("IAMUser".into()),
                invoked_by: None,
                source_ip: None,
                user_agent: None,
                event_time: at.into(),
                event_id: format!("{name}-{at}"),
                event_name: name.into(),
            },
        }
    }

    fn change(kind: ChangeKind, id: &str) -> Change {
        Change {
            kind,
            scope: scope(),
            snapshot_id: id.into(),
            grantee: Some(Grantee::Public),
            details: String::new(),
            actor: None,
        }
    }

    #[test]
    fn a_change_takes_the_latest_event_of_its_kind_naming_its_snapshot() {
        let events = [
            share_event("snap-a", "2026-12-02T10:00:00Z", "early", &["all"], &[]),
            share_event("snap-a", "2026-12-02T11:00:00Z", "late", &["all"], &[]),
            share_event("snap-b", "2026-12-02T12:00:00Z", "other snapshot", &["all"], &[]),
            event("DeleteSnapshot", "snap-a", "2026-12-02T13:00:00Z", "other kind"),
        ];
        let mut changes = [change(ChangeKind::ShareAdded, "snap-a"), change(ChangeKind::Added, "snap-c")];
        attach_to_changes(&mut changes, &events);
        assert_eq!(changes[0].actor.as_ref().and_then(|a| a.principal.as_deref()), Some("late"));
        assert_eq!(changes[1].actor, None, "no event named it: null, never a guess");

        let wanted = needs(&changes, &[], &BTreeSet::new(), true);
        let names: Vec<&str> = wanted[&("1".to_string(), "eu-west-1".to_string())].iter().copied().collect();
        assert_eq!(
            names,
            ["CopySnapshot", "CreateSnapshot", "CreateSnapshots", "ModifySnapshotAttribute", "ResetSnapshotAttribute"]
        );
        // A scope listed again: its grant event, and its creations and
        // deletions when transient snapshots are looked for.
        let listed = [Coverage::complete(scope())];
        let established = BTreeSet::from([scope()]);
        let names = |transient| -> Vec<&str> {
            needs(&[], &listed, &established, transient)[&("1".to_string(), "eu-west-1".to_string())]
                .iter()
                .copied()
                .collect()
        };
        assert_eq!(names(false), ["ModifySnapshotAttribute"]);
        assert_eq!(
            names(true),
            ["CopySnapshot", "CreateSnapshot", "CreateSnapshots", "DeleteSnapshot", "ModifySnapshotAttribute"]
        );
    }

    fn share_event(resource: &str, at: &str, who: &str, added: &[&str], removed: &[&str]) -> AuditEvent {
        AuditEvent {
            added: added.iter().map(|a| a.to_string()).collect(),
            removed: removed.iter().map(|r| r.to_string()).collect(),
            ..event("ModifySnapshotAttribute", resource, at, who)
        }
    }

    /// Regression (issue 27, part 2.2 and 2.3): share-added(999) took the
    /// actor of a later removal of 888, and a refused call could be the
    /// actor of someone else's share.
    #[test]
    fn a_share_change_takes_the_event_that_moved_its_grantee_its_way() {
        let with =
            |kind, grantee: &str| Change { grantee: Some(Grantee::Account(grantee.into())), ..change(kind, "snap-a") };
        let mut refused = share_event("snap-a", "2026-12-02T12:30:00Z", "refused", &["999999999999"], &[]);
        refused.error_code = Some("UnauthorizedOperation".into());
        let events = [
            share_event("snap-a", "2026-12-02T10:00:00Z", "alice", &["999999999999"], &[]),
            share_event("snap-a", "2026-12-02T11:00:00Z", "bob", &[], &["888888888888"]),
            refused,
        ];
        let mut changes =
            [with(ChangeKind::ShareAdded, "999999999999"), with(ChangeKind::ShareRemoved, "888888888888")];
        attach_to_changes(&mut changes, &events);
        let who = |c: &Change| c.actor.as_ref().and_then(|a| a.principal.clone());
        assert_eq!(who(&changes[0]).as_deref(), Some("alice"), "the one who added 999, not bob, not the refused call");
        assert_eq!(who(&changes[1]).as_deref(), Some("bob"));
        // A reset removes every grantee: it is the actor of any removal.
        let reset = event("ResetSnapshotAttribute", "snap-a", "2026-12-02T12:00:00Z", "carol");
        let mut removed = [with(ChangeKind::ShareRemoved, "777777777777")];
        attach_to_changes(&mut removed, &[events[0].clone(), reset]);
        assert_eq!(who(&removed[0]).as_deref(), Some("carol"));
    }

    /// Regression (issue 27, part 2.1): the window started at the newest
    /// scan of the database; it starts at each place's earliest last
    /// complete listing, less the overlap.
    #[test]
    fn each_place_reads_from_its_earliest_listing_less_the_overlap() {
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
        let mut baseline = Baseline::default();
        let mut listed = |service, region: &str, t: &str| {
            let scope = Scope { service, region: region.into(), ..scope() };
            baseline.shares_read.entry(scope).or_default().listed_at = Some(at(t));
        };
        listed(crate::model::Service::Ebs, "eu-west-1", "2026-12-02T10:00:00Z");
        // RDS failed since: its last complete listing is older.
        listed(crate::model::Service::Rds, "eu-west-1", "2026-12-01T10:00:00Z");
        listed(crate::model::Service::Ebs, "us-east-1", "2026-12-02T09:00:00Z");
        let overlap = jiff::SignedDuration::from_hours(2);
        let fallback = at("2026-12-02T12:00:00Z");
        let places = [("1", "eu-west-1"), ("1", "us-east-1"), ("1", "ap-south-1")];
        let windows = lookup_windows(places, Provider::Aws, &baseline, fallback, overlap);
        let of = |r: &str| windows[&("1".to_owned(), r.to_owned())].to_string();
        assert_eq!(of("eu-west-1"), "2026-12-01T08:00:00Z");
        assert_eq!(of("us-east-1"), "2026-12-02T07:00:00Z");
        assert_eq!(of("ap-south-1"), "2026-12-02T10:00:00Z", "no listing: the newest scan, less the overlap");
        assert_eq!(
            lookup_windows([("1", "*")], Provider::Azure, &baseline, fallback, overlap)[&("1".into(), "*".into())],
            at("2026-12-02T10:00:00Z"),
            "another provider's listings are not this one's"
        );
    }
}
