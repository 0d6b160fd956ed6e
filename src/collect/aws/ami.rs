//! AMIs the account owns, who may launch them (and so read every EBS
//! snapshot behind them, with no `createVolumePermission` on the snapshot),
//! where they were stored to Amazon S3 (`CreateStoreImageTask`: the image,
//! its snapshots decrypted, as an object in a bucket), and the region's
//! image block-public-access state.

use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::types::{ImageAttributeName, PermissionGroup};

use super::block_public_access;
use super::listing::{Page, list_all};
use super::shares::{ReadShares, fill_grantees};
use super::verify;
use super::{AwsCollector, BoxFuture, Meter, RegionContext, ScopeError, ScopeListing};
use crate::model::{AMI_SNAPSHOTS, Fields, Grantee, Scope, Service, Snapshot};

pub struct Images;

/// The largest page `DescribeImages` serves (EC2 API Reference,
/// DescribeImages `MaxResults`: 1-1000).
const PAGE_SIZE: i32 = 1000;

impl AwsCollector for Images {
    fn service(&self) -> Service {
        Service::Ami
    }

    fn permissions(&self) -> &'static [&'static str] {
        &[
            "ec2:DescribeImages",
            "ec2:DescribeImageAttribute",
            "ec2:GetImageBlockPublicAccessState",
            "ec2:DescribeStoreImageTasks",
        ]
    }

    fn collect<'a>(&'a self, ctx: &'a RegionContext) -> BoxFuture<'a, Result<ScopeListing, ScopeError>> {
        Box::pin(async move {
            let scope = ctx.scope(Service::Ami);
            // `Owners=self`: the account's own images, not those shared with it
            // or public ones (EC2 API Reference, DescribeImages `Owner`);
            // `public` lists only the public ones (`ExecutableUsers` `all`).
            let send = |public: bool, token: Option<String>| {
                ctx.ec2
                    .describe_images()
                    .owners("self")
                    .set_executable_users(public.then(|| vec!["all".to_owned()]))
                    .max_results(PAGE_SIZE)
                    .set_next_token(token)
                    .send()
            };
            let map = |counted: bool| {
                let scope = &scope;
                move |page: &DescribeImagesOutput| Page {
                    snapshots: page
                        .images()
                        .iter()
                        .filter(|i| i.owner_id().is_none_or(|o| o == ctx.account))
                        .filter_map(|i| to_snapshot(scope, i))
                        .collect(),
                    listed: if counted { page.images().len() } else { 0 },
                    next: page.next_token().map(str::to_owned),
                }
            };
            let listing = Meter::Ec2("DescribeImages");
            let mut images = list_all(ctx, listing, "DescribeImages", |t| send(false, t), map(true)).await?;
            attach_stores(ctx, &mut images).await?;
            let public = || async {
                let listed = list_all(ctx, listing, "DescribeImages", |t| send(true, t), map(false)).await?;
                Ok(listed.into_iter().map(|s| s.id).collect())
            };
            let selection = verify::select(ctx, Service::Ami, &mut images, Some(public)).await;
            let unread = fill_grantees(ctx, &mut images, |s| selection.must_read(s), self).await;
            let state = block_public_access::read(ctx, "GetImageBlockPublicAccessState", |few_retries| async move {
                let out =
                    ctx.ec2.get_image_block_public_access_state().customize().config_override(few_retries).send().await;
                out.map(|o| o.image_block_public_access_state().map(str::to_owned))
            })
            .await;
            Ok(ScopeListing {
                snapshots: images,
                unread,
                block_public_access: Some(state),
                verification: Some(selection),
            })
        })
    }
}

