//! The requests page: what waits for the signed-in person first (the approver's queue, the
//! admins' stage 2 queue), then every request with who must act, who has acted, and when.

use crate::components::{Moment, RequestStateBadge};
use crate::pages::bulk::{CsvUpload, HeldBatches};
use crate::{api, session, url};
use deprov_wire::execution::ExecutionSettings;
use deprov_wire::people::Role;
use deprov_wire::workflow::{RequestState, RequestView};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let show = move || match query.read().get("show").as_deref() {
        Some("all") => "all",
        Some("due") => "due",
        _ => "open",
    };
    let offset = move || url::offset(&query.read());
    // An HR case number: the request filed under it, whatever its state.
    let reference = move || query.read().get("ref").filter(|r| !r.trim().is_empty());
    // Bumped when a batch is filed or decided: the held batches and the list are read again.
    let batches = RwSignal::new(0u32);
    let requests = LocalResource::new(move || {
        batches.track();
        match reference() {
            Some(r) => api::requests("all", 0, Some(r)),
            None => api::requests(show(), offset(), None),
        }
    });
    let navigate = leptos_router::hooks::use_navigate();
    let find_reference = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let to = match value.trim() {
            "" => "/requests".to_owned(),
            r => format!("/requests?ref={}", api::encode(r)),
        };
        navigate(&to, url::replacing());
    };
    let me = session();
    view! {
        <section class="requests">
            <div class="report-head">
                <h1>"De-provisioning requests"</h1>
                <Show when=move || me.has(Role::Requester)>
                    <A href="/" attr:class="button">"New request: find the user first"</A>
                </Show>
            </div>
            <nav class="tabs" aria-label="Which requests">
                <A href="/requests" attr:class=move || if show() == "open" { "current" } else { "" }>"Open"</A>
                <A href="/requests?show=due" attr:id="due-tab" attr:class=move || if show() == "due" { "current" } else { "" }>"Due for stage 2"</A>
                <A href="/requests?show=all" attr:class=move || if show() == "all" { "current" } else { "" }>"All, closed included"</A>
            </nav>
            <div class="searchbar">
                <input type="search" id="ref-search" aria-label="HR case reference"
                    placeholder="HR case reference (external_ref)"
                    prop:value=move || reference().unwrap_or_default() on:change=find_reference />
            </div>
            <p class="sub">{move || match (reference(), show()) {
                (Some(r), _) => format!("The request filed under the reference {r}, whatever its state."),
                (None, "all") => "Every request, newest first.".to_owned(),
                (None, "due") => "Stage 1 done and the grace period over: these wait for an admin to run stage 2 (back up, then Disable-CsUser).".to_owned(),
                (None, _) => "Open requests: waiting for approval, approved, executing, stage 1 done, or failed.".to_owned(),
            }}</p>
            <Show when=move || me.has(Role::Admin)><AutoStageTwo /></Show>
            <HeldBatches refresh=batches />
            <Show when=move || me.has(Role::Requester)>
                <details class="csv" id="csv">
                    <summary>"File many requests from a CSV file"</summary>
                    <CsvUpload changed=Callback::new(move |()| batches.update(|n| *n += 1)) />
                </details>
            </Show>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match requests.await {
                        Ok(list) => {
                            let mine = move |r: &RequestView| {
                                let name = me.name().unwrap_or_default();
                                me.has(Role::Approver) && r.state == RequestState::PendingApproval
                                    && !r.requested_by.eq_ignore_ascii_case(&name)
                                    && !r.approved_by.iter().any(|a| a.eq_ignore_ascii_case(&name))
                            };
                            let queue: Vec<_> = list.requests.iter().filter(|r| mine(r)).cloned().collect();
                            view! {
                                <Show when=move || me.has(Role::Approver)>
                                    <h2>"Waiting for your approval"</h2>
                                    <RequestTable requests=queue.clone() empty="Nothing waits for you." id="queue" />
                                </Show>
                                <h2>{move || if show() == "due" { "Due for stage 2" } else { "All listed requests" }}</h2>
                                <RequestTable requests=list.requests.clone() empty="No requests." id="all-requests" />
                                <Pager show=show() offset=list.offset limit=list.limit total=list.total />
                            }.into_any()
                        }
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// "51-100 of 240", with links to the pages before and after.
#[component]
fn Pager(show: &'static str, offset: usize, limit: usize, total: usize) -> impl IntoView {
    if total <= limit && offset == 0 {
        return view! { <p class="sub">{format!("{total} in all")}</p> }.into_any();
    }
    let page = |at: usize| format!("/requests?show={show}&offset={at}");
    let last = (offset + limit).min(total);
    view! {
        <p class="pager" id="requests-pager">
            {(offset > 0).then(|| view! { <A href=page(offset.saturating_sub(limit))>"← Previous"</A> })}
            <span class="sub">{format!(" {}–{last} of {total} ", offset + 1)}</span>
            {(last < total).then(|| view! { <A href=page(last)>"Next →"</A> })}
        </p>
    }
    .into_any()
}

#[component]
fn RequestTable(
    requests: Vec<RequestView>,
    empty: &'static str,
    id: &'static str,
) -> impl IntoView {
    if requests.is_empty() {
        return view! { <p class="status">{empty}</p> }.into_any();
    }
    view! {
        <table class="requests-table" id=id>
            <thead><tr><th>"#"</th><th>"User"</th><th>"Reason"</th><th>"Requested"</th><th>"State"</th><th>"Who must act"</th></tr></thead>
            <tbody>
                {requests.into_iter().map(|r| view! {
                    <tr data-request=r.id>
                        <td><a href=format!("/requests/{}", r.id)>{format!("#{}", r.id)}</a></td>
                        <td>{r.user_display_name.clone()}<div class="sub">{r.user_sam_account_name.clone()}</div>
                            {r.user_protected.then(|| view! { <span class="badge flag">"protected"</span> })}</td>
                        <td>{r.reason.label()}<div class="sub">{r.urgency.label()}</div></td>
                        <td>{r.requested_by.clone()}<div class="sub"><Moment at=r.created_at /></div></td>
                        <td><RequestStateBadge state=r.state />
                            {r.overdue.then(|| view! { <span class="badge cert" title="Pending longer than the portal's limit">"overdue"</span> })}</td>
                        <td class="waiting">{r.waiting_for.clone()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The admins' switch for automatic stage 2 (off unless turned on; every change is audited).
#[component]
fn AutoStageTwo() -> impl IntoView {
    let settings = LocalResource::new(api::execution_settings);
    let error = RwSignal::new(None::<String>);
    // Turning it on lets deprov destroy data (Disable-CsUser) unattended: asked first.
    let confirming = RwSignal::new(false);
    let toggle = move |on: bool| {
        confirming.set(false);
        leptos::task::spawn_local(async move {
            match api::set_execution_settings(ExecutionSettings { auto_stage_two: on }).await {
                Ok(_) => settings.refetch(),
                Err(message) => error.set(Some(message)),
            }
        });
    };
    view! {
        <p class="hint" id="auto-stage-two">
            {move || match settings.get().map(|s| s.map(|s| s.auto_stage_two)) {
                Some(Ok(true)) => view! { "Automatic stage 2 is on: deprov runs stage 2 when a grace period ends. "
                    <button on:click=move |_| toggle(false)>"Turn off"</button> }.into_any(),
                Some(Ok(false)) if confirming.get() => view! {
                    <span class="confirm" role="dialog" aria-label="Turn automatic stage 2 on"
                        on:keydown=move |ev| if ev.key() == "Escape" { confirming.set(false) }>
                        "Turn on automatic stage 2? From now on, when a grace period ends, deprov backs the user up and \
                         runs Disable-CsUser by itself, with nobody pressing a button: contacts, conferences and \
                         policies are removed (a restore from the backup brings most of them back). "
                        <button id="auto-stage-two-confirm" class="primary" on:click=move |_| toggle(true)>"Turn on"</button> " "
                        <button on:click=move |_| confirming.set(false)>"Not now"</button>
                    </span> }.into_any(),
                Some(Ok(false)) => view! { "Automatic stage 2 is off: nothing runs by itself. "
                    <button id="auto-stage-two-on" on:click=move |_| confirming.set(true)>"Turn on…"</button> }.into_any(),
                _ => view! { "" }.into_any(),
            }}
            {move || error.get().map(|e| view! { <span class="error">{e}</span> })}
        </p>
    }
}
