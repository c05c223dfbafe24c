//! Executing an approved request against Lync: the operations (stage 1, stage 2, rollback,
//! restore), their steps as planned and as run, and what an admin may do next.

use crate::cmdlet::Cmdlet;
use crate::method::TimelineEntry;
use crate::workflow::RequestView;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One run of steps against Lync for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Set-CsUser -Enabled $false (and, for an immediate disconnect, a SIP rename and revocation).
    StageOne,
    /// After the grace period: Export-CsUserData, then Disable-CsUser.
    StageTwo,
    /// Undo stage 1: Enabled back to True, the old SIP address back.
    Rollback,
    /// After stage 2: Enable-CsUser with the old address and pool, policies, contacts, conferences.
    Restore,
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Self::StageOne,
        Self::StageTwo,
        Self::Rollback,
        Self::Restore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StageOne => "stage_one",
            Self::StageTwo => "stage_two",
            Self::Rollback => "rollback",
            Self::Restore => "restore",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Gives the user Lync back: needs a reason, and sometimes a second admin.
    pub fn re_enables(self) -> bool {
        matches!(self, Self::Rollback | Self::Restore)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::StageOne => "Stage 1",
            Self::StageTwo => "Stage 2: back up and remove",
            Self::Rollback => "Roll back stage 1",
            Self::Restore => "Restore from the backup",
        }
    }
}

/// Where one step stands. `Running` and `Unknown` are the states a crash or a timeout can leave;
/// deprov settles them by reading the user back, never by running the step again blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    /// The backend did not say whether it happened, and reading the user back did not tell either.
    Unknown,
}

impl StepState {
    pub const ALL: [StepState; 5] = [
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    Running,
    Done,
    /// A step failed, or the server stopped during the operation: retry continues where it stopped.
    Failed,
}

impl OperationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A step before it runs: the exact command and what it will do to this user now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedStep {
    /// What the step is for ("Temporarily disable in Lync").
    pub title: String,
    /// The command as a person reads it (`Cmdlet::render`), or the read a backup makes.
    pub command: String,
    /// What runs; `None` for the backup, which only reads. The server's own: the page reads
    /// `command` (and keeping it off the wire keeps its decoder out of the front end's download).
    #[serde(skip)]
    pub cmdlet: Option<Cmdlet>,
    /// Destroys or hides data, or cannot be undone: the page asks for confirmation.
    pub destructive: bool,
    /// Its predicted effect on this user now, in a sentence or two.
    pub effect: String,
    pub timeline: Vec<TimelineEntry>,
}

/// An operation the request could go through next, with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationPlan {
    pub operation: Operation,
    pub steps: Vec<PlannedStep>,
    /// Why it cannot run now, if it cannot ("stage 2 is due on 2026-12-23 10:00 UTC").
    pub refused: Option<String>,
    /// What the admin must type to confirm a destructive operation (the sAMAccountName).
    pub confirm_with: Option<String>,
    /// Warnings to read before running it.
    pub warnings: Vec<String>,
    /// Why a second admin must confirm it (the AD account is disabled, or the user was cut off
    /// by an immediate disconnect); absent when one admin may run it.
    #[serde(default)]
    pub second_admin: Option<String>,
}

/// A step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    pub position: u32,
    pub title: String,
    pub command: String,
    pub state: StepState,
    /// How many times deprov called the backend for it.
    pub attempts: u32,
    /// Who ran it last.
    pub run_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub started_at: Option<OffsetDateTime>,
    pub duration_ms: Option<u64>,
    /// What the backend printed.
    pub output: String,
    pub error: Option<String>,
    /// How deprov settled an uncertain outcome, or what an earlier attempt did.
    pub note: Option<String>,
    /// The check, at the moment the effect is predicted, that it happened.
    #[serde(default)]
    pub verification: Option<Verification>,
}

/// Where a step's verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationState {
    /// Scheduled for `due_at`.
    Pending,
    Verified,
    /// The read contradicts the prediction: someone must look.
    NotAsPredicted,
    /// Nothing here can tell (a file on the Lync server, facts only the shell knows).
    Unverifiable,
}

impl VerificationState {
    pub const ALL: [VerificationState; 4] = [
        Self::Pending,
        Self::Verified,
        Self::NotAsPredicted,
        Self::Unverifiable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::NotAsPredicted => "not_as_predicted",
            Self::Unverifiable => "unverifiable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A step's verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub state: VerificationState,
    /// When it is (or was) due, by the deployment's clock.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub due_at: OffsetDateTime,
    /// What the check found, in a sentence ("verified 14:05: Enabled = False, ..."); empty while pending.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationView {
    pub id: i64,
    pub operation: Operation,
    pub state: OperationState,
    pub started_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<OffsetDateTime>,
    pub steps: Vec<StepView>,
}

/// `GET /api/requests/{id}/execution` and each event of its stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionView {
    pub request: RequestView,
    /// Operations already run or running, oldest first.
    pub operations: Vec<OperationView>,
    /// What could run next, each with its steps (empty when nothing can).
    pub next: Vec<OperationPlan>,
    /// The last operation failed or was interrupted: `POST .../retry` continues it.
    pub can_retry: bool,
    /// A backup is kept with the request: `GET .../backup` downloads it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub backup_taken_at: Option<OffsetDateTime>,
    /// The Lync deployment's clock when this was read.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub as_of: OffsetDateTime,
    /// Why nothing can run at all (no Lync shell is configured: deprov is read-only), shown
    /// before anyone presses a button; `null` when cmdlets can run.
    #[serde(default)]
    pub read_only: Option<String>,
    /// A roll back or restore asked for by one admin, waiting for another.
    #[serde(default)]
    pub reenable_ask: Option<ReenableAsk>,
    /// How long one step may take before its outcome counts as unknown (then deprov reads the
    /// user back): a running step shows its time against it.
    #[serde(default)]
    pub step_timeout_secs: u64,
}

/// Why nothing runs against a deployment read over LDAP alone.
pub const READ_ONLY: &str = "deprov is read-only: no Lync shell is configured, so no cmdlet can run. \
     Search, user pages, the report, requests and approvals work; execution waits for a Lync shell.";

/// `POST /api/requests/{id}/execute`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecuteBody {
    pub operation: Operation,
    /// The request version the admin saw: a double click or a second admin gets 409.
    pub version: i64,
    /// For a destructive operation: the user's sAMAccountName, typed.
    #[serde(default)]
    pub confirm: Option<String>,
    /// Why, for an operation that gives Lync back (roll back, restore): required, and audited.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A roll back or restore one admin asked for, waiting for a second admin to confirm it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReenableAsk {
    pub operation: Operation,
    pub asked_by: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub asked_at: OffsetDateTime,
}

/// `POST /api/requests/{id}/retry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryBody {
    pub version: i64,
}

/// `GET|PUT /api/settings/execution`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionSettings {
    /// Run stage 2 by itself when a request's grace period ends. Off unless an admin turns it on.
    pub auto_stage_two: bool,
}

/// One backup: the user as read before an operation that destroys or hides data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backup {
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub taken_at: OffsetDateTime,
    /// The operation it was taken for.
    pub before: Operation,
    /// SIP address, pool, policy assignments, line URI, contact and conference counts...
    pub user: crate::directory::DirectoryUser,
}

/// `GET /api/requests/{id}/backup`: everything kept to restore a user, as one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupDocument {
    pub request_id: i64,
    pub user_sam_account_name: String,
    pub backups: Vec<Backup>,
    /// Export-CsUserData files (contacts and conferences) on the Lync server, for Update-CsUserData.
    pub export_files: Vec<String>,
}
