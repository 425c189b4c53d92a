//! Whole clusters of cores in one thread, deterministic: commits, agreement (I-1, I-2), valid
//! proofs (I-5), timeouts and TCs (P-1..P-4), and sync of a late validator (B-3, B-4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeSet;

use common::*;
use shardnet_consensus::{Config, ConsensusMessage, Core, Input, Output};
use shardnet_protocol::{Block, Committee, Round, ValidatorIndex};

/// No faults, no evidence: everybody was honest.
fn assert_quiet(c: &Cluster) {
    assert!(c.log.faults.is_empty(), "faults: {:?}", c.log.faults);
    assert!(c.log.evidence.is_empty(), "evidence: {:?}", c.log.evidence);
}

#[test]
fn four_equal_validators_commit_the_same_chain() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    let all = [0, 1, 2, 3];
    assert!(c.run_until_cond(30_000, |c| c.min_height(&all) >= 25));
    c.assert_agreement();
    assert_quiet(&c);
    assert!(
        c.tc_rounds().is_empty(),
        "no round timed out: {:?}",
        c.tc_rounds()
    );
    // Heights 1.. without gaps (TestApp checks the links), and every proof verified
    // (assert_agreement); the chain advances a block per round when all is well.
    for i in all {
        let committed = &c.nodes[i].app.committed;
        assert_eq!(committed[0].block.header.height.0, 1);
        for cb in committed {
            assert_eq!(cb.proof.chain.len(), 1, "direct commits: (D, C, qc(C))");
        }
    }
    // Rounds are consecutive: each block's round is its parent's + 1.
    let rounds: Vec<u64> = c.nodes[0]
        .app
        .committed
        .iter()
        .map(|cb| cb.block.header.round.0)
        .collect();
    assert!(rounds.windows(2).all(|w| w[1] == w[0] + 1), "{rounds:?}");
    // About min_block_interval per block.
    assert!(c.now <= 25 * 100 + 500, "took {} ms", c.now);
}

#[test]
fn uneven_stakes_still_commit() {
    // Validator 3 alone holds a quorum (10 of 13 > 26/3); the others still take part.
    let mut c = Cluster::new(&[1, 1, 1, 10], test_config());
    c.start_all();
    assert!(c.run_until_cond(30_000, |c| c.min_height(&[0, 1, 2, 3]) >= 20));
    c.assert_agreement();
    assert_quiet(&c);
    // Validator 3 leads about 10/13 of the rounds.
    let by_3 = c
        .log
        .proposals
        .iter()
        .filter(|(_, _, p)| p.block.header.proposer == vi(3))
        .count();
    let total = c.log.proposals.len();
    assert!(by_3 * 2 > total, "{by_3} of {total}");

    // Uneven without a dominant member: [3, 2, 2, 1, 1] (total 9, quorum 7).
    let mut c = Cluster::new(&[3, 2, 2, 1, 1], test_config());
    c.start_all();
    assert!(c.run_until_cond(30_000, |c| c.min_height(&[0, 1, 2, 3, 4]) >= 20));
    c.assert_agreement();
    assert_quiet(&c);
}

#[test]
fn three_of_four_commit_with_one_validator_never_started() {
    let cfg = Config {
        max_backoff_exponent: 2,
        ..test_config()
    };
    let mut c = Cluster::new(&[1, 1, 1, 1], cfg);
    for i in 1..4 {
        c.start(i);
    }
    let live = [1, 2, 3];
    assert!(c.run_until_cond(200_000, |c| c.min_height(&live) >= 20));
    c.assert_agreement();
    assert_quiet(&c);
    // The rounds validator 0 leads cannot produce a block: they end by TC, and the next
    // proposal carries that TC.
    let tcs = c.tc_rounds();
    assert!(!tcs.is_empty());
    assert!(!c.rounds_entered_by_tc().is_empty());
    let led_by_0: BTreeSet<Round> = (1..c.max_round().0)
        .map(Round)
        .filter(|&r| c.core(1).leader(r) == vi(0))
        .collect();
    assert!(led_by_0.is_subset(&tcs), "{led_by_0:?} vs {tcs:?}");
    // Validator 0 never proposed, and nothing it "led" got committed.
    for cb in &c.nodes[1].app.committed {
        assert_ne!(cb.block.header.proposer, vi(0));
    }
}

