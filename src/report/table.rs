//! Aligned plain-text tables for a terminal: findings, changes, coverage gaps,
//! then a one-paragraph summary.

use std::io::{self, Write};

use super::{ScanReport, Sink};
use crate::model::{Coverage, Finding, Provider, Severity, Status, Verification};

/// `colour`: severity in colour, for a terminal only (never in files, and
/// not when `NO_COLOR` is set).
pub struct Table {
    pub colour: bool,
}

/// ANSI colour of a severity label.
fn colour_of(label: &str) -> Option<&'static str> {
    Some(match label {
        "CRITICAL" => "\x1b[1;31m",
        "HIGH" => "\x1b[31m",
        "MEDIUM" => "\x1b[33m",
        "LOW" => "\x1b[36m",
        _ => return None,
    })
}

/// Colour the severity that starts each line of a findings table.
fn coloured(table: &str) -> String {
    let mut out = String::with_capacity(table.len());
    for line in table.split_inclusive('\n') {
        let label = line.split(' ').next().unwrap_or_default();
        match colour_of(label) {
            Some(code) => out.push_str(&format!("{code}{label}\x1b[0m{}", &line[label.len()..])),
            None => out.push_str(line),
        }
    }
    out
}

impl Sink for Table {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()> {
        let s = report.summary();
        let listed: Vec<&Finding> = report.listed_findings().collect();
        // New and open findings grouped by severity, most severe first; then
        // what resolved and what is expected work.
        let mut sections: Vec<(String, Vec<&Finding>)> = Severity::ALL
            .iter()
            .map(|sev| {
                let group: Vec<&Finding> =
                    listed.iter().filter(|f| f.status.is_active() && f.severity == *sev).copied().collect();
                (format!("FINDINGS: {} ({})", sev.as_str().to_uppercase(), group.len()), group)
            })
            .collect();
        sections.push((
            "RESOLVED SINCE THE PREVIOUS SCAN".into(),
            listed.iter().filter(|f| f.status == Status::Resolved).copied().collect(),
        ));
        sections.push((
            "SUPPRESSED (expected work)".into(),
            listed.iter().filter(|f| f.status == Status::Suppressed).copied().collect(),
        ));
        for (title, findings) in sections.iter().filter(|(_, f)| !f.is_empty()) {
            writeln!(out, "{title}")?;
            let rows = findings.iter().map(|f| {
                let mut message = f.message.clone();
                if let Some(reason) = &f.suppressed_by {
                    message.push_str(&format!(" -- suppressed: {reason}"));
                }
                vec![
                    f.severity.as_str().to_uppercase(),
                    f.score.to_string(),
                    f.status.to_string(),
                    f.rule.clone(),
                    f.scope.service.to_string(),
                    f.scope.account.clone(),
                    f.scope.region.clone(),
                    f.subject.clone(),
                    f.grantees.join(","),
                    message,
                ]
            });
            let mut buffer = Vec::new();
            write_table(
                &mut buffer,
                &[
                    "SEVERITY", "SCORE", "STATUS", "RULE", "SERVICE", "ACCOUNT", "REGION", "SUBJECT", "GRANTEES",
                    "MESSAGE",
                ],
                rows,
            )?;
            let text = String::from_utf8_lossy(&buffer);
            out.write_all(if self.colour { coloured(&text) } else { text.into_owned() }.as_bytes())?;
            writeln!(out)?;
        }
        let fixes = super::fixes(report);
        if !fixes.is_empty() {
            writeln!(out, "HOW TO FIX (removes only the grantees named)")?;
            for (subject, remedy) in fixes {
                writeln!(out, "  {subject}")?;
                for command in &remedy.commands {
                    writeln!(out, "    {command}")?;
                }
            }
            writeln!(out)?;
        }
        if !report.changes.is_empty() {
            writeln!(out, "CHANGES SINCE THE PREVIOUS SCAN")?;
            let rows = report.changes.iter().map(|c| {
                vec![
                    c.kind.as_str().to_owned(),
                    c.scope.service.to_string(),
                    c.scope.account.clone(),
                    c.scope.region.clone(),
                    c.snapshot_id.clone(),
                    match c.actor.as_ref().and_then(|a| a.principal.as_deref()) {
                        Some(who) => format!("{} (by {who})", c.details),
                        None => c.details.clone(),
                    },
                ]
            });
            write_table(out, &["CHANGE", "SERVICE", "ACCOUNT", "REGION", "SNAPSHOT", "DETAILS"], rows)?;
            writeln!(out)?;
        }
        let gaps: Vec<_> = report.coverage.iter().filter(|c| c.has_gap() || !c.unknown_exposure.is_empty()).collect();
        if !gaps.is_empty() {
            writeln!(out, "INCOMPLETE COVERAGE (no deletion is inferred here)")?;
            let rows = gaps.iter().map(|c| {
                let problem = match (&c.error_code, &c.error) {
                    (Some(code), Some(msg)) => format!("{code}: {msg}"),
                    _ if c.scope.provider == Provider::Azure => {
                        format!("unrecognised exposure values for {} snapshot(s)", c.unknown_exposure.len())
                    }
                    _ => format!("share list unreadable for {} snapshot(s)", c.unknown_exposure.len()),
                };
                vec![
                    c.scope.service.to_string(),
                    c.scope.account.clone(),
                    c.scope.region.clone(),
                    c.status.as_str().into(),
                    problem,
                ]
            });
            write_table(out, &["SERVICE", "ACCOUNT", "REGION", "STATUS", "PROBLEM"], rows)?;
            writeln!(out)?;
        }
        let findings: Vec<String> = Severity::ALL
            .iter()
            .filter_map(|sev| s.findings.get(sev.as_str()).filter(|n| **n > 0).map(|n| format!("{n} {sev}")))
            .collect();
        writeln!(
            out,
            "scan {}: {} snapshots in {} scope(s){}, {} change(s), findings: {}; {} API calls{} in {:.1}s",
            s.scan_id,
            s.snapshots,
            s.scopes,
            scope_notes(s.failed_scopes, s.not_enabled_scopes),
            report.changes.len(),
            if findings.is_empty() { "none".to_owned() } else { findings.join(", ") },
            s.api_calls_total,
            s.api_calls_per_snapshot.map(|r| format!(" ({r:.3} per snapshot)")).unwrap_or_default(),
            s.duration_ms as f64 / 1000.0,
        )?;
        let suppressed = s.findings_by_status.get("suppressed").copied().unwrap_or(0);
        if suppressed > 0 && !report.show_suppressed {
            writeln!(
                out,
                "{suppressed} suppressed finding(s) of expected work not listed; --show-suppressed lists them."
            )?;
        }
        if s.baseline_scopes > 0 {
            writeln!(out, "{} scope(s) scanned for the first time: this scan is their baseline.", s.baseline_scopes)?;
        }
        let incremental: Vec<&Coverage> =
            report.coverage.iter().filter(|c| c.verification == Some(Verification::Incremental)).collect();
        if let Some(oldest) = incremental.iter().filter_map(|c| c.oldest_verified_at.as_deref()).min() {
            writeln!(
                out,
                "Share lists read incrementally in {} scope(s) (new, changed and due ones); the oldest carried was read {oldest}.",
                incremental.len()
            )?;
        }
        Ok(())
    }
}

/// Columns sized to their widest cell; the last column is not padded.
pub fn write_table(out: &mut dyn Write, headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    print(out, headers.to_vec())?;
    for row in &rows {
        print(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// ` (2 FAILED, 51 in regions not enabled)`, or nothing when all listed.
fn scope_notes(failed: usize, not_enabled: usize) -> String {
    let mut notes = Vec::new();
    if failed > 0 {
        notes.push(format!("{failed} FAILED"));
    }
    if not_enabled > 0 {
        notes.push(format!("{not_enabled} in regions not enabled"));
    }
    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) }
}

#[cfg(test)]
mod colour_tests {
    #[test]
    fn only_the_severity_label_is_coloured() {
        let table = "SEVERITY  RULE\nCRITICAL  public-share\nINFO      new-snapshot\n";
        let out = super::coloured(table);
        assert_eq!(out, "SEVERITY  RULE\n\x1b[1;31mCRITICAL\x1b[0m  public-share\nINFO      new-snapshot\n");
    }
}
