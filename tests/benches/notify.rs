//! Notifications through the outbox to a real SMTP server (aiosmtpd on loopback): mails per
//! second when 200 requests are filed at once (each mails its three approvers), and the delay
//! from filing one request to its first mail being stored, p50/p95 over 30.
//!
//! `cargo bench -p deprov-tests --bench notify` after `scripts/test.sh` has installed aiosmtpd
//! (the sink's Python is `DEPROV_TEST_SMTP_PYTHON`, else the one scripts/setup.sh installed).

use deprov_server::config::ServeConfig;
use deprov_tests::smtp::SmtpSink;
use deprov_tests::{TestPortal, dist_dir};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let folder = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(folder.path(), 0, Duration::ZERO);
    let data = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), 5_000, 31);
    config.notify.smtp_url = Some(sink.url());
    config.notify.smtp_from = Some("deprov@bench.example".to_owned());
    config.bulk_threshold = Some(100_000);
    let portal = TestPortal::spawn_with(data, config).await;
    let manager = portal.person("manager").await;
    let mut users: Vec<String> = Vec::new();
    for offset in [0, 100, 100 * 2, 100 * 3] {
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
                .filter(|u| u["protected"] == false && u["homed_online"] == false)
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
    }
    assert!(users.len() >= 230, "{} users", users.len());
    let request = |user: &str| serde_json::json!({ "user_id": user, "reason": "resignation", "reason_text": "bench", "urgency": "standard" });

    // Throughput: 200 requests in one batch, 3 approvers each.
    let batch: Vec<serde_json::Value> = users[..200].iter().map(|u| request(u)).collect();
    let start = Instant::now();
    let (status, answer) = manager
        .post("/api/requests/bulk", Some(serde_json::json!(batch)))
        .await;
    assert_eq!(
        (status, answer["filed"].as_u64()),
        (200, Some(200)),
        "{answer}"
    );
    let filed = start.elapsed();
    let expected = 200 * 3;
    while sink.mails().len() < expected {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "mails stalled at {}",
            sink.mails().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = start.elapsed();
    println!(
        "throughput: 200 events, {expected} mails stored in {:.2} s from the first filing (filing took {:.2} s): \
         {:.0} mails/s, {:.0} events/s",
        all.as_secs_f64(),
        filed.as_secs_f64(),
        expected as f64 / all.as_secs_f64(),
        200.0 / all.as_secs_f64()
    );

    // Delay: one request at a time, from its 201 to its first mail in the relay's folder.
    let mut delays = Vec::new();
    for user in &users[200..230] {
        let before = sink.mails().len();
        let start = Instant::now();
        let (status, _) = manager.post("/api/requests", Some(request(user))).await;
        assert_eq!(status, 201);
        let answered = start.elapsed();
        while sink.mails().len() == before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays.push((start.elapsed() - answered).as_secs_f64() * 1000.0);
        while sink.mails().len() < before + 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "delay from a request's 201 to its first mail stored: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (30 requests)",
        delays[delays.len() / 2],
        delays[delays.len() * 95 / 100],
        delays[delays.len() - 1]
    );
}
