//! The per-shard mempool: admission, ordering, replacement and eviction of pending signed
//! transactions.
//!
//! # Design
//!
//! - **Admission** ([`Mempool::add`]) checks, cheapest first: encoded size (before decoding),
//!   decoding and signature recovery, chain id, duplicates, gas limit (at most the block's, at
//!   least the intrinsic gas), fee sanity, the sender's home shard, then against the sender's
//!   account: not a contract (EIP-3607), nonce in `[account nonce, account nonce + window)`,
//!   balance for `gas limit × max fee + value`. Every rejection is a [`MempoolError`] whose
//!   message names the numbers involved, for the RPC to pass on.
//! - **Replacement**: a transaction with the sender and nonce of a pending one replaces it only
//!   if both its max fee and its priority fee are at least `100 + min_fee_bump_percent` percent
//!   of the old ones.
//! - **Bounds**: at most `max_txs` transactions, `max_per_sender` per sender. A full pool evicts
//!   its lowest-paying *evictable* transaction (effective tip at the current base fee) for a
//!   new one that pays strictly more. Only a sender's *last* (highest-nonce) transaction is
//!   evictable, so eviction never strands later nonces behind a gap; and only a transaction
//!   that is executable now (no nonce gap before it) may evict, so a flood of far-future
//!   transactions, which cost nothing because they never execute, cannot push out payable
//!   ones. Finding the victim scans the senders once: `O(max_txs)`, and only when full.
//! - **Selection** ([`Mempool::select`]): per sender, the run of consecutive nonces from the
//!   account nonce that the balance covers cumulatively; across senders a best-first merge by
//!   effective tip, ties broken by hash; the sum of gas limits stays within the budget. Every
//!   selected transaction is therefore valid in that order (nonce, balance, fee, gas), which
//!   matters because one invalid transaction invalidates a proposed block.
//! - **Determinism**: ordered maps only; the output is a function of the pool and the state.
//!
//! The bounds here are local policy, not wire format, so their defaults live in this module
//! rather than in `shardnet_protocol::limits` (whose values are a wire change); the one wire
//! bound, the encoded transaction size, is clamped to [`MAX_TRANSACTION_BYTES`].
//!
//! ```
//! use alloy_primitives::Bytes;
//! use shardnet_exec::mempool::{Mempool, MempoolConfig, MempoolError};
//! use shardnet_exec::{MemoryStore, TxError};
//! use shardnet_protocol::{ShardId, ShardMap, ShardMapScheme};
//!
//! let map = ShardMap::new(1, ShardMapScheme::LowBits);
//! let config = MempoolConfig::new(7, ShardId(0), map, 30_000_000);
//! let mut pool = Mempool::new(config);
//! let state = MemoryStore::new();
//! let err = pool.add(Bytes::from_static(&[0xff]), &state, 1).unwrap_err();
//! assert!(matches!(err, MempoolError::Invalid(TxError::Decode(_))));
//! assert!(pool.select(&state, 1, 30_000_000, 100).unwrap().is_empty());
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::KECCAK_EMPTY;
use shardnet_protocol::limits::{MAX_BLOCK_TRANSACTIONS, MAX_TRANSACTION_BYTES};
use shardnet_protocol::{ShardId, ShardMap};

use crate::store::{AccountRecord, StateView, StoreError, hash_address};
use crate::tx::RecoveredTx;

mod error;
#[cfg(test)]
mod tests;

pub use error::MempoolError;

/// Default bound on pending transactions in one shard's pool.
pub const DEFAULT_MAX_TXS: usize = 10_000;
/// Default bound on pending transactions of one sender.
pub const DEFAULT_MAX_PER_SENDER: usize = 64;
/// Default nonce window: a nonce is admitted in `[account nonce, account nonce + 64)`.
pub const DEFAULT_NONCE_WINDOW: u64 = 64;
/// Default fee bump a replacement must offer, in percent of the old fees.
pub const DEFAULT_MIN_FEE_BUMP_PERCENT: u64 = 10;

/// Gas every transaction pays before execution (the intrinsic minimum).
pub const TX_BASE_GAS: u64 = 21_000;
/// Largest contract-creation init code (EIP-3860: twice the EIP-170 code size limit).
pub const MAX_INITCODE_BYTES: usize = 2 * 24_576;

