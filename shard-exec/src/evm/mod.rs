//! The one module that touches revm (its API changes at every major; keep it contained).
//!
//! Executes an ordered list of recovered transactions on a [`StateView`] and returns
//! per-transaction results, the block's [`ChangeSet`] (with storage roots filled in) and the
//! post-state root (`specs/execution.md` ).

use std::cell::RefCell;

use alloy_primitives::map::{AddressMap, HashMap};
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, U256};
use alloy_rlp::Decodable;
use alloy_trie::{KECCAK_EMPTY, TrieAccount};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database::CacheDB;
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, Bytecode};
use revm::{MainBuilder, MainContext};

pub use inbound::CrossShardEffects;

mod block;
mod create;
mod inbound;
mod precompile;
mod selfdestruct;

pub use block::{RawBlockError, execute_block, execute_raw_block};
pub use inbound::{CrossShardEnv, InboundResult};

use crate::state_root::account_trie;
use crate::store::{AccountRecord, ChangeSet, StateView, StoreError, hash_address, hash_slot};
use crate::trie::Trie;
use crate::tx::RecoveredTx;

impl DBErrorMarker for StoreError {}

/// The Ethereum rule set a block executes under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fork {
    /// Cancun (what the ethereum/tests fixtures here target).
    Cancun,
    /// Prague: Shardnet's rules.
    Prague,
}

impl Fork {
    pub(crate) fn spec(self) -> SpecId {
        match self {
            Self::Cancun => SpecId::CANCUN,
            Self::Prague => SpecId::PRAGUE,
        }
    }
}

/// The block-level environment of an execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecEnv {
    /// Rules.
    pub fork: Fork,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block number (the shard's height).
    pub number: u64,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Receives priority fees.
    pub beneficiary: Address,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee of this block.
    pub base_fee: u64,
    /// `PREVRANDAO` value.
    pub prevrandao: B256,
    /// Pre-merge difficulty (ignored after Paris, kept for fixtures).
    pub difficulty: U256,
    /// EIP-4844 excess blob gas (blob transactions are refused; this only prices BLOBBASEFEE).
    pub excess_blob_gas: u64,
}

/// Where `BLOCKHASH` looks.
pub trait BlockHashes {
    /// Hash of block `number` (zero when unknown).
    fn block_hash(&self, number: u64) -> B256;
}

impl<F: Fn(u64) -> B256> BlockHashes for F {
    fn block_hash(&self, number: u64) -> B256 {
        self(number)
    }
}

/// How one transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Executed and succeeded.
    Success,
    /// Executed and reverted (state rolled back, gas charged).
    Revert(Bytes),
    /// Executed and halted (out of gas, invalid opcode, ...).
    Halt(String),
    /// Not executable (nonce, balance, gas limit, ...): excluded, no state change.
    Invalid(String),
}

/// The result of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResult {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub sender: Address,
    /// Outcome.
    pub status: TxStatus,
    /// Gas this transaction used.
    pub gas_used: u64,
    /// Gas used by the block up to and including it.
    pub cumulative_gas_used: u64,
    /// Logs emitted (empty unless it succeeded).
    pub logs: Vec<Log>,
    /// The receipt's logs bloom (EIP-2718 receipts, as Ethereum computes it).
    pub bloom: Bloom,
    /// Address of the contract it created.
    pub contract_address: Option<Address>,
    /// Return data (call output or deployed code).
    pub output: Bytes,
}

impl TxResult {
    /// Whether the transaction was executed (included in the block).
    pub fn executed(&self) -> bool {
        !matches!(self.status, TxStatus::Invalid(_))
    }
}

/// What executing a list of transactions produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Per transaction, in order.
    pub txs: Vec<TxResult>,
    /// The state changes, storage roots filled in.
    pub changes: ChangeSet,
    /// The state root after the changes.
    pub state_root: B256,
    /// Gas used by all executed transactions.
    pub gas_used: u64,
    /// Cross-shard effects, when the block executed on a shard (empty otherwise).
    pub cross_shard: CrossShardEffects,
}

impl Execution {
    /// The block's logs bloom: the union of its receipts' blooms.
    pub fn bloom(&self) -> Bloom {
        let mut bloom = Bloom::ZERO;
        for t in &self.txs {
            bloom.accrue_bloom(&t.bloom);
        }
        bloom
    }
}

/// Execution failed for a reason that is not the transactions' fault.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// revm reported an internal error.
    #[error("evm: {0}")]
    Evm(String),
}

