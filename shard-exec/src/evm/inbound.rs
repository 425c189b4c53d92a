//! Cross-shard effects of a block (CS-5 … CS-13): executing inbound messages before the
//! transactions, collecting the sends of every successful execution, and closing the block's
//! lane bookkeeping in `CROSS_SHARD`'s storage so the state root commits to it.
//!
//! Money flow, which is what keeps value conserved (CS-I3):
//! - a send moves the value and the prepaid gas into `CROSS_SHARD` (journaled, in the
//!   precompile); at the end of the block that balance is removed: it now exists only in
//!   flight, inside the emitted messages;
//! - a destination call mints `value + gas_limit × price` into the caller's address, runs as a
//!   transaction at `price` from it, and takes back whatever is left there: the refund (the
//!   value if the call failed, unspent gas, anything the callee sent back to the caller);
//! - a response mints its refund; the callback, if any, runs from `CROSS_SHARD` paying its
//!   gas out of the refund, and the rest is credited to the caller.
//!
//! Gas burnt (the base-fee part of every gas payment) is counted in `CROSS_SHARD`'s storage,
//! so the invariant can be checked from state alone.

use alloy_primitives::{Address, B256, Bytes, U256};
use revm::ExecuteCommitEvm;
use revm::context::TxEnv;
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason};
use revm::database::AccountState;
use revm::database_interface::Database;
use revm::primitives::{KECCAK_EMPTY, TxKind};
use revm::state::{AccountInfo, Bytecode};
use shardnet_protocol::limits::{MAX_CROSS_SHARD_MESSAGE_BYTES, MAX_REASON_BYTES};
use shardnet_protocol::{
    BoundedBytes, CrossShardMessage, Hash32, LaneClass, LaneId, MessageBody, Origin, Outcome,
    ShardId, ShardMap, Watermark,
};

use super::precompile::{Foreign, SendRules};
use super::{ExecError, ShardEvm};
use crate::lanes::Sequences;
use crate::lanes::inbox::{Budget, RESPONSE_GAS};
use crate::lanes::outbox::{Emission, Outbox};
use crate::lanes::system::{CROSS_SHARD, emissions, on_response_calldata, slots};
use crate::store::StateView;

/// What a block needs to execute on a shard with cross-shard messaging.
#[derive(Clone, Copy, Debug)]
pub struct CrossShardEnv<'a> {
    /// This shard.
    pub shard: ShardId,
    /// Every address's home.
    pub shard_map: ShardMap,
    /// Verified inbound messages, in execution order (CS-9, planned by `lanes::inbox`).
    pub inbound: &'a [CrossShardMessage],
    /// The destination budget, which also bounds what a send may attach (CS-9).
    pub budget: Budget,
    /// Certified inbound watermarks of other shards for lanes from this shard, from the
    /// finality-proven headers the payload carries (CS-14, CS-15).
    pub reports: &'a [Watermark],
    /// Lane credits (CS-15).
    pub lane_credits: u64,
}

impl CrossShardEnv<'_> {
    pub(crate) fn rules(&self) -> SendRules {
        SendRules {
            shard: self.shard,
            shard_map: self.shard_map,
            max_request_gas: self
                .budget
                .total_gas
                .saturating_sub(self.budget.response_reserve_gas),
            max_callback_gas: self.budget.total_gas.saturating_sub(RESPONSE_GAS),
            lane_credits: self.lane_credits,
        }
    }
}

/// How one inbound message ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundResult {
    /// Its lane.
    pub lane: LaneId,
    /// Its sequence.
    pub sequence: u64,
    /// For a call, its outcome (also sent back in the response).
    pub outcome: Option<Outcome>,
    /// Gas the call or callback used.
    pub gas_used: u64,
    /// The transaction that started it all (`Origin::tx_hash`; for a response, the
    /// transaction that made the call, on this shard).
    pub origin_tx: B256,
    /// Logs of a successful call or callback (none otherwise), for the node's index: they
    /// belong to no transaction of the block.
    pub logs: Vec<alloy_primitives::Log>,
}

/// The cross-shard part of an [`Execution`](super::Execution).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrossShardEffects {
    /// Messages the block emitted, sequenced, ordered by lane then sequence (CS-7).
    pub outbox: Outbox,
    /// Inbound messages executed, in order.
    pub inbound: Vec<InboundResult>,
    /// After the block: every inbound lane with `executed > 0`, by lane (CS-7).
    pub watermarks: Vec<Watermark>,
    /// Fees burnt by the block (base fee × gas, and any value sent to `CROSS_SHARD` outside
    /// a send).
    pub burnt: U256,
    /// Sends collected so far, before sequencing.
    pending: Vec<Emission>,
}

