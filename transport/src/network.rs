//! The QUIC network: one quinn endpoint per validator (`specs/transport.md`).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quinn::{Endpoint, EndpointConfig, IdleTimeout, TransportConfig, VarInt};
use shardnet_protocol::{Committees, PublicKey, SecretKey};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::access::Access;
use crate::api::{BlockReason, Blocker, Inbound, Receiver, Responder, Sender};
use crate::class::Class;
use crate::clock::CoarseClock;
use crate::config::Config;
use crate::conn::{CODE_BLOCKED, CODE_REMOVED, CODE_SHUTDOWN, Permits, install, request_on};
use crate::error::TransportError;
use crate::framing::check_outgoing;
use crate::identity::Identity;
use crate::keys::{CidGenerator, ResetKey, initial_cid_provider, subseed};
use crate::limits::{
    CONNECTION_RECEIVE_WINDOW_BYTES, DELIVER_BATCH_FRAMES, HANDSHAKE_TIMEOUT, MAX_BIDI_STREAMS,
    MAX_PENDING_HANDSHAKES, MAX_UNI_STREAMS, QUEUE_CLOCK_TICK, SEND_WINDOW_BYTES,
    STREAM_RECEIVE_WINDOW_BYTES,
};
use crate::peer::{Peer, supervise};
use crate::queue::{Entry, Pushed};
use crate::stats::{Counters, PeerStats, Stats};
use crate::tls::{self, PeerVerifier, peer_key};

/// Where each registered validator listens. Keys map to `None` for peers we accept
/// connections from but cannot dial.
pub type PeerBook = BTreeMap<PublicKey, Option<SocketAddr>>;

/// The peer book of every validator in `committees`, from their registered
/// `network_address` (`ip:port`; an address that does not parse gives `None`).
pub fn peer_book(committees: &Committees) -> PeerBook {
    committees
        .iter()
        .flat_map(|c| c.members())
        .map(|m| (m.public_key, m.network_address.parse().ok()))
        .collect()
}

/// The UDP socket an endpoint runs on.
#[derive(Debug)]
pub enum Socket {
    /// An operating-system socket (production).
    Udp(std::net::UdpSocket),
    /// Any quinn socket, e.g. [`crate::sim::SimUdpSocket`] over turmoil.
    Abstract(Arc<dyn quinn::AsyncUdpSocket>),
}

impl Socket {
    /// Binds an operating-system UDP socket.
    pub fn bind(addr: SocketAddr) -> Result<Self, TransportError> {
        std::net::UdpSocket::bind(addr)
            .map(Self::Udp)
            .map_err(|e| TransportError::Setup(format!("bind {addr}: {e}")))
    }
}

/// Frames of one class from one peer, handed to the inbox together (T-5.5). The batch holds
/// its frames' share of the peer's inbox budget (T-5.2) until the application has taken the
/// last of them (or until it is dropped untaken: the inbox was dropped), and gives it back in
/// one operation. The sender is the batch's one `Arc<Peer>`, not a field per frame.
#[derive(Debug)]
pub(crate) struct Batch {
    peer: Arc<Peer>,
    class: Class,
    frames: VecDeque<Bytes>,
    /// Frames and KiB of budget held.
    held: (u32, u32),
}

impl Batch {
    pub(crate) fn new(peer: Arc<Peer>, class: Class) -> Self {
        Self {
            peer,
            class,
            frames: VecDeque::with_capacity(DELIVER_BATCH_FRAMES),
            held: (0, 0),
        }
    }

    /// Adds a frame that holds `kib` KiB of the peer's budget (taken by the caller).
    pub(crate) fn push(&mut self, frame: Bytes, kib: u32) {
        self.frames.push_back(frame);
        self.held = (self.held.0 + 1, self.held.1.saturating_add(kib));
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub(crate) fn class(&self) -> Class {
        self.class
    }

    /// The next frame in its public form; the batch's budget is given back with its last
    /// frame.
    fn next(&mut self) -> Option<Inbound> {
        let frame = self.frames.pop_front()?;
        if self.frames.is_empty() {
            self.release();
        }
        Some(Inbound::Message {
            from: self.peer.shared_key.clone(),
            class: self.class,
            frame,
        })
    }

    fn release(&mut self) {
        let (frames, kib) = std::mem::take(&mut self.held);
        self.peer.inbox.give(frames, kib);
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.release();
    }
}

/// An inbound request with the inbox budget it holds.
#[derive(Debug)]
pub(crate) struct Request {
    peer: Arc<Peer>,
    class: Class,
    frame: Bytes,
    reply: Responder,
    _permits: Permits,
}

impl Request {
    pub(crate) fn new(
        peer: Arc<Peer>,
        class: Class,
        frame: Bytes,
        reply: Responder,
        permits: Permits,
    ) -> Self {
        Self {
            peer,
            class,
            frame,
            reply,
            _permits: permits,
        }
    }

