//! OCSF 1.1 Detection Finding (class_uid 2004), one JSON object per line:
//! the shape Prowler and AWS Security Hub consumers ingest. MITRE technique
//! ids go in `finding_info.attacks`, the snapshot in `resources`.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{ScanReport, Sink};
use crate::model::{Finding, Provider, Service, Severity, Status};

pub struct Ocsf;

const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2; // Findings
const OCSF_VERSION: &str = "1.1.0";

impl Sink for Ocsf {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()> {
        let time = report.started_at.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(0);
        for f in report.listed_findings() {
            serde_json::to_writer(&mut *out, &detection_finding(f, time, report.scan_id))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

pub fn detection_finding(f: &Finding, time_ms: i64, scan_id: i64) -> Value {
    // activity: 1 Create (first raised), 2 Update (still open), 3 Close.
    let (activity_id, activity) = match f.status {
        Status::New | Status::Suppressed => (1, "Create"),
        Status::Open => (2, "Update"),
        Status::Resolved => (3, "Close"),
    };
    let (status_id, status) = match f.status {
        Status::New => (1, "New"),
        Status::Open => (2, "In Progress"),
        Status::Suppressed => (3, "Suppressed"),
        Status::Resolved => (4, "Resolved"),
    };
    let (severity_id, severity) = match f.severity {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    };
    let first_seen =
        f.first_seen.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_millisecond());
    let attacks: Vec<Value> = f.mitre.iter().map(|t| json!({ "technique": { "uid": t }, "version": "v15" })).collect();
    let resource_uid = f.snapshot_id.clone().unwrap_or_else(|| f.subject.clone());
    let mut finding = json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id,
        "time": time_ms,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": f.message,
        "risk_score": f.score,
        "finding_info": {
            "uid": format!("{}:{}:{}:{}:{}:{}", f.rule, f.scope.provider, f.scope.service, f.scope.account, f.scope.region, f.subject),
            "title": f.rule,
            "desc": f.message,
            "types": [f.rule],
            "first_seen_time": first_seen,
            "attacks": attacks,
        },
        "resources": [{
            "uid": resource_uid,
            "type": resource_type(f.scope.service),
            "region": f.scope.region,
            "cloud_partition": null,
            "data": { "grantees": f.grantees, "related": f.related },
        }],
        "cloud": {
            "provider": match f.scope.provider {
                Provider::Aws => "AWS",
                Provider::Azure => "Azure",
                Provider::Gcp => "GCP",
            },
            "account": { "uid": f.scope.account },
            "region": f.scope.region,
        },
        "metadata": {
            "version": OCSF_VERSION,
            "product": { "name": "snapaudit", "vendor_name": "snapaudit", "version": env!("CARGO_PKG_VERSION") },
            "correlation_uid": format!("scan-{scan_id}"),
        },
        // OCSF's Detection Finding has no actor of the change; kept as is.
        "unmapped": { "suppressed_by": f.suppressed_by, "actor": f.actor },
    });
    // OCSF `remediation` (Remediation object: `desc` required, `references`).
    if let Some(remedy) = &f.remedy {
        finding["remediation"] = json!({
            "desc": format!("Run: {}", remedy.one_line()),
            "references": remedy.console.iter().collect::<Vec<_>>(),
        });
    }
    finding
}

/// The provider's resource type name, as CloudFormation, ARM and Cloud Asset
/// Inventory spell it.
fn resource_type(service: Service) -> &'static str {
    match service {
        Service::Ebs => "AWS::EC2::Snapshot",
        Service::Rds => "AWS::RDS::DBSnapshot",
        Service::RdsCluster => "AWS::RDS::DBClusterSnapshot",
        Service::Ami => "AWS::EC2::Image",
        Service::AzureSnapshot => "Microsoft.Compute/snapshots",
        Service::GcpSnapshot => "compute.googleapis.com/Snapshot",
        Service::GcpImage => "compute.googleapis.com/Image",
        Service::GcpMachineImage => "compute.googleapis.com/MachineImage",
    }
}
