//! Bounded per-peer send queues, one per class (`specs/transport.md` §4).
//!
//! A queue holds frames for a peer until that peer's connection's writer for the class takes
//! them. Queues belong to the peer, not to a connection, so frames sent while the peer is
//! disconnected go out once it reconnects (T-4.4).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::class::Class;
use crate::clock::{CoarseClock, Stamp, is_stale};
use crate::limits::{COALESCE_FRAME_BYTES, FRAME_HEADER_BYTES, SEND_RUN_BYTES, SEND_RUN_FRAMES};

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

/// The outcome of a [`SendQueues::push_many`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PushedMany {
    /// Older frames dropped to make room (drop-oldest policy).
    pub(crate) dropped: usize,
}

/// What a queue holds: one frame, or a run of small frames of one burst, framed when queued
/// (T-4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// One frame's body, framed by the writer.
    Frame(Bytes),
    /// Several frames, each already `u32le(len) ‖ body` (T-2.1), back to back.
    Run {
        /// How many frames.
        frames: usize,
        /// Their bodies' bytes (what the queue's byte bound counts).
        bytes: usize,
        /// The framed frames.
        data: Bytes,
    },
}

impl Entry {
    /// Frames in the entry.
    pub(crate) fn frames(&self) -> usize {
        match self {
            Self::Frame(_) => 1,
            Self::Run { frames, .. } => *frames,
        }
    }

    /// Body bytes in the entry (headers not counted).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::Frame(f) => f.len(),
            Self::Run { bytes, .. } => *bytes,
        }
    }

    /// Splits `frames` into entries for a queue bounded by `limits` (T-4.6): consecutive
    /// frames of at most `COALESCE_FRAME_BYTES` are taken as runs of at most
    /// `SEND_RUN_FRAMES` frames and `SEND_RUN_BYTES` bytes (never more than the queue
    /// holds); a run larger than `COALESCE_FRAME_BYTES` is copied into one buffer, which the
    /// writer then hands to the stream without another copy. Every other frame stays a
    /// reference to the caller's buffer, moved into the queue (the writer copies small ones
    /// anyway). The copy is made here, on the caller's thread, before any lock is taken.
    pub(crate) fn burst(frames: Vec<Bytes>, limits: &QueueLimits) -> VecDeque<Self> {
        let max_frames = SEND_RUN_FRAMES.min(limits.frames).max(1);
        let max_bytes = SEND_RUN_BYTES.min(limits.bytes);
        let mut out = VecDeque::with_capacity(frames.len());
        let mut it = frames.into_iter();
        while !it.as_slice().is_empty() {
            let rest = it.as_slice();
            let mut n = 0;
            let (mut framed, mut bodies) = (0, 0);
            for f in rest.iter().take(max_frames) {
                if f.len() > COALESCE_FRAME_BYTES
                    || (n > 0 && framed + FRAME_HEADER_BYTES + f.len() > max_bytes)
                {
                    break;
                }
                n += 1;
                framed += FRAME_HEADER_BYTES + f.len();
                bodies += f.len();
            }
            if n <= 1 || framed <= COALESCE_FRAME_BYTES {
                // Moved, not copied: the writer frames them.
                out.extend(it.by_ref().take(n.max(1)).map(Self::Frame));
                continue;
            }
            let mut data = BytesMut::with_capacity(framed);
            for f in it.by_ref().take(n) {
                // Callers check every frame (`check_outgoing`): the length fits in a u32.
                let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
                data.extend_from_slice(&len.to_le_bytes());
                data.extend_from_slice(&f);
            }
            out.push_back(Self::Run {
                frames: n,
                bytes: bodies,
                data: data.freeze(),
            });
        }
        out
    }
}

/// Queued entries with the (coarse) time each was queued.
pub(crate) type Batch = VecDeque<(Stamp, Entry)>;

