//! Mempool tests: one per rejection, replacement, bounds and eviction, selection, removal, and
//! a randomized check that every selected batch executes without an invalid transaction.

use std::sync::OnceLock;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Signature, TxKind, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use proptest::prelude::*;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use shardnet_protocol::ShardMapScheme;

use super::*;
use crate::evm::{ExecEnv, Fork, execute};
use crate::store::{ChangeSet, MemoryStore, StateStore};
use crate::tx::TxError;

mod select;

const CHAIN_ID: u64 = 1337;
const BLOCK_GAS: u64 = 30_000_000;
const BASE_FEE: u64 = 7;
const RICH: u128 = 1_000_000_000_000_000_000;

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A deterministic key pair.
#[derive(Clone, Debug)]
struct Wallet {
    secret: SecretKey,
    address: Address,
}

impl Wallet {
    fn new(i: u64) -> Self {
        let seed = keccak256([b"shardnet-mempool-test".as_slice(), &i.to_be_bytes()].concat());
        let secret = SecretKey::from_byte_array(seed.0).expect("keccak output is a valid key");
        let public = PublicKey::from_secret_key_global(&secret).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        Self { secret, address }
    }

    fn signature(&self, hash: B256) -> Signature {
        let (id, rs) = SECP256K1
            .sign_ecdsa_recoverable(Message::from_digest(hash.0), &self.secret)
            .serialize_compact();
        Signature::from_bytes_and_parity(&rs, i32::from(id) == 1)
    }

    fn sign(&self, tx: TxEip1559) -> Bytes {
        let sig = self.signature(tx.signature_hash());
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    fn legacy(&self, nonce: u64, gas_price: u128) -> Bytes {
        let tx = TxLegacy {
            chain_id: Some(CHAIN_ID),
            nonce,
            gas_price,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(0xaa)),
            value: U256::ZERO,
            input: Bytes::new(),
        };
        let sig = self.signature(tx.signature_hash());
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    /// A transfer of 1 wei with `nonce`, `max_fee` and `tip`.
    fn tx(&self, nonce: u64, max_fee: u128, tip: u128) -> Bytes {
        self.sign(eip1559(nonce, max_fee, tip))
    }
}

fn eip1559(nonce: u64, max_fee: u128, tip: u128) -> TxEip1559 {
    TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0xaa)),
        value: U256::from(1),
        access_list: AccessList::default(),
        input: Bytes::new(),
    }
}

fn shard_map() -> ShardMap {
    ShardMap::new(2, ShardMapScheme::LowBits)
}

/// The first `n` wallets living on `shard`.
fn wallets_on(shard: u16, n: usize) -> Vec<Wallet> {
    (0..)
        .map(Wallet::new)
        .filter(|w| shard_map().home(&w.address) == ShardId(shard))
        .take(n)
        .collect()
}

/// Wallets on shard 0, derived once.
fn wallets() -> &'static [Wallet] {
    static W: OnceLock<Vec<Wallet>> = OnceLock::new();
    W.get_or_init(|| wallets_on(0, 8))
}

fn config() -> MempoolConfig {
    MempoolConfig::new(CHAIN_ID, ShardId(0), shard_map(), BLOCK_GAS)
}

fn pool() -> Mempool {
    Mempool::new(config())
}

fn account(address: Address, nonce: u64, balance: U256) -> AccountRecord {
    AccountRecord {
        address,
        nonce,
        balance,
        code_hash: KECCAK_EMPTY,
        storage_root: EMPTY_ROOT_HASH,
    }
}

fn store(accounts: impl IntoIterator<Item = AccountRecord>) -> MemoryStore {
    let mut changes = ChangeSet::default();
    for a in accounts {
        changes.accounts.insert(hash_address(&a.address), Some(a));
    }
    let mut s = MemoryStore::new();
    s.apply(&changes).expect("memory store");
    s
}

/// Every test wallet funded with [`RICH`] at nonce 0.
fn rich() -> MemoryStore {
    store(
        wallets()
            .iter()
            .map(|w| account(w.address, 0, U256::from(RICH))),
    )
}

/// A Prague block environment at `base_fee` with `gas_limit`.
fn env(base_fee: u64, gas_limit: u64) -> ExecEnv {
    ExecEnv {
        fork: Fork::Prague,
        chain_id: CHAIN_ID,
        number: 1,
        timestamp: 1_750_000_000,
        beneficiary: Address::repeat_byte(0xbe),
        gas_limit,
        base_fee,
        prevrandao: B256::ZERO,
        difficulty: U256::ZERO,
        excess_blob_gas: 0,
    }
}

