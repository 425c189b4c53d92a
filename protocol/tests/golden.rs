//! Golden wire tests: fixed values, built deterministically, must encode to frozen bytes.
//!
//! Each test pins the blake3 of one encoded message (or, for the signing preimage, the bytes
//! themselves). Any change to an encoding, a field order, a limit that shows on the wire, a
//! domain tag or the signing layout fails here — on purpose: nodes of different versions would
//! silently disagree on hashes and signatures.
//!
//! To change the wire intentionally:
//! 1. bump `WIRE_VERSION` in `protocol/src/codec.rs` (and update `specs/wire.md`);
//! 2. update `EXPECTED_WIRE_VERSION` below;
//! 3. run `cargo nextest run -p shardnet-protocol --test golden`: each failure prints the new
//!    value — paste it over the old constant, and say in the change why the wire moved.
//!
//! The fixtures here are self-contained (seeds and values spelled out, no shared helpers), so
//! editing test fixtures elsewhere cannot move these constants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde::Serialize;
use shardnet_protocol::crypto::signing_preimage;
use shardnet_protocol::merkle::{leaf_hash, root};
use shardnet_protocol::*;

const EXPECTED_WIRE_VERSION: u8 = 3;

const HEADER: &str = "8a359d9ea6f017bca260ce1a4612cea51fe01ed95269076aec86d7a2900f4835";
const BLOCK: &str = "730cfdf0863a15f8b2cafd62b5f18704a7fe9cbac6b58413dd9e619f6614f58d";
const QUORUM_CERT: &str = "75cecb556ba2929ff3a863555ad4472e188dd010cd4c08b12ca0b6a6877899b2";
const TIMEOUT_CERT: &str = "0015f7b16a6d5b7c19add46649e8a4536a60961388b6d35b6b420882a8703eeb";
const CROSS_SHARD_MESSAGE: &str =
    "69d750e26c17d551da4be90d4482829c82500ffff009a48f59b48f4d90454c17";
const CREATE2_MESSAGE: &str = "1a549e3e0bee6230acf5b21cd2873272683e22e569c5eb734330b48114e98402";
const FINALITY_PROOF: &str = "8cf5bd71ebe304d6795df691b9e228cc867b24eb06748523269f873fa7a43892";
const MULTIPROOF: &str = "f2a4405393561e01e4d04eb40dfc5a7320cc5ebc61e39c4e435b84e65381896e";
const LANE_PULL: &str = "5ad90686c90a95cdfd57da5c304e622fadaa29f18fc4a1341315de36a575fbd6";
const LANE_PULL_RESPONSE: &str = "0207db1f607c9ed48a20a3761cf99e6ec92319b049f700f67cd74973d72f9342";
const HEADER_HASH: &str = "0xc09386248929deb4260434ed66f36057e34dfd6878f98b0226380f2b322858cb";
/// Domain tag (24 bytes), chain id 7 (u64 LE), shard 2 (u16 LE), epoch 3 (u64 LE), then the
/// vote data: block hash (32 bytes of 0xcd), round 9 (u64 LE), height 8 (u64 LE).
const VOTE_PREIMAGE: &str = concat!(
    "73686172646e65742f76312f766f74650000000000000000",
    "0700000000000000",
    "0200",
    "0300000000000000",
    "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
    "0900000000000000",
    "0800000000000000",
);

/// Asserts that blake3 of the encoding of `value` is `expected` (hex).
fn golden<T: Serialize>(name: &str, value: &T, expected: &str) {
    let bytes = encode(value);
    assert_eq!(bytes[0], EXPECTED_WIRE_VERSION);
    let actual = blake3::hash(&bytes).to_hex().to_string();
    assert_eq!(
        actual,
        expected,
        "{name}: the wire encoding changed ({} bytes). If intended, bump WIRE_VERSION and set \
         the constant to \"{actual}\"",
        bytes.len()
    );
}

fn keys() -> Vec<SecretKey> {
    (1..=4u8).map(|i| SecretKey::from_bytes(&[i; 32])).collect()
}

