//! Wire round trips for every wire type: `decode(encode(v)) == v`, and the encoding is
//! canonical — whenever bytes decode, re-encoding the value gives back exactly those bytes.
//!
//! Canonicity is probed two ways: by re-encoding what was decoded, and by flipping one byte of
//! a valid encoding and checking that, if the result still decodes, it re-encodes to itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fmt::Debug;

use common::strategies::*;
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shardnet_protocol::codec::{canonical_bytes, decode_canonical, hash_of};
use shardnet_protocol::*;

/// The round-trip and canonicity properties for one value; `at`/`xor` pick a byte to flip.
fn check<T>(value: &T, at: Index, xor: u8) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = encode(value);
    prop_assert_eq!(bytes[0], WIRE_VERSION);
    let body = canonical_bytes(value);
    prop_assert_eq!(&bytes[1..], body.as_slice());

    let back: T = decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(&encode(&back), &bytes);
    let stored: T = decode_canonical(&bytes[1..])
        .map_err(|e| TestCaseError::fail(format!("decode_canonical: {e}")))?;
    prop_assert_eq!(&stored, value);
    prop_assert_eq!(hash_of(value), Hash32::blake3(&bytes[1..]));

    // Flip one byte of the body: either it no longer decodes, or it is the canonical
    // encoding of whatever it now decodes to.
    if bytes.len() > 1 {
        let mut mutated = bytes.clone();
        let i = 1 + at.index(bytes.len() - 1);
        mutated[i] ^= xor;
        if let Ok(other) = decode::<T>(&mutated) {
            prop_assert_eq!(encode(&other), mutated);
        }
    }
    Ok(())
}

macro_rules! roundtrip {
    ($cases:expr; $($name:ident: $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases($cases))]
            $(
                #[test]
                fn $name(value in $strategy, at in any::<Index>(), xor in 1u8..) {
                    check(&value, at, xor)?;
                }
            )*
        }
    };
}

roundtrip! { 256;
    shard_id: any::<u16>().prop_map(ShardId);
    height: any::<u64>().prop_map(Height);
    round: any::<u64>().prop_map(Round);
    epoch: any::<u64>().prop_map(Epoch);
    validator_index: any::<u16>().prop_map(ValidatorIndex);
    stake: any::<u64>().prop_map(Stake);
    chain_id: any::<u64>().prop_map(ChainId);
    hash32_: hash32();
    block_hash_: block_hash();
    public_key_: public_key();
    signature_: signature();
    signer_bitmap: bitmap();
    vote_data_: vote_data();
    vote_: vote();
    lane_id_: lane_id();
    watermark_: watermark();
    origin_: origin();
    outcome_: outcome();
    message_body_: message_body();
    multiproof_: multiproof();
    timeout_data: (any::<u64>(), any::<u64>())
        .prop_map(|(r, h)| TimeoutData { round: Round(r), high_qc_round: Round(h) });
    signing_context: (any::<u64>(), any::<u16>(), any::<u64>()).prop_map(|(c, s, e)| {
        SigningContext { chain_id: ChainId(c), shard: ShardId(s), epoch: Epoch(e) }
    });
    execution_commitment: execution();
    lane_class_: lane_class();
    address_: address();
    u256_: u256();
    b256_: b256();
}

roundtrip! { 128;
    quorum_cert_: quorum_cert();
    timeout_: timeout();
    timeout_cert_: timeout_cert();
    block_header: header();
    cross_shard_message_: cross_shard_message();
    finality_proof_: finality_proof();
}

roundtrip! { 64;
    lane_segment_: lane_segment();
    payload_: payload();
    block_: block();
}

/// Every `MessageBody` and `Outcome` variant appears in the strategies above; this pins one
/// value of each so a variant dropped from a strategy cannot go unnoticed.
#[test]
fn every_message_and_outcome_variant_round_trips() {
    let lane = LaneId {
        source: ShardId(1),
        destination: ShardId(2),
        class: LaneClass::Response,
    };
    let outcomes = [
        Outcome::Ok(common::bytes(b"ret")),
        Outcome::Revert(common::bytes(b"rev")),
        Outcome::OutOfGas,
        Outcome::TimedOut,
        Outcome::Rejected(common::bytes(b"no code")),
    ];
    for (seq, outcome) in outcomes.into_iter().enumerate() {
        let mut m = common::message(lane, 2);
        m.body = MessageBody::Response {
            call_id: Hash32::blake3(b"id"),
            to: common::addr(9),
            outcome,
            refund: U256::MAX,
            callback: None,
            gas_price: U256::ZERO,
        };
        m.sequence = seq as u64;
        assert_eq!(decode::<CrossShardMessage>(&encode(&m)).unwrap(), m);
    }
    for seq in 0..3 {
        let m = common::message(lane, seq);
        assert_eq!(decode::<CrossShardMessage>(&encode(&m)).unwrap(), m);
    }
    let mut call = common::message(lane, 1);
    if let MessageBody::Call {
        callback, deadline, ..
    } = &mut call.body
    {
        *callback = None;
        *deadline = None;
    }
    assert_eq!(decode::<CrossShardMessage>(&encode(&call)).unwrap(), call);
}

/// The fixture values (real signatures, real proofs) round trip too.
#[test]
fn fixtures_round_trip() {
    let net = common::Net::equal(1, 4);
    let block = common::block(&net);
    assert!(block.is_well_formed());
    assert_eq!(decode::<Block>(&encode(&block)).unwrap(), block);
    let tc = net.tc(9, &[(0, 3), (1, 8), (2, 5)]);
    assert_eq!(decode::<TimeoutCert>(&encode(&tc)).unwrap(), tc);
    let timeout = net.timeout(3, 9, 4);
    assert_eq!(decode::<Timeout>(&encode(&timeout)).unwrap(), timeout);
}
