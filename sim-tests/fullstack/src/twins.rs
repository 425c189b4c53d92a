//! Twins (Bano et al., "Twins: BFT Systems Made Robust"): one validator key run by two
//! turmoil hosts, each an honest, unmodified [`shardnet_node`] validator with its own disk.
//! Each twin proposes and votes from its own view, so together they equivocate the way a
//! real compromised key would, without any rewriting of messages.
//!
//! Twinned validator `(s, v)` runs as twin A on host `(s, v)` (`s{s}v{v}`) and as twin B on
//! host `(s, TWIN_B + v)` (`s{s}v{v}b`). Every other host is on one side of each twinned key
//! ([`Sides`]) and reaches only that side's twin: turmoil partitions cut it from the other
//! twin, and the two twins from each other, for the whole run. Outside twin splits every
//! host is on side A, so the key behaves as one validator and twin B, cut off from everyone,
//! runs on its own. A twin split (`faults::Action::TwinSplit`, at seeded times) draws the
//! honest validators of the twin's shard into two non-empty groups: group A stays with twin
//! A, group B moves to twin B, and the two groups are cut from each other until the split
//! ends (`TwinJoin`: group B back to twin A), so each group runs with its own twin, which
//! proposes and votes from its own view, as in the Twins paper's per-round partitions. Each
//! split draws new groups. (Twins of other keys pair up by side: A with A, B with B.)
//!
//! Why twin B is cut off between splits: a twin that reaches only part of the committee can
//! form no certificate, so every round it leads fails, and so does the round before (its
//! votes go to it); with the twin near a third of the stake, the consecutive timeouts back
//! the round timer off (P-1) until a 30-second run stalls. The honest validators then stay
//! live, as they must, only because the key is whole again between splits.
//!
//! The transport keeps one connection per peer key (T-6.1). Two twins connected to one host
//! would displace each other's connection without end, so a host is never reachable by both:
//! - honest hosts have no address for a twinned key (`None` in their peer book: "accept
//!   connections, never dial"), so the only connection an honest host has under that key is
//!   the one the twin on its side dials; when a split moves a host to the other twin, that
//!   twin's dial replaces the stale connection at once (same initiator: the newer wins), and
//!   the old twin is cut off by the partition;
//! - twins dial every honest host and the twin on their own side of every other twinned
//!   key, never the other side.
//!
//! The production transport is unchanged. The run's checks leave twin hosts out (their
//! commits, states, outboxes; their states still bound what a lane's source emitted, since
//! they commit only final blocks); honest validators of both groups must agree on every
//! commit. [`TwinTap`] counts what each twin sends (coverage: both twins must have sent, twin
//! B while a split was in force) and the rounds in which the two twins of one key voted or
//! proposed different blocks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use shardnet_consensus::ConsensusMessage;
use shardnet_node::validator::{Adversary, Outgoing};

use crate::faults::HostId;

/// Twin B of validator `(s, v)` is host `(s, TWIN_B + v)`.
pub const TWIN_B: u16 = 1_000;

/// One of the two twins of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Twin A: host `(s, v)`.
    A,
    /// Twin B: host `(s, TWIN_B + v)`.
    B,
}

impl Side {
    /// The other twin.
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// The validator whose key host `h` runs.
pub fn key_of(h: HostId) -> HostId {
    if h.1 >= TWIN_B {
        (h.0, h.1 - TWIN_B)
    } else {
        h
    }
}

/// The host of the `side` twin of twinned validator `v`.
pub fn twin(v: HostId, side: Side) -> HostId {
    match side {
        Side::A => v,
        Side::B => (v.0, v.1 + TWIN_B),
    }
}

/// Which side of each twinned key every other host is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sides {
    /// The twinned validators.
    pub twinned: Vec<HostId>,
    /// (host, twinned validator) → side, for every host that is not a twin of that key.
    side: BTreeMap<(HostId, HostId), Side>,
}

