//! Votes, timeouts, quorum and timeout certificates: what verifies, and every way a
//! certificate can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CHAIN, Net, vote_data};
use shardnet_protocol::bitmap::BitmapError;
use shardnet_protocol::crypto::signing_preimage;
use shardnet_protocol::*;

fn data() -> VoteData {
    vote_data(b"block", 12, 11)
}

/// Flips one bit of a signature.
fn tamper(sig: &Signature) -> Signature {
    let mut b = sig.to_bytes();
    b[10] ^= 0x01;
    Signature::from_bytes(&b)
}

/// Replaces the signature list of a QC (the bound is never hit in these tests).
fn with_signatures(qc: &QuorumCert, sigs: Vec<Signature>) -> QuorumCert {
    QuorumCert {
        signatures: BoundedVec::try_from_vec(sigs).unwrap(),
        ..qc.clone()
    }
}

#[test]
fn valid_qc_verifies() {
    let net = Net::equal(1, 4);
    let qc = net.qc(&[0, 1, 3], data());
    assert_eq!(qc.signers.count(), 3);
    assert_eq!(qc.block(), data().block);
    assert_eq!(qc.round(), Round(12));
    qc.verify(&net.committee).unwrap();
    net.full_qc(data()).verify(&net.committee).unwrap();
}

#[test]
fn valid_tc_verifies() {
    let net = Net::equal(1, 4);
    let tc = net.tc(20, &[(0, 17), (2, 19), (3, 5)]);
    assert_eq!(tc.round, Round(20));
    assert_eq!(
        tc.high_qc_rounds.to_vec(),
        vec![Round(17), Round(19), Round(5)]
    );
    tc.verify(&net.committee).unwrap();
}

#[test]
fn single_votes_and_timeouts_verify() {
    let net = Net::equal(1, 4);
    for i in 0..4 {
        net.vote(i, data()).verify(&net.committee).unwrap();
        net.timeout(i, 9, 8).verify(&net.committee).unwrap();
    }
    let mut vote = net.vote(1, data());
    vote.signature = tamper(&vote.signature);
    assert_eq!(
        vote.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(1)))
    );
    let mut vote = net.vote(1, data());
    vote.data.round = Round(13);
    assert_eq!(
        vote.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(1)))
    );
    // A timeout's signature covers its high QC round.
    let mut timeout = net.timeout(2, 9, 8);
    timeout.high_qc.data.round = Round(7);
    assert_eq!(
        timeout.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(2)))
    );
}

#[test]
fn tampered_qc_signature_names_its_signer() {
    let net = Net::equal(1, 5);
    let qc = net.qc(&[0, 2, 3, 4], data());
    // Signatures are in ascending signer order: position 1 is validator 2.
    let mut sigs = qc.signatures.to_vec();
    sigs[1] = tamper(&sigs[1]);
    assert_eq!(
        with_signatures(&qc, sigs).verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(2)))
    );
    let mut sigs = qc.signatures.to_vec();
    sigs[3] = tamper(&sigs[3]);
    assert_eq!(
        with_signatures(&qc, sigs).verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(4)))
    );
}

#[test]
fn tampered_tc_signature_names_its_signer() {
    let net = Net::equal(1, 4);
    let mut tc = net.tc(20, &[(1, 3), (2, 4), (3, 5)]);
    let mut sigs = tc.signatures.to_vec();
    sigs[2] = tamper(&sigs[2]);
    tc.signatures = BoundedVec::try_from_vec(sigs).unwrap();
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(3)))
    );

    // Lying about a signer's high QC round breaks that signer's signature.
    let mut tc = net.tc(20, &[(1, 3), (2, 4), (3, 5)]);
    tc.high_qc_rounds.as_mut_slice()[0] = Round(19);
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(1)))
    );
}

