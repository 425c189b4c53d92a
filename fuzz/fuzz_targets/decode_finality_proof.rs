//! A finality proof: decode, canonicality, and `verify` against the fixed committees, which
//! must return `Err` (the fuzzer cannot sign the child QC).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committees, decode_canonical};
use shardnet_protocol::FinalityProof;

fuzz_target!(|data: &[u8]| {
    let Some(proof) = decode_canonical::<FinalityProof>(data) else {
        return;
    };
    let _ = proof.header.hash();
    let _ = proof.certified().map(|c| c.hash());
    assert!(
        proof.verify(committees()).is_err(),
        "forged finality proof verified"
    );
});
