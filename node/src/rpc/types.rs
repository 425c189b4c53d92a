//! Response objects in Ethereum's JSON-RPC shapes (blocks, transactions, receipts, logs), and
//! their construction from the chain index. Quantities are `0x`-hex without leading zeros,
//! data is `0x`-hex, as the execution-apis specification says.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U64, U128, U256};
use serde::Serialize;

use super::error::RpcError;
use super::params::AccessListItem;
use crate::index::{BlockRecord, StoredLog, TxRecord};

/// keccak of the RLP of an empty list: every block's `sha3Uncles` (there are no ommers).
pub(crate) const EMPTY_OMMERS_HASH: B256 = alloy_consensus::EMPTY_OMMER_ROOT_HASH;

/// Where a transaction sits, once committed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    /// Block hash.
    pub(crate) block_hash: B256,
    /// Block number.
    pub(crate) block_number: u64,
    /// Index in the block.
    pub(crate) index: u32,
    /// Block base fee (to price EIP-1559 transactions).
    pub(crate) base_fee: u64,
    /// Block timestamp, seconds.
    pub(crate) timestamp: u64,
}

impl Position {
    pub(crate) fn of(block: &BlockRecord, index: u32) -> Self {
        Self {
            block_hash: block.hash,
            block_number: block.height,
            index,
            base_fee: block.base_fee,
            timestamp: block.timestamp_ms / 1000,
        }
    }
}

/// A transaction object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcTransaction {
    hash: B256,
    nonce: U64,
    block_hash: Option<B256>,
    block_number: Option<U64>,
    transaction_index: Option<U64>,
    from: Address,
    to: Option<Address>,
    value: U256,
    gas: U64,
    gas_price: U128,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_fee_per_gas: Option<U128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_priority_fee_per_gas: Option<U128>,
    input: Bytes,
    #[serde(rename = "type")]
    tx_type: U64,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_id: Option<U64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_list: Option<Vec<AccessListItem>>,
    v: U64,
    r: U256,
    s: U256,
    #[serde(skip_serializing_if = "Option::is_none")]
    y_parity: Option<U64>,
}

impl RpcTransaction {
    /// `envelope` signed by `from`, at `position` if committed (pending otherwise).
    pub(crate) fn new(envelope: &TxEnvelope, from: Address, position: Option<Position>) -> Self {
        let sig = envelope.signature();
        let parity = u64::from(sig.v());
        let legacy = envelope.is_legacy();
        let v = if legacy {
            match envelope.chain_id() {
                Some(id) => 35 + 2 * id + parity,
                None => 27 + parity,
            }
        } else {
            parity
        };
        let dynamic = envelope.is_dynamic_fee();
        // Committed: what it paid per gas; pending: its bid.
        let gas_price = match position {
            Some(p) => envelope.effective_gas_price(Some(p.base_fee)),
            None => envelope.max_fee_per_gas(),
        };
        Self {
            hash: *envelope.tx_hash(),
            nonce: U64::from(envelope.nonce()),
            block_hash: position.map(|p| p.block_hash),
            block_number: position.map(|p| U64::from(p.block_number)),
            transaction_index: position.map(|p| U64::from(p.index)),
            from,
            to: envelope.to(),
            value: envelope.value(),
            gas: U64::from(envelope.gas_limit()),
            gas_price: U128::from(gas_price),
            max_fee_per_gas: dynamic.then(|| U128::from(envelope.max_fee_per_gas())),
            max_priority_fee_per_gas: envelope.max_priority_fee_per_gas().map(U128::from),
            input: envelope.input().clone(),
            tx_type: U64::from(envelope.tx_type() as u8),
            chain_id: envelope.chain_id().map(U64::from),
            access_list: envelope.access_list().map(|list| {
                list.iter()
                    .map(|i| AccessListItem {
                        address: i.address,
                        storage_keys: i.storage_keys.clone(),
                    })
                    .collect()
            }),
            v: U64::from(v),
            r: sig.r(),
            s: sig.s(),
            y_parity: (!legacy).then(|| U64::from(parity)),
        }
    }

    /// A committed transaction from the index.
    pub(crate) fn committed(record: &TxRecord, position: Position) -> Result<Self, RpcError> {
        Ok(Self::new(&record.envelope()?, record.from, Some(position)))
    }
}

/// A log object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    block_hash: B256,
    block_number: U64,
    block_timestamp: U64,
    transaction_hash: B256,
    transaction_index: U64,
    log_index: U64,
    removed: bool,
}

impl RpcLog {
    pub(crate) fn new(log: &StoredLog, tx: &TxRecord, position: Position, log_index: u64) -> Self {
        Self {
            address: log.address,
            topics: log.topics.clone(),
            data: log.data.clone(),
            block_hash: position.block_hash,
            block_number: U64::from(position.block_number),
            block_timestamp: U64::from(position.timestamp),
            transaction_hash: tx.hash,
            transaction_index: U64::from(position.index),
            log_index: U64::from(log_index),
            removed: false,
        }
    }

