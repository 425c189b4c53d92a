//! `shardnet_*` methods: what Ethereum's namespace has no words for (`specs/rpc.md` R-7).

use alloy_primitives::{Address, B256, Bytes, U64};
use serde::Serialize;
use shardnet_protocol::ShardId;
use shardnet_protocol::codec::canonical_bytes;

use super::backend::{Endpoint, Gateway};
use super::error::RpcError;
use super::params::{Args, Quantity};

/// `shardnet_shardOf`: an address's home shard (system addresses live on every shard; their
/// "home" is reported as the map computes it).
pub(crate) fn shard_of(gw: &Gateway, args: &Args) -> Result<U64, RpcError> {
    let address: Address = args.req(0, "address")?;
    Ok(U64::from(gw.shard_map().home(&address).0))
}

/// One shard in `shardnet_status`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ShardStatus {
    shard: U64,
    height: U64,
    head_hash: B256,
    state_root: B256,
    base_fee_per_gas: U64,
    round: U64,
    local_validators: U64,
}

/// `shardnet_status`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    chain_id: U64,
    shard_count: U64,
    block_number: U64,
    shards: Vec<ShardStatus>,
}

pub(crate) fn status(gw: &Gateway, ep: Endpoint) -> Result<Status, RpcError> {
    let mut shards = Vec::new();
    for s in gw.searched(ep)? {
        let head = s.head()?;
        let status = s.primary().status();
        shards.push(ShardStatus {
            shard: U64::from(s.id().0),
            height: U64::from(head.height),
            head_hash: head.block_hash,
            state_root: head.state_root,
            base_fee_per_gas: U64::from(head.base_fee),
            round: U64::from(status.round),
            local_validators: U64::from(s.local_validators()),
        });
    }
    Ok(Status {
        chain_id: U64::from(gw.chain_id()),
        shard_count: U64::from(gw.shard_map().shards),
        block_number: U64::from(gw.block_number(ep)?),
        shards,
    })
}

/// One outbound lane in `shardnet_laneStatus` (CS-15).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LaneStatus {
    source: U64,
    destination: U64,
    /// `"request"` or `"response"`.
    class: &'static str,
    /// Messages emitted so far.
    emitted: U64,
    /// Highest sequence the destination certified executing.
    certified: U64,
    /// `emitted − certified`.
    backlog: U64,
    /// Whether the source's mempool admits transactions that send on this lane.
    admitting: bool,
}

/// `shardnet_laneStatus`: every outbound lane of the served shards, with its backlog and
/// whether sends are admitted, so a client can check before sending (CS-15).
pub(crate) fn lane_status(gw: &Gateway, ep: Endpoint) -> Result<Vec<LaneStatus>, RpcError> {
    let mut out = Vec::new();
    for s in gw.searched(ep)? {
        let h = s.primary();
        let cfg = h.config();
        let lanes = shardnet_exec::lanes::congestion::lane_status(
            h.store(),
            cfg.shard,
            &cfg.shard_map,
            &cfg.congestion,
        )?;
        out.extend(lanes.into_iter().map(|l| LaneStatus {
            source: U64::from(l.lane.source.0),
            destination: U64::from(l.lane.destination.0),
            class: match l.lane.class {
                shardnet_protocol::LaneClass::Request => "request",
                shardnet_protocol::LaneClass::Response => "response",
            },
            emitted: U64::from(l.emitted),
            certified: U64::from(l.certified),
            backlog: U64::from(l.backlog),
            admitting: l.admitting,
        }));
    }
    Ok(out)
}

/// One shard's view of a call in `shardnet_messageStatus`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageStep {
    shard: U64,
    block_number: U64,
    /// 0 Ok, 1 Revert, 2 OutOfGas, 3 TimedOut, 4 Rejected.
    outcome: U64,
    data: Bytes,
    refund: alloy_primitives::U256,
}

/// `shardnet_messageStatus`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageStatus {
    call_id: B256,
    /// `"pending"` (sent, not yet executed on its destination), `"executed"` (executed, its
    /// response on the way back) or `"completed"` (the response, and any callback, executed
    /// on the caller's shard).
    status: &'static str,
    /// The shard whose `CROSS_SHARD` holds the call's escrow, while it is open.
    open_on: Option<U64>,
    executed: Option<MessageStep>,
    response: Option<MessageStep>,
}

/// `shardnet_messageStatus(callId)`: where a cross-shard call (or creation) is, and its outcome,
/// from every served shard's index and state; `null` if no served shard knows it.
pub(crate) fn message_status(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<MessageStatus>, RpcError> {
    use shardnet_exec::StateView;
    use shardnet_exec::lanes::system::{CROSS_SHARD, slots};
    use shardnet_exec::store::{hash_address, hash_slot};
    let call_id: B256 = args.req(0, "callId")?;
    let step = |r: crate::index::MessageRecord| MessageStep {
        shard: U64::from(r.shard),
        block_number: U64::from(r.height),
        outcome: U64::from(r.outcome),
        data: r.data,
        refund: r.refund,
    };
    let (mut executed, mut response, mut open_on) = (None, None, None);
    for s in gw.searched(ep)? {
        let h = s.primary();
        let (e, r) = h.index().message(&call_id)?;
        executed = executed.or(e.map(step));
        response = response.or(r.map(step));
        let escrow = h.store().storage(
            &hash_address(&CROSS_SHARD),
            &hash_slot(&slots::open_call(&shardnet_protocol::Hash32(call_id.0))),
        )?;
        if !escrow.is_zero() {
            open_on = Some(U64::from(s.id().0));
        }
    }
    let status = match (&executed, &response, &open_on) {
        (_, Some(_), _) => "completed",
        (Some(_), None, _) => "executed",
        (None, None, Some(_)) => "pending",
        (None, None, None) => return Ok(None),
    };
    Ok(Some(MessageStatus {
        call_id,
        status,
        open_on,
        executed,
        response,
    }))
}

/// `shardnet_finalityProof`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Proof {
    shard: U64,
    height: U64,
    block_hash: B256,
    /// The canonical encoding of the block's `FinalityProof` (`specs/wire.md` W-3.7).
    proof: Bytes,
}

pub(crate) fn finality_proof(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<Proof>, RpcError> {
    let shard = ShardId(
        u16::try_from(args.req::<Quantity>(0, "shard")?.0)
            .map_err(|_| RpcError::params("shard id above 65535"))?,
    );
    if let Endpoint::Shard(id) = ep
        && id != shard
    {
        return Err(RpcError::params(format!(
            "this endpoint serves shard {}, not shard {}",
            id.0, shard.0
        )));
    }
    let height = args.req::<Quantity>(1, "height")?.0;
    let backend = gw.shard(shard)?;
    // Genesis has no finality proof; other heights are in the ledger once committed.
    let Some(committed) = backend.primary().ledger().get(height)? else {
        return Ok(None);
    };
    Ok(Some(Proof {
        shard: U64::from(shard.0),
        height: U64::from(height),
        block_hash: B256::from(committed.block.hash().0.0),
        proof: canonical_bytes(&committed.proof).into(),
    }))
}
