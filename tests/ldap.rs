//! deprov against a real Active Directory (a Samba AD DC the test command provisions): the read
//! equals what was loaded, paging, changes made with `ldapmodify` reaching the portal, a DC that
//! goes away and comes back, AD sign-in, the CA check, `deprov check-connection`, and read-only
//! execution.

use deprov_server::backend::DirectoryRead;
use deprov_server::backend::DirectorySource;
use deprov_server::backend::ldap::LdapDirectory;
use deprov_tests::dc::{self, TestDc, loaded, people, pick};
use deprov_tests::{PASSWORD, TestPortal, deprov_binary, sign_in};
use deprov_wire::directory::{DirectoryUser, UserId};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it holds or `within` passes; returns how long it took.
pub async fn eventually<F: Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let began = Instant::now();
    while began.elapsed() < within {
        if check().await {
            return began.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: not within {within:?}");
}

#[tokio::test]
async fn the_full_read_equals_what_was_loaded_across_several_pages() {
    let Some(dc) = TestDc::start("the_full_read_equals_what_was_loaded") else {
        return;
    };
    let settings = dc.ldap_args().settings().unwrap();
    assert_eq!(settings.page_size, 50);
    let source = LdapDirectory::new(settings);
    let read = source.read_directory(None).await.unwrap();
    assert!(matches!(read, DirectoryRead::Full { .. }));
    let read: HashMap<UserId, &DirectoryUser> = read.users().iter().map(|u| (u.id, u)).collect();
    let now = time::OffsetDateTime::now_utc();
    for expected in loaded() {
        let got = read.get(&expected.id).unwrap_or_else(|| {
            panic!(
                "{} was not read (by objectGUID)",
                expected.ad.sam_account_name
            )
        });
        let (e, g) = (&expected.ad, &got.ad);
        assert_eq!(
            (
                &g.sam_account_name,
                &g.user_principal_name,
                &g.display_name,
                &g.department,
                &g.title
            ),
            (
                &e.sam_account_name,
                &e.user_principal_name,
                &e.display_name,
                &e.department,
                &e.title
            ),
        );
        assert!(
            g.distinguished_name
                .eq_ignore_ascii_case(&e.distinguished_name)
        );
        assert_eq!(g.manager, e.manager, "{}'s manager", e.sam_account_name);
        assert_eq!(
            g.account_disabled, e.account_disabled,
            "{}",
            e.sam_account_name
        );
        assert_eq!(
            got.protected(),
            expected.protected(),
            "{}",
            e.sam_account_name
        );
        if g.account_disabled {
            let since = g
                .disabled_since
                .expect("when AD disabled it, from replication metadata");
            assert!(since <= now && since.year() >= 2020, "{since}");
        }
        assert_eq!(
            got.lync_state(),
            expected.lync_state(),
            "{}",
            e.sam_account_name
        );
        if let (Some(g), Some(e)) = (&got.lync, &expected.lync) {
            assert_eq!(g.sip_address, e.sip_address);
            assert_eq!(
                g.registrar_pool, e.registrar_pool,
                "mapped with --ldap-pool"
            );
            assert_eq!(g.homed_online(), e.homed_online());
            assert_eq!(
                (&g.line_uri, g.enterprise_voice_enabled),
                (&e.line_uri, e.enterprise_voice_enabled)
            );
            assert!(
                g.certificates.is_unknown()
                    && g.contact_count.is_unknown()
                    && g.policies.is_unknown()
            );
            assert!(
                g.enabled_changed.year() >= 2020,
                "from metadata or whenChanged"
            );
        }
        assert!(
            got.endpoints.is_unknown(),
            "only the Lync server knows sessions"
        );
        assert!(got.anomalies.is_empty(), "{:?}", got.anomalies);
    }
    // Besides the generated users: the sign-in test people, the service account and the
    // domain's own accounts (Administrator, Guest, krbtgt, dns-dc1).
    assert_eq!(read.len(), dc::USERS + 7 + 4);

    // The DC pages at 50: one page is 50 entries, so the whole read followed the cookies.
    let (connection, mut ldap) = ldap3::LdapConnAsync::with_settings(
        ldap3::LdapConnSettings::new().set_config(dc.ldap_args().settings().unwrap().tls.unwrap()),
        &dc.url(),
    )
    .await
    .unwrap();
    ldap3::drive!(connection);
    ldap.simple_bind(dc::SERVICE_ACCOUNT, dc::SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let first_page = ldap
        .with_controls(ldap3::controls::PagedResults {
            size: 50,
            cookie: Vec::new(),
        })
        .search(
            dc::BASE_DN,
            ldap3::Scope::Subtree,
            "(objectClass=user)",
            vec!["1.1"],
        )
        .await
        .unwrap();
    assert_eq!(first_page.0.len(), 50, "the DC honours the page size");
}

async fn report(portal: &TestPortal) -> Value {
    portal.get_json("/api/report/mismatches").await.1
}

fn has_finding(report: &Value, user: UserId, rule: &str) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["user_id"] == user.to_string() && f["rule"] == rule)
}

