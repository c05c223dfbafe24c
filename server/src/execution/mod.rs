//! Running approved requests against Lync, step by step: exactly once, crash-safe, with a
//! backup before anything that destroys or hides data, progress pushed to every watching page,
//! and every step in the audit log with its command, outcome and the admin who ran it.
//!
//! A step's state is committed before the backend call (`running`) and after it (`done`,
//! `failed`). A step left `running` by a crash, or `unknown` after a timeout, is settled by
//! reading the user back ([`plan::took_effect`]); it is never repeated blindly.

pub mod plan;
pub mod verify;

use crate::audit::{self, Change, Event};
use crate::backend::{BackendError, Deployment, DirectorySource, LyncShell};
use crate::directory::Directory;
use crate::notify::{self, Notice};
use crate::predict;
use crate::store::operations::{PendingVerification, StoredStep};
use crate::store::{Store, StoreError, Write};
use crate::workflow::{Narrow, Readable, Show, Workflow, WorkflowError};
use deprov_wire::api::SipRenamed;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, NOT_KNOWN_WITHOUT_SHELL, SipAddress, UserId};
use deprov_wire::execution::{
    Backup, BackupDocument, ExecutionView, Operation, OperationPlan, OperationState, OperationView,
    READ_ONLY, ReenableAsk, StepState, StepView, VerificationState,
};
use deprov_wire::workflow::{RequestState, RequestView};
use plan::{History, Situation};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// Who runs stage 2 when automatic stage 2 is on.
pub const AUTOMATIC: &str = "deprov (automatic stage 2)";
/// Who settles what a restart left behind.
const RECOVERY: &str = "deprov (restart)";

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    /// Cannot run, for a reason the admin can read (422).
    #[error("{message}")]
    Refused {
        message: String,
        field: Option<&'static str>,
    },
    /// The request changed meanwhile, or something is already running (409).
    #[error("{0}")]
    Conflict(String),
    /// This admin may not do it: they asked for it, and another must confirm (403).
    #[error("{0}")]
    NotYours(String),
    #[error("No request #{0}.")]
    NotFound(i64),
    /// The backend could not be read before starting: nothing ran (503).
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WorkflowError> for ExecutionError {
    fn from(error: WorkflowError) -> Self {
        match error {
            WorkflowError::NotFound(id) => Self::NotFound(id),
            WorkflowError::Store(e) => Self::Store(e),
            WorkflowError::Conflict(m) | WorkflowError::NotYours(m) => Self::Conflict(m),
            WorkflowError::Refused { message, field } => Self::Refused { message, field },
            WorkflowError::NoBatch(_) => Self::Conflict(error.to_string()),
        }
    }
}

/// What [`Executor::begin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// The operation is recorded and ready to drive.
    Started(i64),
    /// The ask is recorded: a second admin must confirm it.
    Asked,
}

/// How long an ask waits for a second admin: after a day, whoever wants it asks again, so a
/// confirmation always answers a recent, deliberate ask.
const ASK_LIFETIME: time::Duration = time::Duration::hours(24);

/// The longest reason for giving Lync back.
const MAX_REASON: usize = 2_000;

fn refused(message: impl Into<String>) -> ExecutionError {
    ExecutionError::Refused {
        message: message.into(),
        field: None,
    }
}

/// How a step ended, to be written.
struct Outcome {
    state: StepState,
    output: String,
    error: Option<String>,
    note: Option<String>,
}

/// Removes an operation from the sets being driven and claimed when its driver ends, however
/// it ends.
struct Driving {
    sets: [Arc<Mutex<HashSet<i64>>>; 2],
    operation: i64,
}

impl Drop for Driving {
    fn drop(&mut self) {
        for set in &self.sets {
            set.lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.operation);
        }
    }
}

/// What [`Executor::subscribe`] sends when any request may have changed (ids start at 1).
pub const EVERY_REQUEST: i64 = 0;

#[derive(Clone)]
pub struct Executor {
    store: Store,
    /// Where users are read back from, and the deployment's clock.
    source: Arc<dyn DirectorySource>,
    /// What runs cmdlets; `None`: deprov is read-only and nothing runs.
    shell: Option<Arc<dyn LyncShell>>,
    workflow: Workflow,
    directory: Directory,
    /// How long one backend call may take before its outcome counts as unknown.
    step_timeout: Duration,
    /// The id of every request whose execution changed.
    changes: broadcast::Sender<i64>,
    /// Operations a task of this process is driving: a second driver returns at once.
    driving: Arc<Mutex<HashSet<i64>>>,
    /// Operations this process started or retried and whose driver has not ended (it may not
    /// have begun yet): the periodic settling leaves them alone.
    claimed: Arc<Mutex<HashSet<i64>>>,
    /// Whose leases this process holds, and for how long each renewal lasts.
    lease: Lease,
}

/// This instance's name on the operations it drives, and how long a lease lasts unrenewed.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Stable across restarts (`--instance-id`): a restarted instance settles its own
    /// operations at once, another instance's only once their lease has lapsed.
    pub holder: Arc<str>,
    pub lasts: Duration,
}

