//! [`ShardApp`]: shard execution plugged into consensus through its `Application` trait.
//!
//! Blocks are executed when proposed (`build`) and when verified (`verify`), before they are
//! final: each result is kept as a speculative change set keyed by block hash and layered on
//! the committed store. `commit` applies the block's change set atomically and durably
//! . A store failure is fatal: the app records it, refuses every block from then on, and
//! the node stops the validator when [`ShardApp::fatal`] is set.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use shardnet_consensus::{Application, CommittedBlock, PayloadRequest};
use shardnet_protocol::{
    Block, BlockHash, BoundedVec, Committees, CrossShardMessage, ExecutionCommitment, Hash32,
    LaneClass, LaneId, LaneSegment, Payload, RawTransaction, ShardId, ShardMap, ValidatorIndex,
};

use crate::evm::{
    BlockHashes, CrossShardEnv, ExecEnv, Execution, Fork, RawBlockError, execute_block,
    execute_raw_block,
};
use crate::lanes::Watermarks;
use crate::lanes::congestion::{Congestion, LaneStatus, lane_status};
use crate::lanes::inbox::{Budget, plan};
use crate::lanes::pull::InboundLane;
use crate::lanes::segment::{SegmentError, verify_report, verify_segment};
use crate::lanes::system::{CROSS_SHARD, slots};
use crate::layered::Layered;
use crate::mempool::{AddOutcome, Mempool, MempoolConfig, MempoolError};
use crate::state_root::account_trie;
use crate::store::{
    AccountRecord, BLOCKHASH_WINDOW, ChangeSet, StateStore, StateView, StoreError, StoreMeta,
    hash_address, hash_slot,
};
use crate::trie::Trie;
use crate::tx::RecoveredTx;

/// A shard's execution parameters, from the genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// This shard.
    pub shard: ShardId,
    /// Every address's home shard.
    pub shard_map: ShardMap,
    /// Rules.
    pub fork: Fork,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Base fee of the first block.
    pub initial_base_fee: u64,
    /// The base fee never falls below this.
    pub min_base_fee: u64,
    /// Most transactions a proposer puts in a block.
    pub max_block_txs: usize,
    /// Fee recipient of each validator of this shard, by committee index (zero if absent).
    pub fee_recipients: Vec<Address>,
    /// Threads that recover the senders of a block being verified while its transactions
    /// execute, and hash its tries.
    pub recovery_workers: usize,
    /// Inbound cross-shard gas budget per block and its response reserve (CS-9).
    pub inbound_budget: Budget,
    /// Every shard's committee, to check inbound segments offline (CS-8).
    pub committees: Arc<Committees>,
    /// Lane credits and the admission threshold (CS-15).
    pub congestion: Congestion,
}

impl ShardConfig {
    /// Defaults for `shard` of a network: 30M gas, 1 gwei initial base fee, Prague, an inbound
    /// budget of half the block gas with a quarter of it reserved for responses (CS-9), and no
    /// committees (set them to accept inbound segments).
    pub fn new(chain_id: u64, shard: ShardId, shard_map: ShardMap) -> Self {
        Self {
            chain_id,
            shard,
            shard_map,
            fork: Fork::Prague,
            block_gas_limit: 30_000_000,
            initial_base_fee: 1_000_000_000,
            min_base_fee: 7,
            max_block_txs: 10_000,
            fee_recipients: Vec::new(),
            recovery_workers: 2,
            inbound_budget: Budget {
                total_gas: 15_000_000,
                response_reserve_gas: 15_000_000 / 4,
            },
            committees: Arc::new(Committees::default()),
            congestion: Congestion::default(),
        }
    }
}

/// the EIP-1559 base fee of a block whose parent had `base_fee` and used `gas_used`.
pub fn next_base_fee(base_fee: u64, gas_used: u64, gas_limit: u64, min: u64) -> u64 {
    let target = (gas_limit / 2).max(1);
    let base = u128::from(base_fee);
    let next = if gas_used > target {
        let delta = (base * u128::from(gas_used - target) / u128::from(target) / 8).max(1);
        base + delta
    } else {
        base - base * u128::from(target - gas_used) / u128::from(target) / 8
    };
    u64::try_from(next).unwrap_or(u64::MAX).max(min)
}

