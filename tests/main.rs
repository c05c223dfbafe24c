//! All integration tests in one binary (one link of the server, not one per file).

mod api;
mod audit;
mod browser;
mod bulk;
mod crash;
mod execution;
mod hardening;
mod instances;
mod ldap;
mod notify;
mod people;
mod report;
mod shell;
mod workflow;
