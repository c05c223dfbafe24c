//! Executing 1,000 approved requests' stage 1 through the simulator, as the HTTP handler does it
//! (plan from a fresh read, steps committed before and after each call, audit rows), with every
//! commit fsynced (SQLite WAL, synchronous = FULL) on a real data folder. Reports time per
//! request (p50, p95), the total, and backend calls per request, for standard and
//! immediate-disconnect requests one after another, then standard requests 16 at a time.
//!
//! `cargo bench -p deprov-server --bench execution` (`DEPROV_BENCH_USERS`: directory size, 20,000
//! by default; it needs 3,000 users eligible for a request).

use async_trait::async_trait;
use deprov_server::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_server::backend::{
    BackendError, CmdletOutput, Deployment, DirectoryRead, DirectorySource, LyncOnly, LyncShell,
    Watermark,
};
use deprov_server::directory::Directory;
use deprov_server::execution::{Begun, Executor};
use deprov_server::report::ReportConfig;
use deprov_server::store::Store;
use deprov_server::workflow::machine::Act;
use deprov_server::workflow::{Workflow, WorkflowPolicy};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, UserId};
use deprov_wire::execution::Operation;
use deprov_wire::workflow::{NewRequest, ReasonCategory, RequestState, Urgency};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const REQUESTS: usize = 1_000;

/// The simulator, counting what the portal asks of it.
struct Counting {
    sim: Simulator,
    runs: AtomicU64,
    reads: AtomicU64,
}

#[async_trait]
impl DirectorySource for Counting {
    fn name(&self) -> &'static str {
        "counting simulator"
    }
    fn now(&self) -> OffsetDateTime {
        self.sim.now()
    }
    async fn health(&self) -> Result<String, BackendError> {
        DirectorySource::health(&self.sim).await
    }
    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        self.sim.read_directory(since).await
    }
    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.sim.read_user(id).await
    }
    async fn changed(&self, since: &Watermark) {
        self.sim.changed(since).await
    }
}

#[async_trait]
impl LyncShell for Counting {
    fn name(&self) -> &'static str {
        "counting simulator"
    }
    async fn health(&self) -> Result<String, BackendError> {
        LyncShell::health(&self.sim).await
    }
    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.sim.run(cmdlet).await
    }
    async fn read_lync_only(&self, identity: &str) -> Result<LyncOnly, BackendError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.sim.read_lync_only(identity).await
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    // The directory's size matters: the portal's live copy is rebuilt after every change.
    let users = std::env::var("DEPROV_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("{users} simulated users");
    let sim = Simulator::new(
        &SimConfig { users, seed: 1 },
        SimClock::frozen(OffsetDateTime::now_utc()),
    );
    let backend = Arc::new(Counting {
        sim,
        runs: AtomicU64::new(0),
        reads: AtomicU64::new(0),
    });
    let data = tempfile::tempdir().expect("a data folder");
    let store = Store::open(data.path()).await.expect("the store opens");
    let directory = Directory::start(backend.clone(), Some(backend.clone()))
        .await
        .expect("the directory");
    let clock = {
        let backend = backend.clone();
        Arc::new(move || backend.now())
    };
    let workflow = Workflow::start(store.clone(), WorkflowPolicy::default(), clock)
        .await
        .expect("the workflow");
    let deployment = Deployment {
        directory: backend.clone(),
        shell: Some(backend.clone()),
        simulator: None,
    };
    let executor = Executor::new(
        store,
        &deployment,
        workflow.clone(),
        directory.clone(),
        Duration::from_secs(30),
    );
    let snapshot = directory.snapshot();
    let exclusions = ReportConfig::default();
    let mut eligible = snapshot.users().iter().filter(|u| {
        u.lync
            .as_ref()
            .is_some_and(|l| !l.homed_online() && l.registrar_pool.is_some())
            && !u.protected()
            && !exclusions.excludes(u)
    });

    for (label, urgency, parallel) in [
        ("standard, one after another", Urgency::Standard, 1),
        (
            "immediate disconnect, one after another",
            Urgency::ImmediateDisconnect,
            1,
        ),
        ("standard, 16 at a time", Urgency::Standard, 16),
    ] {
        // Filed and approved outside the measurement.
        let mut approved = Vec::with_capacity(REQUESTS);
        for user in eligible.by_ref().take(REQUESTS) {
            let new = NewRequest {
                user_id: Some(user.id),
                user: None,
                external_ref: None,
                reason: ReasonCategory::Resignation,
                reason_text: "benchmark".into(),
                urgency,
                effective_at: None,
                grace_days: None,
                protected_override: None,
            };
            let request = workflow
                .create("manager", new, &snapshot, &exclusions)
                .await
                .expect("filed");
            let request = workflow
                .decide(
                    request.id,
                    Act::Approve { by: "approver" },
                    request.version,
                    "",
                )
                .await
                .expect("approved");
            approved.push((request.id, request.version, request.user_sam_account_name));
        }
        assert_eq!(approved.len(), REQUESTS, "enough eligible users");
        let (runs, reads) = (
            backend.runs.load(Ordering::Relaxed),
            backend.reads.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let executor = &executor;
        let mut times: Vec<Duration> = futures_util::stream::iter(approved.iter())
            .map(|(id, version, sam)| async move {
                let t = Instant::now();
                let Begun::Started(operation) = executor
                    .begin(*id, Operation::StageOne, "admin", *version, Some(sam), None)
                    .await
                    .expect("stage 1 starts")
                else {
                    panic!("stage 1 needs no second admin")
                };
                executor.drive(operation).await.expect("stage 1 runs");
                t.elapsed()
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let total = started.elapsed();
        for (id, _, _) in &approved {
            let state = workflow.get(*id).await.unwrap().unwrap().state;
            assert_eq!(state, RequestState::StageOneDone, "request #{id}");
        }
        times.sort();
        let per = |n: u64| n as f64 / REQUESTS as f64;
        println!(
            "{label}: {REQUESTS} requests in {total:.2?} ({:.0} requests/s); per request p50 {:.2?}, p95 {:.2?}, max {:.2?}; \
             backend calls per request: {:.1} cmdlets + {:.1} user reads",
            REQUESTS as f64 / total.as_secs_f64(),
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times.last().unwrap(),
            per(backend.runs.load(Ordering::Relaxed) - runs),
            per(backend.reads.load(Ordering::Relaxed) - reads),
        );
    }
}