/// One executed, not yet final block.
#[derive(Debug)]
struct Speculative {
    parent: B256,
    height: u64,
    execution: Arc<Execution>,
    /// `execution.changes`, shared so that layering descendants on it copies a pointer.
    changes: Arc<ChangeSet>,
    /// The account trie after the block (shares unchanged subtrees with its parent's).
    trie: Trie,
    base_fee: u64,
}

/// Shard execution as a consensus application.
#[derive(Debug)]
pub struct ShardApp<S> {
    cfg: ShardConfig,
    store: S,
    mempool: Mempool,
    speculative: BTreeMap<B256, Speculative>,
    /// Executions of our own proposals, by (parent, payload root), reused when we verify them.
    built: BTreeMap<(B256, Hash32), (Arc<Execution>, Trie)>,
    /// The committed head's account trie.
    trie: Trie,
    head: StoreMeta,
    fatal: Option<String>,
    /// Verified inbound segments not yet fully executed, by (lane, first sequence) (CS-8).
    inbox: BTreeMap<(LaneId, u64), LaneSegment>,
    /// Segments of committed blocks' outboxes, with their finality proofs, for the relay
    /// (CS-16): drained by [`ShardApp::take_outgoing`].
    outgoing: Vec<LaneSegment>,
    /// The latest watermark report (a message-less segment) from each other shard (CS-15).
    reports: BTreeMap<ShardId, LaneSegment>,
}

fn key(hash: &BlockHash) -> B256 {
    B256::from(hash.0.0)
}

impl<S: StateStore> ShardApp<S> {
    /// Opens the app on `store`. If the store is empty, writes the genesis: `accounts` whose
    /// home is this shard get their balances. Returns the app and the genesis execution
    /// commitment (for the consensus genesis block).
    pub fn open(
        cfg: ShardConfig,
        mut store: S,
        accounts: &[(Address, U256)],
    ) -> Result<(Self, ExecutionCommitment), StoreError> {
        let mut meta = store.meta()?;
        if meta == StoreMeta::default() && store.accounts()?.is_empty() {
            let mut changes = ChangeSet::default();
            for (address, balance) in accounts {
                if cfg.shard_map.home(address) != cfg.shard || ShardMap::is_system(address) {
                    continue;
                }
                let record = AccountRecord {
                    address: *address,
                    nonce: 0,
                    balance: *balance,
                    code_hash: KECCAK_EMPTY,
                    storage_root: EMPTY_ROOT_HASH,
                };
                changes.accounts.insert(hash_address(address), Some(record));
            }
            let root = crate::state_root::state_root(&Layered::new(
                &store,
                vec![Arc::new(changes.clone())],
            ))?;
            meta = StoreMeta {
                state_root: root,
                base_fee: cfg.initial_base_fee,
                ..StoreMeta::default()
            };
            changes.meta = Some(meta.clone());
            store.apply(&changes)?;
            store.flush()?;
        }
        let genesis = ExecutionCommitment {
            state_root: Hash32(meta.state_root.0),
            outbox_root: shardnet_protocol::merkle::empty_root(),
            inbox_watermarks: BoundedVec::new(),
        };
        let mempool = Mempool::new(MempoolConfig {
            congestion: cfg.congestion,
            ..MempoolConfig::new(cfg.chain_id, cfg.shard, cfg.shard_map, cfg.block_gas_limit)
        });
        let trie = account_trie(&store)?;
        let app = Self {
            cfg,
            store,
            mempool,
            speculative: BTreeMap::new(),
            built: BTreeMap::new(),
            trie,
            head: meta,
            fatal: None,
            inbox: BTreeMap::new(),
            outgoing: Vec::new(),
            reports: BTreeMap::new(),
        };
        Ok((app, genesis))
    }

    /// Records the consensus genesis block's hash as the committed head (height 0).
    pub fn set_genesis_hash(&mut self, hash: BlockHash) {
        if self.head.height == 0 {
            self.head.block_hash = key(&hash);
            self.head.recent_hashes = vec![key(&hash)];
        }
    }

    /// Set once the store failed: the validator must stop.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// The committed state.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The execution parameters.
    pub fn config(&self) -> &ShardConfig {
        &self.cfg
    }

    /// The execution and base fee of block `hash` if it has been executed but not committed.
    /// A node reads it just before handing the block to `commit` (which drops it) to index
    /// the block's receipts without executing it a second time.
    pub fn speculative_execution(&self, hash: &BlockHash) -> Option<(Arc<Execution>, u64)> {
        self.speculative
            .get(&key(hash))
            .map(|s| (Arc::clone(&s.execution), s.base_fee))
    }

