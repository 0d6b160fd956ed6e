//! Reports built from the baseline alone (`snapaudit report ...`): the
//! compliance report of shared snapshots, the changes of a period, and the
//! findings of a scan. Each becomes a [`Listing`] in any list format.

use std::collections::BTreeMap;

use serde_json::json;

use super::Listing;
use crate::model::{Finding, Grantee, Scope, Snapshot, Status};
use crate::rules::Policy;
use crate::store::reports::ScanRef;
use crate::store::{Store, StoreError};

/// Rules whose suppression explains why a share is accepted.
const SHARE_RULES: &[&str] =
    &["public-share", "external-share", "unencrypted-share", "azure-sas-export", "azure-network-exposure"];

/// How many recent scans the shared-snapshot trend covers.
const TREND_SCANS: usize = 20;

/// What one grantee of a snapshot is, for an auditor.
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
    })
}

fn valid_at(first: i64, ended: Option<i64>, scan: i64) -> bool {
    first <= scan && ended.is_none_or(|e| e > scan)
}

/// Every snapshot restorable or downloadable outside its account, as of a
/// scan: `report shared`.
pub fn shared(store: &Store, policy: &Policy, scan: &ScanRef) -> Result<Listing, StoreError> {
    let versions = store.shared_versions(scan.id)?;
    let findings = store.findings_of(scan.id)?;
    let key = |scope: &Scope, id: &str| (scope.clone(), id.to_owned());
    let mut external: BTreeMap<(Scope, String), Vec<String>> = BTreeMap::new();
    let mut suppressed: BTreeMap<(Scope, String), String> = BTreeMap::new();
    for f in &findings {
        let Some(id) = &f.snapshot_id else { continue };
        if f.rule == "external-share" && f.status != Status::Resolved {
            external.entry(key(&f.scope, id)).or_default().extend(f.grantees.iter().cloned());
        }
        if f.status == Status::Suppressed && SHARE_RULES.contains(&f.rule.as_str()) {
            let reason = f.suppressed_by.clone().unwrap_or_default();
            suppressed.entry(key(&f.scope, id)).or_insert(reason);
        }
    }
    // First seen shared: the earliest stored version with any grantee.
    let mut first_seen: BTreeMap<(Scope, String), String> = BTreeMap::new();
    for v in &versions {
        first_seen.entry(key(&v.snapshot.scope, &v.snapshot.id)).or_insert_with(|| v.first_seen_at.clone());
    }

    let mut current: Vec<&Snapshot> =
        versions.iter().filter(|v| valid_at(v.first_scan, v.ended_scan, scan.id)).map(|v| &v.snapshot).collect();
    current.sort_by(|a, b| (&a.scope, &a.id).cmp(&(&b.scope, &b.id)));
    let (mut rows, mut records) = (Vec::new(), Vec::new());
    let (mut public, mut external_count) = (0, 0);
    for s in &current {
        let k = key(&s.scope, &s.id);
        let none = Vec::new();
        let marked: Vec<(&str, String)> = s
            .grantees
            .iter()
            .filter_map(|g| classify(g, &s.scope.account, policy, external.get(&k).unwrap_or(&none)))
            .collect();
        if marked.is_empty() {
            continue;
        }
        if marked.iter().any(|(kind, _)| *kind == "public") {
            public += 1;
        }
        if marked.iter().any(|(kind, _)| !matches!(*kind, "trusted" | "organization")) {
            external_count += 1;
        }
        let grantees: Vec<String> = marked.iter().map(|(kind, who)| format!("{who} ({kind})")).collect();
        let tags: Vec<String> = s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let reason = suppressed.get(&k).cloned().unwrap_or_default();
        rows.push(vec![
            s.scope.provider.to_string(),
            s.scope.account.clone(),
            s.scope.region.clone(),
            s.id.clone(),
            grantees.join(", "),
            first_seen.get(&k).cloned().unwrap_or_default(),
            if s.encrypted { "yes".into() } else { "no".into() },
            s.size_gib.map(|g| g.to_string()).unwrap_or_default(),
            s.source_id.clone().unwrap_or_default(),
            tags.join(", "),
            reason.clone(),
        ]);
        records.push(json!({
            "provider": s.scope.provider, "service": s.scope.service, "account": s.scope.account,
            "region": s.scope.region, "snapshot_id": s.id,
            "grantees": marked.iter().map(|(kind, who)| json!({"id": who, "kind": kind})).collect::<Vec<_>>(),
            "first_seen_shared": first_seen.get(&k), "encrypted": s.encrypted, "size_gib": s.size_gib,
            "source_id": s.source_id, "tags": s.tags,
            "suppressed_by": (!reason.is_empty()).then_some(reason),
        }));
    }

    let trend = store
        .recent_scans(scan.id, TREND_SCANS)?
        .into_iter()
        .map(|r| {
            let live = versions.iter().filter(|v| valid_at(v.first_scan, v.ended_scan, r.id));
            let (mut shared, mut public) = (0, 0);
            for v in live {
                let s = &v.snapshot;
                if s.grantees.iter().any(|g| !g.is_account(&s.scope.account)) {
                    shared += 1;
                }
                if s.is_public() {
                    public += 1;
                }
            }
            (r.id, shared, public)
        })
        .collect();

    Ok(Listing {
        kind: "shared_snapshot",
        title: "Snapshots shared outside their account".into(),
        as_of: format!("scan {} ({})", scan.id, scan.started_at),
        summary: vec![
            ("shared snapshots", rows.len().to_string()),
            ("public", public.to_string()),
            ("shared with external accounts or by export", external_count.to_string()),
            ("suppressed", suppressed.len().to_string()),
            ("as of scan", scan.id.to_string()),
        ],
        headers: vec![
            "PROVIDER",
            "ACCOUNT",
            "REGION",
            "SNAPSHOT",
            "GRANTEES",
            "FIRST SEEN SHARED",
            "ENCRYPTED",
            "SIZE GIB",
            "SOURCE",
            "TAGS",
            "SUPPRESSED",
        ],
        rows,
        records,
        trend,
    })
}

