//! The `shardnet` binary.
//!
//! Today: `shardnet statetest <dir>`, the ethereum/tests oracle for the executor. The
//! validator, devnet, RPC gateway, bench and sim commands arrive with their issues.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "shardnet",
    version,
    about = "Sharded proof-of-stake chains on HotStuff, revm and QUIC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ethereum/tests GeneralStateTests JSON through Shardnet's decoder, executor, store
    /// and state root, and print pass/fail counts and the failing cases.
    Statetest {
        /// A fixture file or a directory searched recursively for `*.json`.
        path: PathBuf,
        /// Print at most this many failing cases.
        #[arg(long, default_value_t = 100)]
        show: usize,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Statetest { path, show } => statetest(&path, show),
    }
}

fn statetest(path: &std::path::Path, show: usize) -> anyhow::Result<ExitCode> {
    use shardnet_exec::statetest::{Summary, fixture_files, run_file};
    let files = if path.is_dir() {
        fixture_files(path).with_context(|| format!("listing {}", path.display()))?
    } else {
        vec![path.to_path_buf()]
    };
    anyhow::ensure!(
        !files.is_empty(),
        "no .json fixtures under {}",
        path.display()
    );
    let mut summary = Summary::default();
    let mut unreadable = 0usize;
    for f in &files {
        if let Err(e) = run_file(f, &mut summary) {
            unreadable += 1;
            println!("ERROR {e}");
        }
    }
    for f in summary.failures.iter().take(show) {
        println!("FAIL {} {}: {}", f.file.display(), f.case, f.reason);
    }
    println!(
        "statetest: {} passed, {} failed, {} skipped (EIP-7610), {} files, {} unreadable",
        summary.passed,
        summary.failures.len(),
        summary.skipped,
        files.len(),
        unreadable
    );
    Ok(if summary.failures.is_empty() && unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
