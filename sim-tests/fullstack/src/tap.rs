//! A wire tap on every honest validator (I-3 in `specs/consensus.md`): through the node's
//! [`Adversary`] hook, which sees every consensus message as it leaves, [`Tap`] records each
//! vote and timeout and passes everything on unchanged. [`Votes::check`] fails the run when one
//! honest validator has sent votes for two different blocks in one round, or a vote in a round
//! it had sent a timeout for: the double vote a validator
//! that voted, lost the safety data of that vote in a crash and voted again would send (what a
//! core releasing votes before their safety data is durable does; `TornPoint::SafetyLost`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use alloy_primitives::B256;
use shardnet_consensus::ConsensusMessage;
use shardnet_node::validator::{Adversary, Outgoing};
use shardnet_protocol::Vote;

use crate::faults::HostId;

/// Every vote honest validators sent, by (shard, validator, round): the first block, and the
/// first conflicting one if any.
#[derive(Debug, Default)]
pub struct Votes {
    first: BTreeMap<(HostId, u64), (u64, B256)>,
    /// Rounds each validator sent a timeout for.
    timed_out: std::collections::BTreeSet<(HostId, u64)>,
    conflict: Option<String>,
    /// Votes recorded.
    pub seen: u64,
}

impl Votes {
    /// `host` sent `vote`.
    pub fn record(&mut self, host: HostId, vote: &Vote) {
        self.seen += 1;
        let (round, block) = (vote.data.round.0, B256::from(vote.data.block.0.0));
        let height = vote.data.height.0;
        // A vote already sent may be sent again (after a restart the core re-sends its last
        // one, S-4): only a new one after a timeout of its round breaks I-3.
        let new = !self.first.contains_key(&(host, round));
        let (h, first) = *self.first.entry((host, round)).or_insert((height, block));
        if first != block && self.conflict.is_none() {
            self.conflict = Some(format!(
                "I-3: honest validator s{}v{} voted twice in round {round}: for block {first} \
                 (height {h}) and for block {block} (height {height})",
                host.0, host.1
            ));
        }
        if new && self.timed_out.contains(&(host, round)) && self.conflict.is_none() {
            self.conflict = Some(format!(
                "I-3: honest validator s{}v{} voted in round {round} (block {block}) after \
                 timing it out",
                host.0, host.1
            ));
        }
    }

    /// `host` sent a timeout of `round`.
    pub fn timeout(&mut self, host: HostId, round: u64) {
        self.timed_out.insert((host, round));
    }

    /// The first double vote seen, if any.
    pub fn check(&self) -> Result<(), String> {
        self.conflict.clone().map_or(Ok(()), Err)
    }
}

/// Records what an honest validator sends; changes nothing.
#[derive(Debug)]
pub struct Tap {
    host: HostId,
    votes: Arc<Mutex<Votes>>,
}

impl Tap {
    /// A tap on `host`, reporting to `votes`.
    pub fn new(host: HostId, votes: Arc<Mutex<Votes>>) -> Self {
        Self { host, votes }
    }
}

impl Adversary for Tap {
    fn consensus(&mut self, out: Outgoing) -> Vec<Outgoing> {
        let mut votes = self.votes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut note = |m: &ConsensusMessage| match m {
            ConsensusMessage::Vote(v) => votes.record(self.host, v),
            ConsensusMessage::Timeout(t, _) => votes.timeout(self.host, t.round.0),
            _ => {}
        };
        match &out {
            Outgoing::To(_, m) | Outgoing::All(m) => note(m),
            Outgoing::Split(a, b) => {
                note(a);
                note(b);
            }
        }
        vec![out]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardnet_protocol::{BlockHash, Height, Round, Signature, ValidatorIndex, VoteData};

    fn vote(round: u64, block: u8) -> Vote {
        Vote {
            data: VoteData {
                block: BlockHash(shardnet_protocol::Hash32([block; 32])),
                round: Round(round),
                height: Height(round),
            },
            signer: ValidatorIndex(1),
            signature: Signature::from_bytes(&[0; 64]),
        }
    }

    #[test]
    fn a_double_vote_of_an_honest_validator_is_a_violation() {
        let votes = Arc::new(Mutex::new(Votes::default()));
        let mut tap = Tap::new((0, 1), Arc::clone(&votes));
        let out = tap.consensus(Outgoing::To(
            ValidatorIndex(2),
            ConsensusMessage::Vote(vote(5, 1)),
        ));
        assert_eq!(out.len(), 1, "the tap passes everything on");
        // The same vote again (a resend), another round, another validator: fine.
        tap.consensus(Outgoing::All(ConsensusMessage::Vote(vote(5, 1))));
        tap.consensus(Outgoing::All(ConsensusMessage::Vote(vote(6, 2))));
        Tap::new((0, 2), Arc::clone(&votes))
            .consensus(Outgoing::All(ConsensusMessage::Vote(vote(5, 3))));
        assert_eq!(votes.lock().unwrap().check(), Ok(()));
        // Another block in round 5 from s0v1: I-3.
        tap.consensus(Outgoing::To(
            ValidatorIndex(3),
            ConsensusMessage::Vote(vote(5, 4)),
        ));
        let e = votes.lock().unwrap().check().unwrap_err();
        assert!(
            e.contains("I-3") && e.contains("s0v1") && e.contains("round 5"),
            "{e}"
        );
        assert_eq!(votes.lock().unwrap().seen, 5);
    }

    #[test]
    fn a_vote_in_a_round_already_timed_out_is_a_violation() {
        let mut votes = Votes::default();
        votes.record((1, 0), &vote(3, 1));
        votes.timeout((1, 0), 3); // a vote, then a timeout of the same round: fine
        votes.record((1, 0), &vote(3, 1)); // and that vote re-sent after a restart: fine
        votes.timeout((1, 0), 4);
        votes.record((1, 1), &vote(4, 1)); // another validator: fine
        assert_eq!(votes.check(), Ok(()));
        votes.record((1, 0), &vote(4, 1));
        let e = votes.check().unwrap_err();
        assert!(
            e.contains("I-3") && e.contains("after timing it out"),
            "{e}"
        );
    }
}
