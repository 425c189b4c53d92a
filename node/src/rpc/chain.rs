//! `eth_*` methods on chain data: blocks, transactions, receipts and logs, read from the
//! chain index (`specs/rpc.md` ).

use alloy_primitives::B256;

use super::backend::{Endpoint, Gateway, ShardBackend};
use super::error::RpcError;
use super::params::{Args, BlockTag, FilterObject, FilterRange, LogFilter};
use super::types::{BlockTransactions, Position, RpcBlock, RpcLog, RpcReceipt, RpcTransaction};
use crate::index::BlockRecord;

/// Most blocks one `eth_getLogs` scans, per shard.
pub const MAX_LOG_BLOCK_RANGE: u64 = 10_000;

/// Most logs one `eth_getLogs` returns.
pub const MAX_LOGS: usize = 10_000;

fn block_object(
    shard: &ShardBackend,
    block: &BlockRecord,
    full: bool,
) -> Result<RpcBlock, RpcError> {
    let transactions = if full {
        let txs = shard.primary().index().txs_of(block.height)?;
        let mut out = Vec::with_capacity(txs.len());
        for (i, t) in txs.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| RpcError::Internal("block size".into()))?;
            out.push(RpcTransaction::committed(t, Position::of(block, index))?);
        }
        BlockTransactions::Full(out)
    } else {
        BlockTransactions::Hashes(block.tx_hashes.clone())
    };
    Ok(RpcBlock::new(block, transactions))
}

