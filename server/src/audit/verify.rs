//! `deprov audit verify`: walks the chain row by row, each by the scheme it was written with;
//! says where the log ends (its head: written down and checked later, it is what catches rows
//! deleted from the end); and checks the requests, decisions and operations tables against what
//! the log recorded, so a change made to them behind deprov's back shows.

use super::{Change, GENESIS, Hashed, Scheme};
use crate::store::audit_log::ChainedRow;
use crate::store::{Read, Store, StoreError};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// The last row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub at: String,
}

/// A head written down earlier, as `SEQ:HASH`: the log must still reach that row with that hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHead {
    pub seq: i64,
    pub hash: String,
}

impl FromStr for ExpectedHead {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wrong = || format!("'{text}' is not a head: write it as SEQ:HASH, as verify prints it");
        let (seq, hash) = text.trim().split_once(':').ok_or_else(wrong)?;
        let seq = seq.parse().map_err(|_| wrong())?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(wrong());
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for ExpectedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// How much of the request tables the log vouched for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CrossChecked {
    /// Requests, decisions and operations whose current state matches the keyed log.
    pub requests: usize,
    pub decisions: usize,
    pub operations: usize,
    /// Those last changed before the key existed: found in the unkeyed rows, their state not
    /// checked (those rows do not record it in a form that can be checked).
    pub predating: usize,
}

/// What `deprov audit verify` found.
#[derive(Debug)]
pub struct Verification {
    pub rows: usize,
    /// Rows chained before the audit key existed (unkeyed SHA-256): someone who can write the
    /// database can edit one of them and re-hash the unkeyed rows after it unnoticed, unless a
    /// head written down earlier is checked.
    pub unkeyed_rows: usize,
    pub head: Option<Head>,
    pub cross_checked: CrossChecked,
    /// Empty when the log is intact and the tables agree with it.
    pub problems: Vec<String>,
}

/// A keyed row that changed the request tables.
struct Logged {
    seq: i64,
    actor: String,
    at: String,
    change: Change,
}

/// An unkeyed row, as far as it can vouch for older requests.
struct Unkeyed {
    actor: String,
    action: String,
    subject: String,
    at: String,
}

/// The subject every request's rows carry.
fn subject(request: i64) -> String {
    format!("request #{request}")
}

/// Walks the whole chain and cross-checks the request tables. Deleting the newest rows leaves a
/// shorter valid chain: only `expected`, a head written down earlier, catches that.
pub async fn verify(
    store: &Store,
    expected: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    let mut read = store.read().await?;
    let rows = read.audit_log().all().await?;
    let row_count = rows.len();
    let mut problems = Vec::new();
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    let mut keyed_began = None;
    let mut head = None;
    let mut expected_found = None;
    let (mut logged, mut unkeyed) = (Vec::new(), Vec::new());
    for row in rows {
        let ChainedRow {
            seq,
            at,
            actor,
            action,
            subject,
            details,
            change,
            scheme,
            prev_hash: stored_prev,
            hash: stored_hash,
        } = row;
        if seq != expected_seq {
            problems.push(format!(
                "rows {expected_seq} to {} are missing (deleted)",
                seq - 1
            ));
        } else if stored_prev != prev {
            problems.push(format!("row {seq} does not follow the row before it"));
        }
        let hash = Hashed {
            prev_hash: &stored_prev,
            seq,
            at: &at,
            actor: &actor,
            action: &action,
            subject: &subject,
            details: &details,
            change: change.as_deref(),
        }
        .hash(scheme, store.audit_key());
        if hash != stored_hash {
            problems.push(format!(
                "row {seq} was edited: its contents no longer match its hash"
            ));
        }
        match scheme {
            Scheme::Keyed => {
                keyed_began.get_or_insert(seq);
                match change.as_deref().map(serde_json::from_str::<Change>) {
                    None => {}
                    Some(Ok(change)) => logged.push(Logged {
                        seq,
                        actor: actor.clone(),
                        at: at.clone(),
                        change,
                    }),
                    Some(Err(error)) => {
                        problems.push(format!("row {seq}: its change cannot be read ({error})"))
                    }
                }
            }
            Scheme::Unkeyed => {
                if let Some(first) = keyed_began {
                    problems.push(format!(
                        "row {seq} claims to be chained without the key, after row {first} was chained \
                         with it: it was re-hashed without the key"
                    ));
                }
                if change.is_some() {
                    problems.push(format!(
                        "row {seq} records a change but is chained without the key: it was forged"
                    ));
                }
                unkeyed.push(Unkeyed {
                    actor: actor.clone(),
                    action,
                    subject,
                    at: at.clone(),
                });
            }
        }
        if expected.is_some_and(|e| e.seq == seq) {
            expected_found = Some(stored_hash.clone());
        }
        expected_seq = seq + 1;
        head = Some(Head {
            seq,
            hash: stored_hash.clone(),
            at,
        });
        prev = stored_hash;
    }
    if let Some(expected) = expected {
        match expected_found {
            None => problems.push(format!(
                "row {} (the head written down as {expected}) is gone: the log now ends at row {}; \
                 rows were deleted from the end",
                expected.seq,
                head.as_ref().map_or(0, |h| h.seq)
            )),
            Some(hash) if !hash.eq_ignore_ascii_case(&expected.hash) => problems.push(format!(
                "row {} no longer has the hash written down ({expected}): the log was rewritten \
                 up to there",
                expected.seq
            )),
            Some(_) => {}
        }
    }
    let cross_checked = cross_check(&mut read, &logged, &unkeyed, &mut problems).await?;
    Ok(Verification {
        rows: row_count,
        unkeyed_rows: unkeyed.len(),
        head,
        cross_checked,
        problems,
    })
}

