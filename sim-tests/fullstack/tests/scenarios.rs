//! The named full-stack scenarios (`shardnet sim --scenario NAME`): every one loads, runs two
//! seeds in the default suite with every invariant holding and every scheduled fault fired,
//! and a scenario file that asks for the impossible is refused with the field and the reason.
//! Sweeps: `cargo run --profile sim -p shardnet -- sim --scenario all --seeds 0..1000 --jobs 2`.

use shardnet_fullstack::scenario::{self, Scenario, ScenarioError};
use shardnet_fullstack::{Exit, run};

/// Seeds of each named scenario in the default suite.
const SEEDS: [u64; 2] = [0, 1];

fn seeds(name: &str) {
    let s = scenario::named(name).unwrap_or_else(|e| panic!("{e}"));
    for seed in SEEDS {
        let cfg = s.config(seed);
        let out = run(&cfg);
        assert_eq!(
            out.exit,
            Exit::Ok,
            "{name} seed {seed}: {:?}; replay: cargo run --profile sim -p shardnet -- sim --scenario {name} --seeds {seed}..{} --trace trace.log",
            out.stats,
            seed + 1
        );
    }
}

#[test]
fn the_library_loads_and_names_match() {
    let all = scenario::all().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), scenario::names().len());
    for s in &all {
        assert!(!s.description.is_empty(), "{}", s.name);
        assert_eq!(
            scenario::named(&s.name).map(|n| n.name).ok(),
            Some(s.name.clone())
        );
    }
    for name in [
        "partition-heal",
        "leader-crash",
        "crash-restart-storm",
        "byzantine-equivocation",
        "cross-shard-partition",
        "congestion",
        "clock-skew",
        "lossy-network",
        "twins",
        "twins-kept",
    ] {
        assert!(scenario::names().contains(&name), "{name} missing");
    }
}

#[test]
fn partition_heal() {
    seeds("partition-heal");
}

#[test]
fn leader_crash() {
    seeds("leader-crash");
}

#[test]
fn crash_restart_storm() {
    seeds("crash-restart-storm");
}

#[test]
fn byzantine_equivocation() {
    seeds("byzantine-equivocation");
}

#[test]
fn segment_forger() {
    seeds("segment-forger");
}

#[test]
fn cross_shard_partition() {
    seeds("cross-shard-partition");
}

#[test]
fn congestion() {
    seeds("congestion");
}

#[test]
fn clock_skew() {
    seeds("clock-skew");
}

#[test]
fn lossy_network() {
    seeds("lossy-network");
}

#[test]
fn twins() {
    seeds("twins");
}

#[test]
fn twins_kept() {
    seeds("twins-kept");
}

/// Negative control for the coverage rule: a run that expects congestion where none can
/// happen (default budgets, light load) fails instead of passing vacuously.
#[test]
fn an_expected_fault_that_never_fires_fails_the_run() {
    let text = r#"
        name = "no-congestion"
        stack = "full"
        [topology]
        shards = 2
        validators = 4
        [workload]
        until_ms = 4000
        [expect]
        congestion = true
        [duration]
        secs = 10
        [faults]
        window_ms = [1000, 2000]
    "#;
    let s = Scenario::from_toml("no-congestion", text).unwrap_or_else(|e| panic!("{e}"));
    let out = run(&s.config(0));
    assert!(
        matches!(&out.exit, Exit::LivenessFailure(m) if m.contains("congestion refusal")),
        "{:?}",
        out.exit
    );
}

