//! De-provisioning requests and their approval, as they cross the wire.

use crate::directory::UserId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReasonCategory {
    Termination,
    Resignation,
    EndOfContract,
    Leave,
    Other,
}

impl ReasonCategory {
    pub const ALL: [ReasonCategory; 5] = [
        Self::Termination,
        Self::Resignation,
        Self::EndOfContract,
        Self::Leave,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Termination => "termination",
            Self::Resignation => "resignation",
            Self::EndOfContract => "end_of_contract",
            Self::Leave => "leave",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Termination => "Termination",
            Self::Resignation => "Resignation",
            Self::EndOfContract => "End of contract",
            Self::Leave => "Leave",
            Self::Other => "Other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Stage 1 Set-CsUser -Enabled $false; stage 2 Disable-CsUser after the grace period.
    Standard,
    /// A hostile termination: stage 1 also renames the SIP address and revokes certificates.
    ImmediateDisconnect,
    /// A legacy case: Lync was disabled outside deprov and stage 2 never ran. Stage 2 only
    /// (backup, then Disable-CsUser), as soon as it is approved.
    FinishRemoval,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [
        Self::Standard,
        Self::ImmediateDisconnect,
        Self::FinishRemoval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::ImmediateDisconnect => "immediate_disconnect",
            Self::FinishRemoval => "finish_removal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Standard => "Standard, two stages",
            Self::ImmediateDisconnect => "Immediate disconnect (hostile termination)",
            Self::FinishRemoval => "Finish removal (disabled outside deprov): stage 2 only",
        }
    }
}

/// Where a request stands: approval first, then execution against Lync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    PendingApproval,
    Approved,
    Rejected,
    Cancelled,
    Expired,
    /// An operation (stage 1, stage 2, rollback or restore) is running.
    Executing,
    /// Temporarily disabled in Lync: stage 2 is due when the grace period ends.
    StageOneDone,
    /// The last operation failed or was interrupted: retry it, or roll back.
    Failed,
    /// Removed from Lync (stage 2 done). Restore from the backup is still possible.
    Removed,
    /// Stage 1 undone: the user is back as they were.
    RolledBack,
    /// Re-enabled from the backup after removal.
    Restored,
}

impl RequestState {
    pub const ALL: [RequestState; 11] = [
        Self::PendingApproval,
        Self::Approved,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
        Self::Executing,
        Self::StageOneDone,
        Self::Failed,
        Self::Removed,
        Self::RolledBack,
        Self::Restored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Executing => "executing",
            Self::StageOneDone => "stage_one_done",
            Self::Failed => "failed",
            Self::Removed => "removed",
            Self::RolledBack => "rolled_back",
            Self::Restored => "restored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PendingApproval => "Waiting for approval",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Cancelled => "Cancelled",
            Self::Expired => "Expired",
            Self::Executing => "Executing",
            Self::StageOneDone => "Stage 1 done",
            Self::Failed => "Failed",
            Self::Removed => "Removed from Lync",
            Self::RolledBack => "Rolled back",
            Self::Restored => "Restored",
        }
    }

    /// Still open: blocks a second request for the same user, and explains a renamed SIP address.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::PendingApproval
                | Self::Approved
                | Self::Executing
                | Self::StageOneDone
                | Self::Failed
        )
    }
}

/// A user's open request, as the report and the user page show it next to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenRequest {
    pub id: i64,
    pub state: RequestState,
    /// Once stage 1 ran: when stage 2 falls due (the Lync deployment's clock).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub stage_two_due_at: Option<OffsetDateTime>,
}

/// `POST /api/requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewRequest {
    /// The user's objectGUID; or name them with `user`.
    #[serde(default)]
    pub user_id: Option<UserId>,
    /// The user by sAMAccountName, user principal name or employeeID (for systems that do not
    /// know the objectGUID), instead of `user_id`.
    #[serde(default)]
    pub user: Option<String>,
    /// The filing system's own reference (an HR case number): shown with the request, searchable,
    /// and filing it again returns the request already filed instead of a second one.
    #[serde(default)]
    pub external_ref: Option<String>,
    pub reason: ReasonCategory,
    /// Free text: what happened, who asked.
    pub reason_text: String,
    pub urgency: Urgency,
    /// When it should take effect; now if absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub effective_at: Option<OffsetDateTime>,
    /// Days between stage 1 and final removal; the portal's default if absent.
    #[serde(default)]
    pub grace_days: Option<u32>,
    /// Required for protected accounts: why acting on one is justified. Needs two approvals.
    #[serde(default)]
    pub protected_override: Option<String>,
}

/// The most requests one bulk filing carries (`POST /api/requests/bulk` takes a JSON array of
/// [`NewRequest`]; `/api/requests/bulk.csv` a CSV file of them).
pub const MAX_BULK: usize = 200;

