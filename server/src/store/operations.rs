//! Executions: operations, their steps, backups, verifications and re-enable asks.

use super::{StoreError, code_in, optional_stamp_in, stamp, stamp_in, u32_in};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, SipAddress, UserId};
use deprov_wire::execution::{
    Backup, Operation, OperationState, ReenableAsk, StepState, Verification, VerificationState,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

/// The `operations` table, with each operation's steps, the backups taken before them, the
/// checks of their effects (`verifications`) and the asks to give Lync back (`reenable_asks`).
pub struct Operations<'c>(pub(super) &'c mut AnyConnection);

/// An operation as stored (its steps apart).
pub struct StoredOperation {
    pub id: i64,
    pub operation: Operation,
    pub state: OperationState,
    pub started_by: String,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// One step as stored, with its verification if it has one.
#[derive(Debug, Clone)]
pub struct StoredStep {
    pub id: i64,
    pub position: u32,
    pub title: String,
    pub command: String,
    pub cmdlet: Option<Cmdlet>,
    pub state: StepState,
    pub attempts: u32,
    pub run_by: Option<String>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub output: String,
    pub error: Option<String>,
    pub note: Option<String>,
    pub verification: Option<Verification>,
}

/// A request's latest operation: what it was, how it stands, and whether a step of it is
/// running or of unknown outcome.
pub struct LatestOperation {
    pub id: i64,
    pub operation: Operation,
    pub state: OperationState,
    pub unsettled: bool,
}

/// A check of a step's effect that has not been made.
pub struct PendingVerification {
    pub id: i64,
    pub due_at: OffsetDateTime,
    pub request_id: i64,
    pub command: String,
    pub cmdlet: Option<Cmdlet>,
}

/// The latest SIP rename one of a user's requests made.
pub struct SipRename {
    pub request: i64,
    /// The address the request was filed with.
    pub original: Option<SipAddress>,
    /// The address it renamed the user to.
    pub renamed_to: SipAddress,
}

const SELECT_STEP: &str = "SELECT s.id, s.position, s.title, s.command, s.cmdlet, s.state, s.attempts, s.run_by, \
     s.started_at, s.finished_at, s.output, s.error, s.note, \
     v.state AS verification_state, v.due_at AS verification_due, v.outcome AS verification_outcome \
     FROM steps s LEFT JOIN verifications v ON v.step_id = s.id";

/// A stored cmdlet; one that does not read back is an error, never skipped.
fn stored_cmdlet(json: Option<String>) -> Result<Option<Cmdlet>, StoreError> {
    json.map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| StoreError::Unreadable(format!("stored cmdlet: {e}")))
}

fn stored_step(row: &AnyRow) -> Result<StoredStep, StoreError> {
    let verification = match row.try_get::<Option<String>, _>("verification_state")? {
        None => None,
        Some(_) => Some(Verification {
            state: code_in(row, "verification_state", VerificationState::parse)?,
            due_at: stamp_in(row, "verification_due")?,
            text: row.try_get("verification_outcome")?,
        }),
    };
    Ok(StoredStep {
        id: row.try_get("id")?,
        position: u32_in(row, "position")?,
        title: row.try_get("title")?,
        command: row.try_get("command")?,
        cmdlet: stored_cmdlet(row.try_get("cmdlet")?)?,
        state: code_in(row, "state", StepState::parse)?,
        attempts: u32_in(row, "attempts")?,
        run_by: row.try_get("run_by")?,
        started_at: optional_stamp_in(row, "started_at")?,
        finished_at: optional_stamp_in(row, "finished_at")?,
        output: row.try_get("output")?,
        error: row.try_get("error")?,
        note: row.try_get("note")?,
        verification,
    })
}

fn operation_in(row: &AnyRow) -> Result<Operation, StoreError> {
    code_in(row, "operation", Operation::parse)
}

