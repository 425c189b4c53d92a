//! Quick runner during development: `cargo run --release -p shardnet-exec --example statetest DIR`.
fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/ethereum-tests/GeneralStateTests".into());
    let files =
        shardnet_exec::statetest::fixture_files(std::path::Path::new(&dir)).expect("fixtures");
    let mut summary = shardnet_exec::statetest::Summary::default();
    for f in &files {
        if let Err(e) = shardnet_exec::statetest::run_file(f, &mut summary) {
            println!("ERROR {e}");
        }
    }
    for f in summary.failures.iter().take(40) {
        println!("FAIL {} {}: {}", f.file.display(), f.case, f.reason);
    }
    println!(
        "{} passed, {} failed, {} skipped",
        summary.passed,
        summary.failures.len(),
        summary.skipped
    );
}
