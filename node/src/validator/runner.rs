//! The validator's event loop, shared by production and simulation: it owns the consensus
//! core, the executor and the timers, takes events from one channel, and asks a [`Clock`] for
//! the time. It is async only to wait (for an event or the next timer); everything it does
//! between two waits is synchronous, so production runs it on a dedicated thread (on a
//! current-thread runtime: execution never blocks the transport's threads) and a simulation
//! runs it inline on its single-threaded host.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::B256;
use anyhow::anyhow;
use bytes::Bytes;
use shardnet_consensus::{
    CommittedBlock, ConsensusMessage, Core, Input, Output, SafetyData, SafetyStore,
    StoreError as SafetyError, TimerId, drive,
};
use shardnet_exec::lanes::pull::Puller;
use shardnet_exec::{ShardApp, StateStore, StoreMeta};
use shardnet_protocol::{
    Block, Committee, Committees, Height, LaneClass, LaneId, LanePull, LanePullResponse,
    LaneSegment, PublicKey, ShardId, ValidatorIndex, decode, encode,
};
use shardnet_transport::{
    BlockReason, Blocker, Class, Inbound, Network, Receiver, Responder, Sender,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, WeakUnboundedSender};

use super::Status;
use super::adversary::{Adversary, Outgoing};
use super::clock::Clock;
use super::pull::{PullFailure, RelayConfig, Served};
use crate::index::{ChainIndex, Indexing};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::outbox::OutboxStore;

/// How often unacknowledged segments are pushed again (CS-16).
const REPUSH_INTERVAL_MS: u64 = 1_000;

/// How long the loop waits for an event when no timer is set.
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// A read of the app run on the core task.
pub(crate) type AppQuery<S> = Box<dyn FnOnce(&ShardApp<S>) + Send>;

/// Where a submission's verdict goes (a blocking caller's channel, or an async one's).
pub type SubmitReply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Called after each committed block is applied, with the block and the state after it
/// (simulations record commits through it).
pub type CommitHook = Box<dyn FnMut(&CommittedBlock, &StoreMeta) + Send>;

/// Everything the event loop reacts to, besides its timers.
pub(crate) enum Event<S> {
    Message {
        from: ValidatorIndex,
        message: ConsensusMessage,
    },
    Submit {
        raw: Bytes,
        reply: SubmitReply,
    },
    /// Runs on the core task with the app (mempool reads for the RPC); the closure replies.
    Query(AppQuery<S>),
    /// A lane segment relayed by a validator of another shard (CS-16).
    Segment {
        from: Arc<PublicKey>,
        segment: Box<LaneSegment>,
    },
    /// A validator of another shard pulls a range of one of our outbound lanes (CS-16).
    Pull {
        from: Arc<PublicKey>,
        pull: LanePull,
        reply: Responder,
    },
    /// The answer to one of our pulls (CS-16).
    Pulled {
        from: Arc<PublicKey>,
        lane: LaneId,
        answer: Result<LanePullResponse, PullFailure>,
    },
    Shutdown,
}

impl<S> std::fmt::Debug for Event<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message { from, message } => write!(f, "message {} from {from}", message.kind()),
            Self::Submit { .. } => write!(f, "submit"),
            Self::Query(_) => write!(f, "query"),
            Self::Segment { from, .. } => write!(f, "lane segment from {from}"),
            Self::Pull { from, .. } => write!(f, "lane pull from {from}"),
            Self::Pulled { from, .. } => write!(f, "lane pull answered by {from}"),
            Self::Shutdown => write!(f, "shutdown"),
        }
    }
}

/// The committed-block log a restarted validator recovers from (sled in production, a shared
/// in-memory map in simulation).
pub trait LedgerStore: Send + 'static {
    /// Appends a committed block (durable no later than the state store's next flush).
    fn append(&mut self, committed: &CommittedBlock) -> Result<(), LedgerError>;
    /// The most recent `n` committed blocks, ascending.
    fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError>;
}

impl LedgerStore for Ledger {
    fn append(&mut self, committed: &CommittedBlock) -> Result<(), LedgerError> {
        Self::append(self, committed)
    }
    fn last(&self, n: usize) -> Result<Vec<Arc<CommittedBlock>>, LedgerError> {
        Self::last(self, n)
    }
}

