//! Full-stack scenarios as data: a TOML file describes the topology, stakes, workload, network,
//! fault schedule, Byzantine validators and execution parameters, with ranges drawn from the
//! seed; [`Scenario::config`] turns one seed into the [`Config`] of one run, and [`FullStack`]
//! lets `shardnet sim` sweep it. The named scenarios are embedded from
//! `sim-tests/fullstack/scenarios/` ([`named`], [`all`]); the format is in the README there.
//!
//! Loading rejects what a run could not honour (unknown keys, empty ranges, probabilities
//! outside [0, 1), a Byzantine validator out of range or two in one shard, a fixed Byzantine
//! or twinned stake that could reach a third of its shard's, twin splits without twins),
//! naming the file and the reason.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Deserialize;
use shardnet_exec::lanes::congestion::Congestion;
use shardnet_exec::lanes::inbox::Budget;
use shardnet_node::validator::ExecutionOverrides;
use shardnet_sim::cli::{SeedReport, Suite, Verdict};

use crate::byzantine::Behaviour;
use crate::faults::{FaultPlan, schedule};
use crate::{Config, Exit, Outcome, run};

/// The embedded named scenarios: (name, TOML).
const LIBRARY: &[(&str, &str)] = &[
    (
        "partition-heal",
        include_str!("../scenarios/partition-heal.toml"),
    ),
    (
        "leader-crash",
        include_str!("../scenarios/leader-crash.toml"),
    ),
    (
        "crash-restart-storm",
        include_str!("../scenarios/crash-restart-storm.toml"),
    ),
    (
        "byzantine-equivocation",
        include_str!("../scenarios/byzantine-equivocation.toml"),
    ),
    (
        "segment-forger",
        include_str!("../scenarios/segment-forger.toml"),
    ),
    (
        "cross-shard-partition",
        include_str!("../scenarios/cross-shard-partition.toml"),
    ),
    ("congestion", include_str!("../scenarios/congestion.toml")),
    ("clock-skew", include_str!("../scenarios/clock-skew.toml")),
    (
        "lossy-network",
        include_str!("../scenarios/lossy-network.toml"),
    ),
    ("twins", include_str!("../scenarios/twins.toml")),
    ("twins-kept", include_str!("../scenarios/twins-kept.toml")),
];

/// Most shards, validators per shard, and simulated seconds a scenario may ask for.
pub const MAX_SHARDS: u16 = 8;
/// See [`MAX_SHARDS`].
pub const MAX_VALIDATORS: u16 = 16;
/// See [`MAX_SHARDS`].
pub const MAX_SECS: u64 = 3_600;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML, or keys the format does not have.
    #[error("{source_name}: {message}")]
    Syntax {
        /// File or scenario name.
        source_name: String,
        /// The parser's message.
        message: String,
    },
    /// Valid TOML that describes an impossible run.
    #[error("{source_name}: {field}: {reason}")]
    Invalid {
        /// File or scenario name.
        source_name: String,
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No embedded scenario has this name.
    #[error("unknown full-stack scenario `{0}` (known: {names})", names = names().join(", "))]
    Unknown(String),
}

/// An inclusive range `[lo, hi]` drawn from the seed.
type Range = [u64; 2];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    stack: String,
    topology: Topology,
    #[serde(default)]
    workload: Workload,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    faults: Faults,
    #[serde(default)]
    byzantine: Vec<ByzantineSpec>,
    #[serde(default)]
    execution: Execution,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    duration: Timing,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Topology {
    shards: u16,
    validators: u16,
    #[serde(default = "default_stake")]
    stake: Range,
}

