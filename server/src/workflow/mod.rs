//! De-provisioning requests up to "approved": creation with its refusals, decisions with their
//! conflicts, overdue flags and expiry. Every change lands with its audit row in one transaction.
//! What happens after approval (running it against Lync) is [`crate::execution`].

pub mod bulk;
pub mod machine;

use crate::audit::{self, Change, DecisionRecord, Event};
use crate::directory::Snapshot;
use crate::notify::{self, Notice};
use crate::report::ReportConfig;
use crate::store::requests::{
    DecisionFacts, Due, DueRequest, NewDecision, NewStoredRequest, RequestFilter, StoredRequest,
};
use crate::store::{Store, StoreError, Write};
use deprov_wire::directory::{DirectoryUser, LyncAccount, UserId};
use deprov_wire::people::Role;
use deprov_wire::workflow::{
    DecisionKind, DecisionView, MAX_DAYS_AHEAD, NewRequest, OpenRequest, RequestState, RequestView,
    Urgency,
};
use machine::{Act, Facts, Refusal};
use std::collections::HashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

/// The portal's rules for requests.
#[derive(Debug, Clone)]
pub struct WorkflowPolicy {
    pub approvals_needed: u32,
    /// Protected accounts: at least two, from two people.
    pub protected_approvals: u32,
    pub overdue_after: Duration,
    pub expire_after: Duration,
    pub default_grace_days: u32,
    /// `--bulk-threshold`: requests an hour may bring without a second admin; `None` for the
    /// default ([`bulk::blast_radius`]).
    pub bulk_threshold: Option<usize>,
}

