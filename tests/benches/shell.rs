//! Stage 1 of 1,000 approved requests through the Lync shell, as the executor runs them: the
//! in-process simulator, then a real Samba AD DC as the directory with `deprov shell-stand-in` as
//! the shell over a pipe, then the same over a real OpenSSH server on loopback. Requests per
//! second, per-request p50/p95, and calls per request (worker calls and directory reads); then the
//! time from starting a worker to its first answer, and the cost of replacing one.
//!
//! `cargo bench -p deprov-tests --bench shell` (`DEPROV_BENCH_REQUESTS`, default 1000; the
//! directory has 5,000 users: `DEPROV_BENCH_USERS`). Needs root for Samba's and OpenSSH's packages
//! (`scripts/test.sh` installs them) and builds on the cached DC template.

use async_trait::async_trait;
use deprov_server::backend::ldap::LdapDirectory;
use deprov_server::backend::shell::protocol::Call;
use deprov_server::backend::shell::worker::{Launch, Worker};
use deprov_server::backend::shell::{ShellConfig, ShellPool};
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
use deprov_tests::dc::TestDc;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, UserId};
use deprov_wire::execution::Operation;
use deprov_wire::workflow::{NewRequest, ReasonCategory, RequestState, Urgency};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deployment, counting what the portal asks of it.
struct Counting {
    directory: Arc<dyn DirectorySource>,
    shell: Arc<dyn LyncShell>,
    shell_calls: AtomicU64,
    directory_reads: AtomicU64,
}

#[async_trait]
impl DirectorySource for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn now(&self) -> OffsetDateTime {
        self.directory.now()
    }
    async fn health(&self) -> Result<String, BackendError> {
        self.directory.health().await
    }
    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        self.directory.read_directory(since).await
    }
    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        self.directory_reads.fetch_add(1, Ordering::Relaxed);
        self.directory.read_user(id).await
    }
    async fn changed(&self, since: &Watermark) {
        self.directory.changed(since).await
    }
}

#[async_trait]
impl LyncShell for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn health(&self) -> Result<String, BackendError> {
        self.shell.health().await
    }
    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError> {
        self.shell_calls.fetch_add(1, Ordering::Relaxed);
        self.shell.run(cmdlet).await
    }
    async fn read_lync_only(&self, identity: &str) -> Result<LyncOnly, BackendError> {
        // Get-CsUser and Get-CsClientCertificate: two calls to the worker.
        self.shell_calls.fetch_add(2, Ordering::Relaxed);
        self.shell.read_lync_only(identity).await
    }
}

