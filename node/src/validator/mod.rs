//! One validator: consensus + execution + transport, as a library the binary and the
//! simulations share.
//!
//! The same event loop (`runner.rs`) runs everywhere: it owns the deterministic core, the
//! executor and the timers, reads the time from a [`Clock`] and waits on tokio (for an event or
//! its next timer). What differs is where it runs and what it stores to:
//! - production ([`Validator::start`]): a dedicated thread (a current-thread runtime, never the
//!   async threads: execution is CPU-bound), the [`SystemClock`], and one sled database under
//!   the data directory holding safety data and voted blocks ([`SledSafetyStore`]), state
//!   ([`SledStore`]), committed blocks (the [`Ledger`]) and the [`ChainIndex`] the RPC reads;
//! - simulation ([`start_simulated`]): inline on the caller's task (a turmoil host is
//!   single-threaded), any [`Clock`] (virtual time), any [`StateStore`] and [`SafetyStore`]
//!   (in memory, with crash semantics) and any [`LedgerStore`], no index.
//!
//! In both, a tokio task reads the transport's inbox and feeds the loop over a channel.
//! [`ShardHandle`] is what other components (the RPC gateway) hold on a running production
//! validator: read handles on its committed state and index, and its mempool through the loop.

pub mod adversary;
pub mod clock;
mod pull;
mod runner;

use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use alloy_primitives::B256;
use anyhow::{Context, anyhow};
use bytes::Bytes;
use shardnet_consensus::{
    Config as ConsensusConfig, Core, Recovery, SafetyStore, SledSafetyStore, genesis_block,
};
use shardnet_exec::lanes::pull::Puller;
use shardnet_exec::{ShardApp, ShardConfig, SledStore, StateStore};
use shardnet_protocol::{Genesis, SecretKey, ShardId, ValidatorIndex};
use shardnet_transport::{Config as TransportConfig, Network, PeerBook, Socket};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::Instrument;

pub use adversary::{Adversary, Outgoing};
pub use clock::{Clock, SystemClock, TokioClock};
pub use pull::RelayConfig;
pub use runner::{CommitHook, LedgerStore, SubmitReply};

use crate::index::{ChainIndex, Indexing};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxStore};
use runner::{Event, Runner, pump};

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
    /// The leader of the current round, by committee index.
    pub leader: u16,
    /// Transactions committed since start.
    pub committed_txs: u64,
    /// Set if the validator stopped on a fatal error.
    pub fatal: Option<String>,
}

/// A running validator.
#[derive(Debug)]
pub struct Validator {
    handle: ShardHandle,
    thread: Option<JoinHandle<()>>,
    net: Network,
}

/// How long a caller waits for the event loop to answer a submission or a query.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A running validator as the RPC sees it: its committed state, chain index and ledger (sled
/// handles on the same database, read without involving the event loop), its status, and its
/// mempool (through the event loop). Cheap to clone; every method may block briefly.
#[derive(Clone, Debug)]
pub struct ShardHandle {
    config: ShardConfig,
    store: SledStore,
    index: ChainIndex,
    ledger: Ledger,
    control: Control<SledStore>,
}

impl ShardHandle {
    /// The shard's execution parameters.
    pub fn config(&self) -> &ShardConfig {
        &self.config
    }

    /// The committed state (read-only use: the event loop is the only writer).
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
        self.control.status()
    }

    /// Submits a signed transaction to the validator's mempool; the error is the mempool's
    /// reason for refusing it.
    pub fn submit(&self, raw: Bytes) -> Result<(), String> {
        let (reply, answer) = mpsc::channel();
        self.control.submit(
            raw,
            Box::new(move |r| {
                let _ = reply.send(r);
            }),
        )?;
        answer
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| "validator did not answer".to_string())?
    }

    /// Runs `f` on the event loop with the app (between two consensus steps) and returns its
    /// answer. For short reads only (the mempool): consensus waits while it runs.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ShardApp<SledStore>) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = mpsc::channel();
        self.control
            .events
            .send(Event::Query(Box::new(move |app| {
                let _ = reply.send(f(app));
            })))
            .map_err(|_| "validator stopped".to_string())?;
        answer
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| "validator did not answer".to_string())
    }
}

