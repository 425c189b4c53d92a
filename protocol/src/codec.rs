//! The wire codec: one `encode`/`decode` pair for everything that crosses a process boundary
//! (`specs/wire.md` §1).
//!
//! A message is one version byte followed by the bincode 2 encoding of the value with
//! little-endian fixed-width integers. That encoding is canonical: every value has exactly one
//! encoding and decoding then re-encoding gives back the same bytes, so hashing and signing can
//! use [`canonical_bytes`] of a value without keeping the bytes it arrived in.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::limits::MAX_MESSAGE_BYTES;

/// The first byte of every wire message. Bumped by any change to an encoding or a limit.
pub const WIRE_VERSION: u8 = 3;

/// Why bytes could not be decoded. Every variant is the peer's fault, never ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// No bytes at all.
    #[error("empty message")]
    Empty,
    /// The message is longer than [`MAX_MESSAGE_BYTES`].
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Offered length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The version byte is not [`WIRE_VERSION`].
    #[error("unsupported wire version {found} (this node speaks {WIRE_VERSION})")]
    Version {
        /// The version byte received.
        found: u8,
    },
    /// The body does not decode as the expected type, or breaks a limit.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The body decoded but bytes remain after it.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

type WireConfig = Configuration<LittleEndian, Fixint, Limit<MAX_MESSAGE_BYTES>>;

const fn config() -> WireConfig {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_MESSAGE_BYTES>()
}

/// The canonical encoding of `value`, without the version byte: what gets hashed and signed.
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding into a Vec fails only for serde features the protocol types never use
    // (unsized sequences, `collect_str`); that would be a bug in a type, not bad input.
    #[allow(clippy::expect_used)]
    bincode::serde::encode_to_vec(value, config()).expect("protocol types always encode")
}

/// Encodes `value` as a wire message: the version byte, then the canonical encoding.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let body = canonical_bytes(value);
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(WIRE_VERSION);
    out.extend_from_slice(&body);
    out
}

/// Decodes a wire message. Never panics, and never allocates more than the message limit,
/// whatever the bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    if version != WIRE_VERSION {
        return Err(CodecError::Version { found: version });
    }
    decode_canonical(body)
}

/// Decodes the canonical encoding of a value (no version byte), as stored on disk.
pub fn decode_canonical<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - read));
    }
    Ok(value)
}

/// blake3 over the canonical encoding of `value`.
pub fn hash_of<T: Serialize + ?Sized>(value: &T) -> crate::Hash32 {
    crate::Hash32::blake3(&canonical_bytes(value))
}
