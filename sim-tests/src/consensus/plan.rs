//! A scenario's concrete fault plan for one seed: every range in the scenario drawn, every
//! random node picked. It is drawn from its own RNG stream (not the one the run uses for
//! latency and loss), so it can be computed and printed before a run starts and equals what
//! the run uses.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::Behaviour;
use super::network::{Partition, uniform};
use super::scenario::{Draw, Fault, Pick, Scenario, Side, SignedDraw, Target, Toggle};

/// Who a planned crash hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Victim {
    /// This node (an index into the node list, where a twin takes two slots).
    Node(usize),
    /// The leader at the time, decided by the run.
    Leader,
}

/// One planned crash-restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CrashPlan {
    pub(crate) entry: usize,
    pub(crate) at_ms: u64,
    pub(crate) down_ms: u64,
    pub(crate) victim: Victim,
}

/// A node armed to crash in the middle of its next persist after `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PersistCrashPlan {
    pub(crate) entry: usize,
    pub(crate) at_ms: u64,
    pub(crate) node: usize,
    pub(crate) write_lands: bool,
    pub(crate) down_ms: u64,
}

/// A node's clock: `local = t + offset_ms + t·drift_ppm/10⁶`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clock {
    pub(crate) entry: usize,
    pub(crate) offset_ms: u64,
    pub(crate) drift_ppm: i64,
}

impl Clock {
    /// Local time at global time `t`. Monotonic, as drift is above −50%.
    pub(crate) fn local(&self, t: u64) -> u64 {
        let skew = i128::from(t) * i128::from(self.drift_ppm) / 1_000_000;
        let local = i128::from(t) + i128::from(self.offset_ms) + skew;
        u64::try_from(local.max(0)).unwrap_or(u64::MAX)
    }

    /// The first global time `≥ now` at which the local clock reads at least `local_at`.
    pub(crate) fn global_at(&self, now: u64, local_at: u64) -> u64 {
        if self.local(now) >= local_at {
            return now;
        }
        // Invert the linear map, then correct the integer rounding by a step or two.
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let target = i128::from(local_at) - i128::from(self.offset_ms);
        let guess = (target * 1_000_000 / rate).max(i128::from(now));
        let mut g = u64::try_from(guess).unwrap_or(u64::MAX);
        while g > now && self.local(g - 1) >= local_at {
            g -= 1;
        }
        while self.local(g) < local_at {
            g += 1;
        }
        g
    }
}

/// The drawn plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every parameter drawn from the seed, one per line, for reports.
    pub params: Vec<String>,
    /// Validator index of each node (a twin's key runs on two nodes).
    pub(crate) node_validator: Vec<u16>,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) crashes: Vec<CrashPlan>,
    pub(crate) persist_crashes: Vec<PersistCrashPlan>,
    /// `(entry, probability, down_ms)` of every `crash-at-persist` entry; the downtime is
    /// drawn by the run, per crash.
    pub(crate) persist_probability: Vec<(usize, f64, Draw)>,
    /// Each node's clock, if skewed.
    pub(crate) clocks: Vec<Option<Clock>>,
}

fn draw(rng: &mut ChaCha8Rng, d: Draw) -> u64 {
    let (lo, hi) = d.bounds();
    uniform(rng, lo, hi)
}

fn draw_signed(rng: &mut ChaCha8Rng, d: SignedDraw) -> i64 {
    let (lo, hi) = d.bounds();
    let span = hi.abs_diff(lo);
    let off = if span == u64::MAX {
        rng.next_u64()
    } else {
        rng.next_u64() % (span + 1)
    };
    lo.saturating_add_unsigned(off)
}

fn toggle(rng: &mut ChaCha8Rng, t: Toggle) -> bool {
    match t {
        Toggle::Fixed(b) => b,
        Toggle::Random(_) => rng.next_u32().is_multiple_of(2),
    }
}

