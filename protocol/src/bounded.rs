//! Collections whose length is bounded by a constant from [`crate::limits`].
//!
//! The bound is part of the type, so it is checked on every decode, by every decoder, before
//! the vector is allocated (`specs/wire.md` W-4.2). A decoder never trusts a length prefix.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The value exceeds the bound of its collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} items exceed the limit of {max}")]
pub struct TooLong {
    /// The length that was offered.
    pub len: usize,
    /// The bound.
    pub max: usize,
}

/// A `Vec<T>` of at most `MAX` items.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    /// An empty vector.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Wraps `items`, or says by how much they exceed the bound.
    pub fn try_from_vec(items: Vec<T>) -> Result<Self, TooLong> {
        if items.len() > MAX {
            return Err(TooLong {
                len: items.len(),
                max: MAX,
            });
        }
        Ok(Self(items))
    }

    /// Appends an item unless the vector is full.
    pub fn try_push(&mut self, item: T) -> Result<(), TooLong> {
        if self.0.len() >= MAX {
            return Err(TooLong {
                len: self.0.len() + 1,
                max: MAX,
            });
        }
        self.0.push(item);
        Ok(())
    }

    /// The items, giving up the bound.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// Mutable access to the items; the length cannot change through it.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const MAX: usize> Deref for BoundedVec<T, MAX> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = TooLong;

    fn try_from(items: Vec<T>) -> Result<Self, TooLong> {
        Self::try_from_vec(items)
    }
}

impl<'a, T, const MAX: usize> IntoIterator for &'a BoundedVec<T, MAX> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(BoundedVisitor::<T, MAX>(PhantomData))
    }
}

struct BoundedVisitor<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVisitor<T, MAX> {
    type Value = BoundedVec<T, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {MAX} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let hint = seq.size_hint().unwrap_or(0);
        if hint > MAX {
            return Err(de::Error::custom(TooLong {
                len: hint,
                max: MAX,
            }));
        }
        let mut items = Vec::with_capacity(hint);
        while let Some(item) = seq.next_element()? {
            if items.len() >= MAX {
                return Err(de::Error::custom(TooLong {
                    len: items.len() + 1,
                    max: MAX,
                }));
            }
            items.push(item);
        }
        Ok(BoundedVec(items))
    }
}

/// Opaque bytes of at most `MAX` length (a transaction, calldata, a reason).
///
/// On the wire: a length then the bytes. When decoding from a slice (as [`crate::decode`]
/// does) the bytes are borrowed from the input and the field bound is checked before they are
/// copied; other decoders are still bounded by [`crate::limits::MAX_MESSAGE_BYTES`].
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedBytes<const MAX: usize>(Vec<u8>);

impl<const MAX: usize> BoundedBytes<MAX> {
    /// Wraps `bytes`, or says by how much they exceed the bound.
    pub fn try_from_vec(bytes: Vec<u8>) -> Result<Self, TooLong> {
        if bytes.len() > MAX {
            return Err(TooLong {
                len: bytes.len(),
                max: MAX,
            });
        }
        Ok(Self(bytes))
    }

    /// The bytes, giving up the bound.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl<const MAX: usize> Deref for BoundedBytes<MAX> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<Vec<u8>> for BoundedBytes<MAX> {
    type Error = TooLong;

    fn try_from(bytes: Vec<u8>) -> Result<Self, TooLong> {
        Self::try_from_vec(bytes)
    }
}

impl<const MAX: usize> fmt::Debug for BoundedBytes<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 16 {
            write!(f, "0x{}", hex::encode(&self.0))
        } else {
            let head = self.0.get(..8).unwrap_or_default();
            write!(f, "0x{}..({} bytes)", hex::encode(head), self.0.len())
        }
    }
}

impl<const MAX: usize> Serialize for BoundedBytes<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&format!("0x{}", hex::encode(&self.0)))
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedBytes<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(BytesVisitor::<MAX>)
        } else {
            // `deserialize_bytes`, not `deserialize_byte_buf`: bincode then borrows the bytes
            // from the input (failing at once if the input is shorter than the claimed length)
            // and `visit_bytes` checks `MAX` before copying. `deserialize_byte_buf` made bincode
            // allocate and fill the claimed length (up to the message limit) before the bound
            // was checked. Same bytes on the wire.
            d.deserialize_bytes(BytesVisitor::<MAX>)
        }
    }
}

struct BytesVisitor<const MAX: usize>;

impl<const MAX: usize> Visitor<'_> for BytesVisitor<MAX> {
    type Value = BoundedBytes<MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {MAX} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        if v.len() > MAX {
            return Err(E::custom(TooLong {
                len: v.len(),
                max: MAX,
            }));
        }
        Ok(BoundedBytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        BoundedBytes::try_from_vec(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let digits = v.strip_prefix("0x").unwrap_or(v);
        if digits.len() / 2 > MAX {
            return Err(E::custom(TooLong {
                len: digits.len() / 2,
                max: MAX,
            }));
        }
        let bytes = hex::decode(digits).map_err(|e| E::custom(format!("invalid hex: {e}")))?;
        self.visit_byte_buf(bytes)
    }
}
