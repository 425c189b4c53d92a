//! Read-only calls (`query.rs`, `specs/rpc.md` R-4): a call sees the committed state, returns
//! what a transaction would, and changes nothing; gas estimates are the least limit that
//! succeeds; reverts come back with their data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use shardnet_exec::query::{CallRequest, CallStatus, QueryError, call, estimate_gas};
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{AccountRecord, MemoryStore, StateStore, StateView};
use support::{BASE_FEE, env, eoa, genesis};

const CAP: u64 = 30_000_000;

/// Stores 42 in slot 0, then returns slot 0.
const STORE_AND_RETURN: [u8; 16] = [
    0x60, 0x2a, 0x60, 0x00, 0x55, // SSTORE(0, 42)
    0x60, 0x00, 0x54, 0x60, 0x00, 0x52, // MSTORE(0, SLOAD(0))
    0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN(0, 32)
];
/// Reverts with the 32-byte word 7.
const REVERT_7: [u8; 10] = [0x60, 0x07, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xfd];

fn with_contracts(funded: Address) -> (MemoryStore, Address, Address) {
    let mut changes = genesis([funded], U256::from(10u64).pow(U256::from(18)));
    let mut deploy = |address: Address, code: &[u8]| {
        let code = Bytes::copy_from_slice(code);
        let code_hash = keccak256(&code);
        changes.code.insert(code_hash, code);
        changes.accounts.insert(
            hash_address(&address),
            Some(AccountRecord {
                code_hash,
                ..eoa(address, U256::ZERO)
            }),
        );
    };
    let store_and_return = Address::repeat_byte(0xc1);
    let revert = Address::repeat_byte(0xc2);
    deploy(store_and_return, &STORE_AND_RETURN);
    deploy(revert, &REVERT_7);
    let mut store = MemoryStore::new();
    store.apply(&changes).unwrap();
    (store, store_and_return, revert)
}

fn no_hashes(_: u64) -> B256 {
    B256::ZERO
}

#[test]
fn a_call_returns_what_a_transaction_would_and_changes_nothing() {
    let caller = Address::repeat_byte(0xaa);
    let (store, contract, _) = with_contracts(caller);
    let req = CallRequest {
        from: Some(caller),
        to: Some(contract),
        ..CallRequest::default()
    };
    let out = call(&store, &env(1, CAP), &no_hashes, &req, CAP, None).unwrap();
    assert_eq!(out.status, CallStatus::Success);
    assert_eq!(U256::from_be_slice(&out.output), U256::from(42));
    assert_eq!(
        store
            .storage(&hash_address(&contract), &hash_slot(&U256::ZERO))
            .unwrap(),
        U256::ZERO,
        "the call's SSTORE was discarded"
    );
    // No fee named: a caller without any balance can still call (base fee treated as zero).
    let broke = CallRequest {
        from: Some(Address::repeat_byte(0x01)),
        ..req
    };
    assert_eq!(
        call(&store, &env(1, CAP), &no_hashes, &broke, CAP, None)
            .unwrap()
            .status,
        CallStatus::Success
    );
}

#[test]
fn a_revert_returns_its_data_and_fees_below_the_base_fee_are_refused() {
    let caller = Address::repeat_byte(0xaa);
    let (store, _, revert) = with_contracts(caller);
    let req = CallRequest {
        from: Some(caller),
        to: Some(revert),
        ..CallRequest::default()
    };
    let out = call(&store, &env(1, CAP), &no_hashes, &req, CAP, None).unwrap();
    assert_eq!(out.status, CallStatus::Revert);
    assert_eq!(U256::from_be_slice(&out.output), U256::from(7));
    match estimate_gas(&store, &env(1, CAP), &no_hashes, &req, CAP, None) {
        Err(QueryError::Reverted(data)) => assert_eq!(U256::from_be_slice(&data), U256::from(7)),
        other => panic!("expected a revert, got {other:?}"),
    }
    let cheap = CallRequest {
        max_fee_per_gas: Some(u128::from(BASE_FEE) - 1),
        max_priority_fee_per_gas: Some(0),
        ..req
    };
    assert!(matches!(
        call(&store, &env(1, CAP), &no_hashes, &cheap, CAP, None),
        Err(QueryError::Invalid(_))
    ));
}

#[test]
fn estimates_are_the_least_gas_that_succeeds() {
    let caller = Address::repeat_byte(0xaa);
    let (store, contract, _) = with_contracts(caller);
    let transfer = CallRequest {
        from: Some(caller),
        to: Some(Address::repeat_byte(0x77)),
        value: U256::from(1),
        ..CallRequest::default()
    };
    assert_eq!(
        estimate_gas(&store, &env(1, CAP), &no_hashes, &transfer, CAP, None).unwrap(),
        21_000
    );

    let req = CallRequest {
        from: Some(caller),
        to: Some(contract),
        ..CallRequest::default()
    };
    let estimate = estimate_gas(&store, &env(1, CAP), &no_hashes, &req, CAP, None).unwrap();
    let at = |gas| {
        let req = CallRequest {
            gas: Some(gas),
            ..req.clone()
        };
        call(&store, &env(1, CAP), &no_hashes, &req, CAP, None)
            .unwrap()
            .status
    };
    assert_eq!(at(estimate), CallStatus::Success);
    assert_ne!(at(estimate - 1), CallStatus::Success, "estimate {estimate}");
    // The cap bounds the search: too little gas to succeed at all is an error, not a loop.
    assert!(estimate_gas(&store, &env(1, CAP), &no_hashes, &req, 30_000, None).is_err());
}
