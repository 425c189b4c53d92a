//! The deterministic scheduler: one event queue ordered by (time, sequence), one seeded RNG,
//! real consensus cores, and the invariants checked after every event.
//!
//! Time: the queue runs on global simulated time; each core sees only its node's local
//! clock (`plan::Clock`), so clock skew moves timers and block pacing but nothing else.

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
use super::network::{Fate, Network, chance, uniform};
use super::plan::{Clock, Plan, Victim, plan};
use super::report::{Report, Stats, describe};
use super::scenario::Scenario;

/// How long a planned crash waits when its victim is down, before trying again.
const CRASH_RETRY_MS: u64 = 100;

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
    /// A planned crash (`node` `None`: whoever leads then).
    Crash {
        node: Option<usize>,
        entry: usize,
        down_ms: u64,
    },
    /// Arms a crash in the middle of `node`'s next persist.
    Arm {
        node: usize,
        entry: usize,
        write_lands: bool,
        down_ms: u64,
    },
    Restart {
        node: usize,
    },
    /// A partition episode of schedule entry `entry` opens (it is counted as fired then:
    /// it cuts whatever crosses it, and a quiet network may send nothing across).
    PartitionOpens {
        entry: usize,
    },
}

struct Node {
    index: ValidatorIndex,
    key: SecretKey,
    behaviour: Option<Behaviour>,
    /// Index of the Byzantine role in the scenario, if any.
    role: Option<usize>,
    core: Option<Core>,
    app: SimApp,
    store: MemorySafetyStore,
    incarnation: u64,
    replay: Vec<ConsensusMessage>,
    clock: Option<Clock>,
    /// Armed mid-persist crashes: (schedule entry, whether the write lands, downtime).
    armed: Vec<(usize, bool, u64)>,
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

    /// What this node's clock reads at global time `t`.
    fn local(&self, t: u64) -> u64 {
        self.clock.map_or(t, |c| c.local(t))
    }
}

struct Sim<'a> {
    scenario: &'a Scenario,
    plan: Plan,
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
/// The scenario must be valid ([`Scenario::validate`]; [`Scenario::from_toml`] and the
/// library check it).
pub fn run(scenario: &Scenario, seed: u64) -> Report {
    run_inner(scenario, seed, false)
}

/// Like [`run`], keeping a readable log of every event.
pub fn run_traced(scenario: &Scenario, seed: u64) -> Report {
    run_inner(scenario, seed, true)
}

fn keys(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| {
            let mut seed_bytes = [0u8; 32];
            seed_bytes[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SecretKey::from_bytes(&seed_bytes)
        })
        .collect()
}

