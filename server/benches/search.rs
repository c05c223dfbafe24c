//! Search latency at 100,000 users: p50 and p95 per query shape, server side (the index search
//! plus building the JSON rows the API returns, without the network).
//!
//! `cargo bench -p deprov-server --bench search` (goal: p95 at most 5 ms).

use deprov_server::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_server::directory::Directory;
use deprov_server::directory::search::SearchQuery;
use deprov_wire::directory::{AdState, LyncState};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 100_000;
const RUNS: usize = 400;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let users = std::env::var("DEPROV_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(USERS);
    let start = Instant::now();
    let sim = Arc::new(Simulator::new(
        &SimConfig { users, seed: 1 },
        SimClock::frozen(time::OffsetDateTime::now_utc()),
    ));
    let directory = Directory::start(sim, None)
        .await
        .expect("the simulator answers");
    let snapshot = directory.snapshot();
    println!(
        "{users} users generated and indexed in {:.2?}",
        start.elapsed()
    );

    let some_sam = snapshot.users()[users / 2].ad.sam_account_name.clone();
    let shapes: Vec<(&str, SearchQuery)> = vec![
        (
            "full name",
            SearchQuery {
                text: "anna johansson".into(),
                ..Default::default()
            },
        ),
        (
            "exact sAMAccountName",
            SearchQuery {
                text: some_sam,
                ..Default::default()
            },
        ),
        (
            "2-letter prefix 'ja'",
            SearchQuery {
                text: "ja".into(),
                ..Default::default()
            },
        ),
        (
            "1 letter 'e' (worst case)",
            SearchQuery {
                text: "e".into(),
                ..Default::default()
            },
        ),
        (
            "SIP address",
            SearchQuery {
                text: "sip:wei.chen@contoso.com".into(),
                ..Default::default()
            },
        ),
        (
            "no match",
            SearchQuery {
                text: "zzzzqx".into(),
                ..Default::default()
            },
        ),
        (
            "filters only (AD disabled, Lync enabled)",
            SearchQuery {
                ad: Some(AdState::Disabled),
                lync: Some(LyncState::Enabled),
                ..Default::default()
            },
        ),
        (
            "empty query, page 40",
            SearchQuery {
                offset: 1_000,
                ..Default::default()
            },
        ),
    ];
    println!(
        "{:<44} {:>9} {:>10} {:>10}",
        "query shape", "matches", "p50", "p95"
    );
    for (name, mut query) in shapes {
        query.limit = 25;
        let mut times = Vec::with_capacity(RUNS);
        let mut total = 0;
        for _ in 0..RUNS {
            let began = Instant::now();
            let (page, matches) = snapshot.search(&query);
            // What the handler does with a page: one summary per row, serialised.
            let rows = serde_json::to_vec(
                &page
                    .iter()
                    .map(|u| (&u.id, &u.ad.display_name))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            std::hint::black_box(rows);
            times.push(began.elapsed());
            total = matches;
        }
        times.sort();
        println!(
            "{name:<44} {total:>9} {:>10.3?} {:>10.3?}",
            percentile(&times, 0.50),
            percentile(&times, 0.95)
        );
    }
}