impl Default for WorkflowPolicy {
    fn default() -> Self {
        Self {
            approvals_needed: 1,
            protected_approvals: 2,
            overdue_after: Duration::hours(48),
            expire_after: Duration::days(14),
            default_grace_days: 30,
            bulk_threshold: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The request cannot be made or the decision taken, for a reason the person can read (422).
    #[error("{message}")]
    Refused {
        message: String,
        field: Option<&'static str>,
    },
    /// The person is not the one who may do this (403).
    #[error("{0}")]
    NotYours(String),
    /// The request changed meanwhile, or is already decided (409).
    #[error("{0}")]
    Conflict(String),
    #[error("No request #{0}.")]
    NotFound(i64),
    #[error("No bulk batch #{0}.")]
    NoBatch(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whose requests a person may read. A request carries the termination reason, which is not a
/// manager's colleagues' to read: a requester (and nothing more) reads only their own requests;
/// approvers, admins and auditors read every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable<'a> {
    Every,
    RequestedBy(&'a str),
}

impl<'a> Readable<'a> {
    pub fn for_person(name: &'a str, roles: &[Role]) -> Self {
        if roles
            .iter()
            .any(|role| matches!(role, Role::Approver | Role::Admin | Role::Auditor))
        {
            Self::Every
        } else {
            Self::RequestedBy(name)
        }
    }

    /// Whether a request filed by `requested_by` is readable (names compare as sign-in does).
    pub fn allows(self, requested_by: &str) -> bool {
        match self {
            Self::Every => true,
            Self::RequestedBy(name) => name.eq_ignore_ascii_case(requested_by),
        }
    }
}

/// The request `by` filed under `external_ref` (`filed`: its id and filer), if any; someone
/// else's is a conflict (it is not theirs to read).
fn filed_as(
    filed: Option<(i64, String)>,
    by: &str,
    external_ref: &str,
) -> Result<Option<i64>, WorkflowError> {
    let Some((id, filer)) = filed else {
        return Ok(None);
    };
    if !filer.eq_ignore_ascii_case(by) {
        return Err(WorkflowError::Conflict(format!(
            "The reference {external_ref} is already used by a request someone else filed."
        )));
    }
    Ok(Some(id))
}

/// Every user with an open request, and that request: at most one each.
pub type OpenRequests = Arc<HashMap<UserId, OpenRequest>>;

/// How far behind the deployment's clock an effective date may be and still read as "now".
const PAST_EFFECTIVE_SLACK: Duration = Duration::minutes(15);

/// Why no request can be filed for `user` at all, whatever it says; `None` when one can. An open
/// request also stops one: that is checked inside the write, and [`Workflow::open_requests`]
/// has it for pages.
pub fn cannot_file(user: &DirectoryUser, exclusions: &ReportConfig) -> Option<String> {
    let name = &user.ad.display_name;
    if exclusions.excludes(user) {
        return Some(format!(
            "{name} is on the exclusion list (a resource, monitoring or service account): such accounts are Lync-enabled on purpose."
        ));
    }
    let Some(lync) = user.lync.as_ref() else {
        return Some(format!(
            "{name} is not enabled for Lync (Enabled = Null): there is nothing to de-provision."
        ));
    };
    if lync.homed_online() {
        return Some(format!(
            "{name} is homed online (sipfed.online.lync.com): a hybrid user is de-provisioned in Lync Online, not here."
        ));
    }
    None
}

/// What the user page says when `open` stops a second request.
pub fn already_open(name: &str, open: &OpenRequest) -> String {
    format!(
        "{name} already has an open request: #{} ({}).",
        open.id,
        open.state.label()
    )
}

fn refused(field: &'static str, message: impl Into<String>) -> WorkflowError {
    WorkflowError::Refused {
        message: message.into(),
        field: Some(field),
    }
}

/// The Lync deployment's clock (the simulator's can be advanced): stage 2 falls due by it.
pub type LyncClock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// What a list is narrowed to, besides its [`Show`].
#[derive(Debug, Clone, Default)]
pub struct Narrow {
    /// One user's requests.
    pub user: Option<UserId>,
    /// The request another system filed under this reference.
    pub external_ref: Option<String>,
}

/// What filing did.
#[derive(Debug, Clone)]
pub enum Filed {
    New(RequestView),
    /// The filer sent an external reference already filed: the request filed then.
    Existing(RequestView),
}

impl Filed {
    pub fn view(self) -> RequestView {
        match self {
            Self::New(view) | Self::Existing(view) => view,
        }
    }
}

/// Whether [`Workflow::file_or_check`] files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    File,
    Check,
}

/// What [`Workflow::file_or_check`] came to.
enum Checked {
    Filed(Box<Filed>),
    /// Every check passed: filing would file a request for this user.
    WouldFile(UserId),
}

/// The longest external reference.
const MAX_EXTERNAL_REF: usize = 200;

/// The user `new` names: by objectGUID (`user_id`), or by `user`, which may be an objectGUID, a
/// sAMAccountName, a user principal name or an employeeID.
fn named_user<'a>(
    directory: &'a Snapshot,
    new: &NewRequest,
) -> Result<&'a Arc<DirectoryUser>, WorkflowError> {
    // Every user the name may mean: a sAMAccountName can repeat across domains, an
    // employeeID across a merger's two HR systems.
    let by_name = |name: &str| -> Vec<&'a Arc<DirectoryUser>> {
        let name = name.trim();
        if let Ok(id) = name.parse::<UserId>() {
            return directory.user(id).into_iter().collect();
        }
        directory
            .users()
            .iter()
            .filter(|u| {
                u.ad.sam_account_name.eq_ignore_ascii_case(name)
                    || u.ad.user_principal_name.eq_ignore_ascii_case(name)
                    || u.ad.employee_id.as_deref() == Some(name)
            })
            .collect()
    };
    match (
        new.user_id,
        new.user.as_deref().filter(|u| !u.trim().is_empty()),
    ) {
        (Some(id), Some(name)) if by_name(name).iter().all(|u| u.id != id) => Err(refused(
            "user",
            "user and user_id name different users: send one of them.",
        )),
        (Some(id), _) => directory
            .user(id)
            .ok_or_else(|| refused("user_id", "No user with that id in the directory.")),
        (None, Some(name)) => match by_name(name).as_slice() {
            [user] => Ok(user),
            [] => Err(refused(
                "user",
                format!(
                    "No user '{name}' in the directory (by objectGUID, sAMAccountName, user principal name or employeeID)."
                ),
            )),
            several => Err(refused(
                "user",
                format!(
                    "'{name}' names {} users (a sAMAccountName in several domains, or a shared employeeID): send the user principal name or the objectGUID.",
                    several.len()
                ),
            )),
        },
        (None, None) => Err(refused(
            "user_id",
            "Name the user: user_id (the objectGUID), or user (sAMAccountName, user principal name or employeeID).",
        )),
    }
}

