//! Full-stack deterministic simulation: `shards × validators` real [`shardnet_node`]
//! validators (the production event loop, consensus core, revm executor and cross-shard relay)
//! as turmoil hosts, talking real QUIC and TLS through [`SimUdpSocket`], with virtual time,
//! in-memory disks with crash semantics ([`storage`]), a seeded workload of intra- and
//! cross-shard transfers, cross-shard calls (some with a deadline that expires: CS-12) and
//! Solidity contract calls with callbacks ([`workload`]), a seeded fault schedule
//! ([`faults`]) and invariants ([`check`]) after every step and at the end.
//!
//! [`run`] maps a [`Config`] (its seed above all) to an [`Outcome`]: the [`Exit`] class, the
//! trace and its hash, and counters. The same seed replays the same trace, given the same
//! build flags: simulation builds use `RUSTFLAGS="--cfg tokio_unstable"`, with which turmoil
//! also seeds tokio's RNG (that draws from turmoil's RNG, so a seed's trace differs with and
//! without the flag); see `sim-tests/fullstack/tests/fullstack.rs`.
//!
//! Byzantine validators ([`byzantine`]: equivocating proposer, double voter, vote
//! withholding, lane-segment forger) are real validators whose sends are rewritten; twins
//! ([`twins`]) are one key run by two honest validators on two hosts, each reaching its own
//! group of honest validators. Scenarios
//! are TOML data ([`scenario`]; the named ones in `sim-tests/fullstack/scenarios/`), run by
//! `shardnet sim` through [`scenario::FullStack`].
//!
//! Crashes land between two steps (the app flushes inside the commit that applies a block, so
//! `FaultyStore` never holds unflushed batches then), or, armed by a torn-crash fault, inside
//! a host's next commit ([`storage::TornPoint`]): at its ledger entry, or in its state
//! persist (the write lost, leaving the ledger ahead of the state, or landed), or inside its
//! next safety-data persist (the write lost). From that point
//! the dying process writes nothing more ([`storage::DyingSafety`],
//! [`storage::DyingLedger`]). Every honest validator's votes are tapped as they leave
//! ([`tap`]): two votes of one in one round for different blocks fail the run (I-3). The workload also deploys the example
//! contracts on every shard and calls them across shards (`Caller` → `Callee`, some
//! reverting), checking at the end that every contract call ran exactly one callback. Not in
//! the harness (yet): disk faults other than crashes.

pub mod byzantine;
pub mod check;
mod driver;
pub mod faults;
pub mod scenario;
pub mod storage;
pub mod tap;
pub mod twins;
pub mod workload;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use alloy_primitives::{Address, B256, Bytes, U256};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use shardnet_exec::store::hash_address;
use shardnet_exec::{FaultyStore, StateView};
use shardnet_node::devnet::validator_key;
use shardnet_node::validator::{
    Adversary, Control, ExecutionOverrides, Parts, RelayConfig, TokioClock, start_simulated,
};
use shardnet_protocol::{
    ChainId, Genesis, GenesisAccount, GenesisValidator, ShardId, ShardMap, ShardMapScheme, Stake,
};
use shardnet_transport::sim::{FaultCounts, SimFaults, SimUdpSocket};
use shardnet_transport::{Config as TransportConfig, PeerBook, Socket};

use byzantine::{Behaviour, Byzantine};
use driver::Driver;
use faults::{Action, FaultPlan, HostId};
use storage::{Disk, SharedStore};
use twins::{Side, Sides, TwinCounts, TwinLog, TwinTap, key_of};
use workload::{Wallet, below, unit};

/// The simulated epoch: turmoil's wall clock starts here.
pub const EPOCH_SECS: u64 = 1_750_000_000;
/// Every validator's QUIC port.
const PORT: u16 = 9000;
/// Balance of every wallet at genesis: 1,000 ether.
const WALLET_BALANCE_ETH: u64 = 1_000;
/// How often wallets resubmit their uncommitted transactions...
const RESUBMIT_EVERY: Duration = Duration::from_secs(1);
/// ... that were signed at least this long ago (a transfer commits in about three blocks).
const RESUBMIT_AFTER: Duration = Duration::from_secs(3);