impl CrossShardEffects {
    /// Collects the sends among a successful execution's logs.
    pub(crate) fn collect(&mut self, logs: &[alloy_primitives::Log], map: &ShardMap, o: Origin) {
        self.pending.extend(emissions(logs, map, o));
    }
}

fn store_err(e: EVMError<crate::store::StoreError>) -> ExecError {
    match e {
        EVMError::Database(e) => ExecError::Store(e),
        other => ExecError::Evm(other.to_string()),
    }
}

// Direct state edits happen between transactions only, when revm's journal is empty.

fn load<'d, V: StateView + ?Sized>(
    evm: &'d mut ShardEvm<'_, V>,
    address: Address,
) -> Result<&'d mut revm::database::DbAccount, ExecError> {
    let acc = evm.ctx.journaled_state.database.load_account(address)?;
    if matches!(
        acc.account_state,
        AccountState::None | AccountState::NotExisting
    ) {
        acc.account_state = AccountState::Touched;
    }
    Ok(acc)
}

fn balance<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    a: Address,
) -> Result<U256, ExecError> {
    Ok(evm
        .ctx
        .journaled_state
        .database
        .load_account(a)?
        .info
        .balance)
}

fn credit<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    a: Address,
    amount: U256,
) -> Result<(), ExecError> {
    if amount.is_zero() {
        return Ok(());
    }
    let acc = load(evm, a)?;
    acc.info.balance = acc.info.balance.saturating_add(amount);
    Ok(())
}

fn debit<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    a: Address,
    amount: U256,
) -> Result<(), ExecError> {
    let acc = load(evm, a)?;
    acc.info.balance = acc.info.balance.checked_sub(amount).ok_or_else(|| {
        ExecError::Evm(format!("cross-shard accounting: {a} cannot pay {amount}"))
    })?;
    Ok(())
}

fn sload<V: StateView + ?Sized>(evm: &mut ShardEvm<'_, V>, slot: U256) -> Result<U256, ExecError> {
    Ok(evm
        .ctx
        .journaled_state
        .database
        .storage(CROSS_SHARD, slot)?)
}

fn sstore<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    slot: U256,
    value: U256,
) -> Result<(), ExecError> {
    load(evm, CROSS_SHARD)?.storage.insert(slot, value);
    Ok(())
}

/// A system transaction (a destination call or creation, or a callback), priced at
/// `gas_price` even below the base fee: the gas was prepaid on the source.
fn system_tx_env(
    caller: Address,
    kind: TxKind,
    data: Bytes,
    value: U256,
    gas_limit: u64,
    gas_price: u128,
) -> TxEnv {
    TxEnv {
        tx_type: 0,
        caller,
        gas_limit,
        gas_price,
        kind,
        value,
        data,
        nonce: 0,
        chain_id: None,
        ..TxEnv::default()
    }
}

/// X-6 for CREATE2 on the home shard. A transaction can only CREATE, so the creator runs this
/// for one system transaction, calling itself with `salt ‖ initcode` and the endowment:
/// `CREATE2(callvalue, initcode, salt)` executed at the creator's own address, which gives
/// exactly `create2(creator, salt, keccak256(initcode))` with the creator as `msg.sender` of
/// the init code. It returns the new address, or reverts with the init code's return data (so
/// the endowment stays with the creator and is refunded).
///
/// ```text
/// 0x00 PUSH1 0 CALLDATALOAD                  salt
/// 0x03 PUSH1 32 CALLDATASIZE SUB DUP1        n = size - 32
/// 0x08 PUSH1 32 PUSH1 0 CALLDATACOPY         memory[0..n] = initcode
/// 0x0d PUSH1 0 CALLVALUE CREATE2 DUP1        CREATE2(value, 0, n, salt)
/// 0x12 PUSH1 0x1e JUMPI                      created: return it
/// 0x15 RETURNDATASIZE PUSH1 0 DUP1 RETURNDATACOPY RETURNDATASIZE PUSH1 0 REVERT
/// 0x1e JUMPDEST PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
/// ```
const CREATE2_TRAMPOLINE: [u8; 39] = [
    0x60, 0x00, 0x35, 0x60, 0x20, 0x36, 0x03, 0x80, 0x60, 0x20, 0x60, 0x00, 0x37, 0x60, 0x00, 0x34,
    0xf5, 0x80, 0x60, 0x1e, 0x57, 0x3d, 0x60, 0x00, 0x80, 0x3e, 0x3d, 0x60, 0x00, 0xfd, 0x5b, 0x60,
    0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3,
];

