//! X-6 / CS-10 at the destination: a `Create` message whose `address` is not the one Ethereum
//! derives from it (`create(from, nonce)`, or `create2(from, salt, keccak256(initcode))`) is
//! refused with `Rejected` and a full refund, deploys nothing, and is consumed exactly once
//! (its lane's inbound sequence advances, and the same message cannot run again).
//!
//! The message is fed straight to the executor (`evm::execute_block` with a `CrossShardEnv`):
//! an honest source never emits such a message, so only a direct feed exercises the check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy_primitives::{Address, B256, U256};
use shardnet_exec::evm::{CrossShardEffects, CrossShardEnv, execute_block};
use shardnet_exec::lanes::inbox::Budget;
use shardnet_exec::lanes::system::{CROSS_SHARD, slots};
use shardnet_exec::state_root::account_trie;
use shardnet_exec::store::{hash_address, hash_slot};
use shardnet_exec::{ExecEnv, Fork, MemoryStore, StateStore, StateView};
use shardnet_protocol::{
    BoundedBytes, CrossShardMessage, Hash32, LaneClass, LaneId, MessageBody, Origin, Outcome,
    ShardId, ShardMap, ShardMapScheme,
};

const VALUE: u64 = 1_000;
const GAS_LIMIT: u64 = 200_000;
const GAS_PRICE: u64 = 7;

fn map() -> ShardMap {
    ShardMap::new(2, ShardMapScheme::LowBits)
}

const DEST: ShardId = ShardId(1);

fn lane() -> LaneId {
    LaneId {
        source: ShardId(0),
        destination: DEST,
        class: LaneClass::Request,
    }
}

/// Init code deploying a one-byte contract: `PUSH1 1, PUSH1 0, RETURN` returns one byte of
/// fresh memory, `0x00` (`STOP`).
fn initcode() -> Vec<u8> {
    vec![0x60, 0x01, 0x60, 0x00, 0xf3]
}

/// A deployer on shard 0 and a nonce whose `create` address, and the next one, are both homed
/// on the destination: the wrong address passes the home check and only the derivation check
/// can refuse it.
fn deployer_and_nonces() -> (Address, u64, u64) {
    let map = map();
    for i in 1u64.. {
        let from = Address::from_word(B256::from(U256::from(i)));
        if map.home(&from).0 != 0 {
            continue;
        }
        let homed: Vec<u64> = (0..16)
            .filter(|n| map.home(&from.create(*n)) == DEST)
            .collect();
        if let [a, b, ..] = homed[..] {
            return (from, a, b);
        }
    }
    unreachable!()
}

fn message(sequence: u64, body: MessageBody) -> CrossShardMessage {
    CrossShardMessage {
        lane: lane(),
        sequence,
        origin: Origin {
            tx_hash: B256::repeat_byte(0xaa),
            initiator: Address::repeat_byte(0xbb),
            depth: 0,
        },
        body,
    }
}

fn create(from: Address, address: Address, nonce: u64, salt: Option<B256>) -> MessageBody {
    MessageBody::Create {
        call_id: Hash32([0x11; 32]),
        from,
        address,
        nonce,
        salt,
        initcode: BoundedBytes::try_from_vec(initcode()).unwrap(),
        value: U256::from(VALUE),
        gas_limit: GAS_LIMIT,
        gas_price: U256::from(GAS_PRICE),
    }
}

/// Executes one block at `number` carrying `inbound` on the destination, applies it to
/// `store`; the block's cross-shard effects, or the executor's error.
fn run(
    store: &mut MemoryStore,
    number: u64,
    inbound: &[CrossShardMessage],
) -> Result<CrossShardEffects, shardnet_exec::ExecError> {
    let env = ExecEnv {
        fork: Fork::Prague,
        chain_id: 7,
        number,
        timestamp: 1_750_000_000 + number,
        beneficiary: Address::ZERO,
        gas_limit: 30_000_000,
        base_fee: 1,
        prevrandao: B256::ZERO,
        difficulty: U256::ZERO,
        excess_blob_gas: 0,
    };
    let xs = CrossShardEnv {
        shard: DEST,
        shard_map: map(),
        inbound,
        budget: Budget {
            total_gas: 15_000_000,
            response_reserve_gas: 15_000_000 / 4,
        },
        reports: &[],
        lane_credits: 64,
    };
    let base = account_trie(store).unwrap();
    let hashes = |_: u64| B256::ZERO;
    let (execution, _) = execute_block(store, &base, &env, &hashes, &[], Some(&xs))?;
    store.apply(&execution.changes).unwrap();
    Ok(execution.cross_shard)
}

fn executed(store: &MemoryStore) -> U256 {
    store
        .storage(
            &hash_address(&CROSS_SHARD),
            &hash_slot(&slots::inbound(&lane())),
        )
        .unwrap()
}

/// Nothing at `a`: no code and no endowment.
fn assert_nothing_at(store: &MemoryStore, a: Address) {
    let account = store.account(&hash_address(&a)).unwrap();
    assert!(
        account.is_none_or(|r| r.code_hash == alloy_trie::KECCAK_EMPTY && r.balance.is_zero()),
        "something landed at {a}: {account:?}"
    );
}

