//! The audit log, for auditors: every sign-in, request, decision and change, filterable, as a
//! table and as CSV. The filters live in the URL.

use crate::components::when;
use crate::{api, url};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

const FILTERS: [(&str, &str); 3] = [
    ("actor", "Who"),
    ("action", "Action (e.g. request.)"),
    ("q", "Subject or details"),
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let keys = FILTERS.map(|(key, _)| key);
    let query_string = Memo::new(move |_| url::query_string(&query.read(), &keys));
    let page = LocalResource::new(move || api::audit(format!("{}&limit=200", query_string.get())));
    let navigate = use_navigate();
    let set = move |key: &'static str, value: String| {
        let search = url::with_param(&query.read_untracked(), &keys, key, &value, &[]);
        navigate(&format!("/audit?{search}"), url::replacing());
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
                <a class="button" id="audit-csv" href=move || format!("/api/audit.csv?{}", query_string.get()) download>"Download CSV"</a>
            </div>
            <Transition fallback=|| view! { <p class="status">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => view! {
                            <p class="status" id="audit-status">{format!("{} of {} entries, newest first", page.entries.len(), page.total)}</p>
                            <table id="audit-table">
                                <thead><tr><th>"#"</th><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Subject"</th><th>"Details"</th></tr></thead>
                                <tbody>{page.entries.into_iter().map(|e| view! {
                                    <tr><td>{e.seq}</td><td class="when">{when(e.at)}</td><td>{e.actor}</td>
                                        <td><code>{e.action}</code></td><td>{e.subject}</td><td class="sub">{e.details}</td></tr>
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
