//! Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored,
//! with the principal that signed in (local account or AD user, name and roles). A session ends
//! at its absolute expiry, after a spell of idleness, on sign-out, or when its local account is
//! disabled.

use super::accounts::{parse_roles, roles_text};
use super::{Principal, PrincipalSource};
use crate::store::{Store, StoreError, Write, parse_stamp, stamp};
use deprov_wire::people::Role;
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

pub const COOKIE: &str = "deprov_session";

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub lifetime: Duration,
    pub idle_timeout: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            lifetime: Duration::hours(8),
            idle_timeout: Duration::minutes(30),
        }
    }
}

/// A signed-in person, or a system calling with an API token, as every protected handler sees
/// them.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub roles: Vec<Role>,
    /// Empty for an API token: it needs none.
    pub csrf_token: String,
    credential: Credential,
}

/// What the caller presented.
#[derive(Debug, Clone)]
enum Credential {
    /// A browser's session cookie (its hash, as stored).
    Cookie { token_hash: String },
    /// An API token (its row).
    Token { id: i64 },
}

impl Session {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// A caller with API token `id`, recorded as `name`.
    pub(crate) fn for_token(name: String, role: Role, id: i64) -> Self {
        Self {
            name,
            roles: vec![role],
            csrf_token: String::new(),
            credential: Credential::Token { id },
        }
    }
}

/// 244 random bits from the OS, as hex: session cookies, CSRF tokens and API token secrets.
pub(crate) fn random_token() -> String {
    // 244 random bits from the OS (two v4 UUIDs).
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub(crate) fn hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Starts a session within `write` (so its audit row lands with it); returns the cookie value.
pub async fn start(
    write: &mut Write,
    who: &Principal,
    policy: SessionPolicy,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = OffsetDateTime::now_utc();
    let account_id = match who.source {
        PrincipalSource::Local { account_id } => Some(account_id),
        PrincipalSource::ActiveDirectory => None,
    };
    sqlx::query(
        "INSERT INTO sessions (token_hash, source, account_id, principal, roles, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(hash(&token))
    .bind(who.source.as_str())
    .bind(account_id)
    .bind(&who.name)
    .bind(roles_text(&who.roles))
    // The CSRF token is independent of the session token: leaking one does not give the other.
    .bind(random_token())
    .bind(stamp(now))
    .bind(stamp(now))
    .bind(stamp(now + policy.lifetime))
    .execute(&mut *write.tx)
    .await?;
    Ok(token)
}

/// A stored session, read by column name.
struct Stored {
    principal: String,
    roles: String,
    csrf_token: String,
    last_seen: OffsetDateTime,
    expires: OffsetDateTime,
    /// A local session whose account is gone or disabled.
    account_disabled: bool,
}

async fn stored(store: &Store, token_hash: &str) -> Result<Option<Stored>, StoreError> {
    let row = sqlx::query(
        "SELECT s.source, s.principal, s.roles, s.csrf_token, s.last_seen_at, s.expires_at, a.disabled \
         FROM sessions s LEFT JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let source: String = row.try_get("source")?;
    let disabled: Option<i64> = row.try_get("disabled")?;
    Ok(Some(Stored {
        principal: row.try_get("principal")?,
        roles: row.try_get("roles")?,
        csrf_token: row.try_get("csrf_token")?,
        last_seen: parse_stamp(&row.try_get::<String, _>("last_seen_at")?)?,
        expires: parse_stamp(&row.try_get::<String, _>("expires_at")?)?,
        account_disabled: source == "local" && disabled.is_none_or(|d| d != 0),
    }))
}

/// The live session behind a cookie value, if any; refreshes its idle clock.
pub async fn find(
    store: &Store,
    token: &str,
    policy: SessionPolicy,
) -> Result<Option<Session>, StoreError> {
    let token_hash = hash(token);
    let Some(stored) = stored(store, &token_hash).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let expired = now >= stored.expires
        || now - stored.last_seen >= policy.idle_timeout
        || stored.account_disabled;
    if expired {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&token_hash)
            .execute(store.pool())
            .await?;
        return Ok(None);
    }
    // One write a minute at most, not one per request.
    if now - stored.last_seen > Duration::minutes(1) {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(stamp(now))
            .bind(&token_hash)
            .execute(store.pool())
            .await?;
    }
    Ok(Some(Session {
        name: stored.principal,
        roles: parse_roles(&stored.roles)?,
        csrf_token: stored.csrf_token,
        credential: Credential::Cookie { token_hash },
    }))
}

/// Ends a session within `write` (an API token ends only by `deprov token revoke`).
pub async fn end(write: &mut Write, session: &Session) -> Result<(), StoreError> {
    if let Credential::Cookie { token_hash } = &session.credential {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *write.tx)
            .await?;
    }
    Ok(())
}

/// Whether `session` is still live (a long-running stream asks now and then): not expired, not
/// idle past the timeout, its account not disabled.
pub async fn still_live(store: &Store, session: &Session, policy: SessionPolicy) -> bool {
    let token_hash = match &session.credential {
        Credential::Cookie { token_hash } => token_hash,
        Credential::Token { id } => return super::tokens::still_live(store, *id).await,
    };
    let Ok(Some(stored)) = stored(store, token_hash).await else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    // A stream is not activity: a page left open ends with the session's idle timeout, as any
    // other call would (what the person last did, not what the server last pushed, keeps it).
    now < stored.expires && !stored.account_disabled && now - stored.last_seen < policy.idle_timeout
}