fn add(pool: &mut Mempool, raw: Bytes, state: &MemoryStore) -> AddOutcome {
    let outcome = pool.add(raw, state, BASE_FEE).expect("admitted");
    check_invariants(pool);
    outcome
}

fn reject(pool: &mut Mempool, raw: Bytes, state: &MemoryStore) -> MempoolError {
    let err = pool.add(raw, state, BASE_FEE).expect_err("rejected");
    assert!(err.is_rejection());
    check_invariants(pool);
    err
}

/// The two indexes agree and every bound holds.
fn check_invariants(pool: &Mempool) {
    let c = pool.config();
    assert!(pool.by_hash.len() <= c.max_txs);
    let mut n = 0;
    for (sender, queue) in &pool.by_sender {
        assert!(!queue.is_empty() && queue.len() <= c.max_per_sender);
        for (nonce, tx) in queue {
            assert_eq!((tx.sender(), tx.nonce()), (*sender, *nonce));
            assert!(Arc::ptr_eq(tx, &pool.by_hash[&tx.hash()]));
            n += 1;
        }
    }
    assert_eq!(n, pool.by_hash.len());
}

fn hashes(txs: &[Arc<PooledTx>]) -> Vec<B256> {
    txs.iter().map(|t| t.hash()).collect()
}

fn hash_of(raw: &Bytes) -> B256 {
    RecoveredTx::decode(raw).expect("decodes").hash
}

// ---------------------------------------------------------------------------------------------
// Admission.

#[test]
fn admits_a_valid_transaction_and_caches_its_fees() {
    let (mut pool, state, w) = (pool(), rich(), &wallets()[0]);
    let raw = w.tx(0, 100, 3);
    let outcome = add(&mut pool, raw.clone(), &state);
    let hash = outcome.hash();
    assert_eq!(outcome, AddOutcome::Added { hash });
    assert_eq!((pool.len(), pool.contains(&hash)), (1, true));
    let tx = pool.get(&hash).expect("pending");
    assert_eq!(tx.raw(), &raw);
    assert_eq!((tx.sender(), tx.nonce()), (w.address, 0));
    assert_eq!((tx.max_fee_per_gas(), tx.priority_fee_per_gas()), (100, 3));
    assert_eq!(tx.max_cost(), U256::from(21_000 * 100 + 1));
    assert_eq!(tx.effective_tip(BASE_FEE), Some(3));
    assert_eq!(tx.effective_tip(99), Some(1));
    assert_eq!(tx.effective_tip(101), None);
}

#[test]
fn admits_legacy_transactions_with_the_gas_price_as_both_fees() {
    let (mut pool, state) = (pool(), rich());
    let hash = add(&mut pool, wallets()[0].legacy(0, 50), &state).hash();
    let tx = pool.get(&hash).expect("pending");
    assert_eq!((tx.max_fee_per_gas(), tx.priority_fee_per_gas()), (50, 50));
    assert_eq!(tx.effective_tip(BASE_FEE), Some(43));
}

#[test]
fn rejects_an_oversized_encoding_before_decoding() {
    let mut pool = Mempool::new(MempoolConfig {
        max_tx_bytes: 100,
        ..config()
    });
    let err = reject(&mut pool, Bytes::from(vec![0xff; 101]), &rich());
    assert!(matches!(
        err,
        MempoolError::TooLarge {
            size: 101,
            max: 100
        }
    ));
    assert_eq!(
        err.to_string(),
        "transaction is 101 bytes, the limit is 100"
    );
}

#[test]
fn size_limit_is_clamped_to_the_protocol_limit() {
    let pool = Mempool::new(MempoolConfig {
        max_tx_bytes: usize::MAX,
        max_txs: 0,
        ..config()
    });
    assert_eq!(pool.config().max_tx_bytes, MAX_TRANSACTION_BYTES);
    assert_eq!(pool.config().max_txs, 1);
}

#[test]
fn rejects_undecodable_bytes() {
    let err = reject(&mut pool(), Bytes::from_static(&[0x02, 0xc0]), &rich());
    assert!(
        matches!(err, MempoolError::Invalid(TxError::Decode(_))),
        "{err}"
    );
    assert!(err.to_string().starts_with("transaction does not decode"));
}

