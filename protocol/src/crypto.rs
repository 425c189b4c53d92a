//! ed25519 keys and domain-separated signing (`specs/wire.md` §2).
//!
//! Every signature covers a preimage that starts with a per-kind [`Domain`] tag and the
//! [`SigningContext`] (chain id, shard, epoch), then the canonical encoding of the signed body.
//! A vote can therefore never be replayed as a timeout, on another shard, in another epoch or
//! on another chain.

use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

use crate::codec::canonical_bytes;
use crate::serde_bytes::{deserialize_fixed, serialize_fixed};
use crate::types::{ChainId, Epoch, ShardId};

/// What kind of statement a signature makes. The tag is the first thing signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A leader's proposal of a block in a round.
    Proposal,
    /// A vote for a block in a round.
    Vote,
    /// A timeout of a round, with the signer's highest QC round.
    Timeout,
}

impl Domain {
    /// The tag bytes (W-2.1). Each is distinct and none is a prefix of another.
    pub const fn tag(self) -> &'static [u8; 24] {
        match self {
            Self::Proposal => b"shardnet/v1/proposal\0\0\0\0",
            Self::Vote => b"shardnet/v1/vote\0\0\0\0\0\0\0\0",
            Self::Timeout => b"shardnet/v1/timeout\0\0\0\0\0",
        }
    }
}

/// Where a signature is valid: one chain, one shard, one epoch (W-2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SigningContext {
    /// The network.
    pub chain_id: ChainId,
    /// The shard whose committee signs.
    pub shard: ShardId,
    /// The committee's epoch.
    pub epoch: Epoch,
}

/// The exact bytes that are signed for `body` in `domain` and `ctx` (W-2.3).
pub fn signing_preimage<T: Serialize + ?Sized>(
    domain: Domain,
    ctx: &SigningContext,
    body: &T,
) -> Vec<u8> {
    let body = canonical_bytes(body);
    let mut out = Vec::with_capacity(24 + 8 + 2 + 8 + body.len());
    out.extend_from_slice(domain.tag());
    out.extend_from_slice(&ctx.chain_id.0.to_le_bytes());
    out.extend_from_slice(&ctx.shard.0.to_le_bytes());
    out.extend_from_slice(&ctx.epoch.0.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Why a key or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a valid Edwards point.
    #[error("not a valid ed25519 public key")]
    InvalidKey,
    /// The point has small order: anyone could produce signatures that verify under it.
    #[error("weak (small-order) ed25519 public key")]
    WeakKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// A validator's signing key. Never serialized on the wire; stored only in key files.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from a cryptographic RNG (the caller chooses it: OS randomness in the
    /// binary, a seeded RNG in simulations).
    pub fn generate<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// The key from its 32-byte seed.
    pub fn from_bytes(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for key files.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        let key = self.0.verifying_key();
        PublicKey(key, key.to_edwards())
    }

    /// Signs `body` as a statement of kind `domain` in `ctx`.
    pub fn sign<T: Serialize + ?Sized>(
        &self,
        domain: Domain,
        ctx: &SigningContext,
        body: &T,
    ) -> Signature {
        Signature(self.0.sign(&signing_preimage(domain, ctx, body)))
    }

    /// The dalek key, for the transport's TLS certificate.
    pub fn dalek(&self) -> &SigningKey {
        &self.0
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self(SigningKey::from_bytes(&self.0.to_bytes()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?})", self.public_key())
    }
}

/// An ed25519 public key, checked on decode to be a valid point of large order.
///
/// Signatures are verified with the cofactored equation (W-2.6), for which the single and the
/// batch check accept exactly the same signatures: whether a certificate is valid never
/// depends on how it is checked. The decompressed point is kept so that batches need not
/// decompress keys again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey, EdwardsPoint);

impl PublicKey {
    /// Parses and checks 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidKey)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self(key, key.to_edwards()))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The dalek key.
    pub fn dalek(&self) -> &VerifyingKey {
        &self.0
    }

    /// Checks one signature (cofactored; W-2.6).
    pub fn verify<T: Serialize + ?Sized>(
        &self,
        domain: Domain,
        ctx: &SigningContext,
        body: &T,
        signature: &Signature,
    ) -> Result<(), KeyError> {
        self.verify_preimage(&signing_preimage(domain, ctx, body), signature)
    }

    /// Checks one signature over an already built preimage.
    pub fn verify_preimage(&self, preimage: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let p = parse(self, preimage, signature).ok_or(KeyError::BadSignature)?;
        // [8]([s]B − [k]A − R) = 0
        let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &(-self.1), &p.s);
        if (sb_minus_ka - p.r).mul_by_cofactor().is_identity() {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", hex::encode(&self.0.as_bytes()[..6]))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0.as_bytes()))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(self.0.as_bytes(), s)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = deserialize_fixed::<32, D>(d)?;
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature: 64 raw bytes on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) ed25519_dalek::Signature);

impl Signature {
    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }

    /// From 64 bytes. Any bytes parse; a malformed signature fails verification.
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }
}

