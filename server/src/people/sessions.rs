//! Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored.
//! A session ends at its absolute expiry, after a spell of idleness, or on sign-out.

use super::Identity;
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

/// A signed-in person, as every protected handler sees them.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub roles: Vec<Role>,
    pub csrf_token: String,
    token_hash: String,
}

impl Session {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

fn token() -> String {
    // 244 random bits from the OS (two v4 UUIDs).
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The CSRF token is independent of the session token, so leaking one does not give the other.
fn token_csrf() -> String {
    token()
}

fn hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Starts a session within `write` (so its audit row lands with it); returns the cookie value.
pub async fn start(
    write: &mut Write,
    who: &Identity,
    policy: SessionPolicy,
) -> Result<String, StoreError> {
    let token = token();
    let now = OffsetDateTime::now_utc();
    sqlx::query("INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(hash(&token))
        .bind(who.account_id)
        .bind(token_csrf())
        .bind(stamp(now))
        .bind(stamp(now))
        .bind(stamp(now + policy.lifetime))
        .execute(&mut *write.tx)
        .await?;
    Ok(token)
}

/// The live session behind a cookie value, if any; refreshes its idle clock.
pub async fn find(
    store: &Store,
    token: &str,
    policy: SessionPolicy,
) -> Result<Option<Session>, StoreError> {
    let token_hash = hash(token);
    let row = sqlx::query(
        "SELECT a.name, a.roles, a.disabled, s.csrf_token, s.last_seen_at, s.expires_at \
         FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?",
    )
    .bind(&token_hash)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = OffsetDateTime::now_utc();
    let last_seen = parse_stamp(row.get(4))?;
    let expired = now >= parse_stamp(row.get(5))?
        || now - last_seen >= policy.idle_timeout
        || row.get::<i64, _>(2) != 0;
    if expired {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(&token_hash)
            .execute(store.pool())
            .await?;
        return Ok(None);
    }
    // One write a minute at most, not one per request.
    if now - last_seen > Duration::minutes(1) {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
            .bind(stamp(now))
            .bind(&token_hash)
            .execute(store.pool())
            .await?;
    }
    Ok(Some(Session {
        name: row.get(0),
        roles: super::accounts::roles_from_text(row.get(1)),
        csrf_token: row.get(3),
        token_hash,
    }))
}

/// Ends a session within `write`.
pub async fn end(write: &mut Write, session: &Session) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(&session.token_hash)
        .execute(&mut *write.tx)
        .await?;
    Ok(())
}

/// Whether `session` is still live (a long-running stream asks now and then).
pub async fn still_live(store: &Store, session: &Session, policy: SessionPolicy) -> bool {
    let row = sqlx::query("SELECT s.last_seen_at, s.expires_at, a.disabled FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?")
        .bind(&session.token_hash)
        .fetch_optional(store.pool())
        .await;
    let Ok(Some(row)) = row else { return false };
    let now = OffsetDateTime::now_utc();
    let (Ok(last_seen), Ok(expires)) = (parse_stamp(row.get(0)), parse_stamp(row.get(1))) else {
        return false;
    };
    // A page with a live stream is not idle: the stream itself counts as activity.
    now < expires && row.get::<i64, _>(2) == 0 && now - last_seen < policy.lifetime
}
