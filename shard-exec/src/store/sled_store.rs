//! The production [`StateStore`]: state in one sled tree, each block first as one
//! write-ahead journal record (durable at the commit's `flush`), the per-key records written
//! ("materialised") once every few blocks (`specs/execution.md` X-5).
//!
//! Key layout (one tree, prefixed so that one `sled::Batch` covers a block's journal record,
//! and one covers a materialisation together with the removal of the records it writes out):
//! `a ‖ keccak(address)` → account, `s ‖ keccak(address) ‖ keccak(slot)` → value (32 bytes BE),
//! `c ‖ code hash` → code, `m` → metadata (values in the protocol's canonical encoding), and
//! `j ‖ sequence (u64 BE) ‖ chunk (u32 BE)` → the journal record of an applied block whose
//! keys are not yet materialised (`journal.rs`), cut into chunks small enough to stay inside
//! sled's fsynced log (see [`CHUNK`]).
//!
//! Why: sled costs ~5 µs of CPU per inserted key, whatever the value size, while a block's
//! change set encodes at well under 1 µs per key. A block therefore costs one small batch of
//! journal chunks; materialisation writes each key changed over several blocks once (a key
//! written by every block is written once per materialisation, not once per block), inside
//! `apply`, on the caller's thread, so its cost stays in the executor's accounting. Reads see
//! the merged pending blocks over the tree. Reopening replays the journal in order and
//! materialises it; a materialisation is one atomic batch with the removal of its journal
//! records, so a crash leaves either the records or their keys, never neither.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use alloy_primitives::{B256, Bytes, U256};
use shardnet_protocol::codec::{canonical_bytes, decode_canonical};

use super::journal::{self, Pending, merge_sorted};
use super::{AccountRecord, ChangeSet, StateStore, StateView, StoreError, StoreMeta};

const ACCOUNT: u8 = b'a';
const STORAGE: u8 = b's';
const CODE: u8 = b'c';
const JOURNAL: u8 = b'j';
const META: &[u8] = b"m";

/// Journal records are cut into chunks of this size. sled 0.34 writes any log message larger
/// than a quarter of its 512 KiB segment (a value, or a whole tree node when it consolidates
/// one) to a separate blob file, and its `flush` fsyncs only the main log, not blob files.
/// A leaf holds at most 17 entries before it splits, so chunks of 4 KiB keep every node
/// that holds them under that bound and the journal inside the fsynced log
/// (`tests/store_contract.rs` checks that no blob file appears).
const CHUNK: usize = 4 * 1024;

/// Materialise after this many journaled blocks by default.
pub const MATERIALISE_EVERY_BLOCKS: usize = 8;
/// ... or as soon as this many distinct keys wait (bounds the memory the pending blocks hold).
pub const MATERIALISE_AT_RECORDS: usize = 250_000;

/// State in a sled database. Clones share the pending blocks: open one store per database
/// and clone it (a second `open` of a database in use would replay the same journal).
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    shared: Arc<RwLock<Shared>>,
}

#[derive(Debug)]
struct Shared {
    pending: Pending,
    /// Sequence number of the next journal record.
    next_seq: u64,
    /// Materialise after this many journaled blocks (1: every block; 0: no journal, each
    /// block's keys written by its `apply`).
    every_blocks: usize,
}

/// The key writes of one change set or of merged blocks.
struct Keys<'a> {
    storage: &'a BTreeMap<(B256, B256), U256>,
    accounts: &'a BTreeMap<B256, Option<AccountRecord>>,
    code: &'a BTreeMap<B256, Bytes>,
    meta: Option<&'a StoreMeta>,
}

