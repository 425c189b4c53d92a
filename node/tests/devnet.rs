//! A real cluster on loopback: four validators of one shard over QUIC, each with its own
//! sled database, commit blocks with identical heads and state roots; the cluster stops
//! cleanly and resumes from its data directory, continuing from the height it reached.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use shardnet_node::devnet::{Devnet, DevnetConfig};

fn wait_for(net: &Devnet, what: &str, timeout: Duration, done: impl Fn(&Devnet) -> bool) {
    let start = Instant::now();
    while !done(net) {
        for s in net.statuses() {
            assert!(
                s.fatal.is_none(),
                "validator {:?} stopped: {:?}",
                s.index,
                s.fatal
            );
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}: {:?}",
            net.statuses()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn four_validators_over_quic_commit_agree_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DevnetConfig {
        shards: 1,
        validators: 4,
        data_dir: dir.path().to_path_buf(),
        chain_id: 1337,
        accounts: 2,
        block_interval_ms: 50,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let net = Devnet::start(&cfg, rt.handle()).unwrap();
    wait_for(&net, "height 5", Duration::from_secs(60), |n| {
        n.statuses().iter().all(|s| s.height >= 5)
    });

    let statuses = net.statuses();
    let min = statuses.iter().map(|s| s.height).min().unwrap();
    // Validators at the same height have the same head and root.
    for a in &statuses {
        for b in &statuses {
            if a.height == b.height {
                assert_eq!((a.head, a.state_root), (b.head, b.state_root));
            }
        }
    }
    rt.block_on(net.shutdown());

    // Resume from the same directory: every validator starts at (at least) where it stopped
    // and the chain continues.
    let net = Devnet::start(&cfg, rt.handle()).unwrap();
    wait_for(
        &net,
        "progress after restart",
        Duration::from_secs(60),
        |n| n.statuses().iter().all(|s| s.height >= min + 3),
    );
    rt.block_on(net.shutdown());
}
