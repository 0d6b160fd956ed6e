//! Pure: who may read each shared snapshot as of a scan, classified with the
//! policy's trust and the exposure findings of that scan (`report shared`).

use std::collections::BTreeMap;

use crate::model::{Finding, Grantee, ScanRef, Scope, Service, SharedSnapshot, SharedVersion, Snapshot, Status};

use super::Policy;

/// What one grantee of a snapshot is, for an auditor; `None` for the owner.
fn classify(g: &Grantee, owner: &str, policy: &Policy, external: &[String]) -> Option<(&'static str, String)> {
    Some(match g {
        Grantee::Account(id) if id == owner => return None,
        Grantee::Public => ("public", "all".to_owned()),
        Grantee::SasExport => ("export-url", g.label().to_owned()),
        Grantee::AnyNetwork => ("any-network", g.label().to_owned()),
        Grantee::Account(id) if policy.trusted_accounts.contains(id) => ("trusted", id.clone()),
        // external-share names exactly the accounts it judged untrusted; an
        // account it left out was trusted as part of the organization.
        Grantee::Account(id) if external.contains(id) => ("external", id.clone()),
        Grantee::Account(id) => ("organization", id.clone()),
        Grantee::Group(name) => ("group", name.clone()),
        Grantee::Member(member) if policy.trusts_gcp_member(member, owner, None, &[]) => ("trusted", member.clone()),
        Grantee::Member(member) if external.contains(member) => ("external", member.clone()),
        Grantee::Member(member) => ("organization", member.clone()),
        Grantee::Organization(arn) | Grantee::OrganizationalUnit(arn) => {
            if policy.trusts_organization_grant(g, None) {
                ("trusted", arn.clone())
            } else if external.contains(arn) {
                ("external", arn.clone())
            } else {
                ("organization", arn.clone())
            }
        }
    })
}

/// Every snapshot readable outside its account in `scan`, sorted by scope
/// and id, from the stored shared versions and that scan's findings.
pub fn shared_snapshots(
    versions: &[SharedVersion],
    findings: &[Finding],
    policy: &Policy,
    scan: &ScanRef,
) -> Vec<SharedSnapshot> {
    type Key = (Scope, String);
    let key = |scope: &Scope, id: &str| (scope.clone(), id.to_owned());
    let mut external: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut suppressed: BTreeMap<Key, String> = BTreeMap::new();
    for f in findings {
        let Some(id) = &f.snapshot_id else { continue };
        if f.rule == "external-share" && f.status != Status::Resolved {
            external.entry(key(&f.scope, id)).or_default().extend(f.grantees.iter().cloned());
        }
        if f.status == Status::Suppressed && super::rule(&f.rule).is_some_and(|r| r.judges_exposure()) {
            let reason = f.suppressed_by.clone().unwrap_or_default();
            suppressed.entry(key(&f.scope, id)).or_insert(reason);
        }
    }
    // First seen shared: the earliest stored version with any grantee.
    let mut first_seen: BTreeMap<Key, String> = BTreeMap::new();
    for v in versions {
        first_seen.entry(key(&v.snapshot.scope, &v.snapshot.id)).or_insert_with(|| v.first_seen_at.clone());
    }
    let mut current: Vec<&SharedVersion> = versions.iter().filter(|v| v.valid_at(scan.id)).collect();
    current.sort_by(|a, b| (&a.snapshot.scope, &a.snapshot.id).cmp(&(&b.snapshot.scope, &b.snapshot.id)));
    let none = Vec::new();
    let mut shared: BTreeMap<Key, SharedSnapshot> = current
        .into_iter()
        .filter_map(|v| {
            let s = &v.snapshot;
            let k = key(&s.scope, &s.id);
            let grantees: Vec<(&'static str, String)> = s
                .grantees
                .iter()
                .filter_map(|g| classify(g, &s.scope.account, policy, external.get(&k).unwrap_or(&none)))
                .collect();
            let entry = SharedSnapshot {
                snapshot: s.clone(),
                grantees,
                first_seen_shared: first_seen.get(&k).cloned(),
                suppressed_by: suppressed.get(&k).cloned().filter(|r| !r.is_empty()),
                via: Vec::new(),
            };
            (!entry.grantees.is_empty()).then_some((k, entry))
        })
        .collect();
    // An EBS snapshot behind a shared AMI is readable by whoever may launch
    // the AMI, whether or not the snapshot itself is shared.
    let amis: Vec<SharedSnapshot> =
        shared.values().filter(|e| e.snapshot.scope.service == Service::Ami).cloned().collect();
    for ami in amis {
        for id in ami.snapshot.backing_snapshots() {
            let scope = Scope { service: Service::Ebs, ..ami.snapshot.scope.clone() };
            let entry = shared.entry(key(&scope, id)).or_insert_with(|| SharedSnapshot {
                snapshot: reached_only_via(&ami.snapshot, scope.clone(), id),
                grantees: Vec::new(),
                first_seen_shared: ami.first_seen_shared.clone(),
                suppressed_by: ami.suppressed_by.clone(),
                via: Vec::new(),
            });
            for g in &ami.grantees {
                if !entry.grantees.contains(g) {
                    entry.grantees.push(g.clone());
                }
            }
            entry.via.push(ami.snapshot.id.clone());
        }
    }
    shared.into_values().collect()
}

/// What is known of a snapshot the baseline holds no shared version of:
/// its id and place, and the encryption its AMI records for its volumes.
fn reached_only_via(ami: &Snapshot, scope: Scope, id: &str) -> Snapshot {
    Snapshot {
        scope,
        id: id.to_owned(),
        kind: None,
        source_id: None,
        created_at: None,
        size_gib: None,
        encrypted: ami.encrypted,
        kms_key_id: None,
        description: None,
        state: None,
        tags: Default::default(),
        grantees: Vec::new(),
        grantees_known: ami.grantees_known,
        attributes: Default::default(),
    }
}

/// (scan, shared, public) for each of `scans`: snapshots shared outside
/// their account, and public ones, in that scan.
pub fn trend(versions: &[SharedVersion], scans: &[ScanRef]) -> Vec<(i64, usize, usize)> {
    scans
        .iter()
        .map(|r| {
            let (mut shared, mut public) = (0, 0);
            for s in versions.iter().filter(|v| v.valid_at(r.id)).map(|v| &v.snapshot) {
                if s.grantees.iter().any(|g| !g.is_account(&s.scope.account)) {
                    shared += 1;
                }
                if s.is_public() {
                    public += 1;
                }
            }
            (r.id, shared, public)
        })
        .collect()
}
