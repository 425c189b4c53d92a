//! The chain index the RPC serves from (`specs/rpc.md` R-6): blocks by height and by hash,
//! transactions by hash, and each transaction with its receipt and logs, in sled trees of the
//! validator's database.
//!
//! It is written when a block commits, from the execution the app already holds for it
//! (nothing is executed twice), and *before* the app applies the block's state: the state
//! store flushes the whole database at commit, so the index is durable no later than the state
//! it describes. After a crash between the two writes the block commits again on restart and
//! its entries are rewritten with identical bytes.
//!
//! Trees (keys big-endian so that sled iterates in chain order):
//! - `index_blocks`: height → [`BlockRecord`];
//! - `index_block_hashes`: block hash → height;
//! - `index_tx_hashes`: transaction hash → height ‖ position (u32);
//! - `index_txs`: height ‖ position → [`TxRecord`];
//! - `index_inbound_logs`: height → the logs of the block's inbound cross-shard calls and
//!   callbacks ([`InboundLogs`], R-6.1), only for blocks that have some.
//!
//! Block records are written last, so a block's record implies its transactions are there.

use std::sync::Arc;

use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bloom, Bytes, Log};
use serde::{Deserialize, Serialize};
use shardnet_consensus::{Application, CommittedBlock, PayloadRequest};
use shardnet_exec::{Execution, ShardApp, StateStore, TxResult, TxStatus};
use shardnet_protocol::codec::{canonical_bytes, decode_canonical};
use shardnet_protocol::{Block, ExecutionCommitment, Payload};

/// Why the index failed (fatal for the validator, like any storage failure).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// sled failed.
    #[error("index I/O: {0}")]
    Io(#[from] sled::Error),
    /// A stored record does not decode, or a block does not match its execution.
    #[error("index corrupt: {0}")]
    Corrupt(String),
    /// The ledger refused a committed block.
    #[error("ledger: {0}")]
    Ledger(String),
}

/// One committed block, as the RPC describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Height (the block number).
    pub height: u64,
    /// Consensus block hash (blake3 of the header; the RPC's block hash).
    pub hash: B256,
    /// Parent's hash.
    pub parent: B256,
    /// Proposer's timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Consensus round it was proposed in.
    pub round: u64,
    /// Proposer's committee index.
    pub proposer: u32,
    /// State root after it.
    pub state_root: B256,
    /// Ethereum transactions root (ordered trie of the EIP-2718 encodings).
    pub transactions_root: B256,
    /// Ethereum receipts root.
    pub receipts_root: B256,
    /// Union of its receipts' blooms.
    pub logs_bloom: Bloom,
    /// Gas its transactions used.
    pub gas_used: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// EIP-1559 base fee.
    pub base_fee: u64,
    /// Fee recipient.
    pub miner: Address,
    /// Size of the block's canonical encoding, bytes.
    pub size: u64,
    /// Its transactions' hashes, in order.
    pub tx_hashes: Vec<B256>,
}

/// A log as stored (alloy's `Log` flattens its data, which the binary codec cannot read back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLog {
    /// Emitting contract.
    pub address: Address,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// The logs of one inbound cross-shard message of a block (a call run on this shard, or the
/// callback of a response), which belong to no transaction of the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundLogs {
    /// The message's source shard.
    pub source: u16,
    /// Its sequence in its lane.
    pub sequence: u64,
    /// The transaction that started it (on the source shard for a call; on this shard, the
    /// calling transaction, for a callback): the logs' `transactionHash`.
    pub origin_tx: B256,
    /// Block-wide index of its first log (inbound logs are numbered after the transactions').
    pub first_log_index: u64,
    /// Its logs.
    pub logs: Vec<StoredLog>,
}

/// One committed transaction with its receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Its EIP-2718 encoding, as signed.
    pub raw: Bytes,
    /// Hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Whether it succeeded (receipt status 1).
    pub success: bool,
    /// Gas it used.
    pub gas_used: u64,
    /// Gas used by the block up to and including it.
    pub cumulative_gas_used: u64,
    /// What it paid per gas.
    pub effective_gas_price: u128,
    /// Contract it created.
    pub contract_address: Option<Address>,
    /// Its logs.
    pub logs: Vec<StoredLog>,
    /// Its receipt's bloom.
    pub logs_bloom: Bloom,
    /// Block-wide index of its first log.
    pub first_log_index: u64,
}

