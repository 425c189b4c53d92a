//! A timeout from the network: decode, canonicality, and verification of the timeout and its
//! embedded QC against the fixed committee (both must return `Err`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committee, decode_canonical};
use shardnet_protocol::Timeout;

fuzz_target!(|data: &[u8]| {
    let Some(timeout) = decode_canonical::<Timeout>(data) else {
        return;
    };
    let _ = timeout.data();
    assert!(
        timeout.verify(committee()).is_err(),
        "forged timeout verified"
    );
    assert!(
        timeout.high_qc.verify(committee()).is_err(),
        "forged QC verified"
    );
});
