//! Leader election (C-5): deterministic, stake-weighted, and the reputation policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use shardnet_consensus::{Config, Input, LeaderElection, LeaderPolicy};
use shardnet_protocol::{Block, Committee, Epoch, Member, Round, ShardId, Stake, ValidatorIndex};

const ROUNDS: u64 = 20_000;

fn counts(e: &LeaderElection, rounds: u64) -> BTreeMap<ValidatorIndex, u64> {
    let mut out = BTreeMap::new();
    for r in 1..=rounds {
        *out.entry(e.leader(Round(r))).or_default() += 1;
    }
    out
}

#[test]
fn election_is_deterministic() {
    let c = committee(&[3, 1, 4, 1, 5]);
    let a = LeaderElection::new(&c, LeaderPolicy::StakeWeighted);
    let b = LeaderElection::new(&committee(&[3, 1, 4, 1, 5]), LeaderPolicy::StakeWeighted);
    for r in 0..2_000 {
        assert_eq!(a.leader(Round(r)), b.leader(Round(r)));
        assert_eq!(a.leader(Round(r)), a.elected(Round(r)));
    }
    // Reputation with no history is the stake-weighted choice.
    let rep = LeaderElection::new(
        &c,
        LeaderPolicy::Reputation {
            window: 10,
            failures: 1,
            horizon: u64::MAX,
        },
    );
    for r in 0..2_000 {
        assert_eq!(rep.leader(Round(r)), a.leader(Round(r)));
    }
}

#[test]
fn election_depends_on_the_epoch() {
    let c0 = committee(&[1, 1, 1, 1]);
    let schedule = |epoch: u64| -> Vec<ValidatorIndex> {
        let c = Committee::new(
            c0.chain_id(),
            ShardId(0),
            Epoch(epoch),
            c0.members().to_vec(),
        )
        .unwrap();
        let e = LeaderElection::new(&c, LeaderPolicy::StakeWeighted);
        (0..8).map(|r| e.leader(Round(r))).collect()
    };
    // With equal stakes each epoch's schedule is a rotation of the committee; which rotation
    // comes from the seed. Of 4! × 4 possible starts, eight epochs all alike means no seed.
    let first = schedule(0);
    let distinct = (1..8).filter(|&e| schedule(e) != first).count();
    assert!(distinct > 0, "every epoch has the same schedule");
}

#[test]
fn twice_the_stake_leads_about_twice_as_often() {
    let c = committee(&[10, 20, 10, 10]);
    let e = LeaderElection::new(&c, LeaderPolicy::StakeWeighted);
    let n = counts(&e, ROUNDS);
    let total: u64 = n.values().sum();
    assert_eq!(total, ROUNDS);
    for (i, m) in c.members().iter().enumerate() {
        let expected = ROUNDS as f64 * m.stake.0 as f64 / 50.0;
        let got = n.get(&vi(i)).copied().unwrap_or(0) as f64;
        assert!(
            (got - expected).abs() <= 0.1 * expected,
            "validator {i}: {got} leads, expected {expected} ± 10%"
        );
    }
    for other in [0, 2, 3] {
        let ratio = n[&vi(1)] as f64 / n[&vi(other)] as f64;
        assert!((1.8..=2.2).contains(&ratio), "ratio to {other}: {ratio}");
    }
}

/// Leadership follows stake to within one slot of the cycle (`16 × n` rounds): a member
/// with less than half a slot's worth of stake may never lead, and splitting stake across
/// several keys buys no extra rounds beyond that rounding.
#[test]
fn members_lead_in_proportion_to_stake_to_within_one_slot() {
    let stakes = [1, 100, 3, 1_000, 7, 1];
    let cycle = 16 * stakes.len() as u64;
    let total: u64 = stakes.iter().sum();
    let c = committee(&stakes);
    let e = LeaderElection::new(&c, LeaderPolicy::StakeWeighted);
    let n = counts(&e, 10 * cycle);
    for (i, &s) in stakes.iter().enumerate() {
        let got = n.get(&vi(i)).copied().unwrap_or(0) as f64 / 10.0;
        let share = (s * cycle) as f64 / total as f64;
        assert!(
            (got - share).abs() < 1.0,
            "validator {i}: {got} of {cycle}, share {share}"
        );
        if share >= 1.0 {
            assert!(got >= 1.0, "validator {i} never leads");
        }
    }
    // A single-member committee always leads.
    let solo = LeaderElection::new(&committee(&[5]), LeaderPolicy::StakeWeighted);
    assert!((0..100).all(|r| solo.leader(Round(r)) == vi(0)));
}

