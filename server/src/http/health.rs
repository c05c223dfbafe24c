//! `GET /api/health`: is the portal up, can it reach the directory and the Lync shell, and how
//! current is its copy of the directory?

use super::AppState;
use axum::Json;
use axum::extract::State;
use deprov_wire::api::Health;
use deprov_wire::execution::READ_ONLY;
use std::time::Duration;

/// How long a health probe waits for a backend before calling it unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

async fn probe<F: Future<Output = Result<String, crate::backend::BackendError>>>(
    check: F,
) -> Result<String, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(word)) => Ok(word),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The directory source's and the shell's state, and how current the portal's copy is.
#[utoipa::path(get, path = "/api/health", tag = "portal",
    responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let deployment = &state.deployment;
    let failure = state.directory.failure();
    let source = probe(deployment.directory.health()).await;
    let shell = match &deployment.shell {
        Some(shell) => Some((shell.name(), probe(shell.health()).await)),
        None => None,
    };
    let healthy = source.is_ok()
        && failure.is_none()
        && shell.as_ref().is_none_or(|(_, probe)| probe.is_ok());
    let snapshot = state.directory.snapshot();
    Json(Health {
        status: if healthy { "ok" } else { "degraded" }.to_owned(),
        backend: deployment.directory.name().to_owned(),
        backend_state: source.unwrap_or_else(|error| error),
        directory_users: snapshot.len(),
        directory_synced: Some(snapshot.synced),
        directory_error: failure.map(|f| {
            format!(
                "{} (failing since {}; showing the copy read at {})",
                f.error,
                crate::predict::when(f.since),
                crate::predict::when(snapshot.synced)
            )
        }),
        shell_available: shell.as_ref().is_some_and(|(_, probe)| probe.is_ok()),
        shell_state: match &shell {
            Some((_, probe)) => probe.clone().unwrap_or_else(|error| error),
            None => READ_ONLY.to_owned(),
        },
        shell: shell.map(|(name, _)| name.to_owned()),
        ad_sign_in: state.people.ad_sign_in,
    })
}
