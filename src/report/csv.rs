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
    "actor",
    "remedy",
    "console",
];

impl Sink for Csv {
    fn write_scan(&mut self, report: &ScanReport<'_>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = CsvWriter::new(out);
        csv.row(HEADER.iter().copied())?;
        for f in report.listed_findings() {
            csv.row(finding_row(f).iter().map(String::as_str))?;
        }
        csv.finish()
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
        f.actor.as_ref().and_then(|a| a.principal.clone()).unwrap_or_default(),
        f.remedy.as_ref().map(|r| r.one_line()).unwrap_or_default(),
        f.remedy.as_ref().and_then(|r| r.console.clone()).unwrap_or_default(),
    ]
}

/// CSV records (RFC 4180, CRLF, quoted only where needed, by the `csv`
/// crate), through one buffered writer for the whole output. A cell starting
/// with `=`, `+`, `-` or `@` gets a leading `'` so a spreadsheet never runs a
/// snapshot tag as a formula.
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> CsvWriter<W> {
        CsvWriter(csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out))
    }

    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        Ok(self.0.write_record(cells.into_iter().map(|cell| {
            if cell.starts_with(['=', '+', '-', '@']) {
                Cow::Owned(format!("'{cell}").into_bytes())
            } else {
                Cow::Borrowed(cell.as_bytes())
            }
        }))?)
    }

    /// Write out what is buffered.
    pub fn finish(mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::CsvWriter;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut out = Vec::new();
        let mut csv = CsvWriter::new(&mut out);
        csv.row(["plain", "a,b", "say \"hi\"", "=HYPERLINK(1)", "line\nbreak"]).unwrap();
        csv.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",'=HYPERLINK(1),\"line\nbreak\"\r\n"
        );
    }
}
