//! A persistent (path-copying) Merkle-Patricia trie with cached node hashes: the state root
//! of a block is computed from the paths the block changed.
//!
//! Nodes are immutable and shared through `Arc`. An update copies only the nodes on the
//! changed paths, so the trie after a speculative block shares every unchanged subtree with
//! its parent's trie: keeping one trie per uncommitted block costs O(changes × depth). Each
//! node's RLP reference is computed once, on first use, and cached.
//!
//! Keys are 32-byte hashes (64 nibbles), so no key is a prefix of another and branch nodes
//! never carry values. Encodings are alloy-trie's (Ethereum's): hex-prefix paths, children
//! inlined when their RLP is shorter than 32 bytes, hashed otherwise.

use std::sync::{Arc, OnceLock};

use alloy_primitives::{B256, keccak256};
use alloy_trie::nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieMask};

#[derive(Clone, Debug)]
enum Node {
    Leaf(Arc<Leaf>),
    Extension(Arc<Extension>),
    Branch(Arc<Branch>),
}

#[derive(Debug)]
struct Leaf {
    key: Nibbles,
    value: Vec<u8>,
    rlp: OnceLock<RlpNode>,
}

#[derive(Debug)]
struct Extension {
    key: Nibbles,
    child: Node,
    rlp: OnceLock<RlpNode>,
}

#[derive(Debug)]
struct Branch {
    children: [Option<Node>; 16],
    rlp: OnceLock<RlpNode>,
}

fn leaf(key: Nibbles, value: Vec<u8>) -> Node {
    Node::Leaf(Arc::new(Leaf {
        key,
        value,
        rlp: OnceLock::new(),
    }))
}

fn extension(key: Nibbles, child: Node) -> Node {
    if key.is_empty() {
        return child;
    }
    // Keep the trie canonical: an extension never points at a leaf or another extension.
    match child {
        Node::Leaf(l) => leaf(concat(&key, &l.key), l.value.clone()),
        Node::Extension(e) => extension(concat(&key, &e.key), e.child.clone()),
        branch @ Node::Branch(_) => Node::Extension(Arc::new(Extension {
            key,
            child: branch,
            rlp: OnceLock::new(),
        })),
    }
}

fn branch(children: [Option<Node>; 16]) -> Node {
    Node::Branch(Arc::new(Branch {
        children,
        rlp: OnceLock::new(),
    }))
}

fn concat(a: &Nibbles, b: &Nibbles) -> Nibbles {
    let mut out = *a;
    for i in 0..b.len() {
        out.push(b.get_unchecked(i));
    }
    out
}

fn single(nibble: u8) -> Nibbles {
    Nibbles::from_nibbles_unchecked([nibble])
}

impl Node {
    /// The reference a parent embeds: the node's RLP if shorter than 32 bytes, else its hash.
    fn rlp(&self) -> &RlpNode {
        let mut buf = Vec::new();
        match self {
            Self::Leaf(l) => l
                .rlp
                .get_or_init(|| LeafNodeRef::new(&l.key, &l.value).rlp(&mut buf)),
            Self::Extension(e) => e.rlp.get_or_init(|| {
                let child = e.child.rlp();
                ExtensionNodeRef::new(&e.key, child).rlp(&mut buf)
            }),
            Self::Branch(b) => b.rlp.get_or_init(|| {
                let mut mask = 0u16;
                let mut stack = Vec::with_capacity(16);
                for (i, c) in b.children.iter().enumerate() {
                    if let Some(c) = c {
                        mask |= 1 << i;
                        stack.push(c.rlp().clone());
                    }
                }
                BranchNodeRef::new(&stack, TrieMask::new(mask)).rlp(&mut buf)
            }),
        }
    }
}

/// A Merkle-Patricia trie over 32-byte hashed keys. Cloning is O(1).
#[derive(Clone, Debug, Default)]
pub struct Trie {
    root: Option<Node>,
    len: usize,
}

