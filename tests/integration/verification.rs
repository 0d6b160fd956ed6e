//! Incremental share verification (policy `verification: incremental`): a
//! rescan reads the share lists of new snapshots, of those CloudTrail names
//! in a share event, of those the public listing disagrees about, and a
//! rotating slice; every other snapshot carries its last read list. The
//! proxy records the write calls it forwards as CloudTrail (moto keeps no
//! history) and answers `RestorableBy=all` (which moto ignores) from the
//! public shares it forwarded, so every change here goes through the proxy,
//! as every AWS call reaches CloudTrail.

use std::time::Duration;

use crate::common;

use common::proxy::Proxy;
use common::{
    Moto, Run, TempDir, create_db_instance, ec2, rds, runtime, seed_snapshots, share, unshare, unshare_public,
};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";

/// Incremental, without `transient-snapshot` (its 14 creation and deletion
/// lookups per rescan are `attribution.rs`'s subject, and take 7 s here).
fn policy(dir: &TempDir, extra: &str) {
    let text =
        format!("version: 1\nverification: incremental\nrules:\n  transient-snapshot: {{ enabled: false }}\n{extra}");
    std::fs::write(dir.path().join("policy.yaml"), text).unwrap();
}

fn scan(dir: &TempDir, proxy: &Proxy) -> Run {
    common::snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--policy", "policy.yaml", "--fail-on", "none"],
    )
}

fn coverage(run: &Run, service: &str) -> Value {
    run.records("coverage").into_iter().find(|c| c["service"] == service).unwrap_or_else(|| panic!("{run:?}"))
}

/// (kind, snapshot id, grantee) of every change, sorted.
fn changes(run: &Run) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> = run
        .records("change")
        .iter()
        .map(|c| (text(&c["kind"]), text(&c["snapshot_id"]), text(&c["grantee"])))
        .collect();
    out.sort();
    out
}

fn change(kind: &str, id: &str, grantee: &str) -> (String, String, String) {
    (kind.to_owned(), id.to_owned(), grantee.to_owned())
}