impl Operations<'_> {
    /// The cmdlets of request `request_id`'s steps that are done, in the order they ran.
    pub async fn done_cmdlets(self, request_id: i64) -> Result<Vec<Cmdlet>, StoreError> {
        let done: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT s.cmdlet FROM steps s JOIN operations o ON s.operation_id = o.id \
             WHERE o.request_id = $1 AND s.state = 'done' AND s.cmdlet IS NOT NULL ORDER BY o.id, s.position",
        )
        .bind(request_id)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(done
            .into_iter()
            .map(stored_cmdlet)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Request `request_id`'s latest operation, if any.
    pub async fn latest(self, request_id: i64) -> Result<Option<LatestOperation>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT o.id, o.operation, o.state, (SELECT COUNT(*) FROM steps s WHERE s.operation_id = o.id \
             AND s.state IN ('unknown', 'running')) AS unsettled FROM operations o WHERE o.request_id = $1 \
             ORDER BY o.id DESC LIMIT 1",
        )
        .bind(request_id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(LatestOperation {
            id: row.try_get("id")?,
            operation: operation_in(&row)?,
            state: code_in(&row, "state", OperationState::parse)?,
            unsettled: row.try_get::<i64, _>("unsettled")? > 0,
        }))
    }

    /// The backups taken for request `request_id`, oldest first.
    pub async fn backups(self, request_id: i64) -> Result<Vec<Backup>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.taken_at, o.operation, b.user_json FROM backups b JOIN operations o ON b.operation_id = o.id \
             WHERE b.request_id = $1 ORDER BY b.id",
        )
        .bind(request_id)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Backup {
                    taken_at: stamp_in(row, "taken_at")?,
                    before: operation_in(row)?,
                    user: serde_json::from_str(row.try_get("user_json")?)
                        .map_err(|e| StoreError::Unreadable(format!("stored backup: {e}")))?,
                })
            })
            .collect()
    }

    /// Keeps `user`, read at `taken_at`, as the backup operation `operation_id` took.
    pub async fn store_backup(
        self,
        request_id: i64,
        operation_id: i64,
        taken_at: OffsetDateTime,
        user: &DirectoryUser,
    ) -> Result<(), StoreError> {
        let user = serde_json::to_string(user)
            .map_err(|e| StoreError::Unreadable(format!("a backup does not serialize: {e}")))?;
        sqlx::query("INSERT INTO backups (request_id, operation_id, taken_at, user_json) VALUES ($1, $2, $3, $4)")
            .bind(request_id)
            .bind(operation_id)
            .bind(stamp(taken_at))
            .bind(user)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Request `request_id`'s operations, oldest first.
    pub async fn of_request(self, request_id: i64) -> Result<Vec<StoredOperation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, operation, state, started_by, started_at, finished_at FROM operations WHERE request_id = $1 ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredOperation {
                    id: row.try_get("id")?,
                    operation: operation_in(row)?,
                    state: code_in(row, "state", OperationState::parse)?,
                    started_by: row.try_get("started_by")?,
                    started_at: stamp_in(row, "started_at")?,
                    finished_at: optional_stamp_in(row, "finished_at")?,
                })
            })
            .collect()
    }

    /// Operation `operation_id`'s steps, in order.
    pub async fn steps(self, operation_id: i64) -> Result<Vec<StoredStep>, StoreError> {
        sqlx::query(&format!(
            "{SELECT_STEP} WHERE s.operation_id = $1 ORDER BY s.position"
        ))
        .bind(operation_id)
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(stored_step)
        .collect()
    }

    /// The ask to give Lync back waiting on request `request_id`, with the request version it
    /// was made on.
    pub async fn ask(self, request_id: i64) -> Result<Option<(ReenableAsk, i64)>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT operation, version, reason, asked_by, asked_at FROM reenable_asks WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        let ask = ReenableAsk {
            operation: operation_in(&row)?,
            reason: row.try_get("reason")?,
            asked_by: row.try_get("asked_by")?,
            asked_at: stamp_in(&row, "asked_at")?,
        };
        Ok(Some((ask, row.try_get("version")?)))
    }

    /// Records `ask`, made on request version `version`, in place of any earlier one.
    pub async fn record_ask(
        self,
        request_id: i64,
        ask: &ReenableAsk,
        version: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reenable_asks (request_id, operation, version, reason, asked_by, asked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO UPDATE SET operation = excluded.operation, \
             version = excluded.version, reason = excluded.reason, asked_by = excluded.asked_by, \
             asked_at = excluded.asked_at",
        )
        .bind(request_id)
        .bind(ask.operation.as_str())
        .bind(version)
        .bind(&ask.reason)
        .bind(&ask.asked_by)
        .bind(stamp(ask.asked_at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Removes the ask on request `request_id` (it was confirmed).
    pub async fn drop_ask(self, request_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM reenable_asks WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Records `operation` on request `request_id`, started and driven by `by`, running under
    /// `lease_holder`'s lease until `lease_expires_at`; returns its id.
    pub async fn start(
        self,
        request_id: i64,
        operation: Operation,
        by: &str,
        at: OffsetDateTime,
        lease_holder: &str,
        lease_expires_at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO operations (request_id, operation, state, started_by, driven_by, started_at, lease_holder, \
             lease_expires_at) VALUES ($1, $2, 'running', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(request_id)
        .bind(operation.as_str())
        .bind(by)
        .bind(by)
        .bind(stamp(at))
        .bind(lease_holder)
        .bind(stamp(lease_expires_at))
        .fetch_one(&mut *self.0)
        .await?)
    }

    /// Adds a pending step to operation `operation_id`.
    pub async fn add_step(
        self,
        operation_id: i64,
        position: u32,
        title: &str,
        command: &str,
        cmdlet: Option<&Cmdlet>,
    ) -> Result<(), StoreError> {
        let cmdlet = cmdlet
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Unreadable(format!("a cmdlet does not serialize: {e}")))?;
        sqlx::query(
            "INSERT INTO steps (operation_id, position, title, command, cmdlet, state) VALUES ($1, $2, $3, $4, $5, 'pending')",
        )
        .bind(operation_id)
        .bind(i64::from(position))
        .bind(title)
        .bind(command)
        .bind(cmdlet)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// Runs failed operation `operation_id` again, driven by `by` under `lease_holder`'s lease;
    /// its failed steps go back to pending, their last error kept in the note.
    pub async fn resume(
        self,
        operation_id: i64,
        by: &str,
        lease_holder: &str,
        lease_expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE operations SET state = 'running', driven_by = $1, finished_at = NULL, lease_holder = $2, \
             lease_expires_at = $3 WHERE id = $4",
        )
        .bind(by)
        .bind(lease_holder)
        .bind(stamp(lease_expires_at))
        .bind(operation_id)
        .execute(&mut *self.0)
        .await?;
        sqlx::query(
            "UPDATE steps SET state = 'pending', \
             note = COALESCE(note || ' ', '') || 'Attempt ' || attempts || ' failed: ' || COALESCE(error, 'no answer') || '.', \
             error = NULL WHERE operation_id = $1 AND state = 'failed'",
        )
        .bind(operation_id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// The request and the driver of operation `operation_id`, if it is running.
    pub async fn running_one(self, operation_id: i64) -> Result<Option<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT request_id, driven_by FROM operations WHERE id = $1 AND state = 'running'",
        )
        .bind(operation_id)
        .fetch_optional(&mut *self.0)
        .await?)
    }

    /// Every running operation and its request, oldest first.
    pub async fn running(self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, request_id FROM operations WHERE state = 'running' ORDER BY id",
        )
        .fetch_all(&mut *self.0)
        .await?)
    }

    /// Extends `lease_holder`'s lease on running operation `operation_id` to
    /// `lease_expires_at`. False if it no longer holds it or the operation ended.
    pub async fn renew_lease(
        self,
        operation_id: i64,
        lease_holder: &str,
        lease_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE operations SET lease_expires_at = $1 WHERE id = $2 AND state = 'running' AND lease_holder = $3",
        )
        .bind(stamp(lease_expires_at))
        .bind(operation_id)
        .bind(lease_holder)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Who holds the lease on operation `operation_id`, if it is running and leased.
    pub async fn lease_holder(self, operation_id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT lease_holder FROM operations WHERE id = $1 AND state = 'running'",
        )
        .bind(operation_id)
        .fetch_optional(&mut *self.0)
        .await?
        .flatten())
    }

    /// Gives `lease_holder` the lease on running operation `operation_id` if nobody alive holds
    /// it (no holder, `lease_holder` itself, or a lease lapsed by `now`): one statement, so two
    /// instances never both take it.
    pub async fn take_over(
        self,
        operation_id: i64,
        lease_holder: &str,
        lease_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE operations SET lease_holder = $1, lease_expires_at = $2 WHERE id = $3 AND state = 'running' \
             AND (lease_holder IS NULL OR lease_holder = $1 OR julianday(lease_expires_at) < julianday($4))",
        )
        .bind(lease_holder)
        .bind(stamp(lease_expires_at))
        .bind(operation_id)
        .bind(stamp(now))
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Marks step `step_id` running for `by`, one more attempt, if it is still pending.
    pub async fn mark_running(
        self,
        step_id: i64,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE steps SET state = 'running', attempts = attempts + 1, run_by = $1, started_at = $2, finished_at = NULL \
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(by)
        .bind(stamp(at))
        .bind(step_id)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records how step `step_id` ended, if it is still in state `from`; `note` is added to
    /// any note it has.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_step(
        self,
        step_id: i64,
        from: StepState,
        state: StepState,
        at: OffsetDateTime,
        output: &str,
        error: Option<&str>,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE steps SET state = $1, finished_at = $2, output = $3, error = $4, \
             note = CASE WHEN $5 IS NULL THEN note ELSE COALESCE(note || ' ', '') || $6 END WHERE id = $7 AND state = $8",
        )
        .bind(state.as_str())
        .bind(stamp(at))
        .bind(output)
        .bind(error)
        .bind(note)
        .bind(note)
        .bind(step_id)
        .bind(from.as_str())
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Schedules the check of step `step_id`'s effect at `due_at` (once).
    pub async fn schedule_verification(
        self,
        step_id: i64,
        request_id: i64,
        due_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO verifications (step_id, request_id, due_at, state) VALUES ($1, $2, $3, 'pending') \
             ON CONFLICT DO NOTHING",
        )
        .bind(step_id)
        .bind(request_id)
        .bind(stamp(due_at))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    /// What operation `operation_id` is.
    pub async fn kind(self, operation_id: i64) -> Result<Operation, StoreError> {
        let row = sqlx::query("SELECT operation FROM operations WHERE id = $1")
            .bind(operation_id)
            .fetch_one(&mut *self.0)
            .await?;
        operation_in(&row)
    }

    /// Ends running operation `operation_id` as `ended`. False if it had ended already.
    pub async fn end(
        self,
        operation_id: i64,
        ended: OperationState,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE operations SET state = $1, finished_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(ended.as_str())
        .bind(stamp(at))
        .bind(operation_id)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// Why operation `operation_id` failed: its last failed or unknown step's error (or title).
    pub async fn failure(self, operation_id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(error, title) FROM steps WHERE operation_id = $1 AND state IN ('failed', 'unknown') \
             ORDER BY position DESC LIMIT 1",
        )
        .bind(operation_id)
        .fetch_optional(&mut *self.0)
        .await?)
    }

    /// The checks not made yet, earliest due first.
    pub async fn pending_verifications(self) -> Result<Vec<PendingVerification>, StoreError> {
        sqlx::query(
            "SELECT v.id, v.due_at, v.request_id, s.cmdlet, s.command FROM verifications v \
             JOIN steps s ON s.id = v.step_id WHERE v.state = 'pending' ORDER BY v.due_at",
        )
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(|row| {
            Ok(PendingVerification {
                id: row.try_get("id")?,
                due_at: stamp_in(row, "due_at")?,
                request_id: row.try_get("request_id")?,
                command: row.try_get("command")?,
                cmdlet: stored_cmdlet(row.try_get("cmdlet")?)?,
            })
        })
        .collect()
    }

    /// Records check `id`'s verdict, if it was still pending.
    pub async fn record_verification(
        self,
        id: i64,
        state: VerificationState,
        at: OffsetDateTime,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE verifications SET state = $1, checked_at = $2, outcome = $3 WHERE id = $4 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(stamp(at))
        .bind(outcome)
        .bind(id)
        .execute(&mut *self.0)
        .await?
        .rows_affected()
            == 1)
    }

    /// The operation whose step check `id` checks.
    pub async fn verified_operation(self, id: i64) -> Result<Operation, StoreError> {
        let row = sqlx::query(
            "SELECT o.operation FROM verifications v JOIN steps s ON s.id = v.step_id \
             JOIN operations o ON o.id = s.operation_id WHERE v.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *self.0)
        .await?;
        operation_in(&row)
    }

    /// The latest SIP address change a request for `user` made, if any.
    pub async fn last_sip_rename(self, user: UserId) -> Result<Option<SipRename>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT r.id, r.user_sip_address, s.cmdlet FROM requests r \
             JOIN operations o ON o.request_id = r.id JOIN steps s ON s.operation_id = o.id \
             WHERE r.user_id = $1 AND s.state = 'done' AND s.cmdlet LIKE '%\"cmdlet\":\"set_cs_user_sip_address\"%' \
             ORDER BY s.id DESC LIMIT 1",
        )
        .bind(user.to_string())
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        let Some(Cmdlet::SetCsUserSipAddress { sip_address, .. }) =
            stored_cmdlet(row.try_get("cmdlet")?)?
        else {
            return Err(StoreError::Unreadable(
                "a SIP rename step's cmdlet".to_owned(),
            ));
        };
        let original = row
            .try_get::<Option<String>, _>("user_sip_address")?
            .map(|text| {
                SipAddress::try_from(text.clone()).map_err(|_| {
                    StoreError::Unreadable(format!("requests.user_sip_address = {text:?}"))
                })
            })
            .transpose()?;
        Ok(Some(SipRename {
            request: row.try_get("id")?,
            original,
            renamed_to: sip_address,
        }))
    }

    /// Every operation as `deprov audit verify` compares it with the log: the text as stored.
    pub async fn all_for_audit(
        self,
    ) -> Result<Vec<super::audit_log::OperationAsStored>, StoreError> {
        sqlx::query(
            "SELECT id, request_id, operation, state, started_at FROM operations ORDER BY id",
        )
        .fetch_all(&mut *self.0)
        .await?
        .iter()
        .map(|row| {
            Ok(super::audit_log::OperationAsStored {
                id: row.try_get("id")?,
                request_id: row.try_get("request_id")?,
                operation: row.try_get("operation")?,
                state: row.try_get("state")?,
                started_at: row.try_get("started_at")?,
            })
        })
        .collect()
    }

    /// Who last held the lease on operation `operation_id`, running or not.
    #[cfg(test)]
    pub async fn holder(self, operation_id: i64) -> Result<String, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT lease_holder FROM operations WHERE id = $1")
                .bind(operation_id)
                .fetch_one(&mut *self.0)
                .await?,
        )
    }
}
