//! The storage seam: a small synchronous [`StateView`] / [`StateStore`] pair, in the spirit of
//! revm's `Database`, with three implementations that pass one contract suite
//! (`tests/store_contract.rs`): [`MemoryStore`] (simulation), [`SledStore`] (production) and
//! [`FaultyStore`] (loses unflushed writes on a simulated crash).
//!
//! Keys are *hashed* (keccak of the address, keccak of the slot) so iterating a store walks the
//! Merkle-Patricia trie's leaves in order: the state root needs no sort (`specs/execution.md`
//!

mod faulty;
mod journal;
mod memory;
mod sled_store;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use serde::{Deserialize, Serialize};

pub use faulty::FaultyStore;
pub use memory::MemoryStore;
pub use sled_store::{MATERIALISE_AT_RECORDS, MATERIALISE_EVERY_BLOCKS, SledStore};

/// Why a store failed. A failing store is fatal for a validator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("state store I/O: {0}")]
    Io(String),
    /// Stored bytes do not decode.
    #[error("state store corrupt: {0}")]
    Corrupt(String),
}

/// An account as the state trie commits to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account's address (the key is its hash).
    pub address: Address,
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
    /// Root of the account's storage trie (`EMPTY_ROOT_HASH` for none).
    pub storage_root: B256,
}

/// Chain metadata a store keeps beside the state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Height of the last applied block.
    pub height: u64,
    /// State root after it.
    pub state_root: B256,
    /// Hash of the last applied block (the consensus block hash).
    pub block_hash: B256,
    /// That block's EIP-1559 base fee.
    pub base_fee: u64,
    /// Gas its transactions used (with the base fee, it sets the next base fee).
    pub gas_used: u64,
    /// Hashes of the most recent blocks, oldest first, ending with `block_hash` (at most
    /// [`BLOCKHASH_WINDOW`]): what `BLOCKHASH` answers, kept durable so a restarted validator
    /// executes exactly as the others do.
    pub recent_hashes: Vec<B256>,
}

/// Blocks `BLOCKHASH` can see, as on Ethereum.
pub const BLOCKHASH_WINDOW: usize = 256;

/// Everything one block changes, applied atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Accounts written (`Some`) or deleted (`None`), by hashed address.
    pub accounts: BTreeMap<B256, Option<AccountRecord>>,
    /// Accounts whose whole storage is wiped before `storage` is applied (selfdestruct,
    /// re-creation), by hashed address.
    pub wiped_storage: Vec<B256>,
    /// Storage writes by (hashed address, hashed slot); zero deletes the slot.
    pub storage: BTreeMap<(B256, B256), U256>,
    /// New contract code by hash.
    pub code: BTreeMap<B256, Bytes>,
    /// New chain metadata.
    pub meta: Option<StoreMeta>,
}

/// Read access to a state: a store, or a store with uncommitted blocks layered on it.
pub trait StateView {
    /// The account with this hashed address.
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError>;
    /// A storage slot (zero if unset).
    fn storage(&self, hashed_address: &B256, hashed_slot: &B256) -> Result<U256, StoreError>;
    /// Code by hash.
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError>;
    /// Every account, ascending by hashed address (the state trie's leaf order).
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError>;
    /// Every non-zero slot of one account, ascending by hashed slot.
    fn account_storage(&self, hashed_address: &B256) -> Result<Vec<(B256, U256)>, StoreError>;
    /// Chain metadata of the last applied block.
    fn meta(&self) -> Result<StoreMeta, StoreError>;
}

/// A durable state: applies change sets atomically, durable after `flush`.
pub trait StateStore: StateView {
    /// Applies one block's changes as one atomic batch.
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError>;
    /// Makes every applied batch durable (fsync).
    fn flush(&mut self) -> Result<(), StoreError>;
}

/// keccak of an address: its key in the state trie and in stores.
pub fn hash_address(address: &Address) -> B256 {
    keccak256(address)
}

/// keccak of a slot index: its key in an account's storage trie and in stores.
pub fn hash_slot(slot: &U256) -> B256 {
    keccak256(slot.to_be_bytes::<32>())
}

impl<T: StateView + ?Sized> StateView for &T {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        (**self).account(hashed)
    }
    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        (**self).storage(a, s)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        (**self).code(code_hash)
    }
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        (**self).accounts()
    }
    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        (**self).account_storage(a)
    }
    fn meta(&self) -> Result<StoreMeta, StoreError> {
        (**self).meta()
    }
}