fn committee(shard: u16) -> Committee {
    let members = keys()
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            public_key: k.public_key(),
            stake: Stake(10 + i as u64),
            network_address: format!("10.0.{shard}.{i}:9000"),
        })
        .collect();
    Committee::new(ChainId(7), ShardId(shard), Epoch(3), members).unwrap()
}

fn header(shard: u16, height: u64, round: u64, parent: BlockHash) -> BlockHeader {
    BlockHeader {
        chain_id: ChainId(7),
        shard: ShardId(shard),
        epoch: Epoch(3),
        height: Height(height),
        round: Round(round),
        parent,
        proposer: ValidatorIndex(2),
        timestamp_ms: 1_700_000_000_000 + height,
        payload_root: Hash32([0x11; 32]),
        execution: ExecutionCommitment {
            state_root: Hash32([0x22; 32]),
            outbox_root: Hash32([0x33; 32]),
            inbox_watermarks: vec![
                Watermark {
                    lane: LaneId {
                        source: ShardId(1),
                        destination: ShardId(shard),
                        class: LaneClass::Request,
                    },
                    executed: 41,
                },
                Watermark {
                    lane: LaneId {
                        source: ShardId(2),
                        destination: ShardId(shard),
                        class: LaneClass::Response,
                    },
                    executed: 0,
                },
            ]
            .try_into()
            .unwrap(),
        },
    }
}

fn the_header() -> BlockHeader {
    header(0, 12, 15, BlockHash(Hash32([0x44; 32])))
}

fn vote_data_for(h: &BlockHeader) -> VoteData {
    VoteData {
        block: h.hash(),
        round: h.round,
        height: h.height,
    }
}

fn qc(committee: &Committee, signers: &[usize], data: VoteData) -> QuorumCert {
    let keys = keys();
    let votes: Vec<Vote> = signers
        .iter()
        .map(|&i| Vote::sign(committee, &keys[i], ValidatorIndex(i as u16), data))
        .collect();
    QuorumCert::aggregate(committee, data, &votes)
}

fn the_qc() -> QuorumCert {
    qc(&committee(0), &[0, 1, 3], vote_data_for(&the_header()))
}

fn bytes<const MAX: usize>(b: &[u8]) -> BoundedBytes<MAX> {
    BoundedBytes::try_from_vec(b.to_vec()).unwrap()
}

fn the_message() -> CrossShardMessage {
    CrossShardMessage {
        lane: LaneId {
            source: ShardId(1),
            destination: ShardId(0),
            class: LaneClass::Request,
        },
        sequence: 42,
        origin: Origin {
            tx_hash: B256::from([0x55; 32]),
            initiator: Address::from([0x66; 20]),
            depth: 1,
        },
        body: MessageBody::Call {
            call_id: Hash32([0x77; 32]),
            from: Address::from([0x88; 20]),
            to: Address::from([0x99; 20]),
            calldata: bytes(&[0xa9, 0x05, 0x9c, 0xbb, 0x00, 0x01]),
            value: U256::from(1_000_000_000_000_000_000u64),
            gas_limit: 210_000,
            gas_price: U256::from(7u64),
            callback: Some(Callback { gas_limit: 50_000 }),
            deadline: Some(Height(100)),
        },
    }
}

fn the_finality_proof() -> FinalityProof {
    finality_proof(Hash32([0x33; 32]))
}

/// A shard-1 block at height 30 committing to `outbox_root`, with its child and the child's QC.
fn finality_proof(outbox_root: Hash32) -> FinalityProof {
    let source = committee(1);
    let mut h = header(1, 30, 40, BlockHash(Hash32([0xab; 32])));
    h.execution.outbox_root = outbox_root;
    let child = header(1, 31, 41, h.hash());
    let qc = qc(&source, &[0, 1, 2, 3], vote_data_for(&child));
    FinalityProof::direct(h, child, qc)
}

fn the_multiproof() -> MultiProof {
    let leaves: Vec<Hash32> = (0..10u8).map(|i| leaf_hash(&[i])).collect();
    MultiProof::new(&leaves, &[2, 3, 7]).unwrap()
}