impl std::hash::Hash for Signature {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bytes().hash(state);
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", hex::encode(&self.0.to_bytes()[..6]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0.to_bytes(), s)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed::<64, D>(d).map(|b| Self::from_bytes(&b))
    }
}

/// A signature split into what both equations use.
struct Parsed {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Decodes `R` and a canonical `s`, and computes `k = H(R ‖ A ‖ M)` (RFC 8032).
fn parse(key: &PublicKey, message: &[u8], signature: &Signature) -> Option<Parsed> {
    let bytes = signature.0.to_bytes();
    let (r_bytes, s_bytes) = bytes.split_at(32);
    let r_bytes: [u8; 32] = r_bytes.try_into().ok()?;
    let s_bytes: [u8; 32] = s_bytes.try_into().ok()?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.0.as_bytes());
    h.update(message);
    Some(Parsed {
        r,
        s,
        k: Scalar::from_hash(h),
    })
}

/// Verifies many signatures at once with the cofactored batch equation
/// `[8](−(Σ zᵢsᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ) = 0`, which holds (but with negligible probability)
/// iff every signature passes [`PublicKey::verify_preimage`] on its own (W-2.7). The 128-bit
/// coefficients `zᵢ` come from a ChaCha20 stream keyed by blake3 of every input: deterministic,
/// yet fixed only after the signatures are. On failure, checks them one by one and returns the
/// position of the first bad one.
pub fn verify_batch(
    preimages: &[Vec<u8>],
    signatures: &[Signature],
    keys: &[PublicKey],
) -> Result<(), usize> {
    debug_assert!(preimages.len() == signatures.len() && signatures.len() == keys.len());
    let mut transcript = blake3::Hasher::new_derive_key("shardnet/v1/batch-verify");
    let mut parsed = Vec::with_capacity(signatures.len());
    for (i, ((m, s), k)) in preimages.iter().zip(signatures).zip(keys).enumerate() {
        transcript.update(&(m.len() as u64).to_le_bytes());
        transcript.update(m);
        transcript.update(&s.0.to_bytes());
        transcript.update(k.0.as_bytes());
        parsed.push(parse(k, m, s).ok_or(i)?);
    }
    let seed = *transcript.finalize().as_bytes();
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::from_seed(seed);
    let zs: Vec<Scalar> = parsed
        .iter()
        .map(|_| {
            let mut z = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rng, &mut z);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect();
    let b_coefficient = -parsed.iter().zip(&zs).map(|(p, z)| z * p.s).sum::<Scalar>();
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().copied())
        .chain(parsed.iter().zip(&zs).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(parsed.iter().map(|p| p.r))
        .chain(keys.iter().map(|k| k.1));
    if EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
    {
        return Ok(());
    }
    for (i, ((m, s), k)) in preimages.iter().zip(signatures).zip(keys).enumerate() {
        if k.verify_preimage(m, s).is_err() {
            return Err(i);
        }
    }
    // The batch failed yet every signature passes alone: probability ~2^-128; reject.
    Err(0)
}
