//! Packaged Byzantine validators for full-stack runs: each is a real validator whose
//! [`Adversary`] rewrites what it sends (the honest event loop, core and executor are
//! untouched), except twins ([`Behaviour::Twins`], [`crate::twins`]), which rewrite nothing. All act with the validator's real key, so everything they send is validly
//! signed: honest validators must see through the content, not a bad signature.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::U256;
use shardnet_consensus::{ConsensusMessage, Proposal};
use shardnet_node::validator::{Adversary, Outgoing};
use shardnet_protocol::{
    BlockHash, Committee, Hash32, LaneSegment, MessageBody, SecretKey, Vote, VoteData,
};

/// What a Byzantine validator does (scenario TOML: `behaviour = "equivocate"` etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// As leader, sends one block to half its committee and a conflicting one (same parent
    /// and payload, timestamp one millisecond later) to the other half.
    Equivocate,
    /// Sends each vote together with a vote for a block that does not exist.
    DoubleVote,
    /// Never sends its votes.
    WithholdVotes,
    /// Pushes, beside every real lane segment, a forged copy whose first message pays 1,000
    /// times more (or claims another origin): the destination must reject it (CS-8) and block
    /// the sender.
    ForgeSegments,
    /// Twins: the validator's key runs on two hosts, each an honest validator with its own
    /// disk that reaches only its own group of honest validators ([`crate::twins`]); no
    /// message is rewritten.
    Twins,
}

/// A [`Behaviour`] at work on one validator, counting what it did.
pub struct Byzantine {
    behaviour: Behaviour,
    committee: Committee,
    key: SecretKey,
    counter: u64,
    actions: Arc<AtomicU64>,
}

impl std::fmt::Debug for Byzantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Byzantine")
            .field("behaviour", &self.behaviour)
            .field("key", &self.key.public_key())
            .finish_non_exhaustive()
    }
}

impl Byzantine {
    /// `behaviour` for the validator holding `key` in `committee`; every rewritten, withheld
    /// or injected message adds one to `actions`.
    pub fn new(
        behaviour: Behaviour,
        committee: Committee,
        key: SecretKey,
        actions: Arc<AtomicU64>,
    ) -> Self {
        Self {
            behaviour,
            committee,
            key,
            counter: 0,
            actions,
        }
    }

    fn acted(&self) {
        self.actions.fetch_add(1, Ordering::Relaxed);
    }
}

impl Adversary for Byzantine {
    fn consensus(&mut self, out: Outgoing) -> Vec<Outgoing> {
        match (self.behaviour, out) {
            (Behaviour::Equivocate, Outgoing::All(ConsensusMessage::Proposal(p))) => {
                let mut other = p.block.clone();
                other.header.timestamp_ms += 1;
                let conflicting = Proposal::sign(&self.committee, &self.key, other, p.tc.clone());
                self.acted();
                vec![Outgoing::Split(
                    ConsensusMessage::Proposal(p),
                    ConsensusMessage::Proposal(Box::new(conflicting)),
                )]
            }
            (Behaviour::DoubleVote, Outgoing::To(to, ConsensusMessage::Vote(v))) => {
                self.counter += 1;
                let fake = blake3::hash(&self.counter.to_le_bytes());
                let data = VoteData {
                    block: BlockHash(Hash32(*fake.as_bytes())),
                    ..v.data
                };
                let other = Vote::sign(&self.committee, &self.key, v.signer, data);
                self.acted();
                vec![
                    Outgoing::To(to, ConsensusMessage::Vote(v)),
                    Outgoing::To(to, ConsensusMessage::Vote(other)),
                ]
            }
            (Behaviour::WithholdVotes, Outgoing::To(_, ConsensusMessage::Vote(_))) => {
                self.acted();
                vec![]
            }
            (_, out) => vec![out],
        }
    }

    fn segment(&mut self, segment: LaneSegment) -> Vec<LaneSegment> {
        if self.behaviour != Behaviour::ForgeSegments || segment.messages.is_empty() {
            return vec![segment];
        }
        let mut forged = segment.clone();
        if let Some(m) = forged.messages.as_mut_slice().first_mut() {
            match &mut m.body {
                MessageBody::Transfer { value, .. } => {
                    *value = value.saturating_mul(U256::from(1_000u64)).max(U256::ONE);
                }
                _ => m.origin.depth = m.origin.depth.wrapping_add(1),
            }
        }
        self.acted();
        // The forgery first: a destination that accepted it would never take the real one.
        vec![forged, segment]
    }
}
