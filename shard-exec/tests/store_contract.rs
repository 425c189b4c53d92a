//! The [`StateStore`] contract: one suite, run against every implementation (house style,
//! "a contract test suite runs against every implementation").
//!
//! Each `case` below is a generic function over `impl StateStore`; the `contract!` macro
//! instantiates every case for every store: `memory::*`, `sled::*` (a temporary directory,
//! the journal materialised every `MATERIALISE_EVERY_BLOCKS` blocks, so the cases read
//! through pending blocks), `sled_every_block::*` and `sled_every_2::*` (materialised after
//! each block, after every second), `sled_direct::*` (no journal), `faulty_memory::*` and
//! `faulty_sled::*`. Store-specific behaviour (sled reopen, the fault
//! injector's crash) and the model-based property tests follow.
//!
//! Every read in here goes through [`dump`], which also checks that iteration and point
//! reads agree and that iteration is strictly ascending by hashed key.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use proptest::prelude::*;
use shardnet_exec::state_root::state_root;
use shardnet_exec::{
    AccountRecord, ChangeSet, FaultyStore, MemoryStore, SledStore, StateStore, StateView, StoreMeta,
};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Stores under test.

/// A store under test, and the temporary directory it lives in (if any), which must outlive it.
struct Subject<S> {
    store: S,
    _dir: Option<TempDir>,
}

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn memory() -> Subject<MemoryStore> {
    Subject {
        store: MemoryStore::new(),
        _dir: None,
    }
}

fn sled() -> Subject<SledStore> {
    let dir = temp_dir();
    let store = SledStore::open(dir.path()).expect("open sled store");
    Subject {
        store,
        _dir: Some(dir),
    }
}

fn sled_materialising_every(blocks: usize) -> Subject<SledStore> {
    let s = sled();
    s.store.set_materialise_every(blocks).expect("configure");
    s
}

fn sled_every_block() -> Subject<SledStore> {
    sled_materialising_every(1)
}

fn sled_every_2() -> Subject<SledStore> {
    sled_materialising_every(2)
}

fn sled_direct() -> Subject<SledStore> {
    sled_materialising_every(0)
}

fn faulty_memory() -> Subject<FaultyStore<MemoryStore>> {
    Subject {
        store: FaultyStore::new(MemoryStore::new()).expect("wrap memory store"),
        _dir: None,
    }
}

fn faulty_sled() -> Subject<FaultyStore<SledStore>> {
    let dir = temp_dir();
    let sled = SledStore::open(dir.path()).expect("open sled store");
    Subject {
        store: FaultyStore::new(sled).expect("wrap sled store"),
        _dir: Some(dir),
    }
}

/// Instantiates every case for every store, as `<store>::<case>`.
macro_rules! contract {
    (stores: [$($store:ident),+ $(,)?], cases: $cases:tt) => {
        $(contract!(@store $store $cases);)+
    };
    (@store $store:ident [$($case:ident),+ $(,)?]) => {
        mod $store {
            $(
                #[test]
                fn $case() {
                    let mut subject = super::$store();
                    super::$case(&mut subject.store);
                }
            )+
        }
    };
}

contract! {
    stores: [memory, sled, sled_every_block, sled_every_2, sled_direct, faulty_memory, faulty_sled],
    cases: [
        empty_store_reads_nothing,
        accounts_storage_code_meta_round_trip,
        later_change_sets_overwrite_earlier_ones,
        deletion,
        wiped_storage_then_writes_in_one_change_set,
        wipe_and_delete_account_as_the_executor_does,
        iteration_ascends_by_hashed_key,
        extreme_keys_do_not_leak_into_neighbours,
        one_change_set_is_applied_whole,
        root_depends_only_on_contents,
        flush_changes_nothing_visible,
    ]
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A hashed key that sorts unlike its index (so insertion order is not iteration order).
fn key(i: u64) -> B256 {
    keccak256(i.to_be_bytes())
}

/// `base` with its last byte replaced: a key adjacent to `base` in the store's order.
fn neighbour(base: B256, last: u8) -> B256 {
    let mut k = base;
    k.0[31] = last;
    k
}

fn account(i: u64) -> AccountRecord {
    AccountRecord {
        address: Address::left_padding_from(&i.to_be_bytes()),
        nonce: i,
        balance: U256::from(1_000 + i),
        code_hash: KECCAK_EMPTY,
        storage_root: EMPTY_ROOT_HASH,
    }
}

fn contract_account(i: u64, code: &[u8]) -> AccountRecord {
    AccountRecord {
        code_hash: keccak256(code),
        // The store keeps whatever root it is given; the executor computes it.
        storage_root: keccak256(i.to_le_bytes()),
        ..account(i)
    }
}

fn meta(height: u64) -> StoreMeta {
    StoreMeta {
        height,
        state_root: key(2_000_000 + height),
        block_hash: key(1_000_000 + height),
        base_fee: 7 + height,
        gas_used: 21_000 * height,
        recent_hashes: (0..height.min(3))
            .map(|i| key(1_000_000 + height - i))
            .collect(),
    }
}

/// Everything a view shows, read through both iteration and point reads.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dump {
    meta: StoreMeta,
    accounts: Vec<(B256, AccountRecord)>,
    /// Storage of every listed account and every probed address.
    storage: BTreeMap<B256, Vec<(B256, U256)>>,
    /// Code of every listed account's code hash and every probed hash.
    code: BTreeMap<B256, Option<Bytes>>,
    root: B256,
}

