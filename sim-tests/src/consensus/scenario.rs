//! Named scenarios: topology, stakes, faults. Random details (which nodes, when) are drawn
//! from the seed by the runner and printed in its report.

use crate::consensus::Behaviour;

/// A fault-injection scenario for one shard committee.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name used on the command line and in failure reports.
    pub name: &'static str,
    /// Stake of each validator, in index order.
    pub stakes: Vec<u64>,
    /// Byzantine validators and what they do.
    pub byzantine: Vec<(u16, Behaviour)>,
    /// One-way latency range in milliseconds (uniform), which also reorders messages.
    pub latency_ms: (u64, u64),
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Partition episodes during the fault phase.
    pub partitions: usize,
    /// Crash-restart episodes during the fault phase.
    pub crashes: usize,
    /// Probability, at each persistence point, that the validator crashes right there.
    pub crash_at_persist: f64,
    /// Length of the fault phase in simulated milliseconds.
    pub fault_ms: u64,
    /// Length of the healed phase, in which every honest validator must commit (I-4).
    pub heal_ms: u64,
    /// Blocks every honest validator must commit during the healed phase.
    pub min_commits_after_heal: u64,
    /// Least time between a block and its child (`Config::min_block_interval_ms`).
    pub block_interval_ms: u64,
}

impl Scenario {
    /// A fault-free committee of `n` equal-stake validators with a fixed one-way latency
    /// and no pacing, for measuring latency in message delays and CPU per block.
    pub fn benchmark(n: usize, latency_ms: u64, duration_ms: u64) -> Self {
        Self {
            stakes: vec![1; n],
            latency_ms: (latency_ms, latency_ms),
            fault_ms: 0,
            heal_ms: duration_ms,
            min_commits_after_heal: 1,
            block_interval_ms: 0,
            ..Self::base("benchmark")
        }
    }

    fn base(name: &'static str) -> Self {
        Self {
            name,
            stakes: vec![1; 4],
            byzantine: vec![],
            latency_ms: (5, 50),
            loss: 0.0,
            duplicate: 0.0,
            partitions: 0,
            crashes: 0,
            crash_at_persist: 0.0,
            fault_ms: 6_000,
            heal_ms: 6_000,
            min_commits_after_heal: 3,
            block_interval_ms: 100,
        }
    }

    /// A scenario from [`SCENARIOS`] by name.
    pub fn named(name: &str) -> Option<Self> {
        let s = Self::base;
        Some(match name {
            "happy" => Self {
                stakes: vec![1; 4],
                ..s("happy")
            },
            "uneven-stake" => Self {
                stakes: vec![5, 3, 2, 2, 1, 1, 1],
                ..s("uneven-stake")
            },
            "lossy-network" => Self {
                loss: 0.15,
                duplicate: 0.1,
                latency_ms: (1, 200),
                ..s("lossy-network")
            },
            "partition-heal" => Self {
                stakes: vec![1; 5],
                partitions: 3,
                ..s("partition-heal")
            },
            "crash-restart" => Self {
                crashes: 4,
                crash_at_persist: 0.01,
                ..s("crash-restart")
            },
            "equivocating-leader" => Self {
                stakes: vec![1; 7],
                byzantine: vec![(0, Behaviour::Equivocate), (1, Behaviour::Equivocate)],
                ..s("equivocating-leader")
            },
            "double-voter" => Self {
                stakes: vec![1; 4],
                byzantine: vec![(3, Behaviour::DoubleVote)],
                partitions: 1,
                ..s("double-voter")
            },
            "twins" => Self {
                stakes: vec![1; 4],
                byzantine: vec![(1, Behaviour::Twin)],
                partitions: 3,
                ..s("twins")
            },
            "withhold-and-spam" => Self {
                stakes: vec![3, 3, 3, 1, 1, 1],
                byzantine: vec![
                    (3, Behaviour::WithholdVotes),
                    (4, Behaviour::InvalidSignatures),
                    (5, Behaviour::StaleSpam),
                ],
                loss: 0.05,
                ..s("withhold-and-spam")
            },
            "chaos" => Self {
                stakes: vec![3, 2, 2, 2, 1, 1, 1],
                byzantine: vec![(6, Behaviour::Twin), (5, Behaviour::Equivocate)],
                loss: 0.05,
                duplicate: 0.05,
                latency_ms: (1, 150),
                partitions: 2,
                crashes: 2,
                crash_at_persist: 0.01,
                ..s("chaos")
            },
            _ => return None,
        })
    }
}

/// Every named scenario.
pub const SCENARIOS: &[&str] = &[
    "happy",
    "uneven-stake",
    "lossy-network",
    "partition-heal",
    "crash-restart",
    "equivocating-leader",
    "double-voter",
    "twins",
    "withhold-and-spam",
    "chaos",
];
