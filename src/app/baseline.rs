//! Commands that read or maintain the baseline alone, with no cloud call:
//! `history`, `report`, `prune`.

use anyhow::{Context as _, Result, anyhow, bail};

use super::{exit, list_format, load_policies, lock_database};
use crate::cli::{HistoryArgs, PruneArgs, ReportKind};
use crate::report::{self, Format, ListFormat, Listing, write_atomically};
use crate::store::Store;

pub(super) fn history(args: HistoryArgs) -> Result<u8> {
    if !args.db.exists() {
        bail!("no baseline at {}: run `snapaudit scan` first (or pass --db)", args.db.display());
    }
    let store = Store::open(&args.db)?;
    let scans = store.history(args.limit)?;
    let listing = Listing {
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
    };
    let mut out = std::io::stdout().lock();
    listing.write(list_format(args.format), &mut out)?;
    Ok(exit::OK)
}

pub(super) fn report(kind: ReportKind) -> Result<u8> {
    let common = match &kind {
        ReportKind::Shared { common, .. }
        | ReportKind::Changes { common, .. }
        | ReportKind::Findings { common, .. } => common,
    };
    if !common.db.exists() {
        bail!("no baseline at {}: run `snapaudit scan` first (or pass --db)", common.db.display());
    }
    let store = Store::open(&common.db)?;
    let scan_ref = |as_of: Option<i64>| -> Result<_> {
        store.scan_ref(as_of)?.ok_or_else(|| match as_of {
            Some(id) => anyhow!("scan {id} is not in {}; see `snapaudit history`", common.db.display()),
            None => anyhow!("{} holds no scan yet: run `snapaudit scan` first", common.db.display()),
        })
    };
    let listing = match &kind {
        ReportKind::Shared { as_of, .. } => {
            let policy = load_policies(&common.policies)?;
            report::baseline::shared(&store, &policy, &scan_ref(*as_of)?)?
        }
        ReportKind::Changes { since, .. } => {
            let from = jiff::Timestamp::now().checked_sub(*since).context("the period reaches too far back")?;
            report::baseline::changes(&store, &from.round(jiff::Unit::Second)?.to_string())?
        }
        ReportKind::Findings { status, as_of, .. } => report::baseline::findings(&store, &scan_ref(*as_of)?, status)?,
    };
    match &common.output {
        Some(path) => {
            let format = match (common.format, Format::from_extension(path)) {
                (Some(f), _) => f,
                (None, Some(Format::Html)) => ListFormat::Html,
                (None, Some(Format::Csv)) => ListFormat::Csv,
                (None, Some(Format::Table)) => ListFormat::Table,
                (None, _) => ListFormat::Jsonl,
            };
            write_atomically(path, |w| listing.write(format, w))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => listing.write(list_format(common.format), &mut std::io::stdout().lock())?,
    }
    Ok(exit::OK)
}

pub(super) fn prune(args: PruneArgs) -> Result<u8> {
    let policy = load_policies(&args.policies)?;
    let Some(keep) = args.keep.or(policy.retention) else {
        bail!("say how long to keep scans: --keep 90d, or `retention: 90d` in the policy");
    };
    if !args.db.exists() {
        bail!("no baseline at {}: nothing to prune", args.db.display());
    }
    let _lock = lock_database(&args.db, true)?;
    let mut store = Store::open(&args.db)?;
    let pruned = prune_older_than(&mut store, keep)?;
    println!(
        "pruned {} scan(s) and {} snapshot version(s) older than {keep:#}; kept {} older scan(s) holding a scope's latest complete listing",
        pruned.scans, pruned.snapshot_versions, pruned.kept_for_baseline
    );
    Ok(exit::OK)
}

pub(super) fn prune_older_than(store: &mut Store, keep: jiff::SignedDuration) -> Result<crate::store::prune::Pruned> {
    let cutoff = jiff::Timestamp::now().checked_sub(keep).context("the retention reaches too far back")?;
    Ok(store.prune(&cutoff.round(jiff::Unit::Second)?.to_string())?)
}
