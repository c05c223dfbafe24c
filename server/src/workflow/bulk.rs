//! Bulk filing with a blast-radius limit: many requests at once (a JSON array, or a CSV file),
//! each row checked and answered on its own. A batch that would take the requests filed in the
//! last hour above the limit files nothing: it is held until a second admin confirms it, as AD
//! Connect's accidental-deletion threshold holds an export, and the held batch shows who it
//! would cut off.

use super::{Checked, Filed, Mode, Readable, Workflow, WorkflowError, refused};
use crate::audit::{self, Event};
use crate::directory::Snapshot;
use crate::notify::{self, Notice};
use crate::report::ReportConfig;
use deprov_wire::workflow::{
    BatchState, BatchUser, BulkOutcome, BulkResult, HeldBatch, MAX_BULK, NewRequest,
    ReasonCategory, Urgency,
};
use time::OffsetDateTime;

/// Requests an hour may bring without a second admin, unless `--bulk-threshold` says otherwise.
pub const DEFAULT_BULK_THRESHOLD: usize = 20;

/// The blast-radius limit for a directory of `users`: `--bulk-threshold` if given, otherwise
/// 20 requests an hour or 1% of the directory, whichever is lower (at least one).
pub fn blast_radius(configured: Option<usize>, users: usize) -> usize {
    configured.unwrap_or_else(|| DEFAULT_BULK_THRESHOLD.min((users / 100).max(1)))
}

/// How long a confirmation may be under way before another admin may take it over (its admin's
/// process died mid-filing).
const STALE_CONFIRMATION: time::Duration = time::Duration::minutes(10);

/// One row of a batch: a request, or why the row could not be read.
pub type BulkRow = Result<NewRequest, String>;

/// The columns a CSV file of requests may have (a header row names them, in any order).
pub const CSV_COLUMNS: [&str; 8] = [
    "user",
    "reason",
    "reason_text",
    "urgency",
    "effective_at",
    "grace_days",
    "external_ref",
    "protected_override",
];

/// The rows of a CSV file of requests: each row a request, or why it cannot be read. A file
/// without the header's required columns is refused whole.
pub fn rows_from_csv(text: &str) -> Result<Vec<BulkRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("The first row must name the columns: {e}"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let missing: Vec<&str> = ["user", "reason", "reason_text", "urgency"]
        .into_iter()
        .filter(|c| column(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "The header row lacks {}: the columns are {} (the last four optional).",
            missing.join(", "),
            CSV_COLUMNS.join(", ")
        ));
    }
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(&h.as_str())) {
        return Err(format!(
            "Unknown column '{unknown}': the columns are {}.",
            CSV_COLUMNS.join(", ")
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let row = record
            .map_err(|e| format!("Not CSV: {e}"))
            .and_then(|record| {
                let cell = |name: &str| {
                    column(name)
                        .and_then(|i| record.get(i))
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                };
                request_of(&cell)
            });
        rows.push(row);
        if rows.len() > MAX_BULK {
            return Err(format!("At most {MAX_BULK} rows in one file."));
        }
    }
    Ok(rows)
}

/// One CSV row as a request.
fn request_of(cell: &dyn Fn(&str) -> Option<String>) -> Result<NewRequest, String> {
    let reason = cell("reason").unwrap_or_default();
    let reason = ReasonCategory::parse(&reason.to_ascii_lowercase()).ok_or_else(|| {
        let known: Vec<&str> = ReasonCategory::ALL.iter().map(|r| r.as_str()).collect();
        format!("reason '{reason}' is not one of {}.", known.join(", "))
    })?;
    let urgency = cell("urgency").unwrap_or_default();
    let urgency = Urgency::parse(&urgency.to_ascii_lowercase()).ok_or_else(|| {
        let known: Vec<&str> = Urgency::ALL.iter().map(|u| u.as_str()).collect();
        format!("urgency '{urgency}' is not one of {}.", known.join(", "))
    })?;
    let effective_at = cell("effective_at")
        .map(|text| {
            OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).map_err(
                |_| format!("effective_at '{text}' is not a moment like 2026-12-01T09:00:00Z."),
            )
        })
        .transpose()?;
    let grace_days = cell("grace_days")
        .map(|text| {
            text.parse::<u32>()
                .map_err(|_| format!("grace_days '{text}' is not a number of days."))
        })
        .transpose()?;
    Ok(NewRequest {
        user_id: None,
        user: Some(cell("user").ok_or("The user is missing.")?),
        external_ref: cell("external_ref"),
        reason,
        reason_text: cell("reason_text").unwrap_or_default(),
        urgency,
        effective_at,
        grace_days,
        protected_override: cell("protected_override"),
    })
}

