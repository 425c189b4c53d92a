//! proptest strategies for every wire type, built from random bytes and integers.
//!
//! Values need not be meaningful (signatures are random bytes, bitmaps and signature lists
//! need not agree): the codec must carry any value of the type exactly.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use shardnet_protocol::limits::{
    MAX_COMMITTEE_SIZE, MAX_CROSS_SHARD_MESSAGE_BYTES, MAX_REASON_BYTES, MAX_TRANSACTION_BYTES,
};
use shardnet_protocol::*;

pub fn hash32() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

pub fn block_hash() -> impl Strategy<Value = BlockHash> {
    hash32().prop_map(BlockHash)
}

pub fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

pub fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

pub fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ]
}

/// A valid public key: the public half of a key with a random seed.
pub fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(|seed| SecretKey::from_bytes(&seed).public_key())
}

/// Any 64 bytes: the codec must carry signatures that do not verify.
pub fn signature() -> impl Strategy<Value = Signature> {
    any::<[u8; 64]>().prop_map(|b| Signature::from_bytes(&b))
}

pub fn bounded_bytes<const MAX: usize>(max_len: usize) -> impl Strategy<Value = BoundedBytes<MAX>> {
    vec(any::<u8>(), 0..=max_len.min(MAX))
        .prop_map(|v| BoundedBytes::try_from_vec(v).expect("within bound"))
}

fn bounded_vec<T: std::fmt::Debug, const MAX: usize>(
    items: impl Strategy<Value = T>,
    max_len: usize,
) -> impl Strategy<Value = BoundedVec<T, MAX>> {
    vec(items, 0..=max_len.min(MAX))
        .prop_map(|v| BoundedVec::try_from_vec(v).expect("within bound"))
}

/// A signer set over a committee of random size (mostly small, sometimes up to the limit).
pub fn bitmap() -> impl Strategy<Value = SignerBitmap> {
    prop_oneof![3 => 0usize..=70, 1 => 0usize..=MAX_COMMITTEE_SIZE]
        .prop_flat_map(|n| vec(any::<bool>(), n))
        .prop_map(|bits| {
            let mut b = SignerBitmap::new(bits.len());
            for (i, on) in bits.iter().enumerate() {
                if *on {
                    assert!(b.insert(ValidatorIndex(i as u16)));
                }
            }
            b
        })
}

prop_compose! {
    pub fn vote_data()(block in block_hash(), round in any::<u64>(), height in any::<u64>())
        -> VoteData {
        VoteData { block, round: Round(round), height: Height(height) }
    }
}

prop_compose! {
    pub fn vote()(data in vote_data(), signer in any::<u16>(), signature in signature()) -> Vote {
        Vote { data, signer: ValidatorIndex(signer), signature }
    }
}

prop_compose! {
    pub fn quorum_cert()(
        data in vote_data(),
        signers in bitmap(),
        signatures in bounded_vec(signature(), 6),
    ) -> QuorumCert {
        QuorumCert { data, signers, signatures }
    }
}

prop_compose! {
    pub fn timeout()(
        round in any::<u64>(),
        high_qc in quorum_cert(),
        signer in any::<u16>(),
        signature in signature(),
    ) -> Timeout {
        Timeout { round: Round(round), high_qc, signer: ValidatorIndex(signer), signature }
    }
}

prop_compose! {
    pub fn timeout_cert()(
        round in any::<u64>(),
        signers in bitmap(),
        high_qc_rounds in bounded_vec(any::<u64>().prop_map(Round), 6),
        signatures in bounded_vec(signature(), 6),
    ) -> TimeoutCert {
        TimeoutCert { round: Round(round), signers, high_qc_rounds, signatures }
    }
}

pub fn lane_class() -> impl Strategy<Value = LaneClass> {
    prop_oneof![Just(LaneClass::Request), Just(LaneClass::Response)]
}

prop_compose! {
    pub fn lane_id()(source in any::<u16>(), destination in any::<u16>(), class in lane_class())
        -> LaneId {
        LaneId { source: ShardId(source), destination: ShardId(destination), class }
    }
}

prop_compose! {
    pub fn watermark()(lane in lane_id(), executed in any::<u64>()) -> Watermark {
        Watermark { lane, executed }
    }
}

prop_compose! {
    pub fn execution()(
        state_root in hash32(),
        outbox_root in hash32(),
        inbox_watermarks in bounded_vec(watermark(), 4),
    ) -> ExecutionCommitment {
        ExecutionCommitment { state_root, outbox_root, inbox_watermarks }
    }
}

