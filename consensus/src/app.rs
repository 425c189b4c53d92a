//! The seam between consensus and the chain: the [`Application`] trait, and [`drive`], a
//! synchronous loop that answers the core's requests with an application and a safety store.

use std::sync::Arc;

use shardnet_protocol::{
    Block, BlockHash, BlockHeader, Committee, ExecutionCommitment, Height, Payload, QuorumCert,
    Round, ValidatorIndex,
};

use crate::core::{Core, Input, Output, PayloadRequest};
use crate::messages::CommittedBlock;
use crate::safety_store::{SafetyStore, StoreError};

/// What a chain plugs into consensus. `shard-exec` implements it with revm; a chain builder
/// implements it to order their own payloads.
///
/// Calls arrive in a deterministic order for a given input sequence. `build` and `verify`
/// may be asked about blocks that never commit (forks); `commit` is called exactly once per
/// committed block, in height order.
pub trait Application {
    /// Builds a payload on top of `request.parent` and executes it speculatively, returning
    /// the commitment the header will carry. `ancestors` are the uncommitted blocks from just
    /// above the committed head up to and including the parent, oldest first (empty when the
    /// parent is the committed head): an application that has not executed some of them (after
    /// a restart, or for blocks learnt by sync) executes them first.
    fn build(
        &mut self,
        request: &PayloadRequest,
        ancestors: &[Arc<Block>],
    ) -> (Payload, ExecutionCommitment);

    /// Re-executes a proposed block on its parent and accepts it iff the payload is valid and
    /// the header's execution commitment matches (S-5). `ancestors` as for [`Self::build`].
    fn verify(&mut self, block: &Block, ancestors: &[Arc<Block>]) -> bool;

    /// A block is final: apply it durably.
    fn commit(&mut self, committed: &CommittedBlock);
}

/// The safety store failed: the validator must stop.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// Persisting safety data failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the core until it has no more outputs, answering payload, verification and
/// persistence requests synchronously and handing everything else (sends, broadcasts,
/// timers, faults, evidence, and commits after the application saw them) to `sink`.
pub fn drive<A: Application, S: SafetyStore>(
    core: &mut Core,
    app: &mut A,
    store: &mut S,
    now_ms: u64,
    mut sink: impl FnMut(Output),
) -> Result<(), DriveError> {
    while let Some(output) = core.poll_output() {
        match output {
            Output::RequestPayload(req) => {
                let ancestors = core.uncommitted_chain(&req.parent.hash());
                let (payload, execution) = app.build(&req, &ancestors);
                core.handle(
                    now_ms,
                    Input::PayloadBuilt {
                        round: req.round,
                        payload,
                        execution,
                    },
                );
            }
            Output::VerifyPayload(block) => {
                let ancestors = core.uncommitted_chain(&block.header.parent);
                let valid = app.verify(&block, &ancestors);
                core.handle(
                    now_ms,
                    Input::PayloadVerdict {
                        block: block.hash(),
                        valid,
                    },
                );
            }
            Output::Persist { id, data, blocks } => {
                store.persist_blocks(&blocks)?;
                store.persist(&data)?;
                core.handle(now_ms, Input::Persisted { id });
            }
            Output::Commit(c) => {
                app.commit(&c);
                store.prune_blocks(c.block.header.height)?;
                sink(Output::Commit(c));
            }
            other => sink(other),
        }
    }
    Ok(())
}

/// The genesis block of `committee`'s shard: height 0, round 0, an empty payload and the
/// application's genesis execution commitment.
pub fn genesis_block(
    committee: &Committee,
    timestamp_ms: u64,
    execution: ExecutionCommitment,
) -> Block {
    let payload = Payload::default();
    let header = BlockHeader {
        chain_id: committee.chain_id(),
        shard: committee.shard(),
        epoch: committee.epoch(),
        height: Height(0),
        round: Round(0),
        parent: BlockHash::GENESIS_PARENT,
        proposer: ValidatorIndex(0),
        timestamp_ms,
        payload_root: payload.root(),
        execution,
    };
    Block {
        header,
        justify: QuorumCert::genesis(BlockHash::GENESIS_PARENT),
        payload,
    }
}