impl Workflow {
    /// Checks every row of a batch, then files the rows that pass, or holds them all for a
    /// second admin when they would take the hour's filings above the limit.
    pub async fn create_many(
        &self,
        by: &str,
        rows: Vec<BulkRow>,
        directory: &Snapshot,
        exclusions: &ReportConfig,
    ) -> Result<BulkOutcome, WorkflowError> {
        if rows.is_empty() || rows.len() > MAX_BULK {
            return Err(refused(
                "requests",
                format!("Send from 1 to {MAX_BULK} requests."),
            ));
        }
        // First every row alone: each is answered, and the limit counts only what would file.
        let mut results = Vec::with_capacity(rows.len());
        let mut would_file: Vec<(usize, NewRequest)> = Vec::new();
        for (index, row) in rows.into_iter().enumerate() {
            let mut result = BulkResult {
                row: index + 1,
                user_id: None,
                display_name: None,
                request: None,
                existing: false,
                refused: None,
            };
            match row {
                Err(why) => result.refused = Some(why),
                Ok(new) => match self
                    .file_or_check(by, new.clone(), directory, exclusions, Mode::Check)
                    .await
                {
                    Ok(Checked::WouldFile(user)) => {
                        result.user_id = Some(user);
                        result.display_name =
                            directory.user(user).map(|u| u.ad.display_name.clone());
                        if let Some((first, _)) =
                            would_file.iter().find(|(_, n)| n.user_id == Some(user))
                        {
                            result.refused = Some(format!(
                                "The same user as row {}: one request each.",
                                first + 1
                            ));
                        } else {
                            would_file.push((
                                index,
                                NewRequest {
                                    user_id: Some(user),
                                    user: None,
                                    ..new
                                },
                            ));
                        }
                    }
                    Ok(Checked::Filed(filed)) => {
                        let view = (*filed).view();
                        result.user_id = Some(view.user_id);
                        result.display_name = Some(view.user_display_name);
                        result.request = Some(view.id);
                        result.existing = true;
                    }
                    Err(
                        WorkflowError::Refused { message, .. } | WorkflowError::Conflict(message),
                    ) => result.refused = Some(message),
                    Err(other) => return Err(other),
                },
            }
            results.push(result);
        }
        // Counted and filed under one gate, here and across instances: two batches at once
        // cannot each fill the hour.
        let _gate = self.bulk_gate.lock().await;
        let _exclusive = self.store.exclusive(crate::store::BULK_LOCK).await?;
        let limit = blast_radius(self.policy.bulk_threshold, directory.users().len());
        let filed_in_hour = self
            .store
            .read()
            .await?
            .requests()
            .filed_since(OffsetDateTime::now_utc() - time::Duration::hours(1))
            .await?;
        let held = if !would_file.is_empty() && filed_in_hour + would_file.len() > limit {
            Some(
                self.hold(by, &would_file, directory, limit, filed_in_hour)
                    .await?,
            )
        } else {
            for (index, new) in would_file {
                let result = &mut results[index];
                match self.file(by, new, directory, exclusions).await {
                    Ok(filed) => result.request = Some(filed.view().id),
                    // Changed since the check (someone filed for the user meanwhile).
                    Err(
                        WorkflowError::Refused { message, .. } | WorkflowError::Conflict(message),
                    ) => result.refused = Some(message),
                    Err(other) => return Err(other),
                }
            }
            None
        };
        let filed = results.iter().filter(|r| r.request.is_some()).count();
        let refused = results.iter().filter(|r| r.refused.is_some()).count();
        Ok(BulkOutcome {
            results,
            filed,
            refused,
            held,
        })
    }