#[test]
fn signatures_swapped_between_signers_are_refused() {
    let net = Net::equal(1, 4);
    let qc = net.qc(&[0, 1, 2], data());
    let mut sigs = qc.signatures.to_vec();
    sigs.swap(0, 1);
    assert_eq!(
        with_signatures(&qc, sigs).verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(0)))
    );
}

#[test]
fn duplicated_signature_is_refused() {
    let net = Net::equal(1, 4);
    let qc = net.qc(&[0, 1, 2], data());
    let s = qc.signatures.to_vec();
    // One signer's signature twice, replacing another's: the count matches, the second
    // copy does not verify for its slot.
    let dup = with_signatures(&qc, vec![s[0], s[0], s[2]]);
    assert_eq!(
        dup.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(1)))
    );
    // One signature appended twice: more signatures than signers.
    let extra = with_signatures(&qc, vec![s[0], s[1], s[2], s[2]]);
    assert_eq!(
        extra.verify(&net.committee),
        Err(CertError::SignatureCount {
            signers: 3,
            signatures: 4
        })
    );
}

#[test]
fn signature_count_must_equal_signer_count() {
    let net = Net::equal(1, 4);
    let qc = net.qc(&[0, 1, 2, 3], data());
    let fewer = with_signatures(&qc, qc.signatures[..3].to_vec());
    assert_eq!(
        fewer.verify(&net.committee),
        Err(CertError::SignatureCount {
            signers: 4,
            signatures: 3
        })
    );
    let none = with_signatures(&qc, vec![]);
    assert_eq!(
        none.verify(&net.committee),
        Err(CertError::SignatureCount {
            signers: 4,
            signatures: 0
        })
    );

    let mut tc = net.tc(20, &[(0, 1), (1, 1), (2, 1)]);
    tc.signatures = BoundedVec::try_from_vec(tc.signatures[..2].to_vec()).unwrap();
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::SignatureCount {
            signers: 3,
            signatures: 2
        })
    );
}

#[test]
fn bitmap_for_another_committee_size_is_refused() {
    // Five signers of a five-member committee, checked against its first four members.
    let five = Net::equal(1, 5);
    let four = Net::equal(1, 4);
    assert_eq!(
        five.keys[..4]
            .iter()
            .map(|k| k.public_key())
            .collect::<Vec<_>>(),
        four.keys.iter().map(|k| k.public_key()).collect::<Vec<_>>()
    );
    let qc = five.full_qc(data());
    assert_eq!(
        qc.verify(&four.committee),
        Err(CertError::Bitmap(BitmapError::WrongLength {
            expected: 4,
            found: 5
        }))
    );
    let tc = five.tc(3, &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]);
    assert_eq!(
        tc.verify(&four.committee),
        Err(CertError::Bitmap(BitmapError::WrongLength {
            expected: 4,
            found: 5
        }))
    );
    // The genesis QC has an empty bitmap: it never verifies against a real committee.
    assert!(matches!(
        QuorumCert::genesis(BlockHash::GENESIS_PARENT).verify(&four.committee),
        Err(CertError::Bitmap(BitmapError::WrongLength {
            expected: 4,
            found: 0
        }))
    ));
}

#[test]
fn bitmap_with_bits_past_its_length_is_refused() {
    let net = Net::equal(1, 4);
    let qc = net.qc(&[0, 1, 2], data());
    // Same length (4), but bit 4 is set as well: crafted through the codec.
    let bitmap: SignerBitmap = decode(&encode(&(4u16, vec![0b1_0111u64]))).unwrap();
    let forged = QuorumCert {
        signers: bitmap,
        ..qc.clone()
    };
    assert_eq!(
        forged.verify(&net.committee),
        Err(CertError::Bitmap(BitmapError::Malformed))
    );
    // A length-4 bitmap with two words.
    let bitmap: SignerBitmap = decode(&encode(&(4u16, vec![0b0111u64, 0]))).unwrap();
    let forged = QuorumCert {
        signers: bitmap,
        ..qc
    };
    assert_eq!(
        forged.verify(&net.committee),
        Err(CertError::Bitmap(BitmapError::Malformed))
    );
}

