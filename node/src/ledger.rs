//! Committed blocks with their finality proofs, durable in sled: a restarted validator
//! reloads the most recent ones (consensus `Recovery.committed`) and serves catch-up sync.

use std::sync::Arc;

use shardnet_consensus::CommittedBlock;
use shardnet_protocol::codec::{canonical_bytes, decode_canonical};

/// Why the ledger failed (fatal for the validator).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// sled failed.
    #[error("ledger I/O: {0}")]
    Io(#[from] sled::Error),
    /// A stored block does not decode.
    #[error("ledger corrupt at height {height}: {reason}")]
    Corrupt {
        /// The height.
        height: u64,
        /// Why.
        reason: String,
    },
}

/// The `ledger` tree of a validator's database: height (big-endian) → committed block.
#[derive(Clone, Debug)]
pub struct Ledger {
    tree: sled::Tree,
}

impl Ledger {
    /// Opens the ledger in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, LedgerError> {
        Ok(Self {
            tree: db.open_tree("ledger")?,
        })
    }

    /// Appends a committed block. Durable with the next flush of the database (the state
    /// store flushes on every commit, right after this).
    pub fn append(&self, committed: &CommittedBlock) -> Result<(), LedgerError> {
        let height = committed.block.header.height.0;
        self.tree
            .insert(height.to_be_bytes(), canonical_bytes(committed))?;
        Ok(())
    }

    /// The committed block at `height`, if this validator has it.
    pub fn get(&self, height: u64) -> Result<Option<CommittedBlock>, LedgerError> {
        let Some(v) = self.tree.get(height.to_be_bytes())? else {
            return Ok(None);
        };
        decode_canonical(&v)
            .map(Some)
            .map_err(|e| LedgerError::Corrupt {
                height,
                reason: e.to_string(),
            })
    }

    /// The most recent `n` committed blocks, ascending.
    pub fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError> {
        let mut out = Vec::new();
        for entry in self.tree.iter().rev().take(n) {
            let (k, v) = entry?;
            let height = k.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            let c: CommittedBlock = decode_canonical(&v).map_err(|e| LedgerError::Corrupt {
                height,
                reason: e.to_string(),
            })?;
            out.push(Arc::new(c));
        }
        out.reverse();
        Ok(out)
    }
}
