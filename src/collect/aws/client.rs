//! AWS session: the SDK configuration (credential chain, endpoint, retry and
//! timeouts), the caller's identity, the region list, and per-region clients
//! that count every request attempt.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents, SharedCredentialsProvider};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use super::error::ScopeError;
use super::pace::RateLimit;
use crate::collect::{ApiCalls, CollectError};

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
    /// Client-side bucket per (account, region, action).
    pub rate: RateLimit,
    /// Per-snapshot attribute calls in flight, per scope.
    pub max_concurrency: usize,
    /// (account, region) pairs listed at once.
    pub max_concurrent_regions: usize,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            regions: RegionChoice::Configured,
            endpoint_url: None,
            profiles: Vec::new(),
            assume_role: None,
            rate: RateLimit::default(),
            max_concurrency: 16,
            max_concurrent_regions: 32,
        }
    }
}

const CREDENTIALS_HINT: &str = "Configure AWS credentials as for the AWS CLI (aws configure, AWS_PROFILE, \
aws sso login, or an instance role); without an AWS account, run scripts/demo to scan the bundled emulator";

pub(super) struct Session {
    config: SdkConfig,
    api_calls: ApiCalls,
}

impl Session {
    /// The default credential chain, or one named profile.
    pub async fn open(options: &AwsOptions, profile: Option<&str>, api_calls: &ApiCalls) -> Result<Self, CollectError> {
        let retry = RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(300))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts);
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let RegionChoice::Listed(regions) = &options.regions {
            // Identity and region-list calls go to the first named region when
            // the configuration names none.
            if let Some(first) = regions.first() {
                let chain = aws_config::meta::region::RegionProviderChain::default_provider();
                loader = loader.region(chain.or_else(Region::new(first.clone())));
            }
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(CollectError::NoRegion);
        }
        Ok(Session { config, api_calls: api_calls.clone() })
    }

    /// This session's credentials used to assume `role_arn`.
    pub async fn assume(&self, role_arn: String, role: &AssumeRole) -> Session {
        let mut builder =
            aws_config::sts::AssumeRoleProvider::builder(role_arn).session_name(role.session_name.clone());
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id.clone());
        }
        let provider = builder.configure(&self.config).build().await;
        let config = self.config.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
        Session { config, api_calls: self.api_calls.clone() }
    }

    pub fn partition(&self) -> &'static str {
        let region = self.default_region();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        let conf = aws_sdk_rds::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .interceptor(CountAttempts(self.api_calls.clone()))
            .interceptor(RejectCutXml)
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        let conf = aws_sdk_organizations::config::Builder::from(&self.config)
            .interceptor(CountAttempts(self.api_calls.clone()))
            .build();
        aws_sdk_organizations::Client::from_conf(conf)
    }

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .interceptor(CountAttempts(self.api_calls.clone()))
            .interceptor(RejectCutXml)
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    fn default_region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// The account the credentials belong to (STS `GetCallerIdentity`).
    pub async fn caller_account(&self) -> Result<String, ScopeError> {
        let conf =
            aws_sdk_sts::config::Builder::from(&self.config).interceptor(CountAttempts(self.api_calls.clone())).build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| ScopeError::from_sdk("GetCallerIdentity", e))?;
        out.account().map(str::to_owned).ok_or_else(|| ScopeError {
            code: "MissingAccount".into(),
            message: "GetCallerIdentity named no account".into(),
        })
    }

    /// As [`Session::caller_account`], for the caller's own credentials,
    /// whose failure stops the scan with advice.
    pub async fn identify(&self, profile: Option<&str>) -> Result<String, CollectError> {
        self.caller_account().await.map_err(|e| {
            let profile = profile
                .map(str::to_owned)
                .or_else(|| std::env::var("AWS_PROFILE").ok())
                .map(|p| format!(" (profile {p})"))
                .unwrap_or_default();
            CollectError::Credentials {
                message: format!("could not identify the caller{profile}: {} [{}]", e.message, e.code),
                hint: CREDENTIALS_HINT,
            }
        })
    }

    /// Resolve the region choice to names, rejecting names that do not exist.
    pub async fn regions(&self, choice: &RegionChoice) -> Result<Vec<String>, CollectError> {
        match choice {
            RegionChoice::Configured => Ok(vec![self.default_region()]),
            RegionChoice::All => {
                let enabled = self.describe_regions(false).await.map_err(|e| CollectError::Api {
                    action: "ec2:DescribeRegions",
                    code: e.code,
                    message: e.message,
                })?;
                Ok(enabled)
            }
            RegionChoice::Listed(names) => {
                let malformed: Vec<&str> = names.iter().map(String::as_str).filter(|n| !looks_like_region(n)).collect();
                if !malformed.is_empty() {
                    return Err(CollectError::UnknownRegion {
                        names: malformed.join(", "),
                        known: "region names look like us-east-1".into(),
                    });
                }
                // Where the region list cannot be read (e.g. denied in the
                // default region), each region still fails or succeeds on its own.
                if let Ok(known) = self.describe_regions(true).await {
                    let unknown: Vec<&str> =
                        names.iter().map(String::as_str).filter(|n| !known.iter().any(|k| k == n)).collect();
                    if !unknown.is_empty() {
                        return Err(CollectError::UnknownRegion { names: unknown.join(", "), known: known.join(", ") });
                    }
                }
                let mut names = names.clone();
                names.dedup();
                Ok(names)
            }
        }
    }

    async fn describe_regions(&self, all: bool) -> Result<Vec<String>, ScopeError> {
        let out = self
            .ec2(&self.default_region())
            .describe_regions()
            .all_regions(all)
            .send()
            .await
            .map_err(|e| ScopeError::from_sdk("DescribeRegions", e))?;
        let mut names: Vec<String> = out.regions().iter().filter_map(|r| r.region_name().map(str::to_owned)).collect();
        names.sort();
        Ok(names)
    }
}

