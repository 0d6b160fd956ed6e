//! The store's round trip: what a scan writes is what the next scan reads,
//! scan after scan, and a prune keeps what later diffs depend on.

use std::collections::BTreeMap;

use super::{ScanRecord, SpoolFile, Store};
use crate::model::{
    Change, ChangeKind, Collected, Coverage, Fields, Finding, Grantee, ListingSink, Provider, Scope, Service, Severity,
    Snapshot, Status,
};

struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("snapaudit-store-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        TempDb(dir)
    }

    fn path(&self) -> std::path::PathBuf {
        self.0.join("state.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn scope(region: &str) -> Scope {
    Scope { provider: Provider::Aws, service: Service::Ebs, account: "111111111111".into(), region: region.into() }
}

fn snapshot(region: &str, id: &str, grantees: Vec<Grantee>) -> Snapshot {
    let mut tags = Fields::new();
    tags.insert("env".into(), "prod".into());
    let mut attributes = Fields::new();
    attributes.insert("storageTier".into(), "standard".into());
    Snapshot {
        scope: scope(region),
        id: id.into(),
        kind: Some("manual".into()),
        source_id: Some("vol-1".into()),
        created_at: Some("2026-11-24T10:00:00Z".into()),
        size_gib: Some(8),
        encrypted: true,
        kms_key_id: Some("arn:aws:kms:eu-west-1:111111111111:key/k".into()),
        description: Some("nightly".into()),
        state: Some("completed".into()),
        tags,
        grantees,
        grantees_known: true,
        attributes,
    }
}

fn finding(region: &str, subject: &str) -> Finding {
    Finding {
        rule: "external-share".into(),
        severity: Severity::High,
        score: 3,
        mitre: vec!["T1537".into()],
        scope: scope(region),
        subject: subject.into(),
        snapshot_id: Some(subject.into()),
        grantees: vec!["999999999999".into()],
        related: Vec::new(),
        message: "shared with 999999999999".into(),
        status: Status::New,
        first_seen: Some("2026-11-24T12:00:00Z".into()),
        suppressed_by: None,
        actor: None,
        remedy: None,
    }
}

/// Save a scan as `scan` does: its listing spooled, then written from there.
fn save(store: &mut Store, started: &str, collected: &Collected, changes: &[Change], findings: &[Finding]) -> i64 {
    let baseline = store.baseline().unwrap();
    let mut spool = SpoolFile::create(std::path::Path::new(store.path())).unwrap();
    spool.spool().put(collected.snapshots.clone());
    spool.finish().unwrap();
    store.attach(&spool).unwrap();
    let id = store
        .save_scan(&ScanRecord {
            started_at: started.into(),
            finished_at: started.into(),
            command: "scan".into(),
            collected,
            snapshot_count: collected.snapshots.len(),
            versioned: None,
            baseline: &baseline,
            changes,
            findings,
            api_calls: &BTreeMap::new(),
        })
        .unwrap();
    store.detach().unwrap();
    id
}

/// The baseline's snapshots (current versions of its scopes), in order.
fn state(store: &Store) -> Vec<Snapshot> {
    let established = store.baseline().unwrap().established;
    let mut stmt = store
        .conn
        .prepare(concat!(
            "SELECT ",
            snapshot_columns!(),
            " FROM snapshot_versions WHERE ended_scan IS NULL ORDER BY provider, service, account, region, snapshot_id"
        ))
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(store.snapshot_from_row(row).unwrap());
    }
    out.retain(|s| established.contains(&s.scope));
    out
}

