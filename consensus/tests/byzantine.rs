//! One core against hand-crafted messages: faults (M-3), evidence (E-1), and S-4 ordering of
//! persistence and release.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;

use common::*;
use shardnet_consensus::{
    Config, ConsensusMessage, Core, Evidence, Fault, Input, Output, Recovery, SafetyData, TimerId,
};
use shardnet_protocol::{
    Block, BlockHash, CertError, Committee, Epoch, Hash32, Height, Payload, Round, Timeout,
    TimeoutCert, ValidatorIndex, VoteData,
};

fn faults(outs: &[Output]) -> Vec<(ValidatorIndex, Fault)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Fault { peer, fault } => Some((*peer, fault.clone())),
            _ => None,
        })
        .collect()
}

fn evidence(outs: &[Output]) -> Vec<Evidence> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Evidence(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn msg(from: ValidatorIndex, message: ConsensusMessage) -> Input {
    Input::Message { from, message }
}

/// Validator `me` of four, started, with its start-up outputs drained; plus the leader of
/// round 1 and a validator that does not lead it (neither is `me`).
struct Fx {
    c: Committee,
    g: Block,
    core: Core,
    me: usize,
    leader: usize,
    other: usize,
}

fn fx() -> Fx {
    let c = committee(&[1, 1, 1, 1]);
    let probe = fresh_core(&c, 0, Config::default());
    let leader = probe.leader(Round(1)).as_usize();
    let me = (0..4).find(|&i| i != leader).unwrap();
    let other = (0..4).find(|&i| i != leader && i != me).unwrap();
    let mut core = fresh_core(&c, me, Config::default());
    core.start(0);
    drain(&mut core);
    let g = Block::clone(&genesis(&c));
    Fx {
        c,
        g,
        core,
        me,
        leader,
        other,
    }
}

impl Fx {
    fn block1(&self, proposer: usize, stamp: u64) -> Block {
        let mut b = child(&self.g, 1, qc(&self.c, &self.g), vi(proposer));
        b.header.timestamp_ms = stamp;
        b
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        self.core.handle(0, input);
        drain(&mut self.core)
    }
}

#[test]
fn proposal_from_a_non_leader_is_a_fault() {
    let mut f = fx();
    let b = f.block1(f.other, 1);
    let p = propose(&f.c, f.other, b, None);
    let outs = f.feed(msg(vi(f.other), msg_proposal(p)));
    assert_eq!(faults(&outs), [(vi(f.other), Fault::NotLeader(Round(1)))]);
    assert!(!outs.iter().any(|o| matches!(o, Output::VerifyPayload(_))));
}

/// A validator whose leader view differs (its committed chain lags, C-5) still takes the
/// certificates of the proposals it refuses, so it commits and its view can converge.
#[test]
fn a_non_leaders_proposal_still_brings_its_certificates() {
    let mut f = fx();
    // Rounds 1 and 2 were certified without this core, which saw neither block.
    let b1 = f.block1(f.leader, 1);
    let b2 = child(
        &b1,
        2,
        qc(&f.c, &b1),
        vi(f.core.leader(Round(2)).as_usize()),
    );
    let leader3 = f.core.leader(Round(3)).as_usize();
    let proposer = (0..4).find(|&i| i != leader3 && i != f.me).unwrap();
    let b3 = child(&b2, 3, qc(&f.c, &b2), vi(proposer));
    let p = propose(&f.c, proposer, b3, None);
    let outs = f.feed(msg(vi(proposer), msg_proposal(p)));
    assert_eq!(faults(&outs), [(vi(proposer), Fault::NotLeader(Round(3)))]);
    assert!(!outs.iter().any(|o| matches!(o, Output::VerifyPayload(_))));
    assert_eq!(f.core.high_qc().block(), b2.hash(), "the QC was taken");
    assert_eq!(f.core.round(), Round(3), "and the round it ends entered");
    // The certified blocks it lacks are asked for, first of the peer that showed the QC.
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::Send { to, message: ConsensusMessage::BlockRequest { hash, .. } } if *to == vi(proposer) && *hash == b2.hash()
        )),
        "{outs:?}"
    );
}

