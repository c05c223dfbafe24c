//! The mismatch report over HTTP: JSON, CSV, the live stream, and the simulator's controls.

use deprov_tests::TestPortal;
use deprov_wire::api::SearchResults;
use deprov_wire::report::{FilteredTotal, MismatchReport, ReportChange, Rule};
use std::time::Duration;

async fn report(portal: &TestPortal, query: &str) -> MismatchReport {
    let (status, body) = portal
        .get_json(&format!("/api/report/mismatches{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// The whole report once `done` holds for it (the engine recomputes a moment after a change);
/// the last one read if it never does, for the test to say what it expected.
async fn report_until(
    portal: &TestPortal,
    done: impl Fn(&MismatchReport) -> bool,
) -> MismatchReport {
    let mut current = report(portal, "?limit=1000").await;
    for _ in 0..100 {
        if done(&current) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        current = report(portal, "?limit=1000").await;
    }
    current
}

/// An ordinary user (AD enabled, Lync enabled, not excluded, not protected) to make into a finding.
async fn ordinary_user(portal: &TestPortal) -> deprov_wire::api::UserSummary {
    let (_, body) = portal
        .get_json("/api/users?ad=enabled&lync=enabled&limit=100")
        .await;
    let found: SearchResults = serde_json::from_value(body).unwrap();
    found
        .users
        .into_iter()
        .find(|u| {
            !u.protected && !u.homed_online && !u.sip_disjoint_from_upn && !u.title.is_empty()
        })
        .unwrap()
}

#[tokio::test]
async fn the_report_counts_its_findings_and_filters_them() {
    let portal = TestPortal::spawn(3_000, 4).await;
    let full = report(&portal, "?limit=1000").await;
    assert_eq!(full.counts.total(), full.total);
    assert_eq!(
        full.findings.len(),
        full.total,
        "{} fit one page of 1,000",
        full.total
    );
    for rule in Rule::ALL {
        assert!(
            full.counts.get(rule) > 0,
            "{rule:?} has findings in a 3,000-user directory"
        );
    }
    assert!(
        !full.excluded.is_empty(),
        "resource accounts are shown apart"
    );
    assert!(full.exclusions.contains(&"OU=Resources".to_owned()));
    assert_eq!(full.grace_period_days, 30);

    let only = report(&portal, "?rule=certificate_sign_in").await;
    assert!(
        only.findings
            .iter()
            .all(|f| f.rule == Rule::CertificateSignIn)
    );
    assert_eq!(only.total, full.counts.certificate_sign_in);
    let pool = full
        .findings
        .iter()
        .find_map(|f| f.registrar_pool.clone())
        .unwrap();
    let in_pool = report(&portal, &format!("?pool={pool}&department=Sales")).await;
    assert!(
        in_pool
            .findings
            .iter()
            .all(|f| f.registrar_pool.as_deref() == Some(pool.as_str()) && f.department == "Sales")
    );

    let (status, body) = portal
        .get_json("/api/report/mismatches?rule=everything")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "rule");
}

#[tokio::test]
async fn the_csv_export_holds_the_filtered_findings() {
    let portal = TestPortal::spawn(2_000, 5).await;
    let expected = report(&portal, "?rule=stage_two_overdue")
        .await
        .findings
        .len();
    let response = portal
        .everyone
        .http
        .get(format!(
            "{}/api/report/mismatches.csv?rule=stage_two_overdue",
            portal.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("rule,risk,display_name,sam_account_name")
    );
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), expected);
    assert!(rows.iter().all(|r| r.starts_with("stage_two_overdue,low,")));
}

#[tokio::test]
async fn the_report_opens_with_its_counts_and_first_page_and_pages_the_rest() {
    let portal = TestPortal::spawn(4_000, 4).await;
    let mut stream = portal.events("/api/report/mismatches/stream").await;
    let (event, data) = stream
        .next(Duration::from_secs(5))
        .await
        .expect("the first event");
    assert_eq!(event, "report");
    let opening: MismatchReport = serde_json::from_str(&data).unwrap();
    assert!(
        opening.total > 200,
        "enough findings to need paging: {}",
        opening.total
    );
    assert_eq!(opening.total, opening.counts.total());
    assert_eq!(opening.findings.len(), 200, "only the first page is sent");
    assert!(!opening.pools.is_empty() && !opening.departments.is_empty());

    // The rest, a page at a time, in the same order, none twice; together they are the CSV.
    let mut all = opening.findings.clone();
    while all.len() < opening.total {
        let page = report(&portal, &format!("?offset={}&limit=150", all.len())).await;
        assert_eq!(page.offset, all.len());
        assert!(!page.findings.is_empty(), "a page short of the total");
        all.extend(page.findings);
    }
    let keys: std::collections::HashSet<_> = all.iter().map(|f| f.key()).collect();
    assert_eq!(keys.len(), opening.total);
    let whole = report(&portal, "?limit=1000").await;
    assert_eq!(all, whole.findings);
    let (status, body) = portal.get_json("/api/report/mismatches?limit=1001").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "limit");

    // A filtered stream opens with its own first page and total, and follows each change with
    // its new total.
    let mut filtered = portal
        .events("/api/report/mismatches/stream?rule=ad_disabled_lync_enabled")
        .await;
    let (_, data) = filtered
        .next(Duration::from_secs(5))
        .await
        .expect("the first event");
    let first: MismatchReport = serde_json::from_str(&data).unwrap();
    assert_eq!(first.total, first.counts.ad_disabled_lync_enabled);
    assert!(
        first
            .findings
            .iter()
            .all(|f| f.rule == Rule::AdDisabledLyncEnabled)
    );
    let user = ordinary_user(&portal).await;
    portal
        .post(&format!("/api/sim/users/{}/ad-disable", user.id), None)
        .await;
    let (event, _) = filtered
        .next(Duration::from_secs(2))
        .await
        .expect("a change");
    assert_eq!(event, "change");
    let (event, data) = filtered
        .next(Duration::from_secs(2))
        .await
        .expect("its total");
    assert_eq!(event, "total");
    let total: FilteredTotal = serde_json::from_str(&data).unwrap();
    assert_eq!(total.total, first.total + 1);
    let (status, body) = portal
        .get_json("/api/report/mismatches/stream?rule=nonsense")
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_stream_sends_the_report_then_each_change() {
    let portal = TestPortal::spawn(2_000, 6).await;
    let mut stream = portal.events("/api/report/mismatches/stream").await;
    let (event, data) = stream
        .next(Duration::from_secs(5))
        .await
        .expect("the first event");
    assert_eq!(event, "report");
    let first: MismatchReport = serde_json::from_str(&data).unwrap();

    let user = ordinary_user(&portal).await;
    let (status, _) = portal
        .post(&format!("/api/sim/users/{}/ad-disable", user.id), None)
        .await;
    assert_eq!(status, 204);
    let (event, data) = stream
        .next(Duration::from_secs(1))
        .await
        .expect("a change within a second");
    assert_eq!(event, "change");
    let change: ReportChange = serde_json::from_str(&data).unwrap();
    assert_eq!(change.from_version, first.version);
    assert!(
        change
            .added
            .iter()
            .any(|f| f.user_id == user.id && f.rule == Rule::AdDisabledLyncEnabled),
        "{change:?}"
    );
    assert_eq!(
        change.counts.ad_disabled_lync_enabled,
        first.counts.ad_disabled_lync_enabled + 1
    );

    // Re-enabling takes the row away again.
    portal
        .post(&format!("/api/sim/users/{}/ad-enable", user.id), None)
        .await;
    let (_, data) = stream
        .next(Duration::from_secs(1))
        .await
        .expect("a second change");
    let change: ReportChange = serde_json::from_str(&data).unwrap();
    assert!(change.removed.iter().any(|k| k.user_id == user.id));
}

#[tokio::test]
async fn advancing_the_clock_expires_certificates_and_ends_grace_periods() {
    let portal = TestPortal::spawn(2_000, 7).await;
    let before = report(&portal, "").await;
    assert!(before.counts.certificate_sign_in > 0);
    let (status, _) = portal
        .post(
            "/api/sim/clock/advance",
            Some(serde_json::json!({ "seconds": 181 * 24 * 3600 })),
        )
        .await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let after = report(&portal, "").await;
        if after.counts.certificate_sign_in == 0 {
            assert!(
                after.counts.stage_two_overdue > before.counts.stage_two_overdue,
                "every stage 1 is now overdue"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "certificates did not expire: {:?}",
            after.counts
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn simulator_controls_reject_bad_input_clearly() {
    let portal = TestPortal::spawn(50, 1).await;
    let (status, body) = portal.post("/api/sim/users/nope/ad-disable", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("id")));
    let (status, body) = portal
        .post(
            "/api/sim/users/00000000-0000-4000-8000-000000000000/ad-disable",
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = portal
        .post(
            "/api/sim/clock/advance",
            Some(serde_json::json!({ "seconds": 0 })),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("seconds")));
    let (status, body) = portal
        .post(
            "/api/sim/clock/advance",
            Some(serde_json::json!({ "minutes": 5 })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("seconds"));
}

#[tokio::test]
async fn the_findings_history_survives_a_restart() {
    let portal = TestPortal::spawn(500, 8).await;
    let user = ordinary_user(&portal).await;
    portal
        .post(&format!("/api/sim/users/{}/ad-disable", user.id), None)
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while report(&portal, "").await.history.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no history point for the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let data = portal.stop().await;
    let again = TestPortal::spawn_in(data, 500, 8).await;
    let history = report(&again, "").await.history;
    assert!(
        history.len() >= 3,
        "two points from before the restart, one from after: {}",
        history.len()
    );
}

#[tokio::test]
async fn an_open_request_explains_a_renamed_sip_address() {
    let portal = TestPortal::spawn(3_000, 11).await;
    let before = report(&portal, "?rule=sip_renamed_unexplained").await;
    let renamed = before
        .findings
        .iter()
        .find(|f| !f.protected && !f.homed_online)
        .expect("the directory has renamed SIP addresses")
        .clone();
    let manager = portal.person("manager").await;
    let (status, body) = manager
        .post("/api/requests", Some(serde_json::json!({
            "user_id": renamed.user_id, "reason": "termination", "reason_text": "Renamed on the day of the dismissal",
            "urgency": "immediate_disconnect"
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    let explained =
        |report: &MismatchReport| !report.findings.iter().any(|f| f.user_id == renamed.user_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while !explained(&report(&portal, "?rule=sip_renamed_unexplained").await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request did not explain the rename"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = manager
        .post(
            &format!("/api/requests/{}/cancel", body["id"]),
            Some(serde_json::json!({ "version": body["version"] })),
        )
        .await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while explained(&report(&portal, "?rule=sip_renamed_unexplained").await) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cancelling did not bring the finding back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_accepted_exception_leaves_the_count_until_it_ends_and_is_audited() {
    let portal = TestPortal::spawn(1_000, 21).await;
    let user = ordinary_user(&portal).await;
    let (status, _) = portal
        .post(&format!("/api/sim/users/{}/ad-disable", user.id), None)
        .await;
    assert_eq!(status, 204);
    // The report follows the change.
    let before = report_until(&portal, |r| r.findings.iter().any(|f| f.user_id == user.id)).await;
    let theirs = before
        .findings
        .iter()
        .filter(|f| f.user_id == user.id)
        .count();
    assert!(theirs > 0, "the disabled user is a finding");

    // The report is computed by the deployment's clock, which exceptions run by.
    let lync_now = before.computed_at;
    let until = lync_now + time::Duration::days(7);
    let stamp = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let new = |reason: &str, until: time::OffsetDateTime| serde_json::json!({ "user_id": user.id, "reason": reason, "until": stamp(until) });
    let reason = "Legal hold: the phone stays reachable until the audit closes (CISO, ticket 812)";

    let manager = portal.person("manager").await;
    let (status, _) = manager
        .post("/api/exceptions", Some(new(reason, until)))
        .await;
    assert_eq!(status, 403, "a manager does not accept exceptions");
    let auditor = portal.person("auditor").await;
    let (status, body) = auditor
        .post(
            "/api/exceptions",
            Some(new(reason, lync_now - time::Duration::days(1))),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("until")),
        "{body}"
    );
    let (status, body) = auditor.post("/api/exceptions", Some(new(" ", until))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("reason")),
        "{body}"
    );
    let (status, body) = auditor
        .post("/api/exceptions", Some(new(reason, until)))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, _) = auditor
        .post("/api/exceptions", Some(new(reason, until)))
        .await;
    assert_eq!(status, 409, "one exception per user");

    // Out of the count, listed apart with who, why and until when.
    let during = report_until(&portal, |r| {
        r.counts.total() + theirs == before.counts.total()
    })
    .await;
    assert_eq!(during.counts.total() + theirs, before.counts.total());
    assert!(!during.findings.iter().any(|f| f.user_id == user.id));
    let apart = during
        .excluded
        .iter()
        .find(|f| f.user_id == user.id)
        .expect("listed apart");
    let exception = apart.exception.as_ref().expect("with the exception");
    assert_eq!(
        (exception.accepted_by.as_str(), exception.reason.as_str()),
        ("auditor", reason)
    );
    let (_, list) = manager.get_json("/api/exceptions").await;
    assert_eq!(list["exceptions"][0]["id"], id);

    // When it runs out by the deployment's clock, the finding counts again by itself.
    portal
        .post(
            "/api/sim/clock/advance",
            Some(serde_json::json!({ "seconds": 8 * 86_400 })),
        )
        .await;
    let after = report_until(&portal, |r| r.findings.iter().any(|f| f.user_id == user.id)).await;
    assert!(
        after.findings.iter().any(|f| f.user_id == user.id),
        "counted again"
    );
    let (_, list) = manager.get_json("/api/exceptions").await;
    assert_eq!(list["exceptions"].as_array().unwrap().len(), 0);

    // A new one, ended by hand.
    let until = lync_now + time::Duration::days(20);
    let (status, body) = portal
        .post("/api/exceptions", Some(new("Handover week", until)))
        .await;
    assert_eq!(status, 201, "{body}");
    let second = body["id"].as_i64().unwrap();
    let (status, _) = manager
        .send(
            reqwest::Method::DELETE,
            &format!("/api/exceptions/{second}"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = auditor
        .send(
            reqwest::Method::DELETE,
            &format!("/api/exceptions/{second}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = auditor
        .send(
            reqwest::Method::DELETE,
            &format!("/api/exceptions/{second}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "already ended");
    let (_, audit) = auditor
        .get_json("/api/audit?action=exception.&limit=10")
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The first ran out by the clock: closed, and said so, when the second was accepted.
    assert_eq!(
        actions,
        [
            "exception.end",
            "exception.accept",
            "exception.end",
            "exception.accept"
        ]
    );
}
