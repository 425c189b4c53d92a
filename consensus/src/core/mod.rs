//! The consensus state machine: `handle(now_ms, Input)`, then drain [`Output`]s (M-2).
//!
//! The core is split by concern: `propose.rs` (leading and voting), `pacemaker.rs` (rounds
//! and timeouts), `commit.rs` (the 2-chain rule and finality proofs), `sync.rs` (fetching
//! missing and committed blocks). This file holds the state, the inputs and outputs, and the
//! dispatch.

mod commit;
mod pacemaker;
mod propose;
mod sync;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use shardnet_protocol::{
    Block, BlockHash, CertError, Committee, ExecutionCommitment, Hash32, Height, Payload,
    QuorumCert, Round, SecretKey, Signature, Timeout, TimeoutCert, ValidatorIndex, codec,
};

use crate::block_tree::BlockTree;
use crate::config::Config;
use crate::leader::LeaderElection;
use crate::messages::{CommittedBlock, ConsensusMessage, Evidence, Proposal};
use crate::safety::SafetyData;
use crate::votes::{ProposalLog, TimeoutCollector, VoteCollector};

/// Verified certificates remembered; the cache is cleared when full.
const VERIFIED_CACHE: usize = 4096;

/// A timer the shell must fire back as [`Input::Timer`] at `at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerId {
    /// The round timer (P-1); also re-arms timeout re-broadcasts (P-2).
    Round(Round),
    /// Retry of a sync request.
    Sync(u64),
    /// The leader may propose in this round now (`min_block_interval_ms`).
    Propose(Round),
}

/// What the application is asked to build on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadRequest {
    /// The round to propose in.
    pub round: Round,
    /// Height of the new block.
    pub height: Height,
    /// The parent block it will extend.
    pub parent: Arc<Block>,
    /// The timestamp the header will carry (the application executes with it).
    pub timestamp_ms: u64,
    /// The proposer (this validator), e.g. to pick the fee recipient.
    pub proposer: ValidatorIndex,
}

/// Everything the core can be told.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from a committee member (the shell has authenticated the sender).
    Message {
        /// Sender.
        from: ValidatorIndex,
        /// What it said.
        message: ConsensusMessage,
    },
    /// A timer set by [`Output::SetTimer`] fired.
    Timer(TimerId),
    /// The application built the payload asked for by [`Output::RequestPayload`].
    PayloadBuilt {
        /// The round it was asked for.
        round: Round,
        /// The payload.
        payload: Payload,
        /// What executing it on the parent produced.
        execution: ExecutionCommitment,
    },
    /// The application's verdict on [`Output::VerifyPayload`] (S-5).
    PayloadVerdict {
        /// The block checked.
        block: BlockHash,
        /// Whether its payload and execution commitment are valid.
        valid: bool,
    },
    /// The safety data of [`Output::Persist`] with this id (and all earlier) is durable.
    Persisted {
        /// The id from the output.
        id: u64,
    },
}

/// Misbehaviour seen from a peer (reported, not necessarily provably Byzantine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A signature or certificate did not verify.
    InvalidCert(CertError),
    /// A proposal from a validator that does not lead the round.
    NotLeader(Round),
    /// A block that does not extend its parent correctly.
    MalformedBlock(&'static str),
    /// A sync answer that does not match what was asked.
    BadSyncResponse(&'static str),
}

/// Everything the core asks its shell to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send to one committee member.
    Send {
        /// Recipient.
        to: ValidatorIndex,
        /// Message.
        message: ConsensusMessage,
    },
    /// Send to every other committee member.
    Broadcast(ConsensusMessage),
    /// Fire [`Input::Timer`] at `at_ms`.
    SetTimer {
        /// Which timer.
        timer: TimerId,
        /// When, in the same clock as `now_ms`.
        at_ms: u64,
    },
    /// Build a payload and answer with [`Input::PayloadBuilt`].
    RequestPayload(PayloadRequest),
    /// Check a block's payload and answer with [`Input::PayloadVerdict`].
    VerifyPayload(Arc<Block>),
    /// Make this durable, then answer with [`Input::Persisted`] (S-4).
    Persist {
        /// Monotone id.
        id: u64,
        /// The data.
        data: SafetyData,
        /// Blocks to add to the durable block store (those voted for): if every validator
        /// that voted for a block crashes, its QC must not outlive the block itself.
        blocks: Vec<Arc<Block>>,
    },
    /// A block is final; outputs come in height order, each exactly once.
    Commit(Arc<CommittedBlock>),
    /// A peer misbehaved.
    Fault {
        /// The peer.
        peer: ValidatorIndex,
        /// How.
        fault: Fault,
    },
    /// Provable equivocation, reported once per offender and round.
    Evidence(Evidence),
}

