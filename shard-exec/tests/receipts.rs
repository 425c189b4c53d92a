//! Receipts: status, gas, cumulative gas, logs and the logs bloom, per transaction and per
//! block, as Ethereum computes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use alloy_primitives::{Address, B256, Bloom, BloomInput, Bytes, U256, keccak256};
use shardnet_exec::store::hash_address;
use shardnet_exec::{AccountRecord, MemoryStore, StateStore, TxStatus, execute};
use support::{Wallet, env, eoa, genesis};

#[test]
fn logs_and_bloom_match_what_the_contract_emitted() {
    let topic = B256::repeat_byte(0x42);
    // LOG1 with 32 bytes of data (0x2a) and one topic, then STOP.
    let mut code = vec![0x60, 0x2a, 0x60, 0x00, 0x52, 0x7f];
    code.extend_from_slice(topic.as_slice());
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xa1, 0x00]);
    let code = Bytes::from(code);
    let emitter = Address::repeat_byte(0xe1);
    let wallet = Wallet::new(1);

    let mut changes = genesis([wallet.address], U256::from(10u64).pow(U256::from(18)));
    let code_hash = keccak256(&code);
    changes.code.insert(code_hash, code);
    changes.accounts.insert(
        hash_address(&emitter),
        Some(AccountRecord {
            code_hash,
            ..eoa(emitter, U256::ZERO)
        }),
    );
    let mut store = MemoryStore::new();
    store.apply(&changes).unwrap();

    let txs = vec![
        shardnet_exec::RecoveredTx::decode(&wallet.call(
            0,
            emitter,
            U256::ZERO,
            Bytes::new(),
            60_000,
        ))
        .unwrap(),
        shardnet_exec::RecoveredTx::decode(&wallet.transfer(
            1,
            Address::repeat_byte(9),
            U256::from(5),
        ))
        .unwrap(),
    ];
    let out = execute(&store, &env(1, 30_000_000), &|_| B256::ZERO, &txs).unwrap();
    let (logged, plain) = (&out.txs[0], &out.txs[1]);
    assert_eq!(logged.status, TxStatus::Success);
    assert_eq!(logged.logs.len(), 1);
    assert_eq!(logged.logs[0].address, emitter);
    assert_eq!(logged.logs[0].topics(), &[topic]);
    assert!(
        logged
            .bloom
            .contains_input(BloomInput::Raw(emitter.as_slice()))
    );
    assert!(
        logged
            .bloom
            .contains_input(BloomInput::Raw(topic.as_slice()))
    );
    assert_eq!(plain.bloom, Bloom::ZERO, "a plain transfer logs nothing");
    assert_eq!(plain.cumulative_gas_used, logged.gas_used + plain.gas_used);
    assert_eq!(
        out.bloom(),
        logged.bloom,
        "the block bloom is the union of its receipts'"
    );
    assert_eq!(out.gas_used, plain.cumulative_gas_used);
}
