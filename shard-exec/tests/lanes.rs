//! The cross-shard lane core (`specs/cross-shard.md` CS-2, CS-3, CS-7, CS-8, CS-9):
//! segments built from a real outbox and finality proof verify offline and every tampering
//! is caught; the inbox planner executes each message exactly once, in lane order, within
//! budget, whatever order, duplication and gaps the relay delivers them in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use proptest::prelude::*;
use shardnet_exec::lanes::inbox::{Budget, message_gas, plan};
use shardnet_exec::lanes::outbox::{Emission, Outbox};
use shardnet_exec::lanes::segment::{SegmentError, verify_segment};
use shardnet_exec::lanes::{Sequences, Watermarks};
use shardnet_protocol::*;

fn committee(shard: u16) -> (Committee, Vec<SecretKey>) {
    let keys: Vec<SecretKey> = (0..4)
        .map(|i| SecretKey::from_bytes(&[shard as u8 * 16 + i + 1; 32]))
        .collect();
    let members = keys
        .iter()
        .map(|k| Member {
            public_key: k.public_key(),
            stake: Stake(1),
            network_address: String::new(),
        })
        .collect();
    (
        Committee::new(ChainId(9), ShardId(shard), Epoch(0), members).unwrap(),
        keys,
    )
}

fn header(
    shard: u16,
    height: u64,
    round: u64,
    parent: BlockHash,
    outbox_root: Hash32,
) -> BlockHeader {
    BlockHeader {
        chain_id: ChainId(9),
        shard: ShardId(shard),
        epoch: Epoch(0),
        height: Height(height),
        round: Round(round),
        parent,
        proposer: ValidatorIndex(0),
        timestamp_ms: 0,
        payload_root: Hash32::ZERO,
        execution: ExecutionCommitment {
            outbox_root,
            ..ExecutionCommitment::default()
        },
    }
}

/// A finality proof of a shard-0 block committing to `outbox_root`.
fn proof_for(outbox_root: Hash32, c: &Committee, keys: &[SecretKey]) -> FinalityProof {
    let h = header(0, 5, 7, BlockHash(Hash32::blake3(b"parent")), outbox_root);
    let child = header(0, 6, 8, h.hash(), merkle::empty_root());
    let data = VoteData {
        block: child.hash(),
        round: child.round,
        height: child.height,
    };
    let votes: Vec<Vote> = (0..3)
        .map(|i| Vote::sign(c, &keys[i], ValidatorIndex(i as u16), data))
        .collect();
    FinalityProof::direct(h, child, QuorumCert::aggregate(c, data, &votes))
}

fn origin() -> Origin {
    Origin {
        tx_hash: B256::repeat_byte(1),
        initiator: Address::repeat_byte(2),
        depth: 0,
    }
}

fn transfer(to: u8, value: u64) -> MessageBody {
    MessageBody::Transfer {
        from: Address::repeat_byte(3),
        to: Address::repeat_byte(to),
        value: U256::from(value),
    }
}

fn sample_outbox(seqs: &mut Sequences) -> Outbox {
    let emissions = (0..9)
        .map(|i| Emission {
            destination: ShardId(1 + (i % 2) as u16),
            origin: origin(),
            body: transfer(i as u8, i),
        })
        .collect();
    Outbox::assign(ShardId(0), emissions, seqs)
}

#[test]
fn sequences_continue_across_blocks() {
    let mut seqs = Sequences::new();
    let a = sample_outbox(&mut seqs);
    let b = sample_outbox(&mut seqs);
    let lane1 = LaneId {
        source: ShardId(0),
        destination: ShardId(1),
        class: LaneClass::Request,
    };
    let s_a: Vec<u64> = a
        .messages
        .iter()
        .filter(|m| m.lane == lane1)
        .map(|m| m.sequence)
        .collect();
    let s_b: Vec<u64> = b
        .messages
        .iter()
        .filter(|m| m.lane == lane1)
        .map(|m| m.sequence)
        .collect();
    assert_eq!(s_a, vec![1, 2, 3, 4, 5]);
    assert_eq!(s_b, vec![6, 7, 8, 9, 10]);
    assert_eq!(seqs[&lane1], 10);
}

