//! `scan`: lock -> collect (into the spool on disk) -> diff against the
//! baseline on disk, scope by scope -> load what the rules look at
//! (`project.rs`) -> analyse (pure) -> who made the changes (AWS CloudTrail,
//! the Azure Activity Log; `attribute.rs`, then analyse again with them) ->
//! save -> deliver -> exit code.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::analyse::{Analysis, analyse};
use super::baseline::prune_older_than;
use super::plan::ScanPlan;
use super::{command_line, exit, lock_database, now, output_format};
use crate::cli::ScanArgs;
use crate::collect::{self, ApiCalls, Progress, progress};
use crate::log;
use crate::model::{Collected, Coverage, Provider, Verification};
use crate::report::webhook::{self, Delivery};
use crate::report::{ScanReport, sink_for, write_atomically};
use crate::rules;
use crate::store::{ScanRecord, Spool, SpoolFile, Store};

use super::attribute::{self, AuditLogs};
use super::project;

pub(super) fn scan(args: ScanArgs) -> Result<u8> {
    let started = Instant::now();
    // Whole seconds, rounded down, as CloudTrail writes `eventTime`: an
    // event stamped in the scan's first second may follow its reads, so it
    // is the next scan's to judge (`rules::Context::judges`).
    let whole_second = jiff::TimestampRound::new().smallest(jiff::Unit::Second).mode(jiff::RoundMode::Trunc);
    let scan_time = jiff::Timestamp::now().round(whole_second).context("reading the clock")?;
    // Everything that can be checked locally is checked before any API call.
    let mut plan = ScanPlan::from_args(args)?;
    let _lock = lock_database(&plan.db, plan.wait)?;
    let store = Store::open(&plan.db)?;
    let mut baseline = store.baseline()?;
    let previous_findings = store.previous_index()?;
    if let Some(azure) = &mut plan.azure {
        azure.known_locations = store.locations(&baseline, Provider::Azure)?;
    }
    if let Some(aws) = &mut plan.aws {
        if aws.verification.mode == Verification::Incremental {
            aws.verification.prior = Some(Arc::new(store.prior_shares(&baseline, Provider::Aws)?));
        }
        aws.verification.now = Some(scan_time);
    }

    // The listing goes to disk as it comes (`store::spool`); the diff reads
    // it back scope by scope against the baseline on disk.
    let mut spool = SpoolFile::create(&plan.db)?;
    let api_calls = ApiCalls::default();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let collected = runtime.block_on(collect_or_interrupt(&plan, &api_calls, &spool.spool()))?;
    spool.finish()?;
    let listed = Instant::now();
    let Some((mut collected, logs)) = collected else {
        log::notice("interrupted: nothing was written; the baseline is as it was");
        return Ok(exit::INTERRUPTED);
    };
    store.attach(&spool)?;
    let merged = store.merge(&baseline, &collected.coverage)?;
    let snapshot_count = store.spooled_count()?;
    let versioned = merged.versioned;
    collected.snapshots = merged.listed;
    for s in merged.gone {
        baseline.snapshots.entry(s.scope.clone()).or_default().insert(s.id.clone(), s);
    }
    let mut projection = project::Projection::default();
    projection.widen(&store, &mut collected, &mut baseline, &merged.changes, &plan.policy)?;
    let reads = project::FromStore(&store);
    let analysis = analyse(&baseline, &previous_findings, collected, merged.changes, &plan.policy, scan_time, &reads)?;
    let analysed = Instant::now();
    // Who made the changes: the audit logs, read only where something can be
    // attributed since a previous scan, then the analysis again with them.
    let previous_scan = store.history(1)?.into_iter().next().map(|s| s.started_at);
    let analysis = match previous_scan.and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
        Some(previous) => {
            let events =
                runtime.block_on(attribute::read(&logs, &analysis, &baseline, &plan.policy, previous, scan_time));
            match attribute::with_events(analysis, events) {
                Ok((mut collected, diffed)) => {
                    projection.widen(&store, &mut collected, &mut baseline, &diffed, &plan.policy)?;
                    analyse(&baseline, &previous_findings, collected, diffed, &plan.policy, scan_time, &reads)?
                }
                Err(analysis) => *analysis,
            }
        }
        None => analysis,
    };
    let Analysis { collected, changes, new_baselines, findings, .. } = analysis;
    let attributed = Instant::now();

    let calls = api_calls.snapshot();
    let mut store = store;
    let scan_id = store.save_scan(&ScanRecord {
        started_at: scan_time.to_string(),
        finished_at: now(),
        command: command_line(),
        collected: &collected,
        snapshot_count,
        versioned: Some(&versioned),
        baseline: &baseline,
        changes: &changes,
        findings: &findings,
        api_calls: &calls,
    })?;

    // Where a scan's time goes (`RUST_LOG=snapaudit::phases=info`): the
    // listing, then the local work, which the benchmarks compare.
    tracing::info!(
        target: "snapaudit::phases",
        listing_s = (listed - started).as_secs_f64(),
        diff_and_rules_s = (analysed - listed).as_secs_f64(),
        audit_logs_s = (attributed - analysed).as_secs_f64(),
        save_s = attributed.elapsed().as_secs_f64(),
        "scan phases"
    );
    let started_at = scan_time.to_string();
    let report = ScanReport {
        scan_id,
        started_at: &started_at,
        snapshot_count,
        changes: &changes,
        findings: &findings,
        coverage: &collected.coverage,
        new_baselines: &new_baselines,
        api_calls: &calls,
        duration_ms: started.elapsed().as_millis(),
        show_suppressed: plan.show_suppressed,
    };
    for output in &plan.outputs {
        write_atomically(&output.path, |w| sink_for(output.format, false).write_scan(&report, w)).with_context(
            || format!("writing {} (the scan itself is saved as scan {scan_id})", output.path.display()),
        )?;
    }
    if !plan.quiet {
        let mut stdout = std::io::stdout().lock();
        let terminal = std::io::stdout().is_terminal();
        sink_for(output_format(plan.format), terminal)
            .write_scan(&report, &mut stdout)
            .context("writing the report")?;
        stdout.flush().ok();
    }
    // The scan is saved by now: a prune that fails is a warning, never exit 2
    // (which promises that nothing was written).
    if let Some(keep) = plan.policy.retention {
        match prune_older_than(&mut store, keep) {
            Ok(pruned) if pruned.scans > 0 && !plan.quiet => {
                log::notice(&format!("retention {keep:#}: pruned {} old scan(s)", pruned.scans));
            }
            Ok(_) => {}
            Err(e) => log::warning(&format!("retention {keep:#}: pruning failed: {e:#}; the scan is saved")),
        }
    }
    if let Some(url) = &plan.webhook
        && let Some(body) = webhook::payload(
            scan_id,
            &rules::lifecycle::to_notify(&findings, &previous_findings, plan.policy.notify.min_severity),
        )
    {
        match runtime.block_on(webhook::post(url, &body, Duration::from_secs(1))) {
            Delivery::Failed { attempts, reason } => log::warning(&format!(
                "the webhook (notify) was not reached after {attempts} attempt(s): {reason}; the scan is saved"
            )),
            Delivery::Delivered { .. } | Delivery::NothingNew => {}
        }
    }

    // Resolved and suppressed findings never fail a scan.
    let over_threshold =
        plan.fail_on.threshold().is_some_and(|t| findings.iter().any(|f| f.status.is_active() && f.severity >= t));
    Ok(if over_threshold {
        exit::FINDINGS
    } else if collected.coverage.iter().any(Coverage::has_gap) {
        exit::INCOMPLETE
    } else {
        exit::OK
    })
}

