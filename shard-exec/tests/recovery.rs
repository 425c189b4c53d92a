//! Parallel sender recovery returns exactly the sequential result, in order, for any worker
//! count, including refused transactions in between.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use alloy_primitives::{Address, Bytes, U256};
use shardnet_exec::RecoveredTx;
use shardnet_exec::tx::recover_all;
use support::Wallet;

#[test]
fn parallel_recovery_matches_sequential_in_order() {
    let mut raw: Vec<Bytes> = (0..300u64)
        .map(|i| Wallet::new(i % 17).transfer(i, Address::repeat_byte(1), U256::from(i)))
        .collect();
    raw[5] = Bytes::from_static(b"not a transaction");
    raw[250] = Bytes::new();
    let sequential: Vec<_> = raw.iter().map(|r| RecoveredTx::decode(r)).collect();
    for workers in [1, 2, 3, 8, 64] {
        assert_eq!(
            recover_all(&raw, workers),
            sequential,
            "workers = {workers}"
        );
    }
    assert!(sequential[5].is_err() && sequential[250].is_err());
    assert_eq!(
        sequential[17].as_ref().unwrap().sender,
        Wallet::new(0).address
    );
}

/// Streaming recovery hands `consume` exactly the sequential results, in order, for any
/// worker count, and stops where `consume` breaks.
#[test]
fn streaming_recovery_matches_sequential_in_order_and_stops() {
    use std::ops::ControlFlow;

    use shardnet_exec::tx::for_each_recovered;

    let mut raw: Vec<Bytes> = (0..500u64)
        .map(|i| Wallet::new(i % 13).transfer(i, Address::repeat_byte(2), U256::from(i)))
        .collect();
    raw[40] = Bytes::from_static(b"junk");
    raw[333] = Bytes::new();
    let sequential: Vec<_> = raw.iter().map(|r| RecoveredTx::decode(r)).collect();
    for workers in [1, 2, 3, 8, 64] {
        let mut seen = Vec::new();
        let flow = for_each_recovered(&raw, workers, |tx| {
            seen.push(tx);
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(flow, ControlFlow::Continue(()));
        assert_eq!(seen, sequential, "workers = {workers}");
        // Stop at the second refused transaction.
        let mut seen = 0usize;
        let mut errors = 0;
        let flow = for_each_recovered(&raw, workers, |tx| {
            seen += 1;
            errors += usize::from(tx.is_err());
            if errors == 2 {
                ControlFlow::Break(seen)
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(flow, ControlFlow::Break(334), "workers = {workers}");
    }
}
