//! The write-ahead record of one block's [`ChangeSet`] in [`super::SledStore`], and the merged,
//! not yet materialised change sets it keeps in memory.
//!
//! Encoding (little-endian counts, fixed-size records, no padding): a version byte; the
//! metadata (`0`, or `1`, a `u32` length and its canonical encoding); the wiped accounts
//! (`u32` count, 32 bytes each); the storage writes (`u32` count; hashed address, hashed slot,
//! value big-endian: 96 bytes each); the accounts (`u32` count; hashed address, then `0` for a
//! deletion or `1` and address 20, nonce 8 (LE), balance 32 (BE), code hash 32, storage root
//! 32); the code (`u32` count; hash 32, `u32` length, bytes). Decoding checks every length.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, Bytes, U256};
use shardnet_protocol::codec::{canonical_bytes, decode_canonical};

use super::{AccountRecord, ChangeSet, StoreError, StoreMeta};

const VERSION: u8 = 1;

/// Encodes one block's change set as its journal record.
pub(super) fn encode(c: &ChangeSet) -> Vec<u8> {
    let code_len: usize = c.code.values().map(|b| 36 + b.len()).sum();
    let meta = c.meta.as_ref().map(canonical_bytes);
    let mut out = Vec::with_capacity(
        1 + 5
            + meta.as_ref().map_or(0, Vec::len)
            + 4
            + 32 * c.wiped_storage.len()
            + 4
            + 96 * c.storage.len()
            + 4
            + 157 * c.accounts.len()
            + 4
            + code_len,
    );
    out.push(VERSION);
    match &meta {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_len(&mut out, m.len());
            out.extend_from_slice(m);
        }
    }
    put_len(&mut out, c.wiped_storage.len());
    for w in &c.wiped_storage {
        out.extend_from_slice(w.as_slice());
    }
    put_len(&mut out, c.storage.len());
    for ((a, s), v) in &c.storage {
        out.extend_from_slice(a.as_slice());
        out.extend_from_slice(s.as_slice());
        out.extend_from_slice(&v.to_be_bytes::<32>());
    }
    put_len(&mut out, c.accounts.len());
    for (h, a) in &c.accounts {
        out.extend_from_slice(h.as_slice());
        match a {
            None => out.push(0),
            Some(a) => {
                out.push(1);
                out.extend_from_slice(a.address.as_slice());
                out.extend_from_slice(&a.nonce.to_le_bytes());
                out.extend_from_slice(&a.balance.to_be_bytes::<32>());
                out.extend_from_slice(a.code_hash.as_slice());
                out.extend_from_slice(a.storage_root.as_slice());
            }
        }
    }
    put_len(&mut out, c.code.len());
    for (h, b) in &c.code {
        out.extend_from_slice(h.as_slice());
        put_len(&mut out, b.len());
        out.extend_from_slice(b);
    }
    out
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Counts are bounded by a block's gas (far below 2^32); a longer one is a bug, not input.
    #[allow(clippy::expect_used)]
    out.extend_from_slice(
        &u32::try_from(n)
            .expect("journal count fits u32")
            .to_le_bytes(),
    );
}

struct Reader<'a> {
    buf: &'a [u8],
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("journal record: {what}"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    fn len(&mut self) -> Result<usize, StoreError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| corrupt("length"))?;
        usize::try_from(u32::from_le_bytes(b)).map_err(|_| corrupt("length"))
    }
    fn b256(&mut self) -> Result<B256, StoreError> {
        Ok(B256::from_slice(self.take(32)?))
    }
    fn u256(&mut self) -> Result<U256, StoreError> {
        Ok(U256::from_be_slice(self.take(32)?))
    }
    /// A count of items of `size` bytes each, checked against what is left (so a corrupt
    /// count cannot make the decoder allocate more than the record holds).
    fn count(&mut self, size: usize) -> Result<usize, StoreError> {
        let n = self.len()?;
        if n.saturating_mul(size) > self.buf.len() {
            return Err(corrupt("count past the end"));
        }
        Ok(n)
    }
}

/// Decodes a journal record.
pub(super) fn decode(bytes: &[u8]) -> Result<ChangeSet, StoreError> {
    let mut r = Reader { buf: bytes };
    if r.byte()? != VERSION {
        return Err(corrupt("unknown version"));
    }
    let mut c = ChangeSet::default();
    match r.byte()? {
        0 => {}
        1 => {
            let n = r.len()?;
            let m: StoreMeta =
                decode_canonical(r.take(n)?).map_err(|e| corrupt(&format!("metadata: {e}")))?;
            c.meta = Some(m);
        }
        _ => return Err(corrupt("metadata flag")),
    }
    let n = r.count(32)?;
    c.wiped_storage.reserve(n);
    for _ in 0..n {
        c.wiped_storage.push(r.b256()?);
    }
    for _ in 0..r.count(96)? {
        let a = r.b256()?;
        let s = r.b256()?;
        c.storage.insert((a, s), r.u256()?);
    }
    for _ in 0..r.count(33)? {
        let h = r.b256()?;
        let a = match r.byte()? {
            0 => None,
            1 => {
                let address = Address::from_slice(r.take(20)?);
                let nonce: [u8; 8] = r.take(8)?.try_into().map_err(|_| corrupt("nonce"))?;
                Some(AccountRecord {
                    address,
                    nonce: u64::from_le_bytes(nonce),
                    balance: r.u256()?,
                    code_hash: r.b256()?,
                    storage_root: r.b256()?,
                })
            }
            _ => return Err(corrupt("account flag")),
        };
        c.accounts.insert(h, a);
    }
    for _ in 0..r.count(36)? {
        let h = r.b256()?;
        let n = r.len()?;
        c.code.insert(h, Bytes::copy_from_slice(r.take(n)?));
    }
    if !r.buf.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(c)
}

