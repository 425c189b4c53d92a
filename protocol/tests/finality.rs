//! Finality proofs: a valid proof verifies offline against the known committees; every
//! broken link is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CHAIN, Net, vote_data, vote_data_for};
use shardnet_protocol::*;

/// A proof for a header at height 5 and `rounds[0]`, with descendants at the following
/// rounds (heights 6, 7, ...), all linked, and a QC by every member on the last.
fn proof(net: &Net, rounds: &[u64]) -> FinalityProof {
    let header = net.header(5, rounds[0], BlockHash(Hash32::blake3(b"parent")));
    let mut chain: Vec<BlockHeader> = Vec::new();
    let mut prev = header.clone();
    for (i, &round) in rounds[1..].iter().enumerate() {
        let next = net.header(6 + i as u64, round, prev.hash());
        chain.push(next.clone());
        prev = next;
    }
    let qc = net.full_qc(vote_data_for(&prev));
    FinalityProof {
        header,
        chain: BoundedVec::try_from_vec(chain).unwrap(),
        qc,
    }
}

/// After editing headers: re-links every parent hash and re-signs the QC on the last header,
/// so that only the edit itself can make the proof fail.
fn relink(net: &Net, mut p: FinalityProof) -> FinalityProof {
    let mut prev = p.header.hash();
    for h in p.chain.as_mut_slice() {
        h.parent = prev;
        prev = h.hash();
    }
    if let Some(last) = p.certified() {
        p.qc = net.full_qc(vote_data_for(last));
    }
    p
}

fn broken(p: &FinalityProof, net: &Net) {
    let err = p.verify(&net.committees()).unwrap_err();
    assert!(
        matches!(err, CertError::BrokenProof(_)),
        "expected BrokenProof, got {err:?}"
    );
    assert_eq!(p.verify_with(&net.committee), Err(err));
}

#[test]
fn direct_proof_verifies() {
    let net = Net::equal(1, 4);
    let p = net.finality(5, 9);
    assert_eq!(p.chain.len(), 1);
    assert_eq!(p.certified(), Some(&p.chain[0]));
    p.verify(&net.committees()).unwrap();
    p.verify_with(&net.committee).unwrap();
    proof(&net, &[9, 10]).verify(&net.committees()).unwrap();
}

#[test]
fn proof_through_a_longer_chain_verifies() {
    let net = Net::equal(1, 4);
    // B at 9; its child at 11 (a failed round between); the 2-chain 11 -> 12 commits both.
    proof(&net, &[9, 11, 12]).verify(&net.committees()).unwrap();
    proof(&net, &[9, 10, 14, 20, 21])
        .verify(&net.committees())
        .unwrap();
}

#[test]
fn proof_verifies_among_many_committees() {
    let net = Net::equal(1, 4);
    let other_shard = Net::in_context(2, &[1, 1, 1], CHAIN, ShardId(1), Epoch(0));
    let next_epoch = Net::in_context(3, &[1, 1, 1], CHAIN, ShardId(0), Epoch(1));
    let all = Committees::new([
        other_shard.committee.clone(),
        net.committee.clone(),
        next_epoch.committee.clone(),
    ]);
    net.finality(5, 9).verify(&all).unwrap();
    other_shard.finality(1, 1).verify(&all).unwrap();
    next_epoch.finality(1, 1).verify(&all).unwrap();
}

#[test]
fn child_not_extending_the_header_is_refused() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.chain.as_mut_slice()[0].parent = BlockHash(Hash32::blake3(b"elsewhere"));
    p.qc = net.full_qc(vote_data_for(&p.chain[0]));
    broken(&p, &net);

    // A middle link broken in a longer chain.
    let mut p = proof(&net, &[9, 10, 14, 15]);
    p.chain.as_mut_slice()[1].parent = p.header.hash();
    let last = p.chain.last().unwrap().clone();
    p.qc = net.full_qc(vote_data_for(&last));
    broken(&p, &net);
}

#[test]
fn child_round_not_next_is_refused() {
    let net = Net::equal(1, 4);
    broken(&proof(&net, &[9, 11]), &net);
    broken(&proof(&net, &[9, 10, 12]), &net);
    broken(&proof(&net, &[9, 10, 9]), &net);
    broken(&proof(&net, &[9, 9]), &net);
    // Rounds must increase along the whole chain, not only at the certified pair.
    broken(&proof(&net, &[9, 9, 10]), &net);
    broken(&proof(&net, &[9, 8, 9]), &net);
}

#[test]
fn child_height_not_next_is_refused() {
    let net = Net::equal(1, 4);
    for height in [5, 7, 100, 4] {
        let mut p = net.finality(5, 9);
        p.chain.as_mut_slice()[0].height = Height(height);
        broken(&relink(&net, p), &net);
    }
    let mut p = proof(&net, &[9, 10, 11]);
    p.chain.as_mut_slice()[0].height = Height(7);
    broken(&relink(&net, p), &net);
}

/// `Height::next` saturates; at the very top of the range a child at the same height must
/// not pass for the next one.
#[test]
fn child_height_does_not_saturate_at_the_top() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.header.height = Height(u64::MAX);
    p.chain.as_mut_slice()[0].height = Height(u64::MAX);
    broken(&relink(&net, p), &net);

    let mut p = net.finality(5, 9);
    p.header.round = Round(u64::MAX);
    p.chain.as_mut_slice()[0].round = Round(u64::MAX);
    broken(&relink(&net, p), &net);
}

