//! Finality proofs: what lets any shard check, offline, that another shard committed a block.
//!
//! Under the 2-chain commit rule (`specs/consensus.md` C-7) a block `D` is committed once a
//! QC forms on a child `C` with `C.parent = hash(D)` and `C.round = D.round + 1`; every
//! ancestor of `D` is committed with it. The proof of a block `B` is `B`'s header, the headers
//! from `B`'s child up to `C` (`chain`), and `C`'s QC. When `B` is itself directly committed
//! — the usual case — `chain` is just `[C]`: three values, no history to replay.

use serde::{Deserialize, Serialize};

use crate::block::BlockHeader;
use crate::bounded::BoundedVec;
use crate::cert::{CertError, QuorumCert};
use crate::committee::{Committee, Committees};
use crate::limits::MAX_FINALITY_CHAIN;
use crate::types::Height;

/// Proof that `header` is final in its shard (W-3.7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FinalityProof {
    /// The committed block's header.
    pub header: BlockHeader,
    /// Descendants of `header`, child first; the last two are consecutive in round (the last
    /// one's predecessor is `header` itself when the chain has one element).
    pub chain: BoundedVec<BlockHeader, MAX_FINALITY_CHAIN>,
    /// A quorum certificate on the last header of `chain`.
    pub qc: QuorumCert,
}

impl FinalityProof {
    /// The proof of a directly committed block: its header, its child one round later, and
    /// the child's QC.
    pub fn direct(header: BlockHeader, child: BlockHeader, qc: QuorumCert) -> Self {
        let mut chain = BoundedVec::new();
        // A one-element chain is always within the limit.
        let _ = chain.try_push(child);
        Self { header, chain, qc }
    }

    /// The certified block at the end of the chain.
    pub fn certified(&self) -> Option<&BlockHeader> {
        self.chain.last()
    }

    /// Checks the proof against the committees every shard knows (W-3.7).
    pub fn verify(&self, committees: &Committees) -> Result<(), CertError> {
        let h = &self.header;
        let committee = committees
            .get(h.shard, h.epoch)
            .ok_or(CertError::UnknownCommittee {
                shard: h.shard,
                epoch: h.epoch,
            })?;
        self.verify_with(committee)
    }

    /// Checks the proof against the committee of its shard and epoch.
    pub fn verify_with(&self, committee: &Committee) -> Result<(), CertError> {
        let h = &self.header;
        if h.shard != committee.shard() || h.epoch != committee.epoch() {
            return Err(CertError::UnknownCommittee {
                shard: h.shard,
                epoch: h.epoch,
            });
        }
        if h.chain_id != committee.chain_id() {
            return Err(CertError::BrokenProof(
                "chain id differs from the committee's",
            ));
        }
        let mut prev = h;
        let mut before_last = h;
        for c in &self.chain {
            if c.chain_id != h.chain_id || c.shard != h.shard || c.epoch != h.epoch {
                return Err(CertError::BrokenProof(
                    "descendant is in another chain, shard or epoch",
                ));
            }
            // Not `Height::next`, which saturates: at `u64::MAX` it would accept a child at
            // the same height.
            let next_height = prev.height.0.checked_add(1).map(Height);
            if c.parent != prev.hash() || Some(c.height) != next_height || c.round <= prev.round {
                return Err(CertError::BrokenProof(
                    "descendants do not extend the header",
                ));
            }
            before_last = prev;
            prev = c;
        }
        let last = self
            .certified()
            .ok_or(CertError::BrokenProof("no descendant"))?;
        if last.round != before_last.round.next() {
            return Err(CertError::BrokenProof(
                "certified block is not one round after its parent",
            ));
        }
        let d = &self.qc.data;
        if d.block != last.hash() || d.round != last.round || d.height != last.height {
            return Err(CertError::BrokenProof(
                "QC does not certify the last descendant",
            ));
        }
        self.qc.verify(committee)
    }
}