fn default_stake() -> Range {
    [1, 100]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Workload {
    wallets_per_shard: usize,
    tx_every_ms: u64,
    until_ms: u64,
    cross_shard: f64,
    calls: f64,
    contract_calls: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            wallets_per_shard: 8,
            tx_every_ms: 50,
            until_ms: 18_000,
            cross_shard: 0.35,
            calls: 0.25,
            contract_calls: 0.15,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Network {
    latency_ms: Range,
    loss: f64,
    duplicate: f64,
    max_skew_ms: u64,
    max_drift_ppm: u64,
    tick_ms: u64,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            latency_ms: [1, 20],
            loss: 0.0,
            duplicate: 0.0,
            max_skew_ms: 20,
            max_drift_ppm: 0,
            tick_ms: 2,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Faults {
    window_ms: Range,
    length_ms: Range,
    partitions_within: usize,
    partitions_between: usize,
    one_way: usize,
    crashes: usize,
    leader_crashes: usize,
    torn_crashes: usize,
    twin_splits: usize,
    twins_keep_groups: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            window_ms: [3_000, 15_000],
            length_ms: [1_000, 4_000],
            partitions_within: 0,
            partitions_between: 0,
            one_way: 0,
            crashes: 0,
            leader_crashes: 0,
            torn_crashes: 0,
            twin_splits: 0,
            twins_keep_groups: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByzantineSpec {
    shard: u16,
    /// A committee index, or "random" (drawn from the seed).
    #[serde(default)]
    validator: Option<toml::Value>,
    behaviour: Behaviour,
    /// A fixed stake instead of one drawn from the topology's range; refused if it could
    /// reach a third of the shard's.
    #[serde(default)]
    stake: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Execution {
    inbound_gas_budget: Option<u64>,
    response_reserve_gas: Option<u64>,
    lane_credits: Option<u64>,
    congestion_threshold: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    congestion: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Timing {
    secs: u64,
    block_interval_ms: u64,
    base_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            secs: 30,
            block_interval_ms: 500,
            base_timeout_ms: 1_000,
        }
    }
}

/// A validated full-stack scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// What it exercises.
    pub description: String,
    file: File,
}

/// Whether a TOML text is a full-stack scenario (`stack = "full"`), as opposed to one of the
/// consensus simulator's.
pub fn is_full_stack(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("stack").and_then(|v| v.as_str().map(|s| s == "full")))
        .unwrap_or(false)
}

impl Scenario {
    /// Parses and validates a scenario; `source_name` names it in errors.
    pub fn from_toml(source_name: &str, text: &str) -> Result<Self, ScenarioError> {
        let file: File = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |field: &'static str, reason: String| ScenarioError::Invalid {
            source_name: source_name.to_owned(),
            field,
            reason,
        };
        let range_ok = |r: Range| r[0] <= r[1];
        let prob_ok = |p: f64| (0.0..1.0).contains(&p);
        if file.stack != "full" {
            return Err(invalid("stack", "must be \"full\"".into()));
        }
        if file.name.is_empty() || file.name.contains(char::is_whitespace) {
            return Err(invalid("name", "must be non-empty, without spaces".into()));
        }
        let t = &file.topology;
        if !(1..=MAX_SHARDS).contains(&t.shards) {
            return Err(invalid("topology.shards", format!("1 to {MAX_SHARDS}")));
        }
        if !(1..=MAX_VALIDATORS).contains(&t.validators) {
            return Err(invalid(
                "topology.validators",
                format!("1 to {MAX_VALIDATORS}"),
            ));
        }
        if !range_ok(t.stake) || t.stake[0] == 0 {
            return Err(invalid(
                "topology.stake",
                "a range [lo, hi], 1 <= lo <= hi".into(),
            ));
        }
        let w = &file.workload;
        if w.wallets_per_shard < 2 || w.tx_every_ms == 0 {
            return Err(invalid(
                "workload",
                "at least 2 wallets per shard and a positive tx_every_ms".into(),
            ));
        }
        if !prob_ok(w.cross_shard)
            || w.calls < 0.0
            || w.contract_calls < 0.0
            || w.calls + w.contract_calls > 1.0
        {
            return Err(invalid(
                "workload",
                "cross_shard in [0, 1); calls and contract_calls non-negative, their sum at most 1"
                    .into(),
            ));
        }
        let n = &file.network;
        if !range_ok(n.latency_ms) || n.latency_ms[0] == 0 {
            return Err(invalid(
                "network.latency_ms",
                "a range [lo, hi], lo >= 1".into(),
            ));
        }
        if !prob_ok(n.loss) || !prob_ok(n.duplicate) {
            return Err(invalid("network", "loss and duplicate in [0, 1)".into()));
        }
        if !(1..=20).contains(&n.tick_ms) || n.max_drift_ppm > 100_000 {
            return Err(invalid(
                "network",
                "tick_ms 1 to 20, max_drift_ppm at most 100000".into(),
            ));
        }
        let d = &file.duration;
        if !(1..=MAX_SECS).contains(&d.secs) || d.block_interval_ms == 0 || d.base_timeout_ms == 0 {
            return Err(invalid(
                "duration",
                format!("secs 1 to {MAX_SECS}, positive block_interval_ms and base_timeout_ms"),
            ));
        }
        let f = &file.faults;
        if !range_ok(f.window_ms) || !range_ok(f.length_ms) || f.window_ms[1] > d.secs * 1000 {
            return Err(invalid(
                "faults",
                "window_ms and length_ms are ranges [lo, hi]; the window ends within the run"
                    .into(),
            ));
        }
        if w.until_ms > d.secs * 1000 {
            return Err(invalid(
                "workload.until_ms",
                "past the end of the run".into(),
            ));
        }
        let mut byz_shards = Vec::new();
        for b in &file.byzantine {
            if b.shard >= t.shards {
                return Err(invalid(
                    "byzantine.shard",
                    format!("{} out of range", b.shard),
                ));
            }
            if byz_shards.contains(&b.shard) {
                return Err(invalid(
                    "byzantine",
                    format!("two Byzantine validators in shard {}", b.shard),
                ));
            }
            byz_shards.push(b.shard);
            match &b.validator {
                None => {}
                Some(toml::Value::String(s)) if s == "random" => {}
                Some(toml::Value::Integer(i)) if (0..i64::from(t.validators)).contains(i) => {}
                Some(v) => {
                    return Err(invalid(
                        "byzantine.validator",
                        format!("`{v}`: an index below {} or \"random\"", t.validators),
                    ));
                }
            }
            // Under a third of the stake needs at least three honest units of stake per
            // Byzantine one: enforced by capping its stake (`config`), possible only with
            // four validators or more.
            if t.validators < 4 {
                return Err(invalid(
                    "byzantine",
                    "a Byzantine validator needs at least 4 validators in its shard".into(),
                ));
            }
            // A fixed stake must stay under a third whatever the others draw: 2·stake below
            // the least the other validators can hold together.
            if let Some(stake) = b.stake {
                let least_honest = u64::from(t.validators - 1) * t.stake[0];
                if stake == 0 || stake.saturating_mul(2) >= least_honest {
                    let what = if b.behaviour == Behaviour::Twins {
                        "the twinned validator's"
                    } else {
                        "the Byzantine validator's"
                    };
                    return Err(invalid(
                        "byzantine.stake",
                        format!(
                            "{what} stake {stake} could reach a third of shard {}'s (the other {} validators may hold as little as {least_honest} together): it must be positive and below half of that",
                            b.shard,
                            t.validators - 1
                        ),
                    ));
                }
            }
        }
        if f.twins_keep_groups && f.twin_splits == 0 {
            return Err(invalid(
                "faults.twins_keep_groups",
                "keeping twin groups needs twin splits (faults.twin_splits > 0)".into(),
            ));
        }
        if f.twin_splits > 0
            && !file
                .byzantine
                .iter()
                .any(|b| b.behaviour == Behaviour::Twins)
        {
            return Err(invalid(
                "faults.twin_splits",
                "twin splits need a validator with behaviour = \"twins\"".into(),
            ));
        }
        Ok(Self {
            name: file.name.clone(),
            description: file.description.clone(),
            file,
        })
    }

    /// The run of `seed`: every random range and choice drawn from it.
    pub fn config(&self, seed: u64) -> Config {
        let f = &self.file;
        let t = &f.topology;
        let mut rng = {
            let mut h = blake3::Hasher::new();
            h.update(b"shardnet/fullstack/scenario");
            h.update(self.name.as_bytes());
            h.update(&seed.to_le_bytes());
            ChaCha20Rng::from_seed(*h.finalize().as_bytes())
        };
        let mut draw = |r: Range| r[0] + rng.next_u64() % (r[1] - r[0] + 1);
        let mut stakes: Vec<Vec<u64>> = (0..t.shards)
            .map(|_| (0..t.validators).map(|_| draw(t.stake)).collect())
            .collect();
        let byzantine: Vec<_> = f
            .byzantine
            .iter()
            .map(|b| {
                let v = match &b.validator {
                    Some(toml::Value::Integer(i)) => *i as u16,
                    _ => draw([0, u64::from(t.validators) - 1]) as u16,
                };
                ((b.shard, v), b.behaviour)
            })
            .collect();
        for (((s, v), _), spec) in byzantine.iter().zip(&f.byzantine) {
            if let (Some(stake), Some(st)) = (
                spec.stake,
                stakes
                    .get_mut(usize::from(*s))
                    .and_then(|sh| sh.get_mut(usize::from(*v))),
            ) {
                *st = stake;
            }
        }
        // Byzantine stake strictly below a third of the shard's: at most (honest − 1) / 2.
        for ((s, v), _) in &byzantine {
            if let Some(shard) = stakes.get_mut(usize::from(*s)) {
                let honest: u64 = shard
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != usize::from(*v))
                    .map(|(_, s)| s)
                    .sum();
                if let Some(st) = shard.get_mut(usize::from(*v)) {
                    *st = (*st).min(honest.saturating_sub(1) / 2).max(1);
                }
            }
        }
        let mut cfg = Config::new(seed, t.shards, t.validators);
        let e = &f.execution;
        let defaults = shardnet_exec::ShardConfig::new(
            crate::workload::CHAIN_ID,
            shardnet_protocol::ShardId(0),
            shardnet_protocol::ShardMap::new(1, shardnet_protocol::ShardMapScheme::LowBits),
        );
        let budget = Budget {
            total_gas: e
                .inbound_gas_budget
                .unwrap_or(defaults.inbound_budget.total_gas),
            response_reserve_gas: e
                .response_reserve_gas
                .unwrap_or(defaults.inbound_budget.response_reserve_gas),
        };
        let congestion = Congestion {
            lane_credits: e.lane_credits.unwrap_or(defaults.congestion.lane_credits),
            threshold: e
                .congestion_threshold
                .unwrap_or(defaults.congestion.threshold),
        };
        cfg.name = self.name.clone();
        cfg.stakes = std::mem::take(&mut stakes);
        cfg.wallets_per_shard = f.workload.wallets_per_shard;
        cfg.duration = Duration::from_secs(f.duration.secs);
        cfg.fault_window = (
            Duration::from_millis(f.faults.window_ms[0]),
            Duration::from_millis(f.faults.window_ms[1]),
        );
        cfg.workload_until = Duration::from_millis(f.workload.until_ms);
        cfg.tx_every = Duration::from_millis(f.workload.tx_every_ms);
        cfg.cross_shard = f.workload.cross_shard;
        cfg.calls = f.workload.calls;
        cfg.contract_calls = f.workload.contract_calls;
        cfg.faults = FaultPlan {
            partitions_within: f.faults.partitions_within,
            partitions_between: f.faults.partitions_between,
            one_way: f.faults.one_way,
            crashes: f.faults.crashes,
            leader_crashes: f.faults.leader_crashes,
            torn_crashes: f.faults.torn_crashes,
            twin_splits: f.faults.twin_splits,
            twins_keep_groups: f.faults.twins_keep_groups,
            datagram_drop: f.network.loss,
            datagram_duplicate: f.network.duplicate,
            fault_ms: (f.faults.length_ms[0], f.faults.length_ms[1]),
        };
        cfg.tick = Duration::from_millis(f.network.tick_ms);
        cfg.latency = (
            Duration::from_millis(f.network.latency_ms[0]),
            Duration::from_millis(f.network.latency_ms[1]),
        );
        cfg.max_skew_ms = f.network.max_skew_ms;
        cfg.max_drift_ppm = f.network.max_drift_ppm;
        cfg.byzantine = byzantine;
        cfg.execution = if e.inbound_gas_budget.is_some()
            || e.response_reserve_gas.is_some()
            || e.lane_credits.is_some()
            || e.congestion_threshold.is_some()
        {
            ExecutionOverrides {
                inbound_budget: Some(budget),
                congestion: Some(congestion),
            }
        } else {
            ExecutionOverrides::default()
        };
        cfg.expect_congestion = f.expect.congestion;
        cfg.block_interval_ms = f.duration.block_interval_ms;
        cfg.base_timeout_ms = f.duration.base_timeout_ms;
        cfg
    }

    /// The family, for the start of a sweep.
    pub fn describe(&self) -> Vec<String> {
        let f = &self.file;
        vec![
            format!("{} (full stack): {}", self.name, self.description),
            format!(
                "{} shards x {} validators, stake {:?} each; {} s simulated, tick {} ms",
                f.topology.shards,
                f.topology.validators,
                f.topology.stake,
                f.duration.secs,
                f.network.tick_ms
            ),
        ]
    }
}