// Intrinsic gas constants (Prague: EIP-2028, EIP-2930, EIP-3860, EIP-7623).
const TX_CREATE_GAS: u64 = 32_000;
const GAS_PER_CALLDATA_TOKEN: u64 = 4;
const FLOOR_GAS_PER_CALLDATA_TOKEN: u64 = 10;
const TOKENS_PER_NONZERO_BYTE: u64 = 4;
const INITCODE_GAS_PER_WORD: u64 = 2;
const ACCESS_LIST_ADDRESS_GAS: u64 = 2_400;
const ACCESS_LIST_STORAGE_KEY_GAS: u64 = 1_900;

/// A shard's mempool policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// EIP-155 chain id transactions must be signed for.
    pub chain_id: u64,
    /// The shard this pool serves: senders must live here.
    pub shard: ShardId,
    /// The network's address-to-shard map.
    pub shard_map: ShardMap,
    /// Bound on pending transactions (at least 1).
    pub max_txs: usize,
    /// Bound on pending transactions per sender (at least 1).
    pub max_per_sender: usize,
    /// Nonces are admitted in `[account nonce, account nonce + nonce_window)` (at least 1).
    pub nonce_window: u64,
    /// Largest encoded transaction, in bytes (at most [`MAX_TRANSACTION_BYTES`]).
    pub max_tx_bytes: usize,
    /// Largest gas limit of one transaction (the block gas limit).
    pub max_tx_gas: u64,
    /// Fee bump a replacement must offer, in percent of the replaced transaction's fees.
    pub min_fee_bump_percent: u64,
    /// Sends to a shard whose lane from here is congested are refused (CS-15).
    pub congestion: crate::lanes::congestion::Congestion,
}

impl MempoolConfig {
    /// The default policy for `shard`, with transactions capped at `max_tx_gas`.
    pub fn new(chain_id: u64, shard: ShardId, shard_map: ShardMap, max_tx_gas: u64) -> Self {
        Self {
            chain_id,
            shard,
            shard_map,
            max_txs: DEFAULT_MAX_TXS,
            max_per_sender: DEFAULT_MAX_PER_SENDER,
            nonce_window: DEFAULT_NONCE_WINDOW,
            max_tx_bytes: MAX_TRANSACTION_BYTES,
            max_tx_gas,
            min_fee_bump_percent: DEFAULT_MIN_FEE_BUMP_PERCENT,
            congestion: crate::lanes::congestion::Congestion::default(),
        }
    }
}

/// What [`Mempool::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// Added to a pool that had room.
    Added {
        /// The new transaction.
        hash: B256,
    },
    /// Replaced the pending transaction with the same sender and nonce.
    Replaced {
        /// The new transaction.
        hash: B256,
        /// The one it replaced.
        replaced: B256,
    },
    /// Added to a full pool by evicting a lower-paying transaction.
    Evicted {
        /// The new transaction.
        hash: B256,
        /// The one evicted.
        evicted: B256,
    },
}

impl AddOutcome {
    /// The admitted transaction's hash.
    pub fn hash(&self) -> B256 {
        match *self {
            Self::Added { hash } | Self::Replaced { hash, .. } | Self::Evicted { hash, .. } => hash,
        }
    }
}

/// A pending transaction: its raw bytes (for a block payload), the decoded transaction and
/// fees cached for ordering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PooledTx {
    raw: Bytes,
    tx: RecoveredTx,
    max_fee_per_gas: u128,
    priority_fee_per_gas: u128,
    max_cost: U256,
}

impl PooledTx {
    /// The EIP-2718 encoding, as submitted.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }
    /// The decoded transaction.
    pub fn tx(&self) -> &RecoveredTx {
        &self.tx
    }
    /// Transaction hash.
    pub fn hash(&self) -> B256 {
        self.tx.hash
    }
    /// Sender.
    pub fn sender(&self) -> Address {
        self.tx.sender
    }
    /// Nonce.
    pub fn nonce(&self) -> u64 {
        self.tx.nonce()
    }
    /// Gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.tx.gas_limit()
    }
    /// Max fee per gas (gas price for legacy and EIP-2930 transactions).
    pub fn max_fee_per_gas(&self) -> u128 {
        self.max_fee_per_gas
    }
    /// Max priority fee per gas (gas price for legacy and EIP-2930 transactions).
    pub fn priority_fee_per_gas(&self) -> u128 {
        self.priority_fee_per_gas
    }
    /// The most it can cost the sender: `gas_limit × max_fee_per_gas + value`.
    pub fn max_cost(&self) -> U256 {
        self.max_cost
    }
    /// Tip per gas at `base_fee`: `min(priority fee, max fee − base fee)`, `None` if the max
    /// fee is below the base fee.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        let fee = self.max_fee_per_gas.checked_sub(u128::from(base_fee))?;
        Some(fee.min(self.priority_fee_per_gas))
    }
}

