-- How to undo an exposure finding: a JSON object (commands, console), the
-- commands removing only the grantees the finding names; NULL for findings
-- with no remedy (and for findings stored before remedies existed).

ALTER TABLE findings ADD COLUMN remedy TEXT;
