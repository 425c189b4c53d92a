//! A timeout certificate from the network: decode, canonicality, and `verify` against the
//! fixed 4-member committee, which must return `Err` (never panic, never accept a forgery).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committee, decode_canonical};
use shardnet_protocol::TimeoutCert;

fuzz_target!(|data: &[u8]| {
    let Some(tc) = decode_canonical::<TimeoutCert>(data) else {
        return;
    };
    let _ = tc.highest_qc_round();
    assert!(tc.verify(committee()).is_err(), "forged TC verified");
});
