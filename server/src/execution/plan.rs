//! Plans, pure: which steps each operation runs for one request and user, what each will do to
//! the user now (from [`crate::predict`]), which operations may run next, and how a fresh read of
//! the user tells whether a step took effect (for reconciling a crash or a timeout).

use crate::predict::{self, identity, when};
use deprov_wire::cmdlet::{Cmdlet, PolicyKind, render_get_cs_user};
use deprov_wire::directory::{DirectoryUser, NOT_KNOWN_WITHOUT_SHELL, SipAddress};
use deprov_wire::execution::{Operation, OperationState, PlannedStep};
use deprov_wire::method::{Method, MethodPrediction};
use deprov_wire::workflow::{RequestState, RequestView, Urgency};
use time::OffsetDateTime;

/// What earlier operations of the request did, as far as planning goes.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every cmdlet that took effect, oldest first.
    pub done: Vec<Cmdlet>,
    /// The latest operation and how it ended.
    pub last: Option<(Operation, OperationState)>,
    /// A step of the latest operation has an outcome nobody knows yet (unknown, or running).
    pub unsettled: bool,
    /// The first backup (before stage 1): the user as they were.
    pub original: Option<DirectoryUser>,
    /// The latest backup (before removal, once stage 2 ran).
    pub latest: Option<DirectoryUser>,
}

impl History {
    fn did(&self, matches: impl Fn(&Cmdlet) -> bool) -> bool {
        self.done.iter().any(matches)
    }

    /// Disable-CsUser took effect: only a restore can bring the user back.
    pub fn removed(&self) -> bool {
        self.did(|c| matches!(c, Cmdlet::DisableCsUser { .. }))
    }
}

/// Everything a plan reads.
pub struct Situation<'a> {
    pub request: &'a RequestView,
    /// The user as read now.
    pub user: &'a DirectoryUser,
    /// The deployment's clock: grace periods end by it.
    pub now: OffsetDateTime,
    /// The wall clock: a request's effective date was set by a person, by it.
    pub wall_now: OffsetDateTime,
    pub history: &'a History,
    /// A free address for an immediate-disconnect rename.
    pub renamed_sip: Option<&'a SipAddress>,
}

/// The operations worth showing next for a request in `state`, in the order they are offered.
pub fn next_operations(request: &RequestView, history: &History) -> Vec<Operation> {
    // A finish-removal request has no stage 1 of deprov's own to undo: only stage 2 runs.
    let finish = request.urgency == Urgency::FinishRemoval;
    match request.state {
        RequestState::Approved if finish => vec![Operation::StageTwo],
        RequestState::Approved => vec![Operation::StageOne],
        RequestState::StageOneDone => vec![Operation::StageTwo, Operation::Rollback],
        RequestState::Failed
            if !finish
                && !history.removed()
                && matches!(
                    history.last,
                    Some((Operation::StageOne | Operation::StageTwo, _))
                ) =>
        {
            vec![Operation::Rollback]
        }
        RequestState::Removed => vec![Operation::Restore],
        _ => Vec::new(),
    }
}

