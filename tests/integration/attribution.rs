//! Who made each change, end to end: the proxy records the write calls it
//! forwards as CloudTrail would (moto keeps no event history) and answers
//! `LookupEvents` from them, paged as CloudTrail pages.

use crate::common;

use common::proxy::Proxy;
use common::{Moto, Run, TempDir, delete, ec2, runtime, seed_snapshots, share, snapaudit};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";
/// The principal the proxy records for the tests' credentials.
const CALLER: &str = "arn:aws:iam::123456789012:user/AKIDTESTING";

fn change(run: &Run, kind: &str, id: &str) -> Value {
    run.records("change")
        .into_iter()
        .find(|c| c["kind"] == kind && c["snapshot_id"] == id)
        .unwrap_or_else(|| panic!("no {kind} of {id}: {run:?}"))
}

#[test]
fn a_share_and_a_deletion_name_who_made_them_and_a_denied_lookup_is_a_warning() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    // Written through the proxy, so its event history holds the calls.
    let client = ec2(&proxy.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 3, "attributed"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);

    let first = scan();
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(proxy.state.count("LookupEvents"), 0, "a baseline has no change to attribute");

    rt.block_on(async {
        share(&client, &ids[0], Some(OUTSIDER)).await;
        delete(&client, &ids[1]).await;
    });
    proxy.state.reset_counts();
    let second = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--output", "scan.html"]);
    assert_eq!(second.code, 1, "{second:?}");
    // The HTML report names the caller beside the finding and the change.
    let html = std::fs::read_to_string(dir.path().join("scan.html")).unwrap();
    assert!(html.matches(CALLER).count() >= 3, "external-share, share-added and the change: {html}");
    let shared = change(&second, "share-added", &ids[0]);
    assert_eq!(shared["actor"]["principal"], CALLER, "{shared}");
    assert_eq!(shared["actor"]["event_name"], "ModifySnapshotAttribute");
    assert_eq!(change(&second, "deleted", &ids[1])["actor"]["event_name"], "DeleteSnapshot");
    for rule in ["external-share", "share-added"] {
        let f = second.records("finding").into_iter().find(|f| f["rule"] == rule).expect(rule);
        assert_eq!(f["actor"]["principal"], CALLER, "{f}");
    }
    // The names of what changed (the share's two, the deletion's one), and
    // in the four scopes listed again their grant events (transient shares)
    // and creation and deletion events (transient snapshots: EBS 4, RDS 3,
    // clusters 3, AMIs 4); ModifySnapshotAttribute and DeleteSnapshot are in
    // both.
    assert_eq!(proxy.state.count("LookupEvents"), 1 + 4 + 14);
    // Stored: `report changes` names them too.
    let report = snapaudit(dir.path(), None, &["report", "changes", "--since", "1h", "--format", "jsonl"]);
    let stored = report.records("change").into_iter().find(|c| c["snapshot_id"] == ids[0].as_str()).unwrap();
    assert_eq!(stored["actor"]["principal"], CALLER, "{stored}");

    proxy.state.reset_counts();
    let quiet = scan();
    assert_eq!(proxy.state.count("LookupEvents"), 4 + 14, "nothing changed: the grant, creation and deletion events");
    assert!(quiet.changes().is_empty());

    // Denied: the change stands, with no actor; a warning, not a gap.
    proxy.state.set(|f| {
        f.deny_actions.insert("LookupEvents".into());
    });
    rt.block_on(share(&client, &ids[2], None));
    let denied = scan();
    assert_eq!(denied.code, 1, "the public share, and no gap: {denied:?}");
    assert_eq!(change(&denied, "share-added", &ids[2])["actor"], Value::Null);
    let ebs = denied.records("coverage").into_iter().find(|c| c["service"] == "ebs").unwrap();
    assert!(ebs["attribution"].as_str().unwrap().starts_with("denied"), "{ebs}");
    assert_eq!(denied.summary()["complete"], true);
    assert!(denied.stderr.contains("cloudtrail:LookupEvents"), "{}", denied.stderr);
}

/// Allowlists by caller: the policy names the principal (ARN glob) whose
/// routine snapshots are expected; another caller's are not.
#[test]
fn an_allowlisted_caller_is_suppressed_and_another_is_not() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    rt.block_on(seed_snapshots(&client, 1, "seed"));
    std::fs::write(
        dir.path().join("policy.yaml"),
        "version: 1\nallow:\n  - reason: the CI user's routine snapshots\n    principal: \"arn:aws:iam::*:user/AKIDTESTING\"\n    rules: [new-snapshot]\n",
    )
    .unwrap();
    let scan = || {
        snapaudit(
            dir.path(),
            Some(&proxy.url),
            &["scan", "--format", "jsonl", "--policy", "policy.yaml", "--show-suppressed", "--fail-on", "none"],
        )
    };
    assert_eq!(scan().code, 0);

    let other = aws_sdk_ec2::Client::from_conf(
        client
            .config()
            .to_builder()
            .credentials_provider(aws_sdk_ec2::config::Credentials::new("AKIDOTHER", "secret", None, None, "other"))
            .build(),
    );
    let (expected, unexpected) = rt.block_on(async {
        let expected = seed_snapshots(&client, 1, "ci").await.remove(0);
        let unexpected = seed_snapshots(&other, 1, "someone else").await.remove(0);
        (expected, unexpected)
    });
    let run = scan();
    let new = |id: &str| -> Value {
        run.records("finding")
            .into_iter()
            .find(|f| f["rule"] == "new-snapshot" && f["snapshot_id"] == id)
            .unwrap_or_else(|| panic!("no new-snapshot for {id}: {run:?}"))
    };
    let ci = new(&expected);
    assert_eq!(ci["status"], "suppressed", "{ci}");
    assert!(ci["suppressed_by"].as_str().unwrap().contains("the CI user's routine snapshots"), "{ci}");
    let someone = new(&unexpected);
    assert_eq!(someone["status"], "new", "{someone}");
    assert_eq!(someone["actor"]["principal"], "arn:aws:iam::123456789012:user/AKIDOTHER");
}

