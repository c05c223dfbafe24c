-- Notifications: every change that matters is written to the outbox in the transaction that makes
-- it, then fanned out to one delivery per recipient (a mail address, a webhook URL) and delivered
-- by a background worker with retries. A delivery is unique per event and recipient: whatever
-- restarts, nobody is sent the same event twice by deprov's own doing.

-- Where mail goes: local accounts carry an address (`deprov user add --email`); people who sign in
-- with AD are remembered at sign-in with their `mail` and roles, so approvers and admins can be
-- told of work before they next sign in.
ALTER TABLE accounts ADD COLUMN email TEXT;
CREATE TABLE ad_people (
    principal TEXT PRIMARY KEY COLLATE NOCASE,  -- the UPN, as sessions and the audit log name them
    mail TEXT,
    roles TEXT NOT NULL,                        -- as at the last sign-in
    last_sign_in TEXT NOT NULL
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,              -- the event's UUID, sent with it
    once_key TEXT UNIQUE,                       -- events raised by the clock (overdue:12): at most one each
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,                      -- the event as JSON, exactly as webhooks receive it
    created_at TEXT NOT NULL,
    fanned_out INTEGER NOT NULL DEFAULT 0 CHECK (fanned_out IN (0, 1)),
    fan_out_error TEXT                          -- why it reached nobody (an unreadable payload)
);
CREATE INDEX outbox_to_fan_out ON outbox(fanned_out) WHERE fanned_out = 0;

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES outbox(id),
    channel TEXT NOT NULL CHECK (channel IN ('mail', 'webhook')),
    recipient TEXT NOT NULL,                    -- a mail address or a webhook URL
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'gave_up')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_by TEXT,                            -- the instance sending it now (next_attempt_at is then
                                                -- when the claim lapses); NULL between attempts
    first_attempt_at TEXT,                      -- a day of failures from here, and deprov gives up
    last_attempt_at TEXT,
    last_status TEXT,                           -- "HTTP 500", "250 OK", the connection error...
    delivered_at TEXT,
    UNIQUE (event_id, channel, recipient)
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
