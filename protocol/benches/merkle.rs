//! The blake3 Merkle tree over 10,000 leaves: the root from leaf hashes, and multiproofs of
//! one and of 64 positions (building and verifying).
//!
//! ```text
//! cargo bench -p shardnet-protocol --bench merkle -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shardnet_protocol::merkle::{leaf_hash, root};
use shardnet_protocol::{Hash32, MultiProof};

const LEAVES: u64 = 10_000;

fn bench_merkle(c: &mut Criterion) {
    let leaves: Vec<Hash32> = (0..LEAVES).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let tree_root = root(&leaves);
    // One position in the middle; 64 positions spread over the whole tree (every 156th leaf,
    // from 7), so the proof touches many subtrees rather than one contiguous run.
    let one = [LEAVES / 2 + 1];
    let many: Vec<u64> = (0..64).map(|i| 7 + i * (LEAVES / 64)).collect();
    let items = |positions: &[u64]| -> Vec<(u64, Hash32)> {
        positions.iter().map(|&p| (p, leaves[p as usize])).collect()
    };
    let (one_items, many_items) = (items(&one), items(&many));
    let one_proof = MultiProof::new(&leaves, &one).expect("valid positions");
    let many_proof = MultiProof::new(&leaves, &many).expect("valid positions");
    assert_eq!(one_proof.verify(&tree_root, &one_items), Ok(()));
    assert_eq!(many_proof.verify(&tree_root, &many_items), Ok(()));

    let mut group = c.benchmark_group("merkle_10000");
    group.bench_function("root", |b| b.iter(|| root(black_box(&leaves))));
    group.bench_function("multiproof_new/1", |b| {
        b.iter(|| MultiProof::new(black_box(&leaves), black_box(&one)));
    });
    group.bench_function("multiproof_new/64", |b| {
        b.iter(|| MultiProof::new(black_box(&leaves), black_box(&many)));
    });
    group.bench_function("multiproof_verify/1", |b| {
        b.iter(|| black_box(&one_proof).verify(black_box(&tree_root), black_box(&one_items)));
    });
    group.bench_function("multiproof_verify/64", |b| {
        b.iter(|| black_box(&many_proof).verify(black_box(&tree_root), black_box(&many_items)));
    });
    group.finish();
}

criterion_group!(benches, bench_merkle);
criterion_main!(benches);