/// A handle on a running event loop, whatever its storage: submissions and status. Never
/// blocks. Holds no storage, so a simulated crash (dropping the loop) frees everything.
#[derive(Debug)]
pub struct Control<S> {
    events: UnboundedSender<Event<S>>,
    status: Arc<Mutex<Status>>,
    metrics: Arc<Metrics>,
}

impl<S> Clone for Control<S> {
    fn clone(&self) -> Self {
        Self {
            events: self.events.clone(),
            status: Arc::clone(&self.status),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

impl<S> Control<S> {
    /// The validator's Prometheus metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Hands a signed transaction to the mempool; `reply` gets the verdict (on the loop).
    /// Fails only if the validator has stopped.
    pub fn submit(&self, raw: Bytes, reply: SubmitReply) -> Result<(), String> {
        self.events
            .send(Event::Submit { raw, reply })
            .map_err(|_| "validator stopped".to_string())
    }

    /// The validator's latest status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks the event loop to stop.
    pub fn shutdown(&self) {
        let _ = self.events.send(Event::Shutdown);
    }

    /// Whether the event loop is gone (stopped, failed, or crashed with its host).
    pub fn is_stopped(&self) -> bool {
        self.events.is_closed()
    }
}

/// What a validator is assembled from, whatever its storage and socket.
pub struct Parts<S: StateStore, F: SafetyStore> {
    /// Its signing key (must be in the genesis).
    pub key: SecretKey,
    /// The network's genesis.
    pub genesis: Genesis,
    /// Consensus tunables.
    pub consensus: ConsensusConfig,
    /// Execution state (resumed from whatever it holds).
    pub state: S,
    /// Safety data and voted blocks.
    pub safety: F,
    /// Committed blocks.
    pub ledger: Box<dyn LedgerStore>,
    /// Committed outbound segments until certified delivered (CS-14, CS-16).
    pub outbox: Box<dyn OutboxStore>,
    /// The RPC's chain index, if kept.
    pub index: Option<ChainIndex>,
    /// The transport's socket.
    pub socket: Socket,
    /// Peers and their addresses; `None` takes every other validator's genesis address.
    pub peers: Option<PeerBook>,
    /// Transport settings (a simulation fixes the seeds: T-6.4, T-9.2).
    pub transport: TransportConfig,
    /// Called after every commit.
    pub on_commit: Option<CommitHook>,
    /// Execution parameters that differ from [`ShardConfig::new`]'s defaults. They are
    /// protocol parameters: every validator of a network must use the same.
    pub execution: ExecutionOverrides,
    /// A deliberately faulty validator (simulations only; `None` is honest).
    pub adversary: Option<Box<dyn Adversary>>,
    /// Relay settings (CS-16).
    pub relay: RelayConfig,
}

/// Execution parameters a network may set differently from the defaults (all `None`: the
/// defaults of [`ShardConfig::new`]).
#[derive(Clone, Debug, Default)]
pub struct ExecutionOverrides {
    /// The inbound cross-shard gas budget per block (CS-9).
    pub inbound_budget: Option<shardnet_exec::lanes::inbox::Budget>,
    /// Lane credits and the congestion threshold (CS-15).
    pub congestion: Option<shardnet_exec::lanes::congestion::Congestion>,
}

impl<S: StateStore, F: SafetyStore> std::fmt::Debug for Parts<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("key", &self.key.public_key())
            .finish_non_exhaustive()
    }
}

/// An assembled validator, not yet running.
struct Assembled<S: StateStore, F: SafetyStore> {
    runner: Runner<S, F>,
    rx: UnboundedReceiver<Event<S>>,
    control: Control<S>,
    config: ShardConfig,
}

/// Opens the state, recovers consensus, starts the transport and its pump on `rt`.
fn assemble<S: StateStore + Send + 'static, F: SafetyStore>(
    parts: Parts<S, F>,
    rt: &tokio::runtime::Handle,
) -> anyhow::Result<Assembled<S, F>> {
    let me = parts.key.public_key();
    let committees = parts.genesis.committees().context("genesis committees")?;
    let (shard, epoch, index) = committees
        .locate(&me)
        .ok_or_else(|| anyhow!("key {me} is not a validator of this genesis"))?;
    let committee = committees
        .get(shard, epoch)
        .cloned()
        .ok_or_else(|| anyhow!("no committee"))?;

    let mut shard_cfg = ShardConfig::new(parts.genesis.chain_id.0, shard, parts.genesis.shard_map);
    shard_cfg.initial_base_fee = 1_000_000_000;
    // Every committee, to check inbound lane segments offline (CS-8).
    shard_cfg.committees = Arc::new(committees.clone());
    if let Some(b) = parts.execution.inbound_budget {
        shard_cfg.inbound_budget = b;
    }
    if let Some(c) = parts.execution.congestion {
        shard_cfg.congestion = c;
    }
    let config = shard_cfg.clone();
    let accounts: Vec<_> = parts
        .genesis
        .accounts
        .iter()
        .map(|a| (a.address, a.balance))
        .collect();
    let (mut app, commitment) = ShardApp::open(shard_cfg, parts.state, &accounts)?;
    let genesis = Arc::new(genesis_block(
        &committee,
        parts.genesis.timestamp_ms,
        commitment,
    ));
    app.set_genesis_hash(genesis.hash());
    if let Some(index) = &parts.index {
        index.record_genesis(&genesis, config.initial_base_fee, config.block_gas_limit)?;
    }
    let mut ledger = parts.ledger;
    let mut outbox = parts.outbox;
    let committed = ledger.last(parts.consensus.retained_committed)?;
    // A crash between a block's ledger entry and its state flush leaves the state behind the
    // ledger (the ledger is written first: `Indexing::commit`): execute what it lacks.
    let applied = app.head().height;
    for c in committed
        .iter()
        .filter(|c| c.block.header.height.0 > applied)
    {
        let mut replay = Indexing {
            app: &mut app,
            index: parts.index.as_ref(),
            outbox: outbox.as_mut(),
            ledger: ledger.as_mut(),
            failed: None,
        };
        shardnet_consensus::Application::commit(&mut replay, c);
        if let Some(e) = replay.failed {
            return Err(anyhow!(
                "replaying block {} from the ledger: {e}",
                c.block.header.height.0
            ));
        }
        if let Some(fatal) = app.fatal() {
            return Err(anyhow!(
                "replaying block {} from the ledger: {fatal}",
                c.block.header.height.0
            ));
        }
        tracing::info!(
            height = c.block.header.height.0,
            "replayed a committed block the state lacked"
        );
    }
    let recovery = Recovery {
        genesis,
        safety: parts.safety.load()?,
        committed,
        blocks: parts.safety.load_blocks()?,
    };
    let core = Core::new(
        parts.consensus,
        committee.clone(),
        Some((index, parts.key.clone())),
        recovery,
    );

    // Peers: this shard's committee for consensus, every other shard's for the relay.
    let book: PeerBook = match parts.peers {
        Some(book) => book,
        None => committees
            .iter()
            .flat_map(|c| c.members().iter())
            .filter(|m| m.public_key != me)
            .map(|m| (m.public_key, m.network_address.parse().ok()))
            .collect(),
    };
    let (net, inbox) = {
        let _guard = rt.enter();
        Network::start(&parts.key, book, parts.socket, parts.transport)?
    };
    let (events, rx) = unbounded_channel();
    let status = Arc::new(Mutex::new(Status {
        shard,
        index,
        ..Status::default()
    }));
    rt.spawn(pump(inbox, net.clone(), committee.clone(), events.clone()));
    let metrics = Arc::new(Metrics::new(shard.0, index.0));
    let runner = Runner {
        core,
        app,
        safety: parts.safety,
        ledger,
        outbox,
        last_repush_ms: 0,
        logged_round: shardnet_protocol::Round(0),
        puller: Puller::new(usize::from(index.0)),
        pulls_served: Default::default(),
        relay: parts.relay,
        events: events.downgrade(),
        last_report_ms: std::collections::BTreeMap::new(),
        metrics: Arc::clone(&metrics),
        index: parts.index,
        net,
        committee,
        committees,
        status: Arc::clone(&status),
        on_commit: parts.on_commit,
        adversary: parts.adversary,
    };
    Ok(Assembled {
        runner,
        rx,
        control: Control {
            events,
            status,
            metrics,
        },
        config,
    })
}

