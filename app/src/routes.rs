//! Every page but the sign-in page, each loaded when first visited: `#[lazy_route]` puts a
//! page's own code in a wasm chunk of its own (scripts/split.mjs makes the chunks), so the first
//! load carries only the sign-in page and what every page shares. (Written out, not made by a
//! macro: `#[lazy]` names each chunk after the line it is written on.)

use crate::pages;
use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

/// The search page.
#[derive(Debug)]
pub struct SearchRoute;

#[lazy_route]
impl LazyRoute for SearchRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::search::SearchPage /> }.into_any()
    }
}

/// A user's page.
#[derive(Debug)]
pub struct UserRoute;

#[lazy_route]
impl LazyRoute for UserRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::user::UserPage /> }.into_any()
    }
}

/// The mismatch report.
#[derive(Debug)]
pub struct ReportRoute;

#[lazy_route]
impl LazyRoute for ReportRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::report::ReportPage /> }.into_any()
    }
}

/// The requests list.
#[derive(Debug)]
pub struct RequestsRoute;

#[lazy_route]
impl LazyRoute for RequestsRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::requests::RequestsPage /> }.into_any()
    }
}

/// The new request form (and bulk filing).
#[derive(Debug)]
pub struct NewRequestRoute;

#[lazy_route]
impl LazyRoute for NewRequestRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::request_form::NewRequestPage /> }.into_any()
    }
}

/// A request's page (and its execution).
#[derive(Debug)]
pub struct RequestRoute;

#[lazy_route]
impl LazyRoute for RequestRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::request::RequestPage /> }.into_any()
    }
}

/// The audit log.
#[derive(Debug)]
pub struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::audit::AuditPage /> }.into_any()
    }
}

/// The notification log.
#[derive(Debug)]
pub struct DeliveriesRoute;

#[lazy_route]
impl LazyRoute for DeliveriesRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <pages::deliveries::DeliveriesPage /> }.into_any()
    }
}
