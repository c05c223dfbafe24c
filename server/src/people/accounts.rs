//! Local accounts: a name, Argon2id password hash and roles, managed from the command line.

use super::{Authenticator, Principal, PrincipalSource, SignInError};
use crate::store::{Store, StoreError};
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use deprov_wire::people::Role;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account named '{0}' already exists")]
    Exists(String),
    #[error("no account named '{0}'")]
    Unknown(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An account as `deprov user list` shows it.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
    pub created_at: String,
    pub email: Option<String>,
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Names the audit log uses for deprov itself: no person may take them.
const RESERVED_NAMES: [&str; 3] = ["cli", "deprov", "anonymous"];

/// 1 to 64 letters, digits, `.`, `_`, `-`, `@`, and not a name deprov uses for itself.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && !RESERVED_NAMES
            .iter()
            .any(|reserved| reserved.eq_ignore_ascii_case(name))
}

pub(crate) fn check_name(name: &str) -> Result<(), AccountError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "'{name}' is not a valid account name: 1 to 64 letters, digits, . _ - @ (and not cli, deprov or anonymous)"
        )))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// An Argon2id hash (the crate's defaults: Argon2id v19, m=19 MiB, t=2, p=1) in PHC form.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .map_err(|e| AccountError::Invalid(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Invalid(format!("cannot hash the password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fresh random password for `user add` and `user reset-password` when none is given.
pub fn random_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..20].to_owned()
}

use crate::store::people::roles_text;

pub async fn add(
    store: &Store,
    name: &str,
    roles: &[Role],
    password: &str,
) -> Result<(), AccountError> {
    check_name(name)?;
    check_password(password)?;
    if roles.is_empty() {
        return Err(AccountError::Invalid(
            "give at least one role: requester, approver, admin or auditor".into(),
        ));
    }
    let hash = hash_password(password)?;
    let now = OffsetDateTime::now_utc();
    let mut write = store.write().await?;
    if !write.people().add_account(name, &hash, roles, now).await? {
        return Err(AccountError::Exists(name.to_owned()));
    }
    let details = format!("roles: {}", roles_text(roles));
    crate::audit::append(
        &mut write,
        now,
        crate::audit::Event {
            actor: "cli",
            action: "account.add",
            subject: name,
            details,
            change: None,
        },
    )
    .await?;
    write.commit().await?;
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<AccountSummary>, AccountError> {
    Ok(store.read().await?.people().accounts().await?)
}

pub async fn exists(store: &Store, name: &str) -> Result<bool, AccountError> {
    Ok(store.read().await?.people().account_exists(name).await?)
}

/// Sets (or, with `None`, clears) the address deprov mails the account's owner at.
pub async fn set_email(store: &Store, name: &str, email: Option<&str>) -> Result<(), AccountError> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(email) = email {
        email
            .parse::<lettre::Address>()
            .map_err(|e| AccountError::Invalid(format!("'{email}' is not a mail address: {e}")))?;
    }
    let mut write = store.write().await?;
    if !write.people().set_account_email(name, email).await? {
        return Err(AccountError::Unknown(name.to_owned()));
    }
    let event = crate::audit::Event {
        actor: "cli",
        action: "account.email",
        subject: name,
        details: email.map_or_else(|| "no address".to_owned(), |e| format!("address {e}")),
        change: None,
    };
    crate::audit::append(&mut write, OffsetDateTime::now_utc(), event).await?;
    write.commit().await?;
    Ok(())
}

/// Disables or re-enables an account; disabling also ends its sessions.
pub async fn set_disabled(store: &Store, name: &str, disabled: bool) -> Result<(), AccountError> {
    let mut write = store.write().await?;
    if !write.people().set_account_disabled(name, disabled).await? {
        return Err(AccountError::Unknown(name.to_owned()));
    }
    if disabled {
        write.people().end_account_sessions(name).await?;
    }
    let action = if disabled {
        "account.disable"
    } else {
        "account.enable"
    };
    let event = crate::audit::Event {
        actor: "cli",
        action,
        subject: name,
        details: String::new(),
        change: None,
    };
    crate::audit::append(&mut write, OffsetDateTime::now_utc(), event).await?;
    write.commit().await?;
    Ok(())
}

/// Sets a new password and ends the account's sessions.
pub async fn reset_password(store: &Store, name: &str, password: &str) -> Result<(), AccountError> {
    check_password(password)?;
    let hash = hash_password(password)?;
    let mut write = store.write().await?;
    if !write.people().set_password_hash(name, &hash).await? {
        return Err(AccountError::Unknown(name.to_owned()));
    }
    write.people().end_account_sessions(name).await?;
    let event = crate::audit::Event {
        actor: "cli",
        action: "account.reset_password",
        subject: name,
        details: String::new(),
        change: None,
    };
    crate::audit::append(&mut write, OffsetDateTime::now_utc(), event).await?;
    write.commit().await?;
    Ok(())
}

/// Local accounts as a sign-in method.
pub struct LocalAccounts {
    pub store: Store,
}

/// Password checks running at once.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Verified against when the name is unknown, so a wrong name costs as long as a wrong password
/// and response times do not reveal which accounts exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not-a-real-password").unwrap_or_default());

#[async_trait]
impl Authenticator for LocalAccounts {
    async fn authenticate(&self, name: &str, password: &str) -> Result<Principal, SignInError> {
        let account = self
            .store
            .read()
            .await?
            .people()
            .account_for_sign_in(name)
            .await?;
        let hash = match &account {
            Some(account) => account.password_hash.clone(),
            None => DUMMY_HASH.clone(),
        };
        let password = password.to_owned();
        // Argon2 is deliberately slow (and takes 19 MiB): off the async workers, a few at a time,
        // so a flood of sign-ins queues instead of exhausting memory.
        let _slot = ARGON2_SLOTS
            .acquire()
            .await
            .map_err(|_| SignInError::Rejected)?;
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let Some(account) = account.filter(|_| matches) else {
            return Err(SignInError::Rejected);
        };
        if account.disabled {
            return Err(SignInError::Disabled);
        }
        Ok(Principal {
            source: PrincipalSource::Local {
                account_id: account.id,
            },
            name: account.name,
            roles: account.roles?,
            mail: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{AccountError, add};
    use crate::people::tokens;
    use crate::store::Store;
    use deprov_wire::people::Role;

    /// A taken name is refused as such (on PostgreSQL the insert aborts its transaction, which
    /// is then dropped), and the store takes the next write as usual.
    #[tokio::test]
    async fn a_taken_account_or_token_name_is_refused_and_the_store_goes_on() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open_for_tests(data.path()).await;
        add(&store, "alice", &[Role::Approver], "a-long-password-1")
            .await
            .unwrap();
        let again = add(&store, "alice", &[Role::Admin], "a-long-password-2").await;
        assert!(matches!(again, Err(AccountError::Exists(_))), "{again:?}");
        add(&store, "bob", &[Role::Admin], "a-long-password-3")
            .await
            .unwrap();

        tokens::add(&store, "payroll", Role::Requester, None)
            .await
            .unwrap();
        let again = tokens::add(&store, "payroll", Role::Auditor, None).await;
        assert!(matches!(again, Err(AccountError::Exists(_))), "{again:?}");
        tokens::add(&store, "hr", Role::Requester, Some(30))
            .await
            .unwrap();
    }
}
