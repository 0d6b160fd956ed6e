//! RDS DB snapshots and cluster snapshots, with who may restore them (the
//! `restore` attribute) and where they were exported to Amazon S3
//! (`DescribeExportTasks`: the data in a bucket, possibly another
//! account's, with no share). Automated snapshots cannot be shared, so they
//! cost no attribute call. Each has its typed mapper; the listing loop and
//! the share reading are shared with the other AWS collectors.

use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput;
use aws_sdk_rds::types::{DbClusterSnapshot, DbSnapshot};
use aws_smithy_types::date_time::Format;

use super::listing::{Page, list_all};
use super::shares::{ReadShares, fill_grantees, restore_grantees};
use super::verify;
use super::{AwsCollector, BoxFuture, Meter, RegionContext, ScopeError, ScopeListing};
use crate::model::{Fields, Grantee, Scope, Service, Snapshot};

/// The largest page the RDS describe calls serve.
const PAGE_SIZE: i32 = 100;

/// Record on each listed snapshot the S3 exports RDS lists for it
/// (`DescribeExportTasks`, RDS API Reference: every export task of the
/// account and region, kept after it ends), as the attribute
/// [`S3_EXPORTS`](crate::model::S3_EXPORTS): `TASK s3://BUCKET/PREFIX`, sorted, comma-separated. Its
/// status is left out, so a task that runs on is no change. `kind` is the
/// ARN's resource type of the scope's snapshots (`snapshot`,
/// `cluster-snapshot`).
async fn attach_exports(ctx: &RegionContext, kind: &str, snapshots: &mut [Snapshot]) -> Result<(), ScopeError> {
    let mut by_snapshot: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let send = || ctx.rds.describe_export_tasks().max_records(PAGE_SIZE).set_marker(marker.clone()).send();
        let page = super::retry::paced(|| ctx.pace(Meter::Rds), "DescribeExportTasks", send).await?;
        for task in page.export_tasks() {
            let Some((owner, of_kind, id)) = task.source_arn().and_then(rds_arn) else { continue };
            if owner != ctx.account || of_kind != kind {
                continue;
            }
            let bucket = task.s3_bucket().unwrap_or("?");
            let place = match task.s3_prefix().filter(|p| !p.is_empty()) {
                Some(prefix) => format!("s3://{bucket}/{prefix}"),
                None => format!("s3://{bucket}"),
            };
            let name = task.export_task_identifier().unwrap_or("?");
            by_snapshot.entry(id.to_owned()).or_default().push(format!("{name} {place}"));
        }
        marker = page.marker().filter(|m| !m.is_empty()).map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    for s in snapshots.iter_mut() {
        if let Some(exports) = by_snapshot.remove(&s.id) {
            s.record_s3_exports(exports);
        }
    }
    Ok(())
}

/// (account, kind, identifier) of an RDS snapshot ARN
/// (`arn:PARTITION:rds:REGION:ACCOUNT:snapshot:NAME`, kind `cluster-snapshot`
/// for a cluster's; an automated snapshot's name keeps its `rds:` prefix).
pub(super) fn rds_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.strip_prefix("arn:")?.splitn(6, ':');
    let (service, account, kind, name) = (parts.nth(1)?, parts.nth(1)?, parts.next()?, parts.next()?);
    (service == "rds" && matches!(kind, "snapshot" | "cluster-snapshot")).then_some((account, kind, name))
}

/// The ARN names one of `account`'s snapshots of `kind`: a public listing
/// names every account's, by ARN.
fn own_snapshot(arn: Option<&str>, account: &str, kind: &str) -> bool {
    arn.and_then(rds_arn).is_some_and(|(owner, k, _)| owner == account && k == kind)
}

/// AWS refuses to share automated snapshots; their exposure is always none.
fn shareable(s: &Snapshot) -> bool {
    s.kind.as_deref() != Some("automated")
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> Fields {
    list.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}

/// The grantees in an RDS `restore` attribute, from (name, values) pairs.
fn restore_attribute<'a>(attributes: impl Iterator<Item = (Option<&'a str>, &'a [String])>) -> Vec<Grantee> {
    attributes.filter(|(name, _)| *name == Some("restore")).flat_map(|(_, values)| restore_grantees(values)).collect()
}

