//! The notification delivery log, for admins and auditors: every event's mail or webhook to
//! every recipient, what the last attempt got, when the next one is due, and what was given up.

use crate::components::Moment;
use crate::{api, url};
use deprov_wire::notify::{Channel, Delivery, DeliveryState};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// Every key the page keeps in the URL.
const KEYS: [&str; 2] = ["state", "offset"];
/// Rows per page.
const PAGE: usize = 100;

/// An event kind as people say it: "request_filed" → "request filed".
fn event_label(kind: &str) -> String {
    kind.replace('_', " ")
}

fn row(d: Delivery) -> impl IntoView {
    let channel = match d.channel {
        Channel::Mail => "Mail",
        Channel::Webhook => "Webhook",
    };
    let class = format!("delivery-{}", d.state.as_str());
    let when = match d.state {
        DeliveryState::Pending => d
            .next_attempt_at
            .map(|at| view! { "next try " <Moment at=at /> }.into_any()),
        DeliveryState::Delivered => d
            .delivered_at
            .map(|at| view! { <Moment at=at /> }.into_any()),
        DeliveryState::GaveUp => d
            .last_attempt_at
            .map(|at| view! { "last try " <Moment at=at /> }.into_any()),
    };
    view! {
        <tr class=class>
            <td class="when"><Moment at=d.raised_at /></td>
            <td>{event_label(&d.event)}
                {d.request.map(|n| view! { " " <a href=format!("/requests/{n}")>{format!("#{n}")}</a> })}</td>
            <td>{channel} ": " <span class="recipient">{d.recipient}</span></td>
            <td><strong>{d.state.label()}</strong></td>
            <td class="num">{d.attempts}</td>
            <td class="sub">{d.last_status.unwrap_or_default()}</td>
            <td class="when">{when}</td>
        </tr>
    }
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let query = use_query_map();
    let query_string = Memo::new(move |_| url::query_string(&query.read(), &KEYS));
    let offset = move || url::offset(&query.read());
    let refresh = RwSignal::new(0u32);
    let page = LocalResource::new(move || {
        refresh.track();
        api::deliveries(format!("{}&limit={PAGE}", query_string.get()))
    });
    let navigate = use_navigate();
    let to = move |key: &'static str, value: String, reset: &'static [&'static str]| {
        let search = url::with_param(&query.read_untracked(), &KEYS, key, &value, reset);
        navigate(&format!("/deliveries?{search}"), url::replacing());
    };
    let set_state = to.clone();
    view! {
        <section class="deliveries">
            <h1>"Notifications"</h1>
            <p class="sub">"Every event by mail and webhook, one row per recipient. A failed delivery is tried again, waiting longer each time; deprov gives up a day after the event and says why."</p>
            <div class="searchbar">
                <label>"Show "
                    <select id="deliveries-state" on:change=move |ev| set_state("state", event_target_value(&ev), &["offset"])
                        prop:value=move || query.read().get("state").unwrap_or_default()>
                        <option value="">"All"</option>
                        {[DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::GaveUp].map(|s| view! {
                            <option value=s.as_str()>{s.label()}</option>
                        })}
                    </select>
                </label>
                <button id="deliveries-refresh" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
            </div>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || {
                    let to = to.clone();
                    let from = offset();
                    Suspend::new(async move {
                    match page.await {
                        Ok(page) => {
                            let shown = page.deliveries.len();
                            let status = if shown == 0 {
                                format!("No deliveries of {}", page.total)
                            } else {
                                format!("{} to {} of {}, newest first; {} waiting", from + 1, from + shown, page.total, page.pending)
                            };
                            let older = to.clone();
                            view! {
                            <p class="status" id="deliveries-status">{status}</p>
                            <table id="deliveries-table">
                                <thead><tr><th>"Raised"</th><th>"Event"</th><th>"To"</th><th>"State"</th><th>"Tries"</th><th>"Last answer"</th><th>"When"</th></tr></thead>
                                <tbody>{page.deliveries.into_iter().map(row).collect_view()}</tbody>
                            </table>
                            <p class="pager">
                                {(from > 0).then(|| view! {
                                    <button on:click=move |_| to("offset", from.saturating_sub(PAGE).to_string(), &[])>"Newer"</button>
                                })}
                                {(from + shown < page.total).then(|| view! {
                                    <button on:click=move |_| older("offset", (from + PAGE).to_string(), &[])>"Older"</button>
                                })}
                            </p>
                        }.into_any()},
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}}
            </Transition>
        </section>
    }
}