impl Sides {
    /// Every host in `hosts` (honest and twins) on a side of every twinned key: a twin on its
    /// own side of the other keys; an honest host on side A if `in_a(host, key)`.
    pub fn new(
        twinned: &[HostId],
        hosts: &[HostId],
        mut in_a: impl FnMut(HostId, HostId) -> bool,
    ) -> Self {
        let mut side = BTreeMap::new();
        for &k in twinned {
            for &h in hosts {
                if key_of(h) == k {
                    continue;
                }
                let s = match Self::own_side(twinned, h) {
                    Some(s) => s,
                    None if in_a(h, k) => Side::A,
                    None => Side::B,
                };
                side.insert((h, k), s);
            }
        }
        Self {
            twinned: twinned.to_vec(),
            side,
        }
    }

    /// The side `h` is on as a twin, if it is one.
    fn own_side(twinned: &[HostId], h: HostId) -> Option<Side> {
        if !twinned.contains(&key_of(h)) {
            None
        } else if h.1 >= TWIN_B {
            Some(Side::B)
        } else {
            Some(Side::A)
        }
    }

    /// Whether `h` is one of the twins.
    pub fn is_twin(&self, h: HostId) -> bool {
        Self::own_side(&self.twinned, h).is_some()
    }

    /// The side of key `k` that host `h` reaches (`None` if `h` is a twin of `k` or `k` is
    /// not twinned).
    pub fn side(&self, h: HostId, k: HostId) -> Option<Side> {
        self.side.get(&(h, k)).copied()
    }

    /// Puts `h` on `side` of key `k`; the side it was on before.
    pub fn set(&mut self, h: HostId, k: HostId, side: Side) -> Option<Side> {
        self.side.insert((h, k), side)
    }

    /// Every link that must stay cut: each host from the twin it is not on the side of, and
    /// the two twins of a key from each other.
    pub fn cuts(&self) -> Vec<(HostId, HostId)> {
        let mut out: Vec<_> = self
            .side
            .iter()
            .map(|((h, k), s)| (*h, twin(*k, s.other())))
            .collect();
        out.extend(
            self.twinned
                .iter()
                .map(|k| (twin(*k, Side::A), twin(*k, Side::B))),
        );
        out
    }

    /// The honest validators of `k`'s shard on each side, by committee index order.
    pub fn groups(&self, k: HostId) -> (Vec<HostId>, Vec<HostId>) {
        let mut groups = (Vec::new(), Vec::new());
        for ((h, key), s) in &self.side {
            if *key != k || h.0 != k.0 || self.is_twin(*h) {
                continue;
            }
            match s {
                Side::A => groups.0.push(*h),
                Side::B => groups.1.push(*h),
            }
        }
        groups
    }
}

/// What the twins did, shared by every twin host of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwinCounts {
    /// Consensus messages sent by twins A, and by twins B while a split of their key was in
    /// force (twin B reaches no honest validator outside one).
    pub sent: (u64, u64),
    /// (validator, round, proposal or vote) where both twins sent, and sent different blocks:
    /// real equivocations.
    pub conflicting: u64,
    /// (validator, round, proposal or vote) where both twins sent the same block.
    pub agreeing: u64,
}

/// What each twin sent for one (validator, round, proposal or vote): twin A's block, twin
/// B's.
type Sent = [Option<[u8; 32]>; 2];

/// Per (validator, round, kind): the block each twin sent.
#[derive(Debug, Default)]
pub struct TwinLog {
    /// The counts so far.
    pub counts: TwinCounts,
    seen: BTreeMap<(HostId, u64, u8), Sent>,
    /// The twinned validators whose split is in force (set by the driver).
    pub split: std::collections::BTreeSet<HostId>,
}

impl TwinLog {
    fn record(&mut self, key: HostId, side: Side, round: u64, kind: u8, block: [u8; 32]) {
        let slot = self.seen.entry((key, round, kind)).or_default();
        let i = usize::from(side == Side::B);
        let fresh = slot.get(i).is_some_and(Option::is_none);
        if let Some(s) = slot.get_mut(i) {
            s.get_or_insert(block);
        }
        if let [Some(a), Some(b)] = *slot
            && fresh
        {
            if a == b {
                self.counts.agreeing += 1;
            } else {
                self.counts.conflicting += 1;
            }
        }
    }
}

