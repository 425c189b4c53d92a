//! The named scenarios, embedded from `sim-tests/scenarios/*.toml` so the binaries are
//! self-contained. Each file's `name` must equal its file name (checked by a test).
//!
//! Not yet shipped: `cross-shard-partition` and `congestion`, which need cross-shard
//! messaging in the simulator.

use super::scenario::{Scenario, ScenarioError};

/// `(name, TOML text)` of every named scenario, in the order sweeps run them.
pub const FILES: &[(&str, &str)] = &[
    ("happy", include_str!("../../scenarios/happy.toml")),
    (
        "uneven-stake",
        include_str!("../../scenarios/uneven-stake.toml"),
    ),
    (
        "lossy-network",
        include_str!("../../scenarios/lossy-network.toml"),
    ),
    (
        "partition-heal",
        include_str!("../../scenarios/partition-heal.toml"),
    ),
    (
        "crash-restart",
        include_str!("../../scenarios/crash-restart.toml"),
    ),
    (
        "leader-crash",
        include_str!("../../scenarios/leader-crash.toml"),
    ),
    (
        "crash-restart-storm",
        include_str!("../../scenarios/crash-restart-storm.toml"),
    ),
    (
        "equivocating-leader",
        include_str!("../../scenarios/equivocating-leader.toml"),
    ),
    (
        "byzantine-equivocation",
        include_str!("../../scenarios/byzantine-equivocation.toml"),
    ),
    (
        "double-voter",
        include_str!("../../scenarios/double-voter.toml"),
    ),
    ("twins", include_str!("../../scenarios/twins.toml")),
    (
        "withhold-and-spam",
        include_str!("../../scenarios/withhold-and-spam.toml"),
    ),
    (
        "clock-skew",
        include_str!("../../scenarios/clock-skew.toml"),
    ),
    ("chaos", include_str!("../../scenarios/chaos.toml")),
    (
        "validator-down",
        include_str!("../../scenarios/validator-down.toml"),
    ),
    (
        "heavy-validator-down",
        include_str!("../../scenarios/heavy-validator-down.toml"),
    ),
];

/// Every named scenario's name.
pub fn names() -> Vec<&'static str> {
    FILES.iter().map(|(n, _)| *n).collect()
}

/// The named scenario, parsed and validated.
pub fn named(name: &str) -> Result<Scenario, ScenarioError> {
    let Some((_, text)) = FILES.iter().find(|(n, _)| *n == name) else {
        return Err(ScenarioError::Unknown {
            name: name.to_owned(),
            known: names().join(", "),
        });
    };
    let scenario = Scenario::from_toml(&format!("{name}.toml"), text)?;
    if scenario.name != name {
        return Err(ScenarioError::Invalid {
            name: scenario.name,
            reason: format!("embedded as `{name}`: the file's name must match"),
        });
    }
    Ok(scenario)
}

/// Every named scenario, parsed and validated.
pub fn all() -> Result<Vec<Scenario>, ScenarioError> {
    FILES.iter().map(|(n, _)| named(n)).collect()
}
