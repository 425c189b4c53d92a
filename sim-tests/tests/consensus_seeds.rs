//! The default consensus seed sweep: every named scenario over a block of seeds (≥ 1,000
//! seeds in all), invariants checked after every step. Widen with
//! `SHARDNET_SIM_SEEDS=N cargo nextest run -p shardnet-sim --cargo-profile sim` or the
//! `consensus-sim` binary (see README).

use shardnet_sim::consensus::{SCENARIOS, Scenario, run};

fn seeds_per_scenario() -> u64 {
    std::env::var("SHARDNET_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn sweep(name: &str) {
    let scenario = Scenario::named(name).unwrap_or_else(|| panic!("unknown scenario {name}"));
    let failures: Vec<String> = (0..seeds_per_scenario())
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
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test] fn $test() { sweep($name); })*

        #[test]
        fn every_scenario_has_a_sweep() {
            let covered = [$($name),*];
            for s in SCENARIOS {
                assert!(covered.contains(s), "scenario {s} has no sweep test");
            }
        }
    };
}

scenario_tests! {
    happy => "happy",
    uneven_stake => "uneven-stake",
    lossy_network => "lossy-network",
    partition_heal => "partition-heal",
    crash_restart => "crash-restart",
    equivocating_leader => "equivocating-leader",
    double_voter => "double-voter",
    twins => "twins",
    withhold_and_spam => "withhold-and-spam",
    chaos => "chaos",
}

#[test]
fn same_seed_same_trace_and_different_seeds_differ() {
    let scenario = Scenario::named("chaos").unwrap_or_else(|| panic!("chaos"));
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