prop_compose! {
    pub fn header()(
        ids in (any::<u64>(), any::<u16>(), any::<u64>()),
        position in (any::<u64>(), any::<u64>()),
        parent in block_hash(),
        proposer in any::<u16>(),
        timestamp_ms in any::<u64>(),
        payload_root in hash32(),
        execution in execution(),
    ) -> BlockHeader {
        BlockHeader {
            chain_id: ChainId(ids.0),
            shard: ShardId(ids.1),
            epoch: Epoch(ids.2),
            height: Height(position.0),
            round: Round(position.1),
            parent,
            proposer: ValidatorIndex(proposer),
            timestamp_ms,
            payload_root,
            execution,
        }
    }
}

prop_compose! {
    pub fn finality_proof()(
        header in header(),
        chain in bounded_vec(header(), 3),
        qc in quorum_cert(),
    ) -> FinalityProof {
        FinalityProof { header, chain, qc }
    }
}

prop_compose! {
    pub fn multiproof()(leaf_count in any::<u64>(), hashes in bounded_vec(hash32(), 8))
        -> MultiProof {
        MultiProof { leaf_count, hashes }
    }
}

prop_compose! {
    pub fn origin()(tx_hash in b256(), initiator in address(), depth in any::<u8>()) -> Origin {
        Origin { tx_hash, initiator, depth }
    }
}

pub fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        bounded_bytes::<MAX_CROSS_SHARD_MESSAGE_BYTES>(40).prop_map(Outcome::Ok),
        bounded_bytes::<MAX_CROSS_SHARD_MESSAGE_BYTES>(40).prop_map(Outcome::Revert),
        Just(Outcome::OutOfGas),
        Just(Outcome::TimedOut),
        bounded_bytes::<MAX_REASON_BYTES>(MAX_REASON_BYTES).prop_map(Outcome::Rejected),
    ]
}

prop_compose! {
    fn call()(
        call_id in hash32(),
        from in address(),
        to in address(),
        calldata in bounded_bytes::<MAX_CROSS_SHARD_MESSAGE_BYTES>(64),
        value in u256(),
        gas_limit in any::<u64>(),
        gas_price in u256(),
        callback in option::of(any::<u64>().prop_map(|gas_limit| Callback { gas_limit })),
        deadline in option::of(any::<u64>().prop_map(Height)),
    ) -> MessageBody {
        MessageBody::Call { call_id, from, to, calldata, value, gas_limit, gas_price, callback, deadline }
    }
}

pub fn message_body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (address(), address(), u256()).prop_map(|(from, to, value)| MessageBody::Transfer {
            from,
            to,
            value
        }),
        call(),
        (
            hash32(),
            address(),
            address(),
            any::<u64>(),
            option::of(b256()),
            bounded_bytes::<MAX_CROSS_SHARD_MESSAGE_BYTES>(64),
            u256(),
            any::<u64>(),
            u256()
        )
            .prop_map(
                |(call_id, from, address, nonce, salt, initcode, value, gas_limit, gas_price)| {
                    MessageBody::Create {
                        call_id,
                        from,
                        address,
                        nonce,
                        salt,
                        initcode,
                        value,
                        gas_limit,
                        gas_price,
                    }
                }
            ),
        (
            hash32(),
            address(),
            outcome(),
            u256(),
            option::of(any::<u64>().prop_map(|gas_limit| Callback { gas_limit })),
            u256()
        )
            .prop_map(|(call_id, to, outcome, refund, callback, gas_price)| {
                MessageBody::Response {
                    call_id,
                    to,
                    outcome,
                    refund,
                    callback,
                    gas_price,
                }
            }),
    ]
}

prop_compose! {
    pub fn cross_shard_message()(
        lane in lane_id(),
        sequence in any::<u64>(),
        origin in origin(),
        body in message_body(),
    ) -> CrossShardMessage {
        CrossShardMessage { lane, sequence, origin, body }
    }
}

prop_compose! {
    pub fn lane_segment()(
        proof in finality_proof(),
        first_leaf in any::<u64>(),
        messages in bounded_vec(cross_shard_message(), 3),
        outbox_proof in multiproof(),
    ) -> LaneSegment {
        LaneSegment { proof, first_leaf, messages, outbox_proof }
    }
}

prop_compose! {
    pub fn payload()(
        transactions in bounded_vec(bounded_bytes::<MAX_TRANSACTION_BYTES>(48), 4),
        segments in bounded_vec(lane_segment(), 2),
    ) -> Payload {
        Payload { transactions, segments }
    }
}

prop_compose! {
    pub fn block()(header in header(), justify in quorum_cert(), payload in payload()) -> Block {
        Block { header, justify, payload }
    }
}
