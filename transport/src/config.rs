//! Tunable settings, with defaults from [`crate::limits`].

use std::time::Duration;

use crate::class::Class;
use crate::error::TransportError;
use crate::limits;
use crate::queue::{QueueLimits, QueuePolicy};

/// Everything about a [`crate::Network`] that is not its key, its peers or its socket.
///
/// `Config::default()` is for production; [`Config::simulation`] fixes every seed so a
/// turmoil run is reproducible.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest frame body sent or accepted (T-2.2).
    pub max_frame_bytes: usize,
    /// Send-queue bounds per class, indexed like [`Class::ALL`] (T-4.1 to T-4.3).
    pub queues: [QueueLimits; 3],
    /// Received frames from one peer waiting for the application (T-5.2).
    pub inbox_frames_per_peer: u32,
    /// Received KiB from one peer waiting for the application (T-5.2).
    pub inbox_kib_per_peer: u32,
    /// Sustained receive bytes/s per peer, 0 for unlimited (T-5.3).
    pub recv_bytes_per_sec: u64,
    /// Receive burst in bytes per peer (T-5.3).
    pub recv_burst_bytes: u64,
    /// Sustained receive frames/s per peer, 0 for unlimited (T-5.3).
    pub recv_frames_per_sec: u64,
    /// Receive burst in frames per peer (T-5.3).
    pub recv_burst_frames: u64,
    /// QUIC keep-alive interval (T-6.3).
    pub keep_alive: Duration,
    /// QUIC idle timeout (T-6.3).
    pub idle_timeout: Duration,
    /// Dial timeout (T-6.2).
    pub dial_timeout: Duration,
    /// Reconnect backoff bounds (T-6.2).
    pub backoff_min: Duration,
    /// Largest reconnect delay (T-6.2).
    pub backoff_max: Duration,
    /// How long the higher key waits before dialing a peer it has no connection to (T-6.1).
    pub higher_key_dial_delay: Duration,
    /// How long [`crate::Blocker::block`] blocks a peer (T-7.1).
    pub block_duration: Duration,
    /// Seed of every random choice the transport and quinn make (connection ids, backoff
    /// jitter, QUIC internals). `None` draws it from the operating system: production.
    /// `Some` makes runs reproducible: simulation.
    pub rng_seed: Option<[u8; 32]>,
}

impl Default for Config {
    fn default() -> Self {
        let queue = |frames, policy, stale_after| QueueLimits {
            frames,
            bytes: limits::QUEUE_BYTES_PER_CLASS,
            policy,
            stale_after,
        };
        Self {
            max_frame_bytes: limits::MAX_FRAME_BYTES,
            queues: [
                queue(
                    limits::CONSENSUS_QUEUE_FRAMES,
                    QueuePolicy::DropOldest,
                    Some(limits::CONSENSUS_STALE_AFTER),
                ),
                queue(limits::SYNC_QUEUE_FRAMES, QueuePolicy::Refuse, None),
                queue(limits::LANES_QUEUE_FRAMES, QueuePolicy::Refuse, None),
            ],
            inbox_frames_per_peer: limits::INBOX_FRAMES_PER_PEER,
            inbox_kib_per_peer: limits::INBOX_KIB_PER_PEER,
            recv_bytes_per_sec: limits::RECV_BYTES_PER_SEC,
            recv_burst_bytes: limits::RECV_BURST_BYTES,
            recv_frames_per_sec: limits::RECV_FRAMES_PER_SEC,
            recv_burst_frames: limits::RECV_BURST_FRAMES,
            keep_alive: limits::KEEP_ALIVE,
            idle_timeout: limits::IDLE_TIMEOUT,
            dial_timeout: limits::DIAL_TIMEOUT,
            backoff_min: limits::BACKOFF_MIN,
            backoff_max: limits::BACKOFF_MAX,
            higher_key_dial_delay: limits::HIGHER_KEY_DIAL_DELAY,
            block_duration: limits::BLOCK_DURATION,
            rng_seed: None,
        }
    }
}

impl Config {
    /// Production defaults with every seed fixed from `seed`, for reproducible simulations.
    /// (Each node should get a different seed; the network also mixes in the node's key.)
    pub fn simulation(seed: u64) -> Self {
        let mut rng_seed = [0u8; 32];
        rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
        Self {
            rng_seed: Some(rng_seed),
            ..Self::default()
        }
    }

    /// The queue limits of `class`.
    pub fn queue(&self, class: Class) -> &QueueLimits {
        &self.queues[class.index()]
    }

    /// Checks that the settings are consistent (a frame fits every budget it must pass).
    pub fn validate(&self) -> Result<(), TransportError> {
        let bad = |what: &str| Err(TransportError::Setup(format!("invalid config: {what}")));
        if self.max_frame_bytes == 0 || self.max_frame_bytes > u32::MAX as usize {
            return bad("max_frame_bytes must be in 1..=u32::MAX");
        }
        if self
            .queues
            .iter()
            .any(|q| q.frames == 0 || q.bytes < self.max_frame_bytes)
        {
            return bad("every queue must hold at least one max-size frame");
        }
        if self.inbox_frames_per_peer == 0
            || (self.inbox_kib_per_peer as usize) * 1024 < self.max_frame_bytes
        {
            return bad("the inbox budget must hold at least one max-size frame");
        }
        if self.keep_alive >= self.idle_timeout {
            return bad("keep_alive must be shorter than idle_timeout");
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return bad("backoff_min must be positive and at most backoff_max");
        }
        Ok(())
    }
}