/// Which requests a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    All,
    /// Pending, approved, executing, stage 1 done or failed.
    Open,
    /// Stage 1 done and the grace period over: the admins' queue for stage 2.
    Due,
}

#[derive(Clone)]
pub struct Workflow {
    store: Store,
    pub policy: WorkflowPolicy,
    lync_clock: LyncClock,
    /// Users with an open request, republished after every change (the report reads it).
    open: Arc<watch::Sender<OpenRequests>>,
    /// Held by a bulk filing from counting the hour's requests to filing its own.
    bulk_gate: Arc<tokio::sync::Mutex<()>>,
}

const MAX_REASON: usize = 2_000;
impl Workflow {
    /// The workflow over `store`, with the set of users with open requests read once.
    pub async fn start(
        store: Store,
        policy: WorkflowPolicy,
        lync_clock: LyncClock,
    ) -> Result<Self, WorkflowError> {
        let (open, _) = watch::channel(Arc::new(HashMap::new()));
        let workflow = Self {
            store,
            policy,
            lync_clock,
            open: Arc::new(open),
            bulk_gate: Arc::default(),
        };
        let mut write = workflow.store.write().await?;
        let users = write.requests().open().await?;
        write.commit().await?;
        workflow.publish(users);
        Ok(workflow)
    }

    /// Users with an open request, and every change to that set.
    pub fn open_requests(&self) -> watch::Receiver<OpenRequests> {
        self.open.subscribe()
    }

    /// Publishes the open set read inside a write; callers hold the writer gate, so sets are
    /// published in the order the writes happened.
    fn publish(&self, users: HashMap<UserId, OpenRequest>) {
        self.open.send_if_modified(|current| {
            let changed = **current != users;
            if changed {
                *current = Arc::new(users);
            }
            changed
        });
    }

    /// Re-reads and publishes the open set after a change made elsewhere (another instance).
    pub async fn refresh_open(&self) -> Result<(), WorkflowError> {
        let _gate = self.store.gate().await;
        let users = self.store.read().await?.requests().open().await?;
        self.publish(users);
        Ok(())
    }

    /// Commits `write` and publishes the open set it leaves. Every write that may change a
    /// request's state commits through here.
    pub(crate) async fn commit(&self, mut write: Write) -> Result<(), WorkflowError> {
        let users = write.requests().open().await?;
        let _gate = write.commit_holding().await?;
        self.publish(users);
        Ok(())
    }

    /// Files a request for the user `new` names, by `by`, or says why not.
    pub async fn create(
        &self,
        by: &str,
        new: NewRequest,
        directory: &Snapshot,
        exclusions: &ReportConfig,
    ) -> Result<RequestView, WorkflowError> {
        Ok(self.file(by, new, directory, exclusions).await?.view())
    }

    /// Request `id`, filed before under `reference`, sent again: the same request, if it is for
    /// the same user; a reference reused for someone else is a mistake to show, not to hide.
    async fn filed_before(
        &self,
        id: i64,
        reference: &str,
        user: UserId,
    ) -> Result<Filed, WorkflowError> {
        let view = self.get(id).await?.ok_or(WorkflowError::NotFound(id))?;
        if view.user_id != user {
            return Err(WorkflowError::Conflict(format!(
                "The reference {reference} was filed as #{id} for {}, not for this user.",
                view.user_display_name
            )));
        }
        Ok(Filed::Existing(view))
    }

    /// As [`Workflow::create`], and says whether the request is new or was filed before under
    /// the same external reference (then nothing else in `new` is looked at).
    pub async fn file(
        &self,
        by: &str,
        new: NewRequest,
        directory: &Snapshot,
        exclusions: &ReportConfig,
    ) -> Result<Filed, WorkflowError> {
        match self
            .file_or_check(by, new, directory, exclusions, Mode::File)
            .await?
        {
            Checked::Filed(filed) => Ok(*filed),
            Checked::WouldFile(_) => unreachable!("filing files"),
        }
    }

