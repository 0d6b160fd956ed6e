//! EBS snapshots owned by the account, who may create volumes from them, and
//! the region's snapshot block-public-access state.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, PermissionGroup, SnapshotAttributeName};
use aws_smithy_types::date_time::Format;
use futures_util::StreamExt;

use super::{AwsCollector, BoxFuture, RegionContext, ScopeError, ScopeListing};
use crate::model::{Grantee, Provider, Scope, Service, Snapshot};

pub struct EbsSnapshots;

impl AwsCollector for EbsSnapshots {
    fn service(&self) -> Service {
        Service::Ebs
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "ec2:GetSnapshotBlockPublicAccessState"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(list(ctx))
    }
}

/// The largest page `DescribeSnapshots` serves.
const PAGE_SIZE: i32 = 1000;

async fn list(ctx: &RegionContext) -> Result<ScopeListing, ScopeError> {
    let scope = Scope {
        provider: Provider::Aws,
        service: Service::Ebs,
        account: ctx.account.clone(),
        region: ctx.region.clone(),
    };

    // `OwnerIds=self` alone also matches snapshots shared *to* us on some
    // endpoints; the owner-id filter pins the listing to the account itself.
    let mut pages = ctx
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(Filter::builder().name("owner-id").values(&ctx.account).build())
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut snapshots = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ScopeError::from_sdk("DescribeSnapshots", e))?;
        snapshots.extend(page.snapshots().iter().filter_map(|s| to_snapshot(&scope, s)));
    }

    // Owned ids: a borrowing closure here trips the compiler's Send check.
    let ids: Vec<(usize, String)> = snapshots.iter().map(|s| s.id.clone()).enumerate().collect();
    let shares: Vec<(usize, Result<Vec<Grantee>, ScopeError>)> = futures_util::stream::iter(ids)
        .map(|(i, id)| async move { (i, grantees(ctx, &id).await) })
        .buffer_unordered(ctx.max_concurrency.max(1))
        .collect()
        .await;

    let mut gone = Vec::new();
    let mut unknown_exposure = Vec::new();
    for (i, result) in shares {
        match result {
            Ok(list) => snapshots[i].grantees = list,
            // Deleted between the listing and the attribute call: it is gone.
            Err(e) if e.code == "InvalidSnapshot.NotFound" => gone.push(i),
            Err(_) => {
                snapshots[i].grantees_known = false;
                unknown_exposure.push(snapshots[i].id.clone());
            }
        }
    }
    gone.sort_unstable();
    for i in gone.into_iter().rev() {
        snapshots.swap_remove(i);
    }
    unknown_exposure.sort();

    Ok(ScopeListing { snapshots, unknown_exposure, block_public_access: Some(block_public_access(ctx).await) })
}

fn to_snapshot(scope: &Scope, s: &aws_sdk_ec2::types::Snapshot) -> Option<Snapshot> {
    let tags: BTreeMap<String, String> =
        s.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect();
    Some(Snapshot {
        scope: scope.clone(),
        id: s.snapshot_id()?.to_owned(),
        source_id: s.volume_id().filter(|v| *v != "vol-ffffffff").map(str::to_owned),
        created_at: s.start_time().and_then(|t| t.fmt(Format::DateTime).ok()),
        size_gib: s.volume_size().map(i64::from),
        encrypted: s.encrypted().unwrap_or(false),
        kms_key_id: s.kms_key_id().map(str::to_owned),
        description: s.description().filter(|d| !d.is_empty()).map(str::to_owned),
        state: s.state().map(|st| st.as_str().to_owned()),
        tags,
        grantees: Vec::new(),
        grantees_known: true,
    })
}

async fn grantees(ctx: &RegionContext, snapshot_id: &str) -> Result<Vec<Grantee>, ScopeError> {
    let out = ctx
        .ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot_id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(|e| ScopeError::from_sdk("DescribeSnapshotAttribute", e))?;
    let mut list: Vec<Grantee> = out
        .create_volume_permissions()
        .iter()
        .filter_map(|p| match (p.group(), p.user_id()) {
            (Some(PermissionGroup::All), _) => Some(Grantee::Public),
            (Some(group), _) => Some(Grantee::Group(group.as_str().to_owned())),
            (None, Some(user)) => Some(Grantee::Account(user.to_owned())),
            (None, None) => None,
        })
        .collect();
    list.sort();
    list.dedup();
    Ok(list)
}

/// `unknown` where the endpoint cannot say (older partitions, emulators):
/// the setting only qualifies findings, so it never fails the scan.
async fn block_public_access(ctx: &RegionContext) -> String {
    // Few retries: endpoints without the action answer 5xx, and each retry
    // would cost a backoff per region for nothing.
    let few_retries = aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
    match ctx.ec2.get_snapshot_block_public_access_state().customize().config_override(few_retries).send().await {
        Ok(out) => out.state().map_or("unknown", |s| s.as_str()).to_owned(),
        Err(_) => "unknown".to_owned(),
    }
}
