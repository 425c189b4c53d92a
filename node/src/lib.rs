//! # shardnet (node)
//!
//! Assembles a validator from the sans-IO cores: consensus ([`shardnet_consensus::Core`]),
//! execution ([`shardnet_exec::ShardApp`] on sled) and the QUIC transport
//! ([`shardnet_transport::Network`]). The `shardnet` binary and (later) the full-node
//! simulations share it.
//!
//! - [`validator`]: one validator: an event loop runs the deterministic core and the executor
//!   (in production on a dedicated thread, off the async threads; in simulation inline on a
//!   turmoil host, with virtual time from a [`validator::Clock`]); a tokio task feeds it the
//!   network's messages.
//! - [`ledger`]: committed blocks with their finality proofs, in sled, for restarts and sync.
//! - [`index`]: blocks, transactions, receipts and logs by height and hash, for the RPC.
//! - [`devnet`]: a local cluster on loopback, with prefunded development accounts.
//! - [`rpc`]: the Ethereum JSON-RPC gateway over every shard the process runs.
//! - [`config`]: `node.toml` and key files, for one validator per machine (`shardnet run`).

pub mod bench;
pub mod config;
pub mod devnet;
pub mod index;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod rpc;
pub mod validator;
