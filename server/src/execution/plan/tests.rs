//! Plan building for each request type and user situation, the order operations may come in,
//! and reading a step's effect back.

use super::*;
use deprov_wire::directory::Fact;
use deprov_wire::workflow::{ReasonCategory, RequestState, Urgency};
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-23 14:00 UTC);

fn request(urgency: Urgency, state: RequestState) -> RequestView {
    RequestView {
        id: 7,
        user_id: crate::fixtures::user(9, "jane.doe", NOW).id,
        user_display_name: "jane doe".into(),
        user_sam_account_name: "janedoe".into(),
        user_sip_address: Some("sip:jane.doe@contoso.com".into()),
        user_protected: false,
        reason: ReasonCategory::Termination,
        reason_text: "Left".into(),
        urgency,
        effective_at: NOW,
        grace_days: 30,
        protected_override: None,
        requested_by: "manager".into(),
        created_at: NOW,
        state,
        state_changed_at: NOW,
        version: 3,
        approvals_needed: 1,
        approved_by: vec!["approver".into()],
        decisions: vec![],
        overdue: false,
        expires_at: None,
        waiting_for: String::new(),
        stage_two_due_at: None,
        stage_two_due: false,
        external_ref: None,
    }
}

/// Jane: see [`crate::fixtures::leaver`].
fn jane() -> DirectoryUser {
    crate::fixtures::leaver(NOW)
}

fn renamed() -> SipAddress {
    SipAddress::new("jane.doe.123456", "contoso.com").unwrap()
}

fn steps(
    operation: Operation,
    request: &RequestView,
    user: &DirectoryUser,
    history: &History,
) -> Result<Vec<PlannedStep>, String> {
    let target = renamed();
    build(
        operation,
        &Situation {
            request,
            user,
            now: NOW,
            wall_now: NOW,
            history,
            renamed_sip: Some(&target),
        },
    )
}

fn cmdlets(steps: &[PlannedStep]) -> Vec<Option<&'static str>> {
    steps
        .iter()
        .map(|s| s.cmdlet.as_ref().map(Cmdlet::name))
        .collect()
}

#[test]
fn standard_stage_one_backs_up_then_disables_temporarily_and_says_what_happens_to_sessions() {
    let request = request(Urgency::Standard, RequestState::Approved);
    let steps = steps(Operation::StageOne, &request, &jane(), &History::default()).unwrap();
    assert_eq!(cmdlets(&steps), [None, Some("Set-CsUser")]);
    assert_eq!(
        steps[0].command,
        "Get-CsUser -Identity 'jane.doe@contoso.com'"
    );
    assert!(steps[0].effect.contains(
        "2 policy assignment(s), line URI tel:+31201234567, 12 contacts and 2 conferences"
    ));
    assert_eq!(
        steps[1].command,
        "Set-CsUser -Identity 'jane.doe@contoso.com' -Enabled $false"
    );
    assert!(steps[1].effect.starts_with("2 signed-in sessions: presence, IM and conferencing keep working until 2026-11-23 14:05 UTC (up to 5 minutes)"), "{}", steps[1].effect);
    assert_eq!(steps[1].timeline[0].at, NOW + Duration::minutes(5));
    assert!(
        steps.iter().all(|s| !s.destructive),
        "stage 1 standard hides nothing"
    );
}

#[test]
fn immediate_disconnect_also_renames_to_the_checked_address_and_revokes_certificates() {
    let request = request(Urgency::ImmediateDisconnect, RequestState::Approved);
    let steps = steps(Operation::StageOne, &request, &jane(), &History::default()).unwrap();
    assert_eq!(
        cmdlets(&steps),
        [
            None,
            Some("Set-CsUser"),
            Some("Set-CsUser"),
            Some("Revoke-CsClientCertificate")
        ]
    );
    assert_eq!(
        steps[2].command,
        "Set-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe.123456@contoso.com'"
    );
    assert!(
        steps[2]
            .effect
            .contains("2 signed-in sessions disconnected immediately"),
        "{}",
        steps[2].effect
    );
    assert!(steps[2].destructive && steps[3].destructive);
    assert!(
        steps[3]
            .effect
            .contains("Certificate sign-in blocked after about 3 minutes")
    );

    let no_free_address = build(
        Operation::StageOne,
        &Situation {
            request: &request,
            user: &jane(),
            now: NOW,
            wall_now: NOW,
            history: &History::default(),
            renamed_sip: None,
        },
    );
    assert_eq!(
        no_free_address.unwrap_err(),
        "No free SIP address could be found for the rename."
    );
}