/// Everything that determines a run. [`Config::new`] fixes every default from the seed.
#[derive(Clone, Debug)]
pub struct Config {
    /// The only source of randomness.
    pub seed: u64,
    /// The scenario's name, for reports.
    pub name: String,
    /// Shards.
    pub shards: u16,
    /// Stake of each validator, per shard (every shard has `stakes[s].len()` validators).
    pub stakes: Vec<Vec<u64>>,
    /// Wallets homed on each shard.
    pub wallets_per_shard: usize,
    /// Simulated time to run.
    pub duration: Duration,
    /// Faults happen inside this window; everything is healed at its end.
    pub fault_window: (Duration, Duration),
    /// The workload submits transactions until then.
    pub workload_until: Duration,
    /// One transfer every this often.
    pub tx_every: Duration,
    /// Probability that a transfer goes to another shard.
    pub cross_shard: f64,
    /// Share of the cross-shard operations that are calls (half of them with a deadline that
    /// has passed by the time they arrive: CS-12).
    pub calls: f64,
    /// Share of the cross-shard operations that call the example `Caller` contract on the
    /// sender's shard, which calls a `Callee` on another shard (a third of them a reverting
    /// one) and takes the answer in its callback. The contracts are deployed on every shard
    /// at the start when this is positive.
    pub contract_calls: f64,
    /// Faults to inject.
    pub faults: FaultPlan,
    /// turmoil's tick: the resolution of simulated time (timers and deliveries). 2 ms: a
    /// tenth of the largest link latency, and 1.5x the speed of 1 ms (per-tick runtime costs
    /// dominate once the crypto is paid for; `BENCHMARKS.md`).
    pub tick: Duration,
    /// Link latency bounds.
    pub latency: (Duration, Duration),
    /// Largest clock skew of a host, either way, in milliseconds.
    pub max_skew_ms: u64,
    /// Largest clock drift of a host, either way, in parts per million (each incarnation
    /// draws its own).
    pub max_drift_ppm: u64,
    /// Byzantine validators and what they do (under a third of their shard's stake). A
    /// [`Behaviour::Twins`] validator runs on two hosts ([`twins`]).
    pub byzantine: Vec<(HostId, Behaviour)>,
    /// Execution parameters every validator uses (the congestion scenario shrinks them).
    pub execution: ExecutionOverrides,
    /// The run must see mempools refuse transactions to a congested shard (CS-15).
    pub expect_congestion: bool,
    /// Consensus: least time between blocks (C-6); 500 ms as in `shardnet devnet`.
    pub block_interval_ms: u64,
    /// Consensus: round timeout.
    pub base_timeout_ms: u64,
    /// Destinations drop every pushed segment that carries messages, so lanes are delivered by
    /// pulls alone (CS-16; `RelayConfig::ignore_pushed_segments`).
    pub pull_only: bool,
}

