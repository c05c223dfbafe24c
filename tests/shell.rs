//! Executing against "real Lync": a real Samba AD DC as the directory and `deprov shell-stand-in`
//! as the Lync Management Shell, over the worker protocol: both urgencies, stage 2, rollback and
//! restore, certificates through the shell; transport faults injected by a wrapper around the
//! stand-in; hostile values arriving as data; the same run over a real OpenSSH server.

use crate::ldap::eventually;
use deprov_tests::dc::{self, TestDc, pick};
use deprov_tests::{TestPortal, deprov_binary};
use deprov_wire::directory::DirectoryUser;
use deprov_wire::execution::{ExecutionView, StepState};
use deprov_wire::workflow::RequestState;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A portal on `dc` whose shell is `worker`, with the folder that holds its data.
async fn portal(dc: &TestDc, worker: &[String]) -> TestPortal {
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config_with_shell(data.path(), worker);
    TestPortal::spawn_with(data, config).await
}

/// Files and approves a request for `user`; returns the request id and version.
async fn approved(portal: &TestPortal, user: &DirectoryUser, urgency: &str) -> (i64, i64) {
    let manager = portal.person("manager").await;
    let (status, body) = manager
        .post(
            "/api/requests",
            Some(json!({ "user_id": user.id, "reason": "termination", "reason_text": "Left", "urgency": urgency, "grace_days": 1 })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, body) = portal
        .person("approver")
        .await
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(json!({ "version": body["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (id, body["version"].as_i64().unwrap())
}

async fn view(portal: &TestPortal, id: i64) -> ExecutionView {
    let (_, body) = portal
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Starts `operation` on request `id` (confirmed with the account name) and waits for it to end.
/// Runs `operation`; giving Lync back is asked with a reason and, where a second admin must
/// confirm, confirmed by "admin".
async fn run(portal: &TestPortal, id: i64, operation: &str, user: &DirectoryUser) -> ExecutionView {
    let before = view(portal, id).await;
    let body = json!({ "operation": operation, "version": before.request.version,
        "confirm": user.ad.sam_account_name, "reason": "Rehired on the same contract" });
    let path = format!("/api/requests/{id}/execute");
    let (status, answer) = portal.post(&path, Some(body.clone())).await;
    assert_eq!(status, 202, "{operation}: {answer}");
    if !answer["reenable_ask"].is_null() {
        let (status, answer) = portal.person("admin").await.post(&path, Some(body)).await;
        assert_eq!(status, 202, "{operation}, confirmed: {answer}");
    }
    settled(portal, id).await
}

/// Waits until request `id` is no longer executing.
async fn settled(portal: &TestPortal, id: i64) -> ExecutionView {
    let mut last = None;
    for _ in 0..300 {
        let current = view(portal, id).await;
        if current.request.state != RequestState::Executing {
            return current;
        }
        last = Some(current);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still executing: {last:#?}");
}

async fn lync_state(portal: &TestPortal, user: &DirectoryUser) -> Value {
    portal.get_json(&format!("/api/users/{}", user.id)).await.1
}

fn active(u: &DirectoryUser) -> bool {
    !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled)
}

#[tokio::test]
async fn stage_one_stage_two_rollback_and_restore_run_through_the_shell_on_a_real_ad() {
    let Some(dc) = TestDc::start("stage_one_stage_two_rollback_and_restore_run_through_the_shell")
    else {
        return;
    };
    let state = dc.dir().join("stand-in-state.json");
    let portal = portal(&dc, &dc.stand_in_argv(&state)).await;
    let (_, health) = portal.get_json("/api/health").await;
    assert_eq!(health["shell"], "powershell", "{health}");
    assert_eq!(health["status"], "ok", "{health}");

    // Standard: stage 1, then stage 2 once due, then restore.
    let user = pick(active, 10);
    let (id, _) = approved(&portal, &user, "standard").await;
    let plan = view(&portal, id).await;
    assert_eq!(plan.read_only, None, "a shell is configured");
    let done = run(&portal, id, "stage_one", &user).await;
    assert_eq!(done.request.state, RequestState::StageOneDone, "{done:#?}");
    assert_eq!(
        lync_state(&portal, &user).await["lync_state"],
        "temporarily_disabled"
    );
    // The grace period ends (the deployment's clock is the real one: move the due date instead).
    sqlx::query("UPDATE requests SET stage_two_due_at = '2000-01-01T00:00:00Z' WHERE id = $1")
        .bind(id)
        .execute(&portal.database().await)
        .await
        .unwrap();
    let removed = run(&portal, id, "stage_two", &user).await;
    assert_eq!(removed.request.state, RequestState::Removed, "{removed:#?}");
    let page = lync_state(&portal, &user).await;
    assert_eq!(
        page["lync_state"], "never_enabled",
        "Disable-CsUser cleared the msRTCSIP attributes"
    );
    let restored = run(&portal, id, "restore", &user).await;
    assert_eq!(
        restored.request.state,
        RequestState::Restored,
        "{restored:#?}"
    );
    let page = lync_state(&portal, &user).await;
    assert_eq!(page["lync_state"], "enabled");
    assert_eq!(
        page["user"]["lync"]["sip_address"],
        user.lync.as_ref().unwrap().sip_address.to_string()
    );
    let contacts = page["user"]["lync"]["contact_count"].clone();
    assert!(
        contacts.is_null()
            || contacts == json!(user.lync.as_ref().unwrap().contact_count.known().copied())
    );

    // Immediate disconnect: rename, revoke; then roll back.
    let with_certificate = pick(
        |u| {
            active(u)
                && u.lync
                    .as_ref()
                    .unwrap()
                    .certificates
                    .is_known_and(|c| !c.is_empty())
        },
        0,
    );
    let (id, _) = approved(&portal, &with_certificate, "immediate_disconnect").await;
    let done = run(&portal, id, "stage_one", &with_certificate).await;
    assert_eq!(done.request.state, RequestState::StageOneDone, "{done:#?}");
    assert_eq!(done.operations[0].steps.len(), 4);
    let page = lync_state(&portal, &with_certificate).await;
    assert_ne!(
        page["user"]["lync"]["sip_address"],
        with_certificate
            .lync
            .as_ref()
            .unwrap()
            .sip_address
            .to_string(),
        "renamed"
    );
    let certificates = page["user"]["lync"]["certificates"]
        .as_array()
        .expect("known through the shell")
        .clone();
    assert!(
        !certificates.is_empty() && certificates.iter().all(|c| c["revoked_from"].is_string()),
        "{certificates:?}"
    );
    let rolled_back = run(&portal, id, "rollback", &with_certificate).await;
    assert_eq!(
        rolled_back.request.state,
        RequestState::RolledBack,
        "{rolled_back:#?}"
    );
    let page = lync_state(&portal, &with_certificate).await;
    assert_eq!(page["lync_state"], "enabled");
    assert_eq!(
        page["user"]["lync"]["sip_address"],
        with_certificate
            .lync
            .as_ref()
            .unwrap()
            .sip_address
            .to_string()
    );
}

#[tokio::test]
async fn with_the_shell_the_certificate_rule_is_decided_on_a_real_deployment() {
    let Some(dc) = TestDc::start("with_the_shell_the_certificate_rule_is_decided") else {
        return;
    };
    let state = dc.dir().join("stand-in-state.json");
    let portal = portal(&dc, &dc.stand_in_argv(&state)).await;
    eventually(
        Duration::from_secs(30),
        "certificates read through the shell for AD-disabled users",
        || async {
            let (_, report) = portal.get_json("/api/report/mismatches").await;
            report["not_evaluated"]
                .as_array()
                .is_some_and(|n| n.is_empty())
                && report["counts"]["certificate_sign_in"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0
        },
    )
    .await;
}

/// How many requests the worker received for `cmdlet` whose parameters satisfy `which`.
fn received(log: &Path, cmdlet: &str, which: impl Fn(&Value) -> bool) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|request| request["cmdlet"] == cmdlet && which(&request["parameters"]))
        .count()
}

#[tokio::test]
async fn transport_faults_never_send_a_changing_cmdlet_twice_and_every_request_ends_truthfully() {
    let Some(dc) = TestDc::start("transport_faults_never_send_a_changing_cmdlet_twice") else {
        return;
    };
    let faults = [
        "hang-before",
        "hang-after",
        "die",
        "noise",
        "huge-line",
        "bad-utf8",
        "slow-start",
    ];
    for (n, fault) in faults.into_iter().enumerate() {
        let folder = tempfile::tempdir().unwrap();
        let log = folder.path().join("requests.log");
        let worker = dc.faulty_worker_argv(fault, folder.path(), &["--seconds", "12"]);
        let portal = portal(&dc, &worker).await;
        let user = pick(active, 20 + n);
        let (id, _) = approved(&portal, &user, "standard").await;
        let mut outcome = run(&portal, id, "stage_one", &user).await;
        if outcome.request.state == RequestState::Failed {
            // True and retryable: the message says what happened; the retry reads back first.
            let step = &outcome.operations[0].steps[1];
            let said = format!("{:?} {:?}", step.error, step.note);
            assert!(outcome.can_retry, "{fault}: {outcome:#?}");
            assert!(!said.is_empty(), "{fault}");
            println!("{fault}: failed first, with: {said}");
            tokio::time::sleep(Duration::from_secs(2)).await; // the worker's restart back-off
            let (status, body) = portal
                .post(
                    &format!("/api/requests/{id}/retry"),
                    Some(json!({ "version": outcome.request.version })),
                )
                .await;
            assert_eq!(status, 202, "{fault}: {body}");
            outcome = settled(&portal, id).await;
        }
        assert_eq!(
            outcome.request.state,
            RequestState::StageOneDone,
            "{fault}: {outcome:#?}"
        );
        let step = &outcome.operations[0].steps[1];
        assert_eq!(step.state, StepState::Done, "{fault}");
        let sent = received(&log, "Set-CsUser", |p| p["Enabled"] == false);
        assert_eq!(
            sent, 1,
            "{fault}: Set-CsUser -Enabled $false reached the worker {sent} times"
        );
        assert_eq!(
            lync_state(&portal, &user).await["lync_state"],
            "temporarily_disabled",
            "{fault}"
        );
        println!(
            "{fault}: done; the changing cmdlet reached the worker once; note: {:?}",
            step.note
        );
    }
}

#[tokio::test]
async fn hostile_values_reach_the_worker_as_data_byte_for_byte() {
    let Some(dc) = TestDc::start("hostile_values_reach_the_worker_as_data") else {
        return;
    };
    // An account whose names would break any command line built from them.
    let hostile_sam = "o'brien$(id)`x";
    let hostile_upn = "o'brien;$(whoami)`\"x\u{202e}\u{00e9}@contoso.com";
    dc.ldapmodify(&format!(
        "dn: CN=Hostile Name,{}\nchangetype: add\nobjectClass: user\nsAMAccountName: {hostile_sam}\n\
         userPrincipalName:: {}\nmsRTCSIP-PrimaryUserAddress: sip:hostile.name@contoso.com\nmsRTCSIP-UserEnabled: TRUE\n",
        dc::PEOPLE_OU,
        base64(hostile_upn.as_bytes())
    ));
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("requests.log");
    let mut worker = vec![
        "python3".to_owned(),
        fixture("faulty-worker.py").display().to_string(),
        "--fault".to_owned(),
        "none".to_owned(),
        "--log".to_owned(),
        log.display().to_string(),
        "--spent".to_owned(),
        folder.path().join("spent").display().to_string(),
        "--".to_owned(),
    ];
    worker.extend(dc.stand_in_argv(&folder.path().join("state.json")));
    let pool =
        deprov_server::backend::shell::ShellPool::new(deprov_server::backend::shell::ShellConfig {
            launch: deprov_server::backend::shell::worker::Launch {
                argv: worker,
                credential: None,
                handshake: Duration::from_secs(10),
            },
            workers: 1,
            call_timeout: Duration::from_secs(10),
        });
    use deprov_server::backend::LyncShell;
    use deprov_wire::cmdlet::{Cmdlet, PolicyKind};
    let policy = "Tag:Intl'; Remove-CsUser -Identity *; $(x) `n\n\u{0}\u{1F600}\"";
    pool.run(&Cmdlet::GrantPolicy {
        kind: PolicyKind::Voice,
        identity: hostile_upn.to_owned(),
        policy_name: policy.to_owned(),
    })
    .await
    .expect("the stand-in finds the user by the exact UPN and grants the policy");
    pool.run(&Cmdlet::SetCsUserEnabled {
        identity: format!("CONTOSO\\{hostile_sam}"),
        enabled: false,
    })
    .await
    .expect("and by the exact sAMAccountName");
    let facts = pool.read_lync_only(hostile_upn).await.unwrap();
    assert_eq!(
        facts.policies.unwrap()[0].name,
        policy,
        "back byte for byte"
    );
    let requests: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(requests[0]["parameters"]["Identity"], hostile_upn);
    assert_eq!(requests[0]["parameters"]["PolicyName"], policy);
    assert_eq!(
        requests[1]["parameters"]["Identity"],
        format!("CONTOSO\\{hostile_sam}")
    );
    assert_eq!(requests[1]["parameters"]["Enabled"], false);
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An OpenSSH server on loopback whose one key runs the stand-in (a forced command), as an
/// operator on Linux would reach a Windows management host. Stopped by PID when dropped.
struct Sshd {
    folder: tempfile::TempDir,
    child: std::process::Child,
    port: u16,
}

impl Sshd {
    fn start(worker: &[String]) -> Option<Self> {
        if !Path::new("/usr/sbin/sshd").exists() {
            eprintln!(
                "SKIPPED the SSH transport: /usr/sbin/sshd is missing (scripts/test.sh installs openssh-server)"
            );
            return None;
        }
        let folder = tempfile::tempdir().unwrap();
        let path = |name: &str| folder.path().join(name);
        let keygen = |file: &Path| {
            let status = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(file)
                .status()
                .unwrap();
            assert!(status.success());
        };
        keygen(&path("host_key"));
        keygen(&path("client_key"));
        // The forced command: a script, so arguments with spaces need no shell quoting here.
        let script = path("worker.sh");
        let quoted: Vec<String> = worker
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        std::fs::write(&script, format!("#!/bin/sh\nexec {}\n", quoted.join(" "))).unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(&script)
            .status()
            .unwrap();
        let public = std::fs::read_to_string(path("client_key.pub")).unwrap();
        std::fs::write(
            path("authorized_keys"),
            format!(
                "command=\"{}\",no-pty,no-port-forwarding,no-agent-forwarding {public}",
                script.display()
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
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\n\
                 KbdInteractiveAuthentication no\n",
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
        Some(Self {
            folder,
            child,
            port,
        })
    }

    /// The `--lync-shell` argv an operator would configure.
    fn client_argv(&self) -> Vec<String> {
        [
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
            self.folder.path().join("client_key").display().to_string(),
            "-p".to_owned(),
            self.port.to_string(),
            "root@127.0.0.1".to_owned(),
        ])
        .collect()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The whole group: sshd and the per-connection processes it forked.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_same_run_works_over_a_real_openssh_server() {
    let Some(dc) = TestDc::start("the_same_run_works_over_a_real_openssh_server") else {
        return;
    };
    let state = dc.dir().join("stand-in-state.json");
    let Some(sshd) = Sshd::start(&dc.stand_in_argv(&state)) else {
        return;
    };
    let portal = portal(&dc, &sshd.client_argv()).await;
    let (_, health) = portal.get_json("/api/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        health["shell_state"].as_str().unwrap().contains("stand-in"),
        "{health}"
    );
    let user = pick(
        |u| {
            active(u)
                && u.lync
                    .as_ref()
                    .unwrap()
                    .certificates
                    .is_known_and(|c| !c.is_empty())
        },
        3,
    );
    let (id, _) = approved(&portal, &user, "immediate_disconnect").await;
    let done = run(&portal, id, "stage_one", &user).await;
    assert_eq!(done.request.state, RequestState::StageOneDone, "{done:#?}");
    assert!(
        done.operations[0]
            .steps
            .iter()
            .all(|s| s.state == StepState::Done)
    );
    let _ = deprov_binary(); // the forced command ran this binary's stand-in
}

#[tokio::test]
async fn a_shell_that_cannot_start_is_reported_unavailable_and_recovers_by_itself() {
    let Some(dc) = TestDc::start("a_shell_that_cannot_start_is_reported_unavailable") else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let fixed = folder.path().join("fixed");
    let mut worker = vec![
        "python3".to_owned(),
        fixture("faulty-worker.py").display().to_string(),
        "--fault".to_owned(),
        "down".to_owned(),
        "--log".to_owned(),
        folder.path().join("requests.log").display().to_string(),
        "--spent".to_owned(),
        fixed.display().to_string(),
        "--".to_owned(),
    ];
    worker.extend(dc.stand_in_argv(&folder.path().join("state.json")));
    let portal = portal(&dc, &worker).await;
    eventually(
        Duration::from_secs(30),
        "the health check says the shell is unavailable",
        || async {
            let (_, health) = portal.get_json("/api/health").await;
            health["shell_available"] == false
                && health["status"] == "degraded"
                && health["shell_state"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("could not be started")
        },
    )
    .await;
    let user = pick(active, 40);
    let (id, version) = approved(&portal, &user, "standard").await;
    let (status, _) = portal
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(json!({ "operation": "stage_one", "version": version })),
        )
        .await;
    assert_eq!(status, 202);
    let failed = settled(&portal, id).await;
    assert_eq!(failed.request.state, RequestState::Failed);
    let error = failed.operations[0]
        .steps
        .iter()
        .find_map(|s| s.error.clone())
        .unwrap_or_default();
    assert!(
        error.contains("not running") || error.contains("could not"),
        "a true message: {error}"
    );

    // Someone fixes the worker host; the pool notices by itself.
    std::fs::write(&fixed, "").unwrap();
    let took = eventually(
        Duration::from_secs(90),
        "the shell recovers by itself",
        || async { portal.get_json("/api/health").await.1["shell_available"] == true },
    )
    .await;
    println!("the shell was back {took:?} after it could start again");
}