    /// Records `rows` as a batch held for a second admin.
    async fn hold(
        &self,
        by: &str,
        rows: &[(usize, NewRequest)],
        directory: &Snapshot,
        limit: usize,
        filed_in_hour: usize,
    ) -> Result<HeldBatch, WorkflowError> {
        let users: Vec<BatchUser> = rows
            .iter()
            .filter_map(|(_, new)| {
                let user = directory.user(new.user_id?)?;
                Some(BatchUser {
                    user_id: user.id,
                    display_name: user.ad.display_name.clone(),
                    sam_account_name: user.ad.sam_account_name.clone(),
                    department: user.ad.department.clone(),
                    urgency: new.urgency,
                })
            })
            .collect();
        let requests: Vec<&NewRequest> = rows.iter().map(|(_, new)| new).collect();
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let id = write
            .batches()
            .hold(by, now, &requests, &users, limit, filed_in_hour)
            .await?;
        let names: Vec<&str> = users.iter().map(|u| u.sam_account_name.as_str()).collect();
        audit::append(
            &mut write,
            now,
            Event {
                actor: by,
                action: "bulk.hold",
                subject: &format!("batch #{id}"),
                details: format!(
                    "{} requests held for a second admin ({filed_in_hour} filed in the hour before; the limit is {limit} an hour): {}",
                    users.len(),
                    names.join(", ")
                ),
                change: None,
            },
        )
        .await?;
        let notice = Notice::BatchHeld {
            batch: id,
            filed_by: by.to_owned(),
            users: users.len(),
        };
        notify::emit(&mut write, now, None, notice).await?;
        write.commit().await?;
        self.batch(id).await
    }

    /// Batch `id`.
    pub async fn batch(&self, id: i64) -> Result<HeldBatch, WorkflowError> {
        self.store
            .read()
            .await?
            .batches()
            .get(id)
            .await?
            .ok_or(WorkflowError::NoBatch(id))
    }

    /// Batches held or being confirmed, and those decided in the last week, newest first, as
    /// `reader` may see them.
    pub async fn batches(&self, reader: Readable<'_>) -> Result<Vec<HeldBatch>, WorkflowError> {
        let week_ago = OffsetDateTime::now_utc() - time::Duration::days(7);
        let filer = match reader {
            Readable::Every => None,
            Readable::RequestedBy(name) => Some(name),
        };
        Ok(self
            .store
            .read()
            .await?
            .batches()
            .recent(week_ago, filer)
            .await?)
    }

