-- snapaudit baseline, first schema. Forward-only: never edit this file; add a
-- newer timestamp-named file instead.

CREATE TABLE scans (
    id              INTEGER PRIMARY KEY,
    started_at      TEXT    NOT NULL,  -- RFC 3339 UTC
    finished_at     TEXT    NOT NULL,
    tool_version    TEXT    NOT NULL,
    host            TEXT,
    user_name       TEXT,
    command         TEXT    NOT NULL,  -- the arguments, without secrets
    snapshot_count  INTEGER NOT NULL,
    complete        INTEGER NOT NULL   -- 1 when every scope listed completely
);

-- One row per scope attempted in a scan.
CREATE TABLE coverage (
    scan_id             INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    provider            TEXT    NOT NULL,
    service             TEXT    NOT NULL,
    account             TEXT    NOT NULL,
    region              TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('complete', 'failed')),
    error_code          TEXT,
    error               TEXT,
    unknown_exposure    TEXT    NOT NULL DEFAULT '[]',  -- JSON array of snapshot ids
    block_public_access TEXT,
    baseline            INTEGER NOT NULL DEFAULT 0,     -- 1: the scope's first complete listing
    PRIMARY KEY (scan_id, provider, service, account, region)
);

-- Snapshot state, one row per version: valid from first_scan until the scan
-- that saw it change or disappear (ended_scan, exclusive). Unchanged
-- snapshots cost no write per scan; a failed scope never ends a version.
CREATE TABLE snapshot_versions (
    id              INTEGER PRIMARY KEY,
    provider        TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    region          TEXT    NOT NULL,
    snapshot_id     TEXT    NOT NULL,
    kind            TEXT,              -- RDS snapshot type: manual, automated, awsbackup
    first_scan      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    ended_scan      INTEGER REFERENCES scans(id),
    source_id       TEXT,
    created_at      TEXT,
    size_gib        INTEGER,
    encrypted       INTEGER NOT NULL,
    kms_key_id      TEXT,
    description     TEXT,
    state           TEXT,
    tags            TEXT    NOT NULL,  -- JSON object
    grantees        TEXT    NOT NULL,  -- JSON array of "all" / account ids / "group:NAME"
    grantees_known  INTEGER NOT NULL   -- 0: share list unreadable, last known list carried
);
CREATE UNIQUE INDEX snapshot_versions_current
    ON snapshot_versions (provider, service, account, region, snapshot_id)
    WHERE ended_scan IS NULL;
CREATE INDEX snapshot_versions_scan ON snapshot_versions (first_scan, ended_scan);

CREATE TABLE changes (
    scan_id      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    snapshot_id  TEXT    NOT NULL,
    grantee      TEXT,
    details      TEXT    NOT NULL
);
CREATE INDEX changes_scan ON changes (scan_id);

CREATE TABLE findings (
    scan_id      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    rule         TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    provider     TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    snapshot_id  TEXT    NOT NULL,
    grantees     TEXT    NOT NULL,  -- JSON array
    message      TEXT    NOT NULL
);
CREATE INDEX findings_scan ON findings (scan_id);

CREATE TABLE api_calls (
    scan_id  INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    action   TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (scan_id, action)
);
