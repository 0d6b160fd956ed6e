//! What an AWS scan covers and how fast it may go: regions, profiles, roles
//! and accounts, endpoint, pacing, concurrency and share verification.
//! Plain data: it imports no part of the collector.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::collect::buckets::RateLimit;
use crate::model::{PriorShares, Verification};

/// Which regions to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionChoice {
    /// The region of the credential chain's configuration (`AWS_REGION`, profile).
    Configured,
    Listed(Vec<String>),
    /// Every region enabled for the account (`DescribeRegions`).
    All,
}

/// Which accounts to assume a role in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChoice {
    Listed(Vec<String>),
    /// Every active account of the caller's organization; `only` narrows it.
    Organization {
        only: Vec<String>,
    },
}

/// `--assume-role NAME` in each chosen account.
#[derive(Clone)]
pub struct AssumeRole {
    /// Role name (with its path, if any), e.g. `SnapauditReadOnly`.
    pub role_name: String,
    pub accounts: AccountChoice,
    pub external_id: Option<String>,
    pub session_name: String,
}

impl std::fmt::Debug for AssumeRole {
    // The external id is a shared secret between the caller and the role.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_name", &self.role_name)
            .field("accounts", &self.accounts)
            .field("external_id", &self.external_id.as_ref().map(|_| "<redacted>"))
            .field("session_name", &self.session_name)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct AwsOptions {
    pub regions: RegionChoice,
    /// Replaces every AWS endpoint (emulators, proxies, VPC endpoints).
    pub endpoint_url: Option<String>,
    /// Named profiles, each scanned as its own account; empty: the default chain.
    pub profiles: Vec<String>,
    pub assume_role: Option<AssumeRole>,
    /// Client-side bucket per (account, region, EC2 action).
    pub rate: RateLimit,
    /// Client-side bucket per (account, region) for all RDS actions.
    pub rds_rate: RateLimit,
    /// Per-snapshot attribute calls in flight, per scope.
    pub max_concurrency: usize,
    /// (account, region) pairs listed at once.
    pub max_concurrent_regions: usize,
    /// Which share lists each scope reads (policy `verification`).
    pub verification: ShareVerification,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            regions: RegionChoice::Configured,
            endpoint_url: None,
            profiles: Vec::new(),
            assume_role: None,
            rate: RateLimit::default(),
            rds_rate: RateLimit::RDS,
            max_concurrency: 16,
            max_concurrent_regions: 32,
            verification: ShareVerification::default(),
        }
    }
}

/// How share lists are checked, and what the baseline knew.
#[derive(Debug, Clone)]
pub struct ShareVerification {
    pub mode: Verification,
    /// Every share list is re-read at least this often (incremental).
    pub every: SignedDuration,
    /// The baseline's scopes, when their lists were read, and each
    /// snapshot's last read list (loaded for incremental scans only).
    pub prior: Option<Arc<PriorShares>>,
    /// The scan's start (`None`: the clock when a scope is selected).
    pub now: Option<Timestamp>,
    /// How late a CloudTrail event may arrive (policy `cloudtrail_overlap`):
    /// the share events are looked up from the last listing less this.
    pub overlap: SignedDuration,
}

impl Default for ShareVerification {
    fn default() -> Self {
        ShareVerification {
            mode: Verification::Full,
            every: SignedDuration::from_hours(24),
            prior: None,
            now: None,
            overlap: SignedDuration::from_hours(2),
        }
    }
}

/// Whether `name` has the shape of an AWS region name (`us-east-1`).
pub fn looks_like_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::looks_like_region;

    #[test]
    fn region_names_are_checked_for_shape() {
        assert!(looks_like_region("us-east-1"));
        assert!(looks_like_region("us-gov-west-1"));
        assert!(!looks_like_region("us-east"));
        assert!(!looks_like_region("US-EAST-1"));
        assert!(!looks_like_region("us-east-1; rm"));
    }
}
