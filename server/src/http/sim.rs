//! `/api/sim`: demo controls of the embedded simulator (absent with any other backend), so demos
//! and outside tests can make the directory change: disable or enable an AD account, move the clock.

use super::AppState;
use super::auth::{Admins, Holding};
use super::error::{AppError, Body, Segment, parse_user_id};
use crate::audit::{self, Event};
use crate::backend::sim::{Fault, Simulator};
use axum::extract::State;
use axum::http::StatusCode;
use deprov_wire::api::ApiError;
use deprov_wire::directory::UserId;
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// The longest single clock jump: a year and a bit, past any certificate's 180 days.
const MAX_ADVANCE_SECONDS: i64 = 400 * 24 * 3600;

fn simulator(state: &AppState) -> Result<&Arc<Simulator>, AppError> {
    state.deployment.simulator.as_ref().ok_or_else(|| {
        AppError::NotFound("The simulator is not the backend: no demo controls.".to_owned())
    })
}

/// Sets ACCOUNTDISABLE on the user's AD account (Lync is not told, as in real life).
#[utoipa::path(post, path = "/api/sim/users/{id}/ad-disable", tag = "simulator",
    params(("id" = String, Path, description = "The user's objectGUID")),
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn ad_disable(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, AppError> {
    set_ad_disabled(state, admin, id, true).await
}

/// Both AD controls: check the role and the user, record, then change.
async fn set_ad_disabled(
    state: AppState,
    admin: Holding<Admins>,
    id: String,
    disabled: bool,
) -> Result<StatusCode, AppError> {
    let (sim, user) = (simulator(&state)?, known_user(&state, &id).await?);
    // Recorded first: a change must never happen without its audit row.
    let action = if disabled {
        "sim.ad_disable"
    } else {
        "sim.ad_enable"
    };
    record(&state, &admin.name, action, &id, String::new()).await?;
    if disabled {
        sim.ad_disable(user)?;
    } else {
        sim.ad_enable(user)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The user behind a path segment, checked before anything is recorded.
async fn known_user(state: &AppState, id: &str) -> Result<UserId, AppError> {
    let user = parse_user_id(id)?;
    state.deployment.directory.read_user(user).await?;
    Ok(user)
}

async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: &str,
    details: String,
) -> Result<(), AppError> {
    audit::record(
        &state.store,
        OffsetDateTime::now_utc(),
        Event {
            actor,
            action,
            subject,
            details,
            change: None,
        },
    )
    .await?;
    Ok(())
}

/// Clears ACCOUNTDISABLE.
#[utoipa::path(post, path = "/api/sim/users/{id}/ad-enable", tag = "simulator",
    params(("id" = String, Path, description = "The user's objectGUID")),
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn ad_enable(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, AppError> {
    set_ad_disabled(state, admin, id, false).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Advance {
    /// Seconds to move the simulated clock forward (1 to 34,560,000).
    seconds: i64,
}

/// Moves the simulated clock forward: delays run out, certificates expire, grace periods end.
#[utoipa::path(post, path = "/api/sim/clock/advance", tag = "simulator", request_body = Advance,
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn advance_clock(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Body(body): Body<Advance>,
) -> Result<StatusCode, AppError> {
    let sim = simulator(&state)?;
    let advance = body;
    if !(1..=MAX_ADVANCE_SECONDS).contains(&advance.seconds) {
        return Err(AppError::bad_request(
            "seconds",
            format!("seconds must be from 1 to {MAX_ADVANCE_SECONDS}."),
        ));
    }
    record(
        &state,
        &admin.name,
        "sim.clock_advance",
        "clock",
        format!("{} s", advance.seconds),
    )
    .await?;
    sim.advance_clock(time::Duration::seconds(advance.seconds));
    Ok(StatusCode::NO_CONTENT)
}

/// Arms a fault: the next `times` calls of `cmdlet` fail, hang, or apply and then hang. For
/// trying out failure handling (retry, rollback, reconciliation) on the demo.
#[utoipa::path(post, path = "/api/sim/faults", tag = "simulator", request_body = Fault,
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn inject_fault(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Body(body): Body<Fault>,
) -> Result<StatusCode, AppError> {
    let sim = simulator(&state)?;
    let fault = body;
    if fault.cmdlet.trim().is_empty()
        || fault.cmdlet.len() > 64
        || !(1..=100).contains(&fault.times)
    {
        return Err(AppError::bad_request(
            "cmdlet",
            "Name a cmdlet (such as Set-CsUser) and 1 to 100 times.",
        ));
    }
    record(
        &state,
        &admin.name,
        "sim.fault",
        "simulator",
        format!("{:?} {} × {}", fault.kind, fault.cmdlet, fault.times),
    )
    .await?;
    sim.inject(fault);
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every armed fault.
#[utoipa::path(delete, path = "/api/sim/faults", tag = "simulator",
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn clear_faults(
    State(state): State<AppState>,
    admin: Holding<Admins>,
) -> Result<StatusCode, AppError> {
    let sim = simulator(&state)?;
    record(
        &state,
        &admin.name,
        "sim.faults_cleared",
        "simulator",
        String::new(),
    )
    .await?;
    sim.clear_faults();
    Ok(StatusCode::NO_CONTENT)
}
