//! `shardnet bench` end to end, small: two shards of one validator, half the transfers
//! cross-shard; every transaction is finalized, every cross-shard one arrives, and the report
//! and its plot are produced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use shardnet_node::bench::{BenchConfig, Workload, run};

fn bench(workload: Workload) -> shardnet_node::bench::report::Report {
    let dir = tempfile::tempdir().unwrap();
    let cfg = BenchConfig {
        shards: 2,
        validators: 1,
        block_interval_ms: 50,
        duration: Duration::from_secs(2),
        rate_tps: 40,
        cross_percent: 50,
        workload,
        senders: 16,
        kill_after: None,
        data_dir: dir.path().to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    run(&cfg, &rt).unwrap()
}

#[test]
fn transfers_finalize_and_cross_shard_ones_arrive() {
    let report = bench(Workload::Transfer);
    assert_eq!(report.samples.len(), 80);
    assert!(
        report
            .samples
            .iter()
            .all(|s| s.finalized.is_some() && !s.refused && !s.failed)
    );
    let cross: Vec<_> = report.samples.iter().filter(|s| s.cross).collect();
    assert_eq!(cross.len(), 40);
    assert!(
        cross
            .iter()
            .all(|s| s.arrived >= s.finalized && s.arrived.is_some())
    );
    assert!(report.table().contains("finalized tx/s"));
    let svg = report.svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn contract_calls_finalize_on_both_shards() {
    let report = bench(Workload::Call);
    assert_eq!(report.samples.len(), 80);
    assert!(
        report
            .samples
            .iter()
            .all(|s| s.finalized.is_some() && !s.refused && !s.failed)
    );
    assert_eq!(report.samples.iter().filter(|s| s.cross).count(), 40);
}
