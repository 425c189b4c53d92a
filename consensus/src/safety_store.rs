//! Durable storage of [`SafetyData`]: one contract, two implementations.
//!
//! The core never calls a store. The shell persists what the core's `Persist` output asks
//! for, and feeds back `Persisted` only once the data is durable (S-4).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use shardnet_protocol::{Block, BlockHash, Height};

use crate::safety::SafetyData;

/// Why the safety store failed. A failing safety store is fatal for a validator: it must
/// stop voting rather than risk equivocation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying database failed.
    #[error("safety store I/O: {0}")]
    Io(String),
    /// Stored bytes do not decode: the store is corrupt.
    #[error("safety store corrupt: {0}")]
    Corrupt(String),
    /// The process "crashed" (simulation only): nothing more is persisted.
    #[error("store is crashed")]
    Crashed,
}

/// Where a validator keeps what forbids it from equivocating, and the blocks it voted for.
///
/// One contract for every implementation (tested in `consensus/tests/restart.rs`): what
/// `persist` returned `Ok` for is what `load` and `load_blocks` return after a crash, and
/// blocks are durable no later than the safety data persisted after them.
pub trait SafetyStore {
    /// The last durably stored data, if any.
    fn load(&self) -> Result<Option<SafetyData>, StoreError>;
    /// Stores `data` and returns only once it, and every block given to
    /// [`SafetyStore::persist_blocks`] before it, is durable.
    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError>;
    /// Adds blocks to the durable block store (made durable by the next `persist`).
    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), StoreError>;
    /// Every stored block, ascending by height.
    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, StoreError>;
    /// Forgets blocks at or below `committed`: the application's ledger holds those.
    fn prune_blocks(&mut self, committed: Height) -> Result<(), StoreError>;
}

#[derive(Debug, Default)]
struct Durable {
    data: Option<SafetyData>,
    blocks: BTreeMap<(Height, BlockHash), Arc<Block>>,
}

/// In-memory store for simulation: `persist` is durable at once (as an fsync would be).
/// Clones share the same durable cell, as a disk outlives the process using it, so a
/// simulated crash drops the core but keeps the store.
#[derive(Clone, Debug, Default)]
pub struct MemorySafetyStore {
    durable: Arc<Mutex<Durable>>,
}

impl MemorySafetyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self) -> Result<std::sync::MutexGuard<'_, Durable>, StoreError> {
        self.durable
            .lock()
            .map_err(|e| StoreError::Io(e.to_string()))
    }
}

impl SafetyStore for MemorySafetyStore {
    fn load(&self) -> Result<Option<SafetyData>, StoreError> {
        Ok(self.cell()?.data.clone())
    }

    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError> {
        let mut cell = self.cell()?;
        if let Some(old) = cell.data.as_ref() {
            assert!(
                old.last_voted_round <= data.last_voted_round,
                "safety data only grows"
            );
        }
        cell.data = Some(data.clone());
        Ok(())
    }

    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), StoreError> {
        let mut cell = self.cell()?;
        for b in blocks {
            cell.blocks
                .insert((b.header.height, b.hash()), Arc::clone(b));
        }
        Ok(())
    }

    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, StoreError> {
        Ok(self.cell()?.blocks.values().cloned().collect())
    }

    fn prune_blocks(&mut self, committed: Height) -> Result<(), StoreError> {
        let mut cell = self.cell()?;
        cell.blocks = cell
            .blocks
            .split_off(&(committed.next(), BlockHash::default()));
        Ok(())
    }
}

/// sled-backed store: safety data under one key, voted blocks keyed by (height, hash);
/// `persist` flushes (fsync) before it returns.
#[cfg(feature = "sled-store")]
#[derive(Debug)]
pub struct SledSafetyStore {
    tree: sled::Tree,
    blocks: sled::Tree,
}

#[cfg(feature = "sled-store")]
impl SledSafetyStore {
    const KEY: &'static [u8] = b"safety-data";

    /// Opens (or creates) the store in `db`'s `consensus-safety` and `consensus-blocks` trees.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let io = |e: sled::Error| StoreError::Io(e.to_string());
        Ok(Self {
            tree: db.open_tree("consensus-safety").map_err(io)?,
            blocks: db.open_tree("consensus-blocks").map_err(io)?,
        })
    }

    fn block_key(height: Height, hash: &BlockHash) -> [u8; 40] {
        let mut key = [0u8; 40];
        key[..8].copy_from_slice(&height.0.to_be_bytes());
        key[8..].copy_from_slice(&hash.0.0);
        key
    }
}

#[cfg(feature = "sled-store")]
impl SafetyStore for SledSafetyStore {
    fn load(&self) -> Result<Option<SafetyData>, StoreError> {
        let Some(bytes) = self
            .tree
            .get(Self::KEY)
            .map_err(|e| StoreError::Io(e.to_string()))?
        else {
            return Ok(None);
        };
        shardnet_protocol::codec::decode_canonical(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError> {
        let bytes = shardnet_protocol::codec::canonical_bytes(data);
        self.tree
            .insert(Self::KEY, bytes)
            .map_err(|e| StoreError::Io(e.to_string()))?;
        // Flushes the whole database, so blocks inserted before are durable too.
        self.tree
            .flush()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(())
    }

    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), StoreError> {
        for b in blocks {
            let key = Self::block_key(b.header.height, &b.hash());
            let bytes = shardnet_protocol::codec::canonical_bytes(b.as_ref());
            self.blocks
                .insert(key, bytes)
                .map_err(|e| StoreError::Io(e.to_string()))?;
        }
        Ok(())
    }

    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, StoreError> {
        self.blocks
            .iter()
            .map(|entry| {
                let (_, bytes) = entry.map_err(|e| StoreError::Io(e.to_string()))?;
                shardnet_protocol::codec::decode_canonical::<Block>(&bytes)
                    .map(Arc::new)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn prune_blocks(&mut self, committed: Height) -> Result<(), StoreError> {
        let end = Self::block_key(committed.next(), &BlockHash::default());
        for entry in self.blocks.range(..end) {
            let (key, _) = entry.map_err(|e| StoreError::Io(e.to_string()))?;
            self.blocks
                .remove(key)
                .map_err(|e| StoreError::Io(e.to_string()))?;
        }
        Ok(())
    }
}