fn class(message: &ConsensusMessage) -> Class {
    match message {
        ConsensusMessage::Proposal(_)
        | ConsensusMessage::Vote(_)
        | ConsensusMessage::Timeout(..) => Class::Consensus,
        _ => Class::Sync,
    }
}

/// Network → event loop. Undecodable frames get their sender blocked (T-7.1).
pub(crate) async fn pump<S>(
    mut inbox: impl Receiver,
    net: Network,
    committee: Committee,
    tx: UnboundedSender<Event<S>>,
) {
    while let Some(inbound) = inbox.recv().await {
        let (from, frame, class) = match inbound {
            Inbound::Message { from, frame, class } => (from, frame, class),
            // CS-16: the only request is a lane pull (W-3.10); others are refused.
            Inbound::Request {
                from,
                class: Class::Lanes,
                frame,
                reply,
            } => {
                let Ok(pull) = decode::<LanePull>(&frame) else {
                    net.block(&from, BlockReason::InvalidMessage);
                    continue;
                };
                if tx.send(Event::Pull { from, pull, reply }).is_err() {
                    break;
                }
                continue;
            }
            Inbound::Request { .. } => continue,
        };
        let event = if class == Class::Lanes {
            // Checked offline by the event loop (CS-8); who relayed does not matter.
            let Ok(segment) = decode::<LaneSegment>(&frame) else {
                net.block(&from, BlockReason::InvalidMessage);
                continue;
            };
            Event::Segment {
                from,
                segment: Box::new(segment),
            }
        } else {
            let Some(index) = committee.index_of(&from) else {
                continue;
            };
            let Ok(message) = decode::<ConsensusMessage>(&frame) else {
                net.block(&from, BlockReason::InvalidMessage);
                continue;
            };
            Event::Message {
                from: index,
                message,
            }
        };
        if tx.send(event).is_err() {
            break;
        }
    }
}

/// The core, the executor and their storage, driven by [`Runner::run`].
pub(crate) struct Runner<S: StateStore, F: SafetyStore> {
    pub(crate) core: Core,
    pub(crate) app: ShardApp<S>,
    pub(crate) safety: F,
    pub(crate) ledger: Box<dyn LedgerStore>,
    /// Committed outbound segments not yet certified delivered (CS-14, CS-16).
    pub(crate) outbox: Box<dyn OutboxStore>,
    pub(crate) last_repush_ms: u64,
    /// The last round logged as entered (debug: who leads it, in this validator's view).
    pub(crate) logged_round: shardnet_protocol::Round,
    /// CS-16 (pull): when and what to pull, and when each requester was last served.
    pub(crate) puller: Puller,
    pub(crate) pulls_served: Served,
    pub(crate) relay: RelayConfig,
    /// The loop's own channel, for the answers of its pulls (weak: the loop still ends when
    /// every other sender is gone).
    pub(crate) events: WeakUnboundedSender<Event<S>>,
    /// When a watermark report was last re-sent to each shard.
    pub(crate) last_report_ms: BTreeMap<ShardId, u64>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) index: Option<ChainIndex>,
    pub(crate) net: Network,
    pub(crate) committee: Committee,
    pub(crate) committees: Committees,
    pub(crate) status: Arc<Mutex<Status>>,
    pub(crate) on_commit: Option<CommitHook>,
    /// Rewrites what leaves, in fault-injection simulations (`None`: honest).
    pub(crate) adversary: Option<Box<dyn Adversary>>,
}

