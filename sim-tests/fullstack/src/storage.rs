//! A simulated host's disk: what survives a crash. State goes through [`FaultyStore`] over a
//! [`SharedStore`] (unflushed batches die with the incarnation), safety data through
//! [`MemorySafetyStore`] (durable at `persist`, as an fsync), committed blocks through
//! [`MemoryLedger`]. The harness reads the durable state to check invariants.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use alloy_primitives::{B256, Bytes, U256};
use shardnet_consensus::{
    CommittedBlock, MemorySafetyStore, SafetyData, SafetyStore, StoreError as SafetyError,
};
use shardnet_exec::store::{AccountRecord, ChangeSet, StoreError, StoreMeta};
use shardnet_exec::{FaultyStore, MemoryStore, StateStore, StateView};
use shardnet_node::ledger::LedgerError;
use shardnet_node::outbox::{MemoryOutbox, OutboxError, OutboxStore};
use shardnet_node::validator::LedgerStore;
use shardnet_protocol::{Block, Height, LaneId, LanePull, LaneSegment};

/// Where in a commit a torn crash kills its host. A validator commits a block by recording
/// its outbound segments, appending it to its ledger, then applying and flushing its state;
/// its safety store prunes the block at its next persist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornPoint {
    /// At the ledger append: nothing of the block is written but its outbound segments.
    BeforeLedger,
    /// Inside the state persist, which is lost: the ledger is ahead of the state (the restart
    /// replays the block).
    StateLost,
    /// Inside the state persist, which landed: the block is in the ledger and the state, and
    /// still in the safety store.
    StateLanded,
    /// Inside the next safety-data persist (a vote's, a timeout's, a commit's), which is lost:
    /// the restarted validator loads the safety data from before it. Whatever the host
    /// released before that persist is already on the wire; an honest core releases a vote
    /// only after its persist (S-4), so this is where a core that breaks S-4 is caught.
    SafetyLost,
}

/// The error a torn crash reports to the dying validator (which stops on any store error).
pub const TORN_CRASH: &str = "simulated crash in the middle of a persist";

/// An in-memory state shared by clones: the durable medium under a host's [`FaultyStore`],
/// kept by the harness across incarnations. It can be armed to crash its host in the middle
/// of the next persist ([`SharedStore::arm_torn_crash`]).
#[derive(Clone, Debug, Default)]
pub struct SharedStore {
    state: Arc<Mutex<MemoryStore>>,
    /// Armed: where the host dies next.
    torn: Arc<Mutex<Option<TornPoint>>>,
    /// Torn crashes that happened.
    torn_fired: Arc<AtomicU64>,
}

impl SharedStore {
    /// The state, locked (a poisoned lock still holds a consistent state: `apply` is one call).
    pub fn lock(&self) -> MutexGuard<'_, MemoryStore> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The host dies at `point` of its next commit; the process is gone before anything else
    /// it would have written after it (its ledger entry, its next safety record). A state
    /// write is atomic like the sled batch it stands for: all or nothing.
    pub fn arm_torn_crash(&self, point: TornPoint) {
        *self.torn.lock().unwrap_or_else(PoisonError::into_inner) = Some(point);
    }