impl TxRecord {
    /// The signed transaction.
    pub fn envelope(&self) -> Result<TxEnvelope, IndexError> {
        TxEnvelope::decode_2718(&mut self.raw.as_ref())
            .map_err(|e| IndexError::Corrupt(format!("transaction {}: {e}", self.hash)))
    }
}

/// The index trees of one validator's database. Cheap to clone; readers and the writer share
/// the same trees.
#[derive(Clone, Debug)]
pub struct ChainIndex {
    blocks: sled::Tree,
    block_hashes: sled::Tree,
    tx_hashes: sled::Tree,
    txs: sled::Tree,
    inbound_logs: sled::Tree,
    messages: sled::Tree,
}

/// What became of a cross-shard call on one shard (`shardnet_messageStatus`, R-7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The shard that executed it.
    pub shard: u16,
    /// The height of the block that executed it.
    pub height: u64,
    /// `true` for the response executed back on the caller's shard (the call is complete),
    /// `false` for the call (or creation) executed on its destination.
    pub response: bool,
    /// 0 Ok, 1 Revert, 2 OutOfGas, 3 TimedOut, 4 Rejected (as `onResponse` receives it).
    pub outcome: u8,
    /// The return data, revert data or rejection reason.
    pub data: Bytes,
    /// Refund (for a response: what came back to the caller).
    pub refund: alloy_primitives::U256,
}

fn message_key(call_id: &[u8; 32], response: bool) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[..32].copy_from_slice(call_id);
    k[32] = u8::from(response);
    k
}

fn tx_key(height: u64, position: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(&position.to_be_bytes());
    k
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, IndexError> {
    decode_canonical(bytes).map_err(|e| IndexError::Corrupt(format!("{what}: {e}")))
}

fn height_of(bytes: &[u8]) -> Result<u64, IndexError> {
    let b: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| IndexError::Corrupt("short height key".into()))?;
    Ok(u64::from_be_bytes(b))
}