impl<S: StateStore + 'static, F: SafetyStore> Runner<S, F> {
    /// The span the event loop runs in, so that the log lines of several validators in one
    /// process (a devnet, a simulation) say whose they are.
    pub(crate) fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "validator",
            shard = self.core.committee().shard().0,
            index = self.core.index().map(|i| i.0)
        )
    }

    /// Runs until shutdown (or every sender is gone); an error is fatal for the validator.
    pub(crate) async fn run(
        &mut self,
        rx: &mut UnboundedReceiver<Event<S>>,
        clock: &impl Clock,
    ) -> anyhow::Result<()> {
        let mut timers: BTreeSet<(u64, TimerId)> = BTreeSet::new();
        self.core.start(clock.now_ms());
        loop {
            self.drain(&mut timers, clock)?;
            let now = clock.now_ms();
            let wait = timers.first().map_or(IDLE_WAIT, |(at, _)| {
                Duration::from_millis(at.saturating_sub(now))
            });
            // Biased: no random branch choice, so a simulation replays (T-9.2).
            let event = tokio::select! {
                biased;
                event = rx.recv() => Some(event),
                () = tokio::time::sleep(wait) => None,
            };
            let stop = match event {
                Some(Some(event)) => !self.handle(event, clock),
                Some(None) => true,
                None => false,
            };
            if stop {
                return Ok(());
            }
            let now = clock.now_ms();
            while timers.first().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, timer)) = timers.pop_first() {
                    if matches!(timer, TimerId::Round(r) if r == self.core.round()) {
                        tracing::debug!(round = self.core.round().0, "round timed out");
                        self.metrics.timed_out();
                    }
                    self.core.handle(now, Input::Timer(timer));
                    self.drain(&mut timers, clock)?;
                }
            }
        }
    }

    /// Handles one event; `false` on shutdown.
    fn handle(&mut self, event: Event<S>, clock: &impl Clock) -> bool {
        match event {
            Event::Message { from, message } => {
                self.core
                    .handle(clock.now_ms(), Input::Message { from, message });
            }
            Event::Submit { raw, reply } => reply(
                self.app
                    .submit(raw.to_vec().into())
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            ),
            Event::Query(f) => f(&self.app),
            // Test knob (RelayConfig): pushes lost, pulls only.
            Event::Segment { segment, .. }
                if self.relay.ignore_pushed_segments && !segment.messages.is_empty() => {}
            Event::Segment { from, segment } => {
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
                    Ok(false) if stale => self.report_to(source, clock.now_ms()),
                    Ok(_) => {}
                }
            }
            Event::Pull { from, pull, reply } => {
                self.serve_pull(&from, &pull, reply, clock.now_ms());
            }
            Event::Pulled { from, lane, answer } => {
                self.pulled(&from, &lane, answer, clock.now_ms());
            }
            Event::Shutdown => return false,
        }
        true
    }

    /// Sends the latest committed block's proof to `source` as a watermark report, at most
    /// once per repush interval per shard.
    fn report_to(&mut self, source: ShardId, now: u64) {
        let last = self.last_report_ms.entry(source).or_insert(0);
        if now.saturating_sub(*last) < REPUSH_INTERVAL_MS {
            return;
        }
        *last = now;
        if let Ok(Some(c)) = self.ledger.last(1).map(|mut v| v.pop()) {
            let report = LaneSegment {
                proof: c.proof.clone(),
                first_leaf: 0,
                messages: shardnet_protocol::BoundedVec::new(),
                outbox_proof: shardnet_protocol::MultiProof::default(),
            };
            let mut bursts = Bursts::default();
            self.push(&report, &[source].into(), &mut bursts);
            bursts.flush(&self.net);
        }
    }

    /// Adds a segment for every validator of the `dests` shards to `bursts` (the transport
    /// drops what a full queue cannot take; the next repush retries).
    fn push(&mut self, segment: &LaneSegment, dests: &BTreeSet<ShardId>, bursts: &mut Bursts) {
        let frames: Vec<Bytes> = match self.adversary.as_mut() {
            None => vec![Bytes::from(encode(segment))],
            Some(a) => a
                .segment(segment.clone())
                .iter()
                .map(|s| Bytes::from(encode(s)))
                .collect(),
        };
        for c in self
            .committees
            .iter()
            .filter(|c| dests.contains(&c.shard()))
        {
            for m in c.members() {
                for frame in &frames {
                    bursts.add(&m.public_key, Class::Lanes, frame.clone());
                }
            }
        }
    }

    /// CS-14, CS-16: prunes the outbox up to the destinations' certified watermarks and pushes
    /// the rest again, so a lane drains even if every destination validator missed a push.
    fn repush(&mut self) -> anyhow::Result<()> {
        let lanes = self.app.lane_status()?;
        self.metrics.set_lane_backlog(
            lanes
                .iter()
                .filter(|l| l.lane.class == LaneClass::Request)
                .map(|l| (l.lane.destination.0, l.backlog))
                .collect(),
        );
        self.metrics
            .set_connected_peers(self.net.connected_peers().len());
        let certified: BTreeMap<_, _> = lanes.into_iter().map(|l| (l.lane, l.certified)).collect();
        let pending = self
            .outbox
            .prune_and_pending(&|lane| certified.get(lane).copied().unwrap_or(0))?;
        let mut bursts = Bursts::default();
        for segment in pending {
            if let Some(m) = segment.messages.first() {
                self.push(&segment, &[m.lane.destination].into(), &mut bursts);
            }
        }
        bursts.flush(&self.net);
        Ok(())
    }

    /// Runs the core to quiescence: the application and the safety store answer inline, the
    /// rest goes to the network, the timers and the ledger.
    fn drain(
        &mut self,
        timers: &mut BTreeSet<(u64, TimerId)>,
        clock: &impl Clock,
    ) -> anyhow::Result<()> {
        let mut commits = Vec::new();
        let sends = RefCell::new(Vec::new());
        let mut app = Indexing {
            app: &mut self.app,
            index: self.index.as_ref(),
            outbox: self.outbox.as_mut(),
            ledger: self.ledger.as_mut(),
            failed: None,
        };
        let mut safety = SendFirst {
            store: &mut self.safety,
            sends: &sends,
            wire: Wire {
                net: &self.net,
                committee: &self.committee,
                me: self.core.index(),
                adversary: &mut self.adversary,
            },
        };
        drive(
            &mut self.core,
            &mut app,
            &mut safety,
            clock.now_ms(),
            |o| match o {
                Output::SetTimer { timer, at_ms } => {
                    timers.insert((at_ms, timer));
                }
                Output::Commit(c) => commits.push(c),
                Output::Send { to, message } => sends.borrow_mut().push((Some(to), message)),
                Output::Broadcast(message) => sends.borrow_mut().push((None, message)),
                // What the core rejected from a peer, and why (it already ignored it).
                Output::Fault { peer, fault } => {
                    tracing::debug!(peer = peer.0, ?fault, "consensus message rejected");
                }
                Output::Evidence(evidence) => {
                    tracing::warn!(?evidence, "equivocation evidence");
                }
                _ => {}
            },
        )?;
        if let Some(e) = app.failed {
            return Err(anyhow!("recording a committed block: {e}"));
        }
        let SendFirst { mut wire, .. } = safety;
        let round = self.core.round();
        if round != self.logged_round {
            self.logged_round = round;
            tracing::debug!(
                round = round.0,
                leader = self.core.leader(round).0,
                next = self.core.leader(round.next()).0,
                "entered round"
            );
        }
        if let Some(fatal) = self.app.fatal() {
            return Err(anyhow!("execution stopped: {fatal}"));
        }
        wire.send(sends.take());
        self.relay();
        let now = clock.now_ms();
        if now.saturating_sub(self.last_repush_ms) >= REPUSH_INTERVAL_MS {
            self.last_repush_ms = now;
            self.repush()?;
            self.pull(now);
        }
        for c in commits {
            let head = self.app.head().clone();
            if let Some(hook) = self.on_commit.as_mut() {
                hook(&c, &head);
            }
            let mut s = self
                .status
                .lock()
                .map_err(|_| anyhow!("status lock poisoned"))?;
            s.height = c.block.header.height.0;
            s.head = B256::from(c.block.hash().0.0);
            s.state_root = head.state_root;
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
                clock.now_ms().saturating_sub(c.block.header.timestamp_ms),
            );
        }
        if let Ok(mut s) = self.status.lock() {
            s.round = self.core.round().0;
            s.leader = self.core.leader(self.core.round()).0;
            self.metrics.set_round(s.round);
        }
        Ok(())
    }

    /// CS-16: pushes the committed blocks' outbound segments to every validator of each
    /// destination shard at once (the outbox re-sends until certified), and a block's
    /// watermark report (no messages) to every shard whose lanes it executed (CS-15).
    /// Duplicates are dropped there.
    fn relay(&mut self) {
        let mut bursts = Bursts::default();
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
            self.push(&segment, &dests, &mut bursts);
        }
        bursts.flush(&self.net);
    }
}

