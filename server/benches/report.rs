//! The mismatch report's three figures:
//! 1. full report computation at 100,000 users (goal: at most 50 ms);
//! 2. opening the report at 100,000 users: the time from opening the stream to holding its first
//!    event (the counts and the first page), and its size, against the whole report it replaced
//!    (goal: under 1 s, at most 500 KB);
//! 3. change-to-client latency with 200 open streams: an AD account is disabled in the simulator,
//!    and the time until each of 200 server-sent-event clients holds the change is measured
//!    (over loopback HTTP, as a browser's EventSource receives it).
//!
//! `cargo bench -p deprov-server --bench report`; `DEPROV_BENCH_OPEN_USERS` and
//! `DEPROV_BENCH_STREAM_USERS` set the directories behind 2 and 3 (100,000 and 20,000).

use deprov_server::Portal;
use deprov_server::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_server::backend::{DirectorySource, Watermark};
use deprov_server::config::ServeConfig;
use deprov_server::directory::Snapshot;
use deprov_server::http::AppState;
use deprov_server::people::accounts;
use deprov_server::report::{ReportConfig, compute};
use deprov_wire::people::Role;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const STREAMS: usize = 200;
const ROUNDS: usize = 10;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    computation().await;
    opening().await;
    streams().await;
}

/// A portal on `users` simulated users, served on loopback: its state, its address, the cookie of
/// a signed-in auditor, and its data folder.
async fn serve(users: usize) -> (AppState, String, String, PathBuf) {
    let data = std::env::temp_dir().join(format!("deprov-bench-{}-{users}", std::process::id()));
    let config = ServeConfig {
        // Every stream comes from loopback, as every browser behind a proxy would.
        connections_per_address: STREAMS + 16,
        ..ServeConfig::for_tests(data.clone(), data.join("no-dist"), users, 2)
    };
    let portal = Portal::start(config).await.unwrap();
    let password = "benchmark password 1";
    accounts::add(&portal.state.store, "bench", &[Role::Auditor], password)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = portal.state.clone();
    tokio::spawn(portal.serve(listener, std::future::pending()));
    // One signed-in session, as a browser would hold; its cookie goes with every stream.
    let sign_in = reqwest::Client::new()
        .post(format!("{base}/api/session"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"bench","password":"{password}"}}"#))
        .send()
        .await
        .unwrap();
    assert!(
        sign_in.status().is_success(),
        "the benchmark account signs in"
    );
    let cookie = sign_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (state, base, cookie, data)
}

/// Opens the stream and reads until its first event is whole: its size, and how long it took.
async fn first_event(client: &reqwest::Client, url: &str, cookie: &str) -> (usize, Duration) {
    let began = Instant::now();
    let response = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .expect("stream opens");
    assert!(response.status().is_success(), "{}", response.status());
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        buffer.extend_from_slice(&chunk);
        if let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            return (end + 2, began.elapsed());
        }
    }
    panic!("the stream ended before its first event");
}

async fn opening() {
    let users = env("DEPROV_BENCH_OPEN_USERS", 100_000);
    let (state, base, cookie, data) = serve(users).await;
    let whole = serde_json::to_string(state.report.current().report.as_ref())
        .unwrap()
        .len();
    let client = reqwest::Client::new();
    for (name, query) in [
        ("unfiltered", ""),
        ("filtered by rule", "?rule=certificate_sign_in"),
    ] {
        let url = format!("{base}/api/report/mismatches/stream{query}");
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let (size, took) = first_event(&client, &url, &cookie).await;
            times.push(took);
            bytes = size;
        }
        times.sort();
        println!(
            "opening the report, {users} users, {name}: first event {:.1} KB in p50 {:.2?}, p95 {:.2?} (20 openings)",
            bytes as f64 / 1024.0,
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
    println!(
        "  (the whole report, {} findings, is {:.1} KB: what opening sent before)",
        state.report.current().report.total,
        whole as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&data);
}

async fn computation() {
    let users = env("DEPROV_BENCH_USERS", 100_000);
    let now = time::OffsetDateTime::now_utc();
    let sim = Simulator::new(&SimConfig { users, seed: 1 }, SimClock::frozen(now));
    let users_read = sim
        .read_directory(None)
        .await
        .unwrap()
        .users()
        .iter()
        .cloned()
        .map(Arc::new)
        .collect();
    let snapshot = Snapshot::build(users_read, Watermark::new("bench", 0), now);
    let config = ReportConfig::default();
    let mut times = Vec::new();
    let mut findings = 0;
    for _ in 0..30 {
        let began = Instant::now();
        let report = compute(&snapshot, now, &config, &|_| None, &|_| None);
        times.push(began.elapsed());
        findings = report.findings.len();
    }
    times.sort();
    println!(
        "report computation, {users} users, {findings} findings: p50 {:.2?}, p95 {:.2?} (30 runs)",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
}

async fn streams() {
    let users = env("DEPROV_BENCH_STREAM_USERS", 20_000);
    let (state, base, cookie, data) = serve(users).await;
    let url = format!("{base}/api/report/mismatches/stream");
    let sim = state.deployment.simulator.clone().unwrap();
    let candidates: Vec<_> = state
        .directory
        .snapshot()
        .users()
        .iter()
        .filter(|u| {
            !u.ad.account_disabled
                && u.lync.as_ref().is_some_and(|l| l.enabled)
                && u.ad.distinguished_name.contains("OU=Users")
        })
        .map(|u| u.id)
        .take(ROUNDS)
        .collect();

    // The user each round disables, and when.
    let target: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<usize>();
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<Duration>();
    let client = reqwest::Client::new();
    for _ in 0..STREAMS {
        let (client, url, target, ready, latency) = (
            client.clone(),
            url.clone(),
            target.clone(),
            ready_tx.clone(),
            latency_tx.clone(),
        );
        let cookie = cookie.clone();
        tokio::spawn(async move {
            let response = client
                .get(&url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("stream opens");
            assert!(
                response.status().is_success(),
                "the stream is refused: {}",
                response.status()
            );
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    if event.starts_with("event: report") {
                        let _ = ready.send(event.len());
                    } else if event.starts_with("event: change") {
                        let current = target.lock().unwrap().clone();
                        if let Some((id, at)) =
                            current.filter(|(id, _)| event.contains(id.as_str()))
                        {
                            let _ = latency.send(at.elapsed());
                            let _ = id;
                        }
                    }
                }
            }
        });
    }
    let mut report_bytes = 0;
    for _ in 0..STREAMS {
        report_bytes = tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
            .await
            .expect("every stream gets the report within a minute")
            .expect("a stream ended early");
    }
    println!(
        "{STREAMS} streams open on a {users}-user directory (first event {} KB each)",
        report_bytes / 1024
    );

    let mut latencies = Vec::new();
    for id in candidates {
        *target.lock().unwrap() = Some((id.to_string(), Instant::now()));
        sim.ad_disable(id).unwrap();
        for _ in 0..STREAMS {
            match tokio::time::timeout(Duration::from_secs(5), latency_rx.recv()).await {
                Ok(Some(latency)) => latencies.push(latency),
                _ => panic!("a stream missed the change"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latencies.sort();
    println!(
        "change to all {STREAMS} streams ({ROUNDS} changes, {} deliveries): p50 {:.2?}, p95 {:.2?}, max {:.2?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().unwrap()
    );
    let _ = std::fs::remove_dir_all(&data);
}
