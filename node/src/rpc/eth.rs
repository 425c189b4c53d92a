//! `eth_*`, `net_*` and `web3_*` methods on state, calls, fees and submission
//! (`specs/rpc.md` ). Chain data (blocks, transactions, receipts, logs) is in
//! `chain.rs`.

use std::collections::BTreeSet;

use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use shardnet_exec::evm::CrossShardEnv;
use shardnet_exec::query::{self, CallRequest, CallStatus, QueryError};
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{RecoveredTx, StateView, next_base_fee};

use super::backend::{Endpoint, Gateway, ShardBackend};
use super::error::RpcError;
use super::params::{Args, BlockTag, CallObject, Quantity};
use super::types::FeeHistory;

/// The priority fee the node suggests, in wei. Blocks are far from full on a Shardnet shard
/// and the mempool orders by tip, so any tip is included; one gwei is what wallets expect.
pub const SUGGESTED_TIP_WEI: u128 = 1_000_000_000;

/// Most blocks one `eth_feeHistory` covers.
pub const MAX_FEE_HISTORY_BLOCKS: u64 = 1024;

/// Most reward percentiles one `eth_feeHistory` asks for.
pub const MAX_REWARD_PERCENTILES: usize = 100;

pub(crate) fn chain_id(gw: &Gateway) -> U64 {
    U64::from(gw.chain_id())
}

pub(crate) fn net_version(gw: &Gateway) -> String {
    gw.chain_id().to_string()
}

pub(crate) fn client_version() -> String {
    format!("shardnet/v{}", env!("CARGO_PKG_VERSION"))
}

pub(crate) fn block_number(gw: &Gateway, ep: Endpoint) -> Result<U64, RpcError> {
    gw.block_number(ep).map(U64::from)
}

pub(crate) fn get_balance(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<U256, RpcError> {
    let address: Address = args.req(0, "address")?;
    let shard = gw.for_address(ep, &address)?;
    shard.state_at(args.block(1)?)?;
    let account = shard.primary().store().account(&hash_address(&address))?;
    Ok(account.map_or(U256::ZERO, |a| a.balance))
}

pub(crate) fn get_transaction_count(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<U64, RpcError> {
    let address: Address = args.req(0, "address")?;
    let shard = gw.for_address(ep, &address)?;
    let tag = args.block(1)?;
    shard.state_at(tag)?;
    if tag == BlockTag::Pending {
        // The committed nonce, advanced past the sender's consecutive pooled transactions.
        let next = shard
            .primary()
            .query(move |app| -> Result<u64, RpcError> {
                let nonce = app
                    .store()
                    .account(&hash_address(&address))?
                    .map_or(0, |a| a.nonce);
                let pooled: BTreeSet<u64> = app
                    .mempool()
                    .sender_txs(&address)
                    .map(|t| t.nonce())
                    .collect();
                let mut next = nonce;
                while pooled.contains(&next) {
                    next += 1;
                }
                Ok(next)
            })
            .map_err(RpcError::Internal)??;
        return Ok(U64::from(next));
    }
    let account = shard.primary().store().account(&hash_address(&address))?;
    Ok(U64::from(account.map_or(0, |a| a.nonce)))
}

pub(crate) fn get_code(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<Bytes, RpcError> {
    let address: Address = args.req(0, "address")?;
    let shard = gw.for_address(ep, &address)?;
    shard.state_at(args.block(1)?)?;
    let store = shard.primary().store();
    let Some(account) = store.account(&hash_address(&address))? else {
        return Ok(Bytes::new());
    };
    Ok(store.code(&account.code_hash)?.unwrap_or_default())
}

pub(crate) fn get_storage_at(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<B256, RpcError> {
    let address: Address = args.req(0, "address")?;
    let slot: U256 = args.req(1, "slot")?;
    let shard = gw.for_address(ep, &address)?;
    shard.state_at(args.block(2)?)?;
    let value = shard
        .primary()
        .store()
        .storage(&hash_address(&address), &hash_slot(&slot))?;
    Ok(B256::from(value))
}

/// Where a call runs: the callee's shard (its code and storage are there), else the caller's.
fn call_shard<'a>(
    gw: &'a Gateway,
    ep: Endpoint,
    req: &CallRequest,
) -> Result<&'a ShardBackend, RpcError> {
    match req.to.or(req.from) {
        Some(a) => gw.for_address(ep, &a),
        None => gw.default_shard(ep),
    }
}

/// Where an estimate runs: the caller's shard, where the transaction would execute.
fn estimate_shard<'a>(
    gw: &'a Gateway,
    ep: Endpoint,
    req: &CallRequest,
) -> Result<&'a ShardBackend, RpcError> {
    match req.from.or(req.to) {
        Some(a) => gw.for_address(ep, &a),
        None => gw.default_shard(ep),
    }
}