impl Lease {
    /// Leases last this long unrenewed; a driver renews at a third of it.
    pub const DEFAULT: Duration = Duration::from_secs(30);

    /// When a lease taken or renewed now runs out.
    fn until(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.lasts
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            holder: "deprov".into(),
            lasts: Self::DEFAULT,
        }
    }
}

impl Executor {
    pub fn new(
        store: Store,
        deployment: &Deployment,
        workflow: Workflow,
        directory: Directory,
        step_timeout: Duration,
    ) -> Self {
        Self {
            store,
            source: Arc::clone(&deployment.directory),
            shell: deployment.shell.clone(),
            workflow,
            directory,
            step_timeout,
            changes: broadcast::channel(256).0,
            driving: Arc::default(),
            claimed: Arc::default(),
            lease: Lease::default(),
        }
    }

    /// The same executor, holding leases as `lease` says (another instance's name, a shorter
    /// lease in tests).
    pub fn leasing(mut self, lease: Lease) -> Self {
        self.lease = lease;
        self
    }

    /// The shell, or the read-only refusal when none is configured.
    fn shell(&self) -> Result<&Arc<dyn LyncShell>, ExecutionError> {
        self.shell.as_ref().ok_or_else(|| refused(READ_ONLY))
    }

    /// Ids of requests whose execution changed, as they change ([`EVERY_REQUEST`]: any of them
    /// may have).
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.changes.subscribe()
    }

    fn notify(&self, request_id: i64) {
        self.changes.send(request_id).ok();
    }

    /// Tells the request's followers that it changed elsewhere (on another instance).
    pub fn changed_elsewhere(&self, request_id: i64) {
        self.notify(request_id);
    }

    async fn request(&self, id: i64) -> Result<RequestView, ExecutionError> {
        self.workflow
            .get(id)
            .await?
            .ok_or(ExecutionError::NotFound(id))
    }

    /// What earlier operations of request `id` did; `backups` are its backups, oldest first.
    async fn history(&self, id: i64, backups: &[Backup]) -> Result<History, ExecutionError> {
        let mut read = self.store.read().await?;
        let done = read.operations().done_cmdlets(id).await?;
        let latest = read.operations().latest(id).await?;
        Ok(History {
            unsettled: latest.as_ref().is_some_and(|l| l.unsettled),
            done,
            last: latest.map(|l| (l.operation, l.state)),
            original: backups.first().map(|b| b.user.clone()),
            latest: backups.last().map(|b| b.user.clone()),
        })
    }

    async fn backups(&self, id: i64) -> Result<Vec<Backup>, ExecutionError> {
        Ok(self.store.read().await?.operations().backups(id).await?)
    }

    /// Everything kept to restore the user of request `id`, as one document.
    pub async fn backup_document(&self, id: i64) -> Result<BackupDocument, ExecutionError> {
        let request = self.request(id).await?;
        let backups = self.backups(id).await?;
        let history = self.history(id, &backups).await?;
        Ok(BackupDocument {
            request_id: id,
            user_sam_account_name: request.user_sam_account_name,
            backups,
            export_files: history
                .done
                .iter()
                .filter_map(|c| match c {
                    Cmdlet::ExportCsUserData { file_name, .. } => Some(file_name.clone()),
                    _ => None,
                })
                .collect(),
        })
    }

    /// A free address for an immediate-disconnect rename: the same for the plan page and the run.
    fn rename_target(&self, user: &DirectoryUser) -> Option<SipAddress> {
        let snapshot = self.directory.snapshot();
        user.lync.as_ref().and_then(|lync| {
            predict::rename_target(&lync.sip_address, user.id.0.as_u128(), |sip| {
                snapshot.sip_in_use(sip)
            })
        })
    }

    async fn operations(&self, request_id: i64) -> Result<Vec<OperationView>, ExecutionError> {
        let stored = self
            .store
            .read()
            .await?
            .operations()
            .of_request(request_id)
            .await?;
        let mut views = Vec::with_capacity(stored.len());
        for operation in stored {
            let steps = self.steps(operation.id).await?;
            views.push(OperationView {
                id: operation.id,
                operation: operation.operation,
                state: operation.state,
                started_by: operation.started_by,
                started_at: operation.started_at,
                finished_at: operation.finished_at,
                steps: steps
                    .into_iter()
                    .map(|s| StepView {
                        position: s.position,
                        duration_ms: s
                            .started_at
                            .zip(s.finished_at)
                            .map(|(a, b)| (b - a).whole_milliseconds().max(0) as u64),
                        title: s.title,
                        command: s.command,
                        state: s.state,
                        attempts: s.attempts,
                        run_by: s.run_by,
                        started_at: s.started_at,
                        output: s.output,
                        error: s.error,
                        note: s.note,
                        verification: s.verification,
                    })
                    .collect(),
            });
        }
        Ok(views)
    }

    async fn steps(&self, operation: i64) -> Result<Vec<StoredStep>, ExecutionError> {
        Ok(self
            .store
            .read()
            .await?
            .operations()
            .steps(operation)
            .await?)
    }

    /// The request, what ran, and what could run next with its steps for the user as the
    /// portal's live copy has them now.
    pub async fn view(&self, id: i64) -> Result<ExecutionView, ExecutionError> {
        let request = self.request(id).await?;
        let backups = self.backups(id).await?;
        let history = self.history(id, &backups).await?;
        let now = self.source.now();
        let user = self.directory.snapshot().user(request.user_id).cloned();
        let mut next = Vec::new();
        if let Some(user) = &user {
            let renamed_sip = self.rename_target(user);
            let situation = Situation {
                request: &request,
                user,
                now,
                wall_now: OffsetDateTime::now_utc(),
                history: &history,
                renamed_sip: renamed_sip.as_ref(),
            };
            // While it waits for approval, the approver sees what approving it would run.
            let upcoming = if request.state == RequestState::PendingApproval {
                let approved = RequestView {
                    state: RequestState::Approved,
                    ..request.clone()
                };
                plan::next_operations(&approved, &history)
            } else {
                plan::next_operations(&request, &history)
            };
            for operation in upcoming {
                let (steps, build_refusal) = match plan::build(operation, &situation) {
                    Ok(steps) => (steps, None),
                    Err(why) => (Vec::new(), Some(why)),
                };
                next.push(OperationPlan {
                    operation,
                    confirm_with: steps
                        .iter()
                        .any(|s| s.destructive)
                        .then(|| request.user_sam_account_name.clone()),
                    refused: self
                        .shell
                        .is_none()
                        .then(|| READ_ONLY.to_owned())
                        .or_else(|| plan::refusal(operation, &situation))
                        .or(build_refusal),
                    warnings: plan::warnings(operation, &situation),
                    second_admin: plan::second_admin(operation, &situation),
                    steps,
                });
            }
        }
        let backup_taken_at = backups.last().map(|b| b.taken_at);
        Ok(ExecutionView {
            can_retry: request.state == RequestState::Failed
                && history
                    .last
                    .is_some_and(|(_, s)| s == OperationState::Failed),
            operations: self.operations(id).await?,
            next,
            backup_taken_at,
            as_of: now,
            read_only: self.shell.is_none().then(|| READ_ONLY.to_owned()),
            step_timeout_secs: self.step_timeout.as_secs(),
            // An ask made on an older version, or a day ago, is stale: it is asked again.
            reenable_ask: self
                .store
                .read()
                .await?
                .operations()
                .ask(id)
                .await?
                .filter(|(ask, asked_on)| {
                    *asked_on == request.version
                        && OffsetDateTime::now_utc() - ask.asked_at < ASK_LIFETIME
                })
                .map(|(ask, _)| ask),
            request,
        })
    }

    /// The rename deprov made of `user`'s SIP address that still stands: the latest address
    /// change a request of theirs made, if the user still has that address and it is not the one
    /// the request was filed with.
    pub async fn sip_renamed(
        &self,
        user: &DirectoryUser,
    ) -> Result<Option<SipRenamed>, ExecutionError> {
        let Some(current) = user.lync.as_ref().map(|l| &l.sip_address) else {
            return Ok(None);
        };
        let rename = self
            .store
            .read()
            .await?
            .operations()
            .last_sip_rename(user.id)
            .await?;
        Ok(rename.and_then(|rename| {
            rename
                .original
                .filter(|original| rename.renamed_to == *current && original != current)
                .map(|original| SipRenamed {
                    request: rename.request,
                    original,
                })
        }))
    }

    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        tokio::time::timeout(self.step_timeout, self.directory.fresh_user(id))
            .await
            .unwrap_or(Err(BackendError::Timeout(self.step_timeout)))
    }

    /// Starts `operation` on request `id` for `by`, if `version` is still the request's version:
    /// plans it from a fresh read of the user and records the steps as pending; [`Executor::drive`]
    /// runs it. Giving Lync back needs `reason`, and sometimes a second admin: then the first
    /// admin's call records the ask, and another admin's call starts it.
    pub async fn begin(
        &self,
        id: i64,
        operation: Operation,
        by: &str,
        version: i64,
        confirm: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Begun, ExecutionError> {
        self.shell()?;
        let request = self.request(id).await?;
        if request.version != version {
            return Err(changed_meanwhile(&request));
        }
        let history = self.history(id, &self.backups(id).await?).await?;
        let user = match self.read_user(request.user_id).await {
            Err(BackendError::UserNotFound(_)) => {
                return Err(refused(format!(
                    "{} is no longer in the directory: there is nothing to run.",
                    request.user_display_name
                )));
            }
            read => read?,
        };
        let renamed_sip = self.rename_target(&user);
        let now = self.source.now();
        let situation = Situation {
            request: &request,
            user: &user,
            now,
            wall_now: OffsetDateTime::now_utc(),
            history: &history,
            renamed_sip: renamed_sip.as_ref(),
        };
        if let Some(why) = plan::refusal(operation, &situation) {
            // Something is running: a conflict. Anything else: the admin can read why (422).
            return Err(if request.state == RequestState::Executing {
                ExecutionError::Conflict(why)
            } else {
                refused(why)
            });
        }
        let steps = plan::build(operation, &situation).map_err(refused)?;
        if steps.iter().any(|s| s.destructive)
            && !confirm.is_some_and(|c| {
                c.trim()
                    .eq_ignore_ascii_case(&request.user_sam_account_name)
            })
        {
            return Err(ExecutionError::Refused {
                message: format!(
                    "{} destroys or hides data, or cannot be undone: type the account name {} to confirm.",
                    operation.label(),
                    request.user_sam_account_name
                ),
                field: Some("confirm"),
            });
        }

        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let reason = match reason {
            _ if !operation.re_enables() => None,
            Some(reason) if reason.chars().count() <= MAX_REASON => Some(reason),
            _ => {
                return Err(ExecutionError::Refused {
                    message: format!(
                        "{} gives {} Lync back: say why (at most {MAX_REASON} characters).",
                        operation.label(),
                        request.user_display_name
                    ),
                    field: Some("reason"),
                });
            }
        };
        let second_admin = plan::second_admin(operation, &situation);

        let wall = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let mut asked = String::new();
        if let (Some(why), Some(reason)) = (&second_admin, reason) {
            match write.operations().ask(id).await? {
                Some((ask, asked_on))
                    if ask.operation == operation
                        && asked_on == version
                        && wall - ask.asked_at < ASK_LIFETIME =>
                {
                    if ask.asked_by.eq_ignore_ascii_case(by) {
                        return Err(ExecutionError::NotYours(format!(
                            "You asked for this {}: another admin must confirm it.",
                            operation.label().to_lowercase()
                        )));
                    }
                    write.operations().drop_ask(id).await?;
                    asked = format!(
                        "; asked by {} ({}), confirmed by {by} ({reason})",
                        ask.asked_by, ask.reason
                    );
                }
                // None yet, or one for another operation, an older version or too long ago: this
                // is the ask.
                _ => {
                    let ask = ReenableAsk {
                        operation,
                        reason: reason.to_owned(),
                        asked_by: by.to_owned(),
                        asked_at: wall,
                    };
                    write.operations().record_ask(id, &ask, version).await?;
                    audit::append(
                        &mut write,
                        wall,
                        Event {
                            actor: by,
                            action: "execution.ask",
                            subject: &format!("request #{id}"),
                            details: format!(
                                "{} for {} asked, waiting for a second admin: {reason}. {why}",
                                operation.label(),
                                request.user_sam_account_name
                            ),
                            change: None,
                        },
                    )
                    .await?;
                    write.commit().await?;
                    self.notify(id);
                    return Ok(Begun::Asked);
                }
            }
        } else if let Some(reason) = reason {
            asked = format!("; reason: {reason}");
        }
        if !claim(&mut write, id, version, wall).await? {
            return Err(changed_meanwhile(&request));
        }
        let operation_id = write
            .operations()
            .start(
                id,
                operation,
                by,
                wall,
                &self.lease.holder,
                self.lease.until(wall),
            )
            .await?;
        for (position, step) in steps.iter().enumerate() {
            write
                .operations()
                .add_step(
                    operation_id,
                    position as u32,
                    &step.title,
                    &step.command,
                    step.cmdlet.as_ref(),
                )
                .await?;
        }
        let commands: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
        audit::append(
            &mut write,
            wall,
            Event {
                actor: by,
                action: "execution.start",
                subject: &format!("request #{id}"),
                details: format!(
                    "{} for {}: {}{asked}",
                    operation.label(),
                    request.user_sam_account_name,
                    commands.join("; ")
                ),
                change: Some(Change::operation(
                    id,
                    RequestState::Executing,
                    operation_id,
                    operation,
                    OperationState::Running,
                )),
            },
        )
        .await?;
        self.commit_claimed(write, operation_id).await?;
        self.notify(id);
        Ok(Begun::Started(operation_id))
    }

    /// Continues the failed last operation of request `id` from its first step not done. A step
    /// whose outcome is unknown is first settled by reading the user back.
    pub async fn retry(&self, id: i64, by: &str, version: i64) -> Result<i64, ExecutionError> {
        self.shell()?;
        let request = self.request(id).await?;
        if request.version != version {
            return Err(changed_meanwhile(&request));
        }
        let latest = self.store.read().await?.operations().latest(id).await?;
        let Some((operation_id, operation)) = latest
            .filter(|l| request.state == RequestState::Failed && l.state == OperationState::Failed)
            .map(|l| (l.id, l.operation))
        else {
            return Err(ExecutionError::Conflict(
                "Nothing to retry: the last operation did not fail.".to_owned(),
            ));
        };
        for step in self.steps(operation_id).await? {
            if matches!(step.state, StepState::Unknown | StepState::Running) {
                let outcome = self.settle(&request, &step, "Before the retry, ").await;
                if outcome.state == StepState::Unknown {
                    return Err(ExecutionError::Backend(BackendError::Unavailable(format!(
                        "deprov still cannot tell whether \"{}\" took effect, and will not run it again blindly",
                        step.command
                    ))));
                }
                self.finish_step(id, &step, step.state, by, outcome).await?;
            }
        }
        let wall = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        if !claim(&mut write, id, version, wall).await? {
            return Err(changed_meanwhile(&request));
        }
        // The failed step runs again; its last error stays readable in the note.
        write
            .operations()
            .resume(operation_id, by, &self.lease.holder, self.lease.until(wall))
            .await?;
        audit::append(
            &mut write,
            wall,
            Event {
                actor: by,
                action: "execution.retry",
                subject: &format!("request #{id}"),
                details: format!("operation {operation_id} continues from its first step not done"),
                change: Some(Change::operation(
                    id,
                    RequestState::Executing,
                    operation_id,
                    operation,
                    OperationState::Running,
                )),
            },
        )
        .await?;
        self.commit_claimed(write, operation_id).await?;
        self.notify(id);
        Ok(operation_id)
    }

    /// Commits the write that starts or resumes `operation_id`, claimed first: from the moment the
    /// operation is "running" in the database, the periodic settling knows it has a driver.
    async fn commit_claimed(&self, write: Write, operation_id: i64) -> Result<(), ExecutionError> {
        self.claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(operation_id);
        let committed = self.workflow.commit(write).await;
        if committed.is_err() {
            self.claimed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&operation_id);
        }
        Ok(committed?)
    }

    /// Runs operation `operation_id`'s pending steps in order until one fails or all are done.
    /// Returns at once if this process is already driving it.
    pub async fn drive(&self, operation_id: i64) -> Result<(), ExecutionError> {
        if !self
            .driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(operation_id)
        {
            return Ok(());
        }
        let _driving = Driving {
            sets: [Arc::clone(&self.driving), Arc::clone(&self.claimed)],
            operation: operation_id,
        };
        let row = self
            .store
            .read()
            .await?
            .operations()
            .running_one(operation_id)
            .await?;
        let Some((request_id, by)) = row else {
            return Ok(());
        };
        // The lease is renewed for as long as this future runs: a process that dies stops
        // renewing, and another instance may then settle the operation.
        tokio::select! {
            driven = self.drive_steps(operation_id, request_id, &by) => driven,
            renewal = self.renew_lease(operation_id) => renewal,
        }
    }

    /// Renews this instance's lease on `operation_id` at a third of its length, until the
    /// future is dropped; returns only if the store fails.
    async fn renew_lease(&self, operation_id: i64) -> Result<(), ExecutionError> {
        let mut tick = tokio::time::interval(self.lease.lasts / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            let mut write = self.store.write().await?;
            let renewed = write
                .operations()
                .renew_lease(
                    operation_id,
                    &self.lease.holder,
                    self.lease.until(OffsetDateTime::now_utc()),
                )
                .await?;
            let holder = if renewed {
                None
            } else {
                write.operations().lease_holder(operation_id).await?
            };
            write.commit().await?;
            // Still running under another holder: this process stalled past its lease and the
            // operation was taken over. Stop here rather than run a step twice.
            if let Some(other) = holder.filter(|h| *h != *self.lease.holder) {
                tracing::warn!(operation_id, %other, "lost the lease on an operation; stopping its driver");
                return Err(ExecutionError::Conflict(format!(
                    "Operation {operation_id} was taken over by {other} after this instance's lease lapsed."
                )));
            }
        }
    }

    /// The steps of `operation_id` from the first not done, as [`Executor::drive`] runs them.
    async fn drive_steps(
        &self,
        operation_id: i64,
        request_id: i64,
        by: &str,
    ) -> Result<(), ExecutionError> {
        let request = self.request(request_id).await?;
        for step in self.steps(operation_id).await? {
            match step.state {
                StepState::Done => continue,
                StepState::Pending => {}
                // Left by something else: stop and let a person look.
                _ => return self.finish_operation(request_id, operation_id, false).await,
            }
            if !self.mark_running(request_id, &step, by).await? {
                return Ok(()); // another driver took it
            }
            let outcome = self.run_step(&request, operation_id, &step).await;
            let failed = outcome.state != StepState::Done;
            self.finish_step(request_id, &step, StepState::Running, by, outcome)
                .await?;
            if failed {
                return self.finish_operation(request_id, operation_id, false).await;
            }
        }
        self.finish_operation(request_id, operation_id, true).await
    }

    /// Commits "running" before the call. False if the step was no longer pending.
    async fn mark_running(
        &self,
        request_id: i64,
        step: &StoredStep,
        by: &str,
    ) -> Result<bool, ExecutionError> {
        let mut write = self.store.write().await?;
        let moved = write
            .operations()
            .mark_running(step.id, by, OffsetDateTime::now_utc())
            .await?;
        write.commit().await?;
        self.notify(request_id);
        Ok(moved)
    }

    /// Calls the backend for one step; a backup step reads the user and stores the backup.
    async fn run_step(
        &self,
        request: &RequestView,
        operation_id: i64,
        step: &StoredStep,
    ) -> Outcome {
        let Some(cmdlet) = &step.cmdlet else {
            return match self.read_user(request.user_id).await {
                Ok(user) => match self.store_backup(request.id, operation_id, &user).await {
                    Ok(()) => Outcome {
                        state: StepState::Done,
                        output: "Backup kept with the request.".to_owned(),
                        error: None,
                        note: None,
                    },
                    Err(error) => failed(error.to_string(), None),
                },
                // A read changes nothing: running it again is always safe.
                Err(error) => failed(error.to_string(), None),
            };
        };
        let shell = match self.shell() {
            Ok(shell) => shell,
            Err(error) => return failed(error.to_string(), None),
        };
        let called = tokio::time::timeout(self.step_timeout, shell.run(cmdlet))
            .await
            .unwrap_or(Err(BackendError::Timeout(self.step_timeout)));
        match called {
            Ok(output) => Outcome {
                state: StepState::Done,
                output: output.text,
                error: None,
                note: None,
            },
            // The shell ran it and said no: nothing changed.
            Err(error @ (BackendError::CommandFailed { .. } | BackendError::UserNotFound(_))) => {
                failed(error.to_string(), None)
            }
            // No answer: it may or may not have happened (or may still happen: a remote shell can
            // finish after we stop waiting, and AD replicates with a delay). A read showing the
            // change settles it as done; a read not showing it yet settles nothing, so the step
            // stays unknown and a retry reads again before running anything.
            Err(error) => {
                let mut outcome = self.settle(request, step, &format!("{error}; ")).await;
                if outcome.state != StepState::Done {
                    outcome.state = StepState::Unknown;
                    outcome.error = Some(error.to_string());
                }
                outcome
            }
        }
    }

    async fn store_backup(
        &self,
        request_id: i64,
        operation_id: i64,
        user: &DirectoryUser,
    ) -> Result<(), ExecutionError> {
        let mut write = self.store.write().await?;
        write
            .operations()
            .store_backup(request_id, operation_id, self.source.now(), user)
            .await?;
        write.commit().await?;
        Ok(())
    }

    /// Settles a step whose outcome is unknown by reading the user back. `context` starts the note.
    async fn settle(&self, request: &RequestView, step: &StoredStep, context: &str) -> Outcome {
        let Some(cmdlet) = &step.cmdlet else {
            // A backup is stored with its "done" in one go: not done means not stored. Reading again is safe.
            return failed(
                "the backup read did not finish".to_owned(),
                Some(format!(
                    "{context}the backup was not stored; reading again is safe."
                )),
            );
        };
        let read = self.read_user(request.user_id).await;
        match read.map(|user| plan::took_effect(cmdlet, &user)) {
            Ok(Some(true)) => Outcome {
                state: StepState::Done,
                output: String::new(),
                error: None,
                note: Some(format!(
                    "{context}reading the user back shows it took effect: not run again."
                )),
            },
            Ok(Some(false)) => failed(
                "it did not take effect".to_owned(),
                Some(format!(
                    "{context}reading the user back shows it did not take effect (yet): running it again is safe once that holds."
                )),
            ),
            Ok(None)
                if matches!(
                    cmdlet,
                    Cmdlet::ExportCsUserData { .. } | Cmdlet::UpdateCsUserData { .. }
                ) =>
            {
                failed(
                    "its outcome cannot be read back".to_owned(),
                    Some(format!(
                        "{context}{} only works on a file on the Lync server: running it again is safe.",
                        cmdlet.name()
                    )),
                )
            }
            Ok(None) => Outcome {
                state: StepState::Unknown,
                output: String::new(),
                error: Some("its outcome cannot be read back".to_owned()),
                note: Some(format!(
                    "{context}what {} changes is {NOT_KNOWN_WITHOUT_SHELL}: deprov will not run it again blindly.",
                    cmdlet.name()
                )),
            },
            Err(error) => Outcome {
                state: StepState::Unknown,
                output: String::new(),
                error: Some(error.to_string()),
                note: Some(format!(
                    "{context}the user could not be read back ({error}): deprov will read again before any retry."
                )),
            },
        }
    }

    /// Commits how a step ended, with its audit row, in one transaction, if the step is still
    /// in the state `from` it was seen in (another admin's retry may have moved it meanwhile).
    async fn finish_step(
        &self,
        request_id: i64,
        step: &StoredStep,
        from: StepState,
        by: &str,
        outcome: Outcome,
    ) -> Result<(), ExecutionError> {
        let wall = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let moved = write
            .operations()
            .finish_step(
                step.id,
                from,
                outcome.state,
                wall,
                &outcome.output,
                outcome.error.as_deref(),
                outcome.note.as_deref(),
            )
            .await?;
        if !moved {
            return Err(ExecutionError::Conflict(format!(
                "Step \"{}\" changed meanwhile (another admin?): look at the request again.",
                step.title
            )));
        }
        // A step that changed something is checked when its effect should show.
        if outcome.state == StepState::Done
            && let Some(cmdlet) = &step.cmdlet
            && let Some(delay) = verify::delay(cmdlet)
        {
            write
                .operations()
                .schedule_verification(step.id, request_id, self.source.now() + delay)
                .await?;
        }
        let mut details = format!("{}: {}", step.command, outcome.state.as_str());
        for (label, text) in [
            (
                "output",
                Some(outcome.output.as_str()).filter(|o| !o.is_empty()),
            ),
            ("error", outcome.error.as_deref()),
            ("note", outcome.note.as_deref()),
        ] {
            if let Some(text) = text {
                details.push_str(&format!("; {label}: {text}"));
            }
        }
        audit::append(
            &mut write,
            wall,
            Event {
                actor: by,
                action: "execution.step",
                subject: &format!("request #{request_id}"),
                details,
                change: None,
            },
        )
        .await?;
        write.commit().await?;
        self.notify(request_id);
        Ok(())
    }

    /// Ends an operation and moves the request on: done → the state the operation leads to,
    /// otherwise failed.
    async fn finish_operation(
        &self,
        request_id: i64,
        operation_id: i64,
        succeeded: bool,
    ) -> Result<(), ExecutionError> {
        let request = self.request(request_id).await?;
        let operation = self
            .store
            .read()
            .await?
            .operations()
            .kind(operation_id)
            .await?;
        let next = match (succeeded, operation) {
            (false, _) => RequestState::Failed,
            (true, Operation::StageOne) => RequestState::StageOneDone,
            (true, Operation::StageTwo) => RequestState::Removed,
            (true, Operation::Rollback) => RequestState::RolledBack,
            (true, Operation::Restore) => RequestState::Restored,
        };
        let due = (next == RequestState::StageOneDone)
            .then(|| self.source.now() + time::Duration::days(request.grace_days.into()));
        let wall = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let ended = if succeeded {
            OperationState::Done
        } else {
            OperationState::Failed
        };
        if !write.operations().end(operation_id, ended, wall).await? {
            return Ok(()); // ended meanwhile (a driver and the settling both got there)
        }
        write
            .requests()
            .end_execution(request_id, next, wall, due)
            .await?;
        audit::append(
            &mut write,
            wall,
            Event {
                actor: "deprov",
                action: "execution.finish",
                subject: &format!("request #{request_id}"),
                details: format!(
                    "{}: {}; the request is now: {}{}",
                    operation.label(),
                    if succeeded { "done" } else { "failed" },
                    next.label(),
                    due.map(|d| format!("; stage 2 due {}", predict::when(d)))
                        .unwrap_or_default()
                ),
                change: Some(Change::operation(
                    request_id,
                    next,
                    operation_id,
                    operation,
                    ended,
                )),
            },
        )
        .await?;
        let notice = match next {
            RequestState::Failed => {
                let error = write.operations().failure(operation_id).await?;
                Notice::StepFailed {
                    operation,
                    error: error.unwrap_or_else(|| "the operation was cut off".to_owned()),
                }
            }
            RequestState::StageOneDone => Notice::StageOneDone {
                stage_two_due_at: due,
            },
            state => Notice::RequestDone { state },
        };
        notify::emit(&mut write, wall, Some(request_id), notice).await?;
        self.workflow.commit(write).await?;
        self.notify(request_id);
        Ok(())
    }

    /// After a restart: every operation still marked running was cut off. Its step in flight is
    /// settled by reading the user back; the operation ends (done if nothing was left, otherwise
    /// failed, so an admin sees what happened and retries). Returns how many were settled.
    ///
    /// Also run periodically: an operation marked running that no task of this process drives
    /// (its driver stopped on a storage error) is settled the same way instead of staying stuck.
    /// An operation another instance leases is left to it while it renews the lease.
    pub async fn recover(&self) -> Result<usize, ExecutionError> {
        let running = self.store.read().await?.operations().running().await?;
        let mut driven = self
            .driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        driven.extend(
            self.claimed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter(),
        );
        let running: Vec<(i64, i64)> = running
            .into_iter()
            .filter(|(operation, _)| !driven.contains(operation))
            .collect();
        let mut settled = 0;
        for &(operation_id, request_id) in &running {
            if !self.take_over(operation_id).await? {
                continue; // another instance holds it and is alive
            }
            settled += 1;
            let request = self.request(request_id).await?;
            let steps = self.steps(operation_id).await?;
            for step in steps.iter().filter(|s| s.state == StepState::Running) {
                let outcome = self
                    .settle(&request, step, "The server stopped during this step; ")
                    .await;
                self.finish_step(request_id, step, StepState::Running, RECOVERY, outcome)
                    .await?;
            }
            let all_done = self
                .steps(operation_id)
                .await?
                .iter()
                .all(|s| s.state == StepState::Done);
            self.finish_operation(request_id, operation_id, all_done)
                .await?;
            tracing::warn!(
                request_id,
                operation_id,
                all_done,
                "settled an operation a restart cut off"
            );
        }
        Ok(settled)
    }

    /// Takes the lease on running operation `operation_id` if nobody alive holds it: no holder,
    /// this instance (before a restart), or a lease that has lapsed. The check and the take are
    /// one write, so two instances never both take it.
    async fn take_over(&self, operation_id: i64) -> Result<bool, ExecutionError> {
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        let taken = write
            .operations()
            .take_over(operation_id, &self.lease.holder, self.lease.until(now), now)
            .await?;
        write.commit().await?;
        Ok(taken)
    }

    /// Checks every verification that is due by the deployment's clock: reads the user and
    /// records, with an audit row, whether the step's effect shows as predicted. Returns how many
    /// were checked.
    pub async fn verify_due(&self) -> Result<usize, ExecutionError> {
        let pending = self
            .store
            .read()
            .await?
            .operations()
            .pending_verifications()
            .await?;
        let now = self.source.now();
        let mut checked = 0;
        for check in pending {
            if check.due_at > now {
                continue;
            }
            let PendingVerification {
                id,
                request_id,
                command,
                cmdlet,
                ..
            } = check;
            let Some(cmdlet) = cmdlet else {
                continue;
            };
            let request = self.request(request_id).await?;
            let user = match self.read_user(request.user_id).await {
                Ok(user) => Some(user),
                Err(BackendError::UserNotFound(_)) => None,
                // Cannot read now: try again at the next round.
                Err(error) => {
                    tracing::warn!(request_id, %error, "cannot verify a step yet: the user cannot be read");
                    continue;
                }
            };
            let verdict = verify::check(&cmdlet, user.as_ref(), self.source.now());
            let mut write = self.store.write().await?;
            let moved = write
                .operations()
                .record_verification(id, verdict.state, OffsetDateTime::now_utc(), &verdict.text)
                .await?;
            if moved {
                audit::append(
                    &mut write,
                    OffsetDateTime::now_utc(),
                    Event {
                        actor: "deprov",
                        action: "execution.verify",
                        subject: &format!("request #{request_id}"),
                        details: format!("{command}: {}", verdict.text),
                        change: None,
                    },
                )
                .await?;
                if verdict.state == VerificationState::NotAsPredicted {
                    let operation = write.operations().verified_operation(id).await?;
                    let notice = Notice::StepNotAsPredicted {
                        operation,
                        step: command.clone(),
                        observed: verdict.text.clone(),
                    };
                    notify::emit(
                        &mut write,
                        OffsetDateTime::now_utc(),
                        Some(request_id),
                        notice,
                    )
                    .await?;
                }
            }
            write.commit().await?;
            if verdict.state == VerificationState::NotAsPredicted {
                tracing::warn!(request_id, %command, outcome = %verdict.text, "a step's effect is NOT as predicted");
            }
            self.notify(request_id);
            checked += 1;
        }
        Ok(checked)
    }

    /// Whether automatic stage 2 is on.
    pub async fn settings(&self) -> Result<bool, ExecutionError> {
        Ok(self.store.read().await?.settings().auto_stage_two().await?)
    }

    /// Turns automatic stage 2 on or off, audited.
    pub async fn set_auto_stage_two(&self, by: &str, on: bool) -> Result<(), ExecutionError> {
        let mut write = self.store.write().await?;
        write.settings().set_auto_stage_two(on).await?;
        audit::append(
            &mut write,
            OffsetDateTime::now_utc(),
            Event {
                actor: by,
                action: "settings.auto_stage_two",
                subject: "settings",
                details: format!("automatic stage 2 {}", if on { "on" } else { "off" }),
                change: None,
            },
        )
        .await?;
        write.commit().await?;
        Ok(())
    }

    /// When automatic stage 2 is on: runs stage 2 of every request whose grace period is over.
    /// Returns how many ran.
    pub async fn run_due_stage_two(&self) -> Result<usize, ExecutionError> {
        if self.shell.is_none() || !self.settings().await? {
            return Ok(0);
        }
        let mut ran = 0;
        // A thousand at a time: the rest at the next round, 15 s later.
        let (due, _) = self
            .workflow
            .list(Show::Due, Readable::Every, &Narrow::default(), 0, 1_000)
            .await?;
        for request in due {
            let started = self
                .begin(
                    request.id,
                    Operation::StageTwo,
                    AUTOMATIC,
                    request.version,
                    Some(&request.user_sam_account_name),
                    None,
                )
                .await;
            match started {
                Ok(Begun::Asked) => {} // Stage 2 never needs a second admin.
                Ok(Begun::Started(operation)) => {
                    if let Err(error) = self.drive(operation).await {
                        tracing::warn!(request = request.id, %error, "automatic stage 2 stopped");
                    }
                    ran += 1;
                }
                Err(error) => {
                    tracing::warn!(request = request.id, %error, "automatic stage 2 did not start")
                }
            }
        }
        Ok(ran)
    }
}

/// Moves request `id` to "executing" if it is still at `version` (every change bumps it): the
/// compare-and-swap that turns a double click or a second admin into a 409.
async fn claim(
    write: &mut Write,
    id: i64,
    version: i64,
    at: OffsetDateTime,
) -> Result<bool, ExecutionError> {
    Ok(write.requests().start_executing(id, version, at).await?)
}

fn changed_meanwhile(request: &RequestView) -> ExecutionError {
    ExecutionError::Conflict(format!(
        "Request #{} changed while you were looking at it (it was: {}). Look at it again.",
        request.id,
        request.state.label()
    ))
}

fn failed(error: String, note: Option<String>) -> Outcome {
    Outcome {
        state: StepState::Failed,
        output: String::new(),
        error: Some(error),
        note,
    }
}

#[cfg(test)]
mod tests;