/// What became of one row of a bulk filing: a request filed, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkResult {
    /// The row's place in the batch, from 1 (a CSV file's data rows, not counting the header).
    pub row: usize,
    /// The user, when the row names one the directory knows.
    pub user_id: Option<UserId>,
    pub display_name: Option<String>,
    /// The request filed (or, with `existing`, filed before under the row's external reference).
    pub request: Option<i64>,
    #[serde(default)]
    pub existing: bool,
    /// Why none was filed (it may name the request already open: "#12").
    pub refused: Option<String>,
}

/// The answer to a bulk filing: one result per row, in order. When the batch would file more
/// requests than the blast-radius limit allows in an hour, nothing is filed: the batch is `held`
/// until a second admin confirms it, and the results say which rows would be filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkOutcome {
    pub results: Vec<BulkResult>,
    pub filed: usize,
    pub refused: usize,
    #[serde(default)]
    pub held: Option<HeldBatch>,
}

/// Where a held batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Waiting for a second admin.
    Held,
    /// An admin confirmed it and its requests are being filed.
    Confirming,
    /// Confirmed: its requests were filed (each still needs its approvals).
    Confirmed,
    /// Dropped by an admin or its filer: nothing was filed.
    Discarded,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Confirming => "confirming",
            Self::Confirmed => "confirmed",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Held,
            Self::Confirming,
            Self::Confirmed,
            Self::Discarded,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// A user a held batch would file a request for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchUser {
    pub user_id: UserId,
    pub display_name: String,
    pub sam_account_name: String,
    pub department: String,
    pub urgency: Urgency,
}

/// A bulk filing above the blast-radius limit, held for a second admin (`GET /api/batches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldBatch {
    pub id: i64,
    pub filed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub filed_at: OffsetDateTime,
    pub state: BatchState,
    /// Who it would cut off.
    pub users: Vec<BatchUser>,
    /// Requests allowed in an hour without a second admin (`--bulk-threshold`).
    pub limit: usize,
    /// Requests filed in the hour before this batch came.
    pub filed_in_hour: usize,
    pub decided_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub decided_at: Option<OffsetDateTime>,
    /// What confirming filed.
    #[serde(default)]
    pub filed: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Reject,
    Cancel,
    Expire,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Approve, Self::Reject, Self::Cancel, Self::Expire]
            .into_iter()
            .find(|d| d.as_str() == s)
    }

    /// What the history says someone did: "approved", "cancelled"...
    pub fn past(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::Cancel => "cancelled",
            Self::Expire => "expired",
        }
    }
}

/// Who did what to a request, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    pub actor: String,
    pub decision: DecisionKind,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
}

/// `POST /api/requests/{id}/approve|reject|cancel`: the version the person saw, so a decision
/// on a request that changed meanwhile is refused (409) instead of counted twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionBody {
    pub version: i64,
    #[serde(default)]
    pub comment: String,
}

/// A request as every view shows it: who must act, who has acted, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestView {
    pub id: i64,
    pub user_id: UserId,
    pub user_display_name: String,
    pub user_sam_account_name: String,
    pub user_sip_address: Option<String>,
    pub user_protected: bool,
    pub reason: ReasonCategory,
    pub reason_text: String,
    pub urgency: Urgency,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub effective_at: OffsetDateTime,
    pub grace_days: u32,
    pub protected_override: Option<String>,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    pub state: RequestState,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub state_changed_at: OffsetDateTime,
    pub version: i64,
    pub approvals_needed: u32,
    pub approved_by: Vec<String>,
    pub decisions: Vec<DecisionView>,
    /// Pending longer than the portal's limit: somebody should chase it.
    pub overdue: bool,
    /// When a pending request expires by itself.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<OffsetDateTime>,
    /// Who must act next, in a sentence ("1 more approval from an approver other than jdoe").
    pub waiting_for: String,
    /// When stage 1 finished, stage 2 is due at this moment (the Lync deployment's clock).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub stage_two_due_at: Option<OffsetDateTime>,
    /// Stage 1 is done and its grace period has ended: in the admins' "due" queue.
    pub stage_two_due: bool,
    /// The filing system's reference (an HR case number), if it gave one.
    #[serde(default)]
    pub external_ref: Option<String>,
}

/// `GET /api/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestList {
    pub requests: Vec<RequestView>,
    /// Requests in all that match, before paging.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// The largest page of `GET /api/requests`.
pub const MAX_REQUESTS_PAGE: usize = 200;
/// The page size when none is asked for.
pub const DEFAULT_REQUESTS_PAGE: usize = 50;
/// The furthest ahead a request may take effect: a request far in the future would block the
/// user's other requests for as long.
pub const MAX_DAYS_AHEAD: i64 = 180;