/// The properties the schedule exists for (C-5). Each slot leads two rounds in a row, and a
/// member's slots are spread over the cycle, never bunched as independent draws bunch them.
/// Votes go to the next leader, so the round before a down member's fails too, and a 2-chain
/// commit needs three live leaders in a row: in committees of near-equal stake, every gap
/// between the slots of a member with under a third of the stake holds at least two other
/// slots (three live rounds in a row), and at least three for a quarter or less. With equal
/// stakes the schedule is a rotation.
#[test]
fn a_members_rounds_are_spread_over_the_cycle() {
    let near_equal: [&[u64]; 5] = [
        &[1, 1, 1, 1],
        &[1, 1, 1, 1, 1, 1, 1],
        &[7, 7, 7, 6],
        &[100, 101, 99, 98, 100, 102, 97],
        &[5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4],
    ];
    let skewed: [&[u64]; 4] = [
        &[10, 20, 10, 10],
        &[3, 1, 4, 1, 5, 9, 2, 6],
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        &[1, 100, 3, 1_000, 7, 1],
    ];
    for (stakes, is_near_equal) in near_equal
        .iter()
        .map(|s| (*s, true))
        .chain(skewed.iter().map(|s| (*s, false)))
    {
        let c = committee(stakes);
        let e = LeaderElection::new(&c, LeaderPolicy::StakeWeighted);
        let total: u64 = stakes.iter().sum();
        let cycle = 16 * stakes.len() as u64;
        // The leader of each slot: rounds 2k and 2k + 1.
        let slots: Vec<ValidatorIndex> = (0..3 * cycle).map(|k| e.leader(Round(2 * k))).collect();
        for (k, l) in slots.iter().enumerate() {
            assert_eq!(
                e.leader(Round(2 * k as u64 + 1)),
                *l,
                "{stakes:?}: slot {k}"
            );
        }
        for (i, &s) in stakes.iter().enumerate() {
            let mine: Vec<usize> = (0..slots.len()).filter(|&k| slots[k] == vi(i)).collect();
            if mine.len() < 6 {
                continue;
            }
            let mean = slots.len() as f64 / mine.len() as f64;
            for w in mine.windows(2) {
                let gap = w[1] - w[0];
                assert!(
                    gap as f64 >= mean.floor() - 3.0 && gap as f64 <= mean.ceil() + 3.0,
                    "stakes {stakes:?}: validator {i} (one slot in {mean:.2}) leads slots {} and {}",
                    w[0],
                    w[1]
                );
                let min_gap = if s * 4 <= total { 4 } else { 3 };
                if is_near_equal && s * 3 < total {
                    assert!(
                        gap >= min_gap,
                        "stakes {stakes:?}: validator {i} leads slots {} and {}",
                        w[0],
                        w[1]
                    );
                }
            }
        }
        if stakes.iter().all(|&s| s == stakes[0]) {
            let n = stakes.len();
            assert!(
                (n..slots.len()).all(|k| slots[k] == slots[k - n]),
                "{stakes:?}"
            );
        }
    }
}

