//! # shardnet-sim
//!
//! Deterministic simulation of Shardnet. [`consensus`] runs a whole shard committee of real
//! [`shardnet_consensus::Core`]s in one thread, driven by a seeded scheduler and network
//! model (latency, jitter, loss, duplication, reordering, partitions), with crash-restart
//! from persisted safety data and Byzantine validators, checking the invariants of
//! `specs/consensus.md` after every step. The seed is the only source of randomness: a
//! failure reproduces bit for bit from its seed.
//!
//! [`fullstack`] runs real validators (the node's event loop, revm, cross-shard relay) as
//! turmoil hosts over real QUIC, with crash-restart, partitions and datagram faults, a
//! seeded transfer workload across shards, and safety, convergence, lane-drain and
//! value-conservation checks; one seed in, one [`fullstack::Outcome`] out.

pub mod consensus;
pub mod fullstack;