impl Config {
    /// The standard configuration: `shards × validators` with seeded stakes in 1..=100, a 2 ms
    /// tick, link latencies of 1–20 ms, clock skews within ±20 ms, 30 s of
    /// simulated time, blocks at least 500 ms apart, faults from 3 s to 15 s (two partitions within shards, one between
    /// shards, two crash-restarts, 1 % datagram loss and duplication), a transfer every 50 ms
    /// until 18 s (a third of them cross-shard), 12 s to settle.
    pub fn new(seed: u64, shards: u16, validators: u16) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x57a4e);
        let stakes = (0..shards)
            .map(|_| (0..validators).map(|_| 1 + rng.next_u64() % 100).collect())
            .collect();
        Self {
            seed,
            name: "fullstack".into(),
            shards,
            stakes,
            wallets_per_shard: 8,
            duration: Duration::from_secs(30),
            fault_window: (Duration::from_secs(3), Duration::from_secs(15)),
            workload_until: Duration::from_secs(18),
            tx_every: Duration::from_millis(50),
            cross_shard: 0.35,
            calls: 0.25,
            contract_calls: 0.15,
            faults: FaultPlan {
                partitions_within: 2,
                partitions_between: 1,
                one_way: 0,
                crashes: 2,
                leader_crashes: 0,
                torn_crashes: 0,
                twin_splits: 0,
                twins_keep_groups: false,
                datagram_drop: 0.01,
                datagram_duplicate: 0.01,
                fault_ms: (1_000, 4_000),
            },
            tick: Duration::from_millis(2),
            latency: (Duration::from_millis(1), Duration::from_millis(20)),
            max_skew_ms: 20,
            max_drift_ppm: 0,
            byzantine: Vec::new(),
            execution: ExecutionOverrides::default(),
            expect_congestion: false,
            block_interval_ms: 500,
            base_timeout_ms: 1_000,
            pull_only: false,
        }
    }

    /// The same run without any fault.
    pub fn without_faults(mut self) -> Self {
        self.faults = FaultPlan::NONE;
        self
    }

    /// Validators per shard.
    pub fn validators(&self) -> u16 {
        self.stakes.first().map_or(0, |s| s.len() as u16)
    }

    /// The twinned validators ([`Behaviour::Twins`]), in the order given.
    pub fn twinned(&self) -> Vec<HostId> {
        self.byzantine
            .iter()
            .filter(|(_, b)| *b == Behaviour::Twins)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Every host: the validators, then twin B of each twinned one.
    pub fn hosts(&self) -> Vec<HostId> {
        let mut hosts: Vec<HostId> = (0..self.shards)
            .flat_map(|s| (0..self.validators()).map(move |v| (s, v)))
            .collect();
        hosts.extend(self.twinned().iter().map(|k| twins::twin(*k, Side::B)));
        hosts
    }

    /// The side of each twinned key every host is on outside twin splits: twin A's (twins
    /// of other keys: their own side).
    pub fn twin_sides(&self) -> Sides {
        Sides::new(&self.twinned(), &self.hosts(), |_, _| true)
    }
}

/// The one place turmoil is configured: seed, epoch, tick, latencies, duration.
pub fn builder(cfg: &Config) -> turmoil::Builder {
    let mut b = turmoil::Builder::new();
    b.rng_seed(cfg.seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(cfg.duration + Duration::from_secs(1))
        .tick_duration(cfg.tick)
        .min_message_latency(cfg.latency.0)
        .max_message_latency(cfg.latency.1)
        .udp_capacity(4096);
    b
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every invariant held.
    Ok,
    /// Validators disagreed on a committed block or state, value was created or destroyed, or
    /// a validator stopped on a fatal error.
    SafetyViolation(String),
    /// After healing, validators did not catch up, transactions were not committed or lanes
    /// did not drain.
    LivenessFailure(String),
}

/// One entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A validator committed a block (with the state root it executed to, when it was the last
    /// block applied in that step).
    Commit {
        /// Simulated milliseconds.
        at_ms: u64,
        /// The validator.
        host: HostId,
        /// Height.
        height: u64,
        /// Block hash.
        hash: B256,
        /// Executed state root.
        root: Option<B256>,
    },
    /// A mempool's verdict on a submitted transaction.
    Submitted {
        /// Simulated milliseconds.
        at_ms: u64,
        /// The validator.
        host: HostId,
        /// Accepted.
        accepted: bool,
        /// Refused because the destination shard is congested (CS-15).
        congested: bool,
    },
    /// A fault was applied.
    Fault {
        /// Simulated milliseconds.
        at_ms: u64,
        /// What.
        action: Action,
    },
}

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Simulated milliseconds run.
    pub sim_ms: u64,
    /// Highest committed height per shard.
    pub heights: Vec<u64>,
    /// Transfers signed (intra-shard, cross-shard).
    pub transfers: (u64, u64),
    /// Cross-shard calls signed (without a deadline, with one already past: CS-12).
    pub calls: (u64, u64),
    /// Contract calls signed (`Caller.callPing`, `Caller.callFail`), and the callbacks the
    /// `Caller`s ran by the end.
    pub contract_calls: (u64, u64, u64),
    /// Partitions applied (within a shard, between shards).
    pub partitions: (u64, u64),
    /// One-way partitions applied.
    pub one_way: u64,
    /// Crashes of the validator leading its shard's round (also counted in `crashes`).
    pub leader_crashes: u64,
    /// Crashes in the middle of a state persist (happened, restarted).
    pub torn_crashes: (u64, u64),
    /// Messages rewritten, withheld or injected by Byzantine validators.
    pub byzantine_actions: u64,
    /// What twins sent ([`twins::TwinCounts`]).
    pub twins: TwinCounts,
    /// Twin splits applied.
    pub twin_splits: u64,
    /// Submissions refused because their destination shard was congested.
    pub congested_refusals: u64,
    /// Responses checked against their call's deadline (CS-I5), counting every validator's.
    pub responses_checked: u64,
    /// Consistent cuts at which CS-I2 and CS-I3 were checked (steps with a commit).
    pub cuts_checked: u64,
    /// Votes honest validators sent, each checked against their others (I-3).
    pub votes_tapped: u64,
    /// Hosts crashed and restarted.
    pub crashes: (u64, u64),
    /// Datagrams lost and duplicated below QUIC.
    pub datagrams: FaultCounts,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Shards and validators per shard.
    pub shape: (u16, u16),
    /// How it ended.
    pub exit: Exit,
    /// Everything that happened, in order.
    pub trace: Vec<TraceEvent>,
    /// blake3 of the trace.
    pub trace_hash: B256,
    /// Counters.
    pub stats: Stats,
}