#[test]
fn reputation_skips_a_validator_recorded_as_failing() {
    let c = committee(&[1, 1, 1, 1]);
    let policy = LeaderPolicy::Reputation {
        window: 5,
        failures: 2,
        horizon: u64::MAX,
    };
    let mut e = LeaderElection::new(&c, policy);
    let bad = vi(2);
    let rounds_of = |e: &LeaderElection, v: ValidatorIndex| -> Vec<Round> {
        (1..200).map(Round).filter(|&r| e.elected(r) == v).collect()
    };
    let failed = rounds_of(&e, bad);
    // One failure is tolerated (failures = 2): still elected as usual.
    let produced = (1..200).map(Round).find(|&r| e.elected(r) != bad).unwrap();
    e.observe_committed([failed[0]].into_iter(), produced);
    assert_eq!(e.leader(failed[1]), bad);
    // A second failure in the window: skipped.
    e.observe_committed([failed[1]].into_iter(), produced);
    let led = (1..=2_000).filter(|&r| e.leader(Round(r)) == bad).count();
    let elected = (1..=2_000).filter(|&r| e.elected(Round(r)) == bad).count();
    assert!(elected > 400, "{elected}");
    // Only when every re-draw lands on it again (about 1/4^3 of its rounds) does it lead.
    assert!(led < 20, "a failing validator still led {led} rounds");
    for r in (1..=2_000).map(Round) {
        let l = e.leader(r);
        if e.elected(r) != bad {
            assert_eq!(l, e.elected(r), "others keep their rounds");
        }
    }
    // A substitute leads the whole slot (both its rounds), as a scheduled leader does.
    for r in (2..2_000).step_by(2) {
        assert_eq!(
            e.leader(Round(r)),
            e.leader(Round(r + 1)),
            "slot of round {r}"
        );
    }
    // Good outcomes push the failures out of the window: it leads again.
    let its_round = failed[2];
    for _ in 0..5 {
        e.observe_committed(std::iter::empty(), its_round);
    }
    assert_eq!(e.leader(its_round), bad);
}

/// Reputation decides only rounds within its horizon of the newest committed round: once
/// nothing has committed for longer, it cannot learn, and the schedule takes over (a skipped
/// honest validator leads its rounds again, a substitute that keeps failing stops drawing
/// them) until a block commits.
#[test]
fn reputation_gives_way_to_the_schedule_past_its_horizon() {
    let c = committee(&[1, 1, 1, 1]);
    let horizon = shardnet_consensus::REPUTATION_HORIZON;
    let mut e = LeaderElection::new(
        &c,
        LeaderPolicy::Reputation {
            window: 5,
            failures: 2,
            horizon,
        },
    );
    let bad = vi(2);
    let its = |e: &LeaderElection, from: u64, to: u64| -> Vec<Round> {
        (from..=to)
            .map(Round)
            .filter(|&r| e.elected(r) == bad)
            .collect()
    };
    let failed = its(&e, 1, 200);
    let produced = (failed[1].0..)
        .map(Round)
        .find(|&r| e.elected(r) != bad)
        .unwrap();
    e.observe_committed(failed[..2].iter().copied(), produced);
    // Past the horizon its rounds are its own again, and every round is the schedule's.
    let far = its(&e, produced.0 + horizon + 1, produced.0 + 400);
    assert!(!far.is_empty());
    assert!(far.iter().all(|&r| e.leader(r) == bad), "{far:?}");
    assert!(
        (produced.0 + horizon + 1..produced.0 + 400)
            .all(|r| e.leader(Round(r)) == e.elected(Round(r)))
    );
    // A commit just before one of its slots brings that slot within the horizon: its
    // rounds go to substitutes.
    let slot = far
        .iter()
        .copied()
        .find(|r| e.elected(Round(r.0 - 1)) != bad)
        .unwrap();
    e.observe_committed(std::iter::empty(), Round(slot.0 - 1));
    let near = its(&e, slot.0, slot.0 - 1 + horizon);
    assert!(near.len() >= 2, "a slot leads two rounds: {near:?}");
    assert!(near.iter().all(|&r| e.leader(r) != bad), "{near:?}");
}