    /// Every check [`Workflow::file`] makes; with [`Mode::Check`], stops short of filing and
    /// says which user it would file for.
    async fn file_or_check(
        &self,
        by: &str,
        new: NewRequest,
        directory: &Snapshot,
        exclusions: &ReportConfig,
        mode: Mode,
    ) -> Result<Checked, WorkflowError> {
        let external_ref = new
            .external_ref
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if external_ref.is_some_and(|reference| {
            reference.chars().count() > MAX_EXTERNAL_REF || reference.chars().any(char::is_control)
        }) {
            return Err(refused(
                "external_ref",
                format!(
                    "An external reference is one line of at most {MAX_EXTERNAL_REF} characters."
                ),
            ));
        }
        let user = named_user(directory, &new)?;
        if let Some(reference) = external_ref {
            let filed = self
                .store
                .read()
                .await?
                .requests()
                .by_reference(reference)
                .await?;
            if let Some(id) = filed_as(filed, by, reference)? {
                return self
                    .filed_before(id, reference, user.id)
                    .await
                    .map(|filed| Checked::Filed(Box::new(filed)));
            }
        }
        let name = &user.ad.display_name;
        if let Some(why) = cannot_file(user, exclusions) {
            return Err(refused("user_id", why));
        }
        // Finishing a removal is for users whose Lync someone disabled outside deprov.
        if new.urgency == Urgency::FinishRemoval
            && user.lync.as_ref().is_some_and(|lync| lync.enabled)
        {
            return Err(refused(
                "urgency",
                format!(
                    "{name}'s Lync account is still enabled: finishing a removal is for users disabled outside \
                     deprov. File a standard or immediate request instead."
                ),
            ));
        }
        let reason_text = new.reason_text.trim();
        if reason_text.is_empty() || reason_text.chars().count() > MAX_REASON {
            return Err(refused(
                "reason_text",
                format!("Say why in a sentence (at most {MAX_REASON} characters)."),
            ));
        }
        let grace_days = new.grace_days.unwrap_or(self.policy.default_grace_days);
        if !(1..=365).contains(&grace_days) {
            return Err(refused(
                "grace_days",
                "The grace period must be from 1 to 365 days.",
            ));
        }
        let override_reason = new
            .protected_override
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if let Some(reason) = override_reason {
            if !user.protected() {
                return Err(refused(
                    "protected_override",
                    format!("{name} is not a protected account: leave the override empty."),
                ));
            }
            if reason.chars().count() > MAX_REASON {
                return Err(refused(
                    "protected_override",
                    format!("The override has at most {MAX_REASON} characters."),
                ));
            }
        }
        // By the deployment's clock, as stage 1 waits for the date by it.
        if let Some(at) = new.effective_at {
            if at > self.lync_now() + Duration::days(MAX_DAYS_AHEAD) {
                return Err(refused(
                    "effective_at",
                    format!(
                        "A request takes effect at most {MAX_DAYS_AHEAD} days ahead: file it nearer the time."
                    ),
                ));
            }
            // A date a little behind is the minute the form was filled in; an older one is a
            // mistake the requester should see, not a silent "now".
            if at < self.lync_now() - PAST_EFFECTIVE_SLACK {
                return Err(refused(
                    "effective_at",
                    "That date has passed: leave the date empty to act as soon as the request is approved.",
                ));
            }
        }
        if user.protected() && override_reason.is_none() {
            return Err(refused(
                "protected_override",
                format!(
                    "{name} is a member of {}: protected accounts need an explicit override (say why), and two approvals.",
                    user.ad.protected_groups.join(", ")
                ),
            ));
        }
        let approvals_needed = if user.protected() {
            self.policy.protected_approvals.max(2)
        } else {
            self.policy.approvals_needed.max(1)
        };

        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        // The same reference sent twice at once: the second waits for the writer and finds the first.
        if let Some(reference) = external_ref
            && let Some(id) = filed_as(
                write.requests().by_reference(reference).await?,
                by,
                reference,
            )?
        {
            drop(write);
            return self
                .filed_before(id, reference, user.id)
                .await
                .map(|filed| Checked::Filed(Box::new(filed)));
        }
        if let Some((id, state, requested_by)) = write.requests().open_for(user.id).await? {
            return Err(WorkflowError::Conflict(format!(
                "{name} already has an open request: #{id} ({}), by {requested_by}.",
                state.label(),
            )));
        }
        if mode == Mode::Check {
            return Ok(Checked::WouldFile(user.id));
        }
        let effective_at = new.effective_at.unwrap_or(now);
        let id = write
            .requests()
            .insert(&NewStoredRequest {
                user_id: user.id,
                user_display_name: name,
                user_sam_account_name: &user.ad.sam_account_name,
                user_sip_address: user
                    .lync
                    .as_ref()
                    .map(|l: &LyncAccount| l.sip_address.to_string()),
                user_protected: user.protected(),
                reason: new.reason,
                reason_text,
                urgency: new.urgency,
                effective_at,
                grace_days,
                protected_override: override_reason,
                approvals_needed,
                requested_by: by,
                created_at: now,
                external_ref,
            })
            .await?;
        let details = format!(
            "user {} ({}); reason {}: {reason_text}; urgency {}; grace {grace_days} days{}{}",
            user.ad.sam_account_name,
            user.id,
            new.reason.as_str(),
            new.urgency.as_str(),
            override_reason
                .map(|r| format!("; protected override: {r}"))
                .unwrap_or_default(),
            external_ref
                .map(|r| format!("; external reference {r}"))
                .unwrap_or_default()
        );
        audit::append(
            &mut write,
            now,
            Event {
                actor: by,
                action: "request.create",
                subject: &format!("request #{id}"),
                details,
                change: Some(Change {
                    request: id,
                    state: Some(RequestState::PendingApproval),
                    decision: None,
                    operation: None,
                }),
            },
        )
        .await?;
        notify::emit(&mut write, now, Some(id), Notice::RequestFiled).await?;
        self.commit(write).await?;
        let view = self.get(id).await?.ok_or(WorkflowError::NotFound(id))?;
        Ok(Checked::Filed(Box::new(Filed::New(view))))
    }

