//! Invariants of a full-stack run, read from the trace and from every host's durable state.
//!
//! - Safety, after every step: no two validators of a shard commit different blocks at a
//!   height, and none executes a committed block to a different state root. After every step
//!   in which a block was committed, the lanes ([`Lanes`]): no validator's executed sequence of
//!   a lane ever decreases or exceeds what the source's final blocks emitted (CS-I1: with sequence-checked
//!   execution, exactly once and in order), and every source validator's outbox still holds
//!   every message its state emitted above the certified watermark its state holds (CS-I4).
//!   After every step, every response a validator committed is checked against its call's
//!   deadline: none executed above it (CS-I5, [`Deadlines`]).
//! - After every step in which a block was committed, from every message final blocks emitted
//!   and a consistent cut of durable states ([`flight::Flight`]): no call answered twice, no
//!   response to a call never sent, every call a final block executed answered by that block
//!   (CS-I2), and value conserved counting the messages in flight between the cut's states
//!   (CS-I3).
//! - At the end, after healing: every validator of a shard is within [`MAX_LAG`] blocks of
//!   the shard's head and at the state root the others had at its height; every workload
//!   transaction is committed; every lane drained (outbound = inbound, CS-I6); value is
//!   conserved (Σ balances + Σ burnt = genesis supply, CS-I3); every call answered by exactly
//!   one response (CS-I2).

use std::collections::BTreeMap;

use alloy_primitives::{B256, U256};
use shardnet_exec::lanes::system::{CROSS_SHARD, slots};
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{MemoryStore, StateView};
use shardnet_protocol::{LaneClass, LaneId, LaneSegment, MessageBody, Outcome, ShardId};

use crate::faults::HostId;
use crate::{Exit, TraceEvent};

pub mod flight;

/// How far behind its shard's head a healthy validator may end.
pub const MAX_LAG: u64 = 3;

/// The first commit seen at each (shard, height), and the executed root when known.
#[derive(Debug, Default)]
pub struct Commits {
    first: BTreeMap<(u16, u64), (HostId, B256, Option<B256>)>,
    checked: usize,
    /// Hosts whose commits are not checked: twins (`crate::twins`), which are Byzantine.
    ignored: std::collections::BTreeSet<HostId>,
}