/// Every parameter of one run, one per line: what a single-seed run prints first.
pub fn params(cfg: &Config) -> Vec<String> {
    let mut out = vec![
        format!("stakes {:?}", cfg.stakes),
        format!(
            "workload: {} wallets per shard, a transaction every {:?} until {:?}, {:.0}% cross-shard, {:.0}% of those calls, {:.0}% contract calls with callbacks",
            cfg.wallets_per_shard,
            cfg.tx_every,
            cfg.workload_until,
            cfg.cross_shard * 100.0,
            cfg.calls * 100.0,
            cfg.contract_calls * 100.0
        ),
        format!(
            "network: latency {:?}..{:?}, loss {}, duplication {}, clock skew within ±{} ms, drift within ±{} ppm, tick {:?}",
            cfg.latency.0,
            cfg.latency.1,
            cfg.faults.datagram_drop,
            cfg.faults.datagram_duplicate,
            cfg.max_skew_ms,
            cfg.max_drift_ppm,
            cfg.tick
        ),
        format!(
            "consensus: blocks at least {} ms apart, round timeout {} ms; run {:?}, faults within {:?}..{:?}",
            cfg.block_interval_ms,
            cfg.base_timeout_ms,
            cfg.duration,
            cfg.fault_window.0,
            cfg.fault_window.1
        ),
    ];
    for ((s, v), b) in &cfg.byzantine {
        out.push(format!("byzantine: validator {v} of shard {s}: {b:?}"));
    }
    if let Some(b) = &cfg.execution.inbound_budget {
        out.push(format!(
            "execution: inbound budget {} gas ({} reserved for responses)",
            b.total_gas, b.response_reserve_gas
        ));
    }
    if let Some(c) = &cfg.execution.congestion {
        out.push(format!(
            "execution: {} lane credits, congestion threshold {}",
            c.lane_credits, c.threshold
        ));
    }
    let sides = cfg.twin_sides();
    for k in &sides.twinned {
        out.push(format!(
            "twins: validator {} of shard {} on hosts {} (A: every host outside its splits) and {} (B: group B of each split)",
            k.1,
            k.0,
            crate::host_name(*k),
            crate::host_name(crate::twins::twin(*k, crate::twins::Side::B)),
        ));
    }
    for (at, action) in schedule(
        cfg.seed,
        &cfg.faults,
        cfg.shards,
        cfg.validators(),
        &sides.twinned,
        cfg.fault_window,
    ) {
        out.push(format!("fault at {at:?}: {action:?}"));
    }
    out
}

