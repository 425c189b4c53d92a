//! The pipelined executor (`execute_raw_block`: senders recovered over several threads while
//! the transactions recovered so far execute, tries hashed over the same threads) gives
//! exactly the execution of recovering everything first and calling `execute_block` on one
//! thread, for any worker count, over a chain of blocks large enough to use
//! every parallel path; and it refuses a block at its first unrecoverable or unaccepted
//! transaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use shardnet_exec::evm::{RawBlockError, execute_block, execute_raw_block};
use shardnet_exec::state_root::account_trie;
use shardnet_exec::store::hash_address;
use shardnet_exec::{AccountRecord, MemoryStore, RecoveredTx, StateStore, TxStatus};
use support::Wallet;

/// `SSTORE(calldata[0..32], calldata[32..64])`.
const SET_SLOT: [u8; 8] = [0x60, 0x20, 0x35, 0x60, 0x00, 0x35, 0x55, 0x00];
const CONTRACT: Address = Address::repeat_byte(0xc5);

#[test]
fn pipelined_execution_is_the_sequential_one() {
    let wallets: Vec<Wallet> = (0..400).map(Wallet::new).collect();
    let funds = U256::from(10u128.pow(21));
    let mut genesis = support::genesis(wallets.iter().map(|w| w.address), funds);
    let code = Bytes::from(SET_SLOT.to_vec());
    let code_hash = keccak256(&code);
    genesis.code.insert(code_hash, code);
    genesis.accounts.insert(
        hash_address(&CONTRACT),
        Some(AccountRecord {
            nonce: 1,
            code_hash,
            ..support::eoa(CONTRACT, U256::ZERO)
        }),
    );
    let mut store = MemoryStore::new();
    store.apply(&genesis).unwrap();
    let mut trie = account_trie(&store).unwrap();
    let hashes = |_: u64| B256::ZERO;
    for number in 1..=3u64 {
        // Half pay each other (hundreds of changed accounts), half write storage slots (a
        // storage trie with hundreds of changed slots, some cleared).
        let raw: Vec<Bytes> = wallets
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let nonce = number - 1;
                if i % 2 == 0 {
                    let to = Address::from_word(keccak256(format!("to {i} {number}")));
                    w.transfer(nonce, to, U256::from(1000 + i))
                } else {
                    let slot = U256::from(i);
                    let value = U256::from(if number == 2 && i % 3 == 0 { 0 } else { number });
                    let mut input = slot.to_be_bytes::<32>().to_vec();
                    input.extend_from_slice(&value.to_be_bytes::<32>());
                    w.call(nonce, CONTRACT, U256::ZERO, input.into(), 100_000)
                }
            })
            .collect();
        let env = support::env(number, 1_000_000_000);
        let txs: Vec<RecoveredTx> = raw
            .iter()
            .map(|r| RecoveredTx::decode(r).unwrap())
            .collect();
        let (sequential, next) = execute_block(&store, &trie, &env, &hashes, &txs, None).unwrap();
        assert!(sequential.txs.iter().all(|t| t.status == TxStatus::Success));
        for workers in [1, 2, 3, 8] {
            let (pipelined, pipelined_trie) =
                execute_raw_block(&store, &trie, &env, &hashes, &raw, workers, |_| true, None)
                    .unwrap();
            assert_eq!(pipelined, sequential, "workers = {workers}");
            assert_eq!(pipelined_trie.root(), next.root());
        }
        // A transaction that does not recover, or that the caller refuses, ends the block.
        let mut broken = raw.clone();
        broken[300] = Bytes::from_static(b"junk");
        assert!(matches!(
            execute_raw_block(&store, &trie, &env, &hashes, &broken, 2, |_| true, None),
            Err(RawBlockError::Recovery { index: 300, .. })
        ));
        let refused = wallets[77].address;
        assert!(matches!(
            execute_raw_block(
                &store,
                &trie,
                &env,
                &hashes,
                &raw,
                2,
                |t| t.sender != refused,
                None
            ),
            Err(RawBlockError::Refused { index: 77 })
        ));
        store.apply(&sequential.changes).unwrap();
        trie = next;
    }
}
