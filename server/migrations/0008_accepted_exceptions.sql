-- Accepted exceptions: a finding an admin or auditor decided to live with, for a reason, until a
-- date. It takes the user out of the report's count until then. Ended early, it keeps its row
-- (ended_at, ended_by): the audit log and this table tell the same story.
CREATE TABLE accepted_exceptions (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    reason TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    until TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT
);
CREATE INDEX accepted_exceptions_in_force ON accepted_exceptions (user_id) WHERE ended_at IS NULL;
