//! Runs consensus simulation seeds from the command line: a thin alias of `shardnet sim`
//! that builds without the node's dependencies (fast to compile for sweeps and replays).
//!
//! ```text
//! consensus-sim [--scenario NAME|all | --scenario-file PATH] [--seeds A..B] [--jobs N]
//!               [--trace FILE] [--check-determinism]
//! ```
//! Exit codes: 0 pass, 1 safety violation, 2 liveness failure (or a fault that never fired),
//! 3 nondeterminism, 64 usage.

use std::process::ExitCode;

use shardnet_sim::cli::{EXIT_USAGE, Options, Source, parse_seeds};
use shardnet_sim::consensus::library;

fn parse() -> Result<Options, String> {
    let mut opts = Options {
        source: Source::Named("all".into()),
        seeds: 0..100,
        jobs: 1,
        trace: None,
        check_determinism: false,
        replay_prefix: "cargo run --profile sim -p shardnet-sim --bin consensus-sim --".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" => {
                opts.source = Source::Named(it.next().ok_or("--scenario needs a name")?);
            }
            "--scenario-file" => {
                opts.source = Source::File(it.next().ok_or("--scenario-file needs a path")?.into());
            }
            "--seeds" => opts.seeds = parse_seeds(&it.next().ok_or("--seeds needs A..B")?)?,
            "--jobs" => {
                let v = it.next().ok_or("--jobs needs a number")?;
                opts.jobs = v.parse().map_err(|e| format!("--jobs `{v}`: {e}"))?;
            }
            "--trace" => opts.trace = Some(it.next().ok_or("--trace needs a file")?.into()),
            "--check-determinism" => opts.check_determinism = true,
            "-h" | "--help" => {
                return Err(format!(
                    "usage: consensus-sim [--scenario NAME|all | --scenario-file PATH] [--seeds A..B] [--jobs N] [--trace FILE] [--check-determinism]\nscenarios: {}",
                    library::names().join(", ")
                ));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    match parse() {
        Ok(opts) => ExitCode::from(shardnet_sim::cli::main(&opts)),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
