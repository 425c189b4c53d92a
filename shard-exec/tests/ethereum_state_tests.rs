//! The external oracle in the default suite: every ethereum/tests GeneralStateTests case in
//! `../shared/ethereum-tests` runs through our decoder, recovery, executor, store and state
//! root (`specs/execution.md` X-9). The only skips are the EIP-7610 collision cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use shardnet_exec::statetest::{Summary, fixture_files, run_file};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ethereum-tests/GeneralStateTests")
}

#[test]
fn all_general_state_tests_pass() {
    let dir = fixtures();
    assert!(
        dir.is_dir(),
        "fixtures missing at {}: see ../shared/ethereum-tests/README.md",
        dir.display()
    );
    let files = fixture_files(&dir).unwrap();
    assert!(
        files.len() > 2000,
        "expected the full fixture set, found {} files",
        files.len()
    );
    // Two workers, one per core; the split is by index so it is deterministic.
    let summaries: Vec<Summary> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let files = &files;
                scope.spawn(move || {
                    let mut s = Summary::default();
                    for f in files.iter().skip(w).step_by(2) {
                        run_file(f, &mut s).unwrap_or_else(|e| panic!("{e}"));
                    }
                    s
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let passed: u64 = summaries.iter().map(|s| s.passed).sum();
    let skipped: u64 = summaries.iter().map(|s| s.skipped).sum();
    let failures: Vec<_> = summaries.iter().flat_map(|s| s.failures.iter()).collect();
    let report: Vec<String> = failures
        .iter()
        .take(50)
        .map(|f| format!("{} {}: {}", f.file.display(), f.case, f.reason))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        report.join("\n")
    );
    assert!(passed > 19_000, "only {passed} cases ran");
    assert!(
        skipped <= 20,
        "{skipped} skipped: only the EIP-7610 cases may be"
    );
}

/// The oracle must be able to fail: a wrong expected root is reported.
#[test]
fn a_wrong_expected_root_fails() {
    let src = fixtures().join("stExample/add11.json");
    let text = std::fs::read_to_string(&src).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case = &mut json["add11"]["post"]["Cancun"][0];
    case["hash"] = serde_json::Value::String(format!("0x{}", "11".repeat(32)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    let mut s = Summary::default();
    run_file(&path, &mut s).unwrap();
    assert_eq!(s.failures.len(), 1, "tampered case must fail");
    assert!(
        s.failures[0].reason.contains("state root"),
        "{}",
        s.failures[0].reason
    );
}