/// Feeds `wrong` (a `Create` whose address is not the derived one), and checks every
/// consequence; `derived` is where the creation would have landed.
fn assert_refused(wrong: MessageBody, derived: Address) {
    let MessageBody::Create {
        address,
        call_id,
        from,
        ..
    } = &wrong
    else {
        unreachable!()
    };
    let (address, call_id, from) = (*address, *call_id, *from);
    assert_ne!(address, derived);
    assert_eq!(
        map().home(&address),
        DEST,
        "the wrong address is homed here"
    );
    assert_eq!(map().home(&derived), DEST, "the right one too");
    assert_eq!(wrong.create_address(), Some(derived));
    let mut store = MemoryStore::new();
    let m = message(1, wrong);
    let fx = run(&mut store, 1, std::slice::from_ref(&m)).unwrap();

    // Rejected, with a reason.
    let [result] = &fx.inbound[..] else {
        panic!("one inbound result: {:?}", fx.inbound)
    };
    let Some(Outcome::Rejected(reason)) = &result.outcome else {
        panic!("not rejected: {:?}", result.outcome)
    };
    let reason = String::from_utf8_lossy(reason);
    assert!(reason.contains("does not match"), "reason: {reason}");
    assert_eq!(result.gas_used, 0);

    // One response, back to the source, refunding value and all the gas.
    let responses: Vec<_> = fx.outbox.messages.iter().collect();
    let [response] = &responses[..] else {
        panic!("one response: {responses:?}")
    };
    assert_eq!(
        response.lane,
        LaneId {
            source: DEST,
            destination: ShardId(0),
            class: LaneClass::Response
        }
    );
    let MessageBody::Response {
        call_id: answered,
        outcome,
        refund,
        callback,
        ..
    } = &response.body
    else {
        panic!("not a response: {response:?}")
    };
    assert_eq!(*answered, call_id);
    assert_eq!(Some(outcome), result.outcome.as_ref());
    assert_eq!(*refund, U256::from(VALUE + GAS_LIMIT * GAS_PRICE));
    assert_eq!(*callback, None);

    // Nothing deployed or endowed at either address; nothing minted anywhere (the destination
    // holds no account with a balance, the refund travels in the response).
    assert_nothing_at(&store, address);
    assert_nothing_at(&store, derived);
    let minted = store
        .accounts()
        .unwrap()
        .iter()
        .fold(U256::ZERO, |a, (_, r)| a + r.balance);
    assert_eq!(minted, U256::ZERO, "value created on the destination");

    // Consumed exactly once: the lane advanced to 1; the same message again is out of order
    // (the block fails to execute); the next one runs.
    assert_eq!(executed(&store), U256::from(1));
    let again = run(&mut store, 2, std::slice::from_ref(&m));
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("out of order")),
        "replayed: {:?}",
        again.map(|fx| fx.inbound)
    );
    assert_eq!(executed(&store), U256::from(1));
    let next = message(
        2,
        MessageBody::Transfer {
            from,
            to: derived,
            value: U256::from(5),
        },
    );
    let fx = run(&mut store, 2, &[next]).unwrap();
    assert_eq!(fx.inbound.len(), 1);
    assert_eq!(executed(&store), U256::from(2));
}

#[test]
fn a_create_with_a_wrong_address_is_rejected_and_refunded() {
    let (from, nonce, other) = deployer_and_nonces();
    // The message says nonce `nonce` but names the address of nonce `other`.
    assert_refused(
        create(from, from.create(other), nonce, None),
        from.create(nonce),
    );
}

#[test]
fn a_create2_with_a_wrong_address_is_rejected_and_refunded() {
    let (from, _, _) = deployer_and_nonces();
    let code = initcode();
    let homed: Vec<B256> = (0u64..64)
        .map(|i| B256::from(U256::from(i)))
        .filter(|salt| map().home(&from.create2_from_code(*salt, &code)) == DEST)
        .take(2)
        .collect();
    let [salt, other] = homed[..] else {
        panic!("two salts homed on the destination")
    };
    // The message's salt is `salt` but it names the address of `other`.
    assert_refused(
        create(from, from.create2_from_code(other, &code), 0, Some(salt)),
        from.create2_from_code(salt, &code),
    );
    // The CREATE form of the same deployer's address is wrong for a CREATE2 message, too.
    let derived = from.create2_from_code(salt, &code);
    let n = (0..64)
        .find(|n| map().home(&from.create(*n)) == DEST)
        .expect("a CREATE address homed on the destination");
    assert_refused(create(from, from.create(n), n, Some(salt)), derived);
}

/// The control: the same messages with the derived address deploy the contract there, so the
/// refusals above are the address check's doing.
#[test]
fn a_create_with_the_derived_address_deploys() {
    let (from, nonce, _) = deployer_and_nonces();
    let mut store = MemoryStore::new();
    let fx = run(
        &mut store,
        1,
        &[message(1, create(from, from.create(nonce), nonce, None))],
    )
    .unwrap();
    assert!(
        matches!(fx.inbound[0].outcome, Some(Outcome::Ok(_))),
        "{:?}",
        fx.inbound[0].outcome
    );
    let deployed = store
        .account(&hash_address(&from.create(nonce)))
        .unwrap()
        .unwrap();
    assert_ne!(deployed.code_hash, alloy_trie::KECCAK_EMPTY);
    assert_eq!(deployed.balance, U256::from(VALUE));
}
