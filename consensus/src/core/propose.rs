//! Leading a round (C-6) and voting on proposals (S-1, S-2, S-4, S-5, S-6).

use std::sync::Arc;

use shardnet_protocol::{
    Block, BlockHash, BlockHeader, ExecutionCommitment, Payload, Round, ValidatorIndex, Vote,
    VoteData,
};

use super::{Core, Fault, Held, Output, PayloadRequest, TimerId};
use crate::block_tree::TreeError;
use crate::messages::{ConsensusMessage, Proposal};
use crate::safety;
use crate::votes::VoteOutcome;

/// Distinct missing parents for which proposals are buffered.
const MAX_WAITING_PARENTS: usize = 16;

impl Core {
    /// C-6: if this validator leads `self.round` and has not proposed, ask for a payload on
    /// top of `high_qc` (once its block is known).
    pub(super) fn maybe_request_payload(&mut self, now_ms: u64) {
        let Some(me) = self.index() else { return };
        let round = self.round;
        // Never in a round already voted or timed out in: after a restart `proposed_round` is
        // forgotten, and proposing again would equivocate (E-1). As Aptos' `sign_proposal`.
        if self.leaders.leader(round) != me
            || self.proposed_round >= Some(round)
            || self.payload_requested.is_some_and(|(r, _, _)| r >= round)
            || round <= self.safety.last_voted_round
        {
            return;
        }
        let Some(parent) = self.tree.get(&self.high_qc.block()).cloned() else {
            return; // Sync will fetch it; `on_block_inserted` retries.
        };
        // C-6 pacing: `min_block_interval_ms` after the parent's timestamp, but never longer
        // than that after entering the round, so a parent stamped by a fast clock cannot make
        // this leader wait past its round timer.
        let ready_at = parent
            .header
            .timestamp_ms
            .min(self.round_entered_ms)
            .saturating_add(self.cfg.min_block_interval_ms);
        if now_ms < ready_at {
            self.outputs.push_back(Output::SetTimer {
                timer: TimerId::Propose(round),
                at_ms: ready_at,
            });
            return;
        }
        let timestamp_ms = now_ms.max(parent.header.timestamp_ms);
        self.payload_requested = Some((round, parent.hash(), timestamp_ms));
        let height = parent.header.height.next();
        self.outputs
            .push_back(Output::RequestPayload(PayloadRequest {
                round,
                height,
                parent,
                timestamp_ms,
                proposer: me,
            }));
    }

    pub(super) fn on_payload_built(
        &mut self,
        now_ms: u64,
        round: Round,
        payload: Payload,
        execution: ExecutionCommitment,
    ) {
        if round != self.round
            || self.proposed_round >= Some(round)
            || round <= self.safety.last_voted_round
        {
            return; // The round moved on (or timed out) while the application worked.
        }
        let Some((requested_round, requested_parent, timestamp_ms)) = self.payload_requested else {
            return;
        };
        if (requested_round, requested_parent) != (round, self.high_qc.block()) {
            // A higher QC arrived while the application built on the old one: the payload's
            // execution commitment is for the wrong parent. Build again on the new one.
            self.payload_requested = None;
            return self.maybe_request_payload(now_ms);
        }
        let Some((me, key)) = &self.me else { return };
        let Some(parent) = self.tree.get(&self.high_qc.block()) else {
            return;
        };
        let header = BlockHeader {
            chain_id: self.committee.chain_id(),
            shard: self.committee.shard(),
            epoch: self.committee.epoch(),
            height: parent.header.height.next(),
            round,
            parent: parent.hash(),
            proposer: *me,
            timestamp_ms,
            payload_root: payload.root(),
            execution,
        };
        let block = Block {
            header,
            justify: self.high_qc.clone(),
            payload,
        };
        let tc = self.high_tc.clone().filter(|tc| tc.round.next() == round);
        let proposal = Proposal::sign(&self.committee, key, block, tc);
        let me = *me;
        self.proposed_round = Some(round);
        // The broadcast waits for the next persist: the leader's own vote for it (or its
        // timeout of the round), which makes `last_voted_round >= round` durable. A leader
        // that crashed before that has released nothing, and one that crashed after will not
        // propose in this round again (`maybe_request_payload`): no double proposal (E-1).
        let broadcast = Output::Broadcast(ConsensusMessage::Proposal(Box::new(proposal.clone())));
        self.held
            .push_back((self.next_persist_id + 1, Held::Output(broadcast)));
        self.on_proposal(now_ms, me, proposal);
    }

