//! CS-16, the pull half of the relay, as a sans-IO core: which missing lane ranges a
//! destination validator asks for, when, and from which source validator.
//!
//! Pushes (and re-pushes from the source's durable outbox) normally deliver every segment. A
//! destination validator pulls only when a lane of its own shard stops moving while it does
//! not hold the next message:
//! - a *gap*: it holds a later segment but not `executed + 1` (pushes were lost or reordered):
//!   it asks for `executed + 1 ..= first held − 1`;
//! - a *stall*: it holds nothing above `executed`: it probes `executed + 1 ..=
//!   executed + MAX_PULL_MESSAGES`, and a source with nothing there answers with nothing.
//!
//! A lane is eligible [`PULL_STALL_MS`] after its last progress and at most one pull per lane is
//! outstanding. Each pull of a lane goes to the next validator of the source committee (the
//! rotation starts at an offset, the puller's own index, so destination validators spread
//! their pulls), so a dead or Byzantine source validator delays a lane by one pull timeout at
//! most. An answer that brings nothing new doubles the lane's wait, up to
//! [`PULL_MAX_BACKOFF_MS`]: an idle lane costs one small request every 4 s, and a lane that
//! starts moving while every push is lost waits at most that long. Any progress or useful
//! answer resets it. The answer is never trusted: its segments are checked exactly like pushed
//! ones (CS-8) by the caller.

use std::collections::BTreeMap;

use shardnet_protocol::limits::MAX_PULL_MESSAGES;
use shardnet_protocol::{LaneId, LanePull};

/// A lane with no progress for this long, and without its next message held, is pulled.
pub const PULL_STALL_MS: u64 = 2_000;

/// Longest wait between two pulls of a lane whose pulls bring nothing.
pub const PULL_MAX_BACKOFF_MS: u64 = 4_000;

/// How long a requester waits for a pull's answer; a pull outstanding for twice this long is
/// forgotten (its answer can no longer arrive).
pub const PULL_TIMEOUT_MS: u64 = 2_000;

/// One inbound lane as the destination's committed state and held segments show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLane {
    /// The lane (its destination is this shard).
    pub lane: LaneId,
    /// Highest sequence executed by the committed state (CS-2).
    pub executed: u64,
    /// The lowest sequence above `executed` that a held (verified, not yet executed) segment
    /// carries, if any.
    pub next_held: Option<u64>,
}

/// A pull to send: the request and the rotation turn (pick the source committee's member
/// `turn mod committee size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullOrder {
    /// The request.
    pub pull: LanePull,
    /// Which source validator to ask.
    pub turn: usize,
}

#[derive(Clone, Copy, Debug)]
struct LaneState {
    executed: u64,
    next_ms: u64,
    backoff_ms: u64,
    sent_ms: Option<u64>,
    turn: usize,
}

/// The pull scheduler of one destination validator.
#[derive(Clone, Debug, Default)]
pub struct Puller {
    lanes: BTreeMap<LaneId, LaneState>,
    offset: usize,
}

impl Puller {
    /// A scheduler whose rotation over source validators starts at `offset`.
    pub fn new(offset: usize) -> Self {
        Self {
            lanes: BTreeMap::new(),
            offset,
        }
    }

    /// The pulls due at `now` given the lanes' current state.
    pub fn poll(&mut self, now_ms: u64, lanes: &[InboundLane]) -> Vec<PullOrder> {
        let mut out = Vec::new();
        for l in lanes {
            let offset = self.offset;
            let st = self.lanes.entry(l.lane).or_insert(LaneState {
                executed: l.executed,
                next_ms: now_ms.saturating_add(PULL_STALL_MS),
                backoff_ms: PULL_STALL_MS,
                sent_ms: None,
                turn: offset,
            });
            if l.executed > st.executed {
                st.executed = l.executed;
                st.backoff_ms = PULL_STALL_MS;
                st.next_ms = now_ms.saturating_add(PULL_STALL_MS);
            }
            if st
                .sent_ms
                .is_some_and(|t| now_ms.saturating_sub(t) > 2 * PULL_TIMEOUT_MS)
            {
                st.sent_ms = None;
            }
            if st.sent_ms.is_some() || now_ms < st.next_ms {
                continue;
            }
            let Some(first) = l.executed.checked_add(1) else {
                continue;
            };
            let last = match l.next_held {
                // The next message is here: it waits for a block, not for the network.
                Some(held) if held <= first => continue,
                Some(held) => held - 1,
                None => first.saturating_add(MAX_PULL_MESSAGES as u64 - 1),
            };
            let last = last.min(first.saturating_add(MAX_PULL_MESSAGES as u64 - 1));
            st.sent_ms = Some(now_ms);
            let turn = st.turn;
            st.turn = st.turn.wrapping_add(1);
            out.push(PullOrder {
                pull: LanePull {
                    lane: l.lane,
                    first,
                    last,
                },
                turn,
            });
        }
        out
    }

