//! The two-shard harness of the cross-shard tests (`cross_shard.rs`, `cross_shard_evm.rs`):
//! each shard a real consensus core driving a `ShardApp`, with segments carried between them
//! only through `take_outgoing` → `add_segment`, i.e. with real finality proofs and
//! multiproofs checked offline (CS-8).
#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::support::{CHAIN_ID, Wallet};
use alloy_primitives::{Address, Bytes, U256, hex};
use shardnet_consensus::{
    Config, ConsensusMessage, Core, Input, MemorySafetyStore, Output, Recovery, TimerId, drive,
    genesis_block,
};
use shardnet_exec::lanes::congestion::Congestion;
use shardnet_exec::lanes::system::{CROSS_SHARD, slots};
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{MemoryStore, ShardApp, ShardConfig, StateView};
use shardnet_protocol::{
    ChainId, Committee, Committees, Epoch, Member, SecretKey, ShardId, ShardMap, ShardMapScheme,
    Stake, ValidatorIndex,
};

pub(crate) const SHARDS: u16 = 2;
pub(crate) const ETH: u64 = 1_000_000_000_000_000_000;

pub(crate) fn shard_map() -> ShardMap {
    ShardMap::new(SHARDS, ShardMapScheme::LowBits)
}

/// Shard `i`'s proposer fees go to an address homed on shard `i`.
pub(crate) fn fee_recipient(i: usize) -> Address {
    Address::with_last_byte(0xf0 + i as u8)
}

