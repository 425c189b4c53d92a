//! Scenarios are data: a TOML file names the committee, the network, a fault schedule, the
//! Byzantine roles, the duration and what liveness must hold. Anything given as a range
//! (`[lo, hi]`) is drawn from the seed by [`crate::consensus::plan`], so one file describes a
//! family of runs and one seed picks a member of it. The format is documented in
//! `sim-tests/scenarios/README.md`; the named scenarios are embedded in the binary
//! ([`crate::consensus::library`]).
//!
//! Loading validates everything a run relies on (stakes, indices, ranges, Byzantine stake
//! under one third), so bad input is a [`ScenarioError`] and never a panic mid-run.

use serde::Deserialize;

use crate::consensus::Behaviour;

/// Most validators a scenario may declare (the simulator is in-process; 256 is far beyond
/// what a sweep can afford and keeps indices in `u16`).
pub const MAX_VALIDATORS: usize = 256;
/// Most fault-schedule entries, and most episodes per entry.
pub const MAX_FAULTS: usize = 64;
/// Longest simulated run, in milliseconds (one hour of simulated time).
pub const MAX_DURATION_MS: u64 = 3_600_000;
/// Largest clock drift, in parts per million (±50%: beyond that a "clock" is a fault of
/// another kind).
pub const MAX_DRIFT_PPM: i64 = 500_000;

/// Why a scenario could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not valid scenario TOML (syntax, unknown key, wrong type).
    #[error("scenario {source_name}: {message}")]
    Syntax {
        /// File name or scenario name.
        source_name: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The TOML is well formed but describes an impossible or unsafe scenario.
    #[error("scenario {name}: {reason}")]
    Invalid {
        /// The scenario's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// No embedded scenario has this name.
    #[error("unknown scenario `{name}`; known: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names available.
        known: String,
    },
}

/// A value drawn from the seed: a fixed number, or `[lo, hi]` drawn uniformly (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Draw {
    /// Always this value.
    Fixed(u64),
    /// Uniform in `[lo, hi]`.
    Range([u64; 2]),
}

impl Draw {
    /// Lowest and highest value it can take.
    pub fn bounds(self) -> (u64, u64) {
        match self {
            Self::Fixed(v) => (v, v),
            Self::Range([lo, hi]) => (lo, hi),
        }
    }
}

/// A signed value drawn from the seed (clock offsets and drifts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SignedDraw {
    /// Always this value.
    Fixed(i64),
    /// Uniform in `[lo, hi]`.
    Range([i64; 2]),
}

impl SignedDraw {
    /// Lowest and highest value it can take.
    pub fn bounds(self) -> (i64, i64) {
        match self {
            Self::Fixed(v) => (v, v),
            Self::Range([lo, hi]) => (lo, hi),
        }
    }
}

/// A yes/no choice that may be left to the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Toggle {
    /// Always this.
    Fixed(bool),
    /// `"random"`: a fair coin from the seed.
    Random(RandomWord),
}

/// The word `"random"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomWord {
    /// Drawn from the seed.
    Random,
}

/// Which node a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// This validator (every node running its key, for twins).
    Validator(u16),
    /// A keyword.
    Pick(Pick),
}

/// Node choices decided by the seed or by the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    /// An honest node drawn from the seed.
    Random,
    /// The leader of the highest round any live honest node is in, at the moment the fault
    /// fires (decided by the run, so it hits whoever leads then).
    Leader,
}

/// Which side of a partition.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Side {
    /// These validators against the rest.
    Validators(Vec<u16>),
    /// `"random"`: each node (twins separately) joins the side with probability 1/2.
    Random(RandomWord),
}

