-- Rows written from now on are chained with the audit key (HMAC-SHA256; the key is a file
-- outside the database). Older rows keep the unkeyed SHA-256 chain they were written with:
-- `deprov audit verify` checks each row by the scheme it names and says how many predate the key.
ALTER TABLE audit_log ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256'
    CHECK (scheme IN ('sha256', 'hmac-sha256'));
-- What a keyed row changed in requests, decisions and operations, as JSON (NULL when it changed
-- none of them): covered by the row's hash, and what verify checks those tables against.
ALTER TABLE audit_log ADD COLUMN change TEXT;