/// Records a fatal error in the status.
fn record_fatal(status: &Mutex<Status>, e: &anyhow::Error) {
    if let Ok(mut s) = status.lock() {
        s.fatal = Some(format!("{e:#}"));
    }
}

/// Assembles a validator for a simulation, inside the current tokio runtime (a turmoil
/// host): returns its [`Control`] and the event loop, which the caller awaits inline. The loop
/// ends on [`Control::shutdown`] or a fatal error (also recorded in the status); a simulated
/// crash simply drops it.
pub fn start_simulated<S, F>(
    parts: Parts<S, F>,
    clock: impl Clock,
) -> anyhow::Result<(Control<S>, impl Future<Output = anyhow::Result<()>>)>
where
    S: StateStore + Send + 'static,
    F: SafetyStore,
{
    let Assembled {
        mut runner,
        mut rx,
        control,
        ..
    } = assemble(parts, &tokio::runtime::Handle::current())?;
    let status = Arc::clone(&control.status);
    let span = runner.span();
    let run = async move {
        let result = runner.run(&mut rx, &clock).instrument(span).await;
        if let Err(e) = &result {
            record_fatal(&status, e);
        }
        result
    };
    Ok((control, run))
}

/// The address a validator binds: its genesis address.
fn genesis_address(genesis: &Genesis, key: &SecretKey) -> anyhow::Result<std::net::SocketAddr> {
    let me = key.public_key();
    genesis
        .validators
        .iter()
        .find(|v| v.public_key == me)
        .and_then(|v| v.address.parse().ok())
        .ok_or_else(|| anyhow!("genesis has no valid address for this validator"))
}