/// Why `operation` may not start now, or `None` if it may.
pub fn refusal(operation: Operation, situation: &Situation<'_>) -> Option<String> {
    let request = situation.request;
    let state = request.state;
    if !next_operations(request, situation.history).contains(&operation) {
        return Some(match (operation, state) {
            (_, RequestState::Executing) => {
                "Another operation is running on this request: wait for it to finish.".to_owned()
            }
            (_, RequestState::Failed) => {
                "The last operation failed: retry it, or roll back stage 1.".to_owned()
            }
            (Operation::StageOne, RequestState::PendingApproval) => {
                "This request is not approved yet.".to_owned()
            }
            _ => format!(
                "{} is not possible while the request is: {}.",
                operation.label(),
                state.label()
            ),
        });
    }
    if operation == Operation::Rollback && situation.history.unsettled {
        return Some(
            "Whether the last step took effect is not known yet: retry first (deprov reads the user back before running anything)."
                .to_owned(),
        );
    }
    if matches!(operation, Operation::StageOne | Operation::StageTwo)
        && request.state == RequestState::Approved
        && request.effective_at > situation.wall_now
    {
        return Some(format!(
            "The request takes effect on {}: {} waits until then.",
            when(request.effective_at),
            operation.label().to_lowercase()
        ));
    }
    // Finishing a removal is for a user whose Lync stays disabled: one enabled again meanwhile is
    // active, and would lose everything with no grace period.
    if operation == Operation::StageTwo
        && request.urgency == Urgency::FinishRemoval
        && situation.user.lync.as_ref().is_some_and(|l| l.enabled)
    {
        return Some(format!(
            "{}'s Lync account was enabled again after this request was filed: finishing the removal \
             would cut off an active user. Cancel it, and file a new request if they must go.",
            situation.user.ad.display_name
        ));
    }
    if situation.user.protected() && !request.user_protected {
        return Some(format!(
            "{} joined a protected group ({}) after the request was filed: file a new request, with an override and two approvals.",
            situation.user.ad.display_name,
            situation.user.ad.protected_groups.join(", ")
        ));
    }
    if operation == Operation::StageTwo
        && let Some(due) = request.stage_two_due_at
        && due > situation.now
    {
        return Some(format!(
            "Stage 2 is due on {}, when the {}-day grace period ends.",
            when(due),
            request.grace_days
        ));
    }
    None
}

