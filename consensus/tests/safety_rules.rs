//! The voting rules of `specs/consensus.md` (S-1, S-2, S-3), tested on `safety::*` alone.
//!
//! Notation in the pictures: `bN(r)` is a block in round `r`; `qc=bK` the block its QC
//! certifies; `tc(r).hqc=h` a TC for round `r` whose highest reported QC round is `h`;
//! `✓` the rule allows the vote, `✗` it refuses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use shardnet_consensus::safety::{check_and_record_timeout, check_vote, record_vote};
use shardnet_consensus::{SafetyData, SafetyViolation};
use shardnet_protocol::{Block, Committee, Epoch, QuorumCert, Round, TimeoutCert};

/// The fixture: `g(0) ── b1(1) ── b2(2)` with full QCs.
struct Fx {
    c: Committee,
    g: Block,
    b1: Block,
    b2: Block,
}

fn fx() -> Fx {
    let c = committee(&[1, 1, 1, 1]);
    let g = Block::clone(&genesis(&c));
    let b1 = child(&g, 1, qc(&c, &g), vi(0));
    let b2 = child(&b1, 2, qc(&c, &b1), vi(1));
    Fx { c, g, b1, b2 }
}

impl Fx {
    /// A TC for `round` whose signers report `hqc` as their highest QC (all report `hqc`,
    /// except signer 0 which reports genesis, so the maximum is what matters).
    fn tc(&self, round: u64, hqc: &QuorumCert) -> TimeoutCert {
        let genesis_qc = qc(&self.c, &self.g);
        let tc = tc(
            &self.c,
            round,
            &[genesis_qc, hqc.clone(), hqc.clone(), hqc.clone()],
        );
        assert_eq!(tc.highest_qc_round(), hqc.round());
        tc.verify(&self.c).unwrap();
        tc
    }
}

fn data(last_voted: u64) -> SafetyData {
    SafetyData {
        last_voted_round: Round(last_voted),
        ..SafetyData::new(Epoch(0))
    }
}

fn not_extending(round: u64, qc_round: u64) -> Result<(), SafetyViolation> {
    Err(SafetyViolation::NotExtending {
        round: Round(round),
        qc_round: Round(qc_round),
    })
}

fn already(round: u64, last: u64) -> Result<(), SafetyViolation> {
    Err(SafetyViolation::AlreadyVoted {
        round: Round(round),
        last: Round(last),
    })
}

// ---------------------------------------------------------------------------------------------
// S-1: one vote per round.

