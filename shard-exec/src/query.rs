//! Read-only calls on a committed state: what the RPC's `eth_call` and `eth_estimateGas` run
//! (`specs/rpc.md` R-4).
//!
//! A call runs on revm exactly as a transaction of the given block environment would, through
//! the same state adapter as block execution ([`crate::evm`]), but its state changes are
//! discarded: revm's `transact` returns them instead of writing them, and nothing here holds a
//! mutable handle on the store. As geth does, a call that names no fee runs at gas price zero
//! with the block's base fee treated as zero, so an account with no balance can still read a
//! contract; nonces are not checked.
//!
//! On a shard (`xs` given), a call runs with the `CROSS_SHARD` precompile and the CS-6 rewrite
//! of plain transactions to foreign addresses, exactly as the block would execute it, so
//! `eth_estimateGas` of a cross-shard send is what the send costs (21,000 for a wallet
//! transfer). Inbound messages are not executed: a call sees the committed head's state.

use alloy_eips::eip2930::AccessList;
use alloy_primitives::{Address, Bytes, Log, TxKind, U256};
use revm::ExecuteEvm;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::result::{EVMError, ExecutionResult};
use revm::database::CacheDB;

use crate::evm::ShardEvm;

use crate::evm::{BlockHashes, CrossShardEnv, ExecEnv, ViewDb};
use crate::store::{StateView, StoreError, hash_address};

/// Gas an estimate never goes below: a plain transfer's intrinsic gas.
pub const MIN_TX_GAS: u64 = 21_000;

/// Most executions one estimate runs (a binary search over `[21000, 2^30]` needs 30).
pub const MAX_ESTIMATE_RUNS: u32 = 40;

/// A call as `eth_call` and `eth_estimateGas` describe it (absent fields take geth's defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// Caller (zero address if absent).
    pub from: Option<Address>,
    /// Callee; `None` simulates a contract creation with `input` as init code.
    pub to: Option<Address>,
    /// Gas limit (the cap if absent).
    pub gas: Option<u64>,
    /// Legacy gas price.
    pub gas_price: Option<u128>,
    /// EIP-1559 max fee per gas.
    pub max_fee_per_gas: Option<u128>,
    /// EIP-1559 max priority fee per gas.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Value sent.
    pub value: U256,
    /// Call data (or init code).
    pub input: Bytes,
    /// Nonce (the caller's current nonce if absent; never checked).
    pub nonce: Option<u64>,
    /// EIP-2930 access list.
    pub access_list: AccessList,
}

impl CallRequest {
    fn names_fee(&self) -> bool {
        self.gas_price.is_some_and(|p| p > 0)
            || self.max_fee_per_gas.is_some_and(|p| p > 0)
            || self.max_priority_fee_per_gas.is_some_and(|p| p > 0)
    }

