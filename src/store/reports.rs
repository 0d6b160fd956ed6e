//! Reading the baseline for `snapaudit report`: the state as of a scan, the
//! changes and findings of a period. No cloud call is involved.

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::{Finding, ScanRef, SharedVersion, StoredChange};

impl Store {
    /// The scan `id`, or the latest when `None`.
    pub fn scan_ref(&self, id: Option<i64>) -> Result<Option<ScanRef>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, started_at FROM scans WHERE id = coalesce(?1, (SELECT max(id) FROM scans))")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![id]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(r) => Ok(Some(ScanRef {
                id: r.get(0).map_err(|e| self.err(e))?,
                started_at: r.get(1).map_err(|e| self.err(e))?,
            })),
            None => Ok(None),
        }
    }

    /// The most recent `limit` scans up to and including `upto`, oldest first.
    pub fn recent_scans(&self, upto: i64, limit: usize) -> Result<Vec<ScanRef>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, started_at FROM scans WHERE id <= ?1 ORDER BY id DESC LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![upto, limit as i64], |r| Ok(ScanRef { id: r.get(0)?, started_at: r.get(1)? }))
            .map_err(|e| self.err(e))?;
        let mut out: Vec<ScanRef> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        out.reverse();
        Ok(out)
    }

    /// Every snapshot version that had at least one grantee, first scans up
    /// to `upto`, with the start of the scan that first stored it.
    pub fn shared_versions(&self, upto: i64) -> Result<Vec<SharedVersion>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT v.provider, v.service, v.account, v.region, v.snapshot_id, v.source_id, v.created_at,
                        v.size_gib, v.encrypted, v.kms_key_id, v.description, v.state, v.tags, v.grantees,
                        v.grantees_known, v.kind, v.attributes, v.first_scan, v.ended_scan, s.started_at
                 FROM snapshot_versions v JOIN scans s ON s.id = v.first_scan
                 WHERE v.grantees != '[]' AND v.first_scan <= ?1
                   AND NOT EXISTS (SELECT 1 FROM retired_scopes r
                                   WHERE r.provider = v.provider AND r.service = v.service
                                     AND r.account = v.account AND r.region = v.region
                                     AND r.after_scan >= v.first_scan AND r.after_scan <= ?1)
                 ORDER BY v.first_scan",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![upto]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            out.push(SharedVersion {
                snapshot: self.snapshot_from_row(row)?,
                first_scan: row.get(17).map_err(|e| self.err(e))?,
                ended_scan: row.get(18).map_err(|e| self.err(e))?,
                first_seen_at: row.get(19).map_err(|e| self.err(e))?,
            });
        }
        Ok(out)
    }

    /// The findings stored with scan `id`.
    pub fn findings_of(&self, id: i64) -> Result<Vec<Finding>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT provider, service, account, region, rule, severity, score, mitre, subject, snapshot_id,
                        grantees, related, message, status, first_seen, suppressed_by, actor, remedy
                 FROM findings WHERE scan_id = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![id]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            out.push(self.finding_from_row(row)?);
        }
        Ok(out)
    }

    /// Changes of the scans that started at or after `since` (RFC 3339).
    pub fn changes_since(&self, since: &str) -> Result<Vec<StoredChange>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.provider, c.service, c.account, c.region, c.kind, c.snapshot_id, c.grantee, c.details,
                        s.id, s.started_at, c.actor
                 FROM changes c JOIN scans s ON s.id = c.scan_id
                 WHERE s.started_at >= ?1 ORDER BY s.id, c.rowid",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(params![since]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let get = |e| self.err(e);
            let kind: String = row.get(4).map_err(get)?;
            let grantee: Option<String> = row.get(6).map_err(get)?;
            out.push(StoredChange {
                scan: ScanRef { id: row.get(8).map_err(get)?, started_at: row.get(9).map_err(get)? },
                change: crate::model::Change {
                    kind: crate::model::ChangeKind::parse(&kind).ok_or_else(|| self.bad("kind", kind.clone()))?,
                    scope: self.scope_from_row(row)?,
                    snapshot_id: row.get(5).map_err(get)?,
                    grantee: grantee.as_deref().map(crate::model::Grantee::decode),
                    details: row.get(7).map_err(get)?,
                    actor: self.actor_from(row.get(10).map_err(get)?)?,
                },
            });
        }
        Ok(out)
    }
}
