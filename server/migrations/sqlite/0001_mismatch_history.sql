-- The findings count over time, for the mismatch report's chart.
CREATE TABLE mismatch_history (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                       -- RFC 3339, the backend's clock
    ad_disabled_lync_enabled INTEGER NOT NULL,
    certificate_sign_in INTEGER NOT NULL,
    stage_two_overdue INTEGER NOT NULL,
    sip_renamed_unexplained INTEGER NOT NULL
);
