//! The durable outbox of a validator (CS-14, CS-16): every committed block's outbound lane
//! segments, with their finality proofs, kept until the destination certifies it executed
//! them, and pushed again until then.
//!
//! Pushing once at commit is not enough: if every destination validator misses it (a partition
//! between shards, a crash), the lane would stall forever. So the relay re-sends what is not
//! yet covered by the destination's certified watermark (which the source learns from the
//! destination's reports, CS-15), and prunes what is. Segments are written before the block's
//! state is applied and flushed with it, so a restart never forgets one that its state says was
//! emitted.

use shardnet_protocol::codec::{canonical_bytes, decode_canonical};
use shardnet_protocol::limits::{MAX_MESSAGE_BYTES, MAX_PULL_SEGMENTS};
use shardnet_protocol::{LaneClass, LaneId, LanePull, LaneSegment};

/// Bytes of segments one pull answer carries at most (CS-16), unless its first segment alone is
/// larger (it was pushed in one frame, so it fits in one answer).
pub const PULL_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Room left in a frame for the answer's own encoding around its segments.
const ANSWER_OVERHEAD_BYTES: usize = 64;

/// Collects, in key order, the stored segments overlapping `pull`'s range, within the answer's
/// bounds (`MAX_PULL_SEGMENTS`, [`PULL_ANSWER_BYTES`]). `entries` yields (first sequence,
/// encoded size, segment) for the pulled lane in ascending order of first sequence.
fn answer<E>(
    pull: &LanePull,
    entries: impl Iterator<Item = Result<(u64, usize, LaneSegment), E>>,
) -> Result<Vec<LaneSegment>, E> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for entry in entries {
        let (first, size, segment) = entry?;
        if first > pull.last || out.len() == MAX_PULL_SEGMENTS {
            break;
        }
        if segment
            .messages
            .last()
            .is_none_or(|m| m.sequence < pull.first)
        {
            continue;
        }
        let total = bytes.saturating_add(size);
        let fits = if out.is_empty() {
            total <= MAX_MESSAGE_BYTES - ANSWER_OVERHEAD_BYTES
        } else {
            total <= PULL_ANSWER_BYTES
        };
        if !fits {
            break;
        }
        bytes = total;
        out.push(segment);
    }
    Ok(out)
}

/// Why the outbox failed (fatal for the validator, like the ledger).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// sled failed.
    #[error("outbox I/O: {0}")]
    Io(#[from] sled::Error),
    /// A stored segment does not decode.
    #[error("outbox corrupt: {0}")]
    Corrupt(String),
}

/// Where a validator keeps its committed outbound segments until they are certified delivered
/// (sled in production, a shared in-memory map in simulation).
pub trait OutboxStore: Send + 'static {
    /// Records a committed block's segments (reports, which carry no messages, are not kept).
    fn record(&mut self, segments: &[LaneSegment]) -> Result<(), OutboxError>;
    /// CS-14: deletes the segments whose last message the destination certified executing;
    /// returns the rest (to push again), in lane and sequence order.
    fn prune_and_pending(
        &mut self,
        certified: &dyn Fn(&LaneId) -> u64,
    ) -> Result<Vec<LaneSegment>, OutboxError>;
    /// CS-16 (pull): the held segments of `pull.lane` that overlap `pull.first..=pull.last`, in
    /// sequence order, at most `MAX_PULL_SEGMENTS` and about [`PULL_ANSWER_BYTES`].
    fn serve(&self, pull: &LanePull) -> Result<Vec<LaneSegment>, OutboxError>;
}

impl OutboxStore for Outbox {
    fn record(&mut self, segments: &[LaneSegment]) -> Result<(), OutboxError> {
        Self::record(self, segments)
    }
    fn prune_and_pending(
        &mut self,
        certified: &dyn Fn(&LaneId) -> u64,
    ) -> Result<Vec<LaneSegment>, OutboxError> {
        Self::prune_and_pending(self, certified)
    }
    fn serve(&self, pull: &LanePull) -> Result<Vec<LaneSegment>, OutboxError> {
        Self::serve(self, pull)
    }
}

/// An in-memory outbox shared by the incarnations of one simulated host (it survives a
/// simulated crash, like the sled tree it stands for).
#[derive(Clone, Debug, Default)]
pub struct MemoryOutbox {
    segments: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<[u8; 13], LaneSegment>>>,
}

