//! Congestion control at the source (CS-15): per-lane credits against the destination's
//! certified watermark, and admission of transactions that would send to a congested shard.
//!
//! Both read only `CROSS_SHARD`'s storage, so the precompile (deterministically, inside
//! execution) and the mempool and RPC (against the committed state) agree on the numbers.

use alloy_primitives::{Address, U256};
use shardnet_protocol::{LaneClass, LaneId, ShardId, ShardMap};

use super::system::{CROSS_SHARD, SendRequest, slots};
use crate::store::{StateView, StoreError, hash_address, hash_slot};

/// The congestion parameters of a network (genesis constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Congestion {
    /// Most request messages a lane may have beyond the destination's certified watermark;
    /// a send beyond it reverts with `LaneFull`.
    pub lane_credits: u64,
    /// Backlog (emitted minus certified) above which the mempool refuses new transactions that
    /// would send to that shard.
    pub threshold: u64,
}

impl Default for Congestion {
    fn default() -> Self {
        Self {
            lane_credits: 1_024,
            threshold: 768,
        }
    }
}

/// One outbound lane, as `shardnet_laneStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneStatus {
    /// The lane.
    pub lane: LaneId,
    /// Messages emitted so far (the last sequence).
    pub emitted: u64,
    /// Highest sequence the destination has certified executing.
    pub certified: u64,
    /// `emitted − certified`: in flight or waiting.
    pub backlog: u64,
    /// Whether the mempool admits new transactions that send on it (requests only; responses
    /// are never refused).
    pub admitting: bool,
}

fn slot<V: StateView + ?Sized>(view: &V, slot: U256) -> Result<u64, StoreError> {
    Ok(view
        .storage(&hash_address(&CROSS_SHARD), &hash_slot(&slot))?
        .saturating_to())
}

/// Every outbound lane of `shard` (both classes to every other shard), in lane order.
pub fn lane_status<V: StateView + ?Sized>(
    view: &V,
    shard: ShardId,
    map: &ShardMap,
    c: &Congestion,
) -> Result<Vec<LaneStatus>, StoreError> {
    let mut out = Vec::new();
    for destination in (0..map.shards).map(ShardId).filter(|d| *d != shard) {
        for class in [LaneClass::Request, LaneClass::Response] {
            let lane = LaneId {
                source: shard,
                destination,
                class,
            };
            let emitted = slot(view, slots::outbound(&lane))?;
            let certified = slot(view, slots::certified(&lane))?.min(emitted);
            let backlog = emitted - certified;
            out.push(LaneStatus {
                lane,
                emitted,
                certified,
                backlog,
                admitting: class == LaneClass::Response || backlog <= c.threshold,
            });
        }
    }
    Ok(out)
}

/// The shard a transaction would send to at top level: a plain transaction to a foreign
/// address (CS-6) or a direct call of `CROSS_SHARD`. Sends made by contracts are only known
/// when they execute; the lane credits bound those.
pub fn destination_of(
    to: Option<Address>,
    input: &[u8],
    shard: ShardId,
    map: &ShardMap,
) -> Option<ShardId> {
    let to = to?;
    let target = if to == CROSS_SHARD {
        match SendRequest::decode(input).ok()? {
            SendRequest::Transfer { to } | SendRequest::Call { to, .. } => to,
        }
    } else {
        to
    };
    (!map.is_local(shard, &target)).then(|| map.home(&target))
}

/// The backlog of the request lane from `shard` to `destination`, if it refuses admission.
pub fn congested<V: StateView + ?Sized>(
    view: &V,
    shard: ShardId,
    destination: ShardId,
    c: &Congestion,
) -> Result<Option<u64>, StoreError> {
    let lane = LaneId {
        source: shard,
        destination,
        class: LaneClass::Request,
    };
    let emitted = slot(view, slots::outbound(&lane))?;
    let certified = slot(view, slots::certified(&lane))?.min(emitted);
    let backlog = emitted - certified;
    Ok((backlog > c.threshold).then_some(backlog))
}
