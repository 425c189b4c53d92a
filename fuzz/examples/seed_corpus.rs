//! Writes a small seed corpus of valid, canonically encoded fixtures for every fuzz target
//! into `fuzz/corpus/<target>/` (git-ignored). Run from anywhere:
//!
//! ```text
//! cargo run --release --manifest-path fuzz/Cargo.toml --example seed_corpus
//! ```
//!
//! Certificates are signed by [`seed_keys`], not by the committee the targets verify against,
//! so seeds reach the signature check and fail there (see `src/lib.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use shardnet_fuzz::{CHAIN, committee_of, seed_keys};
use shardnet_protocol::merkle::{leaf_hash, root};
use shardnet_protocol::{
    Address, B256, Block, BlockHash, BlockHeader, BoundedBytes, BoundedVec, Callback, Committee,
    CrossShardMessage, Epoch, ExecutionCommitment, FinalityProof, Genesis, GenesisAccount,
    GenesisValidator, Hash32, Height, LaneClass, LaneId, LanePull, LanePullResponse, LaneSegment,
    MessageBody, MultiProof, Origin, Outcome, Payload, QuorumCert, Round, SecretKey, ShardId,
    ShardMap, ShardMapScheme, Stake, Timeout, TimeoutCert, U256, ValidatorIndex, Vote, VoteData,
    Watermark, encode,
};

fn corpus_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    dir
}

fn write_raw(target: &str, name: &str, bytes: &[u8]) {
    fs::write(corpus_dir(target).join(name), bytes).expect("write seed");
}

fn write<T: Serialize>(target: &str, name: &str, value: &T) {
    write_raw(target, name, &encode(value));
}

fn qc_on(
    committee: &Committee,
    keys: &[SecretKey],
    header: &BlockHeader,
    signers: usize,
) -> QuorumCert {
    let data = VoteData {
        block: header.hash(),
        round: header.round,
        height: header.height,
    };
    let votes: Vec<Vote> = keys
        .iter()
        .take(signers)
        .enumerate()
        .map(|(i, k)| Vote::sign(committee, k, ValidatorIndex(i as u16), data))
        .collect();
    QuorumCert::aggregate(committee, data, &votes)
}

fn header(
    shard: ShardId,
    height: u64,
    round: u64,
    parent: BlockHash,
    payload: &Payload,
) -> BlockHeader {
    BlockHeader {
        chain_id: CHAIN,
        shard,
        epoch: Epoch(0),
        height: Height(height),
        round: Round(round),
        parent,
        proposer: ValidatorIndex((round % 4) as u16),
        timestamp_ms: 1_700_000_000_000 + round * 1000,
        payload_root: payload.root(),
        execution: ExecutionCommitment::default(),
    }
}

fn bytes<const N: usize>(b: &[u8]) -> BoundedBytes<N> {
    BoundedBytes::try_from_vec(b.to_vec()).expect("fixture bytes fit")
}

