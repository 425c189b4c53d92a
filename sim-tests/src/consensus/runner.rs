//! The deterministic scheduler: one event queue ordered by (time, sequence), one seeded RNG,
//! real consensus cores, and the invariants checked after every event.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use shardnet_consensus::{
    Config, ConsensusMessage, Core, Input, MemorySafetyStore, Output, Recovery, SafetyData,
    SafetyStore, TimerId, genesis_block,
};
use shardnet_protocol::{
    Block, ChainId, Committee, Epoch, ExecutionCommitment, Member, SecretKey, ShardId, Stake,
    ValidatorIndex, codec,
};

use super::app::SimApp;
use super::byzantine::{Behaviour, Outgoing, rewrite};
use super::invariants::{Checker, Violation};
use super::network::{Fate, Network, Partition, chance, uniform};
use super::scenario::Scenario;

/// Counts of everything that happened, so a scenario can prove its faults fired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages lost to random loss.
    pub dropped: u64,
    /// Messages cut by a partition.
    pub partitioned: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Crashes (scheduled and at persistence points).
    pub crashes: u64,
    /// Crashes at a persistence point.
    pub persist_crashes: u64,
    /// Messages rewritten, withheld or injected by Byzantine validators.
    pub byzantine_actions: u64,
    /// Evidence outputs from honest validators.
    pub evidence: u64,
    /// Fault reports from honest validators.
    pub faults_reported: u64,
    /// Highest committed height.
    pub max_height: u64,
    /// Events processed.
    pub events: u64,
    /// Sum over (honest validator, committed block) of proposal-to-commit time, in ms.
    pub commit_latency_ms_sum: u64,
    /// Number of terms in `commit_latency_ms_sum`.
    pub commit_latency_samples: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name.
    pub scenario: &'static str,
    /// The seed.
    pub seed: u64,
    /// Every parameter drawn from the seed.
    pub params: Vec<String>,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// blake3 over every processed event: equal for equal seeds (determinism).
    pub trace_hash: [u8; 32],
    /// Counters.
    pub stats: Stats,
    /// Readable event log, when tracing.
    pub trace: Vec<String>,
}

impl Report {
    /// The one command that replays this seed with a trace.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run -p shardnet-sim --profile sim --bin consensus-sim -- --scenario {} --seeds {}..{} --trace trace.log",
            self.scenario,
            self.seed,
            self.seed + 1
        )
    }

    /// One line: outcome, seed, counters, and the replay command on failure.
    pub fn summary(&self) -> String {
        match &self.violation {
            None => format!(
                "ok   {} seed {}: height {}, {} events",
                self.scenario, self.seed, self.stats.max_height, self.stats.events
            ),
            Some(v) => format!(
                "FAIL {} seed {}: {v}\n  params: {}\n  replay: {}",
                self.scenario,
                self.seed,
                self.params.join("; "),
                self.replay_command()
            ),
        }
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        from: ValidatorIndex,
        msg: ConsensusMessage,
    },
    Timer {
        node: usize,
        incarnation: u64,
        timer: TimerId,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

struct Node {
    index: ValidatorIndex,
    key: SecretKey,
    behaviour: Option<Behaviour>,
    core: Option<Core>,
    app: SimApp,
    store: MemorySafetyStore,
    incarnation: u64,
    replay: Vec<ConsensusMessage>,
}

impl Node {
    fn honest(&self) -> bool {
        self.behaviour.is_none()
    }

    /// Makes the blocks and then the safety data durable, as `drive` does.
    fn persist(&mut self, data: &SafetyData, blocks: &[Arc<Block>]) {
        #[allow(clippy::expect_used)]
        self.store
            .persist_blocks(blocks)
            .and_then(|()| self.store.persist(data))
            .expect("in-memory store cannot fail");
    }
}

struct Sim<'a> {
    scenario: &'a Scenario,
    cfg: Config,
    committee: Committee,
    genesis: Arc<Block>,
    nodes: Vec<Node>,
    net: Network,
    rng: ChaCha8Rng,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    checker: Checker,
    stats: Stats,
    hasher: blake3::Hasher,
    trace: Option<Vec<String>>,
    proposed_at: BTreeMap<shardnet_protocol::BlockHash, u64>,
}