    /// The pull of `lane` is over: `useful` if its answer brought a segment not held before.
    pub fn answered(&mut self, lane: &LaneId, useful: bool, now_ms: u64) {
        if let Some(st) = self.lanes.get_mut(lane) {
            st.sent_ms = None;
            st.backoff_ms = if useful {
                PULL_STALL_MS
            } else {
                st.backoff_ms.saturating_mul(2).min(PULL_MAX_BACKOFF_MS)
            };
            st.next_ms = now_ms.saturating_add(st.backoff_ms);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use shardnet_protocol::{LaneClass, ShardId};

    use super::*;

    const LANE: LaneId = LaneId {
        source: ShardId(1),
        destination: ShardId(0),
        class: LaneClass::Request,
    };

    fn lane(executed: u64, next_held: Option<u64>) -> [InboundLane; 1] {
        [InboundLane {
            lane: LANE,
            executed,
            next_held,
        }]
    }

    #[test]
    fn a_stalled_lane_is_probed_then_backs_off_and_rotates() {
        let mut p = Puller::new(3);
        assert!(p.poll(0, &lane(5, None)).is_empty());
        assert!(p.poll(PULL_STALL_MS - 1, &lane(5, None)).is_empty());
        let due = p.poll(PULL_STALL_MS, &lane(5, None));
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].pull,
            LanePull {
                lane: LANE,
                first: 6,
                last: 5 + MAX_PULL_MESSAGES as u64
            }
        );
        assert_eq!(due[0].turn, 3);
        // One outstanding pull per lane.
        assert!(p.poll(PULL_STALL_MS + 10, &lane(5, None)).is_empty());
        // Nothing came: the wait doubles, and the next pull asks the next validator.
        p.answered(&LANE, false, 3_000);
        assert!(
            p.poll(3_000 + 2 * PULL_STALL_MS - 1, &lane(5, None))
                .is_empty()
        );
        let due = p.poll(3_000 + 2 * PULL_STALL_MS, &lane(5, None));
        assert_eq!(due[0].turn, 4);
        p.answered(&LANE, false, 10_000);
        p.answered(&LANE, false, 10_000);
        p.answered(&LANE, false, 10_000);
        assert!(
            p.poll(10_000 + PULL_MAX_BACKOFF_MS - 1, &lane(5, None))
                .is_empty()
        );
        assert_eq!(
            p.poll(10_000 + PULL_MAX_BACKOFF_MS, &lane(5, None)).len(),
            1
        );
    }

    #[test]
    fn progress_resets_and_a_held_next_message_is_not_pulled() {
        let mut p = Puller::new(0);
        assert!(p.poll(0, &lane(0, None)).is_empty());
        // Progress at 1.5 s: the stall clock restarts.
        assert!(p.poll(1_500, &lane(2, None)).is_empty());
        assert!(p.poll(3_000, &lane(2, None)).is_empty());
        // The next message is held (waiting for a block): nothing to pull.
        assert!(p.poll(4_000, &lane(2, Some(3))).is_empty());
        // A gap: 3 and 4 are missing, 5 is held.
        let due = p.poll(4_000, &lane(2, Some(5)));
        assert_eq!(
            due[0].pull,
            LanePull {
                lane: LANE,
                first: 3,
                last: 4
            }
        );
        assert!(due[0].pull.is_valid());
    }

    #[test]
    fn a_lost_answer_is_forgotten_after_twice_the_timeout() {
        let mut p = Puller::new(0);
        p.poll(0, &lane(0, None));
        assert_eq!(p.poll(PULL_STALL_MS, &lane(0, None)).len(), 1);
        assert!(
            p.poll(PULL_STALL_MS + 2 * PULL_TIMEOUT_MS, &lane(0, None))
                .is_empty()
        );
        assert_eq!(
            p.poll(PULL_STALL_MS + 2 * PULL_TIMEOUT_MS + 1, &lane(0, None))
                .len(),
            1
        );
    }

    #[test]
    fn huge_watermarks_do_not_overflow() {
        let mut p = Puller::new(usize::MAX);
        p.poll(0, &lane(u64::MAX - 1, None));
        let due = p.poll(PULL_STALL_MS, &lane(u64::MAX - 1, None));
        assert_eq!(due[0].pull.first, u64::MAX);
        assert_eq!(due[0].pull.last, u64::MAX);
        assert!(
            p.poll(PULL_MAX_BACKOFF_MS * 4, &lane(u64::MAX, None))
                .is_empty()
        );
    }
}