/// Extra keys to read beyond what `accounts()` lists: storage of addresses that have no
/// account record, and code no account references.
#[derive(Clone, Debug, Default)]
struct Probe {
    addresses: Vec<B256>,
    codes: Vec<B256>,
}

/// Reads everything `view` shows, checking the contract's read invariants on the way:
/// iteration strictly ascends; every iterated account and slot reads back the same by key;
/// no iterated slot is zero.
fn dump(view: &impl StateView, probe: &Probe) -> Dump {
    let accounts = view.accounts().expect("accounts");
    assert_ascending(accounts.iter().map(|(k, _)| *k), "accounts()");
    let mut storage = BTreeMap::new();
    let mut code = BTreeMap::new();
    for (hashed, record) in &accounts {
        assert_eq!(
            view.account(hashed).expect("account"),
            Some(*record),
            "account() disagrees with accounts() at {hashed}"
        );
        if record.code_hash != KECCAK_EMPTY {
            code.insert(record.code_hash, None);
        }
        storage.insert(*hashed, Vec::new());
    }
    for a in &probe.addresses {
        storage.insert(*a, Vec::new());
    }
    for (a, slots) in &mut storage {
        *slots = view.account_storage(a).expect("account_storage");
        assert_ascending(slots.iter().map(|(k, _)| *k), "account_storage()");
        for (s, v) in slots.iter() {
            assert!(!v.is_zero(), "account_storage() lists a zero slot {a}/{s}");
            assert_eq!(
                view.storage(a, s).expect("storage"),
                *v,
                "storage() at {a}/{s}"
            );
        }
    }
    for h in &probe.codes {
        code.insert(*h, None);
    }
    for (h, c) in &mut code {
        *c = view.code(h).expect("code");
        if let Some(bytes) = c {
            assert_eq!(keccak256(bytes), *h, "code stored under a wrong hash");
        }
    }
    Dump {
        meta: view.meta().expect("meta"),
        accounts,
        storage,
        code,
        root: state_root(view).expect("state root"),
    }
}

fn assert_ascending(keys: impl Iterator<Item = B256>, what: &str) {
    let keys: Vec<B256> = keys.collect();
    for w in keys.windows(2) {
        assert!(
            w[0] < w[1],
            "{what} not strictly ascending: {} then {}",
            w[0],
            w[1]
        );
    }
}

/// A [`MemoryStore`] holding `changes` applied in order: the model every store must match.
fn model(changes: &[&ChangeSet]) -> MemoryStore {
    let mut m = MemoryStore::new();
    for c in changes {
        m.apply(c).expect("memory store apply");
    }
    m
}

/// A change set with two plain accounts, one contract with three slots and its code, and meta.
fn populated() -> ChangeSet {
    let code = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]);
    let mut c = ChangeSet::default();
    c.accounts.insert(key(1), Some(account(1)));
    c.accounts.insert(key(2), Some(account(2)));
    c.accounts.insert(key(3), Some(contract_account(3, &code)));
    for s in 0..3u64 {
        c.storage.insert((key(3), key(100 + s)), U256::from(7 + s));
    }
    c.code.insert(keccak256(&code), code);
    c.meta = Some(meta(1));
    c
}

// ---------------------------------------------------------------------------------------------
// The cases (generic over every store).

fn empty_store_reads_nothing(store: &mut impl StateStore) {
    assert_eq!(store.account(&key(1)).expect("account"), None);
    assert_eq!(
        store.storage(&key(1), &key(2)).expect("storage"),
        U256::ZERO
    );
    assert_eq!(store.code(&key(3)).expect("code"), None);
    assert_eq!(store.code(&KECCAK_EMPTY).expect("code"), None);
    assert!(store.accounts().expect("accounts").is_empty());
    assert!(store.account_storage(&key(1)).expect("storage").is_empty());
    assert_eq!(store.meta().expect("meta"), StoreMeta::default());
    assert_eq!(state_root(store).expect("root"), EMPTY_ROOT_HASH);
    // Applying and flushing nothing changes nothing.
    store.apply(&ChangeSet::default()).expect("apply");
    store.flush().expect("flush");
    assert_eq!(
        dump(store, &Probe::default()),
        dump(&MemoryStore::new(), &Probe::default())
    );
}

fn accounts_storage_code_meta_round_trip(store: &mut impl StateStore) {
    let c = populated();
    store.apply(&c).expect("apply");
    assert_eq!(store.account(&key(1)).expect("account"), Some(account(1)));
    assert_eq!(store.account(&key(9)).expect("account"), None);
    assert_eq!(
        store.storage(&key(3), &key(101)).expect("storage"),
        U256::from(8)
    );
    assert_eq!(
        store.storage(&key(3), &key(199)).expect("storage"),
        U256::ZERO
    );
    let (code_hash, code) = c.code.first_key_value().expect("one code");
    assert_eq!(store.code(code_hash).expect("code").as_ref(), Some(code));
    assert_eq!(store.meta().expect("meta"), meta(1));
    let probe = Probe {
        addresses: vec![key(1), key(9)],
        codes: vec![key(5)],
    };
    assert_eq!(dump(store, &probe), dump(&model(&[&c]), &probe));
}

