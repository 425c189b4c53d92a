//! The genesis file: a valid example parses and round-trips; every invalid one is refused
//! with an error that names the offending field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use shardnet_protocol::*;

/// Validator keys `0x`-hex, from fixed seeds.
fn key_hex(i: usize) -> String {
    common::keys(42, 4)[i].public_key().to_string()
}

/// A valid two-shard genesis: validators 0 and 2 in shard 0, 1 and 3 in shard 1.
fn example() -> String {
    format!(
        r#"
chain_id = 7
timestamp_ms = 1700000000000

[shard_map]
shards = 2
scheme = "blake3"

[[validators]]
public_key = "{k0}"
stake = 10
address = "10.0.0.1:9000"
shard = 0

[[validators]]
public_key = "{k1}"
stake = 20
address = "10.0.0.2:9000"
shard = 1

[[validators]]
public_key = "{k2}"
stake = 30
address = "10.0.0.3:9000"
shard = 0

[[validators]]
public_key = "{k3}"
stake = 40
address = "10.0.0.4:9000"
shard = 1

[[accounts]]
address = "0x1111111111111111111111111111111111111111"
balance = "1000000000000000000000"

[[accounts]]
address = "0x2222222222222222222222222222222222222222"
balance = "0x10"
"#,
        k0 = key_hex(0),
        k1 = key_hex(1),
        k2 = key_hex(2),
        k3 = key_hex(3),
    )
}

/// The example with `from` replaced by `to` (which must occur, exactly `n`-th occurrence
/// not needed: the first is replaced).
fn edited(from: &str, to: &str) -> String {
    let text = example();
    assert!(text.contains(from), "{from:?} not in the example");
    text.replacen(from, to, 1)
}

/// Parses `text`, expecting an error whose message contains every one of `needles`.
fn refused(text: &str, needles: &[&str]) -> GenesisError {
    let err = Genesis::from_toml(text).expect_err("genesis should be refused");
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
    }
    err
}

fn invalid_field(err: &GenesisError) -> &str {
    match err {
        GenesisError::Invalid { field, .. } => field,
        GenesisError::Parse(msg) => panic!("expected a validation error, got parse error {msg}"),
    }
}

#[test]
fn example_parses() {
    let g = Genesis::from_toml(&example()).unwrap();
    assert_eq!(g.chain_id, ChainId(7));
    assert_eq!(g.timestamp_ms, 1_700_000_000_000);
    assert_eq!(g.shard_map, ShardMap::new(2, ShardMapScheme::Blake3));
    assert_eq!(g.validators.len(), 4);
    assert_eq!(
        g.validators[1].public_key,
        common::keys(42, 4)[1].public_key()
    );
    assert_eq!(g.validators[3].stake, Stake(40));
    assert_eq!(g.validators[2].shard, ShardId(0));
    assert_eq!(
        g.accounts[0].balance,
        U256::from(10u64).pow(U256::from(21u64))
    );
    assert_eq!(g.accounts[1].balance, U256::from(16u64));
    assert_eq!(g.accounts[1].address, Address::from([0x22; 20]));
}

#[test]
fn committees_follow_file_order_per_shard() {
    let g = Genesis::from_toml(&example()).unwrap();
    let keys = common::keys(42, 4);
    let committees = g.committees().unwrap();
    let s0 = committees.get(ShardId(0), Genesis::EPOCH).unwrap();
    let s1 = committees.get(ShardId(1), Genesis::EPOCH).unwrap();
    assert_eq!(s0.chain_id(), ChainId(7));
    assert_eq!(s0.index_of(&keys[0].public_key()), Some(ValidatorIndex(0)));
    assert_eq!(s0.index_of(&keys[2].public_key()), Some(ValidatorIndex(1)));
    assert_eq!(s1.index_of(&keys[1].public_key()), Some(ValidatorIndex(0)));
    assert_eq!(s1.index_of(&keys[3].public_key()), Some(ValidatorIndex(1)));
    assert_eq!(s0.total_stake(), Stake(40));
    assert_eq!(s1.total_stake(), Stake(60));
    assert_eq!(s1.members()[1].network_address, "10.0.0.4:9000");
    assert_eq!(committees.iter().count(), 2);
    // Every account lands on exactly one shard, its home.
    let on: usize = g
        .shard_map
        .shard_ids()
        .map(|s| g.accounts_on(s).count())
        .sum();
    assert_eq!(on, g.accounts.len());
    for a in &g.accounts {
        assert!(g.accounts_on(g.shard_map.home(&a.address)).any(|x| x == a));
    }
}

