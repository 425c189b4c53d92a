//! Misbehaving peers, driven through a raw quinn connection that holds a registered
//! identity but ignores the framing rules (`specs/transport.md` §2, §7).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shardnet_protocol::{PublicKey, SecretKey, WIRE_VERSION, encode};

use crate::access::Access;
use crate::identity::Identity;
use crate::tls::{self, PeerVerifier, server_name_for};
use crate::{
    Class, Config, Inbound, Inbox, Network, PeerBook, Receiver, Sender, Socket, TransportError,
};

const SOON: Duration = Duration::from_secs(10);

fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32])
}

/// A victim network that knows `honest` (with address) and `rogue` (inbound only).
fn victim(honest: Option<(PublicKey, SocketAddr)>, rogue: PublicKey) -> (Network, Inbox) {
    let mut book = PeerBook::from([(rogue, None)]);
    if let Some((k, a)) = honest {
        book.insert(k, Some(a));
    }
    let socket = Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Network::start(&key(1), book, socket, Config::simulation(1)).unwrap()
}

/// A raw QUIC connection to `server` as `secret`, with the transport's own TLS setup.
async fn raw_connect(secret: &SecretKey, server: PublicKey, addr: SocketAddr) -> quinn::Connection {
    let identity = Identity::new(secret).unwrap();
    let access = Arc::new(Access::new(secret.public_key(), [server]));
    let verifier = Arc::new(PeerVerifier::new(access));
    let crypto = tls::client_config(&identity, verifier).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint
        .connect_with(
            quinn::ClientConfig::new(Arc::new(crypto)),
            addr,
            &server_name_for(&server),
        )
        .unwrap()
        .await
        .unwrap()
}

async fn wait_blocked(net: &Network, peer: &PublicKey) {
    let start = tokio::time::Instant::now();
    while !net.is_blocked(peer) {
        assert!(start.elapsed() < SOON, "peer not blocked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each malformed stream gets its sender blocked and disconnected; the victim keeps
/// serving an honest peer throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_the_sender_blocked() {
    let rogue = key(66);
    let honest_key = key(2);
    let honest_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let honest_addr = honest_socket.local_addr().unwrap();
    let (net, mut inbox) = victim(
        Some((honest_key.public_key(), honest_addr)),
        rogue.public_key(),
    );
    let addr = net.local_addr().unwrap();
    let (honest, _honest_inbox) = Network::start(
        &honest_key,
        PeerBook::from([(key(1).public_key(), Some(addr))]),
        Socket::Udp(honest_socket),
        Config::simulation(2),
    )
    .unwrap();

    let oversized = [&[Class::Consensus.tag()][..], &u32::MAX.to_le_bytes()].concat();
    let over_limit = [
        &[Class::Sync.tag()][..],
        &(crate::limits::MAX_FRAME_BYTES as u32 + 1).to_le_bytes(),
    ]
    .concat();
    let zero = [&[Class::Lanes.tag()][..], &0u32.to_le_bytes()].concat();
    let bad_version = [
        &[Class::Consensus.tag()][..],
        &3u32.to_le_bytes(),
        &[WIRE_VERSION.wrapping_add(1), 0, 0],
    ]
    .concat();
    let unknown_class = vec![9u8, 1, 0, 0, 0, WIRE_VERSION];
    let truncated = [
        &[Class::Consensus.tag()][..],
        &10u32.to_le_bytes(),
        &[WIRE_VERSION, 1, 2],
    ]
    .concat();
    let cases: [(&str, Vec<u8>, bool); 6] = [
        ("length u32::MAX", oversized, false),
        ("length over MAX_MESSAGE_BYTES", over_limit, false),
        ("zero length", zero, false),
        ("wrong wire version", bad_version, false),
        ("unknown class", unknown_class, false),
        ("truncated body", truncated, true),
    ];
    for (i, (what, bytes, bidi)) in cases.into_iter().enumerate() {
        net.unblock(&rogue.public_key());
        let conn = raw_connect(&rogue, key(1).public_key(), addr).await;
        if bidi {
            // A request stream that ends inside its frame.
            let (mut send, _recv) = conn.open_bi().await.unwrap();
            send.write_all(&bytes).await.unwrap();
            send.finish().unwrap();
        } else {
            let mut send = conn.open_uni().await.unwrap();
            send.write_all(&bytes).await.unwrap();
            send.finish().unwrap();
        }
        wait_blocked(&net, &rogue.public_key()).await;
        let reason = tokio::time::timeout(SOON, conn.closed()).await.expect(what);
        assert!(
            matches!(&reason, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == crate::conn::CODE_BLOCKED),
            "{what}: {reason:?}"
        );
        assert_eq!(net.stats().malformed, i as u64 + 1, "{what}");
        // The honest peer is unaffected.
        honest
            .send(
                &key(1).public_key(),
                Class::Consensus,
                Bytes::from(encode(&(i as u8))),
            )
            .unwrap();
        let m = tokio::time::timeout(SOON, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*m.from(), honest_key.public_key(), "{what}");
    }
    // While blocked, the rogue cannot even complete a handshake that the victim accepts.
    let conn = raw_connect(&rogue, key(1).public_key(), addr).await;
    let reason = tokio::time::timeout(SOON, conn.closed()).await.unwrap();
    assert!(
        matches!(reason, quinn::ConnectionError::ConnectionClosed(_)),
        "{reason:?}"
    );
}

/// A malformed answer to our request gets the answering peer blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_response_gets_the_responder_blocked() {
    let rogue = key(66);
    let (net, _inbox) = victim(None, rogue.public_key());
    let addr = net.local_addr().unwrap();
    let conn = raw_connect(&rogue, key(1).public_key(), addr).await;
    assert!(net.wait_connected(&rogue.public_key(), SOON).await);
    let responder = tokio::spawn(async move {
        let (mut send, mut recv) = conn.accept_bi().await.unwrap();
        let mut head = [0u8; 5];
        recv.read_exact(&mut head).await.unwrap();
        send.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        conn.closed().await
    });
    let answer = net
        .request(
            &rogue.public_key(),
            Class::Sync,
            Bytes::from(encode(&1u8)),
            SOON,
        )
        .await;
    assert_eq!(answer, Err(TransportError::MalformedResponse("too large")));
    assert!(net.is_blocked(&rogue.public_key()));
    let reason = tokio::time::timeout(SOON, responder)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        reason,
        quinn::ConnectionError::ApplicationClosed(_)
    ));
}

/// A request is answered through the raw connection too: the framing is what the spec says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_format_of_a_request_matches_the_spec() {
    let client = key(66);
    let (net, mut inbox) = victim(None, client.public_key());
    let addr = net.local_addr().unwrap();
    let conn = raw_connect(&client, key(1).public_key(), addr).await;
    let server = tokio::spawn(async move {
        let Some(Inbound::Request {
            frame,
            reply,
            class,
            ..
        }) = inbox.recv().await
        else {
            panic!("expected a request");
        };
        assert_eq!(class, Class::Sync);
        assert_eq!(frame.as_ref(), &[WIRE_VERSION, 42]);
        reply
            .respond(Bytes::from_static(&[WIRE_VERSION, 43]))
            .unwrap();
    });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // T-3.4: class tag, then one frame (u32 LE length ‖ body).
    send.write_all(&[Class::Sync.tag(), 2, 0, 0, 0, WIRE_VERSION, 42])
        .await
        .unwrap();
    send.finish().unwrap();
    let answer = recv.read_to_end(64).await.unwrap();
    assert_eq!(answer, vec![2, 0, 0, 0, WIRE_VERSION, 43]);
    server.await.unwrap();
}
