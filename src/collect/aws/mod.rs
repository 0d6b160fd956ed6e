//! AWS collectors: one per snapshot service, run for every (account, region).

mod client;
mod ebs;
mod error;

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;

use super::{ApiCalls, CollectError, Collected};
use crate::model::{Coverage, Provider, Scope, Service, Snapshot};

pub use client::{AwsOptions, RegionChoice, check_endpoint};
pub use error::ScopeError;

/// A boxed future, so collectors can sit in one list of trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Clients and identity for one account in one region.
pub struct RegionContext {
    pub account: String,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    /// Upper bound on per-snapshot calls in flight in this scope.
    pub max_concurrency: usize,
}

/// What one scope listed.
#[derive(Debug, Default)]
pub struct ScopeListing {
    pub snapshots: Vec<Snapshot>,
    /// Listed snapshots whose share list could not be read.
    pub unknown_exposure: Vec<String>,
    /// The region's EBS snapshot block-public-access state, where it applies.
    pub block_public_access: Option<String>,
}

/// One AWS snapshot service.
pub trait AwsCollector: Send + Sync {
    fn service(&self) -> Service;
    /// The IAM actions this collector calls; all read-only.
    fn permissions(&self) -> &'static [&'static str];
    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>>;
}

/// The AWS collectors, in the order their scopes are reported.
pub const COLLECTORS: &[&dyn AwsCollector] = &[&ebs::EbsSnapshots];

/// IAM actions needed outside any one collector (identity, region list).
const COMMON_PERMISSIONS: &[&str] = &["sts:GetCallerIdentity", "ec2:DescribeRegions"];

pub fn required_permissions() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = COMMON_PERMISSIONS.to_vec();
    for collector in COLLECTORS {
        all.extend_from_slice(collector.permissions());
    }
    all
}

/// List every collector's snapshots in every selected region of the
/// caller's account. A scope that fails becomes a `failed` coverage row; the
/// others go on.
pub async fn collect(options: &AwsOptions, api_calls: &ApiCalls) -> Result<Collected, CollectError> {
    let session = client::Session::open(options, api_calls).await?;
    let account = session.caller_account().await?;
    let regions = session.regions(&options.regions).await?;

    let mut contexts = Vec::new();
    for region in regions {
        contexts.push(RegionContext {
            account: account.clone(),
            ec2: session.ec2(&region),
            region,
            max_concurrency: options.max_concurrency,
        });
    }

    let jobs = contexts.iter().flat_map(|ctx| COLLECTORS.iter().map(move |c| (ctx, *c)));
    let results: Vec<(Scope, Result<ScopeListing, ScopeError>)> = futures_util::stream::iter(jobs)
        .map(|(ctx, collector)| async move {
            let scope = Scope {
                provider: Provider::Aws,
                service: collector.service(),
                account: ctx.account.clone(),
                region: ctx.region.clone(),
            };
            (scope, collector.collect(ctx).await)
        })
        .buffer_unordered(options.max_concurrent_scopes.max(1))
        .collect()
        .await;

    let mut collected = Collected::default();
    for (scope, result) in results {
        match result {
            Ok(listing) => {
                let mut coverage = Coverage::complete(scope);
                coverage.unknown_exposure = listing.unknown_exposure;
                coverage.block_public_access = listing.block_public_access;
                collected.snapshots.extend(listing.snapshots);
                collected.coverage.push(coverage);
            }
            Err(e) => collected.coverage.push(Coverage::failed(scope, e.code, e.message)),
        }
    }
    collected.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok(collected)
}
