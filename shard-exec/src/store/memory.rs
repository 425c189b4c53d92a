//! An in-memory [`StateStore`] for simulation and tests.

use std::collections::BTreeMap;

use alloy_primitives::{B256, Bytes, U256};

use super::{AccountRecord, ChangeSet, StateStore, StateView, StoreError, StoreMeta};

/// All state in ordered maps. `flush` is a no-op: it is as durable as the process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStore {
    accounts: BTreeMap<B256, AccountRecord>,
    storage: BTreeMap<(B256, B256), U256>,
    code: BTreeMap<B256, Bytes>,
    meta: StoreMeta,
}

impl MemoryStore {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Applies `changes` to in-memory maps; shared by [`MemoryStore`] and layered views.
pub(crate) fn apply_to_maps(
    accounts: &mut BTreeMap<B256, AccountRecord>,
    storage: &mut BTreeMap<(B256, B256), U256>,
    code: &mut BTreeMap<B256, Bytes>,
    changes: &ChangeSet,
) {
    for wiped in &changes.wiped_storage {
        let keys: Vec<(B256, B256)> = storage
            .range((*wiped, B256::ZERO)..=(*wiped, B256::repeat_byte(0xff)))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            storage.remove(&k);
        }
    }
    for (k, v) in &changes.storage {
        if v.is_zero() {
            storage.remove(k);
        } else {
            storage.insert(*k, *v);
        }
    }
    for (k, v) in &changes.accounts {
        match v {
            Some(a) => accounts.insert(*k, *a),
            None => accounts.remove(k),
        };
    }
    for (k, v) in &changes.code {
        code.insert(*k, v.clone());
    }
}

impl StateView for MemoryStore {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self.accounts.get(hashed).copied())
    }

    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        Ok(self.storage.get(&(*a, *s)).copied().unwrap_or_default())
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(self.code.get(code_hash).cloned())
    }

    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        Ok(self.accounts.iter().map(|(k, v)| (*k, *v)).collect())
    }

    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        Ok(self
            .storage
            .range((*a, B256::ZERO)..=(*a, B256::repeat_byte(0xff)))
            .map(|((_, s), v)| (*s, *v))
            .collect())
    }

    fn meta(&self) -> Result<StoreMeta, StoreError> {
        Ok(self.meta.clone())
    }
}

impl StateStore for MemoryStore {
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        apply_to_maps(
            &mut self.accounts,
            &mut self.storage,
            &mut self.code,
            changes,
        );
        if let Some(m) = &changes.meta {
            self.meta = m.clone();
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
