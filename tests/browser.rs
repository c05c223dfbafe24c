//! The UI in a real headless Chromium over WebDriver, as a person would use it.

use deprov_tests::{Browser, TestPortal, ordinary_user};
use fantoccini::Locator;
use fantoccini::key::Key;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn typing_a_query_shows_results_and_the_keyboard_opens_a_user() {
    let portal = TestPortal::spawn(2_000, 5).await;
    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "everyone").await;
    browser
        .client
        .goto(&format!("{}/", portal.base))
        .await
        .unwrap();

    let (_, body) = portal.get_json("/api/users?q=anna").await;
    let expected = format!(
        "1–{} of {} users",
        body["users"].as_array().unwrap().len(),
        body["total"]
    );

    let search = browser.wait_for("#search", PATIENCE).await;
    search.send_keys("anna").await.unwrap();
    browser
        .wait_for_text("#results-status", PATIENCE, |t| t == expected)
        .await;
    let url = browser.client.current_url().await.unwrap();
    assert!(
        url.as_str().ends_with("/?q=anna"),
        "the query is kept in the URL: {url}"
    );

    let rows = browser
        .client
        .find_all(Locator::Css("#results tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let second_name = rows[1]
        .find(Locator::Css(".user-link"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(second_name.to_lowercase().contains("anna"), "{second_name}");

    // ↓ moves to the second row, Enter opens it.
    search
        .send_keys(&char::from(Key::Down).to_string())
        .await
        .unwrap();
    search
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    let heading = browser
        .wait_for_text("#user-name", PATIENCE, |t| !t.is_empty())
        .await;
    assert_eq!(heading, second_name);
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/users/")
    );
    let methods = browser
        .client
        .find_all(Locator::Css("#methods tbody tr"))
        .await
        .unwrap();
    assert_eq!(methods.len(), 5, "one row per de-provisioning method");
    browser.close().await;
}

#[tokio::test]
async fn a_bookmarked_search_and_a_bad_link_both_make_sense() {
    let portal = TestPortal::spawn(500, 6).await;
    let (_, body) = portal.get_json("/api/users?limit=1&lync=enabled").await;
    let sam = body["users"][0]["sam_account_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = body["users"][0]["display_name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Signed out, the bookmark leads to the sign-in page, and from there back to the bookmark.
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/?q={sam}&lync=enabled", portal.base))
        .await
        .unwrap();
    browser
        .wait_for("#login-name", PATIENCE)
        .await
        .send_keys("auditor")
        .await
        .unwrap();
    browser
        .wait_for("#login-password", PATIENCE)
        .await
        .send_keys(deprov_tests::PASSWORD)
        .await
        .unwrap();
    browser
        .wait_for("#login-submit", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#results tbody tr:first-child .user-link", PATIENCE, |t| {
            t == name
        })
        .await;
    assert!(
        browser
            .client
            .find(Locator::Css("#request-deprovisioning"))
            .await
            .is_err(),
        "auditors cannot request"
    );
    let value = browser
        .wait_for("#search", PATIENCE)
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        value.as_deref(),
        Some(sam.as_str()),
        "the box shows the bookmarked query"
    );

    browser
        .client
        .goto(&format!("{}/users/not-a-guid", portal.base))
        .await
        .unwrap();
    let error = browser
        .wait_for_text(".error", PATIENCE, |t| !t.is_empty())
        .await;
    assert!(error.contains("is not a user id"), "{error}");
    browser.close().await;
}

#[tokio::test]
async fn a_disabled_account_appears_in_the_open_report_within_a_second() {
    let portal = TestPortal::spawn(2_000, 9).await;
    let (_, body) = portal
        .get_json("/api/users?ad=enabled&lync=enabled&limit=100")
        .await;
    let user = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| {
            u["protected"] == false
                && u["homed_online"] == false
                && u["sip_disjoint_from_upn"] == false
        })
        .unwrap()
        .clone();
    let id = user["id"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "auditor").await;
    browser
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#live-state", PATIENCE, |t| {
            t.contains("live") && !t.contains("connecting")
        })
        .await;
    let before = browser
        .wait_for_text("#count-ad_disabled_lync_enabled .count", PATIENCE, |t| {
            t != "0"
        })
        .await;
    let row = format!("tr[data-user=\"{id}\"][data-rules~=\"ad_disabled_lync_enabled\"]");
    assert!(
        browser.client.find(Locator::Css(&row)).await.is_err(),
        "not a finding yet"
    );

    // The outside world disables the AD account; the open page must show it, without a reload.
    let changed = std::time::Instant::now();
    let (status, _) = portal
        .post(&format!("/api/sim/users/{id}/ad-disable"), None)
        .await;
    assert_eq!(status, 204);
    let found = browser
        .client
        .wait()
        .at_most(Duration::from_secs(1))
        .every(Duration::from_millis(20))
        .for_element(Locator::Css(&row))
        .await;
    let latency = changed.elapsed();
    assert!(found.is_ok(), "the row did not appear within 1 s");
    let class = found
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        class.contains("appeared"),
        "a new row is highlighted: {class:?}"
    );
    let after = browser
        .wait_for_text("#count-ad_disabled_lync_enabled .count", PATIENCE, |t| {
            t != before
        })
        .await;
    assert_eq!(
        after.parse::<usize>().unwrap(),
        before.parse::<usize>().unwrap() + 1
    );
    println!("change to row in the browser: {latency:?}");

    // And back: re-enabling removes the row.
    portal
        .post(&format!("/api/sim/users/{id}/ad-enable"), None)
        .await;
    browser
        .wait_until_gone(&row, Duration::from_secs(5), "the row did not go")
        .await;
    browser.close().await;
}