/// What the log recorded, for the cross-check.
struct Recorded<'a> {
    logged: &'a [Logged],
    unkeyed: &'a [Unkeyed],
}

impl Recorded<'_> {
    /// Whether an unkeyed row recorded `action` on `request` at `at` (by `actor`, when given):
    /// what vouches for a row written before the key existed.
    fn before_the_key(&self, request: i64, action: &str, actor: Option<&str>, at: &str) -> bool {
        let subject = subject(request);
        self.unkeyed.iter().any(|row| {
            row.subject == subject
                && row.action == action
                && row.at == at
                && actor.is_none_or(|actor| row.actor == actor)
        })
    }
}

/// Checks each request's state, each decision and each operation against the latest keyed row
/// that changed it, and that every one the log recorded is still there.
async fn cross_check(
    read: &mut Read,
    logged: &[Logged],
    unkeyed: &[Unkeyed],
    problems: &mut Vec<String>,
) -> Result<CrossChecked, StoreError> {
    let recorded = Recorded { logged, unkeyed };
    let mut checked = CrossChecked::default();
    check_requests(read, &recorded, &mut checked, problems).await?;
    check_decisions(read, &recorded, &mut checked, problems).await?;
    check_operations(read, &recorded, &mut checked, problems).await?;
    Ok(checked)
}

async fn check_requests(
    read: &mut Read,
    recorded: &Recorded<'_>,
    checked: &mut CrossChecked,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    let requests = read.requests().all_for_audit().await?;
    let mut ids = HashSet::new();
    for row in &requests {
        let id = row.id;
        // The text as stored: a state deprov cannot even read is a mismatch to report.
        let state = row.state.as_str();
        ids.insert(id);
        let latest = recorded.logged.iter().rev().find_map(|l| {
            l.change
                .state
                .filter(|_| l.change.request == id)
                .map(|s| (l, s))
        });
        match latest {
            Some((_, logged)) if logged.as_str() == state => checked.requests += 1,
            Some((l, logged)) => problems.push(format!(
                "request #{id} is '{state}', but the audit log last recorded it moving to '{}' (row {}): \
                 its state was changed behind deprov's back",
                logged.as_str(),
                l.seq
            )),
            None if recorded.before_the_key(
                id,
                "request.create",
                Some(&row.requested_by),
                &row.created_at,
            ) =>
            {
                checked.predating += 1
            }
            None => problems.push(format!(
                "request #{id} has no audit row: it was written behind deprov's back"
            )),
        }
    }
    let mut gone = HashSet::new();
    for l in recorded.logged {
        if !ids.contains(&l.change.request) && gone.insert(l.change.request) {
            problems.push(format!(
                "request #{} (row {}) is gone from the requests table: it was deleted",
                l.change.request, l.seq
            ));
        }
    }
    Ok(())
}