#[test]
fn rejects_an_unrecoverable_signature() {
    let tx = eip1559(0, 100, 3);
    let bad = Signature::new(U256::ZERO, U256::from(1), false);
    let raw: Bytes = TxEnvelope::from(tx.into_signed(bad)).encoded_2718().into();
    let err = reject(&mut pool(), raw, &rich());
    assert!(
        matches!(err, MempoolError::Invalid(TxError::Signature(_))),
        "{err}"
    );
    assert!(err.to_string().starts_with("invalid signature"));
}

#[test]
fn rejects_another_chain() {
    let tx = TxEip1559 {
        chain_id: 1,
        ..eip1559(0, 100, 3)
    };
    let err = reject(&mut pool(), wallets()[0].sign(tx), &rich());
    assert!(matches!(
        err,
        MempoolError::Invalid(TxError::WrongChain {
            expected: CHAIN_ID,
            found: 1
        })
    ));
    assert_eq!(
        err.to_string(),
        "transaction is for chain 1, this network is chain 1337"
    );
}

#[test]
fn rejects_a_gas_limit_above_the_block_gas_limit() {
    let tx = TxEip1559 {
        gas_limit: BLOCK_GAS + 1,
        ..eip1559(0, 100, 3)
    };
    let err = reject(&mut pool(), wallets()[0].sign(tx), &rich());
    assert!(
        matches!(err, MempoolError::GasLimitTooHigh { gas_limit, max: BLOCK_GAS }
        if gas_limit == BLOCK_GAS + 1)
    );
    assert_eq!(
        err.to_string(),
        "gas limit 30000001 exceeds the block gas limit 30000000"
    );
}

#[test]
fn rejects_a_gas_limit_below_the_transfer_minimum() {
    let tx = TxEip1559 {
        gas_limit: 20_999,
        ..eip1559(0, 100, 3)
    };
    let err = reject(&mut pool(), wallets()[0].sign(tx), &rich());
    assert!(matches!(
        err,
        MempoolError::IntrinsicGasTooLow {
            gas_limit: 20_999,
            intrinsic: 21_000
        }
    ));
    assert_eq!(
        err.to_string(),
        "gas limit 20999 is below the intrinsic gas 21000"
    );
}

#[test]
fn rejects_a_gas_limit_below_the_calldata_cost() {
    // 10 non-zero bytes: 40 tokens; the EIP-7623 floor 21 000 + 400 beats 21 000 + 160.
    let tx = TxEip1559 {
        gas_limit: 21_399,
        input: Bytes::from(vec![1; 10]),
        ..eip1559(0, 100, 3)
    };
    let err = reject(&mut pool(), wallets()[0].sign(tx), &rich());
    assert_eq!(
        err.to_string(),
        "gas limit 21399 is below the intrinsic gas 21400"
    );
}

/// The intrinsic gas computed here is exactly what revm charges: a gas limit equal to it
/// executes, one less is invalid.
#[test]
fn intrinsic_gas_matches_revm() {
    let w = &wallets()[0];
    let state = rich();
    let list = AccessList(vec![
        AccessListItem {
            address: Address::repeat_byte(1),
            storage_keys: vec![B256::ZERO, B256::repeat_byte(1)],
        },
        AccessListItem {
            address: Address::repeat_byte(2),
            storage_keys: vec![B256::repeat_byte(2)],
        },
    ]);
    let mut mixed = vec![0u8; 40];
    mixed.extend([7u8; 9]);
    let shapes = [
        eip1559(0, 100, 3),
        TxEip1559 {
            input: Bytes::from(mixed.clone()),
            ..eip1559(0, 100, 3)
        },
        TxEip1559 {
            input: Bytes::from(vec![0u8; 3]),
            ..eip1559(0, 100, 3)
        },
        TxEip1559 {
            access_list: list,
            ..eip1559(0, 100, 3)
        },
        TxEip1559 {
            to: TxKind::Create,
            value: U256::ZERO,
            // PUSH1 0 PUSH1 0 RETURN, padded: 33 bytes, so two init code words.
            input: Bytes::from([&[0x60, 0, 0x60, 0, 0xf3][..], &[0u8; 28]].concat()),
            ..eip1559(0, 100, 3)
        },
    ];
    let env = env(BASE_FEE, BLOCK_GAS);
    for shape in shapes {
        let probe = RecoveredTx::decode(&w.sign(shape.clone())).expect("decodes");
        let intrinsic = intrinsic_gas(&probe);
        for (gas_limit, valid) in [(intrinsic, true), (intrinsic - 1, false)] {
            let raw = w.sign(TxEip1559 {
                gas_limit,
                ..shape.clone()
            });
            let tx = RecoveredTx::decode(&raw).expect("decodes");
            let hashes = |_: u64| B256::ZERO;
            let run = execute(&state, &env, &hashes, &[tx]).expect("executes");
            assert_eq!(run.txs[0].executed(), valid, "{shape:?} at {gas_limit}");
            assert_eq!(pool().add(raw, &state, BASE_FEE).is_ok(), valid);
        }
    }
}