fn later_change_sets_overwrite_earlier_ones(store: &mut impl StateStore) {
    let first = populated();
    store.apply(&first).expect("apply");
    let mut second = ChangeSet::default();
    let mut changed = account(1);
    changed.balance = U256::from(5);
    changed.nonce = 42;
    second.accounts.insert(key(1), Some(changed));
    second.storage.insert((key(3), key(100)), U256::MAX);
    // No meta in this change set: the previous one stays.
    store.apply(&second).expect("apply");
    assert_eq!(store.account(&key(1)).expect("account"), Some(changed));
    assert_eq!(store.account(&key(2)).expect("account"), Some(account(2)));
    assert_eq!(
        store.storage(&key(3), &key(100)).expect("storage"),
        U256::MAX
    );
    assert_eq!(store.meta().expect("meta"), meta(1));
    let mut third = ChangeSet {
        meta: Some(meta(3)),
        ..ChangeSet::default()
    };
    third.accounts.insert(key(2), Some(account(22)));
    store.apply(&third).expect("apply");
    assert_eq!(store.meta().expect("meta"), meta(3));
    let p = Probe::default();
    assert_eq!(
        dump(store, &p),
        dump(&model(&[&first, &second, &third]), &p)
    );
}

fn deletion(store: &mut impl StateStore) {
    let first = populated();
    store.apply(&first).expect("apply");
    let mut del = ChangeSet::default();
    del.accounts.insert(key(2), None);
    del.accounts.insert(key(77), None); // absent: a no-op
    del.storage.insert((key(3), key(101)), U256::ZERO);
    del.storage.insert((key(3), key(555)), U256::ZERO); // absent: a no-op
    del.storage.insert((key(78), key(1)), U256::ZERO); // absent account: a no-op
    store.apply(&del).expect("apply");
    assert_eq!(store.account(&key(2)).expect("account"), None);
    assert_eq!(store.account(&key(77)).expect("account"), None);
    assert_eq!(
        store.storage(&key(3), &key(101)).expect("storage"),
        U256::ZERO
    );
    let slots = store.account_storage(&key(3)).expect("storage");
    assert_eq!(
        slots.len(),
        2,
        "a zeroed slot is gone from iteration: {slots:?}"
    );
    let listed: Vec<B256> = store
        .accounts()
        .expect("accounts")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(!listed.contains(&key(2)) && !listed.contains(&key(77)));
    let p = Probe {
        addresses: vec![key(2), key(77), key(78)],
        codes: vec![],
    };
    assert_eq!(dump(store, &p), dump(&model(&[&first, &del]), &p));
    // Deleting everything leaves the empty root.
    let mut all = ChangeSet::default();
    for k in [key(1), key(3)] {
        all.accounts.insert(k, None);
        all.wiped_storage.push(k);
    }
    store.apply(&all).expect("apply");
    assert_eq!(state_root(store).expect("root"), EMPTY_ROOT_HASH);
    assert!(store.account_storage(&key(3)).expect("storage").is_empty());
}

fn wiped_storage_then_writes_in_one_change_set(store: &mut impl StateStore) {
    let mut before = ChangeSet::default();
    for s in 0..6u64 {
        before
            .storage
            .insert((key(3), key(200 + s)), U256::from(s + 1));
        before
            .storage
            .insert((key(4), key(200 + s)), U256::from(s + 10));
    }
    before.accounts.insert(key(3), Some(account(3)));
    before.accounts.insert(key(4), Some(account(4)));
    store.apply(&before).expect("apply");

    // Wipe account 3, then in the same change set: rewrite one old slot, write a new one,
    // zero another old one; wiping an account with no storage and wiping twice are harmless.
    let mut wipe = ChangeSet {
        wiped_storage: vec![key(3), key(9), key(3)],
        ..ChangeSet::default()
    };
    wipe.storage.insert((key(3), key(201)), U256::from(99));
    wipe.storage.insert((key(3), key(300)), U256::from(5));
    wipe.storage.insert((key(3), key(202)), U256::ZERO);
    store.apply(&wipe).expect("apply");

    let mut expected = vec![(key(201), U256::from(99)), (key(300), U256::from(5))];
    expected.sort();
    assert_eq!(store.account_storage(&key(3)).expect("storage"), expected);
    assert_eq!(
        store.storage(&key(3), &key(200)).expect("storage"),
        U256::ZERO
    );
    assert_eq!(
        store.account_storage(&key(4)).expect("storage").len(),
        6,
        "a wipe must not touch another account's storage"
    );
    let p = Probe {
        addresses: vec![key(9)],
        codes: vec![],
    };
    assert_eq!(dump(store, &p), dump(&model(&[&before, &wipe]), &p));

    // A wipe in a later change set removes what an earlier one wrote.
    let mut again = ChangeSet::default();
    again.wiped_storage.push(key(3));
    store.apply(&again).expect("apply");
    assert!(store.account_storage(&key(3)).expect("storage").is_empty());
}