/// Consensus messages, as they leave: through the [`Adversary`] when there is one, to the
/// committee members over the transport.
struct Wire<'a> {
    net: &'a Network,
    committee: &'a Committee,
    me: Option<ValidatorIndex>,
    adversary: &'a mut Option<Box<dyn Adversary>>,
}

impl Wire<'_> {
    /// Sends what one step of the core released: the frames for each peer leave as one
    /// burst per class, in the order the core emitted them.
    fn send(&mut self, sends: Vec<(Option<ValidatorIndex>, ConsensusMessage)>) {
        let me = self.me;
        let mut bursts = Bursts::default();
        for (to, message) in sends {
            trace_send(to, &message);
            let out = match to {
                Some(to) if Some(to) != me => Outgoing::To(to, message),
                Some(_) => continue,
                None => Outgoing::All(message),
            };
            match self.adversary.as_mut() {
                None => self.send_one(out, &mut bursts),
                Some(a) => {
                    for out in a.consensus(out) {
                        self.send_one(out, &mut bursts);
                    }
                }
            }
        }
        bursts.flush(self.net);
    }

    fn send_one(&self, out: Outgoing, bursts: &mut Bursts) {
        let me = self.me;
        let members = self.committee.members();
        // The consensus protocol tolerates loss: a full queue or a down peer only delays.
        let mut to = |i: usize, message: &ConsensusMessage, frame: &Bytes| {
            if let Some(m) = members.get(i)
                && me != Some(ValidatorIndex(i as u16))
            {
                bursts.add(&m.public_key, class(message), frame.clone());
            }
        };
        match out {
            Outgoing::To(i, message) => {
                to(usize::from(i.0), &message, &Bytes::from(encode(&message)));
            }
            // Consensus traffic stays within the shard's committee.
            Outgoing::All(message) => {
                let frame = Bytes::from(encode(&message));
                for i in 0..members.len() {
                    to(i, &message, &frame);
                }
            }
            Outgoing::Split(low, high) => {
                let (a, b) = (Bytes::from(encode(&low)), Bytes::from(encode(&high)));
                for i in 0..members.len() {
                    if i < members.len() / 2 {
                        to(i, &low, &a);
                    } else {
                        to(i, &high, &b);
                    }
                }
            }
        }
    }
}

