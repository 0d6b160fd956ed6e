-- Incremental share verification (policy `verification: incremental`): how
-- each scope's share lists were checked, and when each share list was last
-- read by an incremental scan. A full sweep reads every list: its coverage
-- row says so, and no per-snapshot row is written. Rows before this
-- migration were full sweeps (NULL reads as `full`).

ALTER TABLE coverage ADD COLUMN verification TEXT;       -- full | incremental | NULL (Azure: in the listing)
ALTER TABLE coverage ADD COLUMN oldest_verified_at TEXT; -- RFC 3339

CREATE TABLE share_reads (
    provider    TEXT NOT NULL,
    service     TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    snapshot_id TEXT NOT NULL,
    read_at     TEXT NOT NULL,  -- the reading scan's start, RFC 3339
    PRIMARY KEY (provider, service, account, region, snapshot_id)
);
