//! The live mismatch report: counts per rule, a chart of the findings over time, and the table,
//! kept current by server-sent events. A row that appears is highlighted; one that goes fades out.
//!
//! The stream opens with the counts and the first page of what the filter keeps (the filter is in
//! the URL; changing it opens a new stream), so the page opens as fast at 100,000 users as at
//! 1,000; more rows come a page at a time on request.

use crate::components::{ErrorMessage, OpenRequestLink, when};
use crate::pages::bulk::BulkAnswer;
use crate::url;
use deprov_wire::directory::UserId;
use deprov_wire::report::NewException;
use deprov_wire::report::{
    FilteredTotal, Finding, FindingKey, HistoryPoint, MismatchReport, NotEvaluated, ReportChange,
    Risk, Rule, RuleCounts,
};
use deprov_wire::workflow::{BulkOutcome, NewRequest, ReasonCategory, Urgency};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use send_wrapper::SendWrapper;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

const STREAM: &str = "/api/report/mismatches/stream";
/// Findings fetched per "Show more" (the stream's first page is the server's own size).
const PAGE: usize = 200;
/// The report's filters, as they stand in the URL.
const FILTERS: [&str; 3] = ["rule", "pool", "department"];
/// How long a new row stays highlighted, and a removed one stays visible, fading.
const APPEARED_FOR: Duration = Duration::from_secs(3);
const LEAVING_FOR: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Steady,
    Appeared,
    Leaving,
}

#[derive(Debug, Clone)]
struct Row {
    finding: Finding,
    phase: Phase,
    /// Bumped when the row's content changes, so the keyed table redraws it.
    revision: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// Everything the page shows, updated by the stream.
#[derive(Clone, Copy)]
struct Live {
    rows: RwSignal<Vec<Row>>,
    counts: RwSignal<RuleCounts>,
    excluded: RwSignal<Vec<Finding>>,
    history: RwSignal<Vec<HistoryPoint>>,
    /// Rules not decided for some users (certificates, without the Lync shell).
    not_evaluated: RwSignal<Vec<NotEvaluated>>,
    report: RwSignal<Option<MismatchReport>>,
    version: RwSignal<u64>,
    revision: StoredValue<u64>,
    /// How many findings the filter keeps in all (the rows are the first of them).
    total: RwSignal<usize>,
    /// Whether the stream is filtered: then `total` comes in its own events.
    filtered: StoredValue<bool>,
    /// The pools and departments among the findings, for the filter menus.
    pools: RwSignal<Vec<String>>,
    departments: RwSignal<Vec<String>>,
}

/// One user in the table: the findings the page holds for them (one per rule), risk first.
#[derive(Debug, Clone)]
struct UserRow {
    findings: Vec<Row>,
}

impl UserRow {
    fn first(&self) -> &Finding {
        &self.findings[0].finding
    }

    /// Appeared when any finding is new; leaving only when all are going.
    fn phase(&self) -> Phase {
        if self.findings.iter().any(|r| r.phase == Phase::Appeared) {
            Phase::Appeared
        } else if self.findings.iter().all(|r| r.phase == Phase::Leaving) {
            Phase::Leaving
        } else {
            Phase::Steady
        }
    }

    /// A request can be filed from the report: not homed online, none open.
    fn fileable(&self) -> bool {
        let first = self.first();
        !first.homed_online && first.open_request.is_none()
    }
}

/// How the table is sorted (the stream's order, risk first, unless the person picks another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Risk,
    Name,
    Since,
}

/// The held findings as one row per user, in `sort` order (risk first keeps the stream's order).
fn by_user(rows: &[Row], sort: SortBy) -> Vec<UserRow> {
    let mut users: Vec<UserRow> = Vec::new();
    let mut at: std::collections::HashMap<UserId, usize> = std::collections::HashMap::new();
    for row in rows {
        match at.get(&row.finding.user_id) {
            Some(&i) => users[i].findings.push(row.clone()),
            None => {
                at.insert(row.finding.user_id, users.len());
                users.push(UserRow {
                    findings: vec![row.clone()],
                });
            }
        }
    }
    let since = |u: &UserRow| u.findings.iter().filter_map(|r| r.finding.since).min();
    match sort {
        SortBy::Risk => {}
        SortBy::Name => users.sort_by(|a, b| a.first().display_name.cmp(&b.first().display_name)),
        // Longest-standing first; findings with no start last.
        SortBy::Since => users.sort_by_key(|u| (since(u).is_none(), since(u))),
    }
    users
}