/// Share lists, then the scope's listing, for either RDS collector.
/// `public` lists the ids of the scope's public snapshots: an incremental
/// scan re-reads every list it disagrees with, events or not.
async fn finish<F, Fut>(
    ctx: &RegionContext,
    service: Service,
    mut snapshots: Vec<Snapshot>,
    reader: &dyn ReadShares,
    public: F,
) -> Result<ScopeListing, ScopeError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<std::collections::BTreeSet<String>, ScopeError>>,
{
    let selection = verify::select(ctx, service, &mut snapshots, Some(public)).await;
    let unread = fill_grantees(ctx, &mut snapshots, |s| shareable(s) && selection.must_read(s), reader).await;
    Ok(ScopeListing { snapshots, unread, block_public_access: None, verification: Some(selection) })
}

pub struct RdsDbSnapshots;

impl AwsCollector for RdsDbSnapshots {
    fn service(&self) -> Service {
        Service::Rds
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes", "rds:DescribeExportTasks"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = ctx.scope(Service::Rds);
            // `public`: RDS API Reference, DescribeDBSnapshots,
            // `SnapshotType=public` with `IncludePublic` lists every public
            // DB snapshot of the region, any account's, named by ARN: this
            // account's are picked by it.
            let send = |public: bool, marker| {
                let request = ctx.rds.describe_db_snapshots().max_records(PAGE_SIZE).set_marker(marker);
                let request = request.set_snapshot_type(public.then(|| "public".to_owned()));
                request.set_include_public(public.then_some(true)).send()
            };
            let map = |public: bool| {
                let scope = &scope;
                move |page: &DescribeDbSnapshotsOutput| Page {
                    snapshots: page
                        .db_snapshots()
                        .iter()
                        .filter(|s| !public || own_snapshot(s.db_snapshot_arn(), &ctx.account, "snapshot"))
                        .filter_map(|s| db_snapshot(scope, s, public))
                        .collect(),
                    listed: if public { 0 } else { page.db_snapshots().len() },
                    next: page.marker().map(str::to_owned),
                }
            };
            let action = "DescribeDBSnapshots";
            let mut listed = list_all(ctx, Meter::Rds, action, |m| send(false, m), map(false)).await?;
            attach_exports(ctx, "snapshot", &mut listed).await?;
            let public = || async {
                let listed = list_all(ctx, Meter::Rds, action, |m| send(true, m), map(true)).await?;
                Ok(listed.into_iter().map(|s| s.id).collect())
            };
            finish(ctx, Service::Rds, listed, self, public).await
        })
    }
}

/// `by_arn`: the identifier from the ARN, as a public listing names
/// another account's snapshots only by it.
fn db_snapshot(scope: &Scope, s: &DbSnapshot, by_arn: bool) -> Option<Snapshot> {
    let id = if by_arn { rds_arn(s.db_snapshot_arn()?)?.2 } else { s.db_snapshot_identifier()? };
    Some(Snapshot {
        scope: scope.clone(),
        id: id.to_owned(),
        kind: s.snapshot_type().map(str::to_owned),
        source_id: s.db_instance_identifier().map(str::to_owned),
        created_at: rfc3339(s.snapshot_create_time()),
        size_gib: s.allocated_storage().map(i64::from),
        encrypted: s.encrypted().unwrap_or(false),
        kms_key_id: s.kms_key_id().map(str::to_owned),
        description: None,
        state: s.status().map(str::to_owned),
        tags: tags(s.tag_list()),
        grantees: Vec::new(),
        grantees_known: true,
        attributes: engine(s.engine()),
    })
}

impl ReadShares for RdsDbSnapshots {
    fn gone_code(&self) -> &'static str {
        "DBSnapshotNotFound"
    }

    fn permission(&self) -> &'static str {
        "rds:DescribeDBSnapshotAttributes"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace(Meter::Rds).await;
            let out = ctx
                .rds
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map_err(|e| ScopeError::from_sdk("DescribeDBSnapshotAttributes", e))?;
            let attributes =
                out.db_snapshot_attributes_result().map(|r| r.db_snapshot_attributes()).unwrap_or_default();
            Ok(restore_attribute(attributes.iter().map(|a| (a.attribute_name(), a.attribute_values()))))
        })
    }
}

pub struct RdsClusterSnapshots;

