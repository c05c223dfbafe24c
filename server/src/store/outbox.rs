//! Notification events (the outbox) and their deliveries, and the people notifications go to.
//! (Fan-out, claims and retries: [`crate::notify::outbox`].)

use super::{StoreError, code_in, optional_stamp_in, stamp, stamp_in};
use crate::notify::Event;
use deprov_wire::notify::{Channel, Delivery, DeliveryPage, DeliveryState};
use deprov_wire::people::Role;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// The `outbox` of notification events and their `deliveries`, one per channel and recipient.
pub struct Outbox<'c>(pub(super) &'c mut AnyConnection);

/// An event in the outbox, its payload as stored (the caller reads it: one that does not read is
/// marked, not an error).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub payload: String,
}

/// A pending delivery due now (or claimed by the instance looking), with its event's payload as
/// stored.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub attempts: i64,
    /// NULL before the first attempt.
    pub first_attempt_at: Option<OffsetDateTime>,
    pub payload: String,
}

/// Someone deprov can write to: a local account with an address, or an AD person.
#[derive(Debug)]
pub struct Addressee {
    pub name: String,
    pub address: String,
    /// The roles, or why they do not read: one unreadable row must not stop every mail, so the
    /// caller leaves that person out (loudly) rather than failing.
    pub roles: Result<Vec<Role>, StoreError>,
}

