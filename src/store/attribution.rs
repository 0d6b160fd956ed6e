//! Pure: who made each change, joined from audit-log events (AWS CloudTrail
//! `LookupEvents`) to the changes the diff found. A change takes the latest
//! event of a name that makes its kind of change, in its account and region,
//! naming its snapshot (or image); a finding about a change takes its actor.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{
    Actor, AuditEvent, Change, ChangeKind, Coverage, Finding, Provider, Scope, event_names, grant_event,
};

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

/// Give each change the actor of its latest matching event.
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
            .filter(|e| names.contains(&e.actor.event_name.as_str()))
            .max_by(|a, b| a.actor.event_time.cmp(&b.actor.event_time))
            .map(|e| e.actor.clone());
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
            event("ModifySnapshotAttribute", "snap-a", "2026-12-02T10:00:00Z", "early"),
            event("ModifySnapshotAttribute", "snap-a", "2026-12-02T11:00:00Z", "late"),
            event("ModifySnapshotAttribute", "snap-b", "2026-12-02T12:00:00Z", "other snapshot"),
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
}