/// Validators with nearly all the stake and one with 1 unit still share leadership by stake.
#[test]
fn heavily_skewed_stake() {
    let members = (0..3)
        .map(|i| Member {
            public_key: key(i).public_key(),
            stake: Stake(if i == 0 { 1 } else { 1_000_000 }),
            network_address: String::new(),
        })
        .collect();
    let c = Committee::new(CHAIN, ShardId(3), Epoch(9), members).unwrap();
    let n = counts(
        &LeaderElection::new(&c, LeaderPolicy::StakeWeighted),
        ROUNDS,
    );
    assert!(n.get(&vi(0)).copied().unwrap_or(0) < 5);
    let ratio = n[&vi(1)] as f64 / n[&vi(2)] as f64;
    assert!((0.9..=1.1).contains(&ratio), "{ratio}");
}

// ---------------------------------------------------------------------------------------------
// The core feeds reputation from its committed chain.

//   g ── b1(1) ── b2(2) ── b3(3) ─ ─ ─ ─ ─ b5(5, tc(4)) ── b6(6) ── b7(7)
//
//   qc(b6) in b7 commits b3 and b5 together (b6.r = b5.r + 1); b3 produced round 3 and only
//   round 4 failed (rounds 3 and 4 are in different slots of the schedule, C-5). The core's leader view must match a reference election fed exactly that.
#[test]
fn core_attributes_indirect_commits_to_their_own_rounds() {
    let c = committee(&[1, 1, 1, 1]);
    let policy = LeaderPolicy::Reputation {
        window: 8,
        failures: 1,
        horizon: u64::MAX,
    };
    let cfg = Config {
        leader_policy: policy.clone(),
        ..Config::default()
    };
    // An observer core (no key): it follows the chain without voting.
    let mut core = shardnet_consensus::Core::new(cfg, c.clone(), None, fresh_recovery(&c));
    core.start(0);
    let g = Block::clone(&genesis(&c));
    let feed = |core: &mut shardnet_consensus::Core,
                parent: &Block,
                round: u64,
                tc: Option<shardnet_protocol::TimeoutCert>|
     -> Block {
        let leader = core.leader(Round(round));
        let b = child(parent, round, qc(&c, parent), leader);
        let p = propose(&c, leader.as_usize(), b.clone(), tc);
        core.handle(
            0,
            Input::Message {
                from: leader,
                message: msg_proposal(p),
            },
        );
        b
    };
    let b1 = feed(&mut core, &g, 1, None);
    let b2 = feed(&mut core, &b1, 2, None);
    let b3 = feed(&mut core, &b2, 3, None);
    let q3 = qc(&c, &b3);
    let tc4 = tc(&c, 4, &[q3.clone(), q3.clone(), q3.clone(), q3]);
    let b5 = feed(&mut core, &b3, 5, Some(tc4));
    let b6 = feed(&mut core, &b5, 6, None);
    let _b7 = feed(&mut core, &b6, 7, None);
    let commits: Vec<Round> = drain(&mut core)
        .into_iter()
        .filter_map(|o| match o {
            shardnet_consensus::Output::Commit(cb) => Some(cb.block.header.round),
            _ => None,
        })
        .collect();
    assert_eq!(commits, [Round(1), Round(2), Round(3), Round(5)]);

    let mut reference = LeaderElection::new(&c, policy);
    reference.observe_committed(std::iter::empty(), Round(1));
    reference.observe_committed(std::iter::empty(), Round(2));
    reference.observe_committed(std::iter::empty(), Round(3));
    reference.observe_committed([Round(4)].into_iter(), Round(5));
    assert_ne!(
        reference.elected(Round(3)),
        reference.elected(Round(4)),
        "fixture: rounds 3 and 4 must have different leaders for this test to bite"
    );
    for r in (1..500).map(Round) {
        assert_eq!(core.leader(r), reference.leader(r), "{r}");
    }
}

