//! Bodies of the JSON API (`/api/...`) and its one error shape.

use crate::directory::{AdState, DirectoryUser, Fact, LyncState, SipAddress, UserId};
use crate::method::MethodPrediction;
use crate::workflow::OpenRequest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Every error the API returns: a status code plus this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// A sentence a person can act on.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The largest page `GET /api/users` returns.
pub const MAX_PAGE_SIZE: usize = 100;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 25;

/// `GET /api/users`: one page of matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// Matches in all, before paging.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub users: Vec<UserSummary>,
}

/// One row of the search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub id: UserId,
    pub display_name: String,
    pub sam_account_name: String,
    pub user_principal_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub sip_address: Option<SipAddress>,
    pub department: String,
    pub title: String,
    pub ad_state: AdState,
    pub lync_state: LyncState,
    pub registrar_pool: Option<String>,
    pub homed_online: bool,
    pub protected: bool,
    pub sip_disjoint_from_upn: bool,
    /// Sessions signed in now; `null`: not known without the Lync shell.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<usize>))]
    pub endpoint_count: Fact<usize>,
    /// Whether client certificates are known (they are not without the Lync shell).
    pub certificates_known: bool,
    /// The latest moment a client certificate allows sign-in without AD, if any does (and
    /// certificates are known).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub certificate_sign_in_until: Option<OffsetDateTime>,
}

/// `GET /api/users/{id}`: everything known of one user, and what each method would do now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDetail {
    pub user: DirectoryUser,
    pub ad_state: AdState,
    pub lync_state: LyncState,
    pub manager_name: Option<String>,
    /// The backend's clock when this was read: predictions are relative to it.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub as_of: OffsetDateTime,
    /// Warnings the person acting must see first (protected account, homed online...).
    pub warnings: Vec<String>,
    pub predictions: Vec<MethodPrediction>,
    /// The user's open request, if any.
    pub open_request: Option<OpenRequest>,
    /// deprov renamed this user's SIP address (an immediate disconnect): which request, and the
    /// address every undo sets back.
    pub sip_renamed: Option<SipRenamed>,
    /// Why no request can be filed for this user now (excluded, never enabled, homed online,
    /// one already open); absent when one can.
    pub cannot_request: Option<String>,
}

/// A SIP address deprov renamed to cut a user off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SipRenamed {
    pub request: i64,
    /// The address before the rename.
    pub original: SipAddress,
}

/// `GET /api/pools`: the registrar pools, for the search filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pools {
    pub pools: Vec<String>,
}

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// "ok" when the directory and the shell answer, "degraded" when either does not.
    pub status: String,
    /// Where the directory comes from: "simulator" or "ldap".
    pub backend: String,
    /// The directory source's own word on its state.
    pub backend_state: String,
    /// Users in the portal's copy of the directory.
    pub directory_users: usize,
    /// When the portal's copy was last brought up to date.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub directory_synced: Option<OffsetDateTime>,
    /// Why the last read of the directory failed, while the portal serves its last good copy
    /// (from `directory_synced`); `null` when the last read worked.
    #[serde(default)]
    pub directory_error: Option<String>,
    /// The Lync shell that runs cmdlets ("simulator", ...); `null` when none is configured:
    /// deprov is then read-only.
    #[serde(default)]
    pub shell: Option<String>,
    /// The shell's own word on its state (or why there is none).
    #[serde(default)]
    pub shell_state: String,
    /// A shell is configured and answers (false when none is configured, or it cannot start).
    #[serde(default)]
    pub shell_available: bool,
    /// People may sign in with their AD account (`user@domain` or `DOMAIN\user`).
    #[serde(default)]
    pub ad_sign_in: bool,
}
