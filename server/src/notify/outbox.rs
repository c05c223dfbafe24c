//! The outbox and its deliveries in the database: events fanned out to one delivery per
//! recipient, the deliveries due, and what became of each attempt.
//!
//! A delivery is sent, then marked delivered. A process killed in between sends it again after
//! the restart, with the same idempotency key (the webhook's `X-Deprov-Idempotency-Key`, the
//! mail's Message-ID): the only way not to lose it. The window is the moment between the
//! recipient's acknowledgement and deprov's commit.

use super::Event;
use super::routes::Routes;
use crate::store::{Store, StoreError, code_in, optional_stamp_in, stamp, stamp_in};
use deprov_wire::notify::{Channel, Delivery, DeliveryPage, DeliveryState};
use sqlx::Row;
use time::OffsetDateTime;

/// Events fanned out per round.
const FAN_OUT_BATCH: i64 = 200;

/// Fans out events not yet fanned out to their recipients; returns how many events.
pub async fn fan_out(store: &Store, routes: &Routes) -> Result<usize, StoreError> {
    let mut write = store.write().await?;
    let rows =
        sqlx::query("SELECT id, payload FROM outbox WHERE fanned_out = 0 ORDER BY id LIMIT $1")
            .bind(FAN_OUT_BATCH)
            .fetch_all(&mut *write.tx)
            .await?;
    let now = stamp(OffsetDateTime::now_utc());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let payload: String = row.try_get("payload")?;
        match serde_json::from_str::<Event>(&payload) {
            Ok(event) => {
                for (channel, recipient) in routes.recipients(&mut write.tx, &event).await? {
                    sqlx::query(
                        "INSERT INTO deliveries (event_id, channel, recipient, state, next_attempt_at) \
                         VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(channel.as_str())
                    .bind(recipient)
                    .bind(&now)
                    .execute(&mut *write.tx)
                    .await?;
                }
                sqlx::query("UPDATE outbox SET fanned_out = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut *write.tx)
                    .await?;
            }
            // Never a guess at what it said: kept, marked, and logged for someone to look at.
            Err(error) => {
                tracing::error!(event = id, %error, "an event in the outbox is unreadable; it reaches nobody");
                sqlx::query("UPDATE outbox SET fanned_out = 1, fan_out_error = $1 WHERE id = $2")
                    .bind(format!("unreadable: {error}"))
                    .bind(id)
                    .execute(&mut *write.tx)
                    .await?;
            }
        }
    }
    write.commit().await?;
    Ok(rows.len())
}

/// A delivery whose time has come, claimed by this instance.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub channel: Channel,
    pub recipient: String,
    pub attempts: i64,
    pub event: Event,
    /// When it was first tried (now, for a first attempt): a day of failures from here, and
    /// deprov gives up.
    pub first_attempt_at: OffsetDateTime,
}

/// How long a claim keeps other instances off a delivery being sent: longer than any send takes.
const CLAIM: time::Duration = time::Duration::minutes(2);

/// Claims for `instance` up to `limit` deliveries due at `now`, oldest first, and returns them.
/// Claimed in one write, so two instances never send the same delivery; one that stays claimed
/// (its instance died mid-send) falls due again when the claim lapses, or at once when the same
/// instance, restarted, looks again. A delivery whose event cannot be read is given up, saying so.
pub async fn due(
    store: &Store,
    instance: &str,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let mut write = store.write().await?;
    let rows = sqlx::query(
        "SELECT d.id, d.channel, d.recipient, d.attempts, d.first_attempt_at, o.payload FROM deliveries d \
         JOIN outbox o ON o.id = d.event_id \
         WHERE d.state = 'pending' AND (julianday(d.next_attempt_at) <= julianday($1) OR d.claimed_by = $2) \
         ORDER BY d.id LIMIT $3",
    )
    .bind(stamp(now))
    .bind(instance)
    .bind(limit)
    .fetch_all(&mut *write.tx)
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let payload: String = row.try_get("payload")?;
        let event = match serde_json::from_str::<Event>(&payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(delivery = id, %error, "a delivery's event is unreadable; giving it up");
                sqlx::query(
                    "UPDATE deliveries SET state = 'gave_up', claimed_by = NULL, last_status = $1 WHERE id = $2",
                )
                .bind(format!("gave up: the event is unreadable ({error})"))
                .bind(id)
                .execute(&mut *write.tx)
                .await?;
                continue;
            }
        };
        sqlx::query("UPDATE deliveries SET claimed_by = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(instance)
            .bind(stamp(now + CLAIM))
            .bind(id)
            .execute(&mut *write.tx)
            .await?;
        due.push(Due {
            id,
            channel: code_in(row, "channel", Channel::parse)?,
            recipient: row.try_get("recipient")?,
            attempts: row.try_get("attempts")?,
            event,
            first_attempt_at: optional_stamp_in(row, "first_attempt_at")?.unwrap_or(now),
        });
    }
    write.commit().await?;
    Ok(due)
}