/// P-6: a peer that times out a round we left, two or more rounds back or without the QC
/// we left it by, is sent the newest accepted proposal, once per round of ours; a peer that
/// timed out the previous round with our QC is not.
#[test]
fn a_peer_timing_out_behind_is_sent_the_newest_proposal() {
    let mut f = fx();
    let b1 = f.block1(f.leader, 1);
    let p1 = propose(&f.c, f.leader, b1.clone(), None);
    f.feed(msg(vi(f.leader), msg_proposal(p1)));
    // Round 3 reached by a QC for a block of round 2 this core has not seen.
    let b2 = child(&b1, 2, qc(&f.c, &b1), f.core.leader(Round(2)));
    let b3 = child(&b2, 3, qc(&f.c, &b2), f.core.leader(Round(3)));
    let leader3 = f.core.leader(Round(3)).as_usize();
    f.feed(msg(
        vi(leader3),
        msg_proposal(propose(&f.c, leader3, b3, None)),
    ));
    assert_eq!(f.core.round(), Round(3));
    let relayed = |outs: &[Output], to: usize| -> Vec<Block> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Send {
                    to: t,
                    message: ConsensusMessage::Proposal(p),
                } if *t == vi(to) => Some(p.block.clone()),
                _ => None,
            })
            .collect()
    };
    let (c, me) = (f.c.clone(), f.me);
    let timeout = |from: usize, round: u64, high_qc: &Block| {
        let t = Timeout::sign(&c, &key(from), vi(from), Round(round), qc(&c, high_qc));
        msg(vi(from), ConsensusMessage::Timeout(Box::new(t), None))
    };
    let (g, other) = (f.g.clone(), f.other);
    let third = (0..4).find(|&i| i != me && i != other).unwrap();
    // Two rounds behind.
    let outs = f.feed(timeout(other, 1, &g));
    assert_eq!(
        relayed(&outs, other),
        std::slice::from_ref(&b1),
        "the newest accepted proposal, as signed"
    );
    assert!(faults(&outs).is_empty());
    // Its re-broadcast in the same round of ours is not answered again.
    assert!(relayed(&f.feed(timeout(other, 1, &g)), other).is_empty());
    // One round behind without the QC we left that round by: helped.
    assert_eq!(relayed(&f.feed(timeout(third, 2, &b1)), third), [b1]);
}

/// P-6: in a round that ends by timeout, every validator times it out with the same QC: the
/// timeouts arriving after the TC moved us on are not answered.
#[test]
fn a_peer_timing_out_the_round_we_left_by_tc_is_not_helped() {
    let mut f = fx();
    let b1 = f.block1(f.leader, 1);
    f.feed(msg(
        vi(f.leader),
        msg_proposal(propose(&f.c, f.leader, b1, None)),
    ));
    let gq = qc(&f.c, &f.g);
    let timeout = |c: &Committee, from: usize, tc: Option<TimeoutCert>| {
        let t = Timeout::sign(c, &key(from), vi(from), Round(1), gq.clone());
        msg(
            vi(from),
            ConsensusMessage::Timeout(Box::new(t), tc.map(Box::new)),
        )
    };
    let tc1 = tc(&f.c, 1, &[gq.clone(), gq.clone(), gq.clone()]);
    let (c, leader, other) = (f.c.clone(), f.leader, f.other);
    f.feed(timeout(&c, leader, Some(tc1)));
    assert_eq!(f.core.round(), Round(2), "entered by the TC");
    let outs = f.feed(timeout(&c, other, None));
    assert!(
        !outs.iter().any(|o| matches!(
            o,
            Output::Send {
                message: ConsensusMessage::Proposal(_),
                ..
            }
        )),
        "{outs:?}"
    );
}

#[test]
fn proposal_with_an_invalid_signature_is_a_fault() {
    let mut f = fx();
    // Names the real leader but is signed by someone else.
    let b = f.block1(f.leader, 1);
    let p = propose(&f.c, f.other, b, None);
    let outs = f.feed(msg(vi(f.leader), msg_proposal(p)));
    assert_eq!(
        faults(&outs),
        [(
            vi(f.leader),
            Fault::InvalidCert(CertError::BadSignature(vi(f.leader)))
        )]
    );
    assert!(!outs.iter().any(|o| matches!(o, Output::VerifyPayload(_))));
    // The genuine proposal is still accepted afterwards (the forgery was not recorded).
    let good = propose(&f.c, f.leader, f.block1(f.leader, 1), None);
    let outs = f.feed(msg(vi(f.leader), msg_proposal(good)));
    assert!(faults(&outs).is_empty() && evidence(&outs).is_empty());
    assert!(outs.iter().any(|o| matches!(o, Output::VerifyPayload(_))));
}

