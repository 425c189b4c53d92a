//! # shardnet-sim
//!
//! Deterministic simulation of Shardnet. [`consensus`] runs a whole shard committee of real
//! [`shardnet_consensus::Core`]s in one thread, driven by a seeded scheduler and network
//! model (latency, jitter, loss, duplication, reordering, partitions, clock skew), with
//! crash-restart from persisted safety data (also in the middle of a persist) and Byzantine
//! validators, checking the invariants of `specs/consensus.md` after every step. Scenarios
//! are TOML data (`sim-tests/scenarios/`). The seed is the only source of randomness: a
//! failure reproduces bit for bit from its seed.
//!
//! [`cli`] is the runner shell shared by `shardnet sim` and the `consensus-sim` binary.
//! The full-stack turmoil suites (real validators over QUIC) are the `shardnet-fullstack`
//! crate in `sim-tests/fullstack`: they depend on the node, which depends on this crate for
//! `shardnet sim`.

pub mod cli;
pub mod consensus;

/// The git commit this was built from ("unknown" without git), for failure reports.
pub const GIT_COMMIT: &str = match option_env!("SHARDNET_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
