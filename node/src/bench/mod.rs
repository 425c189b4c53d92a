//! `shardnet bench`: a whole cluster under load, in one process.
//!
//! Starts an in-process [`Devnet`] (every validator its own thread, QUIC endpoint and sled
//! database on loopback), signs the whole workload up front (so signing costs neither time nor
//! CPU during the run), then submits it at the target rate through the validators' own submit
//! path (what `eth_sendRawTransaction` calls: every running validator of the sender's home
//! shard), and watches each shard's chain index for finality and each destination's state for
//! cross-shard arrivals. [`report::Report`] turns the timings into a table and an SVG plot.
//!
//! What is measured:
//! - **finalized tx/s**: transactions committed (final: 2-chain HotStuff) divided by the time
//!   from the first submission to the last commit;
//! - **submit → final**: from just before a transaction is handed to its shard's mempools to
//!   the moment the bench sees it in a committed block of validator 0 of that shard (polled
//!   every [`POLL`]);
//! - **cross-shard completion** (transfers only): from submission to the moment the value is
//!   in the recipient's balance on the destination shard (a fresh recipient per transfer, so
//!   arrival is unambiguous);
//! - **CPU s per 1,000 tx per validator**: the process's user + system CPU time over the run
//!   (`/proc/self/stat`, Linux; in clock ticks of 1/100 s, the fixed `USER_HZ` of `/proc`),
//!   divided by the finalized transactions in thousands and by the number of validators. It
//!   includes the bench's own submit and polling threads (not signing, done before), so it is
//!   an upper bound per validator.

pub mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use anyhow::{Context, anyhow, ensure};
use shardnet_exec::StateView;
use shardnet_exec::store::hash_address;
use shardnet_protocol::ShardId;

use crate::devnet::{DevAccount, Devnet, DevnetConfig};
use crate::validator::ShardHandle;
use report::{Report, Sample};

/// How often the watcher polls the chain index and balances.
pub const POLL: Duration = Duration::from_millis(5);
/// Most time the bench waits after the last submission for commits and arrivals.
pub const DRAIN: Duration = Duration::from_secs(15);
/// Most time the cluster may take to commit its first block.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Gas of a transfer, a local call of `Callee.ping` and a cross-shard one (CS-6: the call gets
/// what is left after the send's own cost).
const TRANSFER_GAS: u64 = 21_000;
const LOCAL_CALL_GAS: u64 = 100_000;
const CROSS_CALL_GAS: u64 = 150_000;
/// Fee caps: far above what an unloaded devnet asks (1 gwei base fee at genesis).
const MAX_FEE: u128 = 100_000_000_000;
const TIP: u128 = 1_000_000_000;

/// What each transaction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Wallet transfers to fresh addresses (cross-shard ones go through `CROSS_SHARD`, CS-6).
    Transfer,
    /// `Callee.ping(x)` (contracts/src/Examples.sol), deployed on every shard; a cross-shard
    /// one is a plain transaction with calldata to the other shard's Callee (a CS-6 call).
    Call,
}

/// Bench parameters.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Shards.
    pub shards: u16,
    /// Validators per shard.
    pub validators: u16,
    /// Least milliseconds between blocks.
    pub block_interval_ms: u64,
    /// How long transactions are submitted.
    pub duration: Duration,
    /// Offered load, transactions per second over all shards.
    pub rate_tps: u64,
    /// Percentage of transactions whose target is on another shard.
    pub cross_percent: u8,
    /// What the transactions do.
    pub workload: Workload,
    /// Sending accounts (prefunded), spread over the shards by address.
    pub senders: usize,
    /// Stop the last validator of every shard this long into the run.
    pub kill_after: Option<Duration>,
    /// Where the devnet keeps its databases.
    pub data_dir: PathBuf,
}

