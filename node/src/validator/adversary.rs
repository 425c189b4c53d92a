//! A hook for deliberately faulty validators in fault-injection simulations (issue 7): an
//! [`Adversary`] sees every consensus message and lane segment the honest event loop is about
//! to send and decides what really leaves. Production validators have none; the honest code
//! path does not change, only what goes onto the wire. Packaged behaviours (equivocating
//! proposer, double voter, vote withholding, lane-segment forger) live with the simulation
//! harness (`shardnet-fullstack`), so a chain builder can add their own.

use shardnet_consensus::ConsensusMessage;
use shardnet_protocol::{LaneSegment, ValidatorIndex};

/// A consensus message as it leaves a validator.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// To one member of the committee.
    To(ValidatorIndex, ConsensusMessage),
    /// To every other member.
    All(ConsensusMessage),
    /// To every other member, the first message to the lower half of the committee (by
    /// index) and the second to the upper half: an equivocation.
    Split(ConsensusMessage, ConsensusMessage),
}

/// Rewrites what a validator sends.
pub trait Adversary: Send {
    /// A consensus message about to leave; returns what leaves instead.
    fn consensus(&mut self, out: Outgoing) -> Vec<Outgoing>;

    /// A lane segment (or watermark report) about to be pushed to another shard; returns what
    /// is pushed instead.
    fn segment(&mut self, segment: LaneSegment) -> Vec<LaneSegment> {
        vec![segment]
    }
}