impl<'a> Keys<'a> {
    fn of_changes(c: &'a ChangeSet) -> Self {
        Self {
            storage: &c.storage,
            accounts: &c.accounts,
            code: &c.code,
            meta: c.meta.as_ref(),
        }
    }
    fn of_pending(p: &'a Pending) -> Self {
        Self {
            storage: &p.storage,
            accounts: &p.accounts,
            code: &p.code,
            meta: p.meta.as_ref(),
        }
    }
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Io("state store lock poisoned by a panic".into())
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

fn decode_account(v: &[u8]) -> Result<AccountRecord, StoreError> {
    decode_canonical(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_value(v: &[u8]) -> Result<U256, StoreError> {
    U256::try_from_be_slice(v).ok_or_else(|| StoreError::Corrupt("storage value".into()))
}

impl SledStore {
    /// Opens (or creates) the state under `dir`, replaying its journal.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::open(dir).map_err(io)?;
        Self::from_db(db)
    }

    /// Uses the `state` tree of an open database, replaying its journal (the blocks applied
    /// and flushed before a crash or stop whose keys were not yet materialised) and
    /// materialising it.
    pub fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree("state").map_err(io)?;
        let mut pending = Pending::default();
        let mut next_seq = 0;
        let mut record: Vec<u8> = Vec::new();
        let mut current: Option<u64> = None;
        for kv in tree.scan_prefix([JOURNAL]) {
            let (k, v) = kv.map_err(io)?;
            let seq_bytes: [u8; 8] = k
                .get(1..9)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("journal key".into()))?;
            let seq = u64::from_be_bytes(seq_bytes);
            if current.is_some_and(|c| c != seq) {
                pending.merge(&journal::decode(&record)?);
                record.clear();
            }
            current = Some(seq);
            next_seq = seq + 1;
            record.extend_from_slice(&v);
        }
        if current.is_some() {
            pending.merge(&journal::decode(&record)?);
        }
        let store = Self {
            db,
            tree,
            shared: Arc::new(RwLock::new(Shared {
                pending,
                next_seq,
                every_blocks: MATERIALISE_EVERY_BLOCKS,
            })),
        };
        store.materialise()?;
        Ok(store)
    }

    /// The underlying database (shared with other stores of the node).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Materialise after every `blocks` journaled blocks, for this store and its clones. `0`
    /// turns the journal off: each block's keys are written in one batch by its `apply`, as
    /// before the journal (kept to measure one against the other; durable at `flush` too).
    pub fn set_materialise_every(&self, blocks: usize) -> Result<(), StoreError> {
        let mut shared = self.write()?;
        if blocks == 0 {
            self.materialise_locked(&mut shared)?;
        }
        shared.every_blocks = blocks;
        Ok(())
    }

    /// Journaled blocks whose keys are not yet materialised.
    pub fn pending_blocks(&self) -> Result<usize, StoreError> {
        Ok(self.read()?.pending.blocks)
    }

