//! Killed at any moment, nothing acknowledged is lost: the real `deprov` binary is SIGKILLed while
//! requests are being filed, restarted on the same data folder, and checked.

use deprov_tests::sign_in;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use deprov_tests::deprov_binary as deprov;

/// Starts `deprov serve` on a free port; returns the process and its base URL.
fn start(data: &Path) -> (Child, String) {
    serve(
        data,
        &["--sim-users", "300", "--sim-churn", "off"].map(String::from),
    )
}

/// Starts `deprov serve` with `arguments` on a free port (on PostgreSQL when the suite runs
/// there and [`deprov_tests::database::prepare`] was called for `data`).
pub(crate) fn serve(data: &Path, arguments: &[String]) -> (Child, String) {
    let mut child = Command::new(deprov())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--static-dir",
            "/nonexistent",
        ])
        .args(arguments)
        .args(deprov_tests::database::command_args(data))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("deprov prints its address").unwrap();
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an address")
        .to_owned();
    // Keep reading (the demo accounts) so the pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    (child, format!("http://{base}"))
}

pub(crate) fn demo_password(data: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(data.join("demo-accounts.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_kill_at_any_moment_loses_no_acknowledged_request_and_leaves_the_audit_chain_intact() {
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let mut acknowledged: Vec<i64> = Vec::new();
    for round in 0..3 {
        let (mut child, base) = start(data.path());
        let manager = sign_in(&base, "manager", &demo_password(data.path(), "manager"))
            .await
            .expect("the demo manager signs in");
        let mut candidates: Vec<String> = Vec::new();
        for offset in [0, 100, 200] {
            let (_, users) = manager
                .get_json(&format!(
                    "/api/users?lync=enabled&limit=100&offset={offset}"
                ))
                .await;
            candidates.extend(
                users["users"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|u| {
                        u["protected"] == false && u["homed_online"] == false && u["title"] != ""
                    })
                    .map(|u| u["id"].as_str().unwrap().to_owned()),
            );
        }
        // File requests as fast as possible; kill the server after the k-th acknowledgment, while
        // the next request is already on its way.
        let kill_after = [3, 11, 25][round];
        let (acknowledged_tx, mut acknowledged_rx) = tokio::sync::mpsc::unbounded_channel();
        let url = format!("{base}/api/requests");
        let filing = tokio::spawn(async move {
            let mut ids = Vec::new();
            for user in candidates.into_iter().skip(round * 60).take(60) {
                let body = serde_json::json!({ "user_id": user, "reason": "other", "reason_text": "crash test", "urgency": "standard" });
                let sent = manager
                    .http
                    .post(&url)
                    .header("x-csrf-token", &manager.csrf)
                    .json(&body)
                    .send()
                    .await;
                // The server is gone once the connection drops; only a 201 counts as acknowledged.
                let Ok(response) = sent else { break };
                if response.status().as_u16() != 201 {
                    break;
                }
                let Ok(view) = response.json::<serde_json::Value>().await else {
                    break;
                };
                ids.push(view["id"].as_i64().unwrap());
                let _ = acknowledged_tx.send(());
            }
            ids
        });
        for _ in 0..kill_after {
            acknowledged_rx
                .recv()
                .await
                .expect("requests are being acknowledged");
        }
        child.kill().unwrap(); // SIGKILL: no shutdown, no flush
        child.wait().unwrap();
        let filed = filing.await.unwrap();
        println!(
            "round {round}: {} of 60 requests acknowledged before the kill",
            filed.len()
        );
        assert!(
            filed.len() < 60,
            "the kill came after the last request: nothing was in flight"
        );
        acknowledged.extend(filed);
    }
    assert!(
        !acknowledged.is_empty(),
        "some requests were acknowledged before the kills"
    );

    let (mut child, base) = start(data.path());
    let auditor = sign_in(&base, "auditor", &demo_password(data.path(), "auditor"))
        .await
        .unwrap();
    let (_, list) = auditor.get_json("/api/requests?show=all").await;
    let stored: Vec<i64> = list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "request #{id} was acknowledged, then lost"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let verify = Command::new(deprov())
        .args(["audit", "verify", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("hash chain verified"), "{report}");
}

/// The server is SIGKILLed while a step is "running" (the simulator holds the call open); on
/// restart the step is settled by reading the user from the backend, never run blindly, and a
/// retry finishes the request. The restarted simulator regenerates the directory from its seed,
/// so the read shows the step did not take effect; the unit tests in `execution::tests` cover
/// the case where it did.
#[tokio::test]
async fn a_kill_between_step_started_and_step_done_is_reconciled_on_restart() {
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let (mut child, base) = start(data.path());
    let password = |name| demo_password(data.path(), name);
    let manager = sign_in(&base, "manager", &password("manager"))
        .await
        .unwrap();
    let (_, users) = manager.get_json("/api/users?lync=enabled&limit=100").await;
    let user = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["protected"] == false && u["homed_online"] == false && u["title"] != "")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "crash test", "urgency": "standard" });
    let (status, request) = manager.post("/api/requests", Some(body)).await;
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_i64().unwrap();
    let approver = sign_in(&base, "approver", &password("approver"))
        .await
        .unwrap();
    let (_, approved) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(serde_json::json!({ "version": request["version"] })),
        )
        .await;
    let admin = sign_in(&base, "admin", &password("admin")).await.unwrap();
    let (status, _) = admin
        .post(
            "/api/sim/faults",
            Some(serde_json::json!({ "cmdlet": "Set-CsUser", "kind": "hang" })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, started) = admin
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(serde_json::json!({ "operation": "stage_one", "version": approved["version"] })),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let path = format!("/api/requests/{id}/execution");
    let mut running = false;
    for _ in 0..100 {
        let (_, view) = admin.get_json(&path).await;
        if view["operations"][0]["steps"][1]["state"] == "running" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running, "the step was started");
    child.kill().unwrap(); // SIGKILL between "step started" and "step done"
    child.wait().unwrap();

    let (mut child, base) = start(data.path());
    let admin = sign_in(&base, "admin", &password("admin")).await.unwrap();
    let (_, view) = admin.get_json(&path).await;
    assert_eq!(view["request"]["state"], "failed", "{view}");
    let step = &view["operations"][0]["steps"][1];
    assert_eq!(step["state"], "failed");
    assert_eq!(step["attempts"], 1);
    assert!(
        step["note"]
            .as_str()
            .unwrap()
            .starts_with("The server stopped during this step; reading the user back shows it did not take effect"),
        "{step}"
    );
    let (status, _) = admin
        .post(
            &format!("/api/requests/{id}/retry"),
            Some(serde_json::json!({ "version": view["request"]["version"] })),
        )
        .await;
    assert_eq!(status, 202);
    let mut finished = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, view) = admin.get_json(&path).await;
        if view["request"]["state"] == "stage_one_done" {
            finished = view;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        finished["operations"][0]["steps"][1]["attempts"], 2,
        "{finished}"
    );
    let (_, user_now) = admin.get_json(&format!("/api/users/{user}")).await;
    assert_eq!(user_now["lync_state"], "temporarily_disabled");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// On a real deployment the directory outlives the portal: the portal is SIGKILLed while
