//! The one place that wires the stages together, one file per kind of
//! command: `scan.rs` (lock -> collect -> `analyse.rs` -> save -> report ->
//! deliver, from the validated `plan.rs`), `watch.rs` (scan on an interval),
//! `baseline.rs` (history, report, prune, forget: the baseline alone), `setup.rs`
//! (validate, rules, permissions). What they share is here.

mod analyse;
mod attribute;
mod baseline;
mod plan;
mod project;
mod scan;
mod setup;
mod watch;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};

use crate::cli::{Cli, Command, ProviderArg};
use crate::log;
use crate::report::Format;
use crate::rules::Policy;

use baseline::{forget, history, prune, report};
use scan::scan;
pub use setup::{azure_role_definition, gcp_role_definition, iam_policy_document};
use setup::{list_rules, validate};
use watch::watch;

/// Documented exit codes (README, "Exit codes").
pub mod exit {
    /// No finding at or above `--fail-on`, every scope listed; or the
    /// reader of stdout closed it early (`| head`, main.rs).
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
        Command::Forget(args) => forget(args),
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
                ProviderArg::Gcp => gcp_role_definition(),
            };
            println!("{document}");
            Ok(exit::OK)
        }
    }
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