/// A self-destruct as `evm::execute` emits it: the account deleted and its storage wiped.
fn wipe_and_delete_account_as_the_executor_does(store: &mut impl StateStore) {
    let first = populated();
    store.apply(&first).expect("apply");
    let mut destruct = ChangeSet::default();
    destruct.accounts.insert(key(3), None);
    destruct.wiped_storage.push(key(3));
    store.apply(&destruct).expect("apply");
    assert_eq!(store.account(&key(3)).expect("account"), None);
    assert!(store.account_storage(&key(3)).expect("storage").is_empty());
    // Re-created in a later block, it starts with empty storage plus what that block writes.
    let mut recreate = ChangeSet::default();
    recreate.accounts.insert(key(3), Some(account(3)));
    recreate.wiped_storage.push(key(3));
    recreate.storage.insert((key(3), key(100)), U256::from(1));
    store.apply(&recreate).expect("apply");
    assert_eq!(
        store.account_storage(&key(3)).expect("storage"),
        vec![(key(100), U256::from(1))]
    );
    let p = Probe {
        addresses: vec![key(3)],
        codes: vec![],
    };
    assert_eq!(
        dump(store, &p),
        dump(&model(&[&first, &destruct, &recreate]), &p)
    );
}

fn iteration_ascends_by_hashed_key(store: &mut impl StateStore) {
    // 64 accounts over four change sets in an order unrelated to their keys, plus both
    // extreme keys; 40 slots of one account, likewise.
    let owner = key(500);
    let mut sets = Vec::new();
    for part in 0..4u64 {
        let mut c = ChangeSet::default();
        for i in (0..64u64).filter(|i| i % 4 == part) {
            let k = key(i * 7919 % 64);
            c.accounts.insert(k, Some(account(i)));
        }
        for i in (0..40u64).filter(|i| i % 4 == part) {
            c.storage
                .insert((owner, key(10_000 + i)), U256::from(i + 1));
        }
        sets.push(c);
    }
    let mut extremes = ChangeSet::default();
    extremes.accounts.insert(B256::ZERO, Some(account(100)));
    extremes
        .accounts
        .insert(B256::repeat_byte(0xff), Some(account(101)));
    extremes.accounts.insert(owner, Some(account(102)));
    extremes.storage.insert((owner, B256::ZERO), U256::from(1));
    extremes
        .storage
        .insert((owner, B256::repeat_byte(0xff)), U256::from(2));
    sets.push(extremes);
    for c in sets.iter().rev() {
        store.apply(c).expect("apply");
    }
    let accounts = store.accounts().expect("accounts");
    assert_eq!(accounts.len(), 67);
    assert_eq!(accounts.first().map(|(k, _)| *k), Some(B256::ZERO));
    assert_eq!(
        accounts.last().map(|(k, _)| *k),
        Some(B256::repeat_byte(0xff))
    );
    let slots = store.account_storage(&owner).expect("storage");
    assert_eq!(slots.len(), 42);
    assert_eq!(slots.first().map(|(k, _)| *k), Some(B256::ZERO));
    assert_eq!(slots.last().map(|(k, _)| *k), Some(B256::repeat_byte(0xff)));
    let refs: Vec<&ChangeSet> = sets.iter().rev().collect();
    let p = Probe::default();
    // `dump` checks both orders are strictly ascending and match point reads.
    assert_eq!(dump(store, &p), dump(&model(&refs), &p));
}

fn extreme_keys_do_not_leak_into_neighbours(store: &mut impl StateStore) {
    // Accounts whose hashed keys differ only in the last byte, each with slots at both ends
    // of the slot range: one account's storage scan must never return another's.
    let base = key(42);
    let mut c = ChangeSet::default();
    for (n, last) in [0x00u8, 0x01, 0xfe, 0xff].into_iter().enumerate() {
        let a = neighbour(base, last);
        c.accounts.insert(a, Some(account(n as u64)));
        c.storage.insert((a, B256::ZERO), U256::from(n + 1));
        c.storage
            .insert((a, B256::repeat_byte(0xff)), U256::from(n + 10));
    }
    store.apply(&c).expect("apply");
    for (n, last) in [0x00u8, 0x01, 0xfe, 0xff].into_iter().enumerate() {
        assert_eq!(
            store
                .account_storage(&neighbour(base, last))
                .expect("storage"),
            vec![
                (B256::ZERO, U256::from(n + 1)),
                (B256::repeat_byte(0xff), U256::from(n + 10))
            ]
        );
    }
    // Wiping one neighbour leaves the others.
    let mut wipe = ChangeSet::default();
    wipe.wiped_storage.push(neighbour(base, 0x01));
    store.apply(&wipe).expect("apply");
    assert!(
        store
            .account_storage(&neighbour(base, 0x01))
            .expect("storage")
            .is_empty()
    );
    for last in [0x00u8, 0xfe, 0xff] {
        assert_eq!(
            store
                .account_storage(&neighbour(base, last))
                .expect("storage")
                .len(),
            2
        );
    }
}

