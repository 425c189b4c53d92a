//! Cross-shard effects of EVM instructions on two shards (the harness of `cross_shard.rs`):
//! SELFDESTRUCT to a beneficiary homed on another shard (CS-6) and CREATE/CREATE2 of an
//! address homed on another shard (X-6 in `specs/execution.md`), in raw bytecode.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;
mod xs_net;

use alloy_primitives::{Address, Bytes, U256, hex};
use shardnet_exec::StateView;
use shardnet_exec::lanes::congestion::Congestion;
use shardnet_exec::store::hash_address;
use support::{word_addr, word_u};
use xs_net::{ETH, Net, deployer, shard_map, wallet_on};
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

/// X-6 inside the EVM: a factory's CREATE or CREATE2 whose address is homed on another shard
/// returns that address at once and the contract (with its endowment) appears there, at the
/// address Ethereum computes; the factory prepays the init code's gas, and without the funds
/// the CREATE fails cleanly (0, a reason). A CREATE2 that collides on the home shard is
/// refused there and refunded. Local addresses are created as in Ethereum, and value is
/// conserved.
#[test]
fn create_and_create2_to_another_shard_are_sent() {
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
    let factory = alice.address.create(0);
    let factory2 = alice.address.create(1);
    // The CREATE2 factory cannot be funded by a call (every call creates), so it is funded at
    // genesis: it prepays the gas of its foreign CREATE2s.
    let funded = [
        (alice.address, U256::from(10 * ETH)),
        (factory2, U256::from(ETH)),
    ];
    let mut net = Net::new(&funded);
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

    // CREATE2: one local and one foreign salt, each with an endowment of 7 wei (the call's
    // value); both land on their home shard at `create2(factory2, salt, keccak256(0x00))`.
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
                U256::from(7),
                salt.0.to_vec().into(),
                300_000,
            ),
        );
        net.until("create2", |n| n.nonce(factory2) == 2 + k);
        assert_eq!(net.home(&address), shard);
        assert_eq!(
            net.storage(factory2, 0),
            U256::from_be_slice(address.as_slice()),
            "the address, at once"
        );
        net.until("landed", |n| n.balance(address) == U256::from(7));
        assert!(exists(&net, shard, address));
        assert!(!exists(&net, 1 - shard, address), "on its home shard only");
        assert_eq!(net.nonce(address), 1, "a contract (EIP-161 nonce)");
    }
    nonce += 2;
    net.blocks(4);
    net.assert_drained();

    // The foreign salt again: the source cannot know the address is taken, so it sends; the
    // home shard's CREATE2 collides, and the endowment and unspent gas go back to factory2.
    let (salt, address) = (salts[1], factory2.create2(salts[1], code_hash));
    let before = net.balance(factory2);
    net.submit(
        0,
        alice.call(
            nonce,
            factory2,
            U256::from(7),
            salt.0.to_vec().into(),
            300_000,
        ),
    );
    net.until("create2 again", |n| n.nonce(factory2) == 4);
    assert_eq!(
        net.storage(factory2, 0),
        U256::from_be_slice(address.as_slice())
    );
    let sent = net.balance(factory2);
    assert!(sent < before, "escrowed the endowment and prepaid the gas");
    net.until("refunded", |n| n.balance(factory2) > sent);
    assert!(
        net.balance(factory2) - sent > U256::from(7),
        "the endowment and unspent gas came back"
    );
    assert_eq!(
        net.balance(address),
        U256::from(7),
        "the first contract, untouched"
    );
    assert_eq!(net.nonce(address), 1);
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
