//! Files an operator writes: the validator key file and `node.toml`.
//!
//! ```toml
//! # node.toml
//! key_file = "validator.key"     # hex ed25519 seed, written by `shardnet keygen`
//! genesis_file = "genesis.toml"  # written by `shardnet genesis`
//! data_dir = "data"
//! block_interval_ms = 500        # optional
//! rpc_addr = "127.0.0.1:8545"    # optional: serve JSON-RPC for this validator's shard
//! metrics_addr = "127.0.0.1:9545" # optional: serve Prometheus metrics at /metrics
//! ```
//! Relative paths are relative to the directory of `node.toml`.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::Deserialize;
use shardnet_protocol::{Genesis, SecretKey};

/// `node.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The validator's key file.
    pub key_file: PathBuf,
    /// The network's genesis file.
    pub genesis_file: PathBuf,
    /// Where the validator keeps its database.
    pub data_dir: PathBuf,
    /// Least milliseconds between blocks.
    #[serde(default = "default_interval")]
    pub block_interval_ms: u64,
    /// Where to serve JSON-RPC for this validator's shard (`specs/rpc.md`); none if absent.
    #[serde(default)]
    pub rpc_addr: Option<std::net::SocketAddr>,
    /// Where to serve Prometheus metrics (`/metrics`); none if absent.
    #[serde(default)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

fn default_interval() -> u64 {
    500
}

/// A loaded `node.toml` with its key and genesis.
#[derive(Debug)]
pub struct Loaded {
    /// The config, paths resolved.
    pub config: NodeConfig,
    /// The validator key.
    pub key: SecretKey,
    /// The genesis.
    pub genesis: Genesis,
}

/// Reads a key file: 64 hex digits (optionally `0x`-prefixed), whitespace ignored.
pub fn read_key(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let digits = text.trim().trim_start_matches("0x");
    let mut seed = [0u8; 32];
    hex_decode(digits, &mut seed).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(SecretKey::from_bytes(&seed))
}

fn hex_decode(digits: &str, out: &mut [u8; 32]) -> Result<(), String> {
    if digits.len() != 64 {
        return Err(format!("expected 64 hex digits, found {}", digits.len()));
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits.get(2 * i..2 * i + 2).ok_or("truncated")?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| format!("invalid hex digits {pair:?}"))?;
    }
    Ok(())
}

/// Loads `node.toml`, its key and its genesis, with errors that name the file and field.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: NodeConfig =
        toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [
        &mut config.key_file,
        &mut config.genesis_file,
        &mut config.data_dir,
    ] {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    let key = read_key(&config.key_file)?;
    let genesis_text = std::fs::read_to_string(&config.genesis_file)
        .with_context(|| format!("reading {}", config.genesis_file.display()))?;
    let genesis = Genesis::from_toml(&genesis_text)
        .map_err(|e| anyhow!("{}: {e}", config.genesis_file.display()))?;
    if genesis.committees()?.locate(&key.public_key()).is_none() {
        return Err(anyhow!(
            "{}: key {} is not a validator in {}",
            config.key_file.display(),
            key.public_key(),
            config.genesis_file.display()
        ));
    }
    Ok(Loaded {
        config,
        key,
        genesis,
    })
}
