//! A genesis file: UTF-8 text through `Genesis::from_toml` (parse and validate). When it is
//! accepted, its committees form, and writing it back with `to_toml` and parsing that again
//! gives the same genesis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_protocol::Genesis;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(genesis) = Genesis::from_toml(text) else {
        return;
    };
    assert!(
        genesis.committees().is_ok(),
        "a validated genesis must form its committees"
    );
    for shard in genesis.shard_map.shard_ids() {
        let _ = genesis.accounts_on(shard).count();
    }
    let again = Genesis::from_toml(&genesis.to_toml());
    assert_eq!(
        again.as_ref(),
        Ok(&genesis),
        "genesis does not survive to_toml/from_toml"
    );
});
