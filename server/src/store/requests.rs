//! Requests and their decisions, and bulk batches.

use super::{StoreError, code_in, optional_stamp_in, parse_stamp, stamp, stamp_in, u32_in};
use crate::notify::RequestSummary;
use deprov_wire::directory::UserId;
use deprov_wire::workflow::{
    BatchState, BatchUser, DecisionKind, DecisionView, HeldBatch, NewRequest, OpenRequest,
    ReasonCategory, RequestState, Urgency,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The `requests` table and the `decisions` made on each.
pub struct Requests<'c>(pub(super) &'c mut AnyConnection);

/// A request as stored; [`crate::workflow`] adds what follows from it and the clock.
pub struct StoredRequest {
    pub id: i64,
    pub user_id: UserId,
    pub user_display_name: String,
    pub user_sam_account_name: String,
    pub user_sip_address: Option<String>,
    pub user_protected: bool,
    pub reason: ReasonCategory,
    pub reason_text: String,
    pub urgency: Urgency,
    pub effective_at: OffsetDateTime,
    pub grace_days: u32,
    pub protected_override: Option<String>,
    pub approvals_needed: u32,
    pub requested_by: String,
    pub created_at: OffsetDateTime,
    pub state: RequestState,
    pub state_changed_at: OffsetDateTime,
    pub version: i64,
    pub stage_two_due_at: Option<OffsetDateTime>,
    pub external_ref: Option<String>,
}

/// A new request, waiting for approval once inserted.
pub struct NewStoredRequest<'a> {
    pub user_id: UserId,
    pub user_display_name: &'a str,
    pub user_sam_account_name: &'a str,
    pub user_sip_address: Option<String>,
    pub user_protected: bool,
    pub reason: ReasonCategory,
    pub reason_text: &'a str,
    pub urgency: Urgency,
    pub effective_at: OffsetDateTime,
    pub grace_days: u32,
    pub protected_override: Option<&'a str>,
    pub approvals_needed: u32,
    pub requested_by: &'a str,
    pub created_at: OffsetDateTime,
    pub external_ref: Option<&'a str>,
}

/// Which requests a page lists (every condition given must hold).
pub struct RequestFilter<'a> {
    /// Only open ones.
    pub open: bool,
    /// Only those whose stage 2 is due by this instant (then longest due first).
    pub stage_two_due_by: Option<OffsetDateTime>,
    /// Only those this person filed (any case).
    pub requested_by: Option<&'a str>,
    pub user: Option<UserId>,
    pub external_ref: Option<&'a str>,
}

/// What deciding on a request needs to know about it.
pub struct DecisionFacts {
    pub state: RequestState,
    pub version: i64,
    pub requested_by: String,
    pub approvals_needed: u32,
}

/// A decision on a request, to be recorded.
pub struct NewDecision<'a> {
    pub by: &'a str,
    pub kind: DecisionKind,
    pub comment: &'a str,
    pub at: OffsetDateTime,
}

/// Why the clock alone makes a request worth announcing (see [`Requests::due_announcements`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Pending approval since before the overdue limit.
    Overdue,
    /// Stage 1 done and stage 2 due.
    StageTwo,
}

/// A request the clock made due, and since when (the stored text, to key the announcement).
pub struct DueRequest {
    pub id: i64,
    pub due: Due,
    pub since: String,
}

const SELECT_REQUEST: &str = "SELECT id, user_id, user_display_name, user_sam_account_name, user_sip_address, user_protected, \
     reason, reason_text, urgency, effective_at, grace_days, protected_override, approvals_needed, requested_by, created_at, \
     state, state_changed_at, version, stage_two_due_at, external_ref FROM requests";

/// `state IN (...)` of the open states ([`RequestState::is_open`]), for a WHERE clause.
fn open_states() -> String {
    let states: Vec<String> = RequestState::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("state IN ({})", states.join(", "))
}