#[test]
fn proposal_with_a_forged_qc_is_a_fault() {
    let mut f = fx();
    let b1 = f.block1(f.leader, 1);
    // A QC on b1 with a single signer: insufficient stake.
    let weak = qc_by(&f.c, &[f.other], &b1);
    let r2 = f.core.leader(Round(2)).as_usize();
    let b2 = child(&b1, 2, weak, vi(r2));
    let outs = f.feed(msg(vi(r2), msg_proposal(propose(&f.c, r2, b2, None))));
    assert!(matches!(
        faults(&outs)[..],
        [(peer, Fault::InvalidCert(CertError::InsufficientStake { .. }))] if peer == vi(r2)
    ));
    assert_eq!(f.core.round(), Round(1), "an unverified QC moves nothing");
}

#[test]
fn proposal_for_another_epoch_is_a_fault() {
    let mut f = fx();
    let b = with_header(f.block1(f.leader, 1), |h| h.epoch = Epoch(5));
    let outs = f.feed(msg(
        vi(f.leader),
        msg_proposal(propose(&f.c, f.leader, b, None)),
    ));
    assert!(matches!(faults(&outs)[..], [(_, Fault::MalformedBlock(_))]));
}

#[test]
fn payload_rejected_by_the_application_is_a_fault_and_gets_no_vote() {
    let mut f = fx();
    let b = f.block1(f.leader, 1);
    let outs = f.feed(msg(
        vi(f.leader),
        msg_proposal(propose(&f.c, f.leader, b.clone(), None)),
    ));
    assert!(outs.iter().any(|o| matches!(o, Output::VerifyPayload(_))));
    let outs = f.feed(Input::PayloadVerdict {
        block: b.hash(),
        valid: false,
    });
    assert_eq!(
        faults(&outs),
        [(
            vi(f.leader),
            Fault::MalformedBlock("application rejected the payload")
        )]
    );
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, Output::Persist { .. } | Output::Send { .. }))
    );
    assert_eq!(f.core.safety().last_voted_round, Round(0));
}

#[test]
fn vote_with_a_bad_signature_is_a_fault() {
    let mut f = fx();
    let b = f.block1(f.leader, 1);
    let mut v = sign_vote(&f.c, f.other, vote_data(&b));
    v.signature = sign_vote(&f.c, f.leader, vote_data(&b)).signature;
    let outs = f.feed(msg(vi(f.other), ConsensusMessage::Vote(v)));
    assert_eq!(
        faults(&outs),
        [(
            vi(f.other),
            Fault::InvalidCert(CertError::BadSignature(vi(f.other)))
        )]
    );
    // Relaying someone else's vote is refused too.
    let relayed = sign_vote(&f.c, f.other, vote_data(&b));
    let outs = f.feed(msg(vi(f.leader), ConsensusMessage::Vote(relayed)));
    assert!(matches!(faults(&outs)[..], [(p, Fault::MalformedBlock(_))] if p == vi(f.leader)));
}

#[test]
fn timeout_with_a_bad_signature_is_a_fault() {
    let mut f = fx();
    let gq = qc(&f.c, &f.g);
    let mut t = Timeout::sign(&f.c, &key(f.other), vi(f.other), Round(1), gq.clone());
    t.signature = Timeout::sign(&f.c, &key(f.leader), vi(f.leader), Round(1), gq).signature;
    let outs = f.feed(msg(
        vi(f.other),
        ConsensusMessage::Timeout(Box::new(t), None),
    ));
    assert_eq!(
        faults(&outs),
        [(
            vi(f.other),
            Fault::InvalidCert(CertError::BadSignature(vi(f.other)))
        )]
    );
}

#[test]
fn double_proposal_is_reported_exactly_once() {
    let mut f = fx();
    let blocks: Vec<Block> = (1..=3).map(|s| f.block1(f.leader, s)).collect();
    let mut all = Vec::new();
    for b in &blocks {
        let p = propose(&f.c, f.leader, b.clone(), None);
        all.extend(f.feed(msg(vi(f.leader), msg_proposal(p))));
    }
    let ev = evidence(&all);
    assert_eq!(ev.len(), 1, "reported once, even with a third proposal");
    assert!(matches!(&ev[0], Evidence::DoubleProposal(a, b)
        if a.data.block == blocks[0].hash() && b.data.block == blocks[1].hash()));
    ev[0].verify(&f.c).unwrap();
    assert_eq!((ev[0].offender(), ev[0].round()), (vi(f.leader), Round(1)));
    assert!(faults(&all).is_empty());
    // Only the first was considered for a vote.
    let verifies = all
        .iter()
        .filter(|o| matches!(o, Output::VerifyPayload(b) if b.hash() == blocks[0].hash()))
        .count();
    assert_eq!(verifies, 1);
    assert_eq!(
        all.iter()
            .filter(|o| matches!(o, Output::VerifyPayload(_)))
            .count(),
        1
    );
}

