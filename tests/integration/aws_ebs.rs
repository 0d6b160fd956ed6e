//! End-to-end: the real binary scans EBS snapshots in moto (through our proxy
//! where a fault, paging or a missing API is needed).

use crate::common;

use common::proxy::Proxy;
use common::{ACCOUNT, Moto, TempDir, delete, ec2, runtime, seed_snapshots, share, snapaudit, unshare_public};

const OUTSIDER: &str = "999999999999";
const PARTNER: &str = "222222222222";

fn pair(kind: &str, id: &str) -> (String, String) {
    (kind.to_owned(), id.to_owned())
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

#[test]
fn baseline_then_shares_then_deletions() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 6, "app data"));
    let scan = || snapaudit(dir.path(), Some(&moto.url), &["scan", "--format", "jsonl"]);

    let first = scan();
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.changes().is_empty(), "the first scan is the baseline: {first:?}");
    assert_eq!(first.summary()["snapshots"], 6);
    assert_eq!(first.summary()["baseline_scopes"], 4, "ebs, rds, rds-cluster and ami in one region");

    rt.block_on(share(&client, &ids[0], Some(OUTSIDER)));
    rt.block_on(share(&client, &ids[1], None));
    let second = scan();
    assert_eq!(second.code, 1, "a high finding exits 1: {second:?}");
    assert_eq!(second.changes(), sorted(vec![pair("share-added", &ids[0]), pair("share-added", &ids[1])]));
    assert_eq!(second.findings(), vec![pair("external-share", &ids[0]), pair("public-share", &ids[1])]);
    let changes = second.records("change");
    let public = changes.iter().find(|c| c["snapshot_id"] == ids[1].as_str()).unwrap();
    assert_eq!(public["grantee"], "all");
    let finding = second.records("finding").into_iter().find(|f| f["rule"] == "external-share").unwrap();
    assert_eq!(finding["grantees"], serde_json::json!([OUTSIDER]));
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["account"], ACCOUNT);
    assert_eq!(finding["provider"], "aws");
    assert_eq!(finding["service"], "ebs");

    rt.block_on(unshare_public(&client, &ids[1]));
    rt.block_on(delete(&client, &ids[4]));
    rt.block_on(delete(&client, &ids[5]));
    let third = scan();
    assert_eq!(
        third.changes(),
        sorted(vec![pair("deleted", &ids[4]), pair("deleted", &ids[5]), pair("share-removed", &ids[1])]),
        "{third:?}"
    );
    assert_eq!(third.findings(), vec![pair("external-share", &ids[0])]);

    let fourth = scan();
    assert!(fourth.changes().is_empty(), "an unchanged account shows no change: {fourth:?}");

    let history = snapaudit(dir.path(), None, &["history", "--format", "jsonl"]);
    let scans = history.records("scan");
    assert_eq!(scans.len(), 4, "{history:?}");
    assert_eq!(scans[0]["id"], 4);
    assert_eq!(scans[1]["changes"], 3);
}

