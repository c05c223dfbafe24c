//! `/api/report/mismatches`: the mismatch report as JSON (a page at a time), as CSV for auditors
//! (every finding), and as a stream of server-sent events: the counts and the first page the
//! filter keeps, then each change as it happens. Opening the report costs the same few hundred
//! kilobytes at 1,000 users or 100,000.

use super::AppState;
use super::auth::{AnyRole, Holding, Readers};
use super::error::{AppError, Body, Params, Segment, query_number};
use crate::people::sessions::{self, Session};
use crate::report::engine::{PublishedChange, ReportHub};
use crate::report::exceptions::ExceptionError;
use crate::report::{OPENING_PAGE, page};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::report::{
    AcceptedException, ExceptionList, FilteredTotal, Finding, MismatchReport, NewException, Rule,
};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Filters shared by the JSON, CSV and stream forms.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportFilter {
    /// `ad_disabled_lync_enabled`, `certificate_sign_in`, `stage_two_overdue` or `sip_renamed_unexplained`.
    rule: Option<String>,
    /// Registrar pool FQDN.
    pool: Option<String>,
    /// Department, exactly as in AD.
    department: Option<String>,
}

/// Which page of the findings the JSON form sends (beside the filters, from the same query).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportPage {
    /// Findings to skip (default 0).
    offset: Option<String>,
    /// Page size, 1 to 1,000 (default 200). The CSV export holds every finding.
    limit: Option<String>,
}

/// The largest page of findings the JSON form sends, and the furthest it pages.
const MAX_REPORT_PAGE: usize = 1_000;
const MAX_REPORT_OFFSET: usize = 1_000_000;

/// A filter, checked.
struct Filter {
    rule: Option<Rule>,
    pool: Option<String>,
    department: Option<String>,
}

impl Filter {
    fn parse(filter: ReportFilter) -> Result<Self, AppError> {
        let rule = match filter.rule.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(Rule::parse(r).ok_or_else(|| {
                let known: Vec<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                AppError::bad_request(
                    "rule",
                    format!("Rule '{r}' is unknown: use one of {}.", known.join(", ")),
                )
            })?),
        };
        Ok(Self {
            rule,
            pool: filter.pool.filter(|p| !p.is_empty()),
            department: filter.department.filter(|d| !d.is_empty()),
        })
    }

    fn keeps(&self, finding: &Finding) -> bool {
        self.rule.is_none_or(|rule| finding.rule == rule)
            && self.pool.as_deref().is_none_or(|pool| {
                finding
                    .registrar_pool
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(pool))
            })
            && self
                .department
                .as_deref()
                .is_none_or(|d| finding.department.eq_ignore_ascii_case(d))
    }

    fn is_empty(&self) -> bool {
        self.rule.is_none() && self.pool.is_none() && self.department.is_none()
    }
}

/// One page of the current report's findings (filters applied), with the counts, the total the
/// filter keeps, and the chart's history.
#[utoipa::path(get, path = "/api/report/mismatches", tag = "report", params(ReportFilter, ReportPage),
    responses((status = 200, body = MismatchReport), (status = 400, body = ApiError)))]
pub async fn mismatches(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    Params(filter): Params<ReportFilter>,
    Params(query): Params<ReportPage>,
) -> Result<Json<MismatchReport>, AppError> {
    let filter = Filter::parse(filter)?;
    // Past this, someone is paging by script: the CSV holds every finding.
    let offset = query_number("offset", query.offset, 0, 0..=MAX_REPORT_OFFSET)?;
    let limit = query_number("limit", query.limit, OPENING_PAGE, 1..=MAX_REPORT_PAGE)?;
    let report = state.report.current().report.clone();
    Ok(Json(page(&report, &|f| filter.keeps(f), offset, limit)))
}

