//! End-to-end: the detection engine on a real scan of moto. A baseline, then
//! a burst of snapshots of one volume, a bulk deletion, an external share and
//! a change-managed snapshot: exactly the expected findings, statuses and
//! scores; then the same findings stay `open`, and an unshare resolves.

use crate::common;

use std::collections::BTreeMap;

use common::{Moto, Run, TempDir, delete, ec2, runtime, seed_snapshots, share, snapaudit};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";

/// Every creation is off-hours whatever the clock says (no business day), so
/// the scores of the burst are deterministic; the change tag marks expected work.
const POLICY: &str = r#"version: 1
rules:
  off-hours-creation:
    business_days: []
allow:
  - reason: change-managed (CHG-42)
    tag: change-ticket
"#;

/// (rule, subject or "source" for a burst, status) -> (severity, score), for findings listed.
fn table(run: &Run) -> BTreeMap<(String, String, String), (String, u64)> {
    run.records("finding")
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_else(|| panic!("{k} in {f}")).to_owned();
            let mut subject = text("subject");
            if subject.starts_with("source vol-") {
                subject = "source".into();
            } else if subject.starts_with("deletions seen ") {
                subject = "deletions".into();
            }
            ((text("rule"), subject, text("status")), (text("severity"), f["score"].as_u64().unwrap()))
        })
        .collect()
}

fn key(rule: &str, subject: &str, status: &str) -> (String, String, String) {
    (rule.to_owned(), subject.to_owned(), status.to_owned())
}

