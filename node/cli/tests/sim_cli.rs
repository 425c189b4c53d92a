//! `shardnet sim` end to end: exit codes, the start-of-run parameters, and the one-line
//! failure report with the commit and the replay command.

use std::process::Command;

fn shardnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardnet"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running shardnet: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_passing_seed_prints_its_parameters_and_exits_0() {
    // The consensus simulator's twins (the full-stack library's are slower in a debug build).
    let (code, out, _) = shardnet(&[
        "sim",
        "--consensus",
        "--scenario",
        "twins",
        "--seeds",
        "3..4",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("scenario twins, seed 3:"), "{out}");
    assert!(out.contains("partition nodes"), "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}

#[test]
fn a_sweep_on_two_workers_passes() {
    let (code, out, _) = shardnet(&[
        "sim",
        "--scenario",
        "happy",
        "--seeds",
        "0..4",
        "--jobs",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("happy: 4 passed"), "{out}");
}

#[test]
fn bad_input_exits_64_with_a_clear_message() {
    let (code, _, err) = shardnet(&["sim", "--scenario", "no-such-scenario"]);
    assert_eq!(code, 64);
    assert!(err.contains("unknown scenario `no-such-scenario`"), "{err}");
    let (code, _, err) = shardnet(&["sim", "--scenario", "happy", "--seeds", "5..5"]);
    assert_eq!(code, 64);
    assert!(err.contains("empty"), "{err}");
    let (code, _, _) = shardnet(&["sim"]);
    assert_eq!(code, 64);
}

#[test]
fn a_fault_that_never_fires_is_a_failure_with_a_replay_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("quiet.toml");
    let text = "name = \"quiet\"\n[topology]\nstakes = [1, 1, 1, 1]\n[network]\nloss = 1e-15\n\
                [duration]\nfault_ms = 1000\nheal_ms = 2000\n[liveness]\nmin_commits_after_heal = 1\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let file = path.display().to_string();
    let (code, out, _) = shardnet(&["sim", "--scenario-file", &file, "--seeds", "0..1"]);
    assert_eq!(code, 2, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("no FAIL line in {out}"));
    assert!(line.contains("scenario quiet seed 0 commit "), "{line}");
    assert!(line.contains("coverage"), "{line}");
    assert!(
        line.contains(&format!(
            "replay: cargo run --profile sim -p shardnet -- sim --scenario-file {file} --seeds 0..1 --trace trace.log"
        )),
        "{line}"
    );
}

/// A `stack = "full"` scenario file runs real validators over QUIC on turmoil: its parameters
/// (stakes, the fault schedule drawn from the seed) are printed first, and a seed passes.
#[test]
fn a_full_stack_scenario_file_runs_real_validators() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("small.toml");
    let text = "name = \"small\"\nstack = \"full\"\n[topology]\nshards = 2\nvalidators = 4\n\
                [workload]\nuntil_ms = 4000\n[faults]\nwindow_ms = [1000, 4000]\n\
                partitions_within = 1\n[duration]\nsecs = 12\n";
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let file = path.display().to_string();
    let (code, out, err) = shardnet(&["sim", "--scenario-file", &file, "--seeds", "4..5"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("scenario small, seed 4:"), "{out}");
    assert!(out.contains("stakes [["), "{out}");
    assert!(out.contains("fault at "), "{out}");
    assert!(out.contains("small: 1 passed, 0 failed"), "{out}");
}

/// Names the full-stack library also has run there by default; `--consensus` picks the
/// consensus simulator's, and its replay line says so.
#[test]
fn consensus_flag_selects_the_consensus_library() {
    let (code, out, _) = shardnet(&[
        "sim",
        "--consensus",
        "--scenario",
        "leader-crash",
        "--seeds",
        "0..1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("scenario leader-crash, seed 0:"), "{out}");
    assert!(out.contains("crash"), "{out}");
    assert!(!out.contains("stakes [["), "{out}");
}
