//! Lists read from the baseline (`history`, `report shared|changes|findings`)
//! in any of four formats, from one description: headers and rows for people,
//! JSON records for machines.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{CsvWriter, Format, html, write_table};

/// Two baselines' values of one summary entry: counts add up; scan ids and
/// other text are listed.
fn add_up(key: &str, a: &str, b: &str) -> String {
    let is_scan = key.contains("scan");
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) if !is_scan => (x + y).to_string(),
        _ if a == b && !is_scan => a.to_owned(),
        _ => format!("{a}, {b}"),
    }
}

pub struct Listing {
    /// The JSON record type, e.g. `shared_snapshot`.
    pub kind: &'static str,
    pub title: String,
    /// When the data was taken (the scan's start), for the page header.
    pub as_of: String,
    pub summary: Vec<(&'static str, String)>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub records: Vec<Value>,
    /// (scan, shared, public) per recent scan, drawn in the HTML.
    pub trend: Vec<(i64, usize, usize)>,
    /// The list as OCSF events, where it is findings (`report findings`);
    /// `None` where OCSF has no class for it.
    pub ocsf: Option<Vec<Value>>,
}

impl Listing {
    /// Several baselines' listings as one (`report --db A --db B`, one
    /// organization scanned by several runners): rows and records one after
    /// another, each record naming its baseline; counts added up; `as_of`
    /// naming each baseline's scan. The trend chart is per baseline, so a
    /// combined listing has none. One listing comes back as it is.
    pub fn combine(listings: Vec<(String, Listing)>) -> Listing {
        let several = listings.len() > 1;
        let mut combined: Option<Listing> = None;
        let mut as_of = Vec::new();
        for (baseline, mut listing) in listings {
            if !several {
                return listing;
            }
            as_of.push(format!("{baseline}: {}", listing.as_of));
            for record in &mut listing.records {
                if let Value::Object(fields) = record {
                    fields.insert("baseline".into(), json!(baseline));
                }
            }
            let Some(out) = combined.as_mut() else {
                combined = Some(listing);
                continue;
            };
            out.rows.append(&mut listing.rows);
            out.records.append(&mut listing.records);
            if let (Some(all), Some(more)) = (out.ocsf.as_mut(), listing.ocsf.as_mut()) {
                all.append(more);
            }
            for (key, value) in listing.summary {
                match out.summary.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => *v = add_up(key, v, &value),
                    None => out.summary.push((key, value)),
                }
            }
        }
        let mut out = combined.expect("at least one baseline");
        out.as_of = as_of.join("; ");
        out.trend.clear();
        out
    }

    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Table => {
                write_table(out, &self.headers, self.rows.iter().cloned())?;
                let figures: Vec<String> = self.summary.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                writeln!(out, "\n{}", figures.join("; "))
            }
            Format::Jsonl => {
                for record in &self.records {
                    serde_json::to_writer(&mut *out, &json!({ "type": self.kind, "data": record }))?;
                    out.write_all(b"\n")?;
                }
                let summary: serde_json::Map<String, Value> =
                    self.summary.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
                serde_json::to_writer(&mut *out, &json!({ "type": "summary", "data": summary }))?;
                out.write_all(b"\n")
            }
            Format::Csv => {
                let mut csv = CsvWriter::new(out);
                csv.row(self.headers.iter().copied())?;
                for row in &self.rows {
                    csv.row(row.iter().map(String::as_str))?;
                }
                csv.finish()
            }
            Format::Html => {
                let mut body = html::chart(&self.trend);
                body.push_str(&html::table(self.kind, &self.headers, &self.rows));
                out.write_all(html::page(&self.title, &self.as_of, &self.summary, &body).as_bytes())
            }
            Format::Ocsf => match &self.ocsf {
                Some(events) => {
                    for event in events {
                        serde_json::to_writer(&mut *out, event)?;
                        out.write_all(b"\n")?;
                    }
                    Ok(())
                }
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "OCSF describes findings (`scan` or `report findings --format ocsf`); write this list as jsonl, csv, html or table",
                )),
            },
        }
    }
}