/// All of a change set is visible after `apply`, none of it before (the process-level half
/// of atomicity; the crash half is `faulty_*` below and `tests/kill9.rs`).
fn one_change_set_is_applied_whole(store: &mut impl StateStore) {
    let base = populated();
    store.apply(&base).expect("apply");
    let before = dump(store, &Probe::default());
    let mut big = ChangeSet {
        meta: Some(meta(2)),
        ..ChangeSet::default()
    };
    for i in 0..300u64 {
        big.accounts.insert(key(10_000 + i), Some(account(i)));
        big.storage
            .insert((key(3), key(20_000 + i)), U256::from(i + 1));
    }
    big.accounts.insert(key(1), None);
    big.wiped_storage.push(key(3));
    let code = Bytes::from(vec![0x5b; 1000]);
    big.code.insert(keccak256(&code), code);
    let probe = Probe {
        addresses: vec![key(3)],
        codes: big.code.keys().copied().collect(),
    };
    assert_eq!(
        dump(store, &Probe::default()),
        before,
        "reads change nothing"
    );
    assert_eq!(
        store.code(&keccak256(vec![0x5b; 1000])).expect("code"),
        None
    );
    store.apply(&big).expect("apply");
    let after = dump(store, &probe);
    assert_eq!(after, dump(&model(&[&base, &big]), &probe));
    assert_eq!(
        after.storage[&key(3)].len(),
        300,
        "old slots wiped, new ones all present"
    );
    assert_eq!(after.meta, meta(2));
}

/// Equal contents give an equal root, however they were reached.
fn root_depends_only_on_contents(store: &mut impl StateStore) {
    // A history with overwrites and deletions...
    let mut h1 = ChangeSet::default();
    for i in 0..20u64 {
        h1.accounts.insert(key(i), Some(account(i)));
    }
    let mut h2 = ChangeSet::default();
    for i in 0..10u64 {
        h2.accounts.insert(key(i), None);
    }
    h2.accounts.insert(key(15), Some(account(1500)));
    let mut h3 = ChangeSet::default();
    h3.accounts.insert(key(3), Some(account(3)));
    for c in [&h1, &h2, &h3] {
        store.apply(c).expect("apply");
    }
    // ... against the net contents written once.
    let mut net = ChangeSet::default();
    for i in (10..20u64).filter(|i| *i != 15) {
        net.accounts.insert(key(i), Some(account(i)));
    }
    net.accounts.insert(key(15), Some(account(1500)));
    net.accounts.insert(key(3), Some(account(3)));
    let root = state_root(store).expect("root");
    assert_eq!(root, state_root(&model(&[&net])).expect("root"));
    assert_ne!(root, EMPTY_ROOT_HASH);
}

fn flush_changes_nothing_visible(store: &mut impl StateStore) {
    let c = populated();
    store.apply(&c).expect("apply");
    let p = Probe::default();
    let before = dump(store, &p);
    store.flush().expect("flush");
    assert_eq!(dump(store, &p), before);
    store.flush().expect("second flush");
    assert_eq!(dump(store, &p), before);
}

// ---------------------------------------------------------------------------------------------
// Across stores.

#[test]
fn equal_contents_give_equal_roots_in_every_store() {
    let sets = [populated(), {
        let mut c = ChangeSet::default();
        c.accounts.insert(key(2), None);
        c.wiped_storage.push(key(3));
        c.storage.insert((key(3), key(1)), U256::from(3));
        c.accounts.insert(key(8), Some(account(8)));
        c
    }];
    let (mut m, mut s, mut fm, mut fs) = (memory(), sled(), faulty_memory(), faulty_sled());
    for c in &sets {
        m.store.apply(c).expect("apply");
        s.store.apply(c).expect("apply");
        fm.store.apply(c).expect("apply");
        fs.store.apply(c).expect("apply");
    }
    let p = Probe::default();
    let reference = dump(&m.store, &p);
    assert_eq!(dump(&s.store, &p), reference);
    assert_eq!(dump(&fm.store, &p), reference);
    assert_eq!(dump(&fs.store, &p), reference);
    assert_ne!(reference.root, EMPTY_ROOT_HASH);
}

// ---------------------------------------------------------------------------------------------
// SledStore: durability across reopen.

#[test]
fn sled_reopened_after_flush_returns_identical_content() {
    let dir = temp_dir();
    let sets = [
        populated(),
        {
            let mut c = ChangeSet {
                meta: Some(meta(2)),
                ..ChangeSet::default()
            };
            c.accounts.insert(key(1), None);
            c.wiped_storage.push(key(3));
            c.storage.insert((key(3), key(900)), U256::from(9));
            c.storage.insert((key(3), key(100)), U256::from(1));
            c
        },
        {
            let mut c = ChangeSet::default();
            for i in 0..100u64 {
                c.accounts.insert(key(5_000 + i), Some(account(i)));
            }
            c.meta = Some(meta(3));
            c
        },
    ];
    let probe = Probe {
        addresses: vec![key(1)],
        codes: populated().code.keys().copied().collect(),
    };
    let expected = {
        let mut store = SledStore::open(dir.path()).expect("open");
        for c in &sets {
            store.apply(c).expect("apply");
        }
        store.flush().expect("flush");
        dump(&store, &probe)
    };
    let reopened = reopen(dir.path());
    let seen = dump(&reopened, &probe);
    assert_eq!(seen, expected);
    assert_eq!(seen, dump(&model(&sets.iter().collect::<Vec<_>>()), &probe));
    assert_eq!(seen.meta, meta(3));
    // The reopened store keeps working.
    let mut reopened = reopened;
    let mut more = ChangeSet::default();
    more.accounts.insert(key(1), Some(account(1)));
    reopened.apply(&more).expect("apply");
    reopened.flush().expect("flush");
    drop(reopened);
    let again = reopen(dir.path());
    assert_eq!(again.account(&key(1)).expect("account"), Some(account(1)));
}