#[test]
fn rejects_oversized_init_code() {
    let tx = TxEip1559 {
        to: TxKind::Create,
        value: U256::ZERO,
        gas_limit: 10_000_000,
        input: Bytes::from(vec![0u8; MAX_INITCODE_BYTES + 1]),
        ..eip1559(0, 100, 3)
    };
    let err = reject(&mut pool(), wallets()[0].sign(tx), &rich());
    assert!(matches!(
        err,
        MempoolError::InitcodeTooLarge {
            size: 49_153,
            max: 49_152
        }
    ));
    assert_eq!(
        err.to_string(),
        "init code is 49153 bytes, the limit is 49152"
    );
}

#[test]
fn rejects_a_priority_fee_above_the_max_fee() {
    let err = reject(&mut pool(), wallets()[0].tx(0, 100, 101), &rich());
    assert!(matches!(
        err,
        MempoolError::TipAboveMaxFee {
            max_priority_fee: 101,
            max_fee: 100
        }
    ));
    assert_eq!(
        err.to_string(),
        "max priority fee per gas 101 is above the max fee per gas 100"
    );
}

#[test]
fn rejects_a_max_fee_below_the_base_fee() {
    let err = reject(&mut pool(), wallets()[0].tx(0, 6, 1), &rich());
    assert!(matches!(
        err,
        MempoolError::FeeTooLow {
            max_fee: 6,
            base_fee: 7
        }
    ));
    assert_eq!(err.to_string(), "max fee per gas 6 is below the base fee 7");
}

#[test]
fn rejects_a_sender_homed_on_another_shard() {
    let foreign = &wallets_on(1, 1)[0];
    let state = store([account(foreign.address, 0, U256::from(RICH))]);
    let err = reject(&mut pool(), foreign.tx(0, 100, 3), &state);
    assert!(matches!(
        err,
        MempoolError::WrongShard { sender, home: ShardId(1), this: ShardId(0) }
            if sender == foreign.address
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "sender {} lives on shard 1, this is shard 0",
            foreign.address
        )
    );
}

#[test]
fn rejects_a_contract_sender() {
    let w = &wallets()[0];
    let state = store([AccountRecord {
        code_hash: B256::repeat_byte(0xc0),
        ..account(w.address, 0, U256::from(RICH))
    }]);
    let err = reject(&mut pool(), w.tx(0, 100, 3), &state);
    assert!(matches!(err, MempoolError::SenderIsContract { sender } if sender == w.address));
    assert!(err.to_string().contains("is a contract"));
}

#[test]
fn rejects_a_nonce_below_the_account_nonce() {
    let w = &wallets()[0];
    let state = store([account(w.address, 9, U256::from(RICH))]);
    let err = reject(&mut pool(), w.tx(7, 100, 3), &state);
    assert!(matches!(
        err,
        MempoolError::NonceTooLow {
            nonce: 7,
            account_nonce: 9
        }
    ));
    assert_eq!(err.to_string(), "nonce 7 is below the account nonce 9");
}

#[test]
fn rejects_a_nonce_beyond_the_window() {
    let w = &wallets()[0];
    let state = store([account(w.address, 9, U256::from(RICH))]);
    let mut pool = pool();
    // The last nonce in the window is admitted (a gap is fine), the first past it is not.
    add(&mut pool, w.tx(9 + 63, 100, 3), &state);
    let err = reject(&mut pool, w.tx(9 + 64, 100, 3), &state);
    assert!(matches!(
        err,
        MempoolError::NonceTooHigh {
            nonce: 73,
            account_nonce: 9,
            window: 64
        }
    ));
    assert_eq!(
        err.to_string(),
        "nonce 73 is too far ahead of the account nonce 9 (the pool holds at most 64 nonces \
         ahead)"
    );
}