/// Gas charged before execution under Prague: 21 000, calldata (4 per token, a zero byte one
/// token, a non-zero byte four), contract creation (32 000 plus 2 per init code word),
/// access list (2 400 per address, 1 900 per key); at least the EIP-7623 floor of 21 000 plus
/// 10 per calldata token.
pub fn intrinsic_gas(tx: &RecoveredTx) -> u64 {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = input.len() as u64 - zeros;
    let tokens = zeros.saturating_add(nonzeros.saturating_mul(TOKENS_PER_NONZERO_BYTE));
    let mut gas = TX_BASE_GAS.saturating_add(tokens.saturating_mul(GAS_PER_CALLDATA_TOKEN));
    if tx.envelope.is_create() {
        let words = (input.len() as u64).div_ceil(32);
        gas = gas
            .saturating_add(TX_CREATE_GAS)
            .saturating_add(words.saturating_mul(INITCODE_GAS_PER_WORD));
    }
    if let Some(list) = tx.envelope.access_list() {
        let keys: usize = list.iter().map(|item| item.storage_keys.len()).sum();
        gas = gas
            .saturating_add((list.len() as u64).saturating_mul(ACCESS_LIST_ADDRESS_GAS))
            .saturating_add((keys as u64).saturating_mul(ACCESS_LIST_STORAGE_KEY_GAS));
    }
    let floor = TX_BASE_GAS.saturating_add(tokens.saturating_mul(FLOOR_GAS_PER_CALLDATA_TOKEN));
    gas.max(floor)
}

/// The least fee that replaces `old` with a `percent` bump: `ceil(old × (100 + percent) / 100)`.
fn bumped(old: u128, percent: u64) -> U256 {
    let hundred = U256::from(100u8);
    (U256::from(old) * (hundred + U256::from(percent))).div_ceil(hundred)
}

/// One shard's pending transactions. See the [module docs](self).
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    by_hash: BTreeMap<B256, Arc<PooledTx>>,
    by_sender: BTreeMap<Address, BTreeMap<u64, Arc<PooledTx>>>,
}

impl Mempool {
    /// An empty pool. Bounds of zero are raised to one and the size limit is clamped to
    /// [`MAX_TRANSACTION_BYTES`], so every configuration is usable.
    pub fn new(mut config: MempoolConfig) -> Self {
        config.max_txs = config.max_txs.max(1);
        config.max_per_sender = config.max_per_sender.max(1);
        config.nonce_window = config.nonce_window.max(1);
        config.max_tx_bytes = config.max_tx_bytes.min(MAX_TRANSACTION_BYTES);
        Self {
            config,
            by_hash: BTreeMap::new(),
            by_sender: BTreeMap::new(),
        }
    }