/// revm's view of our state.
pub(crate) struct ViewDb<'a, V: ?Sized> {
    view: &'a V,
    /// The account trie of `view`'s state, when the caller carries it: it holds every
    /// account, and the storage of the contracts whose storage trie it carries, so those are
    /// read from it (a walk in memory) rather than from the store (a lookup and a decode).
    trie: Option<&'a Trie>,
    hashes: &'a dyn BlockHashes,
    /// Every account revm read, with its hashed address, as it was before the block: the
    /// change set compares against these instead of reading the store again (each read is a
    /// store lookup and a decode), and hashes no address twice.
    read: RefCell<AddressMap<(B256, Option<AccountRecord>)>>,
    /// Every slot revm read, with its hashed slot, likewise.
    slots: RefCell<HashMap<(Address, U256), (B256, U256)>>,
}

impl<'a, V: StateView + ?Sized> ViewDb<'a, V> {
    /// An adapter over `view` with empty read caches (read-only calls, `query.rs`).
    pub(crate) fn new(view: &'a V, hashes: &'a dyn BlockHashes) -> Self {
        Self {
            view,
            trie: None,
            hashes,
            read: RefCell::new(AddressMap::default()),
            slots: RefCell::new(HashMap::default()),
        }
    }
}

impl<V: StateView + ?Sized> ViewDb<'_, V> {
    /// The hashed address and the record before the block: from the read cache, else the
    /// account trie, else the store.
    fn original(&self, address: &Address) -> Result<(B256, Option<AccountRecord>), StoreError> {
        if let Some(a) = self.read.borrow().get(address) {
            return Ok(*a);
        }
        let hashed = hash_address(address);
        let record = match self.trie {
            Some(trie) => {
                let record = trie
                    .get_value(&hashed)
                    .map(|rlp| account_from_rlp(*address, rlp))
                    .transpose()?;
                debug_assert_eq!(record, self.view.account(&hashed)?, "trie and store differ");
                record
            }
            None => self.view.account(&hashed)?,
        };
        let a = (hashed, record);
        self.read.borrow_mut().insert(*address, a);
        Ok(a)
    }

    /// The hashed address of an account: from the read cache (revm reads an account before
    /// its storage), else computed.
    fn hashed(&self, address: &Address) -> B256 {
        self.read
            .borrow()
            .get(address)
            .map_or_else(|| hash_address(address), |a| a.0)
    }

    /// The hashed slot and a slot's value before the block: from the read cache, else the
    /// store.
    fn original_slot(&self, address: &Address, slot: &U256) -> Result<(B256, U256), StoreError> {
        if let Some(v) = self.slots.borrow().get(&(*address, *slot)) {
            return Ok(*v);
        }
        let hashed_slot = hash_slot(slot);
        let hashed = self.hashed(address);
        let value = match self.trie.and_then(|t| t.storage(&hashed)) {
            Some(storage) => {
                let value = storage
                    .get_value(&hashed_slot)
                    .map_or(Ok(U256::ZERO), |mut rlp| U256::decode(&mut rlp))
                    .map_err(|e| StoreError::Corrupt(format!("storage trie value: {e}")))?;
                debug_assert_eq!(value, self.view.storage(&hashed, &hashed_slot)?);
                value
            }
            None => self.view.storage(&hashed, &hashed_slot)?,
        };
        let v = (hashed_slot, value);
        self.slots.borrow_mut().insert((*address, *slot), v);
        Ok(v)
    }
}

impl<V: StateView + ?Sized> DatabaseRef for ViewDb<'_, V> {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        Ok(self.original(&address)?.1.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            code: None,
            ..AccountInfo::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StoreError> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let code = self
            .view
            .code(&code_hash)?
            .ok_or_else(|| StoreError::Corrupt(format!("missing code {code_hash}")))?;
        Ok(Bytecode::new_raw(code))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StoreError> {
        Ok(self.original_slot(&address, &index)?.1)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StoreError> {
        Ok(self.hashes.block_hash(number))
    }
}

/// An account record from its state-trie encoding (the address is the key's preimage).
fn account_from_rlp(address: Address, mut rlp: &[u8]) -> Result<AccountRecord, StoreError> {
    let a = TrieAccount::decode(&mut rlp)
        .map_err(|e| StoreError::Corrupt(format!("account trie value: {e}")))?;
    Ok(AccountRecord {
        address,
        nonce: a.nonce,
        balance: a.balance,
        code_hash: a.code_hash,
        storage_root: a.storage_root,
    })
}

fn tx_env(tx: &RecoveredTx, chain_id: u64) -> TxEnv {
    use alloy_consensus::Transaction;
    let e = &tx.envelope;
    let access_list = e.access_list().cloned().unwrap_or_default();
    TxEnv {
        tx_type: e.tx_type() as u8,
        caller: tx.sender,
        gas_limit: e.gas_limit(),
        gas_price: e.max_fee_per_gas(),
        kind: e.kind(),
        value: e.value(),
        data: e.input().clone(),
        nonce: e.nonce(),
        chain_id: e
            .chain_id()
            .or(if e.is_legacy() { None } else { Some(chain_id) }),
        access_list,
        gas_priority_fee: e.max_priority_fee_per_gas(),
        ..TxEnv::default()
    }
}

