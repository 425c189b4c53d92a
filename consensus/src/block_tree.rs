//! The tree of blocks above the committed head (B-1, B-2).

use std::collections::BTreeMap;
use std::sync::Arc;

use shardnet_protocol::{Block, BlockHash, BlockHeader, Height, QuorumCert};

/// Why a block cannot join the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The parent is neither in the tree nor the committed head.
    #[error("parent unknown")]
    UnknownParent,
    /// B-1: the block does not extend its parent correctly.
    #[error("malformed block: {0}")]
    Malformed(&'static str),
    /// The block is at or below the committed height.
    #[error("block is below the committed head")]
    Stale,
}

/// Uncommitted blocks and the QCs known for them, rooted at the committed head.
#[derive(Debug)]
pub struct BlockTree {
    blocks: BTreeMap<BlockHash, Arc<Block>>,
    /// The best-known QC of each block in the tree (its child's justify, or an aggregate).
    certs: BTreeMap<BlockHash, QuorumCert>,
    committed: BlockHash,
}

impl BlockTree {
    /// A tree whose root is the committed block `head`.
    pub fn new(head: Arc<Block>) -> Self {
        let hash = head.hash();
        let mut blocks = BTreeMap::new();
        blocks.insert(hash, head);
        Self {
            blocks,
            certs: BTreeMap::new(),
            committed: hash,
        }
    }

    /// The committed head.
    pub fn committed(&self) -> &Arc<Block> {
        // The committed head is never pruned.
        #[allow(clippy::expect_used)]
        self.blocks
            .get(&self.committed)
            .expect("committed head is always in the tree")
    }

    /// The committed height.
    pub fn committed_height(&self) -> Height {
        self.committed().header.height
    }

    /// A block by hash.
    pub fn get(&self, hash: &BlockHash) -> Option<&Arc<Block>> {
        self.blocks.get(hash)
    }

    /// Whether the tree holds `hash`.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// Number of blocks held (including the committed head).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: the committed head is always present.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Checks B-1's structural part and inserts. The caller has verified the QC and, for
    /// proposals, the leader and signature.
    pub fn insert(&mut self, block: Arc<Block>) -> Result<(), TreeError> {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return Ok(());
        }
        let h = &block.header;
        if h.height <= self.committed_height() {
            return Err(TreeError::Stale);
        }
        let parent = self.blocks.get(&h.parent).ok_or(TreeError::UnknownParent)?;
        check_extends(&parent.header, &block)?;
        self.certs
            .entry(h.parent)
            .or_insert_with(|| block.justify.clone());
        self.blocks.insert(hash, block);
        Ok(())
    }

    /// Records a verified QC for a block (kept even before the block arrives).
    pub fn record_cert(&mut self, qc: &QuorumCert) {
        self.certs.entry(qc.block()).or_insert_with(|| qc.clone());
    }

    /// The QC known for `hash`.
    pub fn cert(&self, hash: &BlockHash) -> Option<&QuorumCert> {
        self.certs.get(hash)
    }

    /// Blocks from just above the committed head up to `hash`, oldest first; `None` if
    /// `hash` does not descend from the committed head through blocks in the tree.
    pub fn path_from_committed(&self, hash: &BlockHash) -> Option<Vec<Arc<Block>>> {
        let mut path = Vec::new();
        let mut cur = *hash;
        while cur != self.committed {
            let b = self.blocks.get(&cur)?;
            cur = b.header.parent;
            path.push(Arc::clone(b));
        }
        path.reverse();
        Some(path)
    }

    /// The chain of up to `count` blocks ending at `hash`, newest first (for sync answers).
    pub fn chain_ending_at(&self, hash: &BlockHash, count: usize) -> Vec<Block> {
        let mut out = Vec::new();
        let mut cur = *hash;
        while out.len() < count {
            let Some(b) = self.blocks.get(&cur) else {
                break;
            };
            out.push(Block::clone(b));
            if cur == self.committed {
                break;
            }
            cur = b.header.parent;
        }
        out
    }

    /// Makes `hash` the committed head and prunes every block not descending from it (B-2).
    pub fn advance_committed(&mut self, hash: BlockHash) {
        assert!(
            self.blocks.contains_key(&hash),
            "committing a block the tree holds"
        );
        self.committed = hash;
        let height = self.committed_height();
        // Keep the head and its descendants; blocks on other forks at greater heights are
        // dropped too, since nothing can commit them any more.
        let keep: std::collections::BTreeSet<BlockHash> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.header.height > height)
            .filter(|(h, _)| self.descends_from_committed(h))
            .map(|(h, _)| *h)
            .chain(std::iter::once(hash))
            .collect();
        self.blocks.retain(|h, _| keep.contains(h));
        self.certs.retain(|h, _| keep.contains(h));
    }

    fn descends_from_committed(&self, hash: &BlockHash) -> bool {
        let mut cur = *hash;
        loop {
            if cur == self.committed {
                return true;
            }
            match self.blocks.get(&cur) {
                Some(b) => cur = b.header.parent,
                None => return false,
            }
        }
    }

    /// Replaces the whole tree with a new committed head (catch-up sync, B-4).
    pub fn reset(&mut self, head: Arc<Block>) {
        *self = Self::new(head);
    }
}

/// B-1: the structural checks between a block and its parent.
pub fn check_extends(parent: &BlockHeader, block: &Block) -> Result<(), TreeError> {
    let h = &block.header;
    if !block.is_well_formed() {
        return Err(TreeError::Malformed(
            "payload root or justify does not match the header",
        ));
    }
    if h.parent != parent.hash() {
        return Err(TreeError::Malformed(
            "parent link does not match the parent",
        ));
    }
    if h.chain_id != parent.chain_id || h.shard != parent.shard || h.epoch != parent.epoch {
        return Err(TreeError::Malformed(
            "chain, shard or epoch differs from the parent",
        ));
    }
    if h.height != parent.height.next() {
        return Err(TreeError::Malformed("height is not parent + 1"));
    }
    if h.round <= parent.round {
        return Err(TreeError::Malformed("round does not exceed the parent's"));
    }
    if h.timestamp_ms < parent.timestamp_ms {
        return Err(TreeError::Malformed("timestamp goes backwards"));
    }
    if block.justify.round() != parent.round || block.justify.data.height != parent.height {
        return Err(TreeError::Malformed(
            "justify certifies another round or height",
        ));
    }
    Ok(())
}
