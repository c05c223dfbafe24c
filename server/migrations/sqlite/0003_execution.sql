-- Executing approved requests against Lync: operations, their steps, backups, portal settings.

CREATE TABLE operations (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    operation TEXT NOT NULL,                -- stage_one, stage_two, rollback, restore
    state TEXT NOT NULL,                    -- running, done, failed
    started_by TEXT NOT NULL,
    driven_by TEXT NOT NULL,                -- who started it or last retried it: steps run in their name
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX operations_by_request ON operations(request_id);
-- At most one operation running per request, whatever the application does.
CREATE UNIQUE INDEX one_running_operation ON operations(request_id) WHERE state = 'running';

-- Each step's state is written before the backend call (running) and after it (done, failed),
-- each in its own committed transaction: a crash leaves "running", which restart reconciles.
CREATE TABLE steps (
    id INTEGER PRIMARY KEY,
    operation_id INTEGER NOT NULL REFERENCES operations(id),
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    command TEXT NOT NULL,                  -- rendered for reading only
    cmdlet TEXT,                            -- the Cmdlet as JSON (what runs); NULL for the backup read
    state TEXT NOT NULL,                    -- pending, running, done, failed, unknown
    attempts INTEGER NOT NULL DEFAULT 0,
    run_by TEXT,
    started_at TEXT,
    finished_at TEXT,
    output TEXT NOT NULL DEFAULT '',
    error TEXT,
    note TEXT,
    UNIQUE (operation_id, position)
);

-- What can be restored, read from Lync before a step that destroys or hides data.
CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    operation_id INTEGER NOT NULL REFERENCES operations(id),
    taken_at TEXT NOT NULL,                 -- the deployment's clock
    user_json TEXT NOT NULL                 -- the user as Get-CsUser / Get-CsAdUser reported it
);
CREATE INDEX backups_by_request ON backups(request_id);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

ALTER TABLE requests ADD COLUMN stage_two_due_at TEXT;  -- the deployment's clock