#[test]
fn impossible_scenarios_are_refused_with_the_field() {
    let base = "name = \"x\"\nstack = \"full\"\n[topology]\nshards = 2\nvalidators = 4\n";
    let cases = [
        (
            "name = \"x\"\n[topology]\nshards = 2\nvalidators = 4\n",
            "stack",
        ),
        (&format!("{base}[network]\nloss = 1.5\n"), "network"),
        (
            &format!("{base}[[byzantine]]\nshard = 5\nbehaviour = \"equivocate\"\n"),
            "byzantine.shard",
        ),
        (
            &format!(
                "{base}[[byzantine]]\nshard = 0\nbehaviour = \"equivocate\"\n[[byzantine]]\nshard = 0\nbehaviour = \"double-vote\"\n"
            ),
            "two Byzantine validators",
        ),
        (
            &format!("{base}[[byzantine]]\nshard = 0\nvalidator = 9\nbehaviour = \"equivocate\"\n"),
            "byzantine.validator",
        ),
        (
            &format!("{base}[workload]\nuntil_ms = 99000\n"),
            "workload.until_ms",
        ),
        (
            &format!("{base}[faults]\nwindow_ms = [5000, 1000]\n"),
            "faults",
        ),
        (&format!("{base}[network]\nsurprise = 1\n"), "unknown field"),
        (
            &format!("{base}[[byzantine]]\nshard = 0\nbehaviour = \"be-evil\"\n"),
            "unknown variant",
        ),
        // Others drawn from [1, 100]: three of them may hold only 3, so a twin of 2 could
        // hold 2 / 5 of the shard's stake.
        (
            &format!("{base}[[byzantine]]\nshard = 0\nbehaviour = \"twins\"\nstake = 2\n"),
            "byzantine.stake: the twinned validator's stake 2 could reach a third",
        ),
        (
            &format!("{base}[faults]\ntwin_splits = 1\n"),
            "faults.twin_splits",
        ),
    ];
    for (text, want) in cases {
        let err = Scenario::from_toml("bad.toml", text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        let msg = err.to_string();
        assert!(msg.starts_with("bad.toml: "), "{msg}");
        assert!(msg.contains(want), "want `{want}` in `{msg}`");
    }
    assert!(matches!(
        scenario::named("nope"),
        Err(ScenarioError::Unknown(_))
    ));
}

/// A Byzantine validator never holds a third of its shard's stake, whatever the draw.
#[test]
fn byzantine_stake_stays_under_a_third() {
    for name in ["byzantine-equivocation", "twins"] {
        byzantine_stake_stays_under_a_third_in(name);
    }
}

fn byzantine_stake_stays_under_a_third_in(name: &str) {
    let s = scenario::named(name).unwrap_or_else(|e| panic!("{e}"));
    for seed in 0..200 {
        let cfg = s.config(seed);
        for ((shard, v), _) in &cfg.byzantine {
            let stakes = &cfg.stakes[usize::from(*shard)];
            let total: u64 = stakes.iter().sum();
            assert!(
                3 * stakes[usize::from(*v)] < total,
                "seed {seed}: {stakes:?}"
            );
        }
    }
}

/// Negative control for twins: the same harness with the twinned validator holding more
/// than a third of its shard's stake (4 of 7, set on the run's configuration past the
/// scenario's validation, which refuses it) lets each honest group commit with its own twin
/// during one long split, and the per-step agreement check must catch the conflicting
/// commits. Not every seed gets there (group B's side, with a twin B that starts behind,
/// often commits nothing during the split): with this build, seed 0 of 0..6 does.
#[test]
fn twins_above_a_third_of_the_stake_are_caught() {
    let text = r#"
        name = "twins-too-heavy"
        stack = "full"
        [topology]
        shards = 1
        validators = 4
        [workload]
        until_ms = 5000
        [faults]
        window_ms = [100, 15000]
        length_ms = [14000, 14500]
        twin_splits = 1
        [[byzantine]]
        shard = 0
        validator = 0
        behaviour = "twins"
        [duration]
        secs = 20
    "#;
    let s = Scenario::from_toml("twins-too-heavy", text).unwrap_or_else(|e| panic!("{e}"));
    let mut caught = Vec::new();
    for seed in 0..6 {
        let mut cfg = s.config(seed);
        // 4 of 7: with any one honest validator the twin holds a quorum (> 2/3).
        cfg.stakes = vec![vec![4, 1, 1, 1]];
        let out = run(&cfg);
        eprintln!("seed {seed}: {:?} {:?}", out.exit, out.stats.twins);
        if let Exit::SafetyViolation(m) = &out.exit {
            assert!(m.contains("committed"), "seed {seed}: {m}");
            caught.push(seed);
        }
    }
    assert!(!caught.is_empty(), "no seed caught the conflicting commits");
}
