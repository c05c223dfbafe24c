//! `GET /api/health`: is the portal up, and can it reach its backend?

use super::AppState;
use axum::Json;
use axum::extract::State;
use deprov_wire::api::Health;
use std::time::Duration;

/// How long a health probe waits for the backend before calling it unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The backend's name and state, and how current the portal's copy of the directory is.
#[utoipa::path(get, path = "/api/health", tag = "portal",
    responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let probe = tokio::time::timeout(PROBE_TIMEOUT, state.backend.health()).await;
    let (status, backend_state) = match probe {
        Ok(Ok(word)) => match state.directory.last_error() {
            None => ("ok", word),
            Some(error) => (
                "degraded",
                format!("{word}; last directory read failed: {error}"),
            ),
        },
        Ok(Err(error)) => ("degraded", error.to_string()),
        Err(_) => (
            "degraded",
            format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        ),
    };
    let snapshot = state.directory.snapshot();
    Json(Health {
        status: status.to_owned(),
        backend: state.backend.name().to_owned(),
        backend_state,
        directory_users: snapshot.len(),
        directory_synced: Some(snapshot.synced),
    })
}