fn order(a: &Row, b: &Row) -> std::cmp::Ordering {
    let key = |r: &Row| {
        (
            r.finding.risk,
            r.finding.since,
            r.finding.display_name.clone(),
            r.finding.rule,
        )
    };
    key(a).cmp(&key(b))
}

impl Live {
    fn next_revision(&self) -> u64 {
        self.revision.update_value(|r| *r += 1);
        self.revision.get_value()
    }

    /// Rows the page holds, not counting those fading out.
    fn held(rows: &[Row]) -> usize {
        rows.iter().filter(|r| r.phase != Phase::Leaving).count()
    }

    fn load(&self, report: MismatchReport) {
        let revision = self.next_revision();
        self.total.set(report.total);
        self.pools.set(report.pools.clone());
        self.departments.set(report.departments.clone());
        self.rows.set(
            report
                .findings
                .iter()
                .cloned()
                .map(|finding| Row {
                    finding,
                    phase: Phase::Steady,
                    revision,
                })
                .collect(),
        );
        self.counts.set(report.counts);
        self.excluded.set(report.excluded.clone());
        self.history.set(report.history.clone());
        self.not_evaluated.set(report.not_evaluated.clone());
        self.version.set(report.version);
        self.report.set(Some(report));
    }

    /// Appends a further page, skipping rows the page already holds.
    fn append(&self, page: MismatchReport) {
        let revision = self.next_revision();
        self.rows.update(|rows| {
            for finding in page.findings {
                if !rows.iter().any(|r| r.finding.key() == finding.key()) {
                    rows.push(Row {
                        finding,
                        phase: Phase::Steady,
                        revision,
                    });
                }
            }
            rows.sort_by(order);
        });
        self.total.set(page.total);
    }

    fn apply(&self, change: ReportChange, keeps: impl Fn(&Finding) -> bool) {
        if change.from_version != self.version.get_untracked() {
            return; // The server re-sends the first page after a gap.
        }
        let revision = self.next_revision();
        let this = *self;
        // Rows past the ones held belong to pages not loaded: a finding that sorts there waits
        // for "Show more" (the total still counts it).
        let all_held = Self::held(&self.rows.read_untracked()) >= self.total.get_untracked();
        self.rows.update(|rows| {
            for key in &change.removed {
                if let Some(row) = rows.iter_mut().find(|r| r.finding.key() == *key) {
                    row.phase = Phase::Leaving;
                    row.revision = revision;
                }
            }
            let last = rows.last().cloned();
            for finding in change.added.iter().filter(|f| keeps(f)).cloned() {
                let key = finding.key();
                let candidate = Row {
                    finding: finding.clone(),
                    phase: Phase::Appeared,
                    revision,
                };
                let in_held_pages = all_held
                    || last
                        .as_ref()
                        .is_some_and(|last| order(&candidate, last).is_le());
                match rows.iter_mut().find(|r| r.finding.key() == key) {
                    Some(row) => {
                        *row = Row {
                            finding,
                            phase: Phase::Appeared,
                            revision,
                        }
                    }
                    None if in_held_pages => rows.push(candidate),
                    None => {}
                }
            }
            rows.sort_by(order);
        });
        self.pools.update(|pools| {
            let new = change.added.iter().filter_map(|f| f.registrar_pool.clone());
            merge_sorted(pools, new);
        });
        self.departments.update(|departments| {
            let new = change.added.iter().map(|f| f.department.clone());
            merge_sorted(departments, new.filter(|d| !d.is_empty()));
        });
        if !self.filtered.get_value() {
            self.total.set(change.counts.total());
        }
        let removed = change.removed.clone();
        set_timeout(move || this.settle(&removed, Phase::Leaving), LEAVING_FOR);
        let added: Vec<FindingKey> = change.added.iter().map(Finding::key).collect();
        set_timeout(move || this.settle(&added, Phase::Appeared), APPEARED_FOR);

        self.counts.set(change.counts);
        self.excluded.update(|excluded| {
            excluded.retain(|f| {
                !change.excluded_removed.contains(&f.key())
                    && !change.excluded_added.iter().any(|a| a.key() == f.key())
            });
            excluded.extend(change.excluded_added.iter().cloned());
        });
        if let Some(point) = change.history {
            self.history.update(|h| h.push(point));
        }
        self.not_evaluated.set(change.not_evaluated);
        self.version.set(change.version);
    }

