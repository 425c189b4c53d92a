//! A lane pull and its answer (CS-16): decode, canonicality; the range check must not panic;
//! every answered segment's finality proof against the fixed committees must return `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committees, decode_canonical};
use shardnet_protocol::{LanePull, LanePullResponse};

fuzz_target!(|data: &[u8]| {
    if let Some(pull) = decode_canonical::<LanePull>(data) {
        let _ = pull.is_valid();
    }
    let Some(answer) = decode_canonical::<LanePullResponse>(data) else {
        return;
    };
    for segment in answer.segments.iter() {
        assert!(
            segment.proof.verify(committees()).is_err(),
            "forged finality proof verified"
        );
    }
});
