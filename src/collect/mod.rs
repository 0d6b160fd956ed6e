//! STAGE 1, I/O: list snapshots and their share permissions from the clouds.
//!
//! Each provider has one trait for its collectors and one explicit list of
//! them (`aws::COLLECTORS`); every collector declares the read-only actions it
//! calls, which the README's permission list is tested against.

pub mod api_calls;
pub mod aws;
pub mod progress;

use std::collections::BTreeSet;

use crate::model::{Coverage, Snapshot};

pub use api_calls::ApiCalls;
pub use progress::Progress;

/// Everything one scan listed, scope by scope.
#[derive(Debug, Default)]
pub struct Collected {
    pub snapshots: Vec<Snapshot>,
    /// One row per scope attempted, complete or failed.
    pub coverage: Vec<Coverage>,
    /// Accounts of the scanned organization (`--org`), trusted by default.
    pub organization_accounts: BTreeSet<String>,
}

/// A failure that stops the whole scan before any scope could be listed
/// (no credentials, identity unknown, a region name that does not exist).
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("AWS credentials: {message}. {hint}")]
    Credentials { message: String, hint: &'static str },
    #[error("no AWS region configured: set AWS_REGION (or a region in the profile), or pass --region")]
    NoRegion,
    #[error("unknown region(s) {names}: not in this account's region list ({known})")]
    UnknownRegion { names: String, known: String },
    #[error("account(s) {accounts} are not active accounts of the organization ({members} active accounts)")]
    NotInOrganization { accounts: String, members: usize },
    #[error("AWS {action} failed ({code}): {message}")]
    Api { action: &'static str, code: String, message: String },
    #[error("invalid endpoint URL {url:?}: {reason}")]
    Endpoint { url: String, reason: String },
}

/// Every read-only cloud action any collector may call, sorted.
pub fn required_permissions() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = aws::required_permissions();
    all.sort_unstable();
    all.dedup();
    all
}
