//! Loopback integration tests of the QUIC network (127.0.0.1, port 0, real sockets).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use shardnet_protocol::{PublicKey, decode};
use shardnet_transport::{
    BlockReason, Blocker, Class, Config, Inbound, Network, Receiver, Sender, Socket, TransportError,
};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_node_mesh_delivers_every_class_and_requests() {
    let mut nodes = mesh(4);
    let keys: Vec<PublicKey> = nodes.iter().map(|(k, _, _)| k.public_key()).collect();
    // Everyone sends one frame of each class to everyone else.
    for (i, (_, net, _)) in nodes.iter().enumerate() {
        for (j, to) in keys.iter().enumerate() {
            if i != j {
                for class in Class::ALL {
                    net.send(to, class, frame(&(i as u8, j as u8, class.tag())))
                        .unwrap();
                }
            }
        }
    }
    for (j, (_, _, inbox)) in nodes.iter_mut().enumerate() {
        let mut got = BTreeSet::new();
        while got.len() < 9 {
            let Some(Inbound::Message { from, class, frame }) = recv_within(inbox, SOON).await
            else {
                panic!("node {j} got only {got:?}");
            };
            let (i, to, tag): (u8, u8, u8) = decode(&frame).unwrap();
            assert_eq!((to as usize, tag), (j, class.tag()));
            assert_eq!(*from, keys[i as usize]);
            got.insert((i, tag));
        }
    }
    // One connection per pair: each node has exactly three peers connected.
    for (_, net, _) in &nodes {
        assert_eq!(net.connected_peers().len(), 3);
    }
    // Broadcast reaches the three others.
    assert_eq!(
        nodes[0]
            .1
            .broadcast(Class::Consensus, frame(&"all"))
            .unwrap(),
        3
    );
    for (_, _, inbox) in nodes.iter_mut().skip(1) {
        let got = recv_within(inbox, SOON).await.unwrap();
        assert_eq!(decode::<String>(got.frame()).unwrap(), "all");
    }
    // Request/response in the sync and lanes classes.
    // Keep node 1's network handle alive: dropping the last handle shuts the node down.
    let (_k1, _net1, mut inbox1) = nodes.remove(1);
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let Some(Inbound::Request {
                frame,
                reply,
                class,
                ..
            }) = inbox1.recv().await
            else {
                panic!("expected a request");
            };
            let n: u64 = decode(&frame).unwrap();
            reply.respond(common::frame(&(n * 2, class.tag()))).unwrap();
        }
        inbox1
    });
    for (n, class) in [(21u64, Class::Sync), (50, Class::Lanes)] {
        let answer = nodes[0]
            .1
            .request(&keys[1], class, frame(&n), SOON)
            .await
            .unwrap();
        assert_eq!(decode::<(u64, u8)>(&answer).unwrap(), (n * 2, class.tag()));
    }
    let _inbox1 = server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_or_fails_when_unanswered() {
    let mut nodes = mesh(2);
    let b = nodes[1].0.public_key();
    let (_kb, _net_b, mut inbox_b) = nodes.remove(1);
    // B drops the first request (refusal: the stream is reset), ignores the second.
    let server = tokio::spawn(async move {
        let first = inbox_b.recv().await.unwrap();
        drop(first);
        let second = inbox_b.recv().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(second);
    });
    let net_a = &nodes[0].1;
    let refused = net_a.request(&b, Class::Sync, frame(&1u8), SOON).await;
    assert!(
        matches!(refused, Err(TransportError::Connection(_))),
        "{refused:?}"
    );
    let start = Instant::now();
    let timed_out = net_a
        .request(&b, Class::Sync, frame(&2u8), Duration::from_millis(500))
        .await;
    assert_eq!(timed_out, Err(TransportError::Timeout));
    assert!(start.elapsed() < Duration::from_secs(3));
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_outgoing_frames_and_unknown_peers_are_refused_locally() {
    let nodes = mesh(2);
    let net = &nodes[0].1;
    let b = nodes[1].0.public_key();
    assert!(matches!(
        net.send(&b, Class::Consensus, Bytes::new()),
        Err(TransportError::InvalidFrame(_))
    ));
    assert!(matches!(
        net.send(&b, Class::Consensus, Bytes::from_static(&[0xee, 1])),
        Err(TransportError::InvalidFrame(_))
    ));
    let stranger = key(99).public_key();
    assert_eq!(
        net.send(&stranger, Class::Consensus, frame(&1u8)),
        Err(TransportError::UnknownPeer(Box::new(stranger)))
    );
}

/// Restarting a peer on the same address with the same key: the others notice through the
/// stateless reset (same reset key) or the restarted peer's own dial, and reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_peer_is_detected_and_reconnected_within_seconds() {
    let keys: Vec<_> = (0..3).map(|i| key(i as u8)).collect();
    let socks = sockets(3);
    let nodes: Vec<_> = keys
        .iter()
        .zip(&socks)
        .map(|(k, (_, a))| (k.public_key(), *a))
        .collect();
    let mut socks = socks.into_iter();
    let start = |i: usize, s: std::net::UdpSocket| {
        Network::start(
            &keys[i],
            book(&nodes, &keys[i].public_key()),
            Socket::Udp(s),
            config(i as u64),
        )
        .unwrap()
    };
    let (net0, mut inbox0) = start(0, socks.next().unwrap().0);
    let (net1, mut inbox1) = start(1, socks.next().unwrap().0);
    // Node 2 runs on its own runtime so it can be killed without a goodbye.
    let rt2 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr2 = nodes[2].1;
    let (net2, inbox2) = {
        let _guard = rt2.enter();
        start(2, socks.next().unwrap().0)
    };
    let k2 = keys[2].public_key();
    assert!(net0.wait_connected(&k2, SOON).await);
    assert!(net1.wait_connected(&k2, SOON).await);
    // Let the connections settle past the reconnect backoff window.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Crash: the runtime dies with every task (no CONNECTION_CLOSE is sent).
    rt2.shutdown_background();
    drop((net2, inbox2));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Restart with the same key on the same address.
    let socket = rebind(addr2).await;
    let restarted = Instant::now();
    let (net2, mut inbox2) = start(2, socket);
    // Both old peers must reach the new instance within a few seconds.
    let mut reached = BTreeSet::new();
    let mut seq = 0u64;
    while reached.len() < 2 {
        assert!(
            restarted.elapsed() < Duration::from_secs(8),
            "restart not detected in 8 s; reached {reached:?}"
        );
        seq += 1;
        net0.send(&k2, Class::Consensus, frame(&(0u8, seq)))
            .unwrap();
        net1.send(&k2, Class::Consensus, frame(&(1u8, seq)))
            .unwrap();
        if let Some(m) = recv_within(&mut inbox2, Duration::from_millis(100)).await {
            let (from, _): (u8, u64) = decode(m.frame()).unwrap();
            reached.insert(from);
        }
    }
    let detected = restarted.elapsed();
    assert!(detected < Duration::from_secs(5), "took {detected:?}");
    // And the new instance reaches them.
    net2.send(&keys[0].public_key(), Class::Sync, frame(&"back"))
        .unwrap();
    net2.send(&keys[1].public_key(), Class::Sync, frame(&"back"))
        .unwrap();
    for inbox in [&mut inbox0, &mut inbox1] {
        loop {
            let m = recv_within(inbox, SOON)
                .await
                .expect("message from restarted node");
            if m.class() == Class::Sync {
                break;
            }
        }
    }
    eprintln!("restart detected and reconnected after {detected:?}");
    for n in [net0, net1, net2] {
        n.shutdown().await;
    }
}

