//! Codec robustness: malformed, truncated, oversized and hostile inputs are refused with an
//! error — never a panic, never a large allocation — and keys are checked on decode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fmt::Debug;
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shardnet_protocol::bounded::TooLong;
use shardnet_protocol::limits::*;
use shardnet_protocol::*;

fn block_bytes() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES
        .get_or_init(|| encode(&common::block(&common::Net::equal(1, 4))))
        .clone()
}

fn malformed<T: DeserializeOwned + Debug>(bytes: &[u8]) -> String {
    match decode::<T>(bytes) {
        Err(CodecError::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// A wire message: the version byte, then `parts` concatenated.
fn message(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn empty_input_is_refused() {
    assert_eq!(decode::<Block>(&[]), Err(CodecError::Empty));
    assert_eq!(decode::<Hash32>(&[]), Err(CodecError::Empty));
    // A version byte and nothing else is a truncated body.
    malformed::<Block>(&[WIRE_VERSION]);
    malformed::<Round>(&[WIRE_VERSION]);
}

#[test]
fn wrong_version_byte_is_refused() {
    let mut bytes = block_bytes();
    for v in [0u8, WIRE_VERSION + 1, 0x7f, 0xff] {
        bytes[0] = v;
        assert_eq!(
            decode::<Block>(&bytes),
            Err(CodecError::Version { found: v })
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = block_bytes();
    bytes.push(0);
    assert_eq!(decode::<Block>(&bytes), Err(CodecError::TrailingBytes(1)));
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(decode::<Block>(&bytes), Err(CodecError::TrailingBytes(5)));
    let mut round = encode(&Round(3));
    round.push(9);
    assert_eq!(decode::<Round>(&round), Err(CodecError::TrailingBytes(1)));
}

#[test]
fn every_truncation_of_a_block_is_refused() {
    let bytes = block_bytes();
    assert!(decode::<Block>(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(
            decode::<Block>(&bytes[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
}

#[test]
fn message_above_the_size_limit_is_refused() {
    let bytes = vec![WIRE_VERSION; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        decode::<Block>(&bytes),
        Err(CodecError::TooLarge {
            len: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
}

/// Length prefixes claiming astronomically many items fail at once, before any allocation
/// (an attempted allocation of 2^60 items would abort the test process).
#[test]
fn huge_length_prefixes_are_refused_without_allocating() {
    for claim in [
        1u64 << 60,
        u64::MAX,
        (1 << 32) + 1,
        MAX_MESSAGE_BYTES as u64 + 1,
    ] {
        let len = claim.to_le_bytes();
        // Payload: transactions claim `claim` entries.
        malformed::<Payload>(&message(&[&len]));
        // Payload: no transactions, segments claim `claim` entries.
        malformed::<Payload>(&message(&[&0u64.to_le_bytes(), &len]));
        // One transaction claiming `claim` bytes.
        malformed::<RawTransaction>(&message(&[&len]));
        // A multiproof whose hash list claims `claim` entries.
        malformed::<MultiProof>(&message(&[&5u64.to_le_bytes(), &len]));
        // A QC whose bitmap words claim `claim` entries.
        let data = encode(&common::vote_data(b"x", 1, 1));
        malformed::<QuorumCert>(&message(&[&data[1..], &4u16.to_le_bytes(), &len]));
        // A TC whose round list claims `claim` entries.
        let signers = encode(&SignerBitmap::new(4));
        malformed::<TimeoutCert>(&message(&[&7u64.to_le_bytes(), &signers[1..], &len]));
    }
}

#[test]
fn oversize_bounded_bytes_are_refused() {
    // `BoundedBytes` are a length and the bytes, exactly like a `Vec<u8>`.
    let ok = encode(&vec![7u8; MAX_REASON_BYTES]);
    let too_long = encode(&vec![7u8; MAX_REASON_BYTES + 1]);
    assert_eq!(
        decode::<BoundedBytes<MAX_REASON_BYTES>>(&ok).unwrap().len(),
        MAX_REASON_BYTES
    );
    assert!(malformed::<BoundedBytes<MAX_REASON_BYTES>>(&too_long).contains("exceed"));
    // The same inside a message: `Outcome::Rejected` is variant 4 carrying a reason.
    assert!(decode::<Outcome>(&encode(&(4u32, vec![1u8; MAX_REASON_BYTES]))).is_ok());
    malformed::<Outcome>(&encode(&(4u32, vec![1u8; MAX_REASON_BYTES + 1])));

    let tx = encode(&vec![0u8; MAX_TRANSACTION_BYTES + 1]);
    malformed::<RawTransaction>(&tx);

    assert_eq!(
        BoundedBytes::<3>::try_from_vec(vec![0; 4]),
        Err(TooLong { len: 4, max: 3 })
    );
}

#[test]
fn oversize_bounded_vecs_are_refused() {
    // A payload of `MAX_BLOCK_TRANSACTIONS` empty transactions is fine; one more is not.
    let at_limit = encode(&(
        vec![Vec::<u8>::new(); MAX_BLOCK_TRANSACTIONS],
        Vec::<u8>::new(),
    ));
    assert_eq!(
        decode::<Payload>(&at_limit).unwrap().transactions.len(),
        MAX_BLOCK_TRANSACTIONS
    );
    let over = encode(&(
        vec![Vec::<u8>::new(); MAX_BLOCK_TRANSACTIONS + 1],
        Vec::<u8>::new(),
    ));
    assert!(malformed::<Payload>(&over).contains("exceed"));

    // A multiproof with one hash too many.
    let hashes = vec![[0u8; 32]; MAX_PROOF_HASHES + 1];
    malformed::<MultiProof>(&encode(&(3u64, hashes)));

    // A signer bitmap with more words than the largest committee needs.
    let words = MAX_COMMITTEE_SIZE.div_ceil(64);
    assert!(decode::<SignerBitmap>(&encode(&(1024u16, vec![0u64; words]))).is_ok());
    malformed::<SignerBitmap>(&encode(&(1024u16, vec![0u64; words + 1])));

    let mut v = BoundedVec::<u8, 2>::try_from_vec(vec![1, 2]).unwrap();
    assert_eq!(v.try_push(3), Err(TooLong { len: 3, max: 2 }));
    assert_eq!(
        BoundedVec::<u8, 2>::try_from_vec(vec![1, 2, 3]),
        Err(TooLong { len: 3, max: 2 })
    );
}

/// Finds a 32-byte string that is not the encoding of any curve point.
fn not_a_point() -> [u8; 32] {
    (2u8..=255)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| PublicKey::from_bytes(b) == Err(KeyError::InvalidKey))
        .expect("some small y is off the curve")
}

/// Encodings of small-order points: the identity, the point of order 2 (y = -1), a point of
/// order 4 (y = 0), and the identity with the sign bit set (a non-canonical encoding).
const WEAK_KEYS: [[u8; 32]; 4] = {
    let identity = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };
    let order_two = {
        let mut b = [0xff; 32];
        b[0] = 0xec;
        b[31] = 0x7f;
        b
    };
    let negative_identity = {
        let mut b = identity;
        b[31] = 0x80;
        b
    };
    [identity, order_two, [0u8; 32], negative_identity]
};

#[test]
fn invalid_public_keys_are_refused() {
    let bad = not_a_point();
    assert_eq!(PublicKey::from_bytes(&bad), Err(KeyError::InvalidKey));
    assert!(malformed::<PublicKey>(&encode(&bad)).contains("not a valid"));
}

#[test]
fn weak_public_keys_are_refused() {
    for weak in WEAK_KEYS {
        assert_eq!(
            PublicKey::from_bytes(&weak),
            Err(KeyError::WeakKey),
            "{}",
            hex::encode(weak)
        );
        assert!(malformed::<PublicKey>(&encode(&weak)).contains("weak"));
    }
    // The same key inside a committee member record.
    let member = encode(&(WEAK_KEYS[0], 10u64, "127.0.0.1:1"));
    malformed::<Member>(&member);
}

#[test]
fn valid_public_keys_decode() {
    for k in common::keys(3, 8) {
        let pk = k.public_key();
        assert_eq!(PublicKey::from_bytes(&pk.to_bytes()), Ok(pk));
        assert_eq!(decode::<PublicKey>(&encode(&pk.to_bytes())), Ok(pk));
    }
}

#[test]
fn enum_tags_and_options_outside_their_range_are_refused() {
    // LaneClass has two variants.
    assert_eq!(decode::<LaneClass>(&encode(&1u32)), Ok(LaneClass::Response));
    malformed::<LaneClass>(&encode(&2u32));
    malformed::<LaneClass>(&encode(&u32::MAX));
    // Outcome has five.
    malformed::<Outcome>(&encode(&5u32));
    // An Option tag is 0 or 1.
    assert_eq!(
        decode::<Option<Height>>(&encode(&(1u8, 9u64))),
        Ok(Some(Height(9)))
    );
    malformed::<Option<Height>>(&encode(&(2u8, 9u64)));
    // Addresses and U256 carry an explicit length that must be exact.
    assert!(decode::<Address>(&encode(&vec![1u8; 20])).is_ok());
    malformed::<Address>(&encode(&vec![1u8; 19]));
    malformed::<Address>(&encode(&vec![1u8; 21]));
    assert!(decode::<U256>(&encode(&vec![1u8; 32])).is_ok());
    malformed::<U256>(&encode(&vec![1u8; 31]));
    malformed::<U256>(&encode(&vec![1u8; 33]));
}

/// If arbitrary bytes decode, they are the canonical encoding of what they decode to.
fn no_panic_and_canonical<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    if let Ok(value) = decode::<T>(bytes) {
        prop_assert_eq!(encode(&value), bytes);
    }
    Ok(())
}

/// Random bytes: half the time with a correct version byte so the body parser is reached.
fn random_message() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), vec(any::<u8>(), 0..700)).prop_map(|(fix, mut bytes)| {
        if fix && !bytes.is_empty() {
            bytes[0] = WIRE_VERSION;
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in random_message()) {
        no_panic_and_canonical::<Block>(&bytes)?;
        no_panic_and_canonical::<QuorumCert>(&bytes)?;
        no_panic_and_canonical::<TimeoutCert>(&bytes)?;
        no_panic_and_canonical::<LaneSegment>(&bytes)?;
        no_panic_and_canonical::<Timeout>(&bytes)?;
        no_panic_and_canonical::<MultiProof>(&bytes)?;
        no_panic_and_canonical::<CrossShardMessage>(&bytes)?;
    }

    /// Fixed-size types decode from any body of the right length, always canonically.
    #[test]
    fn fixed_size_types_are_canonical(body in vec(any::<u8>(), 64)) {
        no_panic_and_canonical::<VoteData>(&message(&[&body[..48]]))?;
        no_panic_and_canonical::<Hash32>(&message(&[&body[..32]]))?;
        no_panic_and_canonical::<Signature>(&message(&[&body]))?;
        no_panic_and_canonical::<PublicKey>(&message(&[&body[..32]]))?;
        prop_assert!(decode::<VoteData>(&message(&[&body[..48]])).is_ok());
        prop_assert!(decode::<Signature>(&message(&[&body])).is_ok());
    }

    /// Corrupting a valid block anywhere (one to four bytes) never panics, and whatever
    /// still decodes is canonical.
    #[test]
    fn corrupted_blocks_never_panic(
        flips in vec((any::<Index>(), 1u8..), 1..4),
        cut in any::<Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = block_bytes();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        no_panic_and_canonical::<Block>(&bytes)?;
    }
}