/// What the core sends, at trace level: enough to follow rounds, votes and timeouts of
/// several validators in one log (the event loop's span says whose line it is).
fn trace_send(to: Option<ValidatorIndex>, message: &ConsensusMessage) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let to = to.map(|i| i.0);
    match message {
        ConsensusMessage::Proposal(p) => tracing::trace!(
            ?to,
            round = p.block.header.round.0,
            height = p.block.header.height.0,
            qc_round = p.block.justify.round().0,
            tc_round = p.tc.as_ref().map(|tc| tc.round.0),
            "send proposal"
        ),
        ConsensusMessage::Vote(v) => tracing::trace!(
            ?to,
            round = v.data.round.0,
            height = v.data.height.0,
            "send vote"
        ),
        ConsensusMessage::Timeout(t, tc) => tracing::trace!(
            ?to,
            round = t.round.0,
            high_qc_round = t.high_qc.round().0,
            tc_round = tc.as_ref().map(|tc| tc.round.0),
            "send timeout"
        ),
        other => tracing::trace!(?to, kind = other.kind(), "send"),
    }
}

/// Frames for several peers, gathered per (peer, class) in the order they were produced and
/// then handed to the transport as one burst each (`Sender::send_many`: one queue lock and
/// at most one writer wake-up per burst instead of per frame, T-4.6). Frames to one peer in
/// one class keep their order; bursts leave in the order of their first frames.
#[derive(Default)]
struct Bursts {
    index: BTreeMap<(PublicKey, Class), usize>,
    bursts: Vec<(PublicKey, Class, Vec<Bytes>)>,
}

