//! AWS session: the SDK configuration (credential chain, endpoint, retry and
//! timeouts), the caller's identity, the region list, and per-region clients
//! that count every request attempt.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::error::ScopeError;
use super::interceptors::{CountAttempts, RejectCutXml};
use super::options::{AssumeRole, AwsOptions, RegionChoice, looks_like_region};
use crate::collect::{ApiCalls, CollectError};

const CREDENTIALS_HINT: &str = "Configure AWS credentials as for the AWS CLI (aws configure, AWS_PROFILE, \
aws sso login, or an instance role); without an AWS account, run scripts/demo to scan the bundled emulator";

#[derive(Clone)]
pub(super) struct Session {
    config: SdkConfig,
    api_calls: ApiCalls,
}

impl Session {
    /// The default credential chain, or one named profile, sending through
    /// `http` ([`http_client`]).
    pub async fn open(
        options: &AwsOptions,
        profile: Option<&str>,
        api_calls: &ApiCalls,
        http: &SharedHttpClient,
    ) -> Result<Self, CollectError> {
        let retry = RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(300))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts)
            .http_client(http.clone());
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
        // One identity cache for every client of the account (EC2, RDS and
        // CloudTrail in each region): without it each client assumes the
        // role itself, several STS calls per account instead of one.
        let config = self
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(aws_config::identity::IdentityCache::lazy().build())
            .build();
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

    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .interceptor(CountAttempts(self.api_calls.clone()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
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

    /// Resolve the region choice to names, rejecting names that do not exist,
    /// with the caller's own region list where it was read (reused for the
    /// caller's account; each other account reads its own).
    pub async fn regions(&self, choice: &RegionChoice) -> Result<(Vec<String>, Option<RegionList>), CollectError> {
        match choice {
            // The caller's configured region is where it works: no call.
            RegionChoice::Configured => Ok((vec![self.default_region()], None)),
            RegionChoice::All => {
                let list = self.region_list().await.map_err(|e| CollectError::Api {
                    action: "ec2:DescribeRegions",
                    code: e.code,
                    message: e.message,
                })?;
                // Every region of the partition: an account scans those it
                // has enabled and records the others as not enabled.
                Ok((list.keys().cloned().collect(), Some(list)))
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
                let list = self.region_list().await.ok();
                if let Some(known) = &list {
                    let unknown: Vec<&str> =
                        names.iter().map(String::as_str).filter(|n| !known.contains_key(*n)).collect();
                    if !unknown.is_empty() {
                        let known: Vec<&str> = known.keys().map(String::as_str).collect();
                        return Err(CollectError::UnknownRegion { names: unknown.join(", "), known: known.join(", ") });
                    }
                }
                // Repeats were removed when the scan was planned (app/plan.rs).
                Ok((names.clone(), list))
            }
        }
    }

    /// Every region of the partition and whether this account has enabled
    /// it. EC2 API Reference, DescribeRegions: with `AllRegions=true` the
    /// answer lists disabled regions too, each with `OptInStatus`
    /// `opt-in-not-required`, `opted-in` or `not-opted-in`; opt-in regions
    /// are enabled per account, so each account's own list decides.
    pub async fn region_list(&self) -> Result<RegionList, ScopeError> {
        let out = self
            .ec2(&self.default_region())
            .describe_regions()
            .all_regions(true)
            .send()
            .await
            .map_err(|e| ScopeError::from_sdk("DescribeRegions", e))?;
        Ok(out
            .regions()
            .iter()
            .filter_map(|r| {
                let enabled = r.opt_in_status() != Some("not-opted-in");
                Some((r.region_name()?.to_owned(), enabled))
            })
            .collect())
    }
}

/// One HTTP client for every AWS client of a scan: one connection pool and
/// one TLS configuration. Without it each SDK client (three per account and
/// region) builds the SDK's default client for itself: the native root
/// certificates parsed again and new connections for every client, which
/// was most of an organization scan's CPU and memory (`scripts/bench`,
/// `SNAPAUDIT_BENCH_ORG`). The same client as the SDK's default
/// (`aws-smithy-runtime`, `default_https_client`): rustls with aws-lc, the
/// client's timeouts and sleep, and the `HTTPS_PROXY` / `NO_PROXY` variables.
pub(super) fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let client = aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            aws_smithy_http_client::ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(OnePool(client))
}

/// The shared client without its check at each SDK client's construction:
/// the SDK's builds a connector there and drops it (loading the root
/// certificates early), once per client, 9,000 times for an organization
/// of 1,000 accounts in 3 regions. The connector is built once, at the
/// first request, and kept.
#[derive(Debug)]
struct OnePool(SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for OnePool {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Region name -> enabled for the account.
pub(super) type RegionList = std::collections::BTreeMap<String, bool>;
