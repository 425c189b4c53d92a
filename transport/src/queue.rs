//! Bounded per-peer send queues, one per class (`specs/transport.md` §4).
//!
//! A queue holds frames for a peer until that peer's connection's writer for the class takes
//! them. Queues belong to the peer, not to a connection, so frames sent while the peer is
//! disconnected go out once it reconnects (T-4.4).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::class::Class;
use crate::clock::{CoarseClock, Stamp, is_stale};

/// What a full queue does with a new frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Make room by dropping the oldest queued frames (T-4.2): for consensus, where a newer
    /// message supersedes an older one and a stale one is useless.
    DropOldest,
    /// Refuse the new frame (`send` returns [`crate::TransportError::QueueFull`]; T-4.3): for
    /// sync and lanes, whose producers retry or wait ([`crate::Network::send_wait`]).
    Refuse,
}

/// Bounds and policy of one class's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most frames queued.
    pub frames: usize,
    /// Most bytes queued.
    pub bytes: usize,
    /// What to do when a new frame does not fit.
    pub policy: QueuePolicy,
    /// Frames queued longer than this are dropped unsent (`None`: never).
    pub stale_after: Option<Duration>,
}

/// The outcome of a push.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; this many older frames were dropped to make room.
    Queued { dropped: usize },
    /// Refused: the queue is full. The frame is handed back, so a caller that waits for
    /// room needs no copy of it.
    Full(Bytes),
}

/// Queued frames with the (coarse) time each was queued.
pub(crate) type Batch = VecDeque<(Stamp, Bytes)>;

#[derive(Debug, Default)]
struct ClassQueue {
    frames: Batch,
    bytes: usize,
}

/// The three queues of one peer, with wake-ups for its writers and for waiting senders.
#[derive(Debug)]
pub(crate) struct SendQueues {
    limits: [QueueLimits; 3],
    queues: Mutex<[ClassQueue; 3]>,
    ready: [Notify; 3],
    space: [Notify; 3],
    /// Senders registered on `space`, per class, so that taking frames costs no wake-up
    /// (and no lock inside `Notify`) when nobody waits for room.
    space_waiters: [AtomicUsize; 3],
}

/// Counts a sender as waiting for room in one class while it lives.
pub(crate) struct SpaceWaiter<'a>(&'a AtomicUsize);