    /// One page of the requests `show` selects, and how many there are in all: newest first, with
    /// hostile (immediate-disconnect) requests waiting for approval ahead of the rest; the due
    /// queue longest due first.
    pub async fn list(
        &self,
        show: Show,
        readable: Readable<'_>,
        narrow: &Narrow,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<RequestView>, usize), WorkflowError> {
        let filter = RequestFilter {
            open: show == Show::Open,
            // Longest due first, by the deployment's clock.
            stage_two_due_by: (show == Show::Due).then(|| self.lync_now()),
            requested_by: match readable {
                Readable::RequestedBy(name) => Some(name),
                Readable::Every => None,
            },
            user: narrow.user,
            external_ref: narrow.external_ref.as_deref(),
        };
        let mut read = self.store.read().await?;
        let (requests, total) = read.requests().page(&filter, offset, limit).await?;
        let mut views = Vec::with_capacity(requests.len());
        for request in requests {
            let decisions = read.requests().decisions(request.id).await?;
            views.push(self.view(request, decisions));
        }
        Ok((views, total))
    }

    /// The deployment's clock.
    pub fn lync_now(&self) -> OffsetDateTime {
        (self.lync_clock)()
    }

    pub async fn get(&self, id: i64) -> Result<Option<RequestView>, WorkflowError> {
        let mut read = self.store.read().await?;
        let Some(request) = read.requests().get(id).await? else {
            return Ok(None);
        };
        let decisions = read.requests().decisions(id).await?;
        Ok(Some(self.view(request, decisions)))
    }

