//! The per-peer inbox budget (`specs/transport.md` T-5.2): frames and KiB a peer may have
//! waiting for the application. Lock-free on the fast path (one compare-and-swap to take,
//! one subtraction to give back, and a wake-up only when a reader waits), since it is
//! touched twice per received frame, from two threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::sync::Notify;

/// Frames in the high 32 bits, KiB in the low 32 bits of one word, so that both are taken
/// and given back with one atomic operation.
const fn pack(frames: u32, kib: u32) -> u64 {
    ((frames as u64) << 32) | kib as u64
}

const fn unpack(used: u64) -> (u32, u32) {
    ((used >> 32) as u32, used as u32)
}

/// What one peer may have in the inbox.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicU64,
    /// Readers inside [`Budget::take`], so that giving back wakes someone only if needed.
    waiting: AtomicU32,
    max_frames: u32,
    max_kib: u32,
    freed: Notify,
}

/// A share of a [`Budget`] held on its own (by a request), given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    budget: Arc<Budget>,
    kib: u32,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.give(1, self.kib);
    }
}

/// Counts a reader as waiting in [`Budget::take`] while it lives (also when the wait is
/// cancelled).
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Budget {
    pub(crate) fn new(max_frames: u32, max_kib: u32) -> Self {
        Self {
            used: AtomicU64::new(0),
            waiting: AtomicU32::new(0),
            max_frames,
            max_kib,
            freed: Notify::new(),
        }
    }

    /// The budget: most frames and most KiB.
    pub(crate) fn max(&self) -> (u32, u32) {
        (self.max_frames, self.max_kib)
    }

    /// `frames` frames of `kib` KiB in total, if they fit now; the caller gives them back
    /// with [`Budget::give`].
    pub(crate) fn try_take_raw(&self, frames: u32, kib: u32) -> bool {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let (used_frames, used_kib) = unpack(used);
            if used_frames.saturating_add(frames) > self.max_frames
                || used_kib.saturating_add(kib) > self.max_kib
            {
                return false;
            }
            // Cannot overflow: both halves stay within their maxima.
            let next = pack(used_frames + frames, used_kib + kib);
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => used = actual,
            }
        }
    }

    /// `frames` frames of `kib` KiB in total, waiting for the application to make room (they
    /// must fit in an empty budget, [`Budget::max`]); the caller gives them back with
    /// [`Budget::give`].
    pub(crate) async fn take_raw(&self, frames: u32, kib: u32) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Counted before the check, so a `give` that the check misses sees the count.
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _waiting = Waiting(&self.waiting);
            freed.as_mut().enable();
            if self.try_take_raw(frames, kib) {
                return;
            }
            freed.await;
        }
    }

    /// Gives back `frames` frames of `kib` KiB in total.
    pub(crate) fn give(&self, frames: u32, kib: u32) {
        if frames == 0 && kib == 0 {
            return;
        }
        self.used.fetch_sub(pack(frames, kib), Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_one();
        }
    }

    /// One frame of `kib` KiB, if it fits now, as a share of its own.
    pub(crate) fn try_take(self: &Arc<Self>, kib: u32) -> Option<Share> {
        self.try_take_raw(1, kib).then(|| Share {
            budget: self.clone(),
            kib,
        })
    }

    /// One frame of `kib` KiB, waiting for the application to make room, as a share of
    /// its own.
    pub(crate) async fn take(self: &Arc<Self>, kib: u32) -> Share {
        self.take_raw(1, kib).await;
        Share {
            budget: self.clone(),
            kib,
        }
    }

    /// Frames and KiB in use.
    pub(crate) fn used(&self) -> (u32, u32) {
        unpack(self.used.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn shares_are_bounded_and_given_back() {
        let b = Arc::new(Budget::new(2, 10));
        let s1 = b.try_take(4).unwrap();
        assert!(b.try_take(7).is_none(), "KiB over budget");
        let s2 = b.try_take(6).unwrap();
        assert!(b.try_take(0).is_none(), "frames over budget");
        assert_eq!(b.used(), (2, 10));
        drop(s1);
        drop(s2);
        assert_eq!(b.used(), (0, 0));
    }

    #[tokio::test]
    async fn take_waits_for_room() {
        let b = Arc::new(Budget::new(1, 10));
        let s = b.try_take(1).unwrap();
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.take(1).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(s);
        let _s = waiter.await.unwrap();
        assert_eq!(b.used(), (1, 1));
    }

    #[test]
    fn runs_are_taken_whole_or_not_at_all() {
        let b = Budget::new(4, 10);
        assert!(b.try_take_raw(3, 6));
        assert!(!b.try_take_raw(2, 1), "frames over budget");
        assert!(!b.try_take_raw(1, 5), "KiB over budget");
        assert!(b.try_take_raw(1, 4));
        assert_eq!(b.used(), (4, 10));
    }

    #[tokio::test]
    async fn a_batched_give_wakes_a_raw_take() {
        let b = Arc::new(Budget::new(2, 10));
        assert!(b.try_take_raw(1, 5) && b.try_take_raw(1, 5));
        assert!(!b.try_take_raw(1, 0), "frames over budget");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.take_raw(1, 3).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.give(2, 10);
        waiter.await.unwrap();
        assert_eq!(b.used(), (1, 3));
        assert_eq!(b.waiting.load(Ordering::SeqCst), 0);
    }
}
