//! The Ethereum Merkle-Patricia state root (`specs/execution.md` X-4), with alloy-trie.
//!
//! Roots from scratch, in the store's hashed-key order (no sort needed): the account trie a
//! validator builds once at startup, genesis roots, and checks. Blocks then update the
//! account trie and the storage tries it carries along their changed paths (`crate::trie`,
//! `evm::execute_on`).

use alloy_primitives::{B256, U256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount};

use crate::store::{AccountRecord, StateView, StoreError};

/// Root of an account's storage trie from its slots in hashed-slot order.
pub fn storage_root(slots: &[(B256, U256)]) -> B256 {
    let mut hb = HashBuilder::default();
    let mut any = false;
    for (hashed_slot, value) in slots {
        if value.is_zero() {
            continue;
        }
        any = true;
        hb.add_leaf(Nibbles::unpack(hashed_slot), &alloy_rlp::encode(value));
    }
    if any { hb.root() } else { EMPTY_ROOT_HASH }
}

/// The trie encoding of an account.
pub fn account_rlp(a: &AccountRecord) -> Vec<u8> {
    alloy_rlp::encode(TrieAccount {
        nonce: a.nonce,
        balance: a.balance,
        storage_root: a.storage_root,
        code_hash: a.code_hash,
    })
}

/// The account trie of `view`, built from all its accounts (once, at startup; blocks then
/// update it along their changed paths, X-4).
pub fn account_trie(view: &(impl StateView + ?Sized)) -> Result<crate::trie::Trie, StoreError> {
    let mut trie = crate::trie::Trie::new();
    for (hashed, account) in view.accounts()? {
        trie.insert(&hashed, account_rlp(&account));
    }
    Ok(trie)
}

/// Root of the account trie of `view`, from scratch.
pub fn state_root(view: &impl StateView) -> Result<B256, StoreError> {
    let accounts = view.accounts()?;
    if accounts.is_empty() {
        return Ok(EMPTY_ROOT_HASH);
    }
    let mut hb = HashBuilder::default();
    for (hashed, account) in &accounts {
        hb.add_leaf(Nibbles::unpack(hashed), &account_rlp(account));
    }
    Ok(hb.root())
}
