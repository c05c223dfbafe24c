//! Bulk filing: a JSON array and a CSV file, each row answered on its own, and the blast-radius
//! limit holding a batch for a second admin, below, at and above it.

use deprov_server::config::ServeConfig;
use deprov_tests::{Browser, TestPortal, dist_dir, ordinary_user};
use std::time::Duration;

/// A portal whose blast-radius limit is `threshold` requests an hour (`None`: the default).
async fn portal(users: usize, seed: u64, threshold: Option<usize>) -> TestPortal {
    let data = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), users, seed);
    config.bulk_threshold = threshold;
    TestPortal::spawn_with(data, config).await
}

fn rows(users: &[String]) -> serde_json::Value {
    serde_json::json!(
        users
            .iter()
            .map(
                |user| serde_json::json!({ "user_id": user, "reason": "end_of_contract",
            "reason_text": "The project team leaves", "urgency": "standard" })
            )
            .collect::<Vec<_>>()
    )
}

async fn users(portal: &TestPortal, from: usize, count: usize) -> Vec<String> {
    let mut found = Vec::new();
    for skip in from..from + count {
        found.push(ordinary_user(portal, skip).await);
    }
    found
}

#[tokio::test]
async fn below_and_at_the_limit_a_batch_files_above_it_a_second_admin_confirms() {
    let portal = portal(300, 21, Some(5)).await;
    let manager = portal.person("manager").await;
    let picked = users(&portal, 0, 10).await;

    let (status, below) = manager
        .post("/api/requests/bulk", Some(rows(&picked[..3])))
        .await;
    assert_eq!((status, below["filed"].as_u64()), (200, Some(3)), "{below}");
    let (status, at) = manager
        .post("/api/requests/bulk", Some(rows(&picked[3..5])))
        .await;
    assert_eq!(
        (status, at["filed"].as_u64()),
        (200, Some(2)),
        "five in the hour: at the limit, {at}"
    );
    assert!(at["held"].is_null());

    // One more passes the limit: nothing is filed, the batch waits, and says who it would cut off.
    let (status, above) = manager
        .post("/api/requests/bulk", Some(rows(&picked[5..7])))
        .await;
    assert_eq!(status, 202, "{above}");
    assert_eq!(above["filed"], 0);
    let held = &above["held"];
    assert_eq!(held["state"], "held");
    assert_eq!(
        (held["limit"].as_u64(), held["filed_in_hour"].as_u64()),
        (Some(5), Some(5))
    );
    let held_users: Vec<&str> = held["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(held_users, [picked[5].as_str(), picked[6].as_str()]);
    let (_, listed) = manager
        .get_json(&format!("/api/requests?show=all&user={}", picked[5]))
        .await;
    assert_eq!(listed["total"], 0, "held, not filed: {listed}");
    let batch = held["id"].as_i64().unwrap();

    // The filer cannot confirm (a requester, and the filer); an admin can.
    let (status, _) = manager
        .post(&format!("/api/batches/{batch}/confirm"), None)
        .await;
    assert_eq!(status, 403);
    let admin = portal.person("admin").await;
    let (_, batches) = admin.get_json("/api/batches").await;
    assert_eq!(batches[0]["id"], batch);
    // Two admins confirm at once: one files the batch, the other is told.
    let path = format!("/api/batches/{batch}/confirm");
    let ((first, one), (second, other)) =
        tokio::join!(admin.post(&path, None), portal.everyone.post(&path, None));
    let confirmed = match (first, second) {
        (200, 409) => one,
        (409, 200) => other,
        statuses => panic!("one 200 and one 409, not {statuses:?}: {one} / {other}"),
    };
    assert_eq!(confirmed["filed"], 2);
    assert_eq!(confirmed["held"]["state"], "confirmed");
    let confirmer = confirmed["held"]["decided_by"].as_str().unwrap().to_owned();
    assert!(
        confirmer == "admin" || confirmer == "everyone",
        "{confirmer}"
    );
    let (_, all) = manager.get_json("/api/requests?show=all").await;
    assert_eq!(all["total"], 7, "five, then the batch's two, each once");
    let filed = confirmed["results"][0]["request"].as_i64().unwrap();
    let (_, request) = admin.get_json(&format!("/api/requests/{filed}")).await;
    assert_eq!(request["requested_by"], "manager", "filed as the filer's");
    assert_eq!(
        request["state"], "pending_approval",
        "each still needs its approval"
    );
    let (status, _) = admin
        .post(&format!("/api/batches/{batch}/confirm"), None)
        .await;
    assert_eq!(status, 409, "confirmed once");

    // An admin who filed a batch needs another admin; its filer may discard it.
    let everyone = &portal.everyone;
    let (status, above) = everyone
        .post("/api/requests/bulk", Some(rows(&picked[7..9])))
        .await;
    assert_eq!(status, 202, "{above}");
    let batch = above["held"]["id"].as_i64().unwrap();
    let (status, refused) = everyone
        .post(&format!("/api/batches/{batch}/confirm"), None)
        .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("second admin"),
        "{refused}"
    );
    let (status, discarded) = everyone
        .post(&format!("/api/batches/{batch}/discard"), None)
        .await;
    assert_eq!(
        (status, &discarded["state"]),
        (200, &serde_json::json!("discarded"))
    );
    let (status, _) = manager
        .post(&format!("/api/batches/{batch}/discard"), None)
        .await;
    assert_eq!(
        status, 404,
        "not the manager's batch, nor theirs to know of"
    );

    let (_, audit) = portal.get_json("/api/audit?action=bulk.").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["bulk.discard", "bulk.hold", "bulk.confirm", "bulk.hold"]
    );
}

