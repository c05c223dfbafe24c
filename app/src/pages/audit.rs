//! The audit log, for auditors: every sign-in, request, decision and change, filterable by who,
//! what, text and days, a page at a time, as a table and as CSV. The filters and the page live
//! in the URL; a subject that names a request or a user links to it.

use crate::components::{Moment, request_mentions};
use crate::{api, url};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

/// The text filters, with their labels.
const FILTERS: [(&str, &str); 3] = [
    ("actor", "Who"),
    ("action", "Action (e.g. request.)"),
    ("q", "Subject or details"),
];
/// Every key the page keeps in the URL.
const KEYS: [&str; 6] = ["actor", "action", "q", "from", "until", "offset"];
/// Rows per page.
const PAGE: usize = 200;

/// A subject as links: "request #12" to the request, a user's objectGUID to the user.
fn subject(text: String) -> impl IntoView {
    let is_guid = text.len() == 36 && text.bytes().filter(|b| *b == b'-').count() == 4;
    if is_guid {
        return view! { <a href=format!("/users/{text}")>{text.clone()}</a> }.into_any();
    }
    request_mentions(&text)
        .into_iter()
        .map(|(piece, request)| match request {
            Some(n) => view! { <a href=format!("/requests/{n}")>{piece}</a> }.into_any(),
            None => piece.into_any(),
        })
        .collect_view()
        .into_any()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let query_string = Memo::new(move |_| url::query_string(&query.read(), &KEYS));
    let filters = Memo::new(move |_| url::query_string(&query.read(), &KEYS[..5]));
    let offset = move || url::offset(&query.read());
    let page =
        LocalResource::new(move || api::audit(format!("{}&limit={PAGE}", query_string.get())));
    let navigate = use_navigate();
    let to_page = navigate.clone();
    // A new filter starts again from the newest row.
    let set = move |key: &'static str, value: String| {
        let search = url::with_param(&query.read_untracked(), &KEYS, key, &value, &["offset"]);
        navigate(&format!("/audit?{search}"), url::replacing());
    };
    let go = move |to: usize| {
        let to_page = to_page.clone();
        move |_| {
            let search = url::with_param(
                &query.read_untracked(),
                &KEYS,
                "offset",
                &to.to_string(),
                &[],
            );
            to_page(&format!("/audit?{search}"), url::replacing());
        }
    };
    view! {
        <section class="audit">
            <h1>"Audit log"</h1>
            <p class="sub">"Append-only, chained by a keyed hash: " <code>"deprov audit verify"</code> " detects edited rows and requests changed behind deprov's back; rows cut from the end show against a head written down earlier."</p>
            <div class="searchbar">
                {FILTERS.map(|(key, label)| {
                    let set = set.clone();
                    view! {
                        <input type="search" placeholder=label aria-label=label id=format!("audit-{key}")
                            prop:value=move || query.read().get(key).unwrap_or_default()
                            on:change=move |ev| set(key, event_target_value(&ev)) />
                    }
                })}
                {[("from", "From (UTC day)"), ("until", "Until (UTC day, included)")].map(|(key, label)| {
                    let set = set.clone();
                    view! {
                        <label class="date">{label} " "
                            <input type="date" id=format!("audit-{key}")
                                prop:value=move || query.read().get(key).unwrap_or_default()
                                on:change=move |ev| set(key, event_target_value(&ev)) /></label>
                    }
                })}
                <a class="button" id="audit-csv" href=move || format!("/api/audit.csv?{}", filters.get()) download>"Download CSV"</a>
            </div>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || {
                    let go = go.clone();
                    let from = offset();
                    Suspend::new(async move {
                    match page.await {
                        Ok(page) => {
                            let shown = page.entries.len();
                            let status = if shown == 0 {
                                format!("No entries of {}", page.total)
                            } else {
                                format!("Entries {} to {} of {}, newest first", from + 1, from + shown, page.total)
                            };
                            view! {
                            <p class="status" id="audit-status">{status}</p>
                            <table id="audit-table">
                                <thead><tr><th>"#"</th><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Subject"</th><th>"Details"</th></tr></thead>
                                <tbody>{page.entries.into_iter().map(|e| view! {
                                    <tr><td>{e.seq}</td><td class="when"><Moment at=e.at /></td><td>{e.actor}</td>
                                        <td><code>{e.action}</code></td><td class="subject">{subject(e.subject)}</td><td class="sub">{e.details}</td></tr>
                                }).collect_view()}</tbody>
                            </table>
                            <p class="pager">
                                {(from > 0).then(|| view! {
                                    <button id="audit-newer" on:click=go(from.saturating_sub(PAGE))>"Newer"</button>
                                })}
                                {(from + shown < page.total).then(|| view! {
                                    <button id="audit-older" on:click=go(from + PAGE)>"Older"</button>
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
