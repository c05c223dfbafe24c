//! People: local accounts with roles, their sessions, and the brake on password guessing.
//!
//! Local accounts are one sign-in method behind [`Authenticator`]; an LDAP bind against AD (with
//! AD groups mapped to roles) and a trusted reverse-proxy header are meant to slot in beside it.

pub mod accounts;
pub mod sessions;
pub mod throttle;

use async_trait::async_trait;
use deprov_wire::people::Role;

/// Who a sign-in method says someone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: i64,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong name or password; deliberately not saying which.
    #[error("wrong name or password")]
    Rejected,
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A way of checking who someone is.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, name: &str, password: &str) -> Result<Identity, SignInError>;
}
