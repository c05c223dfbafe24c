//! Requests and approvals over HTTP: refusals, the four-eyes rule, the 409 race, the audit trail.

use deprov_server::backend::DirectorySource;
use deprov_tests::{TestPortal, ordinary_user};
use deprov_wire::workflow::{RequestState, RequestView};

fn view(body: serde_json::Value) -> RequestView {
    serde_json::from_value(body).expect("a request view")
}

fn new_request(user: &str) -> serde_json::Value {
    serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "Contract ended badly", "urgency": "immediate_disconnect" })
}

#[tokio::test]
async fn a_manager_requests_an_approver_approves_and_everyone_sees_who_acted() {
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 0).await;
    let manager = portal.person("manager").await;
    let (status, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 201, "{body}");
    let request = view(body);
    assert_eq!(request.state, RequestState::PendingApproval);
    assert_eq!(request.requested_by, "manager");
    assert_eq!(
        request.waiting_for,
        "1 more approval from an approver other than manager"
    );
    assert!(!request.overdue);

    let approver = portal.person("approver").await;
    let path = format!("/api/requests/{}/approve", request.id);
    let (status, body) = approver
        .post(
            &path,
            Some(serde_json::json!({ "version": request.version, "comment": "Confirmed with HR" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let approved = view(body);
    assert_eq!(approved.state, RequestState::Approved);
    assert_eq!(approved.approved_by, vec!["approver".to_owned()]);
    assert_eq!(approved.decisions[0].comment, "Confirmed with HR");

    let (_, body) = manager
        .get_json(&format!("/api/requests/{}", request.id))
        .await;
    assert_eq!(
        view(body).state,
        RequestState::Approved,
        "the manager sees it approved"
    );
}

#[tokio::test]
async fn nobody_approves_their_own_request() {
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 1).await;
    let (status, body) = portal
        .everyone
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 201, "{body}");
    let request = view(body);
    let (status, body) = portal
        .everyone
        .post(
            &format!("/api/requests/{}/approve", request.id),
            Some(serde_json::json!({ "version": request.version })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, reject) = portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{}/reject", request.id),
            Some(serde_json::json!({ "version": request.version })),
        )
        .await;
    assert_eq!(
        (status, reject["field"].as_str()),
        (422, Some("comment")),
        "a rejection says why"
    );
    assert!(
        body["message"].as_str().unwrap().contains("somebody else"),
        "{body}"
    );
}

#[tokio::test]
async fn two_approvers_at_once_one_wins_the_other_gets_a_conflict() {
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 2).await;
    let (_, body) = portal
        .person("manager")
        .await
        .post("/api/requests", Some(new_request(&user)))
        .await;
    let request = view(body);
    let (first, second) = (
        portal.person("approver").await,
        portal.person("approver2").await,
    );
    let path = format!("/api/requests/{}/approve", request.id);
    let decision = serde_json::json!({ "version": request.version });
    let (a, b) = tokio::join!(
        first.post(&path, Some(decision.clone())),
        second.post(&path, Some(decision.clone()))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let loser = if a.0 == 409 { a.1 } else { b.1 };
    assert!(
        loser["message"]
            .as_str()
            .unwrap()
            .contains("changed while you were looking"),
        "{loser}"
    );
    let (_, body) = portal
        .get_json(&format!("/api/requests/{}", request.id))
        .await;
    let final_view = view(body);
    assert_eq!(final_view.approved_by.len(), 1, "never a double count");
    assert_eq!(final_view.state, RequestState::Approved);
}

#[tokio::test]
async fn requests_are_refused_with_a_reason_for_each_case() {
    let portal = TestPortal::spawn(3_000, 4).await;
    let manager = portal.person("manager").await;
    let directory = portal
        .simulator()
        .read_directory(None)
        .await
        .unwrap()
        .users()
        .to_vec();
    let pick = |wanted: &dyn Fn(&deprov_wire::directory::DirectoryUser) -> bool| {
        directory
            .iter()
            .find(|u| wanted(u))
            .map(|u| u.id.to_string())
            .expect("the generated directory has one")
    };
    let never = pick(&|u| u.lync.is_none());
    let online = pick(&|u| u.lync.as_ref().is_some_and(|l| l.homed_online()));
    let room = pick(&|u| u.ad.distinguished_name.contains("OU=Resources"));
    let protected = pick(&|u| u.protected() && u.lync.as_ref().is_some_and(|l| !l.homed_online()));
    for (user, status, words) in [
        (
            "00000000-0000-4000-8000-000000000000".to_owned(),
            422,
            "No user",
        ),
        (never, 422, "not enabled for Lync"),
        (online, 422, "homed online"),
        (room, 422, "exclusion list"),
    ] {
        let (got, body) = manager
            .post("/api/requests", Some(new_request(&user)))
            .await;
        assert_eq!(got, status, "{body}");
        assert!(body["message"].as_str().unwrap().contains(words), "{body}");
    }
    let user = ordinary_user(&portal, 3).await;
    let (status, _) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 201);
    let (status, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 409);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already has an open request"),
        "{body}"
    );
    let (status, body) = manager
        .post(
            "/api/requests",
            Some(serde_json::json!({ "user_id": user })),
        )
        .await;
    assert_eq!(status, 400, "a body missing fields: {body}");

    {
        let (status, body) = manager
            .post("/api/requests", Some(new_request(&protected)))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("protected_override")),
            "{body}"
        );
        let mut with_override = new_request(&protected);
        with_override["protected_override"] =
            serde_json::json!("CISO signed off: compromised admin");
        let (status, body) = manager.post("/api/requests", Some(with_override)).await;
        assert_eq!(status, 201, "{body}");
        let request = view(body);
        assert_eq!(request.approvals_needed, 2);
        let approve = |v: i64| Some(serde_json::json!({ "version": v }));
        let path = format!("/api/requests/{}/approve", request.id);
        let (_, body) = portal
            .person("approver")
            .await
            .post(&path, approve(request.version))
            .await;
        let once = view(body);
        assert_eq!(
            once.state,
            RequestState::PendingApproval,
            "one approval is not enough"
        );
        let (status, _) = portal
            .person("approver")
            .await
            .post(&path, approve(once.version))
            .await;
        assert_eq!(status, 409, "the same approver cannot approve twice");
        let (_, body) = portal
            .person("approver2")
            .await
            .post(&path, approve(once.version))
            .await;
        assert_eq!(view(body).state, RequestState::Approved);
    }
}

