//! Durable storage of [`SafetyData`]: one contract, two implementations.
//!
//! The core never calls a store. The shell persists what the core's `Persist` output asks
//! for, and feeds back `Persisted` only once the data is durable (S-4).

use std::sync::{Arc, Mutex};

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

/// Where a validator keeps the data that forbids it from equivocating.
pub trait SafetyStore {
    /// The last durably stored data, if any.
    fn load(&self) -> Result<Option<SafetyData>, StoreError>;
    /// Stores `data` and returns only once it is durable.
    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError>;
}

/// In-memory store with crash semantics for simulation: `persist` is durable at once (as an
/// fsync would be), and a [`MemorySafetyStore::crash`] handle survives the simulated process.
/// Clones share the same durable cell, as a disk outlives the process using it.
#[derive(Clone, Debug, Default)]
pub struct MemorySafetyStore {
    durable: Arc<Mutex<Option<SafetyData>>>,
}

impl MemorySafetyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SafetyStore for MemorySafetyStore {
    fn load(&self) -> Result<Option<SafetyData>, StoreError> {
        let cell = self
            .durable
            .lock()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(cell.clone())
    }

    fn persist(&mut self, data: &SafetyData) -> Result<(), StoreError> {
        let mut cell = self
            .durable
            .lock()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        if let Some(old) = cell.as_ref() {
            assert!(
                old.last_voted_round <= data.last_voted_round,
                "safety data only grows"
            );
        }
        *cell = Some(data.clone());
        Ok(())
    }
}

/// sled-backed store: one key, written then flushed (fsync) before `persist` returns.
#[cfg(feature = "sled-store")]
#[derive(Debug)]
pub struct SledSafetyStore {
    tree: sled::Tree,
}

#[cfg(feature = "sled-store")]
impl SledSafetyStore {
    const KEY: &'static [u8] = b"safety-data";

    /// Opens (or creates) the store in `db`'s `consensus-safety` tree.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = db
            .open_tree("consensus-safety")
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Self { tree })
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
        self.tree
            .flush()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(())
    }
}
