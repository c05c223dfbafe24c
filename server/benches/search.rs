//! Search latency at 100,000 users: p50 and p95 per query shape, server side (the index search
//! plus building the JSON rows the API returns, without the network). Then what keeping the live
//! copy current costs per changed user: a state change, a SIP rename (the search record changes),
//! and either when a reader still holds the copy (so it is copied first).
//!
//! `cargo bench -p deprov-server --bench search` (goal: p95 at most 5 ms).

use deprov_server::backend::DirectoryRead;
use deprov_server::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_server::directory::search::SearchQuery;
use deprov_server::directory::{Directory, Snapshot};
use deprov_wire::directory::{AdState, LyncState, SipAddress};
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

    follow_changes(&snapshot);
}

/// Time per `Snapshot::update` with one changed user, as the live copy applies a change feed.
fn follow_changes(snapshot: &Snapshot) {
    println!();
    println!(
        "{:<44} {:>10} {:>10}",
        "one change to the live copy", "p50", "p95"
    );
    let lync_users: Vec<usize> = (0..snapshot.len())
        .filter(|&i| snapshot.users()[i].lync.is_some())
        .take(RUNS)
        .collect();
    let shapes: [(&str, bool, bool); 4] = [
        ("state change", false, false),
        ("SIP rename (search record rewritten)", true, false),
        ("state change, a reader holds the copy", false, true),
        ("SIP rename, a reader holds the copy", true, true),
    ];
    for (name, rename, held) in shapes {
        let mut live = snapshot.clone();
        let mut times = Vec::with_capacity(RUNS);
        for (round, &i) in lync_users.iter().enumerate() {
            let mut user = (*live.users()[i]).clone();
            user.ad.account_disabled = !user.ad.account_disabled;
            if rename && let Some(lync) = user.lync.as_mut() {
                let domain = lync.sip_address.domain().to_owned();
                lync.sip_address = SipAddress::new(&format!("renamed{round}"), &domain).unwrap();
            }
            let read = DirectoryRead::Changes {
                users: vec![user],
                deleted: Vec::new(),
                high_water: live.high_water.clone(),
            };
            let mut shared = Arc::new(live);
            // A reader's clone makes `Arc::make_mut` copy the snapshot, as the live copy does.
            let reader = held.then(|| Arc::clone(&shared));
            let began = Instant::now();
            Arc::make_mut(&mut shared).update(read, snapshot.synced);
            times.push(began.elapsed());
            drop(reader);
            live = Arc::into_inner(shared).expect("no other holder is left");
        }
        times.sort();
        println!(
            "{name:<44} {:>10.3?} {:>10.3?}",
            percentile(&times, 0.50),
            percentile(&times, 0.95)
        );
    }
}