/// How the caller of a destination transaction is set up for it (X-6).
#[derive(Clone, Copy, Debug)]
enum AsCaller {
    /// A call: the caller as it is.
    Call,
    /// CREATE: the caller's nonce on the source, so revm computes `create(from, nonce)`.
    Create(u64),
    /// CREATE2: the caller holds [`CREATE2_TRAMPOLINE`] for the transaction.
    Create2,
}

/// CS-11: runs `tx` from its caller, a foreign address: mints `mint` into it first (and sets
/// it up for a creation, [`AsCaller`]), takes back whatever is left there afterwards (the
/// refund) and restores the account, so the caller is never created here and the trampoline
/// never persists.
fn run_as_caller<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    mut tx: TxEnv,
    mint: U256,
    setup: AsCaller,
) -> Result<(Result<ExecutionResult, String>, U256), ExecError> {
    let from = tx.caller;
    let snapshot = evm.ctx.journaled_state.database.load_account(from)?.clone();
    match setup {
        AsCaller::Call => {}
        AsCaller::Create(n) => {
            load(evm, from)?.info.nonce = n;
            tx.nonce = n;
        }
        AsCaller::Create2 => {
            let mut info = AccountInfo {
                code: Some(Bytecode::new_raw(Bytes::from_static(&CREATE2_TRAMPOLINE))),
                ..load(evm, from)?.info.clone()
            };
            info.code_hash = KECCAK_EMPTY;
            evm.ctx.journaled_state.database.insert_contract(&mut info);
            load(evm, from)?.info = info;
            // EIP-3607 refuses senders with code; this one has it only for this transaction,
            // and its top frame runs here although `from` is homed elsewhere.
            evm.ctx.cfg.disable_eip3607 = true;
            evm.precompiles.trampoline = Some(from);
        }
    }
    credit(evm, from, mint)?;
    let run = system(evm, tx);
    evm.ctx.cfg.disable_eip3607 = false;
    evm.precompiles.trampoline = None;
    let run = run?;
    let left = balance(evm, from)?.saturating_sub(snapshot.info.balance);
    *evm.ctx.journaled_state.database.load_account(from)? = snapshot;
    Ok((run, left))
}

/// Runs `tx` as a system transaction: no nonce check, no base-fee floor.
fn system<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    tx: TxEnv,
) -> Result<Result<ExecutionResult, String>, ExecError> {
    evm.ctx.cfg.disable_nonce_check = true;
    evm.ctx.cfg.disable_base_fee = true;
    let out = evm.transact_commit(tx);
    evm.ctx.cfg.disable_nonce_check = false;
    evm.ctx.cfg.disable_base_fee = false;
    match out {
        Ok(r) => Ok(Ok(r)),
        Err(EVMError::Transaction(e)) => Ok(Err(e.to_string())),
        Err(EVMError::Header(e)) => Ok(Err(e.to_string())),
        Err(e) => Err(store_err(e)),
    }
}

fn bounded(data: &[u8]) -> BoundedBytes<MAX_CROSS_SHARD_MESSAGE_BYTES> {
    let cut = &data[..data.len().min(MAX_CROSS_SHARD_MESSAGE_BYTES)];
    BoundedBytes::try_from_vec(cut.to_vec()).unwrap_or_default()
}

fn rejected(reason: &str) -> Outcome {
    let cut = &reason.as_bytes()[..reason.len().min(MAX_REASON_BYTES)];
    Outcome::Rejected(BoundedBytes::try_from_vec(cut.to_vec()).unwrap_or_default())
}

fn u128_price(p: &U256) -> u128 {
    p.saturating_to::<u128>()
}

/// Burnt part of paying `gas` at `price` under `base_fee`: the base fee, or all of it when
/// the price is below the base fee (system transactions).
pub(crate) fn burnt(gas: u64, price: U256, base_fee: u64) -> U256 {
    U256::from(gas) * price.min(U256::from(base_fee))
}

