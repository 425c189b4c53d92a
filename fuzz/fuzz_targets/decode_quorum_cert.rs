//! A quorum certificate from the network: decode, canonicality, and `verify` against the fixed
//! 4-member committee, which must return `Err` (never panic, never accept a forgery).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committee, decode_canonical};
use shardnet_protocol::QuorumCert;

fuzz_target!(|data: &[u8]| {
    let Some(qc) = decode_canonical::<QuorumCert>(data) else {
        return;
    };
    let _ = (qc.block(), qc.round());
    assert!(qc.verify(committee()).is_err(), "forged QC verified");
});