/// The portal's LDAP settings at their defaults (the tests' poll every second, which would
/// compete with the requests for the DC).
fn portal_settings(dc: &TestDc) -> deprov_server::backend::ldap::settings::LdapSettings {
    let mut args = dc.ldap_args();
    let defaults = deprov_server::backend::ldap::settings::LdapArgs::default();
    args.ldap_poll_secs = defaults.ldap_poll_secs;
    args.ldap_deletions_secs = defaults.ldap_deletions_secs;
    args.ldap_page_size = defaults.ldap_page_size;
    args.settings().unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Stage 1 of `requests` approved standard requests, one after another.
async fn stage_one(
    label: &str,
    directory: Arc<dyn DirectorySource>,
    shell: Arc<dyn LyncShell>,
    requests: usize,
) {
    let counting = Arc::new(Counting {
        directory,
        shell,
        shell_calls: AtomicU64::new(0),
        directory_reads: AtomicU64::new(0),
    });
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).await.unwrap();
    // As the portal runs: the live copy reads certificates through the shell too. Its first
    // sweep (the AD-disabled users whose certificates AD does not hold) is left to finish, and
    // only what the executor asks for is counted.
    let live = Directory::start(counting.clone(), Some(counting.clone()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let clock = {
        let counting = counting.clone();
        Arc::new(move || counting.now())
    };
    let workflow = Workflow::start(store.clone(), WorkflowPolicy::default(), clock)
        .await
        .unwrap();
    let deployment = Deployment {
        directory: counting.clone(),
        shell: Some(counting.clone()),
        simulator: None,
    };
    let executor = Executor::new(
        store,
        &deployment,
        workflow.clone(),
        live.clone(),
        Duration::from_secs(60),
    );
    let snapshot = live.snapshot();
    let exclusions = ReportConfig::default();
    let mut approved = Vec::with_capacity(requests);
    for user in snapshot.users().iter().filter(|u| {
        u.lync
            .as_ref()
            .is_some_and(|l| l.enabled && !l.homed_online() && l.registrar_pool.is_some())
            && !u.protected()
            && !exclusions.excludes(u)
    }) {
        if approved.len() == requests {
            break;
        }
        let new = NewRequest {
            user_id: Some(user.id),
            user: None,
            external_ref: None,
            reason: ReasonCategory::Resignation,
            reason_text: "benchmark".into(),
            urgency: Urgency::Standard,
            effective_at: None,
            grace_days: None,
            protected_override: None,
        };
        let request = workflow
            .create("manager", new, &snapshot, &exclusions)
            .await
            .unwrap();
        let request = workflow
            .decide(
                request.id,
                Act::Approve { by: "approver" },
                request.version,
                "",
            )
            .await
            .unwrap();
        approved.push((request.id, request.version, request.user_sam_account_name));
    }
    assert_eq!(approved.len(), requests, "enough eligible users");
    counting.shell_calls.store(0, Ordering::Relaxed);
    counting.directory_reads.store(0, Ordering::Relaxed);
    let began = Instant::now();
    let mut times = Vec::with_capacity(requests);
    for (id, version, sam) in &approved {
        let t = Instant::now();
        let Begun::Started(operation) = executor
            .begin(*id, Operation::StageOne, "admin", *version, Some(sam), None)
            .await
            .unwrap()
        else {
            panic!("stage 1 needs no second admin")
        };
        executor.drive(operation).await.unwrap();
        times.push(t.elapsed());
    }
    let total = began.elapsed();
    for (id, _, _) in &approved {
        assert_eq!(
            workflow.get(*id).await.unwrap().unwrap().state,
            RequestState::StageOneDone
        );
    }
    times.sort();
    let n = requests as f64;
    println!(
        "  {label}: {:.1} s, {:.1} requests/s; per request p50 {:.1} ms, p95 {:.1} ms; {:.1} shell calls and {:.1} directory reads per request",
        total.as_secs_f64(),
        n / total.as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0,
        counting.shell_calls.load(Ordering::Relaxed) as f64 / n,
        counting.directory_reads.load(Ordering::Relaxed) as f64 / n,
    );
}

/// Time from starting a worker to its first answer (a ping), five times: each a new process.
async fn worker_start(label: &str, argv: Vec<String>) {
    let launch = Launch {
        argv,
        credential: None,
        handshake: Duration::from_secs(30),
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        let mut worker = Worker::start(&launch, 0).await.unwrap();
        worker
            .call(&Call::Ping, Duration::from_secs(30))
            .await
            .unwrap();
        times.push(began.elapsed());
        worker.kill().await;
    }
    times.sort();
    println!(
        "  {label}: worker start to first answer {:.0} ms (median of 5; min {:.0}, max {:.0}): the cost of replacing a worker",
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0
    );
}

fn pool(argv: Vec<String>) -> Arc<dyn LyncShell> {
    Arc::new(ShellPool::new(ShellConfig {
        launch: Launch {
            argv,
            credential: None,
            handshake: Duration::from_secs(30),
        },
        workers: 2,
        call_timeout: Duration::from_secs(60),
    }))
}

/// An sshd on loopback whose key runs `worker` (a forced command); its argv for the portal.
fn sshd(folder: &Path, worker: &[String]) -> Option<(std::process::Child, Vec<String>)> {
    if !Path::new("/usr/sbin/sshd").exists() {
        println!(
            "  SSH: skipped: /usr/sbin/sshd is missing (scripts/test.sh installs openssh-server)"
        );
        return None;
    }
    let path = |name: &str| folder.join(name);
    for key in ["host_key", "client_key"] {
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path(key))
            .status()
            .unwrap();
    }
    let quoted: Vec<String> = worker
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    std::fs::write(
        path("worker.sh"),
        format!("#!/bin/sh\nexec {}\n", quoted.join(" ")),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(path("worker.sh"))
        .status()
        .unwrap();
    let public = std::fs::read_to_string(path("client_key.pub")).unwrap();
    std::fs::write(
        path("authorized_keys"),
        format!(
            "command=\"{}\",no-pty {public}",
            path("worker.sh").display()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        path("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n",
            path("host_key").display(),
            path("authorized_keys").display(),
            path("sshd.pid").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").ok();
    use std::os::unix::process::CommandExt as _;
    let child = std::process::Command::new("/usr/sbin/sshd")
        .process_group(0)
        .args(["-D", "-e", "-f"])
        .arg(path("sshd_config"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let argv = [
        "ssh",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        path("client_key").display().to_string(),
        "-p".into(),
        port.to_string(),
        "root@127.0.0.1".into(),
    ])
    .collect();
    Some((child, argv))
}

fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    let requests = env("DEPROV_BENCH_REQUESTS", 1_000);
    let users = env("DEPROV_BENCH_USERS", 5_000);
    println!(
        "Stage 1 of {requests} approved standard requests, one after another ({users}-user directory):"
    );
    let sim = Arc::new(Simulator::new(
        &SimConfig { users, seed: 1 },
        SimClock::frozen(OffsetDateTime::now_utc()),
    ));
    stage_one("in-process simulator", sim.clone(), sim, requests).await;

    let Some(dc) = TestDc::start_with(users, 1, "the shell benchmark") else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let worker = dc.stand_in_argv(&folder.path().join("state.json"));
    let ldap =
        || -> Arc<dyn DirectorySource> { Arc::new(LdapDirectory::new(portal_settings(&dc))) };
    stage_one(
        "Samba DC + stand-in over a pipe",
        ldap(),
        pool(worker.clone()),
        requests,
    )
    .await;
    drop(dc);

    let Some(dc) = TestDc::start_with(users, 1, "the shell benchmark over SSH") else {
        return;
    };
    let ssh_folder = tempfile::tempdir().unwrap();
    let worker = dc.stand_in_argv(&ssh_folder.path().join("state.json"));
    if let Some((mut daemon, argv)) = sshd(ssh_folder.path(), &worker) {
        let ldap: Arc<dyn DirectorySource> = Arc::new(LdapDirectory::new(portal_settings(&dc)));
        stage_one(
            "Samba DC + stand-in over SSH",
            ldap,
            pool(argv.clone()),
            requests,
        )
        .await;
        println!("\nWorkers:");
        worker_start("stand-in over a pipe", worker.clone()).await;
        worker_start("stand-in over SSH", argv).await;
        stop(&mut daemon);
    }
}
