//! Reading the baseline: the last known state of each scope, and scan history.

use std::collections::HashSet;

use rusqlite::Row;

use super::{Store, StoreError};
use crate::model::{
    Baseline, Fields, Finding, Grantee, Previous, Provider, ScanSummary, Scope, Service, Severity, Snapshot, Status,
    key_digest,
};

impl Store {
    /// Which scopes have a baseline, their block public access states and
    /// share-read times. Their snapshots stay on disk: a scan diffs against
    /// them there (`merge.rs`) and loads only what the rules look at.
    pub fn baseline(&self) -> Result<Baseline, StoreError> {
        let mut baseline = Baseline::default();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.provider, c.service, c.account, c.region FROM coverage c WHERE c.status = 'complete'
                 GROUP BY c.provider, c.service, c.account, c.region
                 HAVING max(c.scan_id) > coalesce((SELECT max(r.after_scan) FROM retired_scopes r
                                                   WHERE r.provider = c.provider AND r.service = c.service
                                                     AND r.account = c.account AND r.region = c.region), 0)",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            baseline.established.insert(self.scope_from_row(row)?);
        }
        // The latest state actually read per scope (`unknown` is no state).
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.provider, c.service, c.account, c.region, c.block_public_access FROM coverage c
                 WHERE c.block_public_access IS NOT NULL AND c.block_public_access != 'unknown'
                   AND c.scan_id = (SELECT max(d.scan_id) FROM coverage d
                                    WHERE d.provider = c.provider AND d.service = c.service
                                      AND d.account = c.account AND d.region = c.region
                                      AND d.block_public_access IS NOT NULL AND d.block_public_access != 'unknown')",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let state: String = row.get(4).map_err(|e| self.err(e))?;
            baseline.block_public_access.insert(self.scope_from_row(row)?, state);
        }
        self.read_share_times(&mut baseline)?;
        // A retired scope (`snapaudit forget`) is no baseline: its last listing
        // is neither diffed against nor reported missing.
        let established = &baseline.established;
        baseline.block_public_access.retain(|scope, _| established.contains(scope));
        baseline.shares_read.retain(|scope, _| established.contains(scope));
        Ok(baseline)
    }

    /// When each scope was last listed completely and its share lists read:
    /// by full sweeps (coverage rows; NULL predates incremental scans and
    /// was a full sweep) and by incremental scans (`share_reads`).
    fn read_share_times(&self, baseline: &mut Baseline) -> Result<(), StoreError> {
        let time = |s: Option<String>| s.and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.provider, c.service, c.account, c.region, max(s.started_at),
                        max(CASE WHEN coalesce(c.verification, 'full') = 'full' THEN s.started_at END)
                 FROM coverage c JOIN scans s ON s.id = c.scan_id
                 WHERE c.status = 'complete'
                 GROUP BY c.provider, c.service, c.account, c.region",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let scope = self.scope_from_row(row)?;
            let read = baseline.shares_read.entry(scope).or_default();
            read.listed_at = time(row.get(4).map_err(|e| self.err(e))?);
            read.all_at = time(row.get(5).map_err(|e| self.err(e))?);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT provider, service, account, region, snapshot_id, read_at FROM share_reads")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let scope = self.scope_from_row(row)?;
            let id: String = row.get(4).map_err(|e| self.err(e))?;
            if let Some(at) = time(row.get(5).map_err(|e| self.err(e))?) {
                baseline.shares_read.entry(scope).or_default().each_at.insert(id, at);
            }
        }
        Ok(())
    }

    /// The most recent scans, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<ScanSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, s.started_at, s.finished_at, s.snapshot_count, s.complete, s.command,
                        (SELECT count(*) FROM coverage c WHERE c.scan_id = s.id AND c.status IN ('failed', 'missing')),
                        (SELECT count(*) FROM changes c WHERE c.scan_id = s.id),
                        (SELECT count(*) FROM findings f WHERE f.scan_id = s.id)
                 FROM scans s ORDER BY s.id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(ScanSummary {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    snapshots: r.get(3)?,
                    complete: r.get(4)?,
                    command: r.get(5)?,
                    failed_scopes: r.get(6)?,
                    changes: r.get(7)?,
                    findings: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The findings of the most recent scan, resolved ones excluded (a
    /// scan reads them as [`Store::previous_index`] and
    /// [`Store::previous_gone`] instead, so as not to hold them).
    #[cfg(test)]
    pub fn previous_findings(&self) -> Result<Vec<Finding>, StoreError> {
        let mut out = Vec::new();
        self.each_previous_finding(|row| {
            out.push(self.finding_from_row(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The previous findings' keys, first sightings and severities, without
    /// the findings themselves (`rules::lifecycle::Previous`).
    pub fn previous_index(&self) -> Result<Previous, StoreError> {
        let mut previous = Previous::default();
        self.each_previous_finding(|row| {
            let get = |e| self.err(e);
            let (rule, subject): (String, String) = (row.get(4).map_err(get)?, row.get(8).map_err(get)?);
            let digest = key_digest(&rule, &self.scope_from_row(row)?, &subject);
            let severity: String = row.get(5).map_err(get)?;
            let status: String = row.get(13).map_err(get)?;
            previous.note(
                digest,
                Status::parse(&status).ok_or_else(|| self.bad("status", status.clone()))?,
                row.get(14).map_err(get)?,
                Severity::parse(&severity).ok_or_else(|| self.bad("severity", severity.clone()))?,
            );
            Ok(())
        })?;
        Ok(previous)
    }

    /// The previous findings whose key digest is not in `seen`: those this
    /// scan no longer raises, to resolve or carry.
    pub fn previous_gone(&self, seen: &HashSet<u128>) -> Result<Vec<Finding>, StoreError> {
        let mut out = Vec::new();
        self.each_previous_finding(|row| {
            let get = |e| self.err(e);
            let (rule, subject): (String, String) = (row.get(4).map_err(get)?, row.get(8).map_err(get)?);
            if !seen.contains(&key_digest(&rule, &self.scope_from_row(row)?, &subject)) {
                out.push(self.finding_from_row(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn each_previous_finding(
        &self,
        mut each: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT provider, service, account, region, rule, severity, score, mitre, subject, snapshot_id,
                        grantees, related, message, status, first_seen, suppressed_by, actor, remedy
                 FROM findings
                 WHERE scan_id = (SELECT max(id) FROM scans) AND status != 'resolved'
                   AND NOT EXISTS (SELECT 1 FROM retired_scopes r
                                   WHERE r.provider = findings.provider AND r.service = findings.service
                                     AND r.account = findings.account AND r.region = findings.region
                                     AND r.after_scan >= findings.scan_id)",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            each(row)?;
        }
        Ok(())
    }

    /// A stored actor (JSON), or none.
    pub(super) fn actor_from(&self, text: Option<String>) -> Result<Option<crate::model::Actor>, StoreError> {
        text.map(|t| serde_json::from_str(&t).map_err(|_| self.bad("actor", t.clone()))).transpose()
    }

    pub(super) fn finding_from_row(&self, row: &Row<'_>) -> Result<Finding, StoreError> {
        let get = |e| self.err(e);
        let list = |i: usize, column: &'static str| -> Result<Vec<String>, StoreError> {
            let text: String = row.get(i).map_err(get)?;
            serde_json::from_str(&text).map_err(|_| self.bad(column, text.clone()))
        };
        let severity: String = row.get(5).map_err(get)?;
        let status: String = row.get(13).map_err(get)?;
        let snapshot_id: String = row.get(9).map_err(get)?;
        Ok(Finding {
            scope: self.scope_from_row(row)?,
            rule: row.get(4).map_err(get)?,
            severity: Severity::parse(&severity).ok_or_else(|| self.bad("severity", severity.clone()))?,
            score: row.get(6).map_err(get)?,
            mitre: list(7, "mitre")?,
            subject: row.get(8).map_err(get)?,
            snapshot_id: (!snapshot_id.is_empty()).then_some(snapshot_id),
            grantees: list(10, "grantees")?,
            related: list(11, "related")?,
            message: row.get(12).map_err(get)?,
            status: Status::parse(&status).ok_or_else(|| self.bad("status", status.clone()))?,
            first_seen: row.get(14).map_err(get)?,
            suppressed_by: row.get(15).map_err(get)?,
            actor: self.actor_from(row.get(16).map_err(get)?)?,
            remedy: {
                let text: Option<String> = row.get(17).map_err(get)?;
                text.map(|t| serde_json::from_str(&t).map_err(|_| self.bad("remedy", t.clone()))).transpose()?
            },
        })
    }

    pub(super) fn scope_from_row(&self, row: &Row<'_>) -> Result<Scope, StoreError> {
        let text = |i: usize| row.get::<_, String>(i).map_err(|e| self.err(e));
        let (provider, service) = (text(0)?, text(1)?);
        Ok(Scope {
            provider: Provider::parse(&provider).ok_or_else(|| self.bad("provider", provider.clone()))?,
            service: Service::parse(&service).ok_or_else(|| self.bad("service", service.clone()))?,
            account: text(2)?,
            region: text(3)?,
        })
    }

    pub(super) fn snapshot_from_row(&self, row: &Row<'_>) -> Result<Snapshot, StoreError> {
        let get = |e| self.err(e);
        let tags: String = row.get(12).map_err(get)?;
        let grantees: String = row.get(13).map_err(get)?;
        let attributes: String = row.get(16).map_err(get)?;
        let tags: Fields = serde_json::from_str(&tags).map_err(|_| self.bad("tags", tags.clone()))?;
        let attributes: Fields =
            serde_json::from_str(&attributes).map_err(|_| self.bad("attributes", attributes.clone()))?;
        let encoded: Vec<String> =
            serde_json::from_str(&grantees).map_err(|_| self.bad("grantees", grantees.clone()))?;
        Ok(Snapshot {
            scope: self.scope_from_row(row)?,
            id: row.get(4).map_err(get)?,
            source_id: row.get(5).map_err(get)?,
            created_at: row.get(6).map_err(get)?,
            size_gib: row.get(7).map_err(get)?,
            encrypted: row.get(8).map_err(get)?,
            kms_key_id: row.get(9).map_err(get)?,
            description: row.get(10).map_err(get)?,
            state: row.get(11).map_err(get)?,
            tags,
            grantees: encoded.iter().map(|g| Grantee::decode(g)).collect(),
            grantees_known: row.get(14).map_err(get)?,
            kind: row.get(15).map_err(get)?,
            attributes,
        })
    }

    pub(super) fn bad(&self, column: &'static str, value: String) -> StoreError {
        StoreError::BadValue { path: self.path.clone(), column, value }
    }
}
