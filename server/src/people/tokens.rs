//! API tokens for other systems: an HR system files requests with `Authorization: Bearer`. A
//! token has a name, one role and an optional expiry; its secret is printed once by `deprov token
//! add` and stored only as a hash. Calls made with it are audited under `token:NAME`, need no
//! CSRF token (a browser never sends it by itself), and stop the moment it is revoked or expires.

use super::accounts::{AccountError, check_name};
use super::sessions::{self, Session};
use crate::audit::{self, Event};
use crate::store::{Store, StoreError, optional_stamp_in, stamp, stamp_in};
use deprov_wire::people::Role;
use sqlx::Row;
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
    let inserted = sqlx::query(
        "INSERT INTO api_tokens (name, role, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(sessions::hash(&secret))
    .bind(stamp(now))
    .bind(expires.map(stamp))
    .execute(&mut *write.tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AccountError::Exists(format!("token {name}")));
        }
        other => other?,
    };
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
    let revoked =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(stamp(now))
            .bind(name)
            .execute(&mut *write.tx)
            .await?;
    if revoked.rows_affected() == 0 {
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
    let rows = sqlx::query(
        "SELECT name, role, created_at, expires_at, revoked_at, last_used_at FROM api_tokens ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get("role")?;
            Ok(TokenSummary {
                name: row.try_get("name")?,
                role: Role::parse(&role)
                    .ok_or_else(|| StoreError::Unreadable(format!("api_tokens.role = {role:?}")))?,
                created_at: stamp_in(row, "created_at")?,
                expires_at: optional_stamp_in(row, "expires_at")?,
                revoked_at: optional_stamp_in(row, "revoked_at")?,
                last_used_at: optional_stamp_in(row, "last_used_at")?,
            })
        })
        .collect()
}

/// The caller behind a bearer secret, if the token is known, not revoked and not expired;
/// notes its use (once a minute at most).
pub async fn find(store: &Store, secret: &str) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, role, expires_at, revoked_at, last_used_at FROM api_tokens WHERE secret_hash = $1",
    )
    .bind(sessions::hash(secret))
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = OffsetDateTime::now_utc();
    let live = optional_stamp_in(&row, "revoked_at")?.is_none()
        && optional_stamp_in(&row, "expires_at")?.is_none_or(|at| now < at);
    if !live {
        return Ok(None);
    }
    let id: i64 = row.try_get("id")?;
    if optional_stamp_in(&row, "last_used_at")?.is_none_or(|at| now - at > Duration::minutes(1)) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(stamp(now))
            .bind(id)
            .execute(store.pool())
            .await?;
    }
    let role: String = row.try_get("role")?;
    let role = Role::parse(&role)
        .ok_or_else(|| StoreError::Unreadable(format!("api_tokens.role = {role:?}")))?;
    let name: String = row.try_get("name")?;
    Ok(Some(Session::for_token(principal(&name), role, id)))
}

/// Whether token `id` may still be used (a long-running stream asks now and then).
pub async fn still_live(store: &Store, id: i64) -> bool {
    let Ok(Some(row)) = sqlx::query("SELECT expires_at, revoked_at FROM api_tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await
    else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    matches!(optional_stamp_in(&row, "revoked_at"), Ok(None))
        && optional_stamp_in(&row, "expires_at").is_ok_and(|at| at.is_none_or(|at| now < at))
}
