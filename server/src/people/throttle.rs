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
//! In memory, per process (several instances will share it through PostgreSQL later).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[derive(Default)]
struct State {
    failures: HashMap<String, (u32, Instant)>,
    known: HashMap<String, Instant>,
    refused: HashMap<String, Refusals>,
}

#[derive(Default)]
pub struct Throttle {
    state: Mutex<State>,
}

fn pause(count: u32, free: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1 << (count - free).min(16))
        .min(LONGEST_PAUSE)
}

impl Throttle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts an attempt: refused if its pair or its address must wait; otherwise it counts as a
    /// failure at once (under the same lock), so parallel guesses cannot all slip past the check.
    /// [`succeeded`](Self::succeeded) takes that back.
    pub fn attempt(&self, attempt: &Attempt) -> Result<(), Refused> {
        let mut state = self.state();
        state
            .failures
            .retain(|_, (_, last)| last.elapsed() < MEMORY);
        state.known.retain(|_, at| at.elapsed() < KNOWN_FOR);
        let waiting = |key: &str, free: u32, state: &State| {
            let (count, last) = state.failures.get(key)?;
            (*count >= free).then(|| pause(*count, free).checked_sub(last.elapsed()))?
        };
        let pair_wait = waiting(&attempt.pair, FREE_FAILURES_PER_PAIR, &state)
            .map(|w| (w, attempt.pair.clone()));
        let address_wait = attempt
            .address
            .as_ref()
            .filter(|_| !state.known.contains_key(&attempt.pair))
            .and_then(|address| {
                waiting(address, FREE_FAILURES_PER_ADDRESS, &state)
                    .map(|w| (w, format!("anyone from {address}")))
            });
        if let Some((wait, key)) = pair_wait
            .into_iter()
            .chain(address_wait)
            .max_by_key(|(w, _)| *w)
        {
            let refusals = state.refused.entry(key.clone()).or_default();
            refusals.count += 1;
            refusals.since.get_or_insert_with(Instant::now);
            let due = refusals
                .reported
                .is_none_or(|at| at.elapsed() >= REPORT_EVERY);
            let report = due.then(|| {
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
            });
            return Err(Refused { wait, report });
        }
        for key in std::iter::once(&attempt.pair).chain(attempt.address.as_ref()) {
            let entry = state
                .failures
                .entry(key.clone())
                .or_insert((0, Instant::now()));
            *entry = (entry.0 + 1, Instant::now());
        }
        Ok(())
    }

    /// The attempt signed in: its pair's failures go, its address's count loses only this
    /// attempt (others' failures from that address stay counted), and the name is known there.
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut state = self.state();
        state.failures.remove(&attempt.pair);
        if let Some(address) = &attempt.address
            && let Some((count, _)) = state.failures.get_mut(address)
        {
            *count = count.saturating_sub(1);
        }
        state.known.insert(attempt.pair.clone(), Instant::now());
        state.refused.remove(&attempt.pair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(name: &str, address: [u8; 4]) -> Attempt {
        Attempt::new(name, Some(IpAddr::from(address)))
    }

    #[test]
    fn five_failures_for_a_name_from_one_address_do_not_lock_it_out_elsewhere() {
        let throttle = Throttle::default();
        for _ in 0..5 {
            assert!(throttle.attempt(&from("jdoe", [10, 0, 0, 66])).is_ok());
        }
        let refused = throttle.attempt(&from("jdoe", [10, 0, 0, 66])).unwrap_err();
        assert!(refused.wait > Duration::from_secs(1) && refused.wait <= FIRST_PAUSE);
        assert!(
            refused
                .report
                .as_deref()
                .unwrap()
                .contains("jdoe from 10.0.0.66")
        );
        assert!(
            throttle.attempt(&from("jdoe", [10, 0, 0, 7])).is_ok(),
            "the right person at another address is not locked out"
        );
        let again = throttle.attempt(&from("jdoe", [10, 0, 0, 66])).unwrap_err();
        assert_eq!(
            again.report, None,
            "refusals are reported in aggregate, not one by one"
        );
    }

    #[test]
    fn a_spray_from_one_address_waits_but_people_known_there_do_not() {
        let throttle = Throttle::default();
        let proxy = [192, 168, 1, 1];
        assert!(throttle.attempt(&from("alice", proxy)).is_ok());
        throttle.succeeded(&from("alice", proxy));
        for n in 0..25 {
            assert!(throttle.attempt(&from(&format!("user{n}"), proxy)).is_ok());
        }
        let sprayed = throttle.attempt(&from("user99", proxy)).unwrap_err();
        assert!(
            sprayed
                .report
                .as_deref()
                .unwrap()
                .contains("anyone from 192.168.1.1")
        );
        assert!(
            throttle.attempt(&from("alice", proxy)).is_ok(),
            "someone who signed in from there before is not blocked by the spray"
        );
    }

    #[test]
    fn a_success_clears_only_its_own_pair() {
        let throttle = Throttle::default();
        let address = [10, 1, 1, 1];
        for n in 0..24 {
            assert!(
                throttle
                    .attempt(&from(&format!("victim{n}"), address))
                    .is_ok()
            );
        }
        assert!(throttle.attempt(&from("mallory", address)).is_ok());
        throttle.succeeded(&from("mallory", address));
        // 24 failures from the address stay; two more and the spray is stopped.
        assert!(throttle.attempt(&from("victim98", address)).is_ok());
        assert!(throttle.attempt(&from("victim99", address)).is_err());
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