#[test]
fn a_failing_region_is_recorded_and_never_reports_deletions() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let east = ec2(&moto.url, "us-east-1");
    let west = ec2(&moto.url, "us-west-2");
    let east_ids = rt.block_on(seed_snapshots(&east, 3, "east"));
    let west_ids = rt.block_on(seed_snapshots(&west, 3, "west"));
    let scan = || {
        snapaudit(
            dir.path(),
            Some(&proxy.url),
            &["scan", "--format", "jsonl", "--region", "us-east-1", "--region", "us-west-2"],
        )
    };
    let first = scan();
    assert_eq!((first.code, first.summary()["snapshots"].as_u64()), (0, Some(6)), "{first:?}");

    proxy.state.set(|f| {
        f.deny_regions.insert("us-west-2".into());
    });
    rt.block_on(delete(&east, &east_ids[0]));
    rt.block_on(delete(&west, &west_ids[0]));
    let second = scan();
    assert_eq!(second.code, 3, "incomplete coverage exits 3: {second:?}");
    assert_eq!(second.changes(), vec![pair("deleted", &east_ids[0])], "only the complete region may report deletions");
    let coverage = second.records("coverage");
    let west: Vec<&serde_json::Value> = coverage.iter().filter(|c| c["region"] == "us-west-2").collect();
    assert_eq!(west.len(), 4, "ebs, rds, rds-cluster, ami");
    assert!(west.iter().all(|c| c["status"] == "failed"), "{west:?}");
    let codes: Vec<&str> = west.iter().map(|c| c["error_code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["UnauthorizedOperation", "AccessDenied", "AccessDenied", "UnauthorizedOperation"],
        "EC2 and RDS codes are kept as AWS sends them"
    );
    let west_ebs = west.iter().find(|c| c["service"] == "ebs").unwrap();
    assert!(west_ebs["error"].as_str().unwrap().contains("DescribeSnapshots"), "{west_ebs}");
    assert_eq!(second.summary()["failed_scopes"], 4);
    assert_eq!(second.summary()["complete"], false);
    let gaps: Vec<(String, String, String)> =
        second.all_findings().into_iter().filter(|(rule, _, _)| rule == "coverage-gap").collect();
    assert_eq!(gaps.len(), 4, "one coverage-gap per failed scope: {gaps:?}");
    assert!(gaps.iter().all(|(_, subject, status)| subject == "listing" && status == "new"), "{gaps:?}");

    proxy.state.set(|f| f.deny_regions.clear());
    let third = scan();
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(
        third.changes(),
        vec![pair("deleted", &west_ids[0])],
        "once the region lists again, the deletion made while it failed is reported"
    );
    let resolved =
        third.all_findings().into_iter().filter(|(rule, _, status)| rule == "coverage-gap" && status == "resolved");
    assert_eq!(resolved.count(), 4, "the gaps resolve: {third:?}");
}

#[test]
fn pages_are_followed_to_the_end() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| f.page_size = Some(7));
    let ids = rt.block_on(seed_snapshots(&ec2(&moto.url, "us-east-1"), 20, "paged"));
    rt.block_on(share(&ec2(&moto.url, "us-east-1"), &ids[19], None));
    let run = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(run.summary()["snapshots"], 20, "{run:?}");
    assert_eq!(proxy.state.count("DescribeSnapshots"), 3, "20 snapshots in pages of 7");
    assert_eq!(run.summary()["api_calls"]["DescribeSnapshots"], 3);
    assert_eq!(run.findings(), vec![pair("public-share", &ids[19])], "the last page is read");
}

#[test]
fn block_public_access_state_is_recorded_and_lowers_public_findings() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 2, "bpa"));
    rt.block_on(share(&client, &ids[0], None));

    // moto lacks the action (HTTP 500): the state is unknown, the scan complete.
    let unknown = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(unknown.records("coverage")[0]["block_public_access"], "unknown");
    assert_eq!(unknown.records("coverage")[0]["status"], "complete");
    let public = |run: &common::Run| run.records("finding").into_iter().find(|f| f["rule"] == "public-share").unwrap();
    assert_eq!(public(&unknown)["severity"], "critical");

    proxy.state.set(|f| f.block_public_access = Some("block-all-sharing".into()));
    let blocked = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(blocked.records("coverage")[0]["block_public_access"], "block-all-sharing");
    let finding = &public(&blocked);
    assert_eq!((finding["rule"].as_str(), finding["severity"].as_str()), (Some("public-share"), Some("medium")));
    assert_eq!(blocked.code, 0, "medium is below the default --fail-on high");
}

#[test]
fn a_thousand_snapshots_yield_exactly_the_shared_ones() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 1000, "bulk"));
    let public: Vec<&String> = ids.iter().skip(3).step_by(200).collect();
    let external: Vec<&String> = ids.iter().skip(50).step_by(150).collect();
    let trusted: Vec<&String> = ids.iter().skip(10).step_by(400).collect();
    rt.block_on(async {
        for id in &public {
            share(&client, id, None).await;
        }
        for id in &external {
            share(&client, id, Some(OUTSIDER)).await;
        }
        for id in &trusted {
            share(&client, id, Some(PARTNER)).await;
        }
    });
    std::fs::write(dir.path().join("policy.yaml"), format!("version: 1\ntrusted_accounts: [\"{PARTNER}\"]\n")).unwrap();

    // Correctness, not pacing, is under test here: lift the client's AWS-sized
    // bucket (moto has none), so 1,000 attribute calls take seconds, not 45 s.
    let run = snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--policy", "policy.yaml", "--max-rps-per-action", "10000", "--burst", "10000"],
    );
    assert_eq!(run.summary()["snapshots"], 1000, "{}", run.stderr);
    let mut expected: Vec<(String, String)> = public
        .iter()
        .map(|id| pair("public-share", id))
        .chain(external.iter().map(|id| pair("external-share", id)))
        .collect();
    expected.sort();
    assert_eq!((public.len(), external.len(), trusted.len()), (5, 7, 3));
    assert_eq!(run.findings(), expected);

    // One attribute call per snapshot, and the proxy saw what the tool counted.
    assert_eq!(proxy.state.count("DescribeSnapshotAttribute"), 1000);
    assert_eq!(run.summary()["api_calls"]["DescribeSnapshotAttribute"], 1000);
    let per_snapshot = run.summary()["api_calls_per_snapshot"].as_f64().unwrap();
    // Besides: the listings, block public access states, the identity and
    // region list, and the RDS export listings (12 in all here).
    assert!(per_snapshot < 1.015, "{per_snapshot} API calls per snapshot");
}

