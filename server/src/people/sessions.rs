//! Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored,
//! with the principal that signed in (local account or AD user, name and roles). A session ends
//! at its absolute expiry, after a spell of idleness, on sign-out, or when its local account is
//! disabled.

use super::Principal;
use crate::store::{Store, StoreError, Write};
use deprov_wire::people::Role;
use sha2::{Digest, Sha256};
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
    // The CSRF token is independent of the session token: leaking one does not give the other.
    let csrf_token = random_token();
    write
        .people()
        .add_session(&hash(&token), who, &csrf_token, now, now + policy.lifetime)
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
    // Not a write: ending or refreshing the session commits by itself, on this connection.
    let mut read = store.read().await?;
    let Some(stored) = read.people().session(&token_hash).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let expired = now >= stored.expires
        || now - stored.last_seen >= policy.idle_timeout
        || stored.account_disabled;
    if expired {
        read.people().end_session(&token_hash).await?;
        return Ok(None);
    }
    // One write a minute at most, not one per request.
    if now - stored.last_seen > Duration::minutes(1) {
        read.people().touch_session(&token_hash, now).await?;
    }
    Ok(Some(Session {
        name: stored.principal,
        roles: stored.roles?,
        csrf_token: stored.csrf_token,
        credential: Credential::Cookie { token_hash },
    }))
}

/// Ends a session within `write` (an API token ends only by `deprov token revoke`).
pub async fn end(write: &mut Write, session: &Session) -> Result<(), StoreError> {
    if let Credential::Cookie { token_hash } = &session.credential {
        write.people().end_session(token_hash).await?;
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
    let Ok(mut read) = store.read().await else {
        return false;
    };
    let Ok(Some(stored)) = read.people().session(token_hash).await else {
        return false;
    };
    let now = OffsetDateTime::now_utc();
    // A stream is not activity: a page left open ends with the session's idle timeout, as any
    // other call would (what the person last did, not what the server last pushed, keeps it).
    now < stored.expires && !stored.account_disabled && now - stored.last_seen < policy.idle_timeout
}
