//! Committees and stake thresholds: a quorum is the least stake strictly above two thirds
//! of the total, decided by stake, not head count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{CHAIN, Net, vote_data};
use proptest::prelude::*;
use shardnet_protocol::*;

fn data() -> VoteData {
    vote_data(b"block", 12, 11)
}

#[test]
fn exactly_two_thirds_is_not_a_quorum() {
    // Total 30: two of three is exactly two thirds.
    let net = Net::equal(1, 3);
    assert_eq!(net.committee.quorum_threshold(), Stake(21));
    assert_eq!(
        net.qc(&[0, 1], data()).verify(&net.committee),
        Err(CertError::InsufficientStake {
            have: Stake(20),
            need: Stake(21)
        })
    );
    assert!(matches!(
        net.tc(4, &[(0, 1), (2, 1)]).verify(&net.committee),
        Err(CertError::InsufficientStake { .. })
    ));
    net.qc(&[0, 1, 2], data()).verify(&net.committee).unwrap();

    // Total 12 (3 each): 8 is exactly two thirds, 9 is just over.
    let net = Net::new(2, &[3, 3, 3, 3]);
    assert!(matches!(
        net.qc(&[0, 1], data()).verify(&net.committee),
        Err(CertError::InsufficientStake { .. })
    ));
    net.qc(&[0, 1, 2], data()).verify(&net.committee).unwrap();

    // Total 6 with uneven stakes: {2, 2} = 4 is exactly two thirds; {2, 2, 1} = 5 is over.
    let net = Net::new(3, &[2, 2, 1, 1]);
    assert_eq!(net.committee.quorum_threshold(), Stake(5));
    assert!(matches!(
        net.qc(&[0, 1], data()).verify(&net.committee),
        Err(CertError::InsufficientStake {
            have: Stake(4),
            need: Stake(5)
        })
    ));
    net.qc(&[0, 1, 2], data()).verify(&net.committee).unwrap();
    net.tc(4, &[(0, 1), (1, 2), (3, 3)])
        .verify(&net.committee)
        .unwrap();
}

#[test]
fn just_over_two_thirds_is_a_quorum() {
    // Total 100: 66 fails, 67 passes.
    let net = Net::new(4, &[33, 33, 34]);
    assert_eq!(net.committee.quorum_threshold(), Stake(67));
    assert!(matches!(
        net.qc(&[0, 1], data()).verify(&net.committee),
        Err(CertError::InsufficientStake {
            have: Stake(66),
            need: Stake(67)
        })
    ));
    net.qc(&[0, 2], data()).verify(&net.committee).unwrap();
    net.qc(&[1, 2], data()).verify(&net.committee).unwrap();
}

#[test]
fn stake_not_headcount_decides_the_quorum() {
    let net = Net::new(5, &[1, 1, 1, 97]);
    // The 97-stake validator alone is a quorum...
    net.qc(&[3], data()).verify(&net.committee).unwrap();
    net.tc(8, &[(3, 7)]).verify(&net.committee).unwrap();
    // ...and the three others together are not.
    assert_eq!(
        net.qc(&[0, 1, 2], data()).verify(&net.committee),
        Err(CertError::InsufficientStake {
            have: Stake(3),
            need: Stake(67)
        })
    );
    assert!(matches!(
        net.tc(8, &[(0, 7), (1, 7), (2, 7)]).verify(&net.committee),
        Err(CertError::InsufficientStake { .. })
    ));
    assert_eq!(net.committee.validity_threshold(), Stake(34));
}

/// The least stake strictly above `num/3` of `total`, computed without any cleverness.
fn least_above(total: u64, num: u128) -> u64 {
    let t = u128::from(total);
    let q = t * num / 3 + 1;
    assert!(q * 3 > t * num && (q - 1) * 3 <= t * num);
    u64::try_from(q).unwrap()
}

fn single_member(total: u64) -> Committee {
    common::committee_of(CHAIN, ShardId(0), Epoch(0), &common::keys(1, 1), &[total])
}

