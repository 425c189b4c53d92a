//! The three traffic classes and their stream priorities (`specs/transport.md` §3).

use std::fmt;

/// What a frame is for. Each class has its own QUIC stream per connection, its own send
/// queue per peer and its own priority, so a backlog in one never delays a higher one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Proposals, votes, timeouts: small, latency-critical, useless once stale.
    Consensus,
    /// Block sync: catching up on committed blocks and certificates.
    Sync,
    /// Cross-shard lane segments relayed between shards.
    Lanes,
}

impl Class {
    /// Every class, highest priority first.
    pub const ALL: [Self; 3] = [Self::Consensus, Self::Sync, Self::Lanes];

    /// The stream header byte that names the class (T-3.1).
    pub const fn tag(self) -> u8 {
        match self {
            Self::Consensus => 0,
            Self::Sync => 1,
            Self::Lanes => 2,
        }
    }

    /// The class named by a stream header byte; `None` for an unknown tag (the peer is
    /// then blocked, T-3.1).
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(Self::Consensus),
            1 => Some(Self::Sync),
            2 => Some(Self::Lanes),
            _ => None,
        }
    }

    /// QUIC stream priority (higher is sent first; T-3.3): consensus ahead of sync ahead of
    /// lanes.
    pub const fn priority(self) -> i32 {
        match self {
            Self::Consensus => 2,
            Self::Sync => 1,
            Self::Lanes => 0,
        }
    }

    /// Position in per-class arrays.
    pub(crate) const fn index(self) -> usize {
        self.tag() as usize
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Consensus => "consensus",
            Self::Sync => "sync",
            Self::Lanes => "lanes",
        })
    }
}