    /// The public form; the inbox budget (T-5.2) is released here, as the application takes
    /// the request.
    fn into_inbound(self) -> Inbound {
        Inbound::Request {
            from: self.peer.shared_key.clone(),
            class: self.class,
            frame: self.frame,
            reply: self.reply,
        }
    }
}

/// What goes through a class's inbox channel, in arrival order.
#[derive(Debug)]
enum Delivery {
    Frames(Batch),
    Request(Request),
}

/// State shared by the handles and every task of one network.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) me: PublicKey,
    pub(crate) config: Config,
    pub(crate) seed: [u8; 32],
    pub(crate) endpoint: Endpoint,
    pub(crate) client_config: quinn::ClientConfig,
    pub(crate) access: Arc<Access>,
    peers: Mutex<BTreeMap<PublicKey, Arc<Peer>>>,
    inbox: [mpsc::UnboundedSender<Delivery>; 3],
    pub(crate) counters: Counters,
    pub(crate) shutdown: watch::Sender<bool>,
    /// Mirrors `shutdown`, for the per-send check without a lock.
    stopped: std::sync::atomic::AtomicBool,
    /// Stamps queued frames (T-4.2), advanced by [`tick_clock`].
    pub(crate) clock: CoarseClock,
}

impl Shared {
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire)
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, BTreeMap<PublicKey, Arc<Peer>>> {
        self.peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn peer(&self, key: &PublicKey) -> Option<Arc<Peer>> {
        self.peers().get(key).cloned()
    }

    /// Hands a request to the application. The inbox channel is unbounded, but what each
    /// peer can have in it is bounded by its budget (T-5.2).
    pub(crate) fn deliver_request(&self, request: Request) {
        Counters::add(&self.counters.frames_received, 1);
        Counters::add(&self.counters.bytes_received, request.frame.len() as u64);
        // A send fails only when the application dropped its inbox: nothing to do then (the
        // budget is given back as the item drops).
        let _ = self.inbox[request.class.index()].send(Delivery::Request(request));
    }

    /// Hands frames of one class from one peer to the application, in order.
    pub(crate) fn deliver_batch(&self, batch: Batch) {
        let bytes: usize = batch.frames.iter().map(Bytes::len).sum();
        Counters::add(&self.counters.frames_received, batch.len() as u64);
        Counters::add(&self.counters.bytes_received, bytes as u64);
        let _ = self.inbox[batch.class.index()].send(Delivery::Frames(batch));
    }

    /// T-7.1: refuse the peer for `block_duration`, close its connection, drop its queue.
    pub(crate) fn block_peer(&self, key: &PublicKey, reason: BlockReason) {
        let until = Instant::now() + self.config.block_duration;
        self.access.block(*key, until);
        Counters::add(&self.counters.blocks, 1);
        tracing::warn!(me = ?self.me, peer = ?key, %reason, "blocking peer");
        if let Some(peer) = self.peer(key) {
            peer.queues.clear();
            if let Some(conn) = peer.connection() {
                let text = reason.to_string();
                conn.close(CODE_BLOCKED, text.as_bytes());
            }
        }
    }

    fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        if !self.shutdown.send_replace(true) {
            self.endpoint.close(CODE_SHUTDOWN, b"shutdown");
        }
    }
}

/// Stops the network when the last [`Network`] handle is dropped.
#[derive(Debug)]
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A validator's QUIC network. Cheap to clone; the network stops when the last clone is
/// dropped or [`Network::shutdown`] is called. Implements [`Sender`] and [`Blocker`].
#[derive(Clone, Debug)]
pub struct Network {
    handle: Arc<Handle>,
}

/// The receiving half of a [`Network`]: implements [`Receiver`].
#[derive(Debug)]
pub struct Inbox {
    rx: [mpsc::UnboundedReceiver<Delivery>; 3],
    /// The batch being handed out, per class.
    current: [Option<Batch>; 3],
    stop: watch::Receiver<bool>,
}

