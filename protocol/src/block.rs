//! Block headers, payloads and blocks (`specs/wire.md` §3).

use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedBytes, BoundedVec};
use crate::cert::QuorumCert;
use crate::codec::{canonical_bytes, hash_of};
use crate::cross_shard::{LaneSegment, Watermark};
use crate::limits::{
    MAX_BLOCK_SEGMENTS, MAX_BLOCK_TRANSACTIONS, MAX_TRANSACTION_BYTES, MAX_WATERMARKS,
};
use crate::merkle::{leaf_hash, node_hash, root};
use crate::types::{BlockHash, ChainId, Epoch, Hash32, Height, Round, ShardId, ValidatorIndex};

/// A signed Ethereum transaction in its EIP-2718 encoding.
pub type RawTransaction = BoundedBytes<MAX_TRANSACTION_BYTES>;

/// The execution results a block commits to. Consensus carries them; the application fills
/// and checks them (`specs/execution.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExecutionCommitment {
    /// Ethereum Merkle-Patricia state root after the block.
    pub state_root: Hash32,
    /// Merkle root of the cross-shard messages the block emitted, by lane then sequence.
    pub outbox_root: Hash32,
    /// Per inbound lane, the highest sequence executed after the block.
    pub inbox_watermarks: BoundedVec<Watermark, MAX_WATERMARKS>,
}

/// A block header. Its hash is the block's identity; certificates sign the hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The network.
    pub chain_id: ChainId,
    /// The shard whose chain this is.
    pub shard: ShardId,
    /// The committee epoch.
    pub epoch: Epoch,
    /// Position in the chain.
    pub height: Height,
    /// Consensus round it was proposed in.
    pub round: Round,
    /// The parent block.
    pub parent: BlockHash,
    /// The leader that proposed it.
    pub proposer: ValidatorIndex,
    /// Proposer's clock, milliseconds since the Unix epoch (advisory, monotone per chain).
    pub timestamp_ms: u64,
    /// [`Payload::root`] of the block's payload.
    pub payload_root: Hash32,
    /// What executing the block produced.
    pub execution: ExecutionCommitment,
}

impl BlockHeader {
    /// blake3 of the canonical encoding (W-3.1).
    pub fn hash(&self) -> BlockHash {
        BlockHash(hash_of(self))
    }
}

/// The transactions and inbound cross-shard segments a block orders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Signed Ethereum transactions, in execution order.
    pub transactions: BoundedVec<RawTransaction, MAX_BLOCK_TRANSACTIONS>,
    /// Certified inbound message segments, in execution order.
    pub segments: BoundedVec<LaneSegment, MAX_BLOCK_SEGMENTS>,
}

impl Payload {
    /// `node(root(transactions), root(segments))`, each a Merkle tree over its items'
    /// canonical encodings (W-3.2), so a single transaction has an inclusion proof.
    pub fn root(&self) -> Hash32 {
        let txs: Vec<Hash32> = self.transactions.iter().map(|t| leaf_hash(t)).collect();
        let segs: Vec<Hash32> = self
            .segments
            .iter()
            .map(|s| leaf_hash(&canonical_bytes(s)))
            .collect();
        node_hash(&root(&txs), &root(&segs))
    }

    /// Whether there is nothing to execute.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty() && self.segments.is_empty()
    }
}

/// A proposed block: header, the QC of its parent, and the payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The certificate of the parent block (`justify.block() == header.parent`).
    pub justify: QuorumCert,
    /// What the block orders.
    pub payload: Payload,
}

impl Block {
    /// The block's identity.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Whether the header commits to this payload and parent QC.
    pub fn is_well_formed(&self) -> bool {
        self.header.payload_root == self.payload.root()
            && self.justify.block() == self.header.parent
    }
}
