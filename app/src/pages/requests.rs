//! The requests page: what waits for the signed-in person first (the approver's queue), then
//! every request with who must act, who has acted, and when.

use crate::components::{RequestStateBadge, when};
use crate::{api, session};
use deprov_wire::people::Role;
use deprov_wire::workflow::{RequestState, RequestView};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
pub fn RequestsPage() -> impl IntoView {
    let query = use_query_map();
    let show_all = move || query.read().get("show").as_deref() == Some("all");
    let requests = LocalResource::new(move || api::requests(!show_all()));
    let me = session();
    view! {
        <section class="requests">
            <div class="report-head">
                <h1>"De-provisioning requests"</h1>
                <Show when=move || me.has(Role::Requester)>
                    <A href="/" attr:class="button">"New request: find the user first"</A>
                </Show>
            </div>
            <p class="sub">
                {move || if show_all() { "Every request, newest first. " } else { "Open requests (waiting for approval, or approved and waiting for an admin). " }}
                <A href=move || if show_all() { "/requests".to_owned() } else { "/requests?show=all".to_owned() }>
                    {move || if show_all() { "Show open only" } else { "Show all, closed included" }}
                </A>
            </p>
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
                                <h2>"All listed requests"</h2>
                                <RequestTable requests=list.requests empty="No requests." id="all-requests" />
                            }.into_any()
                        }
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
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
                        <td>{r.requested_by.clone()}<div class="sub">{when(r.created_at)}</div></td>
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