/// The steps of `operation` for this user now, or why none can be planned.
pub fn build(operation: Operation, situation: &Situation<'_>) -> Result<Vec<PlannedStep>, String> {
    let user = situation.user;
    let id = identity(user);
    let predictions = predict::predict(user, situation.now, situation.renamed_sip, None);
    let prediction = |method: Method| -> &MethodPrediction {
        predictions
            .iter()
            .find(|p| p.method == method)
            .expect("predict covers every method")
    };
    let run = |title: &str, cmdlet: Cmdlet, destructive: bool, effect: String| PlannedStep {
        title: title.to_owned(),
        command: cmdlet.render(),
        cmdlet: Some(cmdlet),
        destructive,
        effect,
        timeline: Vec::new(),
    };
    match operation {
        Operation::StageOne | Operation::StageTwo => {
            let lync = user.lync.as_ref().ok_or_else(|| {
                format!(
                    "{} is not enabled for Lync (Enabled = Null): there is nothing to change.",
                    user.ad.display_name
                )
            })?;
            if lync.homed_online() {
                return Err(
                    "Homed online (sipfed.online.lync.com): a hybrid user is de-provisioned in Lync Online."
                        .to_owned(),
                );
            }
            let mut steps = vec![backup_step(user)];
            if operation == Operation::StageOne {
                let disable = prediction(Method::TemporarilyDisable);
                let mut step = run(
                    "Temporarily disable in Lync",
                    Cmdlet::SetCsUserEnabled {
                        identity: id.clone(),
                        enabled: false,
                    },
                    false,
                    format!(
                        "{} New sign-in: {}",
                        disable.signed_in_sessions.text, disable.new_sign_in.text
                    ),
                );
                step.timeline = disable.timeline.clone();
                steps.push(step);
                if situation.request.urgency == Urgency::ImmediateDisconnect {
                    let sip = situation
                        .renamed_sip
                        .ok_or("No free SIP address could be found for the rename.")?;
                    let rename = prediction(Method::RenameSipAddress);
                    let mut step = run(
                        "Rename the SIP address (immediate disconnect)",
                        Cmdlet::SetCsUserSipAddress {
                            identity: id.clone(),
                            sip_address: sip.clone(),
                        },
                        true,
                        format!(
                            "{} {sip} was checked to be unused. Reversible: rollback sets {} back; \
                             other users must then sign out and in again to see presence.",
                            rename.signed_in_sessions.text, lync.sip_address
                        ),
                    );
                    step.timeline = rename.timeline.clone();
                    steps.push(step);
                    let revoke = prediction(Method::RevokeCertificate);
                    let mut step = run(
                        "Revoke client certificates",
                        Cmdlet::RevokeCsClientCertificate { identity: id },
                        true,
                        format!(
                            "{} Cannot be undone: the client asks for the password once, if the account is ever enabled again.",
                            revoke.new_sign_in.text
                        ),
                    );
                    step.timeline = revoke.timeline.clone();
                    steps.push(step);
                }
            } else {
                let pool = lync
                    .registrar_pool
                    .clone()
                    .ok_or("No registrar pool is recorded: Export-CsUserData needs one.")?;
                let file_name = format!(
                    "deprov-request-{}-{}.zip",
                    situation.request.id, user.ad.sam_account_name
                );
                steps.push(run(
                    "Export contacts and conferences",
                    Cmdlet::ExportCsUserData {
                        pool_fqdn: pool.clone(),
                        user_filter: lync.sip_address.without_scheme(),
                        file_name: file_name.clone(),
                    },
                    false,
                    format!(
                        "Saves {} contacts and {} scheduled conferences to {file_name} on {pool}, for Update-CsUserData.",
                        predict::count(lync.contact_count),
                        predict::count(lync.conference_count)
                    ),
                ));
                let remove = prediction(Method::RemoveFromLync);
                let mut step = run(
                    "Remove from Lync",
                    Cmdlet::DisableCsUser { identity: id },
                    true,
                    format!("{} {}", remove.signed_in_sessions.text, remove.data.text),
                );
                step.timeline = remove.timeline.clone();
                steps.push(step);
            }
            Ok(steps)
        }
        Operation::Rollback => {
            let history = situation.history;
            if history.removed() {
                return Err("Disable-CsUser has run: restore from the backup instead.".to_owned());
            }
            if user.lync.is_none() {
                return Err(
                    "The user is no longer enabled for Lync (Disable-CsUser took effect): restore from the backup instead."
                        .to_owned(),
                );
            }
            // Only what this request did is undone: a user who was already temporarily disabled
            // before it stays so.
            let mut steps = Vec::new();
            if history.did(|c| matches!(c, Cmdlet::SetCsUserSipAddress { .. })) {
                let old = history
                    .original
                    .as_ref()
                    .and_then(|u| u.lync.as_ref())
                    .map(|l| l.sip_address.clone())
                    .ok_or("The backup with the old SIP address is missing.")?;
                steps.push(run(
                    "Set the old SIP address back",
                    Cmdlet::SetCsUserSipAddress {
                        identity: id.clone(),
                        sip_address: old.clone(),
                    },
                    false,
                    format!(
                        "The user signs in as {old} again. Other users must sign out and in again to see their presence."
                    ),
                ));
            }
            let disabled =
                history.did(|c| matches!(c, Cmdlet::SetCsUserEnabled { enabled: false, .. }));
            let was_enabled = history
                .original
                .as_ref()
                .and_then(|u| u.lync.as_ref())
                .is_some_and(|l| l.enabled);
            if disabled && was_enabled {
                steps.push(run(
                    "Enable in Lync again",
                    Cmdlet::SetCsUserEnabled {
                        identity: id,
                        enabled: true,
                    },
                    false,
                    "Sign-in works again; sessions get IM, presence and conferencing back."
                        .to_owned(),
                ));
            }
            Ok(steps)
        }
        Operation::Restore => {
            let history = situation.history;
            let at_removal = history
                .latest
                .as_ref()
                .and_then(|u| u.lync.as_ref())
                .ok_or("No backup was taken before removal: there is nothing to restore from.")?;
            let pool = at_removal
                .registrar_pool
                .clone()
                .ok_or("The backup records no registrar pool.")?;
            let export = history.done.iter().find_map(|c| match c {
                Cmdlet::ExportCsUserData { file_name, .. } => Some(file_name.clone()),
                _ => None,
            });
            let mut steps = vec![run(
                "Enable for Lync again",
                Cmdlet::EnableCsUser {
                    identity: id.clone(),
                    sip_address: at_removal.sip_address.clone(),
                    registrar_pool: pool.clone(),
                },
                false,
                format!(
                    "A blank Lync account with {} on {pool}; what follows fills it from the backup.",
                    at_removal.sip_address
                ),
            )];
            if let Some(file_name) = export {
                steps.push(run(
                    "Restore contacts and conferences",
                    Cmdlet::UpdateCsUserData {
                        file_name: file_name.clone(),
                        user_filter: at_removal.sip_address.without_scheme(),
                    },
                    false,
                    format!(
                        "Imports {} contacts and {} scheduled conferences from {file_name}.",
                        predict::count(at_removal.contact_count),
                        predict::count(at_removal.conference_count)
                    ),
                ));
            }
            for policy in at_removal.policies.known().into_iter().flatten() {
                if let Some(kind) = PolicyKind::parse(&policy.kind) {
                    steps.push(run(
                        &format!("Re-grant the {} policy", kind.as_str()),
                        Cmdlet::GrantPolicy {
                            kind,
                            identity: id.clone(),
                            policy_name: policy.name.clone(),
                        },
                        false,
                        format!(
                            "{} policy {} again, as recorded.",
                            kind.as_str(),
                            policy.name
                        ),
                    ));
                }
            }
            let original = history
                .original
                .as_ref()
                .and_then(|u| u.lync.as_ref())
                .map(|l| l.sip_address.clone());
            if let Some(original) = original.filter(|o| *o != at_removal.sip_address) {
                steps.push(run(
                    "Set the original SIP address back",
                    Cmdlet::SetCsUserSipAddress {
                        identity: id.clone(),
                        sip_address: original.clone(),
                    },
                    false,
                    format!("The user signs in as {original} again."),
                ));
            }
            // Lync disabled before deprov first acted (a finish-removal request): restored as
            // it was then, not enabled anew.
            let disabled_before = history
                .original
                .as_ref()
                .and_then(|u| u.lync.as_ref())
                .is_some_and(|l| !l.enabled);
            if disabled_before {
                steps.push(run(
                    "Keep Lync disabled, as it was",
                    Cmdlet::SetCsUserEnabled {
                        identity: id,
                        enabled: false,
                    },
                    false,
                    "The account and its data are back, disabled as they were before the removal: \
                     Set-CsUser -Enabled $true gives the user Lync again."
                        .to_owned(),
                ));
            }
            Ok(steps)
        }
    }
}

