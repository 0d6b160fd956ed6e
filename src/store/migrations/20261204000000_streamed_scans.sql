-- Streamed scans: the diff reads the baseline scope by scope from disk, and
-- snapshots named by audit-log events are looked up by id wherever they are
-- (an event names the id, not always the scope).

CREATE INDEX snapshot_versions_current_id ON snapshot_versions (snapshot_id) WHERE ended_scan IS NULL;
