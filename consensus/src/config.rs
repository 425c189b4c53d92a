//! Tunables of one consensus instance. Every bound the core keeps is here.

use crate::leader::LeaderPolicy;

/// Consensus configuration; the defaults suit a LAN devnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Round timeout before backoff, in milliseconds (P-1).
    pub base_timeout_ms: u64,
    /// Cap on the backoff exponent: the longest timeout is `base × 2^max_backoff_exponent`.
    pub max_backoff_exponent: u32,
    /// Delay before asking another peer for a missing block (B-3).
    pub sync_retry_ms: u64,
    /// Attempts per missing block before giving up until it is referenced again.
    pub max_sync_retries: u32,
    /// Committed blocks (with proofs) kept in memory to serve catch-up sync (B-4).
    pub retained_committed: usize,
    /// Rounds beyond the current one for which votes, timeouts and proposals are buffered.
    pub future_rounds: u64,
    /// Least time between a block and its child's proposal (C-6). Keeps an idle chain from
    /// spinning through empty blocks as fast as the network allows.
    pub min_block_interval_ms: u64,
    /// Leader policy (C-5).
    pub leader_policy: LeaderPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_timeout_ms: 1_000,
            max_backoff_exponent: 6,
            sync_retry_ms: 500,
            max_sync_retries: 8,
            retained_committed: 1_024,
            future_rounds: 100,
            min_block_interval_ms: 0,
            leader_policy: LeaderPolicy::StakeWeighted,
        }
    }
}
