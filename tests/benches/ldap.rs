//! AD over LDAP against a real Samba AD DC (`scripts/samba-dc.sh`), loaded with the simulator's
//! generated directory: the full read (seconds, users per second), an incremental poll with
//! nothing changed and with 100 changed users, the report from one paged read against the
//! article's way (one lookup per user, emulated as one LDAP search per user), and the portal's
//! memory (RSS) per directory user.
//!
//! `cargo bench -p deprov-tests --bench ldap`. Sizes: `DEPROV_BENCH_LDAP_USERS` (default
//! `5000,20000`). The first run provisions a DC per size (cached, and slow: Samba's cost per
//! added user grows with the directory, so 5,000 users take about a minute and 20,000 about 20;
//! 100,000 would take hours, which is why the RSS at 100,000 is extrapolated from the portal on
//! the real DC at each size and bounded by the portal on 100,000 simulated users, which holds
//! the directory twice). It needs root for Samba's packages, and the release binary
//! (`cargo build --release -p deprov-server`) for the memory figures.

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
    let computed = compute(&snapshot, now, &ReportConfig::default(), &|_| None, &|_| {
        None
    });
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

/// Every figure at one directory size; the portal's RSS on it, when measured.
async fn size(users: usize) -> Option<u64> {
    let dc = TestDc::start_with(users, 1, "the LDAP benchmark")?;
    let mut args = dc.ldap_args();
    args.ldap_page_size = 500;
    args.ldap_poll_secs = 15;
    // Deletions by census every 5 minutes (the default): not part of an ordinary poll here.
    args.ldap_deletions_secs = 300;
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
    let returned: HashSet<UserId> = read.users().iter().map(|u| u.id).collect();
    assert!(
        changed.iter().all(|u| returned.contains(&u.id)),
        "every changed user comes back"
    );
    // Besides them, at most the accounts whose binds AD recorded (a logon timestamp).
    assert!(
        returned.len() <= 103,
        "only what changed: {} users",
        returned.len()
    );
    println!(
        "  incremental poll, 100 users changed: {} ({} users came back: the 100, and the accounts whose binds AD recorded)",
        ms(with_changes),
        returned.len()
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
    rss_on_dc(&dc, users).await
}

/// The resident memory (and its peak) of `deprov serve` started with `arguments`, once it
/// serves; and how long it took to be ready.
async fn portal_rss(arguments: &[String]) -> Option<(u64, u64, Duration)> {
    let binary =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/deprov");
    if !binary.exists() {
        println!(
            "  memory: skipped: build the release binary first (cargo build --release -p deprov-server)"
        );
        return None;
    }
    let data = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--demo-accounts",
            "off",
            "--sim-churn",
            "off",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(arguments)
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
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let _ = child.kill();
    let _ = child.wait();
    Some((kib("VmRSS:"), kib("VmHWM:"), ready))
}

/// The portal's memory on the real DC of `users` users, as `--backend lync`.
async fn rss_on_dc(dc: &TestDc, users: usize) -> Option<u64> {
    let args = dc.ldap_args();
    let mut arguments: Vec<String> = [
        "--backend",
        "lync",
        "--ldap-url",
        &dc.url(),
        "--ldap-bind-dn",
        dc::SERVICE_ACCOUNT,
        "--ldap-base-dn",
        dc::BASE_DN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    arguments.push("--ldap-ca-file".into());
    arguments.push(dc.ca_file().display().to_string());
    arguments.push("--ldap-bind-password-file".into());
    arguments.push(
        args.ldap_bind_password_file
            .as_ref()
            .unwrap()
            .display()
            .to_string(),
    );
    for pool in &args.ldap_pools {
        arguments.push("--ldap-pool".into());
        arguments.push(pool.clone());
    }
    let (rss, peak, ready) = portal_rss(&arguments).await?;
    println!(
        "  the portal on it (--backend lync): ready in {:.1} s, RSS {:.0} MiB (peak {:.0} MiB): {:.1} KiB per user",
        ready.as_secs_f64(),
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss as f64 / users as f64
    );
    Some(rss)
}

#[tokio::main]
async fn main() {
    let mut measured = Vec::new();
    for users in sizes("DEPROV_BENCH_LDAP_USERS", "5000,20000") {
        if let Some(rss) = size(users).await {
            measured.push((users, rss));
        }
    }
    if let [(small, small_rss), .., (large, large_rss)] = measured[..] {
        let per_user = (large_rss as f64 - small_rss as f64) / (large - small) as f64;
        let at = |users: f64| (large_rss as f64 + per_user * (users - large as f64)) / 1024.0;
        println!(
            "\nMemory: {per_user:.1} KiB more per directory user between {small} and {large} users; \
             at 100,000 users about {:.0} MiB (extrapolated)",
            at(100_000.0)
        );
    }
    if let Some((rss, peak, ready)) = portal_rss(&["--sim-users".into(), "100000".into()]).await {
        println!(
            "Bound: the portal on 100,000 simulated users (directory held twice: simulator and copy): \
             ready in {:.1} s, RSS {:.0} MiB (peak {:.0} MiB)",
            ready.as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
}
