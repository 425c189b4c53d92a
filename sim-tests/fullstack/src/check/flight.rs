//! CS-I2 and CS-I3 after every step, from what final blocks emitted and executed.
//!
//! Every message a validator commits is recorded when its block's segments reach the
//! validator's outbox ([`Flight::record`], through `storage::RecordingOutbox`): a validator
//! writes them before it applies the block's state, and a destination only ever executes
//! messages some source validator recorded (it pushes and serves them from that outbox), so the
//! log holds every message of every final block a durable state reflects. Recording checks at
//! once that final blocks agree on each (lane, sequence), that no call id is sent twice, that
//! every response answers a call that was sent, back on its lane, to its caller, and that no
//! call is answered twice (CS-I2).
//!
//! [`Flight::check`] then takes a consistent cut: for each shard, one validator's durable state
//! (a final block's post-state: a state write is atomic, its height included), and checks
//! - CS-I2: every call the cut's destination state executed was answered by the block that
//!   executed it (its response is among what that state emitted);
//! - CS-I3: Σ balances + Σ burnt over the cut + the value in flight = genesis supply, where in
//!   flight on a lane are the messages the source's cut emitted and the destination's cut did
//!   not execute (value still to arrive), minus those the destination executed beyond what the
//!   source's cut emitted (the source state is older: the value is counted on both sides).
//!
//! Cost: a cut reads each shard's accounts (a few dozen) and four slots per lane, and walks the
//! messages in flight and the calls executed since the last check; per step with a commit, so
//! a full sum rather than incremental accounting: no measurable change in seeds per minute
//! (`BENCHMARKS.md`, "CS-I2 and CS-I3 after every step").

use std::collections::BTreeMap;

use alloy_primitives::{B256, U256};
use shardnet_exec::lanes::system::slots;
use shardnet_exec::{MemoryStore, StateView};
use shardnet_protocol::{CrossShardMessage, LaneClass, LaneId, LaneSegment, MessageBody, ShardId};

use super::system_slot;

/// The message log and the per-step CS-I2 / CS-I3 checks.
#[derive(Debug, Default)]
pub struct Flight {
    /// Every message final blocks emitted, once, by lane and sequence.
    sent: BTreeMap<(LaneId, u64), CrossShardMessage>,
    /// Calls and creations by id: where they were sent.
    calls: BTreeMap<[u8; 32], (LaneId, u64)>,
    /// Responses by call id: where they were sent.
    responses: BTreeMap<[u8; 32], (LaneId, u64)>,
    /// Per request lane: calls up to this sequence were seen executed and answered.
    answered: BTreeMap<LaneId, u64>,
    /// The first violation seen while recording (reported by the next check).
    error: Option<String>,
    /// Cuts checked.
    pub cuts: u64,
}

/// Value a message carries while in flight: what the source escrowed (CS-5) and the
/// destination mints, or a response's refund (CS-11).
pub fn value_of(m: &CrossShardMessage) -> U256 {
    m.body.value_in_flight()
}

/// Every lane between `shards` shards.
pub fn lanes(shards: u16) -> Vec<LaneId> {
    (0..shards)
        .flat_map(|s| {
            (0..shards).filter(move |d| *d != s).flat_map(move |d| {
                [LaneClass::Request, LaneClass::Response].map(|class| LaneId {
                    source: ShardId(s),
                    destination: ShardId(d),
                    class,
                })
            })
        })
        .collect()
}

fn slot_u64(state: &MemoryStore, slot: U256) -> u64 {
    system_slot(state, slot).try_into().unwrap_or(u64::MAX)
}

impl Flight {
    /// Notes the messages of segments a validator committed.
    pub fn record(&mut self, segments: &[LaneSegment]) {
        self.record_messages(segments.iter().flat_map(|s| &s.messages));
    }

