//! The portal's own state in SQLite, behind migrations (`server/migrations/`). WAL with
//! `synchronous = FULL`: a committed write survives the process being killed at any moment.

use deprov_wire::report::{HistoryPoint, RuleCounts};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("a stored timestamp is unreadable: {0}")]
    Timestamp(String),
}

impl Store {
    /// Opens (creating if needed) `deprov.sqlite3` in `data_dir` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("deprov.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn append_history(&self, point: &HistoryPoint) -> Result<(), StoreError> {
        let c = point.counts;
        sqlx::query(
            "INSERT INTO mismatch_history (at, ad_disabled_lync_enabled, certificate_sign_in, stage_two_overdue, \
             sip_renamed_unexplained) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(point.at.format(&Rfc3339).map_err(|e| StoreError::Timestamp(e.to_string()))?)
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
             FROM mismatch_history ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut points = rows
            .into_iter()
            .map(|row| {
                let at: String = row.get(0);
                let count = |i: usize| row.get::<i64, _>(i).max(0) as usize;
                Ok(HistoryPoint {
                    at: OffsetDateTime::parse(&at, &Rfc3339).map_err(|e| StoreError::Timestamp(e.to_string()))?,
                    counts: RuleCounts {
                        ad_disabled_lync_enabled: count(1),
                        certificate_sign_in: count(2),
                        stage_two_overdue: count(3),
                        sip_renamed_unexplained: count(4),
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        points.reverse();
        Ok(points)
    }
}
