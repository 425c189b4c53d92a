//! One contract, run against every implementation of the transport traits: the QUIC
//! [`Network`] on loopback and the in-memory [`MemoryNetwork`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use shardnet_protocol::{PublicKey, decode};
use shardnet_transport::memory::MemoryNetwork;
use shardnet_transport::{BlockReason, Blocker, Class, Inbound, Receiver, Sender, TransportError};

struct Node<S, R> {
    key: PublicKey,
    net: S,
    inbox: R,
}

async fn next<R: Receiver>(inbox: &mut R) -> Inbound {
    tokio::time::timeout(SOON, inbox.recv())
        .await
        .expect("timed out")
        .expect("inbox closed")
}

async fn contract<S: Sender + Blocker, R: Receiver>(mut nodes: Vec<Node<S, R>>) {
    let [a, b, c] = &mut nodes[..] else {
        panic!("three nodes")
    };
    // Unicast, every class, in order within a class.
    for class in Class::ALL {
        for i in 0..10u32 {
            a.net.send(&b.key, class, frame(&(class.tag(), i))).unwrap();
        }
    }
    let mut next_index = [0u32; 3];
    for _ in 0..30 {
        let Inbound::Message { from, class, frame } = next(&mut b.inbox).await else {
            panic!("expected a message");
        };
        assert_eq!(*from, a.key);
        let (tag, i): (u8, u32) = decode(&frame).unwrap();
        assert_eq!(tag, class.tag());
        assert_eq!(i, next_index[tag as usize], "order within {class}");
        next_index[tag as usize] += 1;
    }
    // Broadcast reaches everyone else.
    assert_eq!(a.net.broadcast(Class::Sync, frame(&"hello")).unwrap(), 2);
    for n in [&mut *b, &mut *c] {
        let m = next(&mut n.inbox).await;
        assert_eq!((*m.from(), m.class()), (a.key, Class::Sync));
    }
    // Requests: answered, and refused when the handler drops them.
    let requester = a.net.clone();
    let to = b.key;
    let ask = tokio::spawn(async move {
        let ok = requester
            .request(&to, Class::Sync, frame(&5u64), SOON)
            .await;
        let refused = requester
            .request(&to, Class::Lanes, frame(&6u64), SOON)
            .await;
        (ok, refused)
    });
    let Inbound::Request {
        frame: f, reply, ..
    } = next(&mut b.inbox).await
    else {
        panic!("expected a request");
    };
    reply
        .respond(frame(&(decode::<u64>(&f).unwrap() + 1)))
        .unwrap();
    let Inbound::Request { .. } = next(&mut b.inbox).await else {
        panic!("expected a request");
    };
    let (ok, refused) = ask.await.unwrap();
    assert_eq!(decode::<u64>(&ok.unwrap()).unwrap(), 6);
    assert!(refused.is_err());
    // Local checks.
    assert!(matches!(
        a.net.send(&b.key, Class::Consensus, Bytes::new()),
        Err(TransportError::InvalidFrame(_))
    ));
    // Bursts: in order within the class, small frames (which a network may frame together)
    // around large ones, as if sent one by one.
    let big = |i: u32| frame(&(i, vec![7u8; 5000]));
    let burst: Vec<Bytes> = (0..200u32)
        .map(|i| {
            if i % 100 == 50 {
                big(i)
            } else {
                frame(&(i, vec![0u8; 100]))
            }
        })
        .collect();
    a.net.send_many(&b.key, Class::Sync, burst.clone()).unwrap();
    a.net.send_many(&b.key, Class::Sync, Vec::new()).unwrap();
    for (i, sent) in burst.iter().enumerate() {
        let Inbound::Message { from, class, frame } = next(&mut b.inbox).await else {
            panic!("expected a message");
        };
        assert_eq!((*from, class), (a.key, Class::Sync));
        assert_eq!(&frame, sent, "burst frame {i}");
    }
    // Every frame of a burst is checked: the ones before an invalid frame are queued, the
    // invalid one and the ones after it are not.
    let mut wrong_version = frame(&9u32).to_vec();
    wrong_version[0] ^= 0xff;
    for bad in [Bytes::new(), Bytes::from(wrong_version)] {
        let burst = [frame(&(1u8, 0u32)), bad, frame(&(1u8, 1u32))];
        assert!(matches!(
            a.net.send_many(&b.key, Class::Consensus, burst.to_vec()),
            Err(TransportError::InvalidFrame(_))
        ));
        let m = next(&mut b.inbox).await;
        assert_eq!(m.frame(), &burst[0]);
    }
    assert!(matches!(
        a.net
            .send_many(&b.key, Class::Consensus, vec![Bytes::new()]),
        Err(TransportError::InvalidFrame(_))
    ));
    assert!(matches!(
        a.net.send_many(&a.key, Class::Consensus, vec![frame(&1u8)]),
        Err(TransportError::UnknownPeer(_))
    ));
    // Blocking: b stops hearing from a, still hears from c.
    b.net.block(&a.key, BlockReason::InvalidMessage);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = a.net.send(&b.key, Class::Consensus, frame(&"from a"));
    let _ = a
        .net
        .send_many(&b.key, Class::Consensus, vec![frame(&"a 1"), frame(&"a 2")]);
    // A peer we block gets none of a burst.
    c.net.block(&a.key, BlockReason::InvalidMessage);
    assert!(matches!(
        c.net
            .send_many(&a.key, Class::Consensus, vec![frame(&"c 1"), frame(&"c 2")]),
        Err(TransportError::Blocked(_))
    ));
    c.net
        .send(&b.key, Class::Consensus, frame(&"from c"))
        .unwrap();
    let m = next(&mut b.inbox).await;
    assert_eq!(*m.from(), c.key);
    let none = tokio::time::timeout(Duration::from_secs(1), b.inbox.recv()).await;
    assert!(none.is_err(), "blocked peer's frame arrived: {none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_network_meets_the_contract() {
    let nodes = mesh(3)
        .into_iter()
        .map(|(k, net, inbox)| Node {
            key: k.public_key(),
            net,
            inbox,
        })
        .collect();
    contract(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_network_meets_the_contract() {
    let hub = MemoryNetwork::new();
    let nodes = (0..3)
        .map(|i| {
            let k = key(i).public_key();
            let (net, inbox) = hub.join(k);
            Node { key: k, net, inbox }
        })
        .collect();
    contract(nodes).await;
}
