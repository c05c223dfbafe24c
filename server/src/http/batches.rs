//! `/api/batches`: bulk filings held by the blast-radius limit, for a second admin to confirm
//! or discard (its filer may discard it too; requesters read only their own).

use super::AppState;
use super::auth::{Admins, AnyRole, Holders, Holding};
use super::error::{AppError, Segment};
use crate::workflow::Readable;
use axum::Json;
use axum::extract::State;
use deprov_wire::api::ApiError;
use deprov_wire::people::Role;
use deprov_wire::workflow::{BulkOutcome, HeldBatch};

/// Who may discard a batch: its filer (a requester) or an admin.
pub struct BatchParties;

impl Holders for BatchParties {
    const ROLES: &'static [Role] = &[Role::Requester, Role::Admin];
}

fn batch_id(id: &str) -> Result<i64, AppError> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| AppError::bad_request("id", format!("'{id}' is not a batch number.")))
}

/// Held batches, and those decided in the last week, newest first.
#[utoipa::path(get, path = "/api/batches", tag = "requests",
    responses((status = 200, body = Vec<HeldBatch>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    session: Holding<AnyRole>,
) -> Result<Json<Vec<HeldBatch>>, AppError> {
    let session = session.into_session();
    let reader = Readable::for_person(&session.name, &session.roles);
    Ok(Json(state.workflow.batches(reader).await?))
}

/// A second admin (not its filer) confirms a held batch: its requests are filed as its filer's,
/// each checked again, each still needing its approvals.
#[utoipa::path(post, path = "/api/batches/{id}/confirm", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, body = BulkOutcome), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn confirm(
    State(state): State<AppState>,
    session: Holding<Admins>,
    Segment(id): Segment<String>,
) -> Result<Json<BulkOutcome>, AppError> {
    let id = batch_id(&id)?;
    let outcome = state
        .workflow
        .confirm_batch(
            id,
            &session.name,
            &state.directory.snapshot(),
            state.report.config(),
        )
        .await?;
    Ok(Json(outcome))
}

/// Drops a held batch: nothing is filed.
#[utoipa::path(post, path = "/api/batches/{id}/discard", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, body = HeldBatch), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn discard(
    State(state): State<AppState>,
    session: Holding<BatchParties>,
    Segment(id): Segment<String>,
) -> Result<Json<HeldBatch>, AppError> {
    let id = batch_id(&id)?;
    let session = session.into_session();
    let admin = session.roles.contains(&Role::Admin);
    Ok(Json(
        state
            .workflow
            .discard_batch(id, &session.name, admin)
            .await?,
    ))
}
