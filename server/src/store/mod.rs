//! The portal's own state, behind migrations for each database (`server/migrations/`): SQLite in
//! the data folder by default (WAL with `synchronous = FULL`: a committed write survives the
//! process being killed at any moment), or PostgreSQL, which several instances share.
//!
//! All of deprov's SQL is in this module, one repository per aggregate: [`requests`] (requests,
//! their decisions and bulk batches), [`operations`] (executions: steps, backups,
//! verifications, re-enable asks), [`people`] (accounts, sessions, API tokens, the sign-in
//! throttle), [`outbox`] (notification events and deliveries), [`audit_log`], [`exceptions`]
//! and [`settings`]; the periodic jobs' leases and the report's history are kept by [`Store`]
//! itself. A repository is reached from a [`Read`] (a pooled connection) or a
//! [`Write`] (inside its transaction) and hands back typed values, read by column name: the
//! domain modules never see a row or a query.
//!
//! Queries are written once, in the SQL both databases speak (numbered `$1` parameters, `ON
//! CONFLICT`, `RETURNING`), through sqlx's `Any` driver. What differs is kept here: how a write
//! is serialized, and the two functions the PostgreSQL schema adds so the same SQL runs there
//! (`julianday()` and the `nocase` collation, `migrations/postgres/0001_schema.sql`).

pub mod audit_log;
pub mod changes;
pub mod exceptions;
pub mod operations;
pub mod outbox;
pub mod people;
pub mod requests;
pub mod settings;

use crate::audit::{self, key::AuditKey, key::Origin};
use deprov_wire::report::{HistoryPoint, RuleCounts};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

/// Where the portal's state lives. (`Debug` leaves the password out.)
#[derive(Clone)]
pub enum Database {
    /// `deprov.sqlite3` in this data folder: the embedded default, for one instance.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://user@host/db`), which several instances share.
    Postgres(url::Url),
}

impl Database {
    /// `--database`: a `postgres://` URL (its password from `password_file`, else the URL or
    /// `PGPASSWORD`), or nothing for SQLite in `data_dir`.
    pub fn from_args(
        url: Option<&str>,
        password_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, String> {
        let Some(url) = url.filter(|url| !url.is_empty()) else {
            return Ok(Self::Sqlite(data_dir.to_owned()));
        };
        let mut url = url::Url::parse(url).map_err(|e| format!("--database: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "--database: {}:// is not supported (postgres:// is; SQLite needs no --database)",
                url.scheme()
            ));
        }
        if let Some(file) = password_file {
            let password = crate::backend::ldap::settings::Secret::from_file(
                "--database-password-file",
                file,
            )?;
            url.set_password(Some(password.expose()))
                .map_err(|()| "--database: this URL cannot carry a password".to_owned())?;
        }
        Ok(Self::Postgres(url))
    }

    /// A new, empty database named `name` (letters, digits, `_`) on the same PostgreSQL server,
    /// owned by this URL's role: for tests and benchmarks, each on a database of its own.
    pub async fn create_sibling(&self, name: &str) -> Result<Self, StoreError> {
        use sqlx::Connection;
        let Self::Postgres(url) = self else {
            return Err(StoreError::Unreadable(
                "not a PostgreSQL database".to_owned(),
            ));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Unreadable(format!(
                "{name:?}: not a database name"
            )));
        }
        let mut admin = sqlx::PgConnection::connect(url.as_str()).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let mut url = url.clone();
        url.set_path(name);
        Ok(Self::Postgres(url))
    }

    /// The database for messages, without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.join(SQLITE_FILE).display().to_string(),
            Self::Postgres(url) => {
                let mut url = url.clone();
                let _ = url.set_password(None);
                url.to_string()
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

const SQLITE_FILE: &str = "deprov.sqlite3";

/// Which SQL dialect a store speaks, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Held across a bulk filing's count and its filings (see [`Store::exclusive`]).
pub const BULK_LOCK: i64 = 0x6465_7072_6f77;

/// The PostgreSQL advisory lock every write holds until it commits: writes from every instance
/// take turns, so the audit chain never forks. (Any fixed number: it names the lock.)
const WRITER_LOCK: i64 = 0x6465_7072_6f76; // "deprov"

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    database: Database,
    dialect: Dialect,
    /// One writer at a time in this process: publishing what a write changed follows the order
    /// of the writes. Across instances (PostgreSQL), [`WRITER_LOCK`] serializes them.
    writer: Arc<Mutex<()>>,
    /// What chains the audit rows every write appends.
    audit_key: Arc<AuditKey>,
    /// Woken when a write that put an event in the outbox commits ([`crate::notify::worker`]).
    outbox: Arc<Notify>,
}