fn query_error(e: QueryError) -> RpcError {
    match e {
        QueryError::Reverted(data) => RpcError::Reverted(data),
        QueryError::Invalid(m) => RpcError::Execution(m),
        QueryError::Halted(m) => RpcError::Execution(format!("execution halted: {m}")),
        QueryError::Store(e) => RpcError::Internal(e.to_string()),
        QueryError::Evm(m) => RpcError::Internal(m),
    }
}

/// Runs `f` on the committed head, retrying if a block commits meanwhile, so that one call
/// never reads state from two blocks (sled has no snapshots; a block applies atomically).
fn on_head<T>(
    shard: &ShardBackend,
    tag: BlockTag,
    f: impl Fn(&shardnet_exec::SledStore, &shardnet_exec::evm::ExecEnv, &[B256]) -> Result<T, RpcError>,
) -> Result<T, RpcError> {
    const ATTEMPTS: usize = 3;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let head = shard.state_at(tag)?;
        let env = shard.call_env(&head)?;
        let out = f(shard.primary().store(), &env, &head.recent_hashes)?;
        if shard.head()?.height == head.height {
            return Ok(out);
        }
        last = Some(out);
    }
    // The shard commits faster than the call runs: answer from the last (complete) attempt.
    last.ok_or_else(|| RpcError::Internal("no attempt ran".into()))
}

/// `BLOCKHASH` for calls on the head: the durable window of recent hashes.
fn hashes_of(head: u64, recent: &[B256]) -> impl Fn(u64) -> B256 + '_ {
    let first = (head + 1).saturating_sub(recent.len() as u64);
    move |n| {
        n.checked_sub(first)
            .and_then(|i| recent.get(usize::try_from(i).ok()?))
            .copied()
            .unwrap_or(B256::ZERO)
    }
}

/// The shard a call runs on, so that it sends as a block would (`CROSS_SHARD`, CS-6); no
/// inbound messages: a call sees the committed head.
fn shard_env(shard: &ShardBackend) -> CrossShardEnv<'static> {
    let cfg = shard.primary().config();
    CrossShardEnv {
        shard: cfg.shard,
        shard_map: cfg.shard_map,
        inbound: &[],
        budget: cfg.inbound_budget,
        reports: &[],
        lane_credits: cfg.congestion.lane_credits,
    }
}