/// The [`Adversary`] of a twin: passes everything through unchanged (a twin is an honest
/// validator; the equivocation comes from there being two) and notes what it sent.
#[derive(Debug)]
pub struct TwinTap {
    key: HostId,
    side: Side,
    log: Arc<Mutex<TwinLog>>,
}

impl TwinTap {
    /// The tap of twin `side` of validator `key`, writing to `log`.
    pub fn new(key: HostId, side: Side, log: Arc<Mutex<TwinLog>>) -> Self {
        Self { key, side, log }
    }
}

impl Adversary for TwinTap {
    fn consensus(&mut self, out: Outgoing) -> Vec<Outgoing> {
        let msg = match &out {
            Outgoing::To(_, m) | Outgoing::All(m) | Outgoing::Split(m, _) => m,
        };
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match self.side {
            Side::A => log.counts.sent.0 += 1,
            Side::B if log.split.contains(&self.key) => log.counts.sent.1 += 1,
            Side::B => {}
        }
        match msg {
            ConsensusMessage::Proposal(p) => log.record(
                self.key,
                self.side,
                p.block.header.round.0,
                0,
                p.block.hash().0.0,
            ),
            ConsensusMessage::Vote(v) => {
                log.record(self.key, self.side, v.data.round.0, 1, v.data.block.0.0);
            }
            _ => {}
        }
        drop(log);
        vec![out]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_cut_each_host_from_the_other_twin_and_the_twins_apart() {
        // Shard 0: validator 1 twinned; shard 1: validator 0 twinned.
        let twinned = [(0, 1), (1, 0)];
        let mut hosts: Vec<HostId> = (0..2).flat_map(|s| (0..4).map(move |v| (s, v))).collect();
        hosts.extend(twinned.iter().map(|k| twin(*k, Side::B)));
        let sides = Sides::new(&twinned, &hosts, |h, _| h.1 % 2 == 0);
        assert!(sides.is_twin((0, 1)) && sides.is_twin((0, 1001)) && !sides.is_twin((0, 0)));
        assert_eq!(sides.side((0, 0), (0, 1)), Some(Side::A));
        assert_eq!(sides.side((0, 3), (0, 1)), Some(Side::B));
        assert_eq!(sides.side((0, 1), (0, 1)), None);
        // Twins pair up by side across keys.
        assert_eq!(sides.side((0, 1001), (1, 0)), Some(Side::B));
        assert_eq!(sides.side((1, 0), (0, 1)), Some(Side::A));
        let cuts = sides.cuts();
        assert!(cuts.contains(&((0, 0), (0, 1001))));
        assert!(cuts.contains(&((0, 3), (0, 1))));
        assert!(cuts.contains(&((0, 1), (0, 1001))));
        assert!(cuts.contains(&((0, 1001), (1, 0))));
        assert!(!cuts.contains(&((0, 0), (0, 1))));
        // Group A of shard 0's twin: the even honest validators of shard 0.
        assert_eq!(sides.groups((0, 1)), (vec![(0, 0), (0, 2)], vec![(0, 3)]));
    }

    #[test]
    fn the_log_counts_conflicting_and_agreeing_rounds_once() {
        let mut log = TwinLog::default();
        log.record((0, 1), Side::A, 5, 1, [1; 32]);
        log.record((0, 1), Side::A, 5, 1, [1; 32]);
        log.record((0, 1), Side::B, 5, 1, [2; 32]);
        log.record((0, 1), Side::B, 5, 1, [2; 32]);
        log.record((0, 1), Side::A, 6, 0, [3; 32]);
        log.record((0, 1), Side::B, 6, 0, [3; 32]);
        assert_eq!(log.counts.conflicting, 1);
        assert_eq!(log.counts.agreeing, 1);
    }
}
