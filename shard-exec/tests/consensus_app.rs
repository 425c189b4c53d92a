//! `ShardApp` driven by real consensus cores: four validators of one shard, an in-process
//! network (instant, FIFO), signed transfers in every validator's mempool. Every validator
//! must commit the same blocks, reach the same state root at every height, and apply the
//! transfers exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use shardnet_consensus::{
    Config, ConsensusMessage, Core, Input, MemorySafetyStore, Output, Recovery, drive,
    genesis_block,
};
use shardnet_exec::store::hash_address;
use shardnet_exec::{MemoryStore, ShardApp, ShardConfig, StateView};
use shardnet_protocol::{
    ChainId, Committee, Epoch, Member, SecretKey, ShardId, ShardMap, ShardMapScheme, Stake,
    ValidatorIndex,
};
use support::{CHAIN_ID, Wallet};

struct Node {
    core: Core,
    app: ShardApp<MemoryStore>,
    safety: MemorySafetyStore,
    roots: Vec<(u64, alloy_primitives::B256)>,
}

#[test]
fn four_validators_execute_transfers_identically() {
    let n = 4;
    let keys: Vec<SecretKey> = (0..n)
        .map(|i| SecretKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let members = keys
        .iter()
        .map(|k| Member {
            public_key: k.public_key(),
            stake: Stake(1),
            network_address: String::new(),
        })
        .collect();
    let committee = Committee::new(ChainId(CHAIN_ID), ShardId(0), Epoch(0), members).unwrap();
    let shard_map = ShardMap::new(1, ShardMapScheme::LowBits);
    let mut cfg = ShardConfig::new(CHAIN_ID, ShardId(0), shard_map);
    cfg.initial_base_fee = 7;
    cfg.fee_recipients = vec![Address::repeat_byte(0xfe); n];

    let senders: Vec<Wallet> = (0..8).map(Wallet::new).collect();
    let recipient = Address::repeat_byte(0x77);
    let funded: Vec<(Address, U256)> = senders
        .iter()
        .map(|w| (w.address, U256::from(10u64).pow(U256::from(18))))
        .collect();

    let mut nodes: Vec<Node> = Vec::new();
    let mut genesis = None;
    for (i, key) in keys.iter().enumerate() {
        let (mut app, commitment) =
            ShardApp::open(cfg.clone(), MemoryStore::new(), &funded).unwrap();
        let g = Arc::new(genesis_block(&committee, 0, commitment));
        app.set_genesis_hash(g.hash());
        genesis = Some(Arc::clone(&g));
        let recovery = Recovery {
            genesis: g,
            safety: None,
            committed: vec![],
            blocks: vec![],
        };
        let core_cfg = Config {
            min_block_interval_ms: 50,
            ..Config::default()
        };
        let core = Core::new(
            core_cfg,
            committee.clone(),
            Some((ValidatorIndex(i as u16), key.clone())),
            recovery,
        );
        nodes.push(Node {
            core,
            app,
            safety: MemorySafetyStore::new(),
            roots: vec![],
        });
    }
    assert!(genesis.is_some());

    // Every sender sends 3 transfers of 1000 wei; every validator hears of every transaction.
    for w in &senders {
        for nonce in 0..3 {
            let raw = w.transfer(nonce, recipient, U256::from(1000));
            for node in &mut nodes {
                node.app.submit(raw.clone()).unwrap();
            }
        }
    }

    let mut now = 0u64;
    let mut timers: BTreeSet<(u64, usize, shardnet_consensus::TimerId)> = BTreeSet::new();
    let mut queue: VecDeque<(usize, ValidatorIndex, ConsensusMessage)> = VecDeque::new();
    for node in &mut nodes {
        node.core.start(0);
    }
    for _ in 0..5_000 {
        for (i, node) in nodes.iter_mut().enumerate() {
            let me = ValidatorIndex(i as u16);
            let mut outs = Vec::new();
            drive(&mut node.core, &mut node.app, &mut node.safety, now, |o| {
                outs.push(o);
            })
            .unwrap();
            for o in outs {
                match o {
                    Output::Send { to, message } => queue.push_back((to.as_usize(), me, message)),
                    Output::Broadcast(m) => {
                        for t in (0..n).filter(|t| *t != i) {
                            queue.push_back((t, me, m.clone()));
                        }
                    }
                    Output::SetTimer { timer, at_ms } => {
                        timers.insert((at_ms, i, timer));
                    }
                    Output::Commit(c) => {
                        node.roots
                            .push((c.block.header.height.0, node.app.head().state_root));
                    }
                    Output::Fault { peer, fault } => {
                        panic!("honest node {peer} reported faulty: {fault:?}")
                    }
                    _ => {}
                }
            }
            assert!(node.app.fatal().is_none(), "{:?}", node.app.fatal());
        }
        if let Some((to, from, message)) = queue.pop_front() {
            nodes[to].core.handle(now, Input::Message { from, message });
        } else if let Some((at, i, timer)) = timers.pop_first() {
            now = now.max(at);
            nodes[i].core.handle(now, Input::Timer(timer));
        }
        if nodes.iter().all(|n| n.app.head().height >= 12) {
            break;
        }
    }
    let expected = U256::from(8 * 3 * 1000);
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            node.app.head().height >= 12,
            "node {i} stalled at {}",
            node.app.head().height
        );
        let got = node
            .app
            .account(&hash_address(&recipient))
            .unwrap()
            .map(|a| a.balance);
        assert_eq!(got, Some(expected), "node {i}: recipient balance");
        for w in &senders {
            let acc = node
                .app
                .account(&hash_address(&w.address))
                .unwrap()
                .unwrap();
            assert_eq!(acc.nonce, 3, "node {i}: sender nonce");
        }
        assert!(
            node.app.mempool().is_empty(),
            "node {i}: committed transactions left the pool"
        );
    }
    // Same state root at every height on every validator.
    let reference = &nodes[0].roots;
    for node in &nodes[1..] {
        for (h, root) in &node.roots {
            if let Some((_, r)) = reference.iter().find(|(rh, _)| rh == h) {
                assert_eq!(r, root, "state roots differ at height {h}");
            }
        }
    }
    // The fee recipient was paid tips (2 wei × 21,000 gas per transfer).
    let fees = nodes[0]
        .app
        .account(&hash_address(&Address::repeat_byte(0xfe)))
        .unwrap()
        .unwrap();
    assert_eq!(fees.balance, U256::from(24u64 * 21_000 * 2));
}

