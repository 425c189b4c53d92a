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
use shardnet_protocol::{ShardId, ShardMap};

use crate::lanes::system::{
    CROSS_SHARD, CallSent, SEND_GAS, SendError, SendRequest, call_id, call_sent_log, slots,
    transfer_sent_log,
};

/// What the precompile needs to know about the shard it runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendRules {
    pub shard: ShardId,
    pub shard_map: ShardMap,
    /// Most gas a request may carry (the destination's request budget, CS-9).
    pub max_request_gas: u64,
    /// Most gas a callback may carry (the response budget, CS-9).
    pub max_callback_gas: u64,
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
    pub(crate) foreign: Option<Address>,
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
    foreign: Option<Address>,
) -> Result<PrecompileOutput, String> {
    let input = inputs.input.bytes(ctx);
    // A plain transfer to another shard costs what a wallet pays for any transfer (CS-6).
    let cost = if foreign.is_some() && input.is_empty() {
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
    let request = match foreign {
        Some(to) if input.is_empty() => SendRequest::Transfer { to },
        Some(to) => SendRequest::Call {
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
    let from = inputs.caller;
    let local = |to: &Address| rules.shard_map.is_local(rules.shard, to);
    match request {
        SendRequest::Transfer { to } => {
            if local(&to) {
                return revert(SendError::Local(to));
            }
            if value.is_zero() {
                return revert(SendError::ZeroValue);
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
            let basefee = u128::from(ctx.block().basefee());
            let gas_price = U256::from(ctx.tx().effective_gas_price(basefee));
            let prepaid = U256::from(gas_limit.saturating_add(callback_gas)) * gas_price;
            let journal = ctx.journal_mut();
            match journal.transfer(from, CROSS_SHARD, prepaid) {
                Ok(None) => {}
                Ok(Some(_)) => return revert(SendError::Prepay(prepaid)),
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
            let id = call_id(rules.shard, counter.saturating_to::<u64>());
            journal.log(call_sent_log(&CallSent {
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