impl ChainIndex {
    /// Opens the index trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, IndexError> {
        Ok(Self {
            blocks: db.open_tree("index_blocks")?,
            block_hashes: db.open_tree("index_block_hashes")?,
            tx_hashes: db.open_tree("index_tx_hashes")?,
            txs: db.open_tree("index_txs")?,
            inbound_logs: db.open_tree("index_inbound_logs")?,
            messages: db.open_tree("index_messages")?,
        })
    }

    /// Records the genesis block (height 0, no transactions) unless it is there already.
    pub fn record_genesis(
        &self,
        block: &Block,
        base_fee: u64,
        gas_limit: u64,
    ) -> Result<(), IndexError> {
        if self.block(0)?.is_some() {
            return Ok(());
        }
        let record = BlockRecord {
            height: 0,
            hash: B256::from(block.hash().0.0),
            parent: B256::ZERO,
            timestamp_ms: block.header.timestamp_ms,
            round: block.header.round.0,
            proposer: u32::from(block.header.proposer.0),
            state_root: B256::from(block.header.execution.state_root.0),
            transactions_root: alloy_consensus::EMPTY_ROOT_HASH,
            receipts_root: alloy_consensus::EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            gas_used: 0,
            gas_limit,
            base_fee,
            miner: Address::ZERO,
            size: canonical_bytes(block).len() as u64,
            tx_hashes: vec![],
        };
        self.write_block(&record)
    }

    /// Records committed `block` with its `execution` (whose results are the payload's
    /// transactions, in order) and the base fee it executed under.
    pub fn record(
        &self,
        block: &Block,
        execution: &Execution,
        base_fee: u64,
        gas_limit: u64,
        miner: Address,
    ) -> Result<(), IndexError> {
        let height = block.header.height.0;
        let raws = &block.payload.transactions;
        if raws.len() != execution.txs.len() {
            return Err(IndexError::Corrupt(format!(
                "block {height} has {} transactions but its execution {}",
                raws.len(),
                execution.txs.len()
            )));
        }
        let mut envelopes = Vec::with_capacity(raws.len());
        let mut receipts = Vec::with_capacity(raws.len());
        let mut txs = sled::Batch::default();
        let mut tx_hashes = sled::Batch::default();
        let mut log_index = 0u64;
        for (position, (raw, result)) in raws.iter().zip(&execution.txs).enumerate() {
            let envelope = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| {
                IndexError::Corrupt(format!("committed transaction {}: {e}", result.hash))
            })?;
            let position = u32::try_from(position)
                .map_err(|_| IndexError::Corrupt("too many transactions".into()))?;
            let record = tx_record(raw, result, &envelope, base_fee, log_index);
            log_index += record.logs.len() as u64;
            receipts.push(receipt_envelope(&envelope, result));
            txs.insert(&tx_key(height, position), canonical_bytes(&record));
            tx_hashes.insert(result.hash.as_slice(), &tx_key(height, position));
            envelopes.push(envelope);
        }
        // inbound messages' logs, numbered after the transactions' logs.
        let mut logs_bloom = execution.bloom();
        let mut inbound = Vec::new();
        for r in &execution.cross_shard.inbound {
            if r.logs.is_empty() {
                continue;
            }
            for l in &r.logs {
                logs_bloom.accrue_log(l);
            }
            let logs: Vec<StoredLog> = r.logs.iter().map(stored_log).collect();
            let first_log_index = log_index;
            log_index += logs.len() as u64;
            inbound.push(InboundLogs {
                source: r.lane.source.0,
                sequence: r.sequence,
                origin_tx: r.origin_tx,
                first_log_index,
                logs,
            });
        }
        let record = BlockRecord {
            height,
            hash: B256::from(block.hash().0.0),
            parent: B256::from(block.header.parent.0.0),
            timestamp_ms: block.header.timestamp_ms,
            round: block.header.round.0,
            proposer: u32::from(block.header.proposer.0),
            state_root: execution.state_root,
            transactions_root: alloy_consensus::proofs::calculate_transaction_root(&envelopes),
            receipts_root: alloy_consensus::proofs::calculate_receipt_root(&receipts),
            logs_bloom,
            gas_used: execution.gas_used,
            gas_limit,
            base_fee,
            miner,
            size: canonical_bytes(block).len() as u64,
            tx_hashes: execution.txs.iter().map(|t| t.hash).collect(),
        };
        self.record_messages(block, execution)?;
        self.txs.apply_batch(txs)?;
        self.tx_hashes.apply_batch(tx_hashes)?;
        if !inbound.is_empty() {
            self.inbound_logs
                .insert(height.to_be_bytes(), canonical_bytes(&inbound))?;
        }
        self.write_block(&record)
    }

    /// the outcome of every call, creation and response the block executed, by call id.
    fn record_messages(&self, block: &Block, execution: &Execution) -> Result<(), IndexError> {
        use shardnet_protocol::{MessageBody, Outcome};
        let by_position: std::collections::BTreeMap<_, _> = block
            .payload
            .segments
            .iter()
            .flat_map(|s| s.messages.iter())
            .map(|m| ((m.lane, m.sequence), m))
            .collect();
        let shard = block.header.shard.0;
        let height = block.header.height.0;
        let describe = |o: &Outcome| -> (u8, Bytes) {
            let code = shardnet_exec::lanes::system::outcome_code(o);
            let data = match o {
                Outcome::Ok(d) | Outcome::Revert(d) => Bytes::copy_from_slice(d),
                Outcome::Rejected(r) => Bytes::copy_from_slice(r),
                Outcome::OutOfGas | Outcome::TimedOut => Bytes::new(),
            };
            (code, data)
        };
        for r in &execution.cross_shard.inbound {
            let Some(m) = by_position.get(&(r.lane, r.sequence)) else {
                continue;
            };
            let (call_id, response, outcome, refund) = match &m.body {
                MessageBody::Call { call_id, .. } | MessageBody::Create { call_id, .. } => {
                    let Some(o) = &r.outcome else { continue };
                    (call_id, false, o, alloy_primitives::U256::ZERO)
                }
                MessageBody::Response {
                    call_id,
                    outcome,
                    refund,
                    ..
                } => (call_id, true, outcome, *refund),
                MessageBody::Transfer { .. } => continue,
            };
            let (code, data) = describe(outcome);
            let record = MessageRecord {
                shard,
                height,
                response,
                outcome: code,
                data,
                refund,
            };
            self.messages
                .insert(message_key(&call_id.0, response), canonical_bytes(&record))?;
        }
        Ok(())
    }

    /// What is known here of call `call_id`: its execution on this shard as the destination,
    /// and its response executed here as the caller's shard.
    pub fn message(
        &self,
        call_id: &B256,
    ) -> Result<(Option<MessageRecord>, Option<MessageRecord>), IndexError> {
        let get = |response| -> Result<Option<MessageRecord>, IndexError> {
            self.messages
                .get(message_key(&call_id.0, response))?
                .map(|v| decode("message record", &v))
                .transpose()
        };
        Ok((get(false)?, get(true)?))
    }

    fn write_block(&self, record: &BlockRecord) -> Result<(), IndexError> {
        self.block_hashes
            .insert(record.hash.as_slice(), &record.height.to_be_bytes())?;
        self.blocks
            .insert(record.height.to_be_bytes(), canonical_bytes(record))?;
        Ok(())
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<BlockRecord>, IndexError> {
        self.blocks
            .get(height.to_be_bytes())?
            .map(|v| decode("block record", &v))
            .transpose()
    }

    /// The block with consensus hash `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<BlockRecord>, IndexError> {
        match self.block_hashes.get(hash.as_slice())? {
            Some(h) => self.block(height_of(&h)?),
            None => Ok(None),
        }
    }

    /// The highest indexed height.
    pub fn top(&self) -> Result<Option<u64>, IndexError> {
        self.blocks.last()?.map(|(k, _)| height_of(&k)).transpose()
    }

    /// Where transaction `hash` is: height and position.
    pub fn locate_tx(&self, hash: &B256) -> Result<Option<(u64, u32)>, IndexError> {
        let Some(v) = self.tx_hashes.get(hash.as_slice())? else {
            return Ok(None);
        };
        let position: [u8; 4] = v
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| IndexError::Corrupt("short transaction location".into()))?;
        Ok(Some((height_of(&v)?, u32::from_be_bytes(position))))
    }

    /// The transaction at `position` of block `height`.
    pub fn tx(&self, height: u64, position: u32) -> Result<Option<TxRecord>, IndexError> {
        self.txs
            .get(tx_key(height, position))?
            .map(|v| decode("transaction record", &v))
            .transpose()
    }

    /// Every transaction of block `height`, in order.
    pub fn txs_of(&self, height: u64) -> Result<Vec<TxRecord>, IndexError> {
        self.txs
            .scan_prefix(height.to_be_bytes())
            .map(|r| {
                let (_, v) = r?;
                decode("transaction record", &v)
            })
            .collect()
    }

    /// The logs of block `height`'s inbound cross-shard messages, in execution order.
    pub fn inbound_logs_of(&self, height: u64) -> Result<Vec<InboundLogs>, IndexError> {
        match self.inbound_logs.get(height.to_be_bytes())? {
            Some(v) => decode("inbound logs", &v),
            None => Ok(Vec::new()),
        }
    }
}