/// Draws `scenario`'s plan for `seed`.
pub fn plan(scenario: &Scenario, seed: u64) -> Plan {
    let mut key = blake3::Hasher::new();
    key.update(b"shardnet/sim/plan");
    key.update(scenario.name.as_bytes());
    key.update(&seed.to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(*key.finalize().as_bytes());

    let mut node_validator = Vec::new();
    for v in 0..scenario.topology.stakes.len() {
        let Ok(v) = u16::try_from(v) else { break };
        let copies = if scenario.behaviour_of(v) == Some(Behaviour::Twin) {
            2
        } else {
            1
        };
        node_validator.extend(std::iter::repeat_n(v, copies));
    }
    let nodes = node_validator.len();
    let honest: Vec<usize> = (0..nodes)
        .filter(|&n| scenario.behaviour_of(node_validator[n]).is_none())
        .collect();
    let mut p = Plan {
        params: vec![
            format!("nodes {nodes} (validators {node_validator:?})"),
            format!("stakes {:?}", scenario.topology.stakes),
        ],
        node_validator,
        partitions: vec![],
        crashes: vec![],
        persist_crashes: vec![],
        persist_probability: vec![],
        clocks: vec![None; nodes],
    };
    let fault_ms = scenario.duration.fault_ms;
    let pick = |rng: &mut ChaCha8Rng, p: &Plan, target: Target| match target {
        Target::Validator(v) => p
            .node_validator
            .iter()
            .position(|x| *x == v)
            .map_or(Victim::Leader, Victim::Node),
        Target::Pick(Pick::Leader) => Victim::Leader,
        Target::Pick(Pick::Random) => {
            Victim::Node(honest[(rng.next_u32() as usize) % honest.len().max(1)])
        }
    };
    for (entry, fault) in scenario.faults.iter().enumerate() {
        match fault {
            Fault::Partition {
                count,
                at_ms,
                duration_ms,
                side,
                one_way,
            } => {
                for _ in 0..*count {
                    let from_ms = draw(&mut rng, *at_ms);
                    let to_ms = from_ms
                        .saturating_add(draw(&mut rng, *duration_ms))
                        .min(fault_ms);
                    let side = match side {
                        Side::Validators(vs) => (0..nodes)
                            .filter(|n| vs.contains(&p.node_validator[*n]))
                            .collect(),
                        Side::Random(_) => {
                            let mut s: Vec<usize> = (0..nodes)
                                .filter(|_| rng.next_u32().is_multiple_of(2))
                                .collect();
                            if s.is_empty() || s.len() == nodes {
                                s = vec![(rng.next_u32() as usize) % nodes];
                            }
                            s
                        }
                    };
                    let one_way = toggle(&mut rng, *one_way);
                    p.params.push(format!(
                        "[{entry}] partition nodes {side:?} {from_ms}..{to_ms}ms{}",
                        if one_way { " one-way" } else { "" }
                    ));
                    p.partitions.push(Partition {
                        entry,
                        from_ms,
                        to_ms,
                        side,
                        one_way,
                    });
                }
            }
            Fault::Crash {
                count,
                at_ms,
                down_ms,
                node,
            } => {
                for _ in 0..*count {
                    let at_ms = draw(&mut rng, *at_ms);
                    let down_ms = draw(&mut rng, *down_ms);
                    let victim = pick(&mut rng, &p, *node);
                    p.params.push(format!(
                        "[{entry}] crash {} at {at_ms}ms for {down_ms}ms",
                        describe_victim(victim)
                    ));
                    p.crashes.push(CrashPlan {
                        entry,
                        at_ms,
                        down_ms,
                        victim,
                    });
                }
            }
            Fault::CrashMidPersist {
                count,
                at_ms,
                write_lands,
                down_ms,
                node,
            } => {
                for _ in 0..*count {
                    let at_ms = draw(&mut rng, *at_ms);
                    let write_lands = toggle(&mut rng, *write_lands);
                    let down_ms = draw(&mut rng, *down_ms);
                    // A "leader" target makes no sense for a persist: pick at random then.
                    let node = match pick(&mut rng, &p, *node) {
                        Victim::Node(n) => n,
                        Victim::Leader => honest[(rng.next_u32() as usize) % honest.len().max(1)],
                    };
                    p.params.push(format!(
                        "[{entry}] crash node {node} mid-persist after {at_ms}ms (write {}), down {down_ms}ms",
                        if write_lands { "lands" } else { "lost" }
                    ));
                    p.persist_crashes.push(PersistCrashPlan {
                        entry,
                        at_ms,
                        node,
                        write_lands,
                        down_ms,
                    });
                }
            }
            Fault::CrashAtPersist {
                probability,
                down_ms,
            } => {
                p.params.push(format!(
                    "[{entry}] every persist crashes with probability {probability}, down {:?}ms",
                    down_ms.bounds()
                ));
                p.persist_probability.push((entry, *probability, *down_ms));
            }
            Fault::ClockSkew {
                validators,
                offset_ms,
                drift_ppm,
            } => {
                for n in 0..nodes {
                    let v = p.node_validator[n];
                    if validators.as_ref().is_some_and(|vs| !vs.contains(&v)) {
                        continue;
                    }
                    let clock = Clock {
                        entry,
                        offset_ms: draw(&mut rng, *offset_ms),
                        drift_ppm: draw_signed(&mut rng, *drift_ppm),
                    };
                    p.params.push(format!(
                        "[{entry}] clock of node {n}: +{}ms, drift {} ppm",
                        clock.offset_ms, clock.drift_ppm
                    ));
                    p.clocks[n] = Some(clock);
                }
            }
        }
    }
    p
}

fn describe_victim(v: Victim) -> String {
    match v {
        Victim::Node(n) => format!("node {n}"),
        Victim::Leader => "the current leader".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_inverse_finds_the_first_tick() {
        for drift_ppm in [-400_000, -33_333, 0, 1, 77_777, 400_000] {
            for offset_ms in [0, 1, 999] {
                let c = Clock {
                    entry: 0,
                    offset_ms,
                    drift_ppm,
                };
                for now in [0, 5, 1234, 99_999] {
                    for ahead in [0, 1, 2, 300, 4321] {
                        let at = c.local(now) + ahead;
                        let g = c.global_at(now, at);
                        assert!(g >= now && c.local(g) >= at);
                        assert!(g == now || c.local(g - 1) < at);
                    }
                }
            }
        }
    }
}
