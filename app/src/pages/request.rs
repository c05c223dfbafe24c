//! One request: what was asked, who must act, who has acted and when, and the buttons the
//! signed-in person may press (approve or reject; cancel their own). Below it, the request's
//! execution against Lync ([`super::execution`]).

use super::execution::Execution;
use crate::components::{AdBadge, LyncBadge, Moment, RequestStateBadge, when};
use crate::{api, session};
use deprov_wire::api::UserDetail;
use deprov_wire::directory::NOT_KNOWN_WITHOUT_SHELL;
use deprov_wire::people::Role;
use deprov_wire::workflow::{DecisionBody, DecisionKind, RequestState, RequestView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

#[component]
pub fn RequestPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let resource = LocalResource::new(move || api::request(id()));
    let notice = RwSignal::new(None::<String>);
    view! {
        <section class="request">
            <p class="crumbs"><a href="/requests">"← Requests"</a></p>
            {move || notice.get().map(|n| view! { <p class="error" role="alert" id="decision-error">{n}</p> })}
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || {
                    // Who may press what is decided while drawing: wait for the session, redraw on it.
                    let known = session().0.with(Option::is_some);
                    Suspend::new(async move {
                    match resource.await {
                        Ok(_) if !known => view! { <p class="status">"Loading…"</p> }.into_any(),
                        Ok(request) => view! { <Detail request notice refresh=move || resource.refetch() /> }.into_any(),
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}}
            </Transition>
            {move || id().parse::<i64>().ok().map(|id| view! {
                <Execution id on_state_change=move || resource.refetch() />
            })}
        </section>
    }
}

#[component]
fn Detail(
    request: RequestView,
    notice: RwSignal<Option<String>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let me = session();
    let comment = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let (id, version) = (request.id, request.version);
    let act = move |kind: DecisionKind| {
        let name = match kind {
            DecisionKind::Approve => "approve",
            DecisionKind::Reject => "reject",
            _ => "cancel",
        };
        busy.set(true);
        notice.set(None);
        spawn_local(async move {
            let body = DecisionBody {
                version,
                comment: comment.get_untracked(),
            };
            if let Err(message) = api::decide(id, name, body).await {
                notice.set(Some(message));
            }
            busy.set(false);
            refresh();
        });
    };
    let name = me.name().unwrap_or_default();
    let own = request.requested_by.eq_ignore_ascii_case(&name);
    let approved_already = request
        .approved_by
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&name));
    let pending = request.state == RequestState::PendingApproval;
    let can_decide = move || me.has(Role::Approver) && pending && !own && !approved_already;
    // The requester's own before execution; an approver or admin, an approved one that has not run.
    let others_may_cancel = request.state == RequestState::Approved && !own;
    let can_cancel = move || {
        (me.has(Role::Requester) && own && request.state.is_open())
            || (others_may_cancel && (me.has(Role::Approver) || me.has(Role::Admin)))
    };
    let why_not = move || {
        if me.has(Role::Approver) && pending && own {
            Some("You requested this: somebody else must approve or reject it.")
        } else if me.has(Role::Approver) && pending && approved_already {
            Some("You have approved this; it needs an approval from somebody else.")
        } else {
            None
        }
    };
    view! {
        <header class="user-head">
            <h1 id="request-title">{format!("Request #{}: {}", request.id, request.user_display_name)}</h1>
            <p class="badges"><span id="request-state"><RequestStateBadge state=request.state /></span>
                {request.overdue.then(|| view! { <span class="badge cert">"overdue"</span> })}
                {request.user_protected.then(|| view! { <span class="badge flag">"protected: two approvals"</span> })}</p>
            <p class="waiting" id="waiting-for"><strong>"Who must act: "</strong>{request.waiting_for.clone()}</p>
        </header>
        <div class="columns">
            <section class="card">
                <h2>"What is asked"</h2>
                <dl>
                    <dt>"User"</dt><dd><a href=format!("/users/{}", request.user_id)>{request.user_display_name.clone()}</a>
                        " (" {request.user_sam_account_name.clone()} ")"</dd>
                    <dt>"SIP address"</dt><dd>{request.user_sip_address.clone().unwrap_or_else(|| "—".into())}</dd>
                    {request.external_ref.clone().map(|r| view! { <dt>"External reference"</dt><dd id="external-ref">{r}</dd> })}
                    <dt>"Reason"</dt><dd>{request.reason.label()} ": " {request.reason_text.clone()}</dd>
                    <dt>"Urgency"</dt><dd>{request.urgency.label()}</dd>
                    <dt>"Takes effect"</dt><dd><Moment at=request.effective_at /></dd>
                    <dt>"Grace period"</dt><dd>{format!("{} days before final removal", request.grace_days)}</dd>
                    {request.protected_override.clone().map(|o| view! { <dt>"Protected override"</dt><dd>{o}</dd> })}
                    <dt>"Approvals"</dt><dd>{format!("{} of {}", request.approved_by.len(), request.approvals_needed)}</dd>
                    {request.expires_at.map(|at| view! { <dt>"Expires"</dt><dd><Moment at=at /> " if nobody decides"</dd> })}
                </dl>
            </section>
            <section class="card">
                <h2>"Who did what"</h2>
                <ol class="history" id="history">
                    <li><strong>{request.requested_by.clone()}</strong> " requested it · " <Moment at=request.created_at /></li>
                    {request.decisions.iter().map(|d| view! {
                        <li><strong>{d.actor.clone()}</strong> " " {d.decision.past()} " · " <Moment at=d.at />
                            {(!d.comment.is_empty()).then(|| view! { <div class="sub">"“" {d.comment.clone()} "”"</div> })}</li>
                    }).collect_view()}
                </ol>
            </section>
        </div>
        <UserNow request=request.clone() />
        {why_not().map(|w| view! { <p class="hint">{w}</p> })}
        <Show when=move || can_decide() || can_cancel()>
            <section class="card decide">
                <h2>"Your decision"</h2>
                <label for="decision-comment">"Comment"</label>
                <textarea id="decision-comment" rows="2" prop:value=move || comment.get()
                    on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
                <div class="pager">
                    <Show when=can_decide>
                        <button id="approve" class="primary" disabled=move || busy.get() on:click=move |_| act(DecisionKind::Approve)>"Approve"</button>
                        <button id="reject" disabled=move || busy.get() on:click=move |_| act(DecisionKind::Reject)>"Reject"</button>
                    </Show>
                    <Show when=can_cancel>
                        <button id="cancel" disabled=move || busy.get() on:click=move |_| act(DecisionKind::Cancel)>"Cancel this request"</button>
                        {others_may_cancel.then(|| view! { <span class="hint">" Cancelling somebody else's approved request needs a reason in the comment."</span> })}
                    </Show>
                </div>
            </section>
        </Show>
    }
}