impl Trie {
    /// The empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the trie holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The root hash (`EMPTY_ROOT_HASH` when empty). Only nodes changed since the last call
    /// are hashed.
    pub fn root(&self) -> B256 {
        match &self.root {
            None => EMPTY_ROOT_HASH,
            Some(n) => {
                let r = n.rlp();
                r.as_hash().unwrap_or_else(|| keccak256(&r[..]))
            }
        }
    }

    /// Sets `key` to `value` (the leaf's RLP payload).
    pub fn insert(&mut self, key: &B256, value: Vec<u8>) {
        let path = Nibbles::unpack(key);
        let (root, added) = insert(self.root.as_ref(), path, value);
        self.root = Some(root);
        self.len += usize::from(added);
    }

    /// Removes `key`; a missing key is not an error.
    pub fn remove(&mut self, key: &B256) {
        let Some(root) = self.root.as_ref() else {
            return;
        };
        let path = Nibbles::unpack(key);
        let (root, removed) = remove(root, path);
        self.root = root;
        self.len -= usize::from(removed);
    }
}

/// Returns the new subtree and whether a key was added (not replaced).
fn insert(node: Option<&Node>, path: Nibbles, value: Vec<u8>) -> (Node, bool) {
    let Some(node) = node else {
        return (leaf(path, value), true);
    };
    match node {
        Node::Leaf(l) => {
            if l.key == path {
                return (leaf(path, value), false);
            }
            let c = l.key.common_prefix_length(&path);
            let mut children: [Option<Node>; 16] = Default::default();
            children[usize::from(l.key.get_unchecked(c))] =
                Some(leaf(l.key.slice(c + 1..), l.value.clone()));
            children[usize::from(path.get_unchecked(c))] = Some(leaf(path.slice(c + 1..), value));
            (extension(path.slice(..c), branch(children)), true)
        }
        Node::Extension(e) => {
            let c = e.key.common_prefix_length(&path);
            if c == e.key.len() {
                let (child, added) = insert(Some(&e.child), path.slice(c..), value);
                return (extension(e.key, child), added);
            }
            let mut children: [Option<Node>; 16] = Default::default();
            children[usize::from(e.key.get_unchecked(c))] =
                Some(extension(e.key.slice(c + 1..), e.child.clone()));
            children[usize::from(path.get_unchecked(c))] = Some(leaf(path.slice(c + 1..), value));
            (extension(path.slice(..c), branch(children)), true)
        }
        Node::Branch(b) => {
            let i = usize::from(path.get_unchecked(0));
            let mut children = b.children.clone();
            let (child, added) = insert(children[i].as_ref(), path.slice(1..), value);
            children[i] = Some(child);
            (branch(children), added)
        }
    }
}

/// Returns the new subtree (`None` if empty) and whether a key was removed.
fn remove(node: &Node, path: Nibbles) -> (Option<Node>, bool) {
    match node {
        Node::Leaf(l) => {
            if l.key == path {
                (None, true)
            } else {
                (Some(node.clone()), false)
            }
        }
        Node::Extension(e) => {
            if path.common_prefix_length(&e.key) != e.key.len() {
                return (Some(node.clone()), false);
            }
            let (child, removed) = remove(&e.child, path.slice(e.key.len()..));
            if !removed {
                return (Some(node.clone()), false);
            }
            (child.map(|c| extension(e.key, c)), true)
        }
        Node::Branch(b) => {
            let i = usize::from(path.get_unchecked(0));
            let Some(child) = b.children[i].as_ref() else {
                return (Some(node.clone()), false);
            };
            let (child, removed) = remove(child, path.slice(1..));
            if !removed {
                return (Some(node.clone()), false);
            }
            let mut children = b.children.clone();
            children[i] = child;
            let mut present = children
                .iter()
                .enumerate()
                .filter_map(|(j, c)| c.as_ref().map(|c| (j, c)));
            match (present.next(), present.next()) {
                (None, _) => (None, true),
                // One child left: the branch collapses into it, behind its nibble.
                (Some((j, only)), None) => (Some(extension(single(j as u8), only.clone())), true),
                _ => (Some(branch(children)), true),
            }
        }
    }
}