/// Set-CsUser runs (the worker applied it, and its answer is held back), and on restart the step
/// is settled by reading AD back: it took effect, so it is done and is not run again.
#[tokio::test]
async fn on_a_real_ad_a_kill_after_the_effect_settles_the_step_as_done_without_running_it_again() {
    use deprov_tests::dc::{self, TestDc};
    let Some(dc) = TestDc::start("on_a_real_ad_a_kill_after_the_effect") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("requests.log");
    let worker = dc.faulty_worker_argv("hang-after", folder.path(), &[]);
    let mut arguments = dc.serve_arguments();
    arguments.extend([
        "--lync-shell".to_owned(),
        serde_json::to_string(&worker).unwrap(),
    ]);
    let (mut child, base) = serve(data.path(), &arguments);
    let password = |name: &str| demo_password(data.path(), name);
    let user = dc::pick(
        |u| !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled),
        30,
    );
    let path =
        set_cs_user_applied_in_stage_one([&base; 3], &password, &user.id.to_string(), &log).await;
    child.kill().unwrap(); // SIGKILL between "step started" and "step done"
    child.wait().unwrap();

    let (mut child, base) = serve(data.path(), &arguments);
    let admin = sign_in(&base, "admin", &password("admin")).await.unwrap();
    let (_, view) = admin.get_json(&path).await;
    let step = &view["operations"][0]["steps"][1];
    assert_eq!(step["state"], "done", "{view}");
    assert_eq!(step["attempts"], 1);
    assert!(
        step["note"]
            .as_str()
            .unwrap()
            .contains("reading the user back shows it took effect: not run again"),
        "{step}"
    );
    assert_eq!(view["request"]["state"], "stage_one_done", "{view}");
    let sent = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"Set-CsUser\""))
        .count();
    assert_eq!(sent, 1, "the cmdlet reached the worker once");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `deprov serve` as scripts/run.sh starts it: the data folder relative to the working folder.