#[test]
fn double_vote_to_the_next_leader_is_reported_exactly_once() {
    let mut f = fx();
    // A round whose votes this validator collects (S-6).
    let r = (1..50)
        .find(|&r| f.core.leader(Round(r + 1)) == vi(f.me))
        .unwrap();
    let voter = f.other;
    let data = |n: u8| VoteData {
        block: BlockHash(Hash32::blake3(&[n])),
        round: Round(r),
        height: Height(1),
    };
    let mut all = Vec::new();
    for n in 0..3 {
        let v = sign_vote(&f.c, voter, data(n));
        all.extend(f.feed(msg(vi(voter), ConsensusMessage::Vote(v))));
    }
    let ev = evidence(&all);
    assert_eq!(ev.len(), 1);
    assert!(matches!(&ev[0], Evidence::DoubleVote(..)));
    ev[0].verify(&f.c).unwrap();
    assert_eq!((ev[0].offender(), ev[0].round()), (vi(voter), Round(r)));
}

// ---------------------------------------------------------------------------------------------
// S-4: nothing that reveals a vote or timeout leaves before the data is durable.

fn released(outs: &[Output]) -> Vec<&'static str> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } | Output::Broadcast(message) => Some(message.kind()),
            _ => None,
        })
        .collect()
}

fn persist_id(outs: &[Output]) -> Option<u64> {
    outs.iter().find_map(|o| match o {
        Output::Persist { id, .. } => Some(*id),
        _ => None,
    })
}

#[test]
fn vote_is_released_only_after_persisted() {
    let mut f = fx();
    let b = f.block1(f.leader, 1);
    f.feed(msg(
        vi(f.leader),
        msg_proposal(propose(&f.c, f.leader, b.clone(), None)),
    ));
    let outs = f.feed(Input::PayloadVerdict {
        block: b.hash(),
        valid: true,
    });
    let id = persist_id(&outs).expect("the vote is persisted first");
    assert!(released(&outs).is_empty(), "{:?}", released(&outs));
    let Some(Output::Persist { data, blocks, .. }) =
        outs.iter().find(|o| matches!(o, Output::Persist { .. }))
    else {
        unreachable!()
    };
    assert_eq!(data.last_voted_round, Round(1));
    assert_eq!(data.last_vote.as_ref().unwrap().data, vote_data(&b));
    assert!(
        blocks.iter().any(|x| x.hash() == b.hash()),
        "the voted block is persisted too"
    );
    // An older id does not release it.
    assert!(released(&f.feed(Input::Persisted { id: id - 1 })).is_empty());
    let outs = f.feed(Input::Persisted { id });
    let next = f.core.leader(Round(2));
    if next == vi(f.me) {
        assert!(released(&outs).is_empty(), "own vote is aggregated locally");
    } else {
        assert!(
            matches!(&outs[..], [Output::Send { to, message: ConsensusMessage::Vote(v) }]
            if *to == next && v.data == vote_data(&b))
        );
    }
}

#[test]
fn timeout_is_not_rebroadcast_before_it_is_durable() {
    let mut f = fx();
    let mut now = 0;
    let mut fire = |f: &mut Fx, at: u64| {
        now = at;
        f.core.handle(now, Input::Timer(TimerId::Round(Round(1))));
        drain(&mut f.core)
    };
    let outs = fire(&mut f, 1_000);
    let id = persist_id(&outs).expect("the timeout is persisted first");
    assert!(released(&outs).is_empty());
    assert_eq!(f.core.safety().last_voted_round, Round(1));
    // The store is slow: the re-broadcast timer fires twice before the ack.
    for at in [2_000, 3_000] {
        let outs = fire(&mut f, at);
        assert!(
            released(&outs).is_empty(),
            "re-broadcast before durable: {outs:?}"
        );
        assert!(persist_id(&outs).is_none(), "signed once");
    }
    let outs = f.feed(Input::Persisted { id });
    assert_eq!(released(&outs), ["timeout"]);
    // Once durable, re-broadcasts go out.
    assert_eq!(released(&fire(&mut f, 4_000)), ["timeout"]);
}

