//! The cluster harness: N cores stepped in one thread with a manual clock.
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
    Config, ConsensusMessage, Core, Evidence, Fault, Input, Output, Proposal, Recovery,
    SafetyStore, StoreError, TimerId, drive,
};
use shardnet_protocol::{Block, BlockHash, Committee, Round, Timeout, ValidatorIndex, Vote};

use super::{TestApp, TestStore, committee, genesis, key, vi};

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
    /// (seq, time, vote) for every vote sent.
    pub votes: Vec<(u64, u64, Vote)>,
    /// (seq, time, timeout) for every timeout broadcast (re-broadcasts included).
    pub timeouts: Vec<(u64, u64, Timeout)>,
    /// (seq, time, proposal) for every proposal broadcast.
    pub proposals: Vec<(u64, u64, Proposal)>,
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
            committed: node.app.committed.clone(),
            blocks: node.store.load_blocks().unwrap(),
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
        node.store.lose_unflushed();
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
        let now = self.now;
        match m {
            ConsensusMessage::Vote(v) => self.log.votes.push((seq, now, v.clone())),
            ConsensusMessage::Timeout(t, _) => {
                self.log.timeouts.push((seq, now, Timeout::clone(t)));
            }
            ConsensusMessage::Proposal(p) => {
                self.log.proposals.push((seq, now, Proposal::clone(p)));
            }
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
        for (_, _, t) in &self.log.timeouts {
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
            .filter(|(_, _, p)| p.tc.is_some())
            .map(|(_, _, p)| p.block.header.round)
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
