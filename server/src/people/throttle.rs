//! Slows down password guessing: after a few failures for the same account name or from the same
//! address, further attempts are refused for a while that doubles with each failure.
//! In memory, per process (several instances will share it through PostgreSQL later).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed for one account name before attempts are refused for a while.
const FREE_FAILURES: u32 = 5;
/// Failures allowed from one address (`ip:` keys): higher, since many people may share a proxy.
const FREE_FAILURES_PER_ADDRESS: u32 = 25;

fn free_failures(key: &str) -> u32 {
    if key.starts_with("ip:") {
        FREE_FAILURES_PER_ADDRESS
    } else {
        FREE_FAILURES
    }
}
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const LONGEST_PAUSE: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Starts an attempt: `Err(wait)` if any of `keys` must wait; otherwise the attempt counts as a
    /// failure at once (under the same lock), so parallel guesses cannot all slip past the check.
    /// [`succeeded`](Self::succeeded) clears it.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Duration> {
        self.check(keys)?;
        self.failed(keys);
        Ok(())
    }

    /// `Err(wait)` if any of `keys` must wait before trying again.
    fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|key| Some((free_failures(key), failures.get(key)?)))
            .filter(|(free, (count, _))| count >= free)
            .filter_map(|(free, (count, last))| {
                let pause = FIRST_PAUSE
                    .saturating_mul(1 << (count - free).min(16))
                    .min(LONGEST_PAUSE);
                pause.checked_sub(last.elapsed())
            })
            .max();
        wait.map_or(Ok(()), Err)
    }

    fn failed(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, (_, last)| last.elapsed() < MEMORY);
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((0, Instant::now()));
            *entry = (entry.0 + 1, Instant::now());
        }
    }

    pub fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            failures.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_attempts_wait() {
        let throttle = Throttle::default();
        let keys = vec!["name:jdoe".to_owned(), "ip:127.0.0.1".to_owned()];
        for _ in 0..5 {
            assert!(throttle.attempt(&keys).is_ok());
        }
        let wait = throttle.attempt(&keys).unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= FIRST_PAUSE);
        assert!(
            throttle
                .attempt(&["name:other".to_owned(), "ip:127.0.0.1".to_owned()])
                .is_ok(),
            "other accounts are not slowed"
        );
        throttle.succeeded(&keys);
        assert!(throttle.attempt(&keys).is_ok());
    }
}