#[test]
fn an_incremental_rescan_reads_only_what_can_have_changed_and_finds_every_churned_share() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let database = rds(&proxy.url, "us-east-1");
    let ids = rt.block_on(async {
        create_db_instance(&database, "orders").await;
        database
            .create_db_snapshot()
            .db_instance_identifier("orders")
            .db_snapshot_identifier("orders-manual")
            .send()
            .await
            .expect("CreateDBSnapshot");
        seed_snapshots(&client, 20, "estate").await
    });
    policy(&dir, "");

    // A first scan has nothing to carry: every share list is read.
    let first = scan(&dir, &proxy);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(coverage(&first, "ebs")["verification"], "full", "{first:?}");
    assert_eq!(proxy.state.attribute_calls_for_prefix("snap-"), 20);

    // Nothing changed: no share list read; the lookups and a public listing.
    proxy.state.reset_counts();
    let quiet = scan(&dir, &proxy);
    assert!(quiet.changes().is_empty(), "{quiet:?}");
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 0, "{quiet:?}");
    assert_eq!(proxy.state.count("DescribeDBSnapshotAttributes"), 0);
    // Share events of EBS (2), RDS (1), RDS clusters (1) and AMIs (2), read
    // once while listing and reused to attribute changes after the diff.
    assert_eq!(proxy.state.count("LookupEvents"), 6);
    assert_eq!(proxy.state.count("DescribeSnapshots"), 2, "the listing and the public listing");
    let ebs = coverage(&quiet, "ebs");
    assert_eq!(ebs["verification"], "incremental", "{ebs}");
    let first_read = coverage(&first, "ebs")["oldest_verified_at"].clone();
    assert!(first_read.is_string(), "{first:?}");
    assert_eq!(ebs["oldest_verified_at"], first_read, "carried since the first scan: {ebs}");

    // Churn, through the proxy (so through CloudTrail): new snapshots, shares
    // added and removed, public and to an account, on EBS and RDS.
    let fresh = rt.block_on(async {
        share(&client, &ids[0], Some(OUTSIDER)).await;
        share(&client, &ids[1], None).await;
        database
            .modify_db_snapshot_attribute()
            .db_snapshot_identifier("orders-manual")
            .attribute_name("restore")
            .values_to_add(OUTSIDER)
            .send()
            .await
            .expect("ModifyDBSnapshotAttribute");
        seed_snapshots(&client, 2, "new").await
    });
    proxy.state.reset_counts();
    let churned = scan(&dir, &proxy);
    let mut expected = vec![
        change("added", &fresh[0], ""),
        change("added", &fresh[1], ""),
        change("share-added", &ids[0], OUTSIDER),
        change("share-added", &ids[1], "all"),
        change("share-added", "orders-manual", OUTSIDER),
    ];
    expected.sort();
    assert_eq!(changes(&churned), expected, "{churned:?}");
    // Read: the two new snapshots and the two named by events; no other.
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 4, "{churned:?}");
    assert_eq!(proxy.state.attribute_calls_for(&ids[5]), 0);
    assert_eq!(proxy.state.attribute_calls_for("orders-manual"), 1);

    rt.block_on(async {
        unshare(&client, &ids[0], OUTSIDER).await;
        unshare_public(&client, &ids[1]).await;
    });
    let removed = scan(&dir, &proxy);
    let mut expected = vec![change("share-removed", &ids[0], OUTSIDER), change("share-removed", &ids[1], "all")];
    expected.sort();
    assert_eq!(changes(&removed), expected, "{removed:?}");

    // A share CloudTrail never saw (made at the emulator directly) is carried
    // until the rotation reaches it: every list older than
    // `full_verification_every` is read again.
    rt.block_on(share(&ec2(&moto.url, "us-east-1"), &ids[7], Some(OUTSIDER)));
    assert!(scan(&dir, &proxy).changes().is_empty(), "carried, not read");
    // Scan times are whole seconds: 2 s apart is surely past 1 s.
    std::thread::sleep(Duration::from_secs(2));
    policy(&dir, "full_verification_every: 1s\n");
    proxy.state.reset_counts();
    let rotated = scan(&dir, &proxy);
    assert_eq!(changes(&rotated), [change("share-added", &ids[7], OUTSIDER)], "{rotated:?}");
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 22, "every list was due");
}

/// Whatever the mode, coverage never shrinks silently: an incremental scan
/// whose CloudTrail lookup is denied reads every share list, and says so.
#[test]
fn a_denied_lookup_falls_back_to_the_full_sweep() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 5, "estate"));
    policy(&dir, "");
    assert_eq!(scan(&dir, &proxy).code, 0);

    proxy.state.set(|f| {
        f.deny_actions.insert("LookupEvents".into());
    });
    // Made at the emulator: no event, so only a full sweep can find it.
    rt.block_on(share(&ec2(&moto.url, "us-east-1"), &ids[3], Some(OUTSIDER)));
    proxy.state.reset_counts();
    let run = scan(&dir, &proxy);
    assert_eq!(changes(&run), [change("share-added", &ids[3], OUTSIDER)], "{run:?}");
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 5);
    let ebs = coverage(&run, "ebs");
    assert_eq!(ebs["verification"], "full", "{ebs}");
    let why = ebs["attribution"].as_str().unwrap();
    assert!(why.starts_with("denied") && why.contains("full sweep"), "{why}");
    assert_eq!(run.summary()["complete"], true, "a warning, not a gap");
}