#[test]
fn rejects_a_balance_below_gas_times_max_fee_plus_value() {
    let w = &wallets()[0];
    let cost = 21_000 * 100 + 1;
    let mut pool = pool();
    add(
        &mut pool,
        w.tx(0, 100, 3),
        &store([account(w.address, 0, U256::from(cost))]),
    );
    let poor = store([account(w.address, 0, U256::from(cost - 1))]);
    let err = reject(&mut pool, w.tx(1, 100, 3), &poor);
    assert!(
        matches!(err, MempoolError::InsufficientFunds { balance, cost: c, .. }
        if balance == U256::from(cost - 1) && c == U256::from(cost))
    );
    assert_eq!(
        err.to_string(),
        "insufficient funds: balance 2100000 < gas × max fee + value = 21000 × 100 + 1 = 2100001"
    );
}

#[test]
fn rejects_a_cost_that_overflows() {
    let w = &wallets()[0];
    let tx = TxEip1559 {
        value: U256::MAX,
        ..eip1559(0, 100, 3)
    };
    let state = store([account(w.address, 0, U256::MAX)]);
    let err = reject(&mut pool(), w.sign(tx), &state);
    assert!(matches!(err, MempoolError::InsufficientFunds { cost, .. } if cost == U256::MAX));
}

#[test]
fn rejects_a_known_transaction() {
    let (mut pool, state) = (pool(), rich());
    let raw = wallets()[0].tx(0, 100, 3);
    let hash = add(&mut pool, raw.clone(), &state).hash();
    let err = reject(&mut pool, raw, &state);
    assert!(matches!(err, MempoolError::AlreadyKnown { hash: h } if h == hash));
    assert_eq!(
        err.to_string(),
        format!("transaction {hash} is already known")
    );
}

#[test]
fn a_failing_store_is_not_a_rejection() {
    let err = MempoolError::from(StoreError::Io("disk".into()));
    assert!(!err.is_rejection());
}

// ---------------------------------------------------------------------------------------------
// Replacement, bounds, eviction.

#[test]
fn replaces_with_a_ten_percent_bump_of_both_fees() {
    let (mut pool, state, w) = (pool(), rich(), &wallets()[0]);
    let old = add(&mut pool, w.tx(0, 100, 10), &state).hash();
    let outcome = add(&mut pool, w.tx(0, 110, 11), &state);
    assert_eq!(
        outcome,
        AddOutcome::Replaced {
            hash: outcome.hash(),
            replaced: old
        }
    );
    assert!(!pool.contains(&old) && pool.contains(&outcome.hash()));
    assert_eq!(pool.len(), 1);
}

