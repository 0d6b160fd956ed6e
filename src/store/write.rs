//! Writing one scan: coverage, new snapshot versions, changes, findings and
//! API-call counts, all in one transaction.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Transaction, TransactionBehavior, params};

use super::{Store, StoreError};
use crate::model::{Baseline, Change, Collected, Finding, Scope, Snapshot};

/// Everything a scan leaves in the baseline.
pub struct ScanRecord<'a> {
    pub started_at: String,
    pub finished_at: String,
    /// The command line, as shown by `history` (must hold no secret).
    pub command: String,
    pub collected: &'a Collected,
    /// The state the scan was diffed against.
    pub baseline: &'a Baseline,
    pub changes: &'a [Change],
    pub findings: &'a [Finding],
    pub api_calls: &'a BTreeMap<String, u64>,
}

impl Store {
    /// Write the scan atomically and return its id. On any error nothing is
    /// written and the previous baseline stays as it was.
    pub fn save_scan(&mut self, rec: &ScanRecord<'_>) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::from_sqlite(&path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let scan_id = write_scan(&tx, rec).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(scan_id)
    }
}

fn write_scan(tx: &Transaction<'_>, rec: &ScanRecord<'_>) -> rusqlite::Result<i64> {
    let complete = !rec.collected.coverage.iter().any(|c| c.has_gap());
    tx.execute(
        "INSERT INTO scans (started_at, finished_at, tool_version, host, user_name, command, snapshot_count, complete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            rec.started_at,
            rec.finished_at,
            env!("CARGO_PKG_VERSION"),
            std::env::var("HOSTNAME").ok(),
            std::env::var("USER").ok(),
            rec.command,
            rec.collected.snapshots.len() as i64,
            complete
        ],
    )?;
    let scan_id = tx.last_insert_rowid();

    let mut by_scope: HashMap<&Scope, Vec<&Snapshot>> = HashMap::new();
    for snapshot in &rec.collected.snapshots {
        by_scope.entry(&snapshot.scope).or_default().push(snapshot);
    }
    for cov in &rec.collected.coverage {
        let s = &cov.scope;
        tx.execute(
            "INSERT INTO coverage (scan_id, provider, service, account, region, status, error_code, error,
                                   unknown_exposure, block_public_access, baseline, verification,
                                   oldest_verified_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                scan_id,
                s.provider.as_str(),
                s.service.as_str(),
                s.account,
                s.region,
                cov.status.as_str(),
                cov.error_code,
                cov.error,
                serde_json::to_string(&cov.unknown_exposure).unwrap_or_else(|_| "[]".into()),
                cov.block_public_access,
                cov.is_complete() && !rec.baseline.established.contains(s),
                cov.verification.map(|v| v.as_str()),
                cov.oldest_verified_at
            ],
        )?;
        // A failed scope keeps its last known versions open: nothing ends.
        if cov.is_complete() {
            if !rec.baseline.established.contains(s) {
                // A retired scope listed again: its old versions end here and
                // this listing is its new baseline.
                tx.execute(
                    "UPDATE snapshot_versions SET ended_scan = ?1
                     WHERE provider = ?2 AND service = ?3 AND account = ?4 AND region = ?5 AND ended_scan IS NULL",
                    params![scan_id, s.provider.as_str(), s.service.as_str(), s.account, s.region],
                )?;
            }
            let current = by_scope.remove(s).unwrap_or_default();
            write_versions(tx, scan_id, s, &current, rec.baseline.snapshots.get(s))?;
            write_share_reads(tx, cov, &current, &rec.started_at)?;
        }
    }

    let mut stmt = tx.prepare(
        "INSERT INTO changes (scan_id, kind, provider, service, account, region, snapshot_id, grantee, details, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for c in rec.changes {
        let s = &c.scope;
        stmt.execute(params![
            scan_id,
            c.kind.as_str(),
            s.provider.as_str(),
            s.service.as_str(),
            s.account,
            s.region,
            c.snapshot_id,
            c.grantee.as_ref().map(|g| g.encode()),
            c.details,
            actor_json(c.actor.as_ref())
        ])?;
    }
    let mut stmt = tx.prepare(
        "INSERT INTO findings (scan_id, rule, severity, provider, service, account, region, snapshot_id, grantees,
                               message, subject, score, mitre, status, first_seen, related, suppressed_by, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    for f in rec.findings {
        let s = &f.scope;
        stmt.execute(params![
            scan_id,
            f.rule,
            f.severity.as_str(),
            s.provider.as_str(),
            s.service.as_str(),
            s.account,
            s.region,
            f.snapshot_id.as_deref().unwrap_or(""),
            json(&f.grantees),
            f.message,
            f.subject,
            f.score,
            json(&f.mitre),
            f.status.as_str(),
            f.first_seen,
            json(&f.related),
            f.suppressed_by,
            actor_json(f.actor.as_ref())
        ])?;
    }
    let mut stmt = tx.prepare("INSERT INTO api_calls (scan_id, action, count) VALUES (?1, ?2, ?3)")?;
    for (action, count) in rec.api_calls {
        stmt.execute(params![scan_id, action, *count as i64])?;
    }
    Ok(scan_id)
}

