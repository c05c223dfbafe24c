//! deprov's front end: a Leptos client-side-rendered app, compiled to WebAssembly by Trunk,
//! that talks JSON (and server-sent events) to the deprov server.
//!
//! - [`api`]: the one HTTP client; every call decodes the server's `ApiError`.
//! - [`pages`]: one module per route (sign-in, search, user, report, requests, audit,
//!   notifications).
//! - [`components`]: badges and formatting shared by the pages.

mod api;
mod components;
mod pages;
mod routes;
mod url;

use deprov_wire::people::{Me, Role};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, path};

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(App);
}

/// Who is signed in, for every page (`None` until known, or when nobody is).
#[derive(Clone, Copy)]
pub struct Session(pub RwSignal<Option<Me>>);

impl Session {
    pub fn has(&self, role: Role) -> bool {
        self.0.with(|me| me.as_ref().is_some_and(|me| me.has(role)))
    }

    pub fn name(&self) -> Option<String> {
        self.0.with(|me| me.as_ref().map(|me| me.name.clone()))
    }

    /// The simulator's demo controls are there for this person.
    pub fn simulator_controls(&self) -> bool {
        self.0
            .with(|me| me.as_ref().is_some_and(|me| me.simulator_controls))
    }
}

pub fn session() -> Session {
    use_context::<Session>().expect("App provides the session")
}

/// Every route, in one place.
#[component]
fn App() -> impl IntoView {
    let me = Session(RwSignal::new(None));
    provide_context(me);
    spawn_local(async move {
        match api::session().await {
            Ok(Some(who)) => me.0.set(Some(who)),
            Ok(None) => api::to_sign_in(),
            Err(_) => {}
        }
    });
    let sign_out = move |_| {
        spawn_local(async move {
            api::sign_out().await;
            if let Some(window) = web_sys::window() {
                let _ = window.location().assign("/login");
            }
        })
    };
    view! {
        <Router>
            // Keyboard users jump past the navigation to the page itself.
            <a class="skip-link" href="#content">"Skip to content"</a>
            <header class="topbar">
                <A href="/" attr:class="brand">"deprov"</A>
                <Show when=move || me.0.with(Option::is_some)>
                    <nav>
                        <A href="/">"Search users"</A>
                        <A href="/report">"Mismatch report"</A>
                        <A href="/requests">"Requests"</A>
                        <Show when=move || me.has(Role::Auditor) || me.has(Role::Admin)>
                            <A href="/audit">"Audit log"</A>
                            <A href="/deliveries">"Notifications"</A>
                        </Show>
                    </nav>
                    <span class="whoami" id="whoami">
                        {move || me.0.with(|m| m.as_ref().map(|m| {
                            let roles: Vec<_> = m.roles.iter().map(|r| r.as_str()).collect();
                            format!("{} ({})", m.name, roles.join(", "))
                        }))}
                    </span>
                    <button class="link light" id="sign-out" on:click=sign_out>"Sign out"</button>
                </Show>
            </header>
            <Show when=move || me.0.with(Option::is_some)>
                <components::StatusBanner />
            </Show>
            <main id="content" tabindex="-1">
                <Routes fallback=|| view! { <p class="error">"This page does not exist. " <A href="/">"Search users"</A></p> }>
                    <Route path=path!("/login") view=pages::login::LoginPage />
                    <Route path=path!("/") view={Lazy::<routes::SearchRoute>::new()} />
                    <Route path=path!("/users") view={Lazy::<routes::SearchRoute>::new()} />
                    <Route path=path!("/users/:id") view={Lazy::<routes::UserRoute>::new()} />
                    <Route path=path!("/report") view={Lazy::<routes::ReportRoute>::new()} />
                    <Route path=path!("/requests") view={Lazy::<routes::RequestsRoute>::new()} />
                    <Route path=path!("/requests/new") view={Lazy::<routes::NewRequestRoute>::new()} />
                    <Route path=path!("/requests/:id") view={Lazy::<routes::RequestRoute>::new()} />
                    <Route path=path!("/audit") view={Lazy::<routes::AuditRoute>::new()} />
                    <Route path=path!("/deliveries") view={Lazy::<routes::DeliveriesRoute>::new()} />
                </Routes>
            </main>
        </Router>
    }
}
