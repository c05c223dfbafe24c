-- An operation is leased to the instance driving it: it renews the lease while it drives, and
-- another instance settles the operation only once the lease has lapsed (its holder died).
-- Operations running before this migration have no holder: any instance may settle them.
ALTER TABLE operations ADD COLUMN lease_holder TEXT;
ALTER TABLE operations ADD COLUMN lease_expires_at TEXT;
