//! One module per route.

pub mod audit;
pub mod bulk;
pub mod deliveries;
pub mod execution;
pub mod login;
pub mod report;
pub mod request;
pub mod request_form;
pub mod requests;
pub mod search;
pub mod user;
