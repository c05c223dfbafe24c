//! The audit log's rows (the key fingerprint that guards them is a [`super::settings`]).
//!
//! The chaining itself (hashes, the audit key) is [`crate::audit`]'s: this reads and writes the
//! rows as they are hashed, text for text.

use super::{StoreError, code_in, stamp, stamp_in};
use crate::audit::key::Schemes;
use crate::audit::{AuditFilter, Hashed, Scheme};
use deprov_wire::people::{AuditEntry, AuditPage};
use sqlx::{AnyConnection, Row};

/// The `audit_log` table: one hash chain, appended inside the write it records.
pub struct AuditLog<'c>(pub(super) &'c mut AnyConnection);

/// The newest row: what the next one is chained to.
pub struct Tail {
    pub seq: i64,
    pub hash: String,
}

/// One row, every field as it is hashed (the text as stored: `at` is not re-formatted).
pub struct ChainedRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
    /// The change's JSON, if the row recorded one.
    pub change: Option<String>,
    pub scheme: Scheme,
    pub prev_hash: String,
    pub hash: String,
}

// What `deprov audit verify` reads of the tables the log vouches for: the text as stored,
// unparsed, so that a value deprov cannot even read is a mismatch it reports (not an error that
// stops it), and times compare with the audit rows' text as written.

/// A request as `deprov audit verify` compares it ([`super::requests::Requests::all_for_audit`]).
pub struct RequestAsStored {
    pub id: i64,
    pub state: String,
    pub requested_by: String,
    pub created_at: String,
}

/// A decision as `deprov audit verify` compares it
/// ([`super::requests::Requests::all_decisions_for_audit`]).
pub struct DecisionAsStored {
    pub id: i64,
    pub request_id: i64,
    pub actor: String,
    pub decision: String,
    pub comment: String,
    pub at: String,
}

/// An operation as `deprov audit verify` compares it
/// ([`super::operations::Operations::all_for_audit`]).
pub struct OperationAsStored {
    pub id: i64,
    pub request_id: i64,
    pub operation: String,
    pub state: String,
    pub started_at: String,
}

impl AuditLog<'_> {
    /// The newest row's seq and hash, or nothing in an empty log.
    pub async fn tail(self) -> Result<Option<Tail>, StoreError> {
        let Some(row) = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *self.0)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Tail {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        }))
    }

    /// Inserts one row, chained by `scheme` with `hash`.
    pub(crate) async fn append(
        self,
        row: &Hashed<'_>,
        scheme: Scheme,
        hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (seq, at, actor, action, subject, details, change, scheme, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(row.seq)
            .bind(row.at)
            .bind(row.actor)
            .bind(row.action)
            .bind(row.subject)
            .bind(row.details)
            .bind(row.change)
            .bind(scheme.as_str())
            .bind(row.prev_hash)
            .bind(hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// How many rows each scheme chained.
    pub async fn schemes(self) -> Result<Schemes, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN scheme = 'sha256' THEN 1 END) AS unkeyed, \
             COUNT(CASE WHEN scheme = 'hmac-sha256' THEN 1 END) AS keyed FROM audit_log",
        )
        .fetch_one(&mut *self.0)
        .await?;
        Ok(Schemes {
            unkeyed: row.try_get("unkeyed")?,
            keyed: row.try_get("keyed")?,
        })
    }

    /// Every row, oldest first, for `deprov audit verify`.
    pub async fn all(self) -> Result<Vec<ChainedRow>, StoreError> {
        sqlx::query(
            "SELECT seq, at, actor, action, subject, details, change, scheme, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(|row| {
            Ok(ChainedRow {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                subject: row.try_get("subject")?,
                details: row.try_get("details")?,
                change: row.try_get("change")?,
                scheme: code_in(row, "scheme", Scheme::parse)?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        })
        .collect()
    }

    /// The rows `filter` matches, newest first: `limit` of them from `offset`, and how many
    /// match in all.
    pub async fn page(
        self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<AuditPage, StoreError> {
        let like = |v: &Option<String>| {
            v.as_ref().map(|v| {
                format!(
                    "%{}%",
                    v.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            })
        };
        let (actor, action, text) = (
            like(&filter.actor),
            like(&filter.action),
            like(&filter.text),
        );
        // Matched without regard to case, as SQLite's LIKE does and PostgreSQL's does not;
        // julianday() compares instants, whatever offset a stamp was written with.
        let condition = "($1 IS NULL OR lower(actor) LIKE lower($1) ESCAPE '\\') \
                         AND ($2 IS NULL OR lower(action) LIKE lower($2) ESCAPE '\\') \
                         AND ($3 IS NULL OR lower(subject) LIKE lower($3) ESCAPE '\\' \
                              OR lower(details) LIKE lower($3) ESCAPE '\\') \
                         AND ($4 IS NULL OR julianday(at) >= julianday($4)) AND ($5 IS NULL OR julianday(at) < julianday($5))";
        let (from, until) = (filter.from.map(stamp), filter.until.map(stamp));
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {condition}"))
                .bind(&actor)
                .bind(&action)
                .bind(&text)
                .bind(&from)
                .bind(&until)
                .fetch_one(&mut *self.0)
                .await?;
        let rows = sqlx::query(&format!(
            "SELECT seq, at, actor, action, subject, details FROM audit_log WHERE {condition} ORDER BY seq DESC LIMIT $6 OFFSET $7"
        ))
        .bind(&actor)
        .bind(&action)
        .bind(&text)
        .bind(&from)
        .bind(&until)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *self.0)
        .await?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: stamp_in(row, "at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    details: row.try_get("details")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(AuditPage {
            total: total as usize,
            entries,
        })
    }

    /// Every row's action, oldest first (for tests).
    #[cfg(test)]
    pub async fn actions(self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT action FROM audit_log ORDER BY seq")
                .fetch_all(&mut *self.0)
                .await?,
        )
    }
}
