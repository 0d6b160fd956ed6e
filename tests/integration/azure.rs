//! Azure, end to end: the real binary and collector against the local ARM
//! test server serving Microsoft's example payloads (tests/integration/common/arm.rs).

use crate::common;

use common::arm::{ArmServer, SUB_A, SUB_B, TOKEN};
use common::{Run, TempDir, snapaudit_with};
use serde_json::Value;

/// `snapaudit scan --azure` against the test server, jsonl output.
fn scan(dir: &TempDir, server: &ArmServer, extra: &[&str]) -> Run {
    scan_with_token(dir, server, extra, TOKEN)
}

fn scan_with_token(dir: &TempDir, server: &ArmServer, extra: &[&str], token: &str) -> Run {
    let mut args = vec!["--format", "jsonl"];
    args.extend_from_slice(extra);
    server.run(dir, &["scan"], &args, &[("SNAPAUDIT_AZURE_TOKEN", Some(token))])
}

/// The snapshot's name: the last segment of its (lower-cased) ARM id.
fn name(id: &str) -> &str {
    id.rsplit('/').next().unwrap()
}

/// (rule, snapshot name, severity, status) of every finding, sorted.
fn findings(run: &Run) -> Vec<(String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> = run
        .records("finding")
        .iter()
        .map(|f| (text(&f["rule"]), name(&text(&f["subject"])).to_owned(), text(&f["severity"]), text(&f["status"])))
        .collect();
    out.sort();
    out
}

fn coverage(run: &Run) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    run.records("coverage").iter().map(|c| (text(&c["account"]), text(&c["region"]), text(&c["status"]))).collect()
}