/// Executes the block's inbound messages (CS-9 … CS-13), before its transactions.
pub(crate) fn begin<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    xs: &CrossShardEnv<'_>,
    number: u64,
    base_fee: u64,
    fx: &mut CrossShardEffects,
) -> Result<(), ExecError> {
    // The system account must never be "empty" (EIP-161 would delete it and its storage).
    let sys = load(evm, CROSS_SHARD)?;
    if sys.info.nonce == 0 {
        sys.info.nonce = 1;
    }
    // CS-15: what the destinations certified they executed frees credits.
    for w in xs.reports.iter().filter(|w| w.lane.source == xs.shard) {
        let emitted = sload(evm, slots::outbound(&w.lane))?;
        let slot = slots::certified(&w.lane);
        let known = sload(evm, slot)?;
        let new = U256::from(w.executed).min(emitted).max(known);
        if new != known {
            sstore(evm, slot, new)?;
        }
    }
    for m in xs.inbound {
        let slot = slots::inbound(&m.lane);
        let executed = sload(evm, slot)?;
        if m.lane.destination != xs.shard || U256::from(m.sequence) != executed + U256::from(1) {
            // The planner only hands over the next message of each lane (CS-3).
            return Err(ExecError::Evm(format!(
                "inbound message {}:{} out of order (executed {executed})",
                lane_name(&m.lane),
                m.sequence
            )));
        }
        sstore(evm, slot, U256::from(m.sequence))?;
        let result = execute_message(evm, xs, m, number, base_fee, fx)?;
        fx.inbound.push(result);
    }
    Ok(())
}

fn lane_name(l: &LaneId) -> String {
    format!("{}->{}/{:?}", l.source.0, l.destination.0, l.class)
}

