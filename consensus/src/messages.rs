//! What validators of one shard say to each other (`specs/wire.md`, `specs/consensus.md`).

use serde::{Deserialize, Serialize};
use shardnet_protocol::limits::MAX_SYNC_BLOCKS;
use shardnet_protocol::{
    Block, BlockHash, BoundedVec, CertError, Committee, Domain, FinalityProof, Height, Round,
    SecretKey, Signature, Timeout, TimeoutCert, ValidatorIndex, Vote,
};

/// What a proposal signs: one block in one round (C-6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProposalData {
    /// The proposed block.
    pub block: BlockHash,
    /// Its round.
    pub round: Round,
}

/// A leader's signature on a proposal, without the block: enough for evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    /// What was proposed.
    pub data: ProposalData,
    /// The leader.
    pub proposer: ValidatorIndex,
    /// Signature in [`Domain::Proposal`].
    pub signature: Signature,
}

impl SignedProposal {
    /// Checks the signature against the committee.
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let member = committee
            .member(self.proposer)
            .ok_or(CertError::NotMember(self.proposer))?;
        member
            .public_key
            .verify(
                Domain::Proposal,
                &committee.signing_context(),
                &self.data,
                &self.signature,
            )
            .map_err(|_| CertError::BadSignature(self.proposer))
    }
}

/// A leader's block for its round, with the TC that let it skip ahead (if any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The block; `block.justify` is the QC it extends.
    pub block: Block,
    /// The TC of the previous round, when the leader entered its round by timeout.
    pub tc: Option<TimeoutCert>,
    /// The leader's signature over [`ProposalData`].
    pub signature: Signature,
}

impl Proposal {
    /// Signs a proposal.
    pub fn sign(
        committee: &Committee,
        key: &SecretKey,
        block: Block,
        tc: Option<TimeoutCert>,
    ) -> Self {
        let data = ProposalData {
            block: block.hash(),
            round: block.header.round,
        };
        let signature = key.sign(Domain::Proposal, &committee.signing_context(), &data);
        Self {
            block,
            tc,
            signature,
        }
    }

    /// The signed statement, detached from the block.
    pub fn signed(&self) -> SignedProposal {
        SignedProposal {
            data: ProposalData {
                block: self.block.hash(),
                round: self.block.header.round,
            },
            proposer: self.block.header.proposer,
            signature: self.signature,
        }
    }
}

/// A committed block with the proof that it is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// Its finality proof (C-8).
    pub proof: FinalityProof,
}

/// Every consensus message on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusMessage {
    /// A leader's block.
    Proposal(Box<Proposal>),
    /// A vote, sent to the next leader.
    Vote(Vote),
    /// A timeout, broadcast, with the TC by which the sender entered its round (P-2), so a
    /// validator that missed that TC catches up (P-4).
    Timeout(Box<Timeout>, Option<Box<TimeoutCert>>),
    /// Asks for the chain of up to `count` blocks ending at `hash` (B-3).
    BlockRequest {
        /// The newest block wanted.
        hash: BlockHash,
        /// How many blocks back from it.
        count: u16,
    },
    /// Blocks answering a [`ConsensusMessage::BlockRequest`], newest first.
    BlockResponse(BoundedVec<Block, MAX_SYNC_BLOCKS>),
    /// Asks for committed blocks from `from` upward (B-4).
    CommittedRequest {
        /// The lowest height wanted.
        from: Height,
    },
    /// Committed blocks with proofs, ascending height.
    CommittedResponse(BoundedVec<CommittedBlock, MAX_SYNC_BLOCKS>),
}

impl ConsensusMessage {
    /// A short name, for traces and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Proposal(_) => "proposal",
            Self::Vote(_) => "vote",
            Self::Timeout(..) => "timeout",
            Self::BlockRequest { .. } => "block-request",
            Self::BlockResponse(_) => "block-response",
            Self::CommittedRequest { .. } => "committed-request",
            Self::CommittedResponse(_) => "committed-response",
        }
    }
}

/// Proof that a validator signed two conflicting statements in one round (E-1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// Two votes for different blocks in one round.
    DoubleVote(Vote, Vote),
    /// Two proposals of different blocks in one round.
    DoubleProposal(SignedProposal, SignedProposal),
}

impl Evidence {
    /// The validator at fault.
    pub fn offender(&self) -> ValidatorIndex {
        match self {
            Self::DoubleVote(a, _) => a.signer,
            Self::DoubleProposal(a, _) => a.proposer,
        }
    }

    /// The round of the conflict.
    pub fn round(&self) -> Round {
        match self {
            Self::DoubleVote(a, _) => a.data.round,
            Self::DoubleProposal(a, _) => a.data.round,
        }
    }

    /// Checks, with nothing but the committee, that the evidence convicts its offender.
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let conflicting = match self {
            Self::DoubleVote(a, b) => {
                a.verify(committee)?;
                b.verify(committee)?;
                a.signer == b.signer && a.data.round == b.data.round && a.data.block != b.data.block
            }
            Self::DoubleProposal(a, b) => {
                a.verify(committee)?;
                b.verify(committee)?;
                a.proposer == b.proposer
                    && a.data.round == b.data.round
                    && a.data.block != b.data.block
            }
        };
        if conflicting {
            Ok(())
        } else {
            Err(CertError::BrokenProof("statements do not conflict"))
        }
    }
}
