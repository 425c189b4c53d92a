//! Why the mempool refused a transaction: one variant per rule, each message naming the
//! numbers involved, for the RPC to pass on.

use alloy_primitives::{Address, B256, U256};
use shardnet_protocol::ShardId;

use crate::store::StoreError;
use crate::tx::TxError;

/// Why a transaction was not admitted. Every variant but [`MempoolError::Store`] is the
/// transaction's fault, and its message is meant for the submitter.
#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    /// The transaction would send to a shard whose lane from here is congested (CS-15).
    #[error("destination shard {shard} congested; backlog {backlog}")]
    Congested {
        /// The destination shard.
        shard: u16,
        /// Messages emitted toward it and not yet certified executed.
        backlog: u64,
    },

    /// Does not decode, has a bad signature, an unsupported type or another chain id.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The encoding is larger than the pool accepts.
    #[error("transaction is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The gas limit exceeds the block gas limit.
    #[error("gas limit {gas_limit} exceeds the block gas limit {max}")]
    GasLimitTooHigh {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// The block gas limit.
        max: u64,
    },
    /// The gas limit does not cover the intrinsic gas.
    #[error("gas limit {gas_limit} is below the intrinsic gas {intrinsic}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// Gas charged before execution.
        intrinsic: u64,
    },
    /// Contract-creation init code above the EIP-3860 limit.
    #[error("init code is {size} bytes, the limit is {max}")]
    InitcodeTooLarge {
        /// Init code size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// An EIP-1559 priority fee above the max fee.
    #[error("max priority fee per gas {max_priority_fee} is above the max fee per gas {max_fee}")]
    TipAboveMaxFee {
        /// Max priority fee per gas.
        max_priority_fee: u128,
        /// Max fee per gas.
        max_fee: u128,
    },
    /// The max fee does not cover the current base fee.
    #[error("max fee per gas {max_fee} is below the base fee {base_fee}")]
    FeeTooLow {
        /// Max fee per gas (gas price for legacy transactions).
        max_fee: u128,
        /// Current base fee.
        base_fee: u64,
    },
    /// The sender's account lives on another shard.
    #[error("sender {sender} lives on {home}, this is {this}")]
    WrongShard {
        /// Sender.
        sender: Address,
        /// Its home shard.
        home: ShardId,
        /// This pool's shard.
        this: ShardId,
    },
    /// The sender has code (EIP-3607).
    #[error("sender {sender} is a contract and cannot sign transactions")]
    SenderIsContract {
        /// Sender.
        sender: Address,
    },
    /// The nonce was already used.
    #[error("nonce {nonce} is below the account nonce {account_nonce}")]
    NonceTooLow {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's next nonce on chain.
        account_nonce: u64,
    },
    /// The nonce is too far ahead of the account's.
    #[error(
        "nonce {nonce} is too far ahead of the account nonce {account_nonce} \
         (the pool holds at most {window} nonces ahead)"
    )]
    NonceTooHigh {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's next nonce on chain.
        account_nonce: u64,
        /// The nonce window.
        window: u64,
    },
    /// The balance does not cover the worst-case cost.
    #[error(
        "insufficient funds: balance {balance} < gas × max fee + value = \
         {gas_limit} × {max_fee} + {value} = {cost}"
    )]
    InsufficientFunds {
        /// The sender's balance.
        balance: U256,
        /// Gas limit.
        gas_limit: u64,
        /// Max fee per gas.
        max_fee: u128,
        /// Value sent.
        value: U256,
        /// `gas_limit × max_fee + value` (saturated at `U256::MAX`).
        cost: U256,
    },
    /// This exact transaction is already pending.
    #[error("transaction {hash} is already known")]
    AlreadyKnown {
        /// Its hash.
        hash: B256,
    },
    /// A replacement that does not bump both fees enough.
    #[error(
        "replacement for nonce {nonce} is underpriced: a {bump_percent}% bump needs max fee \
         {required_max_fee} and priority fee {required_priority_fee}, got {max_fee} and \
         {priority_fee}"
    )]
    ReplacementUnderpriced {
        /// The nonce being replaced.
        nonce: u64,
        /// The required bump.
        bump_percent: u64,
        /// The new max fee per gas.
        max_fee: u128,
        /// The new priority fee per gas.
        priority_fee: u128,
        /// The least max fee that replaces (saturated at `u128::MAX`).
        required_max_fee: u128,
        /// The least priority fee that replaces (saturated at `u128::MAX`).
        required_priority_fee: u128,
    },
    /// The sender already has as many pending transactions as allowed.
    #[error("sender {sender} already has {limit} pending transactions, the limit per sender")]
    SenderLimit {
        /// Sender.
        sender: Address,
        /// The per-sender bound.
        limit: usize,
    },
    /// The pool is full and the transaction does not outbid an evictable one.
    #[error(
        "mempool is full ({max_txs} transactions): an effective tip of {tip} does not outbid {}",
        .cheapest_tip.map_or_else(
            || "any evictable transaction".to_owned(),
            |t| format!("the cheapest evictable transaction (tip {t})"),
        )
    )]
    PoolFull {
        /// The pool bound.
        max_txs: usize,
        /// The new transaction's effective tip at the current base fee.
        tip: u128,
        /// The lowest effective tip that could be evicted (`None`: nothing is evictable).
        cheapest_tip: Option<u128>,
    },
    /// The pool is full and the transaction cannot execute yet, so it may not evict.
    #[error(
        "mempool is full and nonce {nonce} is not executable yet (the sender's next nonce is \
         {next_nonce}): only executable transactions may evict"
    )]
    NotExecutableWhileFull {
        /// The transaction's nonce.
        nonce: u64,
        /// The first nonce missing from the chain and the pool.
        next_nonce: u64,
    },
    /// The state store failed (not the transaction's fault).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MempoolError {
    /// Whether this is the transaction's fault (so the submitter should see it), rather than a
    /// failing store.
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}