fn stored_request(row: &AnyRow) -> Result<StoredRequest, StoreError> {
    Ok(StoredRequest {
        id: row.try_get("id")?,
        user_id: code_in(row, "user_id", |id| id.parse().ok())?,
        user_display_name: row.try_get("user_display_name")?,
        user_sam_account_name: row.try_get("user_sam_account_name")?,
        user_sip_address: row.try_get("user_sip_address")?,
        user_protected: row.try_get::<i64, _>("user_protected")? != 0,
        reason: code_in(row, "reason", ReasonCategory::parse)?,
        reason_text: row.try_get("reason_text")?,
        urgency: code_in(row, "urgency", Urgency::parse)?,
        effective_at: stamp_in(row, "effective_at")?,
        grace_days: u32_in(row, "grace_days")?,
        protected_override: row.try_get("protected_override")?,
        approvals_needed: u32_in(row, "approvals_needed")?,
        requested_by: row.try_get("requested_by")?,
        created_at: stamp_in(row, "created_at")?,
        state: code_in(row, "state", RequestState::parse)?,
        state_changed_at: stamp_in(row, "state_changed_at")?,
        version: row.try_get("version")?,
        stage_two_due_at: optional_stamp_in(row, "stage_two_due_at")?,
        external_ref: row.try_get("external_ref")?,
    })
}

