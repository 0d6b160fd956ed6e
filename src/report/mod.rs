//! STAGE 4, I/O: one scan's results, written for people or machines.
//!
//! One file per format, each a [`Sink`]; every format carries the same
//! changes, findings and coverage. Lists read from the baseline (`history`,
//! `report`) are [`Listing`]s, written in the same formats.

pub mod baseline;
mod csv;
pub mod html;
mod jsonl;
mod listing;
mod ocsf;
pub mod output;
mod table;
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

use crate::model::{Change, Coverage, CoverageStatus, Finding, Scope, Severity, Status};

pub use csv::{Csv, CsvWriter};
pub use html::Html;
pub use jsonl::JsonLines;
pub use listing::Listing;
pub use ocsf::Ocsf;
pub use output::{Output, write_atomically};
pub use table::{Table, write_table};

/// Output formats, chosen with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per line: {"type": ..., "data": {...}}.
    #[value(alias = "json")]
    Jsonl,
    /// One row per finding (RFC 4180).
    Csv,
    /// OCSF 1.1 Detection Findings (class 2004), one per line.
    Ocsf,
    /// One self-contained page.
    Html,
}

impl Format {
    /// The format a file name suggests: `.csv`, `.html`, `.ocsf.json`,
    /// `.jsonl`/`.json`, `.txt`.
    pub fn from_extension(path: &std::path::Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        Some(match () {
            _ if name.ends_with(".ocsf.json") || name.ends_with(".ocsf") => Format::Ocsf,
            _ if name.ends_with(".csv") => Format::Csv,
            _ if name.ends_with(".html") || name.ends_with(".htm") => Format::Html,
            _ if name.ends_with(".jsonl") || name.ends_with(".json") => Format::Jsonl,
            _ if name.ends_with(".txt") => Format::Table,
            _ => return None,
        })
    }
}

/// Everything one scan reports.
pub struct ScanReport<'a> {
    /// The scan's id in the baseline.
    pub scan_id: i64,
    /// When the scan started (RFC 3339, UTC).
    pub started_at: &'a str,
    pub snapshot_count: usize,
    pub changes: &'a [Change],
    pub findings: &'a [Finding],
    pub coverage: &'a [Coverage],
    pub new_baselines: &'a BTreeSet<Scope>,
    pub api_calls: &'a BTreeMap<String, u64>,
    pub duration_ms: u128,
    /// List suppressed findings too (they are counted either way).
    pub show_suppressed: bool,
}

/// The `summary` record, shared by every format.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub scan_id: i64,
    pub snapshots: usize,
    pub complete: bool,
    pub scopes: usize,
    /// Scopes that failed to list or vanished from reach.
    pub failed_scopes: usize,
    /// AWS opt-in regions an account has not enabled (nothing to scan).
    pub not_enabled_scopes: usize,
    pub baseline_scopes: usize,
    pub changes: BTreeMap<&'static str, usize>,
    /// New and open findings by severity: what needs attention.
    pub findings: BTreeMap<&'static str, usize>,
    /// Every finding of this scan by status.
    pub findings_by_status: BTreeMap<&'static str, usize>,
    pub api_calls: BTreeMap<String, u64>,
    pub api_calls_total: u64,
    pub api_calls_per_snapshot: Option<f64>,
    pub duration_ms: u128,
}

impl ScanReport<'_> {
    pub fn summary(&self) -> Summary {
        let mut changes = BTreeMap::new();
        for c in self.changes {
            *changes.entry(c.kind.as_str()).or_insert(0) += 1;
        }
        let mut findings: BTreeMap<&'static str, usize> = Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut by_status: BTreeMap<&'static str, usize> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for f in self.findings {
            *by_status.entry(f.status.as_str()).or_insert(0) += 1;
            if f.status.is_active() {
                *findings.entry(f.severity.as_str()).or_insert(0) += 1;
            }
        }
        let total: u64 = self.api_calls.values().sum();
        Summary {
            scan_id: self.scan_id,
            snapshots: self.snapshot_count,
            complete: !self.coverage.iter().any(Coverage::has_gap),
            scopes: self.coverage.len(),
            failed_scopes: self
                .coverage
                .iter()
                .filter(|c| matches!(c.status, CoverageStatus::Failed | CoverageStatus::Missing))
                .count(),
            not_enabled_scopes: self.coverage.iter().filter(|c| c.status == CoverageStatus::NotEnabled).count(),
            baseline_scopes: self.new_baselines.len(),
            changes,
            findings,
            findings_by_status: by_status,
            api_calls: self.api_calls.clone(),
            api_calls_total: total,
            api_calls_per_snapshot: (self.snapshot_count > 0)
                .then(|| ((total as f64 / self.snapshot_count as f64) * 10_000.0).round() / 10_000.0),
            duration_ms: self.duration_ms,
        }
    }
}

impl ScanReport<'_> {
    /// The findings to list: all but suppressed ones, unless asked for.
    pub fn listed_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| self.show_suppressed || f.status != Status::Suppressed)
    }
}

/// The remedies of the new and open findings, one per distinct set of
/// commands (the external share and the unencrypted share of one snapshot
/// remove the same grantee), most severe first: (what, remedy).
pub fn fixes<'a>(report: &'a ScanReport<'_>) -> Vec<(String, &'a crate::model::Remedy)> {
    let mut seen = std::collections::HashSet::new();
    report
        .findings
        .iter()
        .filter(|f| f.status.is_active())
        .filter_map(|f| Some((f, f.remedy.as_ref()?)))
        .filter(|(_, r)| seen.insert(r.commands.clone()))
        .map(|(f, r)| {
            (format!("{} {} ({} {} {})", f.rule, f.subject, f.scope.service, f.scope.account, f.scope.region), r)
        })
        .collect()
}

pub trait Sink {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()>;
}

/// The writer of `format`; `terminal` allows colour in the table.
pub fn sink_for(format: Format, terminal: bool) -> Box<dyn Sink> {
    match format {
        Format::Table => Box::new(Table { colour: terminal && std::env::var_os("NO_COLOR").is_none() }),
        Format::Jsonl => Box::new(JsonLines),
        Format::Csv => Box::new(Csv),
        Format::Ocsf => Box::new(Ocsf),
        Format::Html => Box::new(Html),
    }
}
