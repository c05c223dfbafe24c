//! The search page: results update as the person types (debounced), filters narrow them, the
//! arrow keys and Enter pick a user, and the whole search lives in the URL so it can be
//! bookmarked and shared.

use crate::components::{AdBadge, Flag, LyncBadge, when};
use crate::{api, url};
use deprov_wire::api::{SearchResults, UserSummary};
use deprov_wire::directory::{AdState, LyncState, NOT_KNOWN_WITHOUT_SHELL};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};
use std::time::Duration;

/// Wait this long after the last keystroke before searching: fast enough to feel live,
/// slow enough not to search for every letter of a fast typist.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// The URL parameters that make up a search, in the order they are written.
const PARAMS: [&str; 5] = ["q", "ad", "lync", "pool", "offset"];

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let param = move |key: &str| query.read().get(key).unwrap_or_default();

    // The box's own text: the URL follows it after the debounce.
    let text = RwSignal::new(query.get_untracked().get("q").unwrap_or_default());
    let typing = StoredValue::new(None::<TimeoutHandle>);
    let selected = RwSignal::new(0usize);

    // The query string the API sees is exactly the page's own: one source of truth.
    let query_string = Memo::new(move |_| url::query_string(&query.read(), &PARAMS));
    let results = LocalResource::new(move || api::search(query_string.get()));
    let pools = LocalResource::new(api::pools);

    // Writes a new search into the URL; any change but paging starts again from the first page.
    let go = move |key: &'static str, value: String| {
        // Any change but paging starts again from the first page; offset 0 is the default.
        let value = if key == "offset" && value == "0" {
            String::new()
        } else {
            value
        };
        let reset: &[&str] = if key == "offset" { &[] } else { &["offset"] };
        let search = url::with_param(&query.read_untracked(), &PARAMS, key, &value, reset);
        selected.set(0);
        navigate(&format!("/?{search}"), url::replacing());
    };

    let on_input = {
        let go = go.clone();
        move |ev| {
            text.set(event_target_value(&ev));
            if let Some(handle) = typing.get_value() {
                handle.clear();
            }
            let go = go.clone();
            let handle =
                set_timeout_with_handle(move || go("q", text.get_untracked()), DEBOUNCE).ok();
            typing.set_value(handle);
        }
    };

    let navigate_to_user = use_navigate();
    let rows = move || {
        results
            .get()
            .and_then(Result::ok)
            .map(|r| r.users)
            .unwrap_or_default()
    };
    let on_keydown = move |ev: KeyboardEvent| {
        let count = rows().len();
        match ev.key().as_str() {
            "ArrowDown" if count > 0 => {
                ev.prevent_default();
                selected.update(|s| *s = (*s + 1).min(count - 1));
            }
            "ArrowUp" => {
                ev.prevent_default();
                selected.update(|s| *s = s.saturating_sub(1));
            }
            "Enter" => {
                if let Some(user) = rows().get(selected.get_untracked()) {
                    navigate_to_user(&format!("/users/{}", user.id), NavigateOptions::default());
                }
            }
            _ => {}
        }
    };

    let filter = {
        let go = go.clone();
        move |key: &'static str| {
            let go = go.clone();
            move |ev| go(key, event_target_value(&ev))
        }
    };

    view! {
        <section class="search">
            <h1>"Find a user"</h1>
            <div class="searchbar">
                <input
                    id="search"
                    type="search"
                    autofocus
                    autocomplete="off"
                    placeholder="Name, account name, UPN, SIP address or employee ID"
                    aria-label="Search users"
                    aria-controls="results"
                    prop:value=move || text.get()
                    on:input=on_input
                    on:keydown=on_keydown
                />
                <select id="filter-ad" aria-label="AD state" on:change=filter("ad") prop:value=move || param("ad")>
                    <option value="">"Any AD state"</option>
                    {AdState::ALL.map(|s| view! { <option value=s.as_str()>{s.label()}</option> })}
                </select>
                <select id="filter-lync" aria-label="Lync state" on:change=filter("lync") prop:value=move || param("lync")>
                    <option value="">"Any Lync state"</option>
                    {LyncState::ALL.map(|s| view! { <option value=s.as_str()>{s.label()}</option> })}
                </select>
                <select id="filter-pool" aria-label="Registrar pool" on:change=filter("pool") prop:value=move || param("pool")>
                    <option value="">"Any pool"</option>
                    {move || pools.get().and_then(Result::ok).map(|p| {
                        p.pools.into_iter().map(|pool| view! { <option value=pool.clone()>{pool.clone()}</option> }).collect_view()
                    })}
                </select>
            </div>
            <p class="hint">"↑ ↓ to move, Enter to open. The search is in the address bar: bookmark or share it."</p>
            <Transition fallback=|| view! { <p class="status">"Searching…"</p> }>
                {move || {
                    let go = go.clone();
                    Suspend::new(async move {
                    match results.await {
                        Ok(found) => view! { <Results found selected go /> }.into_any(),
                        Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                    }
                })}}
            </Transition>
        </section>
    }
}

