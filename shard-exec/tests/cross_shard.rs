//! Cross-shard messaging end to end (`specs/cross-shard.md`): two shards, each a real
//! consensus core driving a `ShardApp`, with segments carried between them only through
//! `take_outgoing` → `add_segment`, i.e. with real finality proofs and multiproofs checked
//! offline (CS-8). The Solidity contracts are `contracts/src/Examples.sol`, compiled by
//! `contracts/build.sh` (bytecode committed in `contracts/build`).
//!
//! Checked: a plain transfer from an EOA on shard 0 to an EOA on shard 1 arrives exactly once
//! (CS-6, CS-10); a contract on shard 0 calls a contract on shard 1 and its callback runs with
//! the result (CS-11, CS-13); a reverting callee bounces the value; a reverted send sends
//! nothing (CS-5); a call past its deadline times out with a full refund (CS-12); and value
//! is conserved across both shards, counting fees burnt (CS-I3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::needless_range_loop
)]

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use alloy_primitives::{Address, Bytes, U256, hex};
use shardnet_consensus::{
    Config, ConsensusMessage, Core, Input, MemorySafetyStore, Output, Recovery, TimerId, drive,
    genesis_block,
};
use shardnet_exec::lanes::congestion::Congestion;
use shardnet_exec::lanes::system::{CROSS_SHARD, SendRequest, slots};
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{MemoryStore, ShardApp, ShardConfig, StateView};
use shardnet_protocol::{
    ChainId, Committee, Committees, Epoch, Member, SecretKey, ShardId, ShardMap, ShardMapScheme,
    Stake, ValidatorIndex,
};
use support::{CHAIN_ID, Wallet, abi_call, word_addr, word_u};

const SHARDS: u16 = 2;
const ETH: u64 = 1_000_000_000_000_000_000;

fn shard_map() -> ShardMap {
    ShardMap::new(SHARDS, ShardMapScheme::LowBits)
}

/// Shard `i`'s proposer fees go to an address homed on shard `i`.
fn fee_recipient(i: usize) -> Address {
    Address::with_last_byte(0xf0 + i as u8)
}