/// Blocks applied since the last materialisation, merged in order (the last write of a key
/// wins; a wipe drops the account's earlier pending slots and hides its stored ones).
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) accounts: BTreeMap<B256, Option<AccountRecord>>,
    /// Storage writes after the last wipe of their account (zero deletes).
    pub(super) storage: BTreeMap<(B256, B256), U256>,
    /// Accounts whose stored slots are all gone.
    pub(super) wiped: BTreeSet<B256>,
    pub(super) code: BTreeMap<B256, Bytes>,
    pub(super) meta: Option<StoreMeta>,
    /// Journal records merged here.
    pub(super) blocks: usize,
}

impl Pending {
    /// Merges the next block's changes (wipes first, as [`ChangeSet`] defines).
    pub(super) fn merge(&mut self, c: &ChangeSet) {
        for w in &c.wiped_storage {
            let keys: Vec<(B256, B256)> = self
                .storage
                .range((*w, B256::ZERO)..=(*w, B256::repeat_byte(0xff)))
                .map(|(k, _)| *k)
                .collect();
            for k in keys {
                self.storage.remove(&k);
            }
            self.wiped.insert(*w);
        }
        self.storage.extend(c.storage.iter().map(|(k, v)| (*k, *v)));
        self.accounts
            .extend(c.accounts.iter().map(|(k, v)| (*k, *v)));
        self.code
            .extend(c.code.iter().map(|(k, v)| (*k, v.clone())));
        if let Some(m) = &c.meta {
            self.meta = Some(m.clone());
        }
        self.blocks += 1;
    }

    /// Distinct keys waiting to be written.
    pub(super) fn records(&self) -> usize {
        self.accounts.len() + self.storage.len() + self.code.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.blocks == 0
    }
}

/// Merges an ascending stored listing with ascending pending entries (`None` or zero: gone).
pub(super) fn merge_sorted<K: Ord + Copy, V: Copy>(
    stored: Vec<(K, V)>,
    pending: impl Iterator<Item = (K, Option<V>)>,
) -> Vec<(K, V)> {
    let mut out = Vec::with_capacity(stored.len());
    let mut stored = stored.into_iter().peekable();
    for (k, v) in pending {
        while let Some((sk, _)) = stored.peek() {
            if *sk >= k {
                break;
            }
            out.extend(stored.next());
        }
        if stored.peek().is_some_and(|(sk, _)| *sk == k) {
            stored.next();
        }
        if let Some(v) = v {
            out.push((k, v));
        }
    }
    out.extend(stored);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChangeSet {
        let mut c = ChangeSet {
            meta: Some(StoreMeta {
                height: 7,
                recent_hashes: vec![B256::repeat_byte(3)],
                ..StoreMeta::default()
            }),
            wiped_storage: vec![B256::repeat_byte(9)],
            ..ChangeSet::default()
        };
        c.storage.insert(
            (B256::repeat_byte(1), B256::repeat_byte(2)),
            U256::from(0x1234_5678_u64),
        );
        c.storage
            .insert((B256::repeat_byte(1), B256::repeat_byte(4)), U256::ZERO);
        c.accounts.insert(
            B256::repeat_byte(5),
            Some(AccountRecord {
                address: Address::repeat_byte(6),
                nonce: 42,
                balance: U256::MAX,
                code_hash: B256::repeat_byte(7),
                storage_root: B256::repeat_byte(8),
            }),
        );
        c.accounts.insert(B256::repeat_byte(10), None);
        c.code
            .insert(B256::repeat_byte(11), Bytes::from_static(b"\x60\x00"));
        c
    }

    #[test]
    fn record_round_trips() {
        let c = sample();
        assert_eq!(decode(&encode(&c)).expect("decodes"), c);
        let empty = ChangeSet::default();
        assert_eq!(decode(&encode(&empty)).expect("decodes"), empty);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).is_err());
        let mut bad = bytes;
        bad[0] = 99;
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn merge_sorted_prefers_pending_and_drops_deletions() {
        let stored = vec![(1, 10), (3, 30), (5, 50)];
        let pending = [
            (0, Some(1)),
            (3, None),
            (4, Some(40)),
            (5, Some(55)),
            (9, None),
        ];
        assert_eq!(
            merge_sorted(stored, pending.into_iter()),
            vec![(0, 1), (1, 10), (4, 40), (5, 55)]
        );
    }
}