fn messages(lane: LaneId) -> Vec<CrossShardMessage> {
    let origin = Origin {
        tx_hash: B256::repeat_byte(0xab),
        initiator: Address::repeat_byte(0x11),
        depth: 0,
    };
    let call_id = Hash32::blake3(b"call");
    let bodies = vec![
        MessageBody::Transfer {
            from: Address::repeat_byte(0x11),
            to: Address::repeat_byte(0x22),
            value: U256::from(1_000_000_000_000_000_000u128),
        },
        MessageBody::Call {
            call_id,
            from: Address::repeat_byte(0x11),
            to: Address::repeat_byte(0x33),
            calldata: bytes(&[0xa9, 0x05, 0x9c, 0xbb, 1, 2, 3, 4]),
            value: U256::ZERO,
            gas_limit: 100_000,
            gas_price: U256::from(7u64),
            callback: Some(Callback { gas_limit: 50_000 }),
            deadline: Some(Height(100)),
        },
        MessageBody::Call {
            call_id: Hash32::blake3(b"call2"),
            from: Address::repeat_byte(0x11),
            to: Address::repeat_byte(0x44),
            calldata: bytes(&[]),
            value: U256::from(5u64),
            gas_limit: 21_000,
            gas_price: U256::from(7u64),
            callback: None,
            deadline: None,
        },
        MessageBody::Create {
            call_id: Hash32::blake3(b"create"),
            from: Address::repeat_byte(0x11),
            address: Address::repeat_byte(0x11).create(4),
            nonce: 4,
            salt: None,
            initcode: bytes(&[0x00]),
            value: U256::from(5u64),
            gas_limit: 100_000,
            gas_price: U256::from(7u64),
        },
        MessageBody::Create {
            call_id: Hash32::blake3(b"create2"),
            from: Address::repeat_byte(0x11),
            address: Address::repeat_byte(0x11).create2_from_code(B256::repeat_byte(0x5a), [0x00]),
            nonce: 5,
            salt: Some(B256::repeat_byte(0x5a)),
            initcode: bytes(&[0x00]),
            value: U256::from(5u64),
            gas_limit: 100_000,
            gas_price: U256::from(7u64),
        },
        MessageBody::Response {
            call_id,
            to: Address::repeat_byte(0x11),
            outcome: Outcome::Ok(bytes(&[0, 0, 0, 1])),
            refund: U256::from(7u64),
            callback: None,
            gas_price: U256::ZERO,
        },
        MessageBody::Response {
            call_id,
            to: Address::repeat_byte(0x11),
            outcome: Outcome::Revert(bytes(b"no")),
            refund: U256::ZERO,
            callback: None,
            gas_price: U256::ZERO,
        },
        MessageBody::Response {
            call_id,
            to: Address::repeat_byte(0x11),
            outcome: Outcome::OutOfGas,
            refund: U256::MAX,
            callback: None,
            gas_price: U256::ZERO,
        },
        MessageBody::Response {
            call_id,
            to: Address::repeat_byte(0x11),
            outcome: Outcome::TimedOut,
            refund: U256::from(1u64),
            callback: None,
            gas_price: U256::ZERO,
        },
        MessageBody::Response {
            call_id,
            to: Address::repeat_byte(0x11),
            outcome: Outcome::Rejected(bytes(b"no code at address")),
            refund: U256::from(2u64),
            callback: None,
            gas_price: U256::ZERO,
        },
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| CrossShardMessage {
            lane,
            sequence: i as u64 + 1,
            origin,
            body,
        })
        .collect()
}