/// Record on each AMI its stores to S3 (`DescribeStoreImageTasks`, EC2 API
/// Reference: the tasks of the last 31 days, 200 a page) as the attribute
/// [`S3_EXPORTS`](crate::model::S3_EXPORTS): `store s3://BUCKET/OBJECT`. A denial fails the scope (a
/// gap naming the permission); an endpoint that does not implement the
/// action (an emulator: 5xx after two attempts) is skipped, visible with -v,
/// as the block public access state is.
async fn attach_stores(ctx: &RegionContext, images: &mut [Snapshot]) -> Result<(), ScopeError> {
    let mut stored: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let send = || {
            let request = ctx.ec2.describe_store_image_tasks().max_results(200).set_next_token(token.clone());
            request.customize().config_override(super::retry::few_attempts()).send()
        };
        let meter = Meter::Ec2("DescribeStoreImageTasks");
        let page = match super::retry::paced(|| ctx.pace(meter), "DescribeStoreImageTasks", send).await {
            Ok(page) => page,
            Err(e) if e.code.contains("Unauthorized") || e.code.contains("AccessDenied") => return Err(e),
            Err(e) => {
                tracing::info!(code = %e.code, region = %ctx.region, "DescribeStoreImageTasks unread: {}", e.message);
                return Ok(());
            }
        };
        for task in page.store_image_task_results() {
            let (Some(image), Some(bucket)) = (task.ami_id(), task.bucket()) else { continue };
            let object = task.s3object_key().unwrap_or_default();
            stored.entry(image.to_owned()).or_default().push(format!("store s3://{bucket}/{object}"));
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    for image in images.iter_mut() {
        if let Some(stores) = stored.remove(&image.id) {
            image.record_s3_exports(stores);
        }
    }
    Ok(())
}

impl ReadShares for Images {
    fn gone_code(&self) -> &'static str {
        "InvalidAMIID.NotFound"
    }

    fn permission(&self) -> &'static str {
        "ec2:DescribeImageAttribute"
    }

    fn read<'a>(&'a self, ctx: &'a RegionContext, id: String) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>> {
        Box::pin(async move {
            ctx.pace(Meter::Ec2("DescribeImageAttribute")).await;
            let out = ctx
                .ec2
                .describe_image_attribute()
                .image_id(id)
                .attribute(ImageAttributeName::LaunchPermission)
                .send()
                .await
                .map_err(|e| ScopeError::from_sdk("DescribeImageAttribute", e))?;
            // EC2 API Reference, LaunchPermission: exactly one of Group (`all`),
            // UserId, OrganizationArn, OrganizationalUnitArn per entry.
            Ok(out
                .launch_permissions()
                .iter()
                .filter_map(|p| {
                    if let Some(group) = p.group() {
                        return Some(match group {
                            PermissionGroup::All => Grantee::Public,
                            other => Grantee::Group(other.as_str().to_owned()),
                        });
                    }
                    p.user_id()
                        .map(|u| Grantee::Account(u.to_owned()))
                        .or_else(|| p.organization_arn().map(|a| Grantee::Organization(a.to_owned())))
                        .or_else(|| p.organizational_unit_arn().map(|a| Grantee::OrganizationalUnit(a.to_owned())))
                })
                .collect())
        })
    }
}

fn to_snapshot(scope: &Scope, image: &aws_sdk_ec2::types::Image) -> Option<Snapshot> {
    let tags = super::ebs::ec2_tags(image.tags());
    let ebs: Vec<&aws_sdk_ec2::types::EbsBlockDevice> =
        image.block_device_mappings().iter().filter_map(|m| m.ebs()).collect();
    let snapshot_ids: Vec<&str> = ebs.iter().filter_map(|e| e.snapshot_id()).collect();
    let mut attributes = Fields::new();
    attributes.insert(AMI_SNAPSHOTS.to_owned(), snapshot_ids.join(","));
    for (key, value) in [("name", image.name()), ("deprecationTime", image.deprecation_time())] {
        if let Some(value) = value {
            attributes.insert(key.to_owned(), value.to_owned());
        }
    }
    Some(Snapshot {
        scope: scope.clone(),
        id: image.image_id()?.to_owned(),
        kind: None,
        source_id: None,
        created_at: image.creation_date().map(str::to_owned),
        size_gib: Some(ebs.iter().filter_map(|e| e.volume_size()).map(i64::from).sum()),
        // Readable without a key of ours only if some volume is unencrypted.
        encrypted: !ebs.is_empty() && ebs.iter().all(|e| e.encrypted().unwrap_or(false)),
        kms_key_id: ebs.iter().find_map(|e| e.kms_key_id()).map(str::to_owned),
        description: image.description().filter(|d| !d.is_empty()).map(str::to_owned),
        state: image.state().map(|s| s.as_str().to_owned()),
        tags,
        grantees: Vec::new(),
        grantees_known: true,
        attributes,
    })
}