    fn view(&self, request: StoredRequest, decisions: Vec<DecisionView>) -> RequestView {
        let StoredRequest {
            state,
            created_at,
            requested_by,
            approvals_needed,
            stage_two_due_at,
            ..
        } = request;
        let approved_by: Vec<String> = decisions
            .iter()
            .filter(|d| d.decision == DecisionKind::Approve)
            .map(|d| d.actor.clone())
            .collect();
        let pending = state == RequestState::PendingApproval;
        let now = OffsetDateTime::now_utc();
        let lync_now = self.lync_now();
        let last = decisions.last();
        let waiting_for = match state {
            RequestState::PendingApproval => {
                let missing = approvals_needed.saturating_sub(approved_by.len() as u32);
                let mut not = vec![requested_by.clone()];
                not.extend(approved_by.iter().cloned());
                format!(
                    "{missing} more approval{} from an approver other than {}",
                    if missing == 1 { "" } else { "s" },
                    not.join(" or ")
                )
            }
            RequestState::Approved => "An admin, to execute stage 1".to_owned(),
            RequestState::Executing => "Nobody: deprov is running it against Lync".to_owned(),
            RequestState::StageOneDone => match stage_two_due_at {
                Some(due) if due <= lync_now => "An admin, to run stage 2 (due now)".to_owned(),
                Some(due) => format!(
                    "An admin, to run stage 2 once it is due ({})",
                    crate::predict::when(due)
                ),
                None => "An admin, to run stage 2".to_owned(),
            },
            RequestState::Failed => {
                "An admin: the last operation failed or was interrupted (retry, or roll back)"
                    .to_owned()
            }
            RequestState::Removed => {
                "Nobody: removed from Lync (a restore from the backup stays possible)".to_owned()
            }
            RequestState::Rejected | RequestState::Cancelled | RequestState::Expired => format!(
                "Nobody: {} by {}",
                state.label().to_lowercase(),
                last.map_or("deprov".to_owned(), |d| d.actor.clone())
            ),
            RequestState::RolledBack | RequestState::Restored => {
                format!("Nobody: {}", state.label().to_lowercase())
            }
        };
        RequestView {
            id: request.id,
            user_id: request.user_id,
            user_display_name: request.user_display_name,
            user_sam_account_name: request.user_sam_account_name,
            user_sip_address: request.user_sip_address,
            user_protected: request.user_protected,
            reason: request.reason,
            reason_text: request.reason_text,
            urgency: request.urgency,
            effective_at: request.effective_at,
            grace_days: request.grace_days,
            protected_override: request.protected_override,
            requested_by,
            created_at,
            state,
            state_changed_at: request.state_changed_at,
            version: request.version,
            approvals_needed,
            approved_by,
            decisions,
            overdue: pending && now - created_at >= self.policy.overdue_after,
            expires_at: pending.then_some(created_at + self.policy.expire_after),
            waiting_for,
            stage_two_due: state == RequestState::StageOneDone
                && stage_two_due_at.is_some_and(|due| due <= lync_now),
            stage_two_due_at,
            external_ref: request.external_ref,
        }
    }

    /// Applies `act` (an approval, a rejection, a cancellation) if `version` is still the
    /// request's version.
    pub async fn decide(
        &self,
        id: i64,
        act: Act<'_>,
        version: i64,
        comment: &str,
    ) -> Result<RequestView, WorkflowError> {
        if comment.chars().count() > MAX_REASON {
            return Err(refused(
                "comment",
                format!("A comment has at most {MAX_REASON} characters."),
            ));
        }
        if act.kind() == DecisionKind::Reject && comment.trim().is_empty() {
            return Err(refused(
                "comment",
                "Say why you reject it: the requester needs to know.",
            ));
        }
        let mut write = self.store.write().await?;
        self.decide_in(&mut write, id, act, Some(version), comment)
            .await?;
        self.commit(write).await?;
        self.get(id).await?.ok_or(WorkflowError::NotFound(id))
    }

