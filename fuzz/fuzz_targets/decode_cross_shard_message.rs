//! A cross-shard message: decode, canonicality, and its outbox leaf hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::decode_canonical;
use shardnet_protocol::CrossShardMessage;

fuzz_target!(|data: &[u8]| {
    let Some(message) = decode_canonical::<CrossShardMessage>(data) else {
        return;
    };
    let _ = message.leaf_hash();
});
