//! A rule's verdict on one snapshot, a group of snapshots or a scope: its
//! severity, score, MITRE techniques and lifecycle status.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Actor, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// One step more severe; critical stays critical.
    pub fn raised(self) -> Self {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding stands compared with the previous scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// First seen in this scan.
    New,
    /// Seen before and still there.
    Open,
    /// Was open in the previous scan and is gone now (e.g. an unshare).
    Resolved,
    /// Matched an allowlist entry or known backup tooling: kept, not alerted.
    Suppressed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::New, Status::Open, Status::Resolved, Status::Suppressed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// New and open findings are the ones that need someone's attention.
    pub fn is_active(self) -> bool {
        matches!(self, Status::New | Status::Open)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    /// 1-3, following common SIEM scoring for T1578.001: an external share
    /// is 3, bulk activity 2 (3 when also off-hours), off-hours alone 1.
    pub score: u8,
    /// MITRE ATT&CK technique ids.
    pub mitre: Vec<String>,
    pub scope: Scope,
    /// What the finding is about, unique per rule and scope: a snapshot id,
    /// or the name of a group (`source vol-1 from 2026-11-24T02:00:00Z`).
    /// Rule + scope + subject identify a finding across scans.
    pub subject: String,
    /// The snapshot, when the finding is about one.
    pub snapshot_id: Option<String>,
    /// Output spelling of the grantees that matter to this finding.
    pub grantees: Vec<String>,
    /// The snapshots a group finding covers, or correlated findings' subjects.
    pub related: Vec<String>,
    pub message: String,
    pub status: Status,
    /// When the finding was first raised (RFC 3339); set by the lifecycle.
    pub first_seen: Option<String>,
    /// Why the finding is suppressed: the allowlist entry's reason or the
    /// backup tooling recognised.
    pub suppressed_by: Option<String>,
    /// Who caused it, from the audit log: the actor of the change it is
    /// about; `None` when no event matched (or for state findings).
    #[serde(default)]
    pub actor: Option<Actor>,
    /// How to undo the exposure: the commands that remove only the
    /// grantees named (exposure findings; `None` for the others).
    #[serde(default)]
    pub remedy: Option<super::Remedy>,
}

impl Finding {
    /// The identity a finding keeps across scans.
    pub fn key(&self) -> (&str, &Scope, &str) {
        (&self.rule, &self.scope, &self.subject)
    }

    /// The key as 128 bits, so a scan can index the previous scan's
    /// findings without holding them (within one process: the hasher is
    /// not stable across builds). Two keys collide with odds of about
    /// n^2 / 2^129: none in practice.
    pub fn key_digest(&self) -> u128 {
        key_digest(&self.rule, &self.scope, &self.subject)
    }
}

/// [`Finding::key_digest`] of a finding's parts.
pub fn key_digest(rule: &str, scope: &Scope, subject: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, rule, scope, subject).hash(&mut h);
        h.finish() as u128
    };
    (half(1) << 64) | half(2)
}

/// What the previous scan said of each of its findings (not resolved), by
/// key digest: enough to give this scan's findings their status and first
/// sighting without holding the previous ones.
#[derive(Debug, Default)]
pub struct Previous {
    by_key: std::collections::HashMap<u128, Prior>,
}

#[derive(Debug, Clone)]
pub struct Prior {
    pub first_seen: Option<String>,
    pub severity: Severity,
}

impl Previous {
    /// Note one previous finding; resolved ones are not carried.
    pub fn note(&mut self, digest: u128, status: Status, first_seen: Option<String>, severity: Severity) {
        if status != Status::Resolved {
            self.by_key.insert(digest, Prior { first_seen, severity });
        }
    }

    /// The index of findings held in memory (tests).
    pub fn of(findings: &[Finding]) -> Previous {
        let mut previous = Previous::default();
        for f in findings {
            previous.note(f.key_digest(), f.status, f.first_seen.clone(), f.severity);
        }
        previous
    }

    pub fn get(&self, f: &Finding) -> Option<&Prior> {
        self.by_key.get(&f.key_digest())
    }
}
