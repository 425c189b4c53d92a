//! Committees: who signs for a shard in an epoch, and how much stake makes a quorum.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bitmap::SignerBitmap;
use crate::crypto::{PublicKey, SigningContext};
use crate::limits::MAX_COMMITTEE_SIZE;
use crate::types::{ChainId, Epoch, ShardId, Stake, ValidatorIndex};

/// One committee member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Signing key.
    pub public_key: PublicKey,
    /// Voting power.
    pub stake: Stake,
    /// Where its transport listens (`host:port`).
    pub network_address: String,
}

/// Why a committee could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// No members.
    #[error("{0}: committee is empty")]
    Empty(ShardId),
    /// More members than [`MAX_COMMITTEE_SIZE`].
    #[error("{shard}: {len} members exceed the limit of {MAX_COMMITTEE_SIZE}")]
    TooLarge {
        /// The shard.
        shard: ShardId,
        /// Its size.
        len: usize,
    },
    /// A member has no stake.
    #[error("{shard}: member {index} has zero stake")]
    ZeroStake {
        /// The shard.
        shard: ShardId,
        /// The member.
        index: ValidatorIndex,
    },
    /// Two members share a key.
    #[error("{shard}: key {key} appears twice")]
    DuplicateKey {
        /// The shard.
        shard: ShardId,
        /// The repeated key.
        key: Box<PublicKey>,
    },
    /// Total stake does not fit in 64 bits.
    #[error("{0}: total stake overflows")]
    StakeOverflow(ShardId),
}

/// The validators of one shard in one epoch, in index order, with stake thresholds.
///
/// Thresholds (W-3.4): with total stake `T`, a *quorum* is stake `> 2T/3` and a *validity*
/// set is stake `> T/3`; two quorums always share more than `T/3`, so at least one honest
/// validator when Byzantine stake is below `T/3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    chain_id: ChainId,
    shard: ShardId,
    epoch: Epoch,
    members: Vec<Member>,
    total: Stake,
    by_key: BTreeMap<PublicKey, ValidatorIndex>,
}

impl Committee {
    /// Forms a committee, checking size, stakes and key uniqueness.
    // The error carries the duplicate key (a dalek point, ~200 bytes); committees are formed
    // rarely, from configuration, so the large `Err` costs nothing that matters.
    #[allow(clippy::result_large_err)]
    pub fn new(
        chain_id: ChainId,
        shard: ShardId,
        epoch: Epoch,
        members: Vec<Member>,
    ) -> Result<Self, CommitteeError> {
        if members.is_empty() {
            return Err(CommitteeError::Empty(shard));
        }
        if members.len() > MAX_COMMITTEE_SIZE {
            return Err(CommitteeError::TooLarge {
                shard,
                len: members.len(),
            });
        }
        let mut total = 0u64;
        let mut by_key = BTreeMap::new();
        for (i, m) in members.iter().enumerate() {
            let index = ValidatorIndex(i as u16);
            if m.stake.0 == 0 {
                return Err(CommitteeError::ZeroStake { shard, index });
            }
            total = total
                .checked_add(m.stake.0)
                .ok_or(CommitteeError::StakeOverflow(shard))?;
            if by_key.insert(m.public_key, index).is_some() {
                return Err(CommitteeError::DuplicateKey {
                    shard,
                    key: Box::new(m.public_key),
                });
            }
        }
        Ok(Self {
            chain_id,
            shard,
            epoch,
            members,
            total: Stake(total),
            by_key,
        })
    }

    /// The shard this committee signs for.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The chain.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// What this committee's members sign into every preimage.
    pub fn signing_context(&self) -> SigningContext {
        SigningContext {
            chain_id: self.chain_id,
            shard: self.shard,
            epoch: self.epoch,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a committee has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members in index order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// A member by index.
    pub fn member(&self, index: ValidatorIndex) -> Option<&Member> {
        self.members.get(index.as_usize())
    }

    /// The index of the member holding `key`.
    pub fn index_of(&self, key: &PublicKey) -> Option<ValidatorIndex> {
        self.by_key.get(key).copied()
    }

    /// Total stake.
    pub fn total_stake(&self) -> Stake {
        self.total
    }

    /// The least stake that is more than two thirds of the total.
    pub fn quorum_threshold(&self) -> Stake {
        Stake(self.total.0 / 3 * 2 + (self.total.0 % 3) * 2 / 3 + 1)
    }

    /// The least stake that is more than one third of the total.
    pub fn validity_threshold(&self) -> Stake {
        Stake(self.total.0 / 3 + 1)
    }

    /// Stake of the members in `signers` (ignores indices outside the committee).
    pub fn stake_of(&self, signers: &SignerBitmap) -> Stake {
        Stake(
            signers
                .iter()
                .filter_map(|i| self.member(i))
                .map(|m| m.stake.0)
                .sum(),
        )
    }

    /// Stake of one member, zero for a non-member.
    pub fn stake(&self, index: ValidatorIndex) -> Stake {
        self.member(index).map_or(Stake(0), |m| m.stake)
    }

    /// An empty signer set sized for this committee.
    pub fn empty_signers(&self) -> SignerBitmap {
        SignerBitmap::new(self.len())
    }
}

/// Every shard's committee, known to every shard, so any shard can check another's
/// finality proofs offline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committees {
    by_shard: BTreeMap<(ShardId, Epoch), Committee>,
}

impl Committees {
    /// From a list of committees (later entries replace earlier ones for the same key).
    pub fn new(committees: impl IntoIterator<Item = Committee>) -> Self {
        Self {
            by_shard: committees
                .into_iter()
                .map(|c| ((c.shard, c.epoch), c))
                .collect(),
        }
    }

    /// The committee of `shard` in `epoch`.
    pub fn get(&self, shard: ShardId, epoch: Epoch) -> Option<&Committee> {
        self.by_shard.get(&(shard, epoch))
    }

    /// All committees, ordered by shard then epoch.
    pub fn iter(&self) -> impl Iterator<Item = &Committee> {
        self.by_shard.values()
    }

    /// Finds a validator anywhere in the network by key: its shard, epoch and index.
    pub fn locate(&self, key: &PublicKey) -> Option<(ShardId, Epoch, ValidatorIndex)> {
        self.by_shard
            .values()
            .find_map(|c| c.index_of(key).map(|i| (c.shard, c.epoch, i)))
    }
}