impl Outcome {
    /// One line: seed, exit, hash, counters, and how to replay it (with the same build flags:
    /// `--cfg tokio_unstable` changes how turmoil's RNG is drawn, hence every trace).
    pub fn summary(&self) -> String {
        let flags = if cfg!(tokio_unstable) {
            "RUSTFLAGS=\"--cfg tokio_unstable\" "
        } else {
            ""
        };
        format!(
            "seed {}: {:?}, trace {} ({} events), {:?}; replay: {flags}cargo run --profile sim \
             -p shardnet-fullstack --bin fullstack-sim -- --seeds {}..{} --shards {} --validators {} \
             (plus the run's --secs/--tick-ms/--no-faults)",
            self.seed,
            self.exit,
            self.trace_hash,
            self.trace.len(),
            self.stats,
            self.seed,
            self.seed + 1,
            self.shape.0,
            self.shape.1,
        )
    }
}

fn host_name(h: HostId) -> String {
    if h.1 >= twins::TWIN_B {
        format!("s{}v{}b", h.0, h.1 - twins::TWIN_B)
    } else {
        format!("s{}v{}", h.0, h.1)
    }
}

type Trace = Arc<Mutex<Vec<TraceEvent>>>;
type State = FaultyStore<SharedStore>;

fn at_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

fn push(trace: &Trace, e: TraceEvent) {
    trace.lock().unwrap_or_else(PoisonError::into_inner).push(e);
}

/// What the hosts share with the harness.
#[derive(Clone)]
struct World {
    cfg: Config,
    genesis: Genesis,
    /// Every host, twins included.
    hosts: Vec<HostId>,
    /// The twinned validators.
    twinned: Vec<HostId>,
    disks: BTreeMap<HostId, Disk>,
    trace: Trace,
    controls: Rc<RefCell<BTreeMap<HostId, Control<State>>>>,
    counters: Rc<RefCell<Vec<Arc<Mutex<FaultCounts>>>>>,
    incarnations: Rc<RefCell<BTreeMap<HostId, u64>>>,
    byzantine_actions: Arc<AtomicU64>,
    /// Calls' deadlines and responses' outcomes, as validators commit them (CS-I5).
    deadlines: Arc<Mutex<check::Deadlines>>,
    /// The same from twins, which the checks leave out.
    twin_deadlines: Arc<Mutex<check::Deadlines>>,
    /// What twins sent.
    twin_log: Arc<Mutex<TwinLog>>,
    /// Every message final blocks emitted (CS-I2, CS-I3 per step).
    flight: Arc<Mutex<check::flight::Flight>>,
    /// Every vote honest validators sent (I-3 per step).
    votes: Arc<Mutex<tap::Votes>>,
}

impl World {
    /// Whether `h` is an honest validator (not one of the twins).
    fn honest(&self, h: HostId) -> bool {
        !self.twinned.contains(&key_of(h))
    }

    /// A split of twinned validator `k` starts or ends: twin B reaches honest validators
    /// only while one is in force.
    fn twin_split(&self, k: HostId, on: bool) {
        let mut log = self.twin_log.lock().unwrap_or_else(PoisonError::into_inner);
        if on {
            log.split.insert(k);
        } else {
            log.split.remove(&k);
        }
    }
}