#[tokio::test]
async fn a_relative_data_folder_is_taken_from_the_working_folder() {
    let folder = tempfile::tempdir().unwrap();
    let mut child = Command::new(deprov())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--static-dir",
            "/nonexistent",
        ])
        .args([
            "--sim-users",
            "100",
            "--sim-churn",
            "off",
            "--data-dir",
            "data",
        ])
        .current_dir(folder.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.next().and_then(Result::ok);
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let started = started.unwrap_or_else(|| {
        panic!(
            "deprov did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(started.contains("http://127.0.0.1:"), "{started}");
    assert!(folder.path().join("data/deprov.sqlite3").exists());
}

/// Files a request for `user` as the manager on `bases[0]`, approves it as the approver on
/// `bases[1]`, starts stage 1 as the admin on `bases[2]` (instances of one deployment, or the same
/// one thrice), and waits until the worker behind `log` applied `Set-CsUser` (its answer held
/// back): the execution's path.
pub(crate) async fn set_cs_user_applied_in_stage_one(
    bases: [&str; 3],
    password: &impl Fn(&str) -> String,
    user: &str,
    log: &Path,
) -> String {
    let person = |n: usize, name: &'static str| async move {
        sign_in(bases[n], name, &password(name)).await.unwrap()
    };
    let body = serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "crash test", "urgency": "standard" });
    let (status, request) = person(0, "manager")
        .await
        .post("/api/requests", Some(body))
        .await;
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_i64().unwrap();
    let (status, approved) = person(1, "approver")
        .await
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(serde_json::json!({ "version": request["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let admin = person(2, "admin").await;
    let (status, started) = admin
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(serde_json::json!({ "operation": "stage_one", "version": approved["version"] })),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let path = format!("/api/requests/{id}/execution");
    until_set_cs_user_applied(&admin, &path, log).await;
    path
}

/// Waits until stage 1's `Set-CsUser` step (the second) is running and the worker behind `log`
/// has the cmdlet, then long enough for the stand-in to write AD (its answer is held back).
async fn until_set_cs_user_applied(admin: &deprov_tests::Person, path: &str, log: &Path) {
    for _ in 0..200 {
        let (_, view) = admin.get_json(path).await;
        let sent = std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("\"Set-CsUser\"");
        if view["operations"][0]["steps"][1]["state"] == "running" && sent {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Set-CsUser did not reach the worker while the step was running");
}

/// SIGTERM (what systemd and container runtimes send) stops the portal as Ctrl-C does: open
/// requests finish, event streams end, and it exits cleanly.
#[tokio::test]
async fn sigterm_stops_the_portal_gracefully() {
    let data = tempfile::tempdir().unwrap();
    deprov_tests::database::prepare(data.path()).await;
    let (mut child, base) = start(data.path());
    let manager = sign_in(&base, "manager", &demo_password(data.path(), "manager"))
        .await
        .unwrap();
    // A report page is open: its event stream must not hold the shutdown up.
    let stream = manager
        .http
        .get(format!("{base}/api/report/mismatches/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let began = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a clean exit, not a kill: {status:?}");
    drop(stream);
}
