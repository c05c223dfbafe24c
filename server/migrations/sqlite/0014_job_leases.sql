-- Periodic jobs (expiring requests, reminders, verifying steps, automatic stage 2) run on one
-- instance at a time: the one holding the job's lease, renewed at every run. When it stops
-- renewing (its instance died), another instance takes the job over once the lease lapses.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