#[derive(Debug, Default)]
struct ClassQueue {
    entries: Batch,
    /// Frames in `entries`.
    frames: usize,
    /// Body bytes in `entries`.
    bytes: usize,
}

impl ClassQueue {
    /// Whether an entry of `frames` frames and `bytes` body bytes fits within `limits` now.
    fn fits(&self, (frames, bytes): (usize, usize), limits: &QueueLimits) -> bool {
        self.frames + frames <= limits.frames && self.bytes + bytes <= limits.bytes
    }

    /// Drops the oldest entries until an entry of `size` (frames, bytes) fits (or the queue
    /// is empty: an entry larger than the whole budget is queued alone); returns how many
    /// frames were dropped.
    fn make_room(&mut self, size: (usize, usize), limits: &QueueLimits) -> usize {
        let mut dropped = 0;
        while !self.fits(size, limits) {
            let Some((_, old)) = self.entries.pop_front() else {
                break;
            };
            self.frames -= old.frames();
            self.bytes -= old.bytes();
            dropped += old.frames();
        }
        dropped
    }

    fn push_back(&mut self, at: Stamp, entry: Entry) {
        self.frames += entry.frames();
        self.bytes += entry.bytes();
        self.entries.push_back((at, entry));
    }
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
        let limits = &self.limits[class.index()];
        let size = (1, frame.len());
        let mut queues = self.lock();
        let q = &mut queues[class.index()];
        let mut dropped = 0;
        if !q.fits(size, limits) {
            if refuse || limits.policy == QueuePolicy::Refuse {
                return Pushed::Full(frame);
            }
            dropped = q.make_room(size, limits);
        }
        let was_empty = q.entries.is_empty();
        // Read under the lock: the clock never goes back, so a queue's stamps are in order.
        q.push_back(clock.now(), Entry::Frame(frame));
        drop(queues);
        if was_empty {
            self.ready[class.index()].notify_one();
        }
        Pushed::Queued { dropped }
    }

    /// Queues the entries of one burst (built by [`Entry::burst`]) in order under one lock,
    /// each as [`Self::push`] would queue a frame, until one does not fit under `Refuse`
    /// (the class's policy, or `refuse`): the entries queued are taken from the front of
    /// `entries`, the rest stay. The writer is woken at most once: when the queue was empty
    /// and something was queued (T-4.6).
    pub(crate) fn push_many(
        &self,
        class: Class,
        entries: &mut VecDeque<Entry>,
        clock: &CoarseClock,
        refuse: bool,
    ) -> PushedMany {
        let limits = &self.limits[class.index()];
        let refuse = refuse || limits.policy == QueuePolicy::Refuse;
        let mut queues = self.lock();
        let q = &mut queues[class.index()];
        let was_empty = q.entries.is_empty();
        let mut done = PushedMany::default();
        // Read once under the lock: the clock never goes back, so stamps stay in order.
        let now = clock.now();
        let mut queued = false;
        while let Some(entry) = entries.front() {
            let size = (entry.frames(), entry.bytes());
            if !q.fits(size, limits) {
                if refuse {
                    break;
                }
                done.dropped += q.make_room(size, limits);
            }
            let Some(entry) = entries.pop_front() else {
                break;
            };
            q.push_back(now, entry);
            queued = true;
        }
        drop(queues);
        if was_empty && queued {
            self.ready[class.index()].notify_one();
        }
        done
    }

    /// Moves entries of `class` holding up to `max` frames into `out` (empty on entry), and
    /// at most `max_bytes` unless the first entry alone is larger, then drops the stale ones
    /// among them at the precise time `now` (T-4.2). Returns how many stale frames were
    /// dropped.
    ///
    /// When the whole queue is within both bounds (the usual case) it is swapped with `out`
    /// instead of moved entry by entry, so the lock that every send takes is held for a
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
        if q.frames <= max && q.bytes <= max_bytes {
            std::mem::swap(&mut q.entries, out);
            q.frames = 0;
            q.bytes = 0;
        } else {
            let (mut frames, mut bytes) = (0, 0);
            while let Some((_, e)) = q.entries.front() {
                if !out.is_empty() && (frames + e.frames() > max || bytes + e.bytes() > max_bytes) {
                    break;
                }
                let Some((queued_at, entry)) = q.entries.pop_front() else {
                    break;
                };
                q.frames -= entry.frames();
                q.bytes -= entry.bytes();
                frames += entry.frames();
                bytes += entry.bytes();
                out.push_back((queued_at, entry));
            }
        }
        drop(queues);
        let taken = !out.is_empty();
        let mut stale = 0;
        if let Some(stale_after) = self.limits[class.index()].stale_after {
            // Stamps are in queue order, so the stale entries are the oldest ones.
            while out
                .front()
                .is_some_and(|(queued_at, _)| is_stale(*queued_at, now, stale_after))
            {
                if let Some((_, e)) = out.pop_front() {
                    stale += e.frames();
                }
            }
        }
        // A sender counts itself in `space_waiters` before it looks at the queue (under the
        // lock taken above), so one that found the queue full is counted here.
        if taken && self.space_waiters[class.index()].load(Ordering::SeqCst) > 0 {
            self.space[class.index()].notify_waiters();
        }
        stale
    }

    /// Drops everything queued (the peer was blocked or removed).
    pub(crate) fn clear(&self) {
        let mut queues = self.lock();
        for q in queues.iter_mut() {
            q.entries.clear();
            q.frames = 0;
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
        (q.frames, q.bytes)
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

    /// The frames of a batch, in order, runs unframed.
    fn unpack(batch: Batch) -> Vec<Bytes> {
        let mut out = Vec::new();
        for (_, entry) in batch {
            match entry {
                Entry::Frame(f) => out.push(f),
                Entry::Run {
                    frames,
                    bytes,
                    mut data,
                } => {
                    let before = out.len();
                    while !data.is_empty() {
                        let len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
                        let _ = data.split_to(4);
                        out.push(data.split_to(len));
                    }
                    assert_eq!(out.len() - before, frames);
                    assert_eq!(out[before..].iter().map(Bytes::len).sum::<usize>(), bytes);
                }
            }
        }
        out
    }

    fn limits_of(frames: usize, bytes: usize) -> QueueLimits {
        QueueLimits {
            frames,
            bytes,
            ..limits(QueuePolicy::Refuse)
        }
    }

    #[test]
    fn bursts_of_small_frames_become_runs_within_every_bound() {
        let big = f(9, COALESCE_FRAME_BYTES + 1);
        let small: Vec<Bytes> = (0..600).map(|i| f(i as u8, 100)).collect();
        let mut frames = vec![f(1, 10), big.clone(), f(2, 10)];
        frames.extend(small.iter().cloned());
        frames.push(big);
        let entries = Entry::burst(frames.clone(), &limits_of(1024, 1 << 20));
        // The lone small frames and the large ones stay references; 600 small frames of 104
        // framed bytes, after the second 10-byte one, make runs of 256 (26,624 bytes), 256 and 89.
        let shape: Vec<(bool, usize)> = entries
            .iter()
            .map(|e| (matches!(e, Entry::Run { .. }), e.frames()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (false, 1),
                (false, 1),
                (true, 256),
                (true, 256),
                (true, 89),
                (false, 1)
            ]
        );
        let batch: Batch = entries.into_iter().map(|e| (Stamp(0), e)).collect();
        assert_eq!(unpack(batch), frames);
        // Bounded by the queue's own frame and byte bounds, and by SEND_RUN_BYTES.
        let entries = Entry::burst(small, &limits_of(3, 250));
        assert!(entries.iter().all(|e| e.frames() <= 2 && e.bytes() <= 250));
        let huge: Vec<Bytes> = (0..100).map(|_| f(0, 4000)).collect();
        let entries = Entry::burst(huge.clone(), &limits_of(1024, 1 << 30));
        assert!(entries.iter().all(|e| match e {
            Entry::Run { data, .. } => data.len() <= SEND_RUN_BYTES,
            Entry::Frame(_) => true,
        }));
        let batch: Batch = entries.into_iter().map(|e| (Stamp(0), e)).collect();
        assert_eq!(unpack(batch), huge);
    }

    /// `frames` as one run.
    fn run_of(frames: &[Bytes]) -> Entry {
        let mut data = BytesMut::new();
        for f in frames {
            data.extend_from_slice(&(f.len() as u32).to_le_bytes());
            data.extend_from_slice(f);
        }
        Entry::Run {
            frames: frames.len(),
            bytes: frames.iter().map(Bytes::len).sum(),
            data: data.freeze(),
        }
    }

    #[test]
    fn push_many_keeps_order_and_applies_each_policy() {
        let t = CoarseClock::new(Instant::now());
        let q = SendQueues::new([limits_of(8, 100); 3]);
        let frames: Vec<Bytes> = (0..5).map(|i| f(i, 2)).collect();
        // Refuse: as many entries as fit, in order; the rest stay with the caller.
        let mut entries: VecDeque<Entry> = [
            run_of(&frames[0..2]),
            run_of(&frames[2..4]),
            Entry::Frame(frames[4].clone()),
        ]
        .into();
        for _ in 0..4 {
            q.push(Class::Sync, f(9, 1), &t, false);
        }
        let mut only_one = VecDeque::from([Entry::Frame(f(9, 1))]);
        assert_eq!(
            q.push_many(Class::Sync, &mut entries, &t, false),
            PushedMany { dropped: 0 }
        );
        assert_eq!(entries.len(), 1, "two runs of two fit beside four frames");
        assert_eq!(q.depth(Class::Sync), (8, 12));
        q.push_many(Class::Sync, &mut only_one, &t, false);
        assert_eq!(only_one.len(), 1, "a full queue refuses");
        let mut out = Batch::new();
        q.pop_batch(Class::Sync, t.now(), 100, 100, &mut out);
        assert_eq!(unpack(out)[4..], frames[..4]);
        q.push_many(Class::Sync, &mut entries, &t, false);
        assert!(entries.is_empty());
        // Drop-oldest (3 frames, 10 bytes): whole runs make room, the newest frames stay.
        let q = queues();
        let mut entries: VecDeque<Entry> = [
            run_of(&frames[0..2]),
            run_of(&frames[2..4]),
            Entry::Frame(frames[4].clone()),
        ]
        .into();
        let pushed = q.push_many(Class::Consensus, &mut entries, &t, false);
        assert!(entries.is_empty());
        assert_eq!(pushed, PushedMany { dropped: 2 });
        let mut out = Batch::new();
        q.pop_batch(Class::Consensus, t.now(), 100, 100, &mut out);
        assert_eq!(unpack(out)[..], frames[2..]);
        // Refuse even for consensus when asked (send_many_wait).
        let mut entries = VecDeque::from([run_of(&frames[0..2])]);
        q.push(Class::Consensus, f(9, 1), &t, false);
        q.push(Class::Consensus, f(9, 1), &t, false);
        q.push_many(Class::Consensus, &mut entries, &t, true);
        assert_eq!(entries.len(), 1);
        assert_eq!(q.depth(Class::Consensus), (2, 2));
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
        let out = unpack(out);
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
            let out = unpack(out);
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
            unpack(out)
        };
        assert_eq!(take(2, 100), vec![f(0, 3), f(1, 3)]);
        q.push(Class::Consensus, f(3, 3), &t, false);
        // Over the byte bound: as many whole frames as fit, and at least one.
        assert_eq!(take(10, 4), vec![f(2, 3)]);
        assert_eq!(take(10, 1), vec![f(3, 3)]);
        assert_eq!(q.depth(Class::Consensus), (0, 0));
    }
}
