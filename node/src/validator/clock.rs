//! The validator's clock: the only place the shell reads the time. The consensus core is
//! handed `now` by the shell; the shell asks a [`Clock`], so a simulation substitutes virtual
//! time (tokio's clock, which turmoil advances) for the wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as the validator sees them. Timers the core asks for are
/// deadlines on this clock; the event loop sleeps on tokio's clock for `deadline − now_ms()`,
/// so the two must advance at the same rate (a constant offset, the skew, is fine).
pub trait Clock: Send + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The operating system's wall clock: production.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// tokio's clock, which is virtual when time is paused (turmoil hosts, `start_paused` tests):
/// `start_ms` at creation, advancing with `tokio::time::Instant`. A simulation gives each host
/// its own `start_ms` (the simulated epoch plus elapsed time plus a per-host skew), and may
/// make it drift: run fast or slow by some parts per million, as a real oscillator does. A
/// drifting clock's timers still work: the loop sleeps on tokio's clock and checks this one
/// again when it wakes.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    base: tokio::time::Instant,
    start_ms: u64,
    drift_ppm: i64,
}

impl TokioClock {
    /// A clock that reads `start_ms` now. Must be created inside a tokio runtime with time.
    pub fn new(start_ms: u64) -> Self {
        Self::drifting(start_ms, 0)
    }

    /// A clock that reads `start_ms` now and gains `drift_ppm` microseconds per second of
    /// tokio time (loses them if negative; clamped to ±50 %).
    pub fn drifting(start_ms: u64, drift_ppm: i64) -> Self {
        Self {
            base: tokio::time::Instant::now(),
            start_ms,
            drift_ppm: drift_ppm.clamp(-500_000, 500_000),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        let elapsed = self.base.elapsed().as_micros() as i128;
        let drifted = elapsed + elapsed * i128::from(self.drift_ppm) / 1_000_000;
        self.start_ms
            .saturating_add(u64::try_from(drifted / 1_000).unwrap_or(0))
    }
}