//   g(0) ── b1(1) ── b2(2)
//
//   last_voted  block   verdict
//   0           b1(1)   ✓
//   1           b2(2)   ✓
//   1           b1(1)   ✗ already voted in 1
//   2           b2(2)   ✗ already voted in 2
//   5           b2(2)   ✗ a later round was voted (or timed out) already
#[test]
fn s1_one_vote_per_round() {
    let f = fx();
    let table: [(u64, &Block, Result<(), SafetyViolation>); 5] = [
        (0, &f.b1, Ok(())),
        (1, &f.b2, Ok(())),
        (1, &f.b1, already(1, 1)),
        (2, &f.b2, already(2, 2)),
        (5, &f.b2, already(2, 5)),
    ];
    for (i, (last, block, want)) in table.into_iter().enumerate() {
        assert_eq!(check_vote(&data(last), block, None), want, "row {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// S-2: extension.

//   g(0) ── b1(1) ── b2(2)                        ✓ b2.r = qc(b1).r + 1
//              └──── b3(3, qc=b1)                   ✗ gap of one round, no TC
#[test]
fn s2_direct_extension_only_without_tc() {
    let f = fx();
    assert_eq!(check_vote(&data(1), &f.b2, None), Ok(()));
    let b3 = child(&f.b1, 3, qc(&f.c, &f.b1), vi(2));
    assert_eq!(check_vote(&data(1), &b3, None), not_extending(3, 1));
}

//   g(0) ── b1(1) ── b2(2) ──────────── b3(4, qc=b2, tc(3).hqc=2)   ✓ qc.r 2 ≥ hqc 2
//   g(0) ── b1(1) ── b2(2) ──────────── b3(4, qc=b2, tc(3).hqc=1)   ✓ qc.r 2 ≥ hqc 1
#[test]
fn s2_via_tc_with_qc_at_least_tc_high_qc_is_accepted() {
    let f = fx();
    let q2 = qc(&f.c, &f.b2);
    let b3 = child(&f.b2, 4, q2.clone(), vi(3));
    for hqc in [q2, qc(&f.c, &f.b1)] {
        let tc = f.tc(3, &hqc);
        assert_eq!(check_vote(&data(2), &b3, Some(&tc)), Ok(()), "hqc {hqc:?}");
        // The TC is what makes it acceptable.
        assert_eq!(check_vote(&data(2), &b3, None), not_extending(4, 2));
    }
}

//   g(0) ── b1(1) ── b2(2)
//              └──── b3(4, qc=b1, tc(3).hqc=2)   ✗ qc.r 1 < hqc 2
#[test]
fn s2_via_tc_with_qc_below_tc_high_qc_is_rejected() {
    let f = fx();
    let b3 = child(&f.b1, 4, qc(&f.c, &f.b1), vi(3));
    let tc = f.tc(3, &qc(&f.c, &f.b2));
    assert_eq!(check_vote(&data(2), &b3, Some(&tc)), not_extending(4, 1));
}

//   g(0) ── b1(1) ── b2(2) ──────────── b3(4, qc=b2, tc(2).hqc=2)   ✗ tc is not of round 3
//   g(0) ── b1(1) ── b2(2) ──────────── b3(4, qc=b2, tc(4).hqc=2)   ✗ tc is not of round 3
//   g(0) ── b1(1) ── b2(2) ──────────── b3(5, qc=b2, tc(3).hqc=2)   ✗ tc(3) justifies round 4 only
#[test]
fn s2_tc_of_another_round_is_rejected() {
    let f = fx();
    let q2 = qc(&f.c, &f.b2);
    let b3 = child(&f.b2, 4, q2.clone(), vi(3));
    for tc_round in [2, 4] {
        let tc = f.tc(tc_round, &q2);
        assert_eq!(
            check_vote(&data(2), &b3, Some(&tc)),
            not_extending(4, 2),
            "tc({tc_round})"
        );
    }
    let b3_late = child(&f.b2, 5, q2.clone(), vi(3));
    assert_eq!(
        check_vote(&data(2), &b3_late, Some(&f.tc(3, &q2))),
        not_extending(5, 2)
    );
}

//   g(0) ── b1(1) ── b2(2) ──────────── b3(4, qc=b2, tc(3).hqc=2)   ✗ S-1 first: voted in 4
#[test]
fn s1_applies_before_s2() {
    let f = fx();
    let q2 = qc(&f.c, &f.b2);
    let b3 = child(&f.b2, 4, q2.clone(), vi(3));
    let tc = f.tc(3, &q2);
    assert_eq!(check_vote(&data(4), &b3, Some(&tc)), already(4, 4));
}

// ---------------------------------------------------------------------------------------------
// Recording votes.

//   g(0) ── b1(1) ── b2(2)      vote b2: last_voted 2, last_vote = vote(b2), one_chain 1
#[test]
fn record_vote_updates_last_voted_last_vote_and_one_chain_round() {
    let f = fx();
    let mut d = data(1);
    let v = sign_vote(&f.c, 0, vote_data(&f.b2));
    record_vote(&mut d, &f.b2, &v);
    assert_eq!(d.last_voted_round, Round(2));
    assert_eq!(d.last_vote.as_ref(), Some(&v));
    assert_eq!(d.one_chain_round, Round(1));
    // Now S-1 refuses b2 again, whatever justifies it.
    assert_eq!(check_vote(&d, &f.b2, None), already(2, 2));
}

//   g(0) ── b1(1) ── b2(2) ── b3(3)       one_chain 2 after voting b3
//                      └──────────── b5(5, qc=b1, tc(4).hqc=1)   voting it keeps one_chain 2
#[test]
fn one_chain_round_never_decreases() {
    let f = fx();
    let b3 = child(&f.b2, 3, qc(&f.c, &f.b2), vi(2));
    let b5 = child(&f.b1, 5, qc(&f.c, &f.b1), vi(2));
    let mut d = data(2);
    record_vote(&mut d, &b3, &sign_vote(&f.c, 0, vote_data(&b3)));
    assert_eq!(d.one_chain_round, Round(2));
    record_vote(&mut d, &b5, &sign_vote(&f.c, 0, vote_data(&b5)));
    assert_eq!(
        (d.last_voted_round, d.one_chain_round),
        (Round(5), Round(2))
    );
}

#[test]
#[should_panic(expected = "S-1 checked before signing")]
fn record_vote_refuses_a_second_vote_in_a_round() {
    let f = fx();
    let mut d = data(2);
    record_vote(&mut d, &f.b2, &sign_vote(&f.c, 0, vote_data(&f.b2)));
}

// ---------------------------------------------------------------------------------------------
// S-3: timeouts.

#[test]
fn s3_timeout_table() {
    // (last_voted, one_chain, timeout round, its high QC round) -> verdict, last_voted after
    type Row = (u64, u64, u64, u64, Result<(), SafetyViolation>, u64);
    let below = |round, last| {
        Err(SafetyViolation::TimeoutBelowVote {
            round: Round(round),
            last: Round(last),
        })
    };
    let stale = |hqc, one| {
        Err(SafetyViolation::StaleHighQc {
            high_qc_round: Round(hqc),
            one_chain: Round(one),
        })
    };
    let table: [Row; 7] = [
        // Below the last vote: refused, nothing recorded.
        (5, 0, 4, 0, below(4, 5), 5),
        (5, 0, 0, 0, below(0, 5), 5),
        // At the last vote round (voted, then timed out the same round): allowed.
        (5, 0, 5, 0, Ok(()), 5),
        // Above: allowed, and recorded.
        (5, 0, 7, 0, Ok(()), 7),
        (0, 0, 1, 0, Ok(()), 1),
        // A high QC below one already voted on (e.g. forgotten in a restart): refused.
        (5, 4, 5, 3, stale(3, 4), 5),
        (5, 4, 6, 4, Ok(()), 6),
    ];
    for (i, (last, one, round, hqc, want, after)) in table.into_iter().enumerate() {
        let mut d = SafetyData {
            one_chain_round: Round(one),
            ..data(last)
        };
        assert_eq!(
            check_and_record_timeout(&mut d, Round(round), Round(hqc)),
            want,
            "row {i}"
        );
        assert_eq!(d.last_voted_round, Round(after), "row {i}");
        assert_eq!(d.one_chain_round, Round(one), "row {i}");
    }
}

//   g(0) ── b1(1) ── b2(2)      timeout(2) first  ⇒  b2 can no longer get this vote
//                               (and b3(3) still can)
#[test]
fn s3_no_vote_after_timeout_in_that_round() {
    let f = fx();
    let mut d = data(1);
    check_and_record_timeout(&mut d, Round(2), Round(1)).unwrap();
    assert_eq!(check_vote(&d, &f.b2, None), already(2, 2));
    let b3 = child(&f.b2, 3, qc(&f.c, &f.b2), vi(2));
    assert_eq!(check_vote(&d, &b3, None), Ok(()));
}

//   g(0) ── b1(1) ── b2(2)      vote b2, then timeout(2): allowed (vote then give up)
//                               and a second timeout(2) too (re-broadcast after a restart)
#[test]
fn s3_vote_then_timeout_same_round_is_allowed() {
    let f = fx();
    let mut d = data(1);
    record_vote(&mut d, &f.b2, &sign_vote(&f.c, 0, vote_data(&f.b2)));
    assert_eq!(check_and_record_timeout(&mut d, Round(2), Round(1)), Ok(()));
    assert_eq!(check_and_record_timeout(&mut d, Round(2), Round(1)), Ok(()));
    assert_eq!(d.last_voted_round, Round(2));
    // The timeout supersedes the vote: a restart does not re-send it after the timeout.
    assert_eq!(d.last_vote, None);
}

#[test]
fn safety_data_round_trips_through_the_canonical_codec() {
    let f = fx();
    let mut d = data(1);
    record_vote(&mut d, &f.b2, &sign_vote(&f.c, 0, vote_data(&f.b2)));
    let bytes = shardnet_protocol::codec::canonical_bytes(&d);
    let back: SafetyData = shardnet_protocol::codec::decode_canonical(&bytes).unwrap();
    assert_eq!(back, d);
}