/// Finds a round `r >= from` such that `who` leads `r` and `r + 1` (one slot of the schedule,
/// C-5) and others lead rounds `r - 3 ..= r + 4` otherwise.
fn isolated_slot_of(c: &Cluster, who: usize, from: u64) -> u64 {
    let core = c.core((who + 1) % c.nodes.len());
    (from..from + 10_000)
        .find(|&r| {
            (r - 3..=r + 4).all(|x| (core.leader(Round(x)) == vi(who)) == (x == r || x == r + 1))
        })
        .unwrap()
}

/// The leader L of rounds R and R+1 (one slot, C-5) crashes as the cluster enters round R-1
/// (having led nothing since). Votes for R-1 go to L (S-6) and are lost, and R and R+1 have
/// no proposal: exactly rounds R-1, R and R+1 end by TC, and R+2 (with TC(R+1)) restores the
/// QC path. Note `specs` P-3's "a silent leader costs one timeout": with votes sent to the
/// next leader only, a *crashed* leader costs its rounds and the previous one, whose QC it
/// would have formed.
#[test]
fn crashed_leader_costs_exactly_its_rounds_and_the_one_before() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    assert!(c.run_until_cond(10_000, |c| c.min_height(&[0, 1, 2, 3]) >= 5));
    let l = 2;
    let r = isolated_slot_of(&c, l, c.max_round().0 + 3);
    assert!(c.run_until_cond(60_000, |c| c.max_round() >= Round(r - 1)));
    c.crash(l);
    let live = [0, 1, 3];
    let h = c.min_height(&live);
    // Until L's next round (which costs two more rounds again).
    let next = (r + 2..)
        .find(|&x| c.core(0).leader(Round(x)) == vi(l))
        .unwrap();
    assert!(c.run_until_cond(120_000, |c| c.max_round() >= Round(next - 2)));
    c.run_for(500);
    let tcs: BTreeSet<Round> = c
        .tc_rounds()
        .into_iter()
        .filter(|x| x.0 < next - 1)
        .collect();
    assert_eq!(tcs, BTreeSet::from([Round(r - 1), Round(r), Round(r + 1)]));
    assert!(c.rounds_entered_by_tc().contains(&Round(r + 2)));
    assert!(c.min_height(&live) > h);
    c.assert_agreement();
    assert_quiet(&c);
}

/// P-3: with skewed timers (validator 3 would wait 8 s), the two fast validators' timeouts
/// form a validity set and validator 3 joins at once, so each round without a leader costs
/// the fast timeout, not the slowest one.
#[test]
fn validity_set_of_timeouts_makes_slow_validators_join() {
    let fast = test_config();
    let slow = Config {
        base_timeout_ms: 8_000,
        ..test_config()
    };
    let mut c = Cluster::with_configs(&[1, 1, 1, 1], vec![fast.clone(), fast.clone(), fast, slow]);
    c.start_all();
    assert!(c.run_until_cond(10_000, |c| c.min_height(&[0, 1, 2, 3]) >= 5));
    let l = 2;
    let r = isolated_slot_of(&c, l, c.max_round().0 + 3);
    assert!(c.run_until_cond(60_000, |c| c.max_round() >= Round(r - 1)));
    let crashed_at = c.now;
    c.crash(l);
    assert!(c.run_until_cond(120_000, |c| {
        c.log
            .proposals
            .iter()
            .any(|(_, _, p)| p.block.header.round == Round(r + 2))
    }));
    let (_, at, p) = c
        .log
        .proposals
        .iter()
        .find(|(_, _, p)| p.block.header.round == Round(r + 2))
        .unwrap();
    assert_eq!(p.tc.as_ref().map(|tc| tc.round), Some(Round(r + 1)));
    // R-1, R and R+1 each time out after 1 s: the first three rounds in a row entered by
    // timeout keep the base timeout (`backoff_after`, P-1), so 3 s. Without P-3 validator
    // 3's timeouts would be needed for all three TCs: 8 s each.
    let took = at - crashed_at;
    assert!(
        took <= 3_000 + 200,
        "R+2 proposed {took} ms after the crash"
    );
    // Validator 3 timed out R-1, R and R+1 although its own timer had not fired yet.
    for round in [r - 1, r, r + 1] {
        let (_, t3, _) = c
            .log
            .timeouts
            .iter()
            .find(|(_, _, t)| t.signer == vi(3) && t.round == Round(round))
            .expect("validator 3 joined");
        assert!(*t3 < crashed_at + 8_000, "joined at {t3}");
    }
    c.assert_agreement();
}