    /// Writes the pending blocks' keys now (durable at the next `flush`).
    pub fn materialise(&self) -> Result<(), StoreError> {
        let mut shared = self.write()?;
        self.materialise_locked(&mut shared)
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Shared>, StoreError> {
        self.shared.read().map_err(poisoned)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Shared>, StoreError> {
        self.shared.write().map_err(poisoned)
    }

    /// Adds the keys of merged blocks to `batch` (wipes first: a batch keeps the last write
    /// of a key).
    fn write_keys<'a>(
        &self,
        wiped: impl Iterator<Item = &'a B256>,
        keys: Keys<'_>,
        batch: &mut sled::Batch,
    ) -> Result<(), StoreError> {
        for wiped in wiped {
            for k in self
                .tree
                .scan_prefix(key(STORAGE, &[wiped.as_slice()]))
                .keys()
            {
                batch.remove(k.map_err(io)?);
            }
        }
        for ((a, s), v) in keys.storage {
            let k = key(STORAGE, &[a.as_slice(), s.as_slice()]);
            if v.is_zero() {
                batch.remove(k);
            } else {
                batch.insert(k, &v.to_be_bytes::<32>()[..]);
            }
        }
        for (h, a) in keys.accounts {
            let k = key(ACCOUNT, &[h.as_slice()]);
            match a {
                Some(a) => batch.insert(k, &canonical_bytes(a)[..]),
                None => batch.remove(k),
            }
        }
        for (h, c) in keys.code {
            batch.insert(key(CODE, &[h.as_slice()]), &c[..]);
        }
        if let Some(m) = keys.meta {
            batch.insert(META, canonical_bytes(m));
        }
        Ok(())
    }

    /// One atomic batch: the pending keys, and the removal of every journal record.
    fn materialise_locked(&self, shared: &mut Shared) -> Result<(), StoreError> {
        if shared.pending.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let p = &shared.pending;
        self.write_keys(p.wiped.iter(), Keys::of_pending(p), &mut batch)?;
        for k in self.tree.scan_prefix([JOURNAL]).keys() {
            batch.remove(k.map_err(io)?);
        }
        self.tree.apply_batch(batch).map_err(io)?;
        shared.pending = Pending::default();
        Ok(())
    }
}

impl StateView for SledStore {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        let shared = self.read()?;
        if let Some(a) = shared.pending.accounts.get(hashed) {
            return Ok(*a);
        }
        let Some(v) = self
            .tree
            .get(key(ACCOUNT, &[hashed.as_slice()]))
            .map_err(io)?
        else {
            return Ok(None);
        };
        decode_account(&v).map(Some)
    }

    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        let shared = self.read()?;
        if let Some(v) = shared.pending.storage.get(&(*a, *s)) {
            return Ok(*v);
        }
        if shared.pending.wiped.contains(a) {
            return Ok(U256::ZERO);
        }
        let Some(v) = self
            .tree
            .get(key(STORAGE, &[a.as_slice(), s.as_slice()]))
            .map_err(io)?
        else {
            return Ok(U256::ZERO);
        };
        decode_value(&v)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        let shared = self.read()?;
        if let Some(c) = shared.pending.code.get(code_hash) {
            return Ok(Some(c.clone()));
        }
        Ok(self
            .tree
            .get(key(CODE, &[code_hash.as_slice()]))
            .map_err(io)?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        let shared = self.read()?;
        let stored = self
            .tree
            .scan_prefix([ACCOUNT])
            .map(|r| {
                let (k, v) = r.map_err(io)?;
                Ok((b256(&k[1..])?, decode_account(&v)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(merge_sorted(
            stored,
            shared.pending.accounts.iter().map(|(k, v)| (*k, *v)),
        ))
    }

    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        let shared = self.read()?;
        let stored = if shared.pending.wiped.contains(a) {
            Vec::new()
        } else {
            self.tree
                .scan_prefix(key(STORAGE, &[a.as_slice()]))
                .map(|r| {
                    let (k, v) = r.map_err(io)?;
                    Ok((b256(&k[33..])?, decode_value(&v)?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        };
        let pending = shared
            .pending
            .storage
            .range((*a, B256::ZERO)..=(*a, B256::repeat_byte(0xff)))
            .map(|((_, s), v)| (*s, (!v.is_zero()).then_some(*v)));
        Ok(merge_sorted(stored, pending))
    }

    fn meta(&self) -> Result<StoreMeta, StoreError> {
        let shared = self.read()?;
        if let Some(m) = &shared.pending.meta {
            return Ok(m.clone());
        }
        match self.tree.get(META).map_err(io)? {
            None => Ok(StoreMeta::default()),
            Some(v) => decode_canonical(&v).map_err(|e| StoreError::Corrupt(e.to_string())),
        }
    }
}

impl StateStore for SledStore {
    /// Writes the block's journal record (one atomic batch of its chunks), merges it into
    /// the pending blocks, and materialises them when enough have gathered.
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        let mut shared = self.write()?;
        if shared.every_blocks == 0 {
            let mut batch = sled::Batch::default();
            let keys = Keys::of_changes(changes);
            self.write_keys(changes.wiped_storage.iter(), keys, &mut batch)?;
            return self.tree.apply_batch(batch).map_err(io);
        }
        let record = journal::encode(changes);
        let seq = shared.next_seq;
        let mut batch = sled::Batch::default();
        for (i, chunk) in (0u32..).zip(record.chunks(CHUNK)) {
            let k = key(JOURNAL, &[&seq.to_be_bytes(), &i.to_be_bytes()]);
            batch.insert(k, chunk);
        }
        self.tree.apply_batch(batch).map_err(io)?;
        shared.next_seq += 1;
        shared.pending.merge(changes);
        if shared.pending.blocks >= shared.every_blocks
            || shared.pending.records() >= MATERIALISE_AT_RECORDS
        {
            self.materialise_locked(&mut shared)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}
