//! The production [`StateStore`]: one sled tree, one atomic batch per block, flushed at commit.
//!
//! Key layout (one tree, prefixed so that one `sled::Batch` covers a whole block):
//! `a ‖ keccak(address)` → account, `s ‖ keccak(address) ‖ keccak(slot)` → value (32 bytes BE),
//! `c ‖ code hash` → code, `m` → metadata. Values are the protocol's canonical encoding.

use std::path::Path;

use alloy_primitives::{B256, Bytes, U256};
use shardnet_protocol::codec::{canonical_bytes, decode_canonical};

use super::{AccountRecord, ChangeSet, StateStore, StateView, StoreError, StoreMeta};

const ACCOUNT: u8 = b'a';
const STORAGE: u8 = b's';
const CODE: u8 = b'c';
const META: &[u8] = b"m";

/// State in a sled database.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// A key built on the stack (the longest is `s ‖ hash ‖ hash`, 65 bytes): reads borrow it,
/// a batch copies it once into sled's own buffer.
struct Key {
    buf: [u8; 65],
    len: usize,
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl From<Key> for sled::IVec {
    fn from(k: Key) -> Self {
        Self::from(k.as_ref())
    }
}

fn key(prefix: u8, parts: &[&[u8]]) -> Key {
    let mut k = Key {
        buf: [0; 65],
        len: 1,
    };
    k.buf[0] = prefix;
    for p in parts {
        k.buf[k.len..k.len + p.len()].copy_from_slice(p);
        k.len += p.len();
    }
    k
}

fn b256(bytes: &[u8]) -> Result<B256, StoreError> {
    B256::try_from(bytes).map_err(|_| StoreError::Corrupt(format!("key of {} bytes", bytes.len())))
}

impl SledStore {
    /// Opens (or creates) the state under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::open(dir).map_err(io)?;
        Self::from_db(db)
    }

    /// Uses the `state` tree of an open database.
    pub fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree("state").map_err(io)?;
        Ok(Self { db, tree })
    }

    /// The underlying database (shared with other stores of the node).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl StateView for SledStore {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        let Some(v) = self
            .tree
            .get(key(ACCOUNT, &[hashed.as_slice()]))
            .map_err(io)?
        else {
            return Ok(None);
        };
        decode_canonical(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        let Some(v) = self
            .tree
            .get(key(STORAGE, &[a.as_slice(), s.as_slice()]))
            .map_err(io)?
        else {
            return Ok(U256::ZERO);
        };
        U256::try_from_be_slice(&v).ok_or_else(|| StoreError::Corrupt("storage value".into()))
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(self
            .tree
            .get(key(CODE, &[code_hash.as_slice()]))
            .map_err(io)?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        self.tree
            .scan_prefix([ACCOUNT])
            .map(|r| {
                let (k, v) = r.map_err(io)?;
                let a = decode_canonical(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((b256(&k[1..])?, a))
            })
            .collect()
    }

    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        self.tree
            .scan_prefix(key(STORAGE, &[a.as_slice()]))
            .map(|r| {
                let (k, v) = r.map_err(io)?;
                let value = U256::try_from_be_slice(&v)
                    .ok_or_else(|| StoreError::Corrupt("storage value".into()))?;
                Ok((b256(&k[33..])?, value))
            })
            .collect()
    }

    fn meta(&self) -> Result<StoreMeta, StoreError> {
        match self.tree.get(META).map_err(io)? {
            None => Ok(StoreMeta::default()),
            Some(v) => decode_canonical(&v).map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }
}

impl StateStore for SledStore {
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for wiped in &changes.wiped_storage {
            for k in self
                .tree
                .scan_prefix(key(STORAGE, &[wiped.as_slice()]))
                .keys()
            {
                batch.remove(k.map_err(io)?);
            }
        }
        for ((a, s), v) in &changes.storage {
            let k = key(STORAGE, &[a.as_slice(), s.as_slice()]);
            if v.is_zero() {
                batch.remove(k);
            } else {
                batch.insert(k, &v.to_be_bytes::<32>()[..]);
            }
        }
        for (h, a) in &changes.accounts {
            let k = key(ACCOUNT, &[h.as_slice()]);
            match a {
                Some(a) => batch.insert(k, &canonical_bytes(a)[..]),
                None => batch.remove(k),
            }
        }
        for (h, c) in &changes.code {
            batch.insert(key(CODE, &[h.as_slice()]), &c[..]);
        }
        if let Some(m) = &changes.meta {
            batch.insert(META, canonical_bytes(m));
        }
        self.tree.apply_batch(batch).map_err(io)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}