/// Runs `scenario` with `seed`; never panics on a protocol failure, reports it instead.
pub fn run(scenario: &Scenario, seed: u64) -> Report {
    run_inner(scenario, seed, false)
}

/// Like [`run`], keeping a readable log of every event.
pub fn run_traced(scenario: &Scenario, seed: u64) -> Report {
    run_inner(scenario, seed, true)
}

fn run_inner(scenario: &Scenario, seed: u64, traced: bool) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from_le_bytes(name_salt(scenario.name)));
    let keys: Vec<SecretKey> = (0..scenario.stakes.len())
        .map(|i| {
            let mut seed_bytes = [0u8; 32];
            seed_bytes[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SecretKey::from_bytes(&seed_bytes)
        })
        .collect();
    let members = keys
        .iter()
        .zip(&scenario.stakes)
        .map(|(k, s)| Member {
            public_key: k.public_key(),
            stake: Stake(*s),
            network_address: String::new(),
        })
        .collect();
    #[allow(clippy::expect_used)]
    let committee =
        Committee::new(ChainId(1337), ShardId(0), Epoch(0), members).expect("scenario committee");
    let genesis = Arc::new(genesis_block(&committee, 0, ExecutionCommitment::default()));

    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let index = ValidatorIndex(i as u16);
        let behaviour = scenario
            .byzantine
            .iter()
            .find(|(v, _)| *v == index.0)
            .map(|(_, b)| *b);
        let copies = if behaviour == Some(Behaviour::Twin) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            nodes.push(Node {
                index,
                key: key.clone(),
                behaviour,
                core: None,
                app: SimApp::default(),
                store: MemorySafetyStore::new(),
                incarnation: 0,
                replay: Vec::new(),
            });
        }
    }

    let mut params = vec![
        format!("nodes {}", nodes.len()),
        format!("stakes {:?}", scenario.stakes),
    ];
    let mut partitions = Vec::new();
    for _ in 0..scenario.partitions {
        let from_ms = uniform(&mut rng, 0, scenario.fault_ms.saturating_sub(1000));
        let to_ms = (from_ms + uniform(&mut rng, 500, 4000)).min(scenario.fault_ms);
        let mut side: Vec<usize> = (0..nodes.len())
            .filter(|_| rng.next_u32() % 2 == 0)
            .collect();
        if side.is_empty() || side.len() == nodes.len() {
            side = vec![(rng.next_u32() as usize) % nodes.len()];
        }
        let one_way = rng.next_u32() % 4 == 0;
        params.push(format!(
            "partition {side:?} {from_ms}..{to_ms}ms{}",
            if one_way { " one-way" } else { "" }
        ));
        partitions.push(Partition {
            from_ms,
            to_ms,
            side,
            one_way,
        });
    }
    let net = Network {
        latency_ms: scenario.latency_ms,
        loss: scenario.loss,
        duplicate: scenario.duplicate,
        partitions,
        heal_at_ms: scenario.fault_ms,
    };
    let cfg = Config {
        base_timeout_ms: 300,
        max_backoff_exponent: 3,
        sync_retry_ms: 200,
        max_sync_retries: 20,
        min_block_interval_ms: scenario.block_interval_ms,
        ..Config::default()
    };
    let mut sim = Sim {
        scenario,
        cfg,
        committee,
        genesis,
        nodes,
        net,
        rng,
        queue: BTreeMap::new(),
        seq: 0,
        checker: Checker::default(),
        stats: Stats::default(),
        hasher: blake3::Hasher::new(),
        trace: traced.then(Vec::new),
        proposed_at: BTreeMap::new(),
    };
    let honest: Vec<usize> = (0..sim.nodes.len())
        .filter(|&n| sim.nodes[n].honest())
        .collect();
    for _ in 0..scenario.crashes {
        let node = honest[(sim.rng.next_u32() as usize) % honest.len()];
        let at = uniform(&mut sim.rng, 0, scenario.fault_ms.saturating_sub(500));
        params.push(format!("crash node {node} at {at}ms"));
        sim.schedule(at, Event::Crash { node });
    }
    let violation = sim.run_all().err();
    let mut stats = sim.stats.clone();
    stats.max_height = sim.checker.max_height().0;
    Report {
        scenario: scenario.name,
        seed,
        params,
        violation,
        trace_hash: *sim.hasher.finalize().as_bytes(),
        stats,
        trace: sim.trace.unwrap_or_default(),
    }
}