/// A validator that misses a few proposals fetches the certified blocks from a QC signer
/// (B-3), without needing committed-block sync.
#[test]
fn missed_proposals_are_fetched_by_ancestor_sync() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    let all = [0, 1, 2, 3];
    assert!(c.run_until_cond(10_000, |c| c.min_height(&all) >= 5));
    let from = c.max_round().0;
    // Validator 3 hears no proposal of the next three rounds (it still gets votes/timeouts).
    c.drop_rule = Box::new(move |_, to, m| {
        to == ValidatorIndex(3)
            && matches!(m, ConsensusMessage::Proposal(p)
                if (from + 1..=from + 3).contains(&p.block.header.round.0))
    });
    assert!(c.run_until_cond(30_000, |c| c.max_round() > Round(from + 4)));
    c.drop_rule = Box::new(|_, _, _| false);
    let target = c.min_height(&[0, 1, 2]) + 5;
    assert!(c.run_until_cond(30_000, |c| c.min_height(&all) >= target));
    c.assert_agreement();
    assert_quiet(&c);
    assert!(c.log.sent.get("block-request").copied().unwrap_or(0) > 0);
    assert!(c.log.sent.get("block-response").copied().unwrap_or(0) > 0);
    // The answer stops at the responder's committed head (it prunes below it, B-2), so when
    // the others committed a missed block meanwhile, one catch-up (B-4) fetches it with its
    // proof; never more than that for three missed proposals.
    assert!(c.log.sent.get("committed-request").copied().unwrap_or(0) <= 1);
    assert!(
        c.tc_rounds().is_empty(),
        "the others carried on: {:?}",
        c.tc_rounds()
    );
}

/// A started validator 3 of four with nothing but genesis, and the first round `>= from`
/// led by neither validator 0 (the lowest-index signer of the QCs the sync tests build) nor
/// 3 (this core), so that the peer a request goes to shows which rule picked it.
fn lone_core_and_round(c: &Committee, from: u64) -> (Core, u64) {
    let mut core = fresh_core(c, 3, test_config());
    core.start(0);
    drain(&mut core);
    let r = (from..from + 100)
        .find(|&r| ![vi(0), vi(3)].contains(&core.leader(Round(r))))
        .unwrap();
    (core, r)
}

/// B-3: the missing block is asked of the peer whose proposal carried its QC first (it
/// extended the block, so it has it if honest), not of the QC's lowest-index signer, which
/// may be unable or unwilling to answer (a Byzantine signer, a twin that never saw it) and
/// would cost every fetch a retry.
#[test]
fn ancestor_sync_asks_the_peer_that_showed_the_qc_first() {
    let c = committee(&[1, 1, 1, 1]);
    let (mut core, r) = lone_core_and_round(&c, 2);
    let g = Block::clone(&genesis(&c));
    let missing = child(&g, r - 1, qc(&c, &g), core.leader(Round(r - 1)));
    let leader = core.leader(Round(r));
    let b = child(&missing, r, qc_by(&c, &[0, 1, 2], &missing), leader);
    core.handle(
        0,
        Input::Message {
            from: leader,
            message: msg_proposal(propose(&c, leader.as_usize(), b, None)),
        },
    );
    let first_request = drain(&mut core).into_iter().find_map(|o| match o {
        Output::Send {
            to,
            message: ConsensusMessage::BlockRequest { hash, .. },
        } => Some((to, hash)),
        _ => None,
    });
    assert_eq!(first_request, Some((leader, missing.hash())));
}

