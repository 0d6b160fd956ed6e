//! Azure managed-disk snapshots, through the ARM REST API with an
//! azure_identity credential (docs/architecture.md, "Dependency notes", says why no SDK).
//!
//! Scopes: one per (subscription, location) where snapshots live, plus a
//! subscription-wide scope with region `*` that records whether the
//! subscription listed at all. A subscription that fails yields only a failed
//! `*` scope: its locations are then unscanned, so nothing in them is
//! reported deleted and nothing found there before is resolved.

mod activity;
mod arm;
mod certificate;
pub mod credential;
mod snapshots;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiCalls, CollectError, Collected, Progress, Sink};
use crate::model::{AccountReach, Coverage, MissingReason, Provider, Reach, Scope, Service};

pub use activity::ActivityLog;
use arm::Arm;
pub use credential::CredentialChoice;
use credential::TokenSource;
use snapshots::ArmSnapshot;
pub use snapshots::{Mapped, parse_snapshot};

/// Azure Resource Manager in the public cloud.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// The region of a subscription-wide scope.
pub const SUBSCRIPTION_WIDE: &str = "*";

const LIST_SUBSCRIPTIONS: &str = "Microsoft.Resources/subscriptions/read";
const LIST_SNAPSHOTS: &str = "Microsoft.Compute/snapshots/read";
const SNAPSHOTS_API_VERSION: &str = "2024-03-02";
const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";

/// The RBAC actions the collector needs; the built-in Reader role has both.
pub fn required_permissions() -> Vec<&'static str> {
    vec![LIST_SUBSCRIPTIONS, LIST_SNAPSHOTS, activity::READ_ACTIVITY]
}

#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// Subscriptions to scan; empty: every enabled one the identity sees.
    pub subscriptions: Vec<String>,
    /// Replaces `https://management.azure.com` (a test server).
    pub endpoint: Option<String>,
    pub credential: CredentialChoice,
    /// Locations each subscription had snapshots in at the last scan, so a
    /// location whose last snapshot went is still listed (as empty).
    pub known_locations: BTreeMap<String, BTreeSet<String>>,
    pub max_concurrent_subscriptions: usize,
    /// First retry delay when ARM names none.
    pub backoff: Duration,
}

