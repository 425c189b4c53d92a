//! Storage tries carried from block to block: a chain of blocks that set, overwrite,
//! clear and re-create slots of contracts, and deploy contracts whose constructors write
//! storage, executed with `execute_on` on the previous block's trie, gives at every block the
//! state root and the storage roots that a from-scratch computation over the store gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use shardnet_exec::evm::execute_on;
use shardnet_exec::state_root::{account_trie, state_root, storage_root};
use shardnet_exec::store::hash_address;
use shardnet_exec::{AccountRecord, MemoryStore, RecoveredTx, StateStore, StateView, TxStatus};
use support::Wallet;

/// `SSTORE(calldata[0..32], calldata[32..64])`.
const SET_SLOT: [u8; 8] = [0x60, 0x20, 0x35, 0x60, 0x00, 0x35, 0x55, 0x00];

fn contract(i: u8) -> Address {
    Address::repeat_byte(0xc0 + i)
}

/// Init code whose constructor stores 1 at slots 0 and 1 and deploys `SET_SLOT`.
fn initcode() -> Bytes {
    let mut c = vec![
        0x60, 0x01, 0x60, 0x00, 0x55, // SSTORE(0, 1)
        0x60, 0x01, 0x60, 0x01, 0x55, // SSTORE(1, 1)
        0x60, 0x08, 0x60, 0x16, 0x60, 0x00, 0x39, // CODECOPY(0, 22, 8)
        0x60, 0x08, 0x60, 0x00, 0xf3, // RETURN(0, 8)
    ];
    c.extend_from_slice(&SET_SLOT);
    c.into()
}

/// A small deterministic generator (no dependency on the test's seed handling).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

fn check_roots(store: &MemoryStore, root: B256) {
    assert_eq!(state_root(store).unwrap(), root, "state root");
    for (hashed, a) in store.accounts().unwrap() {
        let slots = store.account_storage(&hashed).unwrap();
        assert_eq!(
            storage_root(&slots),
            a.storage_root,
            "storage root of {}",
            a.address
        );
    }
}

#[test]
fn carried_storage_tries_match_roots_from_scratch() {
    let wallets: Vec<Wallet> = (0..6).map(Wallet::new).collect();
    let funds = U256::from(10u128.pow(21));
    let mut genesis = support::genesis(wallets.iter().map(|w| w.address), funds);
    let code = Bytes::from(SET_SLOT.to_vec());
    let code_hash = keccak256(&code);
    genesis.code.insert(code_hash, code);
    for i in 0..3 {
        let a = contract(i);
        genesis.accounts.insert(
            hash_address(&a),
            Some(AccountRecord {
                nonce: 1,
                code_hash,
                ..support::eoa(a, U256::ZERO)
            }),
        );
    }
    let mut store = MemoryStore::new();
    store.apply(&genesis).unwrap();
    let mut trie = account_trie(&store).unwrap();
    let mut rng = Lcg(7);
    let mut nonces = vec![0u64; wallets.len()];
    for number in 1..=40u64 {
        let mut raw = Vec::new();
        for (w, wallet) in wallets.iter().enumerate() {
            let nonce = nonces[w];
            nonces[w] += 1;
            if rng.next(10) == 0 {
                raw.push(wallet.deploy(nonce, initcode(), 200_000));
                continue;
            }
            // Few slots and many zeros: slots are set, cleared, and a contract's whole
            // storage is emptied and refilled over the chain.
            let slot = rng.next(4);
            let value = if rng.next(3) == 0 {
                0
            } else {
                rng.next(1000) + 1
            };
            let mut input = U256::from(slot).to_be_bytes::<32>().to_vec();
            input.extend_from_slice(&U256::from(value).to_be_bytes::<32>());
            let to = contract(rng.next(3) as u8);
            raw.push(wallet.call(nonce, to, U256::ZERO, input.into(), 100_000));
        }
        let txs: Vec<RecoveredTx> = raw
            .iter()
            .map(|r| RecoveredTx::decode(r).unwrap())
            .collect();
        let env = support::env(number, 30_000_000);
        let hashes = |_: u64| B256::ZERO;
        let (exec, next) = execute_on(&store, &trie, &env, &hashes, &txs).unwrap();
        assert!(
            exec.txs.iter().all(|t| t.status == TxStatus::Success),
            "{:?}",
            exec.txs
        );
        assert_eq!(next.root(), exec.state_root);
        store.apply(&exec.changes).unwrap();
        check_roots(&store, exec.state_root);
        trie = next;
    }
    // Storage of every contract stayed small, so some became empty and were refilled.
    assert!(
        store.accounts().unwrap().len() > wallets.len() + 3,
        "some deployments ran"
    );
}