/// One planned transaction.
struct Planned {
    raw: Bytes,
    hash: B256,
    shard: ShardId,
    at: Duration,
    /// For a cross-shard transfer: the destination shard and the fresh recipient.
    arrival: Option<(ShardId, Address)>,
}

/// What happened to one transaction (times since the run started).
#[derive(Clone, Copy, Debug, Default)]
struct Timing {
    submitted: Option<Duration>,
    finalized: Option<Duration>,
    arrived: Option<Duration>,
    refused: bool,
}

/// Runs the bench and returns its report. The devnet is shut down before returning, also
/// on error.
pub fn run(cfg: &BenchConfig, rt: &tokio::runtime::Runtime) -> anyhow::Result<Report> {
    ensure!(
        cfg.shards >= 1 && cfg.validators >= 1,
        "need a shard and a validator"
    );
    ensure!(cfg.cross_percent <= 100, "--cross-percent is at most 100");
    ensure!(
        cfg.shards > 1 || cfg.cross_percent == 0,
        "cross-shard transactions need at least two shards"
    );
    ensure!(cfg.rate_tps > 0, "--rate must be positive");
    ensure!(
        cfg.kill_after.is_none() || cfg.validators >= 4,
        "stopping a validator per shard keeps a quorum only with at least 4 validators per shard"
    );
    let devnet_cfg = DevnetConfig {
        shards: cfg.shards,
        validators: cfg.validators,
        data_dir: cfg.data_dir.clone(),
        chain_id: 1337,
        accounts: cfg.senders.max(usize::from(cfg.shards) * 2),
        block_interval_ms: cfg.block_interval_ms,
    };
    let mut net = Devnet::start(&devnet_cfg, rt.handle())?;
    let result = drive(cfg, &mut net, rt);
    rt.block_on(net.shutdown());
    result
}

