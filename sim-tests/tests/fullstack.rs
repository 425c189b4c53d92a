//! Full-stack turmoil runs: real validators over real QUIC (`shardnet_sim::fullstack`).
//!
//! Default suite: a fault-free run and a few faulty seeds of 2 shards × 4 validators.
//! Determinism needs tokio's scheduler seeded too, which only `--cfg tokio_unstable` allows:
//!
//! ```sh
//! RUSTFLAGS="--cfg tokio_unstable" cargo test -p shardnet-sim --test fullstack
//! ```
//!
//! (the determinism meta-test skips, saying so, without it). Replay one seed with
//! `SHARDNET_FULLSTACK_SEED=<seed>` and the test `replay_one_seed`; sweep many with
//! `SHARDNET_FULLSTACK_SEEDS=<first>..<end>` and the test `sweep` (both `--ignored`-free: they
//! do nothing without their variable).

use std::time::Instant;

use shardnet_sim::fullstack::{Config, Exit, Outcome, run};

fn timed(cfg: &Config) -> Outcome {
    let start = Instant::now();
    let out = run(cfg);
    let wall = start.elapsed().as_secs_f64();
    eprintln!(
        "{} — {:.1} s simulated in {wall:.1} s wall ({:.0}x)",
        out.summary(),
        out.stats.sim_ms as f64 / 1000.0,
        out.stats.sim_ms as f64 / 1000.0 / wall
    );
    out
}

fn assert_ok(out: &Outcome) {
    assert_eq!(out.exit, Exit::Ok, "{}", out.summary());
}

#[test]
fn fault_free_run_commits_every_transfer_and_drains_every_lane() {
    let out = timed(&Config::new(1, 2, 4).without_faults());
    assert_ok(&out);
    let (intra, cross) = out.stats.transfers;
    assert!(intra > 20 && cross > 10, "{:?}", out.stats);
    assert!(out.stats.heights.iter().all(|h| *h > 50), "{:?}", out.stats);
}
