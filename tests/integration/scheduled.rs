//! Scheduled operation: retention (`prune`, never the latest complete
//! listing of a scope) and `watch` (scans in a loop).

use crate::common;

use std::time::{Duration, Instant};

use common::arm::{ArmServer, SUB_A, SUB_B};
use common::{Run, TempDir, snapaudit_with};

fn azure(dir: &TempDir, server: &ArmServer, command: &[&str]) -> Run {
    server.run(dir, command, &["--format", "jsonl", "--fail-on", "none"], &[])
}

fn scan_ids(dir: &TempDir) -> Vec<i64> {
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM scans ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn prune_drops_old_scans_but_never_a_scopes_latest_complete_listing() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    server.state.add_copies(SUB_B, "b", 3);
    let dir = TempDir::new();
    assert_eq!(azure(&dir, &server, &["scan"]).code, 0);
    // From now on subscription B fails: scan 1 holds its latest complete listing.
    server.state.set(|f| {
        f.forbidden.insert(SUB_B.into());
    });
    assert_eq!(azure(&dir, &server, &["scan"]).code, 3);
    server.state.add_copies(SUB_A, "later", 1);
    assert_eq!(azure(&dir, &server, &["scan"]).code, 3);
    // Scans 1 and 2 become 100 days old.
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute("UPDATE scans SET started_at = '2026-08-01T00:00:00Z' WHERE id IN (1, 2)", []).unwrap();
    drop(conn);

    let db = dir.db();
    let pruned = snapaudit_with(dir.path(), None, &["prune", "--keep", "30d", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(pruned.code, 0, "{pruned:?}");
    assert!(pruned.stdout.contains("pruned 1 scan(s)"), "{}", pruned.stdout);
    assert!(pruned.stdout.contains("kept 1 older scan(s)"), "{}", pruned.stdout);
    assert_eq!(scan_ids(&dir), [1, 3], "scan 2 went; scan 1 is B's baseline");
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!((check.as_str(), fk), ("ok", 0));

    // B lists again: no change, no new baseline, nothing reported deleted.
    server.state.set(|f| f.forbidden.clear());
    let after = azure(&dir, &server, &["scan"]);
    assert_eq!(after.code, 0, "{after:?}");
    assert!(after.changes().is_empty(), "{:?}", after.changes());
    assert_eq!(after.summary()["baseline_scopes"], 0, "the baselines survived the prune");
    assert_eq!(after.summary()["snapshots"], 8);

    // Without --keep or a policy retention, prune says what it needs.
    let unsaid = snapaudit_with(dir.path(), None, &["prune", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(unsaid.code, 2);
    assert!(unsaid.stderr.contains("--keep 90d"), "{}", unsaid.stderr);
}

#[test]
fn a_policy_retention_prunes_after_each_scan() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    let dir = TempDir::new();
    std::fs::write(dir.path().join("keep.yaml"), "version: 1\nretention: 30d\n").unwrap();
    for _ in 0..2 {
        assert_eq!(azure(&dir, &server, &["scan", "--policy", "keep.yaml"]).code, 0);
    }
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute("UPDATE scans SET started_at = '2026-01-01T00:00:00Z' WHERE id = 1", []).unwrap();
    drop(conn);
    assert_eq!(azure(&dir, &server, &["scan", "--policy", "keep.yaml"]).code, 0);
    assert_eq!(scan_ids(&dir), [2, 3]);
}

#[test]
fn watch_scans_on_an_interval_and_stops_after_times() {
    let server = ArmServer::start();
    server.state.add_examples(SUB_A);
    let dir = TempDir::new();
    let started = Instant::now();
    let run = azure(&dir, &server, &["watch", "--every", "1s", "--jitter", "1s", "--times", "3"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scan_ids(&dir), [1, 2, 3]);
    assert_eq!(run.records("summary").len(), 3, "one report per scan");
    assert!(took >= Duration::from_secs(2), "two waits of at least 1 s: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn log_format_json_writes_one_object_per_line_on_stderr() {
    let dir = TempDir::new();
    let run = snapaudit_with(dir.path(), None, &["--log-format", "json", "history", "--db", "missing.db"], &[]);
    assert_eq!(run.code, 2);
    let line: serde_json::Value =
        serde_json::from_str(run.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.stderr));
    assert_eq!(line["level"], "error");
    assert!(line["message"].as_str().unwrap().contains("no baseline at missing.db"), "{line}");
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}