fn name_salt(name: &str) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&blake3::hash(name.as_bytes()).as_bytes()[..8]);
    out
}

impl Sim<'_> {
    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    fn log(&mut self, now: u64, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            t.push(format!("{now:>8}ms {}", line()));
        }
    }

    fn run_all(&mut self) -> Result<(), Violation> {
        for n in 0..self.nodes.len() {
            self.boot(n, 0)?;
        }
        let heal = self.scenario.fault_ms;
        let end = heal + self.scenario.heal_ms;
        let mut at_heal: Option<Vec<u64>> = None;
        while let Some(((now, _), event)) = self.queue.pop_first() {
            if now > end {
                break;
            }
            if at_heal.is_none() && now >= heal {
                at_heal = Some(self.heights());
            }
            self.stats.events += 1;
            self.step(now, event)?;
        }
        self.check_faults_fired()?;
        let before = at_heal.unwrap_or_else(|| self.heights());
        for (n, h) in self.heights().into_iter().enumerate() {
            if !self.nodes[n].honest() {
                continue;
            }
            let commits = h.saturating_sub(before[n]);
            if commits < self.scenario.min_commits_after_heal {
                return Err(Violation::Liveness {
                    node: n,
                    commits,
                    needed: self.scenario.min_commits_after_heal,
                });
            }
        }
        Ok(())
    }

    fn heights(&self) -> Vec<u64> {
        (0..self.nodes.len())
            .map(|n| self.checker.height_of(n).0)
            .collect()
    }

    fn check_faults_fired(&self) -> Result<(), Violation> {
        let s = self.scenario;
        let checks = [
            (s.partitions > 0 && self.stats.partitioned == 0, "partition"),
            (s.loss > 0.0 && self.stats.dropped == 0, "loss"),
            (
                s.duplicate > 0.0 && self.stats.duplicated == 0,
                "duplication",
            ),
            (s.crashes > 0 && self.stats.crashes == 0, "crash"),
            (
                !s.byzantine.is_empty() && self.stats.byzantine_actions == 0,
                "byzantine",
            ),
        ];
        match checks.iter().find(|(missing, _)| *missing) {
            Some((_, name)) => Err(Violation::FaultNotFired(name)),
            None => Ok(()),
        }
    }

    fn boot(&mut self, n: usize, now: u64) -> Result<(), Violation> {
        let node = &mut self.nodes[n];
        #[allow(clippy::expect_used)]
        let safety = node.store.load().expect("in-memory store cannot fail");
        let recovery = Recovery {
            genesis: Arc::clone(&self.genesis),
            safety,
            committed: node
                .app
                .committed
                .iter()
                .rev()
                .take(self.cfg.retained_committed)
                .rev()
                .cloned()
                .collect(),
            #[allow(clippy::expect_used)]
            blocks: node
                .store
                .load_blocks()
                .expect("in-memory store cannot fail"),
        };
        node.incarnation += 1;
        let mut core = Core::new(
            self.cfg.clone(),
            self.committee.clone(),
            Some((node.index, node.key.clone())),
            recovery,
        );
        core.start(now);
        node.core = Some(core);
        self.pump(n, now)
    }

    fn crash(&mut self, n: usize, now: u64) {
        if self.nodes[n].core.take().is_none() {
            return;
        }
        self.nodes[n].incarnation += 1;
        self.stats.crashes += 1;
        let heal = self.scenario.fault_ms;
        let back = (now + uniform(&mut self.rng, 200, 3000)).min(heal.max(now + 1));
        self.log(now, || format!("n{n} CRASH (restart at {back}ms)"));
        self.schedule(back, Event::Restart { node: n });
    }

    fn step(&mut self, now: u64, event: Event) -> Result<(), Violation> {
        match event {
            Event::Deliver { to, from, msg } => {
                self.hasher.update(&now.to_le_bytes());
                self.hasher.update(&(to as u64).to_le_bytes());
                self.hasher.update(&codec::canonical_bytes(&msg));
                self.log(now, || format!("n{to} <- {from} {}", describe(&msg)));
                let Some(core) = self.nodes[to].core.as_mut() else {
                    return Ok(());
                };
                self.stats.delivered += 1;
                core.handle(now, Input::Message { from, message: msg });
                self.pump(to, now)
            }
            Event::Timer {
                node,
                incarnation,
                timer,
            } => {
                if self.nodes[node].incarnation != incarnation {
                    return Ok(());
                }
                self.hasher.update(&now.to_le_bytes());
                self.hasher
                    .update(format!("timer {node} {timer:?}").as_bytes());
                let Some(core) = self.nodes[node].core.as_mut() else {
                    return Ok(());
                };
                core.handle(now, Input::Timer(timer));
                self.pump(node, now)
            }
            Event::Crash { node } => {
                self.hasher.update(format!("crash {node} {now}").as_bytes());
                self.crash(node, now);
                Ok(())
            }
            Event::Restart { node } => {
                if self.nodes[node].core.is_some() {
                    return Ok(());
                }
                self.hasher
                    .update(format!("restart {node} {now}").as_bytes());
                self.log(now, || format!("n{node} RESTART"));
                self.boot(node, now)
            }
        }
    }

    /// Drains a node's outputs: the application and store answer synchronously (with crash
    /// injection at persistence points), network outputs go through Byzantine rewriting and
    /// the network model, and every honest output is checked against the invariants.
    fn pump(&mut self, n: usize, now: u64) -> Result<(), Violation> {
        loop {
            let Some(core) = self.nodes[n].core.as_mut() else {
                return Ok(());
            };
            let Some(out) = core.poll_output() else {
                return Ok(());
            };
            match out {
                Output::RequestPayload(req) => {
                    let (payload, execution) =
                        shardnet_consensus::Application::build(&mut self.nodes[n].app, &req, &[]);
                    if let Some(core) = self.nodes[n].core.as_mut() {
                        core.handle(
                            now,
                            Input::PayloadBuilt {
                                round: req.round,
                                payload,
                                execution,
                            },
                        );
                    }
                }
                Output::VerifyPayload(block) => {
                    let valid = shardnet_consensus::Application::verify(
                        &mut self.nodes[n].app,
                        &block,
                        &[],
                    );
                    if let Some(core) = self.nodes[n].core.as_mut() {
                        core.handle(
                            now,
                            Input::PayloadVerdict {
                                block: block.hash(),
                                valid,
                            },
                        );
                    }
                }
                Output::Persist { id, data, blocks } => {
                    if chance(&mut self.rng, self.scenario.crash_at_persist) {
                        self.stats.persist_crashes += 1;
                        if self.rng.next_u32().is_multiple_of(2) {
                            self.nodes[n].persist(&data, &blocks);
                        }
                        self.crash(n, now);
                        return Ok(());
                    }
                    self.nodes[n].persist(&data, &blocks);
                    if let Some(core) = self.nodes[n].core.as_mut() {
                        core.handle(now, Input::Persisted { id });
                    }
                }
                Output::Commit(c) => {
                    shardnet_consensus::Application::commit(&mut self.nodes[n].app, &c);
                    #[allow(clippy::expect_used)]
                    self.nodes[n]
                        .store
                        .prune_blocks(c.block.header.height)
                        .expect("in-memory store cannot fail");
                    if self.nodes[n].honest() {
                        if let Some(at) = self.proposed_at.get(&c.block.hash()) {
                            self.stats.commit_latency_ms_sum += now - at;
                            self.stats.commit_latency_samples += 1;
                        }
                        self.checker.on_commit(n, &self.committee, &c)?;
                    }
                }
                Output::SetTimer { timer, at_ms } => {
                    let incarnation = self.nodes[n].incarnation;
                    self.schedule(
                        at_ms.max(now),
                        Event::Timer {
                            node: n,
                            incarnation,
                            timer,
                        },
                    );
                }
                Output::Fault { .. } => {
                    if self.nodes[n].honest() {
                        self.stats.faults_reported += 1;
                    }
                }
                Output::Evidence(e) => {
                    if self.nodes[n].honest() {
                        self.stats.evidence += 1;
                        if let Err(err) = e.verify(&self.committee) {
                            return Err(Violation::BadProof {
                                node: n,
                                height: shardnet_protocol::Height(0),
                                error: format!("invalid evidence: {err}"),
                            });
                        }
                    }
                }
                Output::Send { to, message } => self.send(n, now, Outgoing::To(to.0, message))?,
                Output::Broadcast(message) => {
                    if let ConsensusMessage::Proposal(p) = &message {
                        self.proposed_at.entry(p.block.hash()).or_insert(now);
                    }
                    self.send(n, now, Outgoing::All(message))?;
                }
            }
        }
    }

    fn send(&mut self, n: usize, now: u64, out: Outgoing) -> Result<(), Violation> {
        let outs = if let Some(b) = self.nodes[n].behaviour {
            let node = &mut self.nodes[n];
            let (outs, faults) = rewrite(
                b,
                &self.committee,
                &node.key,
                &mut self.rng,
                &mut node.replay,
                out,
            );
            self.stats.byzantine_actions += faults;
            if b == Behaviour::Twin {
                self.stats.byzantine_actions += 1;
            }
            outs
        } else {
            self.check_honest(n, &out)?;
            vec![out]
        };
        let me = self.nodes[n].index;
        for o in outs {
            let targets: Vec<(usize, ConsensusMessage)> = match o {
                Outgoing::To(v, m) => (0..self.nodes.len())
                    .filter(|&t| self.nodes[t].index.0 == v)
                    .map(|t| (t, m.clone()))
                    .collect(),
                Outgoing::All(m) => (0..self.nodes.len())
                    .filter(|&t| self.nodes[t].index != me)
                    .map(|t| (t, m.clone()))
                    .collect(),
                Outgoing::Split(a, b) => {
                    let others: Vec<usize> = (0..self.nodes.len())
                        .filter(|&t| self.nodes[t].index != me)
                        .collect();
                    let half = others.len() / 2;
                    others
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| (t, if i < half { a.clone() } else { b.clone() }))
                        .collect()
                }
            };
            for (t, m) in targets {
                match self.net.fate(&mut self.rng, now, n, t) {
                    Fate::Dropped => self.stats.dropped += 1,
                    Fate::Partitioned => self.stats.partitioned += 1,
                    Fate::Deliver(times) => {
                        self.stats.duplicated += times.len() as u64 - 1;
                        for at in times {
                            self.schedule(
                                at,
                                Event::Deliver {
                                    to: t,
                                    from: me,
                                    msg: m.clone(),
                                },
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// I-3: what an honest validator releases never conflicts with what it released before.
    fn check_honest(&mut self, n: usize, out: &Outgoing) -> Result<(), Violation> {
        match out {
            Outgoing::To(_, ConsensusMessage::Vote(v)) => self.checker.on_vote(n, v.data),
            Outgoing::All(ConsensusMessage::Timeout(t, _)) => {
                self.checker.on_timeout(n, t.round);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn describe(msg: &ConsensusMessage) -> String {
    match msg {
        ConsensusMessage::Proposal(p) => format!(
            "proposal {} {} by {} {:?}",
            p.block.header.round,
            p.block.header.height,
            p.block.header.proposer,
            p.block.hash()
        ),
        ConsensusMessage::Vote(v) => {
            format!("vote {} {:?} by {}", v.data.round, v.data.block, v.signer)
        }
        ConsensusMessage::Timeout(t, _) => format!(
            "timeout {} hqc {} by {}",
            t.round,
            t.high_qc.round(),
            t.signer
        ),
        ConsensusMessage::BlockRequest { hash, count } => {
            format!("block-request {hash:?} x{count}")
        }
        ConsensusMessage::BlockResponse(blocks) => format!(
            "block-response {:?}",
            blocks
                .iter()
                .map(|b| (b.header.height.0, b.hash()))
                .collect::<Vec<_>>()
        ),
        ConsensusMessage::CommittedRequest { from } => format!("committed-request from {from}"),
        ConsensusMessage::CommittedResponse(c) => format!(
            "committed-response {:?}",
            c.iter()
                .map(|c| c.block.header.height.0)
                .collect::<Vec<_>>()
        ),
    }
}
