//! The delivery worker: fans new events out to their recipients, sends what is due, and retries
//! what failed with a growing wait, until a day has passed since the event. Woken as soon as a
//! write with an event commits; otherwise it sleeps until the next retry is due.

use super::mail::Mailer;
use super::outbox::{self, Attempt, Due};
use super::routes::Routes;
use super::webhook::{Poster, Webhook};
use super::{Event, Notice};
use crate::store::{Store, StoreError};
use deprov_wire::notify::Channel;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Deliveries sent per round before new events are fanned out again.
const ROUND: i64 = 100;
/// Deliveries sent at once.
const IN_FLIGHT: usize = 8;
/// The longest sleep: also how soon the daily digest is noticed to be due.
const IDLE: Duration = Duration::from_secs(30);

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles with each failure after that.
    pub first: Duration,
    /// The longest wait between attempts.
    pub longest: Duration,
    /// Since the event: after this, a failed delivery is given up.
    pub give_up_after: time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            longest: Duration::from_secs(15 * 60),
            give_up_after: time::Duration::days(1),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure.
    fn wait(&self, failures: i64) -> Duration {
        let doublings = failures.saturating_sub(1).clamp(0, 20) as u32;
        self.first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.longest)
    }
}

/// Everything the worker needs.
pub struct Dispatcher {
    pub store: Store,
    /// This instance's name on the deliveries it claims.
    pub instance: String,
    pub routes: Routes,
    pub mailer: Option<Mailer>,
    pub webhooks: Vec<Webhook>,
    pub poster: Poster,
    pub retry: RetryPolicy,
    /// At most one mail of high-risk findings to the security address this often.
    pub digest_every: time::Duration,
}