/// The current findings as CSV (filters applied), for auditors.
#[utoipa::path(get, path = "/api/report/mismatches.csv", tag = "report", params(ReportFilter),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ApiError)))]
pub async fn mismatches_csv(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    Params(filter): Params<ReportFilter>,
) -> Result<Response, AppError> {
    let filter = Filter::parse(filter)?;
    let current = state.report.current();
    let report = page(&current.report, &|f| filter.keeps(f), 0, usize::MAX);
    let mut csv = csv::Writer::from_writer(Vec::new());
    let time = |t: Option<time::OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
    };
    let write = |csv: &mut csv::Writer<Vec<u8>>, row: &[&str]| {
        csv.write_record(
            row.iter()
                .map(|cell| super::spreadsheet_safe(cell).into_owned()),
        )
        .map_err(|e| AppError::Internal(format!("CSV: {e}")))
    };
    write(
        &mut csv,
        &[
            "rule",
            "risk",
            "display_name",
            "sam_account_name",
            "sip_address",
            "department",
            "registrar_pool",
            "since",
            "until",
            "why",
            "next_action",
            "protected",
            "homed_online",
        ],
    )?;
    for f in &report.findings {
        write(
            &mut csv,
            &[
                f.rule.as_str(),
                &format!("{:?}", f.risk).to_lowercase(),
                &f.display_name,
                &f.sam_account_name,
                f.sip_address.as_deref().unwrap_or_default(),
                &f.department,
                f.registrar_pool.as_deref().unwrap_or_default(),
                &time(f.since),
                &time(f.until),
                &f.why,
                &f.next_action,
                &f.protected.to_string(),
                &f.homed_online.to_string(),
            ],
        )?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| AppError::Internal(format!("CSV: {e}")))?;
    let name = format!("deprov-mismatches-{}.csv", report.computed_at.date());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A stream of server-sent events: `report` first (the counts, the chart and the first page of
/// the findings the filter keeps), then `change` events that chain by version, each followed on a
/// filtered stream by a `total` event (how many findings the filter keeps now). A stream that
/// falls behind is sent its first page again.
#[utoipa::path(get, path = "/api/report/mismatches/stream", tag = "report", params(ReportFilter),
    responses((status = 200, content_type = "text/event-stream", description = "`report`, then `change` (and `total` when filtered) events"),
        (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn stream(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
    Params(filter): Params<ReportFilter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let filter = Filter::parse(filter)?;
    Ok(Sse::new(events(state, reader.into_session(), filter))
        .keep_alive(KeepAlive::new().interval(SESSION_CHECK)))
}

/// How often a stream checks that its session is still live (and sends a keep-alive).
const SESSION_CHECK: Duration = Duration::from_secs(15);

/// What a stream holds between events.
struct Follower {
    state: AppState,
    session: Session,
    changes: broadcast::Receiver<Arc<PublishedChange>>,
    /// `None` until the first event; then the version the client holds.
    sent: Option<u64>,
    filter: Filter,
    /// The `total` event that follows a change on a filtered stream.
    pending: Option<Event>,
}

fn events(
    state: AppState,
    session: Session,
    filter: Filter,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = state.report.subscribe();
    stream::unfold(
        Follower {
            state,
            session,
            changes,
            sent: None,
            filter,
            pending: None,
        },
        |mut f| async move {
            if let Some(event) = f.pending.take() {
                return Some((Ok(event), f));
            }
            let Some(version) = f.sent else {
                let event = opening(&f.state.report, &f.filter, &mut f.sent);
                return Some((Ok(event), f));
            };
            let mut check = tokio::time::interval_at(
                tokio::time::Instant::now() + SESSION_CHECK,
                SESSION_CHECK,
            );
            let mut shutdown = f.state.shutdown.clone();
            if *shutdown.borrow_and_update() {
                return None;
            }
            loop {
                tokio::select! {
                    // The server is stopping (the only change ever sent): end the stream, so shutdown
                    // does not wait on open pages.
                    _ = shutdown.changed() => return None,
                    _ = check.tick() => {
                        // Signed out, disabled or expired: stop sending findings to this page.
                        if !sessions::still_live(&f.state.store, &f.session, f.state.people.sessions).await {
                            return None;
                        }
                    }
                    received = f.changes.recv() => match received {
                        Ok(change) if change.change.version <= version => continue,
                        Ok(change) if change.change.from_version == version => {
                            f.sent = Some(change.change.version);
                            if !f.filter.is_empty() {
                                f.pending = Some(filtered_total(&f.state.report, &f.filter));
                            }
                            let event = Event::default().event("change").data(change.json.as_ref());
                            return Some((Ok(event), f));
                        }
                        // A gap (fell behind, or subscribed mid-change): start again from the first page.
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            let event = opening(&f.state.report, &f.filter, &mut f.sent);
                            return Some((Ok(event), f));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                }
            }
        },
    )
}

/// The `report` event: the counts and the first page the filter keeps (unfiltered, the JSON the
/// engine serialised once for everyone).
fn opening(hub: &ReportHub, filter: &Filter, sent: &mut Option<u64>) -> Event {
    let current = hub.current();
    *sent = Some(current.report.version);
    let event = Event::default().event("report");
    if filter.is_empty() {
        return event.data(current.opening.as_ref());
    }
    let first = page(&current.report, &|f| filter.keeps(f), 0, OPENING_PAGE);
    event.data(serde_json::to_string(&first).expect("reports serialise"))
}

/// The `total` event after a change, counted over the current report.
fn filtered_total(hub: &ReportHub, filter: &Filter) -> Event {
    let current = hub.current();
    let total = FilteredTotal {
        // The report may have moved on since the change: say which version this total is of.
        version: current.report.version,
        total: current
            .report
            .findings
            .iter()
            .filter(|f| filter.keeps(f))
            .count(),
    };
    Event::default()
        .event("total")
        .data(serde_json::to_string(&total).expect("totals serialise"))
}

impl From<ExceptionError> for AppError {
    fn from(error: ExceptionError) -> Self {
        match error {
            ExceptionError::Refused { message, field } => Self::Unprocessable {
                message,
                field: Some(field),
            },
            ExceptionError::Conflict(message) => Self::Conflict(message),
            ExceptionError::NotFound(_) => Self::NotFound(error.to_string()),
            ExceptionError::Store(e) => Self::Internal(e.to_string()),
        }
    }
}

/// The accepted exceptions in force, soonest to end first.
#[utoipa::path(get, path = "/api/exceptions", tag = "report",
    responses((status = 200, body = ExceptionList), (status = 401, body = ApiError)))]
pub async fn exceptions(State(state): State<AppState>, _: Holding<AnyRole>) -> Json<ExceptionList> {
    Json(ExceptionList {
        exceptions: state.exceptions.list(),
    })
}

/// Accepts a finding as an exception, for a reason, until a date (admins and auditors): the user
/// leaves the report's count until then. Audited.
#[utoipa::path(post, path = "/api/exceptions", tag = "report", request_body = NewException,
    responses((status = 201, body = AcceptedException), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub async fn accept_exception(
    State(state): State<AppState>,
    reader: Holding<Readers>,
    Body(new): Body<NewException>,
) -> Result<(StatusCode, Json<AcceptedException>), AppError> {
    // What is accepted is what the report finds for the user now; a rule broken later counts.
    let rules: Vec<Rule> = state
        .report
        .current()
        .report
        .findings
        .iter()
        .filter(|f| f.user_id == new.user_id)
        .map(|f| f.rule)
        .collect();
    let accepted = state
        .exceptions
        .accept(&reader.name, new, &state.directory.snapshot(), rules)
        .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

/// Ends an exception now: the finding counts again. Audited.
#[utoipa::path(delete, path = "/api/exceptions/{id}", tag = "report",
    params(("id" = i64, Path, description = "Exception number", example = 1)),
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn end_exception(
    State(state): State<AppState>,
    reader: Holding<Readers>,
    Segment(id): Segment<String>,
) -> Result<StatusCode, AppError> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::bad_request("id", format!("'{id}' is not an exception number.")))?;
    state.exceptions.end(&reader.name, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
