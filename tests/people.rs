//! Sign-in, sessions, CSRF, and who may call what: every endpoint as every role.

use deprov_tests::{PASSWORD, TestPortal, ordinary_user, sign_in};
use reqwest::Method;
use std::collections::BTreeSet;

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session() {
    let portal = TestPortal::spawn(50, 1).await;
    let response = portal
        .http
        .post(format!("{}/api/session", portal.base))
        .json(&serde_json::json!({ "name": "approver", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["name"], "approver");
    assert_eq!(me["roles"], serde_json::json!(["approver"]));

    let approver = portal.person("approver").await;
    assert_eq!(approver.get_json("/api/session").await.0, 200);
    assert_eq!(
        approver.send(Method::DELETE, "/api/session", None).await.0,
        204
    );
    assert_eq!(
        approver.get_json("/api/session").await.0,
        401,
        "the session is gone"
    );
}

#[tokio::test]
async fn wrong_passwords_get_one_message_and_repeated_failures_are_slowed_down() {
    let portal = TestPortal::spawn(50, 1).await;
    assert_eq!(
        sign_in(&portal.base, "approver", "wrong password!")
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        sign_in(&portal.base, "nobody-at-all", "wrong password!")
            .await
            .err(),
        Some(401),
        "unknown names look the same"
    );
    for _ in 0..4 {
        sign_in(&portal.base, "approver", "wrong password!")
            .await
            .err();
    }
    let response = portal
        .http
        .post(format!("{}/api/session", portal.base))
        .json(&serde_json::json!({ "name": "approver", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        429,
        "even the right password waits after five failures"
    );
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("try again"));
    assert!(
        sign_in(&portal.base, "auditor", PASSWORD).await.is_ok(),
        "other accounts are not affected"
    );
}

#[tokio::test]
async fn a_change_without_the_csrf_token_is_refused() {
    let portal = TestPortal::spawn(50, 1).await;
    let admin = portal.person("admin").await;
    let response = admin
        .http
        .post(format!("{}/api/sim/clock/advance", portal.base))
        .json(&serde_json::json!({ "seconds": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("CSRF"));
    assert_eq!(
        admin
            .post(
                "/api/sim/clock/advance",
                Some(serde_json::json!({ "seconds": 60 }))
            )
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_loses_its_sessions() {
    let portal = TestPortal::spawn(50, 1).await;
    let auditor = portal.person("auditor").await;
    deprov_server::people::accounts::set_disabled(&portal.store, "auditor", true)
        .await
        .unwrap();
    assert_eq!(auditor.get_json("/api/session").await.0, 401);
    assert_eq!(
        sign_in(&portal.base, "auditor", PASSWORD).await.err(),
        Some(403)
    );
}

/// Who may call what. Every endpoint in the OpenAPI document must be listed here, so a new
/// endpoint without a rule fails this test.
fn rule(method: &str, path: &str) -> Option<&'static [&'static str]> {
    const ALL: &[&str] = &["manager", "approver", "admin", "auditor"];
    const PUBLIC: &[&str] = &["anonymous", "manager", "approver", "admin", "auditor"];
    Some(match (method, path) {
        ("get", "/api/health") | ("get", "/api/openapi.json") => PUBLIC,
        ("get", "/api/session") | ("delete", "/api/session") => ALL,
        ("get", "/api/users") | ("get", "/api/users/{id}") | ("get", "/api/pools") => ALL,
        ("get", "/api/report/mismatches")
        | ("get", "/api/report/mismatches.csv")
        | ("get", "/api/report/mismatches/stream") => ALL,
        ("get", "/api/requests") | ("get", "/api/requests/{id}") => ALL,
        ("get", "/api/requests/{id}/execution")
        | ("get", "/api/requests/{id}/execution/events")
        | ("get", "/api/settings/execution") => ALL,
        ("post", "/api/requests/{id}/execute")
        | ("post", "/api/requests/{id}/retry")
        | ("get", "/api/requests/{id}/backup")
        | ("put", "/api/settings/execution") => &["admin"],
        ("post", "/api/requests")
        | ("post", "/api/requests/bulk")
        | ("post", "/api/requests/bulk.csv") => &["manager"],
        ("get", "/api/batches") => ALL,
        ("post", "/api/batches/{id}/confirm") => &["admin"],
        ("post", "/api/batches/{id}/discard") => &["manager", "admin"],
        ("get", "/api/exceptions") => ALL,
        ("post", "/api/exceptions") | ("delete", "/api/exceptions/{id}") => &["admin", "auditor"],
        // A manager cancels their own request; an approver or admin an approved one (the state
        // check after the role check answers 409 for the pending request used here).
        ("post", "/api/requests/{id}/cancel") => &["manager", "approver", "admin"],
        ("post", "/api/requests/{id}/approve") | ("post", "/api/requests/{id}/reject") => {
            &["approver"]
        }
        ("get", "/api/audit") | ("get", "/api/audit.csv") | ("get", "/api/deliveries") => {
            &["admin", "auditor"]
        }
        ("post", "/api/sim/users/{id}/ad-disable")
        | ("post", "/api/sim/users/{id}/ad-enable")
        | ("post", "/api/sim/clock/advance")
        | ("post", "/api/sim/faults")
        | ("delete", "/api/sim/faults") => &["admin"],
        _ => return None,
    })
}

#[tokio::test]
async fn every_endpoint_as_every_role_is_allowed_or_denied_as_intended() {
    let portal = TestPortal::spawn(300, 2).await;
    let (_, body) = portal
        .get_json("/api/users?ad=enabled&lync=enabled&limit=50")
        .await;
    let users: Vec<_> = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["protected"] == false && u["homed_online"] == false)
        .cloned()
        .collect();
    let manager = portal.person("manager").await;
    let (status, request) = manager
        .post("/api/requests", Some(serde_json::json!({
            "user_id": users[0]["id"], "reason": "resignation", "reason_text": "Left on Friday", "urgency": "standard"
        })))
        .await;
    assert_eq!(status, 201, "{request}");
    let request_id = request["id"].as_i64().unwrap();

    let (_, openapi) = portal.get_json("/api/openapi.json").await;
    let mut endpoints = BTreeSet::new();
    for (path, methods) in openapi["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            endpoints.insert((method.clone(), path.clone()));
        }
    }
    endpoints.insert(("get".into(), "/api/openapi.json".into()));
    endpoints.remove(&("post".into(), "/api/session".into())); // sign-in itself: tested above

    let mut people = vec![("anonymous", None)];
    for name in ["manager", "approver", "admin", "auditor"] {
        people.push((name, Some(portal.person(name).await)));
    }
    let mut checked = 0;
    // Sign-out last, so each person keeps their session for the rest.
    let mut ordered: Vec<_> = endpoints.into_iter().collect();
    ordered
        .sort_by_key(|(method, path)| (method == "delete" && path == "/api/session", path.clone()));
    for (method, path) in ordered {
        let allowed = rule(&method, &path)
            .unwrap_or_else(|| panic!("{method} {path} has no authorization rule in this test"));
        assert_eq!(
            openapi["paths"][&path][&method]["security"].is_null(),
            allowed.contains(&"anonymous"),
            "the document's security for {method} {path} says who may call it"
        );
        let concrete = path
            .replace(
                "/api/users/{id}",
                &format!("/api/users/{}", users[1]["id"].as_str().unwrap()),
            )
            .replace(
                "/api/sim/users/{id}",
                &format!("/api/sim/users/{}", users[2]["id"].as_str().unwrap()),
            )
            .replace("/api/requests/{id}", &format!("/api/requests/{request_id}"))
            .replace("/api/exceptions/{id}", "/api/exceptions/1")
            .replace("/api/batches/{id}", "/api/batches/1");
        let body = match path.as_str() {
            "/api/requests" => Some(serde_json::json!({
                "user_id": users[3]["id"], "reason": "other", "reason_text": "authorization test", "urgency": "standard"
            })),
            "/api/requests/bulk" => Some(serde_json::json!([{
                "user_id": users[4]["id"], "reason": "other", "reason_text": "authorization test", "urgency": "standard"
            }])),
            "/api/exceptions" => Some(serde_json::json!({
                "user_id": users[5]["id"], "reason": "authorization test", "until": "2999-01-01T00:00:00Z"
            })),
            "/api/sim/clock/advance" => Some(serde_json::json!({ "seconds": 1 })),
            "/api/sim/faults" => {
                Some(serde_json::json!({ "cmdlet": "Get-Nothing", "kind": "fail" }))
            }
            "/api/settings/execution" => Some(serde_json::json!({ "auto_stage_two": false })),
            p if p.starts_with("/api/requests/") => {
                Some(serde_json::json!({ "version": 1, "comment": "" }))
            }
            _ => None,
        };
        for (name, person) in &people {
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = match person {
                Some(person) if path.ends_with("/stream") || path.ends_with("/events") => {
                    let response = person
                        .http
                        .get(format!("{}{concrete}", portal.base))
                        .send()
                        .await
                        .unwrap();
                    response.status().as_u16() // dropped at once: only the status matters
                }
                Some(person) => person.send(http_method, &concrete, body.clone()).await.0,
                None => {
                    let mut request = portal
                        .http
                        .request(http_method, format!("{}{concrete}", portal.base));
                    if let Some(body) = &body {
                        request = request.json(body);
                    }
                    request.send().await.unwrap().status().as_u16()
                }
            };
            let expected_allowed = allowed.contains(name);
            if expected_allowed {
                assert!(
                    status != 401 && status != 403,
                    "{name} should be allowed {method} {path}, got {status}"
                );
            } else {
                let denial = if *name == "anonymous" { 401 } else { 403 };
                assert_eq!(status, denial, "{name} should be denied {method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 5 * 20, "only {checked} checks ran");
}

#[tokio::test]
async fn the_live_report_stops_for_a_page_whose_session_ended() {
    let portal = TestPortal::spawn(200, 3).await;
    let auditor = portal.person("auditor").await;
    let response = auditor
        .http
        .get(format!("{}/api/report/mismatches/stream", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        auditor.send(Method::DELETE, "/api/session", None).await.0,
        204
    );
    // The stream notices within its 15-second session check and ends.
    let body = tokio::time::timeout(std::time::Duration::from_secs(20), response.text()).await;
    assert!(body.is_ok(), "the stream kept going after sign-out");
}

#[tokio::test]
async fn a_page_left_open_ends_its_stream_at_the_idle_timeout() {
    let portal = TestPortal::spawn(200, 3).await;
    let auditor = portal.person("auditor").await;
    let response = auditor
        .http
        .get(format!("{}/api/report/mismatches/stream", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Nobody touched the page for 31 minutes: the events pushed to it do not count as activity.
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(31);
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(deprov_server::store::stamp(long_ago))
        .execute(&portal.database().await)
        .await
        .unwrap();
    let body = tokio::time::timeout(std::time::Duration::from_secs(20), response.text()).await;
    assert!(body.is_ok(), "the stream outlived the idle timeout");
    assert_eq!(auditor.get_json("/api/session").await.0, 401);
}

#[tokio::test]
async fn a_sign_in_name_that_cannot_be_an_account_is_not_written_to_the_audit_log() {
    let portal = TestPortal::spawn(50, 1).await;
    assert_eq!(
        sign_in(&portal.base, "my secret password", "whatever-else")
            .await
            .err(),
        Some(401)
    );
    let (_, body) = portal
        .person("auditor")
        .await
        .get_json("/api/audit?action=sign_in_failed")
        .await;
    let entry = &body["entries"][0];
    assert_eq!(entry["subject"], "(not a valid account name)");
    assert!(!body.to_string().contains("my secret password"));
}

/// Signs in from `address` (a loopback address of the test's choosing); the status.
async fn sign_in_from(
    base: &str,
    address: [u8; 4],
    name: &str,
    password: &str,
) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(address))
        .build()
        .unwrap()
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn nobody_can_lock_someone_else_out_and_refusals_are_audited_in_aggregate() {
    let portal = TestPortal::spawn(50, 1).await;
    let attacker = [127, 0, 0, 66];
    for _ in 0..5 {
        let response = sign_in_from(&portal.base, attacker, "admin", "wrong password!").await;
        assert_eq!(response.status().as_u16(), 401);
    }
    for _ in 0..3 {
        let refused = sign_in_from(&portal.base, attacker, "admin", PASSWORD).await;
        assert_eq!(refused.status().as_u16(), 429);
        let wait: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "rounded up, never to 0: {wait}");
    }
    let admin = sign_in_from(&portal.base, [127, 0, 0, 7], "admin", PASSWORD).await;
    assert_eq!(
        admin.status().as_u16(),
        200,
        "the admin at their own address still signs in"
    );

    let (_, audit) = portal
        .get_json("/api/audit?action=session.sign_in_throttled")
        .await;
    assert_eq!(
        audit["total"], 1,
        "three refusals, one aggregated row: {audit}"
    );
    let details = audit["entries"][0]["details"].as_str().unwrap();
    assert!(details.contains("admin from 127.0.0.66"), "{details}");
}

/// `deprov token ...` on `portal`'s data folder: its output, or a panic with it.
fn token_command(portal: &TestPortal, args: &[&str]) -> String {
    let output = std::process::Command::new(deprov_tests::deprov_binary())
        .arg("token")
        .args(args)
        .args(deprov_tests::database::command_args(portal.data_dir()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "deprov token {args:?}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

#[tokio::test]
async fn an_hr_system_files_requests_with_a_token_and_nothing_more() {
    let portal = TestPortal::spawn(500, 8).await;
    let added = token_command(
        &portal,
        &["add", "hr-system", "--role", "requester", "--expires", "30"],
    );
    let secret = added
        .lines()
        .find_map(|l| l.strip_prefix("Secret (shown once): "))
        .expect("the secret is printed once")
        .to_owned();
    assert!(secret.starts_with("deprov_"), "{added}");
    let user = ordinary_user(&portal, 0).await;
    let call = |method: Method, path: &str, secret: &str, body: Option<serde_json::Value>| {
        let request = portal
            .http
            .request(method, format!("{}{path}", portal.base))
            .bearer_auth(secret);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };

    // No cookie, no CSRF token: the bearer token alone files the request, under its own name.
    let (status, filed) = call(
        Method::POST,
        "/api/requests",
        &secret,
        Some(
            serde_json::json!({ "user_id": user, "reason": "resignation",
            "reason_text": "HR case 2026-118: last day 30 November", "urgency": "standard" }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["requested_by"], "token:hr-system");
    let id = filed["id"].as_i64().unwrap();
    // Its scope is its role: it cannot approve, read the audit log or run anything.
    let (status, _) = call(
        Method::POST,
        &format!("/api/requests/{id}/approve"),
        &secret,
        Some(serde_json::json!({ "version": filed["version"] })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(Method::GET, "/api/audit", &secret, None).await;
    assert_eq!(status, 403);
    let (status, own) = call(Method::GET, &format!("/api/requests/{id}"), &secret, None).await;
    assert_eq!((status, own["id"].as_i64()), (200, Some(id)));
    // An HR system names users as it knows them, with its case number: sending it twice files once.
    let other = ordinary_user(&portal, 1).await;
    let (_, detail) = portal.get_json(&format!("/api/users/{other}")).await;
    let sam = detail["user"]["ad"]["sam_account_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let case = serde_json::json!({ "user": sam, "external_ref": "HR-2026-0119", "reason": "end_of_contract",
        "reason_text": "Contract ends 30 November", "urgency": "standard" });
    let (status, first) = call(Method::POST, "/api/requests", &secret, Some(case.clone())).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["user_id"].as_str(), Some(other.as_str()));
    assert_eq!(first["external_ref"], "HR-2026-0119");
    let (status, again) = call(Method::POST, "/api/requests", &secret, Some(case.clone())).await;
    assert_eq!(
        (status, &again["id"]),
        (200, &first["id"]),
        "the same case again: the same request"
    );
    let third = ordinary_user(&portal, 2).await;
    let mut misfiled = case.clone();
    misfiled["user"] = serde_json::json!(third);
    let (status, conflict) = call(Method::POST, "/api/requests", &secret, Some(misfiled)).await;
    assert_eq!(
        status, 409,
        "the same case number for someone else: {conflict}"
    );
    let (status, refused) = portal.post("/api/requests", Some(case)).await;
    assert_eq!(
        status, 409,
        "someone else's case number is not theirs to read: {refused}"
    );
    let (_, found) = call(
        Method::GET,
        "/api/requests?external_ref=HR-2026-0119",
        &secret,
        None,
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let (status, unknown) = call(
        Method::POST,
        "/api/requests",
        &secret,
        Some(serde_json::json!({ "user": "nobody-by-that-name", "reason": "other", "reason_text": "x", "urgency": "standard" })),
    )
    .await;
    assert_eq!(
        (status, unknown["field"].as_str()),
        (422, Some("user")),
        "{unknown}"
    );
    let (status, _) = call(Method::GET, "/api/session", "deprov_not-a-token", None).await;
    assert_eq!(status, 401, "an unknown token is refused");

    let listed = token_command(&portal, &["list"]);
    assert!(
        listed.contains("hr-system")
            && listed.contains("requester")
            && !listed.contains("last used never"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is never shown again");

    // Revoked: refused at once.
    token_command(&portal, &["revoke", "hr-system"]);
    let (status, _) = call(Method::GET, "/api/requests", &secret, None).await;
    assert_eq!(status, 401);

    // Expired: refused.
    let added = token_command(
        &portal,
        &["add", "payroll", "--role", "requester", "--expires", "1"],
    );
    let payroll = added
        .lines()
        .find_map(|l| l.strip_prefix("Secret (shown once): "))
        .unwrap()
        .to_owned();
    let (status, _) = call(Method::GET, "/api/requests", &payroll, None).await;
    assert_eq!(status, 200);
    sqlx::query("UPDATE api_tokens SET expires_at = '2020-01-01T00:00:00Z' WHERE name = 'payroll'")
        .execute(&portal.database().await)
        .await
        .unwrap();
    let (status, _) = call(Method::GET, "/api/requests", &payroll, None).await;
    assert_eq!(status, 401);

    let (_, audit) = portal.get_json("/api/audit?limit=50").await;
    let rows = audit["entries"].as_array().unwrap();
    let actions = |actor: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["actor"] == actor || r["subject"] == actor)
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let hr = actions("token:hr-system");
    for action in ["token.add", "request.create", "token.revoke"] {
        assert!(hr.iter().any(|a| a == action), "{action} in {hr:?}");
    }
}

#[test]
fn no_token_may_approve_or_run_anything() {
    let data = tempfile::tempdir().unwrap();
    for role in ["approver", "admin"] {
        let output = std::process::Command::new(deprov_tests::deprov_binary())
            .args(["token", "add", "robot", "--role", role, "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "a {role} token was made");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("stay with people"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