/// When the next pending delivery falls due, if any.
pub async fn next_due(store: &Store) -> Result<Option<OffsetDateTime>, StoreError> {
    let next: Option<String> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM deliveries WHERE state = 'pending' \
         ORDER BY julianday(next_attempt_at) LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    next.as_deref().map(crate::store::parse_stamp).transpose()
}

/// What one attempt came to.
pub enum Attempt {
    Delivered {
        status: String,
    },
    /// Try again at `next`.
    Failed {
        status: String,
        next: OffsetDateTime,
    },
    /// Failed, and past the time deprov keeps trying.
    GaveUp {
        status: String,
    },
}

/// Records what each attempt came to, all in one write.
pub async fn record(
    store: &Store,
    at: OffsetDateTime,
    attempts: &[(i64, Attempt)],
) -> Result<(), StoreError> {
    let mut write = store.write().await?;
    for (id, attempt) in attempts {
        let (state, status, next, delivered_at) = match attempt {
            Attempt::Delivered { status } => (DeliveryState::Delivered, status, None, Some(at)),
            Attempt::Failed { status, next } => (DeliveryState::Pending, status, Some(*next), None),
            Attempt::GaveUp { status } => (DeliveryState::GaveUp, status, None, None),
        };
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
        .execute(&mut *write.tx)
        .await?;
    }
    write.commit().await
}

/// Puts off deliveries `ids` until `until` without counting an attempt (a digest not yet due).
pub async fn postpone(store: &Store, ids: &[i64], until: OffsetDateTime) -> Result<(), StoreError> {
    let mut write = store.write().await?;
    for &id in ids {
        sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $1, claimed_by = NULL WHERE id = $2 AND state = 'pending'",
        )
            .bind(stamp(until))
            .bind(id)
            .execute(&mut *write.tx)
            .await?;
    }
    write.commit().await
}

/// When a mail of `kind` last reached `recipient`.
pub async fn last_delivered(
    store: &Store,
    recipient: &str,
    kind: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let last: Option<String> = sqlx::query_scalar(
        "SELECT d.delivered_at FROM deliveries d JOIN outbox o ON o.id = d.event_id \
         WHERE d.channel = 'mail' AND d.recipient = $1 AND o.kind = $2 AND d.state = 'delivered' \
         ORDER BY julianday(d.delivered_at) DESC LIMIT 1",
    )
    .bind(recipient)
    .bind(kind)
    .fetch_optional(store.pool())
    .await?;
    last.as_deref().map(crate::store::parse_stamp).transpose()
}

/// One page of the delivery log, newest first; `state` narrows it.
pub async fn list(
    store: &Store,
    state: Option<DeliveryState>,
    offset: i64,
    limit: i64,
) -> Result<DeliveryPage, StoreError> {
    let state = state.map(DeliveryState::as_str);
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE $1 IS NULL OR state = $1")
            .bind(state)
            .fetch_one(store.pool())
            .await?;
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(store.pool())
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
    .fetch_all(store.pool())
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
