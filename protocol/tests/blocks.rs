//! Headers, payloads, blocks and lane segments: hashes commit to every field, payload roots
//! have the documented shape, and a segment's messages check offline against its proof.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::Net;
use shardnet_protocol::codec::canonical_bytes;
use shardnet_protocol::merkle::{empty_root, leaf_hash, node_hash, root};
use shardnet_protocol::*;

#[test]
fn fixture_block_is_well_formed() {
    let net = Net::equal(1, 4);
    let block = common::block(&net);
    assert!(block.is_well_formed());
    assert_eq!(block.hash(), block.header.hash());
    assert_eq!(block.justify.block(), block.header.parent);
    block.justify.verify(&net.committee).unwrap();
    assert!(!block.payload.is_empty());
}

#[test]
fn block_not_committing_to_its_payload_or_parent_is_malformed() {
    let net = Net::equal(1, 4);
    let base = common::block(&net);

    let mut b = base.clone();
    b.payload.transactions = vec![common::bytes(b"\x02tx-one")].try_into().unwrap();
    assert!(!b.is_well_formed());

    let mut b = base.clone();
    let mut txs = b.payload.transactions.to_vec();
    txs.swap(0, 1);
    b.payload.transactions = txs.try_into().unwrap();
    assert!(!b.is_well_formed(), "transaction order is committed");

    let mut b = base.clone();
    b.payload.segments = BoundedVec::new();
    assert!(!b.is_well_formed());

    let mut b = base;
    b.justify = net.full_qc(common::vote_data(b"another parent", 4, 2));
    assert!(!b.is_well_formed());
}

#[test]
fn payload_root_shape() {
    let empty = Payload::default();
    assert!(empty.is_empty());
    assert_eq!(empty.root(), node_hash(&empty_root(), &empty_root()));

    let block = common::block(&Net::equal(1, 4));
    let p = &block.payload;
    let txs: Vec<Hash32> = p.transactions.iter().map(|t| leaf_hash(t)).collect();
    let segs: Vec<Hash32> = p
        .segments
        .iter()
        .map(|s| leaf_hash(&canonical_bytes(s)))
        .collect();
    assert_eq!(p.root(), node_hash(&root(&txs), &root(&segs)));

    // A single transaction has an inclusion proof against the transactions root.
    let proof = MultiProof::new(&txs, &[1]).unwrap();
    proof
        .verify(&root(&txs), &[(1, leaf_hash(&p.transactions[1]))])
        .unwrap();

    // Moving a transaction into the segments side changes the root.
    let only_txs = Payload {
        transactions: p.transactions.clone(),
        segments: BoundedVec::new(),
    };
    assert_ne!(only_txs.root(), p.root());
}

#[test]
fn header_hash_commits_to_every_field() {
    let net = Net::equal(1, 4);
    let base = net.header(5, 9, BlockHash(Hash32::blake3(b"parent")));
    let edits: Vec<fn(&mut BlockHeader)> = vec![
        |h| h.chain_id.0 += 1,
        |h| h.shard.0 += 1,
        |h| h.epoch.0 += 1,
        |h| h.height.0 += 1,
        |h| h.round.0 += 1,
        |h| h.parent = BlockHash::GENESIS_PARENT,
        |h| h.proposer.0 += 1,
        |h| h.timestamp_ms += 1,
        |h| h.payload_root.0[31] ^= 1,
        |h| h.execution.state_root.0[0] ^= 1,
        |h| h.execution.outbox_root.0[0] ^= 1,
        |h| h.execution.inbox_watermarks.as_mut_slice()[0].executed += 1,
        |h| h.execution.inbox_watermarks.as_mut_slice()[0].lane.class = LaneClass::Response,
        |h| h.execution.inbox_watermarks = BoundedVec::new(),
    ];
    let mut seen = std::collections::BTreeSet::from([base.hash()]);
    for edit in edits {
        let mut h = base.clone();
        edit(&mut h);
        assert!(
            seen.insert(h.hash()),
            "an edit did not change the hash: {h:?}"
        );
    }
}

#[test]
fn segment_checks_offline() {
    let source = Net::in_context(9, &[3, 3, 3], common::CHAIN, ShardId(1), Epoch(0));
    let seg = common::segment(&source, 3);
    seg.proof.verify(&source.committees()).unwrap();
    let items: Vec<(u64, Hash32)> = seg
        .messages
        .iter()
        .zip(seg.first_leaf..)
        .map(|(m, i)| (i, m.leaf_hash()))
        .collect();
    let outbox_root = seg.proof.header.execution.outbox_root;
    seg.outbox_proof.verify(&outbox_root, &items).unwrap();
    for m in &seg.messages {
        assert_eq!(m.leaf_hash(), leaf_hash(&canonical_bytes(m)));
    }

    // A message altered in transit no longer matches the outbox root.
    let mut altered = seg.messages.to_vec();
    if let MessageBody::Transfer { value, .. } = &mut altered[2].body {
        *value += U256::from(1u64);
    } else {
        panic!("fixture message 3 is a transfer");
    }
    let items: Vec<(u64, Hash32)> = altered
        .iter()
        .zip(seg.first_leaf..)
        .map(|(m, i)| (i, m.leaf_hash()))
        .collect();
    assert!(seg.outbox_proof.verify(&outbox_root, &items).is_err());
    // Messages presented at other positions do not verify.
    let shifted: Vec<(u64, Hash32)> = seg
        .messages
        .iter()
        .zip(0u64..)
        .map(|(m, i)| (i, m.leaf_hash()))
        .collect();
    assert!(seg.outbox_proof.verify(&outbox_root, &shifted).is_err());
}

#[test]
fn newtype_helpers() {
    assert_eq!(Height(4).next(), Height(5));
    assert_eq!(Round(u64::MAX).next(), Round(u64::MAX));
    assert_eq!(ValidatorIndex(7).as_usize(), 7);
    assert_eq!(ShardId(3).to_string(), "shard 3");
    assert_eq!(Height(3).to_string(), "h3");
    assert_eq!(Round(3).get(), 3);
    assert_eq!(ChainId::from(5), ChainId(5));
    assert_eq!(
        Hash32([0xab; 32]).to_string(),
        format!("0x{}", "ab".repeat(32))
    );
    assert_eq!(format!("{:?}", Hash32([0xab; 32])), "abababababab");
    assert_eq!(BlockHash::GENESIS_PARENT.0, Hash32::ZERO);
    assert_eq!(
        Hash32::blake3(b"x").as_bytes(),
        blake3::hash(b"x").as_bytes()
    );
}
