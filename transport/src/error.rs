//! The transport's one error type.

use shardnet_protocol::PublicKey;

use crate::class::Class;

/// Why a transport operation failed. (Keys are boxed: a parsed ed25519 key is ~200 bytes
/// and would make every `Result` of the crate that large.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The key is not in the peer registry (or is our own).
    #[error("unknown peer {0:?}")]
    UnknownPeer(Box<PublicKey>),
    /// The peer is blocked (T-7.1).
    #[error("peer {0:?} is blocked")]
    Blocked(Box<PublicKey>),
    /// An outgoing frame breaks the framing rules (T-2.2): empty, too large or without the
    /// wire version byte. A bug in the caller, never the peer's fault.
    #[error("invalid outgoing frame: {0}")]
    InvalidFrame(&'static str),
    /// The per-peer queue of this class is full and its policy refuses new frames (T-4.3).
    #[error("send queue for {class} to {peer:?} is full")]
    QueueFull {
        /// The peer.
        peer: Box<PublicKey>,
        /// The class whose queue is full.
        class: Class,
    },
    /// A request got no answer in time.
    #[error("request timed out")]
    Timeout,
    /// The connection broke, the stream was reset, or the peer refused to answer.
    #[error("connection error: {0}")]
    Connection(String),
    /// The peer's answer broke the framing rules; the peer has been blocked.
    #[error("malformed response: {0}")]
    MalformedResponse(&'static str),
    /// The transport has been shut down.
    #[error("transport shut down")]
    Shutdown,
    /// Setting up the endpoint failed (TLS configuration, socket).
    #[error("setup failed: {0}")]
    Setup(String),
}
