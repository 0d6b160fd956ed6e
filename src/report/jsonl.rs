//! JSON lines: one `{"type": T, "data": {...}}` object per line. Field names
//! are a contract (docs/outputs.md, "Output: JSON lines"); add fields, never rename them.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::json;

use super::{ScanReport, Sink};
use crate::model::{Change, Coverage, Finding};

pub struct JsonLines;

impl Sink for JsonLines {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()> {
        for c in report.changes {
            line(out, "change", change(c))?;
        }
        for f in report.listed_findings() {
            line(out, "finding", finding(f))?;
        }
        for c in report.coverage {
            line(out, "coverage", coverage(c))?;
        }
        line(out, "summary", report.summary())
    }
}

/// The envelope, as a struct so `type` is written before `data`.
#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    data: T,
}

fn line(out: &mut dyn Write, kind: &str, data: impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Envelope { kind, data })?;
    out.write_all(b"\n")
}

pub fn finding(f: &Finding) -> serde_json::Value {
    json!({
        "rule": f.rule,
        "severity": f.severity,
        "score": f.score,
        "status": f.status,
        "mitre": f.mitre,
        "provider": f.scope.provider,
        "service": f.scope.service,
        "account": f.scope.account,
        "region": f.scope.region,
        "subject": f.subject,
        "snapshot_id": f.snapshot_id,
        "grantees": f.grantees,
        "related": f.related,
        "message": f.message,
        "first_seen": f.first_seen,
        "suppressed_by": f.suppressed_by,
        "actor": f.actor,
        "remedy": f.remedy,
    })
}

pub fn change(c: &Change) -> serde_json::Value {
    json!({
        "kind": c.kind,
        "provider": c.scope.provider,
        "service": c.scope.service,
        "account": c.scope.account,
        "region": c.scope.region,
        "snapshot_id": c.snapshot_id,
        "grantee": c.grantee.as_ref().map(|g| g.label()),
        "details": c.details,
        "actor": c.actor,
    })
}

pub fn coverage(c: &Coverage) -> serde_json::Value {
    json!({
        "provider": c.scope.provider,
        "service": c.scope.service,
        "account": c.scope.account,
        "region": c.scope.region,
        "status": c.status,
        "error_code": c.error_code,
        "error": c.error,
        "unknown_exposure": c.unknown_exposure,
        "exposure_error": c.exposure_error,
        "block_public_access": c.block_public_access,
        "attribution": c.attribution,
        "verification": c.verification,
        "oldest_verified_at": c.oldest_verified_at,
    })
}
