//! Pieces shared by the pages: state badges and how moments are written.

use deprov_wire::directory::{AdState, LyncState};
use deprov_wire::workflow::RequestState;
use leptos::prelude::*;
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