#[tokio::test]
async fn a_manager_requests_an_approver_approves_and_the_manager_sees_it() {
    let portal = TestPortal::spawn(1_000, 10).await;
    let (_, body) = portal
        .get_json("/api/users?ad=disabled&lync=enabled&limit=100")
        .await;
    let user = body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["protected"] == false && u["homed_online"] == false && u["title"] != "")
        .unwrap()
        .clone();
    let (id, name) = (
        user["id"].as_str().unwrap().to_owned(),
        user["display_name"].as_str().unwrap().to_owned(),
    );

    // The manager finds the leaver and fills in the request.
    let manager = Browser::start().await;
    manager.sign_in(&portal.base, "manager").await;
    manager
        .client
        .goto(&format!("{}/users/{id}", portal.base))
        .await
        .unwrap();
    manager
        .wait_for("#request-deprovisioning", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    // Nothing is chosen for the manager: submitting without a reason says so.
    manager
        .wait_for("#reason-text", PATIENCE)
        .await
        .send_keys("Walked out today; HR ticket 4711")
        .await
        .unwrap();
    manager
        .wait_for("#submit-request", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    // The error sits beside the field at fault, and goes once the field changes.
    manager
        .wait_for_text("#error-reason", PATIENCE, |t| t.contains("Choose a reason"))
        .await;
    manager
        .wait_for("#reason", PATIENCE)
        .await
        .select_by_value("termination")
        .await
        .unwrap();
    manager
        .wait_until_gone(
            "#error-reason",
            PATIENCE,
            "a stale error clears when its field changes",
        )
        .await;
    manager
        .wait_for("#urgency-immediate", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    manager
        .wait_for("#submit-request", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    let title = manager
        .wait_for_text("#request-title", PATIENCE, |t| t.starts_with("Request #"))
        .await;
    assert!(title.ends_with(&name), "{title}");
    let request_url = manager.client.current_url().await.unwrap();
    manager
        .wait_for_text("#request-state", PATIENCE, |t| t == "Waiting for approval")
        .await;
    let waiting = manager
        .wait_for_text("#waiting-for", PATIENCE, |t| !t.is_empty())
        .await;
    assert!(
        waiting.contains("1 more approval from an approver other than manager"),
        "{waiting}"
    );
    assert!(
        manager.client.find(Locator::Css("#approve")).await.is_err(),
        "no approve button on one's own request"
    );

    // The approver finds it in their queue and approves it.
    let approver = Browser::start().await;
    approver.sign_in(&portal.base, "approver").await;
    // With a request waiting on them, signing in lands them on the queue.
    let deadline = std::time::Instant::now() + PATIENCE;
    while approver.client.current_url().await.unwrap().path() != "/requests" {
        assert!(
            std::time::Instant::now() < deadline,
            "an approver with a waiting request lands on the queue, not {}",
            approver.client.current_url().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let request_id = request_url.path().rsplit('/').next().unwrap().to_owned();
    approver
        .wait_for(
            &format!("#queue tr[data-request=\"{request_id}\"] a"),
            PATIENCE,
        )
        .await
        .click()
        .await
        .unwrap();
    // The approver sees the user as they are now, and what changed since filing.
    approver
        .wait_for_text("#changes-since", PATIENCE, |t| {
            t.contains("Nothing changed in the directory")
        })
        .await;
    approver.wait_for("#user-now-access", PATIENCE).await;
    approver
        .wait_for("#decision-comment", PATIENCE)
        .await
        .send_keys("Confirmed with HR")
        .await
        .unwrap();
    approver
        .wait_for("#approve", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    approver
        .wait_for_text("#request-state", PATIENCE, |t| t == "Approved")
        .await;

    // The manager sees who approved it, and when.
    manager.client.refresh().await.unwrap();
    manager
        .wait_for_text("#request-state", PATIENCE, |t| t == "Approved")
        .await;
    let history = manager
        .wait_for_text("#history", PATIENCE, |t| t.contains("approver approved"))
        .await;
    assert!(history.contains("Confirmed with HR"), "{history}");

    // The user's page lists the request where people look.
    manager
        .client
        .goto(&format!("{}/users/{id}", portal.base))
        .await
        .unwrap();
    let listed = manager
        .wait_for_text(
            &format!("#user-requests li[data-request=\"{request_id}\"]"),
            PATIENCE,
            |t| t.contains("Approved"),
        )
        .await;
    assert!(
        listed.starts_with(&format!("#{request_id} Approved")),
        "{listed}"
    );
    // It says why no second request can be filed, instead of offering one that would fail.
    manager
        .wait_for(
            &format!("#open-request a[href=\"/requests/{request_id}\"]"),
            PATIENCE,
        )
        .await;
    let why = manager
        .wait_for_text("#cannot-request", PATIENCE, |t| {
            t.contains("already has an open request")
        })
        .await;
    assert!(why.contains(&format!("#{request_id}")), "{why}");
    assert!(
        manager
            .client
            .find(Locator::Css("#request-deprovisioning"))
            .await
            .is_err(),
        "no request button while one is open"
    );

    // The report row shows the open request instead of offering another.
    manager
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    let row = format!("#findings tr[data-user=\"{id}\"]");
    let cell = manager
        .wait_for_text(&format!("{row} td.act"), PATIENCE, |t| !t.is_empty())
        .await;
    assert_eq!(cell, format!("#{request_id} approved"));
    assert!(
        manager
            .client
            .find(Locator::Css(&format!("{row} input.pick")))
            .await
            .is_err(),
        "a user with an open request cannot be picked for a bulk request"
    );

    // A second request for the same user is refused, and the refusal links to the open one.
    manager
        .client
        .goto(&format!("{}/requests/new?user={id}", portal.base))
        .await
        .unwrap();
    manager
        .wait_for("#reason", PATIENCE)
        .await
        .select_by_value("resignation")
        .await
        .unwrap();
    manager
        .wait_for("#reason-text", PATIENCE)
        .await
        .send_keys("Filed twice by mistake")
        .await
        .unwrap();
    manager
        .wait_for("#submit-request", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    let link = manager
        .wait_for(
            &format!("#request-error a[href=\"/requests/{request_id}\"]"),
            PATIENCE,
        )
        .await;
    assert_eq!(link.text().await.unwrap(), format!("#{request_id}"));
    manager.close().await;
    approver.close().await;
}

/// An admin opens an approved immediate-disconnect request, reads the plan, confirms with the
/// account name, watches the four steps complete, and finds the user's sessions gone; then moves
/// the simulated clock to the due date and runs stage 2.
#[tokio::test]
async fn an_admin_executes_an_immediate_disconnect_and_the_sessions_are_gone() {
    use deprov_server::backend::DirectorySource;
    use deprov_wire::directory::SignInMethod;
    let portal = TestPortal::spawn(500, 3).await;
    let user = ordinary_user(&portal, 0).await;
    let id: deprov_wire::directory::UserId = user.parse().unwrap();
    let jane = portal.simulator().read_user(id).await.unwrap();
    let sip = jane.lync.as_ref().unwrap().sip_address.clone();
    if jane.ad.account_disabled {
        portal.simulator().ad_enable(id).unwrap();
    }
    portal
        .simulator()
        .sign_in(&sip, SignInMethod::Windows, "Lync 2013 (Windows)")
        .unwrap();
    portal
        .simulator()
        .sign_in(&sip, SignInMethod::Windows, "Lync for iPhone")
        .unwrap();

    let manager = portal.person("manager").await;
    let (status, request) = manager
        .post(
            "/api/requests",
            Some(serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "Hostile exit", "urgency": "immediate_disconnect" })),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let request_id = request["id"].as_i64().unwrap();
    let (status, _) = portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{request_id}/approve"),
            Some(serde_json::json!({ "version": request["version"] })),
        )
        .await;
    assert_eq!(status, 200);

    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "admin").await;
    browser
        .client
        .goto(&format!("{}/requests/{request_id}", portal.base))
        .await
        .unwrap();
    let plan = browser
        .wait_for_text("[data-plan=stage_one]", PATIENCE, |t| {
            t.contains("Revoke-CsClientCertificate")
        })
        .await;
    assert!(plan.contains("-Enabled $false"), "{plan}");
    assert!(
        plan.contains("signed-in sessions disconnected immediately")
            && plan.contains("(up to 5 minutes)"),
        "the plan says what happens to this user's sessions: {plan}"
    );
    let sam = request["user_sam_account_name"].as_str().unwrap();
    // Revocation answers after a second: meanwhile the step shows its wait against the limit.
    let (status, _) = portal
        .post(
            "/api/sim/faults",
            Some(serde_json::json!({ "cmdlet": "Revoke-CsClientCertificate", "kind": "slow" })),
        )
        .await;
    assert_eq!(status, 204);
    run_confirmed(&browser, "stage_one", sam).await;
    // The step runs for a second, and the page redraws meanwhile: read the text while it lasts.
    let deadline = std::time::Instant::now() + PATIENCE;
    let text = loop {
        if let Ok(element) = browser
            .client
            .find(Locator::Css("[data-operation=stage_one] .elapsed"))
            .await
            && let Ok(text) = element.text().await
            && !text.is_empty()
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a running step shows how long it has waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(text.contains(" s of the 2 s limit"), "{text}");

    let done = browser
        .wait_for_text("[data-operation=stage_one]", PATIENCE, |t| {
            t.matches("done").count() >= 4
        })
        .await;
    assert!(done.contains("Set-CsUser"), "{done}");
    browser
        .wait_for_text("#request-state", PATIENCE, |t| t == "Stage 1 done")
        .await;
    browser.wait_for("#backup", PATIENCE).await;

    browser
        .client
        .goto(&format!("{}/users/{user}", portal.base))
        .await
        .unwrap();
    browser.wait_for("#sessions-none", PATIENCE).await;

    // Stage 2: the demo moves the simulated clock to the due date, then the admin removes.
    browser
        .client
        .goto(&format!("{}/requests/{request_id}", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("[data-plan=stage_two]", PATIENCE, |t| {
            t.contains("Stage 2 is due on")
        })
        .await;
    browser
        .on("#jump-to-due", |e| async move { e.click().await })
        .await;
    run_confirmed(&browser, "stage_two", sam).await;
    browser
        .wait_for_text("#request-state", PATIENCE, |t| t == "Removed from Lync")
        .await;

    // Restoring gives Lync back after an immediate disconnect: a reason, and a second admin.
    let plan = browser
        .wait_for_text("[data-plan=restore]", PATIENCE, |t| {
            t.contains("a second admin must confirm")
        })
        .await;
    assert!(plan.contains("regains Lync as sip:"), "{plan}");
    browser
        .on("#run-restore", |e| async move { e.click().await })
        .await;
    browser.wait_for("#confirm-restore", PATIENCE).await;
    // Read in one step in the page: a stream event may redraw the card (and focus it again)
    // between fetching the focused element and asking its id.
    let mut focused = serde_json::Value::Null;
    for _ in 0..50 {
        focused = browser
            .client
            .execute(
                "return document.activeElement && document.activeElement.id",
                vec![],
            )
            .await
            .unwrap();
        if focused == "reenable-reason" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        focused, "reenable-reason",
        "focus moves into the confirmation"
    );
    assert!(
        !browser
            .on("#confirm-run", |e| async move { e.is_enabled().await })
            .await,
        "no reason, no restore"
    );
    // A stream event may redraw the card meanwhile: Esc goes to whatever has the focus then.
    let mut pressed = false;
    for _ in 0..10 {
        let active = browser.client.active_element().await.unwrap();
        if active.send_keys(&Key::Escape.to_string()).await.is_ok() {
            pressed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pressed, "Esc reached the confirmation");
    browser
        .wait_until_gone("#confirm-restore", PATIENCE, "Esc closes the confirmation")
        .await;
    browser
        .on("#run-restore", |e| async move { e.click().await })
        .await;
    browser
        .on("#reenable-reason", |e| async move {
            e.send_keys("Dismissal overturned by the tribunal").await
        })
        .await;
    if browser
        .client
        .find(Locator::Css("#confirm-name"))
        .await
        .is_ok()
    {
        browser
            .on("#confirm-name", |e| async move { e.send_keys(sam).await })
            .await;
    }
    let label = browser
        .on("#confirm-run", |e| async move { e.text().await })
        .await;
    assert_eq!(label, "Ask a second admin");
    browser
        .on("#confirm-run", |e| async move { e.click().await })
        .await;
    let asked = browser
        .wait_for_text("#ask-restore", PATIENCE, |t| t.contains("admin asked"))
        .await;
    assert!(
        asked.contains("Dismissal overturned by the tribunal")
            && asked.contains("Another admin must confirm it"),
        "{asked}"
    );
    browser
        .wait_for_text("#request-state", PATIENCE, |t| t == "Removed from Lync")
        .await;

    // A second admin confirms (here over the API); the open page follows.
    let (_, view) = portal
        .get_json(&format!("/api/requests/{request_id}/execution"))
        .await;
    let (status, body) = portal
        .post(
            &format!("/api/requests/{request_id}/execute"),
            Some(
                serde_json::json!({ "operation": "restore", "version": view["request"]["version"],
                "confirm": sam, "reason": "Confirmed with legal" }),
            ),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    browser
        .wait_for_text("#request-state", PATIENCE, |t| t == "Restored")
        .await;
    browser.close().await;
}

/// Presses "Run …" on `operation`'s plan, checks the confirmation waits for the account name,
/// types `sam`, and confirms.
async fn run_confirmed(browser: &Browser, operation: &str, sam: &str) {
    browser
        .on(
            &format!("#run-{operation}"),
            |e| async move { e.click().await },
        )
        .await;
    // The page redraws on every event of its stream (a verification, say): elements are found
    // afresh for each action; what was typed survives a redraw.
    assert!(
        !browser
            .on("#confirm-run", |e| async move { e.is_enabled().await })
            .await,
        "a destructive operation waits for the account name"
    );
    browser
        .on("#confirm-name", |e| async move { e.send_keys(sam).await })
        .await;
    browser
        .on("#confirm-run", |e| async move { e.click().await })
        .await;
}

#[tokio::test]
async fn against_a_real_ad_an_open_report_shows_an_ldapmodify_and_the_portal_says_it_is_read_only()
{
    use deprov_tests::dc::{self, TestDc};
    let Some(dc) = TestDc::start("against_a_real_ad_an_open_report_shows_an_ldapmodify") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config(data.path());
    let portal = TestPortal::spawn_with(data, config).await;
    let leaver = deprov_server::backend::sim::generate::directory(
        dc::USERS,
        dc::SEED,
        time::OffsetDateTime::now_utc(),
    )
    .into_iter()
    .find(|u| {
        u.ad.distinguished_name.contains("OU=Users")
            && !u.ad.account_disabled
            && !u.protected()
            && u.lync
                .as_ref()
                .is_some_and(|l| l.enabled && !l.homed_online())
    })
    .unwrap();

    let browser = Browser::start().await;
    // An approver signs in with their AD account, as a person would.
    browser
        .client
        .goto(&format!("{}/login", portal.base))
        .await
        .unwrap();
    let name = format!("{}@contoso.com", dc::people::APPROVER);
    browser
        .wait_for("#login-name", PATIENCE)
        .await
        .send_keys(&name)
        .await
        .unwrap();
    browser
        .wait_for("#login-password", PATIENCE)
        .await
        .send_keys(dc::PEOPLE_PASSWORD)
        .await
        .unwrap();
    browser
        .wait_for("#login-submit", PATIENCE)
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#whoami", PATIENCE, |t| {
            t.contains(&name) && t.contains("approver")
        })
        .await;
    browser
        .wait_for_text("#read-only-banner", PATIENCE, |t| {
            t.contains("no Lync shell")
        })
        .await;

    browser
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#live-state", PATIENCE, |t| {
            t.contains("live") && !t.contains("connecting")
        })
        .await;
    browser
        .wait_for_text("#not-evaluated-certificate_sign_in", PATIENCE, |t| {
            t.contains("not known without the Lync shell")
        })
        .await;
    let row = format!(
        "tr[data-user=\"{}\"][data-rules~=\"ad_disabled_lync_enabled\"]",
        leaver.id
    );
    assert!(
        browser.client.find(Locator::Css(&row)).await.is_err(),
        "not a finding yet"
    );

    // An AD admin disables the account outside deprov; the open page shows it without a reload.
    let changed = std::time::Instant::now();
    dc.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\n",
        leaver.ad.distinguished_name
    ));
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(5))
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(&row))
        .await
        .expect("the row appears within the poll interval (1 s) and a little");
    println!(
        "an ldapmodify showed in the open report after {:?} (poll interval 1 s)",
        changed.elapsed()
    );

    // The user page says what nobody here knows.
    browser
        .client
        .goto(&format!("{}/users/{}", portal.base, leaver.id))
        .await
        .unwrap();
    browser
        .wait_for_text("#sessions-unknown", PATIENCE, |t| {
            t.contains("Not known without the Lync shell")
        })
        .await;
    browser.wait_for("#certificates-unknown", PATIENCE).await;
    browser.close().await;
}

/// The processes whose command line names `needle`, from /proc.
fn processes_naming(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        })
        .collect()
}