impl Bursts {
    fn add(&mut self, to: &PublicKey, class: Class, frame: Bytes) {
        let next = self.bursts.len();
        let i = *self.index.entry((*to, class)).or_insert(next);
        match self.bursts.get_mut(i) {
            Some((_, _, frames)) => frames.push(frame),
            None => self.bursts.push((*to, class, vec![frame])),
        }
    }

    /// Hands each burst to `net`. Lossy, as consensus and the lane relay tolerate: a peer
    /// that is down, blocked or has a full queue misses what `send_many` refuses.
    fn flush(self, net: &impl Sender) {
        for (to, class, frames) in self.bursts {
            let _ = net.send_many(&to, class, frames);
        }
    }
}

/// The safety store as [`drive`] sees it: the messages the core released before a persist
/// leave before it, in the order the core emitted them, as from a host that sends at once.
/// The core holds every vote and timeout until the safety data forbidding a conflicting one
/// is durable (S-4), so nothing leaves early that must not; and the host no longer masks a
/// core that breaks S-4 (the full-stack simulator's planted-bug test, BENCHMARKS.md).
struct SendFirst<'a, F> {
    store: &'a mut F,
    sends: &'a RefCell<Vec<(Option<ValidatorIndex>, ConsensusMessage)>>,
    wire: Wire<'a>,
}

impl<F: SafetyStore> SendFirst<'_, F> {
    fn flush(&mut self) {
        let sends = self.sends.take();
        if !sends.is_empty() {
            self.wire.send(sends);
        }
    }
}

impl<F: SafetyStore> SafetyStore for SendFirst<'_, F> {
    fn load(&self) -> Result<Option<SafetyData>, SafetyError> {
        self.store.load()
    }
    fn persist(&mut self, data: &SafetyData) -> Result<(), SafetyError> {
        self.flush();
        self.store.persist(data)
    }
    fn persist_blocks(&mut self, blocks: &[Arc<Block>]) -> Result<(), SafetyError> {
        self.flush();
        self.store.persist_blocks(blocks)
    }
    fn load_blocks(&self) -> Result<Vec<Arc<Block>>, SafetyError> {
        self.store.load_blocks()
    }
    fn prune_blocks(&mut self, committed: Height) -> Result<(), SafetyError> {
        self.store.prune_blocks(committed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use shardnet_protocol::SecretKey;
    use shardnet_transport::memory::MemoryNetwork;

    /// Frames gathered for several peers leave as one burst per (peer, class), each in the
    /// order it was added, whatever the interleaving across peers and classes.
    #[tokio::test]
    async fn bursts_keep_the_order_of_each_peer_and_class() {
        let keys: Vec<PublicKey> = (1..=3u8)
            .map(|i| SecretKey::from_bytes(&[i; 32]).public_key())
            .collect();
        let hub = MemoryNetwork::new();
        let (net, _own) = hub.join(keys[0]);
        let (_b, mut inbox_b) = hub.join(keys[1]);
        let (_c, mut inbox_c) = hub.join(keys[2]);
        let mut bursts = Bursts::default();
        for i in 0..20u32 {
            let to = &keys[1 + (i % 2) as usize];
            let class = if i % 3 == 0 {
                Class::Sync
            } else {
                Class::Consensus
            };
            bursts.add(to, class, Bytes::from(encode(&i)));
        }
        bursts.flush(&net);
        for (inbox, parity) in [(&mut inbox_b, 0), (&mut inbox_c, 1)] {
            let mut got = [Vec::new(), Vec::new()];
            for _ in 0..10 {
                let m = inbox.recv().await.expect("frame");
                let i: u32 = decode(m.frame()).unwrap();
                got[usize::from(m.class() == Class::Sync)].push(i);
            }
            let want = |sync: bool| -> Vec<u32> {
                (0..20u32)
                    .filter(|i| i % 2 == parity && (i % 3 == 0) == sync)
                    .collect()
            };
            assert_eq!(got, [want(false), want(true)]);
        }
    }
}
