//! Offline verification of a received lane segment (CS-8): the source block is final, the
//! messages are in its certified outbox, and they belong to one lane into this shard.

use shardnet_protocol::{CertError, Committees, LaneSegment, MerkleError, ShardId};

/// Why a segment was refused. Every variant is the relayer's (or forger's) fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// The finality proof does not verify against the source's committee.
    #[error("finality proof: {0}")]
    Finality(#[from] CertError),
    /// The messages are not in the certified outbox.
    #[error("outbox proof: {0}")]
    Outbox(#[from] MerkleError),
    /// No messages.
    #[error("empty segment")]
    Empty,
    /// The messages are not one lane from the proven shard into this one.
    #[error("lane {0}")]
    WrongLane(&'static str),
    /// Sequences are not consecutive.
    #[error("sequences are not consecutive")]
    Gap,
    /// Leaf positions overflow.
    #[error("leaf positions overflow")]
    Overflow,
}

/// Checks `segment` as received by shard `me` (CS-8). Costs one certificate verification and
/// one multiproof; needs nothing but the committees.
pub fn verify_segment(
    segment: &LaneSegment,
    committees: &Committees,
    me: ShardId,
) -> Result<(), SegmentError> {
    let first = segment.messages.first().ok_or(SegmentError::Empty)?;
    let lane = first.lane;
    if lane.destination != me {
        return Err(SegmentError::WrongLane("is for another destination"));
    }
    if lane.source != segment.proof.header.shard {
        return Err(SegmentError::WrongLane(
            "source differs from the proven block's shard",
        ));
    }
    let mut items = Vec::with_capacity(segment.messages.len());
    for (i, m) in segment.messages.iter().enumerate() {
        if m.lane != lane {
            return Err(SegmentError::WrongLane("mixes lanes"));
        }
        let expected = first
            .sequence
            .checked_add(i as u64)
            .ok_or(SegmentError::Overflow)?;
        if m.sequence != expected {
            return Err(SegmentError::Gap);
        }
        let position = segment
            .first_leaf
            .checked_add(i as u64)
            .ok_or(SegmentError::Overflow)?;
        items.push((position, m.leaf_hash()));
    }
    segment.proof.verify(committees)?;
    segment
        .outbox_proof
        .verify(&segment.proof.header.execution.outbox_root, &items)?;
    Ok(())
}

/// Checks a watermark report received by shard `me`: a segment without messages whose only
/// content is a finality-proven header of another shard, carrying that shard's inbound
/// watermarks (CS-14, CS-15).
pub fn verify_report(
    report: &LaneSegment,
    committees: &Committees,
    me: ShardId,
) -> Result<(), SegmentError> {
    if !report.messages.is_empty() {
        return Err(SegmentError::WrongLane("a report carries no messages"));
    }
    if report.proof.header.shard == me {
        return Err(SegmentError::WrongLane("a report comes from another shard"));
    }
    report.proof.verify(committees)?;
    Ok(())
}
