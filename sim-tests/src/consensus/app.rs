//! A deterministic stand-in for execution: payloads are distinct per proposer and round,
//! and the "state root" is a hash of the parent and the payload, so a validator can check a
//! block's commitment from the block alone.

use shardnet_consensus::{Application, CommittedBlock, PayloadRequest};
use shardnet_protocol::{Block, BlockHash, ExecutionCommitment, Hash32, Payload, RawTransaction};

/// What a simulated validator's application has committed (its durable ledger).
#[derive(Debug, Default, Clone)]
pub(crate) struct SimApp {
    pub(crate) committed: Vec<std::sync::Arc<CommittedBlock>>,
}

pub(crate) fn commitment(parent: &BlockHash, payload: &Payload) -> ExecutionCommitment {
    let mut h = blake3::Hasher::new();
    h.update(&parent.0.0);
    h.update(&payload.root().0);
    ExecutionCommitment {
        state_root: Hash32(*h.finalize().as_bytes()),
        ..Default::default()
    }
}

impl Application for SimApp {
    fn build(
        &mut self,
        req: &PayloadRequest,
        _: &[std::sync::Arc<Block>],
    ) -> (Payload, ExecutionCommitment) {
        let tx = format!("tx h{} r{}", req.height.0, req.round.0).into_bytes();
        let mut payload = Payload::default();
        if let Ok(tx) = RawTransaction::try_from_vec(tx) {
            // One small transaction always fits.
            let _ = payload.transactions.try_push(tx);
        }
        let execution = commitment(&req.parent.hash(), &payload);
        (payload, execution)
    }

    fn verify(&mut self, block: &Block, _: &[std::sync::Arc<Block>]) -> bool {
        block.header.execution == commitment(&block.header.parent, &block.payload)
    }

    fn commit(&mut self, committed: &CommittedBlock) {
        self.committed.push(std::sync::Arc::new(committed.clone()));
    }
}