    /// A log of an inbound cross-shard message: its `transactionHash` is the
    /// message's origin transaction, its `transactionIndex` `position.index`.
    pub(crate) fn inbound(
        log: &StoredLog,
        origin_tx: B256,
        position: Position,
        log_index: u64,
    ) -> Self {
        Self {
            address: log.address,
            topics: log.topics.clone(),
            data: log.data.clone(),
            block_hash: position.block_hash,
            block_number: U64::from(position.block_number),
            block_timestamp: U64::from(position.timestamp),
            transaction_hash: origin_tx,
            transaction_index: U64::from(position.index),
            log_index: U64::from(log_index),
            removed: false,
        }
    }

    /// Every log of `tx`, with block-wide indices.
    pub(crate) fn all_of(tx: &TxRecord, position: Position) -> Vec<Self> {
        tx.logs
            .iter()
            .zip(tx.first_log_index..)
            .map(|(l, i)| Self::new(l, tx, position, i))
            .collect()
    }
}

/// A receipt object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcReceipt {
    transaction_hash: B256,
    transaction_index: U64,
    block_hash: B256,
    block_number: U64,
    from: Address,
    to: Option<Address>,
    cumulative_gas_used: U64,
    gas_used: U64,
    effective_gas_price: U128,
    contract_address: Option<Address>,
    logs: Vec<RpcLog>,
    logs_bloom: Bloom,
    #[serde(rename = "type")]
    tx_type: U64,
    status: U64,
}

impl RpcReceipt {
    pub(crate) fn new(tx: &TxRecord, position: Position) -> Result<Self, RpcError> {
        let envelope = tx.envelope()?;
        Ok(Self {
            transaction_hash: tx.hash,
            transaction_index: U64::from(position.index),
            block_hash: position.block_hash,
            block_number: U64::from(position.block_number),
            from: tx.from,
            to: envelope.to(),
            cumulative_gas_used: U64::from(tx.cumulative_gas_used),
            gas_used: U64::from(tx.gas_used),
            effective_gas_price: U128::from(tx.effective_gas_price),
            contract_address: tx.contract_address,
            logs: RpcLog::all_of(tx, position),
            logs_bloom: tx.logs_bloom,
            tx_type: U64::from(envelope.tx_type() as u8),
            status: U64::from(u8::from(tx.success)),
        })
    }
}

/// A block's transactions: hashes, or full objects.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum BlockTransactions {
    /// Hashes only.
    Hashes(Vec<B256>),
    /// Full objects.
    Full(Vec<RpcTransaction>),
}

/// A block object (post-merge shape: no difficulty, no ommers, empty withdrawals).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcBlock {
    number: U64,
    hash: B256,
    parent_hash: B256,
    nonce: B64,
    sha3_uncles: B256,
    logs_bloom: Bloom,
    transactions_root: B256,
    state_root: B256,
    receipts_root: B256,
    miner: Address,
    difficulty: U256,
    total_difficulty: U256,
    extra_data: Bytes,
    size: U64,
    gas_limit: U64,
    gas_used: U64,
    timestamp: U64,
    transactions: BlockTransactions,
    uncles: Vec<B256>,
    base_fee_per_gas: U64,
    mix_hash: B256,
    withdrawals: Vec<()>,
    withdrawals_root: B256,
    blob_gas_used: U64,
    excess_blob_gas: U64,
}

impl RpcBlock {
    pub(crate) fn new(block: &BlockRecord, transactions: BlockTransactions) -> Self {
        Self {
            number: U64::from(block.height),
            hash: block.hash,
            parent_hash: block.parent,
            nonce: B64::ZERO,
            sha3_uncles: EMPTY_OMMERS_HASH,
            logs_bloom: block.logs_bloom,
            transactions_root: block.transactions_root,
            state_root: block.state_root,
            receipts_root: block.receipts_root,
            miner: block.miner,
            difficulty: U256::ZERO,
            total_difficulty: U256::ZERO,
            extra_data: Bytes::new(),
            size: U64::from(block.size),
            gas_limit: U64::from(block.gas_limit),
            gas_used: U64::from(block.gas_used),
            timestamp: U64::from(block.timestamp_ms / 1000),
            transactions,
            uncles: vec![],
            base_fee_per_gas: U64::from(block.base_fee),
            // PREVRANDAO is the parent's hash (`specs/execution.md` ).
            mix_hash: block.parent,
            withdrawals: vec![],
            withdrawals_root: alloy_consensus::EMPTY_ROOT_HASH,
            blob_gas_used: U64::ZERO,
            excess_blob_gas: U64::ZERO,
        }
    }
}

/// `eth_feeHistory`'s answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeeHistory {
    pub(crate) oldest_block: U64,
    pub(crate) base_fee_per_gas: Vec<U64>,
    pub(crate) gas_used_ratio: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reward: Option<Vec<Vec<U128>>>,
}
