-- Accepted exceptions: the findings an admin or auditor decided to live with, for a reason, until a
-- date. They leave the report's count until then; a rule the user breaks later still counts. Ended early, it keeps its row
-- (ended_at, ended_by): the audit log and this table tell the same story.
CREATE TABLE accepted_exceptions (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- The rules accepted, comma-separated (`ad_disabled_lync_enabled,certificate_sign_in`).
    rules TEXT NOT NULL,
    reason TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    until TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT
);
-- At most one not ended per user.
CREATE UNIQUE INDEX accepted_exceptions_in_force ON accepted_exceptions (user_id) WHERE ended_at IS NULL;
