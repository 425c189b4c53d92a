//! Votes, timeouts and the certificates they aggregate into (`specs/wire.md` §3).
//!
//! Votes are verbs, certificates nouns: a [`Vote`] aggregates into a [`QuorumCert`], a
//! [`Timeout`] into a [`TimeoutCert`]. Verification (W-3.6) checks, in order: the committee
//! matches the signing context, the bitmap is sized for the committee, one signature per
//! signer, signer stake reaches the quorum threshold, and every signature, batch-verified.

use serde::{Deserialize, Serialize};

use crate::bitmap::{BitmapError, SignerBitmap};
use crate::bounded::BoundedVec;
use crate::committee::Committee;
use crate::crypto::{Domain, PublicKey, SecretKey, Signature, signing_preimage, verify_batch};
use crate::limits::MAX_COMMITTEE_SIZE;
use crate::types::{BlockHash, Height, Round, Stake, ValidatorIndex};

/// Why a vote, timeout or certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bitmap does not fit the committee.
    #[error("signer set: {0}")]
    Bitmap(#[from] BitmapError),
    /// The number of signatures differs from the number of signers.
    #[error("{signatures} signatures for {signers} signers")]
    SignatureCount {
        /// Signers in the bitmap.
        signers: usize,
        /// Signatures carried.
        signatures: usize,
    },
    /// Per-signer data (timeout rounds) does not match the signers.
    #[error("{found} per-signer entries for {signers} signers")]
    EntryCount {
        /// Signers in the bitmap.
        signers: usize,
        /// Entries carried.
        found: usize,
    },
    /// The signer is not a member of the committee.
    #[error("{0} is not a committee member")]
    NotMember(ValidatorIndex),
    /// Signer stake is not more than two thirds of the total.
    #[error("signers hold {have:?} stake, a quorum needs {need:?}")]
    InsufficientStake {
        /// Stake of the signers.
        have: Stake,
        /// The quorum threshold.
        need: Stake,
    },
    /// A signature does not verify (for this domain, chain, shard and epoch).
    #[error("bad signature from {0}")]
    BadSignature(ValidatorIndex),
    /// A finality proof's headers or QC do not link up.
    #[error("finality proof: {0}")]
    BrokenProof(&'static str),
    /// No committee is known for the proof's shard and epoch.
    #[error("no committee for {shard} in {epoch}")]
    UnknownCommittee {
        /// The shard named by the proof.
        shard: crate::ShardId,
        /// The epoch named by the proof.
        epoch: crate::Epoch,
    },
}

/// What a vote signs: one block in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VoteData {
    /// The block voted for.
    pub block: BlockHash,
    /// Its round.
    pub round: Round,
    /// Its height.
    pub height: Height,
}

/// One validator's vote, sent to the next leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// What is voted for.
    pub data: VoteData,
    /// Who votes.
    pub signer: ValidatorIndex,
    /// Signature over `data` in [`Domain::Vote`].
    pub signature: Signature,
}

impl Vote {
    /// Signs a vote.
    pub fn sign(
        committee: &Committee,
        key: &SecretKey,
        signer: ValidatorIndex,
        data: VoteData,
    ) -> Self {
        let signature = key.sign(Domain::Vote, &committee.signing_context(), &data);
        Self {
            data,
            signer,
            signature,
        }
    }

    /// Checks membership and the signature.
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let key = member_key(committee, self.signer)?;
        key.verify(
            Domain::Vote,
            &committee.signing_context(),
            &self.data,
            &self.signature,
        )
        .map_err(|_| CertError::BadSignature(self.signer))
    }
}

/// More than two thirds of a committee's stake voted for one block in one round.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QuorumCert {
    /// What was voted for.
    pub data: VoteData,
    /// Who voted.
    pub signers: SignerBitmap,
    /// Their signatures, in ascending signer order.
    pub signatures: BoundedVec<Signature, MAX_COMMITTEE_SIZE>,
}

impl QuorumCert {
    /// The certificate of a genesis block: no signatures, accepted by convention for the
    /// genesis hash only (the consensus core checks that).
    pub fn genesis(block: BlockHash) -> Self {
        Self {
            data: VoteData {
                block,
                round: Round(0),
                height: Height(0),
            },
            signers: SignerBitmap::default(),
            signatures: BoundedVec::new(),
        }
    }

    /// The certified block.
    pub fn block(&self) -> BlockHash {
        self.data.block
    }

    /// The certified round.
    pub fn round(&self) -> Round {
        self.data.round
    }

    /// Aggregates votes for the same data. Votes must be verified already; duplicates and
    /// votes for other data are ignored.
    pub fn aggregate<'a>(
        committee: &Committee,
        data: VoteData,
        votes: impl IntoIterator<Item = &'a Vote>,
    ) -> Self {
        let mut by_signer = std::collections::BTreeMap::new();
        for v in votes {
            if v.data == data && committee.member(v.signer).is_some() {
                by_signer.entry(v.signer).or_insert(v.signature);
            }
        }
        let mut signers = committee.empty_signers();
        for s in by_signer.keys() {
            signers.insert(*s);
        }
        let sigs: Vec<Signature> = by_signer.into_values().collect();
        Self {
            data,
            signers,
            signatures: BoundedVec::try_from_vec(sigs).unwrap_or_default(),
        }
    }

    /// Verifies the certificate against `committee` (W-3.6).
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let preimage = signing_preimage(Domain::Vote, &committee.signing_context(), &self.data);
        verify_quorum(committee, &self.signers, &self.signatures, |_| {
            preimage.clone()
        })
    }
}

