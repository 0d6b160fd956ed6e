//! AWS collectors: one per snapshot service, run for every (account, region).

mod accounts;
mod ami;
mod attribution;
mod block_public_access;
mod cloudtrail_record;
mod ebs;
mod error;
mod interceptors;
mod listing;
mod options;
mod pace;
mod rds;
mod retry;
mod session;
mod shares;
mod trail;
mod verify;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;

use super::{ApiCalls, CollectError, Collected, Progress, Sink};
use crate::model::{AccountReach, Coverage, Provider, Reach, Scope, Service, Snapshot};

pub use attribution::Attributor;
pub use error::ScopeError;
pub use options::ShareVerification;
pub use options::{AccountChoice, AssumeRole, AwsOptions, RegionChoice, looks_like_region};
pub use pace::{Meter, RateLimit};
pub use trail::CLOUDTRAIL_HISTORY;

/// A boxed future, so collectors can sit in one list of trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Clients and identity for one account in one region.
pub struct RegionContext {
    pub account: String,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// Upper bound on per-snapshot calls in flight in this scope.
    pub max_concurrency: usize,
    pacer: Arc<pace::Pacer>,
    progress: Arc<Progress>,
    /// The scan's CloudTrail lookups, shared with the attribution.
    trail: Arc<trail::Trail>,
    verify: Arc<ShareVerification>,
}

impl RegionContext {
    /// The scope of `service` in this account and region.
    pub fn scope(&self, service: Service) -> Scope {
        scope_of(&self.account, &self.region, service)
    }

    /// Wait for this account and region's token from `meter`'s bucket.
    pub async fn pace(&self, meter: Meter) {
        self.pacer.take(&self.account, &self.region, meter).await;
    }
}

/// The one way an AWS scope is named: (aws, service, account, region).
fn scope_of(account: &str, region: &str, service: Service) -> Scope {
    Scope { provider: Provider::Aws, service, account: account.to_owned(), region: region.to_owned() }
}

/// What one scope listed.
#[derive(Debug, Default)]
pub struct ScopeListing {
    pub snapshots: Vec<Snapshot>,
    /// Listed snapshots whose share list could not be read, and why.
    pub unread: shares::Unread,
    /// The region's EBS snapshot (or image) block-public-access state, where
    /// it applies.
    pub block_public_access: Option<String>,
    /// Which share lists were read (policy `verification`).
    pub verification: Option<verify::Selection>,
}

/// One AWS snapshot service.
pub trait AwsCollector: Send + Sync {
    fn service(&self) -> Service;
    /// The IAM actions this collector calls; all read-only.
    fn permissions(&self) -> &'static [&'static str];
    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>>;
}

/// The account's region list says the region is not enabled.
const NOT_OPTED_IN: &str = "NotOptedIn";

/// Codes meaning the region is not enabled for the account: `OptInRequired`
/// is what AWS answers a call to such a region (EC2 API Reference, "Error
/// codes": "You are not authorized to use the requested service. Ensure that
/// you have subscribed to the service you are trying to use"). `AuthFailure`
/// may also mean that, but equally bad credentials: it stays a failure.
const NOT_ENABLED_CODES: &[&str] = &[NOT_OPTED_IN, "OptInRequired"];

fn not_opted_in(account: &str, region: &str) -> ScopeError {
    ScopeError {
        code: NOT_OPTED_IN.into(),
        message: format!(
            "{region} is an opt-in region account {account} has not enabled (DescribeRegions: not-opted-in); \
             nothing can exist there"
        ),
    }
}

/// The AWS collectors, in the order their scopes are reported.
pub const COLLECTORS: &[&dyn AwsCollector] =
    &[&ebs::EbsSnapshots, &rds::RdsDbSnapshots, &rds::RdsClusterSnapshots, &ami::Images];

/// IAM actions needed outside any one collector: identity, region list, and
/// (with `--org`) the organization's accounts; `--assume-role` also needs
/// `sts:AssumeRole` on the member roles, granted by their trust policy.
const COMMON_PERMISSIONS: &[&str] = &["sts:GetCallerIdentity", "ec2:DescribeRegions", "organizations:ListAccounts"];

pub fn required_permissions() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = COMMON_PERMISSIONS.to_vec();
    all.extend_from_slice(trail::PERMISSIONS);
    for collector in COLLECTORS {
        all.extend_from_slice(collector.permissions());
    }
    all
}

/// Accounts opened and waiting for their listings to start: a bound on
/// sessions held ahead of need.
const AHEAD: usize = 32;

/// A scope's coverage row; its snapshots go to the spool as soon as the
/// scope is listed.
fn coverage_of(scope: Scope, result: Result<ScopeListing, ScopeError>, spool: &dyn Sink) -> Coverage {
    match result {
        Ok(listing) => {
            let mut coverage = Coverage::complete(scope);
            coverage.unknown_exposure = listing.unread.ids;
            coverage.exposure_error = listing.unread.reason;
            coverage.block_public_access = listing.block_public_access;
            if let Some(selection) = listing.verification {
                selection.record(&mut coverage, &listing.snapshots);
            }
            spool.put(listing.snapshots);
            coverage
        }
        Err(e) if NOT_ENABLED_CODES.contains(&e.code.as_str()) => Coverage::not_enabled(scope, e.message),
        Err(e) => Coverage::failed(scope, e.code, e.message),
    }
}

