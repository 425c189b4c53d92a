//! The `CROSS_SHARD` precompile (CS-5) beside Ethereum's own precompiles.
//!
//! A send escrows the call's value (moved to `CROSS_SHARD` by the CALL itself) and the
//! prepaid gas (moved from `msg.sender` here), bumps the call counter and emits an event. All
//! of it goes through revm's journal, so a reverting frame or transaction sends nothing and
//! escrows nothing. The executor turns the events of successful executions into messages.

use alloy_primitives::{Address, Bytes, U256};
use revm::context::Cfg;
use revm::context_interface::{Block, ContextTr, JournalTr, Transaction};
use revm::handler::{EthPrecompiles, PrecompileProvider, precompile_output_to_interpreter_result};
use revm::interpreter::{CallInputs, CallScheme, CallValue, InterpreterResult};
use revm::precompile::PrecompileOutput;
use revm::primitives::AddressSet;
use revm::primitives::hardfork::SpecId;
use shardnet_protocol::{LaneClass, LaneId, ShardId, ShardMap};

use crate::lanes::system::{
    CROSS_SHARD, CallSent, CreateSent, SEND_GAS, SendError, SendRequest, call_id, call_sent_log,
    create_sent_log, slots, transfer_sent_log,
};
use alloy_primitives::B256;
use shardnet_protocol::limits::MAX_CROSS_SHARD_MESSAGE_BYTES;

/// What the precompile needs to know about the shard it runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendRules {
    pub shard: ShardId,
    pub shard_map: ShardMap,
    /// Most gas a request may carry (the destination's request budget, CS-9).
    pub max_request_gas: u64,
    /// Most gas a callback may carry (the response budget, CS-9).
    pub max_callback_gas: u64,
    /// Request messages a lane may have beyond the destination's certified watermark (CS-15).
    pub lane_credits: u64,
}

/// Ethereum's precompiles, plus `CROSS_SHARD` when the block executes on a shard.
#[derive(Debug)]
pub(crate) struct ShardPrecompiles {
    eth: EthPrecompiles,
    rules: Option<SendRules>,
    warm: AddressSet,
    /// CS-6: the real destination of the current plain transaction, which the executor
    /// pointed at `CROSS_SHARD`. Taken by the first `CROSS_SHARD` frame, which is necessarily
    /// the transaction's own top frame.
    pub(crate) foreign: Option<Foreign>,
    /// the foreign creator at which the executor runs the CREATE2 trampoline of an
    /// inbound `Create` (`inbound.rs`). Taken by the first frame into it, the transaction's own
    /// top frame, which then runs its code here instead of being treated as foreign.
    pub(crate) trampoline: Option<Address>,
}

/// What the executor pointed at `CROSS_SHARD` in a plain transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Foreign {
    /// A call or transfer to an address homed elsewhere (CS-6).
    To(Address),
    /// A contract creation whose address, `create(sender, nonce)`, is homed elsewhere:
    /// the transaction's input is the init code.
    Create {
        /// The address Ethereum computed.
        address: Address,
        /// The sender's nonce that gave it.
        nonce: u64,
    },
}

impl ShardPrecompiles {
    pub(super) fn new(spec: SpecId, rules: Option<SendRules>) -> Self {
        let eth = EthPrecompiles::new(spec);
        let mut warm = eth.warm_addresses().clone();
        if rules.is_some() {
            warm.insert(CROSS_SHARD);
        }
        Self {
            eth,
            rules,
            warm,
            foreign: None,
            trampoline: None,
        }
    }
}

impl<CTX> PrecompileProvider<CTX> for ShardPrecompiles
where
    CTX: ContextTr<Cfg: Cfg<Spec = SpecId>>,
{
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: SpecId) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        self.warm.clone_from(self.eth.warm_addresses());
        if self.rules.is_some() {
            self.warm.insert(CROSS_SHARD);
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        match self.rules {
            Some(rules) if inputs.bytecode_address == CROSS_SHARD => {
                let foreign = self.foreign.take();
                let out = send(context, inputs, &rules, foreign)?;
                Ok(Some(precompile_output_to_interpreter_result(
                    out,
                    inputs.gas_limit,
                )))
            }
            Some(_)
                if self.trampoline.is_some()
                    && self.trampoline == Some(inputs.bytecode_address) =>
            {
                self.trampoline = None;
                Ok(None)
            }
            // revm asks the provider about every call frame: a frame into an address homed
            // on another shard is handled here (CS-6 inside the EVM).
            Some(rules)
                if !rules
                    .shard_map
                    .is_local(rules.shard, &inputs.bytecode_address) =>
            {
                let out = foreign_frame(context, inputs, &rules)?;
                Ok(Some(precompile_output_to_interpreter_result(
                    out,
                    inputs.gas_limit,
                )))
            }
            _ => <EthPrecompiles as PrecompileProvider<CTX>>::run(&mut self.eth, context, inputs),
        }
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }
}