fn drive(
    cfg: &BenchConfig,
    net: &mut Devnet,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Report> {
    let map = net.genesis.shard_map;
    let shards: Vec<ShardId> = map.shard_ids().collect();
    let handles: Vec<Vec<ShardHandle>> = shards
        .iter()
        .map(|s| {
            net.validators()
                .iter()
                .filter(|v| v.status().shard == *s)
                .map(crate::validator::Validator::handle)
                .collect()
        })
        .collect();
    wait_for(net, "the first block", START_TIMEOUT, |n| {
        n.statuses().iter().all(|s| s.height >= 1)
    })?;

    let mut nonces: HashMap<Address, u64> = HashMap::new();
    let callees = match cfg.workload {
        Workload::Transfer => vec![],
        Workload::Call => deploy_callees(net, &handles, &mut nonces)?,
    };
    let plan = plan(cfg, net, &callees, &mut nonces)?;
    println!(
        "bench: {} transactions planned ({} tx/s for {:.0} s), {} validators in {} shard(s)",
        plan.len(),
        cfg.rate_tps,
        cfg.duration.as_secs_f64(),
        net.validators().len(),
        cfg.shards
    );

    let timings = Arc::new(Mutex::new(vec![Timing::default(); plan.len()]));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let watcher = {
        let index: HashMap<B256, usize> =
            plan.iter().enumerate().map(|(i, p)| (p.hash, i)).collect();
        let arrivals: Vec<(usize, ShardId, Address)> = plan
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.arrival.map(|(d, a)| (i, d, a)))
            .collect();
        let primaries: Vec<ShardHandle> =
            handles.iter().filter_map(|h| h.first().cloned()).collect();
        let timings = Arc::clone(&timings);
        let done = Arc::clone(&done);
        std::thread::Builder::new()
            .name("bench-watch".into())
            .spawn(move || watch(&primaries, &index, arrivals, &timings, &done, start))?
    };

    let mut killed = Vec::new();
    let mut kill_at = cfg.kill_after;
    let mut alive: Vec<Vec<ShardHandle>> = handles.clone();
    for (i, p) in plan.iter().enumerate() {
        let now = start.elapsed();
        if kill_at.is_some_and(|k| now >= k) {
            kill_at = None;
            for (s, shard) in shards.iter().enumerate() {
                let last = cfg.validators - 1;
                if let Some(v) = net.take_validator(*shard, last) {
                    killed.push(rt.spawn(v.shutdown()));
                }
                if let Some(a) = alive.get_mut(s) {
                    a.truncate(usize::from(last));
                }
            }
            println!(
                "bench: stopped validator {} of every shard at {:.1} s",
                cfg.validators - 1,
                now.as_secs_f64()
            );
        }
        if p.at > now {
            std::thread::sleep(p.at - now);
        }
        let submitted = start.elapsed();
        let targets = alive
            .get(usize::from(p.shard.0))
            .map_or(&[][..], Vec::as_slice);
        let accepted = targets
            .iter()
            .map(|h| h.submit(p.raw.0.clone()))
            .fold(false, |ok, r| ok | r.is_ok());
        let mut t = timings
            .lock()
            .map_err(|_| anyhow!("bench watcher panicked"))?;
        if let Some(t) = t.get_mut(i) {
            t.submitted = Some(submitted);
            t.refused = !accepted;
        }
    }
    let submitted_until = start.elapsed();
    // Drain: wait for the outstanding commits and arrivals.
    let drain_until = Instant::now() + DRAIN;
    loop {
        let pending = timings
            .lock()
            .map_err(|_| anyhow!("bench watcher panicked"))?
            .iter()
            .zip(&plan)
            .any(|(t, p)| {
                !t.refused
                    && (t.finalized.is_none() || (p.arrival.is_some() && t.arrived.is_none()))
            });
        if !pending || Instant::now() > drain_until {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    done.store(true, Ordering::Relaxed);
    watcher
        .join()
        .map_err(|_| anyhow!("bench watcher panicked"))?;
    for k in killed {
        let _ = rt.block_on(k);
    }
    let timings = timings
        .lock()
        .map_err(|_| anyhow!("bench watcher panicked"))?;
    let samples = plan
        .iter()
        .zip(timings.iter())
        .map(|(p, t)| {
            let failed = t.finalized.is_some()
                && handles
                    .get(usize::from(p.shard.0))
                    .and_then(|h| h.first())
                    .is_some_and(|h| !succeeded(h, &p.hash));
            Sample {
                submitted: t.submitted,
                finalized: t.finalized,
                arrived: t.arrived,
                cross: p.arrival.is_some() || is_cross_call(p, &map),
                refused: t.refused,
                failed,
            }
        })
        .collect();
    Ok(Report {
        shards: cfg.shards,
        validators: cfg.validators,
        workload: cfg.workload,
        rate_tps: cfg.rate_tps,
        cross_percent: cfg.cross_percent,
        duration: cfg.duration,
        submitted_until,
        elapsed,
        kill_after: cfg.kill_after,
        cpu_seconds: cpu,
        samples,
    })
}

/// Whether committed transaction `hash` succeeded (receipt status 1) on `h`'s shard.
fn succeeded(h: &ShardHandle, hash: &B256) -> bool {
    let index = h.index();
    matches!(
        index.locate_tx(hash).ok().flatten().map(|(height, position)| index.tx(height, position)),
        Some(Ok(Some(record))) if record.success
    )
}

fn is_cross_call(p: &Planned, map: &shardnet_protocol::ShardMap) -> bool {
    // Cross-shard calls have no arrival to watch; recover their kind from the envelope.
    use alloy_consensus::Transaction;
    use alloy_eips::eip2718::Decodable2718;
    TxEnvelope::decode_2718(&mut p.raw.as_ref())
        .ok()
        .and_then(|e| e.to())
        .is_some_and(|to| map.home(&to) != p.shard)
}

/// The watcher: marks commits (by scanning every new block of each shard's first validator)
/// and arrivals (checking the outstanding recipients after each new block of their shard).
fn watch(
    primaries: &[ShardHandle],
    index: &HashMap<B256, usize>,
    arrivals: Vec<(usize, ShardId, Address)>,
    timings: &Mutex<Vec<Timing>>,
    done: &AtomicBool,
    start: Instant,
) {
    let mut seen: Vec<u64> = primaries
        .iter()
        .map(|h| h.index().top().ok().flatten().unwrap_or(0))
        .collect();
    let mut waiting = arrivals;
    while !done.load(Ordering::Relaxed) {
        for (s, h) in primaries.iter().enumerate() {
            let top = h.index().top().ok().flatten().unwrap_or(0);
            let Some(last) = seen.get_mut(s) else {
                continue;
            };
            if top <= *last {
                continue;
            }
            let now = start.elapsed();
            let mut hit = Vec::new();
            for height in *last + 1..=top {
                if let Ok(Some(block)) = h.index().block(height) {
                    hit.extend(block.tx_hashes.iter().filter_map(|t| index.get(t).copied()));
                }
            }
            *last = top;
            let shard = h.status().shard;
            let arrived: Vec<usize> = waiting
                .iter()
                .filter(|(_, d, to)| {
                    *d == shard
                        && h.store()
                            .account(&hash_address(to))
                            .ok()
                            .flatten()
                            .is_some_and(|a| !a.balance.is_zero())
                })
                .map(|(i, _, _)| *i)
                .collect();
            waiting.retain(|(i, _, _)| !arrived.contains(i));
            let Ok(mut t) = timings.lock() else { return };
            for i in hit {
                if let Some(t) = t.get_mut(i) {
                    t.finalized.get_or_insert(now);
                }
            }
            for i in arrived {
                if let Some(t) = t.get_mut(i) {
                    t.arrived.get_or_insert(now);
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Signs the workload: transaction `i` at `i / rate`, senders round robin, cross-shard ones
/// spread evenly (`cross_percent` of every 100).
fn plan(
    cfg: &BenchConfig,
    net: &Devnet,
    callees: &[Address],
    nonces: &mut HashMap<Address, u64>,
) -> anyhow::Result<Vec<Planned>> {
    let map = net.genesis.shard_map;
    let chain_id = net.genesis.chain_id.0;
    let total = cfg.rate_tps.saturating_mul(cfg.duration.as_secs().max(1));
    let senders = &net.accounts;
    ensure!(!senders.is_empty(), "no sending accounts");
    let mut fresh = 0u64;
    let mut recipient_on = |shard: ShardId| loop {
        fresh += 1;
        let a = Address::from_slice(
            &keccak256([b"bench-recipient".as_slice(), &fresh.to_be_bytes()].concat())[12..],
        );
        if map.home(&a) == shard {
            return a;
        }
    };
    let ping = |x: u64| {
        let mut data = keccak256("ping(uint256)")[..4].to_vec();
        data.extend_from_slice(&U256::from(x).to_be_bytes::<32>());
        Bytes::from(data)
    };
    let shards = u64::from(cfg.shards);
    let cp = u64::from(cfg.cross_percent);
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let sender = senders
            .get(usize::try_from(i).unwrap_or(0) % senders.len())
            .context("sender")?;
        let home = map.home(&sender.address);
        let cross = (i + 1) * cp / 100 > i * cp / 100;
        let target = if cross {
            ShardId(u16::try_from((u64::from(home.0) + 1) % shards).unwrap_or(0))
        } else {
            home
        };
        let (to, input, gas, value, arrival) = match cfg.workload {
            Workload::Transfer => {
                let to = recipient_on(target);
                (
                    to,
                    Bytes::new(),
                    TRANSFER_GAS,
                    U256::from(1_000_000_000u64),
                    cross.then_some((target, to)),
                )
            }
            Workload::Call => {
                let to = *callees.get(usize::from(target.0)).context("callee")?;
                let gas = if cross {
                    CROSS_CALL_GAS
                } else {
                    LOCAL_CALL_GAS
                };
                (to, ping(i + 1), gas, U256::ZERO, None)
            }
        };
        let nonce = nonces.entry(sender.address).or_insert(0);
        let tx = TxEip1559 {
            chain_id,
            nonce: *nonce,
            gas_limit: gas,
            max_fee_per_gas: MAX_FEE,
            max_priority_fee_per_gas: TIP,
            to: TxKind::Call(to),
            value,
            input,
            access_list: Default::default(),
        };
        *nonce += 1;
        let (raw, hash) = sign(sender, tx)?;
        out.push(Planned {
            raw,
            hash,
            shard: home,
            at: Duration::from_secs_f64(i as f64 / cfg.rate_tps as f64),
            arrival,
        });
    }
    Ok(out)
}

/// Deploys `Callee` (contracts/build) on every shard, each from a sender whose first CREATE
/// address is homed on that sender's shard. Returns the addresses by shard.
fn deploy_callees(
    net: &Devnet,
    handles: &[Vec<ShardHandle>],
    nonces: &mut HashMap<Address, u64>,
) -> anyhow::Result<Vec<Address>> {
    let map = net.genesis.shard_map;
    let code = hex_decode(include_str!("../../../contracts/build/Callee.bin").trim())?;
    let mut out = Vec::new();
    for (s, shard_handles) in handles.iter().enumerate() {
        let shard = ShardId(u16::try_from(s)?);
        let deployer = net
            .accounts
            .iter()
            .find(|a| map.home(&a.address) == shard && map.home(&a.address.create(0)) == shard)
            .with_context(|| {
                format!(
                    "no sender on shard {s} whose first contract lands there; use more --senders"
                )
            })?;
        let tx = TxEip1559 {
            chain_id: net.genesis.chain_id.0,
            nonce: 0,
            gas_limit: 1_000_000,
            max_fee_per_gas: MAX_FEE,
            max_priority_fee_per_gas: TIP,
            to: TxKind::Create,
            value: U256::ZERO,
            input: Bytes::from(code.clone()),
            access_list: Default::default(),
        };
        let (raw, hash) = sign(deployer, tx)?;
        let primary = shard_handles.first().context("shard without validators")?;
        for h in shard_handles {
            h.submit(raw.0.clone())
                .map_err(|e| anyhow!("deploying Callee on shard {s}: {e}"))?;
        }
        let started = Instant::now();
        while primary.index().locate_tx(&hash)?.is_none() {
            ensure!(
                started.elapsed() < START_TIMEOUT,
                "Callee was not deployed on shard {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nonces.insert(deployer.address, 1);
        out.push(deployer.address.create(0));
    }
    Ok(out)
}

fn sign(from: &DevAccount, tx: TxEip1559) -> anyhow::Result<(Bytes, B256)> {
    let sk = secp256k1::SecretKey::from_byte_array(from.secret)?;
    let digest = secp256k1::Message::from_digest(tx.signature_hash().0);
    let (id, rs) = secp256k1::SECP256K1
        .sign_ecdsa_recoverable(digest, &sk)
        .serialize_compact();
    let signature = Signature::from_bytes_and_parity(&rs, i32::from(id) == 1);
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    Ok((envelope.encoded_2718().into(), *envelope.tx_hash()))
}

fn hex_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    ensure!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .context("invalid hex")
        })
        .collect()
}

fn wait_for(
    net: &Devnet,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Devnet) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !done(net) {
        if let Some(f) = net.statuses().into_iter().find_map(|s| s.fatal) {
            return Err(anyhow!("a validator stopped: {f}"));
        }
        ensure!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// User + system CPU seconds of this process so far (`/proc/self/stat` fields 14 and 15, in
/// `USER_HZ` = 100 ticks per second); `None` where there is no procfs.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
