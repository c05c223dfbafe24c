//! The store under load: requests filed, approved and taken through stage 1 per second, on
//! SQLite (one instance), PostgreSQL (one instance) and two instances sharing PostgreSQL, with
//! the calls spread over the instances, 16 in flight.
//!
//! `cargo bench -p deprov-tests --bench instances` with the PostgreSQL cluster scripts/setup.sh's
//! `start_test_postgres` starts (`DEPROV_TEST_POSTGRES`, `DEPROV_TEST_POSTGRES_PASSWORD_FILE`).

use deprov_server::config::ServeConfig;
use deprov_tests::{Person, TestPortal, database, dist_dir, leavers};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const REQUESTS: usize = 300;
const EXECUTED: usize = 100;
const IN_FLIGHT: usize = 16;
const USERS: usize = 5_000;
const SEED: u64 = 41;

#[tokio::main]
async fn main() {
    println!(
        "{:<34} {:>12} {:>12} {:>16}",
        "", "filed/s", "approved/s", "stage 1 done/s"
    );
    let data = tempfile::tempdir().unwrap();
    let config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), USERS, SEED);
    let sqlite = TestPortal::spawn_with(data, config).await;
    run("SQLite, one instance", &[&sqlite]).await;
    drop(sqlite);

    let data = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), USERS, SEED);
    config.database = database::fresh_database().await;
    let postgres = TestPortal::spawn_with(data, config).await;
    run("PostgreSQL, one instance", &[&postgres]).await;
    drop(postgres);

    let (a, b) = database::two_instances(USERS, SEED).await;
    run("PostgreSQL, two instances", &[&a, &b]).await;
}

async fn run(label: &str, portals: &[&TestPortal]) {
    let users = leavers(portals[0], REQUESTS).await;
    let mut managers = Vec::new();
    let mut approvers = Vec::new();
    let mut admins = Vec::new();
    for portal in portals {
        managers.push(portal.person("manager").await);
        approvers.push(portal.person("approver").await);
        admins.push(portal.person("admin").await);
    }
    let pick = |people: &[Person], n: usize| n % people.len();

    let start = Instant::now();
    let filed: Vec<Value> = futures_util::stream::iter(users.iter().enumerate())
        .map(|(n, user)| {
            let manager = &managers[pick(&managers, n)];
            async move {
                let body = json!({ "user_id": user, "reason": "resignation", "reason_text": "bench", "urgency": "standard" });
                let (status, request) = manager.post("/api/requests", Some(body)).await;
                assert_eq!(status, 201, "{request}");
                request
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let filing = REQUESTS as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let approved: Vec<Value> = futures_util::stream::iter(filed.iter().enumerate())
        .map(|(n, request)| {
            let approver = &approvers[pick(&approvers, n)];
            async move {
                let id = request["id"].as_i64().unwrap();
                let body = json!({ "version": request["version"] });
                let (status, approved) = approver
                    .post(&format!("/api/requests/{id}/approve"), Some(body))
                    .await;
                assert_eq!(status, 200, "{approved}");
                approved
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let approving = REQUESTS as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    futures_util::stream::iter(approved.iter().take(EXECUTED).enumerate())
        .map(|(n, request)| {
            let admin = &admins[pick(&admins, n)];
            async move {
                let id = request["id"].as_i64().unwrap();
                let body = json!({ "operation": "stage_one", "version": request["version"] });
                let (status, started) = admin
                    .post(&format!("/api/requests/{id}/execute"), Some(body))
                    .await;
                assert_eq!(status, 202, "{started}");
                loop {
                    let (_, view) = admin.get_json(&format!("/api/requests/{id}")).await;
                    if view["state"] == "stage_one_done" {
                        break;
                    }
                    assert_ne!(view["state"], "failed", "{view}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    let executing = EXECUTED as f64 / start.elapsed().as_secs_f64();
    println!("{label:<34} {filing:>12.1} {approving:>12.1} {executing:>16.1}");
}
