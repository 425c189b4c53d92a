//! The coarse clock that stamps queued frames for the staleness rule (`specs/transport.md`
//! T-4.2).
//!
//! Reading the monotonic clock for every queued frame cost about a tenth of a small send, and
//! a 30-second rule does not need that precision. A ticker task ([`Self::tick`], every
//! [`QUEUE_CLOCK_TICK`]) stores the time; a push reads the stored value with one relaxed
//! load. A stamp is therefore at most one tick (plus the ticker's scheduling delay) earlier
//! than the push, never later, and [`is_stale`] allows for that tick: a frame is not dropped
//! before it has waited `stale_after` (unless the ticker itself ran late by more than a tick),
//! and is dropped at most about one tick after.
//!
//! The clock reads `tokio::time::Instant`, so simulations on virtual time stay deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::limits::QUEUE_CLOCK_TICK;

/// A time in milliseconds since the clock's base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(pub(crate) u64);

/// The time at the last tick.
#[derive(Debug)]
pub(crate) struct CoarseClock {
    base: Instant,
    millis: AtomicU64,
}

impl CoarseClock {
    pub(crate) fn new(base: Instant) -> Self {
        Self {
            base,
            millis: AtomicU64::new(0),
        }
    }

    /// The time of the last tick. Never decreases, so stamps read under one queue's lock are
    /// in push order.
    pub(crate) fn now(&self) -> Stamp {
        Stamp(self.millis.load(Ordering::Relaxed))
    }

    /// `t` as a precise stamp (for the dequeue side of [`is_stale`]).
    pub(crate) fn stamp(&self, t: Instant) -> Stamp {
        let ms = t.saturating_duration_since(self.base).as_millis();
        Stamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// Advances the clock to `now` (never backwards).
    pub(crate) fn tick(&self, now: Instant) {
        self.millis.fetch_max(self.stamp(now).0, Ordering::Relaxed);
    }
}

/// Whether a frame stamped `queued` by [`CoarseClock::now`] has waited longer than
/// `stale_after` at the precise time `now`, allowing for the stamp being up to one tick early.
pub(crate) fn is_stale(queued: Stamp, now: Stamp, stale_after: Duration) -> bool {
    let allowed = stale_after.saturating_add(QUEUE_CLOCK_TICK).as_millis();
    u128::from(now.0.saturating_sub(queued.0)) > allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_follow_ticks_and_staleness_allows_one_tick() {
        let t0 = Instant::now();
        let clock = CoarseClock::new(t0);
        assert_eq!(clock.now(), Stamp(0));
        clock.tick(t0 + Duration::from_millis(250));
        assert_eq!(clock.now(), Stamp(250));
        clock.tick(t0 + Duration::from_millis(100));
        assert_eq!(clock.now(), Stamp(250), "never backwards");
        let tick = QUEUE_CLOCK_TICK.as_millis() as u64;
        let after = Duration::from_secs(30);
        assert!(!is_stale(Stamp(0), Stamp(30_000 + tick), after));
        assert!(is_stale(Stamp(0), Stamp(30_001 + tick), after));
        assert!(
            !is_stale(Stamp(10), Stamp(0), after),
            "a clock behind a stamp"
        );
    }
}