/// A leader that voted for its own proposal and restarts must not propose again in that round
/// (it would equivocate, E-1): after the restart it re-enters the round it voted in.
#[test]
fn leader_does_not_propose_twice_across_a_restart() {
    let c = committee(&[1, 1, 1, 1]);
    let leader = fresh_core(&c, 0, Config::default())
        .leader(Round(1))
        .as_usize();
    let mut core = fresh_core(&c, leader, Config::default());
    let mut app = TestApp::default();
    let mut store = TestStore::default();
    core.start(0);
    let mut outs = Vec::new();
    shardnet_consensus::drive(&mut core, &mut app, &mut store, 0, |o| outs.push(o)).unwrap();
    assert_eq!(app.built, 1);
    assert_eq!(released(&outs)[0], "proposal");
    let saved = shardnet_consensus::SafetyStore::load(&store)
        .unwrap()
        .unwrap();
    assert_eq!(saved.last_voted_round, Round(1));

    let recovery = Recovery {
        safety: Some(saved),
        blocks: shardnet_consensus::SafetyStore::load_blocks(&store).unwrap(),
        ..fresh_recovery(&c)
    };
    let mut again = Core::new(
        Config::default(),
        c,
        Some((vi(leader), key(leader))),
        recovery,
    );
    again.start(10);
    assert_eq!(again.round(), Round(1));
    let mut outs = Vec::new();
    shardnet_consensus::drive(&mut again, &mut app, &mut store, 10, |o| outs.push(o)).unwrap();
    assert_eq!(app.built, 1, "asked to build a second round-1 block");
    assert!(!released(&outs).contains(&"proposal"));
}

/// S-3's one-chain condition across a restart: a validator that voted for a block carrying
/// qc(b4) but recovered nothing above genesis may not time out with the genesis QC; it may
/// once it has learned a QC at least as high.
#[test]
fn restarted_validator_does_not_time_out_with_a_forgotten_high_qc() {
    let c = committee(&[1, 1, 1, 1]);
    let g = Block::clone(&genesis(&c));
    let b = chain(&c, &g, &[1, 2, 3, 4]);
    let saved = SafetyData {
        last_voted_round: Round(5),
        one_chain_round: Round(4),
        ..SafetyData::new(Epoch(0))
    };
    let recovery = Recovery {
        safety: Some(saved),
        ..fresh_recovery(&c)
    };
    let mut core = Core::new(
        Config::default(),
        c.clone(),
        Some((vi(0), key(0))),
        recovery,
    );
    core.start(0);
    assert_eq!(core.round(), Round(5));
    drain(&mut core);
    core.handle(1_000, Input::Timer(TimerId::Round(Round(5))));
    let outs = drain(&mut core);
    assert!(
        persist_id(&outs).is_none() && released(&outs).is_empty(),
        "{outs:?}"
    );
    // A peer's timeout brings qc(b4): now the validator may time out.
    let t = Timeout::sign(&c, &key(1), vi(1), Round(5), qc(&c, &b[3]));
    core.handle(
        1_500,
        msg(vi(1), ConsensusMessage::Timeout(Box::new(t), None)),
    );
    drain(&mut core);
    assert_eq!(core.high_qc().round(), Round(4));
    core.handle(2_000, Input::Timer(TimerId::Round(Round(5))));
    let outs = drain(&mut core);
    let Some(Output::Persist { data, .. }) =
        outs.iter().find(|o| matches!(o, Output::Persist { .. }))
    else {
        panic!("no timeout after learning the QC: {outs:?}")
    };
    assert_eq!(data.last_voted_round, Round(5));
}

/// An observer (no key) follows proposals and commits but never votes or times out.
#[test]
fn observer_never_signs() {
    let c = committee(&[1, 1, 1, 1]);
    let mut core = Core::new(Config::default(), c.clone(), None, fresh_recovery(&c));
    core.start(0);
    let g = Block::clone(&genesis(&c));
    let mut parent = g;
    let mut outs = drain(&mut core);
    for r in 1..=4 {
        let l = core.leader(Round(r)).as_usize();
        let b = child(&parent, r, qc(&c, &parent), vi(l));
        core.handle(
            r * 10,
            msg(vi(l), msg_proposal(propose(&c, l, b.clone(), None))),
        );
        core.handle(r * 10 + 5, Input::Timer(TimerId::Round(Round(r))));
        outs.extend(drain(&mut core));
        parent = b;
    }
    assert!(!outs.iter().any(|o| matches!(
        o,
        Output::Persist { .. }
            | Output::Send { .. }
            | Output::Broadcast(_)
            | Output::VerifyPayload(_)
    )));
    let commits: Vec<Height> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Commit(cb) => Some(cb.block.header.height),
            _ => None,
        })
        .collect();
    assert_eq!(commits, [Height(1), Height(2)]);
    let _ = Arc::new(Payload::default());
}
