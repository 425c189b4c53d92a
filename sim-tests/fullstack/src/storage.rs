//! A simulated host's disk: what survives a crash. State goes through [`FaultyStore`] over a
//! [`SharedStore`] (unflushed batches die with the incarnation), safety data through
//! [`MemorySafetyStore`] (durable at `persist`, as an fsync), committed blocks through
//! [`MemoryLedger`]. The harness reads the durable state to check invariants.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use alloy_primitives::{B256, Bytes, U256};
use shardnet_consensus::{CommittedBlock, MemorySafetyStore};
use shardnet_exec::store::{AccountRecord, ChangeSet, StoreError, StoreMeta};
use shardnet_exec::{FaultyStore, MemoryStore, StateStore, StateView};
use shardnet_node::ledger::LedgerError;
use shardnet_node::validator::LedgerStore;

/// An in-memory state shared by clones: the durable medium under a host's [`FaultyStore`],
/// kept by the harness across incarnations.
#[derive(Clone, Debug, Default)]
pub struct SharedStore(Arc<Mutex<MemoryStore>>);

impl SharedStore {
    /// The state, locked (a poisoned lock still holds a consistent state: `apply` is one call).
    pub fn lock(&self) -> MutexGuard<'_, MemoryStore> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateView for SharedStore {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        self.lock().account(hashed)
    }
    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        self.lock().storage(a, s)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        self.lock().code(code_hash)
    }
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        self.lock().accounts()
    }
    fn account_storage(&self, hashed_address: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        self.lock().account_storage(hashed_address)
    }
    fn meta(&self) -> Result<StoreMeta, StoreError> {
        self.lock().meta()
    }
}

impl StateStore for SharedStore {
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.lock().apply(changes)
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Committed blocks by height, shared by clones (durable at once).
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger(Arc<Mutex<BTreeMap<u64, Arc<CommittedBlock>>>>);

impl LedgerStore for MemoryLedger {
    fn append(&mut self, committed: &CommittedBlock) -> Result<(), LedgerError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(committed.block.header.height.0, Arc::new(committed.clone()));
        Ok(())
    }
    fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError> {
        let ledger = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = ledger.values().rev().take(n).cloned().collect();
        out.reverse();
        Ok(out)
    }
}

/// Everything a host keeps across crashes.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Flushed execution state.
    pub state: SharedStore,
    /// Safety data and voted blocks.
    pub safety: MemorySafetyStore,
    /// Committed blocks.
    pub ledger: MemoryLedger,
    /// Committed outbound segments awaiting certification (CS-14).
    pub outbox: shardnet_node::outbox::MemoryOutbox,
}

impl Disk {
    /// The state store of a new incarnation: the flushed state, nothing else.
    pub fn open_state(&self) -> Result<FaultyStore<SharedStore>, StoreError> {
        FaultyStore::new(self.state.clone())
    }
}
