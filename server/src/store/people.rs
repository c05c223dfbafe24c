//! Local accounts, sessions, API tokens, AD people and the sign-in throttle.

use super::{StoreError, optional_stamp_in, stamp, stamp_in, u32_in};
use crate::people::accounts::AccountSummary;
use crate::people::tokens::TokenSummary;
use crate::people::{Principal, PrincipalSource};
use deprov_wire::people::Role;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// Local `accounts`, `sessions`, `api_tokens`, `ad_people` and the sign-in throttle's counts
/// (`sign_in_failures`, `sign_in_known`).
pub struct People<'c>(pub(super) &'c mut AnyConnection);

/// Roles as stored (comma-separated); a role that does not read back is an error, never dropped.
pub(crate) fn parse_roles(text: &str) -> Result<Vec<Role>, StoreError> {
    text.split(',')
        .map(|role| {
            Role::parse(role).ok_or_else(|| StoreError::Unreadable(format!("stored role '{role}'")))
        })
        .collect()
}

/// Roles as they are stored: comma-separated.
pub(crate) fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// An API token's role as stored.
fn parse_token_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| StoreError::Unreadable(format!("api_tokens.role = {role:?}")))
}

/// A local account as a sign-in checks it.
pub struct SignInAccount {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
    pub disabled: bool,
    /// The roles, or why they do not read back: raised only once the password matched and the
    /// account is enabled (a wrong password is refused the same whatever the account holds).
    pub roles: Result<Vec<Role>, StoreError>,
}

/// A stored session, read by column name.
pub struct StoredSession {
    pub principal: String,
    /// The roles as at sign-in, or why they do not read back: raised only for a live session (an
    /// expired one is ended whatever its roles).
    pub roles: Result<Vec<Role>, StoreError>,
    pub csrf_token: String,
    pub last_seen: OffsetDateTime,
    pub expires: OffsetDateTime,
    /// A local session whose account is gone or disabled.
    pub account_disabled: bool,
}

/// A stored API token, found by its secret's hash.
pub struct StoredToken {
    pub id: i64,
    pub name: String,
    /// Its role, or why it does not read back: raised only for a live token.
    pub role: Result<Role, StoreError>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// When an API token stops working.
pub struct TokenLife {
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A throttle key's remembered failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInFailures {
    pub count: u32,
    /// When the last one was.
    pub last_at: OffsetDateTime,
}

/// Accounts.
/// Whether an insert went in: `false` when a unique name (or secret) was taken already.
fn unless_taken(
    inserted: Result<sqlx::any::AnyQueryResult, sqlx::Error>,
) -> Result<bool, StoreError> {
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        other => other.map(|_| true).map_err(StoreError::from),
    }
}

impl People<'_> {
    /// Adds a local account; `false` if one of that name exists (the write is then to be dropped:
    /// PostgreSQL has aborted its transaction).
    pub async fn add_account(
        self,
        name: &str,
        password_hash: &str,
        roles: &[Role],
        created_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO accounts (name, password_hash, roles, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(roles_text(roles))
        .bind(stamp(created_at))
        .execute(&mut *self.0)
        .await;
        unless_taken(inserted)
    }

    /// Every local account, by name.
    pub async fn accounts(self) -> Result<Vec<AccountSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, roles, disabled, created_at, email FROM accounts ORDER BY name",
        )
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AccountSummary {
                    name: row.try_get("name")?,
                    roles: parse_roles(row.try_get("roles")?)?,
                    disabled: row.try_get::<i64, _>("disabled")? != 0,
                    created_at: row.try_get("created_at")?,
                    email: row.try_get("email")?,
                })
            })
            .collect()
    }

    /// Whether a local account is named `name`.
    pub async fn account_exists(self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.0)
            .await?
            .is_some())
    }

    /// Sets (or clears) account `name`'s mail address; `false` if there is no such account.
    pub async fn set_account_email(
        self,
        name: &str,
        email: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE accounts SET email = $1 WHERE name = $2")
            .bind(email)
            .bind(name)
            .execute(&mut *self.0)
            .await?;
        Ok(changed.rows_affected() != 0)
    }

    /// Disables or re-enables account `name`; `false` if there is no such account.
    pub async fn set_account_disabled(
        self,
        name: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE accounts SET disabled = $1 WHERE name = $2")
            .bind(disabled as i64)
            .bind(name)
            .execute(&mut *self.0)
            .await?;
        Ok(changed.rows_affected() != 0)
    }

    /// Sets account `name`'s password hash; `false` if there is no such account.
    pub async fn set_password_hash(self, name: &str, hash: &str) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE name = $2")
            .bind(hash)
            .bind(name)
            .execute(&mut *self.0)
            .await?;
        Ok(changed.rows_affected() != 0)
    }

    /// Ends every session of local account `name`.
    pub async fn end_account_sessions(self, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Local account `name` as a sign-in checks it, if there is one.
    pub async fn account_for_sign_in(
        self,
        name: &str,
    ) -> Result<Option<SignInAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, password_hash, roles, disabled FROM accounts WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|row| {
            Ok(SignInAccount {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                password_hash: row.try_get("password_hash")?,
                disabled: row.try_get::<i64, _>("disabled")? != 0,
                roles: row
                    .try_get::<String, _>("roles")
                    .map_err(StoreError::from)
                    .and_then(|roles| parse_roles(&roles)),
            })
        })
        .transpose()
    }
}