#[component]
fn Results(
    found: SearchResults,
    selected: RwSignal<usize>,
    go: impl Fn(&'static str, String) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let SearchResults {
        total,
        offset,
        limit,
        users,
    } = found;
    if users.is_empty() {
        return view! { <p class="status" id="results-status">"No user matches."</p> }.into_any();
    }
    let first = offset + 1;
    let last = offset + users.len();
    let previous_page = {
        let go = go.clone();
        move |_: leptos::ev::MouseEvent| go("offset", offset.saturating_sub(limit).to_string())
    };
    let next_page = move |_: leptos::ev::MouseEvent| go("offset", (offset + limit).to_string());
    view! {
        <p class="status" id="results-status">{format!("{first}–{last} of {total} users")}</p>
        <table class="results" id="results">
            <thead>
                <tr><th>"Name"</th><th>"Account"</th><th>"SIP address"</th><th>"Department"</th><th>"State"</th></tr>
            </thead>
            <tbody>
                {users.into_iter().enumerate().map(|(i, user)| view! { <ResultRow user index=i selected /> }).collect_view()}
            </tbody>
        </table>
        <div class="pager">
            <button id="previous-page" disabled={offset == 0} on:click=previous_page>"← Previous"</button>
            <button id="next-page" disabled={last >= total} on:click=next_page>"Next →"</button>
        </div>
    }
    .into_any()
}

#[component]
fn ResultRow(user: UserSummary, index: usize, selected: RwSignal<usize>) -> impl IntoView {
    let href = format!("/users/{}", user.id);
    // A certificate only matters once AD no longer authenticates the user.
    let ad_disabled = user.ad_state == AdState::Disabled;
    let certificate = user.certificate_sign_in_until.filter(|_| ad_disabled).map(|until| {
        view! { <span class="badge cert" title="A saved-password certificate allows sign-in with no AD check">{format!("cert until {}", when(until))}</span> }
    });
    // Without the Lync shell nobody knows: say so where it matters (AD disabled, Lync enabled).
    let certificate_unknown = (ad_disabled && !user.certificates_known && user.lync_state == LyncState::Enabled).then(|| {
        view! { <span class="badge muted" title=format!("Client certificates are {NOT_KNOWN_WITHOUT_SHELL}")>"cert ?"</span> }
    });
    let sessions = user
        .endpoint_count
        .into_known()
        .filter(|n| *n > 0)
        .map(|n| {
            view! { <span class="badge online">{format!("{n} signed in")}</span> }
        });
    view! {
        <tr class:selected=move || selected.get() == index aria-selected=move || (selected.get() == index).to_string()>
            <td><a href=href class="user-link">{user.display_name}</a><div class="sub">{user.title}</div></td>
            <td>{user.sam_account_name}<div class="sub">{user.user_principal_name}</div></td>
            <td>{user.sip_address.map(|s| s.to_string()).unwrap_or_else(|| "—".to_owned())}
                <div class="sub">{user.registrar_pool.unwrap_or_default()}</div></td>
            <td>{user.department}</td>
            <td><div class="badges">
                <AdBadge state=user.ad_state />
                <LyncBadge state=user.lync_state />
                {sessions}
                {certificate}
                {certificate_unknown}
                {user.protected.then(|| view! { <Flag text="protected" title="Member of a protected group (AdminSDHolder)" /> })}
                {user.homed_online.then(|| view! { <Flag text="online" title="Homed online: a hybrid user" /> })}
                {user.sip_disjoint_from_upn.then(|| view! { <Flag text="SIP ≠ UPN" title="The SIP address does not match the UPN: renamed?" /> })}
            </div></td>
        </tr>
    }
}
