//! Per-node QUIC secrets derived from the validator key, and seeded connection ids
//! (`specs/transport.md` §6).
//!
//! The stateless-reset key and the connection-id key are derived from the node's secret
//! (T-6.4), so they survive a restart: when a restarted node receives a packet of one of its
//! old connections, it recognises the connection id as its own and answers with a stateless
//! reset that the peer accepts, and the peer learns of the restart within one round trip of
//! its next packet (keep-alives make that at most [`crate::limits::KEEP_ALIVE`]) instead of
//! after the idle timeout.

use std::sync::{Arc, Mutex};

use quinn::ConnectionId;
use quinn::crypto::{CryptoError, HmacKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use shardnet_protocol::SecretKey;

const RESET_CONTEXT: &str = "shardnet transport v1 stateless reset key";
const CID_CONTEXT: &str = "shardnet transport v1 connection id key";

/// Bytes of random nonce in a connection id.
const CID_NONCE_BYTES: usize = 8;
/// Bytes of keyed tag after the nonce.
const CID_TAG_BYTES: usize = 8;
/// Length of every connection id this node issues.
pub(crate) const CID_BYTES: usize = CID_NONCE_BYTES + CID_TAG_BYTES;

/// The stateless-reset HMAC: blake3 keyed hash under a key derived from the node secret.
pub(crate) struct ResetKey([u8; 32]);

impl ResetKey {
    pub(crate) fn derive(secret: &SecretKey) -> Self {
        Self(blake3::derive_key(RESET_CONTEXT, &secret.to_bytes()))
    }
}

impl HmacKey for ResetKey {
    fn sign(&self, data: &[u8], signature_out: &mut [u8]) {
        let tag = blake3::keyed_hash(&self.0, data);
        let n = signature_out.len().min(32);
        signature_out[..n].copy_from_slice(&tag.as_bytes()[..n]);
    }

    fn signature_len(&self) -> usize {
        32
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        let expected = blake3::keyed_hash(&self.0, data);
        let given: [u8; 32] = signature.try_into().map_err(|_| CryptoError)?;
        // blake3::Hash equality is constant time.
        if expected == blake3::Hash::from(given) {
            Ok(())
        } else {
            Err(CryptoError)
        }
    }
}

/// Issues connection ids `nonce ‖ tag`, where the nonce comes from a seeded RNG and the tag
/// is a keyed hash of the nonce under the node's connection-id key (T-6.4). `validate`
/// recognises ids issued before a restart, so their packets are answered with a stateless
/// reset, while random garbage is dropped silently.
#[derive(Clone)]
pub(crate) struct CidGenerator {
    key: [u8; 32],
    rng: Arc<Mutex<ChaCha20Rng>>,
}

impl CidGenerator {
    pub(crate) fn new(secret: &SecretKey, seed: [u8; 32]) -> Self {
        Self {
            key: blake3::derive_key(CID_CONTEXT, &secret.to_bytes()),
            rng: Arc::new(Mutex::new(ChaCha20Rng::from_seed(seed))),
        }
    }

    fn tag(&self, nonce: &[u8]) -> [u8; CID_TAG_BYTES] {
        let mut tag = [0u8; CID_TAG_BYTES];
        tag.copy_from_slice(&blake3::keyed_hash(&self.key, nonce).as_bytes()[..CID_TAG_BYTES]);
        tag
    }
}

impl quinn::ConnectionIdGenerator for CidGenerator {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut cid = [0u8; CID_BYTES];
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(&mut cid[..CID_NONCE_BYTES]);
        let tag = self.tag(&cid[..CID_NONCE_BYTES]);
        cid[CID_NONCE_BYTES..].copy_from_slice(&tag);
        ConnectionId::new(&cid)
    }

    fn validate(&self, cid: &ConnectionId) -> Result<(), quinn_proto::InvalidCid> {
        let bytes: &[u8] = cid;
        if bytes.len() == CID_BYTES
            && self.tag(&bytes[..CID_NONCE_BYTES]) == bytes[CID_NONCE_BYTES..]
        {
            Ok(())
        } else {
            Err(quinn_proto::InvalidCid)
        }
    }

    fn cid_len(&self) -> usize {
        CID_BYTES
    }

    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A seeded source of the client's initial destination connection ids, so dials are
/// reproducible in simulation.
pub(crate) fn initial_cid_provider(seed: [u8; 32]) -> Arc<dyn Fn() -> ConnectionId + Send + Sync> {
    let rng = Mutex::new(ChaCha20Rng::from_seed(seed));
    Arc::new(move || {
        let mut cid = [0u8; 20];
        rng.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(&mut cid);
        ConnectionId::new(&cid)
    })
}

/// A sub-seed for one purpose, so the RNG streams of different uses never coincide.
pub(crate) fn subseed(seed: &[u8; 32], purpose: &str) -> [u8; 32] {
    blake3::keyed_hash(seed, purpose.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use quinn::ConnectionIdGenerator;

    use super::*;

    #[test]
    fn cids_issued_before_a_restart_still_validate() {
        let secret = SecretKey::from_bytes(&[4; 32]);
        let mut before = CidGenerator::new(&secret, [1; 32]);
        let after = CidGenerator::new(&secret, [2; 32]);
        let cid = before.generate_cid();
        assert!(after.validate(&cid).is_ok());
        let other = CidGenerator::new(&SecretKey::from_bytes(&[5; 32]), [1; 32]);
        assert!(other.validate(&cid).is_err());
        assert!(after.validate(&ConnectionId::new(&[0; CID_BYTES])).is_err());
    }

    #[test]
    fn reset_key_is_stable_and_verifies() {
        let secret = SecretKey::from_bytes(&[4; 32]);
        let (a, b) = (ResetKey::derive(&secret), ResetKey::derive(&secret));
        let mut sig = [0u8; 32];
        a.sign(b"cid", &mut sig);
        assert!(b.verify(b"cid", &sig).is_ok());
        assert!(b.verify(b"cie", &sig).is_err());
        assert!(b.verify(b"cid", &sig[..16]).is_err());
    }
}
