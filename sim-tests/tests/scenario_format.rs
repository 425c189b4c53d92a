//! The scenario TOML format: every shipped file loads, bad input is a clear error (never a
//! panic), and a scenario whose faults never fire fails its run.

use shardnet_sim::consensus::{Scenario, ScenarioError, Violation, library, plan, run};

const MINIMAL: &str = r#"
name = "minimal"
[topology]
stakes = [1, 1, 1, 1]
[duration]
fault_ms = 2000
heal_ms = 3000
[liveness]
min_commits_after_heal = 2
"#;

fn with(extra: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml("test.toml", &format!("{MINIMAL}\n{extra}"))
}

fn invalid_reason(r: Result<Scenario, ScenarioError>) -> String {
    match r {
        Err(ScenarioError::Invalid { reason, .. }) => reason,
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn every_shipped_scenario_loads_under_its_file_name() {
    let all = library::all().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), library::FILES.len());
    for s in &all {
        assert!(!s.description.is_empty(), "{} has no description", s.name);
    }
    assert!(matches!(
        library::named("no-such"),
        Err(ScenarioError::Unknown { .. })
    ));
}

#[test]
fn shipped_files_on_disk_are_the_embedded_ones() {
    for (name, text) in library::FILES {
        let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&on_disk, text);
    }
}

#[test]
fn syntax_errors_name_the_file_and_the_problem() {
    let err = with("surprise = 1").err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.contains("test.toml") && err.contains("surprise"),
        "{err}"
    );
    let err = with("[[faults]]\nkind = \"meteor\"\nat_ms = 1")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("meteor"), "{err}");
}

#[test]
fn byzantine_stake_must_stay_below_a_third() {
    let ok = "[[byzantine]]\nvalidator = 0\nbehaviour = \"twin\"";
    assert!(with(ok).is_ok());
    let two = format!("{ok}\n[[byzantine]]\nvalidator = 1\nbehaviour = \"double-vote\"");
    assert!(invalid_reason(with(&two)).contains("one third"));
    let out_of_range = "[[byzantine]]\nvalidator = 9\nbehaviour = \"equivocate\"";
    assert!(invalid_reason(with(out_of_range)).contains("out of range"));
}

#[test]
fn faults_are_checked_against_the_scenario() {
    let late = "[[faults]]\nkind = \"crash\"\nat_ms = [0, 2000]";
    assert!(invalid_reason(with(late)).contains("within the fault phase"));
    let reversed = "[[faults]]\nkind = \"partition\"\nat_ms = [0, 10]\nduration_ms = [9, 1]";
    assert!(invalid_reason(with(reversed)).contains("not a range"));
    let nobody = "[[faults]]\nkind = \"crash\"\nat_ms = 5\nnode = 4";
    assert!(invalid_reason(with(nobody)).contains("out of range"));
    let still = "[[faults]]\nkind = \"clock-skew\"";
    assert!(invalid_reason(with(still)).contains("never fire"));
    let wild = "[[faults]]\nkind = \"clock-skew\"\ndrift_ppm = [-900000, 0]";
    assert!(invalid_reason(with(wild)).contains("drift_ppm"));
    let certain = "[[faults]]\nkind = \"crash-at-persist\"\nprobability = 1.0";
    assert!(invalid_reason(with(certain)).contains("probability"));
}

#[test]
fn a_fault_that_never_fires_fails_the_run() {
    let s = with("[network]\nloss = 1e-15").unwrap_or_else(|e| panic!("{e}"));
    let report = run(&s, 1);
    assert!(
        matches!(&report.violation, Some(Violation::FaultNotFired(what)) if what.contains("loss")),
        "{}",
        report.summary()
    );
    assert!(!report.violation.as_ref().is_some_and(Violation::is_safety));
}

#[test]
fn every_scheduled_fault_is_counted() {
    let s = library::named("chaos").unwrap_or_else(|e| panic!("{e}"));
    let report = run(&s, 5);
    assert!(report.violation.is_none(), "{}", report.summary());
    assert_eq!(report.stats.fault_fired.len(), s.faults.len());
    assert!(report.stats.fault_fired.iter().all(|n| *n > 0));
    assert!(report.stats.role_fired.iter().all(|n| *n > 0));
    assert!(report.stats.persist_crashes > 0 && report.stats.partitioned > 0);
}

#[test]
fn the_printed_plan_is_the_one_the_run_uses() {
    let s = library::named("crash-restart-storm").unwrap_or_else(|e| panic!("{e}"));
    let p = plan(&s, 77);
    assert_eq!(p.params, run(&s, 77).params);
    assert_ne!(p.params, plan(&s, 78).params);
}

#[test]
fn the_leader_crash_scenario_crashes_leaders_and_still_commits() {
    let s = library::named("leader-crash").unwrap_or_else(|e| panic!("{e}"));
    let report = run(&s, 3);
    assert!(report.violation.is_none(), "{}", report.summary());
    assert!(report.stats.crashes >= 1 && report.stats.max_height >= 5);
}

#[test]
fn skewed_clocks_move_timers() {
    let s = library::named("clock-skew").unwrap_or_else(|e| panic!("{e}"));
    let report = run(&s, 9);
    assert!(report.violation.is_none(), "{}", report.summary());
    assert!(report.stats.skewed_timers > 0);
}