#[test]
fn defaults_apply() {
    // No timestamp, no scheme, no accounts.
    let text = example()
        .replacen("timestamp_ms = 1700000000000\n", "", 1)
        .replacen("scheme = \"blake3\"\n", "", 1);
    let text = &text[..text.find("[[accounts]]").unwrap()];
    let g = Genesis::from_toml(text).unwrap();
    assert_eq!(g.timestamp_ms, 0);
    assert_eq!(g.shard_map.scheme, ShardMapScheme::LowBits);
    assert!(g.accounts.is_empty());
}

#[test]
fn round_trips_through_toml() {
    let g = Genesis::from_toml(&example()).unwrap();
    let text = g.to_toml();
    assert_eq!(Genesis::from_toml(&text).unwrap(), g);
    // Writing is stable.
    assert_eq!(Genesis::from_toml(&text).unwrap().to_toml(), text);
}

#[test]
fn chain_id_zero_is_refused() {
    let err = refused(&edited("chain_id = 7", "chain_id = 0"), &["chain_id"]);
    assert_eq!(invalid_field(&err), "chain_id");
}

#[test]
fn zero_shards_are_refused() {
    let err = refused(&edited("shards = 2", "shards = 0"), &["shard_map.shards"]);
    assert_eq!(invalid_field(&err), "shard_map.shards");
    refused(
        &edited("shards = 2", "shards = 1025"),
        &["shard_map.shards"],
    );
}

#[test]
fn validator_shard_out_of_range_is_refused() {
    let err = refused(
        &edited("shard = 1", "shard = 2"),
        &["validators[1].shard", "shard 2"],
    );
    assert_eq!(invalid_field(&err), "validators[1].shard");
}

#[test]
fn zero_stake_is_refused() {
    let err = refused(&edited("stake = 30", "stake = 0"), &["validators[2].stake"]);
    assert_eq!(invalid_field(&err), "validators[2].stake");
}

#[test]
fn duplicate_validator_key_is_refused() {
    // Validator 3 reuses validator 0's key (in another shard: still refused).
    let text = example().replacen(&key_hex(3), &key_hex(0), 1);
    let err = refused(&text, &["validators[3].public_key"]);
    assert_eq!(invalid_field(&err), "validators[3].public_key");
}

#[test]
fn shard_without_validators_is_refused() {
    let text = example().replace("shard = 1", "shard = 0");
    let err = refused(&text, &["validators", "shard 1 has no validator"]);
    assert_eq!(invalid_field(&err), "validators");
}

#[test]
fn empty_validator_address_is_refused() {
    let err = refused(
        &edited("\"10.0.0.2:9000\"", "\"\""),
        &["validators[1].address"],
    );
    assert_eq!(invalid_field(&err), "validators[1].address");
}

#[test]
fn duplicate_account_is_refused() {
    let err = refused(
        &edited(
            "0x2222222222222222222222222222222222222222",
            "0x1111111111111111111111111111111111111111",
        ),
        &["accounts[1].address"],
    );
    assert_eq!(invalid_field(&err), "accounts[1].address");
}

#[test]
fn unknown_fields_are_refused_everywhere() {
    let cases = [
        ("chain_id = 7", "chain_id = 7\nchian_id = 8", "chian_id"),
        ("stake = 20", "stake = 20\nweight = 1", "weight"),
        (
            "balance = \"0x10\"",
            "balance = \"0x10\"\nnonce = 1",
            "nonce",
        ),
        // A typo in the shard map must not silently fall back to the default scheme.
        ("scheme = \"blake3\"", "schema = \"blake3\"", "schema"),
    ];
    for (from, to, field) in cases {
        let err = refused(&edited(from, to), &["unknown field", field]);
        assert!(matches!(err, GenesisError::Parse(_)));
    }
}

