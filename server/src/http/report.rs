//! `/api/report/mismatches`: the mismatch report as JSON, as CSV for auditors, and as a stream of
//! server-sent events (the whole report first, then each change as it happens).

use super::AppState;
use super::auth::{AnyRole, Holding};
use super::error::{AppError, Params};
use crate::people::sessions::{self, Session};
use crate::report::engine::{PublishedChange, ReportHub};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use deprov_wire::api::ApiError;
use deprov_wire::report::{Finding, MismatchReport, Rule, RuleCounts};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Filters shared by the JSON and CSV forms.
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

/// A filter, checked.
struct Filter {
    rule: Option<Rule>,
    pool: Option<String>,
    department: Option<String>,
}

impl Filter {
    fn parse(Params(filter): Params<ReportFilter>) -> Result<Self, AppError> {
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

    /// The report narrowed to the filter; counts are of what remains.
    fn apply(&self, report: &MismatchReport) -> MismatchReport {
        let findings: Vec<Finding> = report
            .findings
            .iter()
            .filter(|f| self.keeps(f))
            .cloned()
            .collect();
        let mut counts = RuleCounts::default();
        findings.iter().for_each(|f| counts.add(f.rule));
        MismatchReport {
            findings,
            counts,
            excluded: report
                .excluded
                .iter()
                .filter(|f| self.keeps(f))
                .cloned()
                .collect(),
            ..report.clone()
        }
    }
}

/// The current report, optionally filtered.
#[utoipa::path(get, path = "/api/report/mismatches", tag = "report", params(ReportFilter),
    responses((status = 200, body = MismatchReport), (status = 400, body = ApiError)))]
pub async fn mismatches(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    filter: Params<ReportFilter>,
) -> Result<Response, AppError> {
    let filter = Filter::parse(filter)?;
    let published = state.report.current();
    if filter.rule.is_none() && filter.pool.is_none() && filter.department.is_none() {
        // Unfiltered: the bytes serialised once by the engine.
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            published.json.to_string(),
        )
            .into_response());
    }
    Ok(Json(filter.apply(&published.report)).into_response())
}

/// The current findings as CSV (filters applied), for auditors.
#[utoipa::path(get, path = "/api/report/mismatches.csv", tag = "report", params(ReportFilter),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = ApiError)))]
pub async fn mismatches_csv(
    State(state): State<AppState>,
    _: Holding<AnyRole>,
    filter: Params<ReportFilter>,
) -> Result<Response, AppError> {
    let filter = Filter::parse(filter)?;
    let report = filter.apply(&state.report.current().report);
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

/// A stream of server-sent events: `report` (the whole report) first, then `change` events
/// that chain by version. A stream that falls behind is sent the whole report again.
#[utoipa::path(get, path = "/api/report/mismatches/stream", tag = "report",
    responses((status = 200, content_type = "text/event-stream", description = "`report` then `change` events"),
        (status = 401, body = ApiError)))]
pub async fn stream(
    State(state): State<AppState>,
    reader: Holding<AnyRole>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    Ok(Sse::new(events(state, reader.into_session()))
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
}

fn events(state: AppState, session: Session) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = state.report.subscribe();
    stream::unfold(
        Follower {
            state,
            session,
            changes,
            sent: None,
        },
        |mut f| async move {
            let Some(version) = f.sent else {
                let event = whole_report(&f.state.report, &mut f.sent);
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
                            let event = Event::default().event("change").data(change.json.as_ref());
                            return Some((Ok(event), f));
                        }
                        // A gap (fell behind, or subscribed mid-change): start again from the whole report.
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            let event = whole_report(&f.state.report, &mut f.sent);
                            return Some((Ok(event), f));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                }
            }
        },
    )
}

fn whole_report(hub: &ReportHub, sent: &mut Option<u64>) -> Event {
    let current = hub.current();
    *sent = Some(current.report.version);
    Event::default().event("report").data(current.json.as_ref())
}