/// A lock held across instances (see [`Store::exclusive`]); released when dropped.
pub struct Exclusive {
    _connection: Option<sqlx::AnyConnection>,
}

/// A pooled connection outside any write transaction (see [`Store::read`]): for reads, and the
/// few single-statement upkeep writes that belong to no audited change and must not wait for
/// the writer (a session's idle clock, a token's last use, an AD person's address at sign-in).
pub struct Read {
    connection: PoolConnection<Any>,
}

/// The repositories on a [`Read`]'s connection or inside a [`Write`]'s transaction.
macro_rules! repositories {
    ($holder:ty, $($connection:tt)+) => {
        impl $holder {
            pub fn requests(&mut self) -> requests::Requests<'_> {
                requests::Requests(&mut *self.$($connection)+)
            }
            pub fn batches(&mut self) -> requests::Batches<'_> {
                requests::Batches(&mut *self.$($connection)+)
            }
            pub fn operations(&mut self) -> operations::Operations<'_> {
                operations::Operations(&mut *self.$($connection)+)
            }
            pub fn people(&mut self) -> people::People<'_> {
                people::People(&mut *self.$($connection)+)
            }
            pub fn outbox(&mut self) -> outbox::Outbox<'_> {
                outbox::Outbox(&mut *self.$($connection)+)
            }
            pub fn audit_log(&mut self) -> audit_log::AuditLog<'_> {
                audit_log::AuditLog(&mut *self.$($connection)+)
            }
            pub fn exceptions(&mut self) -> exceptions::Exceptions<'_> {
                exceptions::Exceptions(&mut *self.$($connection)+)
            }
            pub fn settings(&mut self) -> settings::Settings<'_> {
                settings::Settings(&mut *self.$($connection)+)
            }
        }
    };
}
repositories!(Read, connection);
repositories!(Write, tx);

/// A write transaction, holding the writer gate until it is committed or dropped.
pub struct Write {
    tx: Transaction<'static, Any>,
    pub(crate) audit_key: Arc<AuditKey>,
    outbox: Arc<Notify>,
    /// The write put an event in the outbox: wake the delivery worker once it commits.
    emitted: bool,
    _gate: OwnedMutexGuard<()>,
}

impl Write {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.commit_holding().await.map(drop)
    }

    /// Commits, and keeps the writer gate until the returned guard is dropped: for publishing
    /// what the write changed in the same order as the writes.
    pub async fn commit_holding(self) -> Result<OwnedMutexGuard<()>, StoreError> {
        self.tx.commit().await?;
        if self.emitted {
            self.outbox.notify_one();
        }
        Ok(self._gate)
    }

    /// Marks that this write put an event in the outbox.
    pub(crate) fn wake_outbox(&mut self) {
        self.emitted = true;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored timestamp, id or JSON value that does not read back.
    #[error("a stored value is unreadable: {0}")]
    Unreadable(String),
    /// The audit key file is missing where rows need it, unsafe, or not a key.
    #[error("audit key {0}")]
    AuditKey(String),
}

/// RFC 3339, as every timestamp is stored.
pub fn stamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

pub fn parse_stamp(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| StoreError::Unreadable(format!("{text}: {e}")))
}

/// The timestamp in `column`.
pub fn stamp_in(row: &AnyRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    parse_stamp(&row.try_get::<String, _>(column)?)
}

/// The timestamp in `column`, which may be NULL.
pub fn optional_stamp_in(row: &AnyRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_stamp)
        .transpose()
}

/// The count or number of days in `column`: a negative or huge one is unreadable.
pub fn u32_in(row: &AnyRow, column: &str) -> Result<u32, StoreError> {
    let n: i64 = row.try_get(column)?;
    u32::try_from(n).map_err(|_| StoreError::Unreadable(format!("{column} = {n}")))
}

/// The code in `column` (a state, a kind...) read back by `parse`: a code that does not parse
/// is an error, never a default that would misstate what happened.
pub fn code_in<T>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| StoreError::Unreadable(format!("{column} = {text:?}")))
}

