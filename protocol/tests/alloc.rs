//! Decoding never trusts a length prefix with memory: a short message claiming a long byte
//! field fails before anything near the claimed size is allocated (`specs/wire.md` W-4.2).
//!
//! This binary installs a global allocator that records, per thread, the largest single
//! allocation requested, so the tests can bound what a decode allocated.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use serde::de::DeserializeOwned;
use shardnet_protocol::limits::{MAX_REASON_BYTES, MAX_TRANSACTION_BYTES};
use shardnet_protocol::*;

struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches a const-initialized thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The largest single allocation made by `f` on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(Cell::get)
}

/// A message: version byte, `prefix`, a length claiming `claim` bytes, and 4 bytes of data.
fn claiming(prefix: &[u8], claim: u64) -> Vec<u8> {
    let mut m = vec![WIRE_VERSION];
    m.extend_from_slice(prefix);
    m.extend_from_slice(&claim.to_le_bytes());
    m.extend_from_slice(&[1, 2, 3, 4]);
    m
}

/// Decoding `message` as `T` fails, allocating less than 1 MiB at a time.
fn refused_cheaply<T: DeserializeOwned>(name: &str, message: &[u8]) {
    let mut failed = false;
    let largest = largest_allocation(|| failed = decode::<T>(message).is_err());
    assert!(failed, "{name}: decoded");
    assert!(
        largest < 1 << 20,
        "{name}: a {}-byte message allocated {largest} bytes at once",
        message.len()
    );
}

#[test]
fn short_messages_claiming_long_byte_fields_allocate_little() {
    const CLAIM: u64 = 10_000_000;
    refused_cheaply::<RawTransaction>("RawTransaction", &claiming(&[], CLAIM));
    refused_cheaply::<Outcome>("Outcome::Rejected", &claiming(&4u32.to_le_bytes(), CLAIM));
    refused_cheaply::<Outcome>("Outcome::Ok", &claiming(&0u32.to_le_bytes(), CLAIM));
    refused_cheaply::<Payload>("Payload", &claiming(&1u64.to_le_bytes(), CLAIM));
}

#[test]
fn byte_fields_over_their_bound_are_refused_before_copying() {
    // A complete message whose reason is one byte over its bound.
    let mut m = vec![WIRE_VERSION];
    m.extend_from_slice(&4u32.to_le_bytes());
    m.extend_from_slice(&encode(&vec![0u8; MAX_REASON_BYTES + 1])[1..]);
    let largest = largest_allocation(|| assert!(decode::<Outcome>(&m).is_err()));
    assert!(
        largest <= 1024,
        "allocated {largest} bytes for a {}-byte reason",
        MAX_REASON_BYTES + 1
    );

    // Within bounds, the bytes are copied once.
    let tx = encode(&vec![7u8; MAX_TRANSACTION_BYTES]);
    let largest = largest_allocation(|| {
        assert_eq!(
            decode::<RawTransaction>(&tx).unwrap().len(),
            MAX_TRANSACTION_BYTES
        );
    });
    assert!(largest >= MAX_TRANSACTION_BYTES);
}
