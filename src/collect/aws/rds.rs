//! RDS DB snapshots and cluster snapshots, with who may restore them (the
//! `restore` attribute). Automated snapshots cannot be shared, so they cost
//! no attribute call.

use aws_smithy_types::date_time::Format;

use super::retry::outlasting;
use super::shares::{ReadShares, fill_grantees, restore_grantees};
use super::{AwsCollector, BoxFuture, RegionContext, ScopeError, ScopeListing};
use crate::model::{Fields, Grantee, Provider, Scope, Service, Snapshot};

/// The largest page the RDS describe calls serve.
const PAGE_SIZE: i32 = 100;

/// AWS refuses to share automated snapshots; their exposure is always none.
fn shareable(s: &Snapshot) -> bool {
    s.kind.as_deref() != Some("automated")
}

fn scope(ctx: &RegionContext, service: Service) -> Scope {
    Scope { provider: Provider::Aws, service, account: ctx.account.clone(), region: ctx.region.clone() }
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> Fields {
    list.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(Format::DateTime).ok())
}

pub struct RdsDbSnapshots;

impl AwsCollector for RdsDbSnapshots {
    fn service(&self) -> Service {
        Service::Rds
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = scope(ctx, Service::Rds);
            let mut snapshots = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let from = marker.take();
                let page = outlasting(|| {
                    let request = ctx.rds.describe_db_snapshots().max_records(PAGE_SIZE).set_marker(from.clone());
                    async move {
                        ctx.pace("DescribeDBSnapshots").await;
                        request.send().await.map_err(|e| ScopeError::from_sdk("DescribeDBSnapshots", e))
                    }
                })
                .await?;
                for s in page.db_snapshots() {
                    let Some(id) = s.db_snapshot_identifier() else { continue };
                    snapshots.push(Snapshot {
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
                        attributes: Fields::new(),
                    });
                }
                ctx.progress.listed(page.db_snapshots().len());
                marker = page.marker().filter(|m| !m.is_empty()).map(str::to_owned);
                if marker.is_none() {
                    break;
                }
            }
            let unknown_exposure = fill_grantees(ctx, &mut snapshots, shareable, self).await;
            Ok(ScopeListing { snapshots, unknown_exposure, block_public_access: None })
        })
    }
}

impl ReadShares for RdsDbSnapshots {
    fn gone_code(&self) -> &'static str {
        "DBSnapshotNotFound"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace("DescribeDBSnapshotAttributes").await;
            let out = ctx
                .rds
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map_err(|e| ScopeError::from_sdk("DescribeDBSnapshotAttributes", e))?;
            let attributes =
                out.db_snapshot_attributes_result().map(|r| r.db_snapshot_attributes()).unwrap_or_default();
            Ok(attributes
                .iter()
                .filter(|a| a.attribute_name() == Some("restore"))
                .flat_map(|a| restore_grantees(a.attribute_values()))
                .collect())
        })
    }
}

pub struct RdsClusterSnapshots;

impl AwsCollector for RdsClusterSnapshots {
    fn service(&self) -> Service {
        Service::RdsCluster
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = scope(ctx, Service::RdsCluster);
            let mut snapshots = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let from = marker.take();
                let page = outlasting(|| {
                    let request =
                        ctx.rds.describe_db_cluster_snapshots().max_records(PAGE_SIZE).set_marker(from.clone());
                    async move {
                        ctx.pace("DescribeDBClusterSnapshots").await;
                        request.send().await.map_err(|e| ScopeError::from_sdk("DescribeDBClusterSnapshots", e))
                    }
                })
                .await?;
                for s in page.db_cluster_snapshots() {
                    let Some(id) = s.db_cluster_snapshot_identifier() else { continue };
                    snapshots.push(Snapshot {
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
                        attributes: Fields::new(),
                    });
                }
                ctx.progress.listed(page.db_cluster_snapshots().len());
                marker = page.marker().filter(|m| !m.is_empty()).map(str::to_owned);
                if marker.is_none() {
                    break;
                }
            }
            let unknown_exposure = fill_grantees(ctx, &mut snapshots, shareable, self).await;
            Ok(ScopeListing { snapshots, unknown_exposure, block_public_access: None })
        })
    }
}

impl ReadShares for RdsClusterSnapshots {
    fn gone_code(&self) -> &'static str {
        "DBClusterSnapshotNotFoundFault"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace("DescribeDBClusterSnapshotAttributes").await;
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
            Ok(attributes
                .iter()
                .filter(|a| a.attribute_name() == Some("restore"))
                .flat_map(|a| restore_grantees(a.attribute_values()))
                .collect())
        })
    }
}
