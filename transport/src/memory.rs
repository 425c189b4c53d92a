//! An in-memory implementation of the transport traits, for unit tests of code above the
//! transport (consensus shells, sync, lane relays) that do not need sockets or QUIC.
//!
//! Same contract as [`crate::Network`] (the contract test suite runs against both): frames
//! from a sender to a receiver arrive in order per class, the receiver sees consensus before
//! sync before lanes, requests are answered through a [`Responder`], and a blocked peer's
//! frames are no longer delivered. Queues are bounded; a full one refuses with
//! [`TransportError::QueueFull`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use shardnet_protocol::PublicKey;
use tokio::sync::{mpsc, oneshot};

use crate::api::{BlockReason, Blocker, Inbound, Receiver, Responder, Sender};
use crate::class::Class;
use crate::error::TransportError;
use crate::framing::check_outgoing;
use crate::limits::MAX_FRAME_BYTES;

/// Frames waiting per (receiver, class).
pub const MEMORY_QUEUE_FRAMES: usize = 4096;

#[derive(Debug)]
struct Slot {
    tx: [mpsc::Sender<Inbound>; 3],
    blocked: BTreeSet<PublicKey>,
}

type Hub = Arc<Mutex<BTreeMap<PublicKey, Slot>>>;

/// A set of in-memory nodes that can all reach each other.
#[derive(Clone, Debug, Default)]
pub struct MemoryNetwork {
    hub: Hub,
}

/// A node's sending handle on a [`MemoryNetwork`].
#[derive(Clone, Debug)]
pub struct MemorySender {
    me: PublicKey,
    /// `me` as put in every [`Inbound`] this node sends.
    from: Arc<PublicKey>,
    hub: Hub,
}

/// A node's inbox on a [`MemoryNetwork`].
#[derive(Debug)]
pub struct MemoryInbox {
    rx: [mpsc::Receiver<Inbound>; 3],
}

fn lock(hub: &Hub) -> std::sync::MutexGuard<'_, BTreeMap<PublicKey, Slot>> {
    hub.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the node `key`.
    pub fn join(&self, key: PublicKey) -> (MemorySender, MemoryInbox) {
        let (c_tx, c_rx) = mpsc::channel(MEMORY_QUEUE_FRAMES);
        let (s_tx, s_rx) = mpsc::channel(MEMORY_QUEUE_FRAMES);
        let (l_tx, l_rx) = mpsc::channel(MEMORY_QUEUE_FRAMES);
        lock(&self.hub).insert(
            key,
            Slot {
                tx: [c_tx, s_tx, l_tx],
                blocked: BTreeSet::new(),
            },
        );
        (
            MemorySender {
                me: key,
                from: Arc::new(key),
                hub: self.hub.clone(),
            },
            MemoryInbox {
                rx: [c_rx, s_rx, l_rx],
            },
        )
    }
}

impl MemorySender {
    fn deliver(&self, to: &PublicKey, inbound: Inbound) -> Result<(), TransportError> {
        let hub = lock(&self.hub);
        let me = hub.get(&self.me).ok_or(TransportError::Shutdown)?;
        if me.blocked.contains(to) {
            return Err(TransportError::Blocked(Box::new(*to)));
        }
        let slot = hub
            .get(to)
            .ok_or_else(|| TransportError::UnknownPeer(Box::new(*to)))?;
        if slot.blocked.contains(&self.me) {
            return Ok(()); // the receiver refuses us: lost, as on a refused connection
        }
        let class = inbound.class();
        slot.tx[class.index()]
            .try_send(inbound)
            .map_err(|_| TransportError::QueueFull {
                peer: Box::new(*to),
                class,
            })
    }
}

impl Sender for MemorySender {
    fn send(&self, to: &PublicKey, class: Class, frame: Bytes) -> Result<(), TransportError> {
        check_outgoing(&frame, MAX_FRAME_BYTES)?;
        if *to == self.me {
            return Err(TransportError::UnknownPeer(Box::new(*to)));
        }
        self.deliver(
            to,
            Inbound::Message {
                from: self.from.clone(),
                class,
                frame,
            },
        )
    }

    fn broadcast(&self, class: Class, frame: Bytes) -> Result<usize, TransportError> {
        check_outgoing(&frame, MAX_FRAME_BYTES)?;
        let keys: Vec<PublicKey> = lock(&self.hub).keys().copied().collect();
        Ok(keys
            .iter()
            .filter(|k| **k != self.me)
            .filter(|k| self.send(k, class, frame.clone()).is_ok())
            .count())
    }

    async fn request(
        &self,
        to: &PublicKey,
        class: Class,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        check_outgoing(&frame, MAX_FRAME_BYTES)?;
        let (tx, rx) = oneshot::channel();
        self.deliver(
            to,
            Inbound::Request {
                from: self.from.clone(),
                class,
                frame,
                reply: Responder::new(tx, MAX_FRAME_BYTES),
            },
        )?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(TransportError::Connection("request refused".into())),
            Err(_) => Err(TransportError::Timeout),
        }
    }
}

impl Blocker for MemorySender {
    fn block(&self, peer: &PublicKey, _reason: BlockReason) {
        if let Some(slot) = lock(&self.hub).get_mut(&self.me) {
            slot.blocked.insert(*peer);
        }
    }
}

impl Receiver for MemoryInbox {
    async fn recv(&mut self) -> Option<Inbound> {
        let [consensus, sync, lanes] = &mut self.rx;
        tokio::select! {
            biased;
            Some(d) = consensus.recv() => Some(d),
            Some(d) = sync.recv() => Some(d),
            Some(d) = lanes.recv() => Some(d),
            else => None,
        }
    }
}
