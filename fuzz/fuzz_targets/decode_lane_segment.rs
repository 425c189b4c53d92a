//! A lane segment from another shard: decode, canonicality, its finality proof against the
//! fixed committees (must return `Err`), and its outbox multiproof against the header's outbox
//! root with the messages' leaf hashes (may pass or fail, must not panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{committees, decode_canonical};
use shardnet_protocol::LaneSegment;

fuzz_target!(|data: &[u8]| {
    let Some(segment) = decode_canonical::<LaneSegment>(data) else {
        return;
    };
    assert!(
        segment.proof.verify(committees()).is_err(),
        "forged finality proof verified"
    );

    // Message i sits at outbox position first_leaf + i; a segment whose positions overflow
    // u64 cannot be proven (checked arithmetic: the harness must not panic on its own).
    let items: Option<Vec<(u64, _)>> = segment
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Some((
                segment.first_leaf.checked_add(u64::try_from(i).ok()?)?,
                m.leaf_hash(),
            ))
        })
        .collect();
    if let Some(items) = items {
        let root = segment.proof.header.execution.outbox_root;
        let _ = segment.outbox_proof.verify(&root, &items);
    }
});