    /// Ends a phase: leaving rows go, appeared rows become ordinary.
    fn settle(&self, keys: &[FindingKey], phase: Phase) {
        let revision = self.next_revision();
        self.rows.update(|rows| {
            if phase == Phase::Leaving {
                rows.retain(|r| !(r.phase == Phase::Leaving && keys.contains(&r.finding.key())));
            } else {
                for row in rows
                    .iter_mut()
                    .filter(|r| r.phase == phase && keys.contains(&r.finding.key()))
                {
                    row.phase = Phase::Steady;
                    row.revision = revision;
                }
            }
        });
    }
}

/// Adds the values of `new` not yet in the sorted list `values`.
fn merge_sorted(values: &mut Vec<String>, new: impl Iterator<Item = String>) {
    for value in new {
        if let Err(at) = values.binary_search(&value) {
            values.insert(at, value);
        }
    }
}

/// An open stream and its handlers, closed when replaced or when the page goes.
type OpenStream = SendWrapper<(
    EventSource,
    Closure<dyn FnMut(MessageEvent)>,
    Closure<dyn FnMut(MessageEvent)>,
    Closure<dyn FnMut(MessageEvent)>,
    Closure<dyn FnMut(web_sys::Event)>,
)>;

/// Opens the stream for the filters in `query_string`; the browser reconnects by itself and the
/// server then re-sends the first page.
fn connect(
    live: Live,
    connection: RwSignal<Connection>,
    query_string: &str,
    keeps: impl Fn(&Finding) -> bool + 'static,
) -> Option<OpenStream> {
    let url = if query_string.is_empty() {
        STREAM.to_owned()
    } else {
        format!("{STREAM}?{query_string}")
    };
    let Ok(source) = EventSource::new(&url) else {
        connection.set(Connection::Reconnecting);
        return None;
    };
    let on_report = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(report) = event
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<MismatchReport>(&d).ok())
        {
            live.load(report);
            connection.set(Connection::Live);
        }
    });
    let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(change) = event
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<ReportChange>(&d).ok())
        {
            live.apply(change, &keeps);
        }
    });
    let on_total = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(total) = event
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<FilteredTotal>(&d).ok())
        {
            live.total.set(total.total);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        connection.set(Connection::Reconnecting)
    });
    let _ = source.add_event_listener_with_callback("report", on_report.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("total", on_total.as_ref().unchecked_ref());
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Some(SendWrapper::new((
        source, on_report, on_change, on_total, on_error,
    )))
}