/// The embedded scenario `name`.
pub fn named(name: &str) -> Result<Scenario, ScenarioError> {
    LIBRARY
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ScenarioError::Unknown(name.to_owned()))
        .and_then(|(n, text)| Scenario::from_toml(n, text))
}

/// Every embedded scenario, in library order.
pub fn all() -> Result<Vec<Scenario>, ScenarioError> {
    LIBRARY
        .iter()
        .map(|(n, text)| Scenario::from_toml(n, text))
        .collect()
}

/// The names of the embedded scenarios.
pub fn names() -> Vec<&'static str> {
    LIBRARY.iter().map(|(n, _)| *n).collect()
}

/// A full-stack scenario as something `shardnet sim` sweeps.
#[derive(Clone, Debug)]
pub struct FullStack(pub Scenario);

impl Suite for FullStack {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn describe(&self) -> Vec<String> {
        self.0.describe()
    }

    fn params(&self, seed: u64) -> Vec<String> {
        params(&self.0.config(seed))
    }

    fn run_seed(&self, seed: u64, traced: bool) -> SeedReport {
        let cfg = self.0.config(seed);
        let out = run(&cfg);
        report(&cfg, out, traced)
    }
}

fn report(cfg: &Config, out: Outcome, traced: bool) -> SeedReport {
    let verdict = match &out.exit {
        Exit::Ok => Verdict::Pass,
        Exit::SafetyViolation(m) => Verdict::Safety(m.clone()),
        Exit::LivenessFailure(m) => Verdict::Liveness(m.clone()),
    };
    let mut trace = Vec::new();
    if traced {
        trace.push(format!("stats: {:?}", out.stats));
        trace.extend(out.trace.iter().map(|e| format!("{e:?}")));
    }
    SeedReport {
        scenario: cfg.name.clone(),
        seed: cfg.seed,
        verdict,
        trace_hash: out.trace_hash.0,
        params: params(cfg),
        trace,
    }
}