impl Inbox {
    /// The next item of the class at `index` that is already here, without waiting.
    fn buffered(&mut self, index: usize) -> Option<Inbound> {
        loop {
            if let Some(batch) = &mut self.current[index] {
                if let Some(inbound) = batch.next() {
                    return Some(inbound);
                }
                self.current[index] = None;
            }
            let delivery = self.rx[index].try_recv().ok()?;
            if let Some(inbound) = self.start(index, delivery) {
                return Some(inbound);
            }
        }
    }

    /// The first item of a delivery; the rest of a batch is kept for the next calls.
    fn start(&mut self, index: usize, delivery: Delivery) -> Option<Inbound> {
        match delivery {
            Delivery::Request(request) => Some(request.into_inbound()),
            Delivery::Frames(mut batch) => {
                let first = batch.next();
                self.current[index] = Some(batch);
                first
            }
        }
    }
}

pub(crate) fn transport_config(config: &Config) -> Result<TransportConfig, TransportError> {
    let mut t = TransportConfig::default();
    t.max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS))
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_BIDI_STREAMS))
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW_BYTES))
        .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW_BYTES))
        .send_window(SEND_WINDOW_BYTES)
        .keep_alive_interval(Some(config.keep_alive))
        .max_idle_timeout(Some(
            IdleTimeout::try_from(config.idle_timeout)
                .map_err(|e| TransportError::Setup(format!("idle timeout: {e}")))?,
        ));
    Ok(t)
}

/// The node's seed: the configured one mixed with the node's key (so nodes given the same
/// seed still differ), or fresh operating-system randomness.
fn node_seed(config: &Config, me: &PublicKey) -> Result<[u8; 32], TransportError> {
    let base = match config.rng_seed {
        Some(seed) => seed,
        None => {
            let mut seed = [0u8; 32];
            tls::provider()
                .secure_random
                .fill(&mut seed)
                .map_err(|_| TransportError::Setup("no OS randomness".into()))?;
            seed
        }
    };
    Ok(blake3::keyed_hash(&base, &me.to_bytes()).into())
}