/// `BLOCKHASH` sees the same hashes on every validator, for committed and speculative
/// ancestors, and after a restart (the window is durable, X-2.2).
#[test]
fn blockhash_is_served_from_the_chain() {
    use shardnet_consensus::{Application, CommittedBlock, PayloadRequest};
    use shardnet_protocol::{Block, BlockHash, FinalityProof, Height, Round};

    // A contract that stores BLOCKHASH(NUMBER - 1) at slot 0: NUMBER PUSH1 1 SWAP1 SUB
    // BLOCKHASH PUSH1 0 SSTORE STOP.
    let code = alloy_primitives::Bytes::from_static(&[
        0x43, 0x60, 0x01, 0x90, 0x03, 0x40, 0x60, 0x00, 0x55, 0x00,
    ]);
    let wallet = Wallet::new(7);
    let shard_map = ShardMap::new(1, ShardMapScheme::LowBits);
    let mut cfg = ShardConfig::new(CHAIN_ID, ShardId(0), shard_map);
    cfg.initial_base_fee = 7;
    let funded = [(wallet.address, U256::from(10u64).pow(U256::from(18)))];
    let (mut app, commitment) = ShardApp::open(cfg, MemoryStore::new(), &funded).unwrap();
    // Deploy it with initcode that copies `code` to memory and returns it.
    let mut init = vec![
        0x60,
        code.len() as u8,
        0x80,
        0x60,
        0x0c,
        0x60,
        0x00,
        0x39,
        0x60,
        0x00,
        0xf3,
        0x00,
    ];
    init.extend_from_slice(&code);
    let deploy = wallet.sign(alloy_consensus::TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 200_000,
        max_fee_per_gas: 100,
        max_priority_fee_per_gas: 1,
        to: alloy_primitives::TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: init.into(),
    });
    let created = wallet.address.create(0);
    app.submit(deploy).unwrap();
    let keys = [SecretKey::from_bytes(&[1; 32])];
    let committee = Committee::new(
        ChainId(CHAIN_ID),
        ShardId(0),
        Epoch(0),
        vec![Member {
            public_key: keys[0].public_key(),
            stake: Stake(1),
            network_address: String::new(),
        }],
    )
    .unwrap();
    let genesis = Arc::new(genesis_block(&committee, 0, commitment));
    app.set_genesis_hash(genesis.hash());

    // Build and commit blocks by hand: block 1 deploys, block 2 calls the contract.
    let mut parent = Arc::clone(&genesis);
    let mut hashes = vec![genesis.hash()];
    for height in 1..=2u64 {
        if height == 2 {
            app.submit(wallet.call(
                1,
                created,
                U256::ZERO,
                alloy_primitives::Bytes::new(),
                100_000,
            ))
            .unwrap();
        }
        let req = PayloadRequest {
            round: Round(height),
            height: Height(height),
            parent: Arc::clone(&parent),
            timestamp_ms: height * 1000,
            proposer: ValidatorIndex(0),
        };
        let (payload, execution) = app.build(&req, &[]);
        assert_eq!(
            payload.transactions.len(),
            1,
            "block {height} carries its transaction"
        );
        let header = shardnet_protocol::BlockHeader {
            chain_id: ChainId(CHAIN_ID),
            shard: ShardId(0),
            epoch: Epoch(0),
            height: Height(height),
            round: Round(height),
            parent: parent.hash(),
            proposer: ValidatorIndex(0),
            timestamp_ms: height * 1000,
            payload_root: payload.root(),
            execution,
        };
        let block = Block {
            header,
            justify: shardnet_protocol::QuorumCert::genesis(parent.hash()),
            payload,
        };
        assert!(app.verify(&block, &[]));
        let proof = FinalityProof::direct(
            block.header.clone(),
            block.header.clone(),
            block.justify.clone(),
        );
        app.commit(&CommittedBlock {
            block: block.clone(),
            proof,
        });
        assert!(app.fatal().is_none(), "{:?}", app.fatal());
        hashes.push(block.hash());
        parent = Arc::new(block);
    }
    // Block 2's call stored BLOCKHASH(1) = the hash of block 1.
    let slot = app
        .storage(
            &hash_address(&created),
            &shardnet_exec::store::hash_slot(&U256::ZERO),
        )
        .unwrap();
    let BlockHash(h) = hashes[1];
    assert_eq!(
        slot,
        U256::from_be_bytes(h.0),
        "BLOCKHASH(1) is block 1's hash"
    );
    assert_eq!(
        app.head().recent_hashes.len(),
        3,
        "genesis, block 1, block 2"
    );
}
