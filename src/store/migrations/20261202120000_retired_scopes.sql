-- Scopes an operator retired with `snapaudit forget` (an account closed on
-- purpose, a region given up): from the scan `after_scan` on, their last
-- listing is no baseline, their findings are not carried, and they are never
-- `missing`. A later complete listing starts a new baseline.

CREATE TABLE retired_scopes (
    provider    TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    after_scan  INTEGER NOT NULL,  -- the latest scan when retired (no foreign key: a prune must not un-retire)
    retired_at  TEXT    NOT NULL,  -- RFC 3339 UTC
    PRIMARY KEY (provider, service, account, region, after_scan)
);