impl Outbox<'_> {
    /// Writes an event to the outbox, at most once for `once_key`; returns whether it was written.
    pub async fn insert_event(
        self,
        event_id: Uuid,
        once_key: Option<&str>,
        kind: &str,
        payload: &str,
        created_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO outbox (event_id, once_key, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (once_key) DO NOTHING",
        )
        .bind(event_id.to_string())
        .bind(once_key)
        .bind(kind)
        .bind(payload)
        .bind(stamp(created_at))
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Up to `limit` events not yet fanned out, oldest first.
    pub async fn to_fan_out(self, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows =
            sqlx::query("SELECT id, payload FROM outbox WHERE fanned_out = 0 ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(&mut *self.0)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    id: row.try_get("id")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    /// Adds a pending delivery of event `event_id` to `recipient`, due at `due_at`, unless it
    /// is there already.
    pub async fn add_delivery(
        self,
        event_id: i64,
        channel: Channel,
        recipient: &str,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deliveries (event_id, channel, recipient, state, next_attempt_at) \
             VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .bind(recipient)
        .bind(stamp(due_at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Marks event `id` fanned out.
    pub async fn mark_fanned_out(self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET fanned_out = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Marks event `id` fanned out to nobody, saying why.
    pub async fn mark_fan_out_failed(self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET fanned_out = 1, fan_out_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Up to `limit` pending deliveries due at `now` or claimed by `instance`, oldest first.
    pub async fn due(
        self,
        now: OffsetDateTime,
        instance: &str,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.channel, d.recipient, d.attempts, d.first_attempt_at, o.payload FROM deliveries d \
             JOIN outbox o ON o.id = d.event_id \
             WHERE d.state = 'pending' AND (julianday(d.next_attempt_at) <= julianday($1) OR d.claimed_by = $2) \
             ORDER BY d.id LIMIT $3",
        )
        .bind(stamp(now))
        .bind(instance)
        .bind(limit)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    channel: code_in(row, "channel", Channel::parse)?,
                    recipient: row.try_get("recipient")?,
                    attempts: row.try_get("attempts")?,
                    first_attempt_at: optional_stamp_in(row, "first_attempt_at")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    /// Gives up delivery `id` unsent, with `status` saying why.
    pub async fn give_up(self, id: i64, status: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET state = 'gave_up', claimed_by = NULL, last_status = $1 WHERE id = $2",
        )
        .bind(status)
        .bind(id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Claims delivery `id` for `instance` until `until`.
    pub async fn claim(
        self,
        id: i64,
        instance: &str,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE deliveries SET claimed_by = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(instance)
            .bind(stamp(until))
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// When the next pending delivery falls due, if any.
    pub async fn next_due(self) -> Result<Option<OffsetDateTime>, StoreError> {
        sqlx::query(
            "SELECT next_attempt_at FROM deliveries WHERE state = 'pending' \
             ORDER BY julianday(next_attempt_at) LIMIT 1",
        )
        .fetch_optional(&mut *self.0)
        .await?
        .map(|row| stamp_in(&row, "next_attempt_at"))
        .transpose()
    }

    /// Records an attempt at pending delivery `id` made `at`: its new state and status, when it
    /// is tried next (if it is), when it was delivered (if it was). Releases the claim.
    pub async fn record_attempt(
        self,
        id: i64,
        at: OffsetDateTime,
        state: DeliveryState,
        status: &str,
        next: Option<OffsetDateTime>,
        delivered_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = attempts + 1, last_attempt_at = $2, last_status = $3, \
             next_attempt_at = COALESCE($4, next_attempt_at), delivered_at = $5, claimed_by = NULL, \
             first_attempt_at = COALESCE(first_attempt_at, $2) WHERE id = $6 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(stamp(at))
        .bind(status)
        .bind(next.map(stamp))
        .bind(delivered_at.map(stamp))
        .bind(id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Puts off pending delivery `id` until `until` without counting an attempt; releases the claim.
    pub async fn postpone(self, id: i64, until: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $1, claimed_by = NULL WHERE id = $2 AND state = 'pending'",
        )
        .bind(stamp(until))
        .bind(id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// When a mail of `kind` last reached `recipient`.
    pub async fn last_delivered(
        self,
        recipient: &str,
        kind: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        sqlx::query(
            "SELECT d.delivered_at FROM deliveries d JOIN outbox o ON o.id = d.event_id \
             WHERE d.channel = 'mail' AND d.recipient = $1 AND o.kind = $2 AND d.state = 'delivered' \
             ORDER BY julianday(d.delivered_at) DESC LIMIT 1",
        )
        .bind(recipient)
        .bind(kind)
        .fetch_optional(&mut *self.0)
        .await?
        .map(|row| stamp_in(&row, "delivered_at"))
        .transpose()
    }

    /// One page of the delivery log, newest first; `state` narrows it.
    pub async fn deliveries(
        self,
        state: Option<DeliveryState>,
        offset: i64,
        limit: i64,
    ) -> Result<DeliveryPage, StoreError> {
        let state = state.map(DeliveryState::as_str);
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE $1 IS NULL OR state = $1")
                .bind(state)
                .fetch_one(&mut *self.0)
                .await?;
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
                .fetch_one(&mut *self.0)
                .await?;
        let rows = sqlx::query(
            "SELECT d.id, o.kind, o.payload, o.created_at, d.channel, d.recipient, d.state, d.attempts, \
             d.last_status, d.last_attempt_at, d.next_attempt_at, d.delivered_at FROM deliveries d \
             JOIN outbox o ON o.id = d.event_id WHERE $1 IS NULL OR d.state = $1 \
             ORDER BY d.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.0)
        .await?;
        let deliveries = rows
            .iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                let event: Event = serde_json::from_str(&payload)
                    .map_err(|e| StoreError::Unreadable(format!("outbox payload: {e}")))?;
                let state = code_in(row, "state", DeliveryState::parse)?;
                Ok(Delivery {
                    id: row.try_get("id")?,
                    event: row.try_get("kind")?,
                    request: event.request.map(|r| r.id),
                    raised_at: stamp_in(row, "created_at")?,
                    channel: code_in(row, "channel", Channel::parse)?,
                    recipient: row.try_get("recipient")?,
                    state,
                    attempts: row.try_get("attempts")?,
                    last_status: row.try_get("last_status")?,
                    last_attempt_at: optional_stamp_in(row, "last_attempt_at")?,
                    next_attempt_at: if state == DeliveryState::Pending {
                        optional_stamp_in(row, "next_attempt_at")?
                    } else {
                        None
                    },
                    delivered_at: optional_stamp_in(row, "delivered_at")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(DeliveryPage {
            total: total as usize,
            pending: pending as usize,
            deliveries,
        })
    }

    /// Local accounts with an address, and AD people who signed in `since` then.
    pub async fn addressees(self, since: OffsetDateTime) -> Result<Vec<Addressee>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, email AS address, roles FROM accounts WHERE disabled = 0 AND COALESCE(email, '') <> '' \
             UNION ALL SELECT principal, mail, roles FROM ad_people \
             WHERE COALESCE(mail, '') <> '' AND julianday(last_sign_in) >= julianday($1)",
        )
        .bind(stamp(since))
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Addressee {
                    name: row.try_get("name")?,
                    address: row.try_get("address")?,
                    roles: super::people::parse_roles(&row.try_get::<String, _>("roles")?),
                })
            })
            .collect()
    }
}
