//! Consensus benchmark: CPU time per committed block and commit latency in message delays,
//! for committees of 4, 16 and 64 validators, fault-free, with a fixed one-way latency.
//!
//! All validators run in one thread, so "CPU per block" is the whole committee's work
//! (signing, verifying, aggregating, sim overhead); divided by n it is one validator's.
//! Latency is measured from the leader broadcasting a proposal to each validator committing
//! it, in simulated time, and reported in units of the one-way delay.

use shardnet_sim::consensus::{Scenario, run};

const DELAY_MS: u64 = 10;

fn main() {
    println!(
        "| validators | committed blocks | wall s | CPU ms / block (committee) | CPU ms / block / validator | commit latency (delays) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (n, sim_ms) in [(4, 20_000), (16, 5_000), (64, 1_500)] {
        let scenario = Scenario::benchmark(n, DELAY_MS, sim_ms);
        // Wall-clock measurement of the benchmark itself, not simulation logic.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let report = run(&scenario, 1);
        let wall = started.elapsed().as_secs_f64();
        let blocks = report.stats.max_height.max(1);
        let per_block_ms = wall * 1000.0 / blocks as f64;
        let latency = report.stats.commit_latency_ms_sum as f64
            / report.stats.commit_latency_samples.max(1) as f64
            / DELAY_MS as f64;
        println!(
            "| {n} | {blocks} | {wall:.2} | {per_block_ms:.2} | {:.3} | {latency:.2} |",
            per_block_ms / n as f64
        );
        if let Some(v) = report.violation {
            eprintln!("violation in benchmark run: {v}");
        }
    }
}