impl Dispatcher {
    /// Runs until the process ends.
    pub async fn run(self: Arc<Self>) {
        let wake = self.store.outbox_signal();
        loop {
            let sleep = match self.round().await {
                Ok(sleep) => sleep,
                Err(error) => {
                    tracing::warn!(%error, "notifications: a delivery round failed; trying again shortly");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Raises the daily digest if today's is not out yet, fans out, sends what is due; returns
    /// how long to sleep.
    pub async fn round(&self) -> Result<Duration, StoreError> {
        // A failure here must not hold up the deliveries: it is tried again next round.
        if let Err(error) = super::digest::raise_daily(&self.store).await {
            tracing::warn!(%error, "notifications: could not raise the daily digest");
        }
        loop {
            let fanned = outbox::fan_out(&self.store, &self.routes).await?;
            let now = OffsetDateTime::now_utc();
            let due = outbox::due(&self.store, &self.instance, now, ROUND).await?;
            if due.is_empty() && fanned == 0 {
                break;
            }
            self.deliver(due).await?;
        }
        let now = OffsetDateTime::now_utc();
        Ok(match outbox::next_due(&self.store).await? {
            Some(next) => Duration::try_from(next - now)
                .unwrap_or(Duration::ZERO)
                .min(IDLE),
            None => IDLE,
        })
    }

    async fn deliver(&self, due: Vec<Due>) -> Result<(), StoreError> {
        let (findings, single): (Vec<Due>, Vec<Due>) = due.into_iter().partition(|d| {
            d.channel == Channel::Mail && matches!(d.event.notice, Notice::HighRiskFinding { .. })
        });
        // Several at once: a relay or a webhook answers each in tens of milliseconds, mostly
        // waiting (lettre's pool keeps a connection per delivery in flight). Every send is
        // finished before any is recorded: a failed write then loses no send already made.
        let sent: Vec<(Due, Result<String, String>)> = futures_util::stream::iter(single)
            .map(|delivery| async move {
                let outcome = self.send(&delivery).await;
                (delivery, outcome)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let now = OffsetDateTime::now_utc();
        let attempts: Vec<(i64, Attempt)> = sent
            .iter()
            .map(|(delivery, outcome)| (delivery.id, self.attempt(delivery, outcome, now)))
            .collect();
        outbox::record(&self.store, now, &attempts).await?;
        self.deliver_digests(findings).await
    }

    /// High-risk findings by mail: one mail per recipient for all pending, at most once per
    /// `digest_every`.
    async fn deliver_digests(&self, findings: Vec<Due>) -> Result<(), StoreError> {
        let mut by_recipient: std::collections::BTreeMap<String, Vec<Due>> = Default::default();
        for delivery in findings {
            by_recipient
                .entry(delivery.recipient.clone())
                .or_default()
                .push(delivery);
        }
        for (recipient, deliveries) in by_recipient {
            let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
            let last = outbox::last_delivered(&self.store, &recipient, "high_risk_finding").await?;
            if let Some(last) = last
                && OffsetDateTime::now_utc() < last + self.digest_every
            {
                outbox::postpone(&self.store, &ids, last + self.digest_every).await?;
                continue;
            }
            let outcome = match &self.mailer {
                Some(mailer) => {
                    let events: Vec<Event> = deliveries.iter().map(|d| d.event.clone()).collect();
                    let (subject, body) = mailer.digest(&events);
                    mailer
                        .send(&recipient, &digest_key(&events, &recipient), &subject, body)
                        .await
                }
                None => Err("mail is not configured (--smtp-url)".to_owned()),
            };
            // One mail answers for them all, but each is given up on its own clock.
            let now = OffsetDateTime::now_utc();
            let attempts: Vec<(i64, Attempt)> = deliveries
                .iter()
                .map(|delivery| (delivery.id, self.attempt(delivery, &outcome, now)))
                .collect();
            outbox::record(&self.store, now, &attempts).await?;
        }
        Ok(())
    }

    /// Sends one delivery.
    async fn send(&self, delivery: &Due) -> Result<String, String> {
        let key = idempotency_key(&delivery.event, &delivery.recipient);
        match delivery.channel {
            Channel::Mail => {
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or("mail is not configured (--smtp-url)")?;
                let (subject, body) = mailer.compose(&delivery.event);
                mailer.send(&delivery.recipient, &key, &subject, body).await
            }
            Channel::Webhook => {
                let hook = self
                    .webhooks
                    .iter()
                    .find(|h| h.url == delivery.recipient)
                    .ok_or("this webhook is no longer configured")?;
                let body = serde_json::to_string(&delivery.event)
                    .map_err(|e| format!("the event does not serialize: {e}"))?;
                self.poster
                    .post(hook, delivery.event.notice.kind(), &key, &body)
                    .await
            }
        }
    }

    /// What sending `delivery` came to: delivered, tried again later, or given up a day after
    /// its first attempt.
    fn attempt(
        &self,
        delivery: &Due,
        outcome: &Result<String, String>,
        now: OffsetDateTime,
    ) -> Attempt {
        match outcome {
            Ok(status) => Attempt::Delivered {
                status: status.clone(),
            },
            Err(status) if now - delivery.first_attempt_at >= self.retry.give_up_after => {
                tracing::warn!(delivery = delivery.id, recipient = %delivery.recipient, %status, "notifications: gave up a delivery after a day");
                Attempt::GaveUp {
                    status: format!("gave up after a day of failures; the last: {status}"),
                }
            }
            Err(status) => {
                tracing::info!(delivery = delivery.id, recipient = %delivery.recipient, %status, "notifications: a delivery failed; it will be retried");
                Attempt::Failed {
                    status: status.clone(),
                    next: now + self.retry.wait(delivery.attempts + 1),
                }
            }
        }
    }
}

/// The same for every retry of one event to one recipient, different for every other pair.
pub fn idempotency_key(event: &Event, recipient: &str) -> String {
    let digest = Sha256::digest(recipient.to_lowercase().as_bytes());
    format!("{}.{:x}", event.id, digest)[..36 + 1 + 16].to_owned()
}

/// A digest's key: the same only for the same findings to the same recipient (a retry carrying
/// more findings is another mail, not a duplicate to drop).
fn digest_key(events: &[Event], recipient: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(recipient.to_lowercase().as_bytes());
    for event in events {
        hasher.update(event.id.as_bytes());
    }
    format!("digest.{:x}", hasher.finalize())[..7 + 32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::{Dispatcher, RetryPolicy};
    use crate::notify::routes::Routes;
    use crate::notify::webhook::{Poster, Webhook};
    use crate::notify::{Notice, emit, outbox};
    use crate::store::Store;
    use deprov_wire::notify::DeliveryState;
    use std::time::Duration;

    /// A dispatcher with one webhook at a port nothing listens on, giving up after `give_up_after`.
    async fn unreachable_hook(data: &std::path::Path, give_up_after: time::Duration) -> Dispatcher {
        let store = Store::open_for_tests(data).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let secret = data.join("hook.secret");
        std::fs::write(&secret, "0123456789abcdef").unwrap();
        Dispatcher {
            store,
            instance: "test".into(),
            routes: Routes {
                mail: false,
                security: None,
                webhooks: vec![url.clone()],
            },
            mailer: None,
            webhooks: vec![Webhook::new(&url, &secret).unwrap()],
            poster: Poster::new().unwrap(),
            retry: RetryPolicy {
                first: Duration::from_secs(60),
                give_up_after,
                ..RetryPolicy::default()
            },
            digest_every: time::Duration::hours(1),
        }
    }

    async fn raise(dispatcher: &Dispatcher) {
        let mut write = dispatcher.store.write().await.unwrap();
        let notice = Notice::BatchHeld {
            batch: 1,
            filed_by: "manager".into(),
            users: 30,
        };
        emit(&mut write, time::OffsetDateTime::now_utc(), None, notice)
            .await
            .unwrap();
        write.commit().await.unwrap();
    }

    #[tokio::test]
    async fn two_instances_never_claim_the_same_delivery() {
        let data = tempfile::tempdir().unwrap();
        let dispatcher = unreachable_hook(data.path(), time::Duration::days(1)).await;
        raise(&dispatcher).await;
        outbox::fan_out(&dispatcher.store, &dispatcher.routes)
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let store = &dispatcher.store;
        let a = outbox::due(store, "instance-a", now, 10).await.unwrap();
        let b = outbox::due(store, "instance-b", now, 10).await.unwrap();
        assert_eq!((a.len(), b.len()), (1, 0), "claimed by A");
        // A dies mid-send: restarted under its name it takes it back at once; B only later.
        let again = outbox::due(store, "instance-a", now, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        let later = now + time::Duration::minutes(3);
        assert_eq!(
            outbox::due(store, "instance-b", later, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_failed_delivery_waits_for_its_retry_and_is_given_up_a_day_after_the_event() {
        let data = tempfile::tempdir().unwrap();
        let dispatcher = unreachable_hook(data.path(), time::Duration::days(1)).await;
        raise(&dispatcher).await;
        let sleep = dispatcher.round().await.unwrap();
        let page = outbox::list(&dispatcher.store, None, 0, 10).await.unwrap();
        let delivery = &page.deliveries[0];
        assert_eq!(
            (delivery.state, delivery.attempts),
            (DeliveryState::Pending, 1)
        );
        assert!(
            delivery
                .last_status
                .as_deref()
                .unwrap()
                .starts_with("not sent")
        );
        let next = delivery.next_attempt_at.unwrap() - delivery.last_attempt_at.unwrap();
        assert_eq!(next.whole_seconds(), 60, "the first wait");
        assert!(
            sleep <= Duration::from_secs(30),
            "the worker wakes to look again"
        );
        dispatcher.round().await.unwrap();
        let page = outbox::list(&dispatcher.store, None, 0, 10).await.unwrap();
        assert_eq!(page.deliveries[0].attempts, 1, "not tried before its time");

        let data = tempfile::tempdir().unwrap();
        let dispatcher = unreachable_hook(data.path(), time::Duration::ZERO).await;
        raise(&dispatcher).await;
        dispatcher.round().await.unwrap();
        let page = outbox::list(&dispatcher.store, None, 0, 10).await.unwrap();
        let delivery = &page.deliveries[0];
        assert_eq!(delivery.state, DeliveryState::GaveUp);
        assert!(delivery.next_attempt_at.is_none());
        let status = delivery.last_status.as_deref().unwrap();
        assert!(
            status.starts_with("gave up after a day of failures; the last: not sent"),
            "{status}"
        );
        assert_eq!(page.pending, 0);
    }

    #[test]
    fn waits_double_up_to_the_longest() {
        let policy = RetryPolicy {
            first: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let waits: Vec<u64> = (1..=12).map(|n| policy.wait(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
    }
}
