//! A fault-injecting wrapper: applied but unflushed batches are lost on a simulated crash,
//! exactly what a process kill between `apply` and `flush` does to a real disk.

use alloy_primitives::{B256, Bytes, U256};

use super::{AccountRecord, ChangeSet, MemoryStore, StateStore, StateView, StoreError, StoreMeta};

/// Wraps a store; reads see applied batches at once, but only flushed ones survive
/// [`FaultyStore::crash`].
#[derive(Debug)]
pub struct FaultyStore<S> {
    durable: S,
    /// The durable state plus unflushed batches, as the running process sees it.
    visible: MemoryStore,
    pending: Vec<ChangeSet>,
}

impl<S: StateStore> FaultyStore<S> {
    /// Wraps `durable`, copying its current state as the visible one.
    pub fn new(durable: S) -> Result<Self, StoreError> {
        let visible = snapshot(&durable)?;
        Ok(Self {
            durable,
            visible,
            pending: Vec::new(),
        })
    }

    /// Simulates a crash: unflushed batches are gone; the durable state is what remains.
    pub fn crash(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        self.visible = snapshot(&self.durable)?;
        Ok(())
    }

    /// Batches applied but not flushed.
    pub fn unflushed(&self) -> usize {
        self.pending.len()
    }

    /// The durable store.
    pub fn into_inner(self) -> S {
        self.durable
    }
}

/// A full in-memory copy of `view` (simulation-sized states only).
fn snapshot(view: &impl StateView) -> Result<MemoryStore, StoreError> {
    let mut copy = MemoryStore::new();
    let mut all = ChangeSet {
        meta: Some(view.meta()?),
        ..ChangeSet::default()
    };
    for (h, a) in view.accounts()? {
        for (s, v) in view.account_storage(&h)? {
            all.storage.insert((h, s), v);
        }
        if let Some(code) = view.code(&a.code_hash)? {
            all.code.insert(a.code_hash, code);
        }
        all.accounts.insert(h, Some(a));
    }
    copy.apply(&all)?;
    Ok(copy)
}

impl<S: StateStore> StateView for FaultyStore<S> {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        self.visible.account(hashed)
    }
    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        self.visible.storage(a, s)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        // The snapshot copies only code that an account references; code is content-addressed
        // and never deleted, so flushed code no account references any more is read from the
        // durable store (tests/store_contract.rs `faulty_crash_keeps_flushed_code_...`).
        match self.visible.code(code_hash)? {
            Some(code) => Ok(Some(code)),
            None => self.durable.code(code_hash),
        }
    }
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        self.visible.accounts()
    }
    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        self.visible.account_storage(a)
    }
    fn meta(&self) -> Result<StoreMeta, StoreError> {
        self.visible.meta()
    }
}

impl<S: StateStore> StateStore for FaultyStore<S> {
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        self.visible.apply(changes)?;
        self.pending.push(changes.clone());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        for c in self.pending.drain(..) {
            self.durable.apply(&c)?;
        }
        self.durable.flush()
    }
}