impl Drop for SpaceWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SendQueues {
    pub(crate) fn new(limits: [QueueLimits; 3]) -> Self {
        Self {
            limits,
            queues: Mutex::new(Default::default()),
            ready: Default::default(),
            space: Default::default(),
            space_waiters: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [ClassQueue; 3]> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `frame` under the class's policy (T-4.2, T-4.3), or under `Refuse` when
    /// `refuse` is set whatever the policy, stamped with `clock`'s time.
    ///
    /// The class's writer is woken only when the queue was empty: a writer drains its queue
    /// before it waits again, so frames pushed behind others need no wake-up of their own.
    pub(crate) fn push(
        &self,
        class: Class,
        frame: Bytes,
        clock: &CoarseClock,
        refuse: bool,
    ) -> Pushed {
        let limits = self.limits[class.index()];
        let mut queues = self.lock();
        let q = &mut queues[class.index()];
        let fits = |q: &ClassQueue| {
            q.frames.len() < limits.frames && q.bytes + frame.len() <= limits.bytes
        };
        let mut dropped = 0;
        if !fits(q) {
            if refuse || limits.policy == QueuePolicy::Refuse {
                return Pushed::Full(frame);
            }
            while !fits(q) {
                let Some((_, old)) = q.frames.pop_front() else {
                    break; // larger than the whole budget: queue it alone
                };
                q.bytes -= old.len();
                dropped += 1;
            }
        }
        let was_empty = q.frames.is_empty();
        q.bytes += frame.len();
        // Read under the lock: the clock never goes back, so a queue's stamps are in order.
        q.frames.push_back((clock.now(), frame));
        drop(queues);
        if was_empty {
            self.ready[class.index()].notify_one();
        }
        Pushed::Queued { dropped }
    }

    /// Moves up to `max` frames of `class` into `out` (empty on entry), and at most
    /// `max_bytes` unless the first frame alone is larger, then drops the stale ones among
    /// them at the precise time `now` (T-4.2). Returns how many stale frames were dropped.
    ///
    /// When the whole queue is within both bounds (the usual case) it is swapped with `out`
    /// instead of moved frame by frame, so the lock that every send takes is held for a
    /// constant time, not for a whole batch.
    pub(crate) fn pop_batch(
        &self,
        class: Class,
        now: Stamp,
        max: usize,
        max_bytes: usize,
        out: &mut Batch,
    ) -> usize {
        debug_assert!(out.is_empty());
        let mut queues = self.lock();
        let q = &mut queues[class.index()];
        if q.frames.len() <= max && q.bytes <= max_bytes {
            std::mem::swap(&mut q.frames, out);
            q.bytes = 0;
        } else {
            let mut taken = 0;
            while out.len() < max {
                match q.frames.front() {
                    Some((_, f)) if out.is_empty() || taken + f.len() <= max_bytes => {}
                    _ => break,
                }
                let Some((queued_at, frame)) = q.frames.pop_front() else {
                    break;
                };
                q.bytes -= frame.len();
                taken += frame.len();
                out.push_back((queued_at, frame));
            }
        }
        drop(queues);
        let taken = out.len();
        if let Some(stale_after) = self.limits[class.index()].stale_after {
            // Stamps are in queue order, so the stale frames are the oldest ones.
            while out
                .front()
                .is_some_and(|(queued_at, _)| is_stale(*queued_at, now, stale_after))
            {
                out.pop_front();
            }
        }
        // A sender counts itself in `space_waiters` before it looks at the queue (under the
        // lock taken above), so one that found the queue full is counted here.
        if taken > 0 && self.space_waiters[class.index()].load(Ordering::SeqCst) > 0 {
            self.space[class.index()].notify_waiters();
        }
        taken - out.len()
    }

    /// Drops everything queued (the peer was blocked or removed).
    pub(crate) fn clear(&self) {
        let mut queues = self.lock();
        for q in queues.iter_mut() {
            q.frames.clear();
            q.bytes = 0;
        }
        drop(queues);
        for n in &self.space {
            n.notify_waiters();
        }
    }

    /// Frames and bytes queued in `class`.
    pub(crate) fn depth(&self, class: Class) -> (usize, usize) {
        let queues = self.lock();
        let q = &queues[class.index()];
        (q.frames.len(), q.bytes)
    }

    /// Woken when a frame of `class` is queued (one permit is stored if nobody waits).
    pub(crate) fn ready(&self, class: Class) -> &Notify {
        &self.ready[class.index()]
    }

    /// Woken when frames of `class` leave the queue, for senders counted by
    /// [`Self::wait_for_space`].
    pub(crate) fn space(&self, class: Class) -> &Notify {
        &self.space[class.index()]
    }

    /// Counts the caller as waiting for room in `class` until the guard is dropped; take it
    /// before the `space` wake-up is enabled and the queue checked again.
    pub(crate) fn wait_for_space(&self, class: Class) -> SpaceWaiter<'_> {
        let waiters = &self.space_waiters[class.index()];
        waiters.fetch_add(1, Ordering::SeqCst);
        SpaceWaiter(waiters)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tokio::time::Instant;

    fn limits(policy: QueuePolicy) -> QueueLimits {
        QueueLimits {
            frames: 3,
            bytes: 10,
            policy,
            stale_after: Some(Duration::from_secs(5)),
        }
    }

    fn queues() -> SendQueues {
        SendQueues::new([
            limits(QueuePolicy::DropOldest),
            limits(QueuePolicy::Refuse),
            limits(QueuePolicy::Refuse),
        ])
    }

    fn f(n: u8, len: usize) -> Bytes {
        Bytes::from(vec![n; len])
    }

    #[test]
    fn consensus_drops_oldest_when_full() {
        let q = queues();
        let t = CoarseClock::new(Instant::now());
        for i in 0..3 {
            assert_eq!(
                q.push(Class::Consensus, f(i, 1), &t, false),
                Pushed::Queued { dropped: 0 }
            );
        }
        assert_eq!(
            q.push(Class::Consensus, f(3, 1), &t, false),
            Pushed::Queued { dropped: 1 }
        );
        // Byte budget: an 8-byte frame evicts until 8 more fit in 10.
        assert_eq!(
            q.push(Class::Consensus, f(4, 8), &t, false),
            Pushed::Queued { dropped: 1 }
        );
        let mut out = Batch::new();
        q.pop_batch(Class::Consensus, t.now(), 10, 100, &mut out);
        let out: Vec<Bytes> = out.into_iter().map(|(_, f)| f).collect();
        assert_eq!(out, vec![f(2, 1), f(3, 1), f(4, 8)]);
    }

    #[test]
    fn sync_refuses_when_full_and_send_wait_can_refuse_consensus() {
        let q = queues();
        let t = CoarseClock::new(Instant::now());
        for i in 0..3 {
            assert!(matches!(
                q.push(Class::Sync, f(i, 1), &t, false),
                Pushed::Queued { .. }
            ));
        }
        assert_eq!(
            q.push(Class::Sync, f(9, 1), &t, false),
            Pushed::Full(f(9, 1))
        );
        assert_eq!(
            q.push(Class::Lanes, f(9, 11), &t, false),
            Pushed::Full(f(9, 11))
        );
        for i in 0..3 {
            q.push(Class::Consensus, f(i, 1), &t, false);
        }
        assert_eq!(
            q.push(Class::Consensus, f(9, 1), &t, true),
            Pushed::Full(f(9, 1))
        );
        assert_eq!(q.depth(Class::Sync), (3, 3));
    }

    #[test]
    fn stale_consensus_frames_are_dropped_on_dequeue() {
        let t0 = Instant::now();
        // Frames queued at 0 s and 4 s, taken at `at`; the limit is 5 s.
        let take = |at: Duration| {
            let q = queues();
            let t = CoarseClock::new(t0);
            q.push(Class::Consensus, f(1, 1), &t, false);
            t.tick(t0 + Duration::from_secs(4));
            q.push(Class::Consensus, f(2, 1), &t, false);
            let mut out = Batch::new();
            let stale = q.pop_batch(Class::Consensus, t.stamp(t0 + at), 10, 100, &mut out);
            let out: Vec<Bytes> = out.into_iter().map(|(_, f)| f).collect();
            (stale, out)
        };
        // Within the limit plus the clock's tick: kept.
        assert_eq!(
            take(Duration::from_millis(5100)),
            (0, vec![f(1, 1), f(2, 1)])
        );
        assert_eq!(take(Duration::from_secs(6)), (1, vec![f(2, 1)]));
    }

    #[test]
    fn batches_are_bounded_by_frames_and_bytes() {
        let q = queues();
        let t = CoarseClock::new(Instant::now());
        for i in 0..3 {
            q.push(Class::Consensus, f(i, 3), &t, false);
        }
        let take = |max, max_bytes| {
            let mut out = Batch::new();
            q.pop_batch(Class::Consensus, t.now(), max, max_bytes, &mut out);
            out.into_iter().map(|(_, f)| f).collect::<Vec<_>>()
        };
        assert_eq!(take(2, 100), vec![f(0, 3), f(1, 3)]);
        q.push(Class::Consensus, f(3, 3), &t, false);
        // Over the byte bound: as many whole frames as fit, and at least one.
        assert_eq!(take(10, 4), vec![f(2, 3)]);
        assert_eq!(take(10, 1), vec![f(3, 3)]);
        assert_eq!(q.depth(Class::Consensus), (0, 0));
    }
}