#[test]
fn threshold_table() {
    // (total, quorum, validity)
    let table = [
        (1, 1, 1),
        (2, 2, 1),
        (3, 3, 2),
        (4, 3, 2),
        (5, 4, 2),
        (6, 5, 3),
        (7, 5, 3),
        (10, 7, 4),
        (100, 67, 34),
        (u64::MAX, u64::MAX / 3 * 2 + 1, u64::MAX / 3 + 1),
        (
            u64::MAX - 1,
            12_297_829_382_473_034_410,
            6_148_914_691_236_517_205,
        ),
    ];
    for (total, quorum, validity) in table {
        let c = single_member(total);
        assert_eq!(c.total_stake(), Stake(total));
        assert_eq!(c.quorum_threshold(), Stake(quorum), "quorum of {total}");
        assert_eq!(
            c.validity_threshold(),
            Stake(validity),
            "validity of {total}"
        );
        assert_eq!(quorum, least_above(total, 2));
        assert_eq!(validity, least_above(total, 1));
    }
    // A committee whose total is exactly u64::MAX, split over members.
    let keys = common::keys(2, 3);
    let c = common::committee_of(CHAIN, ShardId(0), Epoch(0), &keys, &[u64::MAX - 2, 1, 1]);
    assert_eq!(c.quorum_threshold(), Stake(least_above(u64::MAX, 2)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn thresholds_are_the_least_stake_above_the_fraction(total in 1u64..) {
        let c = single_member(total);
        prop_assert_eq!(c.quorum_threshold(), Stake(least_above(total, 2)));
        prop_assert_eq!(c.validity_threshold(), Stake(least_above(total, 1)));
    }
}

#[test]
fn committee_construction_errors() {
    let keys = common::keys(1, 3);
    let member = |i: usize, stake: u64| Member {
        public_key: keys[i].public_key(),
        stake: Stake(stake),
        network_address: "127.0.0.1:1".into(),
    };
    #[allow(clippy::result_large_err)] // `CommitteeError` carries a dalek key; see the lib.
    let new = |m| Committee::new(CHAIN, ShardId(2), Epoch(0), m);
    assert_eq!(new(vec![]), Err(CommitteeError::Empty(ShardId(2))));
    assert_eq!(
        new(vec![member(0, 1), member(1, 0)]),
        Err(CommitteeError::ZeroStake {
            shard: ShardId(2),
            index: ValidatorIndex(1)
        })
    );
    assert_eq!(
        new(vec![member(0, 1), member(1, 1), member(0, 1)]),
        Err(CommitteeError::DuplicateKey {
            shard: ShardId(2),
            key: Box::new(keys[0].public_key())
        })
    );
    assert_eq!(
        new(vec![member(0, u64::MAX), member(1, 1)]),
        Err(CommitteeError::StakeOverflow(ShardId(2)))
    );
    let many: Vec<Member> = common::keys(7, limits::MAX_COMMITTEE_SIZE + 1)
        .iter()
        .map(|k| Member {
            public_key: k.public_key(),
            stake: Stake(1),
            network_address: String::new(),
        })
        .collect();
    assert_eq!(
        new(many),
        Err(CommitteeError::TooLarge {
            shard: ShardId(2),
            len: limits::MAX_COMMITTEE_SIZE + 1
        })
    );
}

#[test]
fn committee_lookups() {
    let net = Net::new(1, &[1, 2, 3]);
    let c = &net.committee;
    assert_eq!(c.len(), 3);
    assert!(!c.is_empty());
    assert_eq!(c.total_stake(), Stake(6));
    assert_eq!(
        c.index_of(&net.keys[2].public_key()),
        Some(ValidatorIndex(2))
    );
    assert_eq!(c.index_of(&common::keys(9, 1)[0].public_key()), None);
    assert_eq!(c.stake(ValidatorIndex(1)), Stake(2));
    assert_eq!(c.stake(ValidatorIndex(3)), Stake(0));
    let mut signers = c.empty_signers();
    assert!(signers.insert(ValidatorIndex(0)));
    assert!(!signers.insert(ValidatorIndex(0)));
    assert!(!signers.insert(ValidatorIndex(3)));
    assert!(signers.insert(ValidatorIndex(2)));
    assert_eq!(c.stake_of(&signers), Stake(4));

    let other = Net::in_context(2, &[1], CHAIN, ShardId(1), Epoch(0));
    let all = Committees::new([c.clone(), other.committee.clone()]);
    assert_eq!(all.get(ShardId(1), Epoch(0)), Some(&other.committee));
    assert_eq!(all.get(ShardId(1), Epoch(1)), None);
    assert_eq!(
        all.locate(&other.keys[0].public_key()),
        Some((ShardId(1), Epoch(0), ValidatorIndex(0)))
    );
    assert_eq!(all.iter().count(), 2);
}