#[test]
fn signer_outside_the_committee_is_refused() {
    let net = Net::equal(1, 4);
    let outsider = common::keys(50, 1).remove(0);
    let vote = Vote::sign(&net.committee, &outsider, ValidatorIndex(4), data());
    assert_eq!(
        vote.verify(&net.committee),
        Err(CertError::NotMember(ValidatorIndex(4)))
    );
    let timeout = Timeout::sign(
        &net.committee,
        &outsider,
        ValidatorIndex(9),
        Round(3),
        net.qc(&[], data()),
    );
    assert_eq!(
        timeout.verify(&net.committee),
        Err(CertError::NotMember(ValidatorIndex(9)))
    );
    // Aggregation ignores the outsider.
    let mut votes: Vec<Vote> = (0..3).map(|i| net.vote(i, data())).collect();
    votes.push(vote);
    let qc = QuorumCert::aggregate(&net.committee, data(), &votes);
    assert_eq!(
        qc.signers.iter().collect::<Vec<_>>(),
        (0..3).map(ValidatorIndex).collect::<Vec<_>>()
    );
    qc.verify(&net.committee).unwrap();
}

#[test]
fn aggregation_ignores_duplicates_and_other_data() {
    let net = Net::equal(1, 4);
    let mut votes: Vec<Vote> = [0, 0, 1, 2, 2]
        .iter()
        .map(|&i| net.vote(i, data()))
        .collect();
    votes.push(net.vote(3, vote_data(b"other", 12, 11)));
    let qc = QuorumCert::aggregate(&net.committee, data(), &votes);
    assert_eq!(qc.signers.count(), 3);
    assert_eq!(qc.signatures.len(), 3);
    qc.verify(&net.committee).unwrap();

    let timeouts = [
        net.timeout(0, 5, 1),
        net.timeout(0, 5, 2),
        net.timeout(1, 6, 1),
    ];
    let tc = TimeoutCert::aggregate(&net.committee, Round(5), &timeouts);
    assert_eq!(
        tc.signers.iter().collect::<Vec<_>>(),
        vec![ValidatorIndex(0)]
    );
    assert_eq!(tc.high_qc_rounds.to_vec(), vec![Round(1)]);
}

#[test]
fn vote_signature_is_not_a_timeout_signature() {
    let net = Net::equal(1, 4);
    let ctx = net.committee.signing_context();
    let data = TimeoutData {
        round: Round(9),
        high_qc_round: Round(8),
    };
    // The same body signed under another domain does not verify as a timeout.
    for domain in [Domain::Vote, Domain::Proposal] {
        let sig = net.keys[0].sign(domain, &ctx, &data);
        let pk = net.keys[0].public_key();
        assert_eq!(
            pk.verify(Domain::Timeout, &ctx, &data, &sig),
            Err(KeyError::BadSignature)
        );
        pk.verify(domain, &ctx, &data, &sig).unwrap();
    }
    // A real vote's signature pasted into a timeout.
    let vote = net.vote(0, data_for_round(9));
    let mut timeout = net.timeout(0, 9, 8);
    timeout.signature = vote.signature;
    assert_eq!(
        timeout.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(0)))
    );
    // A TC built from vote signatures.
    let mut tc = net.tc(9, &[(0, 8), (1, 8), (2, 8)]);
    tc.signatures = BoundedVec::try_from_vec(
        (0..3)
            .map(|i| net.vote(i, data_for_round(9)).signature)
            .collect(),
    )
    .unwrap();
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(0)))
    );
    // And a QC built from signatures over the vote data in the proposal domain.
    let qc = net.qc(&[0, 1, 2], self::data());
    let sigs = (0..3)
        .map(|i| net.keys[i].sign(Domain::Proposal, &ctx, &self::data()))
        .collect();
    assert_eq!(
        with_signatures(&qc, sigs).verify(&net.committee),
        Err(CertError::BadSignature(ValidatorIndex(0)))
    );
}

