//! Sign-in: a name and a password, then back to where the person was going (an approver with
//! requests waiting on them, going nowhere in particular, to the queue).

use crate::api;
use deprov_wire::people::{Me, Role};
use deprov_wire::workflow::RequestState;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;

/// Where to go after signing in: `next` only if it stays on this site (a link that says
/// `/login?next=/\\evil.example` must not send a freshly signed-in person elsewhere).
fn same_site(next: Option<&str>) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    next.and_then(|next| web_sys::Url::new_with_base(next, &origin).ok())
        .filter(|url| url.origin() == origin)
        .map(|url| format!("{}{}", url.pathname(), url.search()))
        .unwrap_or_else(|| "/".to_owned())
}

/// Whether any open request waits for `me`'s approval (not their own, not approved by them yet).
async fn waits_on(me: &Me) -> bool {
    if !me.roles.contains(&Role::Approver) {
        return false;
    }
    api::requests("open", 0, None).await.is_ok_and(|list| {
        list.requests.iter().any(|r| {
            r.state == RequestState::PendingApproval
                && !r.requested_by.eq_ignore_ascii_case(&me.name)
                && !r
                    .approved_by
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&me.name))
        })
    })
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Whether AD accounts may sign in, for the hint under the name.
    let ad =
        LocalResource::new(|| async { api::health().await.map(|h| h.ad_sign_in).unwrap_or(false) });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let asked_for = query.get_untracked().get("next");
        let next = same_site(asked_for.as_deref());
        spawn_local(async move {
            match api::sign_in(name.get_untracked(), password.get_untracked()).await {
                Ok(me) => {
                    // Going nowhere in particular, an approver with requests waiting on them
                    // starts at the queue.
                    let next = if asked_for.is_none() && waits_on(&me).await {
                        "/requests".to_owned()
                    } else {
                        next
                    };
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().assign(&next);
                    }
                }
                Err(message) => {
                    error.set(Some(message));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <section class="login card">
            <h1>"Sign in to deprov"</h1>
            <form on:submit=submit>
                <label for="login-name">"Name"</label>
                <input id="login-name" autocomplete="username" autofocus required aria-describedby="login-name-hint"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <p class="hint" id="login-name-hint">{move || if ad.get().unwrap_or(false) {
                    "Your AD account (user@domain or DOMAIN\\user), or a local deprov account."
                } else {
                    "Your deprov account name."
                }}</p>
                <label for="login-password">"Password"</label>
                <input id="login-password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                {move || error.get().map(|e| view! { <p class="error" role="alert" id="login-error">{e}</p> })}
                <button id="login-submit" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <p class="hint">"Accounts are managed with " <code>"deprov user"</code> ". The demo prints its accounts when it starts."</p>
        </section>
    }
}
