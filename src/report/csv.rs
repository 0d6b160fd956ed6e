//! CSV (RFC 4180): one row per listed finding, for spreadsheets and
//! ticketing imports. Lists inside a cell are joined with `;`.

use std::borrow::Cow;
use std::io::{self, Write};

use super::{ScanReport, Sink};
use crate::model::Finding;

pub struct Csv;

pub const HEADER: &[&str] = &[
    "status",
    "severity",
    "score",
    "rule",
    "provider",
    "service",
    "account",
    "region",
    "subject",
    "snapshot_id",
    "grantees",
    "mitre",
    "first_seen",
    "suppressed_by",
    "message",
];

impl Sink for Csv {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()> {
        write_row(out, HEADER.iter().copied())?;
        for f in report.listed_findings() {
            write_row(out, finding_row(f).iter().map(String::as_str))?;
        }
        Ok(())
    }
}

fn finding_row(f: &Finding) -> Vec<String> {
    vec![
        f.status.to_string(),
        f.severity.to_string(),
        f.score.to_string(),
        f.rule.clone(),
        f.scope.provider.to_string(),
        f.scope.service.to_string(),
        f.scope.account.clone(),
        f.scope.region.clone(),
        f.subject.clone(),
        f.snapshot_id.clone().unwrap_or_default(),
        f.grantees.join(";"),
        f.mitre.join(";"),
        f.first_seen.clone().unwrap_or_default(),
        f.suppressed_by.clone().unwrap_or_default(),
        f.message.clone(),
    ]
}

/// One CSV record (RFC 4180, CRLF, quoted only where needed, by the `csv`
/// crate). A cell starting with `=`, `+`, `-` or `@` gets a leading `'` so a
/// spreadsheet never runs a snapshot tag as a formula.
pub fn write_row<'a>(out: &mut dyn Write, cells: impl Iterator<Item = &'a str>) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    writer.write_record(cells.map(|cell| {
        if cell.starts_with(['=', '+', '-', '@']) {
            Cow::Owned(format!("'{cell}").into_bytes())
        } else {
            Cow::Borrowed(cell.as_bytes())
        }
    }))?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::write_row;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut out = Vec::new();
        write_row(&mut out, ["plain", "a,b", "say \"hi\"", "=HYPERLINK(1)", "line\nbreak"].into_iter()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",'=HYPERLINK(1),\"line\nbreak\"\r\n"
        );
    }
}