/// What a validator recovers from disk to restart.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The genesis block of the shard.
    pub genesis: Arc<Block>,
    /// The last durable safety data, if any.
    pub safety: Option<SafetyData>,
    /// The most recent committed blocks with their proofs (up to `retained_committed`,
    /// ascending by height; the last is the committed head), read from the ledger. Empty
    /// before the first commit. They let the validator serve catch-up sync (B-4) at once.
    pub committed: Vec<Arc<CommittedBlock>>,
    /// Uncommitted blocks made durable before voting for them (S-4), in any order.
    pub blocks: Vec<Arc<Block>>,
}

/// Something withheld until the safety data it depends on is durable (S-4).
#[derive(Debug)]
enum Held {
    Output(Output),
    LocalVote(shardnet_protocol::Vote),
    LocalTimeout(Box<Timeout>),
}

/// The consensus core of one validator (or observer, without a key) of one shard.
#[derive(Debug)]
pub struct Core {
    cfg: Config,
    committee: Committee,
    me: Option<(ValidatorIndex, SecretKey)>,
    leaders: LeaderElection,
    genesis: BlockHash,

    // Safety (S-1..S-4).
    safety: SafetyData,
    next_persist_id: u64,
    durable_id: u64,
    held: VecDeque<(u64, Held)>,

    // Pacemaker.
    round: Round,
    high_qc: QuorumCert,
    high_tc: Option<TimeoutCert>,
    consecutive_timeouts: u32,
    my_timeout: Option<Timeout>,
    round_deadline_ms: u64,
    /// Local time this round was entered (C-6 pacing is bounded by it).
    round_entered_ms: u64,

    // Blocks.
    tree: BlockTree,
    committed_log: VecDeque<Arc<CommittedBlock>>,
    proposed_round: Option<Round>,
    /// The round a payload was requested for, the block it must extend, and the timestamp
    /// promised to the application.
    payload_requested: Option<(Round, BlockHash, u64)>,
    awaiting_verdict: BTreeMap<BlockHash, Option<TimeoutCert>>,
    waiting_for_parent: BTreeMap<BlockHash, Vec<(ValidatorIndex, Proposal)>>,
    /// The newest proposal accepted into the tree, as signed (P-6: relayed to a peer that
    /// times out rounds behind, for its certificates).
    latest_proposal: Option<(Arc<Block>, Option<TimeoutCert>, Signature)>,
    /// The round in which each peer was last helped that way (once per round each).
    helped: BTreeMap<ValidatorIndex, Round>,

    // Collectors.
    votes: VoteCollector,
    timeouts: TimeoutCollector,
    proposals: ProposalLog,
    /// (round, offender, kind) of evidence already reported (E-1).
    reported: BTreeSet<(Round, ValidatorIndex, u8)>,

    // Sync.
    sync: sync::SyncState,

    /// Blocks to include in the next [`Output::Persist`].
    unpersisted_blocks: Vec<Arc<Block>>,

    /// Digests of certificates already verified (bounded by [`VERIFIED_CACHE`]).
    verified: BTreeSet<Hash32>,

    outputs: VecDeque<Output>,
}

