//! Rounds, timers and timeouts (C-3, C-4, P-1 to P-6, S-3).

use shardnet_protocol::{Block, QuorumCert, Round, Timeout, TimeoutCert, ValidatorIndex};

use super::{Core, Fault, Held, Output, TimerId};
use crate::messages::{ConsensusMessage, Proposal};
use crate::safety;

impl Core {
    /// Moves to `round` (never backwards), arming its timer with backoff (P-1).
    pub(super) fn enter_round(&mut self, now_ms: u64, round: Round, by_timeout: bool) {
        if round < self.round {
            return;
        }
        if round > self.round || self.round_deadline_ms == 0 {
            self.consecutive_timeouts = if by_timeout {
                self.consecutive_timeouts.saturating_add(1)
            } else {
                0
            };
            self.round = round;
            self.round_entered_ms = now_ms;
            self.my_timeout = None;
            let exp = self
                .consecutive_timeouts
                .saturating_sub(self.cfg.backoff_after)
                .min(self.cfg.max_backoff_exponent);
            let duration = (0..exp).fold(self.cfg.base_timeout_ms, |d, _| {
                d.saturating_mul(u64::from(self.cfg.backoff_percent)) / 100
            });
            self.round_deadline_ms = now_ms.saturating_add(duration);
            self.outputs.push_back(Output::SetTimer {
                timer: TimerId::Round(round),
                at_ms: self.round_deadline_ms,
            });
            let keep = Round(round.0.saturating_sub(1));
            self.votes.prune_below(keep);
            self.timeouts.prune_below(keep);
            self.proposals.prune_below(keep);
            self.reported = self.reported.split_off(&(keep, ValidatorIndex(0), 0));
        }
        self.maybe_request_payload(now_ms);
    }

    /// P-2: the round timer fired.
    pub(super) fn on_round_timer(&mut self, now_ms: u64, round: Round) {
        if round != self.round {
            return; // A stale timer of a finished round.
        }
        if let Some(t) = self.my_timeout.clone() {
            // Already timed out: re-broadcast for lossy links, and re-arm. Not while the first
            // broadcast is still held for persistence (S-4): that would release the timeout
            // before the safety data forbidding a vote in this round is durable.
            let held = self
                .held
                .iter()
                .any(|(_, h)| matches!(h, Held::LocalTimeout(mine) if mine.round == round));
            if !held {
                let msg = self.timeout_message(t);
                self.outputs.push_back(Output::Broadcast(msg));
            }
        } else {
            self.local_timeout();
        }
        self.outputs.push_back(Output::SetTimer {
            timer: TimerId::Round(round),
            at_ms: now_ms.saturating_add(self.cfg.base_timeout_ms),
        });
    }

    /// Signs and broadcasts a timeout for the current round if S-3 allows (P-2, P-3).
    pub(super) fn local_timeout(&mut self) {
        if self.my_timeout.is_some() {
            return;
        }
        let Some((me, key)) = &self.me else { return };
        let round = self.round;
        if safety::check_and_record_timeout(&mut self.safety, round, self.high_qc.round()).is_err()
        {
            return;
        }
        let t = Timeout::sign(&self.committee, key, *me, round, self.high_qc.clone());
        self.my_timeout = Some(t.clone());
        let msg = self.timeout_message(t.clone());
        self.persist_then(vec![
            Held::Output(Output::Broadcast(msg)),
            Held::LocalTimeout(Box::new(t)),
        ]);
    }

    /// A timeout with the TC of the previous round, if this validator entered by one (P-2).
    fn timeout_message(&self, t: Timeout) -> ConsensusMessage {
        let tc = self
            .high_tc
            .clone()
            .filter(|tc| tc.round.next() == t.round)
            .map(Box::new);
        ConsensusMessage::Timeout(Box::new(t), tc)
    }

    pub(super) fn on_timeout(
        &mut self,
        now_ms: u64,
        from: ValidatorIndex,
        t: Timeout,
        tc: Option<TimeoutCert>,
    ) {
        if t.signer != from {
            return self.fault(
                from,
                Fault::MalformedBlock("timeout relayed for another signer"),
            );
        }
        let stale = t.round.0 + 1 < self.round.0;
        if stale || (t.round < self.round && t.high_qc.round() < self.high_qc.round()) {
            self.help_behind(from);
        }
        if stale {
            return;
        }
        if t.round.0 > self.round.0 + self.cfg.future_rounds {
            return self.catch_up_to(now_ms, from, &t.high_qc, tc.as_ref());
        }
        if let Err(e) = t.verify(&self.committee) {
            return self.fault(from, Fault::InvalidCert(e));
        }
        if let Err(e) = self.verify_qc(&t.high_qc) {
            return self.fault(from, Fault::InvalidCert(e));
        }
        if let Some(tc) = tc
            && tc.round >= self.round
        {
            if let Err(e) = self.verify_tc(&tc) {
                return self.fault(from, Fault::InvalidCert(e));
            }
            self.process_tc(now_ms, tc); // P-4
        }
        self.on_timeout_verified(now_ms, t);
    }

