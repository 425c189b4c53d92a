//! Runs consensus simulation seeds from the command line.
//!
//! ```text
//! consensus-sim [--scenario NAME|all] [--seeds A..B] [--trace FILE] [--check-determinism]
//! ```
//! Exit codes: 0 pass, 1 safety violation, 2 liveness failure, 3 nondeterminism, 64 usage.

use std::process::ExitCode;

use shardnet_sim::consensus::{SCENARIOS, Scenario, run, run_traced};

struct Args {
    scenarios: Vec<String>,
    seeds: std::ops::Range<u64>,
    trace: Option<String>,
    check_determinism: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        scenarios: vec!["all".into()],
        seeds: 0..100,
        trace: None,
        check_determinism: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" => args.scenarios = vec![it.next().ok_or("--scenario needs a name")?],
            "--seeds" => {
                let v = it.next().ok_or("--seeds needs A..B")?;
                let (a, b) = v.split_once("..").ok_or("--seeds takes A..B")?;
                let a: u64 = a.parse().map_err(|e| format!("--seeds start: {e}"))?;
                let b: u64 = b.parse().map_err(|e| format!("--seeds end: {e}"))?;
                args.seeds = a..b;
            }
            "--trace" => args.trace = Some(it.next().ok_or("--trace needs a file")?),
            "--check-determinism" => args.check_determinism = true,
            "-h" | "--help" => {
                return Err(format!(
                    "usage: consensus-sim [--scenario NAME|all] [--seeds A..B] [--trace FILE] [--check-determinism]\nscenarios: {}",
                    SCENARIOS.join(", ")
                ));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.scenarios == ["all"] {
        args.scenarios = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let mut code = 0u8;
    for name in &args.scenarios {
        let Some(scenario) = Scenario::named(name) else {
            eprintln!("unknown scenario {name}; known: {}", SCENARIOS.join(", "));
            return ExitCode::from(64);
        };
        let (mut passed, mut failed) = (0u64, 0u64);
        for seed in args.seeds.clone() {
            let report = if args.trace.is_some() {
                run_traced(&scenario, seed)
            } else {
                run(&scenario, seed)
            };
            if let Some(path) = &args.trace {
                let mut text = format!(
                    "# {} seed {}\n# {}\n",
                    report.scenario,
                    seed,
                    report.params.join("\n# ")
                );
                text.push_str(&report.trace.join("\n"));
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("cannot write {path}: {e}");
                }
            }
            if args.check_determinism && run(&scenario, seed).trace_hash != report.trace_hash {
                println!(
                    "NONDETERMINISTIC {name} seed {seed}: {}",
                    report.replay_command()
                );
                code = code.max(3);
                failed += 1;
                continue;
            }
            match &report.violation {
                None => passed += 1,
                Some(v) => {
                    println!("{}", report.summary());
                    code = code.max(if v.is_safety() { 1 } else { 2 });
                    failed += 1;
                }
            }
        }
        println!("{name}: {passed} passed, {failed} failed");
    }
    ExitCode::from(code)
}