/// Executes `txs` in order on `view`, building `view`'s account trie from scratch to
/// compute the post-state root. For a chain of blocks use [`execute_on`], which updates the
/// previous block's trie instead.
pub fn execute<V: StateView + ?Sized>(
    view: &V,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    txs: &[RecoveredTx],
) -> Result<Execution, ExecError> {
    let base = account_trie(view)?;
    execute_on(view, &base, env, hashes, txs).map(|(execution, _)| execution)
}

/// Executes `txs` in order on `view`, whose account trie is `base`. Invalid transactions
/// are reported and skipped; the caller decides whether that invalidates a block (it does,
/// for a proposed block). Returns the execution and the post-state account trie, computed
/// from the paths the block changed.
pub fn execute_on<V: StateView + ?Sized>(
    view: &V,
    base: &Trie,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    txs: &[RecoveredTx],
) -> Result<(Execution, Trie), ExecError> {
    execute_block(view, base, env, hashes, txs, None)
}

/// revm's block environment for `env`.
pub fn block_env(env: &ExecEnv) -> BlockEnv {
    BlockEnv {
        number: U256::from(env.number),
        beneficiary: env.beneficiary,
        timestamp: U256::from(env.timestamp),
        gas_limit: env.gas_limit,
        basefee: env.base_fee,
        difficulty: env.difficulty,
        prevrandao: Some(env.prevrandao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
            env.excess_blob_gas,
            revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN,
        )),
        ..BlockEnv::default()
    }
}

/// revm's mainnet context, carrying the shard's send rules (`None` off a shard) for the
/// instructions that need them (SELFDESTRUCT, CS-6).
pub(crate) type ShardContext<'a, V> = Context<
    BlockEnv,
    TxEnv,
    CfgEnv,
    CacheDB<ViewDb<'a, V>>,
    revm::Journal<CacheDB<ViewDb<'a, V>>>,
    Option<precompile::SendRules>,
>;

/// revm as a shard runs it: mainnet instructions (but SELFDESTRUCT) and context, our
/// precompiles. Built by [`shard_evm`].
pub(crate) type ShardEvm<'a, V> = revm::context::Evm<
    ShardContext<'a, V>,
    (),
    revm::handler::instructions::EthInstructions<
        revm::interpreter::interpreter::EthInterpreter,
        ShardContext<'a, V>,
    >,
    precompile::ShardPrecompiles,
    revm::handler::EthFrame<revm::interpreter::interpreter::EthInterpreter>,
>;

/// Builds [`ShardEvm`]: with `xs`, `CROSS_SHARD` and sends (CS-5, CS-6), SELFDESTRUCT to
/// a foreign beneficiary as a cross-shard transfer (`selfdestruct.rs`), CREATE and CREATE2 to
/// a foreign address as a cross-shard creation (X-6, `create.rs`).
pub(crate) fn shard_evm<'a, V: StateView + ?Sized>(
    db: CacheDB<ViewDb<'a, V>>,
    block: BlockEnv,
    cfg: CfgEnv,
    xs: Option<&CrossShardEnv<'_>>,
) -> ShardEvm<'a, V> {
    let spec = cfg.spec;
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_block(block)
        .with_cfg(cfg)
        .with_chain(xs.map(CrossShardEnv::rules))
        .build_mainnet()
        .with_precompiles(shard_precompiles(spec, xs));
    use revm::interpreter::Instruction;
    let ours = [
        (
            selfdestruct::SELFDESTRUCT,
            Instruction::new(selfdestruct::selfdestruct),
        ),
        (create::CREATE, Instruction::new(create::create::<false, _>)),
        (create::CREATE2, Instruction::new(create::create::<true, _>)),
    ];
    for (op, instruction) in ours {
        let gas = evm
            .instruction
            .gas_table()
            .get(usize::from(op))
            .copied()
            .unwrap_or_default();
        evm.instruction.insert_instruction(op, instruction, gas);
    }
    evm
}

/// Ethereum's precompiles, plus `CROSS_SHARD` on a shard (CS-5).
pub(crate) fn shard_precompiles(
    spec: SpecId,
    xs: Option<&CrossShardEnv<'_>>,
) -> precompile::ShardPrecompiles {
    precompile::ShardPrecompiles::new(spec, xs.map(CrossShardEnv::rules))
}

/// CS-6, X-6: points a plain transaction to a foreign address (or a deployment to a foreign
/// address) at `CROSS_SHARD`; returns what the precompile must be told.
pub(crate) fn rewrite_foreign(
    tx: &mut TxEnv,
    xs: &CrossShardEnv<'_>,
) -> Option<precompile::Foreign> {
    inbound::rewrite_foreign(tx, xs)
}
