//! Who leads each round (C-5).

use std::collections::BTreeMap;

use shardnet_protocol::{Block, Committee, Round, ValidatorIndex};

/// How leaders are chosen.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum LeaderPolicy {
    /// Stake-weighted pseudo-random choice per round.
    #[default]
    StakeWeighted,
    /// Stake-weighted, but skipping validators that failed to produce a committed block in
    /// `failures` of their last `window` elected rounds (liveness only; C-5).
    Reputation {
        /// How many recent elections per validator are remembered.
        window: usize,
        /// Failures within the window that get a validator skipped.
        failures: usize,
    },
}

/// Deterministic leader election for one committee.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    policy: LeaderPolicy,
    cumulative: Vec<u64>,
    total: u64,
    seed: [u8; 32],
    /// Per validator, outcomes of its recent elected rounds (true = produced a committed block).
    history: BTreeMap<ValidatorIndex, Vec<bool>>,
}

impl LeaderElection {
    /// Election over `committee`.
    pub fn new(committee: &Committee, policy: LeaderPolicy) -> Self {
        let mut acc = 0u64;
        let cumulative = committee
            .members()
            .iter()
            .map(|m| {
                acc = acc.saturating_add(m.stake.0);
                acc
            })
            .collect();
        let ctx = committee.signing_context();
        let mut h = blake3::Hasher::new();
        h.update(b"shardnet/leader");
        h.update(&ctx.chain_id.0.to_le_bytes());
        h.update(&ctx.shard.0.to_le_bytes());
        h.update(&ctx.epoch.0.to_le_bytes());
        Self {
            policy,
            cumulative,
            total: acc.max(1),
            seed: *h.finalize().as_bytes(),
            history: BTreeMap::new(),
        }
    }

    /// The stake-weighted choice for `round`, before reputation.
    pub fn elected(&self, round: Round) -> ValidatorIndex {
        self.pick(round, 0)
    }

    fn pick(&self, round: Round, attempt: u32) -> ValidatorIndex {
        let mut h = blake3::Hasher::new_keyed(&self.seed);
        h.update(&round.0.to_le_bytes());
        h.update(&attempt.to_le_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.finalize().as_bytes()[..8]);
        let x = u64::from_le_bytes(first) % self.total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        ValidatorIndex(i.min(self.cumulative.len().saturating_sub(1)) as u16)
    }

    /// The leader of `round` under the policy.
    pub fn leader(&self, round: Round) -> ValidatorIndex {
        let LeaderPolicy::Reputation { failures, .. } = self.policy else {
            return self.elected(round);
        };
        // Re-draw up to a few times; fall back to the first choice so some leader exists.
        for attempt in 0..4 {
            let candidate = self.pick(round, attempt);
            let failed = self
                .history
                .get(&candidate)
                .map_or(0, |h| h.iter().filter(|ok| !**ok).count());
            if failed < failures {
                return candidate;
            }
        }
        self.pick(round, 0)
    }

    /// Feeds one committed block: it produced its round, and the rounds between its parent's
    /// (the round its QC certifies) and its own failed.
    pub fn observe_committed_block(&mut self, block: &Block) {
        let (parent, round) = (block.justify.round(), block.header.round);
        self.observe_committed((parent.0.saturating_add(1)..round.0).map(Round), round);
    }

    /// Feeds the outcome of a committed round range: rounds `from..to` (exclusive) were
    /// skipped (their leaders failed) and `to` produced the committed block.
    pub fn observe_committed(&mut self, skipped: impl Iterator<Item = Round>, produced: Round) {
        let LeaderPolicy::Reputation { window, .. } = self.policy else {
            return;
        };
        let mut outcomes: Vec<(ValidatorIndex, bool)> =
            skipped.map(|r| (self.elected(r), false)).collect();
        outcomes.push((self.elected(produced), true));
        for (v, ok) in outcomes {
            let h = self.history.entry(v).or_default();
            h.push(ok);
            if h.len() > window {
                h.remove(0);
            }
        }
    }
}
