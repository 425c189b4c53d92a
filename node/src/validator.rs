//! One validator: consensus + execution + transport, as a library the binary and the
//! simulations share.
//!
//! The deterministic core and the executor run on a dedicated thread (never on the async
//! threads: execution is CPU-bound); a tokio task reads the transport's inbox and feeds the
//! thread over a channel. The thread owns the clock (wall time, milliseconds since the Unix
//! epoch) and the timers the core asks for, and it persists through the storage traits:
//! safety data and voted blocks in [`SledSafetyStore`], state in [`SledStore`], committed
//! blocks in the [`Ledger`], all in one sled database under the data directory, beside the
//! [`ChainIndex`] the RPC reads (written at commit, `crate::index`).
//!
//! [`ShardHandle`] is what other components (the RPC gateway) hold on a running validator:
//! read handles on its committed state and index, and its mempool through the core thread.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use anyhow::{Context, anyhow};
use bytes::Bytes;
use shardnet_consensus::{
    Config as ConsensusConfig, ConsensusMessage, Core, Input, Output, Recovery, SafetyStore,
    SledSafetyStore, TimerId, drive, genesis_block,
};
use shardnet_exec::{ShardApp, ShardConfig, SledStore};

use crate::index::{ChainIndex, Indexing};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use shardnet_protocol::{
    Committee, Committees, Genesis, LaneSegment, PublicKey, SecretKey, ShardId, ValidatorIndex,
    decode, encode,
};
use shardnet_transport::{
    BlockReason, Blocker, Class, Config as TransportConfig, Inbound, Network, PeerBook, Receiver,
    Sender, Socket,
};

/// What a validator is built from.
#[derive(Debug)]
pub struct ValidatorConfig {
    /// Its signing key (must be in the genesis).
    pub key: SecretKey,
    /// The network's genesis.
    pub genesis: Genesis,
    /// Where its sled database lives.
    pub data_dir: PathBuf,
    /// An already bound socket (the devnet binds first to learn free ports); `None` binds the
    /// genesis address.
    pub socket: Option<std::net::UdpSocket>,
    /// Consensus tunables.
    pub consensus: ConsensusConfig,
}

/// A snapshot of a validator's progress, for status lines and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Its shard.
    pub shard: ShardId,
    /// Its committee index.
    pub index: ValidatorIndex,
    /// Committed height.
    pub height: u64,
    /// Hash of the committed head.
    pub head: B256,
    /// State root after it.
    pub state_root: B256,
    /// Current consensus round.
    pub round: u64,
    /// Transactions committed since start.
    pub committed_txs: u64,
    /// Set if the validator stopped on a fatal error.
    pub fatal: Option<String>,
}

/// A read of the app run on the core thread.
type AppQuery = Box<dyn FnOnce(&ShardApp<SledStore>) + Send>;

enum Event {
    Message {
        from: ValidatorIndex,
        message: ConsensusMessage,
    },
    Submit {
        raw: Bytes,
        reply: mpsc::Sender<Result<(), String>>,
    },
    /// Runs on the core thread with the app (mempool reads for the RPC); the closure replies.
    Query(AppQuery),
    /// A lane segment relayed by a validator of another shard (CS-16).
    Segment {
        from: Arc<PublicKey>,
        segment: Box<LaneSegment>,
    },
    Shutdown,
}

/// A running validator.
#[derive(Debug)]
pub struct Validator {
    handle: ShardHandle,
    thread: Option<JoinHandle<()>>,
    net: Network,
    metrics: Arc<Metrics>,
}

/// How long a caller waits for the core thread to answer a submission or a query.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running validator as the RPC sees it: its committed state, chain index and ledger (sled
/// handles on the same database, read without involving the core thread), its status, and its
/// mempool (through the core thread). Cheap to clone; every method may block briefly.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    config: ShardConfig,
    store: SledStore,
    index: ChainIndex,
    ledger: Ledger,
    status: Arc<Mutex<Status>>,
    events: mpsc::Sender<Event>,
}

impl ShardHandle {
    /// The shard's execution parameters.
    pub fn config(&self) -> &ShardConfig {
        &self.config
    }

