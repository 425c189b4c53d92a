//! Packaged Byzantine behaviours (as commonware packages its equivocator and conflicter):
//! each rewrites what an otherwise correct core sends.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use shardnet_consensus::{ConsensusMessage, Proposal};
use shardnet_protocol::{
    BlockHash, Committee, Hash32, RawTransaction, Round, SecretKey, Signature, Timeout, Vote,
    VoteData,
};

/// What a Byzantine validator does (in scenario TOML: `behaviour = "double-vote"` etc.).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// As leader, sends one block to half the committee and a conflicting one to the rest.
    Equivocate,
    /// Sends each vote together with a vote for a conflicting block.
    DoubleVote,
    /// Two nodes run with this validator's key (the Twins approach).
    Twin,
    /// Never sends its votes.
    WithholdVotes,
    /// Corrupts the signatures of its votes and timeouts.
    InvalidSignatures,
    /// Replays old messages and times out long-gone rounds.
    StaleSpam,
}

/// A message as it leaves a node: to one validator, or to all others.
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    To(u16, ConsensusMessage),
    All(ConsensusMessage),
    /// To every other validator, but a different message to the lower and upper halves.
    Split(ConsensusMessage, ConsensusMessage),
}

/// Rewrites one outgoing message of a Byzantine validator; returns what actually leaves and
/// how many faults were injected.
pub(crate) fn rewrite(
    behaviour: Behaviour,
    committee: &Committee,
    key: &SecretKey,
    rng: &mut ChaCha8Rng,
    replay: &mut Vec<ConsensusMessage>,
    out: Outgoing,
) -> (Vec<Outgoing>, u64) {
    match (behaviour, out) {
        (Behaviour::Equivocate, Outgoing::All(ConsensusMessage::Proposal(p))) => {
            let mut other = p.block.clone();
            let evil = RawTransaction::try_from_vec(b"conflicting".to_vec()).unwrap_or_default();
            let _ = other.payload.transactions.try_push(evil);
            other.header.payload_root = other.payload.root();
            other.header.execution =
                crate::consensus::app::commitment(&other.header.parent, &other.payload);
            let conflicting = Proposal::sign(committee, key, other, p.tc.clone());
            let split = Outgoing::Split(
                ConsensusMessage::Proposal(p),
                ConsensusMessage::Proposal(Box::new(conflicting)),
            );
            (vec![split], 1)
        }
        (Behaviour::DoubleVote, Outgoing::To(to, ConsensusMessage::Vote(v))) => {
            let mut fake = [0u8; 32];
            rng.fill_bytes(&mut fake);
            let data = VoteData {
                block: BlockHash(Hash32(fake)),
                ..v.data
            };
            let other = Vote::sign(committee, key, v.signer, data);
            (
                vec![
                    Outgoing::To(to, ConsensusMessage::Vote(v)),
                    Outgoing::To(to, ConsensusMessage::Vote(other)),
                ],
                1,
            )
        }
        (Behaviour::WithholdVotes, Outgoing::To(_, ConsensusMessage::Vote(_))) => (vec![], 1),
        (Behaviour::InvalidSignatures, Outgoing::To(to, ConsensusMessage::Vote(mut v))) => {
            v.signature = corrupt(&v.signature);
            (vec![Outgoing::To(to, ConsensusMessage::Vote(v))], 1)
        }
        (Behaviour::InvalidSignatures, Outgoing::All(ConsensusMessage::Timeout(mut t, tc))) => {
            t.signature = corrupt(&t.signature);
            (vec![Outgoing::All(ConsensusMessage::Timeout(t, tc))], 1)
        }
        (Behaviour::StaleSpam, out) => {
            let msg = match &out {
                Outgoing::To(_, m) | Outgoing::All(m) | Outgoing::Split(m, _) => m.clone(),
            };
            let mut sent = vec![out];
            let mut faults = 0;
            if replay.len() < 16 {
                replay.push(msg.clone());
            } else {
                let old = replay[(rng.next_u32() as usize) % replay.len()].clone();
                sent.push(Outgoing::All(old));
                faults += 1;
            }
            if let ConsensusMessage::Timeout(t, _) = msg {
                let stale = Timeout::sign(committee, key, t.signer, Round(1), t.high_qc.clone());
                sent.push(Outgoing::All(ConsensusMessage::Timeout(
                    Box::new(stale),
                    None,
                )));
                faults += 1;
            }
            (sent, faults)
        }
        (_, out) => (vec![out], 0),
    }
}

fn corrupt(sig: &Signature) -> Signature {
    let mut bytes = sig.to_bytes();
    bytes[7] ^= 0x55;
    Signature::from_bytes(&bytes)
}
