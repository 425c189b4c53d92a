//! The voting rules that make consensus safe (S-1 to S-4), isolated from everything else so
//! they can be read, tested and audited alone, as Aptos does with `safety_rules_2chain`.

use serde::{Deserialize, Serialize};
use shardnet_protocol::{Block, Epoch, Round, TimeoutCert, Vote};

/// What must be durable before a vote or timeout leaves the validator (S-4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyData {
    /// The committee epoch these rounds belong to.
    pub epoch: Epoch,
    /// Highest round in which this validator voted or timed out.
    pub last_voted_round: Round,
    /// Highest QC round certified by a block this validator voted for (Aptos'
    /// `one_chain_round`). Its timeouts must report a high QC at least this high (S-3), even
    /// after a restart that lost the QC itself.
    pub one_chain_round: Round,
    /// The last vote cast, so it can be re-sent (identically) after a restart; cleared by a
    /// timeout, which supersedes it.
    pub last_vote: Option<Vote>,
}

impl SafetyData {
    /// The state of a validator that has never voted.
    pub fn new(epoch: Epoch) -> Self {
        Self {
            epoch,
            last_voted_round: Round(0),
            one_chain_round: Round(0),
            last_vote: None,
        }
    }
}

/// Why the safety rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetyViolation {
    /// S-1: already voted or timed out in this round or a later one.
    #[error("already voted or timed out in {last} (block is in {round})")]
    AlreadyVoted {
        /// The block's round.
        round: Round,
        /// The last voted round.
        last: Round,
    },
    /// S-2: the block neither directly extends its QC nor is justified by a TC.
    #[error("{round} does not extend its QC of {qc_round} and no TC justifies it")]
    NotExtending {
        /// The block's round.
        round: Round,
        /// Its QC's round.
        qc_round: Round,
    },
    /// S-3: timing out a round below the last vote.
    #[error("cannot time out {round} after voting in {last}")]
    TimeoutBelowVote {
        /// The round to time out.
        round: Round,
        /// The last voted round.
        last: Round,
    },
    /// S-3: the timeout would report a high QC below one this validator already voted on.
    #[error("timeout's high QC of {high_qc_round} is below the voted-on QC of {one_chain}")]
    StaleHighQc {
        /// The round of the QC the timeout would carry.
        high_qc_round: Round,
        /// The highest QC round certified by a block voted for.
        one_chain: Round,
    },
}

/// S-1 and S-2: may a validator whose safety data is `data` vote for `block`?
///
/// ```text
/// vote(B)  ⇔  B.r > last_voted_round
///          ∧ ( B.r = B.qc.r + 1  ∨  (B.r = tc.r + 1 ∧ B.qc.r ≥ tc.hqc) )
/// ```
pub fn check_vote(
    data: &SafetyData,
    block: &Block,
    tc: Option<&TimeoutCert>,
) -> Result<(), SafetyViolation> {
    let round = block.header.round;
    if round <= data.last_voted_round {
        return Err(SafetyViolation::AlreadyVoted {
            round,
            last: data.last_voted_round,
        });
    }
    let qc_round = block.justify.round();
    let direct = round == qc_round.next();
    let via_tc = tc.is_some_and(|tc| round == tc.round.next() && qc_round >= tc.highest_qc_round());
    if direct || via_tc {
        Ok(())
    } else {
        Err(SafetyViolation::NotExtending { round, qc_round })
    }
}

/// Records a vote for `block` in the safety data (to be persisted before the vote is sent).
pub fn record_vote(data: &mut SafetyData, block: &Block, vote: &Vote) {
    assert!(
        vote.data.round > data.last_voted_round,
        "S-1 checked before signing"
    );
    data.last_voted_round = vote.data.round;
    data.one_chain_round = data.one_chain_round.max(block.justify.round());
    data.last_vote = Some(vote.clone());
}

/// S-3: may the validator time out `round`, reporting a high QC of `high_qc_round`? If so,
/// records it.
///
/// ```text
/// timeout(r, hqc)  ⇔  r ≥ last_voted_round ∧ hqc ≥ one_chain_round;   then last_voted_round := r
/// ```
///
/// The second condition (Aptos' `safe_to_timeout`) matters after a restart: a validator that
/// voted for a block carrying `qc` holds `qc` in memory, but may recover from disk only an
/// older QC. Reporting that older one in a TC could let a block that skips `qc` gather votes
/// via S-2 although a block it certifies may already be committed.
pub fn check_and_record_timeout(
    data: &mut SafetyData,
    round: Round,
    high_qc_round: Round,
) -> Result<(), SafetyViolation> {
    if round < data.last_voted_round {
        return Err(SafetyViolation::TimeoutBelowVote {
            round,
            last: data.last_voted_round,
        });
    }
    if high_qc_round < data.one_chain_round {
        return Err(SafetyViolation::StaleHighQc {
            high_qc_round,
            one_chain: data.one_chain_round,
        });
    }
    data.last_voted_round = round;
    // A timeout supersedes the last vote, which is of its round or an earlier one (S-4):
    // re-sent after a restart, a vote of this round would leave after the timeout, and an
    // observer could not tell it from a vote signed after giving up on the round.
    data.last_vote = None;
    Ok(())
}
