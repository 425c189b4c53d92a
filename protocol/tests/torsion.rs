//! Regression: a signature with a small-order component in R (crafted by the signer itself)
//! must get the same verdict from single verification (`Vote::verify`) and from certificate
//! batch verification (`QuorumCert::verify`). With dalek's cofactorless batch check the QC
//! was accepted about half the time while the vote was always rejected; under ZIP-215 both
//! paths use the cofactored equation and agree (specs/wire.md W-2.6).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};
use shardnet_protocol::crypto::signing_preimage;
use shardnet_protocol::*;

#[test]
fn single_and_batch_verification_agree_on_torsion_signatures() {
    let seeds: Vec<[u8; 32]> = (1..=4u8).map(|i| [i; 32]).collect();
    let keys: Vec<SecretKey> = seeds.iter().map(SecretKey::from_bytes).collect();
    let members = keys
        .iter()
        .map(|k| Member {
            public_key: k.public_key(),
            stake: Stake(10),
            network_address: "x:1".into(),
        })
        .collect();
    let c = Committee::new(ChainId(7), ShardId(0), Epoch(0), members).unwrap();
    let data = VoteData {
        block: BlockHash(Hash32::blake3(b"b")),
        round: Round(3),
        height: Height(2),
    };
    let pre = signing_preimage(Domain::Vote, &c.signing_context(), &data);
    // Member 0's secret scalar, derived as RFC 8032 does.
    let h = Sha512::digest(seeds[0]);
    let mut a_bytes = [0u8; 32];
    a_bytes.copy_from_slice(&h[..32]);
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let a_pub = keys[0].public_key().to_bytes();
    for torsion in [EIGHT_TORSION[4], EIGHT_TORSION[2], EIGHT_TORSION[1]] {
        for attempt in 0u64..16 {
            let r = Scalar::from(1000 + attempt);
            let big_r = (r * B + torsion).compress();
            let mut hasher = Sha512::new();
            hasher.update(big_r.as_bytes());
            hasher.update(a_pub);
            hasher.update(&pre);
            let s = r + Scalar::from_hash(hasher) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(big_r.as_bytes());
            sig[32..].copy_from_slice(s.as_bytes());
            let crafted = Vote {
                data,
                signer: ValidatorIndex(0),
                signature: Signature::from_bytes(&sig),
            };
            let mut votes = vec![crafted.clone()];
            votes.extend((1..3).map(|i| Vote::sign(&c, &keys[i], ValidatorIndex(i as u16), data)));
            let qc = QuorumCert::aggregate(&c, data, &votes);
            assert_eq!(
                crafted.verify(&c).is_ok(),
                qc.verify(&c).is_ok(),
                "single and batch verification disagree (attempt {attempt})"
            );
        }
    }
}
