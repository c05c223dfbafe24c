//! Several instances on one PostgreSQL database, as behind a load balancer: what one changes,
//! the other shows live; approvals spread over both count once; an instance killed mid-step has
//! its operation settled and finished by the other once its lease lapses, every step once.
//! Needs the cluster scripts/test.sh starts (`DEPROV_TEST_POSTGRES`).

use crate::audit::verify;
use crate::crash::{demo_password, serve, set_cs_user_applied_in_stage_one};
use deprov_server::config::ServeConfig;
use deprov_tests::database::two_instances;
use deprov_tests::{database, dist_dir, leavers, sign_in};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn new_request(user: &str) -> Value {
    json!({ "user_id": user, "reason": "termination", "reason_text": "left the company", "urgency": "standard" })
}

#[tokio::test]
async fn a_request_filed_on_one_instance_and_approved_on_the_other_shows_live_on_the_first() {
    let (a, b) = two_instances(300, 21).await;
    let user = &leavers(&a, 1).await[0];
    let manager = a.person("manager").await;
    let (status, request) = manager.post("/api/requests", Some(new_request(user))).await;
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_i64().unwrap();

    // B reads the same database: the request is there at once.
    let approver = b.person("approver").await;
    let (status, seen) = approver.get_json(&format!("/api/requests/{id}")).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["state"], "pending_approval");

    // A's request page follows it; B approves.
    let mut stream = a
        .events(&format!("/api/requests/{id}/execution/events"))
        .await;
    let (_, first) = stream.next(Duration::from_secs(5)).await.unwrap();
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["request"]["state"], "pending_approval");
    let approving = Instant::now();
    let (status, approved) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(json!({ "version": request["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let shown = loop {
        let (_, data) = stream
            .next(Duration::from_secs(2))
            .await
            .expect("A's page hears of B's approval");
        let view: Value = serde_json::from_str(&data).unwrap();
        if view["request"]["state"] == "approved" {
            break approving.elapsed();
        }
    };
    eprintln!("approved on B, shown on A after {shown:?}");
    assert!(shown < Duration::from_secs(1), "{shown:?}");

    // A's report reads the open requests B changed: the user's page on A shows the approval.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, page) = a.get_json(&format!("/api/users/{user}")).await;
        if page["open_request"]["state"] == "approved" {
            break;
        }
        assert!(Instant::now() < deadline, "A's open requests: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn fifty_approvals_spread_over_both_instances_at_once_count_once_each() {
    let (a, b) = two_instances(2_000, 22).await;
    let users = leavers(&a, 50).await;
    let managers = [a.person("manager").await, b.person("manager").await];
    let mut requests = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let (status, request) = managers[n % 2]
            .post("/api/requests", Some(new_request(user)))
            .await;
        assert_eq!(status, 201, "{request}");
        requests.push((request["id"].as_i64().unwrap(), request["version"].clone()));
    }
    // The same approver approves every request on both instances at once: 100 calls.
    let approvers = [a.person("approver").await, b.person("approver").await];
    let calls = requests.iter().flat_map(|(id, version)| {
        approvers.iter().map(move |approver| async move {
            let path = format!("/api/requests/{id}/approve");
            let (status, _) = approver
                .post(&path, Some(json!({ "version": version })))
                .await;
            (*id, status)
        })
    });
    let outcomes = futures_util::future::join_all(calls).await;
    for (id, _) in &requests {
        let statuses: Vec<u16> = outcomes
            .iter()
            .filter(|(r, _)| r == id)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "request {id}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
    }

    let db = database::direct(a.data_dir()).await;
    let decisions: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT request_id, COUNT(*) FROM decisions WHERE decision = 'approve' GROUP BY request_id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(decisions.len(), 50);
    assert!(decisions.iter().all(|(_, n)| *n == 1), "{decisions:?}");
    let approved: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM requests WHERE state = 'approved'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(approved, 50);
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'request.approve'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(audited, 50, "one audit row per approval");
    // Both instances appended to one chain, and it verifies.
    let (intact, report) = verify(a.data_dir(), None);
    assert!(intact, "{report}");
}

/// Password guesses spread over the instances count together: five wrong on A, and B makes the
/// sixth wait; the right password from the same address waits too, as it would on one instance.
#[tokio::test]
async fn guesses_spread_over_both_instances_are_throttled_as_one() {
    let (a, b) = two_instances(300, 24).await;
    for _ in 0..5 {
        assert_eq!(sign_in(&a.base, "manager", "wrong").await.err(), Some(401));
    }
    assert_eq!(sign_in(&b.base, "manager", "wrong").await.err(), Some(429));
    assert_eq!(
        sign_in(&b.base, "manager", deprov_tests::PASSWORD)
            .await
            .err(),
        Some(429)
    );
}

/// An instance with another audit key is refused, however new the deployment: it would chain
/// its own rows into the log.
#[tokio::test]
async fn an_instance_with_another_audit_key_is_refused() {
    let (a, _b) = two_instances(300, 23).await;
    let data = tempfile::tempdir().unwrap();
    // A key of its own (a new instance set up without copying the deployment's).
    let key: Vec<u8> = (0..32u8)
        .map(|n| n.wrapping_mul(37).wrapping_add(11))
        .collect();
    let key_file = data.path().join("audit.key");
    std::fs::write(&key_file, key).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), 300, 23);
    config.database = database::database_for(a.data_dir()).await;
    match deprov_server::Portal::start(config).await {
        Ok(_) => panic!("an instance with a new key started"),
        Err(why) => assert!(
            why.to_string()
                .contains("every instance of a deployment needs a copy of the same key file"),
            "{why}"
        ),
    }
}

