//! The default consensus seed sweep: every named scenario over a block of seeds, invariants
//! checked after every step, every scheduled fault required to fire. Widen with
//! `SHARDNET_SIM_SEEDS=N cargo nextest run -p shardnet-sim --cargo-profile sim` or
//! `shardnet sim` (see README).

use shardnet_sim::consensus::{library, run};

/// Seeds per scenario: `SHARDNET_SIM_SEEDS`, else the scenario's default budget.
fn seeds_per_scenario(default: u64) -> u64 {
    std::env::var("SHARDNET_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sweep(name: &str, default_seeds: u64) {
    let scenario = library::named(name).unwrap_or_else(|e| panic!("{e}"));
    let failures: Vec<String> = (0..seeds_per_scenario(default_seeds))
        .map(|seed| run(&scenario, seed))
        .filter(|r| r.violation.is_some())
        .map(|r| r.summary())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal, $seeds:literal;)*) => {
        $(#[test] fn $test() { sweep($name, $seeds); })*

        #[test]
        fn every_scenario_has_a_sweep() {
            let covered = [$($name),*];
            for s in library::names() {
                assert!(covered.contains(&s), "scenario {s} has no sweep test");
            }
        }
    };
}

// Seeds per scenario in the default suite; the longer scenarios get fewer (BENCHMARKS.md
// has each one's seeds per minute).
scenario_tests! {
    happy => "happy", 100;
    uneven_stake => "uneven-stake", 100;
    lossy_network => "lossy-network", 100;
    partition_heal => "partition-heal", 100;
    crash_restart => "crash-restart", 100;
    leader_crash => "leader-crash", 50;
    crash_restart_storm => "crash-restart-storm", 50;
    equivocating_leader => "equivocating-leader", 100;
    byzantine_equivocation => "byzantine-equivocation", 100;
    double_voter => "double-voter", 100;
    twins => "twins", 100;
    withhold_and_spam => "withhold-and-spam", 100;
    clock_skew => "clock-skew", 100;
    chaos => "chaos", 100;
    validator_down => "validator-down", 30;
    heavy_validator_down => "heavy-validator-down", 30;
}

#[test]
fn same_seed_same_trace_and_different_seeds_differ() {
    let scenario = library::named("chaos").unwrap_or_else(|e| panic!("{e}"));
    let a = run(&scenario, 42);
    let b = run(&scenario, 42);
    let c = run(&scenario, 43);
    assert_eq!(
        a.trace_hash, b.trace_hash,
        "same seed must replay bit for bit"
    );
    assert_ne!(
        a.trace_hash, c.trace_hash,
        "different seeds must explore different runs"
    );
}

/// The default suite runs the real core: the planted bug of `broken-persist-before-vote`
/// is only for `tests/planted_bug.rs`, enabled explicitly.
#[test]
fn the_default_suite_runs_without_the_planted_bug() {
    assert_eq!(shardnet_consensus::BROKEN_BUILD, None);
}
