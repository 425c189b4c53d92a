//! Executing a block: transactions in order on revm over a [`StateView`], then the
//! change set and the post-state tries. [`execute_block`] takes recovered
//! transactions; [`execute_raw_block`] takes the raw ones and executes each as soon as it
//! and those before it are recovered, while other threads recover the rest: the same
//! execution, sooner.

use std::ops::ControlFlow;

use alloy_primitives::map::HashMap;
use alloy_primitives::{Address, B256, Bloom, BloomInput, Bytes, Log, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use revm::ExecuteCommitEvm;
use revm::context::CfgEnv;
use revm::context_interface::result::{EVMError, ExecutionResult};
use revm::database::{AccountState, CacheDB};
use revm::primitives::hardfork::SpecId;

use super::{
    BlockHashes, CrossShardEffects, CrossShardEnv, ExecEnv, ExecError, Execution, ShardEvm,
    TxResult, TxStatus, ViewDb, block_env, inbound, precompile, shard_evm, tx_env,
};
use crate::state_root::account_rlp;
use crate::store::{AccountRecord, ChangeSet, StateView, StoreError};
use crate::trie::Trie;
use crate::tx::{RecoveredTx, TxError, for_each_recovered};

/// [`super::execute_on`] for a block of a shard: with `xs`, the block first executes its
/// inbound cross-shard messages, its transactions may send (the `CROSS_SHARD` precompile, and
/// plain transactions to foreign addresses, CS-6), and the lane bookkeeping is closed in state
/// (`specs/cross-shard.md`). Without it, plain Ethereum execution (the state tests).
pub fn execute_block<V: StateView + ?Sized>(
    view: &V,
    base: &Trie,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    txs: &[RecoveredTx],
    xs: Option<&CrossShardEnv<'_>>,
) -> Result<(Execution, Trie), ExecError> {
    let mut run = BlockRun::begin(view, base, env, hashes, xs, txs.len())?;
    for tx in txs {
        run.execute(tx)?;
    }
    run.finish(1)
}

/// Why [`execute_raw_block`] produced no execution.
#[derive(Debug, thiserror::Error)]
pub enum RawBlockError {
    /// A transaction does not decode or recover: the block cannot hold it.
    #[error("transaction {index}: {error}")]
    Recovery {
        /// Its position in the block.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// The caller's check refused a transaction (chain id, home shard, ...).
    #[error("transaction {index} refused")]
    Refused {
        /// Its position in the block.
        index: usize,
    },
    /// Execution failed (not the transactions' fault).
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// [`execute_block`] on raw transactions: each is decoded and its sender recovered over
/// up to `workers` threads, and executed on the calling thread as soon as it and every
/// transaction before it are recovered (`tx::for_each_recovered`), so that recovery, which
/// dominates a transaction's cost, overlaps execution. `accept` sees each recovered
/// transaction, in order, before it executes; a transaction that does not recover or that
/// `accept` refuses ends the block with an error. The tries are then hashed over the same
/// threads (`Trie::root_parallel`). Execution order, and so the result, is exactly that of
/// recovering everything first and calling [`execute_block`].
#[allow(clippy::too_many_arguments)]
pub fn execute_raw_block<V: StateView + ?Sized>(
    view: &V,
    base: &Trie,
    env: &ExecEnv,
    hashes: &dyn BlockHashes,
    raws: &[impl AsRef<[u8]> + Sync],
    workers: usize,
    mut accept: impl FnMut(&RecoveredTx) -> bool,
    xs: Option<&CrossShardEnv<'_>>,
) -> Result<(Execution, Trie), RawBlockError> {
    let mut run = BlockRun::begin(view, base, env, hashes, xs, raws.len())?;
    let mut index = 0;
    let flow = for_each_recovered(raws, workers, |tx| {
        let i = index;
        index += 1;
        let tx = match tx {
            Ok(tx) => tx,
            Err(error) => return ControlFlow::Break(RawBlockError::Recovery { index: i, error }),
        };
        if !accept(&tx) {
            return ControlFlow::Break(RawBlockError::Refused { index: i });
        }
        match run.execute(&tx) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e.into()),
        }
    });
    if let ControlFlow::Break(e) = flow {
        return Err(e);
    }
    Ok(run.finish(workers)?)
}

/// A block being executed: revm over the view, the results so far.
struct BlockRun<'a, 'x, V: StateView + ?Sized> {
    view: &'a V,
    base: &'a Trie,
    env: &'a ExecEnv,
    xs: Option<&'a CrossShardEnv<'x>>,
    spec: SpecId,
    evm: ShardEvm<'a, V>,
    fx: CrossShardEffects,
    results: Vec<TxResult>,
    cumulative: u64,
    blooms: BloomMemo,
}

impl<'a, 'x, V: StateView + ?Sized> BlockRun<'a, 'x, V> {
    /// Sets revm up for a block of about `txs` transactions and executes the block's inbound
    /// messages (with `xs`).
    fn begin(
        view: &'a V,
        base: &'a Trie,
        env: &'a ExecEnv,
        hashes: &'a dyn BlockHashes,
        xs: Option<&'a CrossShardEnv<'x>>,
        txs: usize,
    ) -> Result<Self, ExecError> {
        let spec = env.fork.spec();
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = env.chain_id;
        let block = block_env(env);
        let mut db = CacheDB::new(ViewDb {
            trie: Some(base),
            ..ViewDb::new(view, hashes)
        });
        // A transaction touches about two accounts and reads a slot or two: size the caches
        // once rather than rehash them as they grow.
        db.cache.accounts.reserve(2 * txs + 8);
        db.db.read.get_mut().reserve(2 * txs + 8);
        db.db.slots.get_mut().reserve(2 * txs + 8);
        let mut evm: ShardEvm<'a, V> = shard_evm(db, block, cfg, xs);
        let mut fx = CrossShardEffects::default();
        if let Some(xs) = xs {
            inbound::begin(&mut evm, xs, env.number, env.base_fee, &mut fx)?;
        }
        Ok(Self {
            view,
            base,
            env,
            xs,
            spec,
            evm,
            fx,
            results: Vec::with_capacity(txs),
            cumulative: 0,
            blooms: BloomMemo::default(),
        })
    }

    /// Executes the block's next transaction.
    fn execute(&mut self, tx: &RecoveredTx) -> Result<(), ExecError> {
        let env = self.env;
        let cumulative = self.cumulative;
        let invalid = |reason: String| TxResult {
            hash: tx.hash,
            sender: tx.sender,
            status: TxStatus::Invalid(reason),
            gas_used: 0,
            cumulative_gas_used: cumulative,
            logs: vec![],
            bloom: Bloom::ZERO,
            contract_address: None,
            output: Bytes::new(),
        };
        if cumulative.saturating_add(tx.gas_limit()) > env.gas_limit {
            self.results.push(invalid(
                "transaction gas limit exceeds the block's remaining gas".into(),
            ));
            return Ok(());
        }
        let evm = &mut self.evm;
        let mut tx_env = tx_env(tx, env.chain_id);
        if let Some(xs) = self.xs {
            evm.precompiles.foreign = inbound::rewrite_foreign(&mut tx_env, xs);
        }
        let foreign = evm.precompiles.foreign;
        let outcome = evm.transact_commit(tx_env);
        // An invalid transaction never reached the precompile: drop its stashed destination.
        evm.precompiles.foreign = None;
        match outcome {
            Ok(result) => {
                let gas_used = result.tx_gas_used();
                self.cumulative += gas_used;
                self.fx.burnt += inbound::burnt(gas_used, U256::MAX, env.base_fee);
                // a creation sent to the address's home shard reports that address.
                let contract_address = match foreign {
                    Some(precompile::Foreign::Create { address, .. }) if result.is_success() => {
                        Some(address)
                    }
                    _ => result.created_address(),
                };
                let (status, logs, output) = match result {
                    ExecutionResult::Success { logs, output, .. } => {
                        (TxStatus::Success, logs, output.into_data())
                    }
                    ExecutionResult::Revert { output, .. } => {
                        (TxStatus::Revert(output.clone()), vec![], output)
                    }
                    ExecutionResult::Halt { reason, .. } => {
                        (TxStatus::Halt(format!("{reason:?}")), vec![], Bytes::new())
                    }
                };
                if let Some(xs) = self.xs {
                    self.fx
                        .collect(&logs, &xs.shard_map, inbound::tx_origin(tx.hash, tx.sender));
                }
                self.results.push(TxResult {
                    hash: tx.hash,
                    sender: tx.sender,
                    status,
                    gas_used,
                    cumulative_gas_used: self.cumulative,
                    bloom: self.blooms.of(&logs),
                    logs,
                    contract_address,
                    output,
                });
            }
            Err(EVMError::Database(e)) => return Err(ExecError::Store(e)),
            Err(EVMError::Transaction(e)) => self.results.push(invalid(e.to_string())),
            Err(EVMError::Header(e)) => self.results.push(invalid(e.to_string())),
            Err(e) => return Err(ExecError::Evm(e.to_string())),
        }
        Ok(())
    }

    /// Closes the block (lane bookkeeping, with `xs`) and computes its change set and tries,
    /// hashing them over up to `workers` threads.
    fn finish(mut self, workers: usize) -> Result<(Execution, Trie), ExecError> {
        if let Some(xs) = self.xs {
            inbound::finish(&mut self.evm, xs, &mut self.fx)?;
        }
        let cache = self.evm.ctx.journaled_state.database;
        let (changes, trie) = change_set(self.view, &cache, self.base, self.spec, workers)?;
        let state_root = trie.root_parallel(workers);
        let execution = Execution {
            txs: self.results,
            changes,
            state_root,
            gas_used: self.cumulative,
            cross_shard: self.fx,
        };
        Ok((execution, trie))
    }
}

/// Receipt blooms with the hashes of log addresses and first topics remembered for the
/// block: a block's logs mostly come from a few contracts and events (every token transfer
/// logs the token's address and the `Transfer` signature), and each bloom input costs a
/// keccak. The other topics (indexed arguments) are mostly distinct and hashed each time.
#[derive(Default)]
struct BloomMemo {
    addresses: HashMap<Address, B256>,
    signatures: HashMap<B256, B256>,
}

impl BloomMemo {
    /// Bounds the memo for a block of many distinct contracts or events.
    const MAX_ENTRIES: usize = 4096;

    /// The bloom of `logs`: exactly `alloy_primitives::logs_bloom(logs)`.
    fn of(&mut self, logs: &[Log]) -> Bloom {
        let mut bloom = Bloom::ZERO;
        for log in logs {
            let address = memo(&mut self.addresses, log.address, |a| keccak256(a));
            bloom.accrue(BloomInput::Hash(address));
            let mut topics = log.topics().iter();
            if let Some(first) = topics.next() {
                let first = memo(&mut self.signatures, *first, |t| keccak256(t));
                bloom.accrue(BloomInput::Hash(first));
            }
            for topic in topics {
                bloom.accrue(BloomInput::Raw(topic.as_slice()));
            }
        }
        bloom
    }
}

fn memo<K: std::hash::Hash + Eq + Copy>(
    map: &mut HashMap<K, B256>,
    key: K,
    hash: impl FnOnce(&K) -> B256,
) -> B256 {
    if let Some(h) = map.get(&key) {
        return *h;
    }
    let h = hash(&key);
    if map.len() < BloomMemo::MAX_ENTRIES {
        map.insert(key, h);
    }
    h
}

/// Turns revm's cache into a [`ChangeSet`], deleting empty touched accounts (EIP-161), and
/// updates `base` into the post-state account trie: the storage tries of accounts whose
/// storage changed along their changed slots, the account trie along the changed accounts
///
fn change_set<V: StateView + ?Sized>(
    view: &V,
    cache: &CacheDB<ViewDb<'_, V>>,
    base: &Trie,
    spec: SpecId,
    workers: usize,
) -> Result<(ChangeSet, Trie), StoreError> {
    let mut changes = ChangeSet::default();
    // The storage trie of each account written, to attach to its leaf.
    let mut storage_tries: Vec<(B256, Option<Trie>)> = Vec::new();
    for (address, acc) in &cache.cache.accounts {
        let empty =
            acc.info.nonce == 0 && acc.info.balance.is_zero() && acc.info.code_hash == KECCAK_EMPTY;
        let delete = match acc.account_state {
            AccountState::None => continue,
            AccountState::NotExisting => true,
            AccountState::Touched | AccountState::StorageCleared => {
                empty && spec.is_enabled_in(SpecId::SPURIOUS_DRAGON)
            }
        };
        let (hashed, original) = cache.db.original(address)?;
        if delete {
            if original.is_some() {
                changes.accounts.insert(hashed, None);
                changes.wiped_storage.push(hashed);
            }
            continue;
        }
        let cleared = acc.account_state == AccountState::StorageCleared;
        if cleared {
            changes.wiped_storage.push(hashed);
        }
        let mut slot_changes = Vec::new();
        for (slot, value) in &acc.storage {
            let (hashed_slot, before) = cache.db.original_slot(address, slot)?;
            if before != *value || cleared {
                changes.storage.insert((hashed, hashed_slot), *value);
                slot_changes.push((hashed_slot, *value));
            }
        }
        if acc.info.code_hash != KECCAK_EMPTY
            && view.code(&acc.info.code_hash)?.is_none()
            && let Some(code) = cache.cache.contracts.get(&acc.info.code_hash)
        {
            changes
                .code
                .insert(acc.info.code_hash, code.original_bytes());
        }
        let before_root = original.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
        let (storage_root, storage) = if cleared || !slot_changes.is_empty() {
            let mut trie = if cleared {
                Trie::new()
            } else {
                storage_trie(view, base, &hashed, before_root)?
            };
            slot_changes.sort_unstable();
            for (hashed_slot, value) in slot_changes {
                if value.is_zero() {
                    trie.remove(&hashed_slot);
                } else {
                    trie.insert(&hashed_slot, alloy_rlp::encode(value));
                }
            }
            (
                trie.root_parallel(workers),
                (!trie.is_empty()).then_some(trie),
            )
        } else if before_root == EMPTY_ROOT_HASH {
            (before_root, None)
        } else {
            (before_root, base.storage(&hashed).cloned())
        };
        let record = AccountRecord {
            address: *address,
            nonce: acc.info.nonce,
            balance: acc.info.balance,
            code_hash: acc.info.code_hash,
            storage_root,
        };
        if original != Some(record) {
            changes.accounts.insert(hashed, Some(record));
            storage_tries.push((hashed, storage));
        }
    }
    // revm's cache is a hash map: sort what is order-sensitive so execution is deterministic.
    changes.wiped_storage.sort_unstable();
    changes.wiped_storage.dedup();
    storage_tries.sort_unstable_by_key(|(hashed, _)| *hashed);
    let mut trie = base.clone();
    let mut storage_tries = storage_tries.into_iter();
    for (hashed, account) in &changes.accounts {
        match account {
            Some(a) => {
                let storage = storage_tries.next().and_then(|(h, t)| {
                    assert_eq!(h, *hashed, "one storage trie per written account");
                    t
                });
                trie.insert_account(hashed, account_rlp(a), storage);
            }
            None => trie.remove(hashed),
        }
    }
    Ok((changes, trie))
}

/// The storage trie of the account `hashed` before the block, whose storage root is `root`:
/// the one `base` carries, else (the first time this trie sees the account's storage
/// change) built from every slot in `view`.
fn storage_trie<V: StateView + ?Sized>(
    view: &V,
    base: &Trie,
    hashed: &B256,
    root: B256,
) -> Result<Trie, StoreError> {
    if let Some(trie) = base.storage(hashed) {
        // Cached: no hashing. A mismatch means the carried trie and the state diverged.
        assert_eq!(trie.root(), root, "storage trie out of step with the state");
        return Ok(trie.clone());
    }
    let mut trie = Trie::new();
    if root != EMPTY_ROOT_HASH {
        for (hashed_slot, value) in view.account_storage(hashed)? {
            if !value.is_zero() {
                trie.insert(&hashed_slot, alloy_rlp::encode(value));
            }
        }
    }
    Ok(trie)
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256, Bytes, Log, logs_bloom};

    use super::BloomMemo;

    #[test]
    fn memoised_blooms_are_the_plain_blooms() {
        let token = Address::repeat_byte(0x70);
        let transfer = B256::repeat_byte(0xdd);
        let log = |address: Address, topics: Vec<B256>| {
            Log::new(address, topics, Bytes::new()).expect("at most four topics")
        };
        let blocks = [
            vec![],
            vec![log(token, vec![])],
            vec![
                log(
                    token,
                    vec![transfer, B256::repeat_byte(1), B256::repeat_byte(2)],
                ),
                log(Address::repeat_byte(9), vec![transfer]),
            ],
            vec![log(
                token,
                vec![transfer, B256::repeat_byte(3), B256::repeat_byte(1)],
            )],
        ];
        let mut memo = BloomMemo::default();
        for logs in &blocks {
            assert_eq!(memo.of(logs), logs_bloom(logs));
        }
        // Past its bound the memo stops growing and stays exact.
        for i in 0..BloomMemo::MAX_ENTRIES as u64 + 10 {
            let logs = [log(
                Address::left_padding_from(&i.to_be_bytes()),
                vec![B256::left_padding_from(&i.to_be_bytes())],
            )];
            assert_eq!(memo.of(&logs), logs_bloom(&logs));
        }
        assert_eq!(memo.addresses.len(), BloomMemo::MAX_ENTRIES);
    }
}
