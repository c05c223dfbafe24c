//! `/api/deliveries`: the notification delivery log, for admins and auditors.

use super::AppState;
use super::auth::{Holding, Readers};
use super::error::{AppError, Params, page_bounds};
use crate::notify::outbox;
use axum::Json;
use axum::extract::State;
use deprov_wire::api::ApiError;
use deprov_wire::notify::{DeliveryPage, DeliveryState};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    state: Option<DeliveryState>,
    offset: Option<i64>,
    /// 1 to 500 (default 100).
    limit: Option<i64>,
}

/// Every event's delivery to every recipient, newest first: what the last attempt got, when the
/// next is due, and why one was given up.
#[utoipa::path(get, path = "/api/deliveries", tag = "notifications", params(DeliveryQuery),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    _: Holding<Readers>,
    Params(query): Params<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, AppError> {
    let (offset, limit) = page_bounds(query.offset, query.limit)?;
    Ok(Json(
        outbox::list(&state.store, query.state, offset, limit).await?,
    ))
}