/// One entry of the fault schedule. `count` episodes are drawn, each at a time in `at_ms`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Nodes on `side` cannot reach the others (or, `one_way`, cannot send to them).
    Partition {
        /// Episodes.
        #[serde(default = "one")]
        count: u64,
        /// Start time.
        at_ms: Draw,
        /// Length (the episode also ends when the fault phase does).
        duration_ms: Draw,
        /// Who is cut off.
        #[serde(default = "random_side")]
        side: Side,
        /// Whether only messages leaving `side` are dropped.
        #[serde(default = "fixed_false")]
        one_way: Toggle,
    },
    /// A node stops (losing everything not persisted) and restarts `down_ms` later, at the
    /// latest when the fault phase ends.
    Crash {
        /// Episodes.
        #[serde(default = "one")]
        count: u64,
        /// Crash time.
        at_ms: Draw,
        /// Time until the restart.
        #[serde(default = "default_down")]
        down_ms: Draw,
        /// Who crashes.
        #[serde(default = "random_target")]
        node: Target,
    },
    /// A node is armed at `at_ms` and crashes in the middle of its next persist: the write
    /// lands or is lost (`write_lands`), and nothing after it happens.
    CrashMidPersist {
        /// Episodes.
        #[serde(default = "one")]
        count: u64,
        /// Arming time.
        at_ms: Draw,
        /// Whether the interrupted write is durable.
        #[serde(default = "random_toggle")]
        write_lands: Toggle,
        /// Time until the restart (short ones bring the node back while messages of the
        /// interrupted round are still in flight).
        #[serde(default = "default_down")]
        down_ms: Draw,
        /// Who crashes.
        #[serde(default = "random_target")]
        node: Target,
    },
    /// Every persist of every honest node, during the whole run, crashes with this
    /// probability (half of them after the write lands). It must fire at least once per run,
    /// so pick a probability that does, or use `crash-mid-persist`.
    CrashAtPersist {
        /// Per-persist probability.
        probability: f64,
        /// Time until the restart.
        #[serde(default = "default_down")]
        down_ms: Draw,
    },
    /// Node clocks run fast or slow: local time is `t + offset_ms + t·drift_ppm/10⁶`. The
    /// cores see only local time, so timers and block pacing skew; safety must not care.
    ClockSkew {
        /// Nodes whose clocks skew (drawn separately for each); all honest nodes by default.
        #[serde(default)]
        validators: Option<Vec<u16>>,
        /// Constant offset (non-negative: a clock behind is the others being ahead).
        #[serde(default = "zero")]
        offset_ms: Draw,
        /// Rate error.
        #[serde(default = "zero_signed")]
        drift_ppm: SignedDraw,
    },
}

fn one() -> u64 {
    1
}
fn zero() -> Draw {
    Draw::Fixed(0)
}
fn zero_signed() -> SignedDraw {
    SignedDraw::Fixed(0)
}
fn default_down() -> Draw {
    Draw::Range([200, 3000])
}
fn random_target() -> Target {
    Target::Pick(Pick::Random)
}
fn random_side() -> Side {
    Side::Random(RandomWord::Random)
}
fn random_toggle() -> Toggle {
    Toggle::Random(RandomWord::Random)
}
fn fixed_false() -> Toggle {
    Toggle::Fixed(false)
}

impl Fault {
    /// The `kind` as written in TOML.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Partition { .. } => "partition",
            Self::Crash { .. } => "crash",
            Self::CrashMidPersist { .. } => "crash-mid-persist",
            Self::CrashAtPersist { .. } => "crash-at-persist",
            Self::ClockSkew { .. } => "clock-skew",
        }
    }
}

/// A Byzantine role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The validator index.
    pub validator: u16,
    /// What it does.
    pub behaviour: Behaviour,
}

/// A fault-injection scenario for one shard committee, as loaded and validated.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name used on the command line and in failure reports.
    pub name: String,
    /// What it tests, in a sentence.
    #[serde(default)]
    pub description: String,
    /// The committee.
    pub topology: Topology,
    /// Link behaviour during the fault phase.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Byzantine validators (less than a third of the stake in all).
    #[serde(default)]
    pub byzantine: Vec<Role>,
    /// The fault schedule.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Phase lengths.
    pub duration: DurationSpec,
    /// What progress must be seen.
    pub liveness: Liveness,
}

/// The committee and its pacing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Stake of each validator, in index order.
    pub stakes: Vec<u64>,
    /// Least time between a block and its child (`Config::min_block_interval_ms`).
    #[serde(default = "default_interval")]
    pub block_interval_ms: u64,
}

fn default_interval() -> u64 {
    100
}

/// Link behaviour. Loss and duplication stop when the fault phase ends; latency does not.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency `[lo, hi]` in milliseconds, drawn per message (which reorders).
    #[serde(default = "default_latency")]
    pub latency_ms: [u64; 2],
    /// Probability that a message is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a message is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
}

fn default_latency() -> [u64; 2] {
    [5, 50]
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            latency_ms: default_latency(),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// The two phases of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationSpec {
    /// Length of the fault phase in simulated milliseconds.
    pub fault_ms: u64,
    /// Length of the healed phase, in which every honest validator must commit (I-4).
    pub heal_ms: u64,
}

