//! Plain quinn, for measuring the transport's overhead: an endpoint with the same TLS
//! identity, verifiers and QUIC settings as [`crate::Network`], and none of its machinery
//! (no queues, classes, limits, tasks or reconnection). The benchmark's baseline streams use
//! this directly.

use std::sync::Arc;

use shardnet_protocol::{PublicKey, SecretKey};

use crate::access::Access;
use crate::config::Config;
use crate::error::TransportError;
use crate::identity::Identity;
use crate::network::transport_config;
use crate::tls::{self, PeerVerifier};

/// A quinn endpoint on `socket` that accepts and dials the validators in `peers`, and the
/// client configuration to dial them with (pass [`server_name`] of the peer as the name).
pub fn endpoint(
    secret: &SecretKey,
    peers: impl IntoIterator<Item = PublicKey>,
    socket: std::net::UdpSocket,
) -> Result<(quinn::Endpoint, quinn::ClientConfig), TransportError> {
    let identity = Identity::new(secret)?;
    let access = Arc::new(Access::new(secret.public_key(), peers));
    let verifier = Arc::new(PeerVerifier::new(access));
    let transport = Arc::new(transport_config(&Config::default())?);
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls::server_config(
        &identity,
        verifier.clone(),
    )?));
    server.transport_config(transport.clone());
    let mut client = quinn::ClientConfig::new(Arc::new(tls::client_config(&identity, verifier)?));
    client.transport_config(transport);
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|e| TransportError::Setup(e.to_string()))?;
    Ok((endpoint, client))
}

/// The TLS server name under which `key` is dialed (T-1.4).
pub fn server_name(key: &PublicKey) -> String {
    tls::server_name_for(key)
}
