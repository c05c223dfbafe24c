//! The audit log against someone who can write the database but not read the audit key: rows
//! re-hashed without the key, rows cut from the end, requests and decisions changed behind
//! deprov's back, and the key file itself (private, kept across restarts, never replaced).

use deprov_server::Portal;
use deprov_server::config::ServeConfig;
use deprov_tests::{TestPortal, deprov_binary, dist_dir, ordinary_user};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A request filed by the manager, and approved by the approver when `approve`; its id.
async fn request(portal: &TestPortal, skip: usize, approve: bool) -> i64 {
    let user = ordinary_user(portal, skip).await;
    let body = serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "Left the company", "urgency": "standard" });
    let (status, created) = portal
        .person("manager")
        .await
        .post("/api/requests", Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    if approve {
        let (status, body) = portal
            .person("approver")
            .await
            .post(
                &format!("/api/requests/{id}/approve"),
                Some(
                    serde_json::json!({ "version": created["version"], "comment": "HR confirmed" }),
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

/// The database as someone with only database access sees it: no deprov, no key.
pub(crate) async fn database(data: &Path) -> sqlx::AnyPool {
    deprov_tests::database::direct(data).await
}

/// `deprov audit verify` on `data`: whether it passed, and what it printed.
pub(crate) fn verify(data: &Path, expect_head: Option<&str>) -> (bool, String) {
    let mut command = Command::new(deprov_binary());
    command
        .args(["audit", "verify"])
        .args(deprov_tests::database::command_args(data));
    if let Some(head) = expect_head {
        command.args(["--expect-head", head]);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `SEQ:HASH` from verify's "Head: row SEQ at AT, hash HASH" line.
fn head(report: &str) -> String {
    let line = report
        .lines()
        .find(|l| l.starts_with("Head: row "))
        .unwrap_or_else(|| panic!("no head in:\n{report}"));
    let seq = line["Head: row ".len()..].split(' ').next().unwrap();
    let hash = line.rsplit("hash ").next().unwrap();
    format!("{seq}:{hash}")
}

/// The old, unkeyed row hash: what someone without the key can compute.
fn plain_sha256(fields: [&str; 7]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Re-chains every row from `from` on with plain SHA-256, as a forger without the key would;
/// `scheme` is what the forged rows claim.
async fn rehash_without_key(pool: &sqlx::AnyPool, from: i64, scheme: &str) {
    let rows = sqlx::query("SELECT seq, at, actor, action, subject, details, prev_hash FROM audit_log WHERE seq >= $1 ORDER BY seq")
        .bind(from)
        .fetch_all(pool)
        .await
        .unwrap();
    let mut prev: String = rows[0].get("prev_hash");
    for row in rows {
        let seq: i64 = row.get("seq");
        let text = |c: &str| row.get::<String, _>(c);
        let hash = plain_sha256([
            &prev,
            &seq.to_string(),
            &text("at"),
            &text("actor"),
            &text("action"),
            &text("subject"),
            &text("details"),
        ]);
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2, scheme = $3 WHERE seq = $4")
            .bind(&prev)
            .bind(&hash)
            .bind(scheme)
            .bind(seq)
            .execute(pool)
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn a_row_edited_and_rehashed_without_the_key_is_caught() {
    let portal = TestPortal::spawn(300, 3).await;
    request(&portal, 0, true).await;
    let data = portal.stop().await;
    let (intact, report) = verify(data.path(), None);
    assert!(intact, "{report}");
    assert!(report.contains("hash chain verified"), "{report}");
    assert!(report.contains("1 requests, 1 decisions"), "{report}");

    let pool = database(data.path()).await;
    // Someone rewrites who approved, and re-chains the rest of the log as the old scheme did...
    let approval: i64 =
        sqlx::query_scalar("SELECT seq FROM audit_log WHERE action = 'request.approve'")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'approver2' WHERE seq = $1")
        .bind(approval)
        .execute(&pool)
        .await
        .unwrap();
    rehash_without_key(&pool, approval, "hmac-sha256").await;
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!("row {approval} was edited")),
        "{report}"
    );
    // ...or also claims the rows were written before the key existed.
    rehash_without_key(&pool, approval, "sha256").await;
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!(
            "row {approval} claims to be chained without the key"
        )),
        "{report}"
    );
    // The whole log re-hashed as unkeyed: deprov no longer starts on it.
    rehash_without_key(&pool, 1, "sha256").await;
    sqlx::query("UPDATE audit_log SET change = NULL")
        .execute(&pool)
        .await
        .unwrap();
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(report.contains("none of the audit log's"), "{report}");
}

#[tokio::test]
async fn rows_cut_from_the_end_are_caught_against_the_head_written_down() {
    let portal = TestPortal::spawn(300, 3).await;
    request(&portal, 0, true).await;
    portal.person("auditor").await; // a sign-in: the newest row changes no request
    let data = portal.stop().await;
    let (intact, report) = verify(data.path(), None);
    assert!(intact, "{report}");
    let written_down = head(&report);
    let (intact, report) = verify(data.path(), Some(&written_down));
    assert!(intact, "{report}");

    let last: i64 = written_down.split(':').next().unwrap().parse().unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(last)
        .execute(&database(data.path()).await)
        .await
        .unwrap();
    // The shorter chain is valid in itself: only the head written down shows the cut.
    let (intact, report) = verify(data.path(), None);
    assert!(intact, "{report}");
    let (intact, report) = verify(data.path(), Some(&written_down));
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!("row {last} (the head written down as")),
        "{report}"
    );
    assert!(report.contains("deleted from the end"), "{report}");
}

#[tokio::test]
async fn a_request_approved_in_the_database_is_caught() {
    let portal = TestPortal::spawn(300, 3).await;
    let id = request(&portal, 0, false).await;
    let data = portal.stop().await;
    sqlx::query("UPDATE requests SET state = 'approved' WHERE id = $1")
        .bind(id)
        .execute(&database(data.path()).await)
        .await
        .unwrap();
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!(
            "request #{id} is 'approved', but the audit log last recorded it moving to 'pending_approval'"
        )),
        "{report}"
    );
}

#[tokio::test]
async fn a_decision_deleted_from_the_database_is_caught() {
    let portal = TestPortal::spawn(300, 3).await;
    let id = request(&portal, 0, true).await;
    let data = portal.stop().await;
    let pool = database(data.path()).await;
    let decision: i64 = sqlx::query_scalar("SELECT id FROM decisions WHERE request_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM decisions WHERE id = $1")
        .bind(decision)
        .execute(&pool)
        .await
        .unwrap();
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!(
            "decision #{decision} ('approve' by approver on request #{id}"
        )),
        "{report}"
    );
    assert!(report.contains("it was deleted"), "{report}");
}

