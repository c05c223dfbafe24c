//! Deployment settings kept in the database (`settings`).

use super::StoreError;
use sqlx::AnyConnection;

/// The `settings` table: one value per key.
pub struct Settings<'c>(pub(super) &'c mut AnyConnection);

impl Settings<'_> {
    /// Records `fingerprint` as the audit key's unless one is recorded already (the first
    /// instance to record one wins: the insert is atomic); returns the one recorded.
    pub async fn audit_key_fingerprint(self, fingerprint: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('audit_key_fingerprint', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(fingerprint)
        .execute(&mut *self.0)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'audit_key_fingerprint'")
                .fetch_one(&mut *self.0)
                .await?,
        )
    }

    /// Whether automatic stage 2 is on: off until someone turns it on. A stored value other
    /// than `on` or `off` is unreadable.
    pub async fn auto_stage_two(self) -> Result<bool, StoreError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'auto_stage_two'")
                .fetch_optional(&mut *self.0)
                .await?;
        match value.as_deref() {
            None | Some("off") => Ok(false),
            Some("on") => Ok(true),
            Some(other) => Err(StoreError::Unreadable(format!(
                "settings.auto_stage_two = {other:?}"
            ))),
        }
    }

    /// Turns automatic stage 2 on or off.
    pub async fn set_auto_stage_two(self, on: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('auto_stage_two', $1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(if on { "on" } else { "off" })
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}