fn the_block() -> Block {
    let messages = vec![
        the_message(),
        CrossShardMessage {
            sequence: 43,
            body: MessageBody::Transfer {
                from: Address::from([0x01; 20]),
                to: Address::from([0x02; 20]),
                value: U256::from(5u64),
            },
            ..the_message()
        },
    ];
    let mut outbox: Vec<Hash32> = (0..3u8).map(|i| leaf_hash(&[i])).collect();
    outbox.extend(messages.iter().map(CrossShardMessage::leaf_hash));
    let segment = LaneSegment {
        proof: finality_proof(root(&outbox)),
        first_leaf: 3,
        messages: messages.try_into().unwrap(),
        outbox_proof: MultiProof::new(&outbox, &[3, 4]).unwrap(),
    };
    let payload = Payload {
        transactions: vec![bytes(b"\x02\xf8\x6ftx-one"), bytes(b"\x02\xf8\x70tx-two")]
            .try_into()
            .unwrap(),
        segments: vec![segment].try_into().unwrap(),
    };
    // The block extends `the_header`, justified by `the_qc` on it.
    let mut h = header(0, 13, 16, the_header().hash());
    h.payload_root = payload.root();
    Block {
        header: h,
        justify: the_qc(),
        payload,
    }
}

#[test]
fn wire_version() {
    assert_eq!(
        WIRE_VERSION, EXPECTED_WIRE_VERSION,
        "update the golden constants with it"
    );
}

#[test]
fn domain_tags() {
    assert_eq!(Domain::Proposal.tag(), b"shardnet/v1/proposal\0\0\0\0");
    assert_eq!(Domain::Vote.tag(), b"shardnet/v1/vote\0\0\0\0\0\0\0\0");
    assert_eq!(Domain::Timeout.tag(), b"shardnet/v1/timeout\0\0\0\0\0");
}

#[test]
fn vote_signing_preimage() {
    let ctx = SigningContext {
        chain_id: ChainId(7),
        shard: ShardId(2),
        epoch: Epoch(3),
    };
    let data = VoteData {
        block: BlockHash(Hash32([0xcd; 32])),
        round: Round(9),
        height: Height(8),
    };
    let pre = signing_preimage(Domain::Vote, &ctx, &data);
    assert_eq!(
        hex::encode(&pre),
        VOTE_PREIMAGE,
        "the signing preimage changed"
    );
}

#[test]
fn header_hash() {
    assert_eq!(the_header().hash().0.to_string(), HEADER_HASH);
}

#[test]
fn golden_header() {
    golden("BlockHeader", &the_header(), HEADER);
}

#[test]
fn golden_block() {
    let block = the_block();
    assert!(block.is_well_formed());
    let segment = &block.payload.segments[0];
    segment
        .proof
        .verify(&Committees::new([committee(1)]))
        .unwrap();
    let items: Vec<(u64, Hash32)> = segment
        .messages
        .iter()
        .zip(3u64..)
        .map(|(m, i)| (i, m.leaf_hash()))
        .collect();
    segment
        .outbox_proof
        .verify(&segment.proof.header.execution.outbox_root, &items)
        .unwrap();
    golden("Block", &block, BLOCK);
}

#[test]
fn golden_quorum_cert() {
    let qc = the_qc();
    qc.verify(&committee(0)).unwrap();
    golden("QuorumCert", &qc, QUORUM_CERT);
}

#[test]
fn golden_timeout_cert() {
    let c = committee(0);
    let keys = keys();
    let high_qc = the_qc();
    let timeouts: Vec<Timeout> = [(0usize, 17u64), (2, 17), (3, 17)]
        .iter()
        .map(|&(i, round)| {
            Timeout::sign(
                &c,
                &keys[i],
                ValidatorIndex(i as u16),
                Round(round),
                high_qc.clone(),
            )
        })
        .collect();
    let tc = TimeoutCert::aggregate(&c, Round(17), &timeouts);
    tc.verify(&c).unwrap();
    golden("TimeoutCert", &tc, TIMEOUT_CERT);
}

#[test]
fn golden_cross_shard_message() {
    golden("CrossShardMessage", &the_message(), CROSS_SHARD_MESSAGE);
}

