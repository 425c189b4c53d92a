//! X-6 inside the EVM: CREATE and CREATE2 whose address is homed on another shard.
//!
//! Ethereum's instruction runs first (memory, init-code and hashing costs, the address computed
//! exactly as tools compute it). If the new address is homed elsewhere (and Ethereum would not
//! fail the creation first: call depth, endowment not covered, nonce exhausted), no local frame
//! is created, the creator's nonce is bumped as for any CREATE, and:
//! - the creation is sent as a cross-shard `Create` message (carrying the salt for CREATE2),
//!   exactly as a deploy transaction to a foreign address is (`precompile::create`): the
//!   endowment is escrowed, the init code's gas (the gas the CREATE would have forwarded, capped
//!   by the destination's request budget) is prepaid by the creator at the transaction's gas
//!   price, and the instruction pushes the address at once; the forwarded gas is given back to
//!   the frame. The home shard checks the address against (creator, nonce) or (creator, salt,
//!   init-code hash), runs the init code as the creator so the contract lands at that very
//!   address, and answers with a `Response` (refunds to the creator). Journaled: a reverting
//!   frame sends nothing.
//! - a creation the creator cannot prepay (or that its lane cannot take, or whose gas or init
//!   code does not fit a message) fails cleanly: nothing moves, the forwarded gas is given back,
//!   0 is pushed and the return-data buffer holds the reason as `Error(string)` (Solidity's
//!   `new` re-raises it).
//!
//! Off a shard (no send rules), and for local addresses, it is Ethereum's instruction.

use alloy_primitives::{B256, U256};
use revm::context_interface::journaled_state::account::JournaledAccountTr;
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::instructions::contract::create as eth_create;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::interpreter_types::{InputsTr, LoopControl, ReturnData};
use revm::interpreter::{
    CreateScheme, FrameInput, Host, InstructionContext, InstructionExecResult, InstructionResult,
    InterpreterAction,
};
use revm::primitives::CALL_STACK_LIMIT;

use super::precompile::{self, SendRules};
use crate::lanes::system::{CROSS_SHARD, SendError};

/// The CREATE opcode.
pub(crate) const CREATE: u8 = 0xf0;
/// The CREATE2 opcode.
pub(crate) const CREATE2: u8 = 0xf5;

/// CREATE (`IS_CREATE2 = false`) or CREATE2 on a shard (module docs).
pub(crate) fn create<const IS_CREATE2: bool, H>(
    context: InstructionContext<'_, H, EthInterpreter>,
) -> InstructionExecResult
where
    H: Host + ContextTr<Chain = Option<SendRules>>,
{
    let rules = *context.host.chain();
    let InstructionContext { interpreter, host } = context;
    let result = eth_create::<IS_CREATE2, _, _>(InstructionContext {
        interpreter: &mut *interpreter,
        host: &mut *host,
    });
    let Some(rules) = rules else {
        return result;
    };
    let Some(InterpreterAction::NewFrame(FrameInput::Create(inputs))) =
        interpreter.bytecode.action().as_ref()
    else {
        return result;
    };
    let (caller, value, forwarded) = (inputs.caller(), inputs.value(), inputs.gas_limit());
    let salt = match inputs.scheme() {
        CreateScheme::Create2 { salt } => Some(B256::from(salt)),
        _ => None,
    };
    debug_assert_eq!(salt.is_some(), IS_CREATE2);
    let initcode = inputs.init_code().clone();
    let account = host
        .journal_mut()
        .load_account(caller)
        .map_err(|_| InstructionResult::FatalExternalError)?;
    let (nonce, balance) = (account.data.info.nonce, account.data.info.balance);
    let address = inputs.created_address(nonce);
    // Creations Ethereum fails before any state change (too deep, endowment not covered,
    // nonce exhausted) stay Ethereum's, as do local addresses.
    if rules.shard_map.is_local(rules.shard, &address)
        || interpreter.input.depth() >= CALL_STACK_LIMIT as usize
        || balance < value
        || nonce == u64::MAX
    {
        return result;
    }
    let mut account = host
        .journal_mut()
        .load_account_mut(caller)
        .map_err(|_| InstructionResult::FatalExternalError)?;
    if !account.data.bump_nonce() {
        return result;
    }
    drop(account);
    *interpreter.bytecode.action() = None;
    interpreter.bytecode.reset_action();
    interpreter.gas.erase_cost(forwarded);
    let gas_limit = forwarded.min(rules.max_request_gas);
    let sent = send_create(
        host, &rules, caller, address, nonce, salt, value, initcode, gas_limit,
    );
    let pushed = match sent {
        Err(_) => return Err(InstructionResult::FatalExternalError),
        Ok(Ok(())) => {
            interpreter.return_data.clear();
            U256::from_be_slice(address.as_slice())
        }
        Ok(Err(e)) => {
            interpreter.return_data.set_buffer(e.revert_data());
            U256::ZERO
        }
    };
    if !interpreter.stack.push(pushed) {
        return Err(InstructionResult::StackOverflow);
    }
    Ok(())
}

/// Escrows the endowment and sends the `Create`, all or nothing: a refusal leaves no
/// trace in the journal.
#[allow(clippy::too_many_arguments)]
fn send_create<H: ContextTr>(
    host: &mut H,
    rules: &SendRules,
    from: alloy_primitives::Address,
    address: alloy_primitives::Address,
    nonce: u64,
    salt: Option<B256>,
    value: U256,
    initcode: alloy_primitives::Bytes,
    gas_limit: u64,
) -> Result<Result<(), SendError>, String> {
    let checkpoint = host.journal_mut().checkpoint();
    let out = match host.journal_mut().transfer(from, CROSS_SHARD, value) {
        Ok(None) => precompile::create(
            host, rules, from, address, nonce, salt, value, initcode, gas_limit,
        ),
        Ok(Some(_)) => Ok(Err(SendError::Prepay(value))),
        Err(e) => Err(format!("store: {e}")),
    };
    if matches!(out, Ok(Ok(()))) {
        host.journal_mut().checkpoint_commit();
    } else {
        host.journal_mut().checkpoint_revert(checkpoint);
    }
    out
}
