//! Merkle multiproof verification on attacker-chosen proofs, plus a small oracle.
//!
//! Input layout (little-endian; a short input is skipped):
//!
//! ```text
//! leaf_count: u64 | n: u8 | n × position: u64 | expected root: [u8; 32]
//! | n × leaf hash: [u8; 32] | proof hashes: [u8; 32] each, to the end (a partial one is dropped)
//! ```
//!
//! `MultiProof { leaf_count, hashes }.verify(root, items)` must never panic, whatever the
//! claimed tree size, positions or hash count. When `1 <= leaf_count <= 256` the target also
//! builds the real tree over leaves `leaf_hash(i as u64 LE)` and, if `MultiProof::new` accepts
//! the positions, checks that the honest proof verifies, that it verifies the fuzzer's leaf
//! hashes exactly when they are the true ones, and that it round-trips through the codec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::decode_canonical;
use shardnet_protocol::merkle::{leaf_hash, root};
use shardnet_protocol::{BoundedVec, Hash32, MultiProof, encode};

const ORACLE_MAX_LEAVES: u64 = 256;

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, tail) = data.split_at(n);
    *data = tail;
    Some(head)
}

fn hash(bytes: &[u8]) -> Hash32 {
    let mut h = [0u8; 32];
    h.copy_from_slice(bytes);
    Hash32(h)
}

fn u64_le(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Some(leaf_count) = take(&mut rest, 8).map(u64_le) else {
        return;
    };
    let Some(&[n]) = take(&mut rest, 1) else {
        return;
    };
    let n = usize::from(n);
    let Some(positions) = take(&mut rest, 8 * n) else {
        return;
    };
    let positions: Vec<u64> = positions.chunks_exact(8).map(u64_le).collect();
    let Some(expected) = take(&mut rest, 32).map(hash) else {
        return;
    };
    let Some(leaves) = take(&mut rest, 32 * n) else {
        return;
    };
    let items: Vec<(u64, Hash32)> = positions
        .iter()
        .copied()
        .zip(leaves.chunks_exact(32).map(hash))
        .collect();
    let hashes: Vec<Hash32> = rest.chunks_exact(32).map(hash).collect();
    let Ok(hashes) = BoundedVec::try_from_vec(hashes) else {
        return;
    };

    // Arbitrary proof against an arbitrary root: any result, no panic.
    let proof = MultiProof { leaf_count, hashes };
    let _ = proof.verify(&expected, &items);

    if leaf_count == 0 || leaf_count > ORACLE_MAX_LEAVES {
        return;
    }
    let tree: Vec<Hash32> = (0..leaf_count)
        .map(|i| leaf_hash(&i.to_le_bytes()))
        .collect();
    let Ok(honest) = MultiProof::new(&tree, &positions) else {
        return;
    };
    assert_eq!(honest.leaf_count, leaf_count);
    let tree_root = root(&tree);
    let true_items: Vec<(u64, Hash32)> = positions
        .iter()
        .map(|&p| (p, tree[usize::try_from(p).expect("position below 256")]))
        .collect();
    assert_eq!(
        honest.verify(&tree_root, &true_items),
        Ok(()),
        "honest multiproof rejected"
    );
    let fuzz_is_true = items == true_items;
    assert_eq!(
        honest.verify(&tree_root, &items).is_ok(),
        fuzz_is_true,
        "multiproof verified wrong leaves (or rejected right ones)"
    );
    let decoded = decode_canonical::<MultiProof>(&encode(&honest)).expect("proof decodes");
    assert_eq!(decoded, honest);
});
