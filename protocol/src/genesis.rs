//! The genesis file: chain id, shard map, validators and prefunded accounts, in TOML.
//!
//! Errors name the field and the reason, e.g. `validators[3].shard: shard 5 does not exist
//! (the shard map has 4 shards)`.

use std::collections::BTreeSet;

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::committee::{Committee, Committees, Member};
use crate::crypto::PublicKey;
use crate::limits::{MAX_GENESIS_ACCOUNTS, MAX_NETWORK_ADDRESS_BYTES, MAX_SHARDS, MAX_VALIDATORS};
use crate::shard_map::ShardMap;
use crate::types::{ChainId, Epoch, ShardId, Stake};

/// Why a genesis or config file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Not valid TOML, or a field has the wrong type (the message names line and field).
    #[error("{0}")]
    Parse(String),
    /// A field holds a value the protocol cannot accept.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field, e.g. `validators[2].stake`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One validator in the genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// ed25519 public key, `0x`-hex.
    pub public_key: PublicKey,
    /// Voting power in its shard.
    pub stake: Stake,
    /// `host:port` of its QUIC endpoint.
    pub address: String,
    /// The shard it validates.
    pub shard: ShardId,
}

/// One prefunded account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account; it is created on its home shard.
    pub address: Address,
    /// Balance in wei, as a decimal or `0x`-hex string.
    pub balance: U256,
}

/// A network's genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id, also bound into every consensus signature.
    pub chain_id: ChainId,
    /// Genesis timestamp, milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp_ms: u64,
    /// How addresses map to shards.
    pub shard_map: ShardMap,
    /// Validators of every shard; index order within a shard is file order.
    pub validators: Vec<GenesisValidator>,
    /// Prefunded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
}

impl Genesis {
    /// The epoch of the genesis committees.
    pub const EPOCH: Epoch = Epoch(0);

    /// Parses and validates a genesis file.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let genesis: Self = toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Writes the genesis as TOML.
    pub fn to_toml(&self) -> String {
        // A Genesis has no map keys or values TOML cannot express.
        #[allow(clippy::expect_used)]
        toml::to_string_pretty(self).expect("a genesis always serializes to TOML")
    }

    /// Checks everything a parser cannot: ranges, uniqueness, every shard staffed.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.0 == 0 {
            return Err(invalid("chain_id", "must not be 0"));
        }
        let shards = usize::from(self.shard_map.shards);
        if shards == 0 || shards > MAX_SHARDS {
            return Err(invalid(
                "shard_map.shards",
                format!("must be 1 to {MAX_SHARDS}"),
            ));
        }
        if self.validators.len() > MAX_VALIDATORS {
            return Err(invalid("validators", format!("more than {MAX_VALIDATORS}")));
        }
        if self.accounts.len() > MAX_GENESIS_ACCOUNTS {
            return Err(invalid(
                "accounts",
                format!("more than {MAX_GENESIS_ACCOUNTS}"),
            ));
        }
        let mut keys = BTreeSet::new();
        for (i, v) in self.validators.iter().enumerate() {
            let at = |f: &str| format!("validators[{i}].{f}");
            if usize::from(v.shard.0) >= shards {
                return Err(invalid(
                    at("shard"),
                    format!(
                        "{} does not exist (the shard map has {shards} shards)",
                        v.shard
                    ),
                ));
            }
            if v.stake.0 == 0 {
                return Err(invalid(at("stake"), "must be greater than 0"));
            }
            if v.address.is_empty() || v.address.len() > MAX_NETWORK_ADDRESS_BYTES {
                return Err(invalid(
                    at("address"),
                    "must be a host:port of at most 256 bytes",
                ));
            }
            if !keys.insert(v.public_key) {
                return Err(invalid(
                    at("public_key"),
                    "key already used by another validator",
                ));
            }
        }
        for shard in self.shard_map.shard_ids() {
            if !self.validators.iter().any(|v| v.shard == shard) {
                return Err(invalid("validators", format!("{shard} has no validator")));
            }
        }
        let mut addresses = BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if !addresses.insert(a.address) {
                return Err(invalid(format!("accounts[{i}].address"), "listed twice"));
            }
        }
        self.committees().map(|_| ())
    }

    /// The committee of every shard, members in file order.
    pub fn committees(&self) -> Result<Committees, GenesisError> {
        let mut out = Vec::new();
        for shard in self.shard_map.shard_ids() {
            let members = self
                .validators
                .iter()
                .filter(|v| v.shard == shard)
                .map(|v| Member {
                    public_key: v.public_key,
                    stake: v.stake,
                    network_address: v.address.clone(),
                })
                .collect();
            let committee = Committee::new(self.chain_id, shard, Self::EPOCH, members)
                .map_err(|e| invalid("validators", e.to_string()))?;
            out.push(committee);
        }
        Ok(Committees::new(out))
    }

    /// Prefunded accounts whose home is `shard`.
    pub fn accounts_on(&self, shard: ShardId) -> impl Iterator<Item = &GenesisAccount> {
        self.accounts
            .iter()
            .filter(move |a| self.shard_map.home(&a.address) == shard)
    }
}
