//! A persistent (path-copying) Merkle-Patricia trie with cached node hashes: the state root
//! of a block is computed from the paths the block changed.
//!
//! Nodes are immutable once shared and are shared through `Arc`. An update copies only the
//! nodes on the changed paths that are still shared with another version, so the trie after
//! a speculative block shares every unchanged subtree with its parent's trie: keeping one
//! trie per uncommitted block costs O(changes × depth). A node this version owns alone (one
//! an earlier update of the same block already copied) is updated in place
//! (`Arc::make_mut`), so a block's many updates copy each node on their paths once, not once
//! per update. Each node's RLP reference is computed once, on first use, and cached; an
//! update in place clears the cache of every node on its path.
//!
//! An account leaf can carry the account's storage trie: the state trie's leaves
//! *are* accounts, so a block that changes a contract's storage updates that trie along the
//! changed slots, and speculative blocks share unchanged storage subtrees as they share
//! account subtrees.
//!
//! Keys are 32-byte hashes (64 nibbles), so no key is a prefix of another and branch nodes
//! never carry values. Encodings are alloy-trie's (Ethereum's): hex-prefix paths, children
//! inlined when their RLP is shorter than 32 bytes, hashed otherwise.

use std::sync::atomic::{AtomicUsize, Ordering};
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

#[derive(Clone, Debug)]
struct Leaf {
    key: Nibbles,
    value: Vec<u8>,
    /// The storage trie of the account this leaf encodes (account tries only).
    storage: Option<Trie>,
    rlp: OnceLock<RlpNode>,
}

#[derive(Clone, Debug)]
struct Extension {
    key: Nibbles,
    child: Node,
    rlp: OnceLock<RlpNode>,
}

#[derive(Clone, Debug)]
struct Branch {
    children: [Option<Node>; 16],
    rlp: OnceLock<RlpNode>,
}

/// What a leaf holds besides its key.
struct Value {
    bytes: Vec<u8>,
    storage: Option<Trie>,
}

fn leaf(key: Nibbles, value: Value) -> Node {
    Node::Leaf(Arc::new(Leaf {
        key,
        value: value.bytes,
        storage: value.storage,
        rlp: OnceLock::new(),
    }))
}

fn extension(key: Nibbles, child: Node) -> Node {
    if key.is_empty() {
        return child;
    }
    // Keep the trie canonical: an extension never points at a leaf or another extension.
    match child {
        Node::Leaf(l) => {
            let l = Arc::unwrap_or_clone(l);
            leaf(
                concat(&key, &l.key),
                Value {
                    bytes: l.value,
                    storage: l.storage,
                },
            )
        }
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
        match self {
            Self::Leaf(l) => l.rlp.get_or_init(|| {
                // Path (at most 33 bytes), value and two list headers.
                let mut buf = Vec::with_capacity(l.value.len() + 48);
                LeafNodeRef::new(&l.key, &l.value).rlp(&mut buf)
            }),
            Self::Extension(e) => e.rlp.get_or_init(|| {
                let child = e.child.rlp();
                let mut buf = Vec::with_capacity(80);
                ExtensionNodeRef::new(&e.key, child).rlp(&mut buf)
            }),
            Self::Branch(b) => b.rlp.get_or_init(|| {
                // Sixteen references of at most 33 bytes, the empty value and a list header.
                let mut buf = Vec::with_capacity(16 * 33 + 4);
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

    /// [`Trie::root`], with the hashing of the changed subtrees shared among up to `workers`
    /// threads (the calling thread included) when enough of them changed to pay for a
    /// thread. Node hashes are pure functions of the nodes, so the root, and every cached
    /// hash, are exactly those of [`Trie::root`].
    pub fn root_parallel(&self, workers: usize) -> B256 {
        if workers > 1
            && let Some(root) = &self.root
        {
            let mut units = Vec::new();
            changed_subtrees(root, PARALLEL_DEPTH, &mut units);
            if units.len() >= PARALLEL_MIN_SUBTREES {
                let next = AtomicUsize::new(0);
                let work = || {
                    while let Some(node) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                        node.rlp();
                    }
                };
                std::thread::scope(|scope| {
                    for _ in 1..workers.min(units.len()) {
                        scope.spawn(work);
                    }
                    work();
                });
            }
        }
        self.root()
    }

    /// Sets `key` to `value` (the leaf's RLP payload).
    pub fn insert(&mut self, key: &B256, value: Vec<u8>) {
        self.insert_value(
            key,
            Value {
                bytes: value,
                storage: None,
            },
        );
    }

    /// Sets `key` to the account encoding `value` whose storage trie is `storage` (`None`
    /// when the account has no storage, or when it is not kept here).
    pub fn insert_account(&mut self, key: &B256, value: Vec<u8>, storage: Option<Self>) {
        self.insert_value(
            key,
            Value {
                bytes: value,
                storage,
            },
        );
    }

    fn insert_value(&mut self, key: &B256, value: Value) {
        let path = Nibbles::unpack(key);
        let added = match &mut self.root {
            None => {
                self.root = Some(leaf(path, value));
                true
            }
            Some(root) => insert(root, path, value),
        };
        self.len += usize::from(added);
    }

    /// The storage trie attached to the account at `key`, if any.
    pub fn storage(&self, key: &B256) -> Option<&Self> {
        self.get(key).and_then(|l| l.storage.as_ref())
    }

    /// The value at `key`.
    pub fn get_value(&self, key: &B256) -> Option<&[u8]> {
        self.get(key).map(|l| &l.value[..])
    }

    fn get(&self, key: &B256) -> Option<&Leaf> {
        let mut path = Nibbles::unpack(key);
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Leaf(l) => return (l.key == path).then_some(&**l),
                Node::Extension(e) => {
                    if !path.starts_with(&e.key) {
                        return None;
                    }
                    path = path.slice(e.key.len()..);
                    node = &e.child;
                }
                Node::Branch(b) => {
                    node = b.children[usize::from(path.get_unchecked(0))].as_ref()?;
                    path = path.slice(1..);
                }
            }
        }
    }

    /// Removes `key`; a missing key is not an error.
    pub fn remove(&mut self, key: &B256) {
        if self.get(key).is_none() {
            return;
        }
        let Some(root) = self.root.as_mut() else {
            return;
        };
        let path = Nibbles::unpack(key);
        if remove(root, path) {
            self.root = None;
        }
        self.len -= 1;
    }
}

/// [`Trie::root_parallel`] shares out the subtrees this many branch levels below the root
/// (up to 256 of them)...
const PARALLEL_DEPTH: usize = 2;
/// ... when at least this many of them have changed (fewer: a thread costs more than it saves).
const PARALLEL_MIN_SUBTREES: usize = 64;

/// Pushes onto `out` the subtrees `depth` branch levels below `node` whose hash is not cached
/// (leaves above that depth too); subtrees whose hash is cached need no work.
fn changed_subtrees<'a>(node: &'a Node, depth: usize, out: &mut Vec<&'a Node>) {
    match node {
        Node::Leaf(l) if l.rlp.get().is_none() => out.push(node),
        Node::Leaf(_) => {}
        Node::Extension(e) if e.rlp.get().is_none() => changed_subtrees(&e.child, depth, out),
        Node::Extension(_) => {}
        Node::Branch(b) if b.rlp.get().is_none() => {
            if depth == 0 {
                out.push(node);
            } else {
                for c in b.children.iter().flatten() {
                    changed_subtrees(c, depth - 1, out);
                }
            }
        }
        Node::Branch(_) => {}
    }
}

