//! # shardnet-sim
//!
//! Deterministic simulation of Shardnet. [`consensus`] runs a whole shard committee of real
//! [`shardnet_consensus::Core`]s in one thread, driven by a seeded scheduler and network
//! model (latency, jitter, loss, duplication, reordering, partitions), with crash-restart
//! from persisted safety data and Byzantine validators, checking the invariants of
//! `specs/consensus.md` after every step. The seed is the only source of randomness: a
//! failure reproduces bit for bit from its seed.

pub mod consensus;