impl Commits {
    /// Checks every host's commits but those of `ignored` (twins: every honest validator of
    /// both twin groups must still agree with every other).
    pub fn ignoring(ignored: impl IntoIterator<Item = HostId>) -> Self {
        Self {
            ignored: ignored.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Checks the commits appended to `trace` since the last call.
    pub fn check(&mut self, trace: &[TraceEvent]) -> Result<(), String> {
        for e in trace.get(self.checked..).unwrap_or_default() {
            let TraceEvent::Commit {
                host,
                height,
                hash,
                root,
                ..
            } = e
            else {
                continue;
            };
            if self.ignored.contains(host) {
                continue;
            }
            let entry = self
                .first
                .entry((host.0, *height))
                .or_insert((*host, *hash, *root));
            if entry.1 != *hash {
                return Err(format!(
                    "shard {} height {height}: {:?} committed {} but {:?} committed {}",
                    host.0, entry.0, entry.1, host, hash
                ));
            }
            match (entry.2, root) {
                (Some(a), Some(b)) if a != *b => {
                    return Err(format!(
                        "shard {} height {height}: {:?} executed to root {a} but {host:?} to {b}",
                        host.0, entry.0
                    ));
                }
                (None, Some(b)) => entry.2 = Some(*b),
                _ => {}
            }
        }
        self.checked = trace.len();
        Ok(())
    }

    /// The executed state root recorded at (shard, height).
    pub fn root(&self, shard: u16, height: u64) -> Option<B256> {
        self.first.get(&(shard, height)).and_then(|e| e.2)
    }
}

/// What an outbox holds: each segment's lane, first and last sequence.
pub type Held = Vec<(LaneId, u64, u64)>;

/// Per-step lane invariants (CS-I1, CS-I4), from every host's durable state and outbox.
#[derive(Debug, Default)]
pub struct Lanes {
    /// Per (destination host, lane): the executed sequence last seen.
    executed: BTreeMap<(HostId, LaneId), u64>,
    /// Per lane: the most any source validator was ever seen to have emitted.
    emitted: BTreeMap<LaneId, u64>,
    /// Hosts not checked as destinations or sources (twins, `crate::twins`); what their
    /// states and outboxes show still counts as emitted (they commit only final blocks, and
    /// a twin that forms a certificate commits before the others hear of it).
    ignored: std::collections::BTreeSet<HostId>,
}

impl Lanes {
    /// Checks every host but `ignored`.
    pub fn ignoring(ignored: impl IntoIterator<Item = HostId>) -> Self {
        Self {
            ignored: ignored.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Checks every lane between `shards` shards; `hosts` gives each host's durable state and
    /// the `(lane, first, last)` ranges its outbox holds.
    pub fn check<G: std::ops::Deref<Target = MemoryStore>>(
        &mut self,
        shards: u16,
        hosts: &BTreeMap<HostId, (G, Held)>,
    ) -> Result<(), String> {
        let lanes = flight::lanes(shards);
        let read = |state: &MemoryStore, slot: U256| -> u64 {
            system_slot(state, slot).try_into().unwrap_or(u64::MAX)
        };
        for lane in &lanes {
            // What the source's final blocks emitted: what a source validator's state says,
            // or what its outbox holds (it records a committed block's segments before
            // applying its state, so a validator that died in between holds messages its
            // state does not show, and will push them: they are final all the same).
            for (_, (state, held)) in hosts.iter().filter(|(h, _)| h.0 == lane.source.0) {
                let out = read(state, slots::outbound(lane));
                let held_last = held
                    .iter()
                    .filter(|(l, _, _)| l == lane)
                    .map(|(_, _, last)| *last)
                    .max()
                    .unwrap_or(0);
                let seen = self.emitted.entry(*lane).or_insert(0);
                *seen = (*seen).max(out).max(held_last);
            }
        }
        for lane in &lanes {
            let emitted = self.emitted.get(lane).copied().unwrap_or(0);
            for (host, (state, _)) in hosts
                .iter()
                .filter(|(h, _)| h.0 == lane.destination.0 && !self.ignored.contains(h))
            {
                let done = read(state, slots::inbound(lane));
                let last = self.executed.entry((*host, *lane)).or_insert(0);
                if done < *last {
                    return Err(format!(
                        "CS-I1: {host:?} executed lane {lane:?} up to {done} after {last}"
                    ));
                }
                if done > emitted {
                    return Err(format!(
                        "CS-I1: {host:?} executed lane {lane:?} up to {done}, but the source emitted only {emitted}"
                    ));
                }
                *last = done;
            }
            // CS-I4: every message a source validator emitted beyond the certified watermark
            // its own state holds is still in its outbox. (The watermark is certified by a
            // final destination block (CS-8, CS-14); a destination validator's durable state
            // may not show it yet, when the one that applied it died before anything else.)
            for (host, (state, held)) in hosts
                .iter()
                .filter(|(h, _)| h.0 == lane.source.0 && !self.ignored.contains(h))
            {
                let out = read(state, slots::outbound(lane));
                let certified = read(state, slots::certified(lane));
                if certified > emitted {
                    return Err(format!(
                        "CS-I4: {host:?} holds a certified watermark {certified} for lane {lane:?}, beyond the {emitted} messages its shard emitted"
                    ));
                }
                let mut next = certified + 1;
                for (_, first, last) in held.iter().filter(|(l, _, _)| l == lane) {
                    if *first <= next && *last >= next {
                        next = last + 1;
                    }
                }
                if next <= out {
                    return Err(format!(
                        "CS-I4: {host:?} emitted lane {lane:?} up to {out} but its outbox lost message {next}, above its certified watermark {certified}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// CS-I5 from every segment any validator committed to its outbox: each call's deadline, and
/// each response's outcome with the destination height that emitted it.
#[derive(Debug, Default)]
pub struct Deadlines {
    /// Call id → deadline (destination height), for calls that have one.
    calls: BTreeMap<[u8; 32], u64>,
    /// Responses not yet checked: (call id, executed rather than timed out, height).
    responses: Vec<([u8; 32], bool, u64)>,
    /// Responses checked.
    pub checked: u64,
}

impl Deadlines {
    /// Notes the calls and responses of segments a validator committed.
    pub fn record(&mut self, segments: &[LaneSegment]) {
        for s in segments {
            let height = s.proof.header.height.0;
            for m in &s.messages {
                match &m.body {
                    MessageBody::Call {
                        call_id,
                        deadline: Some(d),
                        ..
                    } => self.call(call_id.0, d.0),
                    MessageBody::Response {
                        call_id, outcome, ..
                    } => self.response(call_id.0, !matches!(outcome, Outcome::TimedOut), height),
                    _ => {}
                }
            }
        }
    }

    /// A call with a deadline was sent.
    fn call(&mut self, id: [u8; 32], deadline: u64) {
        self.calls.insert(id, deadline);
    }

    /// A response was emitted at destination `height`, after executing its call or not.
    fn response(&mut self, id: [u8; 32], executed: bool, height: u64) {
        self.responses.push((id, executed, height));
    }

    /// CS-I5 (CS-12): no call executed at a height above its deadline.
    pub fn check(&mut self) -> Result<(), String> {
        for (id, executed, height) in std::mem::take(&mut self.responses) {
            self.checked += 1;
            if let Some(deadline) = self.calls.get(&id)
                && executed
                && height > *deadline
            {
                return Err(format!(
                    "CS-I5: call {} with deadline {deadline} executed at destination height {height}",
                    B256::from(id)
                ));
            }
        }
        Ok(())
    }
}

/// A slot of the `CROSS_SHARD` system account.
fn system_slot(state: &MemoryStore, slot: U256) -> U256 {
    state
        .storage(&hash_address(&CROSS_SHARD), &hash_slot(&slot))
        .unwrap_or_default()
}

/// The end-of-run checks over each host's durable state (`states[host]`), given each shard's
/// validators, the commit log and the genesis supply.
pub fn at_end(
    states: &BTreeMap<HostId, MemoryStore>,
    shards: u16,
    commits: &Commits,
    supply: U256,
) -> Exit {
    // Convergence: every validator near its shard's head, at the agreed root for its height.
    let mut heads: BTreeMap<u16, (u64, HostId)> = BTreeMap::new();
    for (host, state) in states {
        let h = state.meta().map(|m| m.height).unwrap_or(0);
        let e = heads.entry(host.0).or_insert((h, *host));
        if h > e.0 {
            *e = (h, *host);
        }
    }
    for (host, state) in states {
        let Ok(meta) = state.meta() else {
            return Exit::SafetyViolation(format!("{host:?}: unreadable state"));
        };
        let head = heads.get(&host.0).map_or(0, |h| h.0);
        if meta.height + MAX_LAG < head {
            return Exit::LivenessFailure(format!(
                "{host:?} ended at height {} but its shard reached {head}",
                meta.height
            ));
        }
        if let Some(root) = commits.root(host.0, meta.height)
            && root != meta.state_root
        {
            return Exit::SafetyViolation(format!(
                "{host:?} at height {} has state root {} but the shard executed to {root}",
                meta.height, meta.state_root
            ));
        }
    }
    let head_state = |s: u16| heads.get(&s).and_then(|(_, h)| states.get(h));
    // CS-I6: every lane drained.
    for s in 0..shards {
        for d in (0..shards).filter(|d| *d != s) {
            for class in [LaneClass::Request, LaneClass::Response] {
                let lane = LaneId {
                    source: ShardId(s),
                    destination: ShardId(d),
                    class,
                };
                let (Some(src), Some(dst)) = (head_state(s), head_state(d)) else {
                    continue;
                };
                let out = system_slot(src, slots::outbound(&lane));
                let done = system_slot(dst, slots::inbound(&lane));
                if out != done {
                    return Exit::LivenessFailure(format!(
                        "lane {s}->{d} {class:?} not drained: {out} emitted, {done} executed"
                    ));
                }
            }
        }
    }
    // CS-I2: every call got exactly one response. A shard's call counter counts the calls
    // (and creations) it sent, journaled, so reverted sends are not counted; with the lanes
    // drained, the responses it executed must be exactly as many.
    for s in 0..shards {
        let Some(state) = head_state(s) else {
            continue;
        };
        let calls = system_slot(state, slots::call_counter());
        let mut responses = U256::ZERO;
        for d in (0..shards).filter(|d| *d != s) {
            let lane = LaneId {
                source: ShardId(d),
                destination: ShardId(s),
                class: LaneClass::Response,
            };
            responses += system_slot(state, slots::inbound(&lane));
        }
        if calls != responses {
            return Exit::SafetyViolation(format!(
                "CS-I2: shard {s} sent {calls} calls but executed {responses} responses"
            ));
        }
    }
    // CS-I3: value conserved (nothing in flight once the lanes drained).
    let mut total = U256::ZERO;
    for s in 0..shards {
        let Some(state) = head_state(s) else {
            continue;
        };
        total += system_slot(state, slots::burnt());
        for (_, account) in state.accounts().unwrap_or_default() {
            total += account.balance;
        }
    }
    if total != supply {
        return Exit::SafetyViolation(format!(
            "value not conserved: {total} at the end, {supply} at genesis"
        ));
    }
    Exit::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(host: HostId, height: u64, hash: u8, root: Option<u8>) -> TraceEvent {
        TraceEvent::Commit {
            at_ms: 0,
            host,
            height,
            hash: B256::repeat_byte(hash),
            root: root.map(B256::repeat_byte),
        }
    }

    #[test]
    fn conflicting_commits_and_roots_are_violations() {
        let mut c = Commits::default();
        let mut trace = vec![commit((0, 0), 1, 1, Some(9)), commit((0, 1), 1, 1, None)];
        assert!(c.check(&trace).is_ok());
        // Another shard's height 1 is not a conflict.
        trace.push(commit((1, 0), 1, 2, Some(8)));
        assert!(c.check(&trace).is_ok());
        trace.push(commit((0, 2), 1, 1, Some(7)));
        assert!(c.check(&trace).unwrap_err().contains("root"));
        let mut c = Commits::default();
        trace.truncate(3);
        trace.push(commit((0, 3), 1, 3, None));
        assert!(c.check(&trace).unwrap_err().contains("committed"));
    }

    #[test]
    fn an_unanswered_call_is_a_violation() {
        use shardnet_exec::StateStore;
        use shardnet_exec::store::{ChangeSet, hash_address, hash_slot};
        let mut store = MemoryStore::new();
        let mut changes = ChangeSet::default();
        // One call sent from shard 0, no response executed there.
        changes.storage.insert(
            (
                hash_address(&CROSS_SHARD),
                hash_slot(&slots::call_counter()),
            ),
            U256::from(1),
        );
        store.apply(&changes).unwrap();
        let states = BTreeMap::from([((0, 0), store)]);
        let exit = at_end(&states, 1, &Commits::default(), U256::ZERO);
        assert!(
            matches!(&exit, Exit::SafetyViolation(m) if m.contains("CS-I2")),
            "{exit:?}"
        );
    }

    fn lane_state(
        outbound: &[(LaneId, u64)],
        inbound: &[(LaneId, u64)],
        certified: &[(LaneId, u64)],
    ) -> MemoryStore {
        use shardnet_exec::StateStore;
        use shardnet_exec::store::ChangeSet;
        let mut store = MemoryStore::new();
        let mut changes = ChangeSet::default();
        let sys = hash_address(&CROSS_SHARD);
        for (lane, n) in outbound {
            changes
                .storage
                .insert((sys, hash_slot(&slots::outbound(lane))), U256::from(*n));
        }
        for (lane, n) in inbound {
            changes
                .storage
                .insert((sys, hash_slot(&slots::inbound(lane))), U256::from(*n));
        }
        for (lane, n) in certified {
            changes
                .storage
                .insert((sys, hash_slot(&slots::certified(lane))), U256::from(*n));
        }
        store.apply(&changes).unwrap();
        store
    }

    #[test]
    fn lanes_catch_over_execution_regression_and_lost_outbox_messages() {
        let lane = LaneId {
            source: ShardId(0),
            destination: ShardId(1),
            class: LaneClass::Request,
        };
        // (emitted and certified on the source, held in its outbox, executed on the
        // destination)
        let check = |lanes: &mut Lanes, emitted: u64, certified: u64, held: Held, done: u64| {
            let source = lane_state(&[(lane, emitted)], &[], &[(lane, certified)]);
            let hosts = BTreeMap::from([
                ((0, 0), (Box::new(source), held)),
                (
                    (1, 0),
                    (Box::new(lane_state(&[], &[(lane, done)], &[])), Vec::new()),
                ),
            ]);
            lanes.check(2, &hosts)
        };
        let mut lanes = Lanes::default();
        // 5 emitted, 2 executed and certified, 3..=5 held: fine.
        assert!(check(&mut lanes, 5, 2, vec![(lane, 1, 2), (lane, 3, 5)], 2).is_ok());
        // Executed and certified 4, pruned 1..=4: fine.
        assert!(check(&mut lanes, 5, 4, vec![(lane, 5, 5)], 4).is_ok());
        // The destination goes back to 3: CS-I1.
        let e = check(&mut lanes, 5, 4, vec![(lane, 5, 5)], 3).unwrap_err();
        assert!(e.contains("CS-I1") && e.contains("after 4"), "{e}");
        // More executed than ever emitted: CS-I1.
        let e = check(&mut Lanes::default(), 5, 0, vec![(lane, 1, 5)], 6).unwrap_err();
        assert!(e.contains("CS-I1") && e.contains("emitted only 5"), "{e}");
        // Message 3 pruned though only 2 were certified: CS-I4.
        let e = check(&mut Lanes::default(), 5, 2, vec![(lane, 4, 5)], 2).unwrap_err();
        assert!(e.contains("CS-I4") && e.contains("message 3"), "{e}");
        // A certified watermark beyond what was emitted: CS-I4.
        let e = check(&mut Lanes::default(), 5, 6, vec![], 5).unwrap_err();
        assert!(e.contains("CS-I4") && e.contains("beyond"), "{e}");
    }

    #[test]
    fn a_call_executed_after_its_deadline_is_a_violation() {
        let mut d = Deadlines::default();
        d.call([1; 32], 5);
        d.response([1; 32], true, 5); // at the deadline: fine
        d.response([1; 32], false, 9); // timed out: fine
        d.response([2; 32], true, 9); // no deadline: fine
        assert!(d.check().is_ok());
        d.response([1; 32], true, 6);
        let e = d.check().unwrap_err();
        assert!(e.contains("CS-I5") && e.contains("height 6"), "{e}");
        assert_eq!(d.checked, 4);
    }

    #[test]
    fn missing_value_is_a_violation() {
        let states = BTreeMap::from([((0, 0), MemoryStore::new())]);
        let exit = at_end(&states, 1, &Commits::default(), U256::from(1));
        assert!(matches!(exit, Exit::SafetyViolation(m) if m.contains("conserved")));
        assert_eq!(
            at_end(&states, 1, &Commits::default(), U256::ZERO),
            Exit::Ok
        );
    }
}