#[test]
fn a_region_that_does_not_exist_is_refused_before_any_scan() {
    let (moto, dir) = (Moto::start(), TempDir::new());
    let run = snapaudit(dir.path(), Some(&moto.url), &["scan", "--region", "us-nowhere-9"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("us-nowhere-9"), "{}", run.stderr);
    assert!(
        !dir.db().exists() || snapaudit(dir.path(), None, &["history", "--format", "jsonl"]).records("scan").is_empty()
    );
}

/// A well-formed region name the account does not have (a typo such as
/// `us-east-7`) is exit 2 naming it and the regions that exist, before any
/// listing, and nothing is written: a silently empty region would later read
/// as "every snapshot deleted".
#[test]
fn a_region_the_account_does_not_have_is_named_and_nothing_is_written() {
    let (moto, dir) = (Moto::start(), TempDir::new());
    let run = snapaudit(dir.path(), Some(&moto.url), &["scan", "--region", "us-east-1", "--region", "us-east-7"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown region(s) us-east-7"), "{}", run.stderr);
    assert!(run.stderr.contains("us-west-2"), "the regions that exist are listed: {}", run.stderr);
    let db = dir.db();
    let scans: i64 = if db.exists() {
        rusqlite::Connection::open(&db).unwrap().query_row("SELECT count(*) FROM scans", [], |r| r.get(0)).unwrap()
    } else {
        0
    };
    assert_eq!(scans, 0, "nothing written");
}

/// Regression (issue 13, item 7): a region named twice, not side by side, was
/// scanned twice and the save failed on the coverage table's primary key
/// after the whole scan had run.
#[test]
fn a_region_named_twice_is_scanned_once() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    rt.block_on(seed_snapshots(&ec2(&moto.url, "eu-west-1"), 2, "repeated"));
    let args = ["scan", "--format", "jsonl", "--region", "eu-west-1", "--region", "us-east-1", "--region", "eu-west-1"];
    let run = snapaudit(dir.path(), Some(&moto.url), &args);
    assert_eq!(run.code, 0, "{run:?}");
    let scopes: Vec<(String, String)> = run
        .records("coverage")
        .iter()
        .map(|c| (c["region"].as_str().unwrap().to_owned(), c["service"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(scopes.len(), 8, "two regions x four services, each once: {scopes:?}");
    assert_eq!(run.summary()["snapshots"], 2);
    let history = snapaudit(dir.path(), None, &["history", "--format", "jsonl"]);
    assert_eq!(history.records("scan").len(), 1, "the scan was saved: {history:?}");
}

/// Regression (issue 13, item 4): an SCP or policy that denies
/// `ec2:DescribeSnapshotAttribute` left every snapshot's exposure unknown,
/// and a snapshot made public meanwhile went unreported with exit 0.
#[test]
fn a_denied_share_list_is_a_finding_naming_the_permission_and_exit_3() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 3, "scp"));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(scan().code, 0);

    proxy.state.set(|f| {
        f.deny_actions.insert("DescribeSnapshotAttribute".into());
    });
    rt.block_on(share(&client, &ids[0], None));
    let blind = scan();
    assert_eq!(blind.code, 3, "unknown exposure is incomplete coverage: {blind:?}");
    let ebs = blind.records("coverage").into_iter().find(|c| c["service"] == "ebs").unwrap();
    assert_eq!(ebs["status"], "complete", "the listing itself worked");
    assert_eq!(ebs["unknown_exposure"].as_array().unwrap().len(), 3);
    let finding = blind.records("finding").into_iter().find(|f| f["rule"] == "unknown-exposure").expect("a finding");
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("3 snapshot(s)") && message.contains("ec2:DescribeSnapshotAttribute"), "{message}");
    assert!(message.contains("UnauthorizedOperation") && message.contains("grant"), "{message}");
    assert_eq!(finding["severity"], "medium");
    assert!(blind.changes().is_empty(), "no share is reported removed while unread: {:?}", blind.changes());

    proxy.state.set(|f| f.deny_actions.clear());
    let seen = scan();
    assert_eq!(seen.code, 1, "the public share is found once readable: {seen:?}");
    assert!(seen.findings().contains(&("public-share".to_owned(), ids[0].clone())), "{:?}", seen.findings());
    let resolved = seen.records("finding").into_iter().find(|f| f["rule"] == "unknown-exposure").expect("resolved");
    assert_eq!(resolved["status"], "resolved");
}

/// Regression (issue 13, item 5): switching EBS snapshot block public access
/// from `block-all-sharing` to `unblocked` made every public snapshot public
/// again with no change to any snapshot, and nothing was reported; a state
/// that could not be read flipped findings' severity.
#[test]
fn a_weakened_block_public_access_is_a_change_and_a_high_finding_and_unknown_keeps_the_last_state() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&moto.url, "us-east-1");
    let ids = rt.block_on(seed_snapshots(&client, 2, "bpa-change"));
    rt.block_on(share(&client, &ids[0], None));
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    let public = |run: &common::Run| run.records("finding").into_iter().find(|f| f["rule"] == "public-share").unwrap();

    proxy.state.set(|f| f.block_public_access = Some("block-all-sharing".into()));
    let blocked = scan();
    assert_eq!((blocked.code, public(&blocked)["severity"].as_str()), (0, Some("medium")), "{blocked:?}");

    // The state cannot be read (moto lacks the action): the last one stands.
    proxy.state.set(|f| f.block_public_access = None);
    let unknown = scan();
    assert_eq!(unknown.code, 0, "{unknown:?}");
    assert_eq!(public(&unknown)["severity"], "medium", "an unread state is not `unblocked`");
    assert!(unknown.changes().is_empty(), "{:?}", unknown.changes());

    proxy.state.set(|f| f.block_public_access = Some("unblocked".into()));
    let opened = scan();
    assert_eq!(opened.code, 1, "{opened:?}");
    let change = opened.records("change").into_iter().find(|c| c["kind"] == "block-public-access-changed");
    let change = change.unwrap_or_else(|| panic!("no change: {opened:?}"));
    assert_eq!(change["details"], "block-all-sharing -> unblocked");
    let weakened =
        opened.records("finding").into_iter().find(|f| f["rule"] == "block-public-access-weakened").expect("finding");
    assert_eq!((weakened["severity"].as_str(), weakened["status"].as_str()), (Some("high"), Some("new")));
    assert_eq!(weakened["related"], serde_json::json!([ids[0]]), "names the snapshot public again");
    assert_eq!(
        (public(&opened)["severity"].as_str(), public(&opened)["status"].as_str()),
        (Some("critical"), Some("open"))
    );
}

/// Regression (issue 13, item 5): the block public access state was read
/// with two attempts and no more, so a short throttling storm on the action
/// made it `unknown` while the listings outlasted the same storm. It is now
/// read through the listings' retry path.
#[test]
fn block_public_access_is_read_through_throttling_like_the_listings() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let client = ec2(&moto.url, "us-east-1");
    rt.block_on(seed_snapshots(&client, 1, "bpa-throttled"));
    proxy.state.set(|f| {
        f.block_public_access = Some("block-new-sharing".into());
        // More refusals than one round of the SDK's attempts.
        f.throttle_next_of = Some(("GetSnapshotBlockPublicAccessState".into(), 3));
    });
    let run = snapaudit(dir.path(), Some(&proxy.url), &["scan", "--format", "jsonl"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.records("coverage")[0]["block_public_access"], "block-new-sharing", "{run:?}");
    assert_eq!(proxy.state.throttled(), 3);
}
