-- Findings gain an identity across scans (rule + scope + subject), a score,
-- MITRE technique ids and a lifecycle status. Every finding that is new,
-- open, suppressed or resolved in a scan is stored with that scan.

ALTER TABLE findings ADD COLUMN subject TEXT NOT NULL DEFAULT '';     -- snapshot id or group name
ALTER TABLE findings ADD COLUMN score INTEGER NOT NULL DEFAULT 1;     -- 1-3
ALTER TABLE findings ADD COLUMN mitre TEXT NOT NULL DEFAULT '[]';     -- JSON array of technique ids
ALTER TABLE findings ADD COLUMN status TEXT NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'open', 'resolved', 'suppressed'));
ALTER TABLE findings ADD COLUMN first_seen TEXT;                      -- RFC 3339, when first raised
ALTER TABLE findings ADD COLUMN related TEXT NOT NULL DEFAULT '[]';   -- JSON array: burst members, correlated subjects
ALTER TABLE findings ADD COLUMN suppressed_by TEXT;                   -- allowlist reason or backup tool

-- Findings of the first schema were always about one snapshot.
UPDATE findings SET subject = snapshot_id WHERE subject = '';
UPDATE findings SET first_seen = (SELECT started_at FROM scans WHERE scans.id = findings.scan_id)
    WHERE first_seen IS NULL;
