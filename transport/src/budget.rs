//! The per-peer inbox budget (`specs/transport.md` T-5.2): frames and KiB a peer may have
//! waiting for the application. Lock-free on the fast path (two atomic adds to take, two
//! subtractions and a wake-up to give back), since it is touched twice per received frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Notify;

/// What one peer may have in the inbox.
#[derive(Debug)]
pub(crate) struct Budget {
    frames: AtomicU32,
    kib: AtomicU32,
    max_frames: u32,
    max_kib: u32,
    freed: Notify,
}

/// A share of a [`Budget`], given back when dropped (when the application takes the frame).
#[derive(Debug)]
pub(crate) struct Share {
    budget: Arc<Budget>,
    kib: u32,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.frames.fetch_sub(1, Ordering::AcqRel);
        self.budget.kib.fetch_sub(self.kib, Ordering::AcqRel);
        self.budget.freed.notify_one();
    }
}

impl Budget {
    pub(crate) fn new(max_frames: u32, max_kib: u32) -> Self {
        Self {
            frames: AtomicU32::new(0),
            kib: AtomicU32::new(0),
            max_frames,
            max_kib,
            freed: Notify::new(),
        }
    }

    /// One frame of `kib` KiB, if it fits now.
    pub(crate) fn try_take(self: &Arc<Self>, kib: u32) -> Option<Share> {
        let frames = self.frames.fetch_add(1, Ordering::AcqRel);
        if frames >= self.max_frames {
            self.frames.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let used = self.kib.fetch_add(kib, Ordering::AcqRel);
        if used.saturating_add(kib) > self.max_kib {
            self.kib.fetch_sub(kib, Ordering::AcqRel);
            self.frames.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Share {
            budget: self.clone(),
            kib,
        })
    }

    /// One frame of `kib` KiB, waiting for the application to make room.
    pub(crate) async fn take(self: &Arc<Self>, kib: u32) -> Share {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(share) = self.try_take(kib) {
                return share;
            }
            freed.await;
        }
    }

    /// Frames and KiB in use.
    pub(crate) fn used(&self) -> (u32, u32) {
        (
            self.frames.load(Ordering::Acquire),
            self.kib.load(Ordering::Acquire),
        )
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
}