/// The restarted peer does not dial (it only accepts): the others learn of the restart
/// from the stateless reset its endpoint sends for their old connection ids (T-6.4), well
/// before the idle timeout, and redial it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_is_noticed_through_the_stateless_reset() {
    let keys: Vec<_> = (0..2).map(|i| key(i as u8)).collect();
    let socks = sockets(2);
    let nodes: Vec<_> = keys
        .iter()
        .zip(&socks)
        .map(|(k, (_, a))| (k.public_key(), *a))
        .collect();
    let mut socks = socks.into_iter();
    let (net0, _inbox0) = Network::start(
        &keys[0],
        book(&nodes, &keys[0].public_key()),
        Socket::Udp(socks.next().unwrap().0),
        config(0),
    )
    .unwrap();
    let rt1 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr1 = nodes[1].1;
    let (net1, inbox1) = {
        let _guard = rt1.enter();
        Network::start(
            &keys[1],
            book(&nodes, &keys[1].public_key()),
            Socket::Udp(socks.next().unwrap().0),
            config(1),
        )
        .unwrap()
    };
    let k1 = keys[1].public_key();
    assert!(net0.wait_connected(&k1, SOON).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    rt1.shutdown_background();
    drop((net1, inbox1));

    // Restart inbound-only: it knows node 0's key but not its address.
    let socket = rebind(addr1).await;
    let restarted = Instant::now();
    let (_net1, mut inbox1) = Network::start(
        &keys[1],
        [(keys[0].public_key(), None)].into(),
        Socket::Udp(socket),
        config(1),
    )
    .unwrap();
    let mut seq = 0u64;
    loop {
        assert!(
            restarted.elapsed() < Duration::from_secs(8),
            "restart not noticed"
        );
        seq += 1;
        net0.send(&k1, Class::Consensus, frame(&seq)).unwrap();
        if recv_within(&mut inbox1, Duration::from_millis(100))
            .await
            .is_some()
        {
            break;
        }
    }
    let noticed = restarted.elapsed();
    assert!(net0.stats().resets >= 1, "{:?}", net0.stats());
    assert!(
        noticed < Duration::from_secs(5),
        "took {noticed:?} (idle timeout is 10 s)"
    );
    eprintln!("restart noticed through stateless reset after {noticed:?}");
}