/// Instance A is SIGKILLed while Set-CsUser runs on a real AD (the worker applied it; its answer
/// is held back). Instance B leaves the operation alone while A's lease could still be renewed,
/// then settles the step by reading AD back (done, not run again) and finishes the operation.
#[tokio::test]
async fn an_operation_left_by_a_killed_instance_is_finished_by_the_other_every_step_once() {
    use deprov_tests::dc::{self, TestDc};
    let Some(dc) = TestDc::start("an_operation_left_by_a_killed_instance") else {
        return;
    };
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let shared = database::database_for(data_a.path()).await;
    std::fs::write(
        data_b.path().join("test-database-url"),
        shared.url.as_deref().unwrap(),
    )
    .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let log = folder.path().join("requests.log");
    let worker = dc.faulty_worker_argv("hang-after", folder.path(), &[]);
    let instance = |name: &str| {
        let mut arguments = dc.serve_arguments();
        arguments.extend(
            [
                "--lync-shell",
                &serde_json::to_string(&worker).unwrap(),
                "--instance-id",
                name,
                "--lease-secs",
                "4",
                "--audit-key-file",
                &data_a.path().join("audit.key").display().to_string(),
            ]
            .map(String::from),
        );
        arguments
    };
    let (child_a, base_a) = serve(data_a.path(), &instance("a"));
    let mut child_a = Stopped(child_a);
    let (child_b, base_b) = serve(data_b.path(), &instance("b"));
    let _child_b = Stopped(child_b);
    let password = |name: &str| demo_password(data_a.path(), name);
    let user = dc::pick(
        |u| !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled),
        31,
    );
    // Filed and started on A, approved on B.
    let path = set_cs_user_applied_in_stage_one(
        [&base_a, &base_b, &base_a],
        &password,
        &user.id.to_string(),
        &log,
    )
    .await;
    child_a.0.kill().unwrap(); // SIGKILL between "step started" and "step done"
    child_a.0.wait().unwrap();
    let killed = Instant::now();

    // B follows the request live, and keeps off while A's lease may still be renewed.
    let admin_b = sign_in(&base_b, "admin", &password("admin")).await.unwrap();
    let (_, view) = admin_b.get_json(&path).await;
    assert_eq!(
        view["operations"][0]["steps"][1]["state"], "running",
        "{view}"
    );
    let taken_over = loop {
        let (_, view) = admin_b.get_json(&path).await;
        if view["request"]["state"] == "stage_one_done" {
            break (killed.elapsed(), view);
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "B did not finish A's operation: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (took, view) = taken_over;
    eprintln!("B finished A's operation {took:?} after A was killed (lease 4 s)");
    assert!(
        took >= Duration::from_secs(2),
        "B took over only once A's lease could have lapsed: {took:?}"
    );
    let operation = &view["operations"][0];
    assert_eq!(operation["state"], "done", "{view}");
    let step = &operation["steps"][1];
    assert_eq!(step["state"], "done", "{step}");
    assert_eq!(step["attempts"], 1, "{step}");
    assert!(
        step["note"]
            .as_str()
            .unwrap()
            .contains("reading the user back shows it took effect: not run again"),
        "{step}"
    );
    // Every changing cmdlet reached a worker once, whichever instance sent it.
    let sent = std::fs::read_to_string(&log).unwrap();
    let mut cmdlets: Vec<String> = sent
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["cmdlet"].as_str().is_some_and(|c| !c.starts_with("Get-")))
        .map(|l| format!("{} {}", l["cmdlet"], l["parameters"]))
        .collect();
    let total = cmdlets.len();
    cmdlets.sort();
    cmdlets.dedup();
    assert_eq!(total, cmdlets.len(), "a cmdlet ran twice: {sent}");
    let (intact, report) = verify(data_a.path(), None);
    assert!(intact, "{report}");
}

/// A `deprov serve` process, SIGKILLed when dropped (a failed assertion included).
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