    /// B-1 checks, then hands the payload to the application before voting (S-5).
    pub(super) fn on_proposal(&mut self, now_ms: u64, from: ValidatorIndex, p: Proposal) {
        let h = &p.block.header;
        let round = h.round;
        if h.chain_id != self.committee.chain_id()
            || h.shard != self.committee.shard()
            || h.epoch != self.committee.epoch()
        {
            return self.fault(
                from,
                Fault::MalformedBlock("proposal for another chain, shard or epoch"),
            );
        }
        if round.0 + 1 < self.round.0 {
            return; // Stale: ignore without blame.
        }
        if round.0 > self.round.0 + self.cfg.future_rounds {
            // Too far ahead to keep; its certificates still let us catch up (P-4).
            return self.catch_up_to(now_ms, from, &p.block.justify, p.tc.as_ref());
        }
        if h.proposer != self.leaders.leader(round) {
            // Leader views can differ while a validator's committed chain lags (reputation
            // reads it, C-5). The proposal's certificates are valid whoever carries them:
            // take them (P-4), so a lagging validator commits, and its view converges, instead
            // of ignoring every proposal of the leaders it disagrees on. Then blame.
            self.catch_up_to(now_ms, from, &p.block.justify, p.tc.as_ref());
            return self.fault(from, Fault::NotLeader(round));
        }
        let signed = p.signed();
        if let Err(e) = signed.verify(&self.committee) {
            return self.fault(from, Fault::InvalidCert(e));
        }
        if let Some(ev) = self.proposals.observe(signed) {
            self.evidence(ev);
            return;
        }
        if let Err(e) = self.verify_qc(&p.block.justify) {
            return self.fault(from, Fault::InvalidCert(e));
        }
        if let Some(tc) = &p.tc
            && let Err(e) = self.verify_tc(tc)
        {
            return self.fault(from, Fault::InvalidCert(e));
        }
        // P-4: certificates first, so a lagging validator catches up to the proposal's round.
        self.process_qc(now_ms, p.block.justify.clone(), Some(from));
        if let Some(tc) = p.tc.clone() {
            self.process_tc(now_ms, tc);
        }
        if round != self.round {
            return;
        }
        let parent = p.block.header.parent;
        let block = Arc::new(p.block);
        match self.tree.insert(Arc::clone(&block)) {
            Ok(()) => {
                self.latest_proposal = Some((Arc::clone(&block), p.tc.clone(), p.signature));
            }
            Err(TreeError::UnknownParent) => {
                if !self.waiting_for_parent.contains_key(&parent)
                    && self.waiting_for_parent.len() >= MAX_WAITING_PARENTS
                {
                    return; // Bounded: sync will bring the parent and later proposals.
                }
                let pending = self.waiting_for_parent.entry(parent).or_default();
                if pending.len() < 4 {
                    pending.push((
                        from,
                        Proposal {
                            block: Block::clone(&block),
                            tc: p.tc,
                            signature: p.signature,
                        },
                    ));
                }
                return;
            }
            Err(TreeError::Stale) => return,
            Err(TreeError::Malformed(why)) => return self.fault(from, Fault::MalformedBlock(why)),
        }
        self.on_block_inserted(now_ms, block.hash());
        if self.index().is_none() {
            return;
        }
        if safety::check_vote(&self.safety, &block, p.tc.as_ref()).is_err() {
            return;
        }
        let hash = block.hash();
        if self.awaiting_verdict.contains_key(&hash) {
            return;
        }
        self.awaiting_verdict.insert(hash, p.tc);
        self.outputs.push_back(Output::VerifyPayload(block));
    }

    /// S-5 then S-1/S-2 again (the round may have moved), then S-4: persist, then vote.
    pub(super) fn on_verdict(&mut self, now_ms: u64, hash: BlockHash, valid: bool) {
        let Some(tc) = self.awaiting_verdict.remove(&hash) else {
            return;
        };
        let Some(block) = self.tree.get(&hash).cloned() else {
            return;
        };
        if !valid {
            let proposer = block.header.proposer;
            return self.fault(
                proposer,
                Fault::MalformedBlock("application rejected the payload"),
            );
        }
        if block.header.round != self.round
            || safety::check_vote(&self.safety, &block, tc.as_ref()).is_err()
        {
            return;
        }
        let Some((me, key)) = &self.me else { return };
        let data = VoteData {
            block: hash,
            round: block.header.round,
            height: block.header.height,
        };
        let vote = Vote::sign(&self.committee, key, *me, data);
        safety::record_vote(&mut self.safety, &block, &vote);
        let next_leader = self.leaders.leader(data.round.next());
        let held = if Some(next_leader) == self.index() {
            Held::LocalVote(vote)
        } else {
            Held::Output(Output::Send {
                to: next_leader,
                message: ConsensusMessage::Vote(vote),
            })
        };
        self.unpersisted_blocks.push(Arc::clone(&block));
        self.persist_then(vec![held]);
        let _ = now_ms;
    }

    pub(super) fn on_vote(&mut self, now_ms: u64, from: ValidatorIndex, vote: Vote) {
        if vote.signer != from {
            return self.fault(
                from,
                Fault::MalformedBlock("vote relayed for another signer"),
            );
        }
        let r = vote.data.round;
        if r.0 + 1 < self.round.0 || r.0 > self.round.0 + self.cfg.future_rounds {
            return;
        }
        if let Err(e) = vote.verify(&self.committee) {
            return self.fault(from, Fault::InvalidCert(e));
        }
        self.on_vote_verified(now_ms, vote);
    }

    /// Aggregates a verified vote (S-6: only the next leader collects).
    pub(super) fn on_vote_verified(&mut self, now_ms: u64, vote: Vote) {
        if self.index() != Some(self.leaders.leader(vote.data.round.next())) {
            return;
        }
        match self.votes.add(&self.committee, vote) {
            VoteOutcome::Pending => {}
            VoteOutcome::Quorum(qc) => self.process_qc(now_ms, qc, None),
            VoteOutcome::Equivocation(ev) => self.evidence(*ev),
        }
    }

    /// Called whenever a block joins the tree: retries proposals that waited for it, and
    /// the leader's own payload request.
    pub(super) fn on_block_inserted(&mut self, now_ms: u64, hash: BlockHash) {
        self.sync.resolved(&hash);
        if let Some(waiting) = self.waiting_for_parent.remove(&hash) {
            for (from, p) in waiting {
                self.on_proposal(now_ms, from, p);
            }
        }
        if let Some(qc) = self.tree.cert(&hash).cloned() {
            self.try_commit(&qc);
        }
        self.maybe_request_payload(now_ms);
    }
}
