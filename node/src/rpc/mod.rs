//! The Ethereum JSON-RPC gateway (`specs/rpc.md`), on jsonrpsee over HTTP.
//!
//! One server serves every shard this node runs: `/` routes each call to the shard that owns
//! the address it is about (`ShardMap::home`), `/shard/N` answers for shard N only. Reads go
//! straight to a validator's sled trees (committed state, chain index, ledger); submissions
//! and mempool reads go through its event loop ([`crate::validator::ShardHandle`]).
//!
//! - [`server`]: limits, the path → endpoint layer, the method table.
//! - [`backend`]: the served shards and the routing rules.
//! - `eth`, `chain`, `shardnet`: the methods; `params`, `types`: their inputs and outputs;
//!   [`error`]: error codes.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use shardnet_node::devnet::{Devnet, DevnetConfig};
//! use shardnet_node::rpc::{self, RpcConfig};
//! let rt = tokio::runtime::Runtime::new()?;
//! let cfg = DevnetConfig {
//!     shards: 2,
//!     validators: 1,
//!     data_dir: std::env::temp_dir().join("shardnet-doc-devnet"),
//!     chain_id: 1337,
//!     accounts: 2,
//!     block_interval_ms: 100,
//! };
//! let net = Devnet::start(&cfg, rt.handle())?;
//! let server = rpc::start(net.gateway(), &RpcConfig::default(), rt.handle())?;
//! println!("JSON-RPC at {}", server.url());
//! # Ok(())
//! # }
//! ```

pub mod backend;
mod chain;
pub mod error;
mod eth;
mod params;
pub mod server;
mod shardnet;
mod types;

pub use backend::{Endpoint, Gateway, ShardBackend};
pub use chain::{MAX_LOG_BLOCK_RANGE, MAX_LOGS};
pub use error::RpcError;
pub use eth::{MAX_FEE_HISTORY_BLOCKS, MAX_REWARD_PERCENTILES, SUGGESTED_TIP_WEI};
pub use server::{DEFAULT_RPC_PORT, RpcConfig, RpcServer, RpcStartError, start};