#[component]
pub fn ReportPage() -> impl IntoView {
    let live = Live {
        rows: RwSignal::new(Vec::new()),
        counts: RwSignal::new(RuleCounts::default()),
        excluded: RwSignal::new(Vec::new()),
        history: RwSignal::new(Vec::new()),
        not_evaluated: RwSignal::new(Vec::new()),
        report: RwSignal::new(None),
        version: RwSignal::new(0),
        revision: StoredValue::new(0),
        total: RwSignal::new(0),
        filtered: StoredValue::new(false),
        pools: RwSignal::new(Vec::new()),
        departments: RwSignal::new(Vec::new()),
    };
    let connection = RwSignal::new(Connection::Connecting);
    let query = use_query_map();
    let param = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());

    // One stream per filter: a new filter closes the old stream and opens its own.
    let open: StoredValue<Option<OpenStream>> = StoredValue::new(None);
    Effect::new(move |_| {
        let filters = url::query_string(&query.read(), &FILTERS);
        let (rule, pool, department) = (param("rule"), param("pool"), param("department"));
        let keeps = move |f: &Finding| {
            rule.as_deref().is_none_or(|r| f.rule.as_str() == r)
                && pool
                    .as_deref()
                    .is_none_or(|p| f.registrar_pool.as_deref() == Some(p))
                && department.as_deref().is_none_or(|d| f.department == d)
        };
        if let Some(previous) = open.write_value().take() {
            previous.0.close();
        }
        live.filtered.set_value(!filters.is_empty());
        connection.set(Connection::Connecting);
        open.set_value(connect(live, connection, &filters, keeps));
    });
    on_cleanup(move || {
        if let Some(stream) = open.write_value().take() {
            stream.0.close();
        }
    });
    let loading_more = RwSignal::new(false);
    let more_error = RwSignal::new(None::<String>);
    let show_more = move |_| {
        let held = Live::held(&live.rows.read_untracked());
        let filters = url::query_string(&query.read_untracked(), &FILTERS);
        let separator = if filters.is_empty() { "" } else { "&" };
        let query_string = format!("{filters}{separator}offset={held}&limit={PAGE}");
        loading_more.set(true);
        leptos::task::spawn_local(async move {
            match crate::api::report_page(query_string).await {
                Ok(page) => {
                    more_error.set(None);
                    live.append(page);
                }
                Err(failure) => more_error.set(Some(failure)),
            }
            loading_more.set(false);
        });
    };
    let navigate = use_navigate();
    let set_filter = move |key: &'static str, value: String| {
        let search = url::with_param(&query.read_untracked(), &FILTERS, key, &value, &[]);
        navigate(&format!("/report?{search}"), url::replacing());
    };
    // The stream holds only what the filter keeps: every row is shown, one per user.
    let sort = RwSignal::new(SortBy::Risk);
    let grouped = move || by_user(&live.rows.read(), sort.get());
    // Read as the session arrives: a page opened by its address draws before it is known.
    let session = crate::session();
    let requester = Signal::derive(move || session.has(deprov_wire::people::Role::Requester));
    // Users picked for one bulk request; kept across re-sorts and new pages.
    let selected = RwSignal::new(Vec::<UserId>::new());
    // Admins and auditors accept findings as exceptions, and end them.
    let reader = Signal::derive(move || {
        session.has(deprov_wire::people::Role::Admin)
            || session.has(deprov_wire::people::Role::Auditor)
    });
    let excepting = RwSignal::new(None::<(UserId, String)>);
    let exception_error = RwSignal::new(None::<String>);
    let end_exception = move |id: i64| {
        leptos::task::spawn_local(async move {
            if let Err(message) = crate::api::end_exception(id).await {
                exception_error.set(Some(message));
            }
        });
    };
    let csv = move || {
        format!(
            "/api/report/mismatches.csv?{}",
            url::query_string(&query.read(), &FILTERS)
        )
    };
    let on_filter = {
        let set_filter = set_filter.clone();
        move |key: &'static str| {
            let set_filter = set_filter.clone();
            move |ev| set_filter(key, event_target_value(&ev))
        }
    };

    view! {
        <section class="report">
            <div class="report-head">
                <h1>"Mismatch report"</h1>
                <span id="live-state" class=move || match connection.get() {
                    Connection::Live => "live on",
                    Connection::Connecting => "live",
                    Connection::Reconnecting => "live off",
                }>{move || match connection.get() {
                    Connection::Live => "● live",
                    Connection::Connecting => "connecting…",
                    Connection::Reconnecting => "reconnecting…",
                }}</span>
            </div>
            <p class="sub">"Accounts that can still use Lync although they should not. Updated as the directory changes; "
                {move || live.report.get().map(|r| format!("computed {}.", when(r.computed_at)))}</p>
            <div class="rule-cards">
                {Rule::ALL.map(|rule| {
                    let set_filter = set_filter.clone();
                    view! {
                        <button class="rule-card" id=format!("count-{}", rule.as_str())
                            class:active=move || param("rule").as_deref() == Some(rule.as_str())
                            on:click=move |_| {
                                let again = param("rule").as_deref() == Some(rule.as_str());
                                set_filter("rule", if again { String::new() } else { rule.as_str().to_owned() })
                            }>
                            <span class="count">{move || live.counts.get().get(rule)}</span>
                            <span class="label">{rule.label()}</span>
                            {move || live.not_evaluated.get().into_iter().find(|n| n.rule == rule).map(|n| view! {
                                <span class="unknown" title=n.why>{format!("+ {} not known", n.users)}</span>
                            })}
                        </button>
                    }
                })}
                <div class="chart-card"><Chart history=live.history /></div>
            </div>
            {move || live.not_evaluated.get().into_iter().map(|n| view! {
                <p class="warning not-evaluated" id=format!("not-evaluated-{}", n.rule.as_str())>
                    {format!("{}: not decided for {} user(s). {}", n.rule.label(), n.users, n.why)}
                </p>
            }).collect_view()}
            <div class="searchbar">
                <select aria-label="Rule" id="filter-rule" on:change=on_filter("rule") prop:value=move || param("rule").unwrap_or_default()>
                    <option value="">"Every rule"</option>
                    {Rule::ALL.map(|r| view! { <option value=r.as_str()>{r.label()}</option> })}
                </select>
                <select aria-label="Pool" on:change=on_filter("pool") prop:value=move || param("pool").unwrap_or_default()>
                    <option value="">"Any pool"</option>
                    {move || live.pools.get().into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
                </select>
                <select aria-label="Department" on:change=on_filter("department") prop:value=move || param("department").unwrap_or_default()>
                    <option value="">"Any department"</option>
                    {move || live.departments.get().into_iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()}
                </select>
                <a class="button" id="csv" href=csv download>"Download CSV"</a>
            </div>
            <p class="status" id="findings-status">{move || {
                let shown = Live::held(&live.rows.read());
                format!("{shown} findings shown, {} in all", live.total.get())
            }}</p>
            {move || requester.get().then(|| view! { <BulkRequest selected /> })}
            {move || exception_error.get().map(|message| view! { <ErrorMessage message id="exception-error" /> })}
            {move || excepting.get().map(|(user, name)| view! { <ExceptionForm user name excepting /> })}
            <div class="table-scroll">
            <table class="findings" id="findings">
                <thead><tr>
                    {move || requester.get().then(|| view! {
                        <th><input type="checkbox" id="select-all" aria-label="Select every user a request can be filed for"
                            prop:checked=move || {
                                let fileable: Vec<UserId> = grouped().iter().filter(|u| u.fileable()).map(|u| u.first().user_id).collect();
                                !fileable.is_empty() && fileable.iter().all(|id| selected.read().contains(id))
                            }
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let fileable: Vec<UserId> = grouped().iter().filter(|u| u.fileable()).map(|u| u.first().user_id).collect();
                                selected.update(|s| {
                                    s.retain(|id| !fileable.contains(id));
                                    if on { s.extend(fileable); }
                                });
                            } /></th>
                    })}
                    <SortHeader sort by=SortBy::Name label="User" />
                    <th>"Rules"</th>
                    <SortHeader sort by=SortBy::Risk label="Risk" />
                    <SortHeader sort by=SortBy::Since label="Since" />
                    <th>"Why"</th><th>"Next action"</th><th>"Request"</th>
                </tr></thead>
                <tbody>
                    <For each=grouped
                        key=|user| (user.first().user_id, user.findings.iter().map(|r| r.revision).collect::<Vec<_>>())
                        let(user)>
                        <UserFindings user selected requester reader excepting />
                    </For>
                </tbody>
            </table>
            </div>
            {move || (Live::held(&live.rows.read()) < live.total.get()).then(|| view! {
                <p class="pager">
                    <button id="findings-more" on:click=show_more disabled=move || loading_more.get()>
                        {move || if loading_more.get() { "Loading…" } else { "Show more" }}
                    </button>
                    {move || more_error.get().map(|e| view! { <span class="error">{e}</span> })}
                </p>
            })}
            <details class="excluded" id="set-apart">
                <summary>{move || {
                    let apart = live.excluded.get();
                    let excepted = apart.iter().filter(|f| f.exception.is_some()).count();
                    format!("Set apart, never counted: {} excluded, {excepted} accepted as exceptions", apart.len() - excepted)
                }}</summary>
                <h3>"Accepted exceptions"</h3>
                <ul id="exceptions">{move || {
                    let mut seen = Vec::new();
                    live.excluded.get().into_iter().filter_map(|f| {
                        let e = f.exception.clone()?;
                        if seen.contains(&e.id) { return None; }
                        seen.push(e.id);
                        let id = e.id;
                        Some(view! {
                            <li data-exception=id>
                                <a href=format!("/users/{}", f.user_id)>{f.display_name.clone()}</a>
                                {format!(" — {} accepted by {} until {}: \u{201c}{}\u{201d} ",
                                    e.rules.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
                                    e.accepted_by, when(e.until), e.reason)}
                                {move || reader.get().then(|| view! {
                                    <button class="link" on:click=move |_| end_exception(id)>"End now"</button>
                                })}
                            </li>
                        })
                    }).collect_view()
                }}</ul>
                <h3>"Excluded accounts"</h3>
                <p>"Exclusion list: " {move || live.report.get().map(|r| r.exclusions.join("; "))}
                   ". It comes from " <code>"--exclude-ou"</code> " and " <code>"--exclude-account"</code>
                   " (DEPROV_EXCLUDE_OUS, DEPROV_EXCLUDE_ACCOUNTS) when deprov starts: rooms, watcher nodes and service \
                   accounts are Lync-enabled on purpose. Stage 2 is overdue after "
                   {move || live.report.get().map(|r| r.grace_period_days)} " days."</p>
                <ul>{move || live.excluded.get().into_iter().filter(|f| f.exception.is_none()).map(|f| view! {
                    <li><a href=format!("/users/{}", f.user_id)>{f.display_name}</a> " — " {f.rule.label()}</li>
                }).collect_view()}</ul>
            </details>
        </section>
    }
}