impl Core {
    /// A core for `committee`, acting as validator `me` (or observing when `None`), resumed
    /// from `recovery`. Call [`Core::start`] once before anything else.
    pub fn new(
        cfg: Config,
        committee: Committee,
        me: Option<(ValidatorIndex, SecretKey)>,
        recovery: Recovery,
    ) -> Self {
        let leaders = LeaderElection::new(&committee, cfg.leader_policy.clone());
        let genesis = recovery.genesis.hash();
        let safety = recovery
            .safety
            .unwrap_or_else(|| SafetyData::new(committee.epoch()));
        let (head, high_qc) = match recovery.committed.last() {
            Some(c) => (Arc::new(c.block.clone()), c.proof.qc.clone()),
            None => (Arc::clone(&recovery.genesis), QuorumCert::genesis(genesis)),
        };
        let skip = recovery
            .committed
            .len()
            .saturating_sub(cfg.retained_committed);
        let log: VecDeque<_> = recovery.committed.into_iter().skip(skip).collect();
        // Reputation (C-5) from the recovered ledger window, as if committed live.
        let mut leaders = leaders;
        for c in &log {
            leaders.observe_committed_block(&c.block);
        }
        let mut tree = BlockTree::new(head);
        let mut high_qc = high_qc;
        let mut recovered = recovery.blocks;
        recovered.sort_by_key(|b| b.header.height);
        for block in recovered {
            let justify = block.justify.clone();
            if tree.insert(block).is_ok() && justify.round() > high_qc.round() {
                high_qc = justify;
            }
        }
        let round = high_qc.round().next().max(safety.last_voted_round);
        Self {
            cfg,
            committee,
            me,
            leaders,
            genesis,
            safety,
            next_persist_id: 0,
            durable_id: 0,
            held: VecDeque::new(),
            round,
            high_qc,
            high_tc: None,
            consecutive_timeouts: 0,
            my_timeout: None,
            round_deadline_ms: 0,
            round_entered_ms: 0,
            tree,
            committed_log: log,
            proposed_round: None,
            payload_requested: None,
            awaiting_verdict: BTreeMap::new(),
            waiting_for_parent: BTreeMap::new(),
            latest_proposal: None,
            helped: BTreeMap::new(),
            votes: VoteCollector::default(),
            timeouts: TimeoutCollector::default(),
            proposals: ProposalLog::default(),
            reported: BTreeSet::new(),
            sync: sync::SyncState::default(),
            unpersisted_blocks: Vec::new(),
            verified: BTreeSet::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Enters the starting round: sets its timer, and asks for a payload if leading. After a
    /// restart, re-sends the last vote (S-4 allows exactly that one) and fetches the block
    /// certified by the recovered QC.
    pub fn start(&mut self, now_ms: u64) {
        let round = self.round;
        self.enter_round(now_ms, round, false);
        if let Some(vote) = self.safety.last_vote.clone()
            && vote.data.round == self.safety.last_voted_round
        {
            let to = self.leaders.leader(vote.data.round.next());
            self.send_or_local(now_ms, to, ConsensusMessage::Vote(vote));
        }
        let qc = self.high_qc.clone();
        if !self.tree.contains(&qc.block()) {
            self.request_missing(now_ms, &qc, None);
        }
    }

    /// Feeds one input. Outputs accumulate until drained with [`Core::poll_output`].
    pub fn handle(&mut self, now_ms: u64, input: Input) {
        match input {
            Input::Message { from, message } => self.on_message(now_ms, from, message),
            Input::Timer(TimerId::Round(r)) => self.on_round_timer(now_ms, r),
            Input::Timer(TimerId::Sync(id)) => self.on_sync_timer(now_ms, id),
            Input::Timer(TimerId::Propose(r)) => {
                if r == self.round {
                    self.maybe_request_payload(now_ms);
                }
            }
            Input::PayloadBuilt {
                round,
                payload,
                execution,
            } => {
                self.on_payload_built(now_ms, round, payload, execution);
            }
            Input::PayloadVerdict { block, valid } => self.on_verdict(now_ms, block, valid),
            Input::Persisted { id } => self.on_persisted(now_ms, id),
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// The highest QC known.
    pub fn high_qc(&self) -> &QuorumCert {
        &self.high_qc
    }

    /// The committed head.
    pub fn committed_head(&self) -> &Arc<Block> {
        self.tree.committed()
    }

    /// The safety data as it stands (durable or not).
    pub fn safety(&self) -> &SafetyData {
        &self.safety
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// This validator's index, if it is one.
    pub fn index(&self) -> Option<ValidatorIndex> {
        self.me.as_ref().map(|(i, _)| *i)
    }

    /// The leader of `round`.
    pub fn leader(&self, round: Round) -> ValidatorIndex {
        self.leaders.leader(round)
    }

    /// The uncommitted blocks from just above the committed head up to and including `tip`,
    /// oldest first; empty if `tip` is the committed head or not a known descendant of it.
    pub fn uncommitted_chain(&self, tip: &BlockHash) -> Vec<Arc<Block>> {
        self.tree.path_from_committed(tip).unwrap_or_default()
    }

    /// Blocks held in the tree (for metrics and bounds checks).
    pub fn tree_len(&self) -> usize {
        self.tree.len()
    }

    fn on_message(&mut self, now_ms: u64, from: ValidatorIndex, message: ConsensusMessage) {
        if self.committee.member(from).is_none() {
            return;
        }
        match message {
            ConsensusMessage::Proposal(p) => self.on_proposal(now_ms, from, *p),
            ConsensusMessage::Vote(v) => self.on_vote(now_ms, from, v),
            ConsensusMessage::Timeout(t, tc) => self.on_timeout(now_ms, from, *t, tc.map(|tc| *tc)),
            ConsensusMessage::BlockRequest { hash, count } => {
                self.on_block_request(from, hash, count);
            }
            ConsensusMessage::BlockResponse(blocks) => {
                self.on_block_response(now_ms, from, blocks.into_vec());
            }
            ConsensusMessage::CommittedRequest { from: height } => {
                self.on_committed_request(from, height);
            }
            ConsensusMessage::CommittedResponse(entries) => {
                self.on_committed_response(now_ms, from, entries.into_vec());
            }
        }
    }

    fn fault(&mut self, peer: ValidatorIndex, fault: Fault) {
        self.outputs.push_back(Output::Fault { peer, fault });
    }

    fn evidence(&mut self, evidence: Evidence) {
        let kind = match evidence {
            Evidence::DoubleVote(..) => 0,
            Evidence::DoubleProposal(..) => 1,
        };
        if self
            .reported
            .insert((evidence.round(), evidence.offender(), kind))
        {
            self.outputs.push_back(Output::Evidence(evidence));
        }
    }

    /// Verifies a QC, accepting the genesis QC for the genesis block only (C-1). The same
    /// certificate arrives many times (in proposals, in every timeout of a round), so
    /// verified ones are remembered by digest.
    fn verify_qc(&mut self, qc: &QuorumCert) -> Result<(), CertError> {
        if *qc == QuorumCert::genesis(self.genesis) {
            return Ok(());
        }
        if qc.round() == Round(0) {
            return Err(CertError::BrokenProof("round-0 QC for a non-genesis block"));
        }
        let digest = codec::hash_of(qc);
        if self.verified.contains(&digest) {
            return Ok(());
        }
        qc.verify(&self.committee)?;
        self.remember_verified(digest);
        Ok(())
    }

    /// Verifies a TC, remembering verified ones like [`Core::verify_qc`].
    fn verify_tc(&mut self, tc: &TimeoutCert) -> Result<(), CertError> {
        let digest = codec::hash_of(tc);
        if self.verified.contains(&digest) {
            return Ok(());
        }
        tc.verify(&self.committee)?;
        self.remember_verified(digest);
        Ok(())
    }

    fn remember_verified(&mut self, digest: Hash32) {
        if self.verified.len() >= VERIFIED_CACHE {
            self.verified.clear();
        }
        self.verified.insert(digest);
    }

    /// Persists the current safety data; `held` items wait for it (S-4).
    fn persist_then(&mut self, held: Vec<Held>) {
        self.next_persist_id += 1;
        let id = self.next_persist_id;
        let blocks = std::mem::take(&mut self.unpersisted_blocks);
        // The deliberate bug of the `broken-persist-before-vote` feature: votes and timeouts
        // leave before the safety data that forbids a conflicting one is durable, so a crash
        // mid-persist lets the restarted validator sign against what it already sent.
        #[cfg(feature = "broken-persist-before-vote")]
        let held: Vec<Held> = held
            .into_iter()
            .filter_map(|h| match h {
                Held::Output(o) => {
                    self.outputs.push_back(o);
                    None
                }
                local => Some(local),
            })
            .collect();
        self.outputs.push_back(Output::Persist {
            id,
            data: self.safety.clone(),
            blocks,
        });
        for h in held {
            self.held.push_back((id, h));
        }
    }

    fn on_persisted(&mut self, now_ms: u64, id: u64) {
        self.durable_id = self.durable_id.max(id.min(self.next_persist_id));
        while self
            .held
            .front()
            .is_some_and(|(i, _)| *i <= self.durable_id)
        {
            let Some((_, h)) = self.held.pop_front() else {
                break;
            };
            match h {
                Held::Output(o) => self.outputs.push_back(o),
                Held::LocalVote(v) => self.on_vote_verified(now_ms, v),
                Held::LocalTimeout(t) => self.on_timeout_verified(now_ms, *t),
            }
        }
    }

    /// Sends to `to`, or processes locally when `to` is this validator.
    fn send_or_local(&mut self, now_ms: u64, to: ValidatorIndex, message: ConsensusMessage) {
        if Some(to) == self.index() {
            if let ConsensusMessage::Vote(v) = message {
                self.on_vote_verified(now_ms, v);
            }
        } else {
            self.outputs.push_back(Output::Send { to, message });
        }
    }
}
