//! Frames on QUIC streams (`specs/transport.md` §2).
//!
//! A frame is a `u32` little-endian length followed by that many bytes (T-2.1). The body is
//! one message in the protocol's wire codec, so it starts with the wire version byte
//! (T-2.3). The length is checked against the limit *before* anything is allocated (T-2.2).

use bytes::{Buf, Bytes, BytesMut};
use quinn::{ReadExactError, RecvStream};
use shardnet_protocol::WIRE_VERSION;
use tokio::io::AsyncReadExt;

use crate::error::TransportError;
use crate::limits::{FRAME_HEADER_BYTES, READ_AHEAD_BYTES};

/// What was wrong with a frame from a peer. Every variant but `Io` is the peer's fault and
/// gets it blocked (T-7.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// A zero length (T-2.2).
    #[error("empty frame")]
    Empty,
    /// A length over the limit (T-2.2).
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body does not start with the wire version byte (T-2.3).
    #[error("frame has wire version {0}")]
    Version(u8),
    /// The stream ended inside a frame header or body (T-2.4).
    #[error("stream ended inside a frame")]
    Truncated,
    /// The stream or connection failed (not the peer's fault as far as we can tell).
    #[error("stream error: {0}")]
    Io(String),
}

impl FrameError {
    /// Whether this error proves the peer broke the protocol.
    pub(crate) fn is_misbehaviour(&self) -> bool {
        !matches!(self, Self::Io(_))
    }
}

/// The 4-byte header of a frame of `len` bytes.
pub(crate) fn header(len: usize) -> Bytes {
    // Callers only frame bodies that passed `check_outgoing`, so `len` fits in a u32.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    Bytes::copy_from_slice(&len.to_le_bytes())
}

/// T-2.2, T-2.3 for frames we send: non-empty, within `max`, wire version first.
pub(crate) fn check_outgoing(frame: &[u8], max: usize) -> Result<(), TransportError> {
    match frame.first() {
        None => Err(TransportError::InvalidFrame("empty")),
        Some(_) if frame.len() > max => Err(TransportError::InvalidFrame("too large")),
        Some(&v) if v != WIRE_VERSION => Err(TransportError::InvalidFrame("wrong wire version")),
        Some(_) => Ok(()),
    }
}

/// T-2.2 for a length announced by a peer.
pub(crate) fn check_len(len: usize, max: usize) -> Result<(), FrameError> {
    if len == 0 {
        Err(FrameError::Empty)
    } else if len > max {
        Err(FrameError::TooLarge { len, max })
    } else {
        Ok(())
    }
}

/// Reads frames from a stream through a buffer (T-5.5), so a run of small frames costs one stream
/// read instead of two per frame, and bodies are sliced out of the buffer without a copy.
/// It reads at most [`READ_AHEAD_BYTES`] beyond the frame being read; a body is only
/// allocated for when the caller asks for it, after the length check and admission (T-5.1).
#[derive(Debug)]
pub(crate) struct FrameReader {
    recv: RecvStream,
    buf: BytesMut,
}

impl FrameReader {
    pub(crate) fn new(recv: RecvStream) -> Self {
        Self {
            recv,
            buf: BytesMut::new(),
        }
    }

