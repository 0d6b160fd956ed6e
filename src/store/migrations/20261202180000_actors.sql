-- Who made a change, and who caused a finding about one: the caller the
-- audit log names (AWS CloudTrail), a JSON object (principal, identity_type,
-- invoked_by, source_ip, user_agent, event_time, event_id, event_name), or
-- NULL when no event matched.

ALTER TABLE changes ADD COLUMN actor TEXT;
ALTER TABLE findings ADD COLUMN actor TEXT;
