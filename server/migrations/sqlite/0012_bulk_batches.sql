-- Bulk filings above the blast-radius limit (`--bulk-threshold`), held until a second admin
-- confirms them, as AD Connect's accidental-deletion threshold holds an export.
CREATE TABLE bulk_batches (
    id INTEGER PRIMARY KEY,
    filed_by TEXT NOT NULL,
    filed_at TEXT NOT NULL,
    requests TEXT NOT NULL,                     -- the rows to file, as a JSON array of NewRequest
    users TEXT NOT NULL,                        -- who they would cut off, as a JSON array of BatchUser
    limit_per_hour INTEGER NOT NULL,
    filed_in_hour INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('held', 'confirming', 'confirmed', 'discarded')),
    decided_by TEXT,                            -- while confirming: the admin filing it
    decided_at TEXT,
    filed TEXT NOT NULL DEFAULT '[]'            -- the requests confirming filed, as a JSON array of ids
);
CREATE INDEX bulk_batches_by_state ON bulk_batches(state);
