//! The address-to-shard map: deterministic, in range, balanced, and system addresses local
//! everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use shardnet_protocol::{Address, ShardId, ShardMap, ShardMapScheme};

const SCHEMES: [ShardMapScheme; 2] = [ShardMapScheme::LowBits, ShardMapScheme::Blake3];

fn random_addresses(seed: u64, n: usize) -> Vec<Address> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut b = [0u8; 20];
            rng.fill_bytes(&mut b);
            Address::from(b)
        })
        .collect()
}

#[test]
fn low_bits_reads_the_last_two_bytes() {
    let map = ShardMap::new(4, ShardMapScheme::LowBits);
    let mut b = [0x11u8; 20];
    b[18] = 0x00;
    b[19] = 0x05;
    assert_eq!(map.home(&Address::from(b)), ShardId(1));
    b[18] = 0x01; // 0x0105 = 261 = 65 * 4 + 1
    assert_eq!(map.home(&Address::from(b)), ShardId(1));
    b[19] = 0x07; // 0x0107 = 263
    assert_eq!(map.home(&Address::from(b)), ShardId(3));
    let map = ShardMap::new(1000, ShardMapScheme::LowBits);
    b[18] = 0xff;
    b[19] = 0xff; // 65535
    assert_eq!(map.home(&Address::from(b)), ShardId(535));
}

#[test]
fn blake3_scheme_reads_the_hash_prefix() {
    let map = ShardMap::new(7, ShardMapScheme::Blake3);
    for a in random_addresses(1, 100) {
        let h = blake3::hash(a.as_slice());
        let x = u64::from_be_bytes(h.as_bytes()[..8].try_into().unwrap());
        assert_eq!(map.home(&a), ShardId((x % 7) as u16));
    }
}

#[test]
fn homes_are_deterministic_and_in_range() {
    let addresses = random_addresses(2, 2000);
    for scheme in SCHEMES {
        for shards in [1u16, 2, 3, 4, 7, 16, 1024, u16::MAX] {
            let map = ShardMap::new(shards, scheme);
            let again = ShardMap::new(shards, scheme);
            for a in &addresses {
                let home = map.home(a);
                assert!(home.0 < shards, "{scheme:?}/{shards}: {home}");
                assert_eq!(home, again.home(a));
                assert!(map.is_local(home, a));
            }
        }
    }
}

#[test]
fn homes_are_balanced() {
    let addresses = random_addresses(3, 10_000);
    for scheme in SCHEMES {
        let map = ShardMap::new(4, scheme);
        let mut counts = [0usize; 4];
        for a in &addresses {
            counts[usize::from(map.home(a).0)] += 1;
        }
        let mean = addresses.len() / 4;
        for (shard, &c) in counts.iter().enumerate() {
            assert!(
                c * 10 >= mean * 8 && c * 10 <= mean * 12,
                "{scheme:?}: shard {shard} has {c} of {} addresses ({counts:?})",
                addresses.len()
            );
        }
    }
}

#[test]
fn schemes_differ() {
    let addresses = random_addresses(4, 200);
    let low = ShardMap::new(16, ShardMapScheme::LowBits);
    let b3 = ShardMap::new(16, ShardMapScheme::Blake3);
    assert!(addresses.iter().any(|a| low.home(a) != b3.home(a)));
}

#[test]
fn system_addresses_live_on_every_shard() {
    let mut b = [0u8; 20];
    assert!(ShardMap::is_system(&Address::from(b)));
    for last in [1u8, 0x10, 0xff] {
        b[19] = last;
        b[18] = last;
        let a = Address::from(b);
        assert!(ShardMap::is_system(&a));
        for scheme in SCHEMES {
            let map = ShardMap::new(8, scheme);
            for shard in map.shard_ids() {
                assert!(map.is_local(shard, &a));
            }
        }
    }
    for i in 0..18 {
        let mut b = [0u8; 20];
        b[i] = 1;
        assert!(!ShardMap::is_system(&Address::from(b)), "byte {i} set");
    }
}

#[test]
fn other_addresses_are_local_only_at_home() {
    let map = ShardMap::new(4, ShardMapScheme::Blake3);
    for a in random_addresses(5, 100) {
        assert!(!ShardMap::is_system(&a));
        let home = map.home(&a);
        for shard in map.shard_ids() {
            assert_eq!(map.is_local(shard, &a), shard == home);
        }
    }
}

#[test]
fn shard_count_is_at_least_one() {
    let map = ShardMap::new(0, ShardMapScheme::LowBits);
    assert_eq!(map.shards, 1);
    assert_eq!(map.shard_ids().collect::<Vec<_>>(), vec![ShardId(0)]);
    // A deserialized map with zero shards still maps everything somewhere sane.
    let zero = ShardMap {
        shards: 0,
        scheme: ShardMapScheme::Blake3,
    };
    assert_eq!(zero.home(&Address::from([9; 20])), ShardId(0));
    assert_eq!(
        ShardMap::new(5, ShardMapScheme::Blake3).shard_ids().count(),
        5
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_address_has_one_home_in_range(bytes in any::<[u8; 20]>(), shards in 1u16..=1024) {
        let a = Address::from(bytes);
        for scheme in SCHEMES {
            let map = ShardMap::new(shards, scheme);
            let home = map.home(&a);
            prop_assert!(home.0 < shards);
            let local: Vec<ShardId> = map.shard_ids().filter(|s| map.is_local(*s, &a)).collect();
            if ShardMap::is_system(&a) {
                prop_assert_eq!(local.len(), usize::from(shards));
            } else {
                prop_assert_eq!(local, vec![home]);
            }
        }
    }
}
