//! Fixture builders shared by the protocol integration tests: deterministic keys, committees
//! with given stakes, signed certificates, headers, blocks, segments and finality proofs.
//!
//! Everything here is deterministic (seeded ChaCha20 keys, fixed values), so a failing test
//! reproduces exactly.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod strategies;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use shardnet_protocol::merkle::leaf_hash;
use shardnet_protocol::*;

/// The chain id most fixtures use.
pub const CHAIN: ChainId = ChainId(7);

/// `n` signing keys drawn from a ChaCha20 RNG seeded with `seed`.
pub fn keys(seed: u64, n: usize) -> Vec<SecretKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|_| SecretKey::generate(&mut rng)).collect()
}

/// A committee of `keys` with the given `stakes` (same length) in a signing context.
pub fn committee_of(
    chain: ChainId,
    shard: ShardId,
    epoch: Epoch,
    keys: &[SecretKey],
    stakes: &[u64],
) -> Committee {
    assert_eq!(keys.len(), stakes.len(), "one stake per key");
    let members = keys
        .iter()
        .zip(stakes)
        .enumerate()
        .map(|(i, (k, &s))| Member {
            public_key: k.public_key(),
            stake: Stake(s),
            network_address: format!("10.0.0.{i}:9000"),
        })
        .collect();
    Committee::new(chain, shard, epoch, members).expect("valid committee")
}

/// A committee and the secret keys of its members, in index order.
#[derive(Debug, Clone)]
pub struct Net {
    pub committee: Committee,
    pub keys: Vec<SecretKey>,
}

impl Net {
    /// Chain [`CHAIN`], shard 0, epoch 0, keys from `seed`.
    pub fn new(seed: u64, stakes: &[u64]) -> Self {
        Self::in_context(seed, stakes, CHAIN, ShardId(0), Epoch(0))
    }

    /// The same keys (for a given seed) in any signing context.
    pub fn in_context(
        seed: u64,
        stakes: &[u64],
        chain: ChainId,
        shard: ShardId,
        epoch: Epoch,
    ) -> Self {
        let keys = keys(seed, stakes.len());
        let committee = committee_of(chain, shard, epoch, &keys, stakes);
        Self { committee, keys }
    }

    /// `n` validators of stake 10 each.
    pub fn equal(seed: u64, n: usize) -> Self {
        Self::new(seed, &vec![10; n])
    }

    /// A vote by member `i`.
    pub fn vote(&self, i: usize, data: VoteData) -> Vote {
        Vote::sign(
            &self.committee,
            &self.keys[i],
            ValidatorIndex(i as u16),
            data,
        )
    }

    /// A QC on `data` signed by the members at `signers`.
    pub fn qc(&self, signers: &[usize], data: VoteData) -> QuorumCert {
        let votes: Vec<Vote> = signers.iter().map(|&i| self.vote(i, data)).collect();
        QuorumCert::aggregate(&self.committee, data, &votes)
    }

    /// A QC on `data` signed by every member.
    pub fn full_qc(&self, data: VoteData) -> QuorumCert {
        let all: Vec<usize> = (0..self.keys.len()).collect();
        self.qc(&all, data)
    }

    /// A timeout of `round` by member `i`, whose highest QC is at `high_qc_round`.
    pub fn timeout(&self, i: usize, round: u64, high_qc_round: u64) -> Timeout {
        let high_qc = QuorumCert {
            data: VoteData {
                block: BlockHash(Hash32::blake3(&high_qc_round.to_le_bytes())),
                round: Round(high_qc_round),
                height: Height(high_qc_round),
            },
            ..QuorumCert::genesis(BlockHash::GENESIS_PARENT)
        };
        Timeout::sign(
            &self.committee,
            &self.keys[i],
            ValidatorIndex(i as u16),
            Round(round),
            high_qc,
        )
    }

    /// A TC for `round`; each entry is (signer, that signer's highest QC round).
    pub fn tc(&self, round: u64, signers: &[(usize, u64)]) -> TimeoutCert {
        let timeouts: Vec<Timeout> = signers
            .iter()
            .map(|&(i, hq)| self.timeout(i, round, hq))
            .collect();
        TimeoutCert::aggregate(&self.committee, Round(round), &timeouts)
    }

    /// A header in this committee's context.
    pub fn header(&self, height: u64, round: u64, parent: BlockHash) -> BlockHeader {
        header(
            self.committee.chain_id(),
            self.committee.shard(),
            self.committee.epoch(),
            height,
            round,
            parent,
        )
    }

    /// A finality proof for a header at (`height`, `round`): the header, a child one round
    /// and one height later, and a QC on the child signed by every member.
    pub fn finality(&self, height: u64, round: u64) -> FinalityProof {
        let header = self.header(height, round, BlockHash(Hash32::blake3(b"grandparent")));
        let child = self.header(height + 1, round + 1, header.hash());
        let qc = self.full_qc(vote_data_for(&child));
        FinalityProof::direct(header, child, qc)
    }

    /// The one-committee registry.
    pub fn committees(&self) -> Committees {
        Committees::new([self.committee.clone()])
    }
}