#[tokio::test]
async fn a_browser_test_that_fails_leaves_no_chromium_behind() {
    let portal = TestPortal::spawn(50, 1).await;
    let browser = Browser::start().await;
    browser.client.goto(&portal.base).await.unwrap();
    let profile = browser.profile().display().to_string();
    assert!(
        !processes_naming(&profile).is_empty(),
        "Chromium runs with its profile {profile}"
    );

    // A failing test unwinds without reaching `close`: only Drop runs.
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _browser = browser;
        panic!("a browser test failed");
    }));
    assert!(failed.is_err());

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        // A killed process lingers as a zombie until its parent (also killed) is reaped by init.
        let left: Vec<u32> = processes_naming(&profile)
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| !stat.contains(") Z "))
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Chromium processes left running: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_report_opens_on_its_first_page_shows_more_on_request_and_filters_on_the_server() {
    let portal = TestPortal::spawn(4_000, 4).await;
    let (_, whole) = portal.get_json("/api/report/mismatches?limit=1").await;
    let total = whole["total"].as_u64().unwrap();
    assert!(total > 200, "enough findings for a second page: {total}");

    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "auditor").await;
    browser
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#findings-status", PATIENCE, |t| {
            t == format!("200 findings shown, {total} in all")
        })
        .await;
    browser
        .on(
            "#findings-more",
            |button| async move { button.click().await },
        )
        .await;
    let shown = (total as usize).min(400);
    browser
        .wait_for_text("#findings-status", PATIENCE, |t| {
            t == format!("{shown} findings shown, {total} in all")
        })
        .await;

    // A filter opens its own stream: the first page and the total are the filter's.
    let (_, certificates) = portal
        .get_json("/api/report/mismatches?rule=certificate_sign_in&limit=1")
        .await;
    let filtered = certificates["total"].as_u64().unwrap();
    browser
        .on("#filter-rule", |select| async move {
            select.select_by_value("certificate_sign_in").await
        })
        .await;
    browser
        .wait_for_text("#findings-status", PATIENCE, |t| {
            t == format!("{} findings shown, {filtered} in all", filtered.min(200))
        })
        .await;
    let url = browser.client.current_url().await.unwrap();
    assert!(url.as_str().contains("rule=certificate_sign_in"), "{url}");
    let rules: Vec<String> = {
        let mut rules = Vec::new();
        for row in browser
            .client
            .find_all(Locator::Css("#findings tbody tr"))
            .await
            .unwrap()
        {
            rules.push(row.attr("data-rules").await.unwrap().unwrap_or_default());
        }
        rules
    };
    assert!(!rules.is_empty());
    assert!(
        rules.iter().all(|r| r == "certificate_sign_in"),
        "{rules:?}"
    );
    browser.close().await;
}