/// B-3 then B-4: when the answer stops at the responder's committed head above ours, the
/// committed blocks in between are fetched from that responder first (it has them), not from
/// the QC's lowest-index signer.
#[test]
fn catch_up_after_a_short_answer_asks_the_responder_first() {
    let c = committee(&[1, 1, 1, 1]);
    let (mut core, r) = lone_core_and_round(&c, 4);
    let g = Block::clone(&genesis(&c));
    // g ── a (r-2) ── b (r-1) ── p (r): this core has only g; the answer to its request for
    // b holds b alone, whose parent a it lacks and cannot fetch block by block.
    let a = child(&g, r - 2, qc(&c, &g), core.leader(Round(r - 2)));
    let b = child(
        &a,
        r - 1,
        qc_by(&c, &[0, 1, 2], &a),
        core.leader(Round(r - 1)),
    );
    let leader = core.leader(Round(r));
    let p = child(&b, r, qc_by(&c, &[0, 1, 2], &b), leader);
    core.handle(
        0,
        Input::Message {
            from: leader,
            message: msg_proposal(propose(&c, leader.as_usize(), p, None)),
        },
    );
    drain(&mut core);
    core.handle(
        1,
        Input::Message {
            from: leader,
            message: ConsensusMessage::BlockResponse(
                shardnet_protocol::BoundedVec::try_from_vec(vec![b]).unwrap(),
            ),
        },
    );
    let catch_up = drain(&mut core).into_iter().find_map(|o| match o {
        Output::Send {
            to,
            message: ConsensusMessage::CommittedRequest { .. },
        } => Some(to),
        _ => None,
    });
    assert_eq!(catch_up, Some(leader));
}

/// Starts validator 3 once the others committed `behind` blocks; it must reach the same
/// chain from height 1. Returns the cluster for further checks.
fn late_start(behind: u64, retained: usize) -> Cluster {
    // Plain stake-weighted leaders: these tests are about sync, and need validator 3's
    // rounds to keep failing while it is away (reputation would skip it, and a validator
    // still catching up would judge leaders by its older view: see
    // `reputation_views_agree_after_catch_up_and_restart`).
    let cfg = Config {
        retained_committed: retained,
        max_backoff_exponent: 1,
        leader_policy: shardnet_consensus::LeaderPolicy::StakeWeighted,
        ..test_config()
    };
    let mut c = Cluster::new(&[1, 1, 1, 1], cfg);
    for i in 0..3 {
        c.start(i);
    }
    assert!(c.run_until_cond(1_000_000, |c| c.min_height(&[0, 1, 2]) >= behind));
    c.start(3);
    let target = c.min_height(&[0, 1, 2]) + 3;
    assert!(
        c.run_until_cond(c.now + 60_000, |c| c.committed_height(3) >= target),
        "validator 3 reached {} of {target}",
        c.committed_height(3)
    );
    assert_eq!(c.nodes[3].app.committed[0].block.header.height.0, 1);
    c.assert_agreement();
    assert_quiet(&c);
    c
}

/// Far behind (more than MAX_SYNC_BLOCKS = 64 blocks, and more than `future_rounds` = 100
/// rounds): committed blocks with proofs (B-4), in batches of 64.
#[test]
fn late_validator_catches_up_by_committed_sync() {
    let c = late_start(100, 200);
    assert!(c.max_round() > Round(150));
    let requests = c.log.sent.get("committed-request").copied().unwrap_or(0);
    assert!(requests >= 2, "{:?}", c.log.sent);
    assert!(c.log.sent.get("committed-response").copied().unwrap_or(0) >= 2);
    // Catching up does not fetch, block by block, what the proofs already commit.
    assert!(
        c.log.sent.get("block-request").copied().unwrap_or(0) <= 8,
        "{:?}",
        c.log.sent
    );
    // Each caught-up block came with a proof the others made, and it verified.
    let mine = &c.nodes[3].app.committed;
    let theirs = &c.nodes[0].app.committed;
    assert_eq!(mine[10], theirs[10]);
}