/// Blocks journaled and flushed but not yet materialised when the process dies (the handle
/// is dropped with its pending blocks in memory only) come back on reopen, in order: the
/// journal is replayed, wipes included, then written out.
#[test]
fn sled_replays_the_journal_of_blocks_not_materialised() {
    let dir = temp_dir();
    let mut second = ChangeSet {
        meta: Some(meta(2)),
        ..ChangeSet::default()
    };
    second.accounts.insert(key(1), None);
    second.wiped_storage.push(key(3));
    second.storage.insert((key(3), key(900)), U256::from(9));
    let mut third = ChangeSet {
        meta: Some(meta(3)),
        ..ChangeSet::default()
    };
    third.storage.insert((key(3), key(900)), U256::ZERO);
    third.storage.insert((key(3), key(901)), U256::from(7));
    third.accounts.insert(key(1), Some(account(11)));
    let sets = [populated(), second, third];
    let probe = Probe {
        addresses: vec![key(1), key(3)],
        codes: populated().code.keys().copied().collect(),
    };
    let expected = dump(&model(&sets.iter().collect::<Vec<_>>()), &probe);
    {
        let mut store = SledStore::open(dir.path()).expect("open");
        store.set_materialise_every(100).expect("configure");
        for c in &sets {
            store.apply(c).expect("apply");
            store.flush().expect("flush");
        }
        assert_eq!(store.pending_blocks().expect("pending"), 3);
        assert_eq!(dump(&store, &probe), expected);
    }
    let reopened = reopen(dir.path());
    assert_eq!(reopened.pending_blocks().expect("pending"), 0);
    assert_eq!(dump(&reopened, &probe), expected);
    // The replay wrote the keys out and removed the journal: a second reopen sees the same.
    drop(reopened);
    let again = reopen(dir.path());
    assert_eq!(dump(&again, &probe), expected);
}

/// A large block's journal record stays inside sled's log: sled 0.34 writes oversized
/// messages to blob files that its `flush` does not fsync, so none may appear.
#[test]
fn sled_journal_of_a_large_block_writes_no_blob_file() {
    let dir = temp_dir();
    let mut store = SledStore::open(dir.path()).expect("open");
    for round in 0..3u64 {
        let mut c = ChangeSet {
            meta: Some(meta(round + 1)),
            ..ChangeSet::default()
        };
        for i in 0..6_000u64 {
            c.accounts.insert(key(i), Some(account(i + round)));
            c.storage
                .insert((key(7), key(i)), U256::from(i + round + 1));
        }
        store.apply(&c).expect("apply");
        store.flush().expect("flush");
    }
    assert_eq!(store.pending_blocks().expect("pending"), 3);
    store.materialise().expect("materialise");
    store.flush().expect("flush");
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "sled wrote blob files");
    assert_eq!(store.account(&key(5)).expect("account"), Some(account(7)));
}

/// Clones share the pending blocks (the node reads through a clone of the executor's store).
#[test]
fn sled_clones_see_pending_blocks() {
    let Subject { mut store, _dir } = sled();
    let reader = store.clone();
    store.apply(&populated()).expect("apply");
    assert_eq!(store.pending_blocks().expect("pending"), 1);
    let probe = Probe {
        addresses: vec![key(1)],
        codes: populated().code.keys().copied().collect(),
    };
    assert_eq!(dump(&reader, &probe), dump(&store, &probe));
    store.materialise().expect("materialise");
    assert_eq!(reader.pending_blocks().expect("pending"), 0);
    assert_eq!(dump(&reader, &probe), dump(&store, &probe));
}

// ---------------------------------------------------------------------------------------------
// FaultyStore: a crash loses exactly the unflushed change sets.

