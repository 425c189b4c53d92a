//! Per-peer receive rate limits (`specs/transport.md` T-5.3): token buckets on bytes and on
//! frames. A peer over its rate is not dropped or blocked; its streams are simply not read
//! until the buckets refill, so QUIC flow control pushes the backlog back onto the sender.

use std::time::Duration;

use tokio::time::Instant;

/// One token bucket. Tokens may go negative: a reservation larger than the balance is
/// granted at once and paid for by waiting, so a frame larger than the burst is delayed, not
/// refused.
#[derive(Debug)]
struct Bucket {
    per_sec: u64,
    burst: u64,
    /// Balance in tokens × 10⁹ (token-nanoseconds), integer so it is exact and reproducible.
    balance: i128,
    last: Instant,
}

const NANOS: i128 = 1_000_000_000;

impl Bucket {
    fn new(per_sec: u64, burst: u64, now: Instant) -> Self {
        Self {
            per_sec,
            burst,
            balance: i128::from(burst) * NANOS,
            last: now,
        }
    }

    /// Takes `n` tokens; returns how long the caller must wait before acting.
    fn reserve(&mut self, n: u64, now: Instant) -> Duration {
        if self.per_sec == 0 {
            return Duration::ZERO; // unlimited
        }
        let elapsed = now.saturating_duration_since(self.last).as_nanos() as i128;
        self.last = now;
        let cap = i128::from(self.burst) * NANOS;
        self.balance = (self.balance + elapsed * i128::from(self.per_sec)).min(cap);
        self.balance -= i128::from(n) * NANOS;
        if self.balance >= 0 {
            Duration::ZERO
        } else {
            let nanos = (-self.balance) / i128::from(self.per_sec);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }
}

/// The bytes and frames buckets of one peer.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bytes: Bucket,
    frames: Bucket,
}

impl RateLimiter {
    /// A limiter; a rate of zero means unlimited.
    pub(crate) fn new(
        bytes_per_sec: u64,
        burst_bytes: u64,
        frames_per_sec: u64,
        burst_frames: u64,
        now: Instant,
    ) -> Self {
        Self {
            bytes: Bucket::new(bytes_per_sec, burst_bytes, now),
            frames: Bucket::new(frames_per_sec, burst_frames, now),
        }
    }

    /// Accounts for `frames` frames of `bytes` bytes in total; returns how long to wait
    /// before reading them.
    pub(crate) fn reserve(&mut self, bytes: usize, frames: u32, now: Instant) -> Duration {
        let a = self.bytes.reserve(bytes as u64, now);
        let b = self.frames.reserve(u64::from(frames), now);
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1000, 2000, 10, 2, t0);
        assert_eq!(r.reserve(1000, 1, t0), Duration::ZERO);
        assert_eq!(r.reserve(1000, 1, t0), Duration::ZERO);
        // Bytes exhausted and frames exhausted: 500 bytes at 1000/s is 0.5 s; one frame at
        // 10/s is 0.1 s.
        assert_eq!(r.reserve(500, 1, t0), Duration::from_millis(500));
        // After a second the byte bucket has refilled 1000 tokens (balance +500).
        assert_eq!(
            r.reserve(500, 1, t0 + Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(0, 0, 0, 0, t0);
        for _ in 0..1000 {
            assert_eq!(r.reserve(1 << 20, 1, t0), Duration::ZERO);
        }
    }
}