/// Creates the data folder (and any parent missing) readable by its owner only: it holds the
/// database (password hashes, session hashes, termination reasons) and the audit key. A folder
/// that already exists keeps the permissions its operator gave it.
pub fn create_data_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl Store {
    /// Opens (creating if needed) `deprov.sqlite3` in `data_dir` and brings its schema up to
    /// date, with the audit key in the data folder.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_key(data_dir, &data_dir.join(audit::key::KEY_FILE)).await
    }

    /// As [`Store::open`], with the audit key in `key_file`.
    pub async fn open_with_key(data_dir: &Path, key_file: &Path) -> Result<Self, StoreError> {
        Self::connect(&Database::Sqlite(data_dir.to_owned()), key_file).await
    }

    /// Connects to `database`, brings its schema up to date, and loads the audit key from
    /// `key_file` (created if there is none and no audit row needs it). Every instance sharing a
    /// database must have the same key: the first one to start records the key's fingerprint,
    /// and an instance with another key is refused here rather than forking the chain.
    pub async fn connect(database: &Database, key_file: &Path) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (options, dialect) = match database {
            Database::Sqlite(dir) => {
                // The path goes into a URL: percent-encoded, so `?` or `#` in it stay a path.
                // A relative data folder (the default `data`) is taken from the working folder.
                let file = std::path::absolute(dir.join(SQLITE_FILE))
                    .map_err(|e| StoreError::Unreadable(format!("{}: {e}", dir.display())))?;
                let path = url::Url::from_file_path(&file).map_err(|()| {
                    StoreError::Unreadable(format!("{}: not a file path", file.display()))
                })?;
                (
                    format!("sqlite://{}?mode=rwc", path.path()),
                    Dialect::Sqlite,
                )
            }
            Database::Postgres(url) => (url.to_string(), Dialect::Postgres),
        };
        let options = AnyConnectOptions::from_str(&options)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match dialect {
                Dialect::Sqlite => 4,
                Dialect::Postgres => 8,
            })
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            connection
                                .execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                                )
                                .await?;
                        }
                        // An instance that hangs (paused, cut off) inside a write would hold
                        // the writer lock for every instance: the server ends its transaction.
                        Dialect::Postgres => {
                            connection
                                .execute("SET idle_in_transaction_session_timeout = '60s'")
                                .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let mut read = Read {
            connection: pool.acquire().await?,
        };
        let schemes = read.audit_log().schemes().await?;
        let (audit_key, origin) = AuditKey::load_or_create(key_file, schemes)?;
        audit::check_key_fingerprint(read.settings(), &audit_key, key_file).await?;
        drop(read);
        let store = Self {
            pool,
            database: database.clone(),
            dialect,
            writer: Arc::new(Mutex::new(())),
            audit_key: Arc::new(audit_key),
            outbox: Arc::new(Notify::new()),
        };
        if origin == Origin::Created && schemes.unkeyed > 0 {
            audit::record_key_created(&store, schemes.unkeyed).await?;
        }
        Ok(store)
    }

    /// The key the audit chain is verified with.
    pub(crate) fn audit_key(&self) -> &AuditKey {
        &self.audit_key
    }

    /// Notified when an event lands in the outbox.
    pub(crate) fn outbox_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.outbox)
    }

    /// A connection outside any write transaction: each statement sees what was committed when
    /// it runs.
    pub async fn read(&self) -> Result<Read, StoreError> {
        Ok(Read {
            connection: self.pool.acquire().await?,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Holds `lock` across instances until the returned guard is dropped, for work that spans
    /// several writes (a bulk filing: the hour's count, then each request). PostgreSQL: a
    /// session advisory lock on a connection of its own, closed with the guard, which releases
    /// it whatever happens to the task. SQLite (one instance): nothing; the caller's in-process
    /// gate is enough.
    pub async fn exclusive(&self, lock: i64) -> Result<Exclusive, StoreError> {
        match self.dialect {
            Dialect::Sqlite => Ok(Exclusive { _connection: None }),
            Dialect::Postgres => {
                let mut connection = self.pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(lock)
                    .execute(&mut connection)
                    .await?;
                Ok(Exclusive {
                    _connection: Some(connection),
                })
            }
        }
    }

    /// This instance's writer gate, without a transaction: held while publishing what a read
    /// found (a change another instance made), so it cannot overtake a local write's publishing.
    pub async fn gate(&self) -> OwnedMutexGuard<()> {
        Arc::clone(&self.writer).lock_owned().await
    }

    /// Opens the store for a unit test in `data_dir`: SQLite there, or with
    /// `DEPROV_TEST_DATABASE=postgres` a database of its own on the cluster scripts/test.sh
    /// starts (the same one again when reopened on the same folder).
    #[cfg(test)]
    pub(crate) async fn open_for_tests(data_dir: &Path) -> Self {
        if std::env::var("DEPROV_TEST_DATABASE").as_deref() != Ok("postgres") {
            return Self::open(data_dir).await.unwrap();
        }
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let remembered = data_dir.join("test-database-url");
        let password = std::env::var("DEPROV_TEST_POSTGRES_PASSWORD_FILE").ok();
        let password = password.as_deref().map(Path::new);
        let database = match std::fs::read_to_string(&remembered) {
            Ok(url) => Database::from_args(Some(&url), password, data_dir).unwrap(),
            Err(_) => {
                let cluster = std::env::var("DEPROV_TEST_POSTGRES")
                    .expect("DEPROV_TEST_POSTGRES: scripts/test.sh starts PostgreSQL");
                let name = format!(
                    "deprov_unit_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                let database = Database::from_args(Some(&cluster), password, data_dir)
                    .unwrap()
                    .create_sibling(&name)
                    .await
                    .unwrap();
                let Database::Postgres(url) = &database else {
                    unreachable!()
                };
                let mut url = url.clone();
                let _ = url.set_password(None);
                std::fs::write(&remembered, url.as_str()).unwrap();
                database
            }
        };
        Self::connect(&database, &data_dir.join(audit::key::KEY_FILE))
            .await
            .unwrap()
    }

    /// Starts a write transaction; waits for any other writer to finish.
    ///
    /// SQLite: `BEGIN IMMEDIATE` takes the write lock up front (a deferred transaction that
    /// reads, then writes, fails with SQLITE_BUSY when another connection wrote in between).
    /// PostgreSQL: the transaction takes [`WRITER_LOCK`] first, so writes from every instance
    /// take turns and each reads what the one before it committed.
    pub async fn write(&self) -> Result<Write, StoreError> {
        let gate = Arc::clone(&self.writer).lock_owned().await;
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITER_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        Ok(Write {
            tx,
            audit_key: Arc::clone(&self.audit_key),
            outbox: Arc::clone(&self.outbox),
            emitted: false,
            _gate: gate,
        })
    }

    /// Takes or renews `holder`'s lease on periodic job `job` for `lasts`: true if `holder` may
    /// run it now (nobody held it, `holder` did, or the holder's lease lapsed). Instances sharing
    /// the database then run each job once, not once each.
    pub async fn take_job(
        &self,
        job: &str,
        holder: &str,
        lasts: time::Duration,
    ) -> Result<bool, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut write = self.write().await?;
        let taken = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR julianday(job_leases.expires_at) < julianday($4)",
        )
        .bind(job)
        .bind(holder)
        .bind(stamp(now + lasts))
        .bind(stamp(now))
        .execute(&mut *write.tx)
        .await?
        .rows_affected()
            == 1;
        write.commit().await?;
        Ok(taken)
    }

    pub async fn append_history(&self, point: &HistoryPoint) -> Result<(), StoreError> {
        let c = point.counts;
        sqlx::query(
            "INSERT INTO mismatch_history (at, ad_disabled_lync_enabled, certificate_sign_in, stage_two_overdue, \
             sip_renamed_unexplained) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(stamp(point.at))
        .bind(c.ad_disabled_lync_enabled as i64)
        .bind(c.certificate_sign_in as i64)
        .bind(c.stage_two_overdue as i64)
        .bind(c.sip_renamed_unexplained as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` points, oldest first.
    pub async fn recent_history(&self, limit: u32) -> Result<Vec<HistoryPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, ad_disabled_lync_enabled, certificate_sign_in, stage_two_overdue, sip_renamed_unexplained \
             FROM mismatch_history ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut points = rows
            .into_iter()
            .map(|row| {
                let count = |column: &str| row.try_get::<i64, _>(column).map(|n| n as usize);
                Ok(HistoryPoint {
                    at: stamp_in(&row, "at")?,
                    counts: RuleCounts {
                        ad_disabled_lync_enabled: count("ad_disabled_lync_enabled")?,
                        certificate_sign_in: count("certificate_sign_in")?,
                        stage_two_overdue: count("stage_two_overdue")?,
                        sip_renamed_unexplained: count("sip_renamed_unexplained")?,
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        points.reverse();
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_periodic_job_runs_on_one_instance_until_its_lease_lapses() {
        let data = tempfile::tempdir().unwrap();
        let store = super::Store::open_for_tests(data.path()).await;
        let lease = time::Duration::milliseconds(300);
        assert!(store.take_job("expire", "a", lease).await.unwrap());
        assert!(
            !store.take_job("expire", "b", lease).await.unwrap(),
            "A holds it"
        );
        assert!(
            store.take_job("expire", "a", lease).await.unwrap(),
            "A renews"
        );
        assert!(
            store.take_job("verify", "b", lease).await.unwrap(),
            "another job is free"
        );
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert!(
            store.take_job("expire", "b", lease).await.unwrap(),
            "A stopped renewing"
        );
        assert!(
            !store.take_job("expire", "a", lease).await.unwrap(),
            "B holds it now"
        );
    }

    #[test]
    fn a_new_data_folder_is_its_owners_alone() {
        let parent = tempfile::tempdir().unwrap();
        let data = parent.path().join("deprov").join("data");
        super::create_data_dir(&data).unwrap();
        for dir in [data.as_path(), data.parent().unwrap()] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }
}