#[tokio::test]
async fn changes_made_with_ldapmodify_reach_search_user_pages_and_the_report() {
    let Some(dc) = TestDc::start("changes_made_with_ldapmodify_reach_the_portal") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config(data.path());
    let portal = TestPortal::spawn_with(data, config).await;
    let (_, health) = portal.get_json("/api/health").await;
    assert_eq!(health["backend"], "ldap");
    assert_eq!(health["shell"], Value::Null, "no shell: read-only");
    assert!(
        health["shell_state"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );

    let enabled =
        |u: &DirectoryUser| !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled);
    let leaver = pick(enabled, 0);
    let unenabled = pick(enabled, 1);
    let renamed = pick(enabled, 2);
    let deleted = pick(enabled, 3);
    assert!(!has_finding(
        &report(&portal).await,
        leaver.id,
        "ad_disabled_lync_enabled"
    ));

    dc.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\n\n\
         dn: {}\nchangetype: modify\ndelete: msRTCSIP-UserEnabled\n-\n\n\
         dn: {}\nchangetype: modify\nreplace: msRTCSIP-PrimaryUserAddress\nmsRTCSIP-PrimaryUserAddress: sip:qq.renamed.482913@contoso.com\n-\n\n\
         dn: {}\nchangetype: delete\n",
        leaver.ad.distinguished_name,
        unenabled.ad.distinguished_name,
        renamed.ad.distinguished_name,
        deleted.ad.distinguished_name,
    ));
    // Poll interval 1 s: everything shows within a few.
    let took = eventually(
        Duration::from_secs(10),
        "the disabled account in the report",
        || async {
            has_finding(
                &report(&portal).await,
                leaver.id,
                "ad_disabled_lync_enabled",
            )
        },
    )
    .await;
    println!("an AD disable reached the report in {took:?} (poll interval 1 s)");
    let finding = report(&portal).await["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["user_id"] == leaver.id.to_string())
        .cloned()
        .unwrap();
    assert_eq!(finding["risk"], "high", "unknown sessions may be signed in");
    assert!(
        finding["why"]
            .as_str()
            .unwrap()
            .contains("not known without the Lync shell")
    );

    let (status, page) = portal
        .get_json(&format!("/api/users/{}", unenabled.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["lync_state"], "never_enabled",
        "msRTCSIP-UserEnabled cleared"
    );

    let (_, found) = portal.get_json("/api/users?q=qq.renamed").await;
    assert_eq!(found["users"][0]["id"], renamed.id.to_string(), "{found}");
    assert!(has_finding(
        &report(&portal).await,
        renamed.id,
        "sip_renamed_unexplained"
    ));

    eventually(
        Duration::from_secs(10),
        "the deleted user gone from search",
        || async {
            let (_, found) = portal
                .get_json(&format!("/api/users?q={}", deleted.ad.sam_account_name))
                .await;
            found["users"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["id"] != deleted.id.to_string())
        },
    )
    .await;
    let (status, _) = portal.get_json(&format!("/api/users/{}", deleted.id)).await;
    assert_eq!(status, 404);

    // What only the Lync server knows is unknown, on the user page too.
    let (_, page) = portal.get_json(&format!("/api/users/{}", leaver.id)).await;
    assert_eq!(page["user"]["endpoints"], Value::Null);
    assert_eq!(page["user"]["lync"]["certificates"], Value::Null);
    let revoke = page["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["method"] == "revoke_certificate")
        .unwrap();
    assert_eq!(
        revoke["refused"],
        Value::Null,
        "there may be a certificate to revoke"
    );
}

#[tokio::test]
async fn a_dc_that_goes_away_leaves_the_copy_in_place_and_the_portal_catches_up() {
    let Some(dc) = TestDc::start("a_dc_that_goes_away") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config(data.path());
    let portal = TestPortal::spawn_with(data, config).await;
    let users_before = portal.get_json("/api/health").await.1["directory_users"].clone();

    dc.stop();
    eventually(
        Duration::from_secs(15),
        "the health check says the directory is unreachable",
        || async {
            let (_, health) = portal.get_json("/api/health").await;
            health["status"] == "degraded" && health["directory_error"].is_string()
        },
    )
    .await;
    let (_, health) = portal.get_json("/api/health").await;
    assert_eq!(
        health["directory_users"], users_before,
        "the last good copy is kept"
    );
    let (status, found) = portal.get_json("/api/users?q=a").await;
    assert_eq!(status, 200);
    assert!(
        found["total"].as_u64().unwrap() > 0,
        "search still answers from the copy"
    );

    dc.start_again();
    let leaver = pick(
        |u| !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled),
        5,
    );
    dc.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 514\n-\n",
        leaver.ad.distinguished_name
    ));
    let took = eventually(
        Duration::from_secs(40),
        "the portal catches up after the DC is back",
        || async {
            let (_, health) = portal.get_json("/api/health").await;
            health["status"] == "ok"
                && has_finding(
                    &report(&portal).await,
                    leaver.id,
                    "ad_disabled_lync_enabled",
                )
        },
    )
    .await;
    println!("caught up {took:?} after the DC came back");
}