/// a CREATE2 `Create` carries its salt, and the address it names is EIP-1014's.
#[test]
fn golden_create2_message() {
    let from: Address = "0xdeadbeef00000000000000000000000000000000"
        .parse()
        .unwrap();
    let body = MessageBody::Create {
        call_id: Hash32([0x77; 32]),
        from,
        address: Address::from([0; 20]),
        nonce: 3,
        salt: Some(B256::ZERO),
        initcode: bytes(&[0x00]),
        value: U256::from(5u64),
        gas_limit: 100_000,
        gas_price: U256::from(7u64),
    };
    // EIP-1014's second example: deadbeef…, salt 0, init code 0x00.
    let address: Address = "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3"
        .parse()
        .unwrap();
    assert_eq!(body.create_address(), Some(address));
    let MessageBody::Create {
        call_id,
        from,
        nonce,
        initcode,
        value,
        gas_limit,
        gas_price,
        ..
    } = body
    else {
        unreachable!()
    };
    let create = MessageBody::Create {
        call_id,
        from,
        address,
        nonce,
        salt: None,
        initcode: initcode.clone(),
        value,
        gas_limit,
        gas_price,
    };
    assert_eq!(create.create_address(), Some(from.create(3)));
    let message = CrossShardMessage {
        body: MessageBody::Create {
            call_id,
            from,
            address,
            nonce,
            salt: Some(B256::ZERO),
            initcode,
            value,
            gas_limit,
            gas_price,
        },
        ..the_message()
    };
    golden("Create2Message", &message, CREATE2_MESSAGE);
}

#[test]
fn golden_finality_proof() {
    let p = the_finality_proof();
    p.verify(&Committees::new([committee(1)])).unwrap();
    golden("FinalityProof", &p, FINALITY_PROOF);
}

#[test]
fn golden_multiproof() {
    let p = the_multiproof();
    let leaves: Vec<Hash32> = (0..10u8).map(|i| leaf_hash(&[i])).collect();
    let items: Vec<(u64, Hash32)> = [2u64, 3, 7]
        .iter()
        .map(|&i| (i, leaves[i as usize]))
        .collect();
    p.verify(&root(&leaves), &items).unwrap();
    golden("MultiProof", &p, MULTIPROOF);
}

#[test]
fn golden_lane_pull() {
    let pull = LanePull {
        lane: LaneId {
            source: ShardId(1),
            destination: ShardId(0),
            class: LaneClass::Request,
        },
        first: 42,
        last: 4137,
    };
    assert!(pull.is_valid());
    assert!(!LanePull { last: 4138, ..pull }.is_valid());
    assert_eq!(
        enc(&pull),
        "01000000000000002a000000000000002910000000000000"
    );
    golden("LanePull", &pull, LANE_PULL);
}

#[test]
fn golden_lane_pull_response() {
    let segment = the_block().payload.segments[0].clone();
    let answer = LanePullResponse {
        segments: vec![segment].try_into().unwrap(),
    };
    golden("LanePullResponse", &answer, LANE_PULL_RESPONSE);
}

/// Hex of the canonical encoding (no version byte).
fn enc<T: Serialize>(value: &T) -> String {
    hex::encode(codec::canonical_bytes(value))
}

