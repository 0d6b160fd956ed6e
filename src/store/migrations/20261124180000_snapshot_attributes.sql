-- Provider fields with no common column (Azure: networkAccessPolicy,
-- publicNetworkAccess, dataAccessAuthMode, diskAccessId, creationData...),
-- a JSON object keyed by the API's own field names. AWS rows keep '{}'.

ALTER TABLE snapshot_versions ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
