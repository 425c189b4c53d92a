//! Shared fixtures for the Shardnet fuzz targets and the seed-corpus generator.
//!
//! Every target that checks signatures verifies against [`committee`] / [`committees`]: four
//! members with equal stake, keys from the fixed seeds `[1; 32]` to `[4; 32]`. The seed corpus
//! is signed by *other* keys ([`seed_keys`]) in the same chain, shard and epoch, so seeds reach
//! the signature check and fail there; no input can verify without forging a signature, which
//! is why the targets may assert that verification returns `Err`.

use std::sync::LazyLock;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shardnet_protocol::{
    ChainId, Committee, Committees, Epoch, Member, SecretKey, ShardId, Stake, decode, encode,
};

/// The chain every fixture lives on.
pub const CHAIN: ChainId = ChainId(7);

/// Shards with a committee in [`committees`].
pub const SHARDS: [ShardId; 2] = [ShardId(0), ShardId(1)];

/// Four keys from the fixed seeds `[base; 32]` .. `[base + 3; 32]`.
pub fn keys(base: u8) -> Vec<SecretKey> {
    (0..4u8)
        .map(|i| SecretKey::from_bytes(&[base + i; 32]))
        .collect()
}

/// The keys of the committee the targets verify against.
pub fn committee_keys() -> Vec<SecretKey> {
    keys(1)
}

/// The keys that sign the seed corpus (not members of the verifying committee).
pub fn seed_keys() -> Vec<SecretKey> {
    keys(101)
}

/// A committee of `keys` with equal stake 10, for `shard` in epoch 0 of [`CHAIN`].
pub fn committee_of(keys: &[SecretKey], shard: ShardId) -> Committee {
    let members = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Member {
            public_key: k.public_key(),
            stake: Stake(10),
            network_address: format!("127.0.0.1:{}", 9000 + i),
        })
        .collect();
    Committee::new(CHAIN, shard, Epoch(0), members).expect("fixture committee is valid")
}

static COMMITTEE: LazyLock<Committee> =
    LazyLock::new(|| committee_of(&committee_keys(), ShardId(0)));

static COMMITTEES: LazyLock<Committees> =
    LazyLock::new(|| Committees::new(SHARDS.iter().map(|&s| committee_of(&committee_keys(), s))));

/// The fixed 4-member committee of shard 0 the certificate targets verify against.
pub fn committee() -> &'static Committee {
    &COMMITTEE
}

/// The same members as the committees of shards 0 and 1 (epoch 0), for finality proofs.
pub fn committees() -> &'static Committees {
    &COMMITTEES
}

/// Decodes `data` as a wire message of type `T`; when it decodes, asserts the encoding is
/// canonical: encoding the value gives back exactly `data` (`specs/wire.md` §1).
pub fn decode_canonical<T: DeserializeOwned + Serialize>(data: &[u8]) -> Option<T> {
    let value = decode::<T>(data).ok()?;
    let again = encode(&value);
    assert!(
        again == data,
        "non-canonical encoding: decoded {} bytes, re-encoded {} bytes",
        data.len(),
        again.len()
    );
    Some(value)
}