#[test]
fn malformed_keys_are_refused() {
    let k = key_hex(1);
    let cases = [
        // Not hex.
        format!("0xzz{}", &k[4..]),
        // Too short.
        k[..k.len() - 2].to_string(),
        // Too long.
        format!("{k}00"),
        // Hex, but a small-order point.
        format!("0x01{}", "00".repeat(31)),
    ];
    for bad in cases {
        let text = example().replacen(&k, &bad, 1);
        refused(&text, &["public_key"]);
    }
}

#[test]
fn wrong_types_are_refused() {
    let cases = [
        ("stake = 20", "stake = \"twenty\"", "stake"),
        ("chain_id = 7", "chain_id = \"seven\"", "chain_id"),
        ("shard = 1", "shard = -1", "shard"),
        ("shards = 2", "shards = 2.5", "shards"),
        ("balance = \"0x10\"", "balance = true", "balance"),
        ("address = \"10.0.0.2:9000\"", "address = 9000", "address"),
    ];
    for (from, to, field) in cases {
        let err = refused(&edited(from, to), &[field]);
        assert!(matches!(err, GenesisError::Parse(_)), "{err}");
    }
}

#[test]
fn unparseable_text_is_refused() {
    assert!(matches!(
        Genesis::from_toml("chain_id = "),
        Err(GenesisError::Parse(_))
    ));
    refused("", &["chain_id"]);
    refused(
        &example().replacen("[shard_map]\nshards = 2\nscheme = \"blake3\"\n", "", 1),
        &["shard_map"],
    );
}

#[test]
fn extreme_integers_round_trip() {
    let mut g = Genesis::from_toml(&example()).unwrap();
    g.chain_id = ChainId(u64::MAX);
    g.timestamp_ms = u64::MAX;
    g.validators[1].stake = Stake(u64::MAX - 40);
    g.accounts[0].balance = U256::MAX;
    g.validate().unwrap();
    assert_eq!(Genesis::from_toml(&g.to_toml()).unwrap(), g);
}

#[test]
fn stake_overflow_in_a_shard_is_refused() {
    let text = edited("stake = 10", "stake = 18446744073709551615");
    let err = refused(&text, &["validators", "shard 0", "overflows"]);
    assert_eq!(invalid_field(&err), "validators");
}

/// The example of `specs/wire.md` §7, verbatim.
const SPEC_EXAMPLE: &str = r#"
chain_id = 31337
timestamp_ms = 1767225600000

[shard_map]
shards = 2
scheme = "low-bits"

[[validators]]
public_key = "0x10a1860ee01fa0dad17543b41fa56f4e098708100019f5f7cec1fc59b2cc0fec"
stake = 100
address = "10.0.0.1:7000"
shard = 0

[[validators]]
public_key = "0xa10024b7a115732841069d2fff78144f1e2fba27d15f9f41b452fb033c05ca37"
stake = 100
address = "10.0.0.2:7000"
shard = 0

[[validators]]
public_key = "0x848f760953faa72b6b73fe6ffc93caa3eaffd82b589e95364a65f8984161d930"
stake = 100
address = "10.0.0.3:7000"
shard = 1

[[validators]]
public_key = "0x8c112bf3e4f51acf22a475ad0da4f8e7bd20283fc818e29636e5f9153535696d"
stake = 100
address = "10.0.0.4:7000"
shard = 1

[[accounts]]
address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
balance = "1000000000000000000000"

[[accounts]]
address = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
balance = "0x3635c9adc5dea00000"
"#;

#[test]
fn spec_example_parses() {
    let g = Genesis::from_toml(SPEC_EXAMPLE).unwrap();
    assert_eq!(g.chain_id, ChainId(31337));
    assert_eq!(g.shard_map, ShardMap::new(2, ShardMapScheme::LowBits));
    // Both balances are 1000 ether.
    assert_eq!(g.accounts[0].balance, g.accounts[1].balance);
    assert_eq!(g.shard_map.home(&g.accounts[0].address), ShardId(0));
    assert_eq!(g.shard_map.home(&g.accounts[1].address), ShardId(1));
    assert_eq!(Genesis::from_toml(&g.to_toml()).unwrap(), g);
}
