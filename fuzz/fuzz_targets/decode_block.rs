//! A block from the network: decode, canonicality, hashing, well-formedness, and every
//! segment's finality proof against the fixed committees (must fail: nobody can sign).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committees, decode_canonical};
use shardnet_protocol::Block;

fuzz_target!(|data: &[u8]| {
    let Some(block) = decode_canonical::<Block>(data) else {
        return;
    };
    let _ = block.hash();
    let _ = block.payload.root();
    let _ = block.is_well_formed();
    let _ = block.payload.is_empty();
    for segment in block.payload.segments.iter() {
        assert!(
            segment.proof.verify(committees()).is_err(),
            "forged finality proof verified"
        );
    }
});