/// Sessions.
impl People<'_> {
    /// Stores a session for `who` under its token's hash, started `now`.
    pub async fn add_session(
        self,
        token_hash: &str,
        who: &Principal,
        csrf_token: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let account_id = match who.source {
            PrincipalSource::Local { account_id } => Some(account_id),
            PrincipalSource::ActiveDirectory => None,
        };
        sqlx::query(
            "INSERT INTO sessions (token_hash, source, account_id, principal, roles, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(token_hash)
        .bind(who.source.as_str())
        .bind(account_id)
        .bind(&who.name)
        .bind(roles_text(&who.roles))
        .bind(csrf_token)
        .bind(stamp(now))
        .bind(stamp(now))
        .bind(stamp(expires_at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// The session stored under `token_hash`, if any.
    pub async fn session(self, token_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.source, s.principal, s.roles, s.csrf_token, s.last_seen_at, s.expires_at, a.disabled \
             FROM sessions s LEFT JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.0)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let source: String = row.try_get("source")?;
        let disabled: Option<i64> = row.try_get("disabled")?;
        Ok(Some(StoredSession {
            principal: row.try_get("principal")?,
            roles: row
                .try_get::<String, _>("roles")
                .map_err(StoreError::from)
                .and_then(|roles| parse_roles(&roles)),
            csrf_token: row.try_get("csrf_token")?,
            last_seen: stamp_in(&row, "last_seen_at")?,
            expires: stamp_in(&row, "expires_at")?,
            account_disabled: source == "local" && disabled.is_none_or(|d| d != 0),
        }))
    }

    /// Ends the session stored under `token_hash`.
    pub async fn end_session(self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Notes that the session under `token_hash` was used at `at` (its idle clock).
    pub async fn touch_session(
        self,
        token_hash: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(stamp(at))
            .bind(token_hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}

/// API tokens.
impl People<'_> {
    /// Adds API token `name`; `false` if its name (or secret) is taken (the write is then to be
    /// dropped: PostgreSQL has aborted its transaction).
    pub async fn add_token(
        self,
        name: &str,
        role: Role,
        secret_hash: &str,
        created_at: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, role, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(secret_hash)
        .bind(stamp(created_at))
        .bind(expires_at.map(stamp))
        .execute(&mut *self.0)
        .await;
        unless_taken(inserted)
    }

    /// Revokes API token `name` at `at`; `false` if there is no such token not yet revoked.
    pub async fn revoke_token(self, name: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        let revoked = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(stamp(at))
        .bind(name)
        .execute(&mut *self.0)
        .await?;
        Ok(revoked.rows_affected() != 0)
    }

    /// Every API token, by name.
    pub async fn tokens(self) -> Result<Vec<TokenSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, created_at, expires_at, revoked_at, last_used_at FROM api_tokens ORDER BY name",
        )
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TokenSummary {
                    name: row.try_get("name")?,
                    role: parse_token_role(&row.try_get::<String, _>("role")?)?,
                    created_at: stamp_in(row, "created_at")?,
                    expires_at: optional_stamp_in(row, "expires_at")?,
                    revoked_at: optional_stamp_in(row, "revoked_at")?,
                    last_used_at: optional_stamp_in(row, "last_used_at")?,
                })
            })
            .collect()
    }

    /// The API token whose secret hashes to `secret_hash`, if any.
    pub async fn token_by_secret(
        self,
        secret_hash: &str,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, role, expires_at, revoked_at, last_used_at FROM api_tokens WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|row| {
            Ok(StoredToken {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: row
                    .try_get::<String, _>("role")
                    .map_err(StoreError::from)
                    .and_then(|role| parse_token_role(&role)),
                expires_at: optional_stamp_in(&row, "expires_at")?,
                revoked_at: optional_stamp_in(&row, "revoked_at")?,
                last_used_at: optional_stamp_in(&row, "last_used_at")?,
            })
        })
        .transpose()
    }

    /// Notes that API token `id` was used at `at`.
    pub async fn note_token_use(self, id: i64, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(stamp(at))
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// When API token `id` expires and whether it was revoked, if it exists.
    pub async fn token_life(self, id: i64) -> Result<Option<TokenLife>, StoreError> {
        let row = sqlx::query("SELECT expires_at, revoked_at FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(|row| {
            Ok(TokenLife {
                expires_at: optional_stamp_in(&row, "expires_at")?,
                revoked_at: optional_stamp_in(&row, "revoked_at")?,
            })
        })
        .transpose()
    }
}