/// List every collector's snapshots in every selected account and region.
/// A scope that fails becomes a `failed` coverage row; the others go on.
/// What the lookups of who made the changes need is kept ([`Attributor`]).
pub async fn collect(
    options: &AwsOptions,
    api_calls: &ApiCalls,
    progress: Arc<Progress>,
    spool: &dyn Sink,
) -> Result<(Collected, Attributor), CollectError> {
    let mut plan = accounts::plan(options, api_calls).await?;
    let pacer = Arc::new(pace::Pacer::new(options.rate.with_headroom(), options.rds_rate.with_headroom()));
    let trail = Arc::new(trail::Trail::new(pacer.clone()));
    let verify = Arc::new(options.verification.clone());
    // Accounts join the progress as they are known: the plan's, then each
    // further page of the organization's.
    let countdown = super::progress::AccountCountdown::default();
    let (countdown, progress_ref, region_count) = (&countdown, &progress, plan.regions.len());
    let count_accounts = move |n: usize| {
        progress_ref.add_scopes(n * region_count * COLLECTORS.len());
        countdown.add(progress_ref, n, region_count);
    };
    count_accounts(plan.accounts());

    // The organization's further pages of accounts, read while the first
    // page's accounts are scanned; each account found joins the scan.
    let discovered = std::sync::Mutex::new(accounts::Discovered::default());
    let more_accounts =
        accounts::more_accounts(plan.discovery.take(), plan.caller.clone(), &discovered, count_accounts);

    // Accounts open (role assumed, region list read) ahead of the listings,
    // 16 at a time and at most AHEAD waiting, while the listings run: no
    // account waits for the whole organization's roles.
    let (opened, mut waiting) = tokio::sync::mpsc::channel::<Arc<accounts::Target>>(AHEAD);
    let plan_ref = &plan;
    let open_all = async move {
        let ready = futures_util::stream::iter(plan_ref.ready.iter().map(|t| Arc::new(t.clone())));
        let assumed = futures_util::stream::iter(plan_ref.pending.iter().cloned())
            .chain(more_accounts)
            .map(|account| async move {
                let role = options.assume_role.as_ref().expect("accounts to assume come with a role");
                Arc::new(plan_ref.open(account, role).await)
            })
            .buffer_unordered(accounts::ASSUME_CONCURRENCY);
        let mut all = std::pin::pin!(ready.chain(assumed));
        while let Some(target) = all.next().await {
            if opened.send(target).await.is_err() {
                break;
            }
        }
    };
    let targets = futures_util::stream::poll_fn(move |cx| waiting.poll_recv(cx));
    let places = targets.enumerate().flat_map(|(index, target)| {
        futures_util::stream::iter(plan_ref.regions.clone().into_iter().map(move |r| (index, target.clone(), r)))
    });
    let list_all = places
        .map(|(index, target, region)| {
            let (pacer, progress, trail, verify) = (pacer.clone(), progress.clone(), trail.clone(), verify.clone());
            async move {
                let region = &region;
                let listed = async {
                    let scope = |c: &dyn AwsCollector| scope_of(&target.account, region, c.service());
                    // Nothing to call where the account has not enabled the region.
                    let usable = match &target.session {
                        Ok(_) if target.has_not_enabled(region) => Err(not_opted_in(&target.account, region)),
                        Ok(session) => Ok(session),
                        Err(e) => Err(e.clone()),
                    };
                    let session = match usable {
                        Ok(session) => session,
                        Err(e) => {
                            progress.scopes_done(COLLECTORS.len());
                            return COLLECTORS.iter().map(|c| coverage_of(scope(*c), Err(e.clone()), spool)).collect();
                        }
                    };
                    let ctx = RegionContext {
                        account: target.account.clone(),
                        region: region.clone(),
                        ec2: session.ec2(region),
                        rds: session.rds(region),
                        cloudtrail: session.cloudtrail(region),
                        max_concurrency: options.max_concurrency,
                        pacer,
                        progress: progress.clone(),
                        trail,
                        verify,
                    };
                    let ctx = &ctx;
                    futures_util::future::join_all(COLLECTORS.iter().map(|c| async move {
                        let result = c.collect(ctx).await;
                        ctx.progress.scopes_done(1);
                        coverage_of(scope(*c), result, spool)
                    }))
                    .await
                }
                .await;
                countdown.done(&progress, index);
                listed
            }
        })
        .buffer_unordered(options.max_concurrent_regions.max(1))
        .collect::<Vec<Vec<Coverage>>>();
    let ((), results) = tokio::join!(open_all, list_all);

    let sessions =
        plan.ready.iter().filter_map(|t| Some((t.account.clone(), t.session.as_ref().ok()?.clone()))).collect();
    let reopener = plan.reopener(options.assume_role.as_ref());
    // A page that could not be read fails the scan, as the first page does.
    let discovered = discovered.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = discovered.failed {
        return Err(e);
    }
    plan.organization.extend(discovered.members.iter().cloned());
    if let AccountReach::Enumerated { found, .. } = &mut plan.reach {
        found.extend(discovered.members);
    }

    // Regions asked for by name (or the configured one); `--all-regions`: all.
    let regions = (options.regions != RegionChoice::All).then(|| plan.regions.iter().cloned().collect());
    let reach = Reach { provider: Provider::Aws, accounts: plan.reach, regions };
    let mut collected = Collected {
        organization_accounts: plan.organization,
        organization_id: plan.organization_id,
        reach: vec![reach],
        ..Collected::default()
    };
    collected.coverage.extend(results.into_iter().flatten());
    collected.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
    let attributor = Attributor { sessions, reopener, trail, concurrency: options.max_concurrent_regions };
    Ok((collected, attributor))
}
