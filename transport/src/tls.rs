//! rustls configuration: ALPN, TLS 1.3 only, the ring provider, and the verifiers that admit
//! only registered validators (`specs/transport.md` §1).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use shardnet_protocol::PublicKey;

use crate::access::Access;
use crate::error::TransportError;
use crate::identity::{Identity, key_from_cert};

/// The ALPN protocol name, which carries the transport's version (T-1.5). A peer that does
/// not offer exactly this name fails the handshake.
pub const ALPN: &[u8] = b"shardnet-transport/1";

/// The one crypto provider the transport uses: ring, installed explicitly so the process
/// default (which may be unset, or ambiguous when both ring and aws-lc-rs are linked) never
/// matters.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS server name used to dial `key` (T-1.4): the key in hex, split into two DNS labels
/// of 32 characters (a label holds at most 63), under `.shardnet`. The client's verifier
/// checks that the server's certificate holds exactly this key.
pub(crate) fn server_name_for(key: &PublicKey) -> String {
    let hex = hex_lower(&key.to_bytes());
    let (a, b) = hex.split_at(32);
    format!("{a}.{b}.shardnet")
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Checks a peer certificate chain against the registry: exactly one certificate (no
/// intermediates), an ed25519 key, and that key admitted by `access` (registered, not
/// blocked, not our own; T-1.2, T-1.3).
fn admit(
    access: &Access,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<PublicKey, rustls::Error> {
    if !intermediates.is_empty() {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ));
    }
    let key = key_from_cert(end_entity)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    if !access.admits(&key) {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ));
    }
    Ok(key)
}

/// Verifies both ends of a handshake against the validator registry.
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    access: Arc<Access>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    pub(crate) fn new(access: Arc<Access>) -> Self {
        Self {
            access,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    fn verify13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // T-1.3: only ed25519 handshake signatures, checked against the certificate's key.
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = admit(&self.access, end_entity, intermediates)?;
        // T-1.4: the server must be the validator we dialed, not just any validator.
        let ServerName::DnsName(name) = server_name else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        };
        if name.as_ref() != server_name_for(&key) {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        admit(&self.access, end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn setup(e: impl std::fmt::Display) -> TransportError {
    TransportError::Setup(e.to_string())
}

/// The QUIC client crypto: TLS 1.3, our certificate as client identity, the registry verifier,
/// no session resumption (every handshake authenticates both keys afresh, T-1.6).
pub(crate) fn client_config(
    identity: &Identity,
    verifier: Arc<PeerVerifier>,
) -> Result<QuicClientConfig, TransportError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![identity.cert.clone()], identity.private_key())
        .map_err(setup)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    tls.enable_early_data = false;
    QuicClientConfig::try_from(tls).map_err(setup)
}

/// The QUIC server crypto: TLS 1.3, client certificates mandatory and checked against the
/// registry, no tickets, no 0-RTT (T-1.6).
pub(crate) fn server_config(
    identity: &Identity,
    verifier: Arc<PeerVerifier>,
) -> Result<QuicServerConfig, TransportError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert.clone()], identity.private_key())
        .map_err(setup)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    tls.max_early_data_size = 0;
    QuicServerConfig::try_from(tls).map_err(setup)
}

/// The validator key of an established connection's peer (from its verified certificate).
pub(crate) fn peer_key(conn: &quinn::Connection) -> Option<PublicKey> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let [cert] = certs.as_slice() else {
        return None;
    };
    key_from_cert(cert).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn server_names_are_valid_dns_names() {
        let key = shardnet_protocol::SecretKey::from_bytes(&[1; 32]).public_key();
        let name = server_name_for(&key);
        assert_eq!(name.len(), 64 + 2 + 8);
        ServerName::try_from(name).unwrap();
    }
}