/// A column header that sorts the table by itself.
#[component]
fn SortHeader(sort: RwSignal<SortBy>, by: SortBy, label: &'static str) -> impl IntoView {
    view! {
        <th aria-sort=move || if sort.get() == by { "descending" } else { "none" }>
            <button class="link sort" class:active=move || sort.get() == by on:click=move |_| sort.set(by)>{label}</button>
        </th>
    }
}

fn risk_badge(risk: Risk) -> impl IntoView {
    match risk {
        Risk::High => view! { <span class="badge cert">"high"</span> },
        Risk::Medium => view! { <span class="badge warn">"medium"</span> },
        Risk::Low => view! { <span class="badge muted">"low"</span> },
    }
}

/// One user's row: the rules that apply as badges, what to do about each, and the request that
/// is open or can be filed.
#[component]
fn UserFindings(
    user: UserRow,
    selected: RwSignal<Vec<UserId>>,
    requester: Signal<bool>,
    reader: Signal<bool>,
    excepting: RwSignal<Option<(UserId, String)>>,
) -> impl IntoView {
    let phase = user.phase();
    let fileable = user.fileable();
    let f = user.first().clone();
    let id = f.user_id;
    let pick_label = format!("Select {}", f.display_name);
    let rules: Vec<&'static str> = user
        .findings
        .iter()
        .map(|r| r.finding.rule.as_str())
        .collect();
    let since = user.findings.iter().filter_map(|r| r.finding.since).min();
    let until = user.findings.iter().filter_map(|r| r.finding.until).max();
    let since = since.map(when).unwrap_or_else(|| "—".to_owned());
    let until = until.map(|u| view! { <div class="sub">{format!("until {}", when(u))}</div> });
    let open_request = f.open_request;
    let name = f.display_name.clone();
    let unfinished = user
        .findings
        .iter()
        .any(|r| r.finding.rule == Rule::StageTwoOverdue);
    view! {
        <tr data-user=id.to_string() data-rules=rules.join(" ")
            class:appeared=phase == Phase::Appeared class:leaving=phase == Phase::Leaving>
            {move || requester.get().then(|| view! {
                <td>{fileable.then(|| view! {
                    <input type="checkbox" class="pick" aria-label=pick_label.clone()
                        prop:checked=move || selected.read().contains(&id)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|s| {
                                s.retain(|other| *other != id);
                                if on { s.push(id); }
                            });
                        } />
                })}</td>
            })}
            <td>
                <a href=format!("/users/{id}")>{f.display_name.clone()}</a>
                <div class="sub">{f.sam_account_name.clone()} " · " {f.department.clone()}</div>
                <div class="badges">
                    {f.protected.then(|| view! { <span class="badge flag">"protected"</span> })}
                    {f.homed_online.then(|| view! { <span class="badge flag">"online"</span> })}
                </div>
            </td>
            <td><div class="badges">{user.findings.iter().map(|r| view! {
                <span class="badge rule" data-rule=r.finding.rule.as_str()>{r.finding.rule.label()}</span>
            }).collect_view()}</div></td>
            <td>{risk_badge(f.risk)}</td>
            <td class="when">{since}{until}</td>
            <td><ul class="plain">{user.findings.iter().map(|r| view! { <li>{r.finding.why.clone()}</li> }).collect_view()}</ul></td>
            <td class="next"><ul class="plain">{user.findings.iter().map(|r| view! { <li>{r.finding.next_action.clone()}</li> }).collect_view()}</ul></td>
            <td class="act">{move || match open_request {
                Some(open) => view! { <OpenRequestLink open /> }.into_any(),
                // Only where one can be filed: an online user is handled in Lync Online.
                // Lync disabled outside deprov and never removed: finish the removal (stage 2 only).
                None if requester.get() && fileable && unfinished => view! {
                    <a class="button" href=format!("/requests/new?user={id}&urgency=finish_removal")>"Request finish removal"</a>
                }.into_any(),
                None if requester.get() && fileable => view! {
                    <a class="button" href=format!("/requests/new?user={id}")>"Request de-provisioning"</a>
                }.into_any(),
                None => ().into_any(),
            }}
            {move || reader.get().then(|| {
                let name = name.clone();
                view! {
                    <button class="link except" on:click=move |_| excepting.set(Some((id, name.clone())))>"Accept as exception…"</button>
                }
            })}</td>
        </tr>
    }
}

