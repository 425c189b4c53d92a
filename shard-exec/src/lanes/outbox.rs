//! A block's outbound messages: sequence numbers (CS-2), the outbox root (CS-7, W-3.8) and
//! segments with multiproofs for each destination lane (CS-8).

use shardnet_protocol::{
    BoundedVec, CrossShardMessage, FinalityProof, Hash32, LaneId, LaneSegment, MerkleError,
    MessageBody, MultiProof, Origin, ShardId, merkle,
};

use super::Sequences;

/// A message the block wants to send, before it has a lane position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emission {
    /// Destination shard.
    pub destination: ShardId,
    /// Tracing.
    pub origin: Origin,
    /// The request or response.
    pub body: MessageBody,
}

impl Emission {
    fn class(&self) -> shardnet_protocol::LaneClass {
        match self.body {
            MessageBody::Response { .. } => shardnet_protocol::LaneClass::Response,
            _ => shardnet_protocol::LaneClass::Request,
        }
    }
}

/// A block's outbox: its messages in leaf order (by lane, then sequence).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    /// Messages, ordered by lane then sequence: leaf `i` of the outbox tree is `messages[i]`.
    pub messages: Vec<CrossShardMessage>,
}

impl Outbox {
    /// Numbers `emissions` (in emission order) from `source`, advancing `sequences` (CS-2).
    pub fn assign(source: ShardId, emissions: Vec<Emission>, sequences: &mut Sequences) -> Self {
        let mut messages: Vec<CrossShardMessage> = emissions
            .into_iter()
            .map(|e| {
                let lane = LaneId {
                    source,
                    destination: e.destination,
                    class: e.class(),
                };
                let seq = sequences.entry(lane).or_insert(0);
                *seq += 1;
                CrossShardMessage {
                    lane,
                    sequence: *seq,
                    origin: e.origin,
                    body: e.body,
                }
            })
            .collect();
        messages.sort_by_key(|m| (m.lane, m.sequence));
        Self { messages }
    }

    /// The leaf hashes, in order.
    pub fn leaves(&self) -> Vec<Hash32> {
        self.messages
            .iter()
            .map(CrossShardMessage::leaf_hash)
            .collect()
    }

    /// The outbox root the header commits to (CS-7).
    pub fn root(&self) -> Hash32 {
        merkle::root(&self.leaves())
    }

    /// Lanes with messages in this outbox, in order.
    pub fn lanes(&self) -> Vec<LaneId> {
        let mut lanes: Vec<LaneId> = self.messages.iter().map(|m| m.lane).collect();
        lanes.dedup();
        lanes
    }

    /// The segment carrying this block's messages of `lane`, proven by `proof` (the finality
    /// proof of the block whose header commits to this outbox). `None` if the lane is empty.
    pub fn segment(
        &self,
        lane: LaneId,
        proof: &FinalityProof,
    ) -> Result<Option<LaneSegment>, MerkleError> {
        let first = self.messages.partition_point(|m| m.lane < lane);
        let end = self.messages.partition_point(|m| m.lane <= lane);
        if first == end {
            return Ok(None);
        }
        let positions: Vec<u64> = (first as u64..end as u64).collect();
        let outbox_proof = MultiProof::new(&self.leaves(), &positions)?;
        let messages = BoundedVec::try_from_vec(self.messages[first..end].to_vec())
            .map_err(|_| MerkleError::TooManyLeaves(end - first))?;
        Ok(Some(LaneSegment {
            proof: proof.clone(),
            first_leaf: first as u64,
            messages,
            outbox_proof,
        }))
    }
}
