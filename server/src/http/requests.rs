//! `/api/requests`: file a de-provisioning request (requesters), decide it (approvers), cancel it
//! (its requester), and read them (everyone signed in).

use super::AppState;
use super::auth::{AnyRole, Approvers, Holding, RequestParties, Requesters};
use super::error::{AppError, Body, Params, Segment, parse_user_id, query_number};
use crate::people::sessions::Session;
use crate::workflow::machine::Act;
use crate::workflow::{Filed, Narrow, Readable, Show, bulk};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use deprov_wire::api::ApiError;
use deprov_wire::people::Role;
use deprov_wire::workflow::{
    BulkOutcome, DEFAULT_REQUESTS_PAGE, DecisionBody, MAX_REQUESTS_PAGE, NewRequest, RequestList,
    RequestView,
};
use serde::Deserialize;

pub(super) fn request_id(id: &str) -> Result<i64, AppError> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| AppError::bad_request("id", format!("'{id}' is not a request number.")))
}

/// Files a request. Refused (422/409) for unknown, excluded, never-enabled or online users, a user
/// with an open request, or a protected user without a recorded override. An `external_ref`
/// already filed by the same caller answers 200 with the request filed then.
#[utoipa::path(post, path = "/api/requests", tag = "requests", request_body = NewRequest,
    responses((status = 201, body = RequestView), (status = 200, body = RequestView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    session: Holding<Requesters>,
    Body(new): Body<NewRequest>,
) -> Result<(StatusCode, Json<RequestView>), AppError> {
    let filed = state
        .workflow
        .file(
            &session.name,
            new,
            &state.directory.snapshot(),
            state.report.config(),
        )
        .await?;
    Ok(match filed {
        Filed::New(view) => (StatusCode::CREATED, Json(view)),
        // The same external reference again: the request filed then, not a second one.
        Filed::Existing(view) => (StatusCode::OK, Json(view)),
    })
}

/// Files many requests at once: a JSON array of requests, each row checked and answered on its
/// own (200, even when some or all were refused). A batch that would take the hour's filings
/// above the blast-radius limit (`--bulk-threshold`) files nothing and answers 202: it is held
/// until a second admin confirms it (`/api/batches`).
#[utoipa::path(post, path = "/api/requests/bulk", tag = "requests", request_body = Vec<NewRequest>,
    responses((status = 200, body = BulkOutcome), (status = 202, body = BulkOutcome), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 413, body = ApiError),
        (status = 422, body = ApiError)))]
pub async fn create_bulk(
    State(state): State<AppState>,
    session: Holding<Requesters>,
    Body(rows): Body<Vec<serde_json::Value>>,
) -> Result<(StatusCode, Json<BulkOutcome>), AppError> {
    // Each element read alone: one malformed row is that row's refusal, not the batch's.
    let rows = rows
        .into_iter()
        .map(|row| {
            serde_json::from_value::<NewRequest>(row).map_err(|e| format!("Not a request: {e}"))
        })
        .collect();
    file_bulk(&state, &session.name, rows).await
}

/// As `POST /api/requests/bulk`, from a CSV file: a header row naming the columns (`user`,
/// `reason`, `reason_text`, `urgency`, and optionally `effective_at`, `grace_days`,
/// `external_ref`, `protected_override`), then a request per row. `user` is an objectGUID,
/// sAMAccountName, user principal name or employeeID.
#[utoipa::path(post, path = "/api/requests/bulk.csv", tag = "requests",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = BulkOutcome), (status = 202, body = BulkOutcome), (status = 400, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 413, body = ApiError),
        (status = 422, body = ApiError)))]
pub async fn create_bulk_csv(
    State(state): State<AppState>,
    session: Holding<Requesters>,
    text: String,
) -> Result<(StatusCode, Json<BulkOutcome>), AppError> {
    let rows = bulk::rows_from_csv(&text).map_err(|message| AppError::Unprocessable {
        message,
        field: Some("file"),
    })?;
    file_bulk(&state, &session.name, rows).await
}

async fn file_bulk(
    state: &AppState,
    by: &str,
    rows: Vec<bulk::BulkRow>,
) -> Result<(StatusCode, Json<BulkOutcome>), AppError> {
    let outcome = state
        .workflow
        .create_many(by, rows, &state.directory.snapshot(), state.report.config())
        .await?;
    let status = if outcome.held.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    /// `open` (the default): pending, approved, executing, stage 1 done or failed. `due`: stage 1
    /// done and the grace period over (the queue for stage 2). `all`: every request.
    show: Option<String>,
    /// Only the requests for this user (objectGUID).
    user: Option<String>,
    /// Only the request filed under this external reference (an HR case number).
    external_ref: Option<String>,
    /// Requests to skip (default 0).
    offset: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<String>,
}

