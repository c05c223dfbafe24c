//! Sign-in: a name and a password, then back to where the person was going.

use crate::api;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        // Only a local path: never send the person to another site after signing in.
        let next = query.get_untracked().get("next").filter(|n| n.starts_with('/') && !n.starts_with("//")).unwrap_or_else(|| "/".into());
        spawn_local(async move {
            match api::sign_in(name.get_untracked(), password.get_untracked()).await {
                Ok(_) => {
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
                <input id="login-name" autocomplete="username" autofocus required
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
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
