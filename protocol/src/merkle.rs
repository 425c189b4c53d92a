//! A blake3 binary Merkle tree with inclusion proofs and multiproofs (`specs/wire.md` §5).
//!
//! The shape is RFC 6962's (Certificate Transparency): for `n > 1` leaves the left subtree
//! holds the largest power of two strictly below `n`, so odd levels need no padding or
//! duplication (the duplication that made Bitcoin's tree malleable, CVE-2012-2459). Leaves and
//! inner nodes are hashed under different prefixes so no leaf can pose as a node:
//!
//! ```text
//! leaf(d)    = blake3(0x00 || d)
//! node(l, r) = blake3(0x01 || l || r)
//! root([])   = blake3("")            root([d]) = leaf(d)
//! root(D[n]) = node(root(D[..k]), root(D[k..]))   k = largest power of two < n
//! ```
//!
//! A multiproof for a set of leaf positions lists, depth first and left to right, the root of
//! every maximal subtree that holds none of those positions. The verifier walks the same
//! recursion, so the proof needs no position tags, and it must consume every hash exactly.

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::limits::{MAX_PROOF_HASHES, MAX_PROOF_LEAVES};
use crate::types::Hash32;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why a proof did not verify or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A position is not below the number of leaves.
    #[error("leaf {index} is outside a tree of {leaves} leaves")]
    OutOfRange {
        /// The position.
        index: u64,
        /// The tree size.
        leaves: u64,
    },
    /// Positions must be strictly increasing (sorted, no duplicates) and not empty.
    #[error("leaf positions must be non-empty and strictly increasing")]
    Unsorted,
    /// Too many positions for one proof.
    #[error("{0} leaves exceed the proof limit of {MAX_PROOF_LEAVES}")]
    TooManyLeaves(usize),
    /// The proof ran out of hashes or has hashes left over.
    #[error("proof has the wrong number of hashes")]
    WrongLength,
    /// The recomputed root differs from the expected one.
    #[error("recomputed root does not match")]
    RootMismatch,
}

/// The hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF_PREFIX]);
    h.update(data);
    Hash32(*h.finalize().as_bytes())
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[NODE_PREFIX]);
    h.update(&left.0);
    h.update(&right.0);
    Hash32(*h.finalize().as_bytes())
}

/// The root of the empty tree.
pub fn empty_root() -> Hash32 {
    Hash32::blake3(b"")
}

/// The root over already-hashed leaves.
pub fn root(leaves: &[Hash32]) -> Hash32 {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The root over raw leaf data.
pub fn root_of<D: AsRef<[u8]>>(data: &[D]) -> Hash32 {
    let leaves: Vec<Hash32> = data.iter().map(|d| leaf_hash(d.as_ref())).collect();
    root(&leaves)
}

/// The size of the left subtree of a tree of `n > 1` leaves.
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// A proof that some leaves sit at given positions in a tree of `leaf_count` leaves.
/// An inclusion proof is a multiproof of one position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultiProof {
    /// Leaves in the whole tree.
    pub leaf_count: u64,
    /// Roots of the subtrees that hold no proven leaf, depth first, left to right.
    pub hashes: BoundedVec<Hash32, MAX_PROOF_HASHES>,
}

impl MultiProof {
    /// Proves the leaves at `positions` (strictly increasing) of `leaves`.
    pub fn new(leaves: &[Hash32], positions: &[u64]) -> Result<Self, MerkleError> {
        check_positions(positions, leaves.len() as u64)?;
        let mut hashes = Vec::new();
        collect(leaves, 0, positions, &mut hashes);
        Ok(Self {
            leaf_count: leaves.len() as u64,
            hashes: BoundedVec::try_from_vec(hashes).map_err(|_| MerkleError::WrongLength)?,
        })
    }

    /// Checks that `items` (position, leaf hash), strictly increasing by position, are
    /// leaves of the tree with root `expected`.
    pub fn verify(&self, expected: &Hash32, items: &[(u64, Hash32)]) -> Result<(), MerkleError> {
        let positions: Vec<u64> = items.iter().map(|(p, _)| *p).collect();
        check_positions(&positions, self.leaf_count)?;
        let mut next = 0usize;
        let got = rebuild(0, self.leaf_count, items, &self.hashes, &mut next)?;
        if next != self.hashes.len() {
            return Err(MerkleError::WrongLength);
        }
        if got != *expected {
            return Err(MerkleError::RootMismatch);
        }
        Ok(())
    }
}

fn check_positions(positions: &[u64], leaves: u64) -> Result<(), MerkleError> {
    if positions.len() > MAX_PROOF_LEAVES {
        return Err(MerkleError::TooManyLeaves(positions.len()));
    }
    if positions.is_empty() || positions.windows(2).any(|w| matches!(w, [a, b] if a >= b)) {
        return Err(MerkleError::Unsorted);
    }
    match positions.last() {
        Some(&last) if last >= leaves => Err(MerkleError::OutOfRange {
            index: last,
            leaves,
        }),
        _ => Ok(()),
    }
}

/// Appends the proof hashes for `leaves` (which start at absolute position `offset`);
/// `positions` are the proven positions inside this subtree.
fn collect(leaves: &[Hash32], offset: u64, positions: &[u64], out: &mut Vec<Hash32>) {
    if positions.is_empty() {
        out.push(root(leaves));
    } else if leaves.len() > 1 {
        let k = split(leaves.len());
        let (left, right) = leaves.split_at(k);
        let (left_pos, right_pos) =
            positions.split_at(positions.partition_point(|p| *p < offset + k as u64));
        collect(left, offset, left_pos, out);
        collect(right, offset + k as u64, right_pos, out);
    }
}

/// Recomputes the root of the subtree of `size` leaves at absolute position `offset`;
/// `items` are the proven leaves inside it. Recursion depth is at most 64 (sizes halve), and
/// only subtrees holding a proven leaf are entered, so the work is O(items × log n) whatever
/// `leaf_count` claims.
fn rebuild(
    offset: u64,
    size: u64,
    items: &[(u64, Hash32)],
    proof: &[Hash32],
    next: &mut usize,
) -> Result<Hash32, MerkleError> {
    match items {
        [] => {
            let h = proof.get(*next).ok_or(MerkleError::WrongLength)?;
            *next += 1;
            Ok(*h)
        }
        [(_, leaf)] if size == 1 => Ok(*leaf),
        _ if size <= 1 => Err(MerkleError::WrongLength),
        _ => {
            let k = split(usize::try_from(size).map_err(|_| MerkleError::WrongLength)?) as u64;
            let (left_items, right_items) =
                items.split_at(items.partition_point(|(p, _)| *p < offset + k));
            let left = rebuild(offset, k, left_items, proof, next)?;
            let right = rebuild(offset + k, size - k, right_items, proof, next)?;
            Ok(node_hash(&left, &right))
        }
    }
}