#[test]
fn burst_deletion_share_and_change_tag_then_open_then_resolved() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    std::fs::write(dir.path().join("policy.yaml"), POLICY).unwrap();
    let client = ec2(&moto.url, "us-east-1");
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--format", "jsonl", "--region", "us-east-1", "--policy", "policy.yaml"];
        args.extend_from_slice(extra);
        snapaudit(dir.path(), Some(&moto.url), &args)
    };

    let old = rt.block_on(seed_snapshots(&client, 7, "nightly"));
    let baseline = scan(&[]);
    assert_eq!(baseline.code, 0, "{baseline:?}");
    assert!(baseline.records("finding").is_empty(), "a baseline raises nothing here: {baseline:?}");

    let burst = rt.block_on(seed_snapshots(&client, 8, "copy"));
    let (shared, tagged) = (&burst[0], &burst[1]);
    rt.block_on(async {
        client.create_tags().resources(tagged).tags(tag("change-ticket", "CHG-42")).send().await.unwrap();
        share(&client, shared, Some(OUTSIDER)).await;
        for id in &old {
            delete(&client, id).await;
        }
    });

    let second = scan(&[]);
    assert_eq!(second.code, 1, "high findings exit 1: {second:?}");
    let mut expected = BTreeMap::new();
    expected.insert(key("bulk-creation", "source", "new"), ("medium".to_owned(), 3));
    expected.insert(key("bulk-deletion", "deletions", "new"), ("high".to_owned(), 2));
    expected.insert(key("external-share", shared, "new"), ("high".to_owned(), 3));
    expected.insert(key("unencrypted-share", shared, "new"), ("high".to_owned(), 3));
    expected.insert(key("share-added", &format!("{shared} -> {OUTSIDER}"), "new"), ("high".to_owned(), 3));
    for id in burst.iter().filter(|id| *id != tagged) {
        expected.insert(key("new-snapshot", id, "new"), ("info".to_owned(), 1));
        expected.insert(key("off-hours-creation", id, "new"), ("low".to_owned(), 3));
    }
    assert_eq!(table(&second), expected, "{}", second.stdout);

    let findings = second.records("finding");
    let bulk = findings.iter().find(|f| f["rule"] == "bulk-creation").unwrap();
    assert_eq!(bulk["related"].as_array().unwrap().len(), 7, "the tagged snapshot does not count: {bulk}");
    assert_eq!(bulk["mitre"], serde_json::json!(["T1578.001"]));
    let deletion = findings.iter().find(|f| f["rule"] == "bulk-deletion").unwrap();
    assert_eq!(deletion["mitre"], serde_json::json!(["T1485", "T1490"]));
    assert_eq!(deletion["related"].as_array().unwrap().len(), 7);
    let summary = second.summary();
    assert_eq!(summary["findings_by_status"]["suppressed"], 2, "new-snapshot and off-hours of the tagged one");
    let first_seen = |run: &Run, rule: &str| -> Value {
        run.records("finding").into_iter().find(|f| f["rule"] == rule).unwrap()["first_seen"].clone()
    };

    // The next, unchanged scan: the same findings, now open, first seen kept.
    let third = scan(&["--show-suppressed"]);
    let open: BTreeMap<_, _> =
        expected.iter().map(|((rule, subject, _), v)| (key(rule, subject, "open"), v.clone())).collect();
    let mut listed = table(&third);
    let suppressed: Vec<_> = listed.keys().filter(|(_, _, status)| status == "suppressed").cloned().collect();
    assert_eq!(
        suppressed,
        vec![key("new-snapshot", tagged, "suppressed"), key("off-hours-creation", tagged, "suppressed")],
        "listed with --show-suppressed"
    );
    listed.retain(|(_, _, status), _| status != "suppressed");
    assert_eq!(listed, open, "{}", third.stdout);
    assert_eq!(first_seen(&third, "bulk-deletion"), first_seen(&second, "bulk-deletion"));
    assert_eq!(first_seen(&third, "external-share"), first_seen(&second, "external-share"));
    let reason = third.records("finding").into_iter().find(|f| f["status"] == "suppressed").unwrap();
    assert!(reason["suppressed_by"].as_str().unwrap().contains("CHG-42"), "{reason}");

    // Unshared: the exposure findings resolve; the share event stays open.
    rt.block_on(async {
        client
            .modify_snapshot_attribute()
            .snapshot_id(shared)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .operation_type(aws_sdk_ec2::types::OperationType::Remove)
            .user_ids(OUTSIDER)
            .send()
            .await
            .unwrap();
    });
    let fourth = scan(&[]);
    let statuses = table(&fourth);
    assert!(statuses.contains_key(&key("external-share", shared, "resolved")), "{}", fourth.stdout);
    assert!(statuses.contains_key(&key("unencrypted-share", shared, "resolved")), "{}", fourth.stdout);
    assert!(statuses.contains_key(&key("share-added", &format!("{shared} -> {OUTSIDER}"), "open")));
    assert_eq!(fourth.code, 1, "the bulk deletion (high) is still open: {fourth:?}");

    let fifth = scan(&[]);
    assert!(
        !table(&fifth).keys().any(|(_, _, status)| status == "resolved"),
        "a resolution is reported once: {}",
        fifth.stdout
    );
}

fn tag(key: &str, value: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(key).value(value).build()
}

/// A burst that began before the previous scan: its earlier snapshots are
/// unchanged and unshared, so the diff leaves them on disk, yet the burst
/// counts them (the scan loads what was created within the rule's window
/// before each new snapshot).
#[test]
fn a_burst_counts_the_snapshots_listed_before_it() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let client = ec2(&moto.url, "us-east-1");
    let scan = || snapaudit(dir.path(), Some(&moto.url), &["scan", "--format", "jsonl", "--region", "us-east-1"]);
    let before = rt.block_on(seed_snapshots(&client, 4, "nightly"));
    let baseline = scan();
    assert!(baseline.records("finding").is_empty(), "{baseline:?}");

    let after = rt.block_on(seed_snapshots(&client, 3, "copy"));
    let second = scan();
    let bursts: Vec<Value> = second.records("finding").into_iter().filter(|f| f["rule"] == "bulk-creation").collect();
    assert_eq!(bursts.len(), 1, "{}", second.stdout);
    let mut related: Vec<String> =
        bursts[0]["related"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    related.sort();
    let mut all: Vec<String> = before.into_iter().chain(after).collect();
    all.sort();
    assert_eq!(related, all, "the four listed before count with the three new: {}", bursts[0]);
}