async fn sign_in_status(base: &str, name: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn people_sign_in_with_their_ad_accounts_and_get_roles_from_nested_groups() {
    let Some(dc) = TestDc::start("people_sign_in_with_their_ad_accounts") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config(data.path());
    let portal = TestPortal::spawn_with(data, config).await;
    let base = &portal.base;
    let upn = |sam: &str| format!("{sam}@contoso.com");

    let (status, me) = sign_in_status(base, &upn(people::APPROVER), dc::PEOPLE_PASSWORD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["roles"],
        serde_json::json!(["approver"]),
        "through the nested group"
    );
    assert_eq!(me["name"], upn(people::APPROVER));
    // Remembered with the address AD gives (not the UPN), to be told of work.
    let (mail, roles): (Option<String>, String) =
        sqlx::query_as("SELECT mail, roles FROM ad_people WHERE principal = $1")
            .bind(upn(people::APPROVER))
            .fetch_one(&portal.database().await)
            .await
            .unwrap();
    assert_eq!(
        (mail.as_deref(), roles.as_str()),
        (Some("ada.approver@mail.contoso.com"), "approver")
    );
    let (status, me) = sign_in_status(
        base,
        &format!("CONTOSO\\{}", people::ADMIN),
        dc::PEOPLE_PASSWORD,
    )
    .await;
    assert_eq!(
        (status, &me["roles"]),
        (200, &serde_json::json!(["admin"])),
        "{me}"
    );
    assert_eq!(
        me["name"],
        upn(people::ADMIN),
        "one name, however it was typed"
    );

    let (status, _) = sign_in_status(base, &upn(people::APPROVER), "not-her-password").await;
    assert_eq!(status, 401);
    let (status, body) = sign_in_status(base, &upn(people::APPROVER), "").await;
    assert_eq!(
        (status, &body["field"]),
        (400, &Value::from("password")),
        "refused before any bind"
    );
    let (status, body) = sign_in_status(base, &upn(people::DISABLED), dc::PEOPLE_PASSWORD).await;
    assert_eq!(status, 403);
    assert!(
        body["message"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    let (status, body) = sign_in_status(base, &upn(people::NO_ROLE), dc::PEOPLE_PASSWORD).await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("none of the groups"),
        "{body}"
    );
    for _ in 0..3 {
        assert!(
            !dc.bind(&upn(people::TO_LOCK), "wrong"),
            "a wrong password is refused"
        );
    }
    let (status, body) = sign_in_status(base, &upn(people::TO_LOCK), dc::PEOPLE_PASSWORD).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("locked"),
        "{body}"
    );

    // The break-glass local accounts work beside AD.
    let requester = sign_in(base, "manager", PASSWORD)
        .await
        .expect("local accounts still sign in");
    let (status, _) = requester.get_json("/api/users?q=a").await;
    assert_eq!(status, 200);

    // A session holds the AD principal: the approver's session works for what approvers do.
    let approver = sign_in(base, &upn(people::APPROVER), dc::PEOPLE_PASSWORD)
        .await
        .unwrap();
    let (status, _) = approver.get_json("/api/requests?show=open").await;
    assert_eq!(status, 200);

    // The audit log says which refusal it was, and never holds a password.
    let (_, audit) = portal
        .get_json("/api/audit?action=session.sign_in_failed")
        .await;
    let details: Vec<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["actor"].as_str().unwrap(),
                e["details"].as_str().unwrap()
            )
        })
        .collect();
    let said = |who: &str, what: &str| details.iter().any(|d| d.contains(who) && d.contains(what));
    assert!(
        said(people::APPROVER, "wrong name or password"),
        "{details:?}"
    );
    assert!(
        said(people::APPROVER, "no password was given"),
        "{details:?}"
    );
    assert!(said(people::DISABLED, "disabled"), "{details:?}");
    assert!(said(people::NO_ROLE, "none of the groups"), "{details:?}");
    assert!(said(people::TO_LOCK, "locked"), "{details:?}");
    let (_, everything) = portal.get_json("/api/audit?limit=200").await;
    assert!(
        !everything.to_string().contains(dc::PEOPLE_PASSWORD),
        "no password in the audit log"
    );
}