fn bytecode(name: &str) -> Bytes {
    let path = format!(
        "{}/../contracts/build/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hex::decode(text.trim()).unwrap().into()
}

/// One single-validator shard: its consensus core and its app.
struct Shard {
    core: Core,
    app: ShardApp<MemoryStore>,
    safety: MemorySafetyStore,
    inbox: VecDeque<ConsensusMessage>,
    timers: BTreeSet<(u64, TimerId)>,
}

struct Net {
    shards: Vec<Shard>,
    now: u64,
    /// Genesis balances, for the conservation check.
    supply: U256,
    /// Every address that ever held value, per shard.
    accounts: Vec<Address>,
}

impl Net {
    fn new(funded: &[(Address, U256)]) -> Self {
        Self::with(funded, Congestion::default())
    }

    fn with(funded: &[(Address, U256)], congestion: Congestion) -> Self {
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

    fn submit(&mut self, shard: usize, raw: Bytes) {
        self.shards[shard].app.submit(raw).unwrap();
    }

    /// One step: drive every shard, relay finished segments, deliver one message or timer.
    fn step(&mut self) {
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

    fn height(&self, shard: usize) -> u64 {
        self.shards[shard].app.head().height
    }

    /// Steps until `f` holds (or panics after a bound).
    fn until(&mut self, what: &str, f: impl Fn(&Self) -> bool) {
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
    fn blocks(&mut self, blocks: u64) {
        let target: Vec<u64> = (0..self.shards.len())
            .map(|i| self.height(i) + blocks)
            .collect();
        self.until("blocks", |n| {
            (0..n.shards.len()).all(|i| n.height(i) >= target[i])
        });
    }

    fn home(&self, a: &Address) -> usize {
        shard_map().home(a).0 as usize
    }

    fn balance(&self, a: Address) -> U256 {
        let s = &self.shards[self.home(&a)].app;
        s.account(&hash_address(&a))
            .unwrap()
            .map_or(U256::ZERO, |r| r.balance)
    }

    fn nonce(&self, a: Address) -> u64 {
        let s = &self.shards[self.home(&a)].app;
        s.account(&hash_address(&a)).unwrap().map_or(0, |r| r.nonce)
    }

    fn storage(&self, a: Address, slot: u64) -> U256 {
        let s = &self.shards[self.home(&a)].app;
        s.storage(&hash_address(&a), &hash_slot(&U256::from(slot)))
            .unwrap()
    }

    fn system_slot(&self, shard: usize, slot: U256) -> U256 {
        self.shards[shard]
            .app
            .storage(&hash_address(&CROSS_SHARD), &hash_slot(&slot))
            .unwrap()
    }

    /// CS-I3 once nothing is in flight: Σ balances + Σ burnt = genesis supply.
    fn assert_conserved(&self, extra: &[Address]) {
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
    fn assert_drained(&self) {
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
fn deployer(shard: u16, skip: u64) -> Wallet {
    let map = shard_map();
    (skip..)
        .map(Wallet::new)
        .find(|w| map.home(&w.address).0 == shard && map.home(&w.address.create(0)).0 == shard)
        .unwrap()
}

fn wallet_on(shard: u16, skip: u64) -> Wallet {
    let map = shard_map();
    (skip..)
        .map(Wallet::new)
        .find(|w| map.home(&w.address).0 == shard)
        .unwrap()
}

#[test]
fn two_shards_transfer_call_callback_bounce_and_conserve_value() {
    let alice = deployer(0, 0); // deploys Caller on shard 0
    let bob = deployer(1, 100); // deploys Callee on shard 1
    let carol = wallet_on(1, 200); // receives a plain cross-shard transfer
    let dave = wallet_on(1, 300); // a reverted send must not reach her
    let funded = [
        (alice.address, U256::from(10 * ETH)),
        (bob.address, U256::from(10 * ETH)),
    ];
    let mut net = Net::new(&funded);
    let caller = alice.address.create(0);
    let callee = bob.address.create(0);
    net.accounts
        .extend([caller, callee, carol.address, dave.address]);

    net.submit(0, alice.deploy(0, bytecode("Caller"), 3_000_000));
    net.submit(1, bob.deploy(0, bytecode("Callee"), 3_000_000));
    net.blocks(2);
    assert!(
        net.nonce(caller) >= 1 || net.storage(caller, 1) == U256::from(255),
        "Caller deployed"
    );

    // CS-6: an unmodified wallet transaction to an address on shard 1.
    net.submit(0, alice.transfer(1, carol.address, U256::from(12_345)));
    // Fund the Caller (plain local transfer; its receive() accepts).
    net.submit(
        0,
        alice.call(2, caller, U256::from(ETH), Bytes::new(), 100_000),
    );
    net.blocks(1);
    net.until("transfer arrives", |n| {
        n.balance(carol.address) == U256::from(12_345)
    });

    // A call with value and a callback: ping(21) with 1000 wei.
    let ping = abi_call(
        "callPing(address,uint256,uint256)",
        &[word_addr(callee), word_u(21), word_u(1000)],
    );
    net.submit(0, alice.call(3, caller, U256::ZERO, ping, 500_000));
    net.until("ping callback", |n| n.storage(caller, 3) == U256::from(1));
    assert_eq!(net.storage(callee, 0), U256::from(21), "Callee.total");
    assert_eq!(
        net.balance(callee),
        U256::from(1000),
        "Callee kept the value"
    );
    assert_eq!(net.storage(caller, 1), U256::ZERO, "outcome Ok");

    // A reverting callee bounces the value; the callback sees Revert.
    let before = net.balance(caller);
    let fail = abi_call(
        "callFail(address,uint256)",
        &[word_addr(callee), word_u(777)],
    );
    net.submit(0, alice.call(4, caller, U256::ZERO, fail, 500_000));
    net.until("fail callback", |n| n.storage(caller, 3) == U256::from(2));
    assert_eq!(net.storage(caller, 1), U256::from(1), "outcome Revert");
    assert_eq!(
        net.balance(callee),
        U256::from(1000),
        "bounced value not kept"
    );
    let after = net.balance(caller);
    // The caller paid only for gas actually used on both shards; the 777 came back.
    assert!(
        before - after < U256::from(200_000u64 * 100),
        "refunded: {before} -> {after}"
    );

    // A send inside a reverting transaction sends nothing.
    let revert = abi_call(
        "sendThenRevert(address,uint256)",
        &[word_addr(dave.address), word_u(55)],
    );
    net.submit(0, alice.call(5, caller, U256::ZERO, revert, 300_000));
    net.blocks(4);
    assert_eq!(
        net.balance(dave.address),
        U256::ZERO,
        "reverted send delivered nothing"
    );

    net.blocks(4);
    assert_eq!(
        net.balance(carol.address),
        U256::from(12_345),
        "exactly once"
    );
    net.assert_drained();
    net.assert_conserved(&[]);
}

#[test]
fn a_call_past_its_deadline_times_out_with_a_full_refund() {
    let alice = wallet_on(0, 0);
    let target = Address::with_last_byte(1); // an address homed on shard 1
    let funded = [(alice.address, U256::from(10 * ETH))];
    let mut net = Net::new(&funded);
    net.accounts.push(target);
    // Deadline 1: shard 1 is past height 1 before the message can arrive.
    net.blocks(3);
    let send = SendRequest::Call {
        to: target,
        data: Bytes::from_static(b"\x01"),
        gas_limit: 50_000,
        callback_gas: 0,
        deadline: 1,
    }
    .encode();
    net.submit(
        0,
        alice.call(0, CROSS_SHARD, U256::from(4242), send, 200_000),
    );
    net.blocks(8);
    assert_eq!(
        net.balance(target),
        U256::ZERO,
        "timed-out call delivered nothing"
    );
    net.assert_drained();
    net.assert_conserved(&[]);
    // The refund came back: alice paid only the source transaction's gas.
    let spent = U256::from(10 * ETH) - net.balance(alice.address);
    assert!(spent < U256::from(200_000u64 * 100), "spent {spent}");
}

/// One random cross-shard send by a wallet.
#[derive(Clone, Debug)]
struct Op {
    /// Which of the four wallets (two per shard) sends.
    wallet: usize,
    /// Recipient index (an address homed on the other shard).
    to: u8,
    value: u64,
    /// 0: plain wallet transfer (CS-6); 1: a call of `CROSS_SHARD`; 2: a call with a
    /// deadline that has already passed; 3: a call the destination must reject (gas below
    /// its intrinsic cost).
    kind: u8,
    /// Blocks to run after submitting it.
    pause: u64,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    (0usize..4, 0u8..4, 1u64..1_000_000, 0u8..4, 0u64..3).prop_map(
        |(wallet, to, value, kind, pause)| Op {
            wallet,
            to,
            value,
            kind,
            pause,
        },
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// CS-I1, CS-I2, CS-I3 over random interleavings of transfers, calls, timeouts and
    /// out-of-gas calls from both shards: every lane drains with exactly as many messages as
    /// were sent, every call gets exactly one response, and value is conserved exactly.
    #[test]
    fn random_sends_conserve_value_and_deliver_exactly_once(ops in proptest::collection::vec(op(), 1..16)) {
        let wallets = [wallet_on(0, 0), wallet_on(0, 50), wallet_on(1, 100), wallet_on(1, 150)];
        let funded: Vec<(Address, U256)> =
            wallets.iter().map(|w| (w.address, U256::from(10 * ETH))).collect();
        let mut net = Net::new(&funded);
        let mut nonces = [0u64; 4];
        let mut sends = [[0u64; 2]; 2]; // [source][class]: requests, responses expected
        for op in &ops {
            let w = &wallets[op.wallet];
            let src = net.home(&w.address);
            let dst = 1 - src;
            // An address homed on `dst`: LowBits puts it on its last byte's parity.
            let to = Address::repeat_byte(op.to * 2 + dst as u8 + 0x10);
            net.accounts.push(to);
            let value = U256::from(op.value);
            let raw = match op.kind {
                0 => w.transfer(nonces[op.wallet], to, value),
                k => {
                    let (gas, deadline) = match k {
                        1 => (60_000, 0),
                        2 => (60_000, 1),
                        _ => (21_000, 0), // below the calldata's intrinsic cost: rejected
                    };
                    let data = SendRequest::Call {
                        to,
                        data: Bytes::from_static(b"\x12\x34"),
                        gas_limit: gas,
                        callback_gas: 0,
                        deadline,
                    }
                    .encode();
                    sends[dst][1] += 1;
                    w.call(nonces[op.wallet], CROSS_SHARD, value, data, 200_000)
                }
            };
            sends[src][0] += 1;
            nonces[op.wallet] += 1;
            net.submit(src, raw);
            if op.pause > 0 {
                net.blocks(op.pause);
            }
        }
        net.blocks(10);
        for (i, w) in wallets.iter().enumerate() {
            proptest::prop_assert_eq!(net.nonce(w.address), nonces[i], "every send executed");
        }
        for s in 0..2usize {
            for (c, class) in [shardnet_protocol::LaneClass::Request, shardnet_protocol::LaneClass::Response].into_iter().enumerate() {
                let lane = shardnet_protocol::LaneId {
                    source: ShardId(s as u16),
                    destination: ShardId(1 - s as u16),
                    class,
                };
                let emitted = net.system_slot(s, slots::outbound(&lane));
                proptest::prop_assert_eq!(emitted, U256::from(sends[s][c]), "lane {:?}", lane);
            }
        }
        net.assert_drained();
        net.assert_conserved(&[]);
    }
}

/// The latency goals of issue 5, measured here on single-validator shards with instant
/// relay (the simulator measures them under faults): a transfer executes on the destination
/// within 2 destination blocks after the source block is final, and a call plus its callback
/// completes within 4 blocks.
#[test]
fn transfer_and_callback_latency_in_blocks() {
    let alice = wallet_on(0, 0);
    let funded = [(alice.address, U256::from(10 * ETH))];
    let mut net = Net::new(&funded);
    let to = Address::repeat_byte(0x31); // shard 1
    net.accounts.push(to);
    net.blocks(1);

    // Transfer: from the source block's finality to execution on the destination.
    net.submit(0, alice.transfer(0, to, U256::from(5)));
    net.until("source final", |n| n.nonce(alice.address) == 1);
    let dest_at_final = net.height(1);
    net.until("arrival", |n| n.balance(to) == U256::from(5));
    let transfer_blocks = net.height(1) - dest_at_final;

    // Call + response: from the source block's finality to the response's execution there.
    let send = SendRequest::Call {
        to,
        data: Bytes::new(),
        gas_limit: 30_000,
        callback_gas: 0,
        deadline: 0,
    }
    .encode();
    net.submit(0, alice.call(1, CROSS_SHARD, U256::from(7), send, 200_000));
    net.until("source final", |n| n.nonce(alice.address) == 2);
    let src_at_final = net.height(0);
    let response_lane = shardnet_protocol::LaneId {
        source: ShardId(1),
        destination: ShardId(0),
        class: shardnet_protocol::LaneClass::Response,
    };
    net.until("response", |n| {
        n.system_slot(0, slots::inbound(&response_lane)) == U256::from(1)
    });
    let round_trip_blocks = net.height(0) - src_at_final;
    println!(
        "transfer: {transfer_blocks} destination blocks after source finality; \
         call + response: {round_trip_blocks} source blocks"
    );
    assert!(
        transfer_blocks <= 2,
        "transfer took {transfer_blocks} blocks"
    );
    assert!(
        round_trip_blocks <= 4,
        "call + response took {round_trip_blocks} blocks"
    );
}

/// CS-15: a lane holds at most `lane_credits` messages beyond the destination's certified
/// watermark (a send past that reverts), the mempool refuses sends to a congested shard with a
/// clear error, and both recover once the destination's watermark report comes back.
#[test]
fn lane_credits_and_congested_admission() {
    let alice = wallet_on(0, 0);
    let funded = [(alice.address, U256::from(10 * ETH))];
    let congestion = Congestion {
        lane_credits: 3,
        threshold: 2,
    };
    let mut net = Net::with(&funded, congestion);
    let to = Address::repeat_byte(0x33); // shard 1
    net.accounts.push(to);
    // Five transfers in one block: three fit the credits, two revert with LaneFull.
    for nonce in 0..5 {
        net.submit(0, alice.transfer(nonce, to, U256::from(1)));
    }
    net.until("all five executed", |n| n.nonce(alice.address) == 5);
    let lane = shardnet_protocol::LaneId {
        source: ShardId(0),
        destination: ShardId(1),
        class: shardnet_protocol::LaneClass::Request,
    };
    let status = net.shards[0].app.lane_status().unwrap();
    let request = status.iter().find(|s| s.lane == lane).unwrap();
    assert_eq!(request.emitted, 3, "sends beyond the credits reverted");
    // Not yet certified back (that takes a destination block and a source block more): the
    // backlog of 3 is above the threshold of 2.
    assert_eq!(request.certified, 0);
    assert!(!request.admitting);
    let err = net.shards[0]
        .app
        .submit(alice.transfer(5, to, U256::from(1)))
        .unwrap_err();
    assert_eq!(err.to_string(), "destination shard 1 congested; backlog 3");
    net.until("delivered", |n| n.balance(to) == U256::from(3));
    net.until("certified back", |n| {
        n.shards[0]
            .app
            .lane_status()
            .unwrap()
            .iter()
            .any(|s| s.lane == lane && s.certified == 3)
    });
    net.submit(0, alice.transfer(5, to, U256::from(1)));
    net.until("admitted again and delivered", |n| {
        n.balance(to) == U256::from(4)
    });
    net.blocks(4);
    net.assert_drained();
    net.assert_conserved(&[]);
}

/// a contract created by a transaction on shard 0 whose address Ethereum computes on
/// shard 1 is deployed on shard 1, at that address, with its endowment; the deployer's nonce
/// advances once, and the gas not used is refunded.
#[test]
fn a_creation_lands_on_the_home_shard_of_its_address() {
    let map = shard_map();
    // A deployer on shard 0 whose first contract address is homed on shard 1.
    let alice = (0..)
        .map(Wallet::new)
        .find(|w| map.home(&w.address).0 == 0 && map.home(&w.address.create(0)).0 == 1)
        .unwrap();
    let bob = wallet_on(1, 500); // calls the contract on shard 1
    let funded = [
        (alice.address, U256::from(10 * ETH)),
        (bob.address, U256::from(10 * ETH)),
    ];
    let mut net = Net::new(&funded);
    let contract = alice.address.create(0);
    net.accounts.push(contract);
    net.submit(0, alice.deploy(0, bytecode("Callee"), 1_000_000));
    net.until("deployed on shard 1", |n| {
        n.shards[1]
            .app
            .account(&hash_address(&contract))
            .unwrap()
            .is_some_and(|a| a.code_hash != alloy_trie::KECCAK_EMPTY && a.nonce == 1)
    });
    assert_eq!(
        net.nonce(alice.address),
        1,
        "the deployer's nonce advanced once"
    );
    assert!(
        net.shards[0]
            .app
            .account(&hash_address(&contract))
            .unwrap()
            .is_none(),
        "nothing deployed on the deployer's shard"
    );
    // It works where tools look for it.
    let ping = abi_call("ping(uint256)", &[word_u(5)]);
    net.submit(1, bob.call(0, contract, U256::from(9), ping, 200_000));
    net.until("pinged", |n| n.storage(contract, 0) == U256::from(5));
    net.blocks(4);
    net.assert_drained();
    net.assert_conserved(&[]);
}

/// CS-6 inside the EVM: a contract's plain value transfer to an address on another shard
/// (`payable(x).transfer(v)`, 2,300 gas stipend) is sent as a cross-shard transfer; a
/// synchronous call with input into another shard fails inside the caller's frame.
#[test]
fn contract_transfers_cross_and_synchronous_calls_fail() {
    let alice = deployer(0, 0);
    let bob = deployer(1, 100);
    let funded = [
        (alice.address, U256::from(10 * ETH)),
        (bob.address, U256::from(10 * ETH)),
    ];
    let mut net = Net::new(&funded);
    let caller = alice.address.create(0);
    let callee = bob.address.create(0);
    let dave = wallet_on(1, 300).address;
    net.accounts.extend([caller, callee, dave]);
    net.submit(0, alice.deploy(0, bytecode("Caller"), 3_000_000));
    net.submit(1, bob.deploy(0, bytecode("Callee"), 3_000_000));
    net.blocks(2);
    let forward = abi_call("forward(address)", &[word_addr(dave)]);
    net.submit(0, alice.call(1, caller, U256::from(777), forward, 200_000));
    net.until("forwarded", |n| n.balance(dave) == U256::from(777));
    assert_eq!(
        net.balance(caller),
        U256::ZERO,
        "the value left the contract"
    );
    let sync = abi_call("syncPing(address)", &[word_addr(callee)]);
    net.submit(0, alice.call(2, caller, U256::ZERO, sync, 200_000));
    net.until("sync attempted", |n| n.storage(caller, 4) != U256::ZERO);
    assert_eq!(
        net.storage(caller, 4),
        U256::from(1),
        "the synchronous call failed"
    );
    assert_eq!(
        net.storage(callee, 0),
        U256::ZERO,
        "and did not reach the callee"
    );
    net.blocks(4);
    net.assert_drained();
    net.assert_conserved(&[]);
}

/// CS-6, SELFDESTRUCT: a contract on shard 0 that self-destructs to a beneficiary homed on
/// shard 1 sends its balance there as a cross-shard transfer; nothing is credited (or left)
/// on shard 0, and value is conserved. Raw bytecode: empty calldata accepts value; otherwise
/// `SELFDESTRUCT(calldataload(0))`.
#[test]
fn selfdestruct_to_a_foreign_beneficiary_sends_the_balance_across() {
    // Runtime: CALLDATASIZE PUSH1 6 JUMPI STOP STOP JUMPDEST PUSH1 0 CALLDATALOAD SELFDESTRUCT.
    let runtime = "36600657".to_string() + "0000" + "5b600035ff";
    // Init code: CODECOPY the 11-byte runtime (at offset 12) to memory and RETURN it.
    let initcode: Bytes = hex::decode(format!("600b600c600039600b6000f3{runtime}"))
        .unwrap()
        .into();
    let alice = deployer(0, 0);
    let funded = [(alice.address, U256::from(10 * ETH))];
    let mut net = Net::new(&funded);
    let bomb = alice.address.create(0);
    let dave = wallet_on(1, 300).address;
    let erin = wallet_on(0, 400).address;
    net.accounts.extend([bomb, dave, erin]);
    net.submit(0, alice.deploy(0, initcode.clone(), 200_000));
    net.submit(
        0,
        alice.call(1, bomb, U256::from(4_321), Bytes::new(), 100_000),
    );
    net.until("funded", |n| n.balance(bomb) == U256::from(4_321));

    let to_dave = Bytes::from(word_addr(dave).to_vec());
    net.submit(0, alice.call(2, bomb, U256::ZERO, to_dave, 100_000));
    net.until("arrived", |n| n.balance(dave) == U256::from(4_321));
    assert_eq!(
        net.balance(bomb),
        U256::ZERO,
        "the balance left the contract"
    );
    assert!(
        net.shards[0]
            .app
            .account(&hash_address(&dave))
            .unwrap()
            .is_none(),
        "nothing credited to the foreign beneficiary on shard 0"
    );

    // A local beneficiary is Ethereum's SELFDESTRUCT (a second contract, funded, then
    // destroyed to erin on the same shard).
    net.submit(0, alice.deploy(3, initcode, 200_000));
    let bomb2 = alice.address.create(3);
    net.accounts.push(bomb2);
    assert_eq!(net.home(&bomb2), 0, "pick another nonce");
    {
        net.submit(
            0,
            alice.call(4, bomb2, U256::from(99), Bytes::new(), 100_000),
        );
        net.until("funded", |n| n.balance(bomb2) == U256::from(99));
        let to_erin = Bytes::from(word_addr(erin).to_vec());
        net.submit(0, alice.call(5, bomb2, U256::ZERO, to_erin, 100_000));
        net.until("local", |n| n.balance(erin) == U256::from(99));
    }
    net.blocks(4);
    net.assert_drained();
    net.assert_conserved(&[]);
}

/// X-6 inside the EVM: a factory's CREATE whose address is homed on another shard returns that
/// address at once and the contract (with its endowment) appears there; the factory prepays
/// the init code's gas, and without the funds the CREATE fails cleanly (0, a reason). A
/// CREATE2 to another shard fails cleanly: no account appears on either shard. Local addresses
/// are created as in Ethereum, and value is conserved.
#[test]
fn create_to_another_shard_is_sent_and_create2_fails_cleanly() {
    // Runtime: empty calldata accepts value; otherwise CREATE(calldataload(0), 0, 1) of the
    // one-byte init code 0x00 (memory is zero), storing the result in slot 0 and
    // RETURNDATASIZE in slot 1.
    let create = "366006570000".to_string() + "5b60016000600035f0600055" + "3d60015500";
    // Runtime: CREATE2(callvalue, 0, 1, salt = calldataload(0)); the same stores.
    let create2 = "6000356001600034f5600055".to_string() + "3d60015500";
    let init = |runtime: &str| -> Bytes {
        let n = runtime.len() / 2;
        hex::decode(format!("60{n:02x}600c60003960{n:02x}6000f3{runtime}"))
            .unwrap()
            .into()
    };
    let alice = (0..)
        .map(|skip| deployer(0, skip * 1000))
        .find(|w| shard_map().home(&w.address.create(1)).0 == 0)
        .unwrap();
    let funded = [(alice.address, U256::from(10 * ETH))];
    let mut net = Net::new(&funded);
    let factory = alice.address.create(0);
    let factory2 = alice.address.create(1);
    net.accounts.extend([factory, factory2]);
    net.submit(0, alice.deploy(0, init(&create), 300_000));
    net.submit(0, alice.deploy(1, init(&create2), 300_000));
    net.until("deployed", |n| {
        n.nonce(factory) == 1 && n.nonce(factory2) == 1
    });

    let exists = |n: &Net, shard: usize, a: Address| {
        n.shards[shard]
            .app
            .account(&hash_address(&a))
            .unwrap()
            .is_some()
    };
    let mut nonce = 2; // alice's
    let attempt = |net: &mut Net, nonce: &mut u64, value: u64| -> Address {
        let created = factory.create(net.nonce(factory));
        net.accounts.push(created);
        let before = net.nonce(factory);
        let data = Bytes::from(word_u(value).to_vec());
        net.submit(0, alice.call(*nonce, factory, U256::ZERO, data, 400_000));
        *nonce += 1;
        net.until("attempted", |n| n.nonce(factory) == before + 1);
        created
    };
    // Unfunded: a local CREATE works (no endowment), a foreign one cannot prepay its gas.
    loop {
        let address = attempt(&mut net, &mut nonce, 0);
        if net.home(&address) == 0 {
            assert_eq!(
                net.storage(factory, 0),
                U256::from_be_slice(address.as_slice())
            );
            assert!(exists(&net, 0, address));
            continue;
        }
        assert_eq!(net.storage(factory, 0), U256::ZERO, "refused");
        assert!(net.storage(factory, 1) > U256::from(4), "with a reason");
        net.blocks(2);
        assert!(!exists(&net, 0, address) && !exists(&net, 1, address));
        break;
    }
    // Funded: foreign CREATEs are sent, and land with their endowment.
    net.submit(
        0,
        alice.call(nonce, factory, U256::from(ETH), Bytes::new(), 100_000),
    );
    nonce += 1;
    net.until("funded", |n| n.balance(factory) == U256::from(ETH));
    let (mut local, mut foreign) = (0, 0);
    for _ in 0..6 {
        let address = attempt(&mut net, &mut nonce, 5);
        assert_eq!(
            net.storage(factory, 0),
            U256::from_be_slice(address.as_slice())
        );
        let home = net.home(&address);
        net.until("landed", |n| n.balance(address) == U256::from(5));
        assert!(!exists(&net, 1 - home, address), "on its home shard only");
        assert_eq!(net.nonce(address), 1, "a contract (EIP-161 nonce)");
        if home == 0 { local += 1 } else { foreign += 1 }
    }
    assert!(local > 0 && foreign > 0, "{local} local, {foreign} foreign");

    // CREATE2: one local and one foreign salt.
    let code_hash = alloy_primitives::keccak256([0u8]);
    let salt_for = |shard: u16| {
        (0u64..)
            .map(|s| alloy_primitives::B256::from(U256::from(s)))
            .find(|s| shard_map().home(&factory2.create2(*s, code_hash)).0 == shard)
            .unwrap()
    };
    let salts = [salt_for(0), salt_for(1)];
    for (k, shard) in [0usize, 1].into_iter().enumerate() {
        let salt = salts[shard];
        let address = factory2.create2(salt, code_hash);
        net.accounts.push(address);
        let k = k as u64;
        net.submit(
            0,
            alice.call(
                nonce + k,
                factory2,
                U256::ZERO,
                salt.0.to_vec().into(),
                300_000,
            ),
        );
        net.until("create2", |n| n.nonce(factory2) == 2 + k);
        let expected = if shard == 0 {
            U256::from_be_slice(address.as_slice())
        } else {
            U256::ZERO
        };
        assert_eq!(net.storage(factory2, 0), expected);
        assert_eq!(exists(&net, 0, address), shard == 0);
        assert!(!exists(&net, 1, address));
    }
    net.blocks(4);
    net.assert_drained();
    net.assert_conserved(&[]);
}

/// CS-6 with CS-15: a SELFDESTRUCT to a foreign beneficiary on a lane without credit reverts
/// its frame (`LaneFull`): the contract keeps its balance and nothing is sent.
#[test]
fn selfdestruct_to_a_full_lane_reverts() {
    let runtime = "36600657".to_string() + "0000" + "5b600035ff";
    let initcode: Bytes = hex::decode(format!("600b600c600039600b6000f3{runtime}"))
        .unwrap()
        .into();
    let alice = deployer(0, 0);
    let funded = [(alice.address, U256::from(10 * ETH))];
    let congestion = Congestion {
        lane_credits: 0,
        threshold: 1_000,
    };
    let mut net = Net::with(&funded, congestion);
    let bomb = alice.address.create(0);
    let dave = wallet_on(1, 300).address;
    net.accounts.extend([bomb, dave]);
    net.submit(0, alice.deploy(0, initcode, 200_000));
    net.submit(
        0,
        alice.call(1, bomb, U256::from(4_321), Bytes::new(), 100_000),
    );
    net.until("funded", |n| n.balance(bomb) == U256::from(4_321));
    let to_dave = Bytes::from(word_addr(dave).to_vec());
    net.submit(0, alice.call(2, bomb, U256::ZERO, to_dave, 100_000));
    net.until("executed", |n| n.nonce(alice.address) == 3);
    net.blocks(4);
    assert_eq!(
        net.balance(bomb),
        U256::from(4_321),
        "the contract kept its balance"
    );
    assert_eq!(net.balance(dave), U256::ZERO, "nothing sent");
    net.assert_drained();
    net.assert_conserved(&[]);
}