    /// The committed state (read-only use: the core thread is the only writer).
    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// The chain index.
    pub fn index(&self) -> &ChainIndex {
        &self.index
    }

    /// Committed blocks with their finality proofs.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The validator's latest status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Submits a signed transaction to the validator's mempool; the error is the mempool's
    /// reason for refusing it.
    pub fn submit(&self, raw: Bytes) -> Result<(), String> {
        let (reply, answer) = mpsc::channel();
        self.events
            .send(Event::Submit { raw, reply })
            .map_err(|_| "validator stopped".to_string())?;
        answer
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| "validator did not answer".to_string())?
    }

    /// Runs `f` on the core thread with the app (between two consensus steps) and returns its
    /// answer. For short reads only (the mempool): consensus waits while it runs.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ShardApp<SledStore>) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = mpsc::channel();
        self.events
            .send(Event::Query(Box::new(move |app| {
                let _ = reply.send(f(app));
            })))
            .map_err(|_| "validator stopped".to_string())?;
        answer
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| "validator did not answer".to_string())
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message { from, message } => write!(f, "message {} from {from}", message.kind()),
            Self::Submit { .. } => write!(f, "submit"),
            Self::Query(_) => write!(f, "query"),
            Self::Segment { from, .. } => write!(f, "lane segment from {from}"),
            Self::Shutdown => write!(f, "shutdown"),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn class(message: &ConsensusMessage) -> Class {
    match message {
        ConsensusMessage::Proposal(_)
        | ConsensusMessage::Vote(_)
        | ConsensusMessage::Timeout(..) => Class::Consensus,
        _ => Class::Sync,
    }
}

