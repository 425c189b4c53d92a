//! The persistent trie against alloy-trie's `HashBuilder` (the reference MPT root): for any
//! history of inserts, replacements and removals the roots agree, and a clone taken before
//! further updates keeps its own root (structural sharing never leaks changes).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use alloy_primitives::B256;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};
use proptest::prelude::*;
use shardnet_exec::trie::Trie;

fn reference(map: &BTreeMap<B256, Vec<u8>>) -> B256 {
    if map.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    let mut hb = HashBuilder::default();
    for (k, v) in map {
        hb.add_leaf(Nibbles::unpack(k), v);
    }
    hb.root()
}

/// Keys from a small alphabet of prefixes, so that long shared prefixes, extensions and
/// branch collapses all occur.
fn key(prefix: u8, tail: u8, deep: bool) -> B256 {
    let mut k = [0u8; 32];
    k[0] = prefix;
    if deep {
        k[31] = tail;
    } else {
        k[1] = tail;
    }
    B256::from(k)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn roots_match_the_reference(
        ops in prop::collection::vec((any::<bool>(), 0u8..4, any::<u8>(), any::<bool>(), prop::collection::vec(any::<u8>(), 1..40)), 1..120)
    ) {
        let mut trie = Trie::new();
        let mut model = BTreeMap::new();
        let mut snapshots = Vec::new();
        for (i, (insert, prefix, tail, deep, value)) in ops.into_iter().enumerate() {
            let k = key(prefix, tail, deep);
            if insert {
                trie.insert(&k, value.clone());
                model.insert(k, value);
            } else {
                trie.remove(&k);
                model.remove(&k);
            }
            prop_assert_eq!(trie.len(), model.len());
            if i % 7 == 0 {
                prop_assert_eq!(trie.root(), reference(&model));
                snapshots.push((trie.clone(), reference(&model)));
            }
        }
        prop_assert_eq!(trie.root(), reference(&model));
        for (snap, root) in snapshots {
            prop_assert_eq!(snap.root(), root, "an old version changed");
        }
    }
}

#[test]
fn random_keys_at_scale() {
    let mut trie = Trie::new();
    let mut model = BTreeMap::new();
    for i in 0..3000u64 {
        let k = alloy_primitives::keccak256(i.to_be_bytes());
        let v = alloy_rlp::encode(i + 1);
        trie.insert(&k, v.clone());
        model.insert(k, v);
    }
    assert_eq!(trie.root(), reference(&model));
    for i in (0..3000u64).step_by(3) {
        let k = alloy_primitives::keccak256(i.to_be_bytes());
        trie.remove(&k);
        model.remove(&k);
    }
    assert_eq!(trie.root(), reference(&model));
}

/// `root_parallel` gives the reference root whatever the worker count, on a fresh trie, after
/// updates to a hashed one (only the changed subtrees are shared out), and with too few
/// changes to use a thread; and a serial `root` afterwards agrees.
#[test]
fn parallel_roots_match_the_reference() {
    for workers in [1, 2, 3, 8] {
        let mut trie = Trie::new();
        let mut model = BTreeMap::new();
        for i in 0..5000u64 {
            let k = alloy_primitives::keccak256(i.to_be_bytes());
            let v = alloy_rlp::encode(i + 1);
            trie.insert(&k, v.clone());
            model.insert(k, v);
        }
        assert_eq!(trie.root_parallel(workers), reference(&model));
        // Changes under many subtrees, then under few.
        for (step, count) in [(7u64, 5000u64), (1, 10)] {
            for i in (0..count).step_by(usize::try_from(step).unwrap()) {
                let k = alloy_primitives::keccak256(i.to_be_bytes());
                if i % 2 == 0 {
                    trie.remove(&k);
                    model.remove(&k);
                } else {
                    let v = alloy_rlp::encode(i * 3);
                    trie.insert(&k, v.clone());
                    model.insert(k, v);
                }
            }
            let before = trie.clone();
            assert_eq!(trie.root_parallel(workers), reference(&model), "{workers}");
            assert_eq!(before.root(), reference(&model));
        }
    }
}
