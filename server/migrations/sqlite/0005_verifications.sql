-- After each step that changed something, deprov checks, at the moment the effect is predicted
-- to show, that it did: one verification per step, due by the deployment's clock.
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY,
    step_id INTEGER NOT NULL UNIQUE REFERENCES steps(id),
    request_id INTEGER NOT NULL REFERENCES requests(id),
    due_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'verified', 'not_as_predicted', 'unverifiable')),
    checked_at TEXT,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX verifications_due ON verifications(state, due_at);