/// apply A, flush, apply B, crash: exactly A remains, in the view and in the durable store.
fn crash_keeps_exactly_the_flushed_state<S: StateStore>(mut store: FaultyStore<S>) {
    let a = populated();
    let mut b = ChangeSet {
        meta: Some(meta(2)),
        ..ChangeSet::default()
    };
    b.accounts.insert(key(1), None);
    b.accounts.insert(key(60), Some(account(60)));
    b.wiped_storage.push(key(3));
    b.storage.insert((key(3), key(61)), U256::from(61));
    let p = Probe {
        addresses: vec![key(1), key(3)],
        codes: vec![],
    };
    let after_a = dump(&model(&[&a]), &p);

    store.apply(&a).expect("apply");
    assert_eq!(store.unflushed(), 1);
    store.flush().expect("flush");
    assert_eq!(store.unflushed(), 0);
    store.apply(&b).expect("apply");
    assert_eq!(store.unflushed(), 1);
    assert_eq!(
        dump(&store, &p),
        dump(&model(&[&a, &b]), &p),
        "unflushed is visible"
    );
    store.crash().expect("crash");
    assert_eq!(store.unflushed(), 0);
    assert_eq!(
        dump(&store, &p),
        after_a,
        "after the crash: exactly the flushed state"
    );

    // Two unflushed change sets are lost together; work resumes from the flushed state.
    store.apply(&b).expect("apply");
    store.apply(&populated()).expect("apply");
    store.crash().expect("crash");
    assert_eq!(dump(&store, &p), after_a);
    store.apply(&b).expect("apply");
    store.flush().expect("flush");
    store.crash().expect("crash");
    let after_ab = dump(&model(&[&a, &b]), &p);
    assert_eq!(dump(&store, &p), after_ab);
    assert_eq!(dump(&store.into_inner(), &p), after_ab, "the durable store");
}

#[test]
fn faulty_memory_crash_keeps_exactly_the_flushed_state() {
    crash_keeps_exactly_the_flushed_state(faulty_memory().store);
}

#[test]
fn faulty_sled_crash_keeps_exactly_the_flushed_state() {
    let subject = faulty_sled();
    crash_keeps_exactly_the_flushed_state(subject.store);
}

#[test]
fn faulty_store_starts_from_the_wrapped_state() {
    let mut inner = MemoryStore::new();
    inner.apply(&populated()).expect("apply");
    let p = Probe::default();
    let expected = dump(&inner, &p);
    let mut store = FaultyStore::new(inner).expect("wrap");
    assert_eq!(dump(&store, &p), expected);
    store.crash().expect("crash");
    assert_eq!(dump(&store, &p), expected);
}