/// Regression (issue 16, section 3): a share added and removed between two
/// scans left no trace in the live state. CloudTrail keeps it: a
/// `transient-share` finding names the grantee, the time and the caller.
#[test]
fn a_share_added_and_removed_between_scans_is_a_transient_share() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 2, "transient"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(scan().code, 0);

    rt.block_on(async {
        share(&client, &ids[0], Some(OUTSIDER)).await;
        common::unshare(&client, &ids[0], OUTSIDER).await;
    });
    // Events of the scan's first second are the next scan's to judge.
    common::next_second();
    let run = scan();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.changes().is_empty(), "the live state shows nothing: {:?}", run.changes());
    let transient: Vec<Value> = run.records("finding").into_iter().filter(|f| f["rule"] == "transient-share").collect();
    assert_eq!(transient.len(), 1, "{run:?}");
    let f = &transient[0];
    assert_eq!((f["snapshot_id"].as_str(), f["severity"].as_str()), (Some(ids[0].as_str()), Some("high")));
    assert_eq!(f["grantees"], serde_json::json!([OUTSIDER]));
    assert_eq!(f["actor"]["principal"], CALLER);
    assert_eq!(f["mitre"], serde_json::json!(["T1537"]));
}

/// CloudTrail serves 50 events a page: a burst of 55 new snapshots is
/// attributed in full, every page followed.
#[test]
fn every_page_of_events_is_read() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    rt.block_on(seed_snapshots(&client, 1, "seed"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--fail-on", "none"]);
    assert_eq!(scan().code, 0);
    let burst = rt.block_on(seed_snapshots(&client, 55, "burst"));
    proxy.state.reset_counts();
    let run = scan();
    let added: Vec<Value> = run.records("change").into_iter().filter(|c| c["kind"] == "added").collect();
    assert_eq!(added.len(), burst.len(), "{run:?}");
    let attributed = added.iter().filter(|c| c["actor"]["event_name"] == "CreateSnapshot").count();
    assert_eq!(attributed, burst.len(), "every one of the 55, across two pages of 50");
    // CreateSnapshot's two pages; one each for the other 17 names: the
    // grant, creation and deletion events of the four services.
    assert_eq!(proxy.state.count("LookupEvents"), 2 + 17);
}

/// Regression (issue 16, section 3): a snapshot created and deleted between
/// two scans was never listed. CloudTrail keeps both calls: each is a
/// `transient-snapshot` finding naming the caller, and together they count
/// in the bursts. Without the rule, its lookups are not made.
#[test]
fn snapshots_created_and_deleted_between_scans_are_transient_and_count_in_the_bursts() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    rt.block_on(seed_snapshots(&client, 1, "seed"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--fail-on", "none"]);
    assert_eq!(scan().code, 0);

    let gone = rt.block_on(async {
        let ids = seed_snapshots(&client, 6, "copied and removed").await;
        for id in &ids {
            delete(&client, id).await;
        }
        ids
    });
    common::next_second();
    let run = scan();
    assert!(run.changes().is_empty(), "the live state shows nothing: {:?}", run.changes());
    let transient: Vec<Value> =
        run.records("finding").into_iter().filter(|f| f["rule"] == "transient-snapshot").collect();
    let mut found: Vec<&str> = transient.iter().map(|f| f["snapshot_id"].as_str().unwrap()).collect();
    found.sort();
    let mut expected: Vec<&str> = gone.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(found, expected, "{run:?}");
    assert_eq!(transient[0]["severity"], "info");
    assert_eq!(transient[0]["actor"]["principal"], CALLER);
    let rules: Vec<String> = run.all_findings().into_iter().map(|(rule, _, _)| rule).collect();
    assert!(rules.contains(&"bulk-creation".into()) && rules.contains(&"bulk-deletion".into()), "{rules:?}");

    // The rule switched off: no creation or deletion lookups.
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\nrules:\n  transient-snapshot: { enabled: false }\n")
        .unwrap();
    proxy.state.reset_counts();
    let off = snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--policy", "policy.yaml", "--fail-on", "none"],
    );
    assert!(off.records("finding").iter().all(|f| f["rule"] != "transient-snapshot"), "{off:?}");
    assert_eq!(proxy.state.count("LookupEvents"), 4, "only the grant events");
}

/// A burst of deletions names who deleted: the `bulk-deletion` finding
/// takes the caller CloudTrail names for its deletions.
#[test]
fn a_bulk_deletion_names_who_deleted() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 7, "backups"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl", "--fail-on", "none"]);
    assert_eq!(scan().code, 0);
    rt.block_on(async {
        for id in &ids[..6] {
            delete(&client, id).await;
        }
    });
    let run = scan();
    let burst =
        run.records("finding").into_iter().find(|f| f["rule"] == "bulk-deletion").unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(burst["actor"]["principal"], CALLER, "{burst}");
    assert_eq!(burst["actor"]["event_name"], "DeleteSnapshot");
}
