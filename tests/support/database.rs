//! The database a test portal keeps its state in: SQLite in its data folder, or a fresh database
//! on the PostgreSQL cluster scripts/test.sh starts (`DEPROV_TEST_POSTGRES`, its password in
//! `DEPROV_TEST_POSTGRES_PASSWORD_FILE`). With `DEPROV_TEST_DATABASE=postgres`, every portal the
//! suite starts runs on PostgreSQL.

use deprov_server::config::DatabaseArgs;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the suite runs on PostgreSQL rather than each portal's SQLite.
pub fn suite_on_postgres() -> bool {
    std::env::var("DEPROV_TEST_DATABASE").as_deref() == Ok("postgres")
}

/// The test cluster's URL (its `postgres` database) and password file, if there is one.
pub fn cluster() -> Option<(String, PathBuf)> {
    let url = std::env::var("DEPROV_TEST_POSTGRES").ok()?;
    let password = std::env::var("DEPROV_TEST_POSTGRES_PASSWORD_FILE").ok()?;
    Some((url, PathBuf::from(password)))
}

/// The cluster, or a clear failure for a test that needs it.
pub fn required_cluster() -> (String, PathBuf) {
    cluster().expect(
        "DEPROV_TEST_POSTGRES is not set: scripts/test.sh starts PostgreSQL for these tests",
    )
}

/// A new, empty database on the test cluster, as `--database` and its password file name it.
pub async fn fresh_database() -> DatabaseArgs {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (url, password_file) = required_cluster();
    let cluster =
        deprov_server::store::Database::from_args(Some(&url), Some(&password_file), Path::new("."))
            .expect("DEPROV_TEST_POSTGRES is a PostgreSQL URL");
    let name = format!(
        "deprov_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    cluster
        .create_sibling(&name)
        .await
        .expect("a test database");
    let mut url = url::Url::parse(&url).expect("DEPROV_TEST_POSTGRES is a URL");
    url.set_path(&name);
    DatabaseArgs {
        url: Some(url.to_string()),
        password_file: Some(password_file),
    }
}

/// The database a portal on `data_dir` uses: created on the first start, the same one after a
/// restart (its URL is kept in the data folder).
pub async fn database_for(data_dir: &Path) -> DatabaseArgs {
    let remembered = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return DatabaseArgs {
            url: Some(url),
            password_file: Some(required_cluster().1),
        };
    }
    let database = fresh_database().await;
    std::fs::write(&remembered, database.url.as_deref().unwrap()).expect("the data folder");
    database
}

/// The database a portal on `data_dir` is to use: PostgreSQL's when the suite runs there (then
/// the `deprov` commands of [`command_args`] use it too), else SQLite in the folder (`None`).
pub async fn prepare(data_dir: &Path) -> Option<DatabaseArgs> {
    if suite_on_postgres() {
        Some(database_for(data_dir).await)
    } else {
        None
    }
}

/// Where the portal on `data_dir` keeps its state, as the `deprov` commands take it.
pub fn command_args(data_dir: &Path) -> Vec<OsString> {
    let mut args = vec![OsString::from("--data-dir"), data_dir.into()];
    if let Ok(url) = std::fs::read_to_string(data_dir.join("test-database-url")) {
        args.extend([
            "--database".into(),
            url.into(),
            "--database-password-file".into(),
            required_cluster().1.into(),
        ]);
    }
    args
}

/// The portal's database as someone with only database access sees it: no deprov, no key.
pub async fn direct(data_dir: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match std::fs::read_to_string(data_dir.join("test-database-url")) {
        Ok(url) => {
            let password = std::fs::read_to_string(required_cluster().1).unwrap();
            let mut url = url::Url::parse(&url).unwrap();
            url.set_password(Some(password.trim_end())).unwrap();
            url.to_string()
        }
        Err(_) => format!("sqlite://{}", data_dir.join("deprov.sqlite3").display()),
    };
    sqlx::AnyPool::connect(&url)
        .await
        .expect("the portal's database")
}

/// Two portals on the simulator (the same seed: the same directory) sharing a fresh database
/// and the first one's audit key, as instances behind a load balancer.
pub async fn two_instances(users: usize, seed: u64) -> (crate::TestPortal, crate::TestPortal) {
    let mut portals: Vec<crate::TestPortal> = Vec::new();
    let mut shared = None;
    for name in ["a", "b"] {
        let data = tempfile::tempdir().unwrap();
        let mut config = deprov_server::config::ServeConfig::for_tests(
            data.path().to_path_buf(),
            crate::dist_dir(),
            users,
            seed,
        );
        // The first instance's database, remembered in each data folder (for `deprov audit`).
        let database = match &shared {
            Some(database) => DatabaseArgs::clone(database),
            None => shared.insert(fresh_database().await).clone(),
        };
        std::fs::write(
            data.path().join("test-database-url"),
            database.url.as_deref().unwrap(),
        )
        .unwrap();
        config.database = database;
        config.instance_id = Some(name.to_owned());
        if let Some(first) = portals.first() {
            config.audit_key_file = Some(first.data_dir().join("audit.key"));
        }
        portals.push(crate::TestPortal::spawn_with(data, config).await);
    }
    let b = portals.pop().unwrap();
    (portals.pop().unwrap(), b)
}
