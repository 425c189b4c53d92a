//! Validator identities as TLS certificates (`specs/transport.md` §1).
//!
//! A validator's TLS certificate is self-signed with its ed25519 consensus key (T-1.1).
//! Nothing in the certificate but the key matters: peers are authenticated by checking that
//! the certificate's key is a registered validator and that the TLS 1.3 handshake is signed
//! with it (T-1.3); names, dates and the self-signature are not used.

use ed25519_dalek::Signer;
use rcgen::{CertificateParams, DistinguishedName, DnType, SerialNumber, SignatureAlgorithm};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use shardnet_protocol::{PublicKey, SecretKey};

use crate::error::TransportError;

/// DER of an ed25519 `SubjectPublicKeyInfo` up to the 32 key bytes (RFC 8410 §4):
/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) }`.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// DER of a PKCS#8 v1 `PrivateKeyInfo` for ed25519 up to the 32-byte seed (RFC 8410 §7).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A node's TLS identity: its certificate and private key, made from its validator key.
pub(crate) struct Identity {
    pub(crate) public_key: PublicKey,
    pub(crate) cert: CertificateDer<'static>,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({:?})", self.public_key)
    }
}

impl Identity {
    /// The certificate for `secret` (T-1.1). Deterministic: the same key always gives the
    /// same certificate bytes (ed25519 signatures are deterministic, every field is fixed).
    pub(crate) fn new(secret: &SecretKey) -> Result<Self, TransportError> {
        let public_key = secret.public_key();
        let signer = DalekSigner {
            key: secret.dalek(),
            public: public_key.to_bytes(),
        };
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            format!("shardnet validator {public_key}"),
        );
        params.distinguished_name = name;
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&public_key.to_bytes()[..8]);
        // Positive and non-zero, as X.509 asks.
        params.serial_number = Some(SerialNumber::from((u64::from_be_bytes(serial) >> 1).max(1)));
        let cert = params
            .self_signed(&signer)
            .map_err(|e| TransportError::Setup(format!("certificate: {e}")))?;
        let mut pkcs8 = Vec::with_capacity(48);
        pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
        pkcs8.extend_from_slice(&secret.to_bytes());
        Ok(Self {
            public_key,
            cert: cert.der().clone(),
            pkcs8,
        })
    }

    /// The private key in the form rustls loads (PKCS#8 v1).
    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }
}

/// rcgen signs the certificate through this, so the ed25519 key never leaves dalek.
struct DalekSigner<'a> {
    key: &'a ed25519_dalek::SigningKey,
    public: [u8; 32],
}

impl rcgen::PublicKeyData for DalekSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for DalekSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// Why a certificate was not accepted as a validator identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CertError {
    /// The DER does not have the shape of an X.509 certificate.
    #[error("malformed certificate")]
    Malformed,
    /// The certificate's key is not an ed25519 key.
    #[error("certificate key is not ed25519")]
    NotEd25519,
    /// The ed25519 key is invalid or weak (small order).
    #[error("certificate key is invalid")]
    BadKey,
}

/// The validator key in a peer's certificate (T-1.2): the certificate must be DER X.509 whose
/// `subjectPublicKeyInfo` is exactly an ed25519 key, and the key must be a valid point of
/// large order. Never panics, whatever the bytes.
pub(crate) fn key_from_cert(cert: &[u8]) -> Result<PublicKey, CertError> {
    let (tag, certificate, _) = tlv(cert)?;
    if tag != 0x30 {
        return Err(CertError::Malformed);
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != 0x30 {
        return Err(CertError::Malformed);
    }
    // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity,
    // subject, subjectPublicKeyInfo, ...
    let mut rest = tbs;
    let mut fields = 0;
    loop {
        let (tag, _, next) = tlv(rest)?;
        let whole = rest
            .get(..rest.len() - next.len())
            .ok_or(CertError::Malformed)?;
        rest = next;
        if tag == 0xa0 && fields == 0 {
            continue;
        }
        fields += 1;
        if fields == 6 {
            let key = whole
                .strip_prefix(&ED25519_SPKI_PREFIX[..])
                .ok_or(CertError::NotEd25519)?;
            let key: &[u8; 32] = key.try_into().map_err(|_| CertError::NotEd25519)?;
            return PublicKey::from_bytes(key).map_err(|_| CertError::BadKey);
        }
    }
}

/// One DER tag-length-value: `(tag, value, rest)`. Single-byte tags, definite lengths of at
/// most four bytes.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), CertError> {
    let (&tag, input) = input.split_first().ok_or(CertError::Malformed)?;
    let (&first, mut input) = input.split_first().ok_or(CertError::Malformed)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(CertError::Malformed);
        }
        let (bytes, rest) = input.split_at_checked(n).ok_or(CertError::Malformed)?;
        input = rest;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (value, rest) = input.split_at_checked(len).ok_or(CertError::Malformed)?;
    Ok((tag, value, rest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn certificate_carries_the_validator_key() {
        let secret = key(7);
        let id = Identity::new(&secret).unwrap();
        assert_eq!(key_from_cert(&id.cert).unwrap(), secret.public_key());
    }

    #[test]
    fn certificate_is_deterministic() {
        let a = Identity::new(&key(9)).unwrap();
        let b = Identity::new(&key(9)).unwrap();
        assert_eq!(a.cert, b.cert);
        assert_ne!(a.cert, Identity::new(&key(10)).unwrap().cert);
    }

    #[test]
    fn certificate_parses_with_webpki_and_rustls_loads_the_key() {
        let id = Identity::new(&key(3)).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(id.private_key())
            .unwrap();
        assert_eq!(signing.algorithm(), rustls::SignatureAlgorithm::ED25519);
    }

    #[test]
    fn truncated_or_garbage_certificates_are_refused_without_panic() {
        let id = Identity::new(&key(5)).unwrap();
        for len in 0..id.cert.len() {
            assert!(
                key_from_cert(&id.cert[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
        let mut flipped = id.cert.to_vec();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = key_from_cert(&flipped);
            flipped[i] ^= 0xff;
        }
        assert!(key_from_cert(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