#[test]
fn qc_not_on_the_certified_header_is_refused() {
    let net = Net::equal(1, 4);
    let base = net.finality(5, 9);
    let child = base.chain[0].clone();
    let wrong = [
        vote_data(b"another block", 10, 6),
        VoteData {
            round: Round(11),
            ..vote_data_for(&child)
        },
        VoteData {
            height: Height(7),
            ..vote_data_for(&child)
        },
        // A QC on the committed header itself, not its child.
        vote_data_for(&base.header),
    ];
    for data in wrong {
        let p = FinalityProof {
            qc: net.full_qc(data),
            ..base.clone()
        };
        broken(&p, &net);
    }
    // A QC on an intermediate header of a longer chain.
    let mut p = proof(&net, &[9, 11, 12]);
    p.qc = net.full_qc(vote_data_for(&p.chain[0]));
    broken(&p, &net);
}

#[test]
fn empty_chain_is_refused() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.chain = BoundedVec::new();
    broken(&p, &net);
}

#[test]
fn unknown_committee_is_refused() {
    let net = Net::equal(1, 4);
    let p = net.finality(5, 9);
    let elsewhere = Net::in_context(1, &[10, 10, 10, 10], CHAIN, ShardId(3), Epoch(0));
    assert_eq!(
        p.verify(&elsewhere.committees()),
        Err(CertError::UnknownCommittee {
            shard: ShardId(0),
            epoch: Epoch(0)
        })
    );
    assert_eq!(
        p.verify_with(&elsewhere.committee),
        Err(CertError::UnknownCommittee {
            shard: ShardId(0),
            epoch: Epoch(0)
        })
    );
    assert_eq!(
        p.verify(&Committees::default()),
        Err(CertError::UnknownCommittee {
            shard: ShardId(0),
            epoch: Epoch(0)
        })
    );
    // The header claims epoch 1, for which no committee is known.
    let mut p = net.finality(5, 9);
    p.header.epoch = Epoch(1);
    let p = relink(&net, p);
    assert_eq!(
        p.verify(&net.committees()),
        Err(CertError::UnknownCommittee {
            shard: ShardId(0),
            epoch: Epoch(1)
        })
    );
}

#[test]
fn chain_id_mismatch_is_refused() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.header.chain_id = ChainId(CHAIN.0 + 1);
    broken(&relink(&net, p), &net);

    let mut p = net.finality(5, 9);
    p.chain.as_mut_slice()[0].chain_id = ChainId(CHAIN.0 + 1);
    broken(&relink(&net, p), &net);

    // A whole proof from another chain whose committee has the same keys and shard.
    let foreign = Net::in_context(1, &[10, 10, 10, 10], ChainId(8), ShardId(0), Epoch(0));
    broken(&foreign.finality(5, 9), &net);
}

#[test]
fn descendant_in_another_shard_or_epoch_is_refused() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.chain.as_mut_slice()[0].shard = ShardId(1);
    broken(&relink(&net, p), &net);
    let mut p = net.finality(5, 9);
    p.chain.as_mut_slice()[0].epoch = Epoch(1);
    broken(&relink(&net, p), &net);
}

#[test]
fn insufficient_qc_is_refused() {
    let net = Net::equal(1, 4);
    let mut p = net.finality(5, 9);
    p.qc = net.qc(&[0, 1], vote_data_for(&p.chain[0]));
    assert_eq!(
        p.verify(&net.committees()),
        Err(CertError::InsufficientStake {
            have: Stake(20),
            need: Stake(27)
        })
    );
    // A QC signed by a different committee of the same size.
    let impostor = Net::equal(2, 4);
    let mut p = net.finality(5, 9);
    p.qc = impostor.full_qc(vote_data_for(&p.chain[0]));
    assert_eq!(
        p.verify(&net.committees()),
        Err(CertError::BadSignature(ValidatorIndex(0)))
    );
}

#[test]
fn any_edit_of_the_committed_header_breaks_the_proof() {
    let net = Net::equal(1, 4);
    let base = net.finality(5, 9);
    let edits: Vec<fn(&mut BlockHeader)> = vec![
        |h| h.timestamp_ms += 1,
        |h| h.payload_root = Hash32::blake3(b"other payload"),
        |h| h.execution.state_root = Hash32::blake3(b"other state"),
        |h| h.execution.outbox_root = Hash32::blake3(b"other outbox"),
        |h| h.proposer = ValidatorIndex(3),
        |h| h.parent = BlockHash(Hash32::blake3(b"other parent")),
    ];
    for edit in edits {
        let mut p = base.clone();
        edit(&mut p.header);
        broken(&p, &net);
    }
}

#[test]
fn proofs_round_trip_and_still_verify() {
    let net = Net::equal(1, 4);
    let p = proof(&net, &[9, 11, 12]);
    let back: FinalityProof = decode(&encode(&p)).unwrap();
    assert_eq!(back, p);
    back.verify(&net.committees()).unwrap();
}
