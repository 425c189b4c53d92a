//! Cross-shard lanes, the sans-IO core (`specs/cross-shard.md`): deterministic functions with
//! no EVM, store or network in them, so they can be property-tested alone and shared by the
//! executor, the relay and the simulators.
//!
//! - [`outbox`]: numbering a block's emitted messages into lanes (CS-2), the outbox root
//!   (CS-7) and the segments that prove them to a destination (CS-8).
//! - [`segment`]: checking a received segment offline against every shard's committee (CS-8).
//! - [`inbox`]: choosing which verified messages a destination block executes, exactly once,
//!   in order, responses first, round robin, within its gas budget (CS-3, CS-9).
//! - [`pull`]: when a destination validator pulls missing lane ranges, and from whom (CS-16).

pub mod congestion;
pub mod inbox;
pub mod outbox;
pub mod pull;
pub mod segment;
pub mod system;

use std::collections::BTreeMap;

use shardnet_protocol::LaneId;

/// Per inbound lane, the highest sequence executed (CS-2); absent means 0.
pub type Watermarks = BTreeMap<LaneId, u64>;

/// Per outbound lane, the last sequence emitted (CS-2); absent means 0.
pub type Sequences = BTreeMap<LaneId, u64>;
