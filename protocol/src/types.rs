//! Small newtypes that keep heights, rounds, shards and stakes from being mixed up.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! int_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $label:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw value.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "{}"), self.0)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }
    };
}

int_newtype!(
    /// A shard of the network; each has its own committee, chain and state.
    ShardId(u16),
    "shard "
);
int_newtype!(
    /// A block's position in its shard's chain; genesis is height 0.
    Height(u64),
    "h"
);
int_newtype!(
    /// A consensus round; the leader of round r may propose one block in r.
    Round(u64),
    "r"
);
int_newtype!(
    /// A committee epoch. Signatures bind it so they cannot be replayed across epochs.
    Epoch(u64),
    "e"
);
int_newtype!(
    /// A validator's position in its shard committee (the order of the genesis file).
    ValidatorIndex(u16),
    "v"
);
int_newtype!(
    /// Voting power, in arbitrary units fixed by the genesis.
    Stake(u64),
    ""
);
int_newtype!(
    /// The network's chain id (EIP-155), also bound into every consensus signature.
    ChainId(u64),
    "chain "
);

impl Height {
    /// The next height.
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl Round {
    /// The next round.
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl ValidatorIndex {
    /// The index as a `usize`, for indexing committee vectors.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// A 32-byte digest. Hex in human-readable formats (TOML, JSON), raw bytes on the wire.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero digest, used as the parent of genesis.
    pub const ZERO: Self = Self([0; 32]);

    /// blake3 of `data`.
    pub fn blake3(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::serde_bytes::serialize_fixed(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::serde_bytes::deserialize_fixed::<32, D>(d).map(Self)
    }
}

/// The identity of a block: blake3 over the canonical encoding of its header
/// (`specs/wire.md` W-3.1).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockHash(pub Hash32);

impl BlockHash {
    /// The parent hash of a genesis block.
    pub const GENESIS_PARENT: Self = Self(Hash32::ZERO);
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:?}", self.0)
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