/// A node whose key is not in the registry cannot connect, and a dial that reaches the
/// wrong key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_during_the_handshake() {
    let (a, b, x) = (key(0), key(1), key(50));
    let socks = sockets(3);
    let addrs: Vec<_> = socks.iter().map(|(_, a)| *a).collect();
    let mut socks = socks.into_iter().map(|(s, _)| s);
    // A knows only B. X knows A, and lists itself as B's address in A's... no: A believes B
    // is at X's address (an impostor there).
    let (net_a, mut inbox_a) = Network::start(
        &a,
        [(b.public_key(), Some(addrs[2]))].into(),
        Socket::Udp(socks.next().unwrap()),
        config(0),
    )
    .unwrap();
    let _b_socket = socks.next().unwrap(); // nobody at B's real address
    let (net_x, _inbox_x) = Network::start(
        &x,
        [(a.public_key(), Some(addrs[0]))].into(),
        Socket::Udp(socks.next().unwrap()),
        config(2),
    )
    .unwrap();
    // X sends to A; A dials "B" and reaches X.
    net_x
        .send(&a.public_key(), Class::Consensus, frame(&"let me in"))
        .unwrap();
    net_a
        .send(&b.public_key(), Class::Consensus, frame(&"hi b"))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        recv_within(&mut inbox_a, Duration::from_millis(100))
            .await
            .is_none()
    );
    assert!(net_a.connected_peers().is_empty());
    assert!(net_x.connected_peers().is_empty());
    // (X's own dial completes its side of the TLS 1.3 handshake before A rejects its
    // certificate, so X sees a connection that A closes at once, not a dial failure.)
    assert!(net_a.stats().dial_failures > 0, "{:?}", net_a.stats());
    assert_eq!(net_a.stats().connections, 0);
}

