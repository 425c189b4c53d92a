//! Serde helpers for fixed-size byte arrays: `0x`-hex in human-readable formats (TOML, JSON),
//! raw bytes with no length prefix in the binary wire format (`specs/wire.md` W-1.4).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};

pub(crate) fn serialize_fixed<const N: usize, S: Serializer>(
    bytes: &[u8; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    } else {
        let mut tuple = s.serialize_tuple(N)?;
        for b in bytes {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }
}

pub(crate) fn deserialize_fixed<'de, const N: usize, D: Deserializer<'de>>(
    d: D,
) -> Result<[u8; N], D::Error> {
    if d.is_human_readable() {
        d.deserialize_str(HexVisitor::<N>)
    } else {
        d.deserialize_tuple(N, TupleVisitor::<N>)
    }
}

struct HexVisitor<const N: usize>;

impl<const N: usize> Visitor<'_> for HexVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes as a hex string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let digits = v.strip_prefix("0x").unwrap_or(v);
        let mut out = [0u8; N];
        hex::decode_to_slice(digits, &mut out)
            .map_err(|e| E::custom(format!("expected {N} bytes of hex: {e}")))?;
        Ok(out)
    }
}

struct TupleVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for TupleVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N} bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        Ok(out)
    }
}