/// Liveness expectations (I-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// Blocks every honest validator must commit during the healed phase.
    pub min_commits_after_heal: u64,
    /// Height the chain must reach during the fault phase (for faults that leave a
    /// quorum connected, such as one crashed leader). 0: no expectation.
    #[serde(default)]
    pub min_height_at_heal: u64,
}

impl Scenario {
    /// Parses and validates scenario TOML; `source_name` names it in errors.
    pub fn from_toml(source_name: &str, text: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// A fault-free committee of `n` equal-stake validators with a fixed one-way latency
    /// and no pacing, for measuring latency in message delays and CPU per block.
    pub fn benchmark(n: usize, latency_ms: u64, duration_ms: u64) -> Self {
        Self {
            name: "benchmark".into(),
            description: "fault-free, fixed latency, no pacing".into(),
            topology: Topology {
                stakes: vec![1; n],
                block_interval_ms: 0,
            },
            network: NetworkSpec {
                latency_ms: [latency_ms, latency_ms],
                ..NetworkSpec::default()
            },
            byzantine: vec![],
            faults: vec![],
            duration: DurationSpec {
                fault_ms: 0,
                heal_ms: duration_ms,
            },
            liveness: Liveness {
                min_commits_after_heal: 1,
                min_height_at_heal: 0,
            },
        }
    }

    /// The role of validator `v`, if Byzantine.
    pub fn behaviour_of(&self, v: u16) -> Option<Behaviour> {
        self.byzantine
            .iter()
            .find(|r| r.validator == v)
            .map(|r| r.behaviour)
    }

    /// One line per parameter, for the start of a sweep (the per-seed draws are in the
    /// run's `params`).
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![
            format!("scenario {}: {}", self.name, self.description),
            format!(
                "stakes {:?}, block interval {} ms",
                self.topology.stakes, self.topology.block_interval_ms
            ),
            format!(
                "network latency {:?} ms, loss {}, duplicate {}",
                self.network.latency_ms, self.network.loss, self.network.duplicate
            ),
            format!(
                "fault phase {} ms, healed phase {} ms",
                self.duration.fault_ms, self.duration.heal_ms
            ),
            format!(
                "liveness: {} commits per honest validator after the heal, height {} at the heal",
                self.liveness.min_commits_after_heal, self.liveness.min_height_at_heal
            ),
        ];
        for r in &self.byzantine {
            out.push(format!("byzantine v{}: {:?}", r.validator, r.behaviour));
        }
        for f in &self.faults {
            out.push(format!("fault {f:?}"));
        }
        out
    }