fn genesis(cfg: &Config, wallets: &[Wallet]) -> Genesis {
    let balance = U256::from(WALLET_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
    Genesis {
        chain_id: ChainId(workload::CHAIN_ID),
        timestamp_ms: EPOCH_SECS * 1000,
        shard_map: ShardMap::new(cfg.shards, ShardMapScheme::LowBits),
        validators: cfg
            .stakes
            .iter()
            .enumerate()
            .flat_map(|(s, stakes)| {
                stakes
                    .iter()
                    .enumerate()
                    .map(move |(v, stake)| GenesisValidator {
                        public_key: validator_key(s as u16, v as u16).public_key(),
                        stake: Stake(*stake),
                        // Placeholder: hosts dial turmoil names (`peers` below).
                        address: format!("10.0.{s}.{v}:{PORT}"),
                        shard: ShardId(s as u16),
                    })
            })
            .collect(),
        accounts: wallets
            .iter()
            .map(|w| GenesisAccount {
                address: w.account.address,
                balance,
            })
            .collect(),
    }
}

/// One incarnation of a host: binds the simulated socket, opens the disk and runs the
/// validator's event loop until it stops or the host crashes.
async fn host_main(world: World, me: HostId) -> turmoil::Result {
    let incarnation = {
        let mut inc = world.incarnations.borrow_mut();
        let n = inc.entry(me).or_insert(0);
        *n += 1;
        *n
    };
    let seed = world.cfg.seed;
    let mix = |tag: u64| {
        let h = blake3::hash(
            &[seed, tag, u64::from(me.0), u64::from(me.1), incarnation]
                .map(u64::to_le_bytes)
                .concat(),
        );
        u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
    };
    let socket = SimUdpSocket::bind(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT),
        SimFaults {
            duplicate: world.cfg.faults.datagram_duplicate,
            drop: world.cfg.faults.datagram_drop,
            seed: mix(1),
        },
    )
    .await?;
    world.counters.borrow_mut().push(socket.fault_counter());
    let key = key_of(me);
    // Twins (`twins`): an honest host never dials a twinned key (it takes the connection the
    // twin on its side dials); a twin dials the twin on its own side of another twinned key.
    let own_side = (!world.honest(me)).then_some(if me.1 >= twins::TWIN_B {
        Side::B
    } else {
        Side::A
    });
    let peers: PeerBook = (0..world.cfg.shards)
        .flat_map(|s| (0..world.cfg.validators()).map(move |v| (s, v)))
        .filter(|h| *h != key)
        .map(|h| {
            let target = match (world.twinned.contains(&h), own_side) {
                (false, _) => Some(h),
                (true, None) => None,
                (true, Some(side)) => Some(twins::twin(h, side)),
            };
            let addr = target.map(|t| SocketAddr::new(turmoil::lookup(host_name(t)), PORT));
            (validator_key(h.0, h.1).public_key(), addr)
        })
        .collect();
    let disk = world.disks.get(&me).cloned().unwrap_or_default();
    let trace = Arc::clone(&world.trace);
    let adversary = match world.cfg.byzantine.iter().find(|(h, _)| *h == key) {
        // Honest: every vote it sends is recorded (I-3), nothing changed.
        None => Some(Box::new(tap::Tap::new(me, Arc::clone(&world.votes))) as Box<dyn Adversary>),
        Some((_, Behaviour::Twins)) => Some(Box::new(TwinTap::new(
            key,
            own_side.unwrap_or(Side::A),
            Arc::clone(&world.twin_log),
        )) as Box<dyn Adversary>),
        Some((_, behaviour)) => {
            let committees = world.genesis.committees().map_err(|e| e.to_string())?;
            let committee = committees
                .iter()
                .find(|c| c.shard() == ShardId(me.0))
                .cloned()
                .ok_or("no committee for a Byzantine validator")?;
            Some(Box::new(Byzantine::new(
                *behaviour,
                committee,
                validator_key(key.0, key.1),
                Arc::clone(&world.byzantine_actions),
            )) as Box<dyn Adversary>)
        }
    };
    let deadlines = if world.honest(me) {
        Arc::clone(&world.deadlines)
    } else {
        Arc::clone(&world.twin_deadlines)
    };
    let parts = Parts {
        key: validator_key(key.0, key.1),
        genesis: world.genesis.clone(),
        consensus: shardnet_consensus::Config {
            min_block_interval_ms: world.cfg.block_interval_ms,
            base_timeout_ms: world.cfg.base_timeout_ms,
            ..shardnet_consensus::Config::default()
        },
        state: disk.open_state()?,
        safety: storage::DyingSafety::new(disk.safety.clone(), disk.state.clone()),
        ledger: Box::new(storage::DyingLedger::new(
            disk.ledger.clone(),
            disk.state.clone(),
        )),
        outbox: Box::new(storage::RecordingOutbox::new(
            disk.outbox.clone(),
            deadlines,
            Arc::clone(&world.flight),
        )),
        index: None,
        socket: Socket::Abstract(socket),
        peers: Some(peers),
        // T-6.4: every incarnation gets its own transport seed.
        transport: TransportConfig::simulation(mix(2)),
        relay: RelayConfig {
            ignore_pushed_segments: world.cfg.pull_only,
        },
        on_commit: Some(Box::new(move |c, meta| {
            let height = c.block.header.height.0;
            push(
                &trace,
                TraceEvent::Commit {
                    at_ms: at_ms(),
                    host: me,
                    height,
                    hash: B256::from(c.block.hash().0.0),
                    root: (meta.height == height).then_some(meta.state_root),
                },
            );
        })),
        execution: world.cfg.execution.clone(),
        adversary,
    };
    let span = 2 * world.cfg.max_skew_ms + 1;
    let skew = (mix(3) % span) as i64 - world.cfg.max_skew_ms as i64;
    let since_epoch = turmoil::since_epoch().map_or(0, |d| d.as_millis() as u64);
    let drift = if world.cfg.max_drift_ppm == 0 {
        0
    } else {
        let span = 2 * world.cfg.max_drift_ppm + 1;
        (mix(4) % span) as i64 - world.cfg.max_drift_ppm as i64
    };
    let clock = TokioClock::drifting(since_epoch.saturating_add_signed(skew), drift);
    let torn_before = disk.state.torn_crashes();
    let (control, run) = start_simulated(parts, clock).map_err(|e| format!("{e:#}"))?;
    world.controls.borrow_mut().insert(me, control);
    match run.await {
        // A torn crash (`storage`): the process died mid-persist; the harness restarts it.
        Err(_) if disk.state.torn_crashes() > torn_before => Ok(()),
        r => r.map_err(|e| format!("{e:#}").into()),
    }
}

