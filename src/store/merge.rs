//! The diff on disk: the spooled listing against the baseline, scope by
//! scope, both read in id order (`diff::merge_scope`), so a scan holds what
//! the rules look at (new, changed, deleted snapshots), not the estate.
//! Then the few snapshots the rules need besides: those audit events name,
//! and those created near a new one (bursts).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::params;

use super::diff::{self, Merged};
use super::spool::SpoolFile;
use super::{Store, StoreError};
use crate::model::{Baseline, Coverage, Grantee, PriorShares, Provider, Scope, Snapshot};

/// The spool's shared or exported snapshots: the exports are the key
/// `model::S3_EXPORTS` of the attributes' stored JSON (SQL is never built
/// from strings, so the key is spelled here; a test checks it).
const SHARED_OR_EXPORTED: &str = concat!(
    "SELECT ",
    snapshot_columns!(),
    " FROM spool.staged WHERE grantees != '[]' OR instr(attributes, '\"s3Exports\"') > 0"
);

impl Store {
    /// Make the scan's spool readable as `spool.staged` until the scan ends.
    pub fn attach(&self, spool: &SpoolFile) -> Result<(), StoreError> {
        let path = spool.path().to_str().ok_or_else(|| StoreError::Spool {
            path: spool.path().display().to_string(),
            source: std::io::Error::other("the spool's path is not UTF-8"),
        })?;
        self.conn.execute("ATTACH DATABASE ?1 AS spool", [path]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget the spool (before its file goes).
    pub fn detach(&self) -> Result<(), StoreError> {
        self.conn.execute("DETACH DATABASE spool", []).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Diff every completely listed scope that has a baseline against it.
    pub fn merge(&self, baseline: &Baseline, coverage: &[Coverage]) -> Result<Merged, StoreError> {
        let mut merged = Merged::default();
        // A scope without a baseline has no change: its listing is the
        // baseline, and the per-snapshot rules read its shared snapshots
        // from the spool themselves.
        let scopes: BTreeSet<&Scope> = coverage
            .iter()
            .filter(|c| c.is_complete() && baseline.established.contains(&c.scope))
            .map(|c| &c.scope)
            .collect();
        // Only rows without an identical partner (new, changed, deleted)
        // leave SQLite. The condition is the same from both sides, so each
        // id comes from both or from neither, and an unchanged snapshot
        // costs no read.
        let mut listed = self
            .conn
            .prepare(concat!(
                "SELECT ",
                snapshot_columns!(),
                " FROM spool.staged s WHERE ",
                in_scope!(),
                " AND NOT EXISTS (SELECT 1 FROM snapshot_versions v WHERE v.ended_scan IS NULL AND ",
                same_version!(),
                ") ORDER BY snapshot_id"
            ))
            .map_err(|e| self.err(e))?;
        let mut known = self
            .conn
            .prepare(concat!(
                "SELECT ",
                snapshot_columns!(),
                " FROM snapshot_versions v WHERE ",
                in_scope!(),
                " AND ended_scan IS NULL AND NOT EXISTS (SELECT 1 FROM spool.staged s WHERE ",
                same_version!(),
                ") ORDER BY snapshot_id"
            ))
            .map_err(|e| self.err(e))?;
        for scope in scopes {
            let key = params![scope.provider.as_str(), scope.service.as_str(), scope.account, scope.region];
            let now = listed.query_map(key, |row| Ok(self.snapshot_from_row(row))).map_err(|e| self.err(e))?;
            let now = now.map(|r| r.map_err(|e| self.err(e)).and_then(|s| s));
            let before = known.query_map(key, |row| Ok(self.snapshot_from_row(row))).map_err(|e| self.err(e))?;
            let before = before.map(|r| r.map_err(|e| self.err(e)).and_then(|s| s));
            diff::merge_scope(before, now, &mut merged)?;
        }
        // The stored version keeps the last known list, like the rules.
        let mut carry = self
            .conn
            .prepare(concat!("UPDATE spool.staged SET grantees = ?6 WHERE ", in_scope!(), " AND snapshot_id = ?5"))
            .map_err(|e| self.err(e))?;
        for (s, id, grantees) in &merged.carried {
            let encoded: Vec<String> = grantees.iter().map(Grantee::encode).collect();
            let encoded = serde_json::to_string(&encoded).unwrap_or_else(|_| "[]".into());
            carry
                .execute(params![s.provider.as_str(), s.service.as_str(), s.account, s.region, id, encoded])
                .map_err(|e| self.err(e))?;
        }
        Ok(merged)
    }

    /// The listed snapshots with any grantee (shared or exposed) or an
    /// export to S3 (`SHARED_OR_EXPORTED`), `page` at a time: what the per-snapshot rules read
    /// (`rules::evaluate_listing`).
    pub fn shared_pages(&self, page: usize, mut each: impl FnMut(&mut Vec<Snapshot>)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(SHARED_OR_EXPORTED).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut buffer = Vec::with_capacity(page);
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            buffer.push(self.snapshot_from_row(row)?);
            if buffer.len() >= page {
                each(&mut buffer);
                buffer.clear();
            }
        }
        if !buffer.is_empty() {
            each(&mut buffer);
        }
        Ok(())
    }

    /// The listed snapshots of `scope` with any grantee.
    pub fn listed_shared(&self, scope: &Scope) -> Result<Vec<Snapshot>, StoreError> {
        let sql =
            concat!("SELECT ", snapshot_columns!(), " FROM spool.staged WHERE ", in_scope!(), " AND grantees != '[]'");
        self.scope_rows(sql, scope, |_| Ok(true))
    }

    /// The rows of `scope` that `sql` (the scope in parameters 1 to 4)
    /// selects and `keep` accepts.
    fn scope_rows(
        &self,
        sql: &str,
        scope: &Scope,
        keep: impl Fn(&rusqlite::Row<'_>) -> Result<bool, StoreError>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![scope.provider.as_str(), scope.service.as_str(), scope.account, scope.region])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            if keep(row)? {
                out.push(self.snapshot_from_row(row)?);
            }
        }
        Ok(out)
    }

    /// How many snapshots the scan listed.
    pub fn spooled_count(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM spool.staged", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    /// The snapshots with these ids, wherever they are: as listed now, and
    /// as last known (an audit event names an id, not always its scope).
    pub fn named(&self, ids: &BTreeSet<String>) -> Result<(Vec<Snapshot>, Vec<Snapshot>), StoreError> {
        let mut out = (Vec::new(), Vec::new());
        let listed = concat!("SELECT ", snapshot_columns!(), " FROM spool.staged WHERE snapshot_id = ?1");
        let known = concat!(
            "SELECT ",
            snapshot_columns!(),
            " FROM snapshot_versions WHERE snapshot_id = ?1 AND ended_scan IS NULL"
        );
        for (sql, found) in [(listed, &mut out.0), (known, &mut out.1)] {
            let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
            for id in ids {
                let mut rows = stmt.query([id]).map_err(|e| self.err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                    found.push(self.snapshot_from_row(row)?);
                }
            }
        }
        Ok(out)
    }

    /// The snapshots listed in `scope` created at or after `since`: what a
    /// burst around a new snapshot may hold.
    pub fn listed_since(&self, scope: &Scope, since: jiff::Timestamp) -> Result<Vec<Snapshot>, StoreError> {
        let sql = concat!(
            "SELECT ",
            snapshot_columns!(),
            " FROM spool.staged WHERE ",
            in_scope!(),
            " AND created_at IS NOT NULL"
        );
        self.scope_rows(sql, scope, |row| {
            // Providers write times with offsets and fractions: compare them
            // as times, not as text.
            let created: Option<String> = row.get(6).map_err(|e| self.err(e))?;
            Ok(created.and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_some_and(|t| t >= since))
        })
    }

    /// Regions (locations) where each account (subscription) of `provider`
    /// has snapshots, by the baseline.
    pub fn locations(
        &self,
        baseline: &Baseline,
        provider: Provider,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT provider, service, account, region FROM snapshot_versions
                 WHERE provider = ?1 AND ended_scan IS NULL",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([provider.as_str()]).map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let scope = self.scope_from_row(row)?;
            if baseline.established.contains(&scope) {
                out.entry(scope.account).or_default().insert(scope.region);
            }
        }
        Ok(out)
    }

    /// The last read share list of every `provider` snapshot of the
    /// baseline, for an incremental scan.
    pub fn prior_shares(&self, baseline: &Baseline, provider: Provider) -> Result<PriorShares, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT provider, service, account, region, snapshot_id, grantees FROM snapshot_versions
                 WHERE provider = ?1 AND ended_scan IS NULL AND grantees_known",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([provider.as_str()]).map_err(|e| self.err(e))?;
        let mut lists: BTreeMap<Scope, HashMap<String, Vec<Grantee>>> = BTreeMap::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let scope = self.scope_from_row(row)?;
            if !baseline.established.contains(&scope) {
                continue;
            }
            let id: String = row.get(4).map_err(|e| self.err(e))?;
            let text: String = row.get(5).map_err(|e| self.err(e))?;
            let encoded: Vec<String> = serde_json::from_str(&text).map_err(|_| self.bad("grantees", text.clone()))?;
            lists.entry(scope).or_default().insert(id, encoded.iter().map(|g| Grantee::decode(g)).collect());
        }
        Ok(PriorShares { baseline: baseline.clone(), lists })
    }
}

#[cfg(test)]
mod exported_tests {
    #[test]
    fn the_exported_query_names_the_exports_attribute() {
        assert!(super::SHARED_OR_EXPORTED.contains(&format!("'\"{}\"'", crate::model::S3_EXPORTS)));
    }
}