pub fn looks_like_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Records every attempt (retries included) under the operation's name.
#[derive(Debug)]
struct CountAttempts(ApiCalls);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "snapaudit::CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0.record(metadata.name());
        }
        Ok(())
    }
}

/// The SDK's XML reader accepts a body that stops part way and returns the
/// items read so far: a listing cut in half would look like deletions. A
/// successful answer must end by closing its root element; one that does not
/// becomes an `InvalidResponse` error, which the listing retries.
#[derive(Debug)]
struct RejectCutXml;

impl Intercept for RejectCutXml {
    fn name(&self) -> &'static str {
        "snapaudit::RejectCutXml"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        match response.body().bytes() {
            Some(body) if response.status().is_success() && !is_whole_xml(body) => {
                Err("the response body is cut off (its XML root element is not closed)".into())
            }
            _ => Ok(()),
        }
    }
}

/// Whether `body` (XML) ends by closing the element it opened first.
fn is_whole_xml(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut rest = text;
    // Skip the declaration and comments before the root element.
    while let Some(after) = rest.strip_prefix("<?").or_else(|| rest.strip_prefix("<!--")) {
        match after.find('>') {
            Some(end) => rest = after[end + 1..].trim_start(),
            None => return false,
        }
    }
    let Some(open) = rest.strip_prefix('<') else { return true }; // not XML: not ours to judge
    let name: String = open.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
    if name.is_empty() {
        return false;
    }
    let root_tag_end = open.find('>').map(|i| &open[..i]);
    root_tag_end.is_some_and(|tag| tag.ends_with('/')) || text.ends_with(&format!("</{name}>"))
}

#[cfg(test)]
mod xml_tests {
    use super::is_whole_xml;

    #[test]
    fn a_cut_body_is_told_from_a_whole_one() {
        let whole = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSnapshotsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><snapshotSet><item><snapshotId>snap-1</snapshotId></item></snapshotSet></DescribeSnapshotsResponse>
"#;
        assert!(is_whole_xml(whole.as_bytes()));
        assert!(!is_whole_xml(&whole.as_bytes()[..whole.len() / 2]));
        assert!(!is_whole_xml(b"<?xml version=\"1.0\"?><Response><Errors>"));
        assert!(is_whole_xml(b"<Empty/>"));
        assert!(is_whole_xml(b"{\"json\": true}"));
        assert!(!is_whole_xml(b"<?xml version=\"1.0\""));
    }
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