/// Vote data naming `tag`'s hash at the given round and height.
pub fn vote_data(tag: &[u8], round: u64, height: u64) -> VoteData {
    VoteData {
        block: BlockHash(Hash32::blake3(tag)),
        round: Round(round),
        height: Height(height),
    }
}

/// Vote data certifying `header`.
pub fn vote_data_for(header: &BlockHeader) -> VoteData {
    VoteData {
        block: header.hash(),
        round: header.round,
        height: header.height,
    }
}

/// A header with fixed, recognisable filler in the fields tests do not care about.
pub fn header(
    chain: ChainId,
    shard: ShardId,
    epoch: Epoch,
    height: u64,
    round: u64,
    parent: BlockHash,
) -> BlockHeader {
    BlockHeader {
        chain_id: chain,
        shard,
        epoch,
        height: Height(height),
        round: Round(round),
        parent,
        proposer: ValidatorIndex((round % 4) as u16),
        timestamp_ms: 1_700_000_000_000 + height * 1000,
        payload_root: Payload::default().root(),
        execution: ExecutionCommitment {
            state_root: Hash32::blake3(b"state"),
            outbox_root: Hash32::blake3(b"outbox"),
            inbox_watermarks: BoundedVec::try_from_vec(vec![Watermark {
                lane: LaneId {
                    source: ShardId(1),
                    destination: shard,
                    class: LaneClass::Request,
                },
                executed: height,
            }])
            .unwrap(),
        },
    }
}

/// A small address with a recognisable pattern.
pub fn addr(b: u8) -> Address {
    Address::from([b; 20])
}

/// Bounded bytes from a slice (panics if too long: fixtures only).
pub fn bytes<const MAX: usize>(b: &[u8]) -> BoundedBytes<MAX> {
    BoundedBytes::try_from_vec(b.to_vec()).unwrap()
}

/// One message of each body kind, cycling on `seq`.
pub fn message(lane: LaneId, seq: u64) -> CrossShardMessage {
    let origin = Origin {
        tx_hash: B256::from([seq as u8; 32]),
        initiator: addr(0xaa),
        depth: (seq % 3) as u8,
    };
    let body = match seq % 3 {
        0 => MessageBody::Transfer {
            from: addr(1),
            to: addr(2),
            value: U256::from(seq * 1000),
        },
        1 => MessageBody::Call {
            call_id: Hash32::blake3(&seq.to_le_bytes()),
            from: addr(3),
            to: addr(4),
            calldata: bytes(&[0xde, 0xad, 0xbe, 0xef]),
            value: U256::from(5u64),
            gas_limit: 100_000,
            gas_price: U256::from(7u64),
            callback: Some(Callback { gas_limit: 50_000 }),
            deadline: Some(Height(99)),
        },
        _ => MessageBody::Response {
            call_id: Hash32::blake3(b"call"),
            to: addr(5),
            outcome: Outcome::Revert(bytes(b"nope")),
            refund: U256::from(7u64),
            callback: None,
            gas_price: U256::ZERO,
        },
    };
    CrossShardMessage {
        lane,
        sequence: seq,
        origin,
        body,
    }
}

/// A segment of `n` messages from a finalized block of `source` (shard 1 in the fixture
/// context), with a real outbox multiproof: the source block's outbox holds `n + 2` leaves
/// and the segment proves leaves `1..=n`.
pub fn segment(source: &Net, n: u64) -> LaneSegment {
    let lane = LaneId {
        source: source.committee.shard(),
        destination: ShardId(0),
        class: LaneClass::Request,
    };
    let messages: Vec<CrossShardMessage> = (1..=n).map(|s| message(lane, s)).collect();
    let mut leaves = vec![leaf_hash(b"before")];
    leaves.extend(messages.iter().map(CrossShardMessage::leaf_hash));
    leaves.push(leaf_hash(b"after"));
    let positions: Vec<u64> = (1..=n).collect();
    let outbox_proof = MultiProof::new(&leaves, &positions).unwrap();

    let mut header = source.header(10, 20, BlockHash(Hash32::blake3(b"src-parent")));
    header.execution.outbox_root = merkle::root(&leaves);
    let child = source.header(11, 21, header.hash());
    let child_qc = source.full_qc(vote_data_for(&child));
    LaneSegment {
        proof: FinalityProof::direct(header, child, child_qc),
        first_leaf: 1,
        messages: BoundedVec::try_from_vec(messages).unwrap(),
        outbox_proof,
    }
}

/// A well-formed block of `net` at height 3 with two transactions and one inbound segment
/// (from a shard-1 committee), justified by a QC on its parent.
pub fn block(net: &Net) -> Block {
    let source = Net::in_context(99, &[5, 5, 5], CHAIN, ShardId(1), Epoch(0));
    let payload = Payload {
        transactions: BoundedVec::try_from_vec(vec![bytes(b"\x02tx-one"), bytes(b"\x02tx-two")])
            .unwrap(),
        segments: BoundedVec::try_from_vec(vec![segment(&source, 2)]).unwrap(),
    };
    let parent = net.header(2, 4, BlockHash(Hash32::blake3(b"grandparent")));
    let justify = net.full_qc(vote_data_for(&parent));
    let mut header = net.header(3, 5, parent.hash());
    header.payload_root = payload.root();
    Block {
        header,
        justify,
        payload,
    }
}
