//! The block tree (B-1, B-2) and the vote, timeout and proposal collectors (C-1, C-2, E-1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;

use common::*;
use shardnet_consensus::block_tree::{BlockTree, TreeError, check_extends};
use shardnet_consensus::votes::{ProposalLog, TimeoutCollector, VoteCollector, VoteOutcome};
use shardnet_consensus::{Evidence, Proposal};
use shardnet_protocol::{
    Block, BlockHash, CertError, Committee, Hash32, Height, Payload, RawTransaction, Round,
    Timeout, VoteData,
};

fn setup() -> (Committee, Block, BlockTree) {
    let c = committee(&[1, 1, 1, 1]);
    let g = Block::clone(&genesis(&c));
    let tree = BlockTree::new(Arc::new(g.clone()));
    (c, g, tree)
}

fn ins(tree: &mut BlockTree, b: &Block) -> Result<(), TreeError> {
    tree.insert(Arc::new(b.clone()))
}

// ---------------------------------------------------------------------------------------------
// Insertion (B-1).

#[test]
fn insert_child_of_committed_head_and_duplicates() {
    let (c, g, mut tree) = setup();
    let b = chain(&c, &g, &[1, 2]);
    assert_eq!(ins(&mut tree, &b[0]), Ok(()));
    assert_eq!(ins(&mut tree, &b[1]), Ok(()));
    assert_eq!(ins(&mut tree, &b[1]), Ok(()), "re-inserting is a no-op");
    assert_eq!(tree.len(), 3);
    assert!(tree.contains(&b[1].hash()));
    // The child's justify is recorded as its parent's certificate.
    assert_eq!(tree.cert(&b[0].hash()), Some(&b[1].justify));
    assert_eq!(tree.cert(&b[1].hash()), None);
}

//   g(0) ── ?(1) ── b2(2)     parent never seen: UnknownParent
#[test]
fn insert_unknown_parent() {
    let (c, g, mut tree) = setup();
    let b = chain(&c, &g, &[1, 2]);
    assert_eq!(ins(&mut tree, &b[1]), Err(TreeError::UnknownParent));
    assert!(!tree.contains(&b[1].hash()));
}

//   g(0) ── b1(1) ── b2(2)           committed b2
//     └──── f1(3)                    height 1 ≤ committed height 2: Stale
#[test]
fn insert_stale_below_committed_height() {
    let (c, g, mut tree) = setup();
    let b = chain(&c, &g, &[1, 2]);
    ins(&mut tree, &b[0]).unwrap();
    ins(&mut tree, &b[1]).unwrap();
    tree.advance_committed(b[1].hash());
    let f1 = child(&g, 3, qc(&c, &g), vi(1));
    assert_eq!(ins(&mut tree, &f1), Err(TreeError::Stale));
    assert_eq!(ins(&mut tree, &b[0]), Err(TreeError::Stale));
}

#[test]
fn insert_rejects_malformed_blocks() {
    let (c, g, mut tree) = setup();
    let b1 = chain(&c, &g, &[1, 2]).remove(0);
    ins(&mut tree, &b1).unwrap();
    let good = child(&b1, 3, qc(&c, &b1), vi(2));
    assert_eq!(check_extends(&b1.header, &good), Ok(()));

    let malformed = |why: &'static str| Err(TreeError::Malformed(why));
    let cases: Vec<(&str, Block, Result<(), TreeError>)> = vec![
        (
            "height skips",
            with_header(good.clone(), |h| h.height = Height(3)),
            malformed("height is not parent + 1"),
        ),
        (
            "height repeats",
            with_header(good.clone(), |h| h.height = Height(1)),
            // Height 1 is not above the committed genesis + 1 rule: still parent + 1 fails.
            malformed("height is not parent + 1"),
        ),
        (
            "round equals parent's",
            with_header(good.clone(), |h| h.round = Round(1)),
            malformed("round does not exceed the parent's"),
        ),
        (
            "round below parent's",
            with_header(good.clone(), |h| h.round = Round(0)),
            malformed("round does not exceed the parent's"),
        ),
        (
            "timestamp backwards",
            with_header(good.clone(), |h| {
                h.timestamp_ms = b1.header.timestamp_ms - 1;
            }),
            malformed("timestamp goes backwards"),
        ),
        (
            "justify certifies another round",
            {
                let mut b = good.clone();
                b.justify.data.round = Round(2);
                b
            },
            malformed("justify certifies another round or height"),
        ),
        (
            "justify certifies another height",
            {
                let mut b = good.clone();
                b.justify.data.height = Height(7);
                b
            },
            malformed("justify certifies another round or height"),
        ),
        (
            "justify certifies another block",
            {
                let mut b = good.clone();
                b.justify = qc(&c, &g);
                b
            },
            malformed("payload root or justify does not match the header"),
        ),
        (
            "payload root mismatch",
            {
                let mut b = good.clone();
                b.payload = Payload {
                    transactions: vec![RawTransaction::try_from_vec(vec![1, 2, 3]).unwrap()]
                        .try_into()
                        .unwrap(),
                    ..Payload::default()
                };
                b
            },
            malformed("payload root or justify does not match the header"),
        ),
        (
            "other epoch",
            with_header(good.clone(), |h| h.epoch.0 += 1),
            malformed("chain, shard or epoch differs from the parent"),
        ),
        (
            "other shard",
            with_header(good.clone(), |h| h.shard.0 += 1),
            malformed("chain, shard or epoch differs from the parent"),
        ),
    ];
    for (name, block, want) in cases {
        assert_eq!(ins(&mut tree, &block), want, "{name}");
        assert!(!tree.contains(&block.hash()), "{name}");
    }
    assert_eq!(ins(&mut tree, &good), Ok(()));
    assert_eq!(tree.len(), 3);
}

