//! STAGE 1, I/O: list snapshots and their share permissions from the clouds.
//!
//! One folder per provider. AWS has one trait for its collectors and one
//! explicit list of them (`aws::COLLECTORS`); Azure has one service. Every
//! collector declares the read-only actions it calls, which the README's
//! permission lists are tested against.

pub mod api_calls;
pub mod aws;
pub mod azure;
pub mod buckets;
pub mod endpoint;
pub mod gcp;
pub mod progress;
pub mod rest;

use crate::model::Provider;
pub use crate::model::{Collected, ListingSink as Sink};

pub use api_calls::ApiCalls;
pub use progress::Progress;

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
    #[error("{action} failed ({code}): {message}")]
    Api { action: &'static str, code: String, message: String },
    #[error("invalid endpoint URL {url:?}: {reason}")]
    Endpoint { url: String, reason: String },
    #[error("Azure credentials: {message}. What to do: {hint}")]
    AzureCredentials { message: String, hint: &'static str },
    #[error("Google Cloud credentials: {message}. What to do: {hint}")]
    GcpCredentials { message: String, hint: &'static str },
    #[error(
        "the Google Cloud credential sees no ACTIVE project{scope}: grant it the snapaudit role on the projects (`snapaudit permissions --provider gcp`), or pass --project"
    )]
    NoProjects { scope: String },
    #[error("the Azure identity sees no enabled subscription: grant it the Reader role on one, or pass --subscription")]
    NoSubscriptions,
}

/// Every read-only action a provider's collectors may call, sorted.
pub fn required_permissions(provider: Provider) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = match provider {
        Provider::Aws => aws::required_permissions(),
        Provider::Azure => azure::required_permissions(),
        Provider::Gcp => gcp::required_permissions(),
    };
    all.sort_unstable();
    all.dedup();
    all
}