fn execute_message<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    xs: &CrossShardEnv<'_>,
    m: &CrossShardMessage,
    number: u64,
    base_fee: u64,
    fx: &mut CrossShardEffects,
) -> Result<InboundResult, ExecError> {
    let mut result = InboundResult {
        lane: m.lane,
        sequence: m.sequence,
        outcome: None,
        gas_used: 0,
        origin_tx: m.origin.tx_hash,
        logs: Vec::new(),
    };
    let origin = Origin {
        depth: m.origin.depth.saturating_add(1),
        ..m.origin
    };
    match &m.body {
        // CS-10: cannot fail, the value was escrowed at the source.
        MessageBody::Transfer { to, value, .. } => credit(evm, *to, *value)?,
        MessageBody::Call {
            call_id,
            from,
            to,
            calldata,
            value,
            gas_limit,
            gas_price,
            callback,
            deadline,
        } => {
            let prepaid_callback = U256::from(callback.map_or(0, |c| c.gas_limit)) * gas_price;
            let full = *value + U256::from(*gas_limit) * gas_price + prepaid_callback;
            let (outcome, refund) = if deadline.is_some_and(|d| d.0 < number) {
                (Outcome::TimedOut, full) // CS-12
            } else if !xs.shard_map.is_local(xs.shard, to) {
                (rejected("callee is not on this shard"), full)
            } else {
                let tx = system_tx_env(
                    *from,
                    TxKind::Call(*to),
                    Bytes::copy_from_slice(calldata),
                    *value,
                    *gas_limit,
                    u128_price(gas_price),
                );
                let (run, left) = run_as_caller(evm, tx, full - prepaid_callback, AsCaller::Call)?;
                match run {
                    Err(reason) => (rejected(&reason), full),
                    Ok(r) => {
                        let outcome =
                            settle(r, None, xs, origin, *gas_price, base_fee, fx, &mut result);
                        (outcome, left + prepaid_callback)
                    }
                }
            };
            result.outcome = Some(outcome.clone());
            // CS-11: every call yields exactly one response.
            fx.pending.push(Emission {
                destination: m.lane.source,
                origin,
                body: MessageBody::Response {
                    call_id: *call_id,
                    to: *from,
                    outcome,
                    refund,
                    callback: *callback,
                    gas_price: *gas_price,
                },
            });
        }
        MessageBody::Create {
            call_id,
            from,
            address,
            nonce,
            salt,
            initcode,
            value,
            gas_limit,
            gas_price,
        } => {
            let full = *value + U256::from(*gas_limit) * gas_price;
            let (outcome, refund) = if !xs.shard_map.is_local(xs.shard, address) {
                (rejected("address is not homed on this shard"), full)
            } else if m.body.create_address() != Some(*address) {
                // X-6: the address must be the one Ethereum derives from the message.
                (rejected("address does not match the creation"), full)
            } else {
                // X-6: run the init code as `from`, with `from`'s source nonce (CREATE) or by a
                // CREATE2 at `from` with the salt, so revm computes the very address Ethereum
                // tools computed.
                let (kind, data, setup) = match salt {
                    None => (
                        TxKind::Create,
                        Bytes::copy_from_slice(initcode),
                        AsCaller::Create(*nonce),
                    ),
                    Some(salt) => (
                        TxKind::Call(*from),
                        [salt.as_slice(), &initcode[..]].concat().into(),
                        AsCaller::Create2,
                    ),
                };
                let tx =
                    system_tx_env(*from, kind, data, *value, *gas_limit, u128_price(gas_price));
                let (run, left) = run_as_caller(evm, tx, full, setup)?;
                match run {
                    Err(reason) => (rejected(&reason), full),
                    Ok(r) => {
                        // The trampoline returns what CREATE2 created: the checked address.
                        // Anything else is a bug of ours, not of the message; every validator
                        // hits it alike, so the block fails to execute instead of a panic.
                        if salt.is_some()
                            && r.is_success()
                            && r.output().map(|o| &o[..]) != Some(&address.into_word()[..])
                        {
                            return Err(ExecError::Evm(format!(
                                "CREATE2 of call {call_id:?} did not land at {address}"
                            )));
                        }
                        let outcome = settle(
                            r,
                            Some(address),
                            xs,
                            origin,
                            *gas_price,
                            base_fee,
                            fx,
                            &mut result,
                        );
                        (outcome, left)
                    }
                }
            };
            result.outcome = Some(outcome.clone());
            fx.pending.push(Emission {
                destination: m.lane.source,
                origin,
                body: MessageBody::Response {
                    call_id: *call_id,
                    to: *from,
                    outcome,
                    refund,
                    callback: None,
                    gas_price: *gas_price,
                },
            });
        }
        MessageBody::Response {
            call_id,
            to,
            outcome,
            refund,
            callback,
            gas_price,
        } => {
            // CS-13, CS-I2: a response closes exactly one open call and refunds at most
            // what that call escrowed.
            let open = slots::open_call(call_id);
            let escrowed = sload(evm, open)?;
            if escrowed.is_zero() {
                result.outcome = Some(rejected("response to no open call"));
                return Ok(result);
            }
            sstore(evm, open, U256::ZERO)?;
            let refund = (*refund).min(escrowed);
            let mut credit_to_caller = refund;
            if let Some(cb) = callback {
                credit(evm, CROSS_SHARD, refund)?;
                let tx = system_tx_env(
                    CROSS_SHARD,
                    TxKind::Call(*to),
                    on_response_calldata(call_id, outcome),
                    U256::ZERO,
                    cb.gas_limit,
                    u128_price(gas_price),
                );
                let run = system(evm, tx)?;
                if let Ok(r) = run {
                    let used = r.tx_gas_used();
                    result.gas_used = used;
                    let cost = U256::from(used) * gas_price;
                    fx.burnt += burnt(used, *gas_price, base_fee);
                    credit_to_caller = refund.saturating_sub(cost);
                    if let ExecutionResult::Success { logs, .. } = r {
                        fx.collect(&logs, &xs.shard_map, origin);
                        result.logs = logs;
                    }
                }
                debit(evm, CROSS_SHARD, credit_to_caller)?;
            }
            credit(evm, *to, credit_to_caller)?;
            result.outcome = Some(outcome.clone());
        }
    }
    Ok(result)
}

/// CS-11: the typed outcome of a destination call or creation that ran, with its gas burnt and,
/// if it succeeded, its sends collected and its logs kept for the index. A creation reports
/// the address it deployed as its data; a call, its return data.
#[allow(clippy::too_many_arguments)]
fn settle(
    r: ExecutionResult,
    created: Option<&Address>,
    xs: &CrossShardEnv<'_>,
    origin: Origin,
    gas_price: U256,
    base_fee: u64,
    fx: &mut CrossShardEffects,
    result: &mut InboundResult,
) -> Outcome {
    let used = r.tx_gas_used();
    result.gas_used = used;
    fx.burnt += burnt(used, gas_price, base_fee);
    match r {
        ExecutionResult::Success { logs, output, .. } => {
            fx.collect(&logs, &xs.shard_map, origin);
            result.logs = logs;
            match created {
                Some(address) => Outcome::Ok(bounded(address.as_slice())),
                None => Outcome::Ok(bounded(output.data())),
            }
        }
        ExecutionResult::Revert { output, .. } => Outcome::Revert(bounded(&output)),
        ExecutionResult::Halt {
            reason: HaltReason::OutOfGas(_),
            ..
        } => Outcome::OutOfGas,
        ExecutionResult::Halt { reason, .. } => rejected(&format!("halted: {reason:?}")),
    }
}

