//! Reports built from the baseline alone (`snapaudit report ...`,
//! `history`): the compliance report of shared snapshots, the changes of a
//! period, the findings of a scan and the scan history, each formatted from
//! data it is given into a [`Listing`] in any format.

use std::collections::BTreeMap;

use serde_json::json;

use super::Listing;
use crate::model::{Finding, ScanRef, ScanSummary, SharedSnapshot, Status, StoredChange};

/// Every snapshot restorable or downloadable outside its account, as of a
/// scan: `report shared`. `trend` is (scan, shared, public) per recent scan.
pub fn shared(shared: &[SharedSnapshot], trend: Vec<(i64, usize, usize)>, scan: &ScanRef) -> Listing {
    let (mut rows, mut records) = (Vec::new(), Vec::new());
    for entry in shared {
        let s = &entry.snapshot;
        let grantees: Vec<String> = entry.grantees.iter().map(|(kind, who)| format!("{who} ({kind})")).collect();
        let tags: Vec<String> = s.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let reason = entry.suppressed_by.clone().unwrap_or_default();
        // The engine where RDS records one: DocumentDB and Neptune share its API.
        let service = match s.attributes.get("engine") {
            Some(engine) => format!("{} ({engine})", s.scope.service),
            None => s.scope.service.to_string(),
        };
        rows.push(vec![
            s.scope.provider.to_string(),
            service,
            s.scope.account.clone(),
            s.scope.region.clone(),
            s.id.clone(),
            grantees.join(", "),
            entry.via.join(", "),
            entry.first_seen_shared.clone().unwrap_or_default(),
            if s.encrypted { "yes".into() } else { "no".into() },
            s.size_gib.map(|g| g.to_string()).unwrap_or_default(),
            s.source_id.clone().unwrap_or_default(),
            tags.join(", "),
            reason,
        ]);
        records.push(json!({
            "provider": s.scope.provider, "service": s.scope.service, "account": s.scope.account,
            "region": s.scope.region, "snapshot_id": s.id, "engine": s.attributes.get("engine"),
            "grantees": entry.grantees.iter().map(|(kind, who)| json!({"id": who, "kind": kind})).collect::<Vec<_>>(),
            "via": entry.via,
            "first_seen_shared": entry.first_seen_shared, "encrypted": s.encrypted, "size_gib": s.size_gib,
            "source_id": s.source_id, "tags": s.tags,
            "suppressed_by": entry.suppressed_by,
        }));
    }
    let public = shared.iter().filter(|s| s.is_public()).count();
    let external_count = shared.iter().filter(|s| s.is_external()).count();
    let suppressed = shared.iter().filter(|s| s.suppressed_by.is_some()).count();

    Listing {
        kind: "shared_snapshot",
        title: "Snapshots shared outside their account".into(),
        as_of: format!("scan {} ({})", scan.id, scan.started_at),
        summary: vec![
            ("shared snapshots", rows.len().to_string()),
            ("public", public.to_string()),
            ("shared with external accounts or by export", external_count.to_string()),
            ("suppressed", suppressed.to_string()),
            ("as of scan", scan.id.to_string()),
        ],
        headers: vec![
            "PROVIDER",
            "SERVICE",
            "ACCOUNT",
            "REGION",
            "SNAPSHOT",
            "GRANTEES",
            "VIA AMI",
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
        ocsf: None,
    }
}

/// The changes of the scans since `since` (RFC 3339): `report changes`.
pub fn changes(stored: &[StoredChange], since: &str) -> Listing {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for c in stored {
        *by_kind.entry(c.change.kind.as_str()).or_default() += 1;
    }
    let mut summary = vec![("changes", stored.len().to_string()), ("since", since.to_owned())];
    summary.extend(by_kind.iter().map(|(k, n)| (*k, n.to_string())));
    Listing {
        kind: "change",
        title: format!("Snapshot changes since {since}"),
        as_of: since.to_owned(),
        summary,
        headers: vec![
            "SCAN", "STARTED", "CHANGE", "SERVICE", "ACCOUNT", "REGION", "SNAPSHOT", "GRANTEE", "DETAILS", "BY",
        ],
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
                    ch.actor.as_ref().and_then(|a| a.principal.clone()).unwrap_or_default(),
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
                    "actor": ch.actor,
                })
            })
            .collect(),
        trend: Vec::new(),
        ocsf: None,
    }
}

/// The findings of a scan with the given statuses, in the order given:
/// `report findings`.
pub fn findings(found: &[Finding], scan: &ScanRef, statuses: &[Status]) -> Listing {
    let wanted: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Listing {
        kind: "finding",
        title: format!("Findings of scan {} ({})", scan.id, wanted.join(", ")),
        as_of: format!("scan {} ({})", scan.id, scan.started_at),
        summary: vec![("findings", found.len().to_string()), ("scan", scan.id.to_string())],
        headers: vec![
            "SEVERITY",
            "STATUS",
            "RULE",
            "SERVICE",
            "ACCOUNT",
            "REGION",
            "SUBJECT",
            "FIRST SEEN",
            "MESSAGE",
            "FIX",
        ],
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
                    f.remedy.as_ref().map(|r| r.one_line()).unwrap_or_default(),
                ]
            })
            .collect(),
        records: found.iter().map(super::jsonl::finding).collect(),
        trend: Vec::new(),
        ocsf: Some({
            let time = scan.started_at.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(0);
            found.iter().map(|f| super::ocsf::detection_finding(f, time, scan.id)).collect()
        }),
    }
}

/// The scans stored, newest first: `history`.
pub fn history(scans: &[ScanSummary]) -> Listing {
    Listing {
        kind: "scan",
        title: "snapaudit scan history".into(),
        as_of: scans.first().map(|s| s.started_at.clone()).unwrap_or_default(),
        summary: vec![("scans", scans.len().to_string())],
        headers: vec!["SCAN", "STARTED", "SNAPSHOTS", "COVERAGE", "CHANGES", "FINDINGS", "COMMAND"],
        rows: scans
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.started_at.clone(),
                    s.snapshots.to_string(),
                    if s.complete { "complete".into() } else { format!("{} failed", s.failed_scopes) },
                    s.changes.to_string(),
                    s.findings.to_string(),
                    s.command.clone(),
                ]
            })
            .collect(),
        records: scans.iter().map(|s| serde_json::to_value(s).unwrap_or_default()).collect(),
        trend: Vec::new(),
        ocsf: None,
    }
}
