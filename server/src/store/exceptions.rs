//! Accepted exceptions to the mismatch report.

use super::{StoreError, code_in, stamp, stamp_in};
use deprov_wire::directory::UserId;
use deprov_wire::report::{AcceptedException, Rule};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The `accepted_exceptions` table.
pub struct Exceptions<'c>(pub(super) &'c mut AnyConnection);

/// A new exception, in force once inserted.
pub struct NewStoredException<'a> {
    pub user_id: UserId,
    pub display_name: &'a str,
    pub rules: &'a [Rule],
    pub reason: &'a str,
    pub accepted_by: &'a str,
    pub accepted_at: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// Whose exception [`Exceptions::end`] ended.
pub struct Ended {
    pub user_id: UserId,
    pub display_name: String,
}

fn exception(row: &AnyRow) -> Result<AcceptedException, StoreError> {
    let user: String = row.try_get("user_id")?;
    let rules: String = row.try_get("rules")?;
    Ok(AcceptedException {
        id: row.try_get("id")?,
        user_id: user.parse().map_err(|_| {
            StoreError::Unreadable(format!("accepted_exceptions.user_id = {user:?}"))
        })?,
        display_name: row.try_get("display_name")?,
        rules: rules
            .split(',')
            .map(|rule| {
                Rule::parse(rule).ok_or_else(|| {
                    StoreError::Unreadable(format!("accepted_exceptions.rules = {rules:?}"))
                })
            })
            .collect::<Result<_, _>>()?,
        reason: row.try_get("reason")?,
        accepted_by: row.try_get("accepted_by")?,
        accepted_at: stamp_in(row, "accepted_at")?,
        until: stamp_in(row, "until")?,
    })
}

const SELECT_IN_FORCE: &str = "SELECT id, user_id, display_name, rules, reason, accepted_by, accepted_at, until \
     FROM accepted_exceptions WHERE ended_at IS NULL";

impl Exceptions<'_> {
    /// The exceptions not ended by hand, by user (some may have run out by the clock).
    pub async fn in_force(self) -> Result<HashMap<UserId, AcceptedException>, StoreError> {
        let rows = sqlx::query(SELECT_IN_FORCE).fetch_all(&mut *self.0).await?;
        let mut in_force = HashMap::new();
        for row in &rows {
            let exception = exception(row)?;
            in_force.insert(exception.user_id, exception);
        }
        Ok(in_force)
    }

    /// `user`'s exception not ended by hand, if there is one.
    pub async fn in_force_for(self, user: UserId) -> Result<Option<AcceptedException>, StoreError> {
        sqlx::query(&format!("{SELECT_IN_FORCE} AND user_id = $1"))
            .bind(user.to_string())
            .fetch_optional(&mut *self.0)
            .await?
            .map(|row| exception(&row))
            .transpose()
    }

    /// Inserts `new`; returns its id.
    pub async fn insert(self, new: &NewStoredException<'_>) -> Result<i64, StoreError> {
        let rules: Vec<&str> = new.rules.iter().map(|r| r.as_str()).collect();
        Ok(sqlx::query_scalar(
            "INSERT INTO accepted_exceptions (user_id, display_name, rules, reason, accepted_by, accepted_at, until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(new.user_id.to_string())
        .bind(new.display_name)
        .bind(rules.join(","))
        .bind(new.reason)
        .bind(new.accepted_by)
        .bind(stamp(new.accepted_at))
        .bind(stamp(new.until))
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// Ends exception `id` at `at` by `by`, if it is not ended already: whose it was.
    pub async fn end(
        self,
        id: i64,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Ended>, StoreError> {
        let Some(row) = sqlx::query(
            "UPDATE accepted_exceptions SET ended_at = $1, ended_by = $2 WHERE id = $3 AND ended_at IS NULL \
             RETURNING user_id, display_name",
        )
        .bind(stamp(at))
        .bind(by)
        .bind(id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Ended {
            user_id: code_in(&row, "user_id", |id| id.parse().ok())?,
            display_name: row.try_get("display_name")?,
        }))
    }
}