//   g(0) ── b1(1)
//     └──── x1(1')     a sibling of b1: b2 (child of b1) does not extend x1
#[test]
fn check_extends_requires_the_parent_link() {
    let (c, g, _) = setup();
    let b = chain(&c, &g, &[1, 2]);
    let x1 = with_header(b[0].clone(), |h| h.timestamp_ms += 5);
    assert_eq!(check_extends(&b[0].header, &b[1]), Ok(()));
    assert_eq!(
        check_extends(&x1.header, &b[1]),
        Err(TreeError::Malformed(
            "parent link does not match the parent"
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Paths, chains, pruning (B-2).

//   g(0) ── a1(1) ── a2(2) ── a3(3)
//     │       └───── f2(4) ── f3(5)
//     └──── x1(6)
fn forked_tree() -> (Committee, Block, BlockTree, Vec<Block>, Vec<Block>, Block) {
    let (c, g, mut tree) = setup();
    let a = chain(&c, &g, &[1, 2, 3]);
    let f = chain(&c, &a[0], &[4, 5]);
    let x1 = child(&g, 6, qc(&c, &g), vi(3));
    for b in a.iter().chain(&f).chain([&x1]) {
        ins(&mut tree, b).unwrap();
    }
    (c, g, tree, a, f, x1)
}

#[test]
fn path_from_committed_is_oldest_first() {
    let (_, g, tree, a, f, x1) = forked_tree();
    let hashes = |p: Vec<Arc<Block>>| p.iter().map(|b| b.hash()).collect::<Vec<_>>();
    assert_eq!(
        hashes(tree.path_from_committed(&a[2].hash()).unwrap()),
        [a[0].hash(), a[1].hash(), a[2].hash()]
    );
    assert_eq!(
        hashes(tree.path_from_committed(&f[1].hash()).unwrap()),
        [a[0].hash(), f[0].hash(), f[1].hash()]
    );
    assert_eq!(
        hashes(tree.path_from_committed(&x1.hash()).unwrap()),
        [x1.hash()]
    );
    assert!(tree.path_from_committed(&g.hash()).unwrap().is_empty());
    assert!(
        tree.path_from_committed(&BlockHash(Hash32::blake3(b"nope")))
            .is_none()
    );
}

#[test]
fn chain_ending_at_is_newest_first_and_stops_at_the_head() {
    let (_, g, tree, a, _, _) = forked_tree();
    let hs = |v: Vec<Block>| v.iter().map(Block::hash).collect::<Vec<_>>();
    assert_eq!(
        hs(tree.chain_ending_at(&a[2].hash(), 2)),
        [a[2].hash(), a[1].hash()]
    );
    assert_eq!(
        hs(tree.chain_ending_at(&a[2].hash(), 100)),
        [a[2].hash(), a[1].hash(), a[0].hash(), g.hash()]
    );
    assert!(
        tree.chain_ending_at(&BlockHash(Hash32::blake3(b"x")), 5)
            .is_empty()
    );
}

#[test]
fn advance_committed_prunes_forks() {
    let (c, g, mut tree, a, f, x1) = forked_tree();
    assert_eq!(tree.len(), 7);
    // A cert for a block not in the tree yet (QC seen before its block).
    let ghost = child(&x1, 7, qc(&c, &x1), vi(0));
    tree.record_cert(&qc(&c, &ghost));

    tree.advance_committed(a[0].hash());
    assert_eq!(tree.committed().hash(), a[0].hash());
    assert_eq!(tree.committed_height(), Height(1));
    for b in [&g, &x1] {
        assert!(!tree.contains(&b.hash()), "pruned {:?}", b.header.round);
    }
    for b in a.iter().chain(&f) {
        assert!(tree.contains(&b.hash()));
    }
    assert_eq!(tree.len(), 5);
    assert!(
        tree.cert(&ghost.hash()).is_none(),
        "certs of pruned forks go too"
    );

    //   a1 ── a2 ── a3     committing a2 drops f2, f3 (they branch off below a2)
    tree.advance_committed(a[1].hash());
    assert_eq!(tree.len(), 2);
    assert!(tree.contains(&a[2].hash()));
    assert!(!tree.contains(&f[0].hash()) && !tree.contains(&f[1].hash()));
    // Inserting onto a pruned block: its parent is gone.
    let late = child(&f[1], 9, qc(&c, &f[1]), vi(0));
    assert_eq!(ins(&mut tree, &late), Err(TreeError::UnknownParent));
}

#[test]
fn reset_replaces_the_tree() {
    let (_, _, mut tree, a, _, _) = forked_tree();
    tree.reset(Arc::new(a[2].clone()));
    assert_eq!(tree.len(), 1);
    assert_eq!(tree.committed().hash(), a[2].hash());
}

// ---------------------------------------------------------------------------------------------
// Votes (C-1, E-1).

fn data_of(b: &Block) -> VoteData {
    vote_data(b)
}

#[test]
fn qc_forms_exactly_above_two_thirds_of_stake() {
    // Total 6: two thirds is 4, so a quorum needs 5.
    let c = committee(&[1, 1, 1, 3]);
    let (_, g, _) = setup();
    let b = child(&g, 1, qc(&c, &g), vi(0));
    let d = data_of(&b);
    let mut votes = VoteCollector::default();
    assert!(matches!(
        votes.add(&c, sign_vote(&c, 3, d)),
        VoteOutcome::Pending
    ));
    assert!(
        matches!(votes.add(&c, sign_vote(&c, 0, d)), VoteOutcome::Pending),
        "4 of 6 is not > 2/3"
    );
    let VoteOutcome::Quorum(q) = votes.add(&c, sign_vote(&c, 1, d)) else {
        panic!("5 of 6 is a quorum");
    };
    q.verify(&c).unwrap();
    assert_eq!(q.data, d);
    assert_eq!(q.signers.count(), 3);
    // A late vote adds nothing: one QC per round.
    assert!(matches!(
        votes.add(&c, sign_vote(&c, 2, d)),
        VoteOutcome::Pending
    ));
    assert_eq!(votes.vote_of(Round(1), vi(3)), Some(&d));
}

#[test]
fn votes_for_different_blocks_do_not_combine() {
    let c = committee(&[1, 1, 1, 1]);
    let (_, g, _) = setup();
    let a = child(&g, 1, qc(&c, &g), vi(0));
    let b = with_header(a.clone(), |h| h.timestamp_ms += 1);
    let mut votes = VoteCollector::default();
    for (i, blk) in [(0, &a), (1, &a), (2, &b)] {
        assert!(matches!(
            votes.add(&c, sign_vote(&c, i, data_of(blk))),
            VoteOutcome::Pending
        ));
    }
    assert!(matches!(
        votes.add(&c, sign_vote(&c, 3, data_of(&a))),
        VoteOutcome::Quorum(_)
    ));
}

#[test]
fn double_vote_gives_verifiable_evidence() {
    let c = committee(&[1, 1, 1, 1]);
    let (_, g, _) = setup();
    let a = child(&g, 1, qc(&c, &g), vi(0));
    let b = with_header(a.clone(), |h| h.timestamp_ms += 1);
    let mut votes = VoteCollector::default();
    let first = sign_vote(&c, 2, data_of(&a));
    assert!(matches!(votes.add(&c, first.clone()), VoteOutcome::Pending));
    // The identical vote again: nothing.
    assert!(matches!(votes.add(&c, first), VoteOutcome::Pending));
    let VoteOutcome::Equivocation(ev) = votes.add(&c, sign_vote(&c, 2, data_of(&b))) else {
        panic!("double vote not detected");
    };
    assert_eq!(ev.offender(), vi(2));
    assert_eq!(ev.round(), Round(1));
    ev.verify(&c).unwrap();
    // The same block with a different height is not provable equivocation: no evidence.
    let mut odd = data_of(&a);
    odd.height = Height(9);
    assert!(matches!(
        votes.add(&c, sign_vote(&c, 2, odd)),
        VoteOutcome::Pending
    ));
}

#[test]
fn non_conflicting_or_forged_evidence_is_rejected() {
    let c = committee(&[1, 1, 1, 1]);
    let (_, g, _) = setup();
    let a = child(&g, 1, qc(&c, &g), vi(0));
    let b = with_header(a.clone(), |h| h.timestamp_ms += 1);
    let a2 = child(&a, 2, qc(&c, &a), vi(0));
    let v = |i, blk: &Block| sign_vote(&c, i, data_of(blk));
    let not_conflicting = Err(CertError::BrokenProof("statements do not conflict"));
    // Same vote twice; two signers; two rounds.
    assert_eq!(
        Evidence::DoubleVote(v(0, &a), v(0, &a)).verify(&c),
        not_conflicting
    );
    assert_eq!(
        Evidence::DoubleVote(v(0, &a), v(1, &b)).verify(&c),
        not_conflicting
    );
    assert_eq!(
        Evidence::DoubleVote(v(0, &a), v(0, &a2)).verify(&c),
        not_conflicting
    );
    // A forged signature.
    let mut forged = v(0, &b);
    forged.signature = v(1, &b).signature;
    assert_eq!(
        Evidence::DoubleVote(v(0, &a), forged).verify(&c),
        Err(CertError::BadSignature(vi(0)))
    );
    // Proposals: the same block twice is no evidence.
    let pa = Proposal::sign(&c, &key(0), a, None).signed();
    assert_eq!(
        Evidence::DoubleProposal(pa.clone(), pa.clone()).verify(&c),
        not_conflicting
    );
    // By another member than the signer: bad signature.
    let mut pb = Proposal::sign(&c, &key(0), b, None).signed();
    pb.proposer = vi(1);
    assert_eq!(
        Evidence::DoubleProposal(pa, pb).verify(&c),
        Err(CertError::BadSignature(vi(1)))
    );
}

#[test]
fn double_proposal_gives_verifiable_evidence_once_per_pair() {
    let c = committee(&[1, 1, 1, 1]);
    let (_, g, _) = setup();
    let a = child(&g, 1, qc(&c, &g), vi(1));
    let b = with_header(a.clone(), |h| h.timestamp_ms += 1);
    let mut log = ProposalLog::default();
    let pa = Proposal::sign(&c, &key(1), a, None).signed();
    let pb = Proposal::sign(&c, &key(1), b, None).signed();
    assert_eq!(log.observe(pa.clone()), None);
    assert_eq!(
        log.observe(pa.clone()),
        None,
        "a re-delivered proposal is no evidence"
    );
    let ev = log.observe(pb.clone()).unwrap();
    assert_eq!(ev, Evidence::DoubleProposal(pa, pb));
    assert_eq!((ev.offender(), ev.round()), (vi(1), Round(1)));
    ev.verify(&c).unwrap();
    // Pruned rounds are forgotten.
    log.prune_below(Round(2));
    let pc = Proposal::sign(&c, &key(1), g, None).signed();
    assert_eq!(log.observe(pc), None);
}

// ---------------------------------------------------------------------------------------------
// Timeouts (C-2, P-3).

#[test]
fn timeouts_reach_validity_then_a_tc() {
    // Total 10: validity needs 4 (> 10/3), a quorum 7 (> 20/3).
    let c = committee(&[3, 1, 2, 4]);
    let (_, g, _) = setup();
    let b1 = child(&g, 1, qc(&c, &g), vi(0));
    let q1 = qc(&c, &b1);
    let t = |i: usize, q| Timeout::sign(&c, &key(i), vi(i), Round(2), q);
    let mut col = TimeoutCollector::default();
    let p = col.add(&c, t(0, qc(&c, &g)));
    assert!(!p.validity && p.cert.is_none(), "3 of 10");
    let p = col.add(&c, t(1, q1.clone()));
    assert!(p.validity && p.cert.is_none(), "4 of 10 is a validity set");
    let p = col.add(&c, t(1, q1.clone()));
    assert!(!p.validity && p.cert.is_none(), "a duplicate adds nothing");
    let p = col.add(&c, t(2, qc(&c, &g)));
    assert!(p.validity && p.cert.is_none(), "6 of 10 is not a quorum");
    let p = col.add(&c, t(3, qc(&c, &g)));
    let tc = p.cert.unwrap();
    tc.verify(&c).unwrap();
    assert_eq!(tc.round, Round(2));
    assert_eq!(tc.highest_qc_round(), Round(1));
    // Timeouts of another round are counted apart.
    let other = Timeout::sign(&c, &key(3), vi(3), Round(3), q1);
    assert!(col.add(&c, other).cert.is_none());
    col.prune_below(Round(3));
    assert!(
        col.add(&c, t(0, qc(&c, &g))).cert.is_none(),
        "round 2 was pruned"
    );
}

#[test]
fn evidence_survives_the_wire() {
    let c = committee(&[1, 1, 1, 1]);
    let (_, g, _) = setup();
    let a = child(&g, 1, qc(&c, &g), vi(0));
    let b = with_header(a.clone(), |h| h.timestamp_ms += 1);
    let ev = Evidence::DoubleVote(sign_vote(&c, 3, data_of(&a)), sign_vote(&c, 3, data_of(&b)));
    let back: Evidence = shardnet_protocol::decode(&shardnet_protocol::encode(&ev)).unwrap();
    assert_eq!(back, ev);
    back.verify(&c).unwrap();
}