#[tokio::test]
async fn by_default_the_limit_is_one_percent_of_a_small_directory() {
    // 300 users: 1% is 3, below the default 20.
    let portal = portal(300, 22, None).await;
    let manager = portal.person("manager").await;
    let picked = users(&portal, 0, 4).await;
    let (status, answer) = manager
        .post("/api/requests/bulk", Some(rows(&picked)))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["held"]["limit"], 3);
    let (status, answer) = manager
        .post("/api/requests/bulk", Some(rows(&picked[..3])))
        .await;
    assert_eq!(
        (status, answer["filed"].as_u64()),
        (200, Some(3)),
        "{answer}"
    );
}

#[tokio::test]
async fn a_csv_file_is_answered_row_by_row_and_names_users_as_hr_does() {
    let portal = portal(300, 23, Some(50)).await;
    let manager = portal.person("manager").await;
    let picked = users(&portal, 0, 3).await;
    let mut details = Vec::new();
    for id in &picked {
        details.push(portal.get_json(&format!("/api/users/{id}")).await.1);
    }
    let sam = details[0]["user"]["ad"]["sam_account_name"]
        .as_str()
        .unwrap();
    let employee = details[1]["user"]["ad"]["employee_id"].as_str().unwrap();
    let upn = details[2]["user"]["ad"]["user_principal_name"]
        .as_str()
        .unwrap();
    let csv = format!(
        "user,reason,reason_text,urgency,external_ref\n\
         {sam},resignation,Left in March,standard,HR-1\n\
         {employee},termination,\"Dismissed, escorted out\",immediate_disconnect,HR-2\n\
         {upn},leave,Sabbatical,standard,\n\
         nobody-by-that-name,other,Unknown,standard,\n\
         {sam},resignation,Again,sometime,\n\
         {sam},resignation,The same person twice,standard,\n"
    );
    let response = manager
        .http
        .post(format!("{}/api/requests/bulk.csv", portal.base))
        .header("x-csrf-token", &manager.csrf)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (answer["filed"].as_u64(), answer["refused"].as_u64()),
        (Some(3), Some(3)),
        "{answer:#}"
    );
    let results = answer["results"].as_array().unwrap();
    for (i, id) in picked.iter().enumerate() {
        assert_eq!(results[i]["row"], i + 1);
        assert_eq!(results[i]["user_id"], id.as_str(), "row {}", i + 1);
        assert!(results[i]["request"].is_i64());
    }
    let said = |i: usize| results[i]["refused"].as_str().unwrap().to_owned();
    assert!(
        said(3).contains("No user 'nobody-by-that-name'"),
        "{}",
        said(3)
    );
    assert!(said(4).contains("urgency 'sometime'"), "{}", said(4));
    assert!(
        said(5).contains("row 1") || said(5).contains("already has an open request"),
        "{}",
        said(5)
    );
    let (_, by_reference) = manager
        .get_json("/api/requests?show=all&external_ref=HR-2")
        .await;
    assert_eq!(by_reference["requests"][0]["user_id"], picked[1].as_str());
    assert_eq!(
        by_reference["requests"][0]["reason_text"],
        "Dismissed, escorted out"
    );

    // A file without the columns is refused whole, saying which.
    let response = manager
        .http
        .post(format!("{}/api/requests/bulk.csv", portal.base))
        .header("x-csrf-token", &manager.csrf)
        .body("name,why\njdoe,left\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("lacks user, reason, reason_text, urgency"),
        "{error}"
    );
}

