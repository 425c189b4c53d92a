//! X-6 inside the EVM: CREATE and CREATE2 whose address is homed on another shard fail
//! cleanly, instead of leaving a contract (and its endowment) stranded on the creating shard.
//!
//! Ethereum's instruction runs first (memory, init-code and hashing costs, the address
//! computed exactly as tools compute it). If the new address is homed elsewhere, the frame
//! is not created: the creator's nonce is bumped (so the next CREATE gets the next address, as
//! after a CREATE whose init code fails), nothing else changes (no value moves, the forwarded
//! gas is given back), and the instruction pushes 0 and leaves an
//! `Error(string)` naming the address and its shard in the return-data buffer, so Solidity's
//! `new` reverts with that reason. Off a shard (no send rules), and for local addresses, it
//! is Ethereum's CREATE. (The asynchronous creation that `specs/execution.md` X-6 plans, a
//! `Create` message to the home shard, is not implemented.)

use alloy_primitives::U256;
use revm::context_interface::journaled_state::account::JournaledAccountTr;
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::instructions::contract::create as eth_create;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::interpreter_types::{InputsTr, LoopControl, ReturnData};
use revm::interpreter::{
    FrameInput, Host, InstructionContext, InstructionExecResult, InstructionResult,
    InterpreterAction,
};
use revm::primitives::CALL_STACK_LIMIT;

use super::precompile::SendRules;
use crate::lanes::system::SendError;

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
    let e = SendError::ForeignCreate(address, rules.shard_map.home(&address).0);
    interpreter.return_data.set_buffer(e.revert_data());
    if !interpreter.stack.push(U256::ZERO) {
        return Err(InstructionResult::StackOverflow);
    }
    Ok(())
}