#[tokio::test]
async fn only_the_requester_cancels_and_a_closed_request_takes_no_more_decisions() {
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 4).await;
    let manager = portal.person("manager").await;
    let (_, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    let request = view(body);
    let path = format!("/api/requests/{}/cancel", request.id);
    let (status, _) = portal
        .everyone
        .post(
            &path,
            Some(serde_json::json!({ "version": request.version })),
        )
        .await;
    assert_eq!(status, 403, "somebody else's request");
    let (status, body) = manager
        .post(
            &path,
            Some(serde_json::json!({ "version": request.version, "comment": "HR withdrew it" })),
        )
        .await;
    assert_eq!(status, 200);
    let cancelled = view(body);
    assert_eq!(cancelled.state, RequestState::Cancelled);
    assert!(cancelled.waiting_for.starts_with("Nobody"));
    let (status, _) = portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{}/approve", request.id),
            Some(serde_json::json!({ "version": cancelled.version })),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(
        status, 201,
        "a new request is possible once the old one is closed"
    );
}

#[tokio::test]
async fn the_audit_log_records_everything_and_verification_catches_tampering() {
    let portal = TestPortal::spawn(300, 5).await;
    let user = ordinary_user(&portal, 0).await;
    let (_, body) = portal
        .person("manager")
        .await
        .post("/api/requests", Some(new_request(&user)))
        .await;
    let request = view(body);
    portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{}/approve", request.id),
            Some(serde_json::json!({ "version": request.version })),
        )
        .await;

    let auditor = portal.person("auditor").await;
    let (status, body) = auditor.get_json("/api/audit?limit=500").await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "account.add",
        "session.sign_in",
        "request.create",
        "request.approve",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let (_, body) = auditor
        .get_json("/api/audit?action=request.&actor=approver")
        .await;
    assert_eq!(body["total"], 1);
    let csv = auditor
        .http
        .get(format!("{}/api/audit.csv?action=request.", portal.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 3, "header, create, approve:\n{csv}");

    // What `deprov audit verify` runs, on the portal's own database.
    let store = portal.store.clone();
    let intact = deprov_server::audit::verify::verify(&store, None)
        .await
        .unwrap();
    assert!(intact.problems.is_empty(), "{:?}", intact.problems);
    assert!(intact.rows >= 8);

    // Someone edits a decision in the database behind deprov's back...
    sqlx::query("UPDATE audit_log SET actor = 'manager' WHERE action = 'request.approve'")
        .execute(&portal.database().await)
        .await
        .unwrap();
    let edited = deprov_server::audit::verify::verify(&store, None)
        .await
        .unwrap();
    assert!(
        edited.problems.iter().any(|p| p.contains("was edited")),
        "{:?}",
        edited.problems
    );
    // ...or deletes a row.
    sqlx::query("DELETE FROM audit_log WHERE action = 'request.create'")
        .execute(&portal.database().await)
        .await
        .unwrap();
    let deleted = deprov_server::audit::verify::verify(&store, None)
        .await
        .unwrap();
    assert!(
        deleted
            .problems
            .iter()
            .any(|p| p.contains("missing (deleted)")),
        "{:?}",
        deleted.problems
    );
}