/// The report as a work queue: a manager picks two users, files one request each in one step,
/// reads what became of each, and the rows then show the open requests.
#[tokio::test]
async fn a_manager_files_requests_for_a_selection_from_the_report() {
    let portal = TestPortal::spawn(1_000, 12).await;
    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "manager").await;
    browser
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#live-state", PATIENCE, |t| {
            t.contains("live") && !t.contains("connecting")
        })
        .await;
    browser
        .wait_for("#findings tbody tr input.pick", PATIENCE)
        .await;

    // One row per user: no user appears twice, and a user under two rules shows two badges.
    let users: Vec<String> = {
        let mut users = Vec::new();
        for row in browser
            .client
            .find_all(Locator::Css("#findings tbody tr"))
            .await
            .unwrap()
        {
            users.push(row.attr("data-user").await.unwrap().unwrap_or_default());
        }
        users
    };
    let distinct: std::collections::HashSet<&String> = users.iter().collect();
    assert_eq!(distinct.len(), users.len(), "one row per user");

    // Pick the first two users a request can be filed for.
    let mut picked = Vec::new();
    for row in browser
        .client
        .find_all(Locator::Css("#findings tbody tr"))
        .await
        .unwrap()
    {
        if picked.len() == 2 {
            break;
        }
        if let Ok(pick) = row.find(Locator::Css("input.pick")).await {
            let user = row.attr("data-user").await.unwrap().unwrap();
            pick.click().await.unwrap();
            picked.push(user);
        }
    }
    assert_eq!(picked.len(), 2);
    browser
        .wait_for_text("#bulk-request h2", PATIENCE, |t| {
            t.contains("for 2 selected")
        })
        .await;
    browser
        .on("#bulk-reason-text", |e| async move {
            e.send_keys("Leavers from the Q3 reorganisation (HR list 2026-11)")
                .await
        })
        .await;
    browser
        .on("#bulk-submit", |e| async move { e.click().await })
        .await;
    browser
        .wait_for_text("#bulk-error", PATIENCE, |t| t.contains("Choose a reason"))
        .await;
    browser
        .on("#bulk-reason", |e| async move {
            e.select_by_value("resignation").await
        })
        .await;
    browser
        .on("#bulk-submit", |e| async move { e.click().await })
        .await;
    browser
        .wait_for_text("#bulk-outcome h2", PATIENCE, |t| t == "2 filed, 0 refused")
        .await;
    for user in &picked {
        let filed = browser
            .wait_for_text(
                &format!("#bulk-outcome li[data-user=\"{user}\"]"),
                PATIENCE,
                |t| t.contains("filed as #"),
            )
            .await;
        // The row now shows the request waiting for approval, and cannot be picked again.
        let cell = browser
            .wait_for_text(
                &format!("#findings tr[data-user=\"{user}\"] td.act"),
                PATIENCE,
                |t| t.contains("waiting for approval"),
            )
            .await;
        assert!(
            filed.ends_with(cell.split(' ').next().unwrap()),
            "{filed} / {cell}"
        );
    }
    let (_, list) = portal.get_json("/api/requests?show=open").await;
    assert_eq!(list["total"], 2, "{list}");
    browser.close().await;
}

