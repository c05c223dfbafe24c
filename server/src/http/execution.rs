//! `/api/requests/{id}/execution...`: the plan and progress of running a request against Lync
//! (everyone signed in reads it), starting and retrying operations (admins), the backup
//! download (admins), and the automatic-stage-2 setting.

use super::AppState;
use super::auth::{Admins, AnyRole, Holding};
use super::error::{AppError, Body, Segment};
use super::requests::request_id;
use crate::execution::{Begun, EVERY_REQUEST, ExecutionError};
use crate::people::sessions::{self, Session};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::execution::{ExecuteBody, ExecutionSettings, ExecutionView, RetryBody};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

impl From<ExecutionError> for AppError {
    fn from(error: ExecutionError) -> Self {
        match error {
            ExecutionError::Refused { message, field } => Self::Unprocessable { message, field },
            ExecutionError::Conflict(message) => Self::Conflict(message),
            ExecutionError::NotYours(message) => Self::Forbidden(message),
            ExecutionError::NotFound(id) => Self::NotFound(format!("No request #{id}.")),
            ExecutionError::Backend(error) => Self::BackendUnavailable(format!(
                "{} Nothing was run; try again in a moment.",
                deprov_wire::sentence(&error.to_string())
            )),
            ExecutionError::Store(error) => Self::Internal(error.to_string()),
        }
    }
}

/// Runs an operation to its end in the background: the admin's page may close, it goes on.
fn drive(state: &AppState, operation: i64) {
    let executor = state.executor.clone();
    tokio::spawn(async move {
        if let Err(error) = executor.drive(operation).await {
            tracing::error!(operation, %error, "an operation stopped on a storage error");
        }
    });
}

/// What ran, what runs, and what could run next with each step's exact command and predicted effect.
#[utoipa::path(get, path = "/api/requests/{id}/execution", tag = "execution",
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = ExecutionView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn view(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
    Segment(id): Segment<String>,
) -> Result<Json<ExecutionView>, AppError> {
    let id = request_id(&id)?;
    super::requests::readable_request(&state, &reader, id).await?;
    Ok(Json(state.executor.view(id).await?))
}

/// Starts stage 1, stage 2, a rollback or a restore. 409 if the request changed since `version`
/// (a double click, another admin); 422 if it cannot run, or a destructive operation is not
/// confirmed with the account name. Answers at once; progress comes on the event stream.
#[utoipa::path(post, path = "/api/requests/{id}/execute", tag = "execution", request_body = ExecuteBody,
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 202, body = ExecutionView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn execute(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Segment(id): Segment<String>,
    Body(execute): Body<ExecuteBody>,
) -> Result<Response, AppError> {
    let id = request_id(&id)?;
    let begun = state
        .executor
        .begin(
            id,
            execute.operation,
            &admin.name,
            execute.version,
            execute.confirm.as_deref(),
            execute.reason.as_deref(),
        )
        .await?;
    // Asked: the view shows the ask, waiting for a second admin.
    if let Begun::Started(operation) = begun {
        drive(&state, operation);
    }
    Ok(accepted(&state, id).await)
}

/// Continues the failed last operation from its first step not done (an unknown outcome is first
/// settled by reading the user back).
#[utoipa::path(post, path = "/api/requests/{id}/retry", tag = "execution", request_body = RetryBody,
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 202, body = ExecutionView), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub async fn retry(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Segment(id): Segment<String>,
    Body(retry): Body<RetryBody>,
) -> Result<Response, AppError> {
    let id = request_id(&id)?;
    let operation = state.executor.retry(id, &admin.name, retry.version).await?;
    drive(&state, operation);
    Ok(accepted(&state, id).await)
}