#[test]
fn a_scan_written_is_the_baseline_read_back_and_a_failed_scope_keeps_its_last_listing() {
    let db = TempDb::new("round-trip");
    let mut store = Store::open(&db.path()).unwrap();
    let shared = snapshot("eu-west-1", "snap-a", vec![Grantee::Account("999999999999".into()), Grantee::Public]);
    let first = Collected {
        snapshots: vec![shared.clone(), snapshot("us-east-1", "snap-b", vec![])],
        coverage: vec![Coverage::complete(scope("eu-west-1")), Coverage::complete(scope("us-east-1"))],
        ..Collected::default()
    };
    let findings = [finding("eu-west-1", "snap-a")];
    let id = save(&mut store, "2026-11-24T12:00:00Z", &first, &[], &findings);

    let read = store.baseline().unwrap();
    assert_eq!(state(&store), first.snapshots, "every field survives the round trip");
    assert_eq!(read.established.len(), 2);
    let previous = store.previous_findings().unwrap();
    assert_eq!(previous.len(), 1);
    assert_eq!(
        (previous[0].rule.as_str(), previous[0].grantees.clone()),
        ("external-share", findings[0].grantees.clone())
    );
    assert_eq!(store.findings_of(id).unwrap().len(), 1);
    // What a scan reads instead of holding them: an index, and those gone.
    let index = store.previous_index().unwrap();
    let prior = index.get(&findings[0]).expect("indexed by key");
    assert_eq!(prior.first_seen, findings[0].first_seen);
    assert_eq!(store.previous_gone(&Default::default()).unwrap().len(), 1, "not raised now: gone");
    let raised = std::collections::HashSet::from([findings[0].key_digest()]);
    assert!(store.previous_gone(&raised).unwrap().is_empty(), "raised again: not gone");

    // us-east-1 fails: its snapshot is not deleted from the baseline.
    let second = Collected {
        snapshots: vec![shared.clone()],
        coverage: vec![
            Coverage::complete(scope("eu-west-1")),
            Coverage::failed(scope("us-east-1"), "AccessDenied", "denied"),
        ],
        ..Collected::default()
    };
    let change = Change {
        kind: ChangeKind::ShareRemoved,
        scope: scope("eu-west-1"),
        snapshot_id: "snap-a".into(),
        grantee: Some(Grantee::Public),
        details: "no longer public".into(),
        actor: None,
    };
    save(&mut store, "2026-11-25T12:00:00Z", &second, std::slice::from_ref(&change), &[]);
    assert_eq!(state(&store), first.snapshots, "a failed scope keeps its last complete listing");
    let stored = store.changes_since("2026-11-25T00:00:00Z").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].change.kind, stored[0].change.grantee.clone()),
        (ChangeKind::ShareRemoved, Some(Grantee::Public))
    );
    let history = store.history(10).unwrap();
    assert_eq!(history.iter().map(|s| s.complete).collect::<Vec<_>>(), [false, true], "newest first");
}

#[test]
fn a_prune_drops_old_scans_but_never_a_scopes_latest_complete_listing() {
    let db = TempDb::new("prune");
    let mut store = Store::open(&db.path()).unwrap();
    let both = Collected {
        snapshots: vec![snapshot("eu-west-1", "snap-a", vec![]), snapshot("us-east-1", "snap-b", vec![])],
        coverage: vec![Coverage::complete(scope("eu-west-1")), Coverage::complete(scope("us-east-1"))],
        ..Collected::default()
    };
    save(&mut store, "2026-01-01T00:00:00Z", &both, &[], &[]);
    save(&mut store, "2026-02-01T00:00:00Z", &both, &[], &[]);
    // Only eu-west-1 lists from now on: us-east-1's latest listing is scan 2.
    let one = Collected {
        snapshots: vec![snapshot("eu-west-1", "snap-a", vec![])],
        coverage: vec![
            Coverage::complete(scope("eu-west-1")),
            Coverage::failed(scope("us-east-1"), "AccessDenied", "denied"),
        ],
        ..Collected::default()
    };
    save(&mut store, "2026-11-01T00:00:00Z", &one, &[], &[]);
    let before = state(&store);

    let pruned = store.prune("2026-10-01T00:00:00Z").unwrap();
    assert_eq!((pruned.scans, pruned.kept_for_baseline), (1, 1), "{pruned:?}");
    let ids: Vec<i64> = store.history(10).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [3, 2]);
    assert_eq!(state(&store), before, "the baseline is unchanged by a prune");
}

