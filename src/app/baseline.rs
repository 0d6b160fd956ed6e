//! Commands that read or maintain the baseline alone, with no cloud call:
//! `history`, `report`, `prune`, `forget`.

use anyhow::{Context as _, Result, anyhow, bail};

use super::{exit, load_policies, lock_database, output_format};
use crate::cli::{ForgetArgs, HistoryArgs, PruneArgs, ReportKind};
use crate::report::{self, Format, Listing, write_atomically};
use crate::rules;
use crate::store::Store;
use crate::store::forget::Retire;

/// How many recent scans the shared-snapshot trend of `report shared` covers.
const TREND_SCANS: usize = 20;

pub(super) fn history(args: HistoryArgs) -> Result<u8> {
    if !args.db.exists() {
        bail!("no baseline at {}: run `snapaudit scan` first (or pass --db)", args.db.display());
    }
    let store = Store::open(&args.db)?;
    let listing = report::baseline::history(&store.history(args.limit)?);
    let mut out = std::io::stdout().lock();
    listing.write(output_format(args.format), &mut out)?;
    Ok(exit::OK)
}

pub(super) fn report(kind: ReportKind) -> Result<u8> {
    let common = match &kind {
        ReportKind::Shared { common, .. }
        | ReportKind::Changes { common, .. }
        | ReportKind::Findings { common, .. } => common,
    };
    let as_of = match &kind {
        ReportKind::Shared { as_of, .. } | ReportKind::Findings { as_of, .. } => *as_of,
        ReportKind::Changes { .. } => None,
    };
    if as_of.is_some() && common.db.len() > 1 {
        bail!("--as-of names a scan of one baseline: pass a single --db with it");
    }
    let policy = match &kind {
        ReportKind::Shared { .. } => Some(load_policies(&common.policies)?),
        _ => None,
    };
    let mut listings = Vec::new();
    for db in &common.db {
        let listing = report_one(&kind, db, as_of, policy.as_ref())?;
        listings.push((db.display().to_string(), listing));
    }
    let listing = Listing::combine(listings);
    match &common.output {
        Some(path) => {
            let format = match (common.format, Format::from_extension(path)) {
                (Some(f), _) => f,
                (None, Some(f @ (Format::Html | Format::Csv | Format::Table))) => f,
                (None, _) => Format::Jsonl,
            };
            write_atomically(path, |w| listing.write(format, w))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => listing.write(output_format(common.format), &mut std::io::stdout().lock())?,
    }
    Ok(exit::OK)
}

/// One baseline's listing.
fn report_one(
    kind: &ReportKind,
    db: &std::path::Path,
    as_of: Option<i64>,
    policy: Option<&crate::rules::Policy>,
) -> Result<Listing> {
    if !db.exists() {
        bail!("no baseline at {}: run `snapaudit scan` first (or pass --db)", db.display());
    }
    let store = Store::open(db)?;
    let scan = || -> Result<_> {
        store.scan_ref(as_of)?.ok_or_else(|| match as_of {
            Some(id) => anyhow!("scan {id} is not in {}; see `snapaudit history`", db.display()),
            None => anyhow!("{} holds no scan yet: run `snapaudit scan` first", db.display()),
        })
    };
    Ok(match kind {
        ReportKind::Shared { .. } => {
            let scan = scan()?;
            let policy = policy.context("a policy for `report shared`")?;
            let versions = store.shared_versions(scan.id)?;
            let shared = rules::exposure::shared_snapshots(&versions, &store.findings_of(scan.id)?, policy, &scan);
            let trend = rules::exposure::trend(&versions, &store.recent_scans(scan.id, TREND_SCANS)?);
            report::baseline::shared(&shared, trend, &scan)
        }
        ReportKind::Changes { since, .. } => {
            let from = jiff::Timestamp::now().checked_sub(*since).context("the period reaches too far back")?;
            let from = from.round(jiff::Unit::Second)?.to_string();
            report::baseline::changes(&store.changes_since(&from)?, &from)
        }
        ReportKind::Findings { status, .. } => {
            let scan = scan()?;
            let mut found: Vec<_> =
                store.findings_of(scan.id)?.into_iter().filter(|f| status.contains(&f.status)).collect();
            rules::sort(&mut found);
            report::baseline::findings(&found, &scan, status)
        }
    })
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

pub(super) fn forget(args: ForgetArgs) -> Result<u8> {
    if !args.db.exists() {
        bail!("no baseline at {}: nothing to forget", args.db.display());
    }
    let _lock = lock_database(&args.db, args.wait)?;
    let mut store = Store::open(&args.db)?;
    let what = Retire { provider: None, account: args.account.clone(), regions: args.regions, services: args.services };
    let now = jiff::Timestamp::now().round(jiff::Unit::Second)?.to_string();
    let retired = store.forget(&what, &now)?;
    if retired.is_empty() {
        bail!(
            "{} holds no baseline scope of {} matching the regions and services given; see `snapaudit history` and `report findings`",
            args.db.display(),
            args.account
        );
    }
    for scope in &retired {
        println!("retired {scope}");
    }
    println!(
        "{} scope(s) of {} retired: no longer a baseline, their findings no longer carried, never reported missing; \
         a later complete listing starts a new baseline",
        retired.len(),
        args.account
    );
    Ok(exit::OK)
}
