//! Which shard is every EVM address's home (`specs/wire.md` §6, `specs/execution.md`).

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::types::ShardId;

/// How addresses are spread over shards. Fixed by the genesis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardMapScheme {
    /// The last two bytes of the address, big-endian, modulo the shard count. Transparent:
    /// anyone can read an address's shard off its hex, and pick a key for a given shard.
    #[default]
    LowBits,
    /// The first eight bytes of blake3(address), modulo the shard count: balanced even for
    /// adversarially chosen addresses.
    Blake3,
}

/// Maps every EVM address to its one home shard.
///
/// System addresses (the first 18 bytes zero: precompiles, the cross-shard precompile and
/// other protocol contracts) have no home: they exist on every shard and calls to them are
/// always local.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardMap {
    /// Number of shards (at least 1).
    pub shards: u16,
    /// The assignment rule.
    #[serde(default)]
    pub scheme: ShardMapScheme,
}

impl ShardMap {
    /// A map over `shards` shards (clamped to at least 1).
    pub fn new(shards: u16, scheme: ShardMapScheme) -> Self {
        Self {
            shards: shards.max(1),
            scheme,
        }
    }

    /// Whether `address` is a system address present on every shard.
    pub fn is_system(address: &Address) -> bool {
        address.0.0.iter().take(18).all(|&b| b == 0)
    }

    /// The home shard of `address`.
    pub fn home(&self, address: &Address) -> ShardId {
        let n = u64::from(self.shards.max(1));
        let x = match self.scheme {
            ShardMapScheme::LowBits => {
                let [.., hi, lo] = address.0.0;
                u64::from(u16::from_be_bytes([hi, lo]))
            }
            ShardMapScheme::Blake3 => {
                let h = blake3::hash(address.as_slice());
                let mut first = [0u8; 8];
                first.copy_from_slice(&h.as_bytes()[..8]);
                u64::from_be_bytes(first)
            }
        };
        ShardId((x % n) as u16)
    }

    /// Whether a call from `shard` to `address` stays on `shard`.
    pub fn is_local(&self, shard: ShardId, address: &Address) -> bool {
        Self::is_system(address) || self.home(address) == shard
    }

    /// All shard ids, in order.
    pub fn shard_ids(&self) -> impl Iterator<Item = ShardId> {
        (0..self.shards).map(ShardId)
    }
}
