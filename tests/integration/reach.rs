//! What a scan can reach, end to end through the proxy (which enables
//! opt-in regions per account and knows each request's account, as AWS
//! does): regions read per account, and scopes of the baseline that vanish.

use crate::common;

use common::proxy::Proxy;
use common::{
    ACCOUNT, Moto, Run, TempDir, credentials_in, ec2_as, organization, runtime, seed_snapshots, share, snapaudit,
};
use serde_json::Value;

const OUTSIDER: &str = "999999999999";
const ROLE: &str = "OrganizationAccountAccessRole";
const OPT_IN: &str = "ap-east-1";

/// (account, region, service) -> status, for one account and region.
fn statuses(run: &Run, account: &str, region: &str) -> Vec<String> {
    run.records("coverage")
        .iter()
        .filter(|c| c["account"] == account && c["region"] == region)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .collect()
}

fn findings_of(run: &Run, rule: &str) -> Vec<Value> {
    run.records("finding").into_iter().filter(|f| f["rule"] == rule).collect()
}

/// Regression (issue 13, item 1): the caller's region list was used for
/// every account, so an opt-in region enabled only in a member was either
/// skipped (`--all-regions`) or, named with `--region`, called in accounts
/// that had not enabled it: AuthFailure, a false coverage gap and exit 3,
/// blamed on expired credentials. Each account now reads its own list.
#[test]
fn opt_in_regions_are_read_per_account() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let (_, members) = organization(&moto, &["workloads", "sandbox"]);
    let (workloads, sandbox) = (members[0].clone(), members[1].clone());
    proxy.state.set(|f| {
        f.opted_in.insert(workloads.clone(), [OPT_IN.to_owned()].into());
    });
    let shared = rt.block_on(async {
        let client = ec2_as(&moto.url, OPT_IN, credentials_in(&moto.url, &workloads).await);
        let ids = seed_snapshots(&client, 2, "hk").await;
        share(&client, &ids[0], Some(OUTSIDER)).await;
        ids[0].clone()
    });
    // Findings do not set the exit code here: 3 is a gap, 0 none.
    let args = [
        "scan",
        "--format",
        "jsonl",
        "--fail-on",
        "none",
        "--assume-role",
        ROLE,
        "--org",
        "--region",
        "us-east-1",
        "--region",
        OPT_IN,
    ];
    let scan = || snapaudit(dir.path(), Some(&proxy.url), &args);

    let first = scan();
    assert_eq!(first.code, 0, "no gap: {first:?}");
    assert_eq!(statuses(&first, &workloads, OPT_IN), ["complete"; 4]);
    for account in [ACCOUNT, sandbox.as_str()] {
        assert_eq!(statuses(&first, account, OPT_IN), ["not-enabled"; 4], "{account}");
        assert_eq!(proxy.state.count_for(account, OPT_IN), 0, "{account} was called in a region it has not enabled");
    }
    assert!(proxy.state.count_for(&workloads, OPT_IN) > 0);
    let summary = first.summary();
    assert_eq!((summary["complete"].as_bool(), summary["not_enabled_scopes"].as_u64()), (Some(true), Some(8)));
    let external = findings_of(&first, "external-share");
    assert_eq!(external.len(), 1, "{first:?}");
    assert_eq!(external[0]["snapshot_id"], shared.as_str());
    assert!(findings_of(&first, "coverage-gap").is_empty() && findings_of(&first, "scope-missing").is_empty());
    let not_enabled = first.records("coverage").into_iter().find(|c| c["status"] == "not-enabled").unwrap();
    let why = not_enabled["error"].as_str().unwrap();
    assert!(why.contains("has not enabled") && !why.contains("expired"), "{why}");

    // The sandbox enables the region: its first listing there is a baseline.
    proxy.state.set(|f| {
        f.opted_in.insert(sandbox.clone(), [OPT_IN.to_owned()].into());
    });
    rt.block_on(async {
        let client = ec2_as(&moto.url, OPT_IN, credentials_in(&moto.url, &sandbox).await);
        seed_snapshots(&client, 1, "new region").await;
    });
    let enabled = scan();
    assert_eq!(enabled.code, 0, "{enabled:?}");
    assert_eq!(statuses(&enabled, &sandbox, OPT_IN), ["complete"; 4]);
    assert_eq!(enabled.summary()["baseline_scopes"], 4, "{:?}", enabled.summary());
    assert!(enabled.changes().is_empty(), "a first listing is a baseline, not additions: {:?}", enabled.changes());

    // The workloads account disables it again: what was listed there is out
    // of reach, not deleted.
    proxy.state.set(|f| {
        f.opted_in.remove(&workloads);
    });
    let disabled = scan();
    assert_eq!(disabled.code, 3, "{disabled:?}");
    assert_eq!(statuses(&disabled, &workloads, OPT_IN), ["missing"; 4]);
    let missing = disabled.records("coverage").into_iter().find(|c| c["status"] == "missing").unwrap();
    assert_eq!(missing["error_code"], "region-disabled", "{missing}");
    let scope_missing = findings_of(&disabled, "scope-missing");
    assert_eq!(scope_missing.len(), 1, "{scope_missing:?}");
    assert_eq!(scope_missing[0]["severity"], "medium");
    assert_eq!(scope_missing[0]["account"], workloads.as_str());
    assert_eq!(findings_of(&disabled, "external-share")[0]["status"], "open", "its findings stay open");
    assert!(disabled.changes().is_empty(), "nothing deleted: {:?}", disabled.changes());
    assert_eq!(statuses(&disabled, ACCOUNT, OPT_IN), ["not-enabled"; 4], "never enabled: still no gap");
}