    fn record_messages<'a>(&mut self, messages: impl IntoIterator<Item = &'a CrossShardMessage>) {
        for m in messages {
            if let Err(e) = self.note(m)
                && self.error.is_none()
            {
                self.error = Some(e);
            }
        }
    }

    fn note(&mut self, m: &CrossShardMessage) -> Result<(), String> {
        let key = (m.lane, m.sequence);
        if let Some(known) = self.sent.get(&key) {
            if known != m {
                return Err(format!(
                    "CS-I1: lane {:?} message {}: final blocks emitted two different messages",
                    m.lane, m.sequence
                ));
            }
            return Ok(());
        }
        self.sent.insert(key, m.clone());
        match &m.body {
            MessageBody::Call { call_id, .. } | MessageBody::Create { call_id, .. } => {
                if let Some(first) = self.calls.insert(call_id.0, key) {
                    return Err(format!(
                        "CS-I2: call id {} sent twice ({first:?} and {key:?})",
                        B256::from(call_id.0)
                    ));
                }
            }
            MessageBody::Response { call_id, to, .. } => {
                let id = B256::from(call_id.0);
                let Some(call_at) = self.calls.get(&call_id.0) else {
                    return Err(format!(
                        "CS-I2: response {key:?} answers call {id}, which was never sent"
                    ));
                };
                let caller = match self.sent.get(call_at).map(|c| &c.body) {
                    Some(MessageBody::Call { from, .. } | MessageBody::Create { from, .. }) => {
                        Some(*from)
                    }
                    _ => None,
                };
                if m.lane.source != call_at.0.destination
                    || m.lane.destination != call_at.0.source
                    || caller != Some(*to)
                {
                    return Err(format!(
                        "CS-I2: response {key:?} to {to} does not match call {id} sent at {call_at:?}"
                    ));
                }
                if let Some(first) = self.responses.insert(call_id.0, key) {
                    return Err(format!(
                        "CS-I2: call {id} answered twice ({first:?} and {key:?})"
                    ));
                }
            }
            MessageBody::Transfer { .. } => {}
        }
        Ok(())
    }

    /// CS-I2 and CS-I3 at the cut `states` (one durable state per shard, every shard
    /// present), given the genesis supply.
    pub fn check(
        &mut self,
        shards: u16,
        states: &BTreeMap<u16, &MemoryStore>,
        supply: U256,
    ) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.cuts += 1;
        let mut plus = U256::ZERO;
        let mut minus = U256::ZERO;
        for lane in lanes(shards) {
            let (Some(src), Some(dst)) =
                (states.get(&lane.source.0), states.get(&lane.destination.0))
            else {
                return Err(format!("no state of a shard of lane {lane:?} in the cut"));
            };
            let emitted = slot_u64(src, slots::outbound(&lane));
            let executed = slot_u64(dst, slots::inbound(&lane));
            let value = |q: u64| {
                self.sent.get(&(lane, q)).map(value_of).ok_or_else(|| {
                    format!("CS-I3: lane {lane:?} message {q} is final but was never recorded")
                })
            };
            for q in executed.saturating_add(1)..=emitted {
                plus += value(q)?;
            }
            for q in emitted.saturating_add(1)..=executed {
                minus += value(q)?;
            }
            if lane.class == LaneClass::Request {
                self.answered_by(&lane, executed, dst)?;
            }
        }
        let mut total = U256::ZERO;
        for state in states.values() {
            total += system_slot(state, slots::burnt());
            for (_, account) in state.accounts().unwrap_or_default() {
                total += account.balance;
            }
        }
        if total + plus != supply + minus {
            let heights: Vec<_> = states
                .iter()
                .map(|(s, st)| (*s, st.meta().map(|m| m.height).unwrap_or(0)))
                .collect();
            return Err(format!(
                "CS-I3: value not conserved at the cut (shard, height) {heights:?}: balances and \
                 burnt {total}, in flight +{plus} -{minus}, genesis supply {supply}"
            ));
        }
        Ok(())
    }

    /// CS-I2: every call of request `lane` up to `executed` (the destination `dst` executed
    /// it) has its response among what `dst` emitted on the response lane.
    fn answered_by(
        &mut self,
        lane: &LaneId,
        executed: u64,
        dst: &MemoryStore,
    ) -> Result<(), String> {
        let back = LaneId {
            source: lane.destination,
            destination: lane.source,
            class: LaneClass::Response,
        };
        let emitted = slot_u64(dst, slots::outbound(&back));
        let done = self.answered.get(lane).copied().unwrap_or(0);
        for q in done.saturating_add(1)..=executed {
            let id = match self.sent.get(&(*lane, q)).map(|m| &m.body) {
                Some(MessageBody::Call { call_id, .. } | MessageBody::Create { call_id, .. }) => {
                    call_id.0
                }
                Some(_) => continue,
                None => {
                    return Err(format!(
                        "CS-I1: lane {lane:?} message {q} executed but never recorded emitted"
                    ));
                }
            };
            match self.responses.get(&id) {
                Some((_, seq)) if *seq <= emitted => {}
                other => {
                    return Err(format!(
                        "CS-I2: call {} (lane {lane:?} message {q}) executed by shard {} at \
                         height {} without its response ({other:?}, {emitted} emitted back)",
                        B256::from(id),
                        lane.destination.0,
                        dst.meta().map(|m| m.height).unwrap_or(0)
                    ));
                }
            }
        }
        self.answered.insert(*lane, executed.max(done));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardnet_exec::StateStore;
    use shardnet_exec::lanes::system::CROSS_SHARD;
    use shardnet_exec::store::{AccountRecord, ChangeSet, hash_address, hash_slot};
    use shardnet_protocol::{Address, Hash32, Origin, Outcome};

    const REQ: LaneId = LaneId {
        source: ShardId(0),
        destination: ShardId(1),
        class: LaneClass::Request,
    };
    const RESP: LaneId = LaneId {
        source: ShardId(1),
        destination: ShardId(0),
        class: LaneClass::Response,
    };
    const ALICE: Address = Address::repeat_byte(0xa1);

    fn msg(lane: LaneId, sequence: u64, body: MessageBody) -> CrossShardMessage {
        CrossShardMessage {
            lane,
            sequence,
            origin: Origin {
                tx_hash: B256::ZERO,
                initiator: ALICE,
                depth: 0,
            },
            body,
        }
    }

    fn call(sequence: u64, id: u8, value: u64) -> CrossShardMessage {
        msg(
            REQ,
            sequence,
            MessageBody::Call {
                call_id: Hash32([id; 32]),
                from: ALICE,
                to: Address::repeat_byte(0xb0),
                calldata: Default::default(),
                value: U256::from(value),
                gas_limit: 0,
                gas_price: U256::ZERO,
                callback: None,
                deadline: None,
            },
        )
    }

    fn response(sequence: u64, id: u8, refund: u64) -> CrossShardMessage {
        msg(
            RESP,
            sequence,
            MessageBody::Response {
                call_id: Hash32([id; 32]),
                to: ALICE,
                outcome: Outcome::OutOfGas,
                refund: U256::from(refund),
                callback: None,
                gas_price: U256::ZERO,
            },
        )
    }

    fn record(f: &mut Flight, messages: Vec<CrossShardMessage>) {
        f.record_messages(&messages);
    }

    /// A shard's state: `balance` held by one account; lanes as `(lane, emitted, executed)`.
    fn state(balance: u64, lanes: &[(LaneId, u64, u64)]) -> MemoryStore {
        let mut store = MemoryStore::new();
        let mut changes = ChangeSet::default();
        changes.accounts.insert(
            hash_address(&ALICE),
            Some(AccountRecord {
                balance: U256::from(balance),
                address: ALICE,
                nonce: 0,
                code_hash: B256::ZERO,
                storage_root: B256::ZERO,
            }),
        );
        let sys = hash_address(&CROSS_SHARD);
        for (lane, emitted, executed) in lanes {
            changes.storage.insert(
                (sys, hash_slot(&slots::outbound(lane))),
                U256::from(*emitted),
            );
            changes.storage.insert(
                (sys, hash_slot(&slots::inbound(lane))),
                U256::from(*executed),
            );
        }
        store.apply(&changes).unwrap();
        store
    }

    fn cut<'a>(a: &'a MemoryStore, b: &'a MemoryStore) -> BTreeMap<u16, &'a MemoryStore> {
        BTreeMap::from([(0, a), (1, b)])
    }

    #[test]
    fn value_in_flight_is_counted_and_missing_value_is_a_violation() {
        let mut f = Flight::default();
        record(&mut f, vec![call(1, 1, 30), call(2, 2, 20)]);
        // Supply 100: shard 0 sent 50 (both calls), shard 1 executed the first (30) and
        // answered it with a refund of 30 that shard 0 has not executed yet.
        record(&mut f, vec![response(1, 1, 30)]);
        let s0 = state(50, &[(REQ, 2, 0), (RESP, 0, 0)]);
        let s1 = state(0, &[(REQ, 0, 1), (RESP, 1, 0)]);
        // In flight: call 2 (20) and response 1 (30); executed call 1's value was refunded.
        assert_eq!(f.check(2, &cut(&s0, &s1), U256::from(100)), Ok(()));
        // Shard 1's state is older than shard 0's: call 1 not yet executed, no response.
        let s1_old = state(0, &[(REQ, 0, 0), (RESP, 0, 0)]);
        assert_eq!(f.check(2, &cut(&s0, &s1_old), U256::from(100)), Ok(()));
        // One wei missing on shard 0: CS-I3.
        let s0_bad = state(49, &[(REQ, 2, 0), (RESP, 0, 0)]);
        let e = f.check(2, &cut(&s0_bad, &s1), U256::from(100)).unwrap_err();
        assert!(e.contains("CS-I3") && e.contains("in flight +50 -0"), "{e}");
        // The source's cut behind the destination's: counted on both sides, subtracted.
        let s0_old = state(100, &[(REQ, 0, 0), (RESP, 0, 0)]);
        let s1_ahead = state(30, &[(REQ, 0, 1), (RESP, 0, 0)]);
        let mut g = Flight::default();
        record(&mut g, vec![call(1, 1, 30)]);
        // Shard 1 executed call 1 (30 credited) but shows no response: CS-I2 fires first.
        let e = g
            .check(2, &cut(&s0_old, &s1_ahead), U256::from(100))
            .unwrap_err();
        assert!(
            e.contains("CS-I2") && e.contains("without its response"),
            "{e}"
        );
        let mut g = Flight::default();
        record(
            &mut g,
            vec![msg(
                REQ,
                1,
                MessageBody::Transfer {
                    from: ALICE,
                    to: ALICE,
                    value: U256::from(30),
                },
            )],
        );
        assert_eq!(
            g.check(2, &cut(&s0_old, &s1_ahead), U256::from(100)),
            Ok(())
        );
        assert_eq!(g.cuts, 1);
    }

    #[test]
    fn a_call_answered_twice_or_never_sent_or_unanswered_is_a_violation() {
        // Answered twice.
        let mut f = Flight::default();
        record(&mut f, vec![call(1, 1, 0)]);
        record(&mut f, vec![response(1, 1, 0)]);
        // The same response recorded by another validator: fine.
        record(&mut f, vec![response(1, 1, 0)]);
        let s0 = state(0, &[(REQ, 1, 0), (RESP, 0, 0)]);
        let s1 = state(0, &[(REQ, 0, 1), (RESP, 1, 0)]);
        assert_eq!(f.check(2, &cut(&s0, &s1), U256::ZERO), Ok(()));
        record(&mut f, vec![response(2, 1, 0)]);
        let e = f.check(2, &cut(&s0, &s1), U256::ZERO).unwrap_err();
        assert!(e.contains("CS-I2") && e.contains("answered twice"), "{e}");
        // A response to a call never sent.
        let mut f = Flight::default();
        record(&mut f, vec![response(1, 9, 0)]);
        let e = f.check(2, &cut(&s0, &s1), U256::ZERO).unwrap_err();
        assert!(e.contains("CS-I2") && e.contains("never sent"), "{e}");
        // A response sent to someone else than the caller.
        let mut f = Flight::default();
        record(&mut f, vec![call(1, 1, 0)]);
        let mut r = response(1, 1, 0);
        if let MessageBody::Response { to, .. } = &mut r.body {
            *to = Address::repeat_byte(0xee);
        }
        record(&mut f, vec![r]);
        let e = f.check(2, &cut(&s0, &s1), U256::ZERO).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        // A call executed by a final block that emitted no response.
        let mut f = Flight::default();
        record(&mut f, vec![call(1, 1, 0)]);
        let s1_silent = state(0, &[(REQ, 0, 1), (RESP, 0, 0)]);
        let e = f.check(2, &cut(&s0, &s1_silent), U256::ZERO).unwrap_err();
        assert!(
            e.contains("CS-I2") && e.contains("without its response"),
            "{e}"
        );
        // Two final blocks disagreeing on a lane's message.
        let mut f = Flight::default();
        record(&mut f, vec![call(1, 1, 0)]);
        record(&mut f, vec![call(1, 2, 0)]);
        let e = f.check(2, &cut(&s0, &s1), U256::ZERO).unwrap_err();
        assert!(e.contains("two different messages"), "{e}");
    }
}
