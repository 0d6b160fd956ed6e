//! Faults on the wire, injected by our proxy in front of moto mid-scan:
//! 5xx bursts, connection resets, cut XML bodies, a 30-second throttling
//! storm, and credentials that expire part way. Nothing may be lost, and
//! nothing false reported.

use crate::common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Moto, Run, TempDir, ec2, runtime, seed_snapshots, snapaudit};
use serde_json::Value;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// moto with 30 snapshots in each of two regions, behind the proxy, and a
/// first scan as the baseline. The proxy pages by 10 so a scope is several
/// calls, and faults can land in the middle of a listing.
fn scanned_account() -> (Moto, Proxy, TempDir) {
    let (moto, dir, rt) = (Moto::start(), TempDir::new(), runtime());
    for region in REGIONS {
        rt.block_on(seed_snapshots(&ec2(&moto.url, region), 30, "faults"));
    }
    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| f.page_size = Some(10));
    let first = scan(&proxy, &dir);
    assert_eq!((first.code, first.summary()["snapshots"].as_u64()), (0, Some(60)), "{first:?}");
    (moto, proxy, dir)
}

fn scan(proxy: &Proxy, dir: &TempDir) -> Run {
    snapaudit(
        dir.path(),
        Some(&proxy.url),
        &["scan", "--format", "jsonl", "--region", REGIONS[0], "--region", REGIONS[1], "--fail-on", "none"],
    )
}

fn failed_scopes(run: &Run) -> Vec<Value> {
    run.records("coverage").into_iter().filter(|c| c["status"] == "failed").collect()
}

#[test]
fn bursts_of_5xx_and_connection_resets_are_retried_and_lose_nothing() {
    let (_moto, proxy, dir) = scanned_account();
    proxy.state.set(|f| {
        f.fail_next = 4;
        f.reset_next = 3;
    });
    let run = scan(&proxy, &dir);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 60);
    assert!(failed_scopes(&run).is_empty(), "{:?}", failed_scopes(&run));
    assert!(run.changes().is_empty(), "a retried call is not a change: {:?}", run.changes());
    let faults = proxy.state.faults.lock().unwrap().clone();
    assert_eq!((faults.fail_next, faults.reset_next), (0, 0), "every injected fault was hit");
}

#[test]
fn a_cut_xml_body_is_retried_and_loses_nothing() {
    // The SDK's XML reader returns the items before the cut as a whole page;
    // before RejectCutXml this scan "lost" 25 of 60 snapshots.
    let (_moto, proxy, dir) = scanned_account();
    proxy.state.set(|f| f.truncate_next = 2);
    let run = scan(&proxy, &dir);
    assert_eq!(proxy.state.faults.lock().unwrap().truncate_next, 0, "the cut bodies were served");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 60);
    assert!(failed_scopes(&run).is_empty(), "{:?}", failed_scopes(&run));
    assert!(run.changes().is_empty(), "never a deletion: {:?}", run.changes());
}

#[test]
fn a_thirty_second_throttling_storm_makes_the_scan_late_not_incomplete() {
    let (_moto, proxy, dir) = scanned_account();
    proxy.state.reset_counts();
    proxy.state.set(|f| f.storm_until = Some(Instant::now() + Duration::from_secs(30)));
    let started = Instant::now();
    let run = scan(&proxy, &dir);
    let took = started.elapsed();
    eprintln!("storm: scan took {took:?}, {} throttled answers", proxy.state.throttled());
    assert!(took >= Duration::from_secs(30), "the scan outlasted the storm: {took:?}");
    assert!(proxy.state.throttled() > 0);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary()["snapshots"], 60, "nothing missing");
    assert!(failed_scopes(&run).is_empty(), "{:?}", failed_scopes(&run));
    assert!(run.changes().is_empty(), "{:?}", run.changes());
}

#[test]
fn credentials_expiring_mid_scan_fail_the_later_scopes_clearly() {
    let (_moto, proxy, dir) = scanned_account();
    // Enough calls for part of the scan, then every call is refused.
    proxy.state.set(|f| f.expire_after = Some(4));
    let run = scan(&proxy, &dir);
    assert_eq!(run.code, 3, "{run:?}");
    let failed = failed_scopes(&run);
    assert!(!failed.is_empty());
    for scope in &failed {
        assert_eq!(scope["error_code"], "ExpiredToken", "{scope}");
        assert!(scope["error"].as_str().unwrap().contains("expired"), "{scope}");
    }
    assert!(run.changes().is_empty(), "no deletion from expired credentials: {:?}", run.changes());
    // Nothing half-written: each complete scope holds all of its snapshots.
    for c in run.records("coverage").iter().filter(|c| c["status"] == "complete" && c["service"] == "ebs") {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM snapshot_versions WHERE region = ?1 AND service = 'ebs' AND ended_scan IS NULL",
                [c["region"].as_str().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 30, "{c}");
    }
    // Fresh credentials: the next scan completes and sees no change.
    proxy.state.set(|f| f.expire_after = None);
    let next = scan(&proxy, &dir);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(next.changes().is_empty(), "{:?}", next.changes());
}

#[test]
fn verbose_shows_the_sdks_retries_as_text_or_json_and_quiet_runs_show_none() {
    let (_moto, proxy, dir) = scanned_account();
    proxy.state.set(|f| f.fail_next = 1);
    let quiet = scan(&proxy, &dir);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(!quiet.stderr.contains("aws_smithy_runtime"), "no diagnostics without -v: {}", quiet.stderr);

    proxy.state.set(|f| f.fail_next = 1);
    let args = ["-v", "scan", "--format", "jsonl", "--region", REGIONS[0], "--region", REGIONS[1], "--fail-on", "none"];
    let verbose = snapaudit(dir.path(), Some(&proxy.url), &args);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    assert_eq!(verbose.summary()["snapshots"], 60, "stdout holds the report alone");
    assert!(
        verbose.stderr.lines().any(|l| l.contains("aws_smithy_runtime::client::retries") && l.contains("failed")),
        "the injected 500 shows as a failed attempt that is retried:\n{}",
        verbose.stderr
    );

    proxy.state.set(|f| f.fail_next = 1);
    let json = snapaudit(dir.path(), Some(&proxy.url), &[&["--log-format", "json"], &args[..]].concat());
    assert_eq!(json.code, 0, "{json:?}");
    let lines: Vec<Value> =
        json.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(
        lines.iter().any(|l| l["target"].as_str().is_some_and(|t| t.starts_with("aws_smithy_runtime"))),
        "{lines:?}"
    );
}
