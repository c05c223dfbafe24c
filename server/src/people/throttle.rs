//! Slows down password guessing without letting anyone lock someone else out.
//!
//! - Failures count per account name *and* address: after 5, that pair waits (a pause doubling
//!   with each failure), so the right password from another address still signs in.
//! - Failures also count per address, across names (a password spray): after 25, that address
//!   waits, except for a name that signed in successfully from it recently (people behind the
//!   same proxy keep working while someone sprays from it).
//! - A success clears only its own pair; the address's count stays.
//! - Refused attempts are reported for the audit log, aggregated: one line per pair or address
//!   every few minutes, with how many were refused.
//!
//! The counts are kept in the database (`sign_in_failures`, `sign_in_known`), so instances sharing
//! one count together: guesses spread over instances are slowed as if on one. The aggregation of
//! refusals for the audit log is per instance. Pauses are measured on the instances' clocks,
//! which should agree (NTP): one running ahead shortens the pauses others set.

use crate::store::people::SignInFailures;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Failures allowed for one name from one address before that pair waits.
const FREE_FAILURES_PER_PAIR: u32 = 5;
/// Failures allowed from one address across names before it waits (a spray).
const FREE_FAILURES_PER_ADDRESS: u32 = 25;
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const LONGEST_PAUSE: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// A successful sign-in exempts its name from its address's spray limit this long.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);
/// Refused attempts are reported at most this often per key.
const REPORT_EVERY: Duration = Duration::from_secs(300);

/// Who is trying, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pair: String,
    address: Option<String>,
}

impl Attempt {
    pub fn new(name: &str, address: Option<IpAddr>) -> Self {
        let name = name.trim().to_lowercase();
        Self {
            pair: match address {
                Some(address) => format!("{name} from {address}"),
                None => name,
            },
            address: address.map(|a| a.to_string()),
        }
    }
}

/// An attempt turned away before any password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// How long until an attempt may be made again.
    pub wait: Duration,
    /// For the audit log, at most every few minutes per key: what has been refused.
    pub report: Option<String>,
}

impl Refused {
    /// Whole seconds to wait, rounded up (never telling someone to come back too early).
    pub fn retry_after_secs(&self) -> u64 {
        self.wait.as_millis().div_ceil(1000).max(1) as u64
    }
}

#[derive(Debug, Default)]
struct Refusals {
    count: u32,
    since: Option<Instant>,
    reported: Option<Instant>,
}

pub struct Throttle {
    store: Store,
    /// Refusals not yet reported, per pair or address (this instance's).
    refused: Mutex<HashMap<String, Refusals>>,
    /// When this instance last deleted forgotten rows (at most once a minute: reads ignore
    /// them anyway).
    purged: Mutex<Option<Instant>>,
}

/// How often forgotten rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);

fn pause(count: u32, free: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1 << (count - free).min(16))
        .min(LONGEST_PAUSE)
}

/// The wait `key` owes now, if it failed `free` times or more (its failures, when last).
fn owed(failures: Option<SignInFailures>, free: u32, now: OffsetDateTime) -> Option<Duration> {
    let SignInFailures { count, last_at } = failures?;
    let since = Duration::try_from(now - last_at).unwrap_or(Duration::ZERO);
    (count >= free).then(|| pause(count, free).checked_sub(since))?
}

