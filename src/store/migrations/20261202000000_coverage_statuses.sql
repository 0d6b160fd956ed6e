-- Two more coverage statuses: 'not-enabled' (an AWS opt-in region the account
-- has not enabled: nothing can exist there) and 'missing' (a scope the
-- baseline holds that vanished from reach; error_code says why:
-- left-organization, not-visible, region-disabled). SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt with the same columns and rows.

CREATE TABLE coverage_new (
    scan_id             INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    provider            TEXT    NOT NULL,
    service             TEXT    NOT NULL,
    account             TEXT    NOT NULL,
    region              TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('complete', 'failed', 'not-enabled', 'missing')),
    error_code          TEXT,
    error               TEXT,
    unknown_exposure    TEXT    NOT NULL DEFAULT '[]',  -- JSON array of snapshot ids
    block_public_access TEXT,
    baseline            INTEGER NOT NULL DEFAULT 0,     -- 1: the scope's first complete listing
    PRIMARY KEY (scan_id, provider, service, account, region)
);
INSERT INTO coverage_new (scan_id, provider, service, account, region, status, error_code, error,
                          unknown_exposure, block_public_access, baseline)
    SELECT scan_id, provider, service, account, region, status, error_code, error,
           unknown_exposure, block_public_access, baseline
    FROM coverage;
DROP TABLE coverage;
ALTER TABLE coverage_new RENAME TO coverage;