/// Runs one send. `Err` is an internal (store) failure that aborts the block; a refused send
/// is a revert with `Error(string)` data.
fn send<CTX: ContextTr>(
    ctx: &mut CTX,
    inputs: &CallInputs,
    rules: &SendRules,
    foreign: Option<Foreign>,
) -> Result<PrecompileOutput, String> {
    let input = inputs.input.bytes(ctx);
    // A plain transfer to another shard costs what a wallet pays for any transfer (CS-6).
    let cost = if matches!(foreign, Some(Foreign::To(_))) && input.is_empty() {
        0
    } else {
        SEND_GAS.saturating_add(8u64.saturating_mul(input.len() as u64))
    };
    let reservoir = inputs.reservoir;
    let revert = |e: SendError| Ok(PrecompileOutput::revert(cost, e.revert_data(), reservoir));
    if cost > inputs.gas_limit {
        // Reported as out of gas by the caller of this function; no side effects yet.
        return Ok(PrecompileOutput::new(cost, Bytes::new(), reservoir));
    }
    let value = match (inputs.scheme, &inputs.value, inputs.is_static) {
        (CallScheme::Call, CallValue::Transfer(v), false) => *v,
        _ => return revert(SendError::NotCall),
    };
    let from = inputs.caller;
    let request = match foreign {
        Some(Foreign::Create { address, nonce }) => {
            let gas_limit = (inputs.gas_limit - cost).min(rules.max_request_gas);
            return create(
                ctx, rules, from, address, nonce, None, value, input, gas_limit,
            )
            .map(|r| match r {
                Ok(()) => {
                    PrecompileOutput::new(cost, address.into_word().0.to_vec().into(), reservoir)
                }
                Err(e) => PrecompileOutput::revert(cost, e.revert_data(), reservoir),
            });
        }
        Some(Foreign::To(to)) if input.is_empty() => SendRequest::Transfer { to },
        Some(Foreign::To(to)) => SendRequest::Call {
            to,
            data: input,
            gas_limit: (inputs.gas_limit - cost).min(rules.max_request_gas),
            callback_gas: 0,
            deadline: 0,
        },
        None => match SendRequest::decode(&input) {
            Ok(r) => r,
            Err(e) => return revert(e),
        },
    };
    let local = |to: &Address| rules.shard_map.is_local(rules.shard, to);
    match request {
        SendRequest::Transfer { to } => {
            if local(&to) {
                return revert(SendError::Local(to));
            }
            if value.is_zero() {
                return revert(SendError::ZeroValue);
            }
            if let Err(e) = take_credit(ctx, rules, &to)? {
                return revert(e);
            }
            ctx.journal_mut().log(transfer_sent_log(from, to, value));
            Ok(PrecompileOutput::new(cost, Bytes::new(), reservoir))
        }
        SendRequest::Call {
            to,
            data,
            gas_limit,
            callback_gas,
            deadline,
        } => {
            if local(&to) {
                return revert(SendError::Local(to));
            }
            if gas_limit > rules.max_request_gas {
                return revert(SendError::GasTooHigh(gas_limit, rules.max_request_gas));
            }
            if gas_limit < 21_000 {
                return revert(SendError::GasTooLow(gas_limit));
            }
            if callback_gas != 0 && callback_gas < 21_000 {
                return revert(SendError::GasTooLow(callback_gas));
            }
            if callback_gas > rules.max_callback_gas {
                return revert(SendError::GasTooHigh(callback_gas, rules.max_callback_gas));
            }
            if let Err(e) = take_credit(ctx, rules, &to)? {
                return revert(e);
            }
            let (id, gas_price) =
                match prepay(ctx, rules, from, gas_limit.saturating_add(callback_gas))? {
                    Ok(x) => x,
                    Err(e) => return revert(e),
                };
            ctx.journal_mut().log(call_sent_log(&CallSent {
                call_id: id,
                from,
                to,
                value,
                gas_limit,
                callback_gas,
                deadline,
                gas_price,
                data,
            }));
            Ok(PrecompileOutput::new(cost, id.0.to_vec().into(), reservoir))
        }
    }
}

/// CS-6 inside the EVM: a frame whose code address is homed on another shard. A plain value
/// transfer (CALL, no input) is sent as a cross-shard `Transfer`, for no gas beyond the call's,
/// so `payable(x).transfer(v)` works across shards; anything else (input, STATICCALL,
/// DELEGATECALL, CALLCODE) would need the other shard's state synchronously, so it reverts
/// with a reason that says to use `CROSS_SHARD.call`.
fn foreign_frame<CTX: ContextTr>(
    ctx: &mut CTX,
    inputs: &CallInputs,
    rules: &SendRules,
) -> Result<PrecompileOutput, String> {
    let reservoir = inputs.reservoir;
    let target = inputs.bytecode_address;
    let input_empty = inputs.input.bytes(ctx).is_empty();
    let value = match (inputs.scheme, &inputs.value, inputs.is_static) {
        (CallScheme::Call, CallValue::Transfer(v), false) if input_empty => *v,
        _ => {
            let e = SendError::Synchronous(target, rules.shard_map.home(&target).0);
            return Ok(PrecompileOutput::revert(0, e.revert_data(), reservoir));
        }
    };
    if value.is_zero() {
        return Ok(PrecompileOutput::new(0, Bytes::new(), reservoir));
    }
    if let Err(e) = take_credit(ctx, rules, &target)? {
        return Ok(PrecompileOutput::revert(0, e.revert_data(), reservoir));
    }
    // The frame already moved the value into the target's (local, empty) account: escrow it.
    let journal = ctx.journal_mut();
    match journal.transfer(target, CROSS_SHARD, value) {
        Ok(None) => {}
        Ok(Some(e)) => return Err(format!("escrow of a foreign transfer failed: {e:?}")),
        Err(e) => return Err(format!("store: {e}")),
    }
    journal.log(transfer_sent_log(inputs.caller, target, value));
    Ok(PrecompileOutput::new(0, Bytes::new(), reservoir))
}