fn data_for_round(round: u64) -> VoteData {
    vote_data(b"b", round, 3)
}

/// Same keys, same stakes, another (chain, shard, epoch): every certificate and single
/// signature made in one context fails in the others.
#[test]
fn signatures_are_bound_to_chain_shard_and_epoch() {
    let stakes = [10, 10, 10, 10];
    let home = Net::in_context(1, &stakes, CHAIN, ShardId(0), Epoch(0));
    let others = [
        Net::in_context(1, &stakes, CHAIN, ShardId(1), Epoch(0)),
        Net::in_context(1, &stakes, CHAIN, ShardId(0), Epoch(1)),
        Net::in_context(1, &stakes, ChainId(CHAIN.0 + 1), ShardId(0), Epoch(0)),
    ];
    let qc = home.qc(&[1, 2, 3], data());
    let tc = home.tc(5, &[(1, 4), (2, 4), (3, 4)]);
    let vote = home.vote(2, data());
    let timeout = home.timeout(3, 5, 4);
    qc.verify(&home.committee).unwrap();
    tc.verify(&home.committee).unwrap();
    for other in &others {
        assert_eq!(other.committee.members(), home.committee.members());
        let bad = |i: u16| Err(CertError::BadSignature(ValidatorIndex(i)));
        assert_eq!(qc.verify(&other.committee), bad(1));
        assert_eq!(tc.verify(&other.committee), bad(1));
        assert_eq!(vote.verify(&other.committee), bad(2));
        assert_eq!(timeout.verify(&other.committee), bad(3));
    }
}

#[test]
fn signing_preimage_layout() {
    let ctx = SigningContext {
        chain_id: ChainId(0x0102),
        shard: ShardId(0x0304),
        epoch: Epoch(5),
    };
    let pre = signing_preimage(Domain::Vote, &ctx, &data());
    assert_eq!(&pre[..24], Domain::Vote.tag());
    assert_eq!(&pre[24..32], &0x0102u64.to_le_bytes());
    assert_eq!(&pre[32..34], &0x0304u16.to_le_bytes());
    assert_eq!(&pre[34..42], &5u64.to_le_bytes());
    assert_eq!(&pre[42..], &encode(&data())[1..]);
    let tags = [
        Domain::Proposal.tag(),
        Domain::Vote.tag(),
        Domain::Timeout.tag(),
    ];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn tc_entry_count_must_match_signers() {
    let net = Net::equal(1, 4);
    let mut tc = net.tc(20, &[(0, 1), (1, 2), (2, 3)]);
    let mut rounds = tc.high_qc_rounds.to_vec();
    rounds.push(Round(4));
    tc.high_qc_rounds = BoundedVec::try_from_vec(rounds).unwrap();
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::EntryCount {
            signers: 3,
            found: 4
        })
    );
    let mut tc = net.tc(20, &[(0, 1), (1, 2), (2, 3)]);
    tc.high_qc_rounds = BoundedVec::try_from_vec(vec![Round(1), Round(2)]).unwrap();
    assert_eq!(
        tc.verify(&net.committee),
        Err(CertError::EntryCount {
            signers: 3,
            found: 2
        })
    );
}

#[test]
fn highest_qc_round_is_the_maximum() {
    let net = Net::equal(1, 4);
    assert_eq!(
        net.tc(20, &[(0, 3), (1, 19), (2, 5)]).highest_qc_round(),
        Round(19)
    );
    assert_eq!(
        net.tc(20, &[(0, 19), (1, 3), (2, 5), (3, 0)])
            .highest_qc_round(),
        Round(19)
    );
    assert_eq!(net.tc(20, &[(2, 7)]).highest_qc_round(), Round(7));
    assert_eq!(net.tc(20, &[]).highest_qc_round(), Round(0));
}
