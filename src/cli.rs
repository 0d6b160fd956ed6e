//! Command-line interface (clap derive). Parsing only; `app` does the work.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::model::Severity;
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "snapaudit",
    version,
    about = "Audit cloud snapshots: who can restore them, and what changed since the last scan"
)]
pub struct Cli {
    /// How errors and warnings are written on stderr.
    #[arg(long, value_enum, global = true, default_value = "text", env = "SNAPAUDIT_LOG_FORMAT")]
    pub log_format: crate::log::LogFormat,
    /// Diagnostics on stderr: `-v` shows the SDKs' requests, retries and
    /// throttling, `-vv` everything. RUST_LOG (`target=level,...`) overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List snapshots and their shares, diff against the baseline, report findings.
    Scan(Box<ScanArgs>),
    /// List the scans stored in the baseline, newest first.
    History(HistoryArgs),
    /// Reports from the baseline alone (no cloud calls): shared snapshots,
    /// changes, findings.
    Report(ReportArgs),
    /// Remove scans older than a period from the baseline, never the latest
    /// complete listing of a scope.
    Prune(PruneArgs),
    /// Retire the scopes of an account (subscription) closed or moved out on
    /// purpose: its last listing stops being a baseline, its findings are no
    /// longer carried and it is no longer reported missing. Nothing is deleted.
    Forget(ForgetArgs),
    /// Scan again and again (containers): every --every, with jitter.
    Watch(Box<WatchArgs>),
    /// Check policy files without touching any cloud.
    Validate(ValidateArgs),
    /// List the detection rules: id, kind, default severity, MITRE techniques.
    Rules,
    /// Print the read-only actions a scan needs: an AWS IAM policy document,
    /// (--provider azure) an Azure custom role definition, or (--provider
    /// gcp) a Google Cloud custom role.
    Permissions(PermissionsArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[arg(long, default_value = "state/snapaudit.db", env = "SNAPAUDIT_DB")]
    pub db: PathBuf,
    /// Keep scans that started within this period (e.g. 90d). Default: the
    /// policy's `retention`.
    #[arg(long, value_parser = parse_period)]
    pub keep: Option<jiff::SignedDuration>,
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between scans, e.g. 15m, 1h.
    #[arg(long, value_parser = parse_period)]
    pub every: jiff::SignedDuration,
    /// Up to this much is added to each wait at random, so many watchers do
    /// not call the APIs at the same moment. Default: a tenth of --every.
    #[arg(long, value_parser = parse_period)]
    pub jitter: Option<jiff::SignedDuration>,
    /// Stop after this many scans (default: until stopped).
    #[arg(long)]
    pub times: Option<u32>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub kind: ReportKind,
}

#[derive(Debug, Subcommand)]
pub enum ReportKind {
    /// Every snapshot shared outside its account or public, each grantee
    /// marked trusted / organization / external / public: the compliance report.
    Shared {
        #[command(flatten)]
        common: ReportCommon,
        /// The scan to report on (`snapaudit history`). Default: the latest.
        #[arg(long, value_name = "SCAN")]
        as_of: Option<i64>,
    },
    /// Changes of the scans in a period.
    Changes {
        #[command(flatten)]
        common: ReportCommon,
        /// How far back: e.g. 24h, 7d, 90d.
        #[arg(long, default_value = "7d", value_parser = parse_period)]
        since: jiff::SignedDuration,
    },
    /// Findings of a scan by status.
    Findings {
        #[command(flatten)]
        common: ReportCommon,
        /// Statuses to list, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "new,open", value_parser = parse_status)]
        status: Vec<crate::model::Status>,
        #[arg(long, value_name = "SCAN")]
        as_of: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub struct ReportCommon {
    /// The baseline to read; repeat it to report on several at once (one
    /// organization scanned by several runners, each into its own).
    #[arg(long, default_value = "state/snapaudit.db", env = "SNAPAUDIT_DB", action = clap::ArgAction::Append)]
    pub db: Vec<PathBuf>,
    /// Default: table on a terminal, jsonl otherwise (`json` is accepted;
    /// `ocsf` for findings only: `report findings`).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file instead of stdout (atomically, owner-only); the
    /// format comes from --format or the extension.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Policy whose trusted accounts mark grantees as trusted.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
}

fn parse_period(s: &str) -> Result<jiff::SignedDuration, String> {
    crate::rules::policy::parse_duration(s).ok_or_else(|| format!("{s:?} is not a period like 24h, 7d or 90d"))
}

fn parse_status(s: &str) -> Result<crate::model::Status, String> {
    crate::model::Status::parse(s).ok_or_else(|| format!("{s:?} is not a status (new, open, resolved, suppressed)"))
}

#[derive(Debug, Args)]
pub struct PermissionsArgs {
    #[arg(long, value_enum, default_value = "aws")]
    pub provider: ProviderArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    Aws,
    Azure,
    Gcp,
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("role_targets").args(["accounts", "org"]).multiple(true)))]
pub struct ScanArgs {
    /// Scan AWS (the default when none of --aws, --azure, --gcp is given).
    #[arg(long)]
    pub aws: bool,
    /// Scan Azure managed-disk snapshots.
    #[arg(long)]
    pub azure: bool,
    /// Azure subscription to scan; repeat for several. Default: every
    /// enabled subscription the identity can see.
    #[arg(long = "subscription", value_name = "ID", requires = "azure",
          value_parser = crate::collect::azure::check_subscription_id)]
    pub subscriptions: Vec<String>,
    /// Which Azure credential to use.
    #[arg(long, value_enum, default_value = "auto", requires = "azure")]
    pub azure_credential: crate::collect::azure::CredentialChoice,
    /// Send every Azure Resource Manager call here instead of
    /// `https://management.azure.com` (a test server). With it, a static token
    /// may come from SNAPAUDIT_AZURE_TOKEN.
    #[arg(long, value_name = "URL", requires = "azure")]
    pub azure_endpoint: Option<String>,
    /// Scan Google Cloud snapshots, images and machine images.
    #[arg(long)]
    pub gcp: bool,
    /// Google Cloud project to scan; repeat for several. Default: every
    /// ACTIVE project the credential can see.
    #[arg(long = "project", value_name = "ID", requires = "gcp",
          value_parser = crate::collect::gcp::check_project_id)]
    pub projects: Vec<String>,
    /// Every ACTIVE project under this Google Cloud organization (its
    /// projects' service accounts are trusted, as `trust_organization` says).
    #[arg(long, value_name = "ID", requires = "gcp", value_parser = crate::collect::gcp::check_organization_id)]
    pub gcp_organization: Option<String>,
    /// Send every Google Cloud call (Compute Engine, Resource Manager) here
    /// (a test server). With it, a static token may come from SNAPAUDIT_GCP_TOKEN.
    #[arg(long, value_name = "URL", requires = "gcp")]
    pub gcp_endpoint: Option<String>,
    /// SQLite baseline (created owner-only when absent).
    #[arg(long, default_value = "state/snapaudit.db", env = "SNAPAUDIT_DB")]
    pub db: PathBuf,
    /// Policy file; repeat to merge several. Default: policies/default.yaml when present.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Region to scan; repeat for several. Default: the configured region.
    #[arg(long = "region", value_name = "REGION", conflicts_with = "all_regions", value_parser = parse_region)]
    pub regions: Vec<String>,
    /// Scan every region: each account scans those it has enabled (opt-in
    /// regions are per account) and records the others as not enabled.
    #[arg(long)]
    pub all_regions: bool,
    /// Send every AWS call to this endpoint (emulator, proxy, VPC endpoint).
    #[arg(long, env = "AWS_ENDPOINT_URL", hide_env_values = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Allow a plain-http endpoint on a host other than loopback.
    #[arg(long)]
    pub allow_insecure_endpoint: bool,
    /// Named profile from the AWS config files; repeat to scan several
    /// accounts. Default: the standard chain (AWS_PROFILE, environment, SSO, role).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Assume this role (name, with its path if any) in each account of
    /// --account or --org, from the caller's credentials.
    #[arg(long, value_name = "ROLE_NAME", requires = "role_targets")]
    pub assume_role: Option<String>,
    /// Account to assume the role in; repeat. With --org: only these members.
    #[arg(long = "account", value_name = "ID", requires = "assume_role", value_parser = parse_account_id)]
    pub accounts: Vec<String>,
    /// Every active account of the organization (AWS Organizations); run
    /// from the management or a delegated administrator account.
    #[arg(long, requires = "assume_role")]
    pub org: bool,
    /// External id the roles require (never printed or stored).
    #[arg(long, value_name = "ID", requires = "assume_role")]
    pub external_id: Option<String>,
    /// Session name shown in the member accounts' CloudTrail.
    #[arg(long, value_name = "NAME", default_value = "snapaudit")]
    pub role_session_name: String,
    /// Output format. Default: table on a terminal, jsonl otherwise.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Also write the report to a file, atomically and owner-only:
    /// `FORMAT=PATH` or a path whose extension names the format
    /// (.html, .csv, .jsonl, .ocsf.json, .txt). Repeat for several.
    #[arg(long = "output", value_name = "[FORMAT=]PATH")]
    pub outputs: Vec<crate::report::Output>,
    /// Post new findings (status `new`) as JSON, with Slack-compatible
    /// `text`, to this webhook. A secret: never printed or stored.
    #[arg(long, env = "SNAPAUDIT_NOTIFY_URL", hide_env_values = true, value_name = "URL")]
    pub notify: Option<String>,
    /// Print nothing on stdout (files from --output are still written;
    /// errors still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Exit 1 when a new or open finding is at or above this severity.
    #[arg(long, value_enum, default_value = "high")]
    pub fail_on: FailOn,
    /// Also list findings suppressed by an allowlist entry or as known backup
    /// tooling (they are always stored in the baseline).
    #[arg(long)]
    pub show_suppressed: bool,
    /// Per-snapshot API calls in flight per scope.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_concurrency: u16,
    /// Calls per second per (account, region, EC2 action): AWS's refill rate
    /// for EC2 non-mutating actions.
    #[arg(long, default_value_t = 20.0, value_parser = parse_rate)]
    pub max_rps_per_action: f64,
    /// Calls allowed at once before pacing starts (AWS's bucket size).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub burst: u32,
    /// Calls per second per (account, region) for all RDS actions together:
    /// AWS's refill rate for the RDS API.
    #[arg(long, default_value_t = 12.0, value_parser = parse_rate)]
    pub rds_rps: f64,
    /// RDS calls allowed at once per (account, region) before pacing starts.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rds_burst: u32,
    /// Wait for another scan holding the database instead of exiting.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[arg(long, default_value = "state/snapaudit.db", env = "SNAPAUDIT_DB")]
    pub db: PathBuf,
    /// The AWS account id, Azure subscription id or Google Cloud project id
    /// whose scopes to retire.
    #[arg(long, value_parser = parse_account_or_subscription)]
    pub account: String,
    /// Only these regions (Azure: locations); repeat for several. Default: all.
    #[arg(long = "region", value_name = "REGION", value_parser = parse_location)]
    pub regions: Vec<String>,
    /// Only these services (ebs, rds, rds-cluster, ami, azure-snapshot,
    /// gcp-snapshot, gcp-image, gcp-machine-image). Default: all.
    #[arg(long = "service", value_name = "SERVICE", value_parser = parse_service)]
    pub services: Vec<crate::model::Service>,
    /// Wait for a scan holding the database to finish instead of stopping.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long, default_value = "state/snapaudit.db", env = "SNAPAUDIT_DB")]
    pub db: PathBuf,
    /// How many scans to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Default: table on a terminal, jsonl otherwise (`ocsf` is for scan
    /// findings only).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy files to check. Default: policies/default.yaml.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
}

fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not an AWS account id (12 digits)"))
    }
}

fn parse_account_or_subscription(s: &str) -> Result<String, String> {
    parse_account_id(s)
        .or_else(|_| crate::collect::azure::check_subscription_id(s))
        .or_else(|_| crate::collect::gcp::check_project_id(s))
        .map_err(|_| {
            format!(
                "{s:?} is not an AWS account id (12 digits), an Azure subscription id (a GUID) or a Google Cloud project id"
            )
        })
}

/// An AWS region, an Azure location (`westeurope`) or `*` (a subscription-wide scope).
fn parse_location(s: &str) -> Result<String, String> {
    let plain =
        !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if plain || s == "*" {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a region or location name (like eu-west-1 or westeurope)"))
    }
}

fn parse_service(s: &str) -> Result<crate::model::Service, String> {
    crate::model::Service::parse(s)
        .ok_or_else(|| {
            format!(
                "{s:?} is not a service (ebs, rds, rds-cluster, ami, azure-snapshot, gcp-snapshot, gcp-image, gcp-machine-image)"
            )
        })
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::collect::aws::looks_like_region(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not an AWS region name (like eu-west-1)"))
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("{s:?} is not a positive number of calls per second")),
    }
}

/// `--fail-on`: a severity, or `none` to always exit 0 on findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    Info,
    None,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Critical => Some(Severity::Critical),
            FailOn::High => Some(Severity::High),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::Low => Some(Severity::Low),
            FailOn::Info => Some(Severity::Info),
            FailOn::None => None,
        }
    }
}