    /// A second admin confirms held batch `id`: its requests are filed as its filer's, each
    /// checked again now (each still needs its approvals).
    pub async fn confirm_batch(
        &self,
        id: i64,
        by: &str,
        directory: &Snapshot,
        exclusions: &ReportConfig,
    ) -> Result<BulkOutcome, WorkflowError> {
        let batch = self.batch(id).await?;
        if batch.filed_by.eq_ignore_ascii_case(by) {
            return Err(WorkflowError::NotYours(format!(
                "You filed batch #{id}: a second admin confirms it."
            )));
        }
        // Claimed before anything is filed: a discard or a second confirmation meanwhile is
        // refused. A claim left by a crash mid-filing may be taken again after a while, and
        // confirming again finds the users already filed and files the rest.
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let claimed = write
            .batches()
            .claim(id, by, now, now - STALE_CONFIRMATION)
            .await?;
        write.commit().await?;
        if !claimed {
            let batch = self.batch(id).await?;
            return Err(WorkflowError::Conflict(match batch.state {
                BatchState::Confirming => format!(
                    "Batch #{id} is being confirmed by {}.",
                    batch.decided_by.unwrap_or_default()
                ),
                state => format!("Batch #{id} is already {}.", state.as_str()),
            }));
        }
        let requests = self.store.read().await?.batches().requests(id).await?;
        // Filed first, then marked: a crash in between leaves it held, and confirming again finds
        // the users already filed ("already has an open request") and files the rest.
        let mut results = Vec::with_capacity(requests.len());
        for (index, new) in requests.into_iter().enumerate() {
            let user_id = new.user_id;
            let mut result = BulkResult {
                row: index + 1,
                user_id,
                display_name: user_id
                    .and_then(|u| directory.user(u))
                    .map(|u| u.ad.display_name.clone()),
                request: None,
                existing: false,
                refused: None,
            };
            match self.file(&batch.filed_by, new, directory, exclusions).await {
                Ok(Filed::New(view)) => result.request = Some(view.id),
                Ok(Filed::Existing(view)) => {
                    result.request = Some(view.id);
                    result.existing = true;
                }
                Err(WorkflowError::Refused { message, .. } | WorkflowError::Conflict(message)) => {
                    result.refused = Some(message)
                }
                Err(other) => return Err(other),
            }
            results.push(result);
        }
        let filed: Vec<i64> = results.iter().filter_map(|r| r.request).collect();
        let held = self
            .decide_batch(
                id,
                by,
                BatchState::Confirming,
                BatchState::Confirmed,
                &filed,
            )
            .await?;
        let refused = results.iter().filter(|r| r.refused.is_some()).count();
        Ok(BulkOutcome {
            filed: filed.len(),
            refused,
            results,
            held: Some(held),
        })
    }

    /// Drops held batch `id` (its filer, or an admin): nothing is filed.
    pub async fn discard_batch(
        &self,
        id: i64,
        by: &str,
        admin: bool,
    ) -> Result<HeldBatch, WorkflowError> {
        let batch = self.batch(id).await?;
        // Someone else's batch is none of a requester's business, not even that it exists.
        if !admin && !batch.filed_by.eq_ignore_ascii_case(by) {
            return Err(WorkflowError::NoBatch(id));
        }
        self.decide_batch(id, by, BatchState::Held, BatchState::Discarded, &[])
            .await
    }

    /// Moves batch `id` from `from` to `state`, recording who and what was filed.
    async fn decide_batch(
        &self,
        id: i64,
        by: &str,
        from: BatchState,
        state: BatchState,
        filed: &[i64],
    ) -> Result<HeldBatch, WorkflowError> {
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        if !write
            .batches()
            .decide(id, by, now, from, state, filed)
            .await?
        {
            return Err(WorkflowError::Conflict(format!(
                "Batch #{id} was decided meanwhile."
            )));
        }
        let action = format!(
            "bulk.{}",
            if state == BatchState::Confirmed {
                "confirm"
            } else {
                "discard"
            }
        );
        let details = if filed.is_empty() {
            "nothing filed".to_owned()
        } else {
            let ids: Vec<String> = filed.iter().map(|id| format!("#{id}")).collect();
            format!("filed requests {}", ids.join(", "))
        };
        audit::append(
            &mut write,
            now,
            Event {
                actor: by,
                action: &action,
                subject: &format!("batch #{id}"),
                details,
                change: None,
            },
        )
        .await?;
        write.commit().await?;
        self.batch(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::blast_radius;

    #[test]
    fn the_limit_is_twenty_an_hour_or_one_percent_whichever_is_lower() {
        assert_eq!(blast_radius(None, 100_000), 20);
        assert_eq!(blast_radius(None, 1_500), 15);
        assert_eq!(blast_radius(None, 50), 1, "at least one");
        assert_eq!(blast_radius(Some(500), 1_500), 500, "as configured");
    }
}