/// The backup read that starts stage 1 and stage 2.
fn backup_step(user: &DirectoryUser) -> PlannedStep {
    let effect = user.lync.as_ref().map_or_else(String::new, |lync| {
        format!(
            "Records what can be restored: SIP address {}, pool {}, {} policy assignment(s){}, {} contacts and {} conferences. \
             Kept with the request; admins can download it.",
            lync.sip_address,
            lync.registrar_pool.as_deref().unwrap_or("none"),
            predict::count(lync.policies.as_ref().map(|p| p.len() as u32)),
            lync.line_uri
                .as_deref()
                .map(|uri| format!(", line URI {uri}"))
                .unwrap_or_default(),
            predict::count(lync.contact_count),
            predict::count(lync.conference_count)
        )
    });
    PlannedStep {
        title: "Back up what can be restored".to_owned(),
        command: render_get_cs_user(&identity(user)),
        cmdlet: None,
        destructive: false,
        effect,
        timeline: Vec::new(),
    }
}

/// Warnings to read before `operation` runs.
/// Why giving Lync back to this user needs a second admin, if it does: an AD-disabled account
/// regains Lync that AD no longer vouches for, and an immediate disconnect was a hostile
/// termination that one admin alone should not undo.
pub fn second_admin(operation: Operation, situation: &Situation<'_>) -> Option<String> {
    if !operation.re_enables() {
        return None;
    }
    let name = &situation.request.user_display_name;
    if situation.user.ad.account_disabled {
        Some(format!(
            "{name}'s AD account is disabled: Lync will be enabled for a disabled AD account, and it shows in the \
             mismatch report. A second admin must confirm."
        ))
    } else if situation.request.urgency == Urgency::ImmediateDisconnect {
        Some(format!(
            "{name} was cut off by an immediate disconnect (hostile termination): a second admin must confirm \
             giving Lync back."
        ))
    } else {
        None
    }
}

