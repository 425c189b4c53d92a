//! # shardnet-consensus
//!
//! The consensus core of one Shardnet shard: 2-chain HotStuff (Jolteon) with proof of
//! stake, as a deterministic, sans-IO state machine. It is fed [`Input`]s with the current
//! time and yields [`Output`]s; it never reads a clock, draws randomness, opens a socket or
//! touches a disk, so the same code runs under tokio and QUIC in production and under a
//! seeded simulator in tests. The rules are numbered in `specs/consensus.md`; code comments
//! cite them.
//!
//! Layers:
//! - [`safety`]: the voting rules (S-1..S-3), small and separately testable.
//! - [`Core`]: rounds, proposals, votes, timeouts, commits, sync.
//! - [`Application`]: what the chain plugs in (payload building and checking, commits).
//! - [`SafetyStore`]: durable safety data (sled, or in memory for simulation).
//! - [`drive`]: a synchronous helper that connects a core to an application and a store.
//!
//! ```
//! use std::sync::Arc;
//! use shardnet_consensus::*;
//! use shardnet_protocol::*;
//!
//! /// The smallest useful application: empty payloads, no execution.
//! struct Empty(Vec<Height>);
//! impl Application for Empty {
//!     fn build(&mut self, _: &PayloadRequest, _: &[Arc<Block>]) -> (Payload, ExecutionCommitment) {
//!         (Payload::default(), ExecutionCommitment::default())
//!     }
//!     fn verify(&mut self, _: &Block, _: &[Arc<Block>]) -> bool { true }
//!     fn commit(&mut self, c: &CommittedBlock) { self.0.push(c.block.header.height) }
//! }
//!
//! // A committee of one: it leads every round and its vote alone is a quorum.
//! let key = SecretKey::from_bytes(&[7; 32]);
//! let member = Member { public_key: key.public_key(), stake: Stake(1), network_address: String::new() };
//! let committee = Committee::new(ChainId(1), ShardId(0), Epoch(0), vec![member])?;
//! let genesis = Arc::new(genesis_block(&committee, 0, ExecutionCommitment::default()));
//! let recovery = Recovery { genesis, safety: None, committed: vec![], blocks: vec![] };
//! // One block every 100 ms at most, so the lone validator does not spin.
//! let cfg = Config { min_block_interval_ms: 100, ..Config::default() };
//! let mut core = Core::new(cfg, committee, Some((ValidatorIndex(0), key)), recovery);
//! let (mut app, mut store) = (Empty(vec![]), MemorySafetyStore::new());
//!
//! // The shell's loop: run the core to quiescence, then fire the earliest timer.
//! core.start(0);
//! let (mut now, mut timers) = (0, std::collections::BTreeSet::new());
//! for _ in 0..10 {
//!     drive(&mut core, &mut app, &mut store, now, |o| {
//!         if let Output::SetTimer { timer, at_ms } = o { timers.insert((at_ms, timer)); }
//!     })?;
//!     let Some((at, timer)) = timers.pop_first() else { break };
//!     now = at;
//!     core.handle(now, Input::Timer(timer));
//! }
//! // Its QCs chain round after round; the 2-chain rule commits blocks in order.
//! assert_eq!(app.0[..3], [Height(1), Height(2), Height(3)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::unwrap_used, clippy::panic)]

/// Set when the core was built with the deliberately broken `broken-persist-before-vote`
/// feature (votes leave before their safety data is durable). Hosts that run real
/// validators must refuse to start when it is set.
pub const BROKEN_BUILD: Option<&str> = if cfg!(feature = "broken-persist-before-vote") {
    Some("broken-persist-before-vote: votes are sent before their safety data is durable")
} else {
    None
};

mod app;
pub mod block_tree;
mod config;
mod core;
pub mod leader;
pub mod messages;
pub mod safety;
pub mod safety_store;
pub mod votes;

pub use app::{Application, DriveError, drive, genesis_block};
pub use config::{Config, REPUTATION_HORIZON};
pub use core::{Core, Fault, Input, Output, PayloadRequest, Recovery, TimerId};
pub use leader::{LeaderElection, LeaderPolicy};
pub use messages::{
    CommittedBlock, ConsensusMessage, Evidence, Proposal, ProposalData, SignedProposal,
};
pub use safety::{SafetyData, SafetyViolation};
#[cfg(feature = "sled-store")]
pub use safety_store::SledSafetyStore;
pub use safety_store::{MemorySafetyStore, SafetyStore, StoreError};