impl Validator {
    /// Opens the data directory (resuming whatever is there), starts the transport on `rt`
    /// and the event loop on its own thread.
    pub fn start(cfg: ValidatorConfig, rt: &tokio::runtime::Handle) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let db = sled::open(cfg.data_dir.join("db")).context("opening the database")?;
        let store = SledStore::from_db(db.clone())?;
        let ledger = Ledger::open(&db)?;
        let chain_index = ChainIndex::open(&db)?;
        let outbox = Outbox::open(&db)?;
        let socket = match cfg.socket {
            Some(s) => Socket::Udp(s),
            None => Socket::bind(genesis_address(&cfg.genesis, &cfg.key)?)?,
        };
        let Assembled {
            mut runner,
            mut rx,
            control,
            config,
        } = assemble(
            Parts {
                key: cfg.key,
                genesis: cfg.genesis,
                consensus: cfg.consensus,
                state: store.clone(),
                safety: SledSafetyStore::open(&db)?,
                ledger: Box::new(ledger.clone()),
                outbox: Box::new(outbox),
                index: Some(chain_index.clone()),
                socket,
                peers: None,
                transport: TransportConfig::default(),
                on_commit: None,
                execution: ExecutionOverrides::default(),
                adversary: None,
                relay: RelayConfig::default(),
            },
            rt,
        )?;
        let net = runner.net.clone();
        let status = control.status();
        let loop_status = Arc::clone(&control.status);
        let thread = std::thread::Builder::new()
            .name(format!("validator-{}-{}", status.shard, status.index))
            .spawn(move || {
                // The loop only needs tokio to wait; its work stays on this thread.
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|local| {
                        let span = runner.span();
                        local.block_on(runner.run(&mut rx, &SystemClock).instrument(span))
                    });
                if let Err(e) = result {
                    tracing::error!(error = %format!("{e:#}"), "validator stopped");
                    record_fatal(&loop_status, &e);
                }
            })?;
        Ok(Self {
            handle: ShardHandle {
                config,
                store,
                index: chain_index,
                ledger,
                control,
            },
            thread: Some(thread),
            net,
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
        self.handle.control.metrics()
    }

    /// What the RPC holds on this validator.
    pub fn handle(&self) -> ShardHandle {
        self.handle.clone()
    }

    /// Stops the event loop (flushing the database) and the transport.
    pub async fn shutdown(mut self) {
        self.handle.control.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.net.shutdown().await;
    }
}