    /// The most the caller pays per gas.
    fn fee_cap(&self) -> u128 {
        self.max_fee_per_gas.or(self.gas_price).unwrap_or(0)
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallStatus {
    /// Returned normally.
    Success,
    /// Reverted; the output is the revert data.
    Revert,
    /// Halted (out of gas, invalid opcode, ...).
    Halt(String),
}

/// The result of one read-only call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// How it ended.
    pub status: CallStatus,
    /// Gas it used (after refunds), as a transaction's receipt would say.
    pub gas_used: u64,
    /// Return or revert data.
    pub output: Bytes,
    /// Logs it would have emitted.
    pub logs: Vec<Log>,
}

/// Why a call could not run, or an estimate found no gas limit that works.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The call is not a valid transaction (fee below base fee, insufficient funds, ...).
    #[error("{0}")]
    Invalid(String),
    /// It reverts at every gas limit up to the cap (revert data attached).
    #[error("execution reverted")]
    Reverted(Bytes),
    /// It halts at every gas limit up to the cap.
    #[error("execution halted: {0}")]
    Halted(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// revm reported an internal error.
    #[error("evm: {0}")]
    Evm(String),
}

/// Runs `req` on `view` in block environment `env`, with gas limit `gas_cap` if the request
/// names none (and never above it). State changes are discarded.
pub fn call<V: StateView + ?Sized>(
    view: &V,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    req: &CallRequest,
    gas_cap: u64,
    xs: Option<&CrossShardEnv<'_>>,
) -> Result<CallOutcome, QueryError> {
    let gas = req.gas.unwrap_or(gas_cap).min(gas_cap);
    run(view, env, hashes, req, gas, xs)
}

/// The least gas limit (within one unit) at which `req` succeeds, by binary search between
/// [`MIN_TX_GAS`] and the cap: `gas_cap`, the request's own gas, and what the caller's balance
/// pays for at its fee, whichever is least. Fails with the revert data or halt reason if it
/// does not succeed at the cap.
pub fn estimate_gas<V: StateView + ?Sized>(
    view: &V,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    req: &CallRequest,
    gas_cap: u64,
    xs: Option<&CrossShardEnv<'_>>,
) -> Result<u64, QueryError> {
    let mut hi = req.gas.unwrap_or(gas_cap).min(gas_cap).max(MIN_TX_GAS);
    let fee = req.fee_cap();
    if fee > 0 {
        let from = req.from.unwrap_or(Address::ZERO);
        let balance = view
            .account(&hash_address(&from))?
            .map_or(U256::ZERO, |a| a.balance);
        let spendable = balance.saturating_sub(req.value);
        let affordable = spendable / U256::from(fee);
        hi = hi.min(u64::try_from(affordable).unwrap_or(u64::MAX));
        if hi < MIN_TX_GAS {
            return Err(QueryError::Invalid(format!(
                "insufficient funds for gas * price + value: balance {balance}, fee per gas {fee}, value {}",
                req.value
            )));
        }
    }
    let first = run(view, env, hashes, req, hi, xs)?;
    match first.status {
        CallStatus::Success => {}
        CallStatus::Revert => return Err(QueryError::Reverted(first.output)),
        CallStatus::Halt(reason) => return Err(QueryError::Halted(reason)),
    }
    // Gas used after refunds is a lower bound only: refunds and the 63/64 rule make the
    // limit a call needs larger than what it ends up using.
    let mut lo = first.gas_used.saturating_sub(1).max(MIN_TX_GAS - 1);
    let mut runs = 1;
    while lo + 1 < hi {
        assert!(runs <= MAX_ESTIMATE_RUNS, "gas estimate did not converge");
        runs += 1;
        let mid = lo + (hi - lo) / 2;
        let ok = match run(view, env, hashes, req, mid, xs) {
            Ok(o) => o.status == CallStatus::Success,
            // Below intrinsic gas and the like: too little gas.
            Err(QueryError::Invalid(_)) => false,
            Err(e) => return Err(e),
        };
        if ok {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    // a deployment to a foreign home forwards the transaction's gas minus the send's own
    // cost to the home shard, so the estimate adds that cost to what the init code needs.
    if let (Some(xs), None) = (xs, req.to) {
        let from = req.from.unwrap_or(Address::ZERO);
        let nonce = match req.nonce {
            Some(n) => n,
            None => view.account(&hash_address(&from))?.map_or(0, |a| a.nonce),
        };
        if !xs.shard_map.is_local(xs.shard, &from.create(nonce)) {
            let send = crate::lanes::system::SEND_GAS + 8 * req.input.len() as u64;
            return Ok(hi.saturating_add(send).min(gas_cap));
        }
    }
    Ok(hi)
}

fn run<V: StateView + ?Sized>(
    view: &V,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    req: &CallRequest,
    gas_limit: u64,
    xs: Option<&CrossShardEnv<'_>>,
) -> Result<CallOutcome, QueryError> {
    let spec = env.fork.spec();
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = env.chain_id;
    cfg.disable_nonce_check = true;
    let priced = req.names_fee();
    let block = BlockEnv {
        gas_limit: env.gas_limit.max(gas_limit),
        // geth: a call that names no fee runs with the base fee treated as zero.
        basefee: if priced { env.base_fee } else { 0 },
        ..crate::evm::block_env(env)
    };
    let from = req.from.unwrap_or(Address::ZERO);
    let nonce = match req.nonce {
        Some(n) => n,
        None => view.account(&hash_address(&from))?.map_or(0, |a| a.nonce),
    };
    let tx_type = if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
        2
    } else if !req.access_list.is_empty() {
        1
    } else {
        0
    };
    let mut tx = TxEnv {
        tx_type,
        caller: from,
        gas_limit,
        gas_price: req.fee_cap(),
        gas_priority_fee: if tx_type == 2 {
            Some(req.max_priority_fee_per_gas.unwrap_or(0))
        } else {
            None
        },
        kind: req.to.map_or(TxKind::Create, TxKind::Call),
        value: req.value,
        data: req.input.clone(),
        nonce,
        chain_id: Some(env.chain_id),
        access_list: req.access_list.clone(),
        ..TxEnv::default()
    };
    let db = CacheDB::new(ViewDb::new(view, hashes));
    let mut evm: ShardEvm<'_, V> = crate::evm::shard_evm(db, block, cfg, xs);
    // CS-6 for calls. A deployment whose address is homed elsewhere is simulated here,
    // running its init code, so a call sees what it would do and an estimate covers it.
    if let Some(xs) = xs
        && tx.kind.is_call()
    {
        evm.precompiles.foreign = crate::evm::rewrite_foreign(&mut tx, xs);
    }
    match evm.transact(tx) {
        Ok(r) => {
            let gas_used = r.result.tx_gas_used();
            Ok(match r.result {
                ExecutionResult::Success { logs, output, .. } => CallOutcome {
                    status: CallStatus::Success,
                    gas_used,
                    output: output.into_data(),
                    logs,
                },
                ExecutionResult::Revert { output, .. } => CallOutcome {
                    status: CallStatus::Revert,
                    gas_used,
                    output,
                    logs: vec![],
                },
                ExecutionResult::Halt { reason, .. } => CallOutcome {
                    status: CallStatus::Halt(format!("{reason:?}")),
                    gas_used,
                    output: Bytes::new(),
                    logs: vec![],
                },
            })
        }
        Err(EVMError::Database(e)) => Err(QueryError::Store(e)),
        Err(EVMError::Transaction(e)) => Err(QueryError::Invalid(e.to_string())),
        Err(EVMError::Header(e)) => Err(QueryError::Invalid(e.to_string())),
        Err(e) => Err(QueryError::Evm(e.to_string())),
    }
}