/// 202 with the view as it stands; the operation has started either way, so a view that cannot
/// be read now is no reason for an error the admin would answer by trying again.
async fn accepted(state: &AppState, id: i64) -> Response {
    match state.executor.view(id).await {
        Ok(view) => (StatusCode::ACCEPTED, Json(view)).into_response(),
        Err(error) => {
            tracing::warn!(id, %error, "started, but the view could not be read");
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// The backup kept with the request (the user before each destructive operation, and the
/// Export-CsUserData file names), as a JSON file.
#[utoipa::path(get, path = "/api/requests/{id}/backup", tag = "execution",
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, body = deprov_wire::execution::BackupDocument), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn backup(
    State(state): State<AppState>,
    _: Holding<Admins>,
    Segment(id): Segment<String>,
) -> Result<Response, AppError> {
    let id = request_id(&id)?;
    let document = state.executor.backup_document(id).await?;
    if document.backups.is_empty() {
        return Err(AppError::NotFound(format!(
            "No backup has been taken for request #{id} yet."
        )));
    }
    let disposition = format!("attachment; filename=\"deprov-request-{id}-backup.json\"");
    let mut response = Json(document).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Server-sent events: an `execution` event with the whole [`ExecutionView`] at once, then again
/// after every change (a step starting or ending, an operation finishing).
#[utoipa::path(get, path = "/api/requests/{id}/execution/events", tag = "execution",
    params(("id" = i64, Path, description = "Request number", example = 1)),
    responses((status = 200, content_type = "text/event-stream", description = "`execution` events"),
        (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn events(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
    Segment(id): Segment<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let id = request_id(&id)?;
    super::requests::readable_request(&state, &reader, id).await?;
    // Subscribed before the first view is read: a change in between is not lost.
    let changes = state.executor.subscribe();
    let first = state.executor.view(id).await?;
    Ok(
        Sse::new(follow(state, reader.into_session(), id, first, changes))
            .keep_alive(KeepAlive::new().interval(SESSION_CHECK)),
    )
}

const SESSION_CHECK: Duration = Duration::from_secs(15);

fn event(view: &ExecutionView) -> Event {
    Event::default()
        .event("execution")
        .data(serde_json::to_string(view).expect("a view serializes"))
}

fn follow(
    state: AppState,
    session: Session,
    id: i64,
    first: ExecutionView,
    changes: tokio::sync::broadcast::Receiver<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (state, session, changes, Some(first)),
        move |(state, session, mut changes, first)| async move {
            if let Some(first) = first {
                return Some((Ok(event(&first)), (state, session, changes, None)));
            }
            let mut shutdown = state.shutdown.clone();
            let mut check = tokio::time::interval_at(
                tokio::time::Instant::now() + SESSION_CHECK,
                SESSION_CHECK,
            );
            loop {
                if *shutdown.borrow_and_update() {
                    return None;
                }
                tokio::select! {
                    _ = shutdown.changed() => return None,
                    _ = check.tick() => {
                        if !sessions::still_live(&state.store, &session, state.people.sessions).await {
                            return None;
                        }
                    }
                    received = changes.recv() => match received {
                        Ok(changed) if changed != id && changed != EVERY_REQUEST => continue,
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            // Several changes in a burst become one event with the latest state.
                            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) = changes.try_recv() {}
                            let Ok(view) = state.executor.view(id).await else { return None };
                            return Some((Ok(event(&view)), (state, session, changes, None)));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                }
            }
        },
    )
}

/// Whether stage 2 runs by itself when a grace period ends.
#[utoipa::path(get, path = "/api/settings/execution", tag = "execution",
    responses((status = 200, body = ExecutionSettings), (status = 401, body = ApiError)))]
pub async fn settings(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
) -> Result<Json<ExecutionSettings>, AppError> {
    Ok(Json(ExecutionSettings {
        auto_stage_two: state.executor.settings().await?,
    }))
}

/// Turns automatic stage 2 on or off (admins; audited).
#[utoipa::path(put, path = "/api/settings/execution", tag = "execution", request_body = ExecutionSettings,
    responses((status = 200, body = ExecutionSettings), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError)))]
pub async fn set_settings(
    State(state): State<AppState>,
    admin: Holding<Admins>,
    Body(settings): Body<ExecutionSettings>,
) -> Result<Json<ExecutionSettings>, AppError> {
    state
        .executor
        .set_auto_stage_two(&admin.name, settings.auto_stage_two)
        .await?;
    Ok(Json(settings))
}
