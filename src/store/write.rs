//! Writing one scan: coverage, new snapshot versions, changes, findings and
//! API-call counts, all in one transaction.

use std::collections::BTreeMap;

use rusqlite::{Transaction, TransactionBehavior, params};

use super::{Store, StoreError};
use crate::model::{Baseline, Change, Collected, Finding, Scope};

/// Everything a scan leaves in the baseline.
pub struct ScanRecord<'a> {
    pub started_at: String,
    pub finished_at: String,
    /// The command line, as shown by `history` (must hold no secret).
    pub command: String,
    /// Coverage and the rest; the listing itself is in the attached spool.
    pub collected: &'a Collected,
    pub snapshot_count: usize,
    /// Scopes with a baseline whose versions change (the diff's
    /// `versioned`); `None`: write every complete scope.
    pub versioned: Option<&'a std::collections::BTreeSet<Scope>>,
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
            rec.snapshot_count as i64,
            complete
        ],
    )?;
    let scan_id = tx.last_insert_rowid();

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
            // An unchanged scope with a baseline has nothing to end or add.
            let unchanged = rec.baseline.established.contains(s) && rec.versioned.is_some_and(|v| !v.contains(s));
            if !unchanged {
                write_versions(tx, scan_id, s)?;
            }
            write_share_reads(tx, cov, &rec.started_at)?;
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
                               message, subject, score, mitre, status, first_seen, related, suppressed_by, actor,
                               remedy)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
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
            actor_json(f.actor.as_ref()),
            f.remedy.as_ref().and_then(|r| serde_json::to_string(r).ok())
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
fn write_share_reads(tx: &Transaction<'_>, cov: &crate::model::Coverage, started_at: &str) -> rusqlite::Result<()> {
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
            tx.prepare_cached(
                "DELETE FROM share_reads
                 WHERE provider = ?1 AND service = ?2 AND account = ?3 AND region = ?4
                   AND NOT EXISTS (SELECT 1 FROM spool.staged s
                                   WHERE s.provider = ?1 AND s.service = ?2 AND s.account = ?3 AND s.region = ?4
                                     AND s.snapshot_id = share_reads.snapshot_id)",
            )?
            .execute(scope)?;
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

/// End the versions of the scope that changed or vanished, and copy the
/// new ones from the spool: a version is unchanged when every column is
/// the same (the spool encodes them as the versions do), so an unchanged
/// rescan writes no version at all.
fn write_versions(tx: &Transaction<'_>, scan_id: i64, scope: &Scope) -> rusqlite::Result<()> {
    let key = params![scan_id, scope.provider.as_str(), scope.service.as_str(), scope.account, scope.region];
    tx.prepare_cached(concat!(
        "UPDATE snapshot_versions AS v SET ended_scan = ?1
         WHERE v.provider = ?2 AND v.service = ?3 AND v.account = ?4 AND v.region = ?5 AND v.ended_scan IS NULL
           AND NOT EXISTS (SELECT 1 FROM spool.staged s WHERE ",
        same_version!(),
        ")"
    ))?
    .execute(key)?;
    tx.prepare_cached(concat!(
        "INSERT INTO snapshot_versions (",
        snapshot_columns!(),
        ", first_scan) SELECT ",
        snapshot_columns!(),
        ", ?1 FROM spool.staged AS s
         WHERE s.provider = ?2 AND s.service = ?3 AND s.account = ?4 AND s.region = ?5
           AND NOT EXISTS (SELECT 1 FROM snapshot_versions v WHERE ",
        same_snapshot!(),
        " AND v.ended_scan IS NULL)"
    ))?
    .execute(key)?;
    Ok(())
}
