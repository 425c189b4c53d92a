//! Shared test helpers: deterministic keys and committees, block and certificate builders,
//! a test [`Application`], a crash-injecting [`SafetyStore`], and [`Cluster`], a tiny
//! deterministic in-process harness that steps N [`Core`]s with a manual clock.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use shardnet_consensus::{
    Application, CommittedBlock, Config, ConsensusMessage, Core, MemorySafetyStore, Output,
    PayloadRequest, Proposal, Recovery, SafetyData, SafetyStore, StoreError, genesis_block,
};
use shardnet_protocol::{
    Block, BlockHash, BlockHeader, ChainId, Committee, Epoch, ExecutionCommitment, Height, Member,
    Payload, QuorumCert, Round, SecretKey, ShardId, Stake, Timeout, TimeoutCert, ValidatorIndex,
    Vote, VoteData,
};

pub const CHAIN: ChainId = ChainId(7);

// ---------------------------------------------------------------------------------------------
// Keys, committees, genesis.

/// The deterministic key of validator `i`.
pub fn key(i: usize) -> SecretKey {
    SecretKey::from_bytes(&[u8::try_from(i).unwrap() + 1; 32])
}

/// Keys of validators `0..n`.
pub fn keys(n: usize) -> Vec<SecretKey> {
    (0..n).map(key).collect()
}

pub fn vi(i: usize) -> ValidatorIndex {
    ValidatorIndex(u16::try_from(i).unwrap())
}

/// A committee of `stakes.len()` validators with these stakes, keyed by [`key`].
pub fn committee(stakes: &[u64]) -> Committee {
    let members = stakes
        .iter()
        .enumerate()
        .map(|(i, &s)| Member {
            public_key: key(i).public_key(),
            stake: Stake(s),
            network_address: format!("127.0.0.1:{}", 9000 + i),
        })
        .collect();
    Committee::new(CHAIN, ShardId(0), Epoch(0), members).unwrap()
}

pub fn genesis(c: &Committee) -> Arc<Block> {
    Arc::new(genesis_block(c, 0, ExecutionCommitment::default()))
}

// ---------------------------------------------------------------------------------------------
// Blocks and certificates.

pub fn vote_data(b: &Block) -> VoteData {
    VoteData {
        block: b.hash(),
        round: b.header.round,
        height: b.header.height,
    }
}

/// A well-formed child of `parent` in `round`, justified by `justify`.
pub fn child(parent: &Block, round: u64, justify: QuorumCert, proposer: ValidatorIndex) -> Block {
    let payload = Payload::default();
    let header = BlockHeader {
        chain_id: parent.header.chain_id,
        shard: parent.header.shard,
        epoch: parent.header.epoch,
        height: parent.header.height.next(),
        round: Round(round),
        parent: parent.hash(),
        proposer,
        timestamp_ms: parent.header.timestamp_ms + 1,
        payload_root: payload.root(),
        execution: ExecutionCommitment::default(),
    };
    Block {
        header,
        justify,
        payload,
    }
}

/// Re-seals a block after its header was edited by hand (keeps it otherwise as is).
pub fn with_header(mut b: Block, edit: impl FnOnce(&mut BlockHeader)) -> Block {
    edit(&mut b.header);
    b
}

pub fn sign_vote(c: &Committee, i: usize, data: VoteData) -> Vote {
    Vote::sign(c, &key(i), vi(i), data)
}

/// A QC on `b` signed by `signers` (the genesis QC for a height-0 block).
pub fn qc_by(c: &Committee, signers: &[usize], b: &Block) -> QuorumCert {
    if b.header.height.0 == 0 {
        return QuorumCert::genesis(b.hash());
    }
    let data = vote_data(b);
    let votes: Vec<Vote> = signers.iter().map(|&i| sign_vote(c, i, data)).collect();
    QuorumCert::aggregate(c, data, &votes)
}

/// A QC on `b` signed by every member.
pub fn qc(c: &Committee, b: &Block) -> QuorumCert {
    let all: Vec<usize> = (0..c.len()).collect();
    qc_by(c, &all, b)
}

/// A TC for `round` where signer `i` reports `high_qcs[i]` (every member signs).
pub fn tc(c: &Committee, round: u64, high_qcs: &[QuorumCert]) -> TimeoutCert {
    let ts: Vec<Timeout> = high_qcs
        .iter()
        .enumerate()
        .map(|(i, q)| Timeout::sign(c, &key(i), vi(i), Round(round), q.clone()))
        .collect();
    TimeoutCert::aggregate(c, Round(round), &ts)
}

