//! The validator's event loop, shared by production and simulation: it owns the consensus
//! core, the executor and the timers, takes events from one channel, and asks a [`Clock`] for
//! the time. It is async only to wait (for an event or the next timer); everything it does
//! between two waits is synchronous, so production runs it on a dedicated thread (on a
//! current-thread runtime: execution never blocks the transport's threads) and a simulation
//! runs it inline on its single-threaded host.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::B256;
use anyhow::anyhow;
use bytes::Bytes;
use shardnet_consensus::{
    CommittedBlock, ConsensusMessage, Core, Input, Output, SafetyStore, TimerId, drive,
};
use shardnet_exec::{ShardApp, StateStore, StoreMeta};
use shardnet_protocol::{
    Committee, Committees, LaneSegment, PublicKey, ValidatorIndex, decode, encode,
};
use shardnet_transport::{BlockReason, Blocker, Class, Inbound, Network, Receiver, Sender};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::Status;
use super::clock::Clock;
use crate::index::{ChainIndex, Indexing};
use crate::ledger::{Ledger, LedgerError};

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
    Shutdown,
}

impl<S> std::fmt::Debug for Event<S> {
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
        let Inbound::Message { from, frame, class } = inbound else {
            continue;
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
    pub(crate) index: Option<ChainIndex>,
    pub(crate) net: Network,
    pub(crate) committee: Committee,
    pub(crate) committees: Committees,
    pub(crate) status: Arc<Mutex<Status>>,
    pub(crate) on_commit: Option<CommitHook>,
}

impl<S: StateStore, F: SafetyStore> Runner<S, F> {
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
            Event::Segment { from, segment } => {
                // A certified segment cannot be forged (CS-8): one that fails the check
                // comes from a faulty validator.
                if self.app.add_segment(*segment).is_err() {
                    self.net.block(&from, BlockReason::InvalidMessage);
                }
            }
            Event::Shutdown => return false,
        }
        true
    }

    /// Runs the core to quiescence: the application and the safety store answer inline, the
    /// rest goes to the network, the timers and the ledger.
    fn drain(
        &mut self,
        timers: &mut BTreeSet<(u64, TimerId)>,
        clock: &impl Clock,
    ) -> anyhow::Result<()> {
        let mut commits = Vec::new();
        let mut sends = Vec::new();
        let mut app = Indexing {
            app: &mut self.app,
            index: self.index.as_ref(),
            failed: None,
        };
        drive(
            &mut self.core,
            &mut app,
            &mut self.safety,
            clock.now_ms(),
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
        self.send(sends);
        self.relay();
        for c in commits {
            self.ledger.append(&c)?;
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
        }
        if let Ok(mut s) = self.status.lock() {
            s.round = self.core.round().0;
        }
        Ok(())
    }

    fn send(&self, sends: Vec<(Option<ValidatorIndex>, ConsensusMessage)>) {
        let me = self.core.index();
        for (to, message) in sends {
            let frame = Bytes::from(encode(&message));
            // The consensus protocol tolerates loss: a full queue or a down peer only delays.
            match to {
                Some(to) if Some(to) != me => {
                    if let Some(m) = self.committee.member(to) {
                        let _ = self.net.send(&m.public_key, class(&message), frame);
                    }
                }
                Some(_) => {}
                // Consensus traffic stays within the shard's committee.
                None => {
                    for (i, m) in self.committee.members().iter().enumerate() {
                        if me != Some(ValidatorIndex(i as u16)) {
                            let _ = self.net.send(&m.public_key, class(&message), frame.clone());
                        }
                    }
                }
            }
        }
    }

    /// CS-16: pushes the committed blocks' outbound segments to every validator of each
    /// destination shard. Duplicates are dropped there; loss only delays (a later relay or the
    /// destination's leader picks them up).
    fn relay(&mut self) {
        for segment in self.app.take_outgoing() {
            let Some(dest) = segment.messages.first().map(|m| m.lane.destination) else {
                continue;
            };
            let frame = Bytes::from(encode(&segment));
            for c in self.committees.iter().filter(|c| c.shard() == dest) {
                for m in c.members() {
                    let _ = self.net.send(&m.public_key, Class::Lanes, frame.clone());
                }
            }
        }
    }
}
