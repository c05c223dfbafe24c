//! Pieces shared by the pages: state badges and how moments are written.

use deprov_wire::directory::{AdState, LyncState};
use deprov_wire::workflow::RequestState;
use leptos::prelude::*;
use time::OffsetDateTime;
use time::macros::format_description;

/// "2027-03-02 14:05 UTC", as the server's sentences write moments.
pub fn when(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
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
        RequestState::PendingApproval => "badge warn",
        RequestState::Approved => "badge ok",
        RequestState::Rejected | RequestState::Expired => "badge off",
        RequestState::Cancelled => "badge muted",
    };
    view! { <span class=class>{state.label()}</span> }
}