/// What an approver signs against: the user as the directory has them now (AD and Lync state,
/// sessions, certificates), and what changed since the request was filed. The plan that would run
/// is below, with the execution.
#[component]
fn UserNow(request: RequestView) -> impl IntoView {
    let user_id = request.user_id.to_string();
    let detail = LocalResource::new(move || api::user(user_id.clone()));
    view! {
        <section class="card" id="user-now">
            <h2>"The user now"</h2>
            <Transition fallback=|| view! { <p class="status">"Reading the directory…"</p> }>
                {move || {
                    let request = request.clone();
                    Suspend::new(async move {
                        match detail.await {
                            Ok(detail) => now_and_changes(&request, detail).into_any(),
                            Err(message) => view! { <p class="error">{message}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

fn now_and_changes(request: &RequestView, detail: UserDetail) -> impl IntoView + use<> {
    let user = &detail.user;
    let as_of = detail.as_of;
    let sessions = user
        .endpoints
        .known()
        .map(|e| e.iter().filter(|e| e.connected(as_of)).count());
    let certificates = user.lync.as_ref().map(|l| {
        l.certificates
            .known()
            .map(|c| c.iter().filter(|c| c.allows_sign_in(as_of)).count())
    });
    let sessions = match sessions {
        Some(0) => "Not signed in anywhere.".to_owned(),
        Some(1) => "1 signed-in session.".to_owned(),
        Some(n) => format!("{n} signed-in sessions."),
        None => format!("Sessions: {NOT_KNOWN_WITHOUT_SHELL}."),
    };
    let certificates = match certificates {
        None | Some(Some(0)) => "No certificate that signs in.".to_owned(),
        Some(Some(1)) => "1 certificate signs in without AD.".to_owned(),
        Some(Some(n)) => format!("{n} certificates sign in without AD."),
        Some(None) => format!("Certificates: {NOT_KNOWN_WITHOUT_SHELL}."),
    };
    let mut changes = Vec::new();
    let filed = request.created_at;
    if user.ad.display_name != request.user_display_name {
        changes.push(format!(
            "Renamed in AD: {} (was {}).",
            user.ad.display_name, request.user_display_name
        ));
    }
    let sip_now = user.lync.as_ref().map(|l| l.sip_address.to_string());
    if sip_now != request.user_sip_address {
        let renamed_here = detail
            .sip_renamed
            .as_ref()
            .is_some_and(|r| r.request == request.id);
        changes.push(format!(
            "SIP address {} (was {}){}.",
            sip_now.as_deref().unwrap_or("removed"),
            request.user_sip_address.as_deref().unwrap_or("none"),
            if renamed_here {
                ", renamed by this request"
            } else {
                ""
            }
        ));
    }
    if let Some(since) = user.ad.disabled_since.filter(|at| *at > filed) {
        changes.push(format!("AD account disabled at {}.", when(since)));
    }
    if let Some(lync) = user.lync.as_ref().filter(|l| l.enabled_changed > filed) {
        changes.push(format!(
            "Lync Enabled set to {} at {}.",
            if lync.enabled { "True" } else { "False" },
            when(lync.enabled_changed)
        ));
    }
    if user.protected() != request.user_protected {
        changes.push(if user.protected() {
            "Now a member of a protected group.".to_owned()
        } else {
            "No longer in a protected group.".to_owned()
        });
    }
    view! {
        <p class="badges"><AdBadge state=detail.ad_state /> <LyncBadge state=detail.lync_state /></p>
        <p id="user-now-access">{sessions} " " {certificates}</p>
        {detail.warnings.into_iter().map(|w| view! { <p class="warning">{w}</p> }).collect_view()}
        <h3>"Since it was filed"</h3>
        {if changes.is_empty() {
            view! { <p id="changes-since">"Nothing changed in the directory since it was filed."</p> }.into_any()
        } else {
            view! { <ul id="changes-since">{changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul> }.into_any()
        }}
        <p class="sub">{format!("As of {}.", when(as_of))}</p>
    }
}
