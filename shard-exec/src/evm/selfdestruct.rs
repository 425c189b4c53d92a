//! CS-6 (inside the EVM), SELFDESTRUCT: a beneficiary homed on another shard gets the
//! contract's balance as a cross-shard `Transfer`, never a local credit.
//!
//! revm's SELFDESTRUCT credits its beneficiary in the local state, which for an address homed
//! elsewhere would strand the value on the wrong shard. This instruction replaces it: when the
//! beneficiary is foreign, the balance is escrowed in `CROSS_SHARD` and a `TransferSent` event
//! is emitted (exactly as a value-only CALL to a foreign address, `precompile::foreign_frame`),
//! then Ethereum's SELFDESTRUCT runs with the contract as its own beneficiary (its balance is
//! now zero; EIP-6780 still deletes a contract created in the same transaction). Everything goes
//! through the journal, so a reverting frame sends nothing. The price is Ethereum's for a cold
//! beneficiary with no account (the foreign beneficiary has none here): 5,000 + 2,600, plus
//! 25,000 when the balance is not zero. A lane without credit (CS-15) reverts the frame with
//! `LaneFull`. A local or system beneficiary, or any SELFDESTRUCT off a shard, is Ethereum's.

use alloy_primitives::{Address, B256, U256};
use revm::context_interface::{ContextTr, JournalTr};
use revm::interpreter::instructions::host::selfdestruct as eth_selfdestruct;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::interpreter_types::{InputsTr, LoopControl, RuntimeFlag};
use revm::interpreter::{
    Host, InstructionContext, InstructionExecResult, InstructionResult, InterpreterAction,
};

use super::precompile::{SendRules, take_credit};
use crate::lanes::system::{CROSS_SHARD, transfer_sent_log};

/// The SELFDESTRUCT opcode.
pub(crate) const SELFDESTRUCT: u8 = 0xff;

/// SELFDESTRUCT on a shard (module docs). The host's chain field carries the shard's send
/// rules (`None` off a shard: Ethereum's SELFDESTRUCT).
pub(crate) fn selfdestruct<H>(
    context: InstructionContext<'_, H, EthInterpreter>,
) -> InstructionExecResult
where
    H: Host + ContextTr<Chain = Option<SendRules>>,
{
    let rules = *context.host.chain();
    let target = context
        .interpreter
        .stack
        .top()
        .map(|t| Address::from_word(B256::from(*t)));
    let (Some(rules), Some(target)) = (rules, target) else {
        return eth_selfdestruct(context);
    };
    if rules.shard_map.is_local(rules.shard, &target)
        || context.interpreter.runtime_flag.is_static()
    {
        return eth_selfdestruct(context);
    }
    let contract = context.interpreter.input.target_address();
    let balance = context
        .host
        .journal_mut()
        .load_account(contract)
        .map_err(|_| InstructionResult::FatalExternalError)?
        .data
        .info
        .balance;
    // What Ethereum charges on top of the base cost for a cold beneficiary with no account.
    let params = context.host.gas_params();
    let extra = params
        .selfdestruct_cost(!balance.is_zero(), true)
        .saturating_sub(params.selfdestruct_cost(false, false));
    if !context.interpreter.gas.record_regular_cost(extra) {
        return Err(InstructionResult::OutOfGas);
    }
    if !balance.is_zero() {
        match take_credit(context.host, &rules, &target) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let gas = context.interpreter.gas;
                context
                    .interpreter
                    .bytecode
                    .set_action(InterpreterAction::new_return(
                        InstructionResult::Revert,
                        e.revert_data(),
                        gas,
                    ));
                return Err(InstructionResult::Revert);
            }
            Err(_) => return Err(InstructionResult::FatalExternalError),
        }
        let journal = context.host.journal_mut();
        match journal.transfer(contract, CROSS_SHARD, balance) {
            Ok(None) => {}
            _ => return Err(InstructionResult::FatalExternalError),
        }
        journal.log(transfer_sent_log(contract, target, balance));
    }
    // Ethereum's SELFDESTRUCT, beneficiary the contract itself (its value is in escrow).
    if let Some(top) = context.interpreter.stack.top() {
        *top = U256::from_be_bytes(contract.into_word().0);
    }
    eth_selfdestruct(context)
}
