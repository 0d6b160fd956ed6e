//! The one place that wires the stages together:
//! collect -> baseline -> diff -> evaluate -> save -> report.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::cli::{Cli, Command, HistoryArgs, ProviderArg, PruneArgs, ReportKind, ScanArgs, ValidateArgs, WatchArgs};
use crate::collect::aws::{self, AccountChoice, AssumeRole, AwsOptions, RateLimit, RegionChoice};
use crate::collect::azure::{self, AzureOptions};
use crate::collect::endpoint::check_endpoint;
use crate::collect::{ApiCalls, CollectError, Collected, Progress, progress, required_permissions};
use crate::log;
use crate::model::Provider;
use crate::report::webhook::{self, Delivery, WebhookUrl};
use crate::report::{self, Format, ListFormat, Listing, ScanReport, sink_for, write_atomically};
use crate::rules::{self, Policy};
use crate::store::{ScanRecord, Store, diff};

/// Documented exit codes (README, "Exit codes").
pub mod exit {
    /// No finding at or above `--fail-on`, every scope listed.
    pub const OK: u8 = 0;
    /// At least one finding at or above `--fail-on`.
    pub const FINDINGS: u8 = 1;
    /// Error: bad input, credentials, database; nothing was written.
    pub const ERROR: u8 = 2;
    /// Scan written, but some scope failed to list (coverage incomplete).
    pub const INCOMPLETE: u8 = 3;
    /// Interrupted (Ctrl-C) before the scan was written; baseline unchanged.
    pub const INTERRUPTED: u8 = 130;
}

/// The policy file used when none is named, if it exists.
const DEFAULT_POLICY: &str = "policies/default.yaml";

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => scan(*args),
        Command::History(args) => history(args),
        Command::Report(args) => report(args.kind),
        Command::Prune(args) => prune(args),
        Command::Watch(args) => watch(*args),
        Command::Validate(args) => validate(args),
        Command::Rules => {
            list_rules();
            Ok(exit::OK)
        }
        Command::Permissions(args) => {
            let document = match args.provider {
                ProviderArg::Aws => iam_policy_document(),
                ProviderArg::Azure => azure_role_definition(),
            };
            println!("{document}");
            Ok(exit::OK)
        }
    }
}