/// Feeds `e` a committed chain in which validator `down` neither leads nor signs while
/// `down_now(round)` holds: its rounds (and the round before each, whose votes went to it)
/// fail; everyone else's succeed. Returns the last block and the rounds that failed.
fn grow(
    e: &mut LeaderElection,
    c: &Committee,
    mut parent: Block,
    rounds: std::ops::Range<u64>,
    down: usize,
    down_now: impl Fn(u64) -> bool,
) -> (Block, Vec<u64>) {
    let mut failed = Vec::new();
    for r in rounds {
        let leader = e.leader(Round(r));
        let next = e.leader(Round(r + 1));
        let dead = down_now(r) && (leader == vi(down) || next == vi(down));
        if dead {
            failed.push(r);
            continue;
        }
        let signers: Vec<usize> = (0..c.len())
            .filter(|&i| !(down_now(r) && i == down))
            .collect();
        let b = child(&parent, r, qc_by(c, &signers, &parent), leader);
        e.observe_committed_block(&b);
        parent = b;
    }
    (parent, failed)
}

/// A crashed validator is skipped for as long as it stays down (its substituted rounds count
/// against it, since it signs nothing), and it leads again once its signatures are back.
#[test]
fn crashed_validator_stays_skipped_until_it_signs_again() {
    let c = committee(&[1, 1, 1, 1]);
    let policy = LeaderPolicy::Reputation {
        window: 10,
        failures: 2,
        horizon: u64::MAX,
    };
    let mut e = LeaderElection::new(&c, policy);
    let g = Block::clone(&genesis(&c));
    let (b, early) = grow(&mut e, &c, g, 1..40, 3, |_| true);
    // Only the first few of its rounds fail; then it is skipped.
    let (b, late) = grow(&mut e, &c, b, 40..2_000, 3, |_| true);
    assert!(
        !early.is_empty(),
        "fixture: it must fail before being skipped"
    );
    assert!(
        late.len() <= 2,
        "a crashed validator cost {} rounds: {late:?}",
        late.len()
    );
    assert!((2_000..2_400).all(|r| e.leader(Round(r)) != vi(3)));
    // Back up: it signs the QCs of its substituted rounds and is re-admitted.
    let (_, after) = grow(&mut e, &c, b, 2_000..2_400, 3, |_| false);
    assert!(after.is_empty());
    let leads = (2_400..3_400)
        .filter(|&r| e.leader(Round(r)) == vi(3))
        .count();
    assert!(leads > 150, "led {leads} of 1,000 rounds after coming back");
}

/// When every re-draw lands on a skipped validator, the round still goes to one that may
/// lead (stake-weighted among them) if they hold more than a third of the stake; with less,
/// they might all be Byzantine, and reputation is set aside for the plain draw.
#[test]
fn rounds_go_to_eligible_validators_holding_over_a_third() {
    for (stakes, eligible_lead_all) in [([1, 1, 1, 3], true), ([1, 1, 1, 1], false)] {
        let c = committee(&stakes);
        let policy = LeaderPolicy::Reputation {
            window: 4,
            failures: 1,
            horizon: u64::MAX,
        };
        let mut e = LeaderElection::new(&c, policy);
        // Validators 0, 1 and 2 each fail one of their rounds: only 3 is eligible.
        for v in 0..3 {
            let r = (1..).map(Round).find(|&r| e.elected(r) == vi(v)).unwrap();
            let produced = (1..).map(Round).find(|&r| e.elected(r) == vi(3)).unwrap();
            e.observe_committed([r].into_iter(), produced);
        }
        let by_3 = (1..2_000).filter(|&r| e.leader(Round(r)) == vi(3)).count();
        if eligible_lead_all {
            assert_eq!(by_3, 1_999, "{stakes:?}");
        } else {
            // Reputation is off while the eligible hold a third or less: the plain draw.
            assert!((400..600).contains(&by_3), "{stakes:?}: {by_3}");
            assert!((1..2_000).all(|r| e.leader(Round(r)) == e.elected(Round(r))));
        }
    }
}
