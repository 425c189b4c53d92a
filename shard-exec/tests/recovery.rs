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