fn run_inner(scenario: &Scenario, seed: u64, traced: bool) -> Report {
    let rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from_le_bytes(name_salt(&scenario.name)));
    let plan = plan(scenario, seed);
    let keys = keys(scenario.topology.stakes.len());
    let members = keys
        .iter()
        .zip(&scenario.topology.stakes)
        .map(|(k, s)| Member {
            public_key: k.public_key(),
            stake: Stake(*s),
            network_address: String::new(),
        })
        .collect();
    // `Scenario::validate` bounds the committee, so this cannot fail for a loaded scenario.
    #[allow(clippy::expect_used)]
    let committee =
        Committee::new(ChainId(1337), ShardId(0), Epoch(0), members).expect("scenario committee");
    let genesis = Arc::new(genesis_block(&committee, 0, ExecutionCommitment::default()));
    let nodes = plan
        .node_validator
        .iter()
        .zip(&plan.clocks)
        .map(|(&v, clock)| {
            let role = scenario.byzantine.iter().position(|r| r.validator == v);
            Node {
                index: ValidatorIndex(v),
                key: keys[usize::from(v)].clone(),
                behaviour: role.map(|r| scenario.byzantine[r].behaviour),
                role,
                core: None,
                app: SimApp::default(),
                store: MemorySafetyStore::new(),
                incarnation: 0,
                replay: Vec::new(),
                clock: *clock,
                armed: Vec::new(),
            }
        })
        .collect();
    let net = Network {
        latency_ms: (
            scenario.network.latency_ms[0],
            scenario.network.latency_ms[1],
        ),
        loss: scenario.network.loss,
        duplicate: scenario.network.duplicate,
        partitions: plan.partitions.clone(),
        heal_at_ms: scenario.duration.fault_ms,
    };
    let cfg = Config {
        base_timeout_ms: 300,
        max_backoff_exponent: 3,
        sync_retry_ms: 200,
        max_sync_retries: 20,
        min_block_interval_ms: scenario.topology.block_interval_ms,
        ..Config::default()
    };
    let stats = Stats {
        fault_fired: vec![0; scenario.faults.len()],
        role_fired: vec![0; scenario.byzantine.len()],
        ..Stats::default()
    };
    let mut sim = Sim {
        scenario,
        plan,
        cfg,
        committee,
        genesis,
        nodes,
        net,
        rng,
        queue: BTreeMap::new(),
        seq: 0,
        checker: Checker::default(),
        stats,
        hasher: blake3::Hasher::new(),
        trace: traced.then(Vec::new),
        proposed_at: BTreeMap::new(),
    };
    for c in sim.plan.crashes.clone() {
        let node = match c.victim {
            Victim::Node(n) => Some(n),
            Victim::Leader => None,
        };
        let (entry, down_ms) = (c.entry, c.down_ms);
        sim.schedule(
            c.at_ms,
            Event::Crash {
                node,
                entry,
                down_ms,
            },
        );
    }
    for (entry, at) in sim
        .plan
        .partitions
        .iter()
        .map(|p| (p.entry, p.from_ms))
        .collect::<Vec<_>>()
    {
        sim.schedule(at, Event::PartitionOpens { entry });
    }
    for a in sim.plan.persist_crashes.clone() {
        let (node, entry, write_lands, down_ms) = (a.node, a.entry, a.write_lands, a.down_ms);
        sim.schedule(
            a.at_ms,
            Event::Arm {
                node,
                entry,
                write_lands,
                down_ms,
            },
        );
    }
    let violation = sim.run_all().err();
    let mut stats = sim.stats.clone();
    stats.max_height = sim.checker.max_height().0;
    Report {
        scenario: scenario.name.clone(),
        seed,
        params: sim.plan.params.clone(),
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
        let heal = self.scenario.duration.fault_ms;
        let end = heal + self.scenario.duration.heal_ms;
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
        let need = self.scenario.liveness.min_height_at_heal;
        let reached = before.iter().copied().max().unwrap_or(0);
        if reached < need {
            return Err(Violation::NoProgressUnderFaults {
                reached,
                needed: need,
            });
        }
        for (n, h) in self.heights().into_iter().enumerate() {
            if !self.nodes[n].honest() {
                continue;
            }
            let commits = h.saturating_sub(before[n]);
            if commits < self.scenario.liveness.min_commits_after_heal {
                return Err(Violation::Liveness {
                    node: n,
                    commits,
                    needed: self.scenario.liveness.min_commits_after_heal,
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

    /// A scenario whose faults never fired tested less than it claims: that is a failure.
    fn check_faults_fired(&self) -> Result<(), Violation> {
        let s = self.scenario;
        let not_fired = |what: String| Err(Violation::FaultNotFired(what));
        if s.network.loss > 0.0 && self.stats.dropped == 0 {
            return not_fired(format!("network loss {} (no message lost)", s.network.loss));
        }
        if s.network.duplicate > 0.0 && self.stats.duplicated == 0 {
            return not_fired(format!(
                "network duplicate {} (no message duplicated)",
                s.network.duplicate
            ));
        }
        for (i, f) in s.faults.iter().enumerate() {
            if self.stats.fault_fired.get(i).copied().unwrap_or(0) == 0 {
                return not_fired(format!("fault {i} ({}): {f:?}", f.kind()));
            }
        }
        for (i, r) in s.byzantine.iter().enumerate() {
            if self.stats.role_fired.get(i).copied().unwrap_or(0) == 0 {
                return not_fired(format!(
                    "byzantine v{} {:?} (never acted)",
                    r.validator, r.behaviour
                ));
            }
        }
        Ok(())
    }

    fn boot(&mut self, n: usize, now: u64) -> Result<(), Violation> {
        let local = self.nodes[n].local(now);
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
        core.start(local);
        node.core = Some(core);
        self.pump(n, now)
    }

    /// Stops node `n` (if up) and schedules its restart `down_ms` later, at the latest when
    /// the fault phase ends. Returns whether it was up.
    fn crash(&mut self, n: usize, now: u64, down_ms: u64) -> bool {
        if self.nodes[n].core.take().is_none() {
            return false;
        }
        self.nodes[n].incarnation += 1;
        self.stats.crashes += 1;
        let heal = self.scenario.duration.fault_ms;
        let back = now.saturating_add(down_ms).min(heal.max(now + 1));
        self.log(now, || format!("n{n} CRASH (restart at {back}ms)"));
        self.schedule(back, Event::Restart { node: n });
        true
    }

    /// The honest nodes running the leader of the highest round a live honest node is in.
    fn current_leader_nodes(&self) -> Vec<usize> {
        let top = self
            .nodes
            .iter()
            .filter(|n| n.honest())
            .filter_map(|n| n.core.as_ref())
            .map(|c| (c.round(), c.leader(c.round())))
            .max_by_key(|(r, _)| *r);
        let Some((_, leader)) = top else {
            return vec![];
        };
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].index == leader && self.nodes[n].honest())
            .collect()
    }

    fn step(&mut self, now: u64, event: Event) -> Result<(), Violation> {
        match event {
            Event::Deliver { to, from, msg } => {
                self.hasher.update(&now.to_le_bytes());
                self.hasher.update(&(to as u64).to_le_bytes());
                self.hasher.update(&codec::canonical_bytes(&msg));
                self.log(now, || format!("n{to} <- {from} {}", describe(&msg)));
                let local = self.nodes[to].local(now);
                let Some(core) = self.nodes[to].core.as_mut() else {
                    return Ok(());
                };
                self.stats.delivered += 1;
                core.handle(local, Input::Message { from, message: msg });
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
                let local = self.nodes[node].local(now);
                let Some(core) = self.nodes[node].core.as_mut() else {
                    return Ok(());
                };
                core.handle(local, Input::Timer(timer));
                self.pump(node, now)
            }
            Event::Crash {
                node,
                entry,
                down_ms,
            } => {
                let victims = match node {
                    Some(n) => vec![n],
                    None => self.current_leader_nodes(),
                };
                self.hasher
                    .update(format!("crash {victims:?} {now}").as_bytes());
                let mut fired = false;
                for n in victims {
                    fired |= self.crash(n, now, down_ms);
                }
                if !fired && node.is_some() {
                    // The planned victim is down already: crash another live honest node.
                    let live: Vec<usize> = (0..self.nodes.len())
                        .filter(|&n| self.nodes[n].honest() && self.nodes[n].core.is_some())
                        .collect();
                    if !live.is_empty() {
                        let n = live[(self.rng.next_u32() as usize) % live.len()];
                        fired = self.crash(n, now, down_ms);
                    }
                }
                if fired {
                    self.stats.fault_fired[entry] += 1;
                } else if now + CRASH_RETRY_MS < self.scenario.duration.fault_ms {
                    // Nobody to crash (every honest node down, or the leader is Byzantine): the
                    // planned crash still happens, a little later, so the scenario does what
                    // it says.
                    self.schedule(
                        now + CRASH_RETRY_MS,
                        Event::Crash {
                            node,
                            entry,
                            down_ms,
                        },
                    );
                }
                Ok(())
            }
            Event::Arm {
                node,
                entry,
                write_lands,
                down_ms,
            } => {
                self.hasher.update(format!("arm {node} {now}").as_bytes());
                self.nodes[node].armed.push((entry, write_lands, down_ms));
                Ok(())
            }
            Event::PartitionOpens { entry } => {
                self.hasher
                    .update(format!("partition {entry} {now}").as_bytes());
                self.log(now, || format!("PARTITION (entry {entry}) opens"));
                self.stats.fault_fired[entry] += 1;
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

    /// Whether node `n` crashes in the middle of this persist, and if so whether the write
    /// lands first and how long it stays down: an armed crash, else each `crash-at-persist`
    /// probability in turn.
    fn persist_crash(&mut self, n: usize) -> Option<(bool, u64)> {
        if !self.nodes[n].armed.is_empty() {
            let (entry, lands, down_ms) = self.nodes[n].armed.remove(0);
            self.stats.fault_fired[entry] += 1;
            return Some((lands, down_ms));
        }
        for i in 0..self.plan.persist_probability.len() {
            let (entry, p, down) = self.plan.persist_probability[i];
            if chance(&mut self.rng, p) {
                self.stats.fault_fired[entry] += 1;
                let lands = self.rng.next_u32().is_multiple_of(2);
                let (lo, hi) = down.bounds();
                return Some((lands, uniform(&mut self.rng, lo, hi)));
            }
        }
        None
    }

    /// Drains a node's outputs: the application and store answer synchronously (with crash
    /// injection at persistence points), network outputs go through Byzantine rewriting and
    /// the network model, and every honest output is checked against the invariants.
    fn pump(&mut self, n: usize, now: u64) -> Result<(), Violation> {
        // The core sees its own clock; the queue, the network and the stats global time.
        let local = self.nodes[n].local(now);
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
                            local,
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
                            local,
                            Input::PayloadVerdict {
                                block: block.hash(),
                                valid,
                            },
                        );
                    }
                }
                Output::Persist { id, data, blocks } => {
                    if let Some((lands, down_ms)) = self.persist_crash(n) {
                        self.stats.persist_crashes += 1;
                        if lands {
                            self.nodes[n].persist(&data, &blocks);
                        }
                        self.hasher
                            .update(format!("persist-crash {n} {lands}").as_bytes());
                        self.crash(n, now, down_ms);
                        return Ok(());
                    }
                    self.nodes[n].persist(&data, &blocks);
                    if let Some(core) = self.nodes[n].core.as_mut() {
                        core.handle(local, Input::Persisted { id });
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
                    let at = match self.nodes[n].clock {
                        Some(c) => {
                            let at = c.global_at(now, at_ms);
                            if at != at_ms.max(now) {
                                self.stats.skewed_timers += 1;
                                self.stats.fault_fired[c.entry] += 1;
                            }
                            at
                        }
                        None => at_ms.max(now),
                    };
                    self.schedule(
                        at,
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
            let faults = faults + u64::from(b == Behaviour::Twin);
            self.stats.byzantine_actions += faults;
            if let Some(r) = self.nodes[n].role {
                self.stats.role_fired[r] += faults;
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
