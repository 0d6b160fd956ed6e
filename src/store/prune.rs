//! Retention: drop scans older than a cutoff, in one transaction, never the
//! latest scan nor the latest complete listing of any scope (the baseline
//! every later diff depends on). Snapshot versions still current or still
//! valid in a kept scan are kept, re-dated to the first kept scan.

use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError};

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub scans: usize,
    pub snapshot_versions: usize,
    /// Scans older than the cutoff kept because a scope's latest complete
    /// listing is in them.
    pub kept_for_baseline: usize,
}

impl Store {
    /// Remove scans that started before `cutoff` (RFC 3339).
    pub fn prune(&mut self, cutoff: &str) -> Result<Pruned, StoreError> {
        let path = self.path.clone();
        let err = |e| StoreError::from_sqlite(&path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        // Protected: the latest scan, and each scope's latest complete listing.
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS protected (id INTEGER PRIMARY KEY);
             DELETE FROM protected;
             INSERT OR IGNORE INTO protected SELECT max(id) FROM scans WHERE id IS NOT NULL;
             INSERT OR IGNORE INTO protected
                 SELECT max(scan_id) FROM coverage WHERE status = 'complete'
                 GROUP BY provider, service, account, region;
             CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY);
             DELETE FROM doomed;",
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO doomed SELECT id FROM scans WHERE started_at < ?1 AND id NOT IN (SELECT id FROM protected)",
            params![cutoff],
        )
        .map_err(err)?;
        let kept_for_baseline: usize = tx
            .query_row(
                "SELECT count(*) FROM scans WHERE started_at < ?1 AND id IN (SELECT id FROM protected)",
                params![cutoff],
                |r| r.get::<_, i64>(0),
            )
            .map_err(err)? as usize;
        // Versions that ended in a dropped scan lie wholly in the dropped past.
        let mut versions =
            tx.execute("DELETE FROM snapshot_versions WHERE ended_scan IN (SELECT id FROM doomed)", []).map_err(err)?;
        // Versions first stored in a dropped scan start again at the next kept
        // scan; if they ended before it, nothing kept ever saw them.
        tx.execute(
            "UPDATE snapshot_versions SET first_scan =
                 (SELECT min(id) FROM scans WHERE id > snapshot_versions.first_scan AND id NOT IN (SELECT id FROM doomed))
             WHERE first_scan IN (SELECT id FROM doomed)",
            [],
        )
        .map_err(err)?;
        versions += tx
            .execute(
                "DELETE FROM snapshot_versions WHERE first_scan IS NULL
                     OR (ended_scan IS NOT NULL AND first_scan >= ended_scan)",
                [],
            )
            .map_err(err)?;
        let scans = tx.execute("DELETE FROM scans WHERE id IN (SELECT id FROM doomed)", []).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Pruned { scans, snapshot_versions: versions, kept_for_baseline })
    }
}