#[tokio::test]
async fn a_stored_state_that_cannot_be_read_is_an_error_not_a_guess() {
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 5).await;
    let manager = portal.person("manager").await;
    let (_, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    let request = view(body);
    sqlx::query("UPDATE requests SET state = 'approvedd' WHERE id = $1")
        .bind(request.id)
        .execute(&portal.database().await)
        .await
        .unwrap();
    let path = format!("/api/requests/{}", request.id);
    let (status, body) = manager.get_json(&path).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["message"].as_str().unwrap().contains("logged"));
    // Nothing is decided on a state deprov cannot read.
    let (status, _) = portal
        .person("approver")
        .await
        .post(
            &format!("{path}/approve"),
            Some(serde_json::json!({ "version": request.version })),
        )
        .await;
    assert_eq!(status, 500);
    let decisions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM decisions WHERE request_id = $1")
        .bind(request.id)
        .fetch_one(&portal.database().await)
        .await
        .unwrap();
    assert_eq!(decisions, 0);
}

#[tokio::test]
async fn a_requester_reads_only_their_own_requests_and_everyone_else_reads_all() {
    let portal = TestPortal::spawn(500, 3).await;
    deprov_server::people::accounts::add(
        &portal.store,
        "manager2",
        &[deprov_wire::people::Role::Requester],
        deprov_tests::PASSWORD,
    )
    .await
    .unwrap();
    let (manager, other) = (
        portal.person("manager").await,
        portal.person("manager2").await,
    );
    let user = ordinary_user(&portal, 0).await;
    let (status, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 201, "{body}");
    let mine = view(body);

    // The other manager: not in the list, and the request, its execution and its events answer
    // as if there were no such request.
    let (status, list) = other.get_json("/api/requests?show=all").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 0, "{list}");
    assert_eq!(list["requests"].as_array().unwrap().len(), 0);
    for path in [
        format!("/api/requests/{}", mine.id),
        format!("/api/requests/{}/execution", mine.id),
        format!("/api/requests/{}/execution/events", mine.id),
    ] {
        let (status, body) = other.get_json(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.to_string().contains("Contract ended badly"),
            "{path} leaks the reason: {body}"
        );
    }

    // Its author, and every approver, admin and auditor, read it; by user too.
    let (_, list) = manager.get_json("/api/requests?show=all").await;
    assert_eq!(list["total"], 1, "{list}");
    let (_, list) = manager
        .get_json(&format!("/api/requests?show=all&user={user}"))
        .await;
    assert_eq!(list["requests"][0]["id"], mine.id, "{list}");
    let someone_else = ordinary_user(&portal, 1).await;
    let (_, list) = manager
        .get_json(&format!("/api/requests?show=all&user={someone_else}"))
        .await;
    assert_eq!(list["total"], 0, "{list}");
    let (status, body) = manager.get_json("/api/requests?user=nonsense").await;
    assert_eq!(
        (status, body["field"].clone()),
        (400, "user".into()),
        "{body}"
    );
    for name in ["approver", "admin", "auditor", "everyone"] {
        let person = portal.person(name).await;
        let (status, list) = person.get_json("/api/requests?show=all").await;
        assert_eq!(
            (status, list["total"].clone()),
            (200, 1.into()),
            "{name}: {list}"
        );
        let (status, body) = person.get_json(&format!("/api/requests/{}", mine.id)).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
}

