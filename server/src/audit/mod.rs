//! The append-only audit log: every sign-in, request, decision and change, each row chained to
//! the one before by HMAC-SHA256 under a key kept outside the database ([`key`]), so that
//! `deprov audit verify` ([`verify`]) finds an edited row even when the rows after it were
//! re-hashed. Rows that change a request, a decision or an operation also say so as JSON
//! ([`Change`]), and verify checks those tables against the log.
//!
//! Rows are appended inside the same transaction as the change they record: both land or neither.

pub mod key;
pub mod verify;

use crate::store::settings::Settings;
use crate::store::{Store, StoreError, Write, stamp};
use deprov_wire::execution::{Operation, OperationState};
use deprov_wire::people::AuditPage;
use deprov_wire::workflow::{DecisionKind, RequestState};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The chain's anchor: the `prev_hash` of the first row.
const GENESIS: &str = "deprov-audit-genesis";

/// How a row is chained to the one before it (the `scheme` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// SHA-256 without a key: rows written before the audit key existed.
    Unkeyed,
    /// HMAC-SHA256 under the audit key: every row written since.
    Keyed,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unkeyed => "sha256",
            Self::Keyed => "hmac-sha256",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Unkeyed, Self::Keyed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What one audit row says, before it is chained.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// For people reading the log.
    pub details: String,
    /// For `deprov audit verify`: what the row changed in the request tables, if anything.
    pub change: Option<Change>,
}

/// What a row changed in the requests, decisions and operations tables, stored as JSON beside
/// the readable details and covered by the row's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub request: i64,
    /// The state the request moved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RequestState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationRecord>,
}

impl Change {
    /// An operation started, resumed or ended: the request's new state and the operation's.
    pub fn operation(
        request: i64,
        state: RequestState,
        id: i64,
        kind: Operation,
        operation_state: OperationState,
    ) -> Self {
        Self {
            request,
            state: Some(state),
            decision: None,
            operation: Some(OperationRecord {
                id,
                kind,
                state: operation_state,
            }),
        }
    }
}

/// The decisions row a row wrote (its actor and time are the audit row's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub kind: DecisionKind,
    pub comment: String,
}

/// The operations row a row started, resumed or ended, and the state it left it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub id: i64,
    pub kind: Operation,
    pub state: OperationState,
}

/// One row's fields as they are hashed, in order (and stored, with the hash).
pub(crate) struct Hashed<'a> {
    pub(crate) prev_hash: &'a str,
    pub(crate) seq: i64,
    pub(crate) at: &'a str,
    pub(crate) actor: &'a str,
    pub(crate) action: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) details: &'a str,
    /// The change's JSON; keyed rows only.
    pub(crate) change: Option<&'a str>,
}

impl Hashed<'_> {
    /// The row's hash by `scheme`. Length-prefixed fields: no two different rows hash the same
    /// way by shifting text between fields.
    fn hash(&self, scheme: Scheme, key: &key::AuditKey) -> String {
        let seq = self.seq.to_string();
        let mut fields = vec![
            self.prev_hash,
            &seq,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.details,
        ];
        match scheme {
            Scheme::Unkeyed => {
                let mut hasher = Sha256::new();
                for field in fields {
                    hasher.update((field.len() as u64).to_be_bytes());
                    hasher.update(field.as_bytes());
                }
                format!("{:x}", hasher.finalize())
            }
            Scheme::Keyed => {
                // A change and its absence hash differently: the marker cannot be a field's text.
                fields.push(if self.change.is_some() {
                    "change"
                } else {
                    "no change"
                });
                fields.extend(self.change);
                key.hash(&fields)
            }
        }
    }
}

/// Appends one row within `write`'s transaction, chained with the audit key.
pub async fn append(
    write: &mut Write,
    at: OffsetDateTime,
    event: Event<'_>,
) -> Result<(), StoreError> {
    let (seq, prev_hash) = match write.audit_log().tail().await? {
        Some(tail) => (tail.seq + 1, tail.hash),
        None => (1, GENESIS.to_owned()),
    };
    let at = stamp(at);
    let change = event
        .change
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Unreadable(format!("an audit change does not serialize: {e}")))?;
    let row = Hashed {
        prev_hash: &prev_hash,
        seq,
        at: &at,
        actor: event.actor,
        action: event.action,
        subject: event.subject,
        details: &event.details,
        change: change.as_deref(),
    };
    let hash = row.hash(Scheme::Keyed, &write.audit_key);
    write.audit_log().append(&row, Scheme::Keyed, &hash).await
}

/// Appends one row in a transaction of its own (sign-ins, demo controls).
pub async fn record(store: &Store, at: OffsetDateTime, event: Event<'_>) -> Result<(), StoreError> {
    let mut write = store.write().await?;
    append(&mut write, at, event).await?;
    write.commit().await
}

/// Records the audit key's fingerprint in the database the first time, and refuses any other
/// key after that: instances sharing a database must share the key, or each would chain its
/// own rows and the log would verify as broken. The first instance to record one wins (the
/// insert is atomic); the others are refused.
pub(crate) async fn check_key_fingerprint(
    settings: Settings<'_>,
    key: &key::AuditKey,
    key_file: &std::path::Path,
) -> Result<(), StoreError> {
    let fingerprint = key.hash(&["deprov audit key fingerprint"]);
    let recorded = settings.audit_key_fingerprint(&fingerprint).await?;
    if recorded == fingerprint {
        Ok(())
    } else {
        Err(StoreError::AuditKey(format!(
            "{} is not the key this database's audit log is chained with: every instance of a \
             deployment needs a copy of the same key file",
            key_file.display()
        )))
    }
}

/// Marks where the keyed chain begins in a log that had unkeyed rows, the moment the key is made.
pub(crate) async fn record_key_created(store: &Store, unkeyed: i64) -> Result<(), StoreError> {
    let event = Event {
        actor: "deprov",
        action: "audit.key_created",
        subject: "audit log",
        details: format!(
            "the {unkeyed} rows before this one were chained before the audit key existed (unkeyed \
             SHA-256); from this row on, every row is chained with the key (HMAC-SHA256)"
        ),
        change: None,
    };
    record(store, OffsetDateTime::now_utc(), event).await
}

/// Filters for the auditor's page: each matches part of the field, case-insensitively.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub text: Option<String>,
    /// Rows at or after this moment.
    pub from: Option<OffsetDateTime>,
    /// Rows before this moment.
    pub until: Option<OffsetDateTime>,
}

/// Newest first.
pub async fn list(
    store: &Store,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<AuditPage, StoreError> {
    store
        .read()
        .await?
        .audit_log()
        .page(filter, offset, limit)
        .await
}