impl Default for AzureOptions {
    fn default() -> Self {
        AzureOptions {
            subscriptions: Vec::new(),
            endpoint: None,
            credential: CredentialChoice::Auto,
            known_locations: BTreeMap::new(),
            max_concurrent_subscriptions: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A subscription id is a GUID; anything else is a typo worth stopping for.
pub fn check_subscription_id(id: &str) -> Result<String, String> {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if lengths == [8, 4, 4, 4, 12] && hex {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(format!("{id:?} is not a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)"))
    }
}

/// Every subscription's snapshots; the ARM client is kept ([`ActivityLog`])
/// to look up who made the changes.
pub async fn collect(
    options: &AzureOptions,
    api_calls: &ApiCalls,
    progress: Arc<Progress>,
    spool: &dyn Sink,
) -> Result<(Collected, ActivityLog), CollectError> {
    let endpoint = options.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
    let base = url::Url::parse(endpoint)
        .map_err(|e| CollectError::Endpoint { url: endpoint.to_owned(), reason: e.to_string() })?;
    let env = |name: &str| std::env::var(name).ok();
    let sources = credential::select_sources(options.credential, options.endpoint.is_some(), env)?;
    let token = TokenSource::new(&sources, env)?;
    let arm = Arm::new(base, token, api_calls.clone(), options.backoff)
        .map_err(|reason| CollectError::Endpoint { url: endpoint.to_owned(), reason })?;
    arm.check_credentials().await?;

    let (subscriptions, accounts) = if options.subscriptions.is_empty() {
        // Every subscription the identity sees: one it no longer sees vanished.
        let visible = visible_subscriptions(&arm).await?;
        let found = visible.iter().cloned().collect();
        (visible, AccountReach::Enumerated { found, absent: MissingReason::NotVisible })
    } else {
        (options.subscriptions.clone(), AccountReach::Named(options.subscriptions.iter().cloned().collect()))
    };
    progress.add_scopes(subscriptions.len());
    progress.add_accounts(subscriptions.len());
    let arm_ref = &arm;
    let listings: Vec<Result<Vec<Coverage>, CollectError>> = futures_util::stream::iter(subscriptions)
        .map(|subscription| {
            let known = options.known_locations.get(&subscription);
            let progress = progress.clone();
            async move {
                let listing = list_subscription(arm_ref, &subscription, known, &progress, spool).await;
                progress.scopes_done(1);
                progress.account_done();
                listing
            }
        })
        .buffer_unordered(options.max_concurrent_subscriptions.max(1))
        .collect()
        .await;

    let reach = Reach { provider: Provider::Azure, accounts, regions: None };
    let mut collected = Collected { reach: vec![reach], ..Collected::default() };
    for coverage in listings {
        collected.coverage.extend(coverage?);
    }
    collected.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok((collected, ActivityLog { arm }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    subscription_id: String,
    state: Option<String>,
}

/// Every subscription the identity can read, except disabled or deleted
/// ones (their resources cannot be listed).
async fn visible_subscriptions(arm: &Arm) -> Result<Vec<String>, CollectError> {
    let mut ids = Vec::new();
    let path = format!("/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}");
    arm.list::<Subscription>(LIST_SUBSCRIPTIONS, &path, |page| {
        ids.extend(
            page.into_iter()
                .filter(|s| !matches!(s.state.as_deref(), Some("Disabled" | "Deleted")))
                .map(|s| s.subscription_id.to_ascii_lowercase()),
        );
    })
    .await
    .map_err(|e| match e.unauthenticated {
        true => CollectError::AzureCredentials { message: e.message, hint: credential::WHAT_TO_DO },
        false => CollectError::Api { action: LIST_SUBSCRIPTIONS, code: e.code, message: e.message },
    })?;
    if ids.is_empty() {
        return Err(CollectError::NoSubscriptions);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn scope(subscription: &str, region: &str) -> Scope {
    Scope {
        provider: Provider::Azure,
        service: Service::AzureSnapshot,
        account: subscription.to_owned(),
        region: region.to_owned(),
    }
}

/// ARM's code for a resource provider not registered in the subscription.
const NOT_REGISTERED: &str = "MissingSubscriptionRegistration";

/// One subscription's coverage; its snapshots go to the spool page by
/// page. A refused token (401) is no subscription's fault: it stops the
/// scan, and nothing is written.
async fn list_subscription(
    arm: &Arm,
    subscription: &str,
    known: Option<&BTreeSet<String>>,
    progress: &Progress,
    spool: &dyn Sink,
) -> Result<Vec<Coverage>, CollectError> {
    let mut locations: BTreeSet<String> = BTreeSet::new();
    let mut unknown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let path = format!(
        "/subscriptions/{subscription}/providers/Microsoft.Compute/snapshots?api-version={SNAPSHOTS_API_VERSION}"
    );
    let listed = arm
        .list::<ArmSnapshot>(LIST_SNAPSHOTS, &path, |page| {
            progress.listed(page.len());
            let mut snapshots = Vec::with_capacity(page.len());
            for item in page {
                let mapped = item.into_snapshot(subscription);
                if !mapped.unknown.is_empty() {
                    crate::log::warning(&format!(
                        "{}: unrecognised {} (kept as given; exposure unknown)",
                        mapped.snapshot.id,
                        mapped.unknown.join(", ")
                    ));
                    unknown.entry(mapped.snapshot.scope.region.clone()).or_default().push(mapped.snapshot.id.clone());
                }
                if !locations.contains(&mapped.snapshot.scope.region) {
                    locations.insert(mapped.snapshot.scope.region.clone());
                }
                snapshots.push(mapped.snapshot);
            }
            spool.put(snapshots);
        })
        .await;
    if listed.is_err() {
        // Pages put before the failure are no listing.
        spool.discard(Provider::Azure, subscription);
    }
    match listed {
        Err(e) if e.unauthenticated => {
            return Err(CollectError::AzureCredentials {
                message: format!("subscription {subscription}: {}", e.message),
                hint: credential::WHAT_TO_DO,
            });
        }
        // ARM answers 409 `MissingSubscriptionRegistration` when the
        // Microsoft.Compute resource provider was never registered in the
        // subscription (Azure Resource Manager, "Resolve errors for resource
        // provider registration"): no snapshot can exist there, so the listing
        // is complete and empty, with a note.
        Err(e) if e.code == NOT_REGISTERED => {
            crate::log::notice(&format!(
                "subscription {subscription}: Microsoft.Compute is not registered, so it holds no snapshots"
            ));
            let mut empty = Coverage::complete(scope(subscription, SUBSCRIPTION_WIDE));
            empty.error_code = Some(NOT_REGISTERED.to_owned());
            empty.error = Some(format!("{} (no snapshots can exist; listed as complete and empty)", e.message));
            let known = known.into_iter().flatten().map(|location| Coverage::complete(scope(subscription, location)));
            return Ok(std::iter::once(empty).chain(known).collect());
        }
        Err(e) => {
            let failed = Coverage::failed(scope(subscription, SUBSCRIPTION_WIDE), e.code, e.message);
            return Ok(vec![failed]);
        }
        Ok(()) => {}
    }
    locations.extend(known.into_iter().flatten().cloned());
    locations.insert(SUBSCRIPTION_WIDE.to_owned());
    let coverage = locations
        .into_iter()
        .map(|location| {
            let mut c = Coverage::complete(scope(subscription, &location));
            c.unknown_exposure = unknown.remove(&location).unwrap_or_default();
            c
        })
        .collect();
    Ok(coverage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_are_guids() {
        assert_eq!(
            check_subscription_id("0000AAAA-0000-0000-0000-000000000001").unwrap(),
            "0000aaaa-0000-0000-0000-000000000001"
        );
        assert!(check_subscription_id("my-subscription").is_err());
        assert!(check_subscription_id("0000aaaa-0000-0000-0000-00000000000g").is_err());
        assert!(check_subscription_id("0000aaaa00000000-0000-0000-000000000001").is_err());
    }
}
