//! AMIs, end to end on moto behind the proxy: an AMI's launch permission is
//! another door to the EBS snapshots behind it (moto registers each image
//! with a snapshot of its own, shared with no one).

use crate::common;

use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, PermissionGroup};
use common::proxy::Proxy;
use common::{Moto, Run, TempDir, ec2, runtime, snapaudit};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";
const OWN_ORG: &str = "arn:aws:organizations::123456789012:organization/o-own0000001";
const FOREIGN_OU: &str = "arn:aws:organizations::888888888888:ou/o-foreign0001/ou-ab12-cd34ef56";

async fn register(client: &aws_sdk_ec2::Client, name: &str) -> (String, String) {
    let id = client.register_image().name(name).send().await.expect("RegisterImage").image_id.unwrap();
    let image = client.describe_images().image_ids(&id).send().await.expect("DescribeImages");
    let snapshot = image.images()[0].block_device_mappings()[0].ebs().unwrap().snapshot_id().unwrap().to_owned();
    (id, snapshot)
}

async fn launch(client: &aws_sdk_ec2::Client, image: &str, permission: LaunchPermission, add: bool) {
    let change = LaunchPermissionModifications::builder();
    let change = if add { change.add(permission) } else { change.remove(permission) };
    client
        .modify_image_attribute()
        .image_id(image)
        .launch_permission(change.build())
        .send()
        .await
        .expect("ModifyImageAttribute");
}

/// (rule, subject, status) of every finding, sorted.
fn findings(run: &Run) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> =
        run.records("finding").iter().map(|f| (text(&f["rule"]), text(&f["subject"]), text(&f["status"]))).collect();
    out.sort();
    out
}

fn finding(run: &Run, rule: &str, subject: &str) -> Value {
    run.records("finding")
        .into_iter()
        .find(|f| f["rule"] == rule && f["subject"] == subject)
        .unwrap_or_else(|| panic!("no {rule} on {subject}: {:?}", findings(run)))
}