#[tokio::test]
async fn a_bulk_request_files_one_per_user_and_answers_for_each() {
    let portal = TestPortal::spawn(3_000, 5).await;
    let manager = portal.person("manager").await;
    let directory = portal
        .simulator()
        .read_directory(None)
        .await
        .unwrap()
        .users()
        .to_vec();
    let online = directory
        .iter()
        .find(|u| u.lync.as_ref().is_some_and(|l| l.homed_online()))
        .expect("an online user")
        .id
        .to_string();
    let first = ordinary_user(&portal, 0).await;
    let second = ordinary_user(&portal, 1).await;
    let (status, body) = manager
        .post("/api/requests", Some(new_request(&second)))
        .await;
    assert_eq!(status, 201, "{body}");
    let open = view(body).id;
    let bulk = |users: Vec<&str>| {
        serde_json::json!(users
            .iter()
            .map(|user| serde_json::json!({ "user_id": user, "reason": "resignation", "reason_text": "Left in the spring reorganisation", "urgency": "standard" }))
            .collect::<Vec<_>>())
    };

    let (status, body) = manager
        .post(
            "/api/requests/bulk",
            Some(bulk(vec![&first, &second, &online, &first])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let outcome: deprov_wire::workflow::BulkOutcome = serde_json::from_value(body).unwrap();
    assert_eq!((outcome.filed, outcome.refused), (1, 3));
    let results = &outcome.results;
    assert_eq!(results[0].user_id.unwrap().to_string(), first);
    let filed = results[0].request.expect("the first user is filed");
    assert!(results[0].display_name.is_some());
    let said = |i: usize| results[i].refused.clone().unwrap_or_default();
    assert!(said(1).contains(&format!("#{open}")), "{}", said(1));
    assert!(said(2).contains("homed online"), "{}", said(2));
    assert!(
        said(3).contains("row 1"),
        "the same user twice: the second is refused for the first: {}",
        said(3)
    );
    let (_, body) = manager.get_json(&format!("/api/requests/{filed}")).await;
    let filed = view(body);
    assert_eq!(filed.reason_text, "Left in the spring reorganisation");
    assert_eq!(filed.requested_by, "manager");

    // The user page now says why no second request can be filed, and names the open one.
    let (_, detail) = manager.get_json(&format!("/api/users/{first}")).await;
    assert_eq!(detail["open_request"]["id"], filed.id);
    assert!(
        detail["cannot_request"]
            .as_str()
            .unwrap()
            .contains(&format!("#{}", filed.id)),
        "{detail}"
    );
    let (_, detail) = manager.get_json(&format!("/api/users/{online}")).await;
    assert!(
        detail["cannot_request"]
            .as_str()
            .unwrap()
            .contains("homed online")
    );
    let fresh = ordinary_user(&portal, 2).await;
    let (_, detail) = manager.get_json(&format!("/api/users/{fresh}")).await;
    assert!(detail["cannot_request"].is_null(), "{detail}");

    // Bad batches: none, too many, a bad reason, and a role that may not file.
    let (status, body) = manager.post("/api/requests/bulk", Some(bulk(vec![]))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("requests")),
        "{body}"
    );
    let many: Vec<String> = (0..201).map(|_| fresh.clone()).collect();
    let (status, _) = manager
        .post(
            "/api/requests/bulk",
            Some(bulk(many.iter().map(String::as_str).collect())),
        )
        .await;
    assert_eq!(status, 422);
    let mut no_reason = bulk(vec![&fresh]);
    no_reason[0]["reason_text"] = serde_json::json!("  ");
    let (status, body) = manager.post("/api/requests/bulk", Some(no_reason)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["results"][0]["refused"]
            .as_str()
            .unwrap()
            .contains("Say why")
    );
    let (status, _) = portal
        .person("auditor")
        .await
        .post("/api/requests/bulk", Some(bulk(vec![&fresh])))
        .await;
    assert_eq!(status, 403, "an auditor files nothing");
}

#[tokio::test]
async fn an_effective_date_that_has_passed_is_refused() {
    let portal = TestPortal::spawn(500, 6).await;
    let user = ordinary_user(&portal, 0).await;
    let manager = portal.person("manager").await;
    let mut past = new_request(&user);
    past["effective_at"] = serde_json::json!("2020-01-01T00:00:00Z");
    let (status, body) = manager.post("/api/requests", Some(past)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("effective_at")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("passed"),
        "{body}"
    );
}

#[tokio::test]
async fn hostile_requests_waiting_for_approval_come_first_in_the_queue() {
    let portal = TestPortal::spawn(500, 7).await;
    let manager = portal.person("manager").await;
    let hostile = ordinary_user(&portal, 0).await;
    let ordinary = ordinary_user(&portal, 1).await;
    let (_, first) = manager
        .post("/api/requests", Some(new_request(&hostile)))
        .await;
    let mut standard = new_request(&ordinary);
    standard["urgency"] = serde_json::json!("standard");
    let (_, second) = manager.post("/api/requests", Some(standard)).await;
    let (_, list) = portal
        .person("approver")
        .await
        .get_json("/api/requests")
        .await;
    let order: Vec<i64> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![
            first["id"].as_i64().unwrap(),
            second["id"].as_i64().unwrap()
        ],
        "the older immediate disconnect comes before the newer standard request"
    );
}