#[tokio::test]
async fn the_key_file_is_private_and_kept_across_restarts() {
    let portal = TestPortal::spawn(300, 3).await;
    let data = portal.stop().await;
    let key_file = data.path().join("audit.key");
    let metadata = std::fs::metadata(&key_file).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let key = std::fs::read(&key_file).unwrap();
    assert_eq!(key.len(), 32);

    let portal = TestPortal::spawn_in(data, 300, 3).await;
    request(&portal, 0, true).await;
    let data = portal.stop().await;
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key,
        "a restart reuses the key"
    );
    let (intact, report) = verify(data.path(), None);
    assert!(intact, "{report}");
}

/// Starts a portal on `data` and hands back why it did not start.
async fn refusal(data: &Path) -> String {
    let mut config = ServeConfig::for_tests(data.to_path_buf(), dist_dir(), 300, 3);
    if let Some(database) = deprov_tests::database::prepare(data).await {
        config.database = database;
    }
    match Portal::start(config).await {
        Ok(_) => panic!("the portal started"),
        Err(why) => why.to_string(),
    }
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused() {
    let portal = TestPortal::spawn(300, 3).await;
    let data = portal.stop().await;
    let key_file = data.path().join("audit.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let why = refusal(data.path()).await;
    assert!(why.contains("group or others may access it"), "{why}");
    assert!(why.contains("chmod 600"), "{why}");
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(report.contains("chmod 600"), "{report}");
}

#[tokio::test]
async fn a_missing_key_is_not_replaced_when_the_log_needs_it() {
    let portal = TestPortal::spawn(300, 3).await;
    let data = portal.stop().await;
    let key_file = data.path().join("audit.key");
    std::fs::remove_file(&key_file).unwrap();
    let why = refusal(data.path()).await;
    assert!(why.contains("is missing"), "{why}");
    assert!(why.contains("restore it from a backup"), "{why}");
    assert!(!key_file.exists(), "no new key was made");
}

/// A log written before the key existed: its rows are kept and checked as they were chained,
/// and the keyed chain carries on from them.
#[tokio::test]
async fn a_log_from_before_the_key_is_kept_and_the_chain_carries_on() {
    let portal = TestPortal::spawn(300, 3).await;
    let older = request(&portal, 0, true).await;
    let data = portal.stop().await;
    // What a database from before the key looks like: every row unkeyed, no recorded changes,
    // no key fingerprint.
    let pool = database(data.path()).await;
    for statement in [
        "UPDATE audit_log SET change = NULL",
        "DELETE FROM settings WHERE key = 'audit_key_fingerprint'",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    rehash_without_key(&pool, 1, "sha256").await;
    let unkeyed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    std::fs::remove_file(data.path().join("audit.key")).unwrap();

    let portal = TestPortal::spawn_in(data, 300, 3).await;
    let newer = request(&portal, 1, false).await;
    let data = portal.stop().await;
    let (intact, report) = verify(data.path(), None);
    assert!(intact, "{report}");
    assert!(
        report.contains(&format!("{unkeyed} rows predate the audit key")),
        "{report}"
    );
    assert!(report.contains("1 requests, 0 decisions"), "{report}");
    assert!(
        report.contains("2 more last changed before the key"),
        "{report}"
    );
    assert!(newer > older);

    // The old rows are still only as strong as plain SHA-256, but the new ones are keyed.
    sqlx::query("UPDATE requests SET state = 'approved' WHERE id = $1")
        .bind(newer)
        .execute(&database(data.path()).await)
        .await
        .unwrap();
    let (intact, report) = verify(data.path(), None);
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!("request #{newer} is 'approved'")),
        "{report}"
    );
}

#[tokio::test]
async fn the_log_is_read_a_page_at_a_time_within_a_date_range() {
    let portal = TestPortal::spawn(200, 4).await;
    for name in ["manager", "approver", "auditor"] {
        portal.person(name).await; // each sign-in is a row
    }
    let auditor = portal.person("auditor").await;
    let (status, all) = auditor.get_json("/api/audit?limit=500").await;
    assert_eq!(status, 200, "{all}");
    let total = all["total"].as_u64().unwrap();
    assert!(total >= 4, "{all}");
    let today = time::OffsetDateTime::now_utc().date();
    let (_, range) = auditor
        .get_json(&format!("/api/audit?from={today}&until={today}&limit=500"))
        .await;
    assert_eq!(
        range["total"].as_u64(),
        Some(total),
        "today holds every row"
    );
    let tomorrow = today.next_day().unwrap();
    let (_, later) = auditor
        .get_json(&format!("/api/audit?from={tomorrow}"))
        .await;
    assert_eq!(later["total"], 0, "{later}");
    let (_, earlier) = auditor
        .get_json(&format!(
            "/api/audit?until={}",
            today.previous_day().unwrap()
        ))
        .await;
    assert_eq!(earlier["total"], 0, "{earlier}");
    // Pages beyond the first: the second row of the log is the first row of the page at 1.
    let (_, second) = auditor.get_json("/api/audit?offset=1&limit=1").await;
    assert_eq!(second["entries"][0]["seq"], all["entries"][1]["seq"]);
    for bad in [
        "from=yesterday",
        "until=2026-13-01",
        "from=2026-11-30&until=2026-11-01",
    ] {
        let (status, body) = auditor.get_json(&format!("/api/audit?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].as_str().is_some(), "{body}");
    }
}