    /// The policy in force (after clamping).
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// A pending transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.by_hash.get(hash).cloned()
    }

    /// Whether a transaction is pending.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// A sender's pending transactions, ascending by nonce.
    pub fn sender_txs(&self, sender: &Address) -> impl Iterator<Item = &Arc<PooledTx>> + '_ {
        self.by_sender
            .get(sender)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Validates a raw transaction against `state` (the latest state this shard's next block
    /// builds on) and the current `base_fee`, and admits it, replacing or evicting as the
    /// module docs describe.
    pub fn add<S: StateView + ?Sized>(
        &mut self,
        raw: Bytes,
        state: &S,
        base_fee: u64,
    ) -> Result<AddOutcome, MempoolError> {
        let tx = self.check_stateless(raw, base_fee)?;
        let account_nonce = self.check_account(&tx, state)?;
        self.check_congestion(&tx, state)?;
        self.insert(tx, account_nonce, base_fee)
    }

    /// Checks that need no state: size, encoding, signature, chain, gas and fees.
    fn check_stateless(&self, raw: Bytes, base_fee: u64) -> Result<PooledTx, MempoolError> {
        let c = &self.config;
        if raw.len() > c.max_tx_bytes {
            return Err(MempoolError::TooLarge {
                size: raw.len(),
                max: c.max_tx_bytes,
            });
        }
        let tx = RecoveredTx::decode(&raw)?;
        tx.check_chain(c.chain_id)?;
        if self.by_hash.contains_key(&tx.hash) {
            return Err(MempoolError::AlreadyKnown { hash: tx.hash });
        }
        let gas_limit = tx.gas_limit();
        if gas_limit > c.max_tx_gas {
            return Err(MempoolError::GasLimitTooHigh {
                gas_limit,
                max: c.max_tx_gas,
            });
        }
        if tx.envelope.is_create() && tx.input().len() > MAX_INITCODE_BYTES {
            return Err(MempoolError::InitcodeTooLarge {
                size: tx.input().len(),
                max: MAX_INITCODE_BYTES,
            });
        }
        let intrinsic = intrinsic_gas(&tx);
        if gas_limit < intrinsic {
            return Err(MempoolError::IntrinsicGasTooLow {
                gas_limit,
                intrinsic,
            });
        }
        let max_fee = tx.max_fee_per_gas();
        let priority_fee = tx.envelope.priority_fee_or_price();
        if priority_fee > max_fee {
            return Err(MempoolError::TipAboveMaxFee {
                max_priority_fee: priority_fee,
                max_fee,
            });
        }
        if max_fee < u128::from(base_fee) {
            return Err(MempoolError::FeeTooLow { max_fee, base_fee });
        }
        let home = c.shard_map.home(&tx.sender);
        if home != c.shard {
            return Err(MempoolError::WrongShard {
                sender: tx.sender,
                home,
                this: c.shard,
            });
        }
        let max_cost = (U256::from(gas_limit) * U256::from(max_fee)).saturating_add(tx.value());
        Ok(PooledTx {
            raw,
            tx,
            max_fee_per_gas: max_fee,
            priority_fee_per_gas: priority_fee,
            max_cost,
        })
    }

    /// Checks against the sender's account; returns the account nonce.
    /// CS-15: a transaction that would send to a shard whose request lane from here is
    /// congested is refused (only top-level sends are known before execution).
    fn check_congestion<S: StateView + ?Sized>(
        &self,
        tx: &PooledTx,
        state: &S,
    ) -> Result<(), MempoolError> {
        use crate::lanes::congestion::{congested, destination_of};
        use alloy_consensus::Transaction;
        let c = &self.config;
        let e = &tx.tx().envelope;
        if let Some(d) = destination_of(e.to(), e.input(), c.shard, &c.shard_map)
            && let Some(backlog) = congested(state, c.shard, d, &c.congestion)?
        {
            return Err(MempoolError::Congested {
                shard: d.0,
                backlog,
            });
        }
        Ok(())
    }

    fn check_account<S: StateView + ?Sized>(
        &self,
        tx: &PooledTx,
        state: &S,
    ) -> Result<u64, MempoolError> {
        let account = read_account(state, &tx.sender())?;
        if account.code_hash != KECCAK_EMPTY {
            return Err(MempoolError::SenderIsContract {
                sender: tx.sender(),
            });
        }
        let (nonce, window) = (tx.nonce(), self.config.nonce_window);
        if nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                nonce,
                account_nonce: account.nonce,
            });
        }
        if nonce - account.nonce >= window {
            return Err(MempoolError::NonceTooHigh {
                nonce,
                account_nonce: account.nonce,
                window,
            });
        }
        // A saturated cost means it exceeds U256::MAX, which no balance covers.
        if account.balance < tx.max_cost || tx.max_cost == U256::MAX {
            return Err(MempoolError::InsufficientFunds {
                balance: account.balance,
                gas_limit: tx.gas_limit(),
                max_fee: tx.max_fee_per_gas,
                value: tx.tx.value(),
                cost: tx.max_cost,
            });
        }
        Ok(account.nonce)
    }

    /// Admits a validated transaction: replacement, per-sender bound, then pool bound.
    fn insert(
        &mut self,
        tx: PooledTx,
        account_nonce: u64,
        base_fee: u64,
    ) -> Result<AddOutcome, MempoolError> {
        let (sender, nonce, hash) = (tx.sender(), tx.nonce(), tx.hash());
        let queue = self.by_sender.get(&sender);
        if let Some(old) = queue.and_then(|q| q.get(&nonce)) {
            let replaced = old.hash();
            self.check_bump(old, &tx)?;
            self.remove(&replaced);
            self.put(tx);
            return Ok(AddOutcome::Replaced { hash, replaced });
        }
        if queue.map_or(0, BTreeMap::len) >= self.config.max_per_sender {
            return Err(MempoolError::SenderLimit {
                sender,
                limit: self.config.max_per_sender,
            });
        }
        if self.by_hash.len() < self.config.max_txs {
            self.put(tx);
            return Ok(AddOutcome::Added { hash });
        }
        // Full: only an executable transaction may evict.
        let next_nonce = queue.map_or(account_nonce, |q| {
            (account_nonce..nonce)
                .find(|n| !q.contains_key(n))
                .unwrap_or(nonce)
        });
        if next_nonce != nonce {
            return Err(MempoolError::NotExecutableWhileFull { nonce, next_nonce });
        }
        let tip = tx.effective_tip(base_fee).unwrap_or(0);
        match self.eviction_victim(&sender, nonce, base_fee) {
            Some((victim_tip, victim)) if victim_tip < Some(tip) => {
                self.remove(&victim);
                self.put(tx);
                Ok(AddOutcome::Evicted {
                    hash,
                    evicted: victim,
                })
            }
            victim => Err(MempoolError::PoolFull {
                max_txs: self.config.max_txs,
                tip,
                cheapest_tip: victim.map(|(t, _)| t.unwrap_or(0)),
            }),
        }
    }

    fn check_bump(&self, old: &PooledTx, new: &PooledTx) -> Result<(), MempoolError> {
        let percent = self.config.min_fee_bump_percent;
        let need_max = bumped(old.max_fee_per_gas, percent);
        let need_priority = bumped(old.priority_fee_per_gas, percent);
        if U256::from(new.max_fee_per_gas) >= need_max
            && U256::from(new.priority_fee_per_gas) >= need_priority
        {
            return Ok(());
        }
        Err(MempoolError::ReplacementUnderpriced {
            nonce: new.nonce(),
            bump_percent: percent,
            max_fee: new.max_fee_per_gas,
            priority_fee: new.priority_fee_per_gas,
            required_max_fee: need_max.saturating_to(),
            required_priority_fee: need_priority.saturating_to(),
        })
    }

    /// The cheapest evictable transaction: the last transaction of some sender (so no gap
    /// opens), with the lowest effective tip at `base_fee` (`None`, below the base fee, is
    /// lowest), ties to the lower hash. The new transaction's own sender is skipped when its
    /// last nonce is below the new one, since evicting it would strand the new transaction.
    fn eviction_victim(
        &self,
        sender: &Address,
        nonce: u64,
        base_fee: u64,
    ) -> Option<(Option<u128>, B256)> {
        self.by_sender
            .iter()
            .filter_map(|(s, q)| q.last_key_value().map(|(_, tx)| (s, tx)))
            .filter(|(s, tx)| *s != sender || tx.nonce() > nonce)
            .map(|(_, tx)| (tx.effective_tip(base_fee), tx.hash()))
            .min()
    }

    /// Inserts into both indexes. The caller has checked every bound.
    fn put(&mut self, tx: PooledTx) {
        let tx = Arc::new(tx);
        let queue = self.by_sender.entry(tx.sender()).or_default();
        let displaced = queue.insert(tx.nonce(), Arc::clone(&tx));
        assert!(displaced.is_none(), "mempool: (sender, nonce) slot taken");
        assert!(
            queue.len() <= self.config.max_per_sender,
            "mempool: sender bound"
        );
        let displaced = self.by_hash.insert(tx.hash(), tx);
        assert!(displaced.is_none(), "mempool: hash already present");
        assert!(
            self.by_hash.len() <= self.config.max_txs,
            "mempool: pool bound"
        );
    }

    /// Removes one transaction (a later nonce of its sender stays, behind a gap).
    pub fn remove(&mut self, hash: &B256) -> Option<Arc<PooledTx>> {
        let tx = self.by_hash.remove(hash)?;
        let sender = tx.sender();
        let emptied = match self.by_sender.get_mut(&sender) {
            Some(queue) => {
                let removed = queue.remove(&tx.nonce());
                assert!(
                    removed.is_some_and(|r| r.hash() == *hash),
                    "mempool: indexes disagree"
                );
                queue.is_empty()
            }
            None => false,
        };
        if emptied {
            self.by_sender.remove(&sender);
        }
        Some(tx)
    }

    /// Drops every transaction whose nonce is below its sender's account nonce in `state`
    /// (included in a block, or made stale by another transaction with that nonce). Call it
    /// after each committed block. Returns how many were dropped.
    pub fn remove_committed<S: StateView + ?Sized>(
        &mut self,
        state: &S,
    ) -> Result<usize, StoreError> {
        let mut stale = Vec::new();
        for (sender, queue) in &self.by_sender {
            let account_nonce = read_account(state, sender)?.nonce;
            stale.extend(queue.range(..account_nonce).map(|(_, tx)| tx.hash()));
        }
        for hash in &stale {
            self.remove(hash);
        }
        Ok(stale.len())
    }

    /// An executable batch for a block on `state` at `base_fee`: at most `max_txs`
    /// (and [`MAX_BLOCK_TRANSACTIONS`]) transactions whose gas limits sum to at most
    /// `gas_limit`. Per sender, only consecutive nonces from the account nonce, as far as the
    /// balance covers their summed worst-case cost and their max fee covers `base_fee`;
    /// across senders, highest effective tip first, ties to the lower hash. A sender whose
    /// next transaction does not fit the remaining gas contributes nothing more.
    pub fn select<S: StateView + ?Sized>(
        &self,
        state: &S,
        base_fee: u64,
        gas_limit: u64,
        max_txs: usize,
    ) -> Result<Vec<Arc<PooledTx>>, StoreError> {
        let max_txs = max_txs.min(MAX_BLOCK_TRANSACTIONS);
        let mut chains: Vec<Vec<&Arc<PooledTx>>> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let chain = executable_chain(&read_account(state, sender)?, queue, base_fee);
            if !chain.is_empty() {
                chains.push(chain);
            }
        }
        // (tip, lower hash first, chain, position in chain); hashes are unique, so the pop
        // order is total and deterministic.
        let mut heap: BinaryHeap<(u128, Reverse<B256>, usize, usize)> = chains
            .iter()
            .enumerate()
            .map(|(i, chain)| head(chain, i, 0, base_fee))
            .collect();
        let mut out = Vec::new();
        let mut gas_left = gas_limit;
        while out.len() < max_txs {
            let Some((_, _, i, pos)) = heap.pop() else {
                break;
            };
            let tx = chains[i][pos];
            if tx.gas_limit() > gas_left {
                continue;
            }
            gas_left -= tx.gas_limit();
            out.push(Arc::clone(tx));
            if pos + 1 < chains[i].len() {
                heap.push(head(&chains[i], i, pos + 1, base_fee));
            }
        }
        Ok(out)
    }
}

