-- API tokens for other systems (an HR system filing requests): a name, one role, an optional
-- expiry. The secret is shown once and stored only as its SHA-256 (it is 244 random bits, so a
-- fast hash is enough); revoking keeps the row, so the audit log's names stay explained.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