    /// Takes the arm if it is for `point`.
    fn take_if(&self, point: TornPoint) -> bool {
        let mut torn = self.torn.lock().unwrap_or_else(PoisonError::into_inner);
        if *torn == Some(point) {
            *torn = None;
            self.torn_fired.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Disarms a crash that has not happened; whether one was armed.
    pub fn disarm(&self) -> bool {
        self.torn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some()
    }

    /// How many torn crashes happened.
    pub fn torn_crashes(&self) -> u64 {
        self.torn_fired.load(Ordering::Relaxed)
    }
}

impl StateView for SharedStore {
    fn account(&self, hashed: &B256) -> Result<Option<AccountRecord>, StoreError> {
        self.lock().account(hashed)
    }
    fn storage(&self, a: &B256, s: &B256) -> Result<U256, StoreError> {
        self.lock().storage(a, s)
    }
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StoreError> {
        self.lock().code(code_hash)
    }
    fn accounts(&self) -> Result<Vec<(B256, AccountRecord)>, StoreError> {
        self.lock().accounts()
    }
    fn account_storage(&self, hashed_address: &B256) -> Result<Vec<(B256, U256)>, StoreError> {
        self.lock().account_storage(hashed_address)
    }
    fn meta(&self) -> Result<StoreMeta, StoreError> {
        self.lock().meta()
    }
}

impl StateStore for SharedStore {
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), StoreError> {
        if self.take_if(TornPoint::StateLost) {
            return Err(StoreError::Io(TORN_CRASH.into()));
        }
        self.lock().apply(changes)?;
        if self.take_if(TornPoint::StateLanded) {
            return Err(StoreError::Io(TORN_CRASH.into()));
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A host's safety store for one incarnation: once a torn crash has killed the process (its
/// state persist failed, `SharedStore`), nothing it would still write reaches the disk, even
/// before its event loop notices the fatal error and stops. Armed [`TornPoint::SafetyLost`],
/// the process dies inside its next safety-data persist, which is lost.
#[derive(Clone, Debug)]
pub struct DyingSafety {
    inner: MemorySafetyStore,
    state: SharedStore,
    torn_before: u64,
}

impl DyingSafety {
    /// `inner` for an incarnation that starts now on a disk whose state is `state`.
    pub fn new(inner: MemorySafetyStore, state: SharedStore) -> Self {
        let torn_before = state.torn_crashes();
        Self {
            inner,
            state,
            torn_before,
        }
    }

    fn alive(&self) -> Result<(), SafetyError> {
        if self.state.torn_crashes() > self.torn_before {
            Err(SafetyError::Crashed)
        } else {
            Ok(())
        }
    }
}

impl SafetyStore for DyingSafety {
    fn load(&self) -> Result<Option<SafetyData>, SafetyError> {
        self.inner.load()
    }
    fn persist(&mut self, data: &SafetyData) -> Result<(), SafetyError> {
        self.alive()?;
        if self.state.take_if(TornPoint::SafetyLost) {
            return Err(SafetyError::Io(TORN_CRASH.into()));
        }
        self.inner.persist(data)
    }
    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), SafetyError> {
        self.alive()?;
        self.inner.persist_blocks(blocks)
    }
    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, SafetyError> {
        self.inner.load_blocks()
    }
    fn prune_blocks(&mut self, committed: Height) -> Result<(), SafetyError> {
        self.alive()?;
        self.inner.prune_blocks(committed)
    }
}

/// A host's outbox that also tells the harness what its validator committed (the calls'
/// deadlines and the responses' outcomes, for CS-I5; every message, for CS-I2 and CS-I3).
#[derive(Debug)]
pub struct RecordingOutbox {
    inner: MemoryOutbox,
    log: Arc<Mutex<crate::check::Deadlines>>,
    flight: Arc<Mutex<crate::check::flight::Flight>>,
}

impl RecordingOutbox {
    /// `inner`, reporting to `log` and `flight`.
    pub fn new(
        inner: MemoryOutbox,
        log: Arc<Mutex<crate::check::Deadlines>>,
        flight: Arc<Mutex<crate::check::flight::Flight>>,
    ) -> Self {
        Self { inner, log, flight }
    }
}

impl OutboxStore for RecordingOutbox {
    fn record(&mut self, segments: &[LaneSegment]) -> Result<(), OutboxError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(segments);
        self.flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(segments);
        self.inner.record(segments)
    }
    fn prune_and_pending(
        &mut self,
        certified: &dyn Fn(&LaneId) -> u64,
    ) -> Result<Vec<LaneSegment>, OutboxError> {
        self.inner.prune_and_pending(certified)
    }
    fn serve(&self, pull: &LanePull) -> Result<Vec<LaneSegment>, OutboxError> {
        self.inner.serve(pull)
    }
}

/// Committed blocks by height, shared by clones (durable at once).
#[derive(Clone, Debug, Default)]
pub struct MemoryLedger(Arc<Mutex<BTreeMap<u64, Arc<CommittedBlock>>>>);

/// A host's ledger for one incarnation: a torn crash armed [`TornPoint::BeforeLedger`] kills
/// the process instead of its next append, and nothing reaches the ledger after a torn crash.
#[derive(Clone, Debug)]
pub struct DyingLedger {
    inner: MemoryLedger,
    state: SharedStore,
    torn_before: u64,
}

impl DyingLedger {
    /// `inner` for an incarnation that starts now, dying when `state` is armed before a
    /// ledger entry.
    pub fn new(inner: MemoryLedger, state: SharedStore) -> Self {
        let torn_before = state.torn_crashes();
        Self {
            inner,
            state,
            torn_before,
        }
    }
}

impl LedgerStore for DyingLedger {
    fn append(&mut self, committed: &CommittedBlock) -> Result<(), LedgerError> {
        if self.state.take_if(TornPoint::BeforeLedger)
            || self.state.torn_crashes() > self.torn_before
        {
            return Err(LedgerError::Corrupt {
                height: committed.block.header.height.0,
                reason: TORN_CRASH.into(),
            });
        }
        self.inner.append(committed)
    }
    fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError> {
        self.inner.last(n)
    }
}

impl LedgerStore for MemoryLedger {
    fn append(&mut self, committed: &CommittedBlock) -> Result<(), LedgerError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(committed.block.header.height.0, Arc::new(committed.clone()));
        Ok(())
    }
    fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError> {
        let ledger = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = ledger.values().rev().take(n).cloned().collect();
        out.reverse();
        Ok(out)
    }
}

/// Everything a host keeps across crashes.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Flushed execution state.
    pub state: SharedStore,
    /// Safety data and voted blocks.
    pub safety: MemorySafetyStore,
    /// Committed blocks.
    pub ledger: MemoryLedger,
    /// Committed outbound segments awaiting certification (CS-14).
    pub outbox: MemoryOutbox,
}

impl Disk {
    /// The state store of a new incarnation: the flushed state, nothing else.
    pub fn open_state(&self) -> Result<FaultyStore<SharedStore>, StoreError> {
        FaultyStore::new(self.state.clone())
    }
}
