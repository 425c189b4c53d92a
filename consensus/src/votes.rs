//! Collecting votes into QCs and timeouts into TCs, with equivocation detection (E-1).

use std::collections::BTreeMap;

use shardnet_protocol::{
    Committee, QuorumCert, Round, Timeout, TimeoutCert, ValidatorIndex, Vote, VoteData,
};

use crate::messages::{Evidence, SignedProposal};

/// What adding a vote produced.
#[derive(Debug)]
pub enum VoteOutcome {
    /// Nothing new yet.
    Pending,
    /// The vote completed a quorum.
    Quorum(QuorumCert),
    /// The signer had voted for another block in the same round.
    Equivocation(Box<Evidence>),
}

/// Votes per round, for the rounds this validator leads next.
#[derive(Debug, Default)]
pub struct VoteCollector {
    by_round: BTreeMap<Round, BTreeMap<ValidatorIndex, Vote>>,
    formed: BTreeMap<Round, ()>,
}

impl VoteCollector {
    /// Adds a verified vote.
    pub fn add(&mut self, committee: &Committee, vote: Vote) -> VoteOutcome {
        let round = vote.data.round;
        let votes = self.by_round.entry(round).or_default();
        if let Some(prev) = votes.get(&vote.signer) {
            // Only a different block is provable equivocation (`Evidence::verify`).
            if prev.data.block != vote.data.block {
                return VoteOutcome::Equivocation(Box::new(Evidence::DoubleVote(
                    prev.clone(),
                    vote,
                )));
            }
            return VoteOutcome::Pending;
        }
        let data = vote.data;
        votes.insert(vote.signer, vote);
        if self.formed.contains_key(&round) {
            return VoteOutcome::Pending;
        }
        let mut signers = committee.empty_signers();
        for v in votes.values().filter(|v| v.data == data) {
            signers.insert(v.signer);
        }
        if committee.stake_of(&signers) < committee.quorum_threshold() {
            return VoteOutcome::Pending;
        }
        self.formed.insert(round, ());
        VoteOutcome::Quorum(QuorumCert::aggregate(committee, data, votes.values()))
    }

    /// Forgets rounds below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.by_round = self.by_round.split_off(&round);
        self.formed = self.formed.split_off(&round);
    }

    /// The first vote seen from `signer` in `round`, if any.
    pub fn vote_of(&self, round: Round, signer: ValidatorIndex) -> Option<&VoteData> {
        self.by_round.get(&round)?.get(&signer).map(|v| &v.data)
    }
}

/// Timeouts per round.
#[derive(Debug, Default)]
pub struct TimeoutCollector {
    by_round: BTreeMap<Round, BTreeMap<ValidatorIndex, Timeout>>,
}

/// What adding a timeout produced.
#[derive(Debug, Default)]
pub struct TimeoutProgress {
    /// A validity set has timed out this round (P-3).
    pub validity: bool,
    /// A TC formed.
    pub cert: Option<TimeoutCert>,
}

impl TimeoutCollector {
    /// Adds a verified timeout; reports whether the round reached validity or a quorum.
    pub fn add(&mut self, committee: &Committee, timeout: Timeout) -> TimeoutProgress {
        let round = timeout.round;
        let entry = self.by_round.entry(round).or_default();
        if entry.contains_key(&timeout.signer) {
            return TimeoutProgress::default();
        }
        entry.insert(timeout.signer, timeout);
        let mut signers = committee.empty_signers();
        for s in entry.keys() {
            signers.insert(*s);
        }
        let stake = committee.stake_of(&signers);
        let cert = (stake >= committee.quorum_threshold())
            .then(|| TimeoutCert::aggregate(committee, round, entry.values()));
        TimeoutProgress {
            validity: stake >= committee.validity_threshold(),
            cert,
        }
    }

    /// Forgets rounds below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.by_round = self.by_round.split_off(&round);
    }
}

/// First proposal signature seen per (round, proposer), to convict double proposals.
#[derive(Debug, Default)]
pub struct ProposalLog {
    seen: BTreeMap<(Round, ValidatorIndex), SignedProposal>,
}

impl ProposalLog {
    /// Records a verified proposal signature; returns evidence if it conflicts.
    pub fn observe(&mut self, p: SignedProposal) -> Option<Evidence> {
        match self.seen.get(&(p.data.round, p.proposer)) {
            Some(prev) if prev.data.block != p.data.block => {
                Some(Evidence::DoubleProposal(prev.clone(), p))
            }
            Some(_) => None,
            None => {
                self.seen.insert((p.data.round, p.proposer), p);
                None
            }
        }
    }

    /// Forgets rounds below `round`.
    pub fn prune_below(&mut self, round: Round) {
        self.seen = self.seen.split_off(&(round, ValidatorIndex(0)));
    }
}