/// At 360 and 400 px no page scrolls sideways: the navigation wraps and wide tables scroll inside.
#[tokio::test]
async fn from_360_px_up_no_page_scrolls_sideways() {
    let portal = TestPortal::spawn(500, 13).await;
    let user = ordinary_user(&portal, 0).await;
    let (status, body) = portal
        .post(
            "/api/requests",
            Some(serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "Narrow screens too", "urgency": "standard" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let request = body["id"].as_i64().unwrap();
    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "everyone").await;
    for width in [360, 400] {
        browser.client.set_window_size(width, 900).await.unwrap();
        let inner: u64 = browser
            .client
            .execute("return window.innerWidth", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        assert!(inner <= u64::from(width), "the viewport is narrow: {inner}");
        for (path, ready) in [
            ("/".to_owned(), "#search"),
            (format!("/users/{user}"), "#methods"),
            ("/report".to_owned(), "#findings tbody tr"),
            ("/requests".to_owned(), "#auto-stage-two"),
            (format!("/requests/{request}"), "#request-state"),
            ("/requests/new?user=".to_owned() + &user, "#reason"),
            ("/audit".to_owned(), "#audit-table tbody tr"),
        ] {
            browser
                .client
                .goto(&format!("{}{path}", portal.base))
                .await
                .unwrap();
            browser.wait_for(ready, PATIENCE).await;
            let widths = browser
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                vec![],
            )
            .await
            .unwrap();
            let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
            assert!(
                scroll <= client,
                "{path} scrolls sideways at {width} px: {scroll} px wide in {client} px"
            );
        }
    }
    browser.close().await;
}

/// Presses Tab until the element with `id` has the focus (at most 40 times).
async fn tab_to(browser: &Browser, id: &str) -> fantoccini::elements::Element {
    for _ in 0..40 {
        let active = browser.client.active_element().await.unwrap();
        if active.attr("id").await.unwrap().as_deref() == Some(id) {
            return active;
        }
        active.send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    panic!("Tab never reached #{id}");
}

/// A request filed with the keyboard alone: the skip link, Tab between the fields, keys to
/// choose, Enter to send.
#[tokio::test]
async fn a_request_can_be_filed_with_the_keyboard_alone() {
    let portal = TestPortal::spawn(500, 14).await;
    let user = ordinary_user(&portal, 0).await;
    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "manager").await;
    browser
        .client
        .goto(&format!("{}/requests/new?user={user}", portal.base))
        .await
        .unwrap();
    browser.wait_for("#reason", PATIENCE).await;
    // The first Tab reaches the skip link; Enter on it moves past the navigation.
    let body = browser.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let skip = browser.client.active_element().await.unwrap();
    assert_eq!(
        skip.attr("class").await.unwrap().as_deref(),
        Some("skip-link")
    );
    skip.send_keys(&Key::Enter.to_string()).await.unwrap();

    let reason = tab_to(&browser, "reason").await;
    // In a focused select, the arrow keys choose.
    reason.send_keys(&Key::Down.to_string()).await.unwrap();
    let text = tab_to(&browser, "reason-text").await;
    text.send_keys("Resigned; last day was Friday")
        .await
        .unwrap();
    let submit = tab_to(&browser, "submit-request").await;
    submit.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser
        .wait_for_text("#request-state", PATIENCE, |t| t == "Waiting for approval")
        .await;
    let (_, list) = portal.get_json("/api/requests?show=open").await;
    assert_eq!(list["requests"][0]["reason"], "termination", "{list}");
    assert_eq!(
        list["requests"][0]["reason_text"],
        "Resigned; last day was Friday"
    );
    browser.close().await;
}

/// The audit log beyond its first page: "Older" pages on, subjects link to their request, and a
/// date range in the address filters on the server.
#[tokio::test]
async fn the_audit_log_pages_links_subjects_and_filters_by_day() {
    // Two hundred requests at once: far above the default blast-radius limit, raised here.
    let data = tempfile::tempdir().unwrap();
    let mut config = deprov_server::config::ServeConfig::for_tests(
        data.path().to_path_buf(),
        deprov_tests::dist_dir(),
        3_000,
        15,
    );
    config.bulk_threshold = Some(1_000);
    let portal = TestPortal::spawn_with(data, config).await;
    let mut users: Vec<String> = Vec::new();
    for offset in [0, 100] {
        let (_, found) = portal
            .get_json(&format!(
                "/api/users?ad=enabled&lync=enabled&limit=100&offset={offset}"
            ))
            .await;
        users.extend(
            found["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
    }
    let (status, outcome) = portal
        .person("manager")
        .await
        .post(
            "/api/requests/bulk",
            Some(serde_json::json!(
                users
                    .iter()
                    .map(
                        |user| serde_json::json!({ "user_id": user, "reason": "end_of_contract",
                "reason_text": "Contractors of the closed project", "urgency": "standard" })
                    )
                    .collect::<Vec<_>>()
            )),
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert!(outcome["filed"].as_u64().unwrap() > 150, "{outcome}");
    // In Kolkata (UTC+5:30), moments show in local time, labelled, with UTC on hover.
    let browser = Browser::start_in_zone("Asia/Kolkata").await;
    browser.sign_in(&portal.base, "auditor").await;
    // Read after the auditor's sign-in, which is a row too.
    let (_, all) = portal.get_json("/api/audit?limit=1").await;
    let total = all["total"].as_u64().unwrap();
    assert!(total > 200, "{total}");
    browser
        .client
        .goto(&format!("{}/audit", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#audit-status", PATIENCE, |t| {
            t == format!("Entries 1 to 200 of {total}, newest first")
        })
        .await;
    let moment = browser
        .wait_for("#audit-table td.when time", PATIENCE)
        .await;
    let local = moment.text().await.unwrap();
    let utc = moment.attr("title").await.unwrap().unwrap_or_default();
    assert!(
        local.ends_with(" UTC+5:30") && utc.ends_with(" UTC"),
        "{local} / {utc}"
    );
    assert_ne!(
        local.replace(" UTC+5:30", ""),
        utc.replace(" UTC", ""),
        "converted, not relabelled"
    );
    let link = browser
        .wait_for("#audit-table td.subject a[href^=\"/requests/\"]", PATIENCE)
        .await;
    assert!(link.text().await.unwrap().starts_with('#'));
    browser
        .on("#audit-older", |e| async move { e.click().await })
        .await;
    browser
        .wait_for_text("#audit-status", PATIENCE, |t| {
            t == format!("Entries 201 to {total} of {total}, newest first")
        })
        .await;
    browser.wait_for("#audit-newer", PATIENCE).await;

    let tomorrow = time::OffsetDateTime::now_utc().date().next_day().unwrap();
    browser
        .client
        .goto(&format!("{}/audit?from={tomorrow}", portal.base))
        .await
        .unwrap();
    browser
        .wait_for_text("#audit-status", PATIENCE, |t| t == "No entries of 0")
        .await;
    let shown = browser
        .on("#audit-from", |e| async move { e.prop("value").await })
        .await;
    assert_eq!(shown.as_deref(), Some(tomorrow.to_string().as_str()));
    browser.close().await;
}

/// An auditor accepts a finding as an exception: the user leaves the count and is listed apart
/// with who, why and until when; ending it brings the finding back.
#[tokio::test]
async fn an_auditor_accepts_a_finding_as_an_exception_and_ends_it() {
    let portal = TestPortal::spawn(1_000, 16).await;
    let (_, opening) = portal.get_json("/api/report/mismatches?limit=1").await;
    let before = opening["total"].as_u64().unwrap();
    let user = opening["findings"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let computed: time::OffsetDateTime = time::OffsetDateTime::parse(
        opening["computed_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let last_day = (computed + time::Duration::days(10)).date();

    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "auditor").await;
    browser
        .client
        .goto(&format!("{}/report", portal.base))
        .await
        .unwrap();
    let row = format!("#findings tr[data-user=\"{user}\"]");
    browser
        .on(&format!("{row} button.except"), |e| async move {
            e.click().await
        })
        .await;
    browser
        .on("#exception-reason", |e| async move {
            e.send_keys("Board member: kept reachable through the handover (CEO, ticket 77)")
                .await
        })
        .await;
    // A date picker's typing order follows the browser's locale: the value is set as a picker would.
    browser
        .client
        .execute(
            "const e = document.getElementById('exception-until'); e.value = arguments[0]; \
             e.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![serde_json::json!(last_day.to_string())],
        )
        .await
        .unwrap();
    browser
        .on("#exception-submit", |e| async move { e.click().await })
        .await;
    browser
        .on("#set-apart summary", |e| async move { e.click().await })
        .await;
    let listed = browser
        .wait_for_text("#exceptions li", PATIENCE, |t| {
            t.contains("accepted by auditor")
        })
        .await;
    assert!(listed.contains("Board member"), "{listed}");
    browser
        .wait_until_gone(&row, PATIENCE, "the row leaves the table")
        .await;
    let (_, during) = portal.get_json("/api/report/mismatches?limit=1").await;
    assert!(during["total"].as_u64().unwrap() < before, "{during}");

    // Ending it brings the finding back into the count and the table.
    browser
        .on("#exceptions li button", |e| async move { e.click().await })
        .await;
    browser.wait_for(&row, PATIENCE).await;
    let (_, after) = portal.get_json("/api/report/mismatches?limit=1").await;
    assert_eq!(after["total"].as_u64(), Some(before));
    browser.close().await;
}
