//! Runs full-stack turmoil seeds (`shardnet_fullstack`) from the command line: a sweep,
//! and the speed figure of `BENCHMARKS.md`.
//!
//! ```text
//! fullstack-sim [--seeds A..B] [--shards S] [--validators V] [--secs T] [--tick-ms N]
//!               [--no-faults] [--heavy] [--long-faults] [--check-determinism]
//! ```
//! `--heavy`: four partitions within shards, two between, four crash-restarts, 5 % datagram
//! loss and duplication (instead of 2, 1, 2 and 1 %). `--long-faults`: faults of 8–14 s
//! (beyond the transport's 10 s idle timeout, so connections die and validators fall many
//! blocks behind) in a 3–30 s window of a 50 s run. Lane segments lost with a connection
//! that died in a partition between shards are re-pushed from the validators' durable outbox
//! until certified (CS-14, CS-16 in `specs/cross-shard.md`), so every lane still drains.
//!
//! Exit codes: 0 pass, 1 safety violation, 2 liveness failure, 3 nondeterminism, 64 usage.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shardnet_fullstack::{Config, Exit, run};

#[derive(Debug)]
struct Args {
    seeds: std::ops::Range<u64>,
    shards: u16,
    validators: u16,
    secs: Option<u64>,
    tick_ms: Option<u64>,
    faults: bool,
    heavy: bool,
    long: bool,
    check_determinism: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        seeds: 0..10,
        shards: 2,
        validators: 4,
        secs: None,
        tick_ms: None,
        faults: true,
        heavy: false,
        long: false,
        check_determinism: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a number"))?
            .parse()
            .map_err(|e| format!("{what}: {e}"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seeds" => {
                let v = it.next().ok_or("--seeds needs A..B")?;
                let (a, b) = v.split_once("..").ok_or("--seeds takes A..B")?;
                args.seeds = num(Some(a.into()), "--seeds")?..num(Some(b.into()), "--seeds")?;
            }
            "--shards" => args.shards = num(it.next(), "--shards")? as u16,
            "--validators" => args.validators = num(it.next(), "--validators")? as u16,
            "--secs" => args.secs = Some(num(it.next(), "--secs")?),
            "--tick-ms" => args.tick_ms = Some(num(it.next(), "--tick-ms")?),
            "--no-faults" => args.faults = false,
            "--heavy" => args.heavy = true,
            "--long-faults" => args.long = true,
            "--check-determinism" => args.check_determinism = true,
            _ => {
                return Err(
                    "usage: fullstack-sim [--seeds A..B] [--shards S] [--validators V] \
                     [--secs T] [--tick-ms N] [--no-faults] [--heavy] [--long-faults] [--check-determinism]"
                        .into(),
                );
            }
        }
    }
    Ok(args)
}

fn config(args: &Args, seed: u64) -> Config {
    let mut cfg = Config::new(seed, args.shards, args.validators);
    if args.heavy {
        cfg.faults.partitions_within = 4;
        cfg.faults.partitions_between = 2;
        cfg.faults.crashes = 4;
        cfg.faults.datagram_drop = 0.05;
        cfg.faults.datagram_duplicate = 0.05;
    }
    if args.long {
        cfg.faults.fault_ms = (8_000, 14_000);
        cfg.duration = Duration::from_secs(50);
        cfg.fault_window = (Duration::from_secs(3), Duration::from_secs(30));
        cfg.workload_until = Duration::from_secs(33);
    }
    if !args.faults {
        cfg = cfg.without_faults();
    }
    if let Some(secs) = args.secs {
        // Keep the standard proportions: faults 10–50 %, workload until 60 %.
        let at = |pct: u64| Duration::from_millis(secs * 10 * pct);
        cfg.duration = Duration::from_secs(secs);
        cfg.fault_window = (at(10), at(50));
        cfg.workload_until = at(60);
    }
    if let Some(tick) = args.tick_ms {
        cfg.tick = Duration::from_millis(tick);
    }
    cfg
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let (mut sim_s, mut wall_s) = (0.0, 0.0);
    let mut code = 0u8;
    for seed in args.seeds.clone() {
        let cfg = config(&args, seed);
        // Wall time of the run, for the speed figure only (never reaches the simulation).
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        let out = run(&cfg);
        let wall = start.elapsed().as_secs_f64();
        sim_s += out.stats.sim_ms as f64 / 1000.0;
        wall_s += wall;
        println!(
            "{} [{:.1} s wall, {:.1}x]",
            out.summary(),
            wall,
            out.stats.sim_ms as f64 / 1000.0 / wall
        );
        let c = match out.exit {
            Exit::Ok => 0,
            Exit::SafetyViolation(_) => 1,
            Exit::LivenessFailure(_) => 2,
        };
        code = code.max(c);
        if args.check_determinism && run(&cfg).trace_hash != out.trace_hash {
            println!("seed {seed}: NONDETERMINISTIC (a second run gave another trace)");
            code = code.max(3);
        }
    }
    println!(
        "{} seeds, {:.0} simulated s in {:.1} wall s: {:.1} simulated s per wall s",
        args.seeds.end.saturating_sub(args.seeds.start),
        sim_s,
        wall_s,
        sim_s / wall_s.max(1e-9)
    );
    ExitCode::from(code)
}