async fn check_decisions(
    read: &mut Read,
    recorded: &Recorded<'_>,
    checked: &mut CrossChecked,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    let decisions = read.requests().all_decisions_for_audit().await?;
    let mut ids = HashSet::new();
    for row in &decisions {
        let (id, request) = (row.id, row.request_id);
        let (actor, kind, comment, at) = (
            row.actor.as_str(),
            row.decision.as_str(),
            row.comment.as_str(),
            row.at.as_str(),
        );
        ids.insert(id);
        let logged = recorded.logged.iter().find_map(|l| {
            l.change
                .decision
                .as_ref()
                .filter(|d| d.id == id)
                .map(|d| (l, d))
        });
        match logged {
            Some((l, d))
                if l.change.request == request
                    && l.actor == actor
                    && d.kind.as_str() == kind
                    && d.comment == comment
                    && l.at == at =>
            {
                checked.decisions += 1
            }
            Some((l, d)) => problems.push(format!(
                "decision #{id} was changed: the decisions table says '{kind}' by {actor} on request \
                 #{request} at {at} ({comment:?}), the audit log (row {}) '{}' by {} on request #{} at {} ({:?})",
                l.seq,
                d.kind.as_str(),
                l.actor,
                l.change.request,
                l.at,
                d.comment
            )),
            None if recorded.before_the_key(request, &format!("request.{kind}"), Some(actor), at) => {
                checked.predating += 1
            }
            None => problems.push(format!(
                "decision #{id} ('{kind}' by {actor} on request #{request}) has no audit row: it was added \
                 behind deprov's back"
            )),
        }
    }
    for l in recorded.logged {
        if let Some(d) = l.change.decision.as_ref().filter(|d| !ids.contains(&d.id)) {
            problems.push(format!(
                "decision #{} ('{}' by {} on request #{}, row {}) is gone from the decisions table: it was deleted",
                d.id,
                d.kind.as_str(),
                l.actor,
                l.change.request,
                l.seq
            ));
        }
    }
    Ok(())
}

async fn check_operations(
    read: &mut Read,
    recorded: &Recorded<'_>,
    checked: &mut CrossChecked,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    let operations = read.operations().all_for_audit().await?;
    let mut ids = HashSet::new();
    for row in &operations {
        let (id, request) = (row.id, row.request_id);
        let (kind, state) = (row.operation.as_str(), row.state.as_str());
        ids.insert(id);
        let latest = recorded.logged.iter().rev().find_map(|l| {
            l.change
                .operation
                .as_ref()
                .filter(|o| o.id == id)
                .map(|o| (l, o))
        });
        match latest {
            Some((l, o))
                if l.change.request == request
                    && o.kind.as_str() == kind
                    && o.state.as_str() == state =>
            {
                checked.operations += 1
            }
            Some((l, o)) => problems.push(format!(
                "operation #{id} is {kind} '{state}' on request #{request}, but the audit log last recorded \
                 {} '{}' on request #{} (row {}): it was changed behind deprov's back",
                o.kind.as_str(),
                o.state.as_str(),
                l.change.request,
                l.seq
            )),
            None if recorded.before_the_key(
                request,
                "execution.start",
                None,
                &row.started_at,
            ) =>
            {
                checked.predating += 1
            }
            None => problems.push(format!(
                "operation #{id} ({kind} on request #{request}) has no audit row: it was added behind deprov's back"
            )),
        }
    }
    let mut gone = HashSet::new();
    for l in recorded.logged {
        if let Some(o) = l
            .change
            .operation
            .as_ref()
            .filter(|o| !ids.contains(&o.id) && gone.insert(o.id))
        {
            problems.push(format!(
                "operation #{} ({} on request #{}, row {}) is gone from the operations table: it was deleted",
                o.id,
                o.kind.as_str(),
                l.change.request,
                l.seq
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ExpectedHead;

    #[test]
    fn a_head_is_read_as_verify_prints_it() {
        let hash = "AB".repeat(32);
        let head: ExpectedHead = format!("42:{hash}").parse().unwrap();
        assert_eq!(head.seq, 42);
        assert_eq!(head.hash, hash.to_ascii_lowercase());
        assert_eq!(
            head.to_string(),
            format!("42:{}", hash.to_ascii_lowercase())
        );
        for wrong in ["42", "x:ab", "42:abc", &format!("42:{}", "g".repeat(64))] {
            assert!(wrong.parse::<ExpectedHead>().is_err(), "{wrong}");
        }
    }
}