/// A chain of blocks on `base`, one per round in `rounds`, each justified by a full QC on its
/// parent. Proposer is validator 0 (tree tests do not check leaders).
pub fn chain(c: &Committee, base: &Block, rounds: &[u64]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for &r in rounds {
        let parent = out.last().unwrap_or(base).clone();
        out.push(child(&parent, r, qc(c, &parent), vi(0)));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Application and store.

/// Empty payloads, accepts everything except hashes in `reject`, records commits (and checks
/// they come exactly once, in height order).
#[derive(Debug, Default)]
pub struct TestApp {
    pub committed: Vec<Arc<CommittedBlock>>,
    pub reject: BTreeSet<BlockHash>,
    pub built: u64,
}

impl Application for TestApp {
    fn build(&mut self, _: &PayloadRequest, _: &[Arc<Block>]) -> (Payload, ExecutionCommitment) {
        self.built += 1;
        (Payload::default(), ExecutionCommitment::default())
    }

    fn verify(&mut self, block: &Block, _: &[Arc<Block>]) -> bool {
        !self.reject.contains(&block.hash())
    }

    fn commit(&mut self, c: &CommittedBlock) {
        if let Some(last) = self.committed.last() {
            assert_eq!(
                c.block.header.height,
                last.block.header.height.next(),
                "commits come exactly once, in height order"
            );
            assert_eq!(
                c.block.header.parent,
                last.block.hash(),
                "commits form a chain"
            );
        }
        self.committed.push(Arc::new(c.clone()));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// The process dies before the data reaches the disk.
    BeforePersist,
    /// The data is durable but the process dies before telling the core.
    AfterPersist,
}

/// A memory store that can be told to "crash" at its k-th persist. Blocks handed to
/// `persist_blocks` become durable only with the next successful `persist` (the weakest the
/// contract allows), so a crash before it loses them too.
#[derive(Clone, Debug, Default)]
pub struct TestStore {
    pub inner: MemorySafetyStore,
    pub unflushed: Vec<Arc<Block>>,
    pub persists: u64,
    pub crash_at: Option<(u64, CrashPoint)>,
}

impl TestStore {
    /// What a crash loses.
    pub fn lose_unflushed(&mut self) {
        self.unflushed.clear();
    }
}

impl SafetyStore for TestStore {
    fn load(&self) -> Result<Option<SafetyData>, StoreError> {
        self.inner.load()
    }

    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError> {
        self.persists += 1;
        let crash = match self.crash_at {
            Some((k, point)) if k == self.persists => Some(point),
            _ => None,
        };
        if crash == Some(CrashPoint::BeforePersist) {
            self.crash_at = None;
            self.unflushed.clear();
            return Err(StoreError::Crashed);
        }
        let blocks = std::mem::take(&mut self.unflushed);
        self.inner.persist_blocks(&blocks)?;
        self.inner.persist(data)?;
        if crash == Some(CrashPoint::AfterPersist) {
            self.crash_at = None;
            return Err(StoreError::Crashed);
        }
        Ok(())
    }

    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), StoreError> {
        self.unflushed.extend(blocks.iter().cloned());
        Ok(())
    }

    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, StoreError> {
        self.inner.load_blocks()
    }

    fn prune_blocks(&mut self, committed: Height) -> Result<(), StoreError> {
        self.unflushed.retain(|b| b.header.height > committed);
        self.inner.prune_blocks(committed)
    }
}

// ---------------------------------------------------------------------------------------------
// Lone cores (unit tests of the state machine).

/// Drains a core's outputs without answering anything.
pub fn drain(core: &mut Core) -> Vec<Output> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

/// A fresh core for validator `i` of `c`.
pub fn fresh_core(c: &Committee, i: usize, cfg: Config) -> Core {
    Core::new(cfg, c.clone(), Some((vi(i), key(i))), fresh_recovery(c))
}

/// What a validator that never ran recovers.
pub fn fresh_recovery(c: &Committee) -> Recovery {
    Recovery {
        genesis: genesis(c),
        safety: None,
        committed: Vec::new(),
        blocks: Vec::new(),
    }
}

/// Signs a proposal of `block` with validator `i`'s key.
pub fn propose(c: &Committee, i: usize, block: Block, tc: Option<TimeoutCert>) -> Proposal {
    Proposal::sign(c, &key(i), block, tc)
}

pub fn msg_proposal(p: Proposal) -> ConsensusMessage {
    ConsensusMessage::Proposal(Box::new(p))
}

/// The first round `>= from` whose leader is `who`, per the core's election.
pub fn round_led_by(core: &Core, who: usize, from: u64) -> u64 {
    (from..from + 10_000)
        .find(|&r| core.leader(Round(r)) == vi(who))
        .unwrap()
}

mod cluster;
#[allow(unused_imports)]
pub use cluster::*;
