//! The HTTP surface: the JSON API under `/api` (described by `/api/openapi.json`, generated
//! from the handlers so it cannot drift) and the front end for every other path.

mod audit;
pub mod auth;
mod batches;
mod error;
mod execution;
mod frontend;
mod health;
pub mod listen;
mod notify;
mod openapi;
mod report;
mod requests;
mod sim;
mod users;

pub use error::AppError;

use crate::backend::Deployment;
use crate::directory::Directory;
use crate::execution::Executor;
use crate::people::Authenticator;
use crate::people::sessions::SessionPolicy;
use crate::people::throttle::Throttle;
use crate::report::engine::ReportHub;
use crate::report::exceptions::Exceptions;
use crate::store::Store;
use crate::workflow::Workflow;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use deprov_wire::api::ApiError;
use std::any::Any;
use std::path::Path;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest request body the API takes (its bodies are a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The directory source, the shell (if any) and the simulator's demo controls (if it is one).
    pub deployment: Deployment,
    pub directory: Directory,
    pub report: ReportHub,
    /// Accepted exceptions: findings set apart, for a reason, until a date.
    pub exceptions: Exceptions,
    pub store: Store,
    pub workflow: Workflow,
    pub executor: Executor,
    pub people: People,
    /// Turns true when the server is stopping: long-lived streams end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// How people sign in and how long they stay.
#[derive(Clone)]
pub struct People {
    pub authenticator: Arc<dyn Authenticator>,
    pub sessions: SessionPolicy,
    pub throttle: Arc<Throttle>,
    /// Mark the cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// AD accounts may sign in (`--ldap-sign-in on`).
    pub ad_sign_in: bool,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "deprov",
    description = "De-provision Lync / Skype for Business Server users safely. Every error is an ApiError body."
))]
struct ApiDoc;

/// The JSON API and its OpenAPI description, built from the same route lists.
fn api(state: AppState) -> Router {
    // Anyone may call these. Every other route takes `Holding` (or `Signed`), and its
    // description says so: the session cookie, the CSRF header on changes, 401 and 403.
    let public = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(auth::sign_in));
    let guarded = OpenApiRouter::new()
        .routes(routes!(auth::me, auth::sign_out))
        .routes(routes!(requests::create, requests::list))
        .routes(routes!(requests::create_bulk))
        .routes(routes!(requests::create_bulk_csv))
        .routes(routes!(batches::list))
        .routes(routes!(batches::confirm))
        .routes(routes!(batches::discard))
        .routes(routes!(report::exceptions, report::accept_exception))
        .routes(routes!(report::end_exception))
        .routes(routes!(requests::get))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::reject))
        .routes(routes!(requests::cancel))
        .routes(routes!(execution::view))
        .routes(routes!(execution::events))
        .routes(routes!(execution::execute))
        .routes(routes!(execution::retry))
        .routes(routes!(execution::backup))
        .routes(routes!(execution::settings, execution::set_settings))
        .routes(routes!(audit::list))
        .routes(routes!(audit::csv))
        .routes(routes!(notify::list))
        .routes(routes!(users::search))
        .routes(routes!(users::detail))
        .routes(routes!(users::pools))
        .routes(routes!(report::mismatches))
        .routes(routes!(report::mismatches_csv))
        .routes(routes!(report::stream))
        .routes(routes!(sim::ad_disable))
        .routes(routes!(sim::ad_enable))
        .routes(routes!(sim::advance_clock))
        .routes(routes!(sim::inject_fault, sim::clear_faults));
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(described(public, &openapi::Public))
        .merge(described(guarded, &openapi::Guarded))
        .with_state(state)
        .split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { AppError::NotFound("No such API endpoint.".to_owned()) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        // Answers hold people's data and change as it changes: never kept by a browser or proxy.
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(ApiError {
                    message: "Method not allowed here.".to_owned(),
                    field: None,
                }),
            )
        })
}

/// `routes` with what `modifier` says of all of them added to their description.
fn described(
    mut routes: OpenApiRouter<AppState>,
    modifier: &dyn Modify,
) -> OpenApiRouter<AppState> {
    modifier.modify(routes.get_openapi_mut());
    routes
}

/// The whole application: API, front end and the layers every response passes through.
pub fn app(state: AppState, static_dir: &Path) -> Router {
    api(state)
        .merge(frontend::router(static_dir))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A CSV cell that a spreadsheet will not run and a line-based viewer cannot be fooled by: text
/// starting with `= + - @`, a tab or a carriage return gets a leading `'` (requesters write
/// reasons; anyone can type a sign-in name), and control and bidirectional-override characters
/// are written as escapes (`\n`, `\u{202e}`), so no cell can forge a line or reorder one.
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let cell = printable(cell);
    if risky {
        format!("'{cell}").into()
    } else {
        cell
    }
}

/// `text` with control characters and bidirectional controls escaped.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '\0' => escaped.push_str("\\0"),
            c if hidden(c) => escaped.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    escaped.into()
}

/// A panic is a bug: log it, answer in the API's error shape, keep serving.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::Internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused() {
        assert_eq!(
            spreadsheet_safe("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        for risky in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(spreadsheet_safe(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(spreadsheet_safe("Jane Doe"), "Jane Doe");
    }

    #[test]
    fn control_characters_cannot_forge_a_line_or_reorder_one() {
        assert_eq!(
            spreadsheet_safe("ok\n2026-01-01,admin,request.approve"),
            "ok\\n2026-01-01,admin,request.approve"
        );
        assert_eq!(spreadsheet_safe("a\u{202e}b\0c"), "a\\u{202e}b\\0c");
        assert_eq!(spreadsheet_safe("\t=SUM(A1)"), "'\\t=SUM(A1)");
        assert_eq!(spreadsheet_safe("José"), "José");
    }
}
