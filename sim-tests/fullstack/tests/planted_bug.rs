//! The full-stack suites find real bugs: with the deliberately broken consensus core (votes
//! and timeouts leave before their safety data is durable, breaking S-4), the
//! `crash-restart-storm` scenario, whose torn crashes include one inside a safety-data persist
//! (`TornPoint::SafetyLost`), must report a safety violation within a stated number of seeds:
//! an honest validator's double vote (I-3), seen by the wire tap on every honest validator.
//!
//! Runs only when asked for, never in the default suite (the feature is off there):
//!
//! ```text
//! cargo test --profile sim -p shardnet-fullstack --features broken-persist-before-vote --test planted_bug
//! ```
#![cfg(feature = "broken-persist-before-vote")]

use shardnet_fullstack::{Exit, run, scenario};

/// Seeds the storm may take to find the bug (BENCHMARKS.md, "Finding a planted bug").
const BUDGET: u64 = 20;

#[test]
fn crash_restart_storm_catches_votes_sent_before_they_are_durable() {
    assert_ne!(shardnet_consensus::BROKEN_BUILD, None);
    let s = scenario::named("crash-restart-storm").unwrap_or_else(|e| panic!("{e}"));
    let caught = (0..BUDGET)
        .map(|seed| run(&s.config(seed)))
        .find(|out| matches!(out.exit, Exit::SafetyViolation(_)));
    let Some(out) = caught else {
        panic!("no safety violation in {BUDGET} seeds: the suite missed the planted S-4 bug");
    };
    assert!(
        matches!(&out.exit, Exit::SafetyViolation(m) if m.contains("I-3")),
        "{}",
        out.summary()
    );
    eprintln!("caught: {}", out.summary());
}
