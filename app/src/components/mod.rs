//! Pieces shared by the pages: state badges, how moments are written, and the banner that says
//! when the directory copy is stale or deprov is read-only.

use crate::api;
use deprov_wire::api::Health;
use deprov_wire::directory::{AdState, LyncState};
use deprov_wire::workflow::RequestState;
use leptos::prelude::*;
use leptos::task::spawn_local;
use time::OffsetDateTime;

/// "2027-03-02 14:05 UTC", as the server's sentences write moments. Written out by hand: time's
/// generic formatter would add to the front end's download for this one pattern.
pub fn when(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let (month, day, hour, minute) = (u8::from(at.month()), at.day(), at.hour(), at.minute());
    format!(
        "{:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC",
        at.year()
    )
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
                        {format!("The directory cannot be read right now: {error}.")}
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
                        {format!("The Lync shell is unavailable: {}. Nothing can run against Lync until it answers again.", h.shell_state)}
                    </p>
                }
            });
            view! { {stale} {read_only} {shell_down} }
        })
    }
}
