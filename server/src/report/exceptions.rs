//! Accepted exceptions: a finding an admin or auditor decided to live with (a director's phone
//! kept for a handover, a legal hold), for a reason, until a date by the deployment's clock. An
//! exception in force takes the user out of the report's count; it is listed apart, and ends by
//! itself or when someone ends it. Both are audited.

use crate::audit::{self, Event};
use crate::directory::Snapshot;
use crate::store::exceptions::NewStoredException;
use crate::store::{Store, StoreError, Write, stamp};
use crate::workflow::LyncClock;
use deprov_wire::directory::UserId;
use deprov_wire::report::{AcceptedException, MAX_EXCEPTION_DAYS, NewException, Rule};
use std::collections::HashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

/// The exceptions not ended by hand, one per user at most (some may have run out by the clock).
pub type InForce = Arc<HashMap<UserId, AcceptedException>>;

const MAX_REASON: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    /// Refused for a reason the person can act on (422).
    #[error("{message}")]
    Refused {
        message: String,
        field: &'static str,
    },
    /// The user already has one (409).
    #[error("{0}")]
    Conflict(String),
    #[error("No exception #{0} in force.")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Exceptions {
    store: Store,
    lync_clock: LyncClock,
    in_force: Arc<watch::Sender<InForce>>,
}

impl Exceptions {
    /// The exceptions in `store`, read once, then kept current by every change made here.
    pub async fn start(store: Store, lync_clock: LyncClock) -> Result<Self, StoreError> {
        let current = store.read().await?.exceptions().in_force().await?;
        Ok(Self {
            store,
            lync_clock,
            in_force: Arc::new(watch::channel(Arc::new(current)).0),
        })
    }

    /// The exceptions not ended by hand, and every change to them (the report reads it).
    pub fn subscribe(&self) -> watch::Receiver<InForce> {
        self.in_force.subscribe()
    }

    /// Re-reads and publishes the exceptions after a change made elsewhere (another instance).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let _gate = self.store.gate().await;
        let current = self.store.read().await?.exceptions().in_force().await?;
        self.in_force.send_replace(Arc::new(current));
        Ok(())
    }

    /// Commits `write` and publishes the exceptions it leaves, holding the writer gate so they
    /// are published in the order the writes happened.
    async fn commit(&self, mut write: Write) -> Result<(), StoreError> {
        let current = write.exceptions().in_force().await?;
        let _gate = write.commit_holding().await?;
        self.in_force.send_replace(Arc::new(current));
        Ok(())
    }

    /// The exceptions in force by the deployment's clock, soonest to end first.
    pub fn list(&self) -> Vec<AcceptedException> {
        let now = (self.lync_clock)();
        let mut list: Vec<AcceptedException> = self
            .in_force
            .borrow()
            .values()
            .filter(|e| e.until > now)
            .cloned()
            .collect();
        list.sort_by_key(|e| (e.until, e.id));
        list
    }

    /// Records an exception for `new.user_id` by `by`, for the `rules` the user breaks now, or
    /// says why not.
    pub async fn accept(
        &self,
        by: &str,
        new: NewException,
        directory: &Snapshot,
        rules: Vec<Rule>,
    ) -> Result<AcceptedException, ExceptionError> {
        let refused = |field, message: String| ExceptionError::Refused { message, field };
        let user = directory.user(new.user_id).ok_or_else(|| {
            refused(
                "user_id",
                "No user with that id in the directory.".to_owned(),
            )
        })?;
        let reason = new.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(refused(
                "reason",
                format!(
                    "Say why the finding is accepted, and who decided (at most {MAX_REASON} characters)."
                ),
            ));
        }
        let now = (self.lync_clock)();
        if new.until <= now || new.until > now + Duration::days(MAX_EXCEPTION_DAYS) {
            return Err(refused(
                "until",
                format!(
                    "An exception ends in the future, at most {MAX_EXCEPTION_DAYS} days ahead: then someone looks again."
                ),
            ));
        }
        let wall = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        // Checked inside the write: two accepts at once cannot both pass.
        let current = write.exceptions().in_force_for(user.id).await?;
        if let Some(current) = current {
            if current.until > now {
                return Err(ExceptionError::Conflict(format!(
                    "{} already has an exception until {}, accepted by {}: end it first.",
                    user.ad.display_name,
                    crate::predict::when(current.until),
                    current.accepted_by
                )));
            }
            // It ran out by the clock: closed now, and said so.
            self.close(&mut write, current.id, "deprov (ran out)", wall)
                .await?;
        }
        if rules.is_empty() {
            return Err(refused(
                "user_id",
                format!(
                    "{} has no finding in the report to accept.",
                    user.ad.display_name
                ),
            ));
        }
        let rule_list: Vec<&str> = rules.iter().map(|r| r.as_str()).collect();
        let id = write
            .exceptions()
            .insert(&NewStoredException {
                user_id: user.id,
                display_name: &user.ad.display_name,
                rules: &rules,
                reason,
                accepted_by: by,
                accepted_at: wall,
                until: new.until,
            })
            .await?;
        audit::append(
            &mut write,
            wall,
            Event {
                actor: by,
                action: "exception.accept",
                subject: &user.id.to_string(),
                details: format!(
                    "exception #{id} for {} ({}) until {}: {reason}",
                    user.ad.sam_account_name,
                    rule_list.join(", "),
                    stamp(new.until)
                ),
                change: None,
            },
        )
        .await?;
        self.commit(write).await?;
        Ok(AcceptedException {
            id,
            user_id: user.id,
            display_name: user.ad.display_name.clone(),
            rules,
            reason: reason.to_owned(),
            accepted_by: by.to_owned(),
            accepted_at: wall,
            until: new.until,
        })
    }

    /// Ends exception `id` within `write`, audited as `by`.
    async fn close(
        &self,
        write: &mut Write,
        id: i64,
        by: &str,
        wall: OffsetDateTime,
    ) -> Result<(), ExceptionError> {
        let ended = write
            .exceptions()
            .end(id, by, wall)
            .await?
            .ok_or(ExceptionError::NotFound(id))?;
        audit::append(
            write,
            wall,
            Event {
                actor: by,
                action: "exception.end",
                subject: &ended.user_id.to_string(),
                details: format!(
                    "exception #{id} for {} ended: the finding counts again",
                    ended.display_name
                ),
                change: None,
            },
        )
        .await?;
        Ok(())
    }

    /// Ends exception `id` now: the finding counts again.
    pub async fn end(&self, by: &str, id: i64) -> Result<(), ExceptionError> {
        let mut write = self.store.write().await?;
        self.close(&mut write, id, by, OffsetDateTime::now_utc())
            .await?;
        self.commit(write).await?;
        Ok(())
    }
}
