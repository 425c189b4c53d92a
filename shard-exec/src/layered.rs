//! A read view of a store with uncommitted change sets on top: the state after a chain of
//! speculative (proposed, not yet final) blocks, or after a block being executed.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{B256, Bytes, U256};

use crate::store::{AccountRecord, ChangeSet, StateView, StoreError, StoreMeta};

/// `base` with `layers` applied in order (oldest first), without copying the base.
#[derive(Debug)]
pub struct Layered<'a, V: ?Sized> {
    base: &'a V,
    layers: Vec<Arc<ChangeSet>>,
}

impl<'a, V: StateView + ?Sized> Layered<'a, V> {
    /// A view of `base` after `layers`.
    pub fn new(base: &'a V, layers: Vec<Arc<ChangeSet>>) -> Self {
        Self { base, layers }
    }

    fn wiped_after(&self, hashed: &B256) -> Option<usize> {
        self.layers
            .iter()
            .rposition(|l| l.wiped_storage.contains(hashed))
    }
}

impl<V: StateView + ?Sized> StateView for Layered<'_, V> {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        for l in self.layers.iter().rev() {
            if let Some(a) = l.accounts.get(hashed) {
                return Ok(*a);
            }
        }
        self.base.account(hashed)
    }

    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        let wiped = self.wiped_after(a);
        for (i, l) in self.layers.iter().enumerate().rev() {
            if let Some(v) = l.storage.get(&(*a, *s)) {
                return Ok(*v);
            }
            if wiped == Some(i) {
                return Ok(U256::ZERO);
            }
        }
        self.base.storage(a, s)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        for l in self.layers.iter().rev() {
            if let Some(c) = l.code.get(code_hash) {
                return Ok(Some(c.clone()));
            }
        }
        self.base.code(code_hash)
    }

    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        let mut all: BTreeMap<B256, AccountRecord> = self.base.accounts()?.into_iter().collect();
        for l in &self.layers {
            for (h, a) in &l.accounts {
                match a {
                    Some(a) => all.insert(*h, *a),
                    None => all.remove(h),
                };
            }
        }
        Ok(all.into_iter().collect())
    }

    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        let start = self.wiped_after(a);
        let mut slots: BTreeMap<B256, U256> = match start {
            Some(_) => BTreeMap::new(),
            None => self.base.account_storage(a)?.into_iter().collect(),
        };
        let from = start.unwrap_or(0);
        for l in self.layers.iter().skip(from) {
            for ((acc, s), v) in l
                .storage
                .range((*a, B256::ZERO)..=(*a, B256::repeat_byte(0xff)))
            {
                debug_assert_eq!(acc, a);
                if v.is_zero() {
                    slots.remove(s);
                } else {
                    slots.insert(*s, *v);
                }
            }
        }
        Ok(slots.into_iter().collect())
    }

    fn meta(&self) -> Result<StoreMeta, StoreError> {
        for l in self.layers.iter().rev() {
            if let Some(m) = &l.meta {
                return Ok(m.clone());
            }
        }
        self.base.meta()
    }
}
