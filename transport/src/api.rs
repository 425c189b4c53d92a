//! The interface a node uses (`specs/transport.md` §8): three small traits, so a chain
//! builder can swap the QUIC network for another implementation (the in-memory
//! [`crate::memory`] network in unit tests, or their own).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardnet_protocol::PublicKey;
use tokio::sync::oneshot;

use crate::class::Class;
use crate::error::TransportError;
use crate::framing::check_outgoing;

/// Sends frames. Frames are opaque to the transport: one message already encoded with
/// `shardnet_protocol::encode` (so it starts with the wire version byte, T-2.3).
pub trait Sender: Clone + Send + Sync + 'static {
    /// Queues `frame` for `to` (T-4.1). Never waits: a full consensus queue drops its oldest
    /// frame, a full sync or lanes queue refuses with [`TransportError::QueueFull`]. Delivery
    /// is at most once and in order per (peer, class) while a connection lasts.
    fn send(&self, to: &PublicKey, class: Class, frame: Bytes) -> Result<(), TransportError>;

    /// Queues `frames` for `to`, in order: the same as `send` for each frame in turn,
    /// stopping at the first one `send` would refuse and returning its error (the frames
    /// before it stay queued, the ones after it are not queued). Every frame is checked as
    /// `send` checks it (T-2.2, T-2.3); a blocked or unknown peer gets none of them.
    ///
    /// For a burst of messages to one peer: the QUIC network queues them under one lock
    /// and wakes the peer's writer at most once (T-4.6). It queues consecutive small frames
    /// in runs, each kept, refused or dropped as a whole, so a full queue may refuse (or,
    /// for consensus, drop) a few frames more than single sends would. The default
    /// implementation loops over `send`.
    fn send_many(
        &self,
        to: &PublicKey,
        class: Class,
        frames: Vec<Bytes>,
    ) -> Result<(), TransportError> {
        frames
            .into_iter()
            .try_for_each(|frame| self.send(to, class, frame))
    }

    /// Queues `frame` for every registered peer except ourselves and blocked peers; returns
    /// for how many it was queued.
    fn broadcast(&self, class: Class, frame: Bytes) -> Result<usize, TransportError>;

    /// Sends `frame` as a request and waits up to `timeout` for the answer (T-3.4).
    fn request(
        &self,
        to: &PublicKey,
        class: Class,
        frame: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Bytes, TransportError>> + Send;
}

/// Receives frames and requests.
pub trait Receiver: Send + 'static {
    /// The next inbound frame or request, consensus first, then sync, then lanes (T-3.3);
    /// `None` once the transport has shut down.
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
}

/// Reports misbehaving peers.
pub trait Blocker: Clone + Send + Sync + 'static {
    /// Disconnects `peer`, drops what is queued for it and refuses it for a while (T-7.1).
    /// Call it when a frame from `peer` does not decode or does not verify.
    fn block(&self, peer: &PublicKey, reason: BlockReason);
}

/// Everything a node needs from its network.
pub trait Transport: Sender + Blocker {}

impl<T: Sender + Blocker> Transport for T {}

/// Something a peer sent us.
///
/// The sender is an `Arc<PublicKey>` shared by everything received from that peer: a parsed
/// key is a few hundred bytes, and copying it into every small frame cost measurable
/// throughput. Compare with `*from == key`, or use [`Inbound::from`].
#[derive(Debug)]
pub enum Inbound {
    /// A one-way frame.
    Message {
        /// The sender, authenticated by the TLS handshake.
        from: Arc<PublicKey>,
        /// Its class.
        class: Class,
        /// The frame body (a wire-codec message).
        frame: Bytes,
    },
    /// A request; answer it through `reply` (dropping `reply` refuses it).
    Request {
        /// The requester.
        from: Arc<PublicKey>,
        /// Its class.
        class: Class,
        /// The request body.
        frame: Bytes,
        /// Where the answer goes.
        reply: Responder,
    },
}

impl Inbound {
    /// The peer that sent it.
    pub fn from(&self) -> &PublicKey {
        match self {
            Self::Message { from, .. } | Self::Request { from, .. } => from,
        }
    }

    /// Its class.
    pub fn class(&self) -> Class {
        match self {
            Self::Message { class, .. } | Self::Request { class, .. } => *class,
        }
    }

    /// Its body.
    pub fn frame(&self) -> &Bytes {
        match self {
            Self::Message { frame, .. } | Self::Request { frame, .. } => frame,
        }
    }
}

/// The reply half of a request.
pub struct Responder {
    tx: oneshot::Sender<Bytes>,
    max_frame_bytes: usize,
}

impl Responder {
    pub(crate) fn new(tx: oneshot::Sender<Bytes>, max_frame_bytes: usize) -> Self {
        Self {
            tx,
            max_frame_bytes,
        }
    }

    /// Sends the answer. Fails if it breaks the framing rules (T-2.2) or if the requester
    /// has gone (timed out, disconnected).
    pub fn respond(self, frame: Bytes) -> Result<(), TransportError> {
        check_outgoing(&frame, self.max_frame_bytes)?;
        self.tx
            .send(frame)
            .map_err(|_| TransportError::Connection("requester is gone".into()))
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Responder")
    }
}

/// Why a peer was blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// A frame over the size limit (T-2.2).
    Oversized,
    /// A frame or stream that broke the framing rules (T-2.2 to T-3.1).
    Malformed,
    /// A frame that passed framing but that the application could not decode or verify.
    InvalidMessage,
    /// Anything else, in words.
    Other(String),
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oversized => f.write_str("oversized frame"),
            Self::Malformed => f.write_str("malformed frame"),
            Self::InvalidMessage => f.write_str("invalid message"),
            Self::Other(s) => f.write_str(s),
        }
    }
}