/// Regression (issue 13, item 2): an account removed from the organization
/// (MITRE T1666) simply stopped being scanned: its open findings aged out of
/// sight with exit 0. It is now `missing`, a high `scope-missing` finding,
/// exit 3, its findings open. A region the scan did not ask for is no one's
/// business: no finding.
#[test]
fn an_account_that_left_the_organization_is_a_high_finding() {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    let proxy = Proxy::start(&moto.url);
    let (org, members) = organization(&moto, &["workloads"]);
    let workloads = members[0].clone();
    let shared = rt.block_on(async {
        let client = ec2_as(&moto.url, "us-east-1", credentials_in(&moto.url, &workloads).await);
        let ids = seed_snapshots(&client, 1, "member").await;
        share(&client, &ids[0], Some(OUTSIDER)).await;
        ids[0].clone()
    });
    let scan = |region: &str| {
        snapaudit(
            dir.path(),
            Some(&proxy.url),
            &["scan", "--format", "jsonl", "--fail-on", "none", "--assume-role", ROLE, "--org", "--region", region],
        )
    };
    let first = scan("us-east-1");
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(findings_of(&first, "external-share")[0]["snapshot_id"], shared.as_str());

    rt.block_on(async {
        org.remove_account_from_organization().account_id(&workloads).send().await.expect("RemoveAccount");
    });
    proxy.state.reset_counts();
    let left = scan("us-east-1");
    assert_eq!(left.code, 3, "a gap, even with --fail-on none: {left:?}");
    assert_eq!(statuses(&left, &workloads, "us-east-1"), ["missing"; 4]);
    let row = left.records("coverage").into_iter().find(|c| c["account"] == workloads.as_str()).unwrap();
    assert_eq!(row["error_code"], "left-organization", "{row}");
    assert_eq!(proxy.state.count_for(&workloads, "us-east-1"), 0, "an account outside the organization is not called");
    let scope_missing = findings_of(&left, "scope-missing");
    assert_eq!(scope_missing.len(), 1, "one finding per account: {scope_missing:?}");
    let f = &scope_missing[0];
    assert_eq!((f["severity"].as_str(), f["status"].as_str()), (Some("high"), Some("new")));
    assert_eq!(f["mitre"], serde_json::json!(["T1666"]));
    assert_eq!(f["subject"], format!("account {workloads}"));
    assert_eq!(f["related"].as_array().map(Vec::len), Some(4), "{f}");
    assert!(f["message"].as_str().unwrap().contains("no longer an active account of the organization"), "{f}");
    assert_eq!(findings_of(&left, "external-share")[0]["status"], "open", "its findings stay open");
    assert!(left.changes().is_empty(), "nothing deleted: {:?}", left.changes());
    assert!(findings_of(&left, "coverage-gap").is_empty());

    // Another region: the member's us-east-1 scopes were not asked for.
    let elsewhere = scan("eu-west-1");
    assert!(
        !elsewhere.records("coverage").iter().any(|c| c["status"] == "missing"),
        "{:?}",
        elsewhere.records("coverage")
    );
    assert!(findings_of(&elsewhere, "scope-missing").iter().all(|f| f["status"] != "new"), "{elsewhere:?}");

    // The account was closed on purpose: `forget` retires its scopes, and
    // the organization's scans are clean again.
    let forget = snapaudit(dir.path(), None, &["forget", "--account", &workloads]);
    assert_eq!(forget.code, 0, "{forget:?}");
    assert!(forget.stdout.contains(&format!("aws/ebs {workloads} us-east-1")), "{}", forget.stdout);
    let clean = scan("us-east-1");
    assert_eq!(clean.code, 0, "{clean:?}");
    assert!(!clean.records("coverage").iter().any(|c| c["account"] == workloads.as_str()), "{clean:?}");
    assert!(clean.records("finding").iter().all(|f| f["account"] != workloads.as_str()), "{clean:?}");
    assert!(clean.summary()["complete"].as_bool().unwrap());
    let again = snapaudit(dir.path(), None, &["forget", "--account", &workloads]);
    assert_eq!(again.code, 2, "nothing left to forget: {again:?}");
    assert!(again.stderr.contains("holds no baseline scope"), "{}", again.stderr);
}