    pub(super) fn on_timeout_verified(&mut self, now_ms: u64, t: Timeout) {
        self.process_qc(now_ms, t.high_qc.clone(), Some(t.signer)); // P-4
        let round = t.round;
        let progress = self.timeouts.add(&self.committee, t);
        if let Some(tc) = progress.cert {
            self.process_tc(now_ms, tc);
        } else if progress.validity && round >= self.round {
            // P-3: a validity set timed out `round`, so an honest validator is there; join it
            // (safe: S-3 alone decides what may be signed) and give up on it too.
            if round > self.round {
                self.enter_round(now_ms, round, true);
            }
            self.local_timeout();
        }
    }

    /// P-6: `peer` timed out a round we left, either two or more rounds back or without the
    /// QC by which we left it. So it hears no proposal it can use (it was cut off from the
    /// leaders of the rounds since, or its view of who leads differs); its timeouts gather no
    /// TC while the others make progress, and nothing else tells it what it missed. Send it,
    /// once per round of ours, the newest proposal we accepted, as its leader signed it: its
    /// certificates bring the peer to our round (P-4), and it fetches the blocks it lacks
    /// from us first (B-3). A peer that timed out the round we left by TC, with our QC, needs
    /// nothing: that is every round that ends by timeout.
    fn help_behind(&mut self, peer: ValidatorIndex) {
        if self.me.is_none()
            || Some(peer) == self.index()
            || peer.as_usize() >= self.committee.len()
            || self.helped.get(&peer) == Some(&self.round)
        {
            return;
        }
        let Some((block, tc, signature)) = &self.latest_proposal else {
            return;
        };
        let proposal = Proposal {
            block: Block::clone(block),
            tc: tc.clone(),
            signature: *signature,
        };
        self.helped.insert(peer, self.round);
        self.outputs.push_back(Output::Send {
            to: peer,
            message: ConsensusMessage::Proposal(Box::new(proposal)),
        });
    }

    /// A message too far ahead to keep (`future_rounds`) still carries certificates proving
    /// the cluster got there: verify and process them (P-4), so a validator that was down for
    /// longer than the window catches up instead of ignoring everything it hears.
    pub(super) fn catch_up_to(
        &mut self,
        now_ms: u64,
        from: ValidatorIndex,
        qc: &QuorumCert,
        tc: Option<&TimeoutCert>,
    ) {
        if qc.round() > self.high_qc.round() {
            if let Err(e) = self.verify_qc(qc) {
                return self.fault(from, Fault::InvalidCert(e));
            }
            self.process_qc(now_ms, qc.clone(), Some(from));
        }
        if let Some(tc) = tc
            && tc.round >= self.round
        {
            if let Err(e) = self.verify_tc(tc) {
                return self.fault(from, Fault::InvalidCert(e));
            }
            self.process_tc(now_ms, tc.clone());
        }
    }

    /// C-3, C-4, C-7 for a verified QC, shown to us by `shown_by` (if it came from a peer).
    pub(super) fn process_qc(
        &mut self,
        now_ms: u64,
        qc: QuorumCert,
        shown_by: Option<ValidatorIndex>,
    ) {
        if qc.round() > self.high_qc.round() {
            self.high_qc = qc.clone();
        }
        self.tree.record_cert(&qc);
        if self.tree.contains(&qc.block()) {
            self.try_commit(&qc);
        } else if qc.data.height > self.tree.committed_height() {
            self.request_missing(now_ms, &qc, shown_by);
        }
        if qc.round() >= self.round {
            self.enter_round(now_ms, qc.round().next(), false);
        }
    }

    /// C-3 for a verified TC.
    pub(super) fn process_tc(&mut self, now_ms: u64, tc: TimeoutCert) {
        if tc.round < self.round {
            return;
        }
        let next = tc.round.next();
        self.high_tc = Some(tc);
        self.enter_round(now_ms, next, true);
    }
}
