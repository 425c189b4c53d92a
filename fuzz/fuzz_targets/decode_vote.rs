//! A vote from the network: decode, canonicality, and verification against the fixed
//! committee (must return `Err`: the fuzzer holds no member key).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committee, decode_canonical};
use shardnet_protocol::Vote;

fuzz_target!(|data: &[u8]| {
    let Some(vote) = decode_canonical::<Vote>(data) else {
        return;
    };
    assert!(vote.verify(committee()).is_err(), "forged vote verified");
});
