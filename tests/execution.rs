//! Executing approved requests over HTTP: confirmation, the 409 on a double start, progress on the
//! event stream, injected faults and retry, roles, bad input, the due queue and the backup.

use deprov_tests::{TestPortal, ordinary_user};
use deprov_wire::execution::{ExecutionView, OperationState, StepState};
use deprov_wire::workflow::RequestState;
use serde_json::json;
use std::time::Duration;

fn execution(body: serde_json::Value) -> ExecutionView {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Files and approves a request for the `skip`th ordinary user; returns (request id, version, sam).
async fn approved(portal: &TestPortal, skip: usize, urgency: &str) -> (i64, i64, String) {
    let user = ordinary_user(portal, skip).await;
    let manager = portal.person("manager").await;
    let (status, body) = manager
        .post(
            "/api/requests",
            Some(json!({ "user_id": user, "reason": "termination", "reason_text": "Escorted out", "urgency": urgency, "grace_days": 1 })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let approver = portal.person("approver").await;
    let (status, body) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(json!({ "version": body["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (
        id,
        body["version"].as_i64().unwrap(),
        body["user_sam_account_name"].as_str().unwrap().to_owned(),
    )
}

/// Polls the execution view until `done` holds (the operation runs in the background).
async fn until(
    portal: &TestPortal,
    id: i64,
    done: impl Fn(&ExecutionView) -> bool,
) -> ExecutionView {
    let mut last = None;
    for _ in 0..200 {
        let (_, body) = portal
            .get_json(&format!("/api/requests/{id}/execution"))
            .await;
        let view = execution(body);
        if done(&view) {
            return view;
        }
        last = Some(view);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached the expected state: {last:#?}");
}

#[tokio::test]
async fn an_admin_runs_immediate_disconnect_stage_one_once_and_watches_it_on_the_stream() {
    let portal = TestPortal::spawn(500, 3).await;
    let (id, version, sam) = approved(&portal, 0, "immediate_disconnect").await;
    let (status, body) = portal
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    assert_eq!(status, 200);
    let plan = execution(body);
    let stage_one = &plan.next[0];
    assert_eq!(stage_one.steps.len(), 4);
    assert_eq!(stage_one.confirm_with.as_deref(), Some(sam.as_str()));
    assert!(stage_one.steps[1].command.ends_with("-Enabled $false"));

    // Revocation answers after a second: long enough for the stream to show a step running.
    let (status, _) = portal
        .post(
            "/api/sim/faults",
            Some(json!({ "cmdlet": "Revoke-CsClientCertificate", "kind": "slow" })),
        )
        .await;
    assert_eq!(status, 204);
    let mut stream = portal
        .events(&format!("/api/requests/{id}/execution/events"))
        .await;
    let (event, _) = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(event, "execution");

    let admin = portal.person("admin").await;
    let path = format!("/api/requests/{id}/execute");
    let (status, body) = admin
        .post(
            &path,
            Some(json!({ "operation": "stage_one", "version": version })),
        )
        .await;
    assert_eq!(
        status, 422,
        "a destructive stage needs the account name: {body}"
    );
    assert_eq!(body["field"], "confirm");
    let (first, second) = tokio::join!(
        admin.post(
            &path,
            Some(json!({ "operation": "stage_one", "version": version, "confirm": sam }))
        ),
        portal.post(
            &path,
            Some(json!({ "operation": "stage_one", "version": version, "confirm": sam }))
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [202, 409],
        "a double start runs once: {first:?} {second:?}"
    );

    // The stream shows the steps as they go, and ends with the request's new state.
    let mut saw_running = false;
    let finished = loop {
        let (_, data) = stream
            .next(Duration::from_secs(10))
            .await
            .expect("progress events");
        let view: ExecutionView = serde_json::from_str(&data).unwrap();
        saw_running |= view
            .operations
            .iter()
            .any(|op| op.steps.iter().any(|s| s.state == StepState::Running));
        if view.request.state == RequestState::StageOneDone {
            break view;
        }
    };
    assert!(saw_running, "a step was seen running");
    let op = &finished.operations[0];
    assert_eq!(op.state, OperationState::Done);
    assert!(
        op.steps
            .iter()
            .all(|s| s.state == StepState::Done && s.attempts == 1)
    );
    assert_eq!(
        op.started_by,
        if statuses[0] == first.0 {
            "admin"
        } else {
            "everyone"
        }
    );

    let (status, audit) = portal.get_json("/api/audit?action=execution.step").await;
    assert_eq!(status, 200);
    assert_eq!(audit["entries"].as_array().unwrap().len(), 4, "{audit}");

    let (status, backup) = admin.get_json(&format!("/api/requests/{id}/backup")).await;
    assert_eq!(status, 200);
    assert_eq!(backup["backups"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_injected_failure_fails_the_request_and_a_retry_finishes_it() {
    let portal = TestPortal::spawn(500, 3).await;
    let (id, version, _) = approved(&portal, 1, "standard").await;
    let (status, _) = portal
        .post(
            "/api/sim/faults",
            Some(json!({ "cmdlet": "Set-CsUser", "kind": "fail" })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = portal
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(json!({ "operation": "stage_one", "version": version })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let failed = until(&portal, id, |v| v.request.state == RequestState::Failed).await;
    assert!(failed.can_retry);
    let step = &failed.operations[0].steps[1];
    assert!(
        step.error.as_deref().unwrap().contains("simulated failure"),
        "{step:?}"
    );

    let manager = portal.person("manager").await;
    let (status, _) = manager
        .post(
            &format!("/api/requests/{id}/retry"),
            Some(json!({ "version": failed.request.version })),
        )
        .await;
    assert_eq!(status, 403, "only admins retry");
    let (status, body) = portal
        .post(
            &format!("/api/requests/{id}/retry"),
            Some(json!({ "version": failed.request.version })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = until(&portal, id, |v| {
        v.request.state == RequestState::StageOneDone
    })
    .await;
    let attempts: Vec<u32> = done.operations[0]
        .steps
        .iter()
        .map(|s| s.attempts)
        .collect();
    assert_eq!(attempts, [1, 2], "only the failed step ran again");
    // The audit log vouches for the request, its approval and its operation, through the
    // failure and the retry.
    let found = deprov_server::audit::verify::verify(&portal.store, None)
        .await
        .unwrap();
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    let checked = &found.cross_checked;
    assert_eq!(
        (checked.requests, checked.decisions, checked.operations),
        (1, 1, 1)
    );

    // Stage 2 waits for the 1-day grace period, then appears in the due queue.
    let (_, due) = portal.get_json("/api/requests?show=due").await;
    assert!(due["requests"].as_array().unwrap().is_empty());
    let (status, _) = portal
        .post("/api/sim/clock/advance", Some(json!({ "seconds": 86_400 })))
        .await;
    assert_eq!(status, 204);
    let (_, due) = portal.get_json("/api/requests?show=due").await;
    assert_eq!(due["requests"][0]["id"], id);
    assert_eq!(due["requests"][0]["stage_two_due"], true);
}

#[tokio::test]
async fn roles_and_bad_input_get_clear_answers() {
    let portal = TestPortal::spawn(300, 3).await;
    let (id, version, _) = approved(&portal, 0, "standard").await;
    let path = format!("/api/requests/{id}/execute");
    let body = json!({ "operation": "stage_one", "version": version });
    for name in ["manager", "approver", "auditor"] {
        let (status, answer) = portal
            .person(name)
            .await
            .post(&path, Some(body.clone()))
            .await;
        assert_eq!(status, 403, "{name}: {answer}");
    }
    let auditor = portal.person("auditor").await;
    let (status, _) = auditor
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    assert_eq!(status, 200, "auditors read everything");
    let (status, _) = auditor
        .get_json(&format!("/api/requests/{id}/backup"))
        .await;
    assert_eq!(status, 403, "backups are for admins");

    let (status, answer) = portal
        .post(&path, Some(json!({ "operation": "explode", "version": 1 })))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].is_string());
    let (status, answer) = portal
        .post("/api/requests/99999/execute", Some(body.clone()))
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = portal
        .post(
            &path,
            Some(json!({ "operation": "stage_two", "version": version })),
        )
        .await;
    assert_eq!(status, 422, "stage 2 before stage 1: {answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("not possible"),
        "{answer}"
    );
    let (status, answer) = portal
        .post(
            "/api/sim/faults",
            Some(json!({ "cmdlet": "", "kind": "fail" })),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = portal
        .everyone
        .send(
            reqwest::Method::PUT,
            "/api/settings/execution",
            Some(json!({ "auto_stage_two": "yes" })),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn automatic_stage_two_is_off_until_an_admin_turns_it_on() {
    let portal = TestPortal::spawn(300, 3).await;
    let (_, settings) = portal.get_json("/api/settings/execution").await;
    assert_eq!(settings["auto_stage_two"], false);
    let manager = portal.person("manager").await;
    let (status, _) = manager
        .send(
            reqwest::Method::PUT,
            "/api/settings/execution",
            Some(json!({ "auto_stage_two": true })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = portal
        .everyone
        .send(
            reqwest::Method::PUT,
            "/api/settings/execution",
            Some(json!({ "auto_stage_two": true })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, settings) = portal.get_json("/api/settings/execution").await;
    assert_eq!(settings["auto_stage_two"], true);
    let (_, audit) = portal
        .get_json("/api/audit?action=settings.auto_stage_two")
        .await;
    assert_eq!(audit["entries"][0]["actor"], "everyone");
}

/// Signs the user with objectGUID `id` in on a laptop, with AD enabled (so Windows sign-in works).
async fn signed_in(portal: &TestPortal, id: &str) {
    use deprov_server::backend::DirectorySource;
    let id: deprov_wire::directory::UserId = id.parse().unwrap();
    let user = portal.simulator().read_user(id).await.unwrap();
    if user.ad.account_disabled {
        portal.simulator().ad_enable(id).unwrap();
    }
    let sip = user.lync.unwrap().sip_address;
    portal
        .simulator()
        .sign_in(
            &sip,
            deprov_wire::directory::SignInMethod::Windows,
            "Lync 2013 (Windows)",
        )
        .unwrap();
}

#[tokio::test]
async fn each_step_is_verified_when_its_effect_should_show_and_unpatched_clients_are_reported_loudly()
 {
    use deprov_wire::execution::VerificationState;
    let portal = TestPortal::spawn(500, 3).await;
    let mut runs = Vec::new();
    for (skip, unpatched) in [(0, false), (1, true)] {
        let (id, version, _) = approved(&portal, skip, "standard").await;
        let (_, body) = portal.get_json(&format!("/api/requests/{id}")).await;
        signed_in(&portal, body["user_id"].as_str().unwrap()).await;
        if unpatched {
            let (status, _) = portal
                .post(
                    "/api/sim/faults",
                    Some(json!({ "cmdlet": "Set-CsUser", "kind": "unpatched_clients" })),
                )
                .await;
            assert_eq!(status, 204);
        }
        let (status, body) = portal
            .post(
                &format!("/api/requests/{id}/execute"),
                Some(json!({ "operation": "stage_one", "version": version })),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let view = until(&portal, id, |v| {
            v.request.state == RequestState::StageOneDone
        })
        .await;
        let step = &view.operations[0].steps[1];
        assert!(step.command.ends_with("-Enabled $false"));
        let pending = step.verification.as_ref().expect("scheduled with the step");
        assert_eq!(
            pending.state,
            VerificationState::Pending,
            "not before the 5-minute window ends"
        );
        runs.push(id);
    }
    // The 5-minute window passes on the deployment's clock.
    let (status, _) = portal
        .post("/api/sim/clock/advance", Some(json!({ "seconds": 360 })))
        .await;
    assert_eq!(status, 204);
    let checked = |id: i64| {
        let portal = &portal;
        async move {
            until(portal, id, |v| {
                v.operations[0].steps[1]
                    .verification
                    .as_ref()
                    .is_some_and(|c| c.state != VerificationState::Pending)
            })
            .await
            .operations[0]
                .steps[1]
                .verification
                .clone()
                .unwrap()
        }
    };
    let fine = checked(runs[0]).await;
    assert_eq!(fine.state, VerificationState::Verified, "{}", fine.text);
    assert!(
        fine.text
            .contains("Enabled = False, no signed-in session can IM or meet"),
        "{}",
        fine.text
    );
    let unpatched = checked(runs[1]).await;
    assert_eq!(
        unpatched.state,
        VerificationState::NotAsPredicted,
        "{}",
        unpatched.text
    );
    assert!(
        unpatched.text.starts_with("NOT as predicted"),
        "{}",
        unpatched.text
    );
    assert!(
        unpatched.text.contains("consider the immediate disconnect"),
        "{}",
        unpatched.text
    );
    let (_, audit) = portal.get_json("/api/audit?action=execution.verify").await;
    assert_eq!(audit["total"], 2, "{audit}");
}

#[tokio::test]
async fn giving_lync_back_after_an_immediate_disconnect_needs_a_reason_and_a_second_admin() {
    let portal = TestPortal::spawn(500, 9).await;
    let (id, version, sam) = approved(&portal, 0, "immediate_disconnect").await;
    let path = format!("/api/requests/{id}/execute");
    let (status, body) = portal
        .post(
            &path,
            Some(json!({ "operation": "stage_one", "version": version, "confirm": sam })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let done = until(&portal, id, |v| {
        v.request.state == RequestState::StageOneDone
    })
    .await;
    let rollback = done
        .next
        .iter()
        .find(|p| p.operation == deprov_wire::execution::Operation::Rollback)
        .expect("a rollback is offered");
    assert!(
        rollback
            .second_admin
            .as_deref()
            .unwrap_or_default()
            .contains("immediate disconnect"),
        "{rollback:?}"
    );
    assert!(
        rollback
            .warnings
            .iter()
            .any(|w| w.contains("regains Lync as sip:")),
        "who regains access is said before: {:?}",
        rollback.warnings
    );
    // The user page says deprov renamed the address, and the undo hints use the original.
    let (_, user) = portal
        .get_json(&format!("/api/users/{}", done.request.user_id))
        .await;
    let original = done.request.user_sip_address.clone().unwrap();
    assert_eq!(user["sip_renamed"]["request"], id, "{user}");
    assert_eq!(user["sip_renamed"]["original"], original.as_str());
    assert_ne!(user["user"]["lync"]["sip_address"], original.as_str());
    let undo = user["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["method"] == "rename_sip_address")
        .unwrap()["reversible"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(undo.contains(&original), "{undo}");
    let version = done.request.version;
    let ask = |reason: &str| json!({ "operation": "rollback", "version": version, "confirm": sam, "reason": reason });

    let (status, body) = portal.post(&path, Some(ask("  "))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("reason")),
        "{body}"
    );

    // The first admin asks: nothing runs, the ask is shown to everyone.
    let (status, body) = portal
        .post(&path, Some(ask("HR reversed the decision")))
        .await;
    assert_eq!(status, 202, "{body}");
    let asked = execution(body);
    assert_eq!(
        asked.request.state,
        RequestState::StageOneDone,
        "nothing ran"
    );
    let pending = asked.reenable_ask.expect("the ask is shown");
    assert_eq!(
        (pending.asked_by.as_str(), pending.reason.as_str()),
        ("everyone", "HR reversed the decision")
    );

    // The same admin cannot confirm their own ask; another admin can.
    let (status, body) = portal.post(&path, Some(ask("again"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = portal
        .person("admin")
        .await
        .post(&path, Some(ask("Checked with HR: confirmed")))
        .await;
    assert_eq!(status, 202, "{body}");
    let rolled_back = until(&portal, id, |v| v.request.state == RequestState::RolledBack).await;
    assert!(rolled_back.reenable_ask.is_none());
    let (_, user) = portal
        .get_json(&format!("/api/users/{}", done.request.user_id))
        .await;
    assert!(
        user["sip_renamed"].is_null(),
        "the old address is back: {user}"
    );

    let (_, audit) = portal.get_json("/api/audit?limit=50").await;
    let rows = audit["entries"].as_array().expect("audit entries");
    assert!(
        rows.iter().any(|r| r["action"] == "execution.ask"
            && r["details"]
                .as_str()
                .unwrap()
                .contains("HR reversed the decision")),
        "{audit}"
    );
    assert!(
        rows.iter().any(|r| r["action"] == "execution.start"
            && r["details"]
                .as_str()
                .unwrap()
                .contains("asked by everyone (HR reversed the decision), confirmed by admin")),
        "{audit}"
    );
}

#[tokio::test]
async fn a_removal_left_unfinished_outside_deprov_is_finished_with_stage_two_alone() {
    let portal = TestPortal::spawn(2_000, 11).await;
    let (_, found) = portal
        .get_json("/api/users?lync=temporarily_disabled&limit=100")
        .await;
    let user = found["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["protected"] == false && u["homed_online"] == false)
        .expect("a user disabled in Lync outside deprov")
        .clone();
    let manager = portal.person("manager").await;
    let body = |user: &str, urgency: &str| json!({ "user_id": user, "reason": "resignation", "reason_text": "Left in 2025; never removed", "urgency": urgency });
    // Not for a user whose Lync still works.
    let enabled = ordinary_user(&portal, 0).await;
    let (status, refused) = manager
        .post("/api/requests", Some(body(&enabled, "finish_removal")))
        .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("urgency")),
        "{refused}"
    );

    let (status, filed) = manager
        .post(
            "/api/requests",
            Some(body(user["id"].as_str().unwrap(), "finish_removal")),
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_i64().unwrap();
    let (status, approved) = portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(json!({ "version": filed["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let (_, view) = portal
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    let view = execution(view);
    assert_eq!(view.next.len(), 1, "{:?}", view.next);
    let plan = &view.next[0];
    assert_eq!(plan.operation, deprov_wire::execution::Operation::StageTwo);
    assert_eq!(plan.refused, None, "runs as soon as it is approved");
    let commands: Vec<&str> = plan.steps.iter().map(|s| s.command.as_str()).collect();
    assert!(
        commands.iter().any(|c| c.starts_with("Export-CsUserData")),
        "{commands:?}"
    );
    assert!(
        commands.last().unwrap().starts_with("Disable-CsUser"),
        "backup first: {commands:?}"
    );
    let sam = view.request.user_sam_account_name.clone();
    let (status, started) = portal
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(json!({ "operation": "stage_two", "version": view.request.version, "confirm": sam })),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let done = until(&portal, id, |v| v.request.state == RequestState::Removed).await;
    assert!(
        done.backup_taken_at.is_some(),
        "a backup before anything destructive"
    );

    // Restored as it was before deprov acted: Lync disabled, not enabled anew.
    let restore = &done.next[0];
    assert_eq!(
        restore.operation,
        deprov_wire::execution::Operation::Restore
    );
    assert!(
        restore
            .steps
            .last()
            .unwrap()
            .command
            .ends_with("-Enabled $false"),
        "{:?}",
        restore.steps
    );
    let body = json!({ "operation": "restore", "version": done.request.version, "confirm": sam,
        "reason": "Removed by mistake: the mailbox owner is on leave" });
    let path = format!("/api/requests/{id}/execute");
    let (status, asked) = portal.post(&path, Some(body.clone())).await;
    assert_eq!(status, 202, "{asked}");
    if !asked["reenable_ask"].is_null() {
        let (status, confirmed) = portal.person("admin").await.post(&path, Some(body)).await;
        assert_eq!(status, 202, "{confirmed}");
    }
    until(&portal, id, |v| v.request.state == RequestState::Restored).await;
    let (_, restored) = portal
        .get_json(&format!("/api/users/{}", user["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        restored["user"]["lync"]["enabled"], false,
        "{}",
        restored["user"]["lync"]
    );
}

#[tokio::test]
async fn an_approver_sees_the_plan_that_approving_would_run() {
    let portal = TestPortal::spawn(500, 12).await;
    let user = ordinary_user(&portal, 0).await;
    let (status, filed) = portal
        .person("manager")
        .await
        .post(
            "/api/requests",
            Some(json!({ "user_id": user, "reason": "termination", "reason_text": "Escorted out", "urgency": "immediate_disconnect" })),
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_i64().unwrap();
    let (status, body) = portal
        .person("approver")
        .await
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    assert_eq!(status, 200, "{body}");
    let view = execution(body);
    let plan = view
        .next
        .first()
        .expect("the plan is shown before approval");
    assert_eq!(plan.operation, deprov_wire::execution::Operation::StageOne);
    assert_eq!(
        plan.refused.as_deref(),
        Some("This request is not approved yet.")
    );
    assert!(
        plan.steps
            .iter()
            .any(|s| s.command.starts_with("Revoke-CsClientCertificate"))
    );
    assert!(
        plan.steps.iter().all(|s| !s.effect.is_empty()),
        "each step says what it will do"
    );
}