    /// Applies `act` to request `id` inside `write`, if `version` (when given: deprov's own
    /// expiry has none) is still the request's version.
    async fn decide_in(
        &self,
        write: &mut Write,
        id: i64,
        act: Act<'_>,
        version: Option<i64>,
        comment: &str,
    ) -> Result<(), WorkflowError> {
        let (by, kind) = (act.by(), act.kind());
        let DecisionFacts {
            state,
            version: current,
            requested_by,
            approvals_needed,
        } = write
            .requests()
            .decision_facts(id)
            .await?
            .ok_or(WorkflowError::NotFound(id))?;
        if version.is_some_and(|seen| seen != current) {
            return Err(WorkflowError::Conflict(format!(
                "Request #{id} changed while you were looking at it (it is now {}). Look at it again before deciding.",
                state.label().to_lowercase()
            )));
        }
        let approved_by = write.requests().approvers(id).await?;
        let facts = Facts {
            state,
            requested_by: &requested_by,
            approved_by: &approved_by,
            approvals_needed,
        };
        let next = machine::next(facts, act).map_err(|refusal| match refusal {
            Refusal::OwnRequest | Refusal::NotRequester(_) => {
                WorkflowError::NotYours(refusal.to_string())
            }
            _ => WorkflowError::Conflict(refusal.to_string()),
        })?;
        // Only once the act is allowed: who may not cancel at all hears that, not this.
        if kind == DecisionKind::Cancel
            && !requested_by.eq_ignore_ascii_case(by)
            && comment.trim().is_empty()
        {
            return Err(refused(
                "comment",
                "Say why you cancel somebody else's approved request: the requester and the audit log need to know.",
            ));
        }
        let now = OffsetDateTime::now_utc();
        let decision = write
            .requests()
            .decide(
                id,
                current,
                next,
                &NewDecision {
                    by,
                    kind,
                    comment: comment.trim(),
                    at: now,
                },
            )
            .await?;
        let details = format!(
            "{} → {}{}",
            state.as_str(),
            next.as_str(),
            if comment.trim().is_empty() {
                String::new()
            } else {
                format!("; comment: {}", comment.trim())
            }
        );
        let action = format!("request.{}", kind.as_str());
        audit::append(
            write,
            now,
            Event {
                actor: by,
                action: &action,
                subject: &format!("request #{id}"),
                details,
                change: Some(Change {
                    request: id,
                    state: Some(next),
                    decision: Some(DecisionRecord {
                        id: decision,
                        kind,
                        comment: comment.trim().to_owned(),
                    }),
                    operation: None,
                }),
            },
        )
        .await?;
        let notice = Notice::RequestDecided {
            decision: kind,
            by: by.to_owned(),
            state: next,
            comment: comment.trim().to_owned(),
        };
        notify::emit(write, now, Some(id), notice).await?;
        Ok(())
    }

    /// Expires requests pending past the limit; returns how many.
    pub async fn expire_due(&self) -> Result<usize, WorkflowError> {
        let cutoff = OffsetDateTime::now_utc() - self.policy.expire_after;
        let due = self.store.read().await?.requests().pending().await?;
        let mut expired = 0;
        for (id, created_at) in due {
            if created_at > cutoff {
                continue;
            }
            let mut write = self.store.write().await?;
            match self
                .decide_in(&mut write, id, Act::Expire, None, "pending past the limit")
                .await
            {
                Ok(()) => {
                    self.commit(write).await?;
                    expired += 1;
                }
                Err(WorkflowError::Conflict(_)) => {} // decided meanwhile
                Err(error) => return Err(error),
            }
        }
        Ok(expired)
    }

    /// Raises the events the clock alone brings about, once each: a request pending past
    /// `overdue_after` (the approvers' reminder), and stage 2 falling due by the Lync clock.
    /// Returns how many were raised.
    pub async fn announce_due(&self) -> Result<usize, WorkflowError> {
        let now = OffsetDateTime::now_utc();
        let overdue_since = now - self.policy.overdue_after;
        let due = self
            .store
            .read()
            .await?
            .requests()
            .due_announcements(overdue_since, (self.lync_clock)())
            .await?;
        let mut raised = 0;
        for DueRequest { id, due, since } in due {
            let (notice, expected) = match due {
                Due::Overdue => (Notice::RequestOverdue, RequestState::PendingApproval),
                Due::StageTwo => (Notice::StageTwoDue, RequestState::StageOneDone),
            };
            // Keyed by the moment too: a stage 2 postponed and due again is announced again.
            let key = format!("{}:{id}:{since}", notice.kind());
            let mut write = self.store.write().await?;
            // Still so under the writer: approved or stage 2 run meanwhile is no reminder.
            if write.requests().state(id).await? == expected
                && notify::emit_once(&mut write, now, Some(id), notice, Some(&key)).await?
            {
                raised += 1;
            }
            write.commit().await?;
        }
        Ok(raised)
    }
}
