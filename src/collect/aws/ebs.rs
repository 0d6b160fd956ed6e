//! EBS snapshots owned by the account, who may create volumes from them, and
//! the region's snapshot block-public-access state.

use aws_sdk_ec2::types::{Filter, PermissionGroup, SnapshotAttributeName};
use aws_smithy_types::date_time::Format;

use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;

use super::block_public_access;
use super::listing::{Page, list_all};
use super::shares::{ReadShares, fill_grantees};
use super::verify;
use super::{AwsCollector, BoxFuture, Meter, RegionContext, ScopeError, ScopeListing};
use crate::model::{Fields, Grantee, Scope, Service, Snapshot};

pub struct EbsSnapshots;

/// The largest page `DescribeSnapshots` serves.
const PAGE_SIZE: i32 = 1000;

impl AwsCollector for EbsSnapshots {
    fn service(&self) -> Service {
        Service::Ebs
    }

    fn permissions(&self) -> &'static [&'static str] {
        &["ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute", "ec2:GetSnapshotBlockPublicAccessState"]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = ctx.scope(Service::Ebs);
            // `OwnerIds=self` alone also matches snapshots shared *to* us on some
            // endpoints; the owner-id filter pins the listing to the account itself.
            // `public` lists only the public ones (EC2 API Reference,
            // DescribeSnapshots: `RestorableByUserIds` `all`).
            let send = |public: bool, token: Option<String>| {
                ctx.ec2
                    .describe_snapshots()
                    .owner_ids("self")
                    .filters(Filter::builder().name("owner-id").values(&ctx.account).build())
                    .set_restorable_by_user_ids(public.then(|| vec!["all".to_owned()]))
                    .max_results(PAGE_SIZE)
                    .set_next_token(token)
                    .send()
            };
            let map = |counted: bool| {
                let scope = &scope;
                move |page: &DescribeSnapshotsOutput| Page {
                    snapshots: page.snapshots().iter().filter_map(|s| to_snapshot(scope, s)).collect(),
                    listed: if counted { page.snapshots().len() } else { 0 },
                    next: page.next_token().map(str::to_owned),
                }
            };
            let listing = Meter::Ec2("DescribeSnapshots");
            let mut snapshots = list_all(ctx, listing, "DescribeSnapshots", |t| send(false, t), map(true)).await?;
            // The state first: with `block-all-sharing` AWS keeps a snapshot's
            // "public" attribute but lists it as public to no one ("Block
            // public access for snapshots", Amazon EBS User Guide), so the
            // public listing cannot disagree with a carried list: not read.
            let state = block_public_access::read(ctx, "GetSnapshotBlockPublicAccessState", |few_retries| async move {
                let out = ctx
                    .ec2
                    .get_snapshot_block_public_access_state()
                    .customize()
                    .config_override(few_retries)
                    .send()
                    .await;
                out.map(|o| o.state().map(|s| s.as_str().to_owned()))
            })
            .await;
            let public = || async {
                let listed = list_all(ctx, listing, "DescribeSnapshots", |t| send(true, t), map(false)).await?;
                Ok(listed.into_iter().map(|s| s.id).collect())
            };
            let public = (state != "block-all-sharing").then_some(public);
            let selection = verify::select(ctx, Service::Ebs, &mut snapshots, public).await;
            let unread = fill_grantees(ctx, &mut snapshots, |s| selection.must_read(s), self).await;
            Ok(ScopeListing { snapshots, unread, block_public_access: Some(state), verification: Some(selection) })
        })
    }
}

impl ReadShares for EbsSnapshots {
    fn gone_code(&self) -> &'static str {
        "InvalidSnapshot.NotFound"
    }

    fn permission(&self) -> &'static str {
        "ec2:DescribeSnapshotAttribute"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace(Meter::Ec2("DescribeSnapshotAttribute")).await;
            let out = ctx
                .ec2
                .describe_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .send()
                .await
                .map_err(|e| ScopeError::from_sdk("DescribeSnapshotAttribute", e))?;
            Ok(out
                .create_volume_permissions()
                .iter()
                .filter_map(|p| match (p.group(), p.user_id()) {
                    (Some(PermissionGroup::All), _) => Some(Grantee::Public),
                    (Some(group), _) => Some(Grantee::Group(group.as_str().to_owned())),
                    (None, Some(user)) => Some(Grantee::Account(user.to_owned())),
                    (None, None) => None,
                })
                .collect())
        })
    }
}

/// EC2 tags (snapshots and images alike) as a snapshot's `tags`.
pub(super) fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Fields {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

fn to_snapshot(scope: &Scope, s: &aws_sdk_ec2::types::Snapshot) -> Option<Snapshot> {
    let tags = ec2_tags(s.tags());
    Some(Snapshot {
        scope: scope.clone(),
        id: s.snapshot_id()?.to_owned(),
        kind: None,
        // vol-ffffffff marks a snapshot copied from elsewhere: no source volume.
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
        attributes: Fields::new(),
    })
}
