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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use shardnet_consensus::{
    Application, CommittedBlock, Config, ConsensusMessage, Core, Evidence, Fault, Input,
    MemorySafetyStore, Output, PayloadRequest, Proposal, Recovery, SafetyData, SafetyStore,
    StoreError, TimerId, drive, genesis_block,
};
use shardnet_protocol::{
    Block, BlockHash, BlockHeader, ChainId, Committee, Epoch, ExecutionCommitment, Member, Payload,
    QuorumCert, Round, SecretKey, ShardId, Stake, Timeout, TimeoutCert, ValidatorIndex, Vote,
    VoteData,
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
    fn build(&mut self, _: &PayloadRequest) -> (Payload, ExecutionCommitment) {
        self.built += 1;
        (Payload::default(), ExecutionCommitment::default())
    }

    fn verify(&mut self, block: &Block) -> bool {
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

/// A memory store that can be told to "crash" at its k-th persist.
#[derive(Clone, Debug, Default)]
pub struct TestStore {
    pub inner: MemorySafetyStore,
    pub persists: u64,
    pub crash_at: Option<(u64, CrashPoint)>,
}

impl SafetyStore for TestStore {
    fn load(&self) -> Result<Option<SafetyData>, StoreError> {
        self.inner.load()
    }

    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError> {
        self.persists += 1;
        if let Some((k, point)) = self.crash_at
            && k == self.persists
        {
            self.crash_at = None;
            if point == CrashPoint::AfterPersist {
                self.inner.persist(data)?;
            }
            return Err(StoreError::Crashed);
        }
        self.inner.persist(data)
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
    let recovery = Recovery {
        genesis: genesis(c),
        safety: None,
        committed: None,
    };
    Core::new(cfg, c.clone(), Some((vi(i), key(i))), recovery)
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

// ---------------------------------------------------------------------------------------------
// The cluster harness.

/// One validator slot in the cluster.
#[derive(Debug)]
pub struct Node {
    pub core: Option<Core>,
    pub app: TestApp,
    pub store: TestStore,
    pub cfg: Config,
    /// Bumped on every crash so timers of a dead incarnation never fire.
    pub incarnation: u64,
    pub crashes: u64,
}

/// What went over the network (for invariant checks).
#[derive(Debug, Default)]
pub struct Log {
    /// (seq, vote) for every vote sent.
    pub votes: Vec<(u64, Vote)>,
    /// (seq, timeout) for every timeout broadcast (re-broadcasts included).
    pub timeouts: Vec<(u64, Timeout)>,
    /// (seq, proposal) for every proposal broadcast.
    pub proposals: Vec<(u64, Proposal)>,
    /// (seq, observer, peer, fault).
    pub faults: Vec<(u64, ValidatorIndex, ValidatorIndex, Fault)>,
    /// (seq, reporter, evidence).
    pub evidence: Vec<(u64, ValidatorIndex, Evidence)>,
    /// Message counts by kind.
    pub sent: BTreeMap<&'static str, u64>,
    /// (seq, node) for every simulated crash.
    pub crashes: Vec<(u64, usize)>,
}

type DropRule = Box<dyn FnMut(ValidatorIndex, ValidatorIndex, &ConsensusMessage) -> bool>;

/// N cores stepped in one thread: messages are delivered in FIFO order, instantly; when no
/// message is in flight the clock jumps to the earliest timer.
pub struct Cluster {
    pub committee: Committee,
    pub genesis: Arc<Block>,
    pub now: u64,
    pub nodes: Vec<Node>,
    queue: VecDeque<(ValidatorIndex, ValidatorIndex, ConsensusMessage)>,
    timers: BTreeSet<(u64, usize, u64, TimerId)>,
    pub seq: u64,
    pub log: Log,
    /// Returns true to drop a message `(from, to, message)` at send time.
    pub drop_rule: DropRule,
    pub steps: u64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("now", &self.now).finish()
    }
}

/// The configuration the cluster tests use unless told otherwise.
pub fn test_config() -> Config {
    Config {
        base_timeout_ms: 1_000,
        min_block_interval_ms: 100,
        ..Config::default()
    }
}

impl Cluster {
    /// A cluster over `stakes` where every node uses `cfg`. No node is started.
    pub fn new(stakes: &[u64], cfg: Config) -> Self {
        Self::with_configs(stakes, vec![cfg; stakes.len()])
    }

    pub fn with_configs(stakes: &[u64], cfgs: Vec<Config>) -> Self {
        let committee = committee(stakes);
        let genesis = genesis(&committee);
        let nodes = cfgs
            .into_iter()
            .map(|cfg| Node {
                core: None,
                app: TestApp::default(),
                store: TestStore::default(),
                cfg,
                incarnation: 0,
                crashes: 0,
            })
            .collect();
        Self {
            committee,
            genesis,
            now: 0,
            nodes,
            queue: VecDeque::new(),
            timers: BTreeSet::new(),
            seq: 0,
            log: Log::default(),
            drop_rule: Box::new(|_, _, _| false),
            steps: 0,
        }
    }

    /// Starts every node.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// (Re)starts node `i` from what survives a crash: its safety store and the last block its
    /// application committed.
    pub fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.core.is_none(), "node {i} is running");
        let recovery = Recovery {
            genesis: Arc::clone(&self.genesis),
            safety: node.store.load().unwrap(),
            committed: node.app.committed.last().cloned(),
        };
        let mut core = Core::new(
            node.cfg.clone(),
            self.committee.clone(),
            Some((vi(i), key(i))),
            recovery,
        );
        core.start(self.now);
        node.core = Some(core);
        self.drive(i);
    }

    /// Kills node `i`: its core (and every output it still holds) is gone.
    pub fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.core = None;
        node.incarnation += 1;
        node.crashes += 1;
        self.seq += 1;
        self.log.crashes.push((self.seq, i));
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].core.is_some()
    }

    pub fn core(&self, i: usize) -> &Core {
        self.nodes[i].core.as_ref().unwrap()
    }

    /// Feeds `input` to node `i` (if running) and routes what it outputs.
    pub fn handle(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(core) = self.nodes[i].core.as_mut() else {
            return;
        };
        core.handle(now, input);
        self.drive(i);
    }

    fn drive(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(core) = node.core.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        let result = drive(core, &mut node.app, &mut node.store, now, |o| outs.push(o));
        self.route(i, outs);
        if let Err(e) = result {
            assert!(matches!(
                e,
                shardnet_consensus::DriveError::Store(StoreError::Crashed)
            ));
            self.crash(i);
        }
    }

    fn route(&mut self, i: usize, outs: Vec<Output>) {
        let from = vi(i);
        for o in outs {
            self.seq += 1;
            let seq = self.seq;
            match o {
                Output::Send { to, message } => {
                    self.record(seq, &message);
                    self.enqueue(from, to, message);
                }
                Output::Broadcast(message) => {
                    self.record(seq, &message);
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.enqueue(from, vi(j), message.clone());
                        }
                    }
                }
                Output::SetTimer { timer, at_ms } => {
                    let inc = self.nodes[i].incarnation;
                    self.timers.insert((at_ms, i, inc, timer));
                }
                Output::Fault { peer, fault } => self.log.faults.push((seq, from, peer, fault)),
                Output::Evidence(e) => self.log.evidence.push((seq, from, e)),
                Output::Commit(_) => {}
                other => panic!("drive answers {other:?} itself"),
            }
        }
    }

    fn record(&mut self, seq: u64, m: &ConsensusMessage) {
        *self.log.sent.entry(m.kind()).or_default() += 1;
        match m {
            ConsensusMessage::Vote(v) => self.log.votes.push((seq, v.clone())),
            ConsensusMessage::Timeout(t, _) => self.log.timeouts.push((seq, Timeout::clone(t))),
            ConsensusMessage::Proposal(p) => self.log.proposals.push((seq, Proposal::clone(p))),
            _ => {}
        }
    }

    fn enqueue(&mut self, from: ValidatorIndex, to: ValidatorIndex, m: ConsensusMessage) {
        if !(self.drop_rule)(from, to, &m) {
            self.queue.push_back((from, to, m));
        }
    }

    /// Delivers one message, or fires the earliest timer at or before `until`. False when
    /// there is nothing to do before `until`.
    pub fn step(&mut self, until: u64) -> bool {
        self.steps += 1;
        assert!(self.steps < 5_000_000, "runaway simulation");
        if let Some((from, to, message)) = self.queue.pop_front() {
            self.handle(to.as_usize(), Input::Message { from, message });
            return true;
        }
        let Some(&first) = self.timers.first() else {
            return false;
        };
        let (at, i, inc, timer) = first;
        if at > until {
            return false;
        }
        self.timers.pop_first();
        self.now = self.now.max(at);
        if self.nodes[i].incarnation == inc {
            self.handle(i, Input::Timer(timer));
        }
        true
    }

    /// Runs until simulated time `t` (every message in flight at `t` is delivered).
    pub fn run_until(&mut self, t: u64) {
        while self.step(t) {}
        self.now = self.now.max(t);
    }

    /// Runs for `ms` more simulated milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let t = self.now + ms;
        self.run_until(t);
    }

    /// Runs until `done` holds (checked after every step) or `deadline` passes; true if done.
    pub fn run_until_cond(&mut self, deadline: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if !self.step(deadline) {
                return done(self);
            }
        }
    }

    /// Blocks committed by node `i`'s application, oldest first.
    pub fn committed(&self, i: usize) -> Vec<BlockHash> {
        self.nodes[i]
            .app
            .committed
            .iter()
            .map(|c| c.block.hash())
            .collect()
    }

    pub fn committed_height(&self, i: usize) -> u64 {
        self.nodes[i]
            .app
            .committed
            .last()
            .map_or(0, |c| c.block.header.height.0)
    }

    /// The lowest committed height among nodes `which`.
    pub fn min_height(&self, which: &[usize]) -> u64 {
        which
            .iter()
            .map(|&i| self.committed_height(i))
            .min()
            .unwrap()
    }

    /// I-1/I-2: every pair of committed chains is a prefix of one another; and I-5: every
    /// commit proof verifies against the committee and is for its block.
    pub fn assert_agreement(&self) {
        for i in 0..self.nodes.len() {
            for c in &self.nodes[i].app.committed {
                c.proof
                    .verify_with(&self.committee)
                    .unwrap_or_else(|e| panic!("node {i}: proof of {:?}: {e}", c.block.header));
                assert_eq!(c.proof.header, c.block.header);
            }
            for j in i + 1..self.nodes.len() {
                let (a, b) = (self.committed(i), self.committed(j));
                let n = a.len().min(b.len());
                assert_eq!(
                    a[..n],
                    b[..n],
                    "nodes {i} and {j} committed different chains"
                );
            }
        }
    }

    /// Rounds for which timeouts from a quorum went out: the rounds that ended by TC.
    pub fn tc_rounds(&self) -> BTreeSet<Round> {
        let mut by_round: BTreeMap<Round, BTreeSet<ValidatorIndex>> = BTreeMap::new();
        for (_, t) in &self.log.timeouts {
            by_round.entry(t.round).or_default().insert(t.signer);
        }
        by_round
            .into_iter()
            .filter(|(_, signers)| {
                let mut bits = self.committee.empty_signers();
                for s in signers {
                    bits.insert(*s);
                }
                self.committee.stake_of(&bits) >= self.committee.quorum_threshold()
            })
            .map(|(r, _)| r)
            .collect()
    }

    /// Rounds whose proposal carried a TC for the previous round.
    pub fn rounds_entered_by_tc(&self) -> BTreeSet<Round> {
        self.log
            .proposals
            .iter()
            .filter(|(_, p)| p.tc.is_some())
            .map(|(_, p)| p.block.header.round)
            .collect()
    }

    /// The highest round any running node is in.
    pub fn max_round(&self) -> Round {
        self.nodes
            .iter()
            .filter_map(|n| n.core.as_ref().map(Core::round))
            .max()
            .unwrap_or(Round(0))
    }
}