/// CS-5: debits `gas × price` (the transaction's effective gas price) from `from` into
/// escrow and allocates the next call id (CS-4). Journaled.
fn prepay<CTX: ContextTr>(
    ctx: &mut CTX,
    rules: &SendRules,
    from: Address,
    gas: u64,
) -> Result<Result<(B256, U256), SendError>, String> {
    let basefee = u128::from(ctx.block().basefee());
    let gas_price = U256::from(ctx.tx().effective_gas_price(basefee));
    let prepaid = U256::from(gas) * gas_price;
    let journal = ctx.journal_mut();
    match journal.transfer(from, CROSS_SHARD, prepaid) {
        Ok(None) => {}
        Ok(Some(_)) => return Ok(Err(SendError::Prepay(prepaid))),
        Err(e) => return Err(format!("store: {e}")),
    }
    journal
        .load_account(CROSS_SHARD)
        .map_err(|e| format!("store: {e}"))?;
    let counter_slot = slots::call_counter();
    let counter = journal
        .sload(CROSS_SHARD, counter_slot)
        .map_err(|e| format!("store: {e}"))?
        .data
        .saturating_add(U256::from(1));
    journal
        .sstore(CROSS_SHARD, counter_slot, counter)
        .map_err(|e| format!("store: {e}"))?;
    Ok(Ok((
        call_id(rules.shard, counter.saturating_to::<u64>()),
        gas_price,
    )))
}

/// a creation whose address is homed on another shard becomes a `Create` message
/// (with `salt` for CREATE2).
#[allow(clippy::too_many_arguments)]
pub(super) fn create<CTX: ContextTr>(
    ctx: &mut CTX,
    rules: &SendRules,
    from: Address,
    address: Address,
    nonce: u64,
    salt: Option<B256>,
    value: U256,
    initcode: Bytes,
    gas_limit: u64,
) -> Result<Result<(), SendError>, String> {
    if initcode.len() > MAX_CROSS_SHARD_MESSAGE_BYTES {
        return Ok(Err(SendError::TooLong(initcode.len())));
    }
    if gas_limit < 53_000 {
        return Ok(Err(SendError::GasTooLow(gas_limit)));
    }
    if let Err(e) = take_credit(ctx, rules, &address)? {
        return Ok(Err(e));
    }
    let (id, gas_price) = match prepay(ctx, rules, from, gas_limit)? {
        Ok(x) => x,
        Err(e) => return Ok(Err(e)),
    };
    ctx.journal_mut().log(create_sent_log(&CreateSent {
        call_id: id,
        from,
        address,
        value,
        gas_limit,
        nonce,
        gas_price,
        salt,
        initcode,
    }));
    Ok(Ok(()))
}

/// CS-15: takes one credit of the request lane to `to`'s shard, or refuses with `LaneFull`
/// when the lane already has `lane_credits` messages beyond the destination's certified
/// watermark (counting this block's earlier sends). Journaled like the send itself.
pub(super) fn take_credit<CTX: ContextTr>(
    ctx: &mut CTX,
    rules: &SendRules,
    to: &Address,
) -> Result<Result<(), SendError>, String> {
    let destination = rules.shard_map.home(to);
    let lane = LaneId {
        source: rules.shard,
        destination,
        class: LaneClass::Request,
    };
    let journal = ctx.journal_mut();
    journal
        .load_account(CROSS_SHARD)
        .map_err(|e| format!("store: {e}"))?;
    let mut read = |slot| {
        journal
            .sload(CROSS_SHARD, slot)
            .map(|v| v.data.saturating_to::<u64>())
            .map_err(|e| format!("store: {e}"))
    };
    let emitted = read(slots::outbound(&lane))?;
    let certified = read(slots::certified(&lane))?.min(emitted);
    let pending = read(slots::pending(&lane))?;
    let backlog = emitted - certified + pending;
    if backlog >= rules.lane_credits {
        return Ok(Err(SendError::LaneFull(destination.0, backlog)));
    }
    journal
        .sstore(CROSS_SHARD, slots::pending(&lane), U256::from(pending + 1))
        .map_err(|e| format!("store: {e}"))?;
    Ok(Ok(()))
}
