-- Sessions hold the principal that signed in (where it came from, its name and roles) rather
-- than pointing at a local account: people who sign in with AD have no local account.
CREATE TABLE sessions_principals (
    token_hash TEXT PRIMARY KEY,            -- SHA-256 of the cookie value
    source TEXT NOT NULL CHECK (source IN ('local', 'ad')),
    account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE, -- local accounts only
    principal TEXT NOT NULL,                -- the name shown and audited (an AD user's UPN)
    roles TEXT NOT NULL,                    -- as at sign-in (AD: read from the mapped groups then)
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    CHECK ((source = 'local') = (account_id IS NOT NULL))
);
INSERT INTO sessions_principals
    SELECT s.token_hash, 'local', s.account_id, a.name, a.roles, s.csrf_token, s.created_at,
           s.last_seen_at, s.expires_at
    FROM sessions s JOIN accounts a ON a.id = s.account_id;
DROP TABLE sessions;
ALTER TABLE sessions_principals RENAME TO sessions;
CREATE INDEX sessions_by_account ON sessions(account_id);
