//! What the baseline holds about past scans, as the reports read it: scan
//! summaries, stored changes, snapshot versions that were shared, and the
//! compliance view of a shared snapshot.

use serde::Serialize;

use super::{Change, Snapshot};

/// One line of `snapaudit history`.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    pub id: i64,
    pub started_at: String,
    pub finished_at: String,
    pub snapshots: i64,
    pub complete: bool,
    pub failed_scopes: i64,
    pub changes: i64,
    pub findings: i64,
    pub command: String,
}

/// One scan's id and start time.
#[derive(Debug, Clone)]
pub struct ScanRef {
    pub id: i64,
    pub started_at: String,
}

/// A snapshot version that had grantees, with the scans it was valid for.
#[derive(Debug, Clone)]
pub struct SharedVersion {
    pub snapshot: Snapshot,
    pub first_scan: i64,
    /// Exclusive; `None` while current.
    pub ended_scan: Option<i64>,
    pub first_seen_at: String,
}

impl SharedVersion {
    /// Whether this version was the snapshot's state in scan `scan`.
    pub fn valid_at(&self, scan: i64) -> bool {
        self.first_scan <= scan && self.ended_scan.is_none_or(|e| e > scan)
    }
}

/// A stored change with its scan.
#[derive(Debug, Clone)]
pub struct StoredChange {
    pub scan: ScanRef,
    pub change: Change,
}

/// A snapshot readable outside its account, as `report shared` lists it.
#[derive(Debug, Clone)]
pub struct SharedSnapshot {
    pub snapshot: Snapshot,
    /// Each grantee outside the owner: (kind, who), kind one of `public`,
    /// `export-url`, `any-network`, `trusted`, `external`, `organization`,
    /// `group`.
    pub grantees: Vec<(&'static str, String)>,
    /// The start of the first scan that stored it with a grantee.
    pub first_seen_shared: Option<String>,
    /// Why its share is accepted: the suppression of an exposure finding.
    pub suppressed_by: Option<String>,
    /// The AMIs through which it is readable: an EBS snapshot behind an AMI
    /// inherits the AMI's launch permissions. Empty for a direct share only.
    pub via: Vec<String>,
}

impl SharedSnapshot {
    pub fn is_public(&self) -> bool {
        self.grantees.iter().any(|(kind, _)| *kind == "public")
    }

    /// Shared beyond the owner's trusted accounts and organization.
    pub fn is_external(&self) -> bool {
        self.grantees.iter().any(|(kind, _)| !matches!(*kind, "trusted" | "organization"))
    }
}