impl Throttle {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            refused: Mutex::default(),
            purged: Mutex::default(),
        }
    }

    /// Starts an attempt: refused if its pair or its address must wait; otherwise it counts as a
    /// failure at once (in the same transaction, which writes take in turn on every instance), so
    /// parallel guesses cannot all slip past the check. [`succeeded`](Self::succeeded) takes that
    /// back.
    pub async fn attempt(&self, attempt: &Attempt) -> Result<Result<(), Refused>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        // Forgotten rows count for nothing (the reads below skip them); deleting them now and
        // then keeps the tables small.
        if self.purge_due() {
            write
                .people()
                .purge_sign_ins(now - MEMORY, now - KNOWN_FOR)
                .await?;
        }
        // Failures are remembered for [`MEMORY`] after the last; a success exempts its pair from
        // the address's limit for [`KNOWN_FOR`].
        let pair_failures = write
            .people()
            .sign_in_failures(&attempt.pair, now - MEMORY)
            .await?;
        let pair_wait =
            owed(pair_failures, FREE_FAILURES_PER_PAIR, now).map(|w| (w, attempt.pair.clone()));
        let address_wait = match &attempt.address {
            Some(address)
                if !write
                    .people()
                    .sign_in_known(&attempt.pair, now - KNOWN_FOR)
                    .await? =>
            {
                let failures = write
                    .people()
                    .sign_in_failures(address, now - MEMORY)
                    .await?;
                owed(failures, FREE_FAILURES_PER_ADDRESS, now)
                    .map(|w| (w, format!("anyone from {address}")))
            }
            _ => None,
        };
        if let Some((wait, key)) = pair_wait
            .into_iter()
            .chain(address_wait)
            .max_by_key(|(w, _)| *w)
        {
            write.commit().await?;
            return Ok(Err(Refused {
                wait,
                report: self.refusal(key),
            }));
        }
        for key in std::iter::once(&attempt.pair).chain(attempt.address.as_ref()) {
            write
                .people()
                .count_sign_in_failure(key, now, now - MEMORY)
                .await?;
        }
        write.commit().await?;
        Ok(Ok(()))
    }

    /// Whether forgotten rows are to be deleted now (and then not for another minute).
    fn purge_due(&self) -> bool {
        let mut purged = self.purged.lock().unwrap_or_else(|p| p.into_inner());
        let due = purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY);
        if due {
            *purged = Some(Instant::now());
        }
        due
    }

    /// Counts a refusal of `key`; what to report for the audit log, when it is time to.
    fn refusal(&self, key: String) -> Option<String> {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let refusals = refused.entry(key.clone()).or_default();
        refusals.count += 1;
        refusals.since.get_or_insert_with(Instant::now);
        let due = refusals
            .reported
            .is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        due.then(|| {
            let report = format!(
                "{} sign-in attempt(s) for {key} refused in the last {} s: too many wrong passwords",
                refusals.count,
                refusals.since.map_or(0, |s| s.elapsed().as_secs())
            );
            *refusals = Refusals {
                reported: Some(Instant::now()),
                ..Refusals::default()
            };
            report
        })
    }

    /// The attempt signed in: its pair's failures go, its address's count loses only this
    /// attempt (others' failures from that address stay counted), and the name is known there.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut write = self.store.write().await?;
        write.people().clear_sign_in_failures(&attempt.pair).await?;
        if let Some(address) = &attempt.address {
            write.people().take_back_sign_in_failure(address).await?;
        }
        write.people().remember_sign_in(&attempt.pair, now).await?;
        write.commit().await?;
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&attempt.pair);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(name: &str, address: [u8; 4]) -> Attempt {
        Attempt::new(name, Some(IpAddr::from(address)))
    }

    async fn throttle() -> (Throttle, tempfile::TempDir) {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open_for_tests(data.path()).await;
        (Throttle::new(store), data)
    }

    #[tokio::test]
    async fn five_failures_for_a_name_from_one_address_do_not_lock_it_out_elsewhere() {
        let (throttle, _data) = throttle().await;
        for _ in 0..5 {
            assert!(
                throttle
                    .attempt(&from("jdoe", [10, 0, 0, 66]))
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let refused = throttle
            .attempt(&from("jdoe", [10, 0, 0, 66]))
            .await
            .unwrap()
            .unwrap_err();
        assert!(refused.wait > Duration::from_secs(1) && refused.wait <= FIRST_PAUSE);
        assert!(
            refused
                .report
                .as_deref()
                .unwrap()
                .contains("jdoe from 10.0.0.66")
        );
        assert!(
            throttle
                .attempt(&from("jdoe", [10, 0, 0, 7]))
                .await
                .unwrap()
                .is_ok(),
            "the right person at another address is not locked out"
        );
        let again = throttle
            .attempt(&from("jdoe", [10, 0, 0, 66]))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            again.report, None,
            "refusals are reported in aggregate, not one by one"
        );
    }

    #[tokio::test]
    async fn a_spray_from_one_address_waits_but_people_known_there_do_not() {
        let (throttle, _data) = throttle().await;
        let proxy = [192, 168, 1, 1];
        assert!(
            throttle
                .attempt(&from("alice", proxy))
                .await
                .unwrap()
                .is_ok()
        );
        throttle.succeeded(&from("alice", proxy)).await.unwrap();
        for n in 0..25 {
            assert!(
                throttle
                    .attempt(&from(&format!("user{n}"), proxy))
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let sprayed = throttle
            .attempt(&from("user99", proxy))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            sprayed
                .report
                .as_deref()
                .unwrap()
                .contains("anyone from 192.168.1.1")
        );
        assert!(
            throttle
                .attempt(&from("alice", proxy))
                .await
                .unwrap()
                .is_ok(),
            "someone who signed in from there before is not blocked by the spray"
        );
    }

    #[tokio::test]
    async fn a_success_clears_only_its_own_pair() {
        let (throttle, _data) = throttle().await;
        let address = [10, 1, 1, 1];
        for n in 0..24 {
            assert!(
                throttle
                    .attempt(&from(&format!("victim{n}"), address))
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        assert!(
            throttle
                .attempt(&from("mallory", address))
                .await
                .unwrap()
                .is_ok()
        );
        throttle.succeeded(&from("mallory", address)).await.unwrap();
        // 24 failures from the address stay; two more and the spray is stopped.
        assert!(
            throttle
                .attempt(&from("victim98", address))
                .await
                .unwrap()
                .is_ok()
        );
        assert!(
            throttle
                .attempt(&from("victim99", address))
                .await
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn the_wait_is_rounded_up() {
        let refused = Refused {
            wait: Duration::from_millis(1_001),
            report: None,
        };
        assert_eq!(refused.retry_after_secs(), 2);
        let refused = Refused {
            wait: Duration::from_millis(10),
            report: None,
        };
        assert_eq!(refused.retry_after_secs(), 1);
    }
}
