//! Counters, for tests, benchmarks and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A snapshot of a network's counters since it started.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
        }

        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> Stats {
                Stats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Frames written to QUIC streams.
    frames_sent,
    /// Frame body bytes written.
    bytes_sent,
    /// Frames (messages and requests) delivered to the inbox.
    frames_received,
    /// Frame body bytes delivered.
    bytes_received,
    /// Consensus frames dropped because their queue was full (T-4.2).
    dropped_oldest,
    /// Consensus frames dropped because they waited too long (T-4.2).
    dropped_stale,
    /// Sync and lanes frames refused because their queue was full (T-4.3).
    refused_full,
    /// Connections installed (both directions).
    connections,
    /// Connections closed as duplicates of another to the same peer (T-6.1).
    duplicates_closed,
    /// Dials that failed or timed out.
    dial_failures,
    /// Connections ended by a stateless reset: the peer restarted (T-6.4).
    resets,
    /// Times a peer's stream was paused by its receive rate limit (T-5.3).
    rate_limited,
    /// Frames or streams from peers that broke the framing rules (T-7.2).
    malformed,
    /// Peers blocked (T-7.1).
    blocks,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        // Adding nothing would still take the counter's cache line from other threads.
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// What one peer has in flight, for tests and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Whether a connection is up.
    pub connected: bool,
    /// Who dialed the connection in use (T-6.1: the lower key, once both have dialed).
    pub initiator: Option<shardnet_protocol::PublicKey>,
    /// Frames queued to send, per class (indexed like [`crate::Class::ALL`]).
    pub queued_frames: [usize; 3],
    /// Bytes queued to send, per class.
    pub queued_bytes: [usize; 3],
    /// Received frames from this peer waiting in the inbox.
    pub inbox_frames: u32,
    /// Received KiB from this peer waiting in the inbox.
    pub inbox_kib: u32,
}
