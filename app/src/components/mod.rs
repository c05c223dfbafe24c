//! Pieces shared by the pages: state badges, how moments are written, and the banner that says
//! when the directory copy is stale or deprov is read-only.

use crate::api;
use deprov_wire::api::Health;
use deprov_wire::directory::{AdState, LyncState};
use deprov_wire::workflow::{OpenRequest, RequestState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use time::OffsetDateTime;

/// "2027-03-02 15:05 UTC+1": a moment in the browser's time zone, labelled with its offset from
/// UTC (the offset of that moment, so summer time is right). Written out by hand: time's generic
/// formatter would add to the front end's download for this one pattern.
pub fn when(at: OffsetDateTime) -> String {
    let (offset, label) = zone_at(at);
    written(at.to_offset(offset), &label)
}

/// The browser's offset from UTC at `at`, and its label: "UTC", "UTC+1", "UTC-3:30".
pub fn zone_at(at: OffsetDateTime) -> (time::UtcOffset, String) {
    let millis = (at.unix_timestamp_nanos() / 1_000_000) as f64;
    // getTimezoneOffset is minutes *behind* UTC: -60 in Amsterdam in winter.
    let behind = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis)).get_timezone_offset();
    let ahead = -(behind as i32);
    let offset = time::UtcOffset::from_whole_seconds(ahead * 60).unwrap_or(time::UtcOffset::UTC);
    let label = match (ahead / 60, (ahead % 60).abs()) {
        (0, 0) => "UTC".to_owned(),
        (hours, 0) => format!("UTC{hours:+}"),
        (hours, minutes) => format!(
            "UTC{}{}:{minutes:02}",
            if ahead < 0 { "-" } else { "+" },
            hours.abs()
        ),
    };
    (offset, label)
}

/// "2027-03-02 14:05 UTC": the moment in UTC, as the server's sentences write moments.
pub fn when_utc(at: OffsetDateTime) -> String {
    written(at.to_offset(time::UtcOffset::UTC), "UTC")
}

fn written(at: OffsetDateTime, label: &str) -> String {
    let (month, day, hour, minute) = (u8::from(at.month()), at.day(), at.hour(), at.minute());
    format!(
        "{:04}-{month:02}-{day:02} {hour:02}:{minute:02} {label}",
        at.year()
    )
}

/// A moment on a page: the person's own time, and UTC when the pointer rests on it.
#[component]
pub fn Moment(at: OffsetDateTime) -> impl IntoView {
    view! { <time title=when_utc(at)>{when(at)}</time> }
}

/// A `datetime-local` value, read in the browser's time zone.
pub fn parse_local(value: &str) -> Option<OffsetDateTime> {
    if value.is_empty() {
        return None;
    }
    let millis = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(value)).get_time();
    (!millis.is_nan())
        .then(|| OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000).ok())
        .flatten()
}

/// The pieces of a sentence from the server, with each "#12" it names split out as a request
/// number: `(text, None)` or `("#12", Some(12))`.
pub fn request_mentions(message: &str) -> Vec<(String, Option<i64>)> {
    let mut pieces = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find('#') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let Ok(id) = rest[at + 1..at + 1 + digits].parse::<i64>() else {
            pieces.push((rest[..=at].to_owned(), None));
            rest = &rest[at + 1..];
            continue;
        };
        pieces.push((rest[..at].to_owned(), None));
        pieces.push((format!("#{id}"), Some(id)));
        rest = &rest[at + 1 + digits..];
    }
    pieces.push((rest.to_owned(), None));
    pieces.retain(|(text, _)| !text.is_empty());
    pieces
}

/// An error from the server, each request it names ("already has an open request: #12") a link.
#[component]
pub fn ErrorMessage(message: String, #[prop(optional)] id: &'static str) -> impl IntoView {
    view! {
        <p class="error" role="alert" id=id>
            {request_mentions(&message).into_iter().map(|(text, request)| match request {
                Some(n) => view! { <a href=format!("/requests/{n}")>{text}</a> }.into_any(),
                None => text.into_any(),
            }).collect_view()}
        </p>
    }
}

