//! The seeded network: latency with jitter (which reorders), loss, duplication, and
//! partitions, including one-way ones.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// One partition episode: nodes in `side` cannot talk to the rest during `[from, to)`.
/// When `one_way`, only messages from `side` to the rest are dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Partition {
    /// The fault-schedule entry this episode belongs to (for counting when it opens).
    pub(crate) entry: usize,
    pub(crate) from_ms: u64,
    pub(crate) to_ms: u64,
    pub(crate) side: Vec<usize>,
    pub(crate) one_way: bool,
}

/// Link behaviour for a scenario.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    pub(crate) latency_ms: (u64, u64),
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    pub(crate) partitions: Vec<Partition>,
    /// After this time the network is perfect but for latency (the healed phase).
    pub(crate) heal_at_ms: u64,
}

/// What happens to one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Dropped,
    Partitioned,
    Deliver(Vec<u64>),
}

pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && (rng.next_u64() as f64 / u64::MAX as f64) < p
}

pub(crate) fn uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.next_u64() % (hi.saturating_sub(lo) + 1)
}

impl Network {
    /// Decides a message's fate at `now_ms` from node `from` to node `to`.
    pub(crate) fn fate(&self, rng: &mut ChaCha8Rng, now_ms: u64, from: usize, to: usize) -> Fate {
        let cut = self.partitions.iter().any(|p| {
            (p.from_ms..p.to_ms).contains(&now_ms) && {
                let (a, b) = (p.side.contains(&from), p.side.contains(&to));
                if p.one_way { a && !b } else { a != b }
            }
        });
        if cut {
            return Fate::Partitioned;
        }
        let healed = now_ms >= self.heal_at_ms;
        if !healed && chance(rng, self.loss) {
            return Fate::Dropped;
        }
        let (lo, hi) = self.latency_ms;
        let mut at = vec![now_ms + uniform(rng, lo, hi)];
        if !healed && chance(rng, self.duplicate) {
            at.push(now_ms + uniform(rng, lo, hi));
        }
        Fate::Deliver(at)
    }
}
