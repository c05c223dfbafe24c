//! The append-only audit log: every sign-in, request, decision and change, each row chained to
//! the one before by SHA-256, so `deprov audit verify` finds any edited or deleted row.
//!
//! Rows are appended inside the same transaction as the change they record: both land or neither.

use crate::store::{Store, StoreError, Write, stamp, stamp_in};
use deprov_wire::people::{AuditEntry, AuditPage};
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;

/// The chain's anchor: the `prev_hash` of the first row.
const GENESIS: &str = "deprov-audit-genesis";

/// What one audit row says, before it is chained.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub details: String,
}

fn chain_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    details: &str,
) -> String {
    let mut hasher = Sha256::new();
    // Length-prefixed fields: no two different rows hash the same way by shifting text between fields.
    for field in [
        prev_hash,
        &seq.to_string(),
        at,
        actor,
        action,
        subject,
        details,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Appends one row within `write`'s transaction.
pub async fn append(
    write: &mut Write,
    at: OffsetDateTime,
    event: Event<'_>,
) -> Result<(), StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *write.tx)
        .await?;
    let (seq, prev_hash) = match last {
        Some(row) => (
            row.try_get::<i64, _>("seq")? + 1,
            row.try_get::<String, _>("hash")?,
        ),
        None => (1, GENESIS.to_owned()),
    };
    let at = stamp(at);
    let hash = chain_hash(
        &prev_hash,
        seq,
        &at,
        event.actor,
        event.action,
        event.subject,
        &event.details,
    );
    sqlx::query("INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(seq)
        .bind(at)
        .bind(event.actor)
        .bind(event.action)
        .bind(event.subject)
        .bind(event.details)
        .bind(prev_hash)
        .bind(hash)
        .execute(&mut *write.tx)
        .await?;
    Ok(())
}

/// Appends one row in a transaction of its own (sign-ins, demo controls).
pub async fn record(store: &Store, at: OffsetDateTime, event: Event<'_>) -> Result<(), StoreError> {
    let mut write = store.write().await?;
    append(&mut write, at, event).await?;
    write.commit().await
}

/// What `deprov audit verify` found.
#[derive(Debug)]
pub struct Verification {
    pub rows: usize,
    /// Empty when the chain is intact.
    pub problems: Vec<String>,
}

/// Walks the whole chain. Deleting the newest rows leaves a shorter valid chain; anchoring the
/// latest hash outside the database (a notification, a printout) is what catches that.
pub async fn verify(store: &Store) -> Result<Verification, StoreError> {
    let rows = sqlx::query("SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq")
        .fetch_all(store.pool())
        .await?;
    let mut problems = Vec::new();
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    for row in &rows {
        let seq: i64 = row.try_get("seq")?;
        let stored_prev: String = row.try_get("prev_hash")?;
        let stored_hash: String = row.try_get("hash")?;
        if seq != expected_seq {
            problems.push(format!(
                "rows {expected_seq} to {} are missing (deleted)",
                seq - 1
            ));
        } else if stored_prev != prev {
            problems.push(format!("row {seq} does not follow the row before it"));
        }
        let hash = chain_hash(
            &stored_prev,
            seq,
            row.try_get("at")?,
            row.try_get("actor")?,
            row.try_get("action")?,
            row.try_get("subject")?,
            row.try_get("details")?,
        );
        if hash != stored_hash {
            problems.push(format!(
                "row {seq} was edited: its contents no longer match its hash"
            ));
        }
        expected_seq = seq + 1;
        prev = stored_hash;
    }
    Ok(Verification {
        rows: rows.len(),
        problems,
    })
}

/// Filters for the auditor's page: each matches part of the field, case-insensitively.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub text: Option<String>,
}

/// Newest first.
pub async fn list(
    store: &Store,
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
    let condition = "(?1 IS NULL OR actor LIKE ?1 ESCAPE '\\') AND (?2 IS NULL OR action LIKE ?2 ESCAPE '\\') \
                     AND (?3 IS NULL OR subject LIKE ?3 ESCAPE '\\' OR details LIKE ?3 ESCAPE '\\')";
    let total: i64 =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {condition}"))
            .bind(&actor)
            .bind(&action)
            .bind(&text)
            .fetch_one(store.pool())
            .await?;
    let rows = sqlx::query(&format!(
        "SELECT seq, at, actor, action, subject, details FROM audit_log WHERE {condition} ORDER BY seq DESC LIMIT ?4 OFFSET ?5"
    ))
    .bind(&actor)
    .bind(&action)
    .bind(&text)
    .bind(limit)
    .bind(offset)
    .fetch_all(store.pool())
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
