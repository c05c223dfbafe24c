//! AD over LDAP against a real Samba AD DC (`scripts/samba-dc.sh`), loaded with the simulator's
//! generated directory: the full read (seconds, users per second), an incremental poll with
//! nothing changed and with 100 changed users, the report from one paged read against the
//! article's way (one lookup per user, emulated as one LDAP search per user), and the portal's
//! memory (RSS) at 100,000 directory users.
//!
//! `cargo bench -p deprov-tests --bench ldap`. Sizes: `DEPROV_BENCH_LDAP_USERS` (default
//! `5000,20000`), `DEPROV_BENCH_LDAP_RSS_USERS` (default 100000; 0 skips it). The first run
//! provisions a DC per size (cached; about 1 minute per 5,000 users) and needs root for
//! Samba's packages. The RSS figure needs `cargo build --release -p deprov-server` first.

use deprov_server::backend::ldap::LdapDirectory;
use deprov_server::backend::ldap::entry::{
    self, Entry, Mapping, Oddities, USER_ATTRIBUTES, USERS_FILTER,
};
use deprov_server::backend::{DirectoryRead, DirectorySource, Watermark};
use deprov_server::directory::Snapshot;
use deprov_server::report::{ReportConfig, compute};
use deprov_tests::dc::{self, TestDc};
use deprov_wire::directory::{DirectoryUser, UserId};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sizes(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn admin(dc: &TestDc) -> Ldap {
    let tls = dc.ldap_args().settings().unwrap().tls.unwrap();
    let (connection, mut ldap) =
        LdapConnAsync::with_settings(LdapConnSettings::new().set_config(tls), &dc.url())
            .await
            .unwrap();
    ldap3::drive!(connection);
    ldap.simple_bind(dc::ADMIN, dc::ADMIN_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

/// The report's findings over `users`, and how long building the snapshot and the report took.
fn report(users: Vec<DirectoryUser>) -> (usize, Duration) {
    let began = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let snapshot = Snapshot::build(
        users.into_iter().map(Arc::new).collect(),
        Watermark::new("bench", 0),
        now,
    );
    let computed = compute(&snapshot, now, &ReportConfig::default(), &|_| false);
    (computed.findings.len(), began.elapsed())
}

/// The article's way: list the users, then look each one up on its own (as its Get-CsAdUser
/// loop does), here one LDAP search per user on one connection.
async fn one_search_per_user(dc: &TestDc, ids: &[UserId]) -> Vec<DirectoryUser> {
    let settings = dc.ldap_args().settings().unwrap();
    let mut ldap = admin(dc).await;
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        let filter = format!("(&{USERS_FILTER}{})", entry::guid_filter(*id));
        let (found, _) = ldap
            .search(
                &settings.base_dn,
                Scope::Subtree,
                &filter,
                USER_ATTRIBUTES.to_vec(),
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        entries.extend(
            found
                .into_iter()
                .map(|e| Entry::from(SearchEntry::construct(e))),
        );
    }
    let by_dn: HashMap<String, UserId> = entries
        .iter()
        .filter_map(|e| {
            Some((
                deprov_server::backend::ldap::settings::normalise_dn(&e.dn),
                e.object_guid()?,
            ))
        })
        .collect();
    let lookup = |dn: &str| by_dn.get(dn).copied();
    let times = HashMap::new();
    let oddities = Oddities::default();
    let mapping = Mapping {
        pools: &settings.pools,
        user_by_dn: &lookup,
        lync_enabled_attid: None,
        change_times: &times,
        oddities: &oddities,
    };
    entries
        .iter()
        .filter_map(|e| entry::user(e, &mapping).ok())
        .collect()
}

async fn size(users: usize) {
    let Some(dc) = TestDc::start_with(users, 1, "the LDAP benchmark") else {
        return;
    };
    let mut args = dc.ldap_args();
    args.ldap_page_size = 500;
    args.ldap_poll_secs = 15;
    // Deletions by census once a minute (the default): not part of an ordinary poll here.
    args.ldap_deletions_secs = 60;
    let settings = args.settings().unwrap();
    println!(
        "\n{users} generated users on a Samba AD DC over LDAPS (pages of {}):",
        settings.page_size
    );

    let mut fulls = Vec::new();
    let mut read_users = Vec::new();
    for _ in 0..3 {
        let source = LdapDirectory::new(settings.clone());
        let began = Instant::now();
        let read = source.read_directory(None).await.unwrap();
        fulls.push(began.elapsed());
        read_users = read.users().to_vec();
    }
    let full = median(fulls.clone());
    println!(
        "  full read: {:.2} s for {} users ({:.0} users/s), median of 3 (fresh connection, TLS and bind included; runs {:?})",
        full.as_secs_f64(),
        read_users.len(),
        read_users.len() as f64 / full.as_secs_f64(),
        fulls
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );

    let source = LdapDirectory::new(settings.clone());
    let mark = source
        .read_directory(None)
        .await
        .unwrap()
        .high_water()
        .clone();
    let mut polls = Vec::new();
    for _ in 0..20 {
        let began = Instant::now();
        let read = source.read_directory(Some(&mark)).await.unwrap();
        polls.push(began.elapsed());
        assert!(read.users().is_empty());
    }
    println!(
        "  incremental poll, nothing changed: {} (median of 20)",
        ms(median(polls))
    );

    let mut ldap = admin(&dc).await;
    let changed: Vec<&DirectoryUser> = read_users
        .iter()
        .filter(|u| u.ad.distinguished_name.contains("OU=Users"))
        .take(100)
        .collect();
    let round = Instant::now().elapsed().as_nanos().to_string();
    for user in &changed {
        ldap.modify(
            &user.ad.distinguished_name,
            vec![Mod::Replace(
                "title",
                HashSet::from([format!("Bench {round}").as_str()]),
            )],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }
    let began = Instant::now();
    let read = source.read_directory(Some(&mark)).await.unwrap();
    let with_changes = began.elapsed();
    assert!(matches!(read, DirectoryRead::Changes { .. }));
    assert_eq!(
        read.users().len(),
        100,
        "exactly the changed users come back"
    );
    println!(
        "  incremental poll, 100 users changed: {}",
        ms(with_changes)
    );
    // A census of every objectGUID, how deletions are found without rights on Deleted Objects.
    let mut census = ldap.clone();
    let began = Instant::now();
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(500)),
    ];
    let mut search = census
        .streaming_search_with(
            adapters,
            &settings.base_dn,
            Scope::Subtree,
            USERS_FILTER,
            vec!["objectGUID"],
        )
        .await
        .unwrap();
    let mut listed = 0;
    while search.next().await.unwrap().is_some() {
        listed += 1;
    }
    println!(
        "  deletion census (every objectGUID, every --ldap-deletions-secs): {} for {listed} users",
        ms(began.elapsed())
    );

    // The report from one paged read, against one search per user.
    let began = Instant::now();
    let paged = LdapDirectory::new(settings.clone())
        .read_directory(None)
        .await
        .unwrap();
    let (findings, computing) = report(paged.users().to_vec());
    let paged_total = began.elapsed();
    let ids: Vec<UserId> = paged.users().iter().map(|u| u.id).collect();
    let began = Instant::now();
    let looked_up = one_search_per_user(&dc, &ids).await;
    let (their_findings, _) = report(looked_up);
    let per_user_total = began.elapsed();
    assert_eq!(findings, their_findings, "both ways find the same");
    println!(
        "  report from one paged read: {:.2} s (of which computing {}), {findings} findings",
        paged_total.as_secs_f64(),
        ms(computing)
    );
    println!(
        "  report the article's way (one LDAP search per user, {} searches): {:.2} s: {:.1}x slower",
        ids.len(),
        per_user_total.as_secs_f64(),
        per_user_total.as_secs_f64() / paged_total.as_secs_f64()
    );
}

/// The portal's resident memory once it has read `users` directory users from a real DC.
async fn rss(users: usize) {
    let Some(dc) = TestDc::start_with(users, 1, "the RSS benchmark") else {
        return;
    };
    let binary =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/deprov");
    if !binary.exists() {
        println!(
            "\nRSS: skipped: build the release binary first (cargo build --release -p deprov-server)"
        );
        return;
    }
    let args = dc.ldap_args();
    let data = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(&binary);
    command
        .args([
            "serve",
            "--backend",
            "lync",
            "--listen",
            "127.0.0.1:0",
            "--demo-accounts",
            "off",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "--ldap-url",
            &dc.url(),
            "--ldap-bind-dn",
            dc::SERVICE_ACCOUNT,
            "--ldap-base-dn",
            dc::BASE_DN,
        ])
        .arg("--ldap-ca-file")
        .arg(dc.ca_file())
        .arg("--ldap-bind-password-file")
        .arg(args.ldap_bind_password_file.as_ref().unwrap());
    for pool in &args.ldap_pools {
        command.args(["--ldap-pool", pool]);
    }
    let began = Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let ready = began.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.trim_start_matches(name).trim().to_owned())
            .unwrap_or_default()
    };
    println!(
        "\nThe portal on {users} directory users from the DC: ready in {:.1} s; RSS {} (peak {})",
        ready.as_secs_f64(),
        field("VmRSS:"),
        field("VmHWM:")
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main]
async fn main() {
    for users in sizes("DEPROV_BENCH_LDAP_USERS", "5000,20000") {
        size(users).await;
    }
    for users in sizes("DEPROV_BENCH_LDAP_RSS_USERS", "100000") {
        if users > 0 {
            rss(users).await;
        }
    }
}