/// Accepting one user's findings as an exception: why, and until when (a day, by the
/// deployment's clock, at the end of which it runs out).
#[component]
fn ExceptionForm(
    user: UserId,
    name: String,
    excepting: RwSignal<Option<(UserId, String)>>,
) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(until) =
            crate::components::parse_local(&format!("{}T23:59", until.get_untracked()))
        else {
            error.set(Some("Choose the last day the exception holds.".into()));
            return;
        };
        let new = NewException {
            user_id: user,
            reason: reason.get_untracked(),
            until,
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match crate::api::accept_exception(new).await {
                Ok(_) => excepting.set(None),
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card form" id="exception-form" on:submit=submit
            on:keydown=move |ev| if ev.key() == "Escape" { excepting.set(None) }>
            <h2>{format!("Accept {name}'s findings as an exception")}</h2>
            <p class="sub">"The user leaves the count until the day you choose, then counts again. Recorded in the audit log."</p>
            <label for="exception-reason">"Why, and who decided"</label>
            <textarea id="exception-reason" rows="2" prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))></textarea>
            <label for="exception-until">"Until (the last day, your time)"</label>
            <input id="exception-until" type="date" prop:value=move || until.get()
                on:input=move |ev| until.set(event_target_value(&ev)) />
            {move || error.get().map(|message| view! { <ErrorMessage message id="exception-form-error" /> })}
            <div class="actions">
                <button id="exception-submit" class="primary" type="submit" disabled=move || busy.get()>"Accept"</button>
                <button type="button" on:click=move |_| excepting.set(None)>"Not now"</button>
            </div>
        </form>
    }
}

