//! One module per route.

pub mod search;
pub mod user;
