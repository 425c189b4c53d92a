//! Tunables of one consensus instance. Every bound the core keeps is here.

use crate::leader::LeaderPolicy;

/// Rounds past the newest committed block's round that reputation still decides (C-5). A
/// block of round `c` commits while round `c + 2` starts; a crashed leader not yet skipped
/// fails that round and its own two (`c + 2 ..= c + 4`). Past that, nothing committing
/// means reputation cannot learn, and the schedule takes over until a block commits.
pub const REPUTATION_HORIZON: u64 = 4;

/// Consensus configuration; the defaults suit a LAN devnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Round timeout before backoff, in milliseconds (P-1).
    pub base_timeout_ms: u64,
    /// Growth of the round timeout per consecutive round entered by timeout, in percent
    /// (P-1): 150 multiplies it by 1.5. Backoff exists so that timeouts eventually exceed the
    /// network's real delays; a gentle factor keeps a run of crashed leaders (each costing one
    /// full timeout) from stalling the chain for `2^k` timeouts.
    pub backoff_percent: u32,
    /// Cap on the backoff exponent: the longest timeout is
    /// `base × (backoff_percent / 100)^max_backoff_exponent`.
    pub max_backoff_exponent: u32,
    /// Consecutive rounds entered by timeout that keep the base timeout before the backoff
    /// starts (P-1). A crashed leader not yet skipped costs exactly three such rounds in a
    /// row (the round before its slot, whose votes went to it, and its slot's two), none of
    /// them for want of time: 2 keeps all three at the base timeout.
    pub backoff_after: u32,
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
            backoff_percent: 150,
            max_backoff_exponent: 6,
            backoff_after: 2,
            sync_retry_ms: 500,
            max_sync_retries: 8,
            retained_committed: 1_024,
            future_rounds: 100,
            min_block_interval_ms: 0,
            leader_policy: LeaderPolicy::Reputation {
                window: 30,
                failures: 2,
                horizon: REPUTATION_HORIZON,
            },
        }
    }
}
