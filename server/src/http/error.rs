//! The API's one error type: every failure becomes a status code and an [`ApiError`] body with
//! a sentence a person can act on. Internal details are logged, never sent.

use crate::backend::BackendError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::directory::UserId;

#[derive(Debug)]
pub enum AppError {
    /// 400: the request is malformed; `field` names the culprit.
    BadRequest {
        message: String,
        field: Option<&'static str>,
    },
    /// 401: not signed in, or the session ended.
    Unauthorized,
    /// 401: a sign-in with a wrong name or password (deliberately not saying which).
    WrongCredentials,
    /// 403: signed in, but this needs another role (or another person).
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409: the thing changed meanwhile, or already exists.
    Conflict(String),
    /// 422: understood, but refused for a reason the person can act on.
    Unprocessable {
        message: String,
        field: Option<&'static str>,
    },
    /// 413: a body larger than the API takes.
    TooLarge(String),
    /// 429: too many failed attempts; try again after this many seconds.
    TooManyAttempts(u64),
    /// 503: the Lync backend could not answer; the portal itself is fine.
    BackendUnavailable(String),
    /// 500: a bug. The detail is logged; the client gets a generic sentence.
    Internal(String),
}

impl AppError {
    pub fn bad_request(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: Some(field),
        }
    }
}

/// A user id from a path segment, or a 400 that says what was expected.
pub fn parse_user_id(id: &str) -> Result<UserId, AppError> {
    id.parse().map_err(|_| {
        AppError::bad_request(
            "id",
            format!("'{id}' is not a user id: expected an objectGUID."),
        )
    })
}

/// A whole number from a query string within `range` (`default` when absent or empty), or a
/// 400 naming the field.
pub fn query_number(
    field: &'static str,
    value: Option<String>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, AppError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    value
        .parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            AppError::bad_request(
                field,
                format!(
                    "'{value}' is not a valid {field}: give a whole number from {} to {}.",
                    range.start(),
                    range.end()
                ),
            )
        })
}

impl From<BackendError> for AppError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::UserNotFound(_) => {
                Self::NotFound("No such user in the directory.".to_owned())
            }
            BackendError::Unavailable(_)
            | BackendError::Timeout(_)
            | BackendError::Lost(_)
            | BackendError::Partial { .. } => Self::BackendUnavailable(format!(
                "{} Try again in a moment.",
                deprov_wire::sentence(&error.to_string())
            )),
            BackendError::CommandFailed { .. } => Self::Internal(error.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// A JSON body as the app reads it: one that cannot be read is the API's error (400, or 413 when
/// larger than [`super::MAX_BODY`]), never axum's plain-text rejection.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(Json), rejection(AppError))]
pub struct Body<T>(pub T);

/// Query-string parameters as the app reads them: a malformed query is the API's JSON error.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Params<T>(pub T);

/// A path parameter as the app reads it: a segment that is not UTF-8 (`%FF`) is the API's JSON
/// error, never axum's plain-text one.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Segment<T>(pub T);

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::TooLarge(format!(
                "The request body is larger than the {} KB the API takes.",
                super::MAX_BODY / 1024
            ));
        }
        Self::BadRequest {
            message: format!(
                "The request body is not the JSON this endpoint takes: {}",
                rejection.body_text()
            ),
            field: None,
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadRequest {
            message: format!("The query string cannot be read: {}", rejection.body_text()),
            field: None,
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        // A route whose handler takes a parameter its path lacks: a bug, not the caller's fault.
        if rejection.status().is_server_error() {
            return Self::Internal(rejection.body_text());
        }
        Self::BadRequest {
            message: format!("The path cannot be read: {}", rejection.body_text()),
            field: None,
        }
    }
}

impl From<crate::workflow::WorkflowError> for AppError {
    fn from(error: crate::workflow::WorkflowError) -> Self {
        use crate::workflow::WorkflowError as E;
        match error {
            E::Refused { message, field } => Self::Unprocessable { message, field },
            E::NotYours(message) => Self::Forbidden(message),
            E::Conflict(message) => Self::Conflict(message),
            E::NotFound(_) | E::NoBatch(_) => Self::NotFound(error.to_string()),
            E::Store(e) => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message, field) = match self {
            Self::BadRequest { message, field } => (StatusCode::BAD_REQUEST, message, field),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in first (or again: your session has ended).".to_owned(),
                None,
            ),
            Self::WrongCredentials => (
                StatusCode::UNAUTHORIZED,
                "Wrong name or password.".to_owned(),
                None,
            ),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, message, None),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, message, None),
            Self::Conflict(message) => (StatusCode::CONFLICT, message, None),
            Self::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message, None),
            Self::Unprocessable { message, field } => {
                (StatusCode::UNPROCESSABLE_ENTITY, message, field)
            }
            Self::TooManyAttempts(seconds) => {
                let message = format!(
                    "Too many failed sign-ins for this name or address: try again in {seconds} s."
                );
                let body = Json(ApiError {
                    message,
                    field: None,
                });
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, seconds.to_string())],
                    body,
                )
                    .into_response();
            }
            Self::BackendUnavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message, None),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong in deprov; it has been logged.".to_owned(),
                    None,
                )
            }
        };
        (
            status,
            Json(ApiError {
                message,
                field: field.map(str::to_owned),
            }),
        )
            .into_response()
    }
}

/// A page's `offset` and `limit` from a query: offset 0 and `limit` 100 by default, `limit` from
/// 1 to 500 (a 400 otherwise).
pub fn page_bounds(offset: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), AppError> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::bad_request(
            "limit",
            "limit must be from 1 to 500.",
        ));
    }
    Ok((offset.unwrap_or(0).max(0), limit))
}
