//! API tokens for other systems: an HR system files requests with `Authorization: Bearer`. A
//! token has a name, one role and an optional expiry; its secret is printed once by `deprov token
//! add` and stored only as a hash. Calls made with it are audited under `token:NAME`, need no
//! CSRF token (a browser never sends it by itself), and stop the moment it is revoked or expires.

use super::accounts::{AccountError, check_name};
use super::sessions::{self, Session};
use crate::audit::{self, Event};
use crate::store::{Store, StoreError, stamp};
use deprov_wire::people::Role;
use time::{Duration, OffsetDateTime};

/// What every token secret starts with, so one found in a log or a repository is recognised.
pub const PREFIX: &str = "deprov_";

/// The name calls with token `name` are recorded under: never a person's name.
pub fn principal(name: &str) -> String {
    format!("token:{name}")
}

/// A token as `deprov token list` shows it (never its secret).
#[derive(Debug, Clone)]
pub struct TokenSummary {
    pub name: String,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// Creates token `name` with `role`, valid for `days` (or until revoked); returns its secret,
/// which is shown once.
pub async fn add(
    store: &Store,
    name: &str,
    role: Role,
    days: Option<u32>,
) -> Result<String, AccountError> {
    check_name(name)?;
    // Approving and running stay with people: a token of those roles would let one person act
    // as two, and the four-eyes rules compare names.
    if !matches!(role, Role::Requester | Role::Auditor) {
        return Err(AccountError::Invalid(
            "an API token files requests (requester) or reads (auditor); approving and running stay with people".into(),
        ));
    }
    if days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(AccountError::Invalid(
            "--expires is a number of days from 1 to 3650".into(),
        ));
    }
    let secret = format!("{PREFIX}{}", sessions::random_token());
    let now = OffsetDateTime::now_utc();
    let expires = days.map(|d| now + Duration::days(d.into()));
    let mut write = store.write().await?;
    let added = write
        .people()
        .add_token(name, role, &sessions::hash(&secret), now, expires)
        .await?;
    if !added {
        return Err(AccountError::Exists(format!("token {name}")));
    }
    audit::append(
        &mut write,
        now,
        Event {
            actor: "cli",
            action: "token.add",
            subject: &principal(name),
            details: format!(
                "role {}; {}",
                role.as_str(),
                expires.map_or("no expiry".to_owned(), |at| format!(
                    "expires {}",
                    stamp(at)
                ))
            ),
            change: None,
        },
    )
    .await?;
    write.commit().await?;
    Ok(secret)
}

/// Revokes token `name` at once: its next call is refused.
pub async fn revoke(store: &Store, name: &str) -> Result<(), AccountError> {
    let now = OffsetDateTime::now_utc();
    let mut write = store.write().await?;
    if !write.people().revoke_token(name, now).await? {
        return Err(AccountError::Unknown(format!(
            "token {name} (or it is already revoked)"
        )));
    }
    audit::append(
        &mut write,
        now,
        Event {
            actor: "cli",
            action: "token.revoke",
            subject: &principal(name),
            details: String::new(),
            change: None,
        },
    )
    .await?;
    write.commit().await?;
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<TokenSummary>, StoreError> {
    store.read().await?.people().tokens().await
}

/// The caller behind a bearer secret, if the token is known, not revoked and not expired;
/// notes its use (once a minute at most).
pub async fn find(store: &Store, secret: &str) -> Result<Option<Session>, StoreError> {
    // Not a write: noting the use commits by itself, on this connection.
    let mut read = store.read().await?;
    let Some(token) = read
        .people()
        .token_by_secret(&sessions::hash(secret))
        .await?
    else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let live = token.revoked_at.is_none() && token.expires_at.is_none_or(|at| now < at);
    if !live {
        return Ok(None);
    }
    if token
        .last_used_at
        .is_none_or(|at| now - at > Duration::minutes(1))
    {
        read.people().note_token_use(token.id, now).await?;
    }
    let role = token.role?;
    Ok(Some(Session::for_token(
        principal(&token.name),
        role,
        token.id,
    )))
}

/// Whether token `id` may still be used (a long-running stream asks now and then).
pub async fn still_live(store: &Store, id: i64) -> bool {
    let Ok(mut read) = store.read().await else {
        return false;
    };
    // A token whose times do not read back is not live.
    let Ok(Some(life)) = read.people().token_life(id).await else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    life.revoked_at.is_none() && life.expires_at.is_none_or(|at| now < at)
}