/// Requests, newest first (the stage 2 queue: longest due first), a page at a time. A requester
/// (and nothing more) sees only their own.
#[utoipa::path(get, path = "/api/requests", tag = "requests", params(ListFilter),
    responses((status = 200, body = RequestList), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
    Params(filter): Params<ListFilter>,
) -> Result<Json<RequestList>, AppError> {
    let show = match filter.show.as_deref().unwrap_or("open") {
        "open" | "" => Show::Open,
        "due" => Show::Due,
        "all" => Show::All,
        other => {
            return Err(AppError::bad_request(
                "show",
                format!("'{other}' is not a list: use open, due or all."),
            ));
        }
    };
    let offset = query_number("offset", filter.offset, 0, 0..=1_000_000)?;
    let limit = query_number(
        "limit",
        filter.limit,
        DEFAULT_REQUESTS_PAGE,
        1..=MAX_REQUESTS_PAGE,
    )?;
    let user = match filter.user.as_deref().filter(|u| !u.is_empty()) {
        Some(id) => Some(parse_user_id(id).map_err(|_| {
            AppError::bad_request("user", format!("'{id}' is not a user id (an objectGUID)."))
        })?),
        None => None,
    };
    let readable = Readable::for_person(&reader.name, &reader.roles);
    let (requests, total) = state
        .workflow
        .list(
            show,
            readable,
            &Narrow {
                user,
                external_ref: filter.external_ref.filter(|r| !r.trim().is_empty()),
            },
            offset,
            limit,
        )
        .await?;
    Ok(Json(RequestList {
        requests,
        total,
        offset,
        limit,
    }))
}

/// One request, with who must act, who has acted, and when.
#[utoipa::path(get, path = "/api/requests/{id}", tag = "requests", params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = RequestView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn get(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
    Segment(id): Segment<String>,
) -> Result<Json<RequestView>, AppError> {
    Ok(Json(
        readable_request(&state, &reader, request_id(&id)?).await?,
    ))
}

/// Request `id` if `reader` may read it. Someone else's request answers as a missing one does:
/// a requester learns nothing of their colleagues' requests, not even that one exists.
pub(super) async fn readable_request(
    state: &AppState,
    reader: &Session,
    id: i64,
) -> Result<RequestView, AppError> {
    state
        .workflow
        .get(id)
        .await?
        .filter(|view| Readable::for_person(&reader.name, &reader.roles).allows(&view.requested_by))
        .ok_or_else(|| AppError::NotFound(format!("No request #{id}.")))
}

/// Applies an approver's `act` to request `id`.
async fn decide(
    state: AppState,
    id: String,
    act: Act<'_>,
    decision: DecisionBody,
) -> Result<Json<RequestView>, AppError> {
    let id = request_id(&id)?;
    Ok(Json(
        state
            .workflow
            .decide(id, act, decision.version, &decision.comment)
            .await?,
    ))
}

/// Approves (never one's own request). 409 if the request changed since `version`.
#[utoipa::path(post, path = "/api/requests/{id}/approve", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn approve(
    State(state): State<AppState>,
    approver: Holding<Approvers>,
    Segment(id): Segment<String>,
    Body(decision): Body<DecisionBody>,
) -> Result<Json<RequestView>, AppError> {
    decide(state, id, Act::Approve { by: &approver.name }, decision).await
}

/// Rejects, with a comment.
#[utoipa::path(post, path = "/api/requests/{id}/reject", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn reject(
    State(state): State<AppState>,
    approver: Holding<Approvers>,
    Segment(id): Segment<String>,
    Body(decision): Body<DecisionBody>,
) -> Result<Json<RequestView>, AppError> {
    decide(state, id, Act::Reject { by: &approver.name }, decision).await
}

/// Cancels one's own request before execution starts; an approver or admin may cancel an
/// approved request that has not run, saying why (a request filed far ahead, say).
#[utoipa::path(post, path = "/api/requests/{id}/cancel", tag = "requests", request_body = DecisionBody,
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = RequestView), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn cancel(
    State(state): State<AppState>,
    session: Holding<RequestParties>,
    Segment(id): Segment<String>,
    Body(decision): Body<DecisionBody>,
) -> Result<Json<RequestView>, AppError> {
    let id = request_id(&id)?;
    let others = session.has(Role::Approver) || session.has(Role::Admin);
    Ok(Json(
        state
            .workflow
            .decide(
                id,
                Act::Cancel {
                    by: &session.name,
                    others,
                },
                decision.version,
                &decision.comment,
            )
            .await?,
    ))
}