/// CloudTrail delivers events minutes late. A share made just before a scan
/// is not in its lookup, but the next scan reaches back past the previous
/// one and reads it; a public share is seen at once by the public listing.
#[test]
fn a_late_event_is_read_by_the_next_scan_and_a_public_share_at_once() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&proxy.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 4, "estate"));
    policy(&dir, "");
    assert_eq!(scan(&dir, &proxy).code, 0);

    let delay = Duration::from_secs(10);
    proxy.state.set(|f| f.trail_delay = delay);
    let shared_at = std::time::Instant::now();
    rt.block_on(async {
        share(&client, &ids[0], Some(OUTSIDER)).await;
        share(&client, &ids[1], None).await;
    });
    let early = scan(&dir, &proxy);
    assert!(shared_at.elapsed() < delay, "the scan ran before the events were delivered");
    assert_eq!(changes(&early), [change("share-added", &ids[1], "all")], "{early:?}");

    std::thread::sleep(delay.saturating_sub(shared_at.elapsed()));
    let late = scan(&dir, &proxy);
    assert_eq!(changes(&late), [change("share-added", &ids[0], OUTSIDER)], "{late:?}");
    let shared = late.records("change").pop().unwrap();
    assert_eq!(shared["actor"]["event_name"], "ModifySnapshotAttribute", "{shared}");
}

/// Regression (issue 27, part 1): EBS and AMIs re-read public exposure every
/// scan through their public listings; RDS did not, so an RDS snapshot made
/// public whose CloudTrail event was lost kept its carried (private) list.
/// RDS now lists its public DB and cluster snapshots (`SnapshotType=public`,
/// `IncludePublic`: every account's, the scanned account's picked by ARN).
#[test]
fn an_rds_snapshot_made_public_whose_event_is_lost_is_found_by_the_public_listing() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let database = rds(&proxy.url, "us-east-1");
    rt.block_on(async {
        create_db_instance(&database, "orders").await;
        let snapshot =
            database.create_db_snapshot().db_instance_identifier("orders").db_snapshot_identifier("orders-manual");
        snapshot.send().await.expect("CreateDBSnapshot");
        common::create_db_cluster(&database, "ledger").await;
        let snapshot = database
            .create_db_cluster_snapshot()
            .db_cluster_identifier("ledger")
            .db_cluster_snapshot_identifier("ledger-manual");
        snapshot.send().await.expect("CreateDBClusterSnapshot");
    });
    policy(&dir, "");
    assert_eq!(scan(&dir, &proxy).code, 0);
    proxy.state.reset_counts();
    let quiet = scan(&dir, &proxy);
    assert_eq!(coverage(&quiet, "rds")["verification"], "incremental", "{quiet:?}");
    assert_eq!(proxy.state.count("DescribeDBSnapshots"), 2, "the listing and the public listing");
    assert_eq!(proxy.state.count("DescribeDBClusterSnapshots"), 2, "the listing and the public listing");
    assert_eq!(proxy.state.count("DescribeDBSnapshotAttributes"), 0, "{quiet:?}");

    // Made public, and CloudTrail never tells.
    proxy.state.set(|f| {
        f.unrecorded.insert("ModifyDBSnapshotAttribute".into());
        f.unrecorded.insert("ModifyDBClusterSnapshotAttribute".into());
    });
    rt.block_on(async {
        let db = database.modify_db_snapshot_attribute().db_snapshot_identifier("orders-manual");
        db.attribute_name("restore").values_to_add("all").send().await.expect("ModifyDBSnapshotAttribute");
        let cluster = database.modify_db_cluster_snapshot_attribute().db_cluster_snapshot_identifier("ledger-manual");
        cluster.attribute_name("restore").values_to_add("all").send().await.expect("ModifyDBClusterSnapshotAttribute");
    });
    proxy.state.reset_counts();
    let run = scan(&dir, &proxy);
    assert_eq!(
        changes(&run),
        [change("share-added", "ledger-manual", "all"), change("share-added", "orders-manual", "all")],
        "{run:?}"
    );
    let public: Vec<Value> = run.records("finding").into_iter().filter(|f| f["rule"] == "public-share").collect();
    assert_eq!(public.len(), 2, "{run:?}");
    // Only the lists the public listing disagreed about were read; another
    // account's public snapshot is not this account's.
    assert_eq!(proxy.state.count("DescribeDBSnapshotAttributes"), 1);
    assert_eq!(proxy.state.count("DescribeDBClusterSnapshotAttributes"), 1);
    assert!(!run.stdout.contains("someone-elses-public"), "{run:?}");
}