/// The vectors of `specs/wire.md` Appendix A, spelled out byte by byte.
#[test]
fn spec_appendix_a_vectors() {
    let aa = "aa".repeat(32);
    let data = VoteData {
        block: BlockHash(Hash32([0xaa; 32])),
        round: Round(5),
        height: Height(4),
    };
    assert_eq!(enc(&data), format!("{aa}05000000000000000400000000000000"));
    assert_eq!(hex::encode(encode(&data)), format!("03{}", enc(&data)));

    let ctx = SigningContext {
        chain_id: ChainId(7),
        shard: ShardId(2),
        epoch: Epoch(3),
    };
    assert_eq!(enc(&ctx), "070000000000000002000300000000000000");
    let pre = signing_preimage(Domain::Vote, &ctx, &data);
    assert_eq!(pre.len(), 90);
    assert_eq!(
        hex::encode(&pre),
        format!(
            "73686172646e65742f76312f766f74650000000000000000{}{aa}{}",
            "070000000000000002000300000000000000", "05000000000000000400000000000000"
        )
    );

    let mut bitmap = SignerBitmap::new(4);
    for i in 0..3 {
        bitmap.insert(ValidatorIndex(i));
    }
    assert_eq!(enc(&bitmap), "040001000000000000000700000000000000");
    let lane = LaneId {
        source: ShardId(1),
        destination: ShardId(2),
        class: LaneClass::Request,
    };
    assert_eq!(enc(&lane), "0100020000000000");
    assert_eq!(
        enc(&Outcome::Revert(bytes(&[1, 2, 3]))),
        "010000000300000000000000010203"
    );
    assert_eq!(enc(&Outcome::TimedOut), "03000000");
    assert_eq!(
        enc(&Address::from([0x11; 20])),
        format!("1400000000000000{}", "11".repeat(20))
    );
    assert_eq!(
        enc(&U256::from(258u64)),
        format!("2000000000000000{}0102", "00".repeat(30))
    );
    assert_eq!(enc(&None::<u64>), "00");
    assert_eq!(enc(&Some(5u64)), "010500000000000000");
    assert_eq!(
        enc(&ShardMap::new(4, ShardMapScheme::LowBits)),
        "040000000000"
    );
    let payload = Payload {
        transactions: vec![bytes(&[0x02, 0xf8])].try_into().unwrap(),
        segments: BoundedVec::new(),
    };
    assert_eq!(
        enc(&payload),
        [
            "0100000000000000",
            "0200000000000000",
            "02f8",
            "0000000000000000"
        ]
        .concat()
    );

    let header = BlockHeader {
        chain_id: ChainId(7),
        shard: ShardId(2),
        epoch: Epoch(3),
        height: Height(4),
        round: Round(5),
        parent: BlockHash(Hash32([0xbb; 32])),
        proposer: ValidatorIndex(1),
        timestamp_ms: 6,
        payload_root: Hash32([0xcc; 32]),
        execution: ExecutionCommitment {
            state_root: Hash32([0xdd; 32]),
            outbox_root: Hash32([0xee; 32]),
            inbox_watermarks: vec![Watermark { lane, executed: 9 }].try_into().unwrap(),
        },
    };
    let expected = [
        "0700000000000000".to_string(),
        "0200".into(),
        "0300000000000000".into(),
        "0400000000000000".into(),
        "0500000000000000".into(),
        "bb".repeat(32),
        "0100".into(),
        "0600000000000000".into(),
        "cc".repeat(32),
        "dd".repeat(32),
        "ee".repeat(32),
        "0100000000000000".into(),
        "0100020000000000".into(),
        "0900000000000000".into(),
    ]
    .concat();
    assert_eq!(enc(&header), expected);
    assert_eq!(expected.len() / 2, 196);
    assert_eq!(
        header.hash().to_string(),
        "0x1b3e625c9aa48c553b65cea67322de108a36e04ad09fc78239a5a1e120efeb7b"
    );

    // Merkle.
    let hex32 = |h: Hash32| hex::encode(h.0);
    assert_eq!(
        hex32(merkle::empty_root()),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
    assert_eq!(
        hex32(a),
        "1ff621ee3430890e869728995a6cee4f2b0b61271bfc19b0092b06d778750ae8"
    );
    assert_eq!(
        hex32(root(&[a, b, c])),
        "6c62dd52a0971b7d00a7cead004e0c3f3c0766e3f5359a0f8297768d2b02d03c"
    );
    let proof = MultiProof::new(&[a, b, c], &[2]).unwrap();
    assert_eq!(proof.leaf_count, 3);
    assert_eq!(
        proof.hashes.iter().map(|h| hex32(*h)).collect::<Vec<_>>(),
        vec!["6564e87d8619ea09c801c567c641d47fe817ae3b2cf80685cde2eb6557247eca"]
    );
    assert_eq!(
        hex32(Payload::default().root()),
        "79434797638924c3bc1613de5f38a0ccfe513fc4ec1a8ba97f9303cfa875c103"
    );
    // W-5.3's example: 5 leaves, positions {1, 2}: hashes [D0, D3, D4].
    let d: Vec<Hash32> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
    let proof = MultiProof::new(&d, &[1, 2]).unwrap();
    assert_eq!(proof.hashes.to_vec(), vec![d[0], d[3], d[4]]);
}
