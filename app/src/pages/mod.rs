//! One module per route.

pub mod report;
pub mod search;
pub mod user;
