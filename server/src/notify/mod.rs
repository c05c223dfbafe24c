//! Notifications: every change that matters becomes a typed [`Notice`], written to the outbox in
//! the transaction that makes the change ([`emit`]), then delivered by a background worker
//! ([`worker`]) by mail ([`mail`]) and to webhooks ([`webhook`]), with retries, at most once per
//! event and recipient ([`outbox`]).
//!
//! The seam for a new channel (a chat message, a ticket) is [`outbox::Channel`] and the worker's
//! `send`; the seam for a new event is [`Notice`] and [`routes`].

pub mod digest;
pub mod mail;
pub mod outbox;
pub mod routes;
pub mod webhook;
pub mod worker;

use crate::store::{StoreError, Write};
use deprov_wire::directory::UserId;
use deprov_wire::execution::Operation;
use deprov_wire::workflow::{DecisionKind, RequestState, Urgency};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened. Webhooks receive it as the `kind` and fields of the event's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A request was filed and waits for approval.
    RequestFiled,
    /// A request has waited for approval longer than `--overdue-hours`.
    RequestOverdue,
    /// Approved, rejected, cancelled or expired.
    RequestDecided {
        decision: DecisionKind,
        by: String,
        /// The state it moved to (an approval short of the approvals needed leaves it pending).
        state: RequestState,
        comment: String,
    },
    /// Stage 1 (or an immediate disconnect) is done: the user is cut off from Lync.
    StageOneDone {
        #[serde(with = "time::serde::rfc3339::option")]
        stage_two_due_at: Option<OffsetDateTime>,
    },
    /// A temporarily disabled user's grace period is over: stage 2 may run.
    StageTwoDue,
    /// The request's work is done: the user is removed from Lync (or back, after a restore).
    RequestDone { state: RequestState },
    /// An operation stopped on a failed step.
    StepFailed { operation: Operation, error: String },
    /// A step ran, but reading the user back does not show its predicted effect.
    StepNotAsPredicted {
        operation: Operation,
        step: String,
        observed: String,
    },
    /// A user newly breaks a rule at high risk (AD disabled, still able to use Lync).
    HighRiskFinding {
        user_id: UserId,
        display_name: String,
        sam_account_name: String,
        rule: String,
        why: String,
    },
    /// A bulk filing above the blast-radius limit waits for a second admin.
    BatchHeld {
        batch: i64,
        filed_by: String,
        users: usize,
    },
    /// Once a day: the audit chain's head, to write down and check later with
    /// `deprov audit verify --anchor`.
    DailyDigest {
        head_seq: i64,
        head_hash: String,
        open_requests: i64,
    },
}

impl Notice {
    /// The `kind` tag, as stored beside the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RequestFiled => "request_filed",
            Self::RequestOverdue => "request_overdue",
            Self::RequestDecided { .. } => "request_decided",
            Self::StageOneDone { .. } => "stage_one_done",
            Self::StageTwoDue => "stage_two_due",
            Self::RequestDone { .. } => "request_done",
            Self::StepFailed { .. } => "step_failed",
            Self::StepNotAsPredicted { .. } => "step_not_as_predicted",
            Self::HighRiskFinding { .. } => "high_risk_finding",
            Self::BatchHeld { .. } => "batch_held",
            Self::DailyDigest { .. } => "daily_digest",
        }
    }
}

/// The request an event is about, as it stood when the event was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSummary {
    pub id: i64,
    pub user_display_name: String,
    pub user_sam_account_name: String,
    pub requested_by: String,
    pub urgency: Urgency,
    pub state: RequestState,
    pub external_ref: Option<String>,
}

/// One event as stored in the outbox and sent to webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; with the recipient, the idempotency key receivers may deduplicate by.
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub notice: Notice,
    /// The request it is about, if any.
    pub request: Option<RequestSummary>,
}

/// Writes `notice` about `request` (if any) to the outbox inside `write`: it is delivered if and
/// only if the change it reports commits.
pub async fn emit(
    write: &mut Write,
    at: OffsetDateTime,
    request: Option<i64>,
    notice: Notice,
) -> Result<(), StoreError> {
    emit_once(write, at, request, notice, None).await.map(drop)
}

/// As [`emit`], at most once for `once_key` (for events the clock raises, looked for again and
/// again); returns whether it was written.
pub async fn emit_once(
    write: &mut Write,
    at: OffsetDateTime,
    request: Option<i64>,
    notice: Notice,
    once_key: Option<&str>,
) -> Result<bool, StoreError> {
    let request = match request {
        Some(id) => Some(write.requests().summary(id).await?),
        None => None,
    };
    let event = Event {
        id: Uuid::new_v4(),
        at,
        notice,
        request,
    };
    let payload = serde_json::to_string(&event)
        .map_err(|e| StoreError::Unreadable(format!("an event does not serialize: {e}")))?;
    let written = write
        .outbox()
        .insert_event(event.id, once_key, event.notice.kind(), &payload, at)
        .await?;
    if written {
        write.wake_outbox();
    }
    Ok(written)
}
