//! # shardnet-transport
//!
//! The network between Shardnet validators: consensus messages, block sync and cross-shard
//! lane segments over QUIC ([quinn]), with TLS identities bound to validator keys. The same
//! code runs on operating-system UDP in the node and on turmoil's simulated UDP in
//! simulations ([`sim`]). The rules are numbered in `specs/transport.md` (T-1.1 and so on)
//! and cited in the code.
//!
//! ## Design
//!
//! * **Identity (§1).** Each validator's TLS certificate is self-signed with its ed25519
//!   consensus key. Custom rustls verifiers on both sides accept a peer only if the key in
//!   its certificate is a registered validator that is not blocked, and the TLS 1.3
//!   handshake signature verifies under that key; a dialer also checks it reached the key it
//!   dialed. Unknown keys never complete a handshake. ALPN carries the protocol version.
//! * **Frames (§2).** The transport moves opaque, already encoded messages (one
//!   `shardnet_protocol::encode` output each). On a stream a frame is a `u32` little-endian
//!   length and the bytes; the length is checked against the limit before any allocation,
//!   and a peer that breaks the framing is blocked.
//! * **Classes (§3).** [`Class::Consensus`], [`Class::Sync`], [`Class::Lanes`]: per
//!   connection one unidirectional stream per class, with QUIC stream priorities
//!   consensus > sync > lanes, so a block download never delays a vote. Requests (block
//!   sync, lane pulls) use one bidirectional stream each, with a timeout.
//! * **Queues and limits (§4, §5).** Every peer has a bounded send queue per class: a full
//!   consensus queue drops its oldest frame, and consensus frames older than
//!   [`limits::CONSENSUS_STALE_AFTER`] are dropped unsent; a full sync or lanes queue refuses
//!   ([`TransportError::QueueFull`]), or [`Network::send_wait`] waits for room. Each peer has
//!   a receive rate limit and an inbox budget; a peer over either is simply not read, so
//!   QUIC flow control pushes back on it alone and one flooding peer cannot starve the others
//!   or grow our memory. Every bound is a named constant in [`limits`].
//! * **Connections (§6).** One connection per pair: both sides dial, and of two connections
//!   the one dialed by the lower key survives, on both sides, without negotiation. Lost
//!   connections are redialed with jittered exponential backoff. Keep-alives, an idle
//!   timeout, and stateless-reset and connection-id keys derived from the validator key mean
//!   a restarted peer is noticed within about a keep-alive interval.
//! * **Interface (§8).** The node uses three small traits, [`Sender`], [`Receiver`] and
//!   [`Blocker`] (as in commonware's p2p), so the implementation can be swapped: [`Network`]
//!   and [`Inbox`] here, [`memory`] for unit tests of code above the transport.
//!
//! ## Example
//!
//! Two validators on loopback, one message each way and a request:
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use shardnet_protocol::{encode, SecretKey};
//! use shardnet_transport::{
//!     Class, Config, Inbound, Network, PeerBook, Receiver, Sender, Socket,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let (a, b) = (SecretKey::from_bytes(&[1; 32]), SecretKey::from_bytes(&[2; 32]));
//!     // Bind first (port 0), then tell each side where the other listens.
//!     let (sa, sb) = (Socket::bind("127.0.0.1:0".parse()?)?, Socket::bind("127.0.0.1:0".parse()?)?);
//!     let addr = |s: &Socket| match s { Socket::Udp(u) => u.local_addr().ok(), _ => None };
//!     let (addr_a, addr_b) = (addr(&sa), addr(&sb));
//!     let book_a = PeerBook::from([(b.public_key(), addr_b)]);
//!     let book_b = PeerBook::from([(a.public_key(), addr_a)]);
//!     let (net_a, mut inbox_a) = Network::start(&a, book_a, sa, Config::default())?;
//!     let (net_b, mut inbox_b) = Network::start(&b, book_b, sb, Config::default())?;
//!
//!     // A frame is one wire-codec message.
//!     net_a.send(&b.public_key(), Class::Consensus, Bytes::from(encode(&"vote")))?;
//!     let Some(Inbound::Message { from, class, frame }) = inbox_b.recv().await else {
//!         panic!("expected a message");
//!     };
//!     assert_eq!((*from, class), (a.public_key(), Class::Consensus));
//!     assert_eq!(shardnet_protocol::decode::<String>(&frame)?, "vote");
//!
//!     // Request/response: B answers A's sync request.
//!     let server = tokio::spawn(async move {
//!         if let Some(Inbound::Request { reply, .. }) = inbox_b.recv().await {
//!             reply.respond(Bytes::from(encode(&"block 7"))).ok();
//!         }
//!     });
//!     let answer = net_a
//!         .request(&b.public_key(), Class::Sync, Bytes::from(encode(&7u64)), Duration::from_secs(10))
//!         .await?;
//!     assert_eq!(shardnet_protocol::decode::<String>(&answer)?, "block 7");
//!     server.await?;
//!     net_a.shutdown().await;
//!     net_b.shutdown().await;
//!     drop(inbox_a);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! # }
//! ```
#![deny(clippy::unwrap_used, clippy::panic)]

mod access;
mod api;
pub mod baseline;
mod budget;
mod class;
mod clock;
mod config;
mod conn;
mod error;
mod framing;
mod identity;
mod keys;
pub mod limits;
pub mod memory;
mod network;
mod peer;
mod queue;
mod rate;
pub mod sim;
mod stats;
mod tls;

pub use api::{BlockReason, Blocker, Inbound, Receiver, Responder, Sender, Transport};
pub use class::Class;
pub use config::Config;
pub use error::TransportError;
pub use network::{Inbox, Network, PeerBook, Socket, peer_book};
pub use queue::{QueueLimits, QueuePolicy};
pub use stats::{PeerStats, Stats};
pub use tls::ALPN;

#[cfg(test)]
mod tests;
