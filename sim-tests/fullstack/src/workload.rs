//! The seeded workload: wallets with deterministic keys (the devnet's development accounts),
//! plain signed EIP-1559 transfers within a shard and to addresses homed on other shards (which
//! execute as cross-shard sends, CS-6), cross-shard calls through `CROSS_SHARD`, and calls of
//! the example Solidity contracts (`contracts/src/Examples.sol`, deployed on every shard at the
//! start): a `Caller` on the sender's shard calls a `Callee` on another shard, which answers or
//! reverts, and the response runs the `Caller`'s callback (CS-11, CS-13). Each wallet signs its next nonce only when few of its
//! transactions are uncommitted, and resubmits the uncommitted ones to every live validator of
//! its home shard, so a crash or a partition only delays a transfer, never loses it.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use secp256k1::{Message, SECP256K1};
use shardnet_node::devnet::{DevAccount, dev_account};
use shardnet_protocol::{ShardId, ShardMap};

/// Chain id of the simulated network.
pub const CHAIN_ID: u64 = 31_337;
/// Gas of a plain transfer (also across shards: CS-6).
const TRANSFER_GAS: u64 = 21_000;
/// Fee cap: far above the base fee a lightly loaded shard reaches.
const MAX_FEE_PER_GAS: u128 = 50_000_000_000;
/// Priority fee, paid to the proposer.
const TIP_PER_GAS: u128 = 1_000_000_000;
/// Signed but uncommitted transactions per wallet before it waits.
pub const MAX_OUTSTANDING: u64 = 4;

/// One wallet.
#[derive(Debug)]
pub struct Wallet {
    /// Key and address.
    pub account: DevAccount,
    /// Home shard.
    pub shard: ShardId,
    /// Next nonce to sign.
    pub next_nonce: u64,
    /// Signed transactions by nonce, with the simulated time they were signed at (kept for
    /// resubmission).
    pub signed: BTreeMap<u64, (Bytes, Duration)>,
}

/// Finds `per_shard` development accounts homed on each shard, in index order.
pub fn wallets(map: &ShardMap, shards: u16, per_shard: usize) -> Vec<Wallet> {
    let mut counts = vec![0usize; usize::from(shards)];
    let mut out = Vec::new();
    let mut i = 0u64;
    while counts.iter().any(|c| *c < per_shard) {
        let account = dev_account(i);
        i += 1;
        let shard = map.home(&account.address);
        let Some(count) = counts.get_mut(usize::from(shard.0)) else {
            continue;
        };
        if *count < per_shard {
            *count += 1;
            out.push(Wallet {
                account,
                shard,
                next_nonce: 0,
                signed: BTreeMap::new(),
            });
        }
    }
    out
}

/// Signs an EIP-1559 transaction with a secp256k1 key (RFC 6979: deterministic).
pub fn sign(secret: &[u8; 32], tx: TxEip1559) -> Option<Bytes> {
    let sk = secp256k1::SecretKey::from_byte_array(*secret).ok()?;
    let digest = Message::from_digest(tx.signature_hash().0);
    let (id, rs) = SECP256K1
        .sign_ecdsa_recoverable(digest, &sk)
        .serialize_compact();
    let signature = Signature::from_bytes_and_parity(&rs, i32::from(id) == 1);
    Some(
        TxEnvelope::from(tx.into_signed(signature))
            .encoded_2718()
            .into(),
    )
}

/// A signed transfer of `value` wei from `wallet` (its next nonce) to `to`, signed at `now`.
pub fn transfer(wallet: &mut Wallet, to: Address, value: U256, now: Duration) -> Option<Bytes> {
    contract_tx(wallet, Some(to), Bytes::new(), value, TRANSFER_GAS, now)
}

/// A signed cross-shard call through `CROSS_SHARD` (CS-5) from `wallet` to `to` with `value`:
/// 30,000 gas on the destination, no callback, and `deadline` (0: none). Every such call comes
/// back as a response with its refund (CS-11, CS-12), which the value check then covers.
pub fn call(
    wallet: &mut Wallet,
    to: Address,
    value: U256,
    deadline: u64,
    now: Duration,
) -> Option<Bytes> {
    use shardnet_exec::lanes::system::{CROSS_SHARD, SendRequest};
    let input = SendRequest::Call {
        to,
        data: Bytes::from_static(&[0x5a]),
        gas_limit: 30_000,
        callback_gas: 0,
        deadline,
    }
    .encode();
    contract_tx(wallet, Some(CROSS_SHARD), input, value, 100_000, now)
}

/// Gas limit of a transaction that calls a `Caller` (its cross-shard call and callback are
/// prepaid from the contract's balance, not from this).
pub const CONTRACT_CALL_GAS: u64 = 500_000;

/// The example contracts' creation code (`contracts/build`, compiled by `contracts/build.sh`).
pub fn bytecode(name: &str) -> Bytes {
    let hex = match name {
        "Caller" => include_str!("../../../contracts/build/Caller.bin"),
        _ => include_str!("../../../contracts/build/Callee.bin"),
    };
    alloy_primitives::hex::decode(hex.trim())
        .map(Bytes::from)
        .unwrap_or_default()
}

/// ABI-encodes a call: the selector of `signature` and 32-byte words.
pub fn abi_call(signature: &str, words: &[[u8; 32]]) -> Bytes {
    let mut out = alloy_primitives::keccak256(signature.as_bytes())[..4].to_vec();
    for w in words {
        out.extend_from_slice(w);
    }
    out.into()
}

/// An address as an ABI word.
pub fn word_address(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// A number as an ABI word.
pub fn word_u256(v: U256) -> [u8; 32] {
    v.to_be_bytes()
}

/// A development account homed on `shard` whose first two contracts (nonces 0 and 1) are
/// homed there too, so the example contracts deploy at home; searched from `skip`.
pub fn deployer(map: &ShardMap, shard: ShardId, skip: u64) -> Wallet {
    let mut i = skip;
    loop {
        let account = dev_account(i);
        i += 1;
        let a = account.address;
        if map.home(&a) == shard
            && map.home(&a.create(0)) == shard
            && map.home(&a.create(1)) == shard
        {
            return Wallet {
                account,
                shard,
                next_nonce: 0,
                signed: BTreeMap::new(),
            };
        }
    }
}

/// A signed transaction from `wallet` (its next nonce): a call of `to` with `input` and
/// `value`, or a contract creation with `input` as initcode when `to` is `None`.
pub fn contract_tx(
    wallet: &mut Wallet,
    to: Option<Address>,
    input: Bytes,
    value: U256,
    gas_limit: u64,
    now: Duration,
) -> Option<Bytes> {
    let raw = sign(
        &wallet.account.secret,
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: wallet.next_nonce,
            gas_limit,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: TIP_PER_GAS,
            to: to.map_or(TxKind::Create, TxKind::Call),
            value,
            access_list: Default::default(),
            input,
        },
    )?;
    wallet.signed.insert(wallet.next_nonce, (raw.clone(), now));
    wallet.next_nonce += 1;
    Some(raw)
}

/// A uniform draw in `[0, 1)`.
pub fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (`n > 0`).
pub fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}