/// What a timeout signs: the round given up on and the signer's highest QC round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeoutData {
    /// The round timed out.
    pub round: Round,
    /// The round of the highest QC the signer holds.
    pub high_qc_round: Round,
}

/// One validator gives up on a round, broadcast to all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeout {
    /// The round timed out.
    pub round: Round,
    /// The signer's highest QC, so the next leader can extend it.
    pub high_qc: QuorumCert,
    /// Who times out.
    pub signer: ValidatorIndex,
    /// Signature over [`TimeoutData`] in [`Domain::Timeout`].
    pub signature: Signature,
}

impl Timeout {
    /// Signs a timeout.
    pub fn sign(
        committee: &Committee,
        key: &SecretKey,
        signer: ValidatorIndex,
        round: Round,
        high_qc: QuorumCert,
    ) -> Self {
        let data = TimeoutData {
            round,
            high_qc_round: high_qc.round(),
        };
        let signature = key.sign(Domain::Timeout, &committee.signing_context(), &data);
        Self {
            round,
            high_qc,
            signer,
            signature,
        }
    }

    /// The signed statement.
    pub fn data(&self) -> TimeoutData {
        TimeoutData {
            round: self.round,
            high_qc_round: self.high_qc.round(),
        }
    }

    /// Checks membership and the signature (the embedded QC is checked by the caller,
    /// which knows the genesis convention).
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let key = member_key(committee, self.signer)?;
        key.verify(
            Domain::Timeout,
            &committee.signing_context(),
            &self.data(),
            &self.signature,
        )
        .map_err(|_| CertError::BadSignature(self.signer))
    }
}

/// More than two thirds of stake timed out one round. Each signer signed its own highest QC
/// round, so those rounds travel with the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeoutCert {
    /// The round timed out.
    pub round: Round,
    /// Who timed out.
    pub signers: SignerBitmap,
    /// Each signer's highest QC round, in ascending signer order.
    pub high_qc_rounds: BoundedVec<Round, MAX_COMMITTEE_SIZE>,
    /// Their signatures, in ascending signer order.
    pub signatures: BoundedVec<Signature, MAX_COMMITTEE_SIZE>,
}

impl TimeoutCert {
    /// Aggregates verified timeouts for `round`; others and duplicates are ignored.
    pub fn aggregate<'a>(
        committee: &Committee,
        round: Round,
        timeouts: impl IntoIterator<Item = &'a Timeout>,
    ) -> Self {
        let mut by_signer = std::collections::BTreeMap::new();
        for t in timeouts {
            if t.round == round && committee.member(t.signer).is_some() {
                by_signer
                    .entry(t.signer)
                    .or_insert((t.high_qc.round(), t.signature));
            }
        }
        let mut signers = committee.empty_signers();
        let mut rounds = Vec::with_capacity(by_signer.len());
        let mut sigs = Vec::with_capacity(by_signer.len());
        for (s, (r, sig)) in by_signer {
            signers.insert(s);
            rounds.push(r);
            sigs.push(sig);
        }
        Self {
            round,
            signers,
            high_qc_rounds: BoundedVec::try_from_vec(rounds).unwrap_or_default(),
            signatures: BoundedVec::try_from_vec(sigs).unwrap_or_default(),
        }
    }

    /// The highest QC round any signer reported: a block justified by this TC must extend
    /// a QC at least this high (safety rule C-2 in `specs/consensus.md`).
    pub fn highest_qc_round(&self) -> Round {
        self.high_qc_rounds
            .iter()
            .copied()
            .max()
            .unwrap_or(Round(0))
    }

    /// Verifies the certificate against `committee` (W-3.6).
    pub fn verify(&self, committee: &Committee) -> Result<(), CertError> {
        let signers = self.signers.count();
        if self.high_qc_rounds.len() != signers {
            return Err(CertError::EntryCount {
                signers,
                found: self.high_qc_rounds.len(),
            });
        }
        let ctx = committee.signing_context();
        verify_quorum(committee, &self.signers, &self.signatures, |i| {
            // `i < signers == high_qc_rounds.len()`; an empty preimage would never verify.
            self.high_qc_rounds
                .get(i)
                .map_or_else(Vec::new, |&high_qc_round| {
                    let data = TimeoutData {
                        round: self.round,
                        high_qc_round,
                    };
                    signing_preimage(Domain::Timeout, &ctx, &data)
                })
        })
    }
}

fn member_key(committee: &Committee, index: ValidatorIndex) -> Result<&PublicKey, CertError> {
    committee
        .member(index)
        .map(|m| &m.public_key)
        .ok_or(CertError::NotMember(index))
}

/// The shared part of QC and TC verification. `preimage(i)` is what the i-th signer
/// (in ascending order) signed.
fn verify_quorum(
    committee: &Committee,
    signers: &SignerBitmap,
    signatures: &[Signature],
    preimage: impl Fn(usize) -> Vec<u8>,
) -> Result<(), CertError> {
    signers.validate(committee.len())?;
    let count = signers.count();
    if signatures.len() != count {
        return Err(CertError::SignatureCount {
            signers: count,
            signatures: signatures.len(),
        });
    }
    let have = committee.stake_of(signers);
    let need = committee.quorum_threshold();
    if have < need {
        return Err(CertError::InsufficientStake { have, need });
    }
    let indices: Vec<ValidatorIndex> = signers.iter().collect();
    let keys = indices
        .iter()
        .map(|&i| member_key(committee, i).copied())
        .collect::<Result<Vec<_>, _>>()?;
    let preimages: Vec<Vec<u8>> = (0..count).map(preimage).collect();
    verify_batch(&preimages, signatures, &keys)
        .map_err(|bad| CertError::BadSignature(indices.get(bad).copied().unwrap_or_default()))
}
