//! People: who signs in (a local account or an AD account), with which roles, their sessions,
//! and the brake on password guessing.
//!
//! [`SignInMethods`] tries the methods in order: a local account of that name (the break-glass
//! way in, which always works beside AD), else AD by an LDAP bind ([`ad`]) when it is on.

pub mod accounts;
pub mod ad;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use async_trait::async_trait;
use deprov_wire::people::Role;

/// Where a signed-in person's identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalSource {
    /// A local account (`deprov user add`).
    Local { account_id: i64 },
    /// An AD account, checked by an LDAP bind; roles from the mapped groups.
    ActiveDirectory,
}

impl PrincipalSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local { .. } => "local",
            Self::ActiveDirectory => "ad",
        }
    }
}

/// Who a sign-in method says someone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub source: PrincipalSource,
    /// The name shown and audited: the local account name, or the AD user's UPN.
    pub name: String,
    pub roles: Vec<Role>,
    /// Where mail reaches them: AD's `mail`. (A local account's address stays in its row.)
    pub mail: Option<String>,
}

/// Why a sign-in was turned away. The message is what the person reads and what the audit log
/// records: it never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong name or password; deliberately not saying which.
    #[error("wrong name or password")]
    Rejected,
    #[error("this account is disabled")]
    Disabled,
    #[error("this AD account is locked out after too many wrong passwords")]
    Locked,
    /// The AD password or account expired, or must be changed first.
    #[error("AD will not sign this account in: {0}")]
    Expired(String),
    /// AD accepted the password, but the person is in none of the groups mapped to roles.
    #[error("this AD account is in none of the groups deprov maps to roles")]
    NoRole,
    /// Refused before any bind: AD treats an empty password as an anonymous bind.
    #[error("no password was given")]
    EmptyPassword,
    /// The directory could not be asked.
    #[error("the directory cannot be reached to check the password: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A way of checking who someone is.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, name: &str, password: &str) -> Result<Principal, SignInError>;
}

/// Local accounts, and AD when `--ldap-sign-in on`.
pub struct SignInMethods {
    pub local: accounts::LocalAccounts,
    pub ad: Option<ad::AdSignIn>,
}

#[async_trait]
impl Authenticator for SignInMethods {
    async fn authenticate(&self, name: &str, password: &str) -> Result<Principal, SignInError> {
        if let Some(ad) = &self.ad
            && ad::is_ad_name(name)
            && !accounts::exists(&self.local.store, name)
                .await
                .map_err(|e| SignInError::Unavailable(e.to_string()))?
        {
            return ad.authenticate(name, password).await;
        }
        self.local.authenticate(name, password).await
    }
}