#[test]
fn segments_verify_offline_and_tampering_is_caught() {
    let (c0, keys) = committee(0);
    let (c1, _) = committee(1);
    let committees = Committees::new([c0.clone(), c1]);
    let outbox = sample_outbox(&mut Sequences::new());
    let proof = proof_for(outbox.root(), &c0, &keys);
    for lane in outbox.lanes() {
        let seg = outbox.segment(lane, &proof).unwrap().unwrap();
        verify_segment(&seg, &committees, lane.destination).unwrap();

        // Delivered to the wrong shard.
        assert!(matches!(
            verify_segment(&seg, &committees, ShardId(3)),
            Err(SegmentError::WrongLane(_))
        ));
        // A message altered in flight.
        let mut forged = seg.clone();
        let mut msgs = forged.messages.clone().into_vec();
        msgs[0].body = transfer(0xee, 1_000_000);
        forged.messages = BoundedVec::try_from_vec(msgs).unwrap();
        assert!(matches!(
            verify_segment(&forged, &committees, lane.destination),
            Err(SegmentError::Outbox(_))
        ));
        // A message dropped from the middle (sequence gap).
        let mut gap = seg.clone();
        let mut msgs = gap.messages.clone().into_vec();
        if msgs.len() > 2 {
            msgs.remove(1);
            gap.messages = BoundedVec::try_from_vec(msgs).unwrap();
            assert_eq!(
                verify_segment(&gap, &committees, lane.destination),
                Err(SegmentError::Gap)
            );
        }
        // A proof whose QC lacks a quorum.
        let mut weak = seg.clone();
        weak.proof.qc.signers = c0.empty_signers();
        weak.proof.qc.signatures = BoundedVec::new();
        assert!(matches!(
            verify_segment(&weak, &committees, lane.destination),
            Err(SegmentError::Finality(_))
        ));
    }
    // A segment claiming a block the committee never certified (root of another outbox).
    let other = sample_outbox(&mut Sequences::new());
    let mut moved = outbox.segment(outbox.lanes()[0], &proof).unwrap().unwrap();
    moved.proof = proof_for(Hash32::blake3(b"another root"), &c0, &keys);
    assert!(verify_segment(&moved, &committees, moved.messages[0].lane.destination).is_err());
    assert_eq!(
        other.root(),
        outbox.root(),
        "same emissions from the same lane state give the same root"
    );
}

fn lane(src: u16, class: LaneClass) -> LaneId {
    LaneId {
        source: ShardId(src),
        destination: ShardId(0),
        class,
    }
}

fn msg(l: LaneId, sequence: u64, gas: u64) -> CrossShardMessage {
    let body = match l.class {
        LaneClass::Response => MessageBody::Response {
            call_id: Hash32::ZERO,
            to: Address::repeat_byte(1),
            outcome: Outcome::OutOfGas,
            refund: U256::ZERO,
            callback: None,
            gas_price: U256::ZERO,
        },
        LaneClass::Request => MessageBody::Call {
            call_id: Hash32::ZERO,
            from: Address::repeat_byte(1),
            to: Address::repeat_byte(2),
            calldata: BoundedBytes::default(),
            value: U256::ZERO,
            gas_limit: gas,
            gas_price: U256::from(7u64),
            callback: None,
            deadline: None,
        },
    };
    CrossShardMessage {
        lane: l,
        sequence,
        origin: origin(),
        body,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// CS-3/CS-9 and invariant CS-I1: over many blocks, with messages arriving in any order,
    /// duplicated and with gaps, every lane executes 1, 2, 3, … exactly once; each block stays
    /// within its budget, requests within the budget minus the reserve, responses first.
    #[test]
    fn inbox_executes_exactly_once_in_order(
        lanes in 1usize..5,
        per_lane in 1u64..30,
        gas in prop::collection::vec(0u64..200_000, 1..40),
        arrival_seed in any::<u64>(),
        total_gas in 200_000u64..3_000_000,
    ) {
        let lane_ids: Vec<LaneId> = (0..lanes)
            .map(|i| lane(1 + (i / 2) as u16, if i % 2 == 0 { LaneClass::Request } else { LaneClass::Response }))
            .collect();
        let all: Vec<CrossShardMessage> = lane_ids
            .iter()
            .flat_map(|l| (1..=per_lane).map(move |s| (*l, s)))
            .enumerate()
            .map(|(i, (l, s))| msg(l, s, gas[i % gas.len()]))
            .collect();
        // Messages trickle in: each block sees a pseudo-random growing prefix, shuffled and
        // with repeats (a relay may resend anything).
        let mut order: Vec<usize> = (0..all.len()).collect();
        let mut x = arrival_seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let budget = Budget { total_gas, response_reserve_gas: total_gas / 4 };
        let mut wm = Watermarks::new();
        let mut executed: BTreeMap<LaneId, Vec<u64>> = BTreeMap::new();
        for block in 0..(all.len() * 3 + 10) {
            let seen = (block * 3 + 1).min(order.len());
            let mut available: Vec<CrossShardMessage> = order[..seen].iter().map(|&i| all[i].clone()).collect();
            available.extend(available.clone()); // duplicates
            let p = plan(&wm, &available, budget);
            let mut used = 0u64;
            let mut seen_request = false;
            for m in &p.messages {
                used += message_gas(m);
                if m.lane.class == LaneClass::Request { seen_request = true; }
                prop_assert!(!(seen_request && m.lane.class == LaneClass::Response), "response after a request");
                executed.entry(m.lane).or_default().push(m.sequence);
            }
            prop_assert!(used <= budget.total_gas);
            wm = p.watermarks;
        }
        for l in &lane_ids {
            let got = executed.get(l).cloned().unwrap_or_default();
            // Messages too large for any block never execute; everything before them does,
            // exactly once and in order.
            let expected: Vec<u64> = (1..=per_lane).collect();
            prop_assert_eq!(&got[..], &expected[..got.len()]);
            let fits_all = all.iter().filter(|m| m.lane == *l).all(|m| message_gas(m) <= budget.total_gas - budget.response_reserve_gas);
            if fits_all {
                prop_assert_eq!(got.len() as u64, per_lane, "lane {:?} did not drain", l);
            }
        }
    }
}