pub(crate) fn bytecode(name: &str) -> Bytes {
    let path = format!(
        "{}/../contracts/build/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hex::decode(text.trim()).unwrap().into()
}

/// One single-validator shard: its consensus core and its app.
pub(crate) struct Shard {
    pub(crate) core: Core,
    pub(crate) app: ShardApp<MemoryStore>,
    pub(crate) safety: MemorySafetyStore,
    pub(crate) inbox: VecDeque<ConsensusMessage>,
    pub(crate) timers: BTreeSet<(u64, TimerId)>,
}

pub(crate) struct Net {
    pub(crate) shards: Vec<Shard>,
    pub(crate) now: u64,
    /// Genesis balances, for the conservation check.
    pub(crate) supply: U256,
    /// Every address that ever held value, per shard.
    pub(crate) accounts: Vec<Address>,
}

impl Net {
    pub(crate) fn new(funded: &[(Address, U256)]) -> Self {
        Self::with(funded, Congestion::default())
    }

    pub(crate) fn with(funded: &[(Address, U256)], congestion: Congestion) -> Self {
        let keys: Vec<SecretKey> = (0..SHARDS)
            .map(|i| SecretKey::from_bytes(&[i as u8 + 1; 32]))
            .collect();
        let committees: Vec<Committee> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let member = Member {
                    public_key: k.public_key(),
                    stake: Stake(1),
                    network_address: String::new(),
                };
                Committee::new(ChainId(CHAIN_ID), ShardId(i as u16), Epoch(0), vec![member])
                    .unwrap()
            })
            .collect();
        let all = Arc::new(Committees::new(committees.clone()));
        let mut shards = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let mut cfg = ShardConfig::new(CHAIN_ID, ShardId(i as u16), shard_map());
            cfg.initial_base_fee = 7;
            cfg.fee_recipients = vec![fee_recipient(i)];
            cfg.committees = Arc::clone(&all);
            cfg.congestion = congestion;
            let (mut app, commitment) = ShardApp::open(cfg, MemoryStore::new(), funded).unwrap();
            let g = Arc::new(genesis_block(&committees[i], 0, commitment));
            app.set_genesis_hash(g.hash());
            let recovery = Recovery {
                genesis: g,
                safety: None,
                committed: vec![],
                blocks: vec![],
            };
            let cfg = Config {
                min_block_interval_ms: 20,
                ..Config::default()
            };
            let mut core = Core::new(
                cfg,
                committees[i].clone(),
                Some((ValidatorIndex(0), key.clone())),
                recovery,
            );
            core.start(0);
            shards.push(Shard {
                core,
                app,
                safety: MemorySafetyStore::new(),
                inbox: VecDeque::new(),
                timers: BTreeSet::new(),
            });
        }
        let supply = funded.iter().fold(U256::ZERO, |a, (_, b)| a + b);
        let mut accounts: Vec<Address> = funded.iter().map(|(a, _)| *a).collect();
        accounts.extend((0..SHARDS as usize).map(fee_recipient));
        Self {
            shards,
            now: 0,
            supply,
            accounts,
        }
    }

    pub(crate) fn submit(&mut self, shard: usize, raw: Bytes) {
        self.shards[shard].app.submit(raw).unwrap();
    }

    /// One step: drive every shard, relay finished segments, deliver one message or timer.
    pub(crate) fn step(&mut self) {
        let now = self.now;
        let mut relayed = Vec::new();
        for s in &mut self.shards {
            let mut outs = Vec::new();
            drive(&mut s.core, &mut s.app, &mut s.safety, now, |o| {
                outs.push(o);
            })
            .unwrap();
            for o in outs {
                match o {
                    Output::Send { message, .. } | Output::Broadcast(message) => {
                        s.inbox.push_back(message);
                    }
                    Output::SetTimer { timer, at_ms } => {
                        s.timers.insert((at_ms, timer));
                    }
                    Output::Fault { peer, fault } => panic!("fault from {peer}: {fault:?}"),
                    _ => {}
                }
            }
            assert!(s.app.fatal().is_none(), "{:?}", s.app.fatal());
            relayed.extend(s.app.take_outgoing());
        }
        for seg in relayed {
            // Messages go to their destination; a report (no messages) to every other shard.
            let source = seg.proof.header.shard.0 as usize;
            for dest in 0..self.shards.len() {
                let wanted = match seg.messages.first() {
                    Some(m) => m.lane.destination.0 as usize == dest,
                    None => dest != source,
                };
                if wanted {
                    self.shards[dest]
                        .app
                        .add_segment(seg.clone())
                        .expect("a certified segment verifies");
                }
            }
        }
        let mut delivered = false;
        for s in &mut self.shards {
            if let Some(m) = s.inbox.pop_front() {
                s.core.handle(
                    now,
                    Input::Message {
                        from: ValidatorIndex(0),
                        message: m,
                    },
                );
                delivered = true;
            }
        }
        if !delivered {
            let next = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.timers.first().map(|t| (t.0, i)))
                .min();
            if let Some((at, i)) = next {
                let (_, timer) = self.shards[i].timers.pop_first().unwrap();
                self.now = self.now.max(at);
                self.shards[i].core.handle(self.now, Input::Timer(timer));
            }
        }
    }

    pub(crate) fn height(&self, shard: usize) -> u64 {
        self.shards[shard].app.head().height
    }

    /// Steps until `f` holds (or panics after a bound).
    pub(crate) fn until(&mut self, what: &str, f: impl Fn(&Self) -> bool) {
        for _ in 0..200_000 {
            if f(self) {
                return;
            }
            self.step();
        }
        panic!(
            "timed out waiting for {what} (heights {} / {})",
            self.height(0),
            self.height(1)
        );
    }

    /// Runs `blocks` more blocks on every shard.
    pub(crate) fn blocks(&mut self, blocks: u64) {
        let target: Vec<u64> = (0..self.shards.len())
            .map(|i| self.height(i) + blocks)
            .collect();
        self.until("blocks", |n| {
            (0..n.shards.len()).all(|i| n.height(i) >= target[i])
        });
    }

    pub(crate) fn home(&self, a: &Address) -> usize {
        shard_map().home(a).0 as usize
    }

    pub(crate) fn balance(&self, a: Address) -> U256 {
        let s = &self.shards[self.home(&a)].app;
        s.account(&hash_address(&a))
            .unwrap()
            .map_or(U256::ZERO, |r| r.balance)
    }

    pub(crate) fn nonce(&self, a: Address) -> u64 {
        let s = &self.shards[self.home(&a)].app;
        s.account(&hash_address(&a)).unwrap().map_or(0, |r| r.nonce)
    }

    pub(crate) fn storage(&self, a: Address, slot: u64) -> U256 {
        let s = &self.shards[self.home(&a)].app;
        s.storage(&hash_address(&a), &hash_slot(&U256::from(slot)))
            .unwrap()
    }

    pub(crate) fn system_slot(&self, shard: usize, slot: U256) -> U256 {
        self.shards[shard]
            .app
            .storage(&hash_address(&CROSS_SHARD), &hash_slot(&slot))
            .unwrap()
    }

    /// CS-I3 once nothing is in flight: Σ balances + Σ burnt = genesis supply.
    pub(crate) fn assert_conserved(&self, extra: &[Address]) {
        let mut all: BTreeSet<Address> = self.accounts.iter().copied().collect();
        all.extend(extra.iter().copied());
        let balances = all.iter().fold(U256::ZERO, |a, x| a + self.balance(*x));
        let burnt =
            (0..self.shards.len()).fold(U256::ZERO, |a, i| a + self.system_slot(i, slots::burnt()));
        let held = (0..self.shards.len()).fold(U256::ZERO, |a, i| {
            a + self.shards[i]
                .app
                .account(&hash_address(&CROSS_SHARD))
                .unwrap()
                .map_or(U256::ZERO, |r| r.balance)
        });
        assert_eq!(
            held,
            U256::ZERO,
            "CROSS_SHARD holds no escrow between blocks"
        );
        assert_eq!(
            balances + burnt,
            self.supply,
            "value conserved (balances {balances}, burnt {burnt})"
        );
    }

    /// Every lane drained: what each source emitted, each destination executed.
    pub(crate) fn assert_drained(&self) {
        for s in 0..SHARDS {
            for d in (0..SHARDS).filter(|d| *d != s) {
                for class in [
                    shardnet_protocol::LaneClass::Request,
                    shardnet_protocol::LaneClass::Response,
                ] {
                    let lane = shardnet_protocol::LaneId {
                        source: ShardId(s),
                        destination: ShardId(d),
                        class,
                    };
                    let out = self.system_slot(s as usize, slots::outbound(&lane));
                    let done = self.system_slot(d as usize, slots::inbound(&lane));
                    assert_eq!(out, done, "lane {s}->{d} {class:?} drained");
                }
            }
        }
    }
}

/// The first wallet whose address lives on `shard` and whose first contract (nonce 0) does
/// too, so contracts are deployed at their home.
pub(crate) fn deployer(shard: u16, skip: u64) -> Wallet {
    let map = shard_map();
    (skip..)
        .map(Wallet::new)
        .find(|w| map.home(&w.address).0 == shard && map.home(&w.address.create(0)).0 == shard)
        .unwrap()
}

pub(crate) fn wallet_on(shard: u16, skip: u64) -> Wallet {
    let map = shard_map();
    (skip..)
        .map(Wallet::new)
        .find(|w| map.home(&w.address).0 == shard)
        .unwrap()
}