/// One request each for the users picked in the table, with one reason, and what became of each.
#[component]
fn BulkRequest(selected: RwSignal<Vec<UserId>>) -> impl IntoView {
    let reason = RwSignal::new(None::<ReasonCategory>);
    let reason_text = RwSignal::new(String::new());
    let urgency = RwSignal::new(Urgency::Standard);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<BulkOutcome>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(reason) = reason.get_untracked() else {
            error.set(Some("Choose a reason.".into()));
            return;
        };
        let (reason_text, urgency) = (reason_text.get_untracked(), urgency.get_untracked());
        let bulk: Vec<NewRequest> = selected
            .get_untracked()
            .into_iter()
            .map(|user_id| NewRequest {
                user_id: Some(user_id),
                user: None,
                external_ref: None,
                reason,
                reason_text: reason_text.clone(),
                urgency,
                effective_at: None,
                grace_days: None,
                protected_override: None,
            })
            .collect();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match crate::api::create_bulk(bulk).await {
                Ok(answer) => {
                    // Filed (or held) users leave the selection; refused ones stay, to be looked at.
                    selected.update(|s| {
                        s.retain(|id| {
                            answer
                                .results
                                .iter()
                                .any(|r| r.user_id == Some(*id) && r.refused.is_some())
                        })
                    });
                    outcome.set(Some(answer));
                }
                Err(message) => error.set(Some(message)),
            }
            busy.set(false);
        });
    };
    view! {
        <Show when=move || !selected.read().is_empty()>
            <form class="card form bulk" id="bulk-request" on:submit=submit>
                <h2>{move || format!("Request de-provisioning for {} selected user(s)", selected.read().len())}</h2>
                <p class="sub">"One request each, each checked on its own and approved on its own. \
                    A protected account needs a request of its own, with the override."</p>
                <label for="bulk-reason">"Reason"</label>
                <select id="bulk-reason" on:change=move |ev| reason.set(ReasonCategory::parse(&event_target_value(&ev)))
                    prop:value=move || reason.get().map_or("", |r| r.as_str())>
                    <option value="">"Choose a reason"</option>
                    {ReasonCategory::ALL.map(|r| view! { <option value=r.as_str()>{r.label()}</option> })}
                </select>
                <label for="bulk-reason-text">"What happened (for the approver and the audit log)"</label>
                <textarea id="bulk-reason-text" rows="2" prop:value=move || reason_text.get()
                    on:input=move |ev| reason_text.set(event_target_value(&ev))></textarea>
                <label for="bulk-urgency">"Urgency"</label>
                <select id="bulk-urgency" on:change=move |ev| urgency.set(Urgency::parse(&event_target_value(&ev)).unwrap_or(Urgency::Standard))
                    prop:value=move || urgency.get().as_str()>
                    {Urgency::ALL.map(|u| view! { <option value=u.as_str()>{u.label()}</option> })}
                </select>
                {move || error.get().map(|message| view! { <ErrorMessage message id="bulk-error" /> })}
                <div class="actions">
                    <button id="bulk-submit" class="primary" type="submit" disabled=move || busy.get()>"Send for approval"</button>
                    <button type="button" on:click=move |_| selected.set(Vec::new())>"Clear the selection"</button>
                </div>
            </form>
        </Show>
        {move || outcome.get().map(|answer| view! {
            <BulkAnswer answer dismiss=Callback::new(move |()| outcome.set(None)) />
        })}
    }
}