impl Network {
    /// Starts a network for the validator holding `secret`, admitting and dialing the peers
    /// in `peers`, on `socket`. Must be called inside a tokio runtime (a turmoil host is
    /// one). Returns the sending handle and the inbox.
    pub fn start(
        secret: &SecretKey,
        peers: PeerBook,
        socket: Socket,
        config: Config,
    ) -> Result<(Self, Inbox), TransportError> {
        config.validate()?;
        let me = secret.public_key();
        let seed = node_seed(&config, &me)?;
        let identity = Identity::new(secret)?;
        let access = Arc::new(Access::new(me, peers.keys().copied()));
        let verifier = Arc::new(PeerVerifier::new(access.clone()));
        let transport = Arc::new(transport_config(&config)?);

        let server_crypto = tls::server_config(&identity, verifier.clone())?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(transport.clone());
        server.migration(false);
        let client_crypto = tls::client_config(&identity, verifier)?;
        let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
        client_config.transport_config(transport);
        client_config.initial_dst_cid_provider(initial_cid_provider(subseed(&seed, "initial cid")));

        // T-6.4: reset and connection-id keys from the node key; RNG seeded.
        let mut endpoint_config = EndpointConfig::new(Arc::new(ResetKey::derive(secret)));
        let cids = CidGenerator::new(secret, subseed(&seed, "cid"));
        endpoint_config.cid_generator(move || Box::new(cids.clone()));
        endpoint_config.rng_seed(Some(subseed(&seed, "quinn")));

        let runtime = Arc::new(quinn::TokioRuntime);
        let endpoint = match socket {
            Socket::Udp(s) => Endpoint::new(endpoint_config, Some(server), s, runtime),
            Socket::Abstract(s) => {
                Endpoint::new_with_abstract_socket(endpoint_config, Some(server), s, runtime)
            }
        }
        .map_err(|e| TransportError::Setup(format!("endpoint: {e}")))?;

        let (c_tx, c_rx) = mpsc::unbounded_channel();
        let (s_tx, s_rx) = mpsc::unbounded_channel();
        let (l_tx, l_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            me,
            config,
            seed,
            endpoint,
            client_config,
            access,
            peers: Mutex::new(BTreeMap::new()),
            inbox: [c_tx, s_tx, l_tx],
            counters: Counters::default(),
            shutdown: watch::Sender::new(false),
            stopped: std::sync::atomic::AtomicBool::new(false),
            clock: CoarseClock::new(Instant::now()),
        });
        let inbox = Inbox {
            rx: [c_rx, s_rx, l_rx],
            current: Default::default(),
            stop: shared.shutdown.subscribe(),
        };
        let network = Self {
            handle: Arc::new(Handle(shared.clone())),
        };
        network.set_peers(peers);
        tokio::spawn(tick_clock(shared.clone()));
        tokio::spawn(accept_loop(shared));
        Ok((network, inbox))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.0
    }

    /// Our validator key.
    pub fn public_key(&self) -> PublicKey {
        self.shared().me
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.shared()
            .endpoint
            .local_addr()
            .map_err(|e| TransportError::Setup(e.to_string()))
    }

    /// Replaces the registry (at an epoch change): new peers are dialed, departed peers are
    /// disconnected and their queues dropped, addresses are updated.
    pub fn set_peers(&self, book: PeerBook) {
        let shared = self.shared();
        shared.access.set_known(book.keys().copied());
        let mut peers = shared.peers();
        peers.retain(|key, peer| {
            let keep = book.contains_key(key);
            if !keep {
                peer.removed.send_replace(true);
                peer.queues.clear();
                if let Some(conn) = peer.connection() {
                    conn.close(CODE_REMOVED, b"removed");
                }
            }
            keep
        });
        for (key, addr) in book {
            if key == shared.me {
                continue;
            }
            if let Some(peer) = peers.get(&key) {
                peer.set_addr(addr);
                continue;
            }
            let peer = Arc::new(Peer::new(key, addr, &shared.config));
            peers.insert(key, peer.clone());
            tokio::spawn(supervise(shared.clone(), peer));
        }
    }

    fn registered(&self, key: &PublicKey) -> Result<Arc<Peer>, TransportError> {
        self.with_registered(key, Arc::clone)
    }

    /// Runs `f` on the peer `key` under the registry lock, after the checks of every send:
    /// running, registered, not blocked (T-7.1). For the per-frame paths, which then need
    /// no reference count of their own on the peer.
    fn with_registered<R>(
        &self,
        key: &PublicKey,
        f: impl FnOnce(&Arc<Peer>) -> R,
    ) -> Result<R, TransportError> {
        let shared = self.shared();
        if shared.is_stopped() {
            return Err(TransportError::Shutdown);
        }
        // Lock order: registry, then the peer's queues or the block list.
        let peers = shared.peers();
        let peer = peers
            .get(key)
            .ok_or_else(|| TransportError::UnknownPeer(Box::new(*key)))?;
        if shared.access.blocked_until(key).is_some() {
            return Err(TransportError::Blocked(Box::new(*key)));
        }
        Ok(f(peer))
    }

    /// Like [`Sender::send`], but waits for room in the queue instead of applying the
    /// class's full-queue policy: backpressure for producers that must not lose frames.
    pub async fn send_wait(
        &self,
        to: &PublicKey,
        class: Class,
        frame: Bytes,
    ) -> Result<(), TransportError> {
        let shared = self.shared();
        check_outgoing(&frame, shared.config.max_frame_bytes)?;
        // Fast path: room in the queue.
        let frame = match self.with_registered(to, |peer| {
            peer.queues.push(class, frame, &shared.clock, true)
        })? {
            Pushed::Queued { .. } => return Ok(()),
            Pushed::Full(frame) => frame,
        };
        // Boxed so that the future of the fast path, which a producer creates per frame,
        // stays small.
        Box::pin(self.wait_for_room(to, class, frame)).await
    }

    /// The slow path of [`Network::send_wait`]: waits until `frame` fits in the queue.
    async fn wait_for_room(
        &self,
        to: &PublicKey,
        class: Class,
        mut frame: Bytes,
    ) -> Result<(), TransportError> {
        let mut stop = self.shared().shutdown.subscribe();
        loop {
            let peer = self.registered(to)?;
            let _waiter = peer.queues.wait_for_space(class);
            let space = peer.queues.space(class).notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match peer.queues.push(class, frame, &self.shared().clock, true) {
                Pushed::Queued { .. } => return Ok(()),
                Pushed::Full(back) => {
                    frame = back;
                    tokio::select! {
                        biased;
                        _ = stop.wait_for(|s| *s) => return Err(TransportError::Shutdown),
                        _ = &mut space => {}
                    }
                }
            }
        }
    }

    /// Like [`Sender::send_many`], but waits for room in the queue instead of applying the
    /// class's full-queue policy, as [`Network::send_wait`] does for one frame. Frames are
    /// queued in order, as many at a time as fit, each time under one lock (T-4.6). An
    /// invalid frame is refused with its error after the frames before it have been queued.
    pub async fn send_many_wait(
        &self,
        to: &PublicKey,
        class: Class,
        mut frames: Vec<Bytes>,
    ) -> Result<(), TransportError> {
        let shared = self.shared();
        let invalid = checked_prefix(&mut frames, shared.config.max_frame_bytes);
        if !frames.is_empty() {
            let mut entries = Entry::burst(frames, shared.config.queue(class));
            self.with_registered(to, |peer| {
                peer.queues
                    .push_many(class, &mut entries, &shared.clock, true)
            })?;
            if !entries.is_empty() {
                Box::pin(self.wait_for_room_many(to, class, entries)).await?;
            }
        }
        invalid.map_or(Ok(()), Err)
    }

    /// The slow path of [`Network::send_many_wait`]: waits until all of `entries` are queued.
    async fn wait_for_room_many(
        &self,
        to: &PublicKey,
        class: Class,
        mut entries: VecDeque<Entry>,
    ) -> Result<(), TransportError> {
        let mut stop = self.shared().shutdown.subscribe();
        while !entries.is_empty() {
            let peer = self.registered(to)?;
            let _waiter = peer.queues.wait_for_space(class);
            let space = peer.queues.space(class).notified();
            tokio::pin!(space);
            space.as_mut().enable();
            let before = entries.len();
            peer.queues
                .push_many(class, &mut entries, &self.shared().clock, true);
            if entries.len() == before {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return Err(TransportError::Shutdown),
                    _ = &mut space => {}
                }
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for a connection to `peer`; whether one is up.
    pub async fn wait_connected(&self, peer: &PublicKey, timeout: Duration) -> bool {
        let Some(peer) = self.shared().peer(peer) else {
            return false;
        };
        let mut live = peer.live.subscribe();
        tokio::time::timeout(
            timeout,
            live.wait_for(|l| l.as_ref().is_some_and(|l| l.conn.close_reason().is_none())),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Peers with a connection up, in key order.
    pub fn connected_peers(&self) -> Vec<PublicKey> {
        self.shared()
            .peers()
            .values()
            .filter(|p| p.connection().is_some())
            .map(|p| p.key)
            .collect()
    }

    /// Lifts a block early.
    pub fn unblock(&self, peer: &PublicKey) {
        self.shared().access.unblock(peer);
    }

    /// Whether `peer` is blocked now.
    pub fn is_blocked(&self, peer: &PublicKey) -> bool {
        self.shared().access.blocked_until(peer).is_some()
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.shared().counters.snapshot()
    }

    /// What is in flight with one peer.
    pub fn peer_stats(&self, key: &PublicKey) -> Option<PeerStats> {
        let shared = self.shared();
        let peer = shared.peer(key)?;
        let mut stats = PeerStats {
            connected: peer.connection().is_some(),
            initiator: peer.live.borrow().as_ref().map(|l| l.initiator),
            inbox_frames: peer.inbox.used().0,
            inbox_kib: peer.inbox.used().1,
            ..PeerStats::default()
        };
        for class in Class::ALL {
            let (frames, bytes) = peer.queues.depth(class);
            stats.queued_frames[class.index()] = frames;
            stats.queued_bytes[class.index()] = bytes;
        }
        Some(stats)
    }

    /// Closes every connection and the endpoint, and waits (at most a second) for the close
    /// to reach the peers. Idempotent; later sends fail with [`TransportError::Shutdown`].
    pub async fn shutdown(&self) {
        let shared = self.shared();
        shared.stop();
        let _ = tokio::time::timeout(Duration::from_secs(1), shared.endpoint.wait_idle()).await;
    }
}

impl Sender for Network {
    fn send(&self, to: &PublicKey, class: Class, frame: Bytes) -> Result<(), TransportError> {
        let shared = self.shared();
        check_outgoing(&frame, shared.config.max_frame_bytes)?;
        match self.with_registered(to, |peer| {
            peer.queues.push(class, frame, &shared.clock, false)
        })? {
            Pushed::Queued { dropped } => {
                Counters::add(&shared.counters.dropped_oldest, dropped as u64);
                Ok(())
            }
            Pushed::Full(_) => {
                Counters::add(&shared.counters.refused_full, 1);
                Err(TransportError::QueueFull {
                    peer: Box::new(*to),
                    class,
                })
            }
        }
    }

    fn send_many(
        &self,
        to: &PublicKey,
        class: Class,
        mut frames: Vec<Bytes>,
    ) -> Result<(), TransportError> {
        let shared = self.shared();
        let invalid = checked_prefix(&mut frames, shared.config.max_frame_bytes);
        if !frames.is_empty() {
            let mut entries = Entry::burst(frames, shared.config.queue(class));
            let pushed = self.with_registered(to, |peer| {
                peer.queues
                    .push_many(class, &mut entries, &shared.clock, false)
            })?;
            Counters::add(&shared.counters.dropped_oldest, pushed.dropped as u64);
            if !entries.is_empty() {
                let refused: usize = entries.iter().map(Entry::frames).sum();
                Counters::add(&shared.counters.refused_full, refused as u64);
                return Err(TransportError::QueueFull {
                    peer: Box::new(*to),
                    class,
                });
            }
        }
        invalid.map_or(Ok(()), Err)
    }

    fn broadcast(&self, class: Class, frame: Bytes) -> Result<usize, TransportError> {
        let shared = self.shared();
        check_outgoing(&frame, shared.config.max_frame_bytes)?;
        let keys: Vec<PublicKey> = shared.peers().keys().copied().collect();
        Ok(keys
            .iter()
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
        let shared = self.shared().clone();
        check_outgoing(&frame, shared.config.max_frame_bytes)?;
        let peer = self.registered(to)?;
        let work = async {
            let mut live = peer.live.subscribe();
            let conn = live
                .wait_for(|l| l.as_ref().is_some_and(|l| l.conn.close_reason().is_none()))
                .await
                .map_err(|_| TransportError::Shutdown)?
                .as_ref()
                .map(|l| l.conn.clone())
                .ok_or(TransportError::Shutdown)?;
            request_on(&shared, &peer, &conn, class, frame).await
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

impl Blocker for Network {
    fn block(&self, peer: &PublicKey, reason: BlockReason) {
        self.shared().block_peer(peer, reason);
    }
}

impl Receiver for Inbox {
    async fn recv(&mut self) -> Option<Inbound> {
        // Whatever is already here, by priority (T-3.3), without building a select.
        for class in Class::ALL {
            if let Some(inbound) = self.buffered(class.index()) {
                return Some(inbound);
            }
        }
        loop {
            let [consensus, sync, lanes] = &mut self.rx;
            // `biased`: consensus before sync before lanes (T-3.3), and a fixed branch order
            // so simulations replay without `--cfg tokio_unstable`.
            let (class, delivery) = tokio::select! {
                biased;
                Some(d) = consensus.recv() => (Class::Consensus, d),
                Some(d) = sync.recv() => (Class::Sync, d),
                Some(d) = lanes.recv() => (Class::Lanes, d),
                _ = self.stop.wait_for(|s| *s) => return None,
                else => return None,
            };
            // Batches are never empty, so this returns at once.
            if let Some(inbound) = self.start(class.index(), delivery) {
                return Some(inbound);
            }
        }
    }
}

/// Cuts `frames` before the first one that breaks T-2.2/T-2.3 for sending, and returns that
/// one's error: a batch send queues what is left, then returns the error.
fn checked_prefix(frames: &mut Vec<Bytes>, max: usize) -> Option<TransportError> {
    let (i, error) = frames
        .iter()
        .enumerate()
        .find_map(|(i, frame)| check_outgoing(frame, max).err().map(|e| (i, e)))?;
    frames.truncate(i);
    Some(error)
}

/// Advances the clock that stamps queued frames every [`QUEUE_CLOCK_TICK`] (T-4.2), until
/// shutdown.
async fn tick_clock(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut tick = tokio::time::interval(QUEUE_CLOCK_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => shared.clock.tick(Instant::now()),
        }
    }
}

/// Accepts inbound connections; the TLS verifier has already refused unknown and blocked
/// keys (T-1.3) by the time a handshake completes.
async fn accept_loop(shared: Arc<Shared>) {
    let handshakes = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    let mut stop = shared.shutdown.subscribe();
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            i = shared.endpoint.accept() => i,
        };
        let Some(incoming) = incoming else {
            return;
        };
        // T-6.5: a bounded number of handshakes in progress.
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(conn)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await else {
                return;
            };
            let Some(peer) = peer_key(&conn).and_then(|key| shared.peer(&key)) else {
                conn.close(CODE_REMOVED, b"unknown");
                return;
            };
            install(&shared, &peer, conn, peer.key);
        });
    }
}