/// Every provider the plan names, listed concurrently with a progress bar each;
/// `None` when Ctrl-C came first.
async fn collect_or_interrupt(
    plan: &ScanPlan,
    api_calls: &ApiCalls,
    spool: &Spool,
) -> Result<Option<(Collected, AuditLogs)>, collect::CollectError> {
    let (aws_progress, azure_progress) = (Arc::new(Progress::default()), Arc::new(Progress::default()));
    let gcp_progress = Arc::new(Progress::default());
    let mut shown = Vec::new();
    if plan.aws.is_some() {
        shown.push(("AWS", aws_progress.clone()));
    }
    if plan.azure.is_some() {
        shown.push(("Azure", azure_progress.clone()));
    }
    if plan.gcp.is_some() {
        shown.push(("Google Cloud", gcp_progress.clone()));
    }
    let display = progress::show(shown);
    let providers = async {
        let aws = async {
            match &plan.aws {
                Some(options) => collect::aws::collect(options, api_calls, aws_progress.clone(), spool).await.map(Some),
                None => Ok(None),
            }
        };
        let azure = async {
            match &plan.azure {
                Some(options) => {
                    collect::azure::collect(options, api_calls, azure_progress.clone(), spool).await.map(Some)
                }
                None => Ok(None),
            }
        };
        let gcp = async {
            match &plan.gcp {
                Some(options) => collect::gcp::collect(options, api_calls, gcp_progress.clone(), spool).await.map(Some),
                None => Ok(None),
            }
        };
        let (aws, azure, gcp) = tokio::join!(aws, azure, gcp);
        let (aws, cloudtrail) = aws?.unzip();
        let (azure, activity) = azure?.unzip();
        let mut collected = Collected::default();
        for listing in [aws, azure, gcp?].into_iter().flatten() {
            collected.merge(listing);
        }
        Ok((collected, AuditLogs { cloudtrail, activity }))
    };
    let result = tokio::select! {
        result = providers => result.map(Some),
        _ = tokio::signal::ctrl_c() => Ok(None),
    };
    if let Some(display) = display {
        display.finish();
    }
    result
}