    /// Metadata of the last committed block.
    pub fn head(&self) -> &StoreMeta {
        &self.head
    }

    /// The base fee the next block will have.
    pub fn next_base_fee(&self) -> u64 {
        if self.head.height == 0 {
            return self.cfg.initial_base_fee;
        }
        next_base_fee(
            self.head.base_fee,
            self.head.gas_used,
            self.cfg.block_gas_limit,
            self.cfg.min_base_fee,
        )
    }

    /// Admits a signed transaction to the mempool, against the committed state. A
    /// transaction that would send to a congested shard is refused (CS-15).
    pub fn submit(&mut self, raw: Bytes) -> Result<AddOutcome, MempoolError> {
        let base_fee = self.next_base_fee();
        self.mempool.add(raw, &self.store, base_fee)
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Speculative change sets from the committed head up to `hash`, oldest first; `None`
    /// if `hash` is not a known descendant of the head.
    fn layers_to(&self, hash: B256) -> Option<Vec<Arc<ChangeSet>>> {
        let mut layers = Vec::new();
        let mut cur = hash;
        while cur != self.head.block_hash {
            let s = self.speculative.get(&cur)?;
            layers.push(Arc::clone(&s.changes));
            cur = s.parent;
        }
        layers.reverse();
        Some(layers)
    }

    /// The account trie after block `hash` (committed head or speculative).
    fn trie_of(&self, hash: B256) -> Option<Trie> {
        if hash == self.head.block_hash {
            return Some(self.trie.clone());
        }
        self.speculative.get(&hash).map(|s| s.trie.clone())
    }

    /// Block hashes by height for executing a child of `parent`: the committed window,
    /// then the speculative ancestors up to `parent`. revm asks only for the last 256 heights.
    fn recent_hashes(&self, parent: B256) -> RecentHashes {
        let mut map = BTreeMap::new();
        let first = self.head.height + 1 - self.head.recent_hashes.len() as u64;
        for (i, h) in self.head.recent_hashes.iter().enumerate() {
            map.insert(first + i as u64, *h);
        }
        let mut cur = parent;
        while let Some(s) = self.speculative.get(&cur) {
            map.insert(s.height, cur);
            cur = s.parent;
        }
        RecentHashes(map)
    }

    /// The base fee of a child of `parent`, if the parent's execution is known.
    fn child_base_fee(&self, parent: B256, parent_height: u64) -> Option<u64> {
        let (base_fee, gas_used) = if parent == self.head.block_hash {
            (self.head.base_fee, self.head.gas_used)
        } else {
            let s = self.speculative.get(&parent)?;
            (s.base_fee, s.execution.gas_used)
        };
        Some(if parent_height == 0 {
            self.cfg.initial_base_fee
        } else {
            next_base_fee(
                base_fee,
                gas_used,
                self.cfg.block_gas_limit,
                self.cfg.min_base_fee,
            )
        })
    }

    fn env(
        &self,
        height: u64,
        timestamp_ms: u64,
        proposer: ValidatorIndex,
        parent: B256,
        base_fee: u64,
    ) -> ExecEnv {
        ExecEnv {
            fork: self.cfg.fork,
            chain_id: self.cfg.chain_id,
            number: height,
            timestamp: timestamp_ms / 1000,
            beneficiary: self
                .cfg
                .fee_recipients
                .get(proposer.as_usize())
                .copied()
                .unwrap_or(Address::ZERO),
            gas_limit: self.cfg.block_gas_limit,
            base_fee,
            // Not random: the parent's hash, which every validator knows (documented in X-2).
            prevrandao: parent,
            difficulty: U256::ZERO,
            excess_blob_gas: 0,
        }
    }

    /// X-4, CS-7: the state root, the outbox root and the inbound watermarks.
    fn commitment(execution: &Execution) -> ExecutionCommitment {
        let fx = &execution.cross_shard;
        ExecutionCommitment {
            state_root: Hash32(execution.state_root.0),
            outbox_root: fx.outbox.root(),
            // More lanes than the bound would need more shards than a `ShardMap` allows.
            inbox_watermarks: BoundedVec::try_from_vec(fx.watermarks.clone()).unwrap_or_default(),
        }
    }

    /// Per inbound lane, the highest sequence executed in `view` (CS-2).
    fn watermarks<V: StateView + ?Sized>(&self, view: &V) -> Result<Watermarks, StoreError> {
        let mut out = Watermarks::new();
        let sys = hash_address(&CROSS_SHARD);
        for source in (0..self.cfg.shard_map.shards).map(ShardId) {
            if source == self.cfg.shard {
                continue;
            }
            for class in [LaneClass::Request, LaneClass::Response] {
                let lane = LaneId {
                    source,
                    destination: self.cfg.shard,
                    class,
                };
                let v = view.storage(&sys, &hash_slot(&slots::inbound(&lane)))?;
                if !v.is_zero() {
                    out.insert(lane, v.saturating_to());
                }
            }
        }
        Ok(out)
    }

    /// CS-9: the inbound messages a child of a block whose state is `view` executes, given
    /// these segments.
    fn inbound_plan<V: StateView + ?Sized>(
        &self,
        view: &V,
        segments: &[&LaneSegment],
    ) -> Result<Vec<CrossShardMessage>, StoreError> {
        let watermarks = self.watermarks(view)?;
        let available: Vec<CrossShardMessage> = segments
            .iter()
            .flat_map(|s| s.messages.iter().cloned())
            .collect();
        Ok(plan(&watermarks, &available, self.cfg.inbound_budget).messages)
    }

    fn xs<'a>(
        &self,
        inbound: &'a [CrossShardMessage],
        reports: &'a [shardnet_protocol::Watermark],
    ) -> CrossShardEnv<'a> {
        CrossShardEnv {
            shard: self.cfg.shard,
            shard_map: self.cfg.shard_map,
            inbound,
            budget: self.cfg.inbound_budget,
            reports,
            lane_credits: self.cfg.congestion.lane_credits,
        }
    }

    /// The certified watermarks for lanes from this shard that the headers of `segments`
    /// carry (every segment's proof is a destination header; reports carry only that).
    fn reported(&self, segments: &[&LaneSegment]) -> Vec<shardnet_protocol::Watermark> {
        segments
            .iter()
            .flat_map(|s| s.proof.header.execution.inbox_watermarks.iter())
            .filter(|w| w.lane.source == self.cfg.shard)
            .copied()
            .collect()
    }

    /// Whether a report would raise a certified watermark in `view`.
    fn report_useful<V: StateView + ?Sized>(
        &self,
        view: &V,
        report: &LaneSegment,
    ) -> Result<bool, StoreError> {
        let sys = hash_address(&CROSS_SHARD);
        for w in &report.proof.header.execution.inbox_watermarks {
            if w.lane.source != self.cfg.shard {
                continue;
            }
            let known = view.storage(&sys, &hash_slot(&slots::certified(&w.lane)))?;
            if U256::from(w.executed) > known {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every outbound lane's emitted, certified and backlog counts, and whether the mempool
    /// admits sends on it (`shardnet_laneStatus`, CS-15).
    pub fn lane_status(&self) -> Result<Vec<LaneStatus>, StoreError> {
        lane_status(
            &self.store,
            self.cfg.shard,
            &self.cfg.shard_map,
            &self.cfg.congestion,
        )
    }

    /// Accepts a lane segment from a relay (CS-8, CS-16) after checking it offline. Returns
    /// whether it was new and useful (some message not yet executed by the committed state).
    pub fn add_segment(&mut self, segment: LaneSegment) -> Result<bool, SegmentError> {
        if segment.messages.is_empty() {
            verify_report(&segment, &self.cfg.committees, self.cfg.shard)?;
            let from = segment.proof.header.shard;
            let newer = self
                .reports
                .get(&from)
                .is_none_or(|r| r.proof.header.height < segment.proof.header.height);
            if newer {
                self.reports.insert(from, segment);
            }
            return Ok(newer);
        }
        verify_segment(&segment, &self.cfg.committees, self.cfg.shard)?;
        let (Some(first), Some(last)) = (segment.messages.first(), segment.messages.last()) else {
            return Err(SegmentError::Empty);
        };
        let key = (first.lane, first.sequence);
        let done = self
            .watermarks(&self.store)
            .ok()
            .and_then(|w| w.get(&first.lane).copied())
            .unwrap_or(0);
        if last.sequence <= done || self.inbox.contains_key(&key) {
            return Ok(false);
        }
        self.inbox.insert(key, segment);
        Ok(true)
    }

    /// CS-16 (pull): every inbound lane's committed watermark and the lowest sequence above it
    /// that a held segment carries, in lane order, for the relay's [`crate::lanes::pull`].
    pub fn inbound_lanes(&self) -> Result<Vec<InboundLane>, StoreError> {
        let done = self.watermarks(&self.store)?;
        let mut out = Vec::new();
        for source in (0..self.cfg.shard_map.shards).map(ShardId) {
            if source == self.cfg.shard {
                continue;
            }
            for class in [LaneClass::Request, LaneClass::Response] {
                let lane = LaneId {
                    source,
                    destination: self.cfg.shard,
                    class,
                };
                let executed = done.get(&lane).copied().unwrap_or(0);
                let next_held = self
                    .inbox
                    .range((lane, 0)..=(lane, u64::MAX))
                    .find(|(_, s)| s.messages.last().is_some_and(|m| m.sequence > executed))
                    .map(|((_, first), _)| (*first).max(executed.saturating_add(1)));
                out.push(InboundLane {
                    lane,
                    executed,
                    next_held,
                });
            }
        }
        Ok(out)
    }

    /// Segments of committed blocks for the relay to push to their destinations (CS-16).
    pub fn take_outgoing(&mut self) -> Vec<LaneSegment> {
        std::mem::take(&mut self.outgoing)
    }

    /// Inbound segments waiting to execute.
    pub fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.fatal.is_none() {
            self.fatal = Some(e.to_string());
        }
    }

    fn try_build(
        &mut self,
        req: &PayloadRequest,
    ) -> Result<(Payload, ExecutionCommitment), StoreError> {
        let parent = key(&req.parent.hash());
        let empty = (Payload::default(), ExecutionCommitment::default());
        let Some(layers) = self.layers_to(parent) else {
            return Ok(empty);
        };
        let Some(base_fee) = self.child_base_fee(parent, req.parent.header.height.0) else {
            return Ok(empty);
        };
        let view = Layered::new(&self.store, layers);
        let picked = self.mempool.select(
            &view,
            base_fee,
            self.cfg.block_gas_limit,
            self.cfg.max_block_txs,
        )?;
        let txs: Vec<RecoveredTx> = picked.iter().map(|p| p.tx().clone()).collect();
        // CS-9: plan over every verified segment, keep the segments that contribute, and
        // re-plan over exactly those, as verifiers will.
        let pool: Vec<&LaneSegment> = self.inbox.values().collect();
        let wanted = self.inbound_plan(&view, &pool)?;
        let chosen: Vec<&LaneSegment> = pool
            .into_iter()
            .filter(|s| {
                s.messages.iter().any(|m| {
                    wanted
                        .iter()
                        .any(|w| w.lane == m.lane && w.sequence == m.sequence)
                })
            })
            .take(shardnet_protocol::limits::MAX_BLOCK_SEGMENTS)
            .collect();
        let inbound = self.inbound_plan(&view, &chosen)?;
        let mut segments = Vec::with_capacity(chosen.len() + self.reports.len());
        segments.extend(chosen.into_iter().cloned());
        for r in self.reports.values() {
            if segments.len() < shardnet_protocol::limits::MAX_BLOCK_SEGMENTS
                && self.report_useful(&view, r)?
            {
                segments.push(r.clone());
            }
        }
        let all: Vec<&LaneSegment> = segments.iter().collect();
        let reports = self.reported(&all);
        let env = self.env(
            req.height.0,
            req.timestamp_ms,
            req.proposer,
            parent,
            base_fee,
        );
        let Some(base) = self.trie_of(parent) else {
            return Ok(empty);
        };
        let hashes = self.recent_hashes(parent);
        let xs = self.xs(&inbound, &reports);
        let (execution, trie) = execute_block(&view, &base, &env, &hashes, &txs, Some(&xs))
            .map_err(|e| StoreError::Io(e.to_string()))?;
        // Invalid transactions change nothing, so dropping them leaves the same execution.
        let mut payload = Payload {
            segments: BoundedVec::try_from_vec(segments).unwrap_or_default(),
            ..Payload::default()
        };
        let mut kept = Vec::new();
        for (p, r) in picked.iter().zip(&execution.txs) {
            if r.executed()
                && let Ok(raw) = RawTransaction::try_from_vec(p.raw().to_vec())
                && payload.transactions.try_push(raw).is_ok()
            {
                kept.push(r.clone());
            }
        }
        let execution = Execution {
            txs: kept,
            ..execution
        };
        let commitment = Self::commitment(&execution);
        self.built
            .insert((parent, payload.root()), (Arc::new(execution), trie));
        Ok((payload, commitment))
    }

    /// Executes the uncommitted `ancestors` this app has not executed yet (it restarted, or
    /// they arrived by sync), oldest first. Returns false if one of them does not execute to
    /// its header's commitment: then no descendant can be valid.
    fn catch_up(&mut self, ancestors: &[Arc<Block>]) -> Result<bool, StoreError> {
        for a in ancestors {
            let hash = key(&a.hash());
            if hash == self.head.block_hash
                || self.speculative.contains_key(&hash)
                || a.header.height.0 <= self.head.height
            {
                continue;
            }
            if !self.try_verify(a)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn try_verify(&mut self, block: &Block) -> Result<bool, StoreError> {
        let hash = key(&block.hash());
        if self.speculative.contains_key(&hash) {
            return Ok(true);
        }
        let parent = key(&block.header.parent);
        let h = &block.header;
        let Some(base_fee) = self.child_base_fee(parent, h.height.0.saturating_sub(1)) else {
            return Ok(false);
        };
        let (execution, trie) = match self.built.remove(&(parent, block.payload.root())) {
            Some(built) => built,
            None => {
                let Some(layers) = self.layers_to(parent) else {
                    return Ok(false);
                };
                // CS-8: every segment must verify offline; a forged one invalidates the block.
                for seg in &block.payload.segments {
                    let checked = if seg.messages.is_empty() {
                        verify_report(seg, &self.cfg.committees, self.cfg.shard)
                    } else {
                        verify_segment(seg, &self.cfg.committees, self.cfg.shard)
                    };
                    if checked.is_err() {
                        return Ok(false);
                    }
                }
                let view = Layered::new(&self.store, layers);
                let segments: Vec<&LaneSegment> = block.payload.segments.iter().collect();
                let inbound = self.inbound_plan(&view, &segments)?;
                let env = self.env(h.height.0, h.timestamp_ms, h.proposer, parent, base_fee);
                let Some(base) = self.trie_of(parent) else {
                    return Ok(false);
                };
                let hashes = self.recent_hashes(parent);
                let reports = self.reported(&segments);
                let xs = self.xs(&inbound, &reports);
                let raws: Vec<&[u8]> = block.payload.transactions.iter().map(|t| &t[..]).collect();
                let (chain_id, shard_map, shard) =
                    (self.cfg.chain_id, &self.cfg.shard_map, self.cfg.shard);
                // senders are recovered over `recovery_workers` threads while the
                // transactions recovered so far execute: each must be for this
                // chain and homed on this shard.
                let accept = |tx: &RecoveredTx| {
                    tx.check_chain(chain_id).is_ok() && shard_map.home(&tx.sender) == shard
                };
                let executed = execute_raw_block(
                    &view,
                    &base,
                    &env,
                    &hashes,
                    &raws,
                    self.cfg.recovery_workers,
                    accept,
                    Some(&xs),
                );
                let (e, trie) = match executed {
                    Ok(done) => done,
                    Err(RawBlockError::Recovery { .. } | RawBlockError::Refused { .. }) => {
                        return Ok(false);
                    }
                    Err(RawBlockError::Exec(e)) => return Err(StoreError::Io(e.to_string())),
                };
                if e.txs.iter().any(|t| !t.executed()) {
                    return Ok(false); // a proposed block may not carry invalid transactions.
                }
                (Arc::new(e), trie)
            }
        };
        if Self::commitment(&execution) != h.execution {
            return Ok(false);
        }
        let changes = Arc::new(execution.changes.clone());
        self.speculative.insert(
            hash,
            Speculative {
                parent,
                height: h.height.0,
                execution,
                changes,
                trie,
                base_fee,
            },
        );
        Ok(true)
    }

    fn try_commit(&mut self, committed: &CommittedBlock) -> Result<(), StoreError> {
        let block = &committed.block;
        let hash = key(&block.hash());
        if block.header.height.0 <= self.head.height {
            // Already applied: a restarted validator re-commits what its ledger had not yet
            // recorded when it stopped. Consensus guarantees it is the same block.
            return Ok(());
        }
        if !self.speculative.contains_key(&hash) && !self.try_verify(block)? {
            return Err(StoreError::Corrupt(format!(
                "committed block {hash} at height {} does not execute to its header's commitment",
                block.header.height.0
            )));
        }
        let Some(spec) = self.speculative.remove(&hash) else {
            return Err(StoreError::Corrupt("verified block vanished".into()));
        };
        let mut recent_hashes = self.head.recent_hashes.clone();
        recent_hashes.push(hash);
        let excess = recent_hashes.len().saturating_sub(BLOCKHASH_WINDOW);
        recent_hashes.drain(..excess);
        let meta = StoreMeta {
            height: block.header.height.0,
            state_root: spec.execution.state_root,
            block_hash: hash,
            base_fee: spec.base_fee,
            gas_used: spec.execution.gas_used,
            recent_hashes,
        };
        let mut changes = spec.execution.changes.clone();
        changes.meta = Some(meta.clone());
        self.store.apply(&changes)?;
        self.store.flush()?;
        self.head = meta;
        self.trie = spec.trie;
        let height = self.head.height;
        self.speculative.retain(|_, s| s.height > height);
        self.built.clear();
        self.mempool.remove_committed(&self.store)?;
        // CS-16: the block is final; its outbox can now be proven to the destinations.
        let outbox = &spec.execution.cross_shard.outbox;
        for lane in outbox.lanes() {
            if let Ok(Some(seg)) = outbox.segment(lane, &committed.proof) {
                self.outgoing.push(seg);
            }
        }
        let done = self.watermarks(&self.store)?;
        self.inbox.retain(|(lane, _), seg| {
            let executed = done.get(lane).copied().unwrap_or(0);
            seg.messages.last().is_some_and(|m| m.sequence > executed)
        });
        let stale: Vec<ShardId> = self
            .reports
            .iter()
            .filter(|(_, r)| !self.report_useful(&self.store, r).unwrap_or(true))
            .map(|(s, _)| *s)
            .collect();
        for s in stale {
            self.reports.remove(&s);
        }
        // CS-15: tell the shards that send here how far this block executed their lanes.
        if block
            .payload
            .segments
            .iter()
            .any(|s| !s.messages.is_empty())
        {
            self.outgoing.push(LaneSegment {
                proof: committed.proof.clone(),
                first_leaf: 0,
                messages: BoundedVec::new(),
                outbox_proof: shardnet_protocol::MultiProof::default(),
            });
        }
        Ok(())
    }
}

/// What `BLOCKHASH` sees when executing a child of some block: block hashes by height.
struct RecentHashes(BTreeMap<u64, B256>);

impl BlockHashes for RecentHashes {
    fn block_hash(&self, number: u64) -> B256 {
        self.0.get(&number).copied().unwrap_or(B256::ZERO)
    }
}

impl<S: StateStore> Application for ShardApp<S> {
    fn build(
        &mut self,
        request: &PayloadRequest,
        ancestors: &[Arc<Block>],
    ) -> (Payload, ExecutionCommitment) {
        if self.fatal.is_some() {
            return (Payload::default(), ExecutionCommitment::default());
        }
        match self
            .catch_up(ancestors)
            .and_then(|_| self.try_build(request))
        {
            Ok(out) => out,
            Err(e) => {
                self.fail(e);
                (Payload::default(), ExecutionCommitment::default())
            }
        }
    }

    fn verify(&mut self, block: &Block, ancestors: &[Arc<Block>]) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        let checked = self.catch_up(ancestors).and_then(|known| {
            if known {
                self.try_verify(block)
            } else {
                Ok(false)
            }
        });
        checked.unwrap_or_else(|e| {
            self.fail(e);
            false
        })
    }

    fn commit(&mut self, committed: &CommittedBlock) {
        if self.fatal.is_some() {
            return;
        }
        if let Err(e) = self.try_commit(committed) {
            self.fail(e);
        }
    }
}

impl<S: StateStore> StateView for ShardApp<S> {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        self.store.account(hashed)
    }
    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        self.store.storage(a, s)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        self.store.code(code_hash)
    }
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        self.store.accounts()
    }
    fn account_storage(&self, a: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        self.store.account_storage(a)
    }
    fn meta(&self) -> Result<StoreMeta, StoreError> {
        self.store.meta()
    }
}