impl MemoryOutbox {
    /// What it holds: each segment's lane and first and last sequence, in lane and sequence
    /// order (for simulations' invariant checks, CS-I4).
    pub fn held(&self) -> Vec<(LaneId, u64, u64)> {
        self.segments
            .lock()
            .map(|map| {
                map.values()
                    .filter_map(|s| {
                        let (first, last) = (s.messages.first()?, s.messages.last()?);
                        Some((first.lane, first.sequence, last.sequence))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl OutboxStore for MemoryOutbox {
    fn record(&mut self, segments: &[LaneSegment]) -> Result<(), OutboxError> {
        let mut map = self
            .segments
            .lock()
            .map_err(|_| OutboxError::Corrupt("lock poisoned".into()))?;
        for s in segments {
            if let Some(first) = s.messages.first() {
                map.insert(key(&first.lane, first.sequence), s.clone());
            }
        }
        Ok(())
    }
    fn prune_and_pending(
        &mut self,
        certified: &dyn Fn(&LaneId) -> u64,
    ) -> Result<Vec<LaneSegment>, OutboxError> {
        let mut map = self
            .segments
            .lock()
            .map_err(|_| OutboxError::Corrupt("lock poisoned".into()))?;
        map.retain(|_, s| {
            s.messages
                .last()
                .is_some_and(|last| last.sequence > certified(&last.lane))
        });
        Ok(map.values().cloned().collect())
    }
    fn serve(&self, pull: &LanePull) -> Result<Vec<LaneSegment>, OutboxError> {
        let map = self
            .segments
            .lock()
            .map_err(|_| OutboxError::Corrupt("lock poisoned".into()))?;
        let range = key(&pull.lane, 0)..=key(&pull.lane, pull.last);
        answer(
            pull,
            map.range(range).map(|(k, s)| {
                Ok::<_, OutboxError>((first_of(k), canonical_bytes(s).len(), s.clone()))
            }),
        )
    }
}

/// The `outbox` tree: (lane, first sequence) → segment.
#[derive(Clone, Debug)]
pub struct Outbox {
    tree: sled::Tree,
}

fn key(lane: &LaneId, first: u64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[..2].copy_from_slice(&lane.source.0.to_be_bytes());
    k[2..4].copy_from_slice(&lane.destination.0.to_be_bytes());
    k[4] = match lane.class {
        LaneClass::Request => 0,
        LaneClass::Response => 1,
    };
    k[5..].copy_from_slice(&first.to_be_bytes());
    k
}

/// The first sequence a key names.
fn first_of(k: &[u8]) -> u64 {
    k.get(5..13)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

impl Outbox {
    /// Opens the outbox in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, OutboxError> {
        Ok(Self {
            tree: db.open_tree("outbox")?,
        })
    }

    /// Records a committed block's segments (reports, which carry no messages, are not kept).
    pub fn record(&self, segments: &[LaneSegment]) -> Result<(), OutboxError> {
        for s in segments {
            if let Some(first) = s.messages.first() {
                self.tree
                    .insert(key(&first.lane, first.sequence), canonical_bytes(s))?;
            }
        }
        Ok(())
    }

    /// CS-14: deletes the segments whose last message the destination certified executing;
    /// returns the rest (to push again), in key order.
    pub fn prune_and_pending(
        &self,
        certified: &dyn Fn(&LaneId) -> u64,
    ) -> Result<Vec<LaneSegment>, OutboxError> {
        let mut pending = Vec::new();
        for entry in &self.tree {
            let (k, v) = entry?;
            let s: LaneSegment =
                decode_canonical(&v).map_err(|e| OutboxError::Corrupt(e.to_string()))?;
            match s.messages.last() {
                Some(last) if last.sequence > certified(&last.lane) => pending.push(s),
                _ => {
                    self.tree.remove(k)?;
                }
            }
        }
        Ok(pending)
    }

    /// CS-16 (pull): the held segments of `pull.lane` overlapping its range (see
    /// [`OutboxStore::serve`]).
    pub fn serve(&self, pull: &LanePull) -> Result<Vec<LaneSegment>, OutboxError> {
        let range = key(&pull.lane, 0)..=key(&pull.lane, pull.last);
        answer(
            pull,
            self.tree.range(range).map(|entry| {
                let (k, v) = entry?;
                let s: LaneSegment =
                    decode_canonical(&v).map_err(|e| OutboxError::Corrupt(e.to_string()))?;
                Ok((first_of(&k), v.len(), s))
            }),
        )
    }

    /// Segments held.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use alloy_primitives::{Address, B256, U256};
    use shardnet_protocol::{
        BoundedVec, CrossShardMessage, FinalityProof, MessageBody, MultiProof, Origin, ShardId,
    };

    use super::*;

    fn segment(lane: LaneId, first: u64, n: u64, proof: &FinalityProof) -> LaneSegment {
        let messages = (first..first + n)
            .map(|sequence| CrossShardMessage {
                lane,
                sequence,
                origin: Origin {
                    tx_hash: B256::ZERO,
                    initiator: Address::ZERO,
                    depth: 0,
                },
                body: MessageBody::Transfer {
                    from: Address::ZERO,
                    to: Address::repeat_byte(1),
                    value: U256::from(sequence),
                },
            })
            .collect();
        LaneSegment {
            proof: proof.clone(),
            first_leaf: 0,
            messages: BoundedVec::try_from_vec(messages).unwrap(),
            outbox_proof: MultiProof::default(),
        }
    }

    #[test]
    fn keeps_until_certified_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let outbox = Outbox::open(&db).unwrap();
        let committee = shardnet_protocol::Committee::new(
            shardnet_protocol::ChainId(1),
            ShardId(0),
            shardnet_protocol::Epoch(0),
            vec![shardnet_protocol::Member {
                public_key: shardnet_protocol::SecretKey::from_bytes(&[1; 32]).public_key(),
                stake: shardnet_protocol::Stake(1),
                network_address: String::new(),
            }],
        )
        .unwrap();
        let genesis = shardnet_consensus::genesis_block(&committee, 0, Default::default());
        let proof = FinalityProof::direct(
            genesis.header.clone(),
            genesis.header.clone(),
            shardnet_protocol::QuorumCert::genesis(genesis.hash()),
        );
        let to1 = LaneId {
            source: ShardId(0),
            destination: ShardId(1),
            class: LaneClass::Request,
        };
        let to2 = LaneId {
            destination: ShardId(2),
            ..to1
        };
        outbox
            .record(&[segment(to1, 1, 3, &proof), segment(to2, 1, 1, &proof)])
            .unwrap();
        outbox.record(&[segment(to1, 4, 2, &proof)]).unwrap();
        assert_eq!(outbox.len(), 3);
        // Lane to 1 certified up to 3: its first segment goes, the second stays.
        // Pulls: by overlap with the range, in sequence order, one lane only.
        let pull = |lane, first, last| LanePull { lane, first, last };
        let firsts = |v: Vec<LaneSegment>| -> Vec<u64> {
            v.iter().map(|s| s.messages[0].sequence).collect()
        };
        assert_eq!(firsts(outbox.serve(&pull(to1, 1, 9)).unwrap()), [1, 4]);
        assert_eq!(firsts(outbox.serve(&pull(to1, 3, 4)).unwrap()), [1, 4]);
        assert_eq!(firsts(outbox.serve(&pull(to1, 5, 5)).unwrap()), [4]);
        assert_eq!(firsts(outbox.serve(&pull(to1, 6, 9)).unwrap()), [0u64; 0]);
        assert_eq!(firsts(outbox.serve(&pull(to2, 1, 1)).unwrap()), [1]);
        let memory = MemoryOutbox::default();
        let mut m = memory.clone();
        m.record(&[segment(to1, 1, 3, &proof), segment(to2, 1, 1, &proof)])
            .unwrap();
        m.record(&[segment(to1, 4, 2, &proof)]).unwrap();
        assert_eq!(firsts(memory.serve(&pull(to1, 3, 4)).unwrap()), [1, 4]);
        assert_eq!(firsts(memory.serve(&pull(to1, 5, 9)).unwrap()), [4]);
        let pending = outbox
            .prune_and_pending(&|l| if *l == to1 { 3 } else { 0 })
            .unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].messages[0].sequence, 4);
        drop(outbox);
        let outbox = Outbox::open(&db).unwrap();
        assert_eq!(outbox.len(), 2);
        let pending = outbox.prune_and_pending(&|_| 5).unwrap();
        assert!(pending.is_empty());
        assert!(outbox.is_empty());
    }
}