impl Requests<'_> {
    /// Every user with an open request, and that request.
    pub async fn open(self) -> Result<HashMap<UserId, OpenRequest>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, user_id, state, stage_two_due_at FROM requests WHERE {}",
            open_states()
        ))
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                let user = code_in(row, "user_id", |id| id.parse::<UserId>().ok())?;
                let open = OpenRequest {
                    id: row.try_get("id")?,
                    state: code_in(row, "state", RequestState::parse)?,
                    stage_two_due_at: optional_stamp_in(row, "stage_two_due_at")?,
                };
                Ok((user, open))
            })
            .collect()
    }

    /// The request filed under `external_ref`, if any: its id and who filed it.
    pub async fn by_reference(
        self,
        external_ref: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let Some(row) =
            sqlx::query("SELECT id, requested_by FROM requests WHERE external_ref = $1")
                .bind(external_ref)
                .fetch_optional(&mut *self.0)
                .await?
        else {
            return Ok(None);
        };
        Ok(Some((row.try_get("id")?, row.try_get("requested_by")?)))
    }

    /// `user`'s open request, if any: its id, state and who filed it.
    pub async fn open_for(
        self,
        user: UserId,
    ) -> Result<Option<(i64, RequestState, String)>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT id, state, requested_by FROM requests WHERE user_id = $1 AND {}",
            open_states()
        ))
        .bind(user.to_string())
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            row.try_get("id")?,
            code_in(&row, "state", RequestState::parse)?,
            row.try_get("requested_by")?,
        )))
    }

    /// Files `new`, pending approval; returns its id.
    pub async fn insert(self, new: &NewStoredRequest<'_>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO requests (user_id, user_display_name, user_sam_account_name, user_sip_address, user_protected, reason, \
             reason_text, urgency, effective_at, grace_days, protected_override, approvals_needed, requested_by, created_at, state, \
             state_changed_at, external_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending_approval', $15, $16) RETURNING id",
        )
        .bind(new.user_id.to_string())
        .bind(new.user_display_name)
        .bind(new.user_sam_account_name)
        .bind(new.user_sip_address.as_deref())
        .bind(new.user_protected as i64)
        .bind(new.reason.as_str())
        .bind(new.reason_text)
        .bind(new.urgency.as_str())
        .bind(stamp(new.effective_at))
        .bind(i64::from(new.grace_days))
        .bind(new.protected_override)
        .bind(i64::from(new.approvals_needed))
        .bind(new.requested_by)
        .bind(stamp(new.created_at))
        .bind(stamp(new.created_at))
        .bind(new.external_ref)
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// One page of the requests `filter` selects, and how many there are in all: newest first,
    /// with hostile (immediate-disconnect) requests waiting for approval ahead of the rest; those
    /// due for stage 2 longest due first.
    pub async fn page(
        self,
        filter: &RequestFilter<'_>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<StoredRequest>, usize), StoreError> {
        // Each condition names its parameter by number: the values are bound in this order.
        let mut conditions = if filter.open {
            vec![open_states()]
        } else {
            Vec::new()
        };
        let mut values: Vec<String> = Vec::new();
        let mut condition = |text: &str, value: String| {
            values.push(value);
            conditions.push(text.replace("{}", &format!("${}", values.len())));
        };
        if let Some(by) = filter.stage_two_due_by {
            // julianday() compares instants, not text.
            condition(
                "state = 'stage_one_done' AND julianday(stage_two_due_at) <= julianday({})",
                stamp(by),
            );
        }
        if let Some(name) = filter.requested_by {
            condition("requested_by = {} COLLATE NOCASE", name.to_owned());
        }
        if let Some(id) = filter.user {
            condition("user_id = {}", id.to_string());
        }
        if let Some(reference) = filter.external_ref {
            condition("external_ref = {}", reference.to_owned());
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let order = if filter.stage_two_due_by.is_some() {
            "julianday(stage_two_due_at)"
        } else {
            "(state = 'pending_approval' AND urgency = 'immediate_disconnect') DESC, id DESC"
        };
        let count = format!("SELECT COUNT(*) FROM requests{filter_sql}");
        let mut total = sqlx::query_scalar::<_, i64>(&count);
        for value in &values {
            total = total.bind(value);
        }
        let total = total.fetch_one(&mut *self.0).await?;
        let sql = format!(
            "{SELECT_REQUEST}{filter_sql} ORDER BY {order} LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        let mut query = sqlx::query(&sql);
        for value in &values {
            query = query.bind(value);
        }
        let rows = query
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(&mut *self.0)
            .await?;
        let requests = rows.iter().map(stored_request).collect::<Result<_, _>>()?;
        Ok((requests, total as usize))
    }

    /// Request `id`, if there is one.
    pub async fn get(self, id: i64) -> Result<Option<StoredRequest>, StoreError> {
        sqlx::query(&format!("{SELECT_REQUEST} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?
            .as_ref()
            .map(stored_request)
            .transpose()
    }

    /// The decisions on request `id`, in the order they were made.
    pub async fn decisions(self, id: i64) -> Result<Vec<DecisionView>, StoreError> {
        let rows = sqlx::query(
            "SELECT actor, decision, comment, at FROM decisions WHERE request_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter().map(decision_view).collect()
    }

    /// What deciding on request `id` needs, if there is such a request.
    pub async fn decision_facts(self, id: i64) -> Result<Option<DecisionFacts>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT state, version, requested_by, approvals_needed FROM requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(DecisionFacts {
            state: code_in(&row, "state", RequestState::parse)?,
            version: row.try_get("version")?,
            requested_by: row.try_get("requested_by")?,
            approvals_needed: u32_in(&row, "approvals_needed")?,
        }))
    }

    /// Who approved request `id` so far.
    pub async fn approvers(self, id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT actor FROM decisions WHERE request_id = $1 AND decision = 'approve'",
        )
        .bind(id)
        .fetch_all(&mut *self.0)
        .await?)
    }

    /// Records `decision` on request `id`, which moves it to `next` if it is still at
    /// `version`; returns the decision's id.
    pub async fn decide(
        self,
        id: i64,
        version: i64,
        next: RequestState,
        decision: &NewDecision<'_>,
    ) -> Result<i64, StoreError> {
        sqlx::query("UPDATE requests SET state = $1, state_changed_at = $2, version = version + 1 WHERE id = $3 AND version = $4")
            .bind(next.as_str())
            .bind(stamp(decision.at))
            .bind(id)
            .bind(version)
            .execute(&mut *self.0)
            .await?;
        Ok(sqlx::query_scalar(
            "INSERT INTO decisions (request_id, actor, decision, comment, at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(id)
        .bind(decision.by)
        .bind(decision.kind.as_str())
        .bind(decision.comment)
        .bind(stamp(decision.at))
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// Requests pending approval, with when each was filed.
    pub async fn pending(self) -> Result<Vec<(i64, OffsetDateTime)>, StoreError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, created_at FROM requests WHERE state = 'pending_approval'")
                .fetch_all(&mut *self.0)
                .await?;
        rows.into_iter()
            .map(|(id, created_at)| Ok((id, parse_stamp(&created_at)?)))
            .collect()
    }

    /// Requests pending since `overdue_since` or before, and those whose stage 2 is due by
    /// `stage_two_by`.
    pub async fn due_announcements(
        self,
        overdue_since: OffsetDateTime,
        stage_two_by: OffsetDateTime,
    ) -> Result<Vec<DueRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, 'overdue' AS what, created_at AS since FROM requests \
             WHERE state = 'pending_approval' AND julianday(created_at) <= julianday($1) \
             UNION ALL SELECT id, 'stage_two_due', stage_two_due_at FROM requests \
             WHERE state = 'stage_one_done' AND julianday(stage_two_due_at) <= julianday($2)",
        )
        .bind(stamp(overdue_since))
        .bind(stamp(stage_two_by))
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueRequest {
                    id: row.try_get("id")?,
                    due: code_in(row, "what", |what| match what {
                        "overdue" => Some(Due::Overdue),
                        "stage_two_due" => Some(Due::StageTwo),
                        _ => None,
                    })?,
                    since: row.try_get("since")?,
                })
            })
            .collect()
    }

    /// How many requests were filed at or after `since`.
    pub async fn filed_since(self, since: OffsetDateTime) -> Result<usize, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM requests WHERE julianday(created_at) >= julianday($1)",
        )
        .bind(stamp(since))
        .fetch_one(&mut *self.0)
        .await?;
        Ok(count as usize)
    }

    /// Moves request `id` to "executing" if it is still at `version` (every change bumps it):
    /// the compare-and-swap that turns a double click or a second admin into a conflict.
    pub async fn start_executing(
        self,
        id: i64,
        version: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE requests SET state = 'executing', state_changed_at = $1, version = version + 1 WHERE id = $2 AND version = $3",
        )
        .bind(stamp(at))
        .bind(id)
        .bind(version)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Moves request `id` to `next` as its operation ends; `stage_two_due_at`, when given, is
    /// when stage 2 falls due.
    pub async fn end_execution(
        self,
        id: i64,
        next: RequestState,
        at: OffsetDateTime,
        stage_two_due_at: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE requests SET state = $1, state_changed_at = $2, version = version + 1, \
             stage_two_due_at = COALESCE($3, stage_two_due_at) WHERE id = $4",
        )
        .bind(next.as_str())
        .bind(stamp(at))
        .bind(stage_two_due_at.map(stamp))
        .bind(id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// The request `id` as it stands, as events carry it.
    pub async fn summary(self, id: i64) -> Result<RequestSummary, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_display_name, user_sam_account_name, requested_by, urgency, state, external_ref \
             FROM requests WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(RequestSummary {
            id: row.try_get("id")?,
            user_display_name: row.try_get("user_display_name")?,
            user_sam_account_name: row.try_get("user_sam_account_name")?,
            requested_by: row.try_get("requested_by")?,
            urgency: code_in(&row, "urgency", Urgency::parse)?,
            state: code_in(&row, "state", RequestState::parse)?,
            external_ref: row.try_get("external_ref")?,
        })
    }

    /// How many requests are open.
    pub async fn open_count(self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM requests WHERE {}",
            open_states()
        ))
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// Request `id`'s state.
    pub async fn state(self, id: i64) -> Result<RequestState, StoreError> {
        let row = sqlx::query("SELECT state FROM requests WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.0)
            .await?;
        code_in(&row, "state", RequestState::parse)
    }

    /// Every request as `deprov audit verify` compares it with the log: the text as stored.
    pub async fn all_for_audit(self) -> Result<Vec<super::audit_log::RequestAsStored>, StoreError> {
        sqlx::query("SELECT id, state, requested_by, created_at FROM requests ORDER BY id")
            .fetch_all(&mut *self.0)
            .await?
            .iter()
            .map(|row| {
                Ok(super::audit_log::RequestAsStored {
                    id: row.try_get("id")?,
                    state: row.try_get("state")?,
                    requested_by: row.try_get("requested_by")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Every decision as `deprov audit verify` compares it with the log: the text as stored.
    pub async fn all_decisions_for_audit(
        self,
    ) -> Result<Vec<super::audit_log::DecisionAsStored>, StoreError> {
        sqlx::query(
            "SELECT id, request_id, actor, decision, comment, at FROM decisions ORDER BY id",
        )
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(|row| {
            Ok(super::audit_log::DecisionAsStored {
                id: row.try_get("id")?,
                request_id: row.try_get("request_id")?,
                actor: row.try_get("actor")?,
                decision: row.try_get("decision")?,
                comment: row.try_get("comment")?,
                at: row.try_get("at")?,
            })
        })
        .collect()
    }
}

fn decision_view(row: &AnyRow) -> Result<DecisionView, StoreError> {
    Ok(DecisionView {
        actor: row.try_get("actor")?,
        decision: code_in(row, "decision", DecisionKind::parse)?,
        comment: row.try_get("comment")?,
        at: stamp_in(row, "at")?,
    })
}

/// The `bulk_batches` table: requests filed together, held for confirmation past the limit.
pub struct Batches<'c>(pub(super) &'c mut AnyConnection);

const SELECT_BATCH: &str = "SELECT id, filed_by, filed_at, users, limit_per_hour, filed_in_hour, state, decided_by, \
     decided_at, filed FROM bulk_batches";

impl Batches<'_> {
    /// Holds `requests` (for `users`) filed by `by` for a second admin; returns the batch's id.
    pub async fn hold(
        self,
        by: &str,
        at: OffsetDateTime,
        requests: &[&NewRequest],
        users: &[BatchUser],
        limit: usize,
        filed_in_hour: usize,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO bulk_batches (filed_by, filed_at, requests, users, limit_per_hour, filed_in_hour, state) \
             VALUES ($1, $2, $3, $4, $5, $6, 'held') RETURNING id",
        )
        .bind(by)
        .bind(stamp(at))
        .bind(to_json(&requests)?)
        .bind(to_json(&users)?)
        .bind(limit as i64)
        .bind(filed_in_hour as i64)
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// Batch `id`, if there is one.
    pub async fn get(self, id: i64) -> Result<Option<HeldBatch>, StoreError> {
        sqlx::query(&format!("{SELECT_BATCH} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?
            .as_ref()
            .map(batch_of)
            .transpose()
    }

    /// Batches held or being confirmed, and those decided since `since`, newest first (at most
    /// 100); only `filer`'s when given.
    pub async fn recent(
        self,
        since: OffsetDateTime,
        filer: Option<&str>,
    ) -> Result<Vec<HeldBatch>, StoreError> {
        sqlx::query(&format!(
            "{SELECT_BATCH} WHERE (state IN ('held', 'confirming') OR julianday(decided_at) >= julianday($1)) \
             AND ($2 IS NULL OR filed_by = $2 COLLATE NOCASE) ORDER BY id DESC LIMIT 100"
        ))
        .bind(stamp(since))
        .bind(filer)
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(batch_of)
        .collect()
    }

    /// Claims batch `id` for confirming by `by`: true if it was held, or its confirmation was
    /// claimed before `stale_before` (a crash mid-filing).
    pub async fn claim(
        self,
        id: i64,
        by: &str,
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE bulk_batches SET state = 'confirming', decided_by = $1, decided_at = $2 WHERE id = $3 \
             AND (state = 'held' OR (state = 'confirming' AND julianday(decided_at) < julianday($4)))",
        )
        .bind(by)
        .bind(stamp(at))
        .bind(id)
        .bind(stamp(stale_before))
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// The requests batch `id` holds.
    pub async fn requests(self, id: i64) -> Result<Vec<NewRequest>, StoreError> {
        let requests: String =
            sqlx::query_scalar("SELECT requests FROM bulk_batches WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *self.0)
                .await?;
        serde_json::from_str(&requests)
            .map_err(|e| StoreError::Unreadable(format!("bulk_batches.requests of #{id}: {e}")))
    }

    /// Moves batch `id` from `from` to `state` by `by`, with the requests `filed`: false if it
    /// was decided meanwhile (only a held batch, or one `by` is confirming, moves).
    pub async fn decide(
        self,
        id: i64,
        by: &str,
        at: OffsetDateTime,
        from: BatchState,
        state: BatchState,
        filed: &[i64],
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE bulk_batches SET state = $1, decided_by = $2, decided_at = $3, filed = $4 WHERE id = $5 AND state = $6 \
             AND (state = 'held' OR decided_by = $7)",
        )
        .bind(state.as_str())
        .bind(by)
        .bind(stamp(at))
        .bind(serde_json::json!(filed).to_string())
        .bind(id)
        .bind(from.as_str())
        .bind(by)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Unreadable(format!("a batch does not serialize: {e}")))
}

fn batch_of(row: &AnyRow) -> Result<HeldBatch, StoreError> {
    let id: i64 = row.try_get("id")?;
    let json = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let unreadable = |column: &str, e: serde_json::Error| {
        StoreError::Unreadable(format!("bulk_batches.{column} of #{id}: {e}"))
    };
    Ok(HeldBatch {
        id,
        filed_by: row.try_get("filed_by")?,
        filed_at: stamp_in(row, "filed_at")?,
        state: code_in(row, "state", BatchState::parse)?,
        users: serde_json::from_str(&json("users")?).map_err(|e| unreadable("users", e))?,
        limit: row.try_get::<i64, _>("limit_per_hour")? as usize,
        filed_in_hour: row.try_get::<i64, _>("filed_in_hour")? as usize,
        decided_by: row.try_get("decided_by")?,
        decided_at: optional_stamp_in(row, "decided_at")?,
        filed: serde_json::from_str(&json("filed")?).map_err(|e| unreadable("filed", e))?,
    })
}