/// What a send moved into `CROSS_SHARD` (CS-5); responses carry refunds that never sat there.
fn escrow_of(e: &Emission) -> U256 {
    e.body.escrow()
}

/// Closes the block: sequences its sends (CS-2), opens their calls, removes the escrow from
/// `CROSS_SHARD` (it is now in flight), records the burn and reads back the watermarks.
pub(crate) fn finish<V: StateView + ?Sized>(
    evm: &mut ShardEvm<'_, V>,
    xs: &CrossShardEnv<'_>,
    fx: &mut CrossShardEffects,
) -> Result<(), ExecError> {
    let pending = std::mem::take(&mut fx.pending);
    let escrow = pending
        .iter()
        .map(escrow_of)
        .fold(U256::ZERO, |a, b| a.saturating_add(b));
    let mut sequences = Sequences::new();
    for e in &pending {
        let lane = LaneId {
            source: xs.shard,
            destination: e.destination,
            class: match e.body {
                MessageBody::Response { .. } => LaneClass::Response,
                _ => LaneClass::Request,
            },
        };
        if let std::collections::btree_map::Entry::Vacant(v) = sequences.entry(lane) {
            v.insert(sload(evm, slots::outbound(&lane))?.saturating_to::<u64>());
        }
    }
    let opened: Vec<(Hash32, U256)> = pending
        .iter()
        .filter_map(|e| match &e.body {
            MessageBody::Call { call_id, .. } | MessageBody::Create { call_id, .. } => {
                Some((*call_id, escrow_of(e)))
            }
            _ => None,
        })
        .collect();
    fx.outbox = Outbox::assign(xs.shard, pending, &mut sequences);
    for (lane, last) in &sequences {
        sstore(evm, slots::outbound(lane), U256::from(*last))?;
        if lane.class == LaneClass::Request {
            sstore(evm, slots::pending(lane), U256::ZERO)?;
        }
    }
    for (id, amount) in opened {
        sstore(evm, slots::open_call(&id), amount)?;
    }
    let held = balance(evm, CROSS_SHARD)?;
    let stray = held.checked_sub(escrow).ok_or_else(|| {
        ExecError::Evm(format!(
            "cross-shard accounting: CROSS_SHARD holds {held}, sends escrowed {escrow}"
        ))
    })?;
    fx.burnt += stray;
    debit(evm, CROSS_SHARD, held)?;
    let total = sload(evm, slots::burnt())?.saturating_add(fx.burnt);
    sstore(evm, slots::burnt(), total)?;
    fx.watermarks.clear();
    for source in (0..xs.shard_map.shards)
        .map(ShardId)
        .filter(|s| *s != xs.shard)
    {
        for class in [LaneClass::Request, LaneClass::Response] {
            let lane = LaneId {
                source,
                destination: xs.shard,
                class,
            };
            let executed = sload(evm, slots::inbound(&lane))?.saturating_to::<u64>();
            if executed > 0 {
                fx.watermarks.push(Watermark { lane, executed });
            }
        }
    }
    Ok(())
}

/// CS-6: a plain transaction to an address homed elsewhere runs as a send: it is pointed at
/// `CROSS_SHARD`, which, told the real destination, sends `transfer(to)` when the transaction
/// has no calldata (for the 21,000 gas a wallet pays for a transfer) and
/// `call(to, data, gas left, 0, 0)` when it has. X-6: a contract creation whose address
/// (`create(sender, nonce)`) is homed elsewhere likewise becomes a `Create` message carrying the
/// init code. Returns what the precompile must be told.
pub(crate) fn rewrite_foreign(tx: &mut TxEnv, xs: &CrossShardEnv<'_>) -> Option<Foreign> {
    let foreign = match tx.kind {
        TxKind::Call(to) if !xs.shard_map.is_local(xs.shard, &to) => Foreign::To(to),
        TxKind::Create => {
            let address = tx.caller.create(tx.nonce);
            if xs.shard_map.is_local(xs.shard, &address) {
                return None;
            }
            Foreign::Create {
                address,
                nonce: tx.nonce,
            }
        }
        TxKind::Call(_) => return None,
    };
    tx.kind = TxKind::Call(CROSS_SHARD);
    Some(foreign)
}

/// The tx hash origin of a transaction's sends.
pub(crate) fn tx_origin(hash: B256, sender: Address) -> Origin {
    Origin {
        tx_hash: hash,
        initiator: sender,
        depth: 0,
    }
}
