//! What changed in a shared database, for the live streams of every instance. On PostgreSQL,
//! triggers (`migrations/postgres/0002_change_feed.sql`) send each committed change with NOTIFY;
//! every instance LISTENs here and refreshes what its browsers follow, so a change made on one
//! instance shows on the others within a second. (A single SQLite instance needs none of this:
//! its own writes publish what they change as they commit.)

use super::{Database, Store};
use sqlx::postgres::PgListener;
use std::time::Duration;

/// The NOTIFY channel the triggers send on.
const CHANNEL: &str = "deprov_changes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A request, its decisions or its execution.
    Request(i64),
    /// The accepted exceptions.
    Exceptions,
    /// Anything at all: the feed was (re)connected, and changes made meanwhile went unheard.
    Anything,
}

impl Change {
    fn parse(payload: &str) -> Option<Self> {
        match payload.split_once(':') {
            Some(("request", id)) => id.parse().ok().map(Self::Request),
            None if payload == "exceptions" => Some(Self::Exceptions),
            _ => None,
        }
    }
}

/// Follows the change feed of `store`'s database for as long as the process runs, handing each
/// change to `changed`; reconnects when the connection is lost. Returns at once on SQLite.
pub async fn follow(store: Store, changed: impl Fn(Change) + Send + 'static) {
    let Database::Postgres(url) = store.database() else {
        return;
    };
    loop {
        if let Err(e) = listen(url.as_str(), &changed).await {
            tracing::warn!(error = %e, "the change feed stopped; reconnecting in a second");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(url: &str, changed: &impl Fn(Change)) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Whatever changed before this connection listened.
    changed(Change::Anything);
    // `None`: the connection was lost (the next call would reconnect, but notifications sent
    // meanwhile are gone): start over, which reports `Anything` again.
    while let Some(notification) = listener.try_recv().await? {
        match Change::parse(notification.payload()) {
            Some(change) => changed(change),
            None => tracing::warn!(
                payload = notification.payload(),
                "an unknown change notification"
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn notifications_read_back_as_changes() {
        assert_eq!(Change::parse("request:42"), Some(Change::Request(42)));
        assert_eq!(Change::parse("exceptions"), Some(Change::Exceptions));
        assert_eq!(Change::parse("request:x"), None);
        assert_eq!(Change::parse("users:1"), None);
    }
}
