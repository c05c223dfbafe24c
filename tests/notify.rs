//! Notifications: mail through a real SMTP server (aiosmtpd) on loopback, webhooks to a receiver
//! that checks signatures, retries, and a kill -9 in the middle of a delivery.

use deprov_server::config::ServeConfig;
use deprov_tests::smtp::{self, SmtpSink};
use deprov_tests::{TestPortal, dist_dir, mail_address, ordinary_user};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn new_request(user: &str) -> serde_json::Value {
    serde_json::json!({ "user_id": user, "reason": "resignation", "reason_text": "Left for a competitor", "urgency": "standard" })
}

/// A test portal mailing through `sink`, high-risk findings to security@test.example if
/// `security`.
async fn portal_mailing(sink_url: &str, seed: u64, security: bool) -> TestPortal {
    let data = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), 300, seed);
    config.notify.smtp_url = Some(sink_url.to_owned());
    config.notify.smtp_from = Some("deprov@test.example".to_owned());
    config.notify.security_mail = security.then(|| "security@test.example".to_owned());
    TestPortal::spawn_with(data, config).await
}

/// A loopback port nothing listens on (yet).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The manager files a request for an ordinary user; its view.
async fn file_one(portal: &TestPortal) -> serde_json::Value {
    let user = ordinary_user(portal, 0).await;
    let manager = portal.person("manager").await;
    let (status, body) = manager
        .post("/api/requests", Some(new_request(&user)))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// Waits until the mails whose subject starts with `subject` reach `expected` (sorted), then
/// checks they reached nobody else; returns every mail so far.
async fn mailed<const N: usize>(
    sink: &SmtpSink,
    subject: &str,
    expected: [&str; N],
) -> Vec<smtp::Mail> {
    let to = |mails: &[smtp::Mail]| -> Vec<String> {
        let mut to: Vec<String> = mails
            .iter()
            .filter(|m| m.subject.starts_with(subject))
            .flat_map(|m| m.rcpt_tos.iter().cloned())
            .collect();
        to.sort();
        to
    };
    let mails = sink
        .wait_for(subject, Duration::from_secs(20), |mails| {
            to(mails).len() >= N
        })
        .await;
    assert_eq!(to(&mails), expected, "who was told of {subject:?}");
    mails
}

/// Waits until `done` holds for the admin's delivery log.
async fn wait_for_deliveries(
    portal: &TestPortal,
    what: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (status, log) = portal.get_json("/api/deliveries?limit=500").await;
        assert_eq!(status, 200, "{log}");
        if done(&log) {
            return log;
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}; the log: {log:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_right_people_get_the_right_mails_with_links_that_open_the_request() {
    let folder = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(folder.path(), 0, Duration::ZERO);
    let portal = portal_mailing(&sink.url(), 4, true).await;
    let body = file_one(&portal).await;
    let id = body["id"].as_i64().unwrap();

    // Filed: every approver but the filer hears, and nobody else.
    let waiting = format!("Request #{id} waits for your approval");
    let mails = mailed(
        &sink,
        &waiting,
        [
            "approver2@test.example",
            "approver@test.example",
            "everyone@test.example",
        ],
    )
    .await;
    let mail = smtp::to(&mails, &mail_address("approver"))
        .into_iter()
        .find(|m| m.subject.starts_with(&waiting))
        .unwrap()
        .clone();
    assert!(
        mail.body.contains("manager asks to de-provision"),
        "{}",
        mail.body
    );
    let link = format!("{}/requests/{id}", portal.base);
    assert!(mail.links().contains(&link), "{:?}", mail.links());
    let page = portal.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("<html"),
        "the link opens the app"
    );

    // Approved: the requester and the admins hear; the approver, who acted, does not.
    let approver = portal.person("approver").await;
    let (status, body) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(serde_json::json!({ "version": body["version"], "comment": "ok" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let approved = format!("Request #{id} approved");
    let mails = mailed(
        &sink,
        &approved,
        [
            "admin@test.example",
            "everyone@test.example",
            "manager@test.example",
        ],
    )
    .await;
    let to_manager = smtp::to(&mails, &mail_address("manager"));
    assert!(
        to_manager[0].body.contains("approver approved request"),
        "{}",
        to_manager[0].body
    );

    // High-risk findings reach the security address as one digest, and the daily digest carries
    // the audit log's head.
    let (_, report) = portal.get_json("/api/report/mismatches?limit=500").await;
    let high = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["risk"] == "high")
        .count();
    assert!(high > 0, "the simulated directory has high-risk findings");
    let mails = sink
        .wait_for("the security digests", Duration::from_secs(40), |mails| {
            let to_security = smtp::to(mails, "security@test.example");
            to_security.iter().any(|m| m.subject.contains("high-risk"))
                && to_security
                    .iter()
                    .any(|m| m.subject == "deprov daily digest")
        })
        .await;
    let to_security = smtp::to(&mails, "security@test.example");
    let findings: Vec<_> = to_security
        .iter()
        .filter(|m| m.subject.contains("high-risk"))
        .collect();
    assert_eq!(findings.len(), 1, "one digest, not a mail per finding");
    let expected = if high == 1 {
        "deprov: a new high-risk finding".to_owned()
    } else {
        format!("deprov: {high} new high-risk findings")
    };
    assert_eq!(findings[0].subject, expected);
    let daily = to_security
        .iter()
        .find(|m| m.subject == "deprov daily digest")
        .unwrap();
    assert!(
        daily.body.contains("deprov audit verify --anchor "),
        "{}",
        daily.body
    );

    // Nothing twice, ever.
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), mails.len(), "no Message-ID twice");

    // The anchor the digest carries catches rows deleted from the end of the audit log.
    let anchor = daily
        .body
        .split("--anchor ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap()
        .to_owned();
    let data = portal.stop().await;
    let (intact, report) = crate::audit::verify(data.path(), Some(&anchor));
    assert!(intact, "{report}");
    let seq: i64 = anchor.split(':').next().unwrap().parse().unwrap();
    let db = crate::audit::database(data.path()).await;
    sqlx::query("DELETE FROM audit_log WHERE seq >= $1")
        .bind(seq)
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let (intact, report) = crate::audit::verify(data.path(), Some(&anchor));
    assert!(!intact, "rows deleted from the end go unnoticed: {report}");
    assert!(report.contains(&format!("row {seq}")), "{report}");
}

#[tokio::test]
async fn a_stopped_smtp_server_delays_mail_without_losing_it() {
    let port = free_port();
    let portal = portal_mailing(&format!("smtp://127.0.0.1:{port}"), 5, true).await;
    file_one(&portal).await;

    let to_approver = |log: &serde_json::Value| {
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["recipient"] == "approver@test.example" && d["event"] == "request_filed")
            .cloned()
    };
    let log = wait_for_deliveries(
        &portal,
        "a failed attempt",
        Duration::from_secs(20),
        |log| to_approver(log).is_some_and(|d| d["attempts"].as_i64() >= Some(1)),
    )
    .await;
    let delivery = to_approver(&log).unwrap();
    assert_eq!(delivery["state"], "pending", "{delivery}");
    assert!(
        delivery["last_status"]
            .as_str()
            .unwrap()
            .starts_with("not sent"),
        "{delivery}"
    );
    assert!(delivery["next_attempt_at"].is_string(), "{delivery}");

    let folder = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(folder.path(), port, Duration::ZERO);
    let mails = sink
        .wait_for("the delayed mail", Duration::from_secs(30), |mails| {
            !smtp::to(mails, "approver@test.example").is_empty()
        })
        .await;
    let log = wait_for_deliveries(
        &portal,
        "the delivery recorded",
        Duration::from_secs(10),
        |log| to_approver(log).is_some_and(|d| d["state"] == "delivered"),
    )
    .await;
    assert!(to_approver(&log).unwrap()["attempts"].as_i64().unwrap() >= 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        smtp::to(&sink.mails(), "approver@test.example").len(),
        1,
        "{mails:#?}"
    );
}

/// What the webhook receiver saw.
#[derive(Default)]
struct Received {
    /// Attempts per idempotency key.
    attempts: HashMap<String, u32>,
    /// Events accepted (answered 200), as sent.
    accepted: Vec<serde_json::Value>,
    /// Requests whose signature did not check out.
    forged: u32,
}

const WEBHOOK_SECRET: &str = "a-webhook-secret-of-some-length";

/// A webhook receiver on port 0 that checks each signature, and answers 500 to the first three
/// attempts of every `request_filed` event.
async fn receiver() -> (String, Arc<Mutex<Received>>) {
    use axum::http::{HeaderMap, StatusCode};
    let received = Arc::new(Mutex::new(Received::default()));
    let state = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = Arc::clone(&state);
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let signature = header("x-deprov-signature");
                let (t, v1) = signature
                    .split_once(',')
                    .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
                    .unwrap_or_default();
                let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
                mac.update(format!("{t}.{body}").as_bytes());
                let fresh = t.parse::<i64>().is_ok_and(|t| {
                    (time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() < 300
                });
                let mut state = state.lock().unwrap();
                let bytes: Vec<u8> = (0..v1.len() / 2)
                    .filter_map(|i| u8::from_str_radix(v1.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                if !fresh || mac.verify_slice(&bytes).is_err() {
                    state.forged += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let key = header("x-deprov-idempotency-key");
                let attempts = state.attempts.entry(key).or_default();
                *attempts += 1;
                let event: serde_json::Value = serde_json::from_str(&body).unwrap();
                if event["kind"] == "request_filed" && *attempts <= 3 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                state.accepted.push(event);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test]
async fn a_webhook_answering_500_three_times_gets_the_event_on_the_fourth_try_once() {
    let (url, received) = receiver().await;
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("webhook.secret");
    std::fs::write(&secret, format!("{WEBHOOK_SECRET}\n")).unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), 300, 6);
    config.notify.webhooks = vec![url.clone()];
    config.notify.webhook_secret_files = vec![secret];
    let portal = TestPortal::spawn_with(data, config).await;
    let body = file_one(&portal).await;
    let id = body["id"].as_i64().unwrap();

    let filed = |received: &Received| {
        received
            .accepted
            .iter()
            .filter(|e| e["kind"] == "request_filed" && e["request"]["id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let start = Instant::now();
    while filed(&received.lock().unwrap()).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the event never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a fifth attempt, had there been one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let received = received.lock().unwrap();
        let events = filed(&received);
        assert_eq!(events.len(), 1, "delivered once");
        assert_eq!(
            received.forged, 0,
            "every request was signed with the secret"
        );
        let event = &events[0];
        assert_eq!(event["request"]["requested_by"], "manager");
        assert_eq!(event["request"]["state"], "pending_approval");
        let key_attempts: Vec<u32> = received
            .attempts
            .iter()
            .filter(|(key, _)| key.starts_with(event["id"].as_str().unwrap()))
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(key_attempts, [4], "three refusals, then the fourth try");
    }

    let (_, log) = portal
        .get_json("/api/deliveries?state=delivered&limit=500")
        .await;
    let delivery = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"] == "request_filed" && d["request"] == id)
        .unwrap_or_else(|| panic!("the delivery log shows it: {log:#}"))
        .clone();
    assert_eq!(delivery["channel"], "webhook");
    assert_eq!(delivery["recipient"], url);
    assert_eq!(delivery["attempts"], 4);
    assert_eq!(delivery["last_status"], "HTTP 200");
}

#[tokio::test]
async fn a_kill_9_during_delivery_loses_no_mail_and_sends_none_twice() {
    use crate::crash::{demo_password, serve};
    let folder = tempfile::tempdir().unwrap();
    // Each mail takes the relay 1.5 s to accept: the kill lands while one is in flight.
    let sink = SmtpSink::start(folder.path(), 0, Duration::from_millis(1500));
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let arguments = [
        "--sim-users",
        "300",
        "--sim-churn",
        "off",
        "--smtp-url",
        &sink.url(),
        "--smtp-from",
        "deprov@test.example",
        "--retry-first-secs",
        "1",
    ]
    .map(String::from);
    let (mut child, base) = serve(data.path(), &arguments);
    let manager = deprov_tests::sign_in(&base, "manager", &demo_password(data.path(), "manager"))
        .await
        .unwrap();
    let (_, users) = manager.get_json("/api/users?lync=enabled&limit=100").await;
    let candidates: Vec<String> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["protected"] == false && u["homed_online"] == false && u["title"] != "")
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .take(3)
        .collect();
    for user in &candidates {
        let (status, body) = manager.post("/api/requests", Some(new_request(user))).await;
        assert_eq!(status, 201, "{body}");
    }
    let start = Instant::now();
    while !sink.receiving() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no mail was ever in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL, mid-delivery
    child.wait().unwrap();
    let before = sink.mails().len();

    let (mut child, base) = serve(data.path(), &arguments);
    let admin = deprov_tests::sign_in(&base, "admin", &demo_password(data.path(), "admin"))
        .await
        .unwrap();
    // Three requests, each to the two demo approvers.
    let start = Instant::now();
    loop {
        let (_, log) = admin.get_json("/api/deliveries?state=delivered").await;
        if log["total"] == 6 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not all delivered: {log:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, log) = admin.get_json("/api/deliveries").await;
    assert_eq!(log["total"], 6, "{log:#}");
    assert_eq!(log["pending"], 0, "{log:#}");
    child.kill().unwrap();
    child.wait().unwrap();

    let mails = sink.mails();
    assert!(before < 6, "the kill came before the last mail");
    assert_eq!(mails.len(), 6, "none lost, none twice: {mails:#?}");
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    for approver in ["approver", "approver2"] {
        let address = format!("{approver}@{}", deprov_server::demo::DEMO_MAIL_DOMAIN);
        assert_eq!(smtp::to(&mails, &address).len(), 3, "{address}");
    }
}

#[tokio::test]
async fn an_admin_reads_in_the_browser_what_is_waiting_why_and_when_it_went() {
    let port = free_port();
    let portal = portal_mailing(&format!("smtp://127.0.0.1:{port}"), 7, false).await;
    let body = file_one(&portal).await;
    let id = body["id"].as_i64().unwrap();
    wait_for_deliveries(
        &portal,
        "a failed attempt",
        Duration::from_secs(20),
        |log| {
            log["deliveries"].as_array().unwrap().iter().any(|d| {
                d["recipient"] == "approver@test.example" && d["attempts"].as_i64() >= Some(1)
            })
        },
    )
    .await;

    let browser = deprov_tests::Browser::start().await;
    browser.sign_in(&portal.base, "admin").await;
    browser
        .on(
            "nav a[href=\"/deliveries\"]",
            |e| async move { e.click().await },
        )
        .await;
    let row = format!("#deliveries-table tr:has(a[href=\"/requests/{id}\"]):has(.recipient)");
    let patience = Duration::from_secs(15);
    let text = browser
        .wait_for_text("#deliveries-table", patience, |t| {
            t.contains("approver@test.example")
        })
        .await;
    assert!(text.contains(&format!("request filed #{id}")), "{text}");
    let pending = browser
        .client
        .find_all(fantoccini::Locator::Css(&format!("{row}.delivery-pending")))
        .await
        .unwrap();
    assert!(!pending.is_empty(), "{text}");
    let first = pending[0].text().await.unwrap();
    assert!(
        first.contains("Pending") && first.contains("not sent") && first.contains("next try"),
        "{first}"
    );

    let folder = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(folder.path(), port, Duration::ZERO);
    sink.wait_for("the mails", Duration::from_secs(30), |mails| {
        !smtp::to(mails, "approver@test.example").is_empty()
    })
    .await;
    wait_for_deliveries(&portal, "all delivered", Duration::from_secs(30), |log| {
        log["pending"] == 0
    })
    .await;
    browser
        .on("#deliveries-refresh", |e| async move { e.click().await })
        .await;
    browser
        .wait_for_text("#deliveries-status", patience, |t| {
            t.ends_with("; 0 waiting")
        })
        .await;
    let text = browser
        .wait_for_text("#deliveries-table", patience, |t| !t.contains("Pending"))
        .await;
    assert!(text.contains("Delivered") && text.contains("250"), "{text}");
    browser.close().await;
}

/// `deprov` on the command line, on `data`, with `password` on standard input.
fn cli(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(deprov_tests::deprov_binary())
        .args(args)
        .args(deprov_tests::database::command_args(data))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a-long-enough-passphrase\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn an_address_given_on_the_command_line_is_where_the_mail_goes() {
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let (ok, text) = cli(
        data.path(),
        &[
            "user",
            "add",
            "carol",
            "--role",
            "approver",
            "--email",
            "carol@test.example",
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = cli(
        data.path(),
        &[
            "user",
            "add",
            "dave",
            "--role",
            "approver",
            "--email",
            "not an address",
        ],
    );
    assert!(!ok && text.contains("not a mail address"), "{text}");
    let (ok, text) = cli(
        data.path(),
        &["user", "set-email", "carol", "carol.new@test.example"],
    );
    assert!(ok, "{text}");
    let (_, list) = cli(data.path(), &["user", "list"]);
    assert!(list.contains("carol.new@test.example"), "{list}");
    assert!(
        !list.contains("dave"),
        "a bad address creates no account: {list}"
    );

    let folder = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(folder.path(), 0, Duration::ZERO);
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), 300, 8);
    config.notify.smtp_url = Some(sink.url());
    config.notify.smtp_from = Some("deprov@test.example".to_owned());
    let portal = TestPortal::spawn_with(data, config).await;
    let body = file_one(&portal).await;
    let waiting = format!("Request #{} waits for your approval", body["id"]);
    let mails = sink
        .wait_for("carol's mail", Duration::from_secs(20), |mails| {
            smtp::to(mails, "carol.new@test.example")
                .iter()
                .any(|m| m.subject.starts_with(&waiting))
        })
        .await;
    assert!(
        smtp::to(&mails, "carol@test.example").is_empty(),
        "the old address is gone"
    );
}