#[tokio::test]
async fn a_wrong_ca_file_is_refused_and_check_connection_says_what_is_wrong() {
    let Some(dc) = TestDc::start("a_wrong_ca_file_is_refused") else {
        return;
    };
    let args = dc.ldap_args();
    let check = |ca: &std::path::Path, base_dn: &str| {
        let output = std::process::Command::new(deprov_binary())
            .arg("check-connection")
            .args(["--ldap-url", &dc.url()])
            .args(["--ldap-bind-dn", dc::SERVICE_ACCOUNT])
            .arg("--ldap-bind-password-file")
            .arg(args.ldap_bind_password_file.as_ref().unwrap())
            .args(["--ldap-base-dn", base_dn])
            .arg("--ldap-ca-file")
            .arg(ca)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = check(&dc.ca_file(), dc::BASE_DN);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("over LDAPS"), "{out}");
    assert!(
        out.contains("The schema has Lync's msRTCSIP-* attributes"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Paged read: {} users", dc::USERS + 11)),
        "{out}"
    );
    assert!(
        out.contains("not mapped to an FQDN") && out.contains("--ldap-pool"),
        "{out}"
    );
    assert!(out.contains("sees no deleted users"), "{out}");

    let (code, out) = check(&dc.other_ca_file(), dc::BASE_DN);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL") && out.contains("not trusted"), "{out}");
    let (code, out) = check(&dc.ca_file(), "OU=Nowhere,DC=contoso,DC=com");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL") && out.contains("does not exist"),
        "{out}"
    );

    // The portal refuses to start on a DC it cannot trust.
    let data = tempfile::tempdir().unwrap();
    let mut config = dc.portal_config(data.path());
    config.ldap.ldap_ca_file = Some(dc.other_ca_file());
    let started = deprov_server::Portal::start(config).await;
    let error = started
        .err()
        .expect("an untrusted DC is refused")
        .to_string();
    assert!(error.contains("not trusted"), "{error}");
}

#[tokio::test]
async fn without_a_lync_shell_requests_and_approvals_work_and_execution_is_refused() {
    let Some(dc) = TestDc::start("without_a_lync_shell_execution_is_refused") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let config = dc.portal_config(data.path());
    let portal = TestPortal::spawn_with(data, config).await;
    let user = pick(
        |u| !u.ad.account_disabled && u.lync.as_ref().is_some_and(|l| l.enabled),
        7,
    );
    let manager = portal.person("manager").await;
    let (status, request) = manager
        .post(
            "/api/requests",
            Some(serde_json::json!({
                "user_id": user.id, "reason": "termination", "reason_text": "Left on Friday",
                "urgency": "standard"
            })),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let id = request["id"].as_i64().unwrap();
    let approver = portal.person("approver").await;
    let (status, approved) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(serde_json::json!({ "version": request["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{approved}");

    let admin = portal.person("admin").await;
    let (_, view) = admin
        .get_json(&format!("/api/requests/{id}/execution"))
        .await;
    let read_only = view["read_only"]
        .as_str()
        .expect("the page says so before any button");
    assert!(read_only.contains("no Lync shell is configured"));
    assert_eq!(view["next"][0]["refused"].as_str(), Some(read_only));
    let (status, refused) = admin
        .post(
            &format!("/api/requests/{id}/execute"),
            Some(serde_json::json!({ "operation": "stage_one", "version": view["request"]["version"] })),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("read-only"),
        "{refused}"
    );
}