/// Slightly behind: still from height 1, with whatever mix of ancestor and committed sync
/// the gap needs (the others' committed heads are above validator 3's).
#[test]
fn late_validator_catches_up_a_short_gap() {
    let c = late_start(10, 1_024);
    let asked = |k| c.log.sent.get(k).copied().unwrap_or(0);
    assert!(asked("block-request") + asked("committed-request") > 0);
    assert!(asked("block-request") <= 8, "{:?}", c.log.sent);
}

/// A *silent* leader (alive, votes and collects votes, but its round-R proposal never
/// arrives): round R ends by TC, and the block of R-1, whose QC the silent leader formed and
/// carries in its timeout (P-4), is not lost.
#[test]
fn silent_leader_costs_its_round_but_not_the_previous_block() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    assert!(c.run_until_cond(10_000, |c| c.min_height(&[0, 1, 2, 3]) >= 5));
    let l = 2;
    let r = isolated_slot_of(&c, l, c.max_round().0 + 3);
    c.drop_rule = Box::new(move |from, _, m| {
        from == vi(l)
            && matches!(m, ConsensusMessage::Proposal(p) if p.block.header.round == Round(r))
    });
    let all = [0, 1, 2, 3];
    assert!(c.run_until_cond(60_000, |c| c.max_round() >= Round(r + 4)));
    let target = c.min_height(&all) + 3;
    assert!(c.run_until_cond(c.now + 30_000, |c| c.min_height(&all) >= target));
    let tcs: BTreeSet<Round> = c.tc_rounds();
    assert!(tcs.contains(&Round(r)));
    assert!(
        tcs.is_subset(&BTreeSet::from([Round(r - 1), Round(r)])),
        "{tcs:?}"
    );
    let rounds: Vec<Round> = c.nodes[0]
        .app
        .committed
        .iter()
        .map(|cb| cb.block.header.round)
        .collect();
    assert!(
        rounds.contains(&Round(r - 1)),
        "block of R-1 committed: {rounds:?}"
    );
    assert!(!rounds.contains(&Round(r)));
    c.assert_agreement();
    assert_quiet(&c);
}

/// With `LeaderPolicy::Reputation`, leaders depend on each validator's view of the committed
/// chain; a validator that caught up by committed sync (B-4), or restarted from its ledger,
/// must reach the same view, or it blames honest leaders (`NotLeader`) and ignores them.
#[test]
fn reputation_views_agree_after_catch_up_and_restart() {
    let cfg = Config {
        leader_policy: shardnet_consensus::LeaderPolicy::Reputation {
            window: 10,
            failures: 2,
            horizon: u64::MAX,
        },
        max_backoff_exponent: 2,
        ..test_config()
    };
    let mut c = Cluster::new(&[1, 1, 1, 1], cfg);
    for i in 1..4 {
        c.start(i);
    }
    assert!(c.run_until_cond(300_000, |c| c.min_height(&[1, 2, 3]) >= 70));
    // Validator 0 failed all its rounds: the others now skip it.
    let r = c.max_round().0 + 1;
    let elected_0 = (r..r + 400)
        .filter(|&x| c.core(1).leader(Round(x)) == vi(0))
        .count();
    assert!(elected_0 < 10, "{elected_0}");
    c.start(0);
    let all = [0, 1, 2, 3];
    let t = c.min_height(&[1, 2, 3]) + 20;
    assert!(c.run_until_cond(c.now + 300_000, |c| c.min_height(&all) >= t));
    // Validator 1 crashes and restarts from its ledger window.
    c.crash(1);
    c.run_for(2_000);
    c.start(1);
    let t = c.min_height(&[0, 2, 3]) + 20;
    assert!(c.run_until_cond(c.now + 300_000, |c| c.min_height(&all) >= t));
    let now = c.max_round().0;
    for x in now..now + 200 {
        let l = c.core(0).leader(Round(x));
        assert!(
            all.iter().all(|&i| c.core(i).leader(Round(x)) == l),
            "round {x}"
        );
    }
    c.assert_agreement();
    assert_quiet(&c);
}