/// Code is content-addressed and never deleted by any store: once flushed it must survive a
/// crash even when no account references it (e.g. its only holder was deleted).
#[test]
fn faulty_crash_keeps_flushed_code_of_deleted_accounts() {
    let mut store = FaultyStore::new(MemoryStore::new()).expect("wrap");
    let first = populated();
    store.apply(&first).expect("apply");
    let mut destruct = ChangeSet::default();
    destruct.accounts.insert(key(3), None);
    destruct.wiped_storage.push(key(3));
    store.apply(&destruct).expect("apply");
    store.flush().expect("flush");
    let (code_hash, code) = first.code.first_key_value().expect("code");
    assert_eq!(store.code(code_hash).expect("code").as_ref(), Some(code));
    store.crash().expect("crash");
    assert_eq!(
        store.code(code_hash).expect("code").as_ref(),
        Some(code),
        "flushed code lost by a crash"
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests: random histories against the in-memory model.

/// Small key pools (with both extremes) so that overwrites, deletions and wipes of existing
/// entries are common.
fn pool_key(i: usize) -> B256 {
    match i {
        0 => B256::ZERO,
        1 => B256::repeat_byte(0xff),
        2 => neighbour(key(7), 0x00),
        3 => neighbour(key(7), 0x01),
        n => key(n as u64),
    }
}
const ACCOUNT_POOL: usize = 6;
const SLOT_POOL: usize = 5;
const CODES: [&[u8]; 2] = [&[0x00], &[0x60, 0x01, 0x60, 0x00, 0x55]];

fn arb_record() -> impl Strategy<Value = AccountRecord> {
    (0u64..3, 0u64..1_000, 0usize..3, any::<bool>()).prop_map(|(nonce, balance, code, root)| {
        AccountRecord {
            address: Address::left_padding_from(&balance.to_be_bytes()),
            nonce,
            balance: U256::from(balance),
            code_hash: CODES.get(code).map_or(KECCAK_EMPTY, keccak256),
            storage_root: if root { EMPTY_ROOT_HASH } else { key(nonce) },
        }
    })
}

fn arb_change_set() -> impl Strategy<Value = ChangeSet> {
    (
        prop::collection::btree_map(
            0..ACCOUNT_POOL,
            prop::option::weighted(0.7, arb_record()),
            0..4,
        ),
        prop::collection::vec(0..ACCOUNT_POOL, 0..2),
        prop::collection::btree_map(
            (0..ACCOUNT_POOL, 0..SLOT_POOL),
            prop_oneof![Just(0u64), 1u64..50],
            0..6,
        ),
        prop::collection::btree_set(0..CODES.len(), 0..2),
        prop::option::of(0u64..100),
    )
        .prop_map(|(accounts, wiped, storage, codes, height)| ChangeSet {
            accounts: accounts
                .into_iter()
                .map(|(k, v)| (pool_key(k), v))
                .collect(),
            wiped_storage: wiped.into_iter().map(pool_key).collect(),
            storage: storage
                .into_iter()
                .map(|((a, s), v)| ((pool_key(a), pool_key(s)), U256::from(v)))
                .collect(),
            code: codes
                .into_iter()
                .map(|i| (keccak256(CODES[i]), Bytes::from_static(CODES[i])))
                .collect(),
            meta: height.map(meta),
        })
}

/// Every key of the pools: reads storage of account-less addresses and unreferenced code too.
fn full_probe() -> Probe {
    Probe {
        addresses: (0..ACCOUNT_POOL).map(pool_key).collect(),
        codes: CODES.iter().map(keccak256).collect(),
    }
}

/// `c` reshaped as `evm::execute` emits change sets on top of `before`: a deleted account's
/// storage is wiped, storage is written only under accounts that exist afterwards, and code
/// comes with the accounts that reference it (none is left unreferenced).
fn executor_like(c: &ChangeSet, before: &MemoryStore) -> ChangeSet {
    let mut c = c.clone();
    for (k, v) in &c.accounts {
        if v.is_none() {
            c.wiped_storage.push(*k);
        }
    }
    let mut after = before.clone();
    after.apply(&c).expect("apply");
    c.storage
        .retain(|(a, _), _| after.account(a).expect("account").is_some());
    let referenced: Vec<B256> = after
        .accounts()
        .expect("accounts")
        .into_iter()
        .map(|(_, a)| a.code_hash)
        .collect();
    c.code = CODES
        .iter()
        .filter(|code| referenced.contains(&keccak256(code)))
        .map(|code| (keccak256(code), Bytes::from_static(code)))
        .collect();
    c
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Nothing,
    Flush,
    Crash,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random change-set sequences give identical views and roots in MemoryStore and
    /// SledStore (and the fault injector, without crashes), step by step, and after reopen.
    /// The sled store materialises its journal every `every` blocks (0: no journal), and is
    /// sometimes dropped after a flush and reopened mid-history (replaying its journal).
    #[test]
    fn memory_and_sled_agree_on_random_histories(
        history in prop::collection::vec((arb_change_set(), any::<bool>(), any::<u8>()), 1..12),
        every in prop_oneof![Just(0usize), Just(1), Just(3), Just(8)],
    ) {
        let probe = full_probe();
        let mut m = memory();
        let mut s = sled_materialising_every(every);
        let mut f = faulty_memory();
        for (c, flush, reopen_roll) in &history {
            m.store.apply(c).expect("apply");
            s.store.apply(c).expect("apply");
            f.store.apply(c).expect("apply");
            if *flush {
                s.store.flush().expect("flush");
                f.store.flush().expect("flush");
                if *reopen_roll < 40 {
                    let dir = s._dir.take().expect("sled dir");
                    drop(s.store);
                    s = Subject { store: reopen(dir.path()), _dir: Some(dir) };
                    prop_assert_eq!(s.store.pending_blocks().expect("pending"), 0);
                    s.store.set_materialise_every(every).expect("configure");
                }
            }
            let reference = dump(&m.store, &probe);
            prop_assert_eq!(&dump(&s.store, &probe), &reference);
            prop_assert_eq!(&dump(&f.store, &probe), &reference);
        }
        s.store.flush().expect("flush");
        let dir = s._dir.take().expect("sled dir");
        drop(s);
        let reopened = reopen(dir.path());
        prop_assert_eq!(dump(&reopened, &probe), dump(&m.store, &probe));
    }

    /// With crashes: the fault injector always shows the model's flushed prefix after a crash.
    #[test]
    fn faulty_store_crash_matches_flushed_model(
        history in prop::collection::vec(
            (arb_change_set(), prop_oneof![Just(Step::Nothing), Just(Step::Flush), Just(Step::Crash)]),
            1..16,
        )
    ) {
        // Executor-shaped change sets, compared by what accounts reference: the content a
        // crash snapshot rebuilds (see `faulty_crash_keeps_flushed_code_of_deleted_accounts`).
        let probe = Probe::default();
        let mut store = FaultyStore::new(MemoryStore::new()).expect("wrap");
        let mut durable = MemoryStore::new();
        let mut visible = MemoryStore::new();
        let mut pending: Vec<ChangeSet> = Vec::new();
        for (c, step) in &history {
            let c = &executor_like(c, &visible);
            store.apply(c).expect("apply");
            visible.apply(c).expect("apply");
            pending.push(c.clone());
            match step {
                Step::Nothing => {}
                Step::Flush => {
                    store.flush().expect("flush");
                    for p in pending.drain(..) {
                        durable.apply(&p).expect("apply");
                    }
                }
                Step::Crash => {
                    store.crash().expect("crash");
                    pending.clear();
                    visible = durable.clone();
                }
            }
            prop_assert_eq!(store.unflushed(), pending.len());
            prop_assert_eq!(dump(&store, &probe), dump(&visible, &probe));
        }
    }
}

/// Reopens a sled store whose previous handle was just dropped. sled releases its file lock
/// when its background flusher thread lets go of the last handle, a moment after `drop`:
/// retry briefly rather than race it (a process restart never sees this).
fn reopen(path: &std::path::Path) -> SledStore {
    let mut last = None;
    for _ in 0..200 {
        match SledStore::open(path) {
            Ok(store) => return store,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("reopen: {last:?}");
}