fn stored_log(l: &Log) -> StoredLog {
    StoredLog {
        address: l.address,
        topics: l.topics().to_vec(),
        data: l.data.data.clone(),
    }
}

fn tx_record(
    raw: &[u8],
    result: &TxResult,
    envelope: &TxEnvelope,
    base_fee: u64,
    first_log_index: u64,
) -> TxRecord {
    use alloy_consensus::Transaction;
    TxRecord {
        raw: Bytes::copy_from_slice(raw),
        hash: result.hash,
        from: result.sender,
        success: result.status == TxStatus::Success,
        gas_used: result.gas_used,
        cumulative_gas_used: result.cumulative_gas_used,
        effective_gas_price: envelope.effective_gas_price(Some(base_fee)),
        contract_address: result.contract_address,
        logs: result.logs.iter().map(stored_log).collect(),
        logs_bloom: result.bloom,
        first_log_index,
    }
}

fn receipt_envelope(envelope: &TxEnvelope, result: &TxResult) -> ReceiptEnvelope {
    let receipt = ReceiptWithBloom {
        receipt: Receipt {
            status: Eip658Value::Eip658(result.status == TxStatus::Success),
            cumulative_gas_used: result.cumulative_gas_used,
            logs: result.logs.clone(),
        },
        logs_bloom: result.bloom,
    };
    match envelope {
        TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(receipt),
        TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(receipt),
        TxEnvelope::Eip4844(_) => ReceiptEnvelope::Eip4844(receipt),
        TxEnvelope::Eip7702(_) => ReceiptEnvelope::Eip7702(receipt),
        TxEnvelope::Eip1559(_) => ReceiptEnvelope::Eip1559(receipt),
    }
}