impl AwsCollector for RdsClusterSnapshots {
    fn service(&self) -> Service {
        Service::RdsCluster
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes", "rds:DescribeExportTasks"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = ctx.scope(Service::RdsCluster);
            // `public` as for DB snapshots (RDS API Reference,
            // DescribeDBClusterSnapshots).
            let send = |public: bool, marker| {
                let request = ctx.rds.describe_db_cluster_snapshots().max_records(PAGE_SIZE).set_marker(marker);
                let request = request.set_snapshot_type(public.then(|| "public".to_owned()));
                request.set_include_public(public.then_some(true)).send()
            };
            let map = |public: bool| {
                let scope = &scope;
                move |page: &DescribeDbClusterSnapshotsOutput| Page {
                    snapshots: page
                        .db_cluster_snapshots()
                        .iter()
                        .filter(|s| {
                            !public || own_snapshot(s.db_cluster_snapshot_arn(), &ctx.account, "cluster-snapshot")
                        })
                        .filter_map(|s| cluster_snapshot(scope, s, public))
                        .collect(),
                    listed: if public { 0 } else { page.db_cluster_snapshots().len() },
                    next: page.marker().map(str::to_owned),
                }
            };
            let action = "DescribeDBClusterSnapshots";
            let mut listed = list_all(ctx, Meter::Rds, action, |m| send(false, m), map(false)).await?;
            attach_exports(ctx, "cluster-snapshot", &mut listed).await?;
            let public = || async {
                let listed = list_all(ctx, Meter::Rds, action, |m| send(true, m), map(true)).await?;
                Ok(listed.into_iter().map(|s| s.id).collect())
            };
            finish(ctx, Service::RdsCluster, listed, self, public).await
        })
    }
}

/// `by_arn` as for [`db_snapshot`].
fn cluster_snapshot(scope: &Scope, s: &DbClusterSnapshot, by_arn: bool) -> Option<Snapshot> {
    let id = if by_arn { rds_arn(s.db_cluster_snapshot_arn()?)?.2 } else { s.db_cluster_snapshot_identifier()? };
    Some(Snapshot {
        scope: scope.clone(),
        id: id.to_owned(),
        kind: s.snapshot_type().map(str::to_owned),
        source_id: s.db_cluster_identifier().map(str::to_owned),
        created_at: rfc3339(s.snapshot_create_time()),
        size_gib: s.allocated_storage().map(i64::from),
        encrypted: s.storage_encrypted().unwrap_or(false),
        kms_key_id: s.kms_key_id().map(str::to_owned),
        description: None,
        state: s.status().map(str::to_owned),
        tags: tags(s.tag_list()),
        grantees: Vec::new(),
        grantees_known: true,
        attributes: engine(s.engine()),
    })
}

impl ReadShares for RdsClusterSnapshots {
    fn gone_code(&self) -> &'static str {
        "DBClusterSnapshotNotFoundFault"
    }

    fn permission(&self) -> &'static str {
        "rds:DescribeDBClusterSnapshotAttributes"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace(Meter::Rds).await;
            let out = ctx
                .rds
                .describe_db_cluster_snapshot_attributes()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map_err(|e| ScopeError::from_sdk("DescribeDBClusterSnapshotAttributes", e))?;
            let attributes = out
                .db_cluster_snapshot_attributes_result()
                .map(|r| r.db_cluster_snapshot_attributes())
                .unwrap_or_default();
            Ok(restore_attribute(attributes.iter().map(|a| (a.attribute_name(), a.attribute_values()))))
        })
    }
}

/// The engine, recorded because the RDS API also serves DocumentDB and
/// Neptune clusters (`docdb`, `neptune`): a report names them, not Aurora.
fn engine(engine: Option<&str>) -> Fields {
    let mut attributes = Fields::new();
    if let Some(engine) = engine {
        attributes.insert("engine".to_owned(), engine.to_owned());
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::{own_snapshot, rds_arn};

    #[test]
    fn a_public_listing_keeps_only_the_accounts_own_snapshots() {
        let arn = |account: &str, kind: &str| format!("arn:aws:rds:us-east-1:{account}:{kind}:orders-2026");
        assert!(own_snapshot(Some(&arn("111111111111", "snapshot")), "111111111111", "snapshot"));
        assert!(!own_snapshot(Some(&arn("222222222222", "snapshot")), "111111111111", "snapshot"));
        assert!(!own_snapshot(Some(&arn("111111111111", "cluster-snapshot")), "111111111111", "snapshot"));
        assert!(!own_snapshot(None, "111111111111", "snapshot"));
        assert_eq!(rds_arn(&arn("111111111111", "snapshot")), Some(("111111111111", "snapshot", "orders-2026")));
        // Automated snapshots keep their `rds:` prefix in the name.
        let automated = "arn:aws:rds:us-east-1:111111111111:snapshot:rds:orders-2026-12-07-03-00";
        assert_eq!(rds_arn(automated).map(|a| a.2), Some("rds:orders-2026-12-07-03-00"));
        assert_eq!(rds_arn("arn:aws:ec2:us-east-1:111111111111:snapshot/snap-1"), None);
    }
}
