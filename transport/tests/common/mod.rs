//! Helpers shared by the loopback integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use shardnet_protocol::{PublicKey, SecretKey, encode};
use shardnet_transport::{Config, Inbound, Inbox, Network, PeerBook, Receiver, Socket};

/// A deterministic validator key.
pub fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i.wrapping_add(1); 32])
}

/// Binds `n` loopback sockets on port 0 and returns them with their addresses.
pub fn sockets(n: usize) -> Vec<(std::net::UdpSocket, SocketAddr)> {
    (0..n)
        .map(|_| {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let a = s.local_addr().unwrap();
            (s, a)
        })
        .collect()
}

/// The book of everyone in `nodes` but `me`.
pub fn book(nodes: &[(PublicKey, SocketAddr)], me: &PublicKey) -> PeerBook {
    nodes
        .iter()
        .filter(|(k, _)| k != me)
        .map(|(k, a)| (*k, Some(*a)))
        .collect()
}

/// Config for tests: production defaults with a fixed seed.
pub fn config(i: u64) -> Config {
    Config::simulation(i)
}

/// Starts a full mesh of `n` nodes (keys 0..n).
pub fn mesh(n: usize) -> Vec<(SecretKey, Network, Inbox)> {
    mesh_with(n, |i| config(i as u64))
}

/// Starts a full mesh with per-node configs.
pub fn mesh_with(n: usize, cfg: impl Fn(usize) -> Config) -> Vec<(SecretKey, Network, Inbox)> {
    let keys: Vec<SecretKey> = (0..n).map(|i| key(i as u8)).collect();
    let socks = sockets(n);
    let nodes: Vec<(PublicKey, SocketAddr)> = keys
        .iter()
        .zip(&socks)
        .map(|(k, (_, a))| (k.public_key(), *a))
        .collect();
    keys.into_iter()
        .zip(socks)
        .enumerate()
        .map(|(i, (k, (s, _)))| {
            let (net, inbox) =
                Network::start(&k, book(&nodes, &k.public_key()), Socket::Udp(s), cfg(i)).unwrap();
            (k, net, inbox)
        })
        .collect()
}

/// A frame holding `value` in the wire codec.
pub fn frame<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(encode(value))
}

/// Receives one item within `timeout`.
pub async fn recv_within(inbox: &mut Inbox, timeout: Duration) -> Option<Inbound> {
    tokio::time::timeout(timeout, inbox.recv())
        .await
        .ok()
        .flatten()
}

/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
pub const SOON: Duration = Duration::from_secs(10);

/// Binds `addr` again after its previous owner died, retrying while the old socket is
/// still being released.
pub async fn rebind(addr: SocketAddr) -> std::net::UdpSocket {
    for _ in 0..50 {
        if let Ok(s) = std::net::UdpSocket::bind(addr) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not rebind {addr}");
}
