//! `/api/requests`: file a de-provisioning request (requesters), decide it (approvers), cancel it
//! (its requester), and read them (everyone signed in).

use super::AppState;
use super::auth::Signed;
use super::error::AppError;
use crate::workflow::Show;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use deprov_wire::api::ApiError;
use deprov_wire::people::Role;
use deprov_wire::workflow::{DecisionBody, DecisionKind, NewRequest, RequestList, RequestView};
use serde::Deserialize;

pub(super) fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(b)| b).map_err(|r| AppError::BadRequest {
        message: r.body_text(),
        field: None,
    })
}

pub(super) fn request_id(id: &str) -> Result<i64, AppError> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| AppError::bad_request("id", format!("'{id}' is not a request number.")))
}

/// Files a request. Refused (422/409) for unknown, excluded, never-enabled or online users, a user
/// with an open request, or a protected user without a recorded override.
#[utoipa::path(post, path = "/api/requests", tag = "requests", request_body = NewRequest,
    responses((status = 201, body = RequestView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    new: Result<Json<NewRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<RequestView>), AppError> {
    let session = signed.require(&[Role::Requester])?;
    let new = body(new)?;
    let view = state
        .workflow
        .create(
            &session.name,
            new,
            &state.directory.snapshot(),
            state.report.config(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    /// `open`: pending, approved, executing, stage 1 done or failed. `due`: stage 1 done and the
    /// grace period over (the queue for stage 2). Anything else: every request.
    show: Option<String>,
}

/// Requests, newest first.
#[utoipa::path(get, path = "/api/requests", tag = "requests", params(ListFilter),
    responses((status = 200, body = RequestList), (status = 401, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(filter): Query<ListFilter>,
) -> Result<Json<RequestList>, AppError> {
    signed.require(&Role::ALL)?;
    let show = match filter.show.as_deref() {
        Some("open") => Show::Open,
        Some("due") => Show::Due,
        _ => Show::All,
    };
    Ok(Json(RequestList {
        requests: state.workflow.list(show).await?,
    }))
}

/// One request, with who must act, who has acted, and when.
#[utoipa::path(get, path = "/api/requests/{id}", tag = "requests", params(("id" = i64, Path, description = "Request number")),
    responses((status = 200, body = RequestView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn get(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, AppError> {
    signed.require(&Role::ALL)?;
    let id = request_id(&id)?;
    state
        .workflow
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("No request #{id}.")))
}

async fn decide(
    state: AppState,
    signed: Signed,
    id: String,
    kind: DecisionKind,
    role: Role,
    decision: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<RequestView>, AppError> {
    let session = signed.require(&[role])?;
    let id = request_id(&id)?;
    let decision = body(decision)?;
    Ok(Json(
        state
            .workflow
            .decide(id, &session.name, kind, decision.version, &decision.comment)
            .await?,
    ))
}

/// Approves (never one's own request). 409 if the request changed since `version`.
#[utoipa::path(post, path = "/api/requests/{id}/approve", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number")),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn approve(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    decision: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<RequestView>, AppError> {
    decide(
        state,
        signed,
        id,
        DecisionKind::Approve,
        Role::Approver,
        decision,
    )
    .await
}

/// Rejects, with a comment.
#[utoipa::path(post, path = "/api/requests/{id}/reject", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number")),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn reject(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    decision: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<RequestView>, AppError> {
    decide(
        state,
        signed,
        id,
        DecisionKind::Reject,
        Role::Approver,
        decision,
    )
    .await
}

/// Cancels one's own request before execution starts.
#[utoipa::path(post, path = "/api/requests/{id}/cancel", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number")),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn cancel(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    decision: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<RequestView>, AppError> {
    decide(
        state,
        signed,
        id,
        DecisionKind::Cancel,
        Role::Requester,
        decision,
    )
    .await
}