#[test]
fn users_lync_cannot_act_on_get_no_plan() {
    let request = request(Urgency::Standard, RequestState::Approved);
    let mut never = jane();
    never.lync = None;
    assert!(
        steps(Operation::StageOne, &request, &never, &History::default())
            .unwrap_err()
            .contains("Enabled = Null")
    );
    let mut online = jane();
    online.lync.as_mut().unwrap().hosting_provider =
        deprov_wire::directory::ONLINE_HOSTING_PROVIDER.into();
    assert!(
        steps(Operation::StageTwo, &request, &online, &History::default())
            .unwrap_err()
            .contains("Homed online")
    );
}

#[test]
fn stage_two_exports_to_the_users_pool_then_removes_and_waits_for_the_grace_period() {
    let mut request = request(Urgency::Standard, RequestState::StageOneDone);
    request.stage_two_due_at = Some(NOW + Duration::days(30));
    let steps = steps(Operation::StageTwo, &request, &jane(), &History::default()).unwrap();
    assert_eq!(
        cmdlets(&steps),
        [None, Some("Export-CsUserData"), Some("Disable-CsUser")]
    );
    assert_eq!(
        steps[1].command,
        "Export-CsUserData -PoolFqdn 'lyncpool-ams.contoso.com' -UserFilter 'jane.doe@contoso.com' -FileName 'deprov-request-7-janedoe.zip'"
    );
    assert!(steps[2].destructive);
    assert!(steps[2].effect.contains("Deleted: every msRTCSIP attribute, 12 contacts, 2 scheduled conferences, 2 policy assignments"));

    let history = History::default();
    let jane = jane();
    let situation = |now| Situation {
        request: &request,
        user: &jane,
        now,
        wall_now: NOW,
        history: &history,
        renamed_sip: None,
    };
    assert_eq!(
        refusal(Operation::StageTwo, &situation(NOW)).unwrap(),
        "Stage 2 is due on 2026-12-23 14:00 UTC, when the 30-day grace period ends."
    );
    assert_eq!(
        refusal(Operation::StageTwo, &situation(NOW + Duration::days(30))),
        None
    );
}

fn after_immediate_stage_one() -> History {
    let original = jane();
    History {
        done: vec![
            Cmdlet::SetCsUserEnabled {
                identity: "jane.doe@contoso.com".into(),
                enabled: false,
            },
            Cmdlet::SetCsUserSipAddress {
                identity: "jane.doe@contoso.com".into(),
                sip_address: renamed(),
            },
            Cmdlet::RevokeCsClientCertificate {
                identity: "jane.doe@contoso.com".into(),
            },
        ],
        last: Some((Operation::StageOne, OperationState::Done)),
        unsettled: false,
        latest: Some(original.clone()),
        original: Some(original),
    }
}

fn jane_after_stage_one() -> DirectoryUser {
    let mut now = jane();
    let lync = now.lync.as_mut().unwrap();
    lync.enabled = false;
    lync.sip_address = renamed();
    now.endpoints = Fact::Known(vec![]);
    now
}

#[test]
fn rollback_sets_the_old_address_back_then_enables_and_warns_about_certificates() {
    let request = request(Urgency::ImmediateDisconnect, RequestState::StageOneDone);
    let history = after_immediate_stage_one();
    let user = jane_after_stage_one();
    let steps = steps(Operation::Rollback, &request, &user, &history).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.command.as_str()).collect::<Vec<_>>(),
        [
            "Set-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe@contoso.com'",
            "Set-CsUser -Identity 'jane.doe@contoso.com' -Enabled $true",
        ]
    );
    assert!(
        steps[0]
            .effect
            .contains("Other users must sign out and in again")
    );
    let warnings = warnings(
        Operation::Rollback,
        &Situation {
            request: &request,
            user: &user,
            now: NOW,
            wall_now: NOW,
            history: &history,
            renamed_sip: None,
        },
    );
    assert!(warnings.iter().any(|w| w.contains("cannot be restored")));
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("does not match the UPN")),
        "this request renamed the address: no suspicion about it"
    );
}

