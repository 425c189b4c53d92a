//! # shardnet-exec
//!
//! Executes a shard's blocks: standard signed Ethereum transactions on revm, over a pluggable
//! synchronous state store, committing to the Ethereum Merkle-Patricia state root so
//! Ethereum tooling and proofs mean what they say. The rules are numbered in
//! `specs/execution.md`.
//!
//! - [`store`]: the [`StateStore`] seam and its sled, in-memory and fault-injecting stores.
//! - [`tx`]: decoding and sender recovery.
//! - [`evm`]: the only module that touches revm.
//! - [`state_root`]: the MPT root.
//! - [`layered`]: state views with uncommitted blocks on top (speculative execution).
//! - [`query`]: read-only calls and gas estimation on committed state (the RPC's `eth_call`).
#![deny(clippy::unwrap_used, clippy::panic)]

pub mod app;
pub mod evm;
pub mod lanes;
pub mod layered;
pub mod mempool;
pub mod query;
pub mod state_root;
pub mod statetest;
pub mod store;
pub mod trie;
pub mod tx;

pub use app::{ShardApp, ShardConfig, next_base_fee};
pub use evm::{BlockHashes, ExecEnv, ExecError, Execution, Fork, TxResult, TxStatus, execute};
pub use mempool::{AddOutcome, Mempool, MempoolConfig, MempoolError, PooledTx};
pub use store::{
    AccountRecord, ChangeSet, FaultyStore, MATERIALISE_AT_RECORDS, MATERIALISE_EVERY_BLOCKS,
    MemoryStore, SledStore, StateStore, StateView, StoreError, StoreMeta,
};
pub use tx::{RecoveredTx, TxError};
