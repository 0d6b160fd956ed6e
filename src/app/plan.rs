//! `scan` arguments turned into a validated plan, once (ripgrep's LowArgs ->
//! HiArgs): policy loaded, repeated regions, accounts, profiles and
//! subscriptions removed, endpoints, output folders, credential sources and
//! the webhook checked, all before the lock, the database or any API call.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};

use super::load_policies;
use crate::cli::{FailOn, ScanArgs};
use crate::collect::aws::{AccountChoice, AssumeRole, AwsOptions, RateLimit, RegionChoice};
use crate::collect::azure::{self, AzureOptions};
use crate::collect::endpoint::check_endpoint;
use crate::collect::gcp::GcpOptions;
use crate::log;
use crate::report::webhook::WebhookUrl;
use crate::report::{Format, Output};
use crate::rules::Policy;

/// Everything one scan will do, checked.
pub struct ScanPlan {
    pub policy: Policy,
    /// AWS to scan, if asked (the default when no provider is named).
    pub aws: Option<AwsOptions>,
    /// Azure to scan, if asked. `known_locations` is filled from the
    /// baseline once it is open.
    pub azure: Option<AzureOptions>,
    /// Google Cloud to scan, if asked.
    pub gcp: Option<GcpOptions>,
    pub db: PathBuf,
    pub wait: bool,
    pub webhook: Option<WebhookUrl>,
    /// stdout's format; `None` picks by terminal.
    pub format: Option<Format>,
    pub outputs: Vec<Output>,
    pub quiet: bool,
    pub fail_on: FailOn,
    pub show_suppressed: bool,
}

impl ScanPlan {
    pub fn from_args(args: ScanArgs) -> Result<ScanPlan> {
        let policy = load_policies(&args.policies)?;
        let scan_aws = args.aws || !(args.azure || args.gcp);
        if let (true, Some(url)) = (scan_aws, &args.endpoint_url) {
            check_endpoint(url, args.allow_insecure_endpoint)?;
        }
        if let Some(url) = &args.azure_endpoint {
            check_endpoint(url, args.allow_insecure_endpoint)?;
        }
        if let Some(url) = &args.gcp_endpoint {
            check_endpoint(url, args.allow_insecure_endpoint)?;
        }
        for output in &args.outputs {
            let folder = output.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !folder.is_dir() {
                bail!("--output {}: the folder {} does not exist", output.path.display(), folder.display());
            }
        }
        if args.azure {
            let env = |name: &str| std::env::var(name).ok();
            azure::credential::select_sources(args.azure_credential, args.azure_endpoint.is_some(), env)?;
        }
        let webhook = webhook_url(&args, &policy)?;
        let aws = scan_aws.then(|| {
            let mut options = aws_options(&args);
            options.verification.mode = policy.verification;
            options.verification.every = policy.full_verification_every;
            options.verification.overlap = policy.cloudtrail_overlap;
            options
        });
        let azure = args.azure.then(|| AzureOptions {
            subscriptions: distinct(args.subscriptions.clone()),
            endpoint: args.azure_endpoint.clone(),
            credential: args.azure_credential,
            ..AzureOptions::default()
        });
        let gcp = args.gcp.then(|| GcpOptions {
            projects: distinct(args.projects.clone()),
            organization: args.gcp_organization.clone(),
            endpoint: args.gcp_endpoint.clone(),
            ..GcpOptions::default()
        });
        Ok(ScanPlan {
            policy,
            aws,
            azure,
            gcp,
            db: args.db,
            wait: args.wait,
            webhook,
            format: args.format,
            outputs: args.outputs,
            quiet: args.quiet,
            fail_on: args.fail_on,
            show_suppressed: args.show_suppressed,
        })
    }
}

/// `items` in the order given, each once: a repeated flag is one target.
fn distinct(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|i| seen.insert(i.clone())).collect()
}

fn aws_options(args: &ScanArgs) -> AwsOptions {
    AwsOptions {
        regions: if args.all_regions {
            RegionChoice::All
        } else if args.regions.is_empty() {
            RegionChoice::Configured
        } else {
            RegionChoice::Listed(distinct(args.regions.clone()))
        },
        endpoint_url: args.endpoint_url.clone(),
        profiles: distinct(args.profiles.clone()),
        assume_role: args.assume_role.as_ref().map(|name| AssumeRole {
            role_name: name.clone(),
            accounts: if args.org {
                AccountChoice::Organization { only: distinct(args.accounts.clone()) }
            } else {
                AccountChoice::Listed(distinct(args.accounts.clone()))
            },
            external_id: args.external_id.clone(),
            session_name: args.role_session_name.clone(),
        }),
        rate: RateLimit { burst: f64::from(args.burst), per_second: args.max_rps_per_action },
        rds_rate: RateLimit { burst: f64::from(args.rds_burst), per_second: args.rds_rps },
        max_concurrency: usize::from(args.max_concurrency),
        ..AwsOptions::default()
    }
}

/// The webhook: `--notify` / SNAPAUDIT_NOTIFY_URL, else the file named by
/// the policy's `notify.url_file`. Errors name the flag or the file, never
/// the URL.
fn webhook_url(args: &ScanArgs, policy: &Policy) -> Result<Option<WebhookUrl>> {
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
fn read_url_file(file: &Path) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn plan(args: &[&str]) -> ScanPlan {
        let cli = Cli::try_parse_from(["snapaudit", "scan"].iter().chain(args)).unwrap();
        let Command::Scan(args) = cli.command else { panic!("not a scan") };
        ScanPlan::from_args(*args).unwrap()
    }

    #[test]
    fn repeated_targets_are_scanned_once_in_the_order_first_given() {
        let p = plan(&[
            "--region=eu-west-1",
            "--region=us-east-1",
            "--region=eu-west-1",
            "--profile=a",
            "--profile=b",
            "--profile=a",
            "--assume-role=audit",
            "--account=111111111111",
            "--account=222222222222",
            "--account=111111111111",
        ]);
        let aws = p.aws.unwrap();
        let RegionChoice::Listed(regions) = &aws.regions else { panic!("regions not listed") };
        assert_eq!(regions, &["eu-west-1", "us-east-1"]);
        assert_eq!(aws.profiles, ["a", "b"]);
        let Some(AccountChoice::Listed(accounts)) = aws.assume_role.map(|r| r.accounts) else { panic!("no accounts") };
        assert_eq!(accounts, ["111111111111", "222222222222"]);
        assert_eq!(distinct(vec!["x".into(), "y".into(), "x".into()]), ["x", "y"]);
    }
}