impl Validator {
    /// Opens the data directory (resuming whatever is there), starts the transport on `rt`
    /// and the core thread.
    pub fn start(cfg: ValidatorConfig, rt: &tokio::runtime::Handle) -> anyhow::Result<Self> {
        let me = cfg.key.public_key();
        let committees = cfg.genesis.committees().context("genesis committees")?;
        let (shard, epoch, index) = committees
            .locate(&me)
            .ok_or_else(|| anyhow!("key {me} is not a validator of this genesis"))?;
        let committee = committees
            .get(shard, epoch)
            .cloned()
            .ok_or_else(|| anyhow!("no committee"))?;

        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let db = sled::open(cfg.data_dir.join("db")).context("opening the database")?;
        let store = SledStore::from_db(db.clone())?;
        let safety = SledSafetyStore::open(&db)?;
        let ledger = Ledger::open(&db)?;
        let chain_index = ChainIndex::open(&db)?;
        let outbox = Outbox::open(&db)?;

        let mut shard_cfg = ShardConfig::new(cfg.genesis.chain_id.0, shard, cfg.genesis.shard_map);
        shard_cfg.initial_base_fee = 1_000_000_000;
        // Every committee, to check inbound lane segments offline (CS-8).
        shard_cfg.committees = Arc::new(committees.clone());
        let config = shard_cfg.clone();
        let accounts: Vec<_> = cfg
            .genesis
            .accounts
            .iter()
            .map(|a| (a.address, a.balance))
            .collect();
        let (mut app, commitment) = ShardApp::open(shard_cfg, store.clone(), &accounts)?;
        let genesis = Arc::new(genesis_block(
            &committee,
            cfg.genesis.timestamp_ms,
            commitment,
        ));
        app.set_genesis_hash(genesis.hash());
        chain_index.record_genesis(&genesis, config.initial_base_fee, config.block_gas_limit)?;
        let recovery = Recovery {
            genesis,
            safety: safety.load()?,
            committed: ledger.last(cfg.consensus.retained_committed)?,
            blocks: safety.load_blocks()?,
        };
        let core = Core::new(
            cfg.consensus,
            committee.clone(),
            Some((index, cfg.key.clone())),
            recovery,
        );

        let socket = match cfg.socket {
            Some(s) => Socket::Udp(s),
            None => {
                let addr = committee
                    .member(index)
                    .and_then(|m| m.network_address.parse().ok())
                    .ok_or_else(|| anyhow!("genesis has no valid address for this validator"))?;
                Socket::bind(addr)?
            }
        };
        // Peers: this shard's committee for consensus, every other shard's for the relay.
        let book: PeerBook = committees
            .iter()
            .flat_map(|c| c.members().iter())
            .filter(|m| m.public_key != me)
            .map(|m| (m.public_key, m.network_address.parse().ok()))
            .collect();
        let (net, mut inbox) = {
            let _guard = rt.enter();
            Network::start(&cfg.key, book, socket, TransportConfig::default())?
        };

        let (events, rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(Status {
            shard,
            index,
            ..Status::default()
        }));

        // Network → core thread. Undecodable frames get their sender blocked (T-7.1).
        let tx = events.clone();
        let pump_committee = committee.clone();
        let pump_net = net.clone();
        rt.spawn(async move {
            while let Some(inbound) = inbox.recv().await {
                let Inbound::Message { from, frame, class } = inbound else {
                    continue;
                };
                if class == Class::Lanes {
                    // Checked offline on the core thread (CS-8); who relayed does not matter.
                    let Ok(segment) = decode::<LaneSegment>(&frame) else {
                        pump_net.block(&from, BlockReason::InvalidMessage);
                        continue;
                    };
                    let event = Event::Segment {
                        from,
                        segment: Box::new(segment),
                    };
                    if tx.send(event).is_err() {
                        break;
                    }
                    continue;
                }
                let Some(index) = pump_committee.index_of(&from) else {
                    continue;
                };
                let Ok(message) = decode::<ConsensusMessage>(&frame) else {
                    pump_net.block(&from, BlockReason::InvalidMessage);
                    continue;
                };
                if tx
                    .send(Event::Message {
                        from: index,
                        message,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });

        let handle = ShardHandle {
            config,
            store,
            index: chain_index.clone(),
            ledger: ledger.clone(),
            status: Arc::clone(&status),
            events,
        };
        let thread_status = Arc::clone(&status);
        let metrics = Arc::new(Metrics::new(shard.0, index.0));
        let thread_metrics = Arc::clone(&metrics);
        let thread_net = net.clone();
        let thread = std::thread::Builder::new()
            .name(format!("validator-{shard}-{index}"))
            .spawn(move || {
                let mut run = Runner {
                    core,
                    app,
                    safety,
                    ledger,
                    index: chain_index,
                    net: thread_net,
                    committee,
                    committees,
                    outbox,
                    last_repush_ms: 0,
                    metrics: thread_metrics,
                    last_report_ms: std::collections::BTreeMap::new(),
                    status: thread_status,
                };
                if let Err(e) = run.run(&rx)
                    && let Ok(mut s) = run.status.lock()
                {
                    tracing::error!(error = %format!("{e:#}"), "validator stopped");
                    s.fatal = Some(format!("{e:#}"));
                }
            })?;
        Ok(Self {
            handle,
            thread: Some(thread),
            net,
            metrics,
        })
    }

    /// The latest status.
    pub fn status(&self) -> Status {
        self.handle.status()
    }

    /// Submits a signed transaction to this validator's mempool.
    pub fn submit(&self, raw: Bytes) -> Result<(), String> {
        self.handle.submit(raw)
    }

    /// Its Prometheus metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// What the RPC holds on this validator.
    pub fn handle(&self) -> ShardHandle {
        self.handle.clone()
    }

    /// Stops the core thread (flushing the database) and the transport.
    pub async fn shutdown(mut self) {
        let _ = self.handle.events.send(Event::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.net.shutdown().await;
    }
}

struct Runner {
    core: Core,
    app: ShardApp<SledStore>,
    safety: SledSafetyStore,
    ledger: Ledger,
    index: ChainIndex,
    net: Network,
    committee: Committee,
    committees: Committees,
    /// Committed outbound segments not yet certified delivered (CS-14, CS-16).
    outbox: Outbox,
    last_repush_ms: u64,
    metrics: Arc<Metrics>,
    last_report_ms: std::collections::BTreeMap<ShardId, u64>,
    status: Arc<Mutex<Status>>,
}

/// How often unacknowledged segments are pushed again (CS-16).
const REPUSH_INTERVAL_MS: u64 = 1_000;

impl Runner {
    /// Sends a segment to every validator of the `dests` shards (the transport drops what a
    /// full queue cannot take; the next repush retries).
    fn push(&self, segment: &LaneSegment, dests: &BTreeSet<ShardId>) {
        let frame = Bytes::from(encode(segment));
        for c in self
            .committees
            .iter()
            .filter(|c| dests.contains(&c.shard()))
        {
            for m in c.members() {
                let _ = self.net.send(&m.public_key, Class::Lanes, frame.clone());
            }
        }
    }

    /// Sends the latest committed block's proof to `source` as a watermark report, at most
    /// once per repush interval per shard.
    fn report_to(&mut self, source: ShardId) -> anyhow::Result<()> {
        let now = now_ms();
        let last = self.last_report_ms.entry(source).or_insert(0);
        if now.saturating_sub(*last) < REPUSH_INTERVAL_MS {
            return Ok(());
        }
        *last = now;
        if let Some(c) = self.ledger.last(1)?.pop() {
            let report = LaneSegment {
                proof: c.proof.clone(),
                first_leaf: 0,
                messages: shardnet_protocol::BoundedVec::new(),
                outbox_proof: shardnet_protocol::MultiProof::default(),
            };
            self.push(&report, &[source].into());
        }
        Ok(())
    }

    /// CS-14, CS-16: prunes the outbox up to the destinations' certified watermarks and pushes
    /// the rest again, so a lane drains even if every destination validator missed a push.
    fn repush(&self) -> anyhow::Result<()> {
        let lanes = self.app.lane_status()?;
        self.metrics.set_lane_backlog(
            lanes
                .iter()
                .filter(|l| l.lane.class == shardnet_protocol::LaneClass::Request)
                .map(|l| (l.lane.destination.0, l.backlog))
                .collect(),
        );
        self.metrics
            .set_connected_peers(self.net.connected_peers().len());
        let certified: std::collections::BTreeMap<_, _> =
            lanes.into_iter().map(|l| (l.lane, l.certified)).collect();
        let pending = self
            .outbox
            .prune_and_pending(|lane| certified.get(lane).copied().unwrap_or(0))?;
        for segment in pending {
            if let Some(m) = segment.messages.first() {
                self.push(&segment, &[m.lane.destination].into());
            }
        }
        Ok(())
    }

    fn run(&mut self, rx: &mpsc::Receiver<Event>) -> anyhow::Result<()> {
        let mut timers: BTreeSet<(u64, TimerId)> = BTreeSet::new();
        self.core.start(now_ms());
        loop {
            self.drain(&mut timers)?;
            let now = now_ms();
            let wait = timers
                .first()
                .map_or(Duration::from_millis(500), |(at, _)| {
                    Duration::from_millis(at.saturating_sub(now))
                });
            match rx.recv_timeout(wait) {
                Ok(Event::Message { from, message }) => {
                    self.core.handle(now_ms(), Input::Message { from, message });
                }
                Ok(Event::Submit { raw, reply }) => {
                    let _ = reply.send(
                        self.app
                            .submit(raw.to_vec().into())
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    );
                }
                Ok(Event::Query(f)) => f(&self.app),
                Ok(Event::Segment { from, segment }) => {
                    let source = segment.proof.header.shard;
                    let stale = !segment.messages.is_empty();
                    // A certified segment cannot be forged (CS-8): one that fails the check
                    // comes from a faulty validator.
                    match self.app.add_segment(*segment) {
                        Err(e) => {
                            tracing::warn!(peer = %from, error = %e, "invalid lane segment");
                            self.net.block(&from, BlockReason::InvalidMessage);
                        }
                        // Already executed: the source has not heard our watermark yet (the
                        // report was lost); send it again (CS-15).
                        Ok(false) if stale => self.report_to(source)?,
                        Ok(_) => {}
                    }
                }
                Ok(Event::Shutdown) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = now_ms();
            while timers.first().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, timer)) = timers.pop_first() {
                    if matches!(timer, TimerId::Round(r) if r == self.core.round()) {
                        tracing::debug!(round = self.core.round().0, "round timed out");
                        self.metrics.timed_out();
                    }
                    self.core.handle(now, Input::Timer(timer));
                    self.drain(&mut timers)?;
                }
            }
        }
    }

    /// Runs the core to quiescence: the application and the safety store answer inline, the
    /// rest goes to the network, the timers and the ledger.
    fn drain(&mut self, timers: &mut BTreeSet<(u64, TimerId)>) -> anyhow::Result<()> {
        let me = self.core.index();
        let mut commits = Vec::new();
        let mut sends = Vec::new();
        let mut app = Indexing {
            app: &mut self.app,
            index: &self.index,
            outbox: &self.outbox,
            failed: None,
        };
        drive(
            &mut self.core,
            &mut app,
            &mut self.safety,
            now_ms(),
            |o| match o {
                Output::SetTimer { timer, at_ms } => {
                    timers.insert((at_ms, timer));
                }
                Output::Commit(c) => commits.push(c),
                Output::Send { to, message } => sends.push((Some(to), message)),
                Output::Broadcast(message) => sends.push((None, message)),
                _ => {}
            },
        )?;
        if let Some(e) = app.failed {
            return Err(anyhow!("indexing a committed block: {e}"));
        }
        if let Some(fatal) = self.app.fatal() {
            return Err(anyhow!("execution stopped: {fatal}"));
        }
        for (to, message) in sends {
            let frame = Bytes::from(encode(&message));
            // The consensus protocol tolerates loss: a full queue or a down peer only delays.
            let _ = match to {
                Some(to) if Some(to) != me => match self.committee.member(to) {
                    Some(m) => self
                        .net
                        .send(&m.public_key, class(&message), frame)
                        .map(|()| 1),
                    None => Ok(0),
                },
                Some(_) => Ok(0),
                // Consensus traffic stays within the shard's committee.
                None => Ok(self
                    .committee
                    .members()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| me != Some(ValidatorIndex(*i as u16)))
                    .filter(|(_, m)| {
                        self.net
                            .send(&m.public_key, class(&message), frame.clone())
                            .is_ok()
                    })
                    .count()),
            };
        }
        // CS-16: push the committed blocks' outbound segments to every validator of each
        // destination shard. Duplicates are dropped there; loss only delays (a later relay or
        // the destination's leader picks them up).
        // A report (no messages) goes to every shard that sends here (CS-15).
        for segment in self.app.take_outgoing() {
            let dests: BTreeSet<ShardId> = match segment.messages.first() {
                Some(m) => [m.lane.destination].into(),
                None => segment
                    .proof
                    .header
                    .execution
                    .inbox_watermarks
                    .iter()
                    .map(|w| w.lane.source)
                    .collect(),
            };
            self.push(&segment, &dests);
        }
        let now = now_ms();
        if now.saturating_sub(self.last_repush_ms) >= REPUSH_INTERVAL_MS {
            self.last_repush_ms = now;
            self.repush()?;
        }
        for c in commits {
            self.ledger.append(&c)?;
            let mut s = self
                .status
                .lock()
                .map_err(|_| anyhow!("status lock poisoned"))?;
            s.height = c.block.header.height.0;
            s.head = B256::from(c.block.hash().0.0);
            s.state_root = self.app.head().state_root;
            s.committed_txs += c.block.payload.transactions.len() as u64;
            tracing::info!(
                shard = c.block.header.shard.0,
                height = c.block.header.height.0,
                txs = c.block.payload.transactions.len(),
                segments = c.block.payload.segments.len(),
                "committed"
            );
            self.metrics.committed(
                c.block.header.height.0,
                c.block.payload.transactions.len() as u64,
                now_ms().saturating_sub(c.block.header.timestamp_ms),
            );
        }
        if let Ok(mut s) = self.status.lock() {
            s.round = self.core.round().0;
            self.metrics.set_round(s.round);
        }
        Ok(())
    }
}