#[test]
fn an_ami_exposes_the_snapshots_behind_it_until_unshared_or_deregistered() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| {
        f.image_block_public_access = Some("block-new-sharing".into());
        // moto serves one page; the proxy pages as EC2 does.
        f.page_size = Some(3);
    });
    let client = ec2(&moto.url, "us-east-1");
    let [(external, external_snap), (org, _), (ou, _), (public, public_snap)] = rt.block_on(async {
        let mut images = Vec::new();
        for name in ["external", "org", "ou", "public"] {
            images.push(register(&client, name).await);
        }
        launch(&client, &images[0].0, LaunchPermission::builder().user_id(OUTSIDER).build(), true).await;
        launch(&client, &images[1].0, LaunchPermission::builder().organization_arn(OWN_ORG).build(), true).await;
        launch(&client, &images[2].0, LaunchPermission::builder().organizational_unit_arn(FOREIGN_OU).build(), true)
            .await;
        launch(&client, &images[3].0, LaunchPermission::builder().group(PermissionGroup::All).build(), true).await;
        images.try_into().unwrap()
    });
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\ntrusted_organizations: [o-own0000001]\n").unwrap();
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--policy", "policy.yaml"]);

    let first = scan();
    assert_eq!(first.code, 1, "{first:?}");
    let ami = first.records("coverage").into_iter().find(|c| c["service"] == "ami").expect("an ami scope");
    assert_eq!(
        (ami["status"].as_str(), ami["block_public_access"].as_str()),
        (Some("complete"), Some("block-new-sharing"))
    );
    assert_eq!(first.summary()["snapshots"], 8, "4 AMIs and the 4 snapshots behind them");
    // One attribute call per AMI and per snapshot: nothing extra for the path.
    assert_eq!(proxy.state.count("DescribeImages"), 2, "4 AMIs in pages of 3");
    assert_eq!(proxy.state.count("DescribeImageAttribute"), 4);
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 4);

    let public_finding = finding(&first, "public-share", &public);
    assert_eq!(public_finding["service"], "ami");
    assert_eq!(public_finding["related"], serde_json::json!([public_snap]), "names the snapshot behind it");
    assert!(public_finding["message"].as_str().unwrap().contains(&public_snap), "{public_finding}");
    assert_eq!(finding(&first, "external-share", &external)["grantees"], serde_json::json!([OUTSIDER]));
    let foreign = finding(&first, "external-share", &ou);
    assert_eq!(foreign["grantees"], serde_json::json!([FOREIGN_OU]));
    assert!(foreign["message"].as_str().unwrap().contains("organizational unit ou-ab12-cd34ef56"), "{foreign}");
    let on_org: Vec<_> = findings(&first)
        .into_iter()
        .filter(|f| f.1 == org && f.0.ends_with("-share") && f.0 != "unencrypted-share")
        .collect();
    assert!(on_org.is_empty(), "a grant to a trusted organization is not external: {on_org:?}");
    assert!(
        first.records("finding").iter().all(|f| f["service"] == "ami"),
        "the snapshots themselves are shared with no one: {:?}",
        findings(&first)
    );

    // `report shared`: the snapshot behind the AMI is listed, the AMI its path.
    let shared = snapaudit(dir.path(), None, &["report", "shared", "--policy", "policy.yaml", "--format", "jsonl"]);
    let records = shared.records("shared_snapshot");
    let behind = records.iter().find(|r| r["snapshot_id"] == external_snap.as_str()).expect("the snapshot behind");
    assert_eq!((behind["service"].as_str(), behind["via"].clone()), (Some("ebs"), serde_json::json!([external])));
    assert_eq!(behind["grantees"], serde_json::json!([{"id": OUTSIDER, "kind": "external"}]));
    let trusted = records.iter().find(|r| r["snapshot_id"] == org.as_str()).expect("the org-shared AMI");
    assert_eq!(trusted["grantees"][0]["kind"], "trusted");

    // Unshare one, deregister another: both resolve, their paths go.
    rt.block_on(async {
        launch(&client, &external, LaunchPermission::builder().user_id(OUTSIDER).build(), false).await;
        client.deregister_image().image_id(&public).send().await.expect("DeregisterImage");
        launch(&client, &org, LaunchPermission::builder().user_id(OUTSIDER).build(), true).await;
    });
    let second = scan();
    assert_eq!(finding(&second, "external-share", &external)["status"], "resolved");
    assert_eq!(finding(&second, "public-share", &public)["status"], "resolved");
    let added = finding(&second, "share-added", &format!("{org} -> {OUTSIDER}"));
    assert_eq!((added["service"].as_str(), added["severity"].as_str()), (Some("ami"), Some("high")));
    let changes = second.changes();
    assert!(changes.contains(&("deleted".to_owned(), public.clone())), "{changes:?}");
    assert!(changes.contains(&("share-removed".to_owned(), external.clone())), "{changes:?}");
    let shared = snapaudit(dir.path(), None, &["report", "shared", "--policy", "policy.yaml", "--format", "jsonl"]);
    let paths: Vec<Value> = shared.records("shared_snapshot").iter().map(|r| r["via"].clone()).collect();
    assert!(
        !paths.iter().any(|v| v.as_array().unwrap().iter().any(|a| *a == external.as_str() || *a == public.as_str())),
        "{paths:?}"
    );
}

/// With `--org`, an AMI shared with the scanned organization is trusted
/// like its accounts (its id is read from the account ARNs `ListAccounts`
/// answers); one shared with another organization is external.
#[test]
fn an_ami_shared_with_the_own_organization_is_trusted_and_another_is_external() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let (org, _) = common::organization(&moto, &["workloads"]);
    let client = ec2(&moto.url, "us-east-1");
    let (own, other) = rt.block_on(async {
        let arn = org.describe_organization().send().await.unwrap().organization.unwrap().arn.unwrap();
        let foreign = "arn:aws:organizations::777777777777:organization/o-other000001";
        let (own, _) = register(&client, "own").await;
        let (other, _) = register(&client, "other").await;
        launch(&client, &own, LaunchPermission::builder().organization_arn(arn).build(), true).await;
        launch(&client, &other, LaunchPermission::builder().organization_arn(foreign).build(), true).await;
        (own, other)
    });
    let run = snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--assume-role", "OrganizationAccountAccessRole", "--org"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let external: Vec<String> = findings(&run).into_iter().filter(|f| f.0 == "external-share").map(|f| f.1).collect();
    assert_eq!(external, std::slice::from_ref(&other), "the own organization is trusted, {own} is not external");
    assert!(
        finding(&run, "external-share", &other)["message"].as_str().unwrap().contains("organization o-other000001")
    );
}
