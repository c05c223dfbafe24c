-- The sign-in throttle's counts (`server/src/people/throttle.rs`), in the database so instances
-- sharing one count together. Keys are "name from address" pairs and addresses; rows older than
-- the throttle remembers are deleted as attempts come.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_at TEXT NOT NULL
);
-- Pairs that signed in successfully lately: exempt from their address's spray limit.
CREATE TABLE sign_in_known (
    pair TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