#[test]
fn after_removal_only_a_restore_is_offered_and_it_rebuilds_from_the_backup() {
    let mut history = after_immediate_stage_one();
    let before_removal = jane_after_stage_one();
    history.latest = Some(before_removal.clone());
    history.done.push(Cmdlet::ExportCsUserData {
        pool_fqdn: crate::fixtures::POOL.into(),
        user_filter: "jane.doe.123456@contoso.com".into(),
        file_name: "deprov-request-7-janedoe.zip".into(),
    });
    history.done.push(Cmdlet::DisableCsUser {
        identity: "jane.doe@contoso.com".into(),
    });
    history.last = Some((Operation::StageTwo, OperationState::Done));
    let request = request(Urgency::ImmediateDisconnect, RequestState::Removed);
    let mut removed = jane();
    removed.lync = None;

    assert_eq!(next_operations(&request, &history), [Operation::Restore]);
    assert!(
        steps(Operation::Rollback, &request, &removed, &history)
            .unwrap_err()
            .contains("restore from the backup")
    );
    let steps = steps(Operation::Restore, &request, &removed, &history).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.command.as_str()).collect::<Vec<_>>(),
        [
            "Enable-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe.123456@contoso.com' -RegistrarPool 'lyncpool-ams.contoso.com'",
            "Update-CsUserData -Filename 'deprov-request-7-janedoe.zip' -UserFilter 'jane.doe.123456@contoso.com'",
            "Grant-CsConferencingPolicy -Identity 'jane.doe@contoso.com' -PolicyName 'BoardRoom'",
            "Grant-CsVoicePolicy -Identity 'jane.doe@contoso.com' -PolicyName 'Intl'",
            "Set-CsUser -Identity 'jane.doe@contoso.com' -SipAddress 'sip:jane.doe@contoso.com'",
        ]
    );
    let warnings = warnings(
        Operation::Restore,
        &Situation {
            request: &request,
            user: &removed,
            now: NOW,
            wall_now: NOW,
            history: &history,
            renamed_sip: None,
        },
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("sign-out and sign-in to refresh"))
    );
    assert!(warnings.iter().any(|w| w.contains("tel:+31201234567")));
}

#[test]
fn operations_come_in_order() {
    let none = History::default();
    let next = |urgency: Urgency, state: RequestState, history: &History| {
        next_operations(&request(urgency, state), history)
    };
    let standard = |state: RequestState, history: &History| next(Urgency::Standard, state, history);
    assert_eq!(standard(RequestState::PendingApproval, &none), []);
    assert_eq!(
        standard(RequestState::Approved, &none),
        [Operation::StageOne]
    );
    assert_eq!(
        standard(RequestState::StageOneDone, &none),
        [Operation::StageTwo, Operation::Rollback]
    );
    assert_eq!(standard(RequestState::Executing, &none), []);
    assert_eq!(standard(RequestState::RolledBack, &none), []);
    let failed_stage_one = History {
        last: Some((Operation::StageOne, OperationState::Failed)),
        ..History::default()
    };
    assert_eq!(
        standard(RequestState::Failed, &failed_stage_one),
        [Operation::Rollback]
    );
    let failed_restore = History {
        last: Some((Operation::Restore, OperationState::Failed)),
        ..History::default()
    };
    assert_eq!(standard(RequestState::Failed, &failed_restore), []);

    // Finishing a removal started outside deprov: stage 2 at once, nothing of deprov's to undo.
    let finish =
        |state: RequestState, history: &History| next(Urgency::FinishRemoval, state, history);
    assert_eq!(finish(RequestState::Approved, &none), [Operation::StageTwo]);
    let failed_stage_two = History {
        last: Some((Operation::StageTwo, OperationState::Failed)),
        ..History::default()
    };
    assert_eq!(finish(RequestState::Failed, &failed_stage_two), []);
    assert_eq!(finish(RequestState::Removed, &none), [Operation::Restore]);
}

