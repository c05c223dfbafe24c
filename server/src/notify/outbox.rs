//! The outbox and its deliveries in the database: events fanned out to one delivery per
//! recipient, the deliveries due, and what became of each attempt.
//!
//! A delivery is sent, then marked delivered. A process killed in between sends it again after
//! the restart, with the same idempotency key (the webhook's `X-Deprov-Idempotency-Key`, the
//! mail's Message-ID): the only way not to lose it. The window is the moment between the
//! recipient's acknowledgement and deprov's commit.

use super::Event;
use super::routes::Routes;
use crate::store::{Store, StoreError};
use deprov_wire::notify::{Channel, DeliveryPage, DeliveryState};
use time::OffsetDateTime;

/// Events fanned out per round.
const FAN_OUT_BATCH: i64 = 200;

/// Fans out events not yet fanned out to their recipients; returns how many events.
pub async fn fan_out(store: &Store, routes: &Routes) -> Result<usize, StoreError> {
    let mut write = store.write().await?;
    let events = write.outbox().to_fan_out(FAN_OUT_BATCH).await?;
    let now = OffsetDateTime::now_utc();
    for stored in &events {
        let id = stored.id;
        match serde_json::from_str::<Event>(&stored.payload) {
            Ok(event) => {
                for (channel, recipient) in routes.recipients(write.outbox(), &event).await? {
                    write
                        .outbox()
                        .add_delivery(id, channel, &recipient, now)
                        .await?;
                }
                write.outbox().mark_fanned_out(id).await?;
            }
            // Never a guess at what it said: kept, marked, and logged for someone to look at.
            Err(error) => {
                tracing::error!(event = id, %error, "an event in the outbox is unreadable; it reaches nobody");
                write
                    .outbox()
                    .mark_fan_out_failed(id, &format!("unreadable: {error}"))
                    .await?;
            }
        }
    }
    write.commit().await?;
    Ok(events.len())
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
    let rows = write.outbox().due(now, instance, limit).await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in rows {
        let event = match serde_json::from_str::<Event>(&row.payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(delivery = row.id, %error, "a delivery's event is unreadable; giving it up");
                write
                    .outbox()
                    .give_up(
                        row.id,
                        &format!("gave up: the event is unreadable ({error})"),
                    )
                    .await?;
                continue;
            }
        };
        write.outbox().claim(row.id, instance, now + CLAIM).await?;
        due.push(Due {
            id: row.id,
            channel: row.channel,
            recipient: row.recipient,
            attempts: row.attempts,
            event,
            first_attempt_at: row.first_attempt_at.unwrap_or(now),
        });
    }
    write.commit().await?;
    Ok(due)
}

/// When the next pending delivery falls due, if any.
pub async fn next_due(store: &Store) -> Result<Option<OffsetDateTime>, StoreError> {
    store.read().await?.outbox().next_due().await
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
        write
            .outbox()
            .record_attempt(*id, at, state, status, next, delivered_at)
            .await?;
    }
    write.commit().await
}

/// Puts off deliveries `ids` until `until` without counting an attempt (a digest not yet due).
pub async fn postpone(store: &Store, ids: &[i64], until: OffsetDateTime) -> Result<(), StoreError> {
    let mut write = store.write().await?;
    for &id in ids {
        write.outbox().postpone(id, until).await?;
    }
    write.commit().await
}

/// When a mail of `kind` last reached `recipient`.
pub async fn last_delivered(
    store: &Store,
    recipient: &str,
    kind: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    store
        .read()
        .await?
        .outbox()
        .last_delivered(recipient, kind)
        .await
}

/// One page of the delivery log, newest first; `state` narrows it.
pub async fn list(
    store: &Store,
    state: Option<DeliveryState>,
    offset: i64,
    limit: i64,
) -> Result<DeliveryPage, StoreError> {
    store
        .read()
        .await?
        .outbox()
        .deliveries(state, offset, limit)
        .await
}