#[test]
fn rejects_a_replacement_without_enough_bump() {
    let (mut pool, state, w) = (pool(), rich(), &wallets()[0]);
    let old = add(&mut pool, w.tx(0, 100, 10), &state).hash();
    // Max fee bumped enough, priority fee not; then both a little short (rounding up).
    for (max_fee, tip) in [(200, 10), (109, 11)] {
        let err = reject(&mut pool, w.tx(0, max_fee, tip), &state);
        assert!(matches!(
            err,
            MempoolError::ReplacementUnderpriced {
                nonce: 0,
                bump_percent: 10,
                required_max_fee: 110,
                required_priority_fee: 11,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "replacement for nonce 0 is underpriced: a 10% bump needs max fee 110 and \
                 priority fee 11, got {max_fee} and {tip}"
            )
        );
    }
    assert!(pool.contains(&old));
    // ceil(15 × 1.1) = 17: 16 is not enough.
    let old = add(&mut pool, w.tx(1, 100, 15), &state).hash();
    let err = reject(&mut pool, w.tx(1, 200, 16), &state);
    assert!(matches!(
        err,
        MempoolError::ReplacementUnderpriced {
            required_priority_fee: 17,
            ..
        }
    ));
    assert!(pool.contains(&old));
}

#[test]
fn enforces_the_per_sender_limit() {
    let mut pool = Mempool::new(MempoolConfig {
        max_per_sender: 2,
        ..config()
    });
    let (state, w) = (rich(), &wallets()[0]);
    add(&mut pool, w.tx(0, 100, 3), &state);
    add(&mut pool, w.tx(1, 100, 3), &state);
    let err = reject(&mut pool, w.tx(2, 100, 3), &state);
    assert!(matches!(err, MempoolError::SenderLimit { sender, limit: 2 } if sender == w.address));
    assert_eq!(
        err.to_string(),
        format!(
            "sender {} already has 2 pending transactions, the limit per sender",
            w.address
        )
    );
    // A replacement does not count against the limit; another sender is unaffected.
    add(&mut pool, w.tx(1, 200, 30), &state);
    add(&mut pool, wallets()[1].tx(0, 100, 3), &state);
}

fn full_pool(max_txs: usize) -> Mempool {
    Mempool::new(MempoolConfig {
        max_txs,
        ..config()
    })
}

#[test]
fn a_full_pool_evicts_the_lowest_tip_for_a_higher_one() {
    let (mut pool, state, w) = (full_pool(3), rich(), wallets());
    let _a = add(&mut pool, w[0].tx(0, 100, 5), &state).hash();
    let b = add(&mut pool, w[1].tx(0, 100, 2), &state).hash();
    let _c = add(&mut pool, w[2].tx(0, 100, 8), &state).hash();

    // Equal to the cheapest: refused, with the numbers.
    let err = reject(&mut pool, w[3].tx(0, 100, 2), &state);
    assert!(matches!(
        err,
        MempoolError::PoolFull {
            max_txs: 3,
            tip: 2,
            cheapest_tip: Some(2)
        }
    ));
    assert_eq!(
        err.to_string(),
        "mempool is full (3 transactions): an effective tip of 2 does not outbid the cheapest \
         evictable transaction (tip 2)"
    );

    let outcome = add(&mut pool, w[3].tx(0, 100, 3), &state);
    assert_eq!(
        outcome,
        AddOutcome::Evicted {
            hash: outcome.hash(),
            evicted: b
        }
    );
    assert_eq!(pool.len(), 3);
    assert!(!pool.contains(&b));
}

#[test]
fn eviction_compares_effective_tips_at_the_current_base_fee() {
    let (mut pool, state, w) = (full_pool(2), rich(), wallets());
    // Tip 9 but max fee 10: at base fee 7 it tips 3.
    let capped = add(&mut pool, w[0].tx(0, 10, 9), &state).hash();
    add(&mut pool, w[1].tx(0, 100, 4), &state);
    let outcome = add(&mut pool, w[2].tx(0, 100, 4), &state);
    assert_eq!(
        outcome,
        AddOutcome::Evicted {
            hash: outcome.hash(),
            evicted: capped
        }
    );
}

/// Only a sender's last transaction is evictable, so no gap opens:
///
/// ```text
///   A: n0 tip 1 ── n1 tip 5      tails: A.n1 (5), B.n0 (3)
///   B: n0 tip 3                  C.n0 tip 4 evicts B.n0, not A.n0
/// ```
#[test]
fn eviction_takes_a_tail_so_no_nonce_gap_opens() {
    let (mut pool, state, w) = (full_pool(3), rich(), wallets());
    let a0 = add(&mut pool, w[0].tx(0, 100, 1), &state).hash();
    add(&mut pool, w[0].tx(1, 100, 5), &state);
    let b0 = add(&mut pool, w[1].tx(0, 100, 3), &state).hash();
    let outcome = add(&mut pool, w[2].tx(0, 100, 4), &state);
    assert_eq!(
        outcome,
        AddOutcome::Evicted {
            hash: outcome.hash(),
            evicted: b0
        }
    );
    assert!(pool.contains(&a0));
}

#[test]
fn a_transaction_never_evicts_its_own_predecessor() {
    let (mut pool, state, w) = (full_pool(2), rich(), wallets());
    add(&mut pool, w[0].tx(0, 100, 1), &state);
    add(&mut pool, w[1].tx(0, 100, 9), &state);
    // A.n1 would evict A.n0 (the cheapest) and strand itself: it may only beat B.n0.
    let err = reject(&mut pool, w[0].tx(1, 100, 5), &state);
    assert!(matches!(
        err,
        MempoolError::PoolFull {
            tip: 5,
            cheapest_tip: Some(9),
            ..
        }
    ));
}

#[test]
fn a_full_pool_refuses_a_transaction_behind_a_nonce_gap() {
    let (mut pool, state, w) = (full_pool(2), rich(), wallets());
    add(&mut pool, w[0].tx(0, 100, 1), &state);
    add(&mut pool, w[1].tx(0, 100, 1), &state);
    let err = reject(&mut pool, w[2].tx(3, 1_000, 500), &state);
    assert!(matches!(
        err,
        MempoolError::NotExecutableWhileFull {
            nonce: 3,
            next_nonce: 0
        }
    ));
    assert_eq!(
        err.to_string(),
        "mempool is full and nonce 3 is not executable yet (the sender's next nonce is 0): only \
         executable transactions may evict"
    );
}