#[component]
pub fn AdBadge(state: AdState) -> impl IntoView {
    let class = match state {
        AdState::Enabled => "badge ok",
        AdState::Disabled => "badge off",
    };
    view! { <span class=class>{state.label()}</span> }
}

#[component]
pub fn LyncBadge(state: LyncState) -> impl IntoView {
    let class = match state {
        LyncState::Enabled => "badge ok",
        LyncState::TemporarilyDisabled => "badge warn",
        LyncState::NeverEnabled => "badge muted",
    };
    let title = format!("Get-CsAdUser Enabled = {}", state.powershell());
    view! { <span class=class title=title>{state.label()}</span> }
}

/// A small flag for situations that change what may be done (protected, online, renamed).
#[component]
pub fn Flag(text: &'static str, title: &'static str) -> impl IntoView {
    view! { <span class="badge flag" title=title>{text}</span> }
}

#[component]
pub fn RequestStateBadge(state: RequestState) -> impl IntoView {
    let class = match state {
        RequestState::PendingApproval | RequestState::Executing => "badge warn",
        RequestState::Approved | RequestState::StageOneDone | RequestState::Removed => "badge ok",
        RequestState::Rejected | RequestState::Expired => "badge off",
        RequestState::Cancelled | RequestState::RolledBack | RequestState::Restored => {
            "badge muted"
        }
        RequestState::Failed => "badge cert",
    };
    view! { <span class=class>{state.label()}</span> }
}

/// A user's open request, linked: "#12 waiting for approval", or once stage 1 ran, "#12 in
/// progress (stage 2 due ...)", so a finding being dealt with does not read as a fresh one.
#[component]
pub fn OpenRequestLink(open: OpenRequest) -> impl IntoView {
    let text = match (open.state, open.stage_two_due_at) {
        (RequestState::StageOneDone, Some(due)) => {
            format!("#{} in progress (stage 2 due {})", open.id, when(due))
        }
        (state, _) => format!("#{} {}", open.id, state.label().to_lowercase()),
    };
    view! { <a class="open-request" href=format!("/requests/{}", open.id)>{text}</a> }
}

/// How often the banner asks the server how the directory and the shell are.
const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// A bar under the navigation, on every page: the directory cannot be read (the pages show the
/// last good copy), or no Lync shell is configured (read-only). Asked again every 15 seconds.
#[component]
pub fn StatusBanner() -> impl IntoView {
    let health = RwSignal::new(None::<Health>);
    let ask = move || {
        spawn_local(async move {
            if let Ok(answer) = api::health().await {
                health.set(Some(answer));
            }
        })
    };
    ask();
    if let Ok(handle) = set_interval_with_handle(ask, HEALTH_EVERY) {
        on_cleanup(move || handle.clear());
    }
    move || {
        health.get().map(|h| {
            let stale = h.directory_error.clone().map(|error| {
                view! {
                    <p class="banner bad" id="directory-stale" role="status">
                        {format!("The directory cannot be read right now: {}", deprov_wire::sentence(&error))}
                    </p>
                }
            });
            let read_only = h.shell.is_none().then(|| {
                view! {
                    <p class="banner" id="read-only-banner" role="status">
                        "Read-only: no Lync shell is configured. Search, user pages, the report, requests and \
                         approvals work; nothing runs against Lync. Client certificates and signed-in sessions \
                         are not known without the shell."
                    </p>
                }
            });
            let shell_down = (h.shell.is_some() && !h.shell_available).then(|| {
                view! {
                    <p class="banner bad" id="shell-unavailable" role="status">
                        {format!("The Lync shell is unavailable: {} Nothing can run against Lync until it answers again.", deprov_wire::sentence(&h.shell_state))}
                    </p>
                }
            });
            view! { {stale} {read_only} {shell_down} }
        })
    }
}
