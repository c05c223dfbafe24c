-- People, their sessions, de-provisioning requests, approvals, and the audit log.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,            -- Argon2id, PHC string
    roles TEXT NOT NULL,                    -- comma-separated: requester,approver,admin,auditor
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,            -- SHA-256 of the cookie value: a database leak gives no session
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,                  -- objectGUID
    user_display_name TEXT NOT NULL,
    user_sam_account_name TEXT NOT NULL,
    user_sip_address TEXT,
    user_protected INTEGER NOT NULL,
    reason TEXT NOT NULL,
    reason_text TEXT NOT NULL,
    urgency TEXT NOT NULL,
    effective_at TEXT NOT NULL,
    grace_days INTEGER NOT NULL,
    protected_override TEXT,                -- why acting on a protected account is justified
    approvals_needed INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1      -- optimistic concurrency: decisions name the version they saw
);
CREATE INDEX requests_by_user ON requests(user_id);
CREATE INDEX requests_by_state ON requests(state);

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    actor TEXT NOT NULL,
    decision TEXT NOT NULL,                 -- approve, reject, cancel, expire
    comment TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (request_id, actor, decision)
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
