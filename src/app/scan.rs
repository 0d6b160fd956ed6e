//! `scan` and `watch`: collect -> baseline -> diff -> evaluate -> save ->
//! report, once or on an interval.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};

use super::baseline::prune_older_than;
use super::{command_line, exit, load_policies, lock_database, now, output_format};
use crate::cli::{ScanArgs, WatchArgs};
use crate::collect::aws::{self, AccountChoice, AssumeRole, AwsOptions, RateLimit, RegionChoice};
use crate::collect::azure::{self, AzureOptions};
use crate::collect::endpoint::check_endpoint;
use crate::collect::{ApiCalls, CollectError, Collected, Progress, progress};
use crate::log;
use crate::model::Provider;
use crate::report::webhook::{self, Delivery, WebhookUrl};
use crate::report::{ScanReport, sink_for, write_atomically};
use crate::rules;
use crate::store::{ScanRecord, Store, diff};

pub(super) fn scan(args: ScanArgs) -> Result<u8> {
    let started = Instant::now();
    let scan_time = jiff::Timestamp::now().round(jiff::Unit::Second).context("reading the clock")?;
    // Everything that can be checked locally is checked before any API call.
    let policy = load_policies(&args.policies)?;
    check_locally(&args)?;
    let webhook = webhook_url(&args, &policy)?;
    let scan_aws = args.aws || !args.azure;
    let _lock = lock_database(&args.db, args.wait)?;
    let mut store = Store::open(&args.db)?;
    let baseline = store.baseline()?;
    let previous_findings = store.previous_findings()?;

    let options = aws_options(&args);
    let azure_options = AzureOptions {
        subscriptions: args.subscriptions.clone(),
        endpoint: args.azure_endpoint.clone(),
        credential: args.azure_credential,
        known_locations: baseline.locations(Provider::Azure),
        ..AzureOptions::default()
    };
    let api_calls = ApiCalls::default();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let collected = runtime.block_on(async {
        let tracker = Arc::new(Progress::default());
        let ticker = progress::show(tracker.clone());
        let providers = async {
            let aws = async {
                if scan_aws { aws::collect(&options, &api_calls, tracker.clone()).await.map(Some) } else { Ok(None) }
            };
            let azure = async {
                if args.azure {
                    azure::collect(&azure_options, &api_calls, tracker.clone()).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let (aws, azure) = tokio::join!(aws, azure);
            let mut collected = Collected::default();
            for listing in [aws?, azure?].into_iter().flatten() {
                collected.merge(listing);
            }
            Ok::<_, CollectError>(collected)
        };
        let result = tokio::select! {
            result = providers => result.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
        };
        if let Some(ticker) = ticker {
            ticker.abort();
            progress::clear();
        }
        result
    })?;
    let Some(mut collected) = collected else {
        log::notice("interrupted: nothing was written; the baseline is as it was");
        return Ok(exit::INTERRUPTED);
    };

    diff::carry_forward_unknown_shares(&baseline, &mut collected);
    let changes = diff::diff(&baseline, &collected);
    let new_baselines = diff::new_baselines(&baseline, &collected);
    let findings = rules::evaluate(&rules::Context {
        policy: &policy,
        now: scan_time,
        snapshots: &collected.snapshots,
        previous: &baseline,
        changes: &changes,
        coverage: &collected.coverage,
        new_baselines: &new_baselines,
        organization: &collected.organization_accounts,
    });
    let findings = rules::lifecycle::assign(findings, &previous_findings, &collected.coverage, &policy, scan_time);
    let calls = api_calls.snapshot();
    let scan_id = store.save_scan(&ScanRecord {
        started_at: scan_time.to_string(),
        finished_at: now(),
        command: command_line(),
        collected: &collected,
        baseline: &baseline,
        changes: &changes,
        findings: &findings,
        api_calls: &calls,
    })?;

    let started_at = scan_time.to_string();
    let report = ScanReport {
        scan_id,
        started_at: &started_at,
        snapshot_count: collected.snapshots.len(),
        changes: &changes,
        findings: &findings,
        coverage: &collected.coverage,
        new_baselines: &new_baselines,
        api_calls: &calls,
        duration_ms: started.elapsed().as_millis(),
        show_suppressed: args.show_suppressed,
    };
    for output in &args.outputs {
        write_atomically(&output.path, |w| sink_for(output.format, false).write_scan(&report, w)).with_context(
            || format!("writing {} (the scan itself is saved as scan {scan_id})", output.path.display()),
        )?;
    }
    if !args.quiet {
        let mut stdout = std::io::stdout().lock();
        let terminal = std::io::stdout().is_terminal();
        sink_for(output_format(args.format), terminal)
            .write_scan(&report, &mut stdout)
            .context("writing the report")?;
        stdout.flush().ok();
    }
    // The scan is saved by now: a prune that fails is a warning, never exit 2
    // (which promises that nothing was written).
    if let Some(keep) = policy.retention {
        match prune_older_than(&mut store, keep) {
            Ok(pruned) if pruned.scans > 0 && !args.quiet => {
                log::notice(&format!("retention {keep:#}: pruned {} old scan(s)", pruned.scans));
            }
            Ok(_) => {}
            Err(e) => log::warning(&format!("retention {keep:#}: pruning failed: {e:#}; the scan is saved")),
        }
    }
    if let Some(url) = &webhook
        && let Some(body) = webhook::payload(scan_id, &findings, policy.notify.min_severity)
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
        args.fail_on.threshold().is_some_and(|t| findings.iter().any(|f| f.status.is_active() && f.severity >= t));
    Ok(if over_threshold {
        exit::FINDINGS
    } else if collected.coverage.iter().any(|c| !c.is_complete()) {
        exit::INCOMPLETE
    } else {
        exit::OK
    })
}

/// `scan` in a loop for containers: errors of one round are reported and
/// the loop goes on, except bad input (exit 2 before any cloud call would
/// fail the same way every time).
pub(super) fn watch(args: WatchArgs) -> Result<u8> {
    let every = Duration::try_from(args.every).context("--every")?;
    let jitter = match args.jitter {
        Some(j) => Duration::try_from(j).context("--jitter")?,
        None => every / 10,
    };
    let mut round: u32 = 0;
    let mut last: u8;
    loop {
        round += 1;
        match scan(args.scan.clone()) {
            Ok(code) => last = code,
            Err(e) if round == 1 => return Err(e),
            Err(e) => {
                log::error(&format!("scan {round} failed: {e:#}; trying again at the next interval"));
                last = exit::ERROR;
            }
        }
        if last == exit::INTERRUPTED || args.times.is_some_and(|t| round >= t) {
            return Ok(last);
        }
        let wait = every + jitter.mul_f64(random_fraction());
        if wait_or_interrupt(wait) {
            return Ok(exit::INTERRUPTED);
        }
    }
}

/// A fraction in [0, 1) from the clock; jitter needs no better randomness.
fn random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// Sleep for `wait`; true when Ctrl-C came first.
fn wait_or_interrupt(wait: Duration) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        std::thread::sleep(wait);
        return false;
    };
    rt.block_on(async {
        tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = tokio::signal::ctrl_c() => true,
        }
    })
}