/// The validator's application: [`ShardApp`], with every committed block indexed just before
/// the app applies it (when the validator keeps an index: simulations do not), and its
/// outbound lane segments recorded in the outbox (CS-14). Failures are kept in `failed` for the
/// validator to stop on.
pub(crate) struct Indexing<'a, S: StateStore> {
    pub(crate) app: &'a mut ShardApp<S>,
    pub(crate) index: Option<&'a ChainIndex>,
    /// The block's outbound segments are recorded here before its state is applied.
    pub(crate) outbox: &'a mut dyn crate::outbox::OutboxStore,
    /// The block is appended here before its state is applied.
    pub(crate) ledger: &'a mut dyn crate::validator::LedgerStore,
    pub(crate) failed: Option<IndexError>,
}

impl<S: StateStore> Indexing<'_, S> {
    fn index(&mut self, committed: &CommittedBlock) -> Result<(), IndexError> {
        let block = &committed.block;
        if block.header.height.0 <= self.app.head().height || self.app.fatal().is_some() {
            return Ok(()); // Already applied (and indexed) before a restart.
        }
        let hash = block.hash();
        let mut found = self.app.speculative_execution(&hash);
        if found.is_none() {
            // Learnt by sync and never executed here: execute it now, as `commit` would.
            self.app.verify(block, &[]);
            found = self.app.speculative_execution(&hash);
        }
        // A block that does not execute makes `commit` fail the app; nothing to index.
        let Some((execution, base_fee)) = found else {
            return Ok(());
        };
        let out = &execution.cross_shard.outbox;
        let segments: Vec<_> = out
            .lanes()
            .into_iter()
            .filter_map(|lane| out.segment(lane, &committed.proof).ok().flatten())
            .collect();
        self.outbox
            .record(&segments)
            .map_err(|e| IndexError::Corrupt(e.to_string()))?;
        let Some(index) = self.index else {
            return Ok(());
        };
        let cfg = self.app.config();
        let miner = cfg
            .fee_recipients
            .get(block.header.proposer.as_usize())
            .copied()
            .unwrap_or(Address::ZERO);
        index.record(block, &execution, base_fee, cfg.block_gas_limit, miner)
    }
}

impl<S: StateStore> Application for Indexing<'_, S> {
    fn build(
        &mut self,
        request: &PayloadRequest,
        ancestors: &[Arc<Block>],
    ) -> (Payload, ExecutionCommitment) {
        self.app.build(request, ancestors)
    }

    fn verify(&mut self, block: &Block, ancestors: &[Arc<Block>]) -> bool {
        self.app.verify(block, ancestors)
    }

    fn commit(&mut self, committed: &CommittedBlock) {
        if let Err(e) = self.index(committed)
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
        // The ledger entry goes before the state (and so before the safety store prunes the
        // block, which it does after this commit): a crash can leave the ledger ahead of the
        // state, which a restart replays (`validator::assemble`), never a block the state
        // has but neither the ledger nor the safety store does. A re-commit after a restart
        // appends again (idempotent).
        if self.app.fatal().is_none()
            && let Err(e) = self.ledger.append(committed)
        {
            self.failed.get_or_insert(IndexError::Ledger(e.to_string()));
            return;
        }
        self.app.commit(committed);
    }
}
