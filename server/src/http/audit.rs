//! `/api/audit`: the audit log for auditors (and admins), filtered, as JSON or CSV.

use super::AppState;
use super::auth::{Holding, Readers};
use super::error::{AppError, Params, page_bounds};
use super::spreadsheet_safe;
use crate::audit::{self, AuditFilter};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::people::AuditPage;
use serde::Deserialize;
use time::OffsetDateTime;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Part of the actor's name.
    actor: Option<String>,
    /// Part of the action (`request.approve`, `session.sign_in`...).
    action: Option<String>,
    /// Part of the subject or details.
    q: Option<String>,
    /// The first day (UTC, `2026-11-01`) of the rows wanted.
    from: Option<String>,
    /// The last day (UTC, `2026-11-30`), included.
    until: Option<String>,
    offset: Option<i64>,
    /// 1 to 500 (default 100).
    limit: Option<i64>,
}

/// A day as `YYYY-MM-DD`, read as its first moment in UTC.
fn day(field: &'static str, text: &str) -> Result<OffsetDateTime, AppError> {
    let bad = || {
        AppError::bad_request(
            field,
            format!("'{text}' is not a date: write it as 2026-11-30."),
        )
    };
    let mut parts = text.trim().splitn(3, '-').map(|p| p.parse::<i32>().ok());
    let (Some(Some(year)), Some(Some(month)), Some(Some(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let month =
        time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    Ok(date.midnight().assume_utc())
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        let some = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let from = some(&self.from).map(|d| day("from", &d)).transpose()?;
        // The last day is included: rows before the next midnight.
        let until = some(&self.until)
            .map(|d| {
                day("until", &d)?
                    .checked_add(time::Duration::days(1))
                    .ok_or_else(|| {
                        AppError::bad_request(
                            "until",
                            format!("'{d}' is past the last date deprov knows."),
                        )
                    })
            })
            .transpose()?;
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            return Err(AppError::bad_request(
                "until",
                "The last day comes before the first.",
            ));
        }
        Ok(AuditFilter {
            actor: some(&self.actor),
            action: some(&self.action),
            text: some(&self.q),
            from,
            until,
        })
    }
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    _: Holding<Readers>,
    Params(query): Params<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    let (offset, limit) = page_bounds(query.offset, query.limit)?;
    Ok(Json(
        audit::list(&state.store, &query.filter()?, offset, limit).await?,
    ))
}

/// The filtered audit log as CSV, every matching row.
#[utoipa::path(get, path = "/api/audit.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn csv(
    State(state): State<AppState>,
    _: Holding<Readers>,
    Params(query): Params<AuditQuery>,
) -> Result<Response, AppError> {
    let page = audit::list(&state.store, &query.filter()?, 0, i64::MAX).await?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| AppError::Internal(format!("CSV: {e}"));
    csv.write_record(["seq", "at", "actor", "action", "subject", "details"])
        .map_err(fail)?;
    for e in page.entries {
        let at = crate::store::stamp(e.at);
        let row = [
            e.seq.to_string(),
            at,
            e.actor,
            e.action,
            e.subject,
            e.details,
        ];
        csv.write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))
            .map_err(fail)?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| AppError::Internal(format!("CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"deprov-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