pub(crate) fn get_block_by_number(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<RpcBlock>, RpcError> {
    let tag = args.block(0)?;
    let full: bool = args.opt(1, "full transactions")?.unwrap_or(false);
    let shard = gw.default_shard(ep)?;
    let height = match (ep, tag) {
        // the gateway's latest block is its block number, final on every shard.
        (Endpoint::Gateway, BlockTag::Latest | BlockTag::Pending) => gw.block_number(ep)?,
        (_, BlockTag::Number(n)) => n,
        _ => shard.height(tag)?,
    };
    match shard.block(height)? {
        Some(b) if b.height <= shard.head()?.height => Ok(Some(block_object(shard, &b, full)?)),
        _ => Ok(None),
    }
}

pub(crate) fn get_block_by_hash(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<RpcBlock>, RpcError> {
    let hash: B256 = args.req(0, "block hash")?;
    let full: bool = args.opt(1, "full transactions")?.unwrap_or(false);
    for shard in gw.searched(ep)? {
        if let Some(b) = shard.primary().index().block_by_hash(&hash)? {
            return Ok(Some(block_object(shard, &b, full)?));
        }
    }
    Ok(None)
}

/// The committed transaction `hash` on any searched shard, with its block.
fn find_tx(
    gw: &Gateway,
    ep: Endpoint,
    hash: &B256,
) -> Result<Option<(crate::index::TxRecord, Position)>, RpcError> {
    for shard in gw.searched(ep)? {
        let index = shard.primary().index();
        let Some((height, position)) = index.locate_tx(hash)? else {
            continue;
        };
        let (Some(block), Some(tx)) = (index.block(height)?, index.tx(height, position)?) else {
            continue; // Being written right now: not committed yet.
        };
        return Ok(Some((tx, Position::of(&block, position))));
    }
    Ok(None)
}

pub(crate) fn get_transaction_by_hash(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<RpcTransaction>, RpcError> {
    let hash: B256 = args.req(0, "transaction hash")?;
    if let Some((tx, position)) = find_tx(gw, ep, &hash)? {
        return Ok(Some(RpcTransaction::committed(&tx, position)?));
    }
    // Not committed: pending in a mempool?
    for shard in gw.searched(ep)? {
        let pooled = shard
            .primary()
            .query(move |app| app.mempool().get(&hash))
            .map_err(RpcError::Internal)?;
        if let Some(p) = pooled {
            return Ok(Some(RpcTransaction::new(
                &p.tx().envelope,
                p.sender(),
                None,
            )));
        }
    }
    Ok(None)
}

pub(crate) fn get_transaction_receipt(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<Option<RpcReceipt>, RpcError> {
    let hash: B256 = args.req(0, "transaction hash")?;
    match find_tx(gw, ep, &hash)? {
        Some((tx, position)) => Ok(Some(RpcReceipt::new(&tx, position)?)),
        None => Ok(None),
    }
}

pub(crate) fn get_logs(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<Vec<RpcLog>, RpcError> {
    let filter = args.req::<FilterObject>(0, "filter")?.into_filter()?;
    // On the gateway, a filter naming addresses only scans their home shards.
    let shards: Vec<&ShardBackend> = match ep {
        Endpoint::Gateway if !filter.addresses.is_empty() => {
            let mut ids: Vec<u16> = Vec::new();
            for a in &filter.addresses {
                let id = gw.for_address(ep, a)?.id().0;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids.sort_unstable();
            ids.into_iter()
                .map(|id| gw.shard(shardnet_protocol::ShardId(id)))
                .collect::<Result<_, _>>()?
        }
        _ => gw.searched(ep)?,
    };
    let mut out = Vec::new();
    for shard in shards {
        let Some((from, to)) = resolve_range(shard, &filter)? else {
            continue;
        };
        scan(shard, &filter, from, to, &mut out)?;
    }
    Ok(out)
}

/// The heights of `shard` a filter covers, `None` if none.
fn resolve_range(shard: &ShardBackend, f: &LogFilter) -> Result<Option<(u64, u64)>, RpcError> {
    match f.range {
        FilterRange::Hash(hash) => Ok(shard
            .primary()
            .index()
            .block_by_hash(&hash)?
            .map(|b| (b.height, b.height))),
        FilterRange::Range(from, to) => {
            let head = shard.head()?.height;
            // Numbers past the head are clamped to it (as geth does); tags are per shard.
            let resolve = |t: BlockTag| match t {
                BlockTag::Number(n) => Ok(n.min(head)),
                t => shard.height(t),
            };
            if let BlockTag::Number(n) = from
                && n > head
            {
                return Ok(None);
            }
            let (from, to) = (resolve(from)?, resolve(to)?);
            if from > to {
                return Err(RpcError::params(format!(
                    "fromBlock {from} is after toBlock {to}"
                )));
            }
            if to - from >= MAX_LOG_BLOCK_RANGE {
                return Err(RpcError::Limit(format!(
                    "block range {from}..={to} spans more than {MAX_LOG_BLOCK_RANGE} blocks; \
                     query a narrower range"
                )));
            }
            Ok(Some((from, to)))
        }
    }
}

fn push(out: &mut Vec<RpcLog>, log: RpcLog) -> Result<(), RpcError> {
    if out.len() >= MAX_LOGS {
        return Err(RpcError::Limit(format!(
            "query returns more than {MAX_LOGS} logs; query a narrower range"
        )));
    }
    out.push(log);
    Ok(())
}

fn scan(
    shard: &ShardBackend,
    filter: &LogFilter,
    from: u64,
    to: u64,
    out: &mut Vec<RpcLog>,
) -> Result<(), RpcError> {
    let index = shard.primary().index();
    for height in from..=to {
        let Some(block) = index.block(height)? else {
            continue;
        };
        if !filter.may_match(&block.logs_bloom) {
            continue;
        }
        let txs = index.txs_of(height)?;
        for (i, tx) in txs.iter().enumerate() {
            let position = Position::of(
                &block,
                u32::try_from(i).map_err(|_| RpcError::Internal("block size".into()))?,
            );
            for (log, log_index) in tx.logs.iter().zip(tx.first_log_index..) {
                if filter.matches(&log.address, &log.topics) {
                    push(out, RpcLog::new(log, tx, position, log_index))?;
                }
            }
        }
        // then the logs of inbound cross-shard calls and callbacks, each message
        // counted as one position after the transactions.
        for (k, inbound) in index.inbound_logs_of(height)?.iter().enumerate() {
            let position = Position::of(
                &block,
                u32::try_from(txs.len() + k)
                    .map_err(|_| RpcError::Internal("block size".into()))?,
            );
            for (log, log_index) in inbound.logs.iter().zip(inbound.first_log_index..) {
                if filter.matches(&log.address, &log.topics) {
                    push(
                        out,
                        RpcLog::inbound(log, inbound.origin_tx, position, log_index),
                    )?;
                }
            }
        }
    }
    Ok(())
}