/// Runs one seeded simulation to the end (or to the first safety violation).
pub fn run(cfg: &Config) -> Outcome {
    let mut sim = builder(cfg).build();
    let map = ShardMap::new(cfg.shards, ShardMapScheme::LowBits);
    let mut wallets = workload::wallets(&map, cfg.shards, cfg.wallets_per_shard);
    // The example contracts' deployers, one per shard, after the wallets.
    let contracts: Vec<(Address, Address)> = if cfg.contract_calls > 0.0 && cfg.shards > 1 {
        (0..cfg.shards)
            .map(|s| {
                let d = workload::deployer(&map, ShardId(s), 100_000 + 10_000 * u64::from(s));
                let pair = (d.account.address.create(0), d.account.address.create(1));
                wallets.push(d);
                pair
            })
            .collect()
    } else {
        Vec::new()
    };
    let deployers = wallets.len() - contracts.len()..wallets.len();
    let genesis = genesis(cfg, &wallets);
    let supply = genesis
        .accounts
        .iter()
        .fold(U256::ZERO, |a, g| a + g.balance);
    let hosts = cfg.hosts();
    let world = World {
        cfg: cfg.clone(),
        genesis,
        disks: hosts.iter().map(|h| (*h, Disk::default())).collect(),
        hosts: hosts.clone(),
        twinned: cfg.twinned(),
        trace: Trace::default(),
        controls: Rc::default(),
        counters: Rc::default(),
        incarnations: Rc::default(),
        byzantine_actions: Arc::default(),
        deadlines: Arc::default(),
        twin_deadlines: Arc::default(),
        twin_log: Arc::default(),
        flight: Arc::default(),
        votes: Arc::default(),
    };
    for h in &hosts {
        let (world, h) = (world.clone(), *h);
        sim.host(host_name(h), move || host_main(world.clone(), h));
    }
    let schedule = faults::schedule(
        cfg.seed,
        &cfg.faults,
        cfg.shards,
        cfg.validators(),
        &world.twinned,
        cfg.fault_window,
    );
    let mut driver = Driver {
        cfg,
        world: &world,
        rng: ChaCha20Rng::seed_from_u64(cfg.seed ^ 0x000a_11e7),
        stats: Stats::default(),
        commits: check::Commits::ignoring(hosts.iter().filter(|h| !world.honest(**h)).copied()),
        sides: cfg.twin_sides(),
        splits: BTreeMap::new(),
        lanes: check::Lanes::ignoring(hosts.iter().filter(|h| !world.honest(**h)).copied()),
        supply,
        contracts: contracts.clone(),
        deployers,
        crashed_leaders: BTreeMap::new(),
        torn_armed: std::collections::BTreeSet::new(),
    };
    let exit = driver.drive(&mut sim, &schedule, &mut wallets);
    let mut stats = driver.stats;
    stats.byzantine_actions = world.byzantine_actions.load(Ordering::Relaxed);
    stats.twins = world
        .twin_log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .counts
        .clone();
    stats.responses_checked = world
        .deadlines
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .checked;
    stats.cuts_checked = world
        .flight
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .cuts;
    stats.votes_tapped = world
        .votes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .seen;
    stats.torn_crashes.0 = world.disks.values().map(|d| d.state.torn_crashes()).sum();
    stats.congested_refusals = world
        .trace
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|e| {
            matches!(
                e,
                TraceEvent::Submitted {
                    congested: true,
                    ..
                }
            )
        })
        .count() as u64;
    let exit = match exit {
        Exit::Ok => {
            let states = world
                .disks
                .iter()
                .filter(|(h, _)| world.honest(**h))
                .map(|(h, d)| (*h, d.state.lock().clone()))
                .collect();
            let mut exit = check::at_end(&states, cfg.shards, &driver.commits, supply);
            if exit == Exit::Ok {
                exit = uncommitted(&world, &wallets);
            }
            exit
        }
        e => e,
    };
    stats.sim_ms = sim.elapsed().as_millis() as u64;
    stats.heights = (0..cfg.shards)
        .map(|s| {
            world
                .disks
                .iter()
                .filter(|(h, _)| h.0 == s && world.honest(**h))
                .map(|(_, d)| d.state.lock().meta().map(|m| m.height).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for c in world.counters.borrow().iter() {
        let c = *c.lock().unwrap_or_else(PoisonError::into_inner);
        stats.datagrams.dropped += c.dropped;
        stats.datagrams.duplicated += c.duplicated;
    }
    stats.contract_calls.2 = callbacks(&world, &contracts);
    let exit = match exit {
        Exit::Ok => answered(cfg, &stats)
            .or_else(|| coverage(cfg, &stats).map(Exit::LivenessFailure))
            .unwrap_or(Exit::Ok),
        e => e,
    };
    let trace = world
        .trace
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut h = blake3::Hasher::new();
    for e in &trace {
        h.update(format!("{e:?}\n").as_bytes());
    }
    Outcome {
        seed: cfg.seed,
        shape: (cfg.shards, cfg.validators()),
        exit,
        trace,
        trace_hash: B256::from(*h.finalize().as_bytes()),
        stats,
    }
}

/// The callbacks the `Caller`s ran (`answers`, storage slot 3 of `Examples.sol`'s `Caller`),
/// on each shard's most advanced validator.
fn callbacks(world: &World, contracts: &[(Address, Address)]) -> u64 {
    contracts
        .iter()
        .enumerate()
        .map(|(s, (caller, _))| {
            world
                .disks
                .iter()
                .filter(|(h, _)| usize::from(h.0) == s && world.honest(**h))
                .map(|(_, d)| d.state.lock())
                .max_by_key(|st| st.meta().map(|m| m.height).unwrap_or(0))
                .and_then(|st| {
                    st.storage(
                        &hash_address(caller),
                        &shardnet_exec::store::hash_slot(&U256::from(3)),
                    )
                    .ok()
                })
                .map_or(0, |v| u64::try_from(v).unwrap_or(u64::MAX))
        })
        .sum()
}

/// Every contract call got exactly one callback (CS-11, CS-13: each call is answered, and the
/// answer runs the caller's callback). Every workload transaction is committed by then (else
/// the run already failed); a congested lane may refuse a `Caller`'s send (`LaneFull`, which
/// reverts its transaction), so with congestion parameters fewer answers are allowed, never
/// more.
fn answered(cfg: &Config, stats: &Stats) -> Option<Exit> {
    let (ping, fail, answers) = stats.contract_calls;
    let calls = ping + fail;
    let ok = if cfg.execution.congestion.is_some() {
        answers <= calls
    } else {
        answers == calls
    };
    (!ok).then(|| {
        Exit::SafetyViolation(format!(
            "callbacks: {calls} contract calls committed, {answers} callbacks ran"
        ))
    })
}

/// Every kind of fault the configuration asks for must have fired (a scenario whose faults
/// never happen would pass vacuously); `Some(what did not)` otherwise.
fn coverage(cfg: &Config, stats: &Stats) -> Option<String> {
    let f = &cfg.faults;
    let mut missing = Vec::new();
    if f.partitions_within > 0 && stats.partitions.0 == 0 {
        missing.push("partition within a shard");
    }
    if f.partitions_between > 0 && cfg.shards > 1 && stats.partitions.1 == 0 {
        missing.push("partition between shards");
    }
    if f.one_way > 0 && stats.one_way == 0 {
        missing.push("one-way partition");
    }
    if f.crashes + f.leader_crashes > 0
        && (stats.crashes.0 == 0 || stats.crashes.0 != stats.crashes.1)
    {
        missing.push("crash and restart");
    }
    if f.leader_crashes > 0 && stats.leader_crashes == 0 {
        missing.push("leader crash");
    }
    if f.torn_crashes > 0
        && (stats.torn_crashes.0 == 0 || stats.torn_crashes.0 != stats.torn_crashes.1)
    {
        missing.push("crash in the middle of a persist");
    }
    if f.datagram_drop > 0.0 && stats.datagrams.dropped == 0 {
        missing.push("datagram loss");
    }
    if f.datagram_duplicate > 0.0 && stats.datagrams.duplicated == 0 {
        missing.push("datagram duplication");
    }
    if cfg.byzantine.iter().any(|(_, b)| *b != Behaviour::Twins) && stats.byzantine_actions == 0 {
        missing.push("Byzantine action");
    }
    if !cfg.twinned().is_empty() {
        if stats.twins.sent.0 == 0 {
            missing.push("a message from twin A");
        }
        if stats.twins.sent.1 == 0 {
            missing.push("a message from twin B");
        }
    }
    if f.twin_splits > 0 && !cfg.twinned().is_empty() && stats.twin_splits == 0 {
        missing.push("twin split");
    }
    if cfg.expect_congestion && stats.congested_refusals == 0 {
        missing.push("congestion refusal");
    }
    (!missing.is_empty()).then(|| format!("coverage: never fired: {}", missing.join(", ")))
}

/// A wallet's committed nonce on `host`'s durable state.
fn committed_nonce(world: &World, host: HostId, wallet: &Wallet) -> u64 {
    world.disks.get(&host).map_or(0, |d| {
        d.state
            .account(&hash_address(&wallet.account.address))
            .ok()
            .flatten()
            .map_or(0, |a| a.nonce)
    })
}

/// Liveness of the workload: every signed transfer is committed on every validator.
fn uncommitted(world: &World, wallets: &[Wallet]) -> Exit {
    for w in wallets {
        for h in world
            .hosts
            .iter()
            .filter(|h| h.0 == w.shard.0 && world.honest(**h))
        {
            let n = committed_nonce(world, *h, w);
            if n != w.next_nonce {
                return Exit::LivenessFailure(format!(
                    "{:?}: wallet {} has {n} of {} transfers committed",
                    h, w.account.address, w.next_nonce
                ));
            }
        }
    }
    Exit::Ok
}
