//! The 2-chain commit rule (C-7) and finality proofs (C-8).

use std::sync::Arc;

use shardnet_protocol::{BoundedVec, FinalityProof, QuorumCert};

use super::{Core, Output};
use crate::messages::CommittedBlock;

impl Core {
    /// C-7: a QC on `C` whose parent `D` is one round earlier commits `D` and its ancestors.
    pub(super) fn try_commit(&mut self, qc: &QuorumCert) {
        let Some(certified) = self.tree.get(&qc.block()).cloned() else {
            return;
        };
        let Some(parent) = self.tree.get(&certified.header.parent).cloned() else {
            return;
        };
        if certified.header.round != parent.header.round.next()
            || parent.header.height <= self.tree.committed_height()
        {
            return;
        }
        let Some(path) = self.tree.path_from_committed(&parent.hash()) else {
            return;
        };
        // Headers after each committed block up to the certified one, for its proof (C-8).
        let mut tail: Vec<_> = path.iter().map(|b| b.header.clone()).collect();
        tail.push(certified.header.clone());
        // Reputation (C-5): every block on the path produced its round; only the rounds
        // between consecutive committed blocks failed.
        for block in &path {
            self.leaders.observe_committed_block(block);
        }
        for (i, block) in path.iter().enumerate() {
            let chain = BoundedVec::try_from_vec(tail[i + 1..].to_vec()).unwrap_or_else(|_| {
                // Longer than MAX_FINALITY_CHAIN: keep the proof verifiable by anchoring on
                // the tail (the block is still committed, and its successors' proofs cover it).
                BoundedVec::try_from_vec(tail[tail.len() - 1..].to_vec()).unwrap_or_default()
            });
            let proof = FinalityProof {
                header: block.header.clone(),
                chain,
                qc: qc.clone(),
            };
            let committed = Arc::new(CommittedBlock {
                block: shardnet_protocol::Block::clone(block),
                proof,
            });
            self.record_commit(committed);
        }
        self.tree.advance_committed(parent.hash());
    }

    pub(super) fn record_commit(&mut self, committed: Arc<CommittedBlock>) {
        self.committed_log.push_back(Arc::clone(&committed));
        while self.committed_log.len() > self.cfg.retained_committed {
            self.committed_log.pop_front();
        }
        self.outputs.push_back(Output::Commit(committed));
    }
}