#[test]
fn not_enabled_and_missing_scopes_are_stored_and_neither_ends_a_listing() {
    let db = TempDb::new("statuses");
    let mut store = Store::open(&db.path()).unwrap();
    let first = Collected {
        snapshots: vec![snapshot("eu-west-1", "snap-a", vec![])],
        coverage: vec![Coverage::complete(scope("eu-west-1"))],
        ..Collected::default()
    };
    save(&mut store, "2026-12-01T00:00:00Z", &first, &[], &[]);
    let second = Collected {
        coverage: vec![
            Coverage::missing(scope("eu-west-1"), crate::model::MissingReason::RegionDisabled, "disabled"),
            Coverage::not_enabled(scope("ap-east-1"), "not-opted-in"),
        ],
        ..Collected::default()
    };
    save(&mut store, "2026-12-02T00:00:00Z", &second, &[], &[]);
    let read = store.baseline().unwrap();
    assert_eq!(state(&store), first.snapshots, "a missing scope keeps its last complete listing");
    assert_eq!(read.established.len(), 1, "a region never enabled is no baseline: {:?}", read.established);
    let history = store.history(10).unwrap();
    let counts: Vec<(bool, i64)> = history.iter().map(|s| (s.complete, s.failed_scopes)).collect();
    assert_eq!(counts, [(false, 1), (true, 0)], "missing counts as a gap; not-enabled does not");
}

/// A database written before the two statuses existed is rebuilt in place:
/// every coverage row kept, the new statuses then accepted.
#[test]
fn the_coverage_table_is_rebuilt_with_its_rows() {
    let db = TempDb::new("rebuild");
    std::fs::create_dir_all(&db.0).unwrap();
    {
        let conn = rusqlite::Connection::open(db.path()).unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL);")
            .unwrap();
        for (name, sql) in super::migrations::MIGRATIONS.iter().filter(|(n, _)| *n < "20261202000000") {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 'then')", [name]).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO scans VALUES (1, 't0', 't1', '0.1', NULL, NULL, 'scan', 0, 0);
             INSERT INTO coverage (scan_id, provider, service, account, region, status, error_code, error)
                 VALUES (1, 'aws', 'ebs', '111111111111', 'eu-west-1', 'failed', 'AccessDenied', 'denied');",
        )
        .unwrap();
    }
    let store = Store::open(&db.path()).unwrap();
    let history = store.history(10).unwrap();
    assert_eq!((history.len(), history[0].failed_scopes), (1, 1), "the old row survived");
    drop(store);
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    conn.execute(
        "INSERT INTO coverage (scan_id, provider, service, account, region, status)
         VALUES (1, 'aws', 'ebs', '111111111111', 'ap-east-1', 'not-enabled')",
        [],
    )
    .expect("the new status is accepted");
}

#[test]
fn a_forgotten_scope_is_no_baseline_carries_no_finding_and_lists_again_as_a_new_baseline() {
    use super::forget::Retire;
    let db = TempDb::new("forget");
    let mut store = Store::open(&db.path()).unwrap();
    let both = Collected {
        snapshots: vec![snapshot("eu-west-1", "snap-a", vec![]), snapshot("us-east-1", "snap-b", vec![])],
        coverage: vec![Coverage::complete(scope("eu-west-1")), Coverage::complete(scope("us-east-1"))],
        ..Collected::default()
    };
    save(
        &mut store,
        "2026-12-01T00:00:00Z",
        &both,
        &[],
        &[finding("eu-west-1", "snap-a"), finding("us-east-1", "snap-b")],
    );
    let nothing = Retire { provider: None, account: "222222222222".into(), regions: vec![], services: vec![] };
    assert!(store.forget(&nothing, "2026-12-02T00:00:00Z").unwrap().is_empty(), "another account: nothing matches");

    let east = Retire { regions: vec!["us-east-1".into()], account: "111111111111".into(), ..nothing };
    assert_eq!(store.forget(&east, "2026-12-02T00:00:00Z").unwrap(), [scope("us-east-1")]);
    let read = store.baseline().unwrap();
    assert_eq!(read.established.iter().cloned().collect::<Vec<_>>(), [scope("eu-west-1")]);
    assert_eq!(state(&store), [snapshot("eu-west-1", "snap-a", vec![])]);
    let carried: Vec<String> = store.previous_findings().unwrap().into_iter().map(|f| f.subject).collect();
    assert_eq!(carried, ["snap-a"], "the retired scope's finding is no longer carried");
    assert!(store.forget(&east, "2026-12-02T00:00:00Z").unwrap().is_empty(), "already retired");

    // Listed again: a new baseline, and the old current version ends (no
    // duplicate current version).
    save(&mut store, "2026-12-03T00:00:00Z", &both, &[], &[]);
    let read = store.baseline().unwrap();
    assert_eq!(read.established.len(), 2);
    assert_eq!(state(&store), both.snapshots);
}