/// The merkle_multiproof target's input layout (see that target's docs).
fn merkle_input(
    leaf_count: u64,
    positions: &[u64],
    expected: Hash32,
    leaves: &[Hash32],
    proof: &[Hash32],
) -> Vec<u8> {
    let mut out = leaf_count.to_le_bytes().to_vec();
    out.push(u8::try_from(positions.len()).expect("at most 255 positions"));
    for p in positions {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out.extend_from_slice(&expected.0);
    for l in leaves {
        out.extend_from_slice(&l.0);
    }
    for h in proof {
        out.extend_from_slice(&h.0);
    }
    out
}

fn main() {
    let keys = seed_keys();
    let c0 = committee_of(&keys, ShardId(0));
    let c1 = committee_of(&keys, ShardId(1));

    // Cross-shard messages and the outbox of a shard-0 block.
    let lane = LaneId {
        source: ShardId(0),
        destination: ShardId(1),
        class: LaneClass::Request,
    };
    let msgs = messages(lane);
    for (i, m) in msgs.iter().enumerate() {
        write("decode_cross_shard_message", &format!("msg-{i}"), m);
    }
    let leaves: Vec<Hash32> = msgs.iter().map(CrossShardMessage::leaf_hash).collect();
    let outbox_root = root(&leaves);

    // A finalized shard-0 block: header, child one round later, QC on the child.
    let empty = Payload::default();
    let mut h0 = header(
        ShardId(0),
        5,
        9,
        BlockHash(Hash32::blake3(b"parent")),
        &empty,
    );
    h0.execution = ExecutionCommitment {
        state_root: Hash32::blake3(b"state"),
        outbox_root,
        inbox_watermarks: BoundedVec::try_from_vec(vec![
            Watermark {
                lane: LaneId {
                    source: ShardId(1),
                    destination: ShardId(0),
                    class: LaneClass::Request,
                },
                executed: 3,
            },
            Watermark {
                lane: LaneId {
                    source: ShardId(1),
                    destination: ShardId(0),
                    class: LaneClass::Response,
                },
                executed: 0,
            },
        ])
        .expect("fits"),
    };
    let child = header(ShardId(0), 6, 10, h0.hash(), &empty);
    let qc3 = qc_on(&c0, &keys, &child, 3);
    let qc4 = qc_on(&c0, &keys, &child, 4);
    let proof3 = FinalityProof::direct(h0.clone(), child.clone(), qc3.clone());
    let proof4 = FinalityProof::direct(h0.clone(), child.clone(), qc4.clone());
    write("decode_finality_proof", "proof-3-signers", &proof3);
    write("decode_finality_proof", "proof-4-signers", &proof4);
    // An indirect commit: h0 <- child (r10) <- c2 (r12) <- c3 (r13), QC on c3.
    let c2 = header(ShardId(0), 7, 12, child.hash(), &empty);
    let c3 = header(ShardId(0), 8, 13, c2.hash(), &empty);
    let long = FinalityProof {
        header: h0.clone(),
        chain: BoundedVec::try_from_vec(vec![child.clone(), c2, c3.clone()]).expect("fits"),
        qc: qc_on(&c0, &keys, &c3, 3),
    };
    write("decode_finality_proof", "proof-chain-3", &long);

    // Certificates, votes and timeouts.
    write("decode_quorum_cert", "qc-3", &qc3);
    write("decode_quorum_cert", "qc-4", &qc4);
    write(
        "decode_quorum_cert",
        "qc-genesis",
        &QuorumCert::genesis(BlockHash(Hash32::blake3(b"genesis"))),
    );
    let vote_data = qc3.data;
    for (i, key) in keys.iter().enumerate().take(2) {
        let v = Vote::sign(&c0, key, ValidatorIndex(i as u16), vote_data);
        write("decode_vote", &format!("vote-{i}"), &v);
    }
    let timeouts: Vec<Timeout> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let high = if i % 2 == 0 {
                qc3.clone()
            } else {
                QuorumCert::genesis(BlockHash(Hash32::blake3(b"genesis")))
            };
            Timeout::sign(&c0, k, ValidatorIndex(i as u16), Round(11), high)
        })
        .collect();
    write("decode_timeout", "timeout-0", &timeouts[0]);
    write("decode_timeout", "timeout-1", &timeouts[1]);
    write(
        "decode_timeout_cert",
        "tc-3",
        &TimeoutCert::aggregate(&c0, Round(11), &timeouts[..3]),
    );
    write(
        "decode_timeout_cert",
        "tc-4",
        &TimeoutCert::aggregate(&c0, Round(11), &timeouts),
    );

    // Lane segments: a middle run, the whole outbox, one message.
    let segment = |first: usize, count: usize| {
        let positions: Vec<u64> = (first..first + count).map(|p| p as u64).collect();
        LaneSegment {
            proof: proof3.clone(),
            first_leaf: first as u64,
            messages: BoundedVec::try_from_vec(msgs[first..first + count].to_vec()).expect("fits"),
            outbox_proof: MultiProof::new(&leaves, &positions).expect("valid positions"),
        }
    };
    let segments = [segment(1, 3), segment(0, msgs.len()), segment(5, 1)];
    for (i, s) in segments.iter().enumerate() {
        write("decode_lane_segment", &format!("segment-{i}"), s);
    }

    // Lane pulls (CS-16): a request, and an answer carrying two of the segments above.
    if let Some(lane) = msgs.first().map(|m| m.lane) {
        let pull = LanePull {
            lane,
            first: 1,
            last: 64,
        };
        write("decode_lane_pull", "pull", &pull);
    }
    let answer = LanePullResponse {
        segments: BoundedVec::try_from_vec(segments[..2].to_vec()).expect("fits"),
    };
    write("decode_lane_pull", "answer", &answer);

    // Blocks of shard 1: one carrying transactions and a segment, one empty on a genesis QC.
    let payload = Payload {
        transactions: BoundedVec::try_from_vec(vec![
            bytes(&[0x02, 0xf8, 0x6c, 0x01, 0x80]),
            bytes(&[0xf8, 0x6b, 0x80, 0x84, 0x3b, 0x9a, 0xca, 0x00]),
        ])
        .expect("fits"),
        segments: BoundedVec::try_from_vec(vec![segments[0].clone()]).expect("fits"),
    };
    let parent1 = header(ShardId(1), 3, 4, BlockHash(Hash32::blake3(b"p1")), &empty);
    let justify = qc_on(&c1, &keys, &parent1, 3);
    let b1 = Block {
        header: header(ShardId(1), 4, 5, parent1.hash(), &payload),
        justify,
        payload,
    };
    assert!(b1.is_well_formed());
    write("decode_block", "block-full", &b1);
    let gen_hash = BlockHash(Hash32::blake3(b"genesis"));
    let b0 = Block {
        header: header(ShardId(1), 1, 1, gen_hash, &empty),
        justify: QuorumCert::genesis(gen_hash),
        payload: empty,
    };
    write("decode_block", "block-empty", &b0);

    // Merkle multiproofs in the target's layout: honest proofs over leaves leaf_hash(i LE).
    for (n, sets) in [
        (1u64, vec![vec![0u64]]),
        (2, vec![vec![1], vec![0, 1]]),
        (3, vec![vec![2], vec![0, 2]]),
        (7, vec![vec![3], vec![0, 1, 6], vec![2, 3, 4, 5]]),
        (10, vec![vec![9], vec![1, 8]]),
        (256, vec![vec![0], vec![17, 18, 200]]),
        (1000, vec![vec![999], vec![3, 500, 501]]),
    ] {
        let tree: Vec<Hash32> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let tree_root = root(&tree);
        for positions in sets {
            let proof = MultiProof::new(&tree, &positions).expect("valid positions");
            let items: Vec<Hash32> = positions.iter().map(|&p| tree[p as usize]).collect();
            let name = format!(
                "n{n}-{}",
                positions
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("_")
            );
            write_raw(
                "merkle_multiproof",
                &name,
                &merkle_input(n, &positions, tree_root, &items, &proof.hashes),
            );
        }
    }

    // Genesis files: two shards of seed keys, prefunded accounts, both shard-map schemes.
    for scheme in [ShardMapScheme::LowBits, ShardMapScheme::Blake3] {
        let validators = keys
            .iter()
            .chain(shardnet_fuzz::keys(201).iter())
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                public_key: k.public_key(),
                stake: Stake(10 + i as u64),
                address: format!("127.0.0.1:{}", 9100 + i),
                shard: ShardId((i / 4) as u16),
            })
            .collect();
        let genesis = Genesis {
            chain_id: CHAIN,
            timestamp_ms: 1_700_000_000_000,
            shard_map: ShardMap::new(2, scheme),
            validators,
            accounts: vec![
                GenesisAccount {
                    address: Address::repeat_byte(0x11),
                    balance: U256::from(10u64).pow(U256::from(21u64)),
                },
                GenesisAccount {
                    address: Address::repeat_byte(0x22),
                    balance: U256::from(1u64),
                },
            ],
        };
        genesis.validate().expect("fixture genesis is valid");
        write_raw(
            "genesis_toml",
            &format!("genesis-{scheme:?}"),
            genesis.to_toml().as_bytes(),
        );
    }

    let root_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for entry in fs::read_dir(&root_dir).expect("corpus dir") {
        let entry = entry.expect("entry");
        let count = fs::read_dir(entry.path()).expect("target dir").count();
        println!("{}: {count} seeds", entry.file_name().to_string_lossy());
    }
}