/// The webhook: `--notify` / SNAPAUDIT_NOTIFY_URL, else the file named by
/// the policy's `notify.url_file`. Checked before any API call; errors name
/// the flag or the file, never the URL.
fn webhook_url(args: &ScanArgs, policy: &rules::Policy) -> Result<Option<WebhookUrl>> {
    let (url, origin) = match (&args.notify, &policy.notify.url_file) {
        (Some(url), _) => (url.clone(), "--notify".to_owned()),
        (None, Some(file)) => (read_url_file(file)?, format!("notify.url_file {}", file.display())),
        (None, None) => return Ok(None),
    };
    check_endpoint(&url, args.allow_insecure_endpoint)
        .map_err(|e| anyhow!("{origin}: {}", e.to_string().replace(url.as_str(), "<redacted>")))?;
    Ok(Some(WebhookUrl::new(url)))
}

/// The URL in `file`, trimmed. A webhook URL is a credential: say so when
/// others may read or change the file (one open serves both).
fn read_url_file(file: &std::path::Path) -> Result<String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let cannot = || format!("notify.url_file {}: cannot read the webhook URL", file.display());
    let mut opened = std::fs::File::open(file).with_context(cannot)?;
    if opened.metadata().is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0) {
        log::warning(&format!(
            "{} holds a webhook URL (a secret) but others may read or change it; run `chmod 600 {}`",
            file.display(),
            file.display()
        ));
    }
    let mut text = String::new();
    opened.read_to_string(&mut text).with_context(cannot)?;
    Ok(text.trim().to_owned())
}

/// Endpoints and credential choices, checked before the lock, the database
/// or any API call.
fn check_locally(args: &ScanArgs) -> Result<()> {
    let scan_aws = args.aws || !args.azure;
    if let (true, Some(url)) = (scan_aws, &args.endpoint_url) {
        check_endpoint(url, args.allow_insecure_endpoint)?;
    }
    if let Some(url) = &args.azure_endpoint {
        check_endpoint(url, args.allow_insecure_endpoint)?;
    }
    for output in &args.outputs {
        let folder = output.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !folder.is_dir() {
            bail!("--output {}: the folder {} does not exist", output.path.display(), folder.display());
        }
    }
    if args.azure {
        let env = |name: &str| std::env::var(name).ok();
        azure::credential::select_sources(args.azure_credential, args.azure_endpoint.is_some(), env)?;
    }
    Ok(())
}

fn aws_options(args: &ScanArgs) -> AwsOptions {
    AwsOptions {
        regions: if args.all_regions {
            RegionChoice::All
        } else if args.regions.is_empty() {
            RegionChoice::Configured
        } else {
            RegionChoice::Listed(args.regions.clone())
        },
        endpoint_url: args.endpoint_url.clone(),
        profiles: args.profiles.clone(),
        assume_role: args.assume_role.as_ref().map(|name| AssumeRole {
            role_name: name.clone(),
            accounts: if args.org {
                AccountChoice::Organization { only: args.accounts.clone() }
            } else {
                AccountChoice::Listed(args.accounts.clone())
            },
            external_id: args.external_id.clone(),
            session_name: args.role_session_name.clone(),
        }),
        rate: RateLimit { burst: f64::from(args.burst), per_second: args.max_rps_per_action },
        max_concurrency: usize::from(args.max_concurrency),
        ..AwsOptions::default()
    }
}