/// One peer floods; the receiver's rate limit and inbox budget hold it back, the flooder's
/// own queue stays bounded (dropping its oldest consensus frames), and another peer's
/// frames still arrive promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_neither_starves_others_nor_grows_memory() {
    let mut nodes = mesh_with(3, |i| {
        let mut c = config(i as u64);
        if i == 0 {
            // The receiver: 2,000 frames/s per peer, small burst.
            c.recv_frames_per_sec = 2_000;
            c.recv_burst_frames = 200;
        }
        c
    });
    let keys: Vec<PublicKey> = nodes.iter().map(|(k, _, _)| k.public_key()).collect();
    let (_, receiver, mut inbox) = nodes.remove(0);
    for k in &keys[1..] {
        assert!(receiver.wait_connected(k, SOON).await);
    }
    let flooder = nodes[0].1.clone();
    let good = nodes[1].1.clone();
    let rss_before = rss_bytes();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (flooder, stop, to) = (flooder.clone(), stop.clone(), keys[0]);
        tokio::spawn(async move {
            let payload = frame(&vec![7u8; 1000]);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..256 {
                    flooder
                        .send(&to, Class::Consensus, payload.clone())
                        .unwrap();
                    sent += 1;
                }
                tokio::task::yield_now().await;
            }
            sent
        })
    };
    // The good peer sends 20 frames, 100 ms apart, stamped with their send time.
    let sent_at = Arc::new(Mutex::new(Vec::new()));
    let good_task = {
        let (good, sent_at, to) = (good.clone(), sent_at.clone(), keys[0]);
        tokio::spawn(async move {
            for i in 0..20u32 {
                sent_at.lock().unwrap().push(Instant::now());
                good.send(&to, Class::Consensus, frame(&i)).unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut good_latency = Vec::new();
    let mut flood_received = 0u64;
    let deadline = Instant::now() + Duration::from_secs(15);
    while good_latency.len() < 20 && Instant::now() < deadline {
        let Some(m) = recv_within(&mut inbox, Duration::from_secs(1)).await else {
            continue;
        };
        if *m.from() == keys[2] {
            let i: u32 = decode(m.frame()).unwrap();
            let at = sent_at.lock().unwrap()[i as usize];
            good_latency.push(at.elapsed());
        } else {
            flood_received += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.await.unwrap();
    good_task.await.unwrap();
    assert_eq!(good_latency.len(), 20, "good peer starved");
    let worst = good_latency.iter().max().copied().unwrap();
    assert!(worst < Duration::from_secs(2), "good peer waited {worst:?}");

    // Memory stayed bounded: gigabytes were offered, a few tens of MiB may be buffered
    // (queues, inbox budget, QUIC windows).
    let growth = rss_bytes().saturating_sub(rss_before);
    assert!(growth < 256 << 20, "RSS grew by {} MiB", growth >> 20);
    // The flooder was throttled (not read faster than its limit) ...
    let rstats = receiver.stats();
    assert!(rstats.rate_limited > 0, "{rstats:?}");
    assert!(flood_received < sent, "{flood_received} of {sent}");
    // ... its queue to us stayed within bounds, dropping its oldest frames ...
    let fq = flooder.peer_stats(&keys[0]).unwrap();
    assert!(fq.queued_frames[0] <= Config::default().queue(Class::Consensus).frames);
    assert!(flooder.stats().dropped_oldest > 0, "{:?}", flooder.stats());
    // ... and what waits in our inbox for it is bounded by its budget.
    let inbox_stats = receiver.peer_stats(&keys[1]).unwrap();
    assert!(inbox_stats.inbox_frames <= Config::default().inbox_frames_per_peer);
    eprintln!(
        "flood: sent {sent}, received {flood_received}; good peer worst latency {worst:?}; \
         RSS growth {} MiB; receiver {rstats:?}",
        growth >> 20
    );
}

/// Both sides dial at once (no higher-key delay): exactly one connection survives, the
/// one dialed by the lower key, and both sides agree on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_one_connection() {
    for round in 0..3u64 {
        let mut nodes = mesh_with(2, |i| {
            let mut c = config(round * 10 + i as u64);
            c.higher_key_dial_delay = Duration::ZERO;
            c
        });
        let (ka, kb) = (nodes[0].0.public_key(), nodes[1].0.public_key());
        let lower = ka.min(kb);
        assert!(nodes[0].1.wait_connected(&kb, SOON).await);
        assert!(nodes[1].1.wait_connected(&ka, SOON).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before: Vec<_> = nodes
            .iter()
            .map(|(_, n, _)| n.stats().connections)
            .collect();
        for (me, other) in [(0, kb), (1, ka)] {
            let p = nodes[me].1.peer_stats(&other).unwrap();
            assert!(p.connected);
            assert_eq!(p.initiator, Some(lower), "round {round}, node {me}");
        }
        // Traffic flows both ways, and the connection does not flap.
        nodes[0].1.send(&kb, Class::Consensus, frame(&1u8)).unwrap();
        nodes[1].1.send(&ka, Class::Consensus, frame(&2u8)).unwrap();
        assert!(recv_within(&mut nodes[1].2, SOON).await.is_some());
        assert!(recv_within(&mut nodes[0].2, SOON).await.is_some());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after: Vec<_> = nodes
            .iter()
            .map(|(_, n, _)| n.stats().connections)
            .collect();
        assert_eq!(before, after);
        for (_, n, _) in nodes {
            n.shutdown().await;
        }
    }
}

/// `block` disconnects a peer, refuses its reconnection and drops what was queued for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_peer_is_disconnected_and_refused() {
    let mut nodes = mesh(3);
    let keys: Vec<PublicKey> = nodes.iter().map(|(k, _, _)| k.public_key()).collect();
    assert!(nodes[0].1.wait_connected(&keys[1], SOON).await);
    nodes[0].1.block(&keys[1], BlockReason::InvalidMessage);
    assert!(nodes[0].1.is_blocked(&keys[1]));
    assert_eq!(
        nodes[0].1.send(&keys[1], Class::Consensus, frame(&1u8)),
        Err(TransportError::Blocked(Box::new(keys[1])))
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Node 1 tries to talk to node 0: refused at the handshake, so nothing arrives.
    nodes[1]
        .1
        .send(&keys[0], Class::Consensus, frame(&"again"))
        .unwrap();
    nodes[2]
        .1
        .send(&keys[0], Class::Consensus, frame(&"fine"))
        .unwrap();
    let inbox0 = &mut nodes[0].2;
    let m = recv_within(inbox0, SOON).await.unwrap();
    assert_eq!(*m.from(), keys[2]);
    assert!(recv_within(inbox0, Duration::from_secs(2)).await.is_none());
    assert!(!nodes[0].1.connected_peers().contains(&keys[1]));
    // Unblocking lets it back in.
    nodes[0].1.unblock(&keys[1]);
    assert!(nodes[0].1.wait_connected(&keys[1], SOON).await);
}

/// With a large lanes backlog in flight, a consensus frame sent afterwards overtakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consensus_overtakes_a_lanes_backlog() {
    let mut nodes = mesh(2);
    let b = nodes[1].0.public_key();
    assert!(nodes[0].1.wait_connected(&b, SOON).await);
    let net_a = nodes[0].1.clone();
    let voter = nodes[0].1.clone();
    const BLOCKS: u32 = 48;
    let backlog = tokio::spawn(async move {
        let big = frame(&vec![1u8; 1 << 20]);
        for _ in 0..BLOCKS {
            net_a
                .send_wait(&b, Class::Lanes, big.clone())
                .await
                .unwrap();
        }
        net_a
    });
    let inbox_b = &mut nodes[1].2;
    // Wait for the first lanes frame, so the backlog is flowing, then send a vote.
    let first = recv_within(inbox_b, SOON).await.unwrap();
    assert_eq!(first.class(), Class::Lanes);
    voter.send(&b, Class::Consensus, frame(&"vote")).unwrap();
    let mut lanes_before_vote = 1;
    loop {
        let m = recv_within(inbox_b, SOON).await.expect("vote");
        if m.class() == Class::Consensus {
            break;
        }
        lanes_before_vote += 1;
    }
    backlog.await.unwrap();
    assert!(
        lanes_before_vote < BLOCKS,
        "vote arrived after the whole backlog ({lanes_before_vote} lanes frames first)"
    );
    eprintln!("vote overtook the backlog after {lanes_before_vote} of {BLOCKS} lanes frames");
}

/// Resident memory of this process (Linux), 0 where unknown.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// A receiver that does not read holds at most its inbox budget per peer; the peer's stream
/// is then not read, and resumes as the application takes frames, in order, with nothing
/// lost and the whole budget given back at the end (T-5.2, T-5.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inbox_budget_pauses_the_peer_until_frames_are_taken() {
    const BUDGET: u32 = 8;
    const FRAMES: u32 = 500;
    let mut nodes = mesh_with(2, |i| {
        let mut c = config(i as u64);
        if i == 0 {
            c.inbox_frames_per_peer = BUDGET;
        }
        c
    });
    let (ka, kb) = (nodes[0].0.public_key(), nodes[1].0.public_key());
    let (_, sender, _inbox_b) = nodes.remove(1);
    let (_, receiver, mut inbox) = nodes.remove(0);
    assert!(sender.wait_connected(&ka, SOON).await);
    let producer = tokio::spawn(async move {
        for i in 0..FRAMES {
            sender.send_wait(&ka, Class::Sync, frame(&i)).await.unwrap();
        }
        sender
    });
    // Nobody reads: the inbox fills up to the budget and no further.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = receiver.peer_stats(&kb).unwrap().inbox_frames;
    assert!(held > 0 && held <= BUDGET, "inbox holds {held}");
    for i in 0..FRAMES {
        let m = recv_within(&mut inbox, SOON).await.expect("frame");
        assert_eq!((*m.from(), m.class()), (kb, Class::Sync));
        assert_eq!(decode::<u32>(m.frame()).unwrap(), i);
        assert!(receiver.peer_stats(&kb).unwrap().inbox_frames <= BUDGET);
    }
    let _sender = producer.await.unwrap();
    assert_eq!(receiver.peer_stats(&kb).unwrap().inbox_frames, 0);
    assert_eq!(receiver.peer_stats(&kb).unwrap().inbox_kib, 0);
}

/// `send_many` applies each class's queue policy to every frame of a burst (T-4.2, T-4.3,
/// T-4.6): to a peer that is not connected, a lanes burst larger than the queue queues the
/// part that fits and is refused for the rest; a consensus burst keeps its newest frames.
/// Once the peer is up, what was queued arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_obey_the_queue_bounds_and_arrive_in_order() {
    let (a, b) = (key(0), key(1));
    let mut socks = sockets(2);
    let (sb, addr_b) = socks.pop().unwrap();
    let (sa, addr_a) = socks.pop().unwrap();
    // a knows b's key but not its address, and b is not started yet: nothing leaves.
    let (net_a, _inbox_a) = Network::start(
        &a,
        [(b.public_key(), None)].into(),
        Socket::Udp(sa),
        config(0),
    )
    .unwrap();
    let to = b.public_key();
    // ~110-byte frames: a burst of them is framed into runs when queued (T-4.6).
    let pad = vec![0u8; 100];
    let lanes: Vec<Bytes> = (0..300u32).map(|i| frame(&(2u8, i, &pad))).collect();
    assert!(matches!(
        net_a.send_many(&to, Class::Lanes, lanes),
        Err(TransportError::QueueFull { .. })
    ));
    let queued = net_a.peer_stats(&to).unwrap().queued_frames[2];
    assert!((1..=256).contains(&queued), "{queued} lanes frames queued");
    assert_eq!(net_a.stats().refused_full, 300 - queued as u64);
    let consensus: Vec<Bytes> = (0..3000u32).map(|i| frame(&(0u8, i, &pad))).collect();
    net_a.send_many(&to, Class::Consensus, consensus).unwrap();
    let kept = net_a.peer_stats(&to).unwrap().queued_frames[0];
    assert!((1..=1024).contains(&kept), "{kept} consensus frames kept");
    assert_eq!(net_a.stats().dropped_oldest, 3000 - kept as u64);
    // Too large for this node's configured frame limit: refused, nothing after it queued.
    let small_limit = Config {
        max_frame_bytes: 100,
        ..config(0)
    };
    let (tight, _tight_inbox) = Network::start(
        &key(5),
        [(to, None)].into(),
        Socket::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        small_limit,
    )
    .unwrap();
    let burst = [frame(&1u8), frame(&vec![0u8; 200]), frame(&2u8)];
    assert!(matches!(
        tight.send_many(&to, Class::Sync, burst.to_vec()),
        Err(TransportError::InvalidFrame(_))
    ));
    assert_eq!(tight.peer_stats(&to).unwrap().queued_frames, [0, 1, 0]);
    // b comes up and dials a: the queued prefix of the lanes burst, and the newest
    // consensus frames, arrive in order.
    let (_net_b, mut inbox_b) = Network::start(
        &b,
        [(a.public_key(), Some(addr_a))].into(),
        Socket::Udp(sb),
        config(1),
    )
    .unwrap();
    let _ = addr_b;
    let mut got = [Vec::new(), Vec::new()];
    while got[0].len() < kept || got[1].len() < queued {
        let m = recv_within(&mut inbox_b, SOON)
            .await
            .expect("queued frames arrive");
        let (tag, i, _): (u8, u32, Vec<u8>) = decode(m.frame()).unwrap();
        got[usize::from(tag / 2)].push(i);
    }
    let newest: Vec<u32> = (3000 - kept as u32..3000).collect();
    assert_eq!(got[0], newest);
    assert_eq!(got[1], (0..queued as u32).collect::<Vec<_>>());
}

/// `send_many_wait` never loses a frame: a flood of bursts larger than the consensus queue
/// arrives whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_many_wait_delivers_every_burst_in_order() {
    let mut nodes = mesh(2);
    let (_, _net_b, mut inbox_b) = nodes.pop().unwrap();
    let b = key(1).public_key();
    let net_a = nodes[0].1.clone();
    assert!(net_a.wait_connected(&b, SOON).await);
    const BURSTS: u32 = 40;
    const BURST: u32 = 700;
    let sender = tokio::spawn(async move {
        for n in 0..BURSTS {
            let burst: Vec<Bytes> = (0..BURST).map(|i| frame(&(n * BURST + i))).collect();
            net_a
                .send_many_wait(&b, Class::Consensus, burst)
                .await
                .unwrap();
        }
        net_a
    });
    for expect in 0..BURSTS * BURST {
        let m = recv_within(&mut inbox_b, SOON).await.expect("frame");
        assert_eq!(decode::<u32>(m.frame()).unwrap(), expect);
    }
    let net_a = sender.await.unwrap();
    assert_eq!(net_a.stats().dropped_oldest, 0);
}
