-- Re-enabling a user (roll back, restore) whose AD account is disabled, or who was cut off by an
-- immediate disconnect, needs two admins: the first admin's ask waits here until another confirms.
-- One ask per request; a new version of the request makes it stale.
CREATE TABLE reenable_asks (
    request_id INTEGER PRIMARY KEY REFERENCES requests (id),
    operation TEXT NOT NULL,
    version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    asked_by TEXT NOT NULL,
    asked_at TEXT NOT NULL
);