#[tokio::test]
async fn a_manager_uploads_a_csv_and_a_second_admin_confirms_the_held_batch_in_the_browser() {
    let portal = portal(300, 24, Some(2)).await;
    let picked = users(&portal, 0, 3).await;
    let mut csv = String::from("user,reason,reason_text,urgency,external_ref\n");
    let mut names = Vec::new();
    for (n, id) in picked.iter().enumerate() {
        let (_, detail) = portal.get_json(&format!("/api/users/{id}")).await;
        csv.push_str(&format!(
            "{},resignation,Team moved to the new company,standard,HR-B{n}\n",
            detail["user"]["ad"]["user_principal_name"]
                .as_str()
                .unwrap()
        ));
        names.push(
            detail["user"]["ad"]["display_name"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::fs::write(file.path(), csv).unwrap();

    let patience = Duration::from_secs(15);
    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "manager").await;
    browser
        .client
        .goto(&format!("{}/requests", portal.base))
        .await
        .unwrap();
    browser
        .on("#csv summary", |e| async move { e.click().await })
        .await;
    let path = file.path().to_str().unwrap().to_owned();
    browser
        .on("#csv-file", |e| {
            let path = path.clone();
            async move { e.send_keys(&path).await }
        })
        .await;
    browser
        .on("#csv-submit", |e| async move { e.click().await })
        .await;
    let heading = browser
        .wait_for_text("#bulk-outcome h2", patience, |t| {
            t.starts_with("Held for a second admin")
        })
        .await;
    assert!(heading.contains("3 requests"), "{heading}");
    browser.close().await;

    let browser = Browser::start().await;
    browser.sign_in(&portal.base, "admin").await;
    browser
        .client
        .goto(&format!("{}/requests", portal.base))
        .await
        .unwrap();
    let held = browser
        .wait_for_text("#batches", patience, |t| t.contains("Batch #"))
        .await;
    for name in &names {
        assert!(held.contains(name.as_str()), "{name} in {held}");
    }
    browser
        .on("#batches button.confirm-batch", |e| async move {
            e.click().await
        })
        .await;
    browser
        .wait_for_text("#bulk-outcome h2", patience, |t| t == "3 filed, 0 refused")
        .await;
    browser
        .wait_until_gone("#batches", patience, "the confirmed batch")
        .await;
    // HR calls about case HR-B1: the admin finds its request by the reference.
    browser
        .on(
            "#ref-search",
            |e| async move { e.send_keys("HR-B1\n").await },
        )
        .await;
    let found = browser
        .wait_for_text("#all-requests", patience, |t| {
            t.contains(names[1].as_str()) && !t.contains(names[0].as_str())
        })
        .await;
    assert!(!found.contains(names[2].as_str()), "{found}");
    browser.close().await;
    let (_, list) = portal.get_json("/api/requests?show=all").await;
    assert_eq!(list["total"], 3);
}

#[tokio::test]
async fn an_hr_system_names_the_leaver_by_employee_id() {
    let portal = portal(300, 25, None).await;
    let user = ordinary_user(&portal, 0).await;
    let (_, detail) = portal.get_json(&format!("/api/users/{user}")).await;
    let employee = detail["user"]["ad"]["employee_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, filed) = portal
        .person("manager")
        .await
        .post(
            "/api/requests",
            Some(
                serde_json::json!({ "user": employee, "reason": "resignation",
                "reason_text": "HR case", "urgency": "standard", "external_ref": "HR-77" }),
            ),
        )
        .await;
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["user_id"], user.as_str());
    // A person looking for the leaver by the same number finds them too.
    let (_, found) = portal.get_json(&format!("/api/users?q={employee}")).await;
    assert_eq!(found["users"][0]["id"], user.as_str(), "{found}");
}