#[test]
fn a_fresh_read_tells_whether_each_step_took_effect() {
    let before = jane();
    let after = jane_after_stage_one();
    let disable = Cmdlet::SetCsUserEnabled {
        identity: "x".into(),
        enabled: false,
    };
    assert_eq!(took_effect(&disable, &before), Some(false));
    assert_eq!(took_effect(&disable, &after), Some(true));
    let rename = Cmdlet::SetCsUserSipAddress {
        identity: "x".into(),
        sip_address: renamed(),
    };
    assert_eq!(took_effect(&rename, &before), Some(false));
    assert_eq!(took_effect(&rename, &after), Some(true));
    let revoke = Cmdlet::RevokeCsClientCertificate {
        identity: "x".into(),
    };
    assert_eq!(took_effect(&revoke, &before), Some(false));
    let mut revoked = before.clone();
    revoked
        .lync
        .as_mut()
        .unwrap()
        .certificates
        .known_mut()
        .unwrap()[0]
        .revoked_from = Some(NOW);
    assert_eq!(took_effect(&revoke, &revoked), Some(true));
    let remove = Cmdlet::DisableCsUser {
        identity: "x".into(),
    };
    let mut removed = before.clone();
    removed.lync = None;
    assert_eq!(took_effect(&remove, &before), Some(false));
    assert_eq!(took_effect(&remove, &removed), Some(true));
    let export = Cmdlet::ExportCsUserData {
        pool_fqdn: "p".into(),
        user_filter: "u".into(),
        file_name: "f".into(),
    };
    assert_eq!(took_effect(&export, &before), None, "a file, not the user");
}

#[test]
fn rollback_undoes_only_what_this_request_did() {
    // Jane was already temporarily disabled before the request; stage 1 failed after its backup.
    let mut before = jane();
    before.lync.as_mut().unwrap().enabled = false;
    let history = History {
        last: Some((Operation::StageOne, OperationState::Failed)),
        original: Some(before.clone()),
        latest: Some(before.clone()),
        ..History::default()
    };
    let request = request(Urgency::Standard, RequestState::Failed);
    let steps = steps(Operation::Rollback, &request, &before, &history).unwrap();
    assert!(steps.is_empty(), "nothing to undo: {steps:?}");

    let unsettled = History {
        unsettled: true,
        ..history
    };
    let situation = Situation {
        request: &request,
        user: &before,
        now: NOW,
        wall_now: NOW,
        history: &unsettled,
        renamed_sip: None,
    };
    assert!(
        refusal(Operation::Rollback, &situation)
            .unwrap()
            .contains("retry first")
    );
}

#[test]
fn stage_one_waits_for_the_effective_date_and_for_a_new_protected_membership_is_refused() {
    let mut request = request(Urgency::Standard, RequestState::Approved);
    request.effective_at = NOW + Duration::days(2);
    let jane = jane();
    let history = History::default();
    let situation = |user| Situation {
        request: &request,
        user,
        now: NOW,
        wall_now: NOW,
        history: &history,
        renamed_sip: None,
    };
    assert_eq!(
        refusal(Operation::StageOne, &situation(&jane)).unwrap(),
        "The request takes effect on 2026-11-25 14:00 UTC: stage 1 waits until then."
    );
    request.effective_at = NOW;
    let mut admin = jane.clone();
    admin.ad.protected_groups = vec!["Domain Admins".into()];
    let situation = |user| Situation {
        request: &request,
        user,
        now: NOW,
        wall_now: NOW,
        history: &history,
        renamed_sip: None,
    };
    assert!(
        refusal(Operation::StageOne, &situation(&admin))
            .unwrap()
            .contains("joined a protected group (Domain Admins)")
    );
    assert_eq!(refusal(Operation::StageOne, &situation(&jane)), None);
}