/// The changes of the scans since `since` (RFC 3339): `report changes`.
pub fn changes(store: &Store, since: &str) -> Result<Listing, StoreError> {
    let stored = store.changes_since(since)?;
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &stored {
        *by_kind.entry(c.change.kind.as_str()).or_default() += 1;
    }
    let mut summary = vec![("changes", stored.len().to_string()), ("since", since.to_owned())];
    summary.extend(by_kind.iter().map(|(k, n)| (*k, n.to_string())));
    Ok(Listing {
        kind: "change",
        title: format!("Snapshot changes since {since}"),
        as_of: since.to_owned(),
        summary,
        headers: vec!["SCAN", "STARTED", "CHANGE", "SERVICE", "ACCOUNT", "REGION", "SNAPSHOT", "GRANTEE", "DETAILS"],
        rows: stored
            .iter()
            .map(|c| {
                let ch = &c.change;
                vec![
                    c.scan.id.to_string(),
                    c.scan.started_at.clone(),
                    ch.kind.as_str().to_owned(),
                    ch.scope.service.to_string(),
                    ch.scope.account.clone(),
                    ch.scope.region.clone(),
                    ch.snapshot_id.clone(),
                    ch.grantee.as_ref().map(|g| g.label().to_owned()).unwrap_or_default(),
                    ch.details.clone(),
                ]
            })
            .collect(),
        records: stored
            .iter()
            .map(|c| {
                let ch = &c.change;
                json!({
                    "scan_id": c.scan.id, "started_at": c.scan.started_at, "kind": ch.kind.as_str(),
                    "provider": ch.scope.provider, "service": ch.scope.service, "account": ch.scope.account,
                    "region": ch.scope.region, "snapshot_id": ch.snapshot_id,
                    "grantee": ch.grantee.as_ref().map(|g| g.label()), "details": ch.details,
                })
            })
            .collect(),
        trend: Vec::new(),
    })
}

/// The findings of a scan with the given statuses: `report findings`.
pub fn findings(store: &Store, scan: &ScanRef, statuses: &[Status]) -> Result<Listing, StoreError> {
    let mut found: Vec<Finding> =
        store.findings_of(scan.id)?.into_iter().filter(|f| statuses.contains(&f.status)).collect();
    crate::rules::sort(&mut found);
    let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(Listing {
        kind: "finding",
        title: format!("Findings of scan {} ({})", scan.id, wanted.join(", ")),
        as_of: format!("scan {} ({})", scan.id, scan.started_at),
        summary: vec![("findings", found.len().to_string()), ("scan", scan.id.to_string())],
        headers: vec!["SEVERITY", "STATUS", "RULE", "SERVICE", "ACCOUNT", "REGION", "SUBJECT", "FIRST SEEN", "MESSAGE"],
        rows: found
            .iter()
            .map(|f| {
                vec![
                    f.severity.to_string(),
                    f.status.to_string(),
                    f.rule.clone(),
                    f.scope.service.to_string(),
                    f.scope.account.clone(),
                    f.scope.region.clone(),
                    f.subject.clone(),
                    f.first_seen.clone().unwrap_or_default(),
                    f.message.clone(),
                ]
            })
            .collect(),
        records: found.iter().map(super::jsonl::finding).collect(),
        trend: Vec::new(),
    })
}