    /// Buffers at least `n` bytes; `Ok(false)` if the stream ended first.
    async fn fill(&mut self, n: usize) -> Result<bool, FrameError> {
        while self.buf.len() < n {
            let missing = n - self.buf.len();
            // Read ahead to amortise small frames; a large body is reserved whole (it has
            // been admitted by then). Reserve only when the spare room cannot hold what is
            // missing, so the buffer is reallocated once per read-ahead, not once per read.
            if self.buf.capacity() - self.buf.len() < missing {
                self.buf.reserve(missing.max(READ_AHEAD_BYTES));
            }
            match self.recv.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) => return Err(FrameError::Io(e.to_string())),
            }
        }
        Ok(true)
    }

    /// The frames wholly buffered from the read position, as far as their lengths pass
    /// [`check_len`] against `max_len`: at most `max_frames` of them, and as many as fit in
    /// `max_kib` KiB of inbox budget (each frame counts [`kib`] of its length). Nothing is
    /// consumed; take them with [`Self::take_buffered`].
    pub(crate) fn buffered_run(&self, max_len: usize, max_frames: u32, max_kib: u32) -> Run {
        let mut run = Run::default();
        let mut rest = &self.buf[..];
        while run.frames < max_frames {
            let Some(&[a, b, c, d]) = rest.get(..FRAME_HEADER_BYTES) else {
                break;
            };
            let len = u32::from_le_bytes([a, b, c, d]) as usize;
            let k = kib(len);
            if check_len(len, max_len).is_err()
                || rest.len() - FRAME_HEADER_BYTES < len
                || run.kib.saturating_add(k) > max_kib
            {
                break;
            }
            run.frames += 1;
            run.bytes += len;
            run.kib += k;
            rest = &rest[FRAME_HEADER_BYTES + len..];
        }
        run
    }

    /// The next frame of a [`Self::buffered_run`], with its version check (T-2.3).
    pub(crate) fn take_buffered(&mut self) -> Result<Bytes, FrameError> {
        let len = self.buf.get_u32_le() as usize;
        let body = self.buf.split_to(len).freeze();
        match body.first() {
            Some(&WIRE_VERSION) => Ok(body),
            Some(&v) => Err(FrameError::Version(v)),
            None => Err(FrameError::Empty),
        }
    }

    /// The one-byte stream header (T-3.1); `Ok(None)` if the stream ended before it.
    pub(crate) async fn tag(&mut self) -> Result<Option<u8>, FrameError> {
        if !self.fill(1).await? {
            return Ok(None);
        }
        Ok(Some(self.buf.get_u8()))
    }

    /// A frame header; `Ok(None)` if the stream ended cleanly before it (T-2.4).
    pub(crate) async fn len(&mut self) -> Result<Option<usize>, FrameError> {
        if !self.fill(FRAME_HEADER_BYTES).await? {
            return if self.buf.is_empty() {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        Ok(Some(self.buf.get_u32_le() as usize))
    }

    /// A body of a length that passed [`check_len`], with its version check (T-2.3).
    pub(crate) async fn body(&mut self, len: usize) -> Result<Bytes, FrameError> {
        if !self.fill(len).await? {
            return Err(FrameError::Truncated);
        }
        let body = self.buf.split_to(len).freeze();
        match body.first() {
            Some(&WIRE_VERSION) => Ok(body),
            Some(&v) => Err(FrameError::Version(v)),
            None => Err(FrameError::Empty),
        }
    }
}

/// The inbox budget a frame of `len` bytes holds, in KiB (T-5.2).
pub(crate) fn kib(len: usize) -> u32 {
    u32::try_from(len.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Frames wholly buffered by a [`FrameReader`], with their total size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) frames: u32,
    pub(crate) bytes: usize,
    pub(crate) kib: u32,
}

/// Reads a frame header. `Ok(None)` when the stream ended cleanly before it.
pub(crate) async fn read_len(recv: &mut RecvStream) -> Result<Option<usize>, FrameError> {
    let mut buf = [0u8; FRAME_HEADER_BYTES];
    match recv.read_exact(&mut buf).await {
        Ok(()) => Ok(Some(u32::from_le_bytes(buf) as usize)),
        Err(ReadExactError::FinishedEarly(0)) => Ok(None),
        Err(ReadExactError::FinishedEarly(_)) => Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(e)) => Err(FrameError::Io(e.to_string())),
    }
}

/// Reads one whole frame (header, length check, body).
pub(crate) async fn read_frame(recv: &mut RecvStream, max: usize) -> Result<Bytes, FrameError> {
    let len = read_len(recv).await?.ok_or(FrameError::Truncated)?;
    check_len(len, max)?;
    let mut body = vec![0u8; len];
    match recv.read_exact(&mut body).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(_)) => return Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(e)) => return Err(FrameError::Io(e.to_string())),
    }
    match body.first() {
        Some(&WIRE_VERSION) => Ok(Bytes::from(body)),
        Some(&v) => Err(FrameError::Version(v)),
        None => Err(FrameError::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_frames_are_checked() {
        assert!(check_outgoing(&[], 10).is_err());
        assert!(check_outgoing(&[WIRE_VERSION; 11], 10).is_err());
        assert!(check_outgoing(&[WIRE_VERSION.wrapping_add(1)], 10).is_err());
        assert!(check_outgoing(&[WIRE_VERSION, 0, 0], 10).is_ok());
    }

    #[test]
    fn lengths_are_checked_before_allocation() {
        assert_eq!(check_len(0, 10), Err(FrameError::Empty));
        assert_eq!(
            check_len(11, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(check_len(10, 10), Ok(()));
        assert_eq!(header(0x0102_0304).as_ref(), &[4, 3, 2, 1]);
    }
}
