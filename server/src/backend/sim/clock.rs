//! The simulator's clock: real time in the demo, frozen in tests, and advanceable in both so the
//! minutes-long effects of the Lync cmdlets (5-minute grace, 3-minute revocation) can be shown.

use std::sync::Mutex;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

#[derive(Debug)]
pub struct SimClock {
    /// The moment the clock started from.
    start: OffsetDateTime,
    /// `Some` when the clock follows real time from this instant; `None` when frozen.
    running_since: Option<Instant>,
    advanced: Mutex<Duration>,
}

impl SimClock {
    /// A clock that runs on real time from `start`.
    pub fn running(start: OffsetDateTime) -> Self {
        Self {
            start,
            running_since: Some(Instant::now()),
            advanced: Mutex::new(Duration::ZERO),
        }
    }

    /// A clock that only moves when advanced: what tests want.
    pub fn frozen(start: OffsetDateTime) -> Self {
        Self {
            start,
            running_since: None,
            advanced: Mutex::new(Duration::ZERO),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        let real = self.running_since.map_or(Duration::ZERO, |since| {
            Duration::try_from(since.elapsed()).unwrap_or(Duration::MAX)
        });
        self.start
            + real
            + *self
                .advanced
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn advance(&self, by: Duration) {
        *self
            .advanced
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = SimClock::frozen(datetime!(2026-11-23 10:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-11-23 10:00 UTC));
        clock.advance(Duration::minutes(5));
        assert_eq!(clock.now(), datetime!(2026-11-23 10:05 UTC));
    }

    #[test]
    fn running_clock_follows_real_time_plus_advances() {
        let clock = SimClock::running(datetime!(2026-11-23 10:00 UTC));
        clock.advance(Duration::hours(1));
        let now = clock.now();
        assert!(now >= datetime!(2026-11-23 11:00 UTC) && now < datetime!(2026-11-23 11:01 UTC));
    }
}
