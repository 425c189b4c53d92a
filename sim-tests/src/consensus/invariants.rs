//! The invariants of `specs/consensus.md` (I-1 to I-5), checked after every step.

use std::collections::BTreeMap;

use shardnet_consensus::CommittedBlock;
use shardnet_protocol::{BlockHash, Committee, Height, Round, VoteData};

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// I-1/I-2: two honest validators committed different blocks at one height.
    #[error(
        "I-1 agreement: node {node} committed {got:?} at {height} but {expected:?} was committed before"
    )]
    Agreement {
        /// The node.
        node: usize,
        /// The height.
        height: Height,
        /// What it committed.
        got: BlockHash,
        /// What another committed.
        expected: BlockHash,
    },
    /// I-2: a node's commits skip or repeat heights.
    #[error("I-2 prefix: node {node} committed {got} after {last}")]
    Gap {
        /// The node.
        node: usize,
        /// Height committed.
        got: Height,
        /// Previous height.
        last: Height,
    },
    /// I-3: an honest validator signed conflicting votes, or voted after timing out.
    #[error("I-3 honest equivocation: node {node} in {round}: {detail}")]
    HonestEquivocation {
        /// The node.
        node: usize,
        /// The round.
        round: Round,
        /// What conflicted.
        detail: String,
    },
    /// I-4: an honest validator made no progress after the network healed.
    #[error("I-4 liveness: node {node} committed {commits} blocks after the heal (needs {needed})")]
    Liveness {
        /// The node.
        node: usize,
        /// Blocks committed after the heal.
        commits: u64,
        /// Required.
        needed: u64,
    },
    /// I-5: a finality proof does not verify.
    #[error("I-5 proof: node {node} output an invalid finality proof at {height}: {error}")]
    BadProof {
        /// The node.
        node: usize,
        /// The height.
        height: Height,
        /// Why.
        error: String,
    },
    /// I-4 under faults: the chain did not reach the height the scenario expects while its
    /// faults were active (`liveness.min_height_at_heal`).
    #[error("I-4 liveness under faults: height {reached} at the heal (needs {needed})")]
    NoProgressUnderFaults {
        /// Highest height committed when the fault phase ended.
        reached: u64,
        /// Required.
        needed: u64,
    },
    /// A scenario's faults did not all fire, so it tested less than it claims.
    #[error("coverage: scenario fault never fired: {0}")]
    FaultNotFired(String),
}

impl Violation {
    /// Whether this is a safety (rather than liveness or coverage) failure.
    pub fn is_safety(&self) -> bool {
        !matches!(
            self,
            Self::Liveness { .. } | Self::NoProgressUnderFaults { .. } | Self::FaultNotFired(_)
        )
    }
}

/// Global view used to check the invariants.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    committed: BTreeMap<Height, BlockHash>,
    last_height: BTreeMap<usize, Height>,
    votes: BTreeMap<(usize, Round), VoteData>,
    timeouts: BTreeMap<(usize, Round), ()>,
}

impl Checker {
    /// I-1, I-2, I-5 for one commit output of an honest node.
    pub(crate) fn on_commit(
        &mut self,
        node: usize,
        committee: &Committee,
        c: &CommittedBlock,
    ) -> Result<(), Violation> {
        let height = c.block.header.height;
        let hash = c.block.hash();
        let last = self.last_height.get(&node).copied().unwrap_or(Height(0));
        if height != last.next() {
            return Err(Violation::Gap {
                node,
                got: height,
                last,
            });
        }
        self.last_height.insert(node, height);
        match self.committed.get(&height) {
            Some(expected) if *expected != hash => Err(Violation::Agreement {
                node,
                height,
                got: hash,
                expected: *expected,
            }),
            Some(_) => Ok(()),
            None => {
                // Verify each height's proof once: it is the same block for everyone.
                c.proof
                    .verify_with(committee)
                    .map_err(|e| Violation::BadProof {
                        node,
                        height,
                        error: e.to_string(),
                    })?;
                if c.proof.header.hash() != hash {
                    return Err(Violation::BadProof {
                        node,
                        height,
                        error: "proof for another block".into(),
                    });
                }
                self.committed.insert(height, hash);
                Ok(())
            }
        }
    }

    /// I-3 for a vote released by an honest node.
    pub(crate) fn on_vote(&mut self, node: usize, data: VoteData) -> Result<(), Violation> {
        let round = data.round;
        if self.votes.get(&(node, round)) == Some(&data) {
            return Ok(()); // Re-sending the same vote (after a restart) conflicts with nothing.
        }
        if self.timeouts.contains_key(&(node, round)) {
            return Err(Violation::HonestEquivocation {
                node,
                round,
                detail: "vote after timeout".into(),
            });
        }
        match self.votes.get(&(node, round)) {
            Some(prev) if *prev != data => Err(Violation::HonestEquivocation {
                node,
                round,
                detail: format!("votes for {:?} and {:?}", prev.block, data.block),
            }),
            _ => {
                self.votes.insert((node, round), data);
                Ok(())
            }
        }
    }

    /// I-3 bookkeeping for a timeout released by an honest node.
    pub(crate) fn on_timeout(&mut self, node: usize, round: Round) {
        self.timeouts.insert((node, round), ());
    }

    /// Height committed by `node` so far.
    pub(crate) fn height_of(&self, node: usize) -> Height {
        self.last_height.get(&node).copied().unwrap_or(Height(0))
    }

    /// Highest height committed by anyone.
    pub(crate) fn max_height(&self) -> Height {
        self.committed
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Height(0))
    }
}