fn db_value(dir: &TempDir, sql: &str) -> String {
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn microsofts_examples_page_through_the_real_collector() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.set(|f| f.page_size = Some(1));
    let dir = TempDir::new();

    let run = scan(&dir, &server, &["--subscription", SUB_A, "--fail-on", "none"]);
    assert_eq!(run.code, 0, "{run:?}");
    let summary = run.summary();
    assert_eq!(summary["snapshots"], 4, "{summary}");
    // Regression (issue 13, item 6): the examples omit `networkAccessPolicy`
    // and `publicNetworkAccess`, as ARM does at their defaults (`AllowAll`,
    // `Enabled`): those snapshots can be exported from any network. The
    // incremental example states an odd value and is not judged exposed.
    let exposed: Vec<(String, String)> = findings(&run)
        .into_iter()
        .filter(|f| f.0 == "azure-network-exposure")
        .map(|(_, snapshot, severity, _)| (snapshot, severity))
        .collect();
    let high = |n: &str| (n.to_owned(), "high".to_owned());
    assert_eq!(exposed, [high("mysnapshot"), high("mysnapshot1"), high("mysnapshot2")], "{run:?}");
    let message = run.records("finding").into_iter().find(|f| f["rule"] == "azure-network-exposure").unwrap();
    assert!(message["message"].as_str().unwrap().contains("AllowAll (default, not stated)"), "{message}");
    // Four pages of one, each found through the previous page's nextLink.
    let pages: Vec<String> = server.state.requests();
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert!(pages[1..].iter().all(|p| p.contains("$skiptoken=")), "{pages:?}");
    assert_eq!(summary["api_calls"]["Microsoft.Compute/snapshots/read"], 4);
    assert_eq!(
        coverage(&run),
        [(SUB_A.into(), "*".into(), "complete".into()), (SUB_A.into(), "westus".into(), "complete".into())]
    );

    // The incremental example's `"networkAccessPolicy": "0"` is kept as
    // given, reported as unknown exposure, and fails nothing.
    let westus = run.records("coverage").into_iter().find(|c| c["region"] == "westus").unwrap();
    let unknown: Vec<&str> =
        westus["unknown_exposure"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(unknown.iter().map(|id| name(id)).collect::<Vec<_>>(), ["myincrementalsnapshot"]);
    assert!(run.stderr.contains("networkAccessPolicy=0"), "{}", run.stderr);
    let attributes =
        db_value(&dir, "SELECT attributes FROM snapshot_versions WHERE snapshot_id LIKE '%/myincrementalsnapshot'");
    let attributes: Value = serde_json::from_str(&attributes).unwrap();
    assert_eq!((attributes["networkAccessPolicy"].as_str(), attributes["diskState"].as_str()), (Some("0"), Some("0")));
    let kind = db_value(&dir, "SELECT kind FROM snapshot_versions WHERE snapshot_id LIKE '%/myincrementalsnapshot'");
    assert_eq!(kind, "incremental");
    let source = db_value(&dir, "SELECT source_id FROM snapshot_versions WHERE snapshot_id LIKE '%/mysnapshot2'");
    assert_eq!(source, "https://mystorageaccount.blob.core.windows.net/osimages/osimage.vhd");

    // The same listing again: nothing changed, nothing new.
    server.state.reset_counts();
    let again = scan(&dir, &server, &["--subscription", SUB_A, "--fail-on", "none"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.changes().is_empty(), "{:?}", again.changes());
}

#[test]
fn a_sas_export_is_found_then_resolved_once_it_ends() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.private_network(SUB_A);
    let dir = TempDir::new();
    assert_eq!(scan(&dir, &server, &["--subscription", SUB_A]).code, 0);

    // grant-access on mySnapshot, from any network, with no Entra ID check.
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("ActiveSAS"));
    server.state.set_property(SUB_A, "mySnapshot", "networkAccessPolicy", Some("AllowAll"));
    let exported = scan(&dir, &server, &["--subscription", SUB_A]);
    assert_eq!(exported.code, 1, "a critical finding fails the scan: {exported:?}");
    assert_eq!(
        findings(&exported),
        [
            ("azure-network-exposure".into(), "mysnapshot".into(), "high".into(), "new".into()),
            ("azure-sas-export".into(), "mysnapshot".into(), "critical".into(), "new".into()),
        ]
    );
    let mut shares: Vec<(String, String)> = exported
        .records("change")
        .iter()
        .filter(|c| c["kind"] == "share-added")
        .map(|c| (name(c["snapshot_id"].as_str().unwrap()).to_owned(), c["grantee"].as_str().unwrap().to_owned()))
        .collect();
    shares.sort();
    assert_eq!(shares, [("mysnapshot".into(), "any-network".into()), ("mysnapshot".into(), "sas-export".into())]);

    // The compliance report names the exposure kinds.
    let shared = common::snapaudit(dir.path(), None, &["report", "shared", "--format", "json"]);
    let kinds: Vec<String> = shared
        .records("shared_snapshot")
        .iter()
        .flat_map(|r| r["grantees"].as_array().unwrap().clone())
        .map(|g| g["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["export-url", "any-network"], "{shared:?}");

    // The export ends (revoke-access); the network stays open.
    server.state.set_property(SUB_A, "mySnapshot", "diskState", Some("Unattached"));
    let revoked = scan(&dir, &server, &["--subscription", SUB_A]);
    assert_eq!(
        findings(&revoked),
        [
            ("azure-network-exposure".into(), "mysnapshot".into(), "high".into(), "open".into()),
            ("azure-sas-export".into(), "mysnapshot".into(), "critical".into(), "resolved".into()),
        ]
    );
    // Resolved once: the next scan no longer lists it.
    let later = scan(&dir, &server, &["--subscription", SUB_A]);
    assert!(findings(&later).iter().all(|f| f.0 != "azure-sas-export"), "{:?}", findings(&later));
}

#[test]
fn a_failing_subscription_is_a_coverage_gap_never_a_deletion() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.add_copies(SUB_B, "b", 7);
    server.state.private_network(SUB_A);
    server.state.private_network(SUB_B);
    let dir = TempDir::new();
    // No --subscription: every subscription the identity sees.
    let first = scan(&dir, &server, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.summary()["snapshots"], 11);
    assert!(server.state.requests().iter().any(|r| r.starts_with("/subscriptions?")));
    // Only reads, and only the actions `permissions --provider azure` lists.
    assert_eq!(server.state.non_get_requests(), 0);
    let documented = common::snapaudit(dir.path(), None, &["permissions", "--provider", "azure"]).stdout;
    for action in server.state.actions() {
        assert!(documented.contains(action), "{action} is not in the documented role");
    }

    server.state.set(|f| {
        f.forbidden.insert(SUB_B.into());
    });
    let denied = scan(&dir, &server, &[]);
    assert_eq!(denied.code, 3, "incomplete coverage: {denied:?}");
    let failed: Vec<Value> = denied.records("coverage").into_iter().filter(|c| c["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0]["account"].as_str(), failed[0]["region"].as_str()), (Some(SUB_B), Some("*")));
    assert_eq!(failed[0]["error_code"], "AuthorizationFailed");
    assert!(failed[0]["error"].as_str().unwrap().contains("Reader"), "{}", failed[0]);
    assert!(denied.changes().is_empty(), "no deletions for a subscription that failed: {:?}", denied.changes());
    assert!(findings(&denied).contains(&("coverage-gap".into(), "listing".into(), "medium".into(), "new".into())));

    server.state.set(|f| f.forbidden.clear());
    let back = scan(&dir, &server, &[]);
    assert_eq!(back.code, 0, "{back:?}");
    assert!(back.changes().is_empty(), "{:?}", back.changes());
    assert!(findings(&back).contains(&("coverage-gap".into(), "listing".into(), "medium".into(), "resolved".into())));
}

#[test]
fn throttling_5xx_bursts_and_cut_bodies_are_retried_and_lose_nothing() {
    let server = ArmServer::start();
    server.state.add_copies(SUB_A, "a", 6);
    server.state.add_copies(SUB_B, "b", 6);
    server.state.private_network(SUB_A);
    server.state.private_network(SUB_B);
    server.state.set(|f| {
        f.page_size = Some(2);
        f.throttle_next = 2;
        f.fail_next = 3;
        f.truncate_next = 2;
    });
    let dir = TempDir::new();
    let run = scan(&dir, &server, &["--subscription", SUB_A, "--subscription", SUB_B]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 12);
    assert_eq!(server.state.faulted(), 7);
    // Every attempt is counted: 6 pages and 7 retries.
    assert_eq!(run.summary()["api_calls"]["Microsoft.Compute/snapshots/read"], 13);

    // A subscription that keeps failing gives up after its attempts; the
    // other one completes.
    server.state.set(|f| {
        f.always_fail.insert(SUB_B.into());
    });
    let run = scan(&dir, &server, &["--subscription", SUB_A, "--subscription", SUB_B]);
    assert_eq!(run.code, 3, "{run:?}");
    let failed: Vec<Value> = run.records("coverage").into_iter().filter(|c| c["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["account"], SUB_B);
    assert!(failed[0]["error"].as_str().unwrap().contains("after 6 attempts"), "{}", failed[0]);
    assert!(run.changes().is_empty(), "{:?}", run.changes());
}

#[test]
fn a_refused_token_stops_the_scan_and_writes_nothing() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    let dir = TempDir::new();
    let run = scan_with_token(&dir, &server, &["--subscription", SUB_A], "expired-token");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(SUB_A) && run.stderr.contains("az login"), "{}", run.stderr);
    assert!(!run.stderr.contains("expired-token"), "{}", run.stderr);
    let scans = db_value(&dir, "SELECT CAST(count(*) AS TEXT) FROM scans");
    assert_eq!(scans, "0");
}

#[test]
fn aws_and_azure_in_one_run_share_one_baseline() {
    let moto = common::Moto::start();
    common::runtime().block_on(common::seed_snapshots(&common::ec2(&moto.url, "us-east-1"), 2, "aws-one"));
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.private_network(SUB_A);
    let dir = TempDir::new();
    let db = dir.db();
    let args = [
        "scan",
        "--aws",
        "--azure",
        "--azure-endpoint",
        &server.url,
        "--subscription",
        SUB_A,
        "--region",
        "us-east-1",
        "--format",
        "jsonl",
        "--db",
        db.to_str().unwrap(),
    ];
    let run = snapaudit_with(dir.path(), Some(&moto.url), &args, &[("SNAPAUDIT_AZURE_TOKEN", Some(TOKEN))]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 6);
    let providers: std::collections::BTreeSet<String> =
        run.records("coverage").iter().map(|c| c["provider"].as_str().unwrap().to_owned()).collect();
    assert_eq!(providers.into_iter().collect::<Vec<_>>(), ["aws", "azure"]);
    let azure_rows = db_value(&dir, "SELECT CAST(count(*) AS TEXT) FROM snapshot_versions WHERE provider = 'azure'");
    assert_eq!(azure_rows, "4");
}

#[test]
fn azure_flags_are_checked_before_any_call() {
    let dir = TempDir::new();
    let bad_id = snapaudit_with(dir.path(), None, &["scan", "--azure", "--subscription", "prod"], &[]);
    assert_eq!(bad_id.code, 2);
    assert!(bad_id.stderr.contains("not a subscription id"), "{}", bad_id.stderr);
    let remote_http =
        snapaudit_with(dir.path(), None, &["scan", "--azure", "--azure-endpoint", "http://10.1.2.3:8080"], &[]);
    assert_eq!(remote_http.code, 2);
    assert!(remote_http.stderr.contains("--allow-insecure-endpoint"), "{}", remote_http.stderr);
    // A static token is for test servers only.
    let token_without_endpoint =
        snapaudit_with(dir.path(), None, &["scan", "--azure"], &[("SNAPAUDIT_AZURE_TOKEN", Some("tok-123"))]);
    assert_eq!(token_without_endpoint.code, 2);
    assert!(token_without_endpoint.stderr.contains("only accepted with --azure-endpoint"));
    assert!(!token_without_endpoint.stderr.contains("tok-123"));
    assert!(!dir.db().exists(), "nothing written");
}

#[test]
fn the_table_names_azure_exposure_and_odd_values() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.set_property(SUB_A, "mySnapshot1", "diskState", Some("ActiveSAS"));
    let dir = TempDir::new();
    let db = dir.db();
    let args = ["scan", "--azure", "--azure-endpoint", &server.url, "--format", "table", "--db", db.to_str().unwrap()];
    let run = snapaudit_with(dir.path(), None, &args, &[("SNAPAUDIT_AZURE_TOKEN", Some(TOKEN))]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("azure-sas-export"), "{}", run.stdout);
    assert!(run.stdout.contains("unrecognised exposure values for 1 snapshot(s)"), "{}", run.stdout);
}

/// Regression (issue 13, item 6): a subscription where Microsoft.Compute was
/// never registered answers 409 `MissingSubscriptionRegistration`. It holds no
/// snapshot: complete and empty, with a note; no coverage gap, no exit 3.
#[test]
fn a_subscription_without_the_compute_provider_is_complete_and_empty() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.add_copies(SUB_B, "b", 2);
    server.state.set(|f| {
        f.not_registered.insert(SUB_B.into());
    });
    let dir = TempDir::new();
    let run = scan(&dir, &server, &["--fail-on", "none"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.records("coverage");
    let b: Vec<&Value> = rows.iter().filter(|c| c["account"] == SUB_B).collect();
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!((b[0]["status"].as_str(), b[0]["region"].as_str()), (Some("complete"), Some("*")));
    assert_eq!(b[0]["error_code"], "MissingSubscriptionRegistration");
    assert!(!findings(&run).iter().any(|f| f.0 == "coverage-gap"), "{:?}", findings(&run));
    assert!(run.stderr.contains("Microsoft.Compute is not registered"), "{}", run.stderr);
}

/// Regression (issue 13, item 2): a subscription the identity no longer sees
/// (role removed, tenant moved, disabled) vanished from the scan without a
/// word. It is now `missing`: a `scope-missing` finding (medium), exit 3,
/// its findings kept open and nothing reported deleted. A scan that names
/// its subscriptions did not ask for the others: no finding.
#[test]
fn a_subscription_that_is_no_longer_visible_is_missing_not_silent() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.add_copies(SUB_B, "b", 3);
    server.state.private_network(SUB_A);
    let dir = TempDir::new();
    // SUB_B's copies are reachable from any network: an open finding there.
    let first = scan(&dir, &server, &["--fail-on", "none"]);
    assert_eq!(first.code, 0, "{first:?}");
    let exposed_in_b = |run: &Run| -> Vec<String> {
        run.records("finding")
            .iter()
            .filter(|f| f["account"] == SUB_B && f["rule"] == "azure-network-exposure")
            .map(|f| f["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(exposed_in_b(&first), ["new"; 3], "{:?}", findings(&first));

    server.state.set(|f| {
        f.hidden.insert(SUB_B.into());
    });
    let gone = scan(&dir, &server, &["--fail-on", "none"]);
    assert_eq!(gone.code, 3, "a vanished subscription is a gap: {gone:?}");
    let b: Vec<(String, String, String)> = coverage(&gone).into_iter().filter(|c| c.0 == SUB_B).collect();
    assert!(!b.is_empty() && b.iter().all(|c| c.2 == "missing"), "{b:?}");
    let missing = gone.records("coverage").into_iter().find(|c| c["account"] == SUB_B).unwrap();
    assert_eq!(missing["error_code"], "not-visible", "{missing}");
    let scope_missing: Vec<Value> =
        gone.records("finding").into_iter().filter(|f| f["rule"] == "scope-missing").collect();
    assert_eq!(scope_missing.len(), 1, "one finding per subscription: {scope_missing:?}");
    assert_eq!(
        (scope_missing[0]["severity"].as_str(), scope_missing[0]["account"].as_str()),
        (Some("medium"), Some(SUB_B))
    );
    assert!(
        scope_missing[0]["message"].as_str().unwrap().contains("no longer visible to the identity"),
        "{}",
        scope_missing[0]
    );
    assert_eq!(exposed_in_b(&gone), ["open"; 3], "findings of a vanished subscription stay open");
    assert!(gone.changes().is_empty(), "nothing is deleted: {:?}", gone.changes());
    assert!(!findings(&gone).iter().any(|f| f.0 == "coverage-gap"), "{:?}", findings(&gone));

    // Asked for SUB_A only: SUB_B is outside the scan, not missing.
    let narrowed = scan(&dir, &server, &["--subscription", SUB_A, "--fail-on", "none"]);
    assert_eq!(narrowed.code, 0, "{narrowed:?}");
    assert!(!coverage(&narrowed).iter().any(|c| c.2 == "missing"), "{:?}", coverage(&narrowed));
    assert!(!findings(&narrowed).iter().any(|f| f.0 == "scope-missing" && f.3 == "new"), "{:?}", findings(&narrowed));

    server.state.set(|f| f.hidden.clear());
    let back = scan(&dir, &server, &["--fail-on", "none"]);
    assert_eq!(back.code, 0, "{back:?}");
    assert!(back.changes().is_empty(), "{:?}", back.changes());
    assert!(findings(&back).iter().any(|f| f.0 == "scope-missing" && f.3 == "resolved"), "{:?}", findings(&back));
}

/// Who made an Azure change: the Activity Log names the caller of a
/// snapshot's deletion, read only for the subscription that changed.
#[test]
fn a_deletion_names_its_caller_from_the_activity_log() {
    let server = ArmServer::start();
    server.state.add_copies(SUB_A, "a", 2);
    server.state.private_network(SUB_A);
    let dir = TempDir::new();
    assert_eq!(scan(&dir, &server, &["--subscription", SUB_A]).code, 0);
    assert!(!server.state.requests().iter().any(|r| r.contains("Microsoft.Insights")), "a baseline needs no log");

    server.state.remove(SUB_A, "a-0");
    server.state.log_activity(SUB_A, "Microsoft.Compute/snapshots/delete", "a-0", "mallory@contoso.com");
    let run = scan(&dir, &server, &["--subscription", SUB_A, "--fail-on", "none"]);
    assert_eq!(run.code, 0, "{run:?}");
    let deleted = run.records("change").into_iter().find(|c| c["kind"] == "deleted").expect("a deletion");
    assert_eq!(deleted["actor"]["principal"], "mallory@contoso.com", "{deleted}");
    assert_eq!(deleted["actor"]["event_name"], "Microsoft.Compute/snapshots/delete");
    assert_eq!(deleted["actor"]["source_ip"], "203.0.113.9");
    // Only the actions the documented role has.
    let documented = common::snapaudit(dir.path(), None, &["permissions", "--provider", "azure"]).stdout;
    for action in server.state.actions() {
        assert!(documented.contains(action), "{action} is not in the documented role");
    }
}

/// Regression (issue 16, section 3): an export (SAS) URL granted and ended
/// between two scans never showed in the live state. The Activity Log keeps
/// the grant: a `transient-export` finding names the caller.
#[test]
fn an_export_granted_and_ended_between_scans_is_a_transient_export() {
    let server = ArmServer::start();
    server.state.add_copies(SUB_A, "a", 2);
    server.state.private_network(SUB_A);
    let dir = TempDir::new();
    assert_eq!(scan(&dir, &server, &["--subscription", SUB_A]).code, 0);

    server.state.log_activity(SUB_A, "Microsoft.Compute/snapshots/beginGetAccess/action", "a-1", "eve@contoso.com");
    server.state.log_activity(SUB_A, "Microsoft.Compute/snapshots/endGetAccess/action", "a-1", "eve@contoso.com");
    let run = scan(&dir, &server, &["--subscription", SUB_A]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.changes().is_empty(), "the live state shows nothing: {:?}", run.changes());
    let found: Vec<Value> = run.records("finding").into_iter().filter(|f| f["rule"] == "transient-export").collect();
    assert_eq!(found.len(), 1, "{run:?}");
    assert_eq!(found[0]["actor"]["principal"], "eve@contoso.com");
    assert!(found[0]["snapshot_id"].as_str().unwrap().ends_with("/a-1"), "{}", found[0]);
    assert_eq!(found[0]["severity"], "high");
}

/// One organization, two runners: each subscription scanned into its own
/// baseline, then one `report` reads both (`--db` repeated).
#[test]
fn one_report_reads_several_baselines() {
    let server = ArmServer::start();
    // Copies of the Get example: no networkAccessPolicy, so reachable from any network.
    server.state.add_copies(SUB_A, "a", 2);
    server.state.add_copies(SUB_B, "b", 3);
    let (a, b) = (TempDir::new(), TempDir::new());
    for (subscription, dir) in [(SUB_A, &a), (SUB_B, &b)] {
        let run = scan(dir, &server, &["--subscription", subscription, "--fail-on", "none"]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let (a_db, b_db) = (a.db().display().to_string(), b.db().display().to_string());
    let report = |kind: &str, extra: &[&str]| {
        let mut args = vec!["report", kind, "--db", &a_db, "--db", &b_db, "--format", "jsonl"];
        args.extend_from_slice(extra);
        common::snapaudit(a.path(), None, &args)
    };
    let shared = report("shared", &[]);
    assert_eq!(shared.code, 0, "{shared:?}");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut rows: Vec<(String, String)> =
        shared.records("shared_snapshot").iter().map(|r| (text(&r["baseline"]), text(&r["account"]))).collect();
    rows.sort();
    let mut expected: Vec<(String, String)> = [(&a_db, SUB_A, 2), (&b_db, SUB_B, 3)]
        .into_iter()
        .flat_map(|(db, sub, n)| std::iter::repeat_n((db.clone(), sub.to_owned()), n))
        .collect();
    expected.sort();
    assert_eq!(rows, expected, "{}", shared.stdout);
    let summary = shared.summary();
    assert_eq!(summary["shared snapshots"], "5", "counts add up: {summary}");
    assert_eq!(summary["as of scan"], "1, 1", "each baseline's scan: {summary}");

    let findings = report("findings", &[]);
    let exposed = findings.records("finding").iter().filter(|f| f["rule"] == "azure-network-exposure").count();
    assert_eq!(exposed, 5, "{}", findings.stdout);

    let one_scan = report("findings", &["--as-of", "1"]);
    assert_eq!(one_scan.code, 2, "{one_scan:?}");
    assert!(one_scan.stderr.contains("single --db"), "{}", one_scan.stderr);
}
