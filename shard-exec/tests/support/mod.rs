//! Helpers shared by the shard-exec integration tests (`kill9.rs`) and the executor benchmark
//! (`benches/executor.rs`, which includes this file by path): deterministic secp256k1 wallets,
//! signed EIP-1559 transactions, genesis change sets and the block environment.
#![allow(dead_code)]

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use shardnet_exec::store::hash_address;
use shardnet_exec::{AccountRecord, ChangeSet, ExecEnv, Fork};

/// The test network's EIP-155 chain id.
pub(crate) const CHAIN_ID: u64 = 1337;
/// EIP-1559 base fee of every test block.
pub(crate) const BASE_FEE: u64 = 7;
/// Max fee per gas of every test transaction.
pub(crate) const MAX_FEE_PER_GAS: u128 = 100;
/// Priority fee per gas of every test transaction (paid to [`BENEFICIARY`]).
pub(crate) const TIP_PER_GAS: u128 = 2;
/// Gas of a plain ETH transfer.
pub(crate) const TRANSFER_GAS: u64 = 21_000;
/// Receives the priority fees.
pub(crate) const BENEFICIARY: Address = Address::repeat_byte(0xbe);

/// A deterministic key pair: wallet `i` is the same in every run and every process.
#[derive(Debug, Clone)]
pub(crate) struct Wallet {
    secret: SecretKey,
    /// Its Ethereum address.
    pub(crate) address: Address,
}

impl Wallet {
    /// Wallet number `i` (secret key `keccak("shardnet-test-wallet" ‖ i)`).
    pub(crate) fn new(i: u64) -> Self {
        let seed = keccak256([b"shardnet-test-wallet".as_slice(), &i.to_be_bytes()].concat());
        let secret = SecretKey::from_byte_array(seed.0)
            .expect("a keccak output is a valid secp256k1 secret key");
        let public = PublicKey::from_secret_key_global(&secret).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        Self { secret, address }
    }

    /// Signs `tx` and returns its EIP-2718 encoding (what a client submits).
    pub(crate) fn sign(&self, tx: TxEip1559) -> Bytes {
        let digest = Message::from_digest(tx.signature_hash().0);
        let (id, rs) = SECP256K1
            .sign_ecdsa_recoverable(digest, &self.secret)
            .serialize_compact();
        let signature = Signature::from_bytes_and_parity(&rs, i32::from(id) == 1);
        TxEnvelope::from(tx.into_signed(signature))
            .encoded_2718()
            .into()
    }

    /// A signed EIP-1559 call of `to` with `input` and `value`.
    pub(crate) fn call(
        &self,
        nonce: u64,
        to: Address,
        value: U256,
        input: Bytes,
        gas_limit: u64,
    ) -> Bytes {
        self.sign(TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: TIP_PER_GAS,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        })
    }

    /// A signed plain ETH transfer.
    pub(crate) fn transfer(&self, nonce: u64, to: Address, value: U256) -> Bytes {
        self.call(nonce, to, value, Bytes::new(), TRANSFER_GAS)
    }
}

/// An externally owned account record with `balance` and nonce 0.
pub(crate) fn eoa(address: Address, balance: U256) -> AccountRecord {
    AccountRecord {
        address,
        nonce: 0,
        balance,
        code_hash: KECCAK_EMPTY,
        storage_root: EMPTY_ROOT_HASH,
    }
}

/// A genesis change set funding every address in `funded` with `balance` wei.
pub(crate) fn genesis(funded: impl IntoIterator<Item = Address>, balance: U256) -> ChangeSet {
    let mut changes = ChangeSet::default();
    for address in funded {
        changes
            .accounts
            .insert(hash_address(&address), Some(eoa(address, balance)));
    }
    changes
}

/// The environment of block `number`: Prague, chain 1337, base fee 7, `gas_limit`.
pub(crate) fn env(number: u64, gas_limit: u64) -> ExecEnv {
    ExecEnv {
        fork: Fork::Prague,
        chain_id: CHAIN_ID,
        number,
        timestamp: 1_750_000_000 + number,
        beneficiary: BENEFICIARY,
        gas_limit,
        base_fee: BASE_FEE,
        prevrandao: B256::ZERO,
        difficulty: U256::ZERO,
        excess_blob_gas: 0,
    }
}

impl Wallet {
    /// A signed contract creation with `initcode`.
    pub(crate) fn deploy(&self, nonce: u64, initcode: Bytes, gas_limit: u64) -> Bytes {
        self.sign(TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: TIP_PER_GAS,
            to: TxKind::Create,
            value: U256::ZERO,
            access_list: Default::default(),
            input: initcode,
        })
    }
}

/// ABI call data: the selector of `signature` and 32-byte words.
pub(crate) fn abi_call(signature: &str, words: &[[u8; 32]]) -> Bytes {
    let mut out = keccak256(signature)[..4].to_vec();
    for w in words {
        out.extend_from_slice(w);
    }
    out.into()
}

/// An address as an ABI word.
pub(crate) fn word_addr(a: Address) -> [u8; 32] {
    a.into_word().0
}

/// A number as an ABI word.
pub(crate) fn word_u(x: u64) -> [u8; 32] {
    U256::from(x).to_be_bytes()
}
