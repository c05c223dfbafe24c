//! deprov's front end: a Leptos client-side-rendered app, compiled to WebAssembly by Trunk,
//! that talks JSON to the deprov server.
//!
//! - [`api`]: the one HTTP client; every call decodes the server's `ApiError`.
//! - [`pages`]: one module per route (search, user, mismatch report).
//! - [`components`]: badges and formatting shared by the pages.

mod api;
mod components;
mod pages;

use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Every route, in one place.
#[component]
fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"deprov"</A>
                <nav>
                    <A href="/">"Search users"</A>
                    <A href="/report">"Mismatch report"</A>
                </nav>
                <span class="tagline">"Cut leavers off Lync, safely"</span>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="error">"This page does not exist. " <A href="/">"Search users"</A></p> }>
                    <Route path=path!("/") view=pages::search::SearchPage />
                    <Route path=path!("/users") view=pages::search::SearchPage />
                    <Route path=path!("/users/:id") view=pages::user::UserPage />
                    <Route path=path!("/report") view=pages::report::ReportPage />
                </Routes>
            </main>
        </Router>
    }
}