/// When share lists were read: a full sweep read them all (its coverage row
/// says so, and the per-snapshot rows of the scope are cleared); an
/// incremental scan records the ones it read. Rows of snapshots no longer
/// listed go.
fn write_share_reads(
    tx: &Transaction<'_>,
    cov: &crate::model::Coverage,
    current: &[&Snapshot],
    started_at: &str,
) -> rusqlite::Result<()> {
    let s = &cov.scope;
    let scope = params![s.provider.as_str(), s.service.as_str(), s.account, s.region];
    match cov.verification {
        Some(crate::model::Verification::Incremental) => {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO share_reads (provider, service, account, region, snapshot_id, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (provider, service, account, region, snapshot_id) DO UPDATE SET read_at = ?6",
            )?;
            for id in &cov.shares_read {
                upsert.execute(params![
                    s.provider.as_str(),
                    s.service.as_str(),
                    s.account,
                    s.region,
                    id,
                    started_at
                ])?;
            }
            let listed: std::collections::HashSet<&str> = current.iter().map(|s| s.id.as_str()).collect();
            let mut stmt = tx.prepare_cached(
                "SELECT snapshot_id FROM share_reads WHERE provider = ?1 AND service = ?2 AND account = ?3 AND region = ?4",
            )?;
            let gone: Vec<String> = stmt
                .query_map(scope, |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|id| !listed.contains(id.as_str()))
                .collect();
            let mut delete = tx.prepare_cached(
                "DELETE FROM share_reads
                 WHERE provider = ?1 AND service = ?2 AND account = ?3 AND region = ?4 AND snapshot_id = ?5",
            )?;
            for id in gone {
                delete.execute(params![s.provider.as_str(), s.service.as_str(), s.account, s.region, id])?;
            }
        }
        _ => {
            tx.prepare_cached(
                "DELETE FROM share_reads WHERE provider = ?1 AND service = ?2 AND account = ?3 AND region = ?4",
            )?
            .execute(scope)?;
        }
    }
    Ok(())
}

fn actor_json(actor: Option<&crate::model::Actor>) -> Option<String> {
    actor.and_then(|a| serde_json::to_string(a).ok())
}

/// End the versions that changed or vanished and insert the new ones.
fn write_versions(
    tx: &Transaction<'_>,
    scan_id: i64,
    scope: &Scope,
    current: &[&Snapshot],
    previous: Option<&BTreeMap<String, Snapshot>>,
) -> rusqlite::Result<()> {
    let mut end = tx.prepare_cached(
        "UPDATE snapshot_versions SET ended_scan = ?1
         WHERE provider = ?2 AND service = ?3 AND account = ?4 AND region = ?5 AND snapshot_id = ?6
           AND ended_scan IS NULL",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO snapshot_versions (provider, service, account, region, snapshot_id, first_scan, source_id,
             created_at, size_gib, encrypted, kms_key_id, description, state, tags, grantees, grantees_known, kind,
             attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for snap in current {
        match previous.and_then(|p| p.get(&snap.id)) {
            Some(prev) if prev == *snap => continue,
            Some(_) => {
                end.execute(params![
                    scan_id,
                    scope.provider.as_str(),
                    scope.service.as_str(),
                    scope.account,
                    scope.region,
                    snap.id
                ])?;
            }
            None => {}
        }
        let grantees: Vec<String> = snap.grantees.iter().map(|g| g.encode()).collect();
        insert.execute(params![
            scope.provider.as_str(),
            scope.service.as_str(),
            scope.account,
            scope.region,
            snap.id,
            scan_id,
            snap.source_id,
            snap.created_at,
            snap.size_gib,
            snap.encrypted,
            snap.kms_key_id,
            snap.description,
            snap.state,
            serde_json::to_string(&snap.tags).unwrap_or_else(|_| "{}".into()),
            serde_json::to_string(&grantees).unwrap_or_else(|_| "[]".into()),
            snap.grantees_known,
            snap.kind,
            serde_json::to_string(&snap.attributes).unwrap_or_else(|_| "{}".into())
        ])?;
    }
    if let Some(previous) = previous {
        let seen: std::collections::HashSet<&str> = current.iter().map(|s| s.id.as_str()).collect();
        for id in previous.keys().filter(|id| !seen.contains(id.as_str())) {
            end.execute(params![
                scan_id,
                scope.provider.as_str(),
                scope.service.as_str(),
                scope.account,
                scope.region,
                id
            ])?;
        }
    }
    Ok(())
}