fn scan(args: ScanArgs) -> Result<u8> {
    let started = Instant::now();
    let scan_time = jiff::Timestamp::now().round(jiff::Unit::Second).context("reading the clock")?;
    // Everything that can be checked locally is checked before any API call.
    let policy = load_policies(&args.policies)?;
    let scan_aws = args.aws || !args.azure;
    if let (true, Some(url)) = (scan_aws, &args.endpoint_url) {
        check_endpoint(url, args.allow_insecure_endpoint)?;
    }
    if let Some(url) = &args.azure_endpoint {
        check_endpoint(url, args.allow_insecure_endpoint)?;
    }
    if let Some(url) = &args.notify {
        // The URL is a secret: the error names the flag, not the value.
        check_endpoint(url, args.allow_insecure_endpoint)
            .map_err(|e| anyhow!("--notify: {}", e.to_string().replace(url.as_str(), "<redacted>")))?;
    }
    if args.azure {
        let env = |name: &str| std::env::var(name).ok();
        azure::credential::select_sources(args.azure_credential, args.azure_endpoint.is_some(), env)?;
    }
    let _lock = lock_database(&args.db, args.wait)?;
    let mut store = Store::open(&args.db)?;
    let baseline = store.baseline()?;
    let previous_findings = store.previous_findings()?;

    let options = AwsOptions {
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
    };
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
        write_atomically(&output.path, |w| sink_for(output.format, false).write_scan(&report, w))
            .with_context(|| format!("writing {}", output.path.display()))?;
    }
    if !args.quiet {
        let mut stdout = std::io::stdout().lock();
        let terminal = std::io::stdout().is_terminal();
        sink_for(output_format(args.format), terminal)
            .write_scan(&report, &mut stdout)
            .context("writing the report")?;
        stdout.flush().ok();
    }
    if let Some(keep) = policy.retention {
        let pruned = prune_older_than(&mut store, keep)?;
        if pruned.scans > 0 && !args.quiet {
            log::notice(&format!("retention {keep:#}: pruned {} old scan(s)", pruned.scans));
        }
    }
    if let Some(url) = args.notify.clone().map(WebhookUrl::new)
        && let Some(body) = webhook::payload(scan_id, &findings)
    {
        match runtime.block_on(webhook::post(&url, &body, Duration::from_secs(1))) {
            Delivery::Failed { attempts, reason } => log::warning(&format!(
                "the webhook (--notify) was not reached after {attempts} attempt(s): {reason}; the scan is saved"
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

fn history(args: HistoryArgs) -> Result<u8> {
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

fn report(kind: ReportKind) -> Result<u8> {
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

fn prune(args: PruneArgs) -> Result<u8> {
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

fn prune_older_than(store: &mut Store, keep: jiff::SignedDuration) -> Result<crate::store::prune::Pruned> {
    let cutoff = jiff::Timestamp::now().checked_sub(keep).context("the retention reaches too far back")?;
    Ok(store.prune(&cutoff.round(jiff::Unit::Second)?.to_string())?)
}

/// `scan` in a loop for containers: errors of one round are reported and
/// the loop goes on, except bad input (exit 2 before any cloud call would
/// fail the same way every time).
fn watch(args: WatchArgs) -> Result<u8> {
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

fn validate(args: ValidateArgs) -> Result<u8> {
    let paths = if args.policies.is_empty() { vec![PathBuf::from(DEFAULT_POLICY)] } else { args.policies };
    let policy = Policy::load_all(&paths)?;
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    for entry in policy.expired_allow_entries(today) {
        let expired = entry.expires.map(|d| d.to_string()).unwrap_or_default();
        log::warning(&format!(
            "{}: allow entry {:?} expired on {expired}; it no longer applies",
            entry.origin, entry.reason
        ));
    }
    let disabled: Vec<&str> = rules::RULES.iter().map(|r| r.id()).filter(|id| !policy.is_enabled(id)).collect();
    println!(
        "ok: {} policy file(s) valid; {} trusted account(s), {} allowlist entries, {} of {} rules enabled{}",
        policy.sources.len(),
        policy.trusted_accounts.len(),
        policy.allow.len(),
        rules::RULES.len() - disabled.len(),
        rules::RULES.len(),
        if disabled.is_empty() { String::new() } else { format!(" (disabled: {})", disabled.join(", ")) },
    );
    Ok(exit::OK)
}

fn list_rules() {
    let rows = rules::RULES.iter().map(|r| {
        vec![
            r.id().to_owned(),
            match r.kind() {
                rules::Kind::State => "state".to_owned(),
                rules::Kind::Event => "event".to_owned(),
            },
            r.severity().to_string(),
            if r.mitre().is_empty() { "-".to_owned() } else { r.mitre().join(",") },
        ]
    });
    let mut out = std::io::stdout().lock();
    crate::report::write_table(&mut out, &["RULE", "KIND", "SEVERITY", "MITRE"], rows).ok();
}

fn load_policies(paths: &[PathBuf]) -> Result<Policy> {
    if !paths.is_empty() {
        return Ok(Policy::load_all(paths)?);
    }
    let default = PathBuf::from(DEFAULT_POLICY);
    if default.exists() { Ok(Policy::load_all(&[default])?) } else { Ok(Policy::default()) }
}

/// Serialises scans of one database: a second scan would diff against a
/// baseline the first is about to change.
fn lock_database(db: &Path, wait: bool) -> Result<File> {
    let mut lock_path = db.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .with_context(|| format!("opening the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) if wait => {
            log::notice(&format!("waiting for another snapaudit scan of {} to finish", db.display()));
            file.lock().with_context(|| format!("locking {}", lock_path.display()))?;
            Ok(file)
        }
        Err(TryLockError::WouldBlock) => Err(anyhow!(
            "another snapaudit scan is running on {} (lock {}); pass --wait to wait for it",
            db.display(),
            lock_path.display()
        )),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", lock_path.display())),
    }
}

fn output_format(chosen: Option<Format>) -> Format {
    chosen.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Jsonl })
}

fn list_format(chosen: Option<ListFormat>) -> ListFormat {
    chosen.unwrap_or(if std::io::stdout().is_terminal() { ListFormat::Table } else { ListFormat::Jsonl })
}

fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Flags whose value is a secret, never stored or printed.
const SECRET_FLAGS: &[&str] = &["--external-id", "--notify"];

/// The arguments as typed, for `history`, secrets replaced. (Endpoint URLs
/// with credentials in them are refused, so they need no redaction.)
fn command_line() -> String {
    redact_args(std::env::args().skip(1))
}

fn redact_args(args: impl Iterator<Item = String>) -> String {
    let mut out = Vec::new();
    let mut redact_next = false;
    for arg in args {
        if std::mem::take(&mut redact_next) {
            out.push("<redacted>".to_owned());
            continue;
        }
        match arg.split_once('=') {
            Some((flag, _)) if SECRET_FLAGS.contains(&flag) => out.push(format!("{flag}=<redacted>")),
            _ => {
                redact_next = SECRET_FLAGS.contains(&arg.as_str());
                out.push(arg);
            }
        }
    }
    out.join(" ")
}

/// An IAM policy granting exactly the read-only actions the collectors declare.
pub fn iam_policy_document() -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SnapauditReadOnly",
            "Effect": "Allow",
            "Action": required_permissions(Provider::Aws),
            "Resource": "*",
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A custom role with exactly the actions the Azure collector calls (the
/// built-in Reader role covers them too).
pub fn azure_role_definition() -> String {
    let doc = serde_json::json!({
        "Name": "snapaudit reader",
        "IsCustom": true,
        "Description": "Read-only: list subscriptions and managed-disk snapshots",
        "Actions": required_permissions(Provider::Azure),
        "NotActions": [],
        "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::redact_args;

    #[test]
    fn secret_flag_values_are_redacted_in_both_spellings() {
        let args = ["scan", "--external-id", "s3cret", "--external-id=s3cret", "--region", "eu-west-1"];
        let line = redact_args(args.iter().map(|s| s.to_string()));
        assert!(!line.contains("s3cret"), "{line}");
        assert_eq!(line, "scan --external-id <redacted> --external-id=<redacted> --region eu-west-1");
    }
}