/// Inserts below `node`, updating in place what this version owns alone. Returns whether a
/// key was added (not replaced).
fn insert(node: &mut Node, path: Nibbles, value: Value) -> bool {
    match node {
        Node::Leaf(l) => {
            if l.key == path {
                *node = leaf(path, value);
                return false;
            }
            let c = l.key.common_prefix_length(&path);
            let mut children: [Option<Node>; 16] = Default::default();
            let old = Value {
                bytes: l.value.clone(),
                storage: l.storage.clone(),
            };
            children[usize::from(l.key.get_unchecked(c))] = Some(leaf(l.key.slice(c + 1..), old));
            children[usize::from(path.get_unchecked(c))] = Some(leaf(path.slice(c + 1..), value));
            *node = extension(path.slice(..c), branch(children));
            true
        }
        Node::Extension(e) => {
            let c = e.key.common_prefix_length(&path);
            if c == e.key.len() {
                // The child is a branch, and stays one: no re-canonicalisation needed.
                let e = Arc::make_mut(e);
                e.rlp = OnceLock::new();
                return insert(&mut e.child, path.slice(c..), value);
            }
            let mut children: [Option<Node>; 16] = Default::default();
            children[usize::from(e.key.get_unchecked(c))] =
                Some(extension(e.key.slice(c + 1..), e.child.clone()));
            children[usize::from(path.get_unchecked(c))] = Some(leaf(path.slice(c + 1..), value));
            *node = extension(path.slice(..c), branch(children));
            true
        }
        Node::Branch(b) => {
            let b = Arc::make_mut(b);
            b.rlp = OnceLock::new();
            let i = usize::from(path.get_unchecked(0));
            match &mut b.children[i] {
                Some(child) => insert(child, path.slice(1..), value),
                empty @ None => {
                    *empty = Some(leaf(path.slice(1..), value));
                    true
                }
            }
        }
    }
}

/// Removes the key at `path`, which must be present below `node`, updating in place what
/// this version owns alone. Returns whether `node` is now empty.
fn remove(node: &mut Node, path: Nibbles) -> bool {
    match node {
        Node::Leaf(_) => true,
        Node::Extension(e) => {
            let e = Arc::make_mut(e);
            e.rlp = OnceLock::new();
            let emptied = remove(&mut e.child, path.slice(e.key.len()..));
            debug_assert!(!emptied, "a branch below an extension keeps a child");
            if !matches!(e.child, Node::Branch(_)) {
                // The branch collapsed: merge it into this extension.
                *node = extension(e.key, e.child.clone());
            }
            false
        }
        Node::Branch(b) => {
            let b = Arc::make_mut(b);
            b.rlp = OnceLock::new();
            let i = usize::from(path.get_unchecked(0));
            if let Some(child) = b.children[i].as_mut()
                && remove(child, path.slice(1..))
            {
                b.children[i] = None;
            }
            let mut present = b
                .children
                .iter()
                .enumerate()
                .filter_map(|(j, c)| c.as_ref().map(|c| (j, c)));
            match (present.next(), present.next()) {
                (None, _) => true,
                // One child left: the branch collapses into it, behind its nibble.
                (Some((j, only)), None) => {
                    *node = extension(single(j as u8), only.clone());
                    false
                }
                _ => false,
            }
        }
    }
}