pub fn warnings(operation: Operation, situation: &Situation<'_>) -> Vec<String> {
    let mut warnings = predict::warnings(situation.user);
    if operation.re_enables() {
        let address = situation
            .request
            .user_sip_address
            .clone()
            .unwrap_or_else(|| "their old SIP address".to_owned());
        warnings.push(format!(
            "{} regains Lync as {address}: IM, presence, meetings and calls, on every device that signs in.",
            situation.request.user_display_name
        ));
    }
    let history = situation.history;
    if history.did(|c| matches!(c, Cmdlet::SetCsUserSipAddress { .. })) {
        // The address differs from the UPN because this request renamed it: not a finding here.
        let renamed_here = predict::renamed_sip_warning();
        warnings.retain(|w| *w != renamed_here);
    }
    match operation {
        Operation::Rollback
            if history.did(|c| matches!(c, Cmdlet::RevokeCsClientCertificate { .. })) =>
        {
            warnings.push(
                "Revoked client certificates cannot be restored: the client asks for the password once."
                    .to_owned(),
            );
        }
        Operation::Restore => {
            warnings.push(
                "Other users' contact lists and presence may need a sign-out and sign-in to refresh.".to_owned(),
            );
            if let Some(lync) = history.latest.as_ref().and_then(|u| u.lync.as_ref()) {
                if let Some(uri) = &lync.line_uri {
                    warnings.push(format!(
                        "The line URI {uri} and Enterprise Voice are recorded in the backup but not restored by these \
                         cmdlets: set them again with Set-CsUser if the user needs them."
                    ));
                }
                if lync.policies.is_unknown() {
                    warnings.push(format!(
                        "The policy assignments were {NOT_KNOWN_WITHOUT_SHELL} when the backup was taken: \
                         grant them again by hand if the user had any."
                    ));
                }
                let unknown: Vec<&str> = lync
                    .policies
                    .known()
                    .into_iter()
                    .flatten()
                    .filter(|p| PolicyKind::parse(&p.kind).is_none())
                    .map(|p| p.kind.as_str())
                    .collect();
                if !unknown.is_empty() {
                    warnings.push(format!(
                        "Policies of these types are recorded but must be granted by hand: {}.",
                        unknown.join(", ")
                    ));
                }
            }
            if history.did(|c| matches!(c, Cmdlet::RevokeCsClientCertificate { .. })) {
                warnings.push("Revoked client certificates are not restored.".to_owned());
            }
        }
        _ => {}
    }
    warnings
}

/// Whether `user`, read fresh, shows that `cmdlet` took effect; `None` when a read cannot tell
/// (Export-CsUserData writes a file, not the user; certificates and policies are unknown without
/// the Lync shell).
pub fn took_effect(cmdlet: &Cmdlet, user: &DirectoryUser) -> Option<bool> {
    let lync = user.lync.as_ref();
    Some(match cmdlet {
        Cmdlet::SetCsUserEnabled { enabled, .. } => lync.is_some_and(|l| l.enabled == *enabled),
        Cmdlet::SetCsUserSipAddress { sip_address, .. } => {
            lync.is_some_and(|l| l.sip_address == *sip_address)
        }
        Cmdlet::DisableCsUser { .. } => lync.is_none(),
        Cmdlet::EnableCsUser { sip_address, .. } => {
            lync.is_some_and(|l| l.sip_address == *sip_address)
        }
        // What only the Lync server knows cannot be read back without it.
        Cmdlet::RevokeCsClientCertificate { .. } => match lync {
            None => false,
            Some(l) => l
                .certificates
                .known()?
                .iter()
                .all(|c| c.revoked_from.is_some()),
        },
        Cmdlet::GrantPolicy {
            kind, policy_name, ..
        } => match lync {
            None => false,
            Some(l) => l
                .policies
                .known()?
                .iter()
                .any(|p| p.kind.eq_ignore_ascii_case(kind.as_str()) && p.name == *policy_name),
        },
        Cmdlet::ExportCsUserData { .. } | Cmdlet::UpdateCsUserData { .. } => return None,
    })
}

#[cfg(test)]
mod tests;