pub(crate) fn call(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<Bytes, RpcError> {
    let req = args.req::<CallObject>(0, "transaction")?.into_request()?;
    let shard = call_shard(gw, ep, &req)?;
    let cap = shard.primary().config().block_gas_limit;
    let xs = shard_env(shard);
    on_head(shard, args.block(1)?, |store, env, recent| {
        let hashes = hashes_of(env.number, recent);
        let out = query::call(store, env, &hashes, &req, cap, Some(&xs)).map_err(query_error)?;
        match out.status {
            CallStatus::Success => Ok(out.output),
            CallStatus::Revert => Err(RpcError::Reverted(out.output)),
            CallStatus::Halt(reason) => {
                Err(RpcError::Execution(format!("execution halted: {reason}")))
            }
        }
    })
}

pub(crate) fn estimate_gas(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<U64, RpcError> {
    let req = args.req::<CallObject>(0, "transaction")?.into_request()?;
    let shard = estimate_shard(gw, ep, &req)?;
    let cap = shard.primary().config().block_gas_limit;
    let xs = shard_env(shard);
    on_head(shard, args.block(1)?, |store, env, recent| {
        let hashes = hashes_of(env.number, recent);
        query::estimate_gas(store, env, &hashes, &req, cap, Some(&xs))
            .map(U64::from)
            .map_err(query_error)
    })
}

/// The base fee of the block after the head.
fn next_fee(shard: &ShardBackend) -> Result<u64, RpcError> {
    let head = shard.head()?;
    let cfg = shard.primary().config();
    Ok(if head.height == 0 {
        cfg.initial_base_fee
    } else {
        next_base_fee(
            head.base_fee,
            head.gas_used,
            cfg.block_gas_limit,
            cfg.min_base_fee,
        )
    })
}

pub(crate) fn gas_price(gw: &Gateway, ep: Endpoint) -> Result<U128, RpcError> {
    let shard = gw.default_shard(ep)?;
    Ok(U128::from(u128::from(next_fee(shard)?) + SUGGESTED_TIP_WEI))
}

pub(crate) fn max_priority_fee() -> U128 {
    U128::from(SUGGESTED_TIP_WEI)
}

pub(crate) fn fee_history(gw: &Gateway, ep: Endpoint, args: &Args) -> Result<FeeHistory, RpcError> {
    let count = args.req::<Quantity>(0, "blockCount")?.0;
    let percentiles: Vec<f64> = args.opt(2, "rewardPercentiles")?.unwrap_or_default();
    if percentiles.len() > MAX_REWARD_PERCENTILES {
        return Err(RpcError::params(format!(
            "{} reward percentiles, at most {MAX_REWARD_PERCENTILES}",
            percentiles.len()
        )));
    }
    if percentiles
        .iter()
        .any(|p| !(0.0..=100.0).contains(p) || p.is_nan())
        || percentiles.windows(2).any(|w| w[0] > w[1])
    {
        return Err(RpcError::params(
            "reward percentiles must be ascending values between 0 and 100",
        ));
    }
    let shard = gw.default_shard(ep)?;
    let tag = args.block(1)?;
    let newest = match (ep, tag) {
        (Endpoint::Gateway, BlockTag::Latest | BlockTag::Pending) => gw.block_number(ep)?,
        _ => shard.height(tag)?,
    };
    let count = count.min(MAX_FEE_HISTORY_BLOCKS);
    let oldest = (newest + 1).saturating_sub(count);
    let mut history = FeeHistory {
        oldest_block: U64::from(oldest),
        base_fee_per_gas: vec![],
        gas_used_ratio: vec![],
        reward: (!percentiles.is_empty()).then(Vec::new),
    };
    if count == 0 {
        return Ok(history);
    }
    let cfg = shard.primary().config();
    let mut last = None;
    for height in oldest..=newest {
        let block = shard
            .block(height)?
            .ok_or_else(|| RpcError::Internal(format!("block {height} missing from the index")))?;
        history.base_fee_per_gas.push(U64::from(block.base_fee));
        history
            .gas_used_ratio
            .push(block.gas_used as f64 / block.gas_limit.max(1) as f64);
        if let Some(rewards) = history.reward.as_mut() {
            rewards.push(block_rewards(shard, &block, &percentiles)?);
        }
        last = Some(block);
    }
    if let Some(b) = last {
        let next = if b.height == 0 {
            cfg.initial_base_fee
        } else {
            next_base_fee(b.base_fee, b.gas_used, b.gas_limit, cfg.min_base_fee)
        };
        history.base_fee_per_gas.push(U64::from(next));
    }
    Ok(history)
}

/// The tips paid at each gas-weighted percentile of one block (as geth computes them).
fn block_rewards(
    shard: &ShardBackend,
    block: &crate::index::BlockRecord,
    percentiles: &[f64],
) -> Result<Vec<U128>, RpcError> {
    let txs = shard.primary().index().txs_of(block.height)?;
    if txs.is_empty() {
        return Ok(vec![U128::ZERO; percentiles.len()]);
    }
    let mut tips: Vec<(u128, u64)> = txs
        .iter()
        .map(|t| {
            (
                t.effective_gas_price
                    .saturating_sub(u128::from(block.base_fee)),
                t.gas_used,
            )
        })
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|t| t.1).sum();
    let mut out = Vec::with_capacity(percentiles.len());
    let (mut i, mut sum) = (0usize, tips.first().map_or(0, |t| t.1));
    for p in percentiles {
        let threshold = (total as f64 * p / 100.0) as u64;
        while sum < threshold && i + 1 < tips.len() {
            i += 1;
            sum += tips.get(i).map_or(0, |t| t.1);
        }
        out.push(U128::from(tips.get(i).map_or(0, |t| t.0)));
    }
    Ok(out)
}

pub(crate) fn send_raw_transaction(
    gw: &Gateway,
    ep: Endpoint,
    args: &Args,
) -> Result<B256, RpcError> {
    let raw: Bytes = args.req(0, "transaction")?;
    let tx = RecoveredTx::decode(&raw).map_err(|e| RpcError::params(e.to_string()))?;
    let shard = match ep {
        Endpoint::Shard(id) => gw.shard(id)?,
        Endpoint::Gateway => {
            let home = gw.shard_map().home(&tx.sender);
            gw.shard(home).map_err(|_| {
                RpcError::Unavailable(format!(
                    "sender {} lives on shard {}, which this node does not serve",
                    tx.sender, home.0
                ))
            })?
        }
    };
    shard.submit(&raw)?;
    Ok(tx.hash)
}