    fn invalid(&self, reason: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            name: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Checks everything the runner relies on.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let n = self.topology.stakes.len();
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(self.invalid("the name must be non-empty, without spaces"));
        }
        if n == 0 || n > MAX_VALIDATORS {
            return Err(self.invalid(format!("needs 1 to {MAX_VALIDATORS} validators, got {n}")));
        }
        if self.topology.stakes.contains(&0) {
            return Err(self.invalid("every stake must be positive"));
        }
        let total = self
            .topology
            .stakes
            .iter()
            .try_fold(0u64, |a, s| a.checked_add(*s))
            .filter(|t| *t <= u64::MAX / 3)
            .ok_or_else(|| self.invalid("total stake overflows"))?;
        self.validate_byzantine(total)?;
        let [lo, hi] = self.network.latency_ms;
        if lo > hi || hi > MAX_DURATION_MS {
            return Err(self.invalid(format!("latency_ms [{lo}, {hi}] is not a range")));
        }
        for (what, p) in [
            ("loss", self.network.loss),
            ("duplicate", self.network.duplicate),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(self.invalid(format!("{what} must be in [0, 1), got {p}")));
            }
        }
        let d = self.duration;
        if d.heal_ms == 0 || d.fault_ms.saturating_add(d.heal_ms) > MAX_DURATION_MS {
            return Err(self.invalid(format!(
                "fault_ms + heal_ms must be at most {MAX_DURATION_MS} and heal_ms positive"
            )));
        }
        if self.faults.len() > MAX_FAULTS {
            return Err(self.invalid(format!("at most {MAX_FAULTS} fault entries")));
        }
        for (i, f) in self.faults.iter().enumerate() {
            self.validate_fault(f)
                .map_err(|why| self.invalid(format!("fault {i} ({}): {why}", f.kind())))?;
        }
        Ok(())
    }

    fn validate_byzantine(&self, total: u64) -> Result<(), ScenarioError> {
        let n = self.topology.stakes.len();
        let mut byz = 0u64;
        for (i, r) in self.byzantine.iter().enumerate() {
            let v = usize::from(r.validator);
            if v >= n {
                return Err(self.invalid(format!("byzantine validator {v} out of range")));
            }
            if self.byzantine[..i]
                .iter()
                .any(|o| o.validator == r.validator)
            {
                return Err(self.invalid(format!("byzantine validator {v} listed twice")));
            }
            byz += self.topology.stakes[v];
        }
        // Safety is only claimed below one third of the stake (specs/consensus.md).
        if byz * 3 >= total {
            return Err(self.invalid(format!(
                "byzantine stake {byz} of {total} is not below one third"
            )));
        }
        Ok(())
    }

    fn validate_fault(&self, f: &Fault) -> Result<(), String> {
        let n = self.topology.stakes.len();
        let fault_ms = self.duration.fault_ms;
        let index_ok = |v: u16| usize::from(v) < n;
        let range = |what: &str, d: Draw| {
            let (lo, hi) = d.bounds();
            if lo > hi || hi > MAX_DURATION_MS {
                Err(format!("{what} [{lo}, {hi}] is not a range"))
            } else {
                Ok(())
            }
        };
        let during_faults = |d: Draw| {
            range("at_ms", d)?;
            if d.bounds().1 >= fault_ms {
                return Err(format!(
                    "at_ms must lie within the fault phase (< {fault_ms})"
                ));
            }
            Ok(())
        };
        let count_ok = |c: u64| {
            if c == 0 || c > MAX_FAULTS as u64 {
                Err(format!("count must be 1 to {MAX_FAULTS}"))
            } else {
                Ok(())
            }
        };
        let target_ok = |t: Target| match t {
            Target::Validator(v) if !index_ok(v) => Err(format!("validator {v} out of range")),
            Target::Validator(v) if self.behaviour_of(v).is_some() => Err(format!(
                "validator {v} is Byzantine; faults hit honest nodes"
            )),
            _ => Ok(()),
        };
        match f {
            Fault::Partition {
                count,
                at_ms,
                duration_ms,
                side,
                ..
            } => {
                count_ok(*count)?;
                during_faults(*at_ms)?;
                range("duration_ms", *duration_ms)?;
                if let Side::Validators(vs) = side
                    && (vs.is_empty() || vs.len() >= n || !vs.iter().all(|v| index_ok(*v)))
                {
                    return Err("side must be a non-empty proper subset of validators".into());
                }
            }
            Fault::Crash {
                count,
                at_ms,
                down_ms,
                node,
            } => {
                count_ok(*count)?;
                during_faults(*at_ms)?;
                range("down_ms", *down_ms)?;
                target_ok(*node)?;
            }
            Fault::CrashMidPersist {
                count,
                at_ms,
                node,
                down_ms,
                ..
            } => {
                count_ok(*count)?;
                during_faults(*at_ms)?;
                range("down_ms", *down_ms)?;
                target_ok(*node)?;
            }
            Fault::CrashAtPersist {
                probability,
                down_ms,
            } => {
                range("down_ms", *down_ms)?;
                if !(*probability > 0.0 && *probability < 1.0) {
                    return Err(format!("probability must be in (0, 1), got {probability}"));
                }
            }
            Fault::ClockSkew {
                validators,
                offset_ms,
                drift_ppm,
            } => {
                range("offset_ms", *offset_ms)?;
                let (lo, hi) = drift_ppm.bounds();
                if lo > hi || lo <= -MAX_DRIFT_PPM || hi >= MAX_DRIFT_PPM {
                    return Err(format!(
                        "drift_ppm [{lo}, {hi}] must be a range within ±{MAX_DRIFT_PPM}"
                    ));
                }
                if offset_ms.bounds() == (0, 0) && (lo, hi) == (0, 0) {
                    return Err("neither offset nor drift: the fault could never fire".into());
                }
                if let Some(v) = validators.iter().flatten().find(|v| !index_ok(**v)) {
                    return Err(format!("validator {v} out of range"));
                }
            }
        }
        Ok(())
    }
}