/// The sign-in throttle.
impl People<'_> {
    /// Deletes failures whose last was before `failures_before`, and successful sign-ins from
    /// before `known_before`.
    pub async fn purge_sign_ins(
        self,
        failures_before: OffsetDateTime,
        known_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        for (table, column, before) in [
            ("sign_in_failures", "last_at", failures_before),
            ("sign_in_known", "at", known_before),
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE julianday({column}) < julianday($1)"
            ))
            .bind(stamp(before))
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    /// `key`'s failures, if the last was at or after `since` (older ones are forgotten).
    pub async fn sign_in_failures(
        self,
        key: &str,
        since: OffsetDateTime,
    ) -> Result<Option<SignInFailures>, StoreError> {
        let row = sqlx::query(
            "SELECT failures, last_at FROM sign_in_failures \
             WHERE key = $1 AND julianday(last_at) >= julianday($2)",
        )
        .bind(key)
        .bind(stamp(since))
        .fetch_optional(&mut *self.0)
        .await?;
        row.map(|row| {
            Ok(SignInFailures {
                count: u32_in(&row, "failures")?,
                last_at: stamp_in(&row, "last_at")?,
            })
        })
        .transpose()
    }

    /// Whether `pair` signed in successfully at or after `since`.
    pub async fn sign_in_known(
        self,
        pair: &str,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS known FROM sign_in_known WHERE pair = $1 AND julianday(at) >= julianday($2)",
        )
        .bind(pair)
        .bind(stamp(since))
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row.is_some())
    }

    /// Counts a failure of `key` at `at`: its first if the last was before `forgotten_before`.
    pub async fn count_sign_in_failure(
        self,
        key: &str,
        at: OffsetDateTime,
        forgotten_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_failures (key, failures, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET last_at = $2, failures = CASE \
             WHEN julianday(sign_in_failures.last_at) < julianday($3) THEN 1 \
             ELSE sign_in_failures.failures + 1 END",
        )
        .bind(key)
        .bind(stamp(at))
        .bind(stamp(forgotten_before))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Forgets every failure of `key`.
    pub async fn clear_sign_in_failures(self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Takes one failure off `key`'s count (never below zero).
    pub async fn take_back_sign_in_failure(self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0",
        )
        .bind(key)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Records that `pair` signed in successfully at `at`.
    pub async fn remember_sign_in(self, pair: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_known (pair, at) VALUES ($1, $2) ON CONFLICT (pair) DO UPDATE SET at = $2",
        )
        .bind(pair)
        .bind(stamp(at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Remembers an AD person at sign-in: their address and roles as AD says now.
    pub async fn remember_ad_person(
        self,
        principal: &str,
        mail: Option<&str>,
        roles: &[Role],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ad_people (principal, mail, roles, last_sign_in) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (principal) DO UPDATE SET mail = excluded.mail, roles = excluded.roles, \
             last_sign_in = excluded.last_sign_in",
        )
        .bind(principal)
        .bind(mail)
        .bind(roles_text(roles))
        .bind(stamp(at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}
