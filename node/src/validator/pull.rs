//! CS-16, the pull half of the relay, in the validator's shell: a destination validator asks a
//! source validator for missing lane ranges over the transport's request/response (class
//! `Lanes`, `specs/wire.md` W-3.10), and a source validator answers from its durable outbox.
//!
//! When and what to pull is decided by the sans-IO [`shardnet_exec::lanes::pull::Puller`]; this
//! module only sends its orders, serves requests and feeds the answers back to the app, which
//! checks every segment exactly like a pushed one (CS-8): who answered never matters for safety.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardnet_consensus::SafetyStore;
use shardnet_exec::StateStore;
use shardnet_exec::lanes::pull::{PULL_TIMEOUT_MS, PullOrder};
use shardnet_protocol::{
    BoundedVec, LaneId, LanePull, LanePullResponse, PublicKey, ValidatorIndex, decode, encode,
};
use shardnet_transport::{BlockReason, Blocker, Class, Responder, Sender};

use super::runner::{Event, Runner};

/// A source validator answers at most one pull per (requester, lane) this often; the puller
/// of an honest requester asks far less often (`PULL_STALL_MS`).
const PULL_SERVE_INTERVAL_MS: u64 = 200;

/// Relay settings (CS-16). The default is what production runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayConfig {
    /// Test knob: drop every *pushed* segment that carries messages (watermark reports still
    /// arrive), so that lanes are delivered by pulls alone.
    pub ignore_pushed_segments: bool,
}

/// Why a pull brought no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PullFailure {
    /// Timed out, refused, or the connection failed: try the next source validator.
    Transport,
    /// The answer does not decode: the responder is faulty.
    Undecodable,
}

/// When each (requester, lane) was last served.
pub(crate) type Served = BTreeMap<(ValidatorIndex, LaneId), u64>;

impl<S: StateStore + 'static, F: SafetyStore> Runner<S, F> {
    /// Sends the pulls the [`Puller`](shardnet_exec::lanes::pull::Puller) finds due; each
    /// answer comes back to the loop as [`Event::Pulled`].
    pub(crate) fn pull(&mut self, now_ms: u64) {
        let lanes = match self.app.inbound_lanes() {
            Ok(lanes) => lanes,
            Err(e) => {
                tracing::warn!(error = %e, "reading inbound lanes");
                return;
            }
        };
        for PullOrder { pull, turn } in self.puller.poll(now_ms, &lanes) {
            let members = self
                .committees
                .iter()
                .filter(|c| c.shard() == pull.lane.source)
                .last()
                .map(|c| c.members());
            let Some(peer) =
                members.and_then(|m| m.get(turn % m.len().max(1)).map(|m| m.public_key))
            else {
                self.puller.answered(&pull.lane, false, now_ms);
                continue;
            };
            tracing::debug!(lane = ?pull.lane, first = pull.first, last = pull.last, %peer, "lane pull");
            let net = self.net.clone();
            let events = self.events.clone();
            let frame = Bytes::from(encode(&pull));
            tokio::spawn(async move {
                let timeout = Duration::from_millis(PULL_TIMEOUT_MS);
                let answer = match net.request(&peer, Class::Lanes, frame, timeout).await {
                    Ok(bytes) => {
                        decode::<LanePullResponse>(&bytes).map_err(|_| PullFailure::Undecodable)
                    }
                    Err(_) => Err(PullFailure::Transport),
                };
                if let Some(events) = events.upgrade() {
                    let _ = events.send(Event::Pulled {
                        from: Arc::new(peer),
                        lane: pull.lane,
                        answer,
                    });
                }
            });
        }
    }

    /// Checks a pull's answer: every segment as if pushed (CS-8). A segment that fails the
    /// check, or an answer that does not decode, gets the responder blocked.
    pub(crate) fn pulled(
        &mut self,
        from: &PublicKey,
        lane: &LaneId,
        answer: Result<LanePullResponse, PullFailure>,
        now_ms: u64,
    ) {
        let mut useful = false;
        match answer {
            Err(PullFailure::Transport) => {}
            Err(PullFailure::Undecodable) => self.net.block(from, BlockReason::InvalidMessage),
            Ok(answer) => {
                for segment in answer.segments.into_vec() {
                    // A pull is answered with segments, never with reports.
                    if segment.messages.is_empty() {
                        continue;
                    }
                    match self.app.add_segment(segment) {
                        Ok(new) => useful |= new,
                        Err(e) => {
                            tracing::warn!(peer = %from, error = %e, "invalid pulled segment");
                            self.net.block(from, BlockReason::InvalidMessage);
                            break;
                        }
                    }
                }
            }
        }
        self.puller.answered(lane, useful, now_ms);
    }

    /// Serves a pull from a validator of the lane's destination shard out of the durable
    /// outbox (CS-14: what it holds is exactly what the destination has not certified). Other
    /// requesters, other lanes and requests coming too fast are refused (the reply is dropped).
    pub(crate) fn serve_pull(
        &mut self,
        from: &Arc<PublicKey>,
        pull: &LanePull,
        reply: Responder,
        now_ms: u64,
    ) {
        if !pull.is_valid() {
            self.net.block(from, BlockReason::InvalidMessage);
            return;
        }
        let me = self.committee.shard();
        let Some((shard, _, index)) = self.committees.locate(from) else {
            return;
        };
        if pull.lane.source != me || pull.lane.destination != shard {
            return;
        }
        let last = self.pulls_served.entry((index, pull.lane)).or_insert(0);
        if *last != 0 && now_ms.saturating_sub(*last) < PULL_SERVE_INTERVAL_MS {
            return;
        }
        *last = now_ms.max(1);
        let segments = match self.outbox.serve(pull) {
            Ok(segments) => segments,
            Err(e) => {
                tracing::warn!(error = %e, "serving a lane pull");
                return;
            }
        };
        let Ok(segments) = BoundedVec::try_from_vec(segments) else {
            return;
        };
        let _ = reply.respond(Bytes::from(encode(&LanePullResponse { segments })));
    }
}