/// A heap entry for `chain[pos]`.
fn head(
    chain: &[&Arc<PooledTx>],
    i: usize,
    pos: usize,
    base_fee: u64,
) -> (u128, Reverse<B256>, usize, usize) {
    let tx = chain[pos];
    (
        tx.effective_tip(base_fee).unwrap_or(0),
        Reverse(tx.hash()),
        i,
        pos,
    )
}

/// The run of `queue` executable in order on `account`: consecutive nonces from the account
/// nonce, each paying at least `base_fee`, their summed worst-case cost within the balance.
/// Empty for a contract sender (EIP-3607).
fn executable_chain<'a>(
    account: &AccountRecord,
    queue: &'a BTreeMap<u64, Arc<PooledTx>>,
    base_fee: u64,
) -> Vec<&'a Arc<PooledTx>> {
    let mut chain = Vec::new();
    if account.code_hash != KECCAK_EMPTY {
        return chain;
    }
    let mut expected = account.nonce;
    let mut spent = U256::ZERO;
    for (&nonce, tx) in queue.range(account.nonce..) {
        spent = spent.saturating_add(tx.max_cost);
        if nonce != expected || tx.effective_tip(base_fee).is_none() || spent > account.balance {
            break;
        }
        chain.push(tx);
        expected = expected.saturating_add(1);
    }
    chain
}

/// The sender's account, or an empty one (nonce 0, no balance, no code).
fn read_account<S: StateView + ?Sized>(
    state: &S,
    sender: &Address,
) -> Result<AccountRecord, StoreError> {
    Ok(state
        .account(&hash_address(sender))?
        .unwrap_or(AccountRecord {
            address: *sender,
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
            storage_root: alloy_trie::EMPTY_ROOT_HASH,
        }))
}