/// The findings count over time, as a line with its axes: findings from 0 to a round maximum
/// up the side, the first and last moments along the bottom. Points are evenly spaced (one per
/// change), so a jump of the clock does not squash the history against one edge.
#[component]
fn Chart(history: RwSignal<Vec<HistoryPoint>>) -> impl IntoView {
    const W: f64 = 260.0;
    const H: f64 = 64.0;
    /// Room on the left for the count labels.
    const LEFT: f64 = 28.0;
    // The top of the scale: the largest count, rounded up to 1, 2 or 5 times a power of ten.
    let top = move || {
        let max = history
            .with(|h| h.iter().map(|p| p.counts.total()).max().unwrap_or(0))
            .max(1);
        let mut step = 1;
        loop {
            for factor in [1, 2, 5] {
                if step * factor >= max {
                    return step * factor;
                }
            }
            step *= 10;
        }
    };
    let points = move || {
        let top = top() as f64;
        history.with(|history| {
            let last = history.len().saturating_sub(1).max(1) as f64;
            history
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let x = if history.len() == 1 {
                        W
                    } else {
                        LEFT + i as f64 / last * (W - LEFT)
                    };
                    let y = H - 4.0 - p.counts.total() as f64 / top * (H - 8.0);
                    format!("{x:.1},{y:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {H}") role="img" aria-label="Findings over time">
            <line class="axis" x1=LEFT y1="4" x2=LEFT y2=H - 4.0 />
            <line class="axis" x1=LEFT y1=H - 4.0 x2=W y2=H - 4.0 />
            <text class="tick" id="chart-top" x=LEFT - 3.0 y="10" text-anchor="end">{move || top().to_string()}</text>
            <text class="tick" x=LEFT - 3.0 y=H - 4.0 text-anchor="end">"0"</text>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="2" />
        </svg>
        <span class="label axis-label">{move || {
            let history = history.get();
            match (history.first(), history.last()) {
                (Some(first), Some(last)) => format!(
                    "{} → {} findings, {} to {}",
                    first.counts.total(),
                    last.counts.total(),
                    when(first.at),
                    when(last.at)
                ),
                _ => "No history yet".to_owned(),
            }
        }}</span>
    }
}
