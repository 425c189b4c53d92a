//! Throughput and latency of the transport between two endpoints on loopback, against plain
//! quinn (same TLS identities and QUIC settings, no transport machinery) in the same run.
//!
//! `cargo bench -p shardnet-transport --bench transport` prints a Markdown table.
//! `BENCH_PROFILE_VOTES=1` runs only the transport's vote workload (for `perf record`),
//! `BENCH_PROFILE_VOTES=burst:N` the same through `send_many_wait` in bursts of N votes;
//! `BENCH_PROFILE_VOTES=baseline` only plain quinn's, `BENCH_PROFILE_VOTES=baseline-unbatched`
//! plain quinn writing each vote on its own (one stream write per frame, as a sender that
//! wrote straight into the stream would).
//!
//! Besides wall-clock throughput, every throughput run measures the process's on-CPU time
//! over the same interval (the sum of `/proc/self/task/*/schedstat` over all threads: both
//! endpoints, their quinn drivers and the tokio workers), which a loaded machine disturbs
//! much less than the wall clock. The CPU ratio is the baseline's CPU per message over the
//! transport's.
//!
//! Both sides use the same framing (u32 LE length ‖ body), the same batching of small
//! frames into one write, and a 64 KiB read buffer; the baseline has one stream and one task
//! per side, the transport its queues, classes, writer and reader tasks, limits and inbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardnet_protocol::{SecretKey, WIRE_VERSION};
use shardnet_transport::{
    Class, Config, Inbound, Network, PeerBook, Receiver, Sender, Socket, baseline,
};

const VOTE_BYTES: usize = 200;
const BLOCK_BYTES: usize = 1 << 20;
const VOTES: usize = 200_000;
const BLOCKS: usize = 200;
const PINGS: usize = 2_000;
const WARMUP_PINGS: usize = 200;
const RUNS: usize = 3;
const BATCH: usize = 256;
/// Burst sizes for `send_many_wait`: a few messages to one peer (what one consensus step
/// hands over), and the baseline's own batch.
const BURSTS: [usize; 2] = [4, BATCH];

/// On-CPU time of every thread of this process so far (Linux `schedstat`, nanoseconds);
/// `None` where it is not available.
fn cpu_now() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread that exited since the directory was read is skipped.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Wall-clock and on-CPU time of one run.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

/// Wall-clock and on-CPU time since [`Stopwatch::start`].
struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            cpu: cpu_now(),
            wall: Instant::now(),
        }
    }

    fn stop(self) -> Timing {
        let wall = self.wall.elapsed();
        let cpu = cpu_now().zip(self.cpu).map(|(b, a)| b.saturating_sub(a));
        Timing { wall, cpu }
    }
}

fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32])
}

fn payload(size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[0] = WIRE_VERSION;
    Bytes::from(v)
}

fn udp() -> (std::net::UdpSocket, SocketAddr) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

/// The transport as configured for the bench: production defaults, except the per-peer
/// receive rate limit (100,000 frames/s by default), which would otherwise be what is measured.
fn bench_config(seed: u64) -> Config {
    Config {
        recv_frames_per_sec: 0,
        recv_bytes_per_sec: 0,
        ..Config::simulation(seed)
    }
}

async fn pair(
    config: impl Fn(u64) -> Config,
) -> (
    (Network, shardnet_transport::Inbox),
    (Network, shardnet_transport::Inbox),
) {
    let (a, b) = (key(1), key(2));
    let ((sa, aa), (sb, ab)) = (udp(), udp());
    let na = Network::start(
        &a,
        PeerBook::from([(b.public_key(), Some(ab))]),
        Socket::Udp(sa),
        config(1),
    )
    .unwrap();
    let nb = Network::start(
        &b,
        PeerBook::from([(a.public_key(), Some(aa))]),
        Socket::Udp(sb),
        config(2),
    )
    .unwrap();
    assert!(
        na.0.wait_connected(&b.public_key(), Duration::from_secs(10))
            .await
    );
    assert!(
        nb.0.wait_connected(&a.public_key(), Duration::from_secs(10))
            .await
    );
    (na, nb)
}

/// The transport: `count` frames from one network to the other. With `burst` 1 each frame is
/// one `send_wait`, as a node sends one message; with more, the producer hands bursts of
/// `burst` frames to `send_many_wait`, as a node hands over what one step of its core
/// produced for one peer (a new `Vec` of frame references per burst, as the node builds).
async fn transport_throughput(
    size: usize,
    count: usize,
    class: Class,
    burst: usize,
    config: impl Fn(u64) -> Config,
) -> Timing {
    let ((na, _ia), (nb, mut ib)) = pair(config).await;
    let to = nb.public_key();
    let frame = payload(size);
    let start = Stopwatch::start();
    let receiver = tokio::spawn(async move {
        for _ in 0..count {
            ib.recv().await.unwrap();
        }
    });
    if burst <= 1 {
        for _ in 0..count {
            na.send_wait(&to, class, frame.clone()).await.unwrap();
        }
    } else {
        let mut left = count;
        while left > 0 {
            let n = left.min(burst);
            let frames: Vec<Bytes> = (0..n).map(|_| frame.clone()).collect();
            na.send_many_wait(&to, class, frames).await.unwrap();
            left -= n;
        }
    }
    receiver.await.unwrap();
    let elapsed = start.stop();
    na.shutdown().await;
    nb.shutdown().await;
    elapsed
}

async fn quinn_pair() -> (
    quinn::Endpoint,
    quinn::Endpoint,
    quinn::Connection,
    quinn::Connection,
) {
    let (a, b) = (key(1), key(2));
    let ((sa, _), (sb, ab)) = (udp(), udp());
    let (ea, ca) = baseline::endpoint(&a, [b.public_key()], sa).unwrap();
    let (eb, _) = baseline::endpoint(&b, [a.public_key()], sb).unwrap();
    let accept = {
        let eb = eb.clone();
        tokio::spawn(async move { eb.accept().await.unwrap().await.unwrap() })
    };
    let client = ea
        .connect_with(ca, ab, &baseline::server_name(&b.public_key()))
        .unwrap()
        .await
        .unwrap();
    let server = accept.await.unwrap();
    (ea, eb, client, server)
}

/// The baseline reads through a 64 KiB buffer, as the transport does, so the comparison
/// measures the transport's machinery rather than a read strategy.
type BufRecv = tokio::io::BufReader<quinn::RecvStream>;

fn buffered(recv: quinn::RecvStream) -> BufRecv {
    tokio::io::BufReader::with_capacity(64 * 1024, recv)
}

async fn read_frame(recv: &mut BufRecv) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    recv.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// A batch of frames as the baseline writes it: small frames copied into one buffer with
/// their headers, large ones as separate chunks (the transport's writer does the same).
fn batch(frame: &Bytes, n: usize) -> Vec<Bytes> {
    let header = Bytes::copy_from_slice(&(frame.len() as u32).to_le_bytes());
    if frame.len() <= 4096 {
        let mut buf = bytes::BytesMut::with_capacity(n * (4 + frame.len()));
        for _ in 0..n {
            buf.extend_from_slice(&header);
            buf.extend_from_slice(frame);
        }
        vec![buf.freeze()]
    } else {
        (0..n)
            .flat_map(|_| [header.clone(), frame.clone()])
            .collect()
    }
}

/// Plain quinn: `batch_frames` frames per stream write.
async fn baseline_throughput(size: usize, count: usize, batch_frames: usize) -> Timing {
    let (ea, eb, client, server) = quinn_pair().await;
    let frame = payload(size);
    let start = Stopwatch::start();
    let receiver = tokio::spawn(async move {
        let mut recv = buffered(server.accept_uni().await.unwrap());
        for _ in 0..count {
            read_frame(&mut recv).await.unwrap();
        }
        server
    });
    let mut send = client.open_uni().await.unwrap();
    let mut left = count;
    while left > 0 {
        let n = left.min(batch_frames);
        let mut chunks = batch(&frame, n);
        send.write_all_chunks(&mut chunks).await.unwrap();
        left -= n;
    }
    let _server = receiver.await.unwrap();
    let elapsed = start.stop();
    ea.close(0u32.into(), b"");
    eb.close(0u32.into(), b"");
    elapsed
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

async fn transport_latency() -> (Duration, Duration) {
    let ((na, mut ia), (nb, mut ib)) = pair(bench_config).await;
    let (ka, kb) = (na.public_key(), nb.public_key());
    let echo = {
        let nb = nb.clone();
        tokio::spawn(async move {
            while let Some(Inbound::Message { class, frame, .. }) = ib.recv().await {
                if nb.send(&ka, class, frame).is_err() {
                    break;
                }
            }
        })
    };
    let frame = payload(VOTE_BYTES);
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP_PINGS + PINGS {
        let t = Instant::now();
        na.send(&kb, Class::Consensus, frame.clone()).unwrap();
        ia.recv().await.unwrap();
        if i >= WARMUP_PINGS {
            rtts.push(t.elapsed());
        }
    }
    na.shutdown().await;
    nb.shutdown().await;
    echo.abort();
    percentiles(rtts)
}

async fn baseline_latency() -> (Duration, Duration) {
    let (ea, eb, client, server) = quinn_pair().await;
    let echo = tokio::spawn(async move {
        let (mut send, recv) = server.accept_bi().await.unwrap();
        let mut recv = buffered(recv);
        while let Some(body) = read_frame(&mut recv).await {
            let mut chunks = [
                Bytes::copy_from_slice(&(body.len() as u32).to_le_bytes()),
                Bytes::from(body),
            ];
            if send.write_all_chunks(&mut chunks).await.is_err() {
                break;
            }
        }
    });
    let (mut send, recv) = client.open_bi().await.unwrap();
    let mut recv = buffered(recv);
    let frame = payload(VOTE_BYTES);
    let header = Bytes::copy_from_slice(&(VOTE_BYTES as u32).to_le_bytes());
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP_PINGS + PINGS {
        let t = Instant::now();
        send.write_all_chunks(&mut [header.clone(), frame.clone()])
            .await
            .unwrap();
        read_frame(&mut recv).await.unwrap();
        if i >= WARMUP_PINGS {
            rtts.push(t.elapsed());
        }
    }
    ea.close(0u32.into(), b"");
    eb.close(0u32.into(), b"");
    echo.abort();
    percentiles(rtts)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median on-CPU time of `runs`, if every run has one.
fn median_cpu(runs: &[Timing]) -> Option<Duration> {
    runs.iter()
        .map(|t| t.cpu)
        .collect::<Option<Vec<_>>>()
        .map(median)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(which) = std::env::var("BENCH_PROFILE_VOTES") {
        // Only one vote workload, for `perf record`: the transport's, or with
        // `BENCH_PROFILE_VOTES=baseline` plain quinn's.
        rt.block_on(async {
            for _ in 0..5 {
                let t = match which.as_str() {
                    "baseline" => baseline_throughput(VOTE_BYTES, VOTES, BATCH).await,
                    "baseline-unbatched" => baseline_throughput(VOTE_BYTES, VOTES, 1).await,
                    other => {
                        // `burst:N`: `send_many_wait` with bursts of N votes.
                        let burst = other
                            .strip_prefix("burst:")
                            .map_or(1, |n| n.parse().unwrap());
                        transport_throughput(
                            VOTE_BYTES,
                            VOTES,
                            Class::Consensus,
                            burst,
                            bench_config,
                        )
                        .await
                    }
                };
                let cpu = t
                    .cpu
                    .map_or(f64::NAN, |c| c.as_secs_f64() * 1e9 / VOTES as f64);
                eprintln!(
                    "{:.0} votes/s, {cpu:.0} ns on-CPU per vote",
                    VOTES as f64 / t.wall.as_secs_f64()
                );
            }
        });
        return;
    }
    rt.block_on(async {
        println!(
            "| workload | implementation | messages/s | MB/s | ratio to baseline | \
             on-CPU µs per message | CPU ratio |"
        );
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for (name, size, count, class) in [
            ("vote 200 B", VOTE_BYTES, VOTES, Class::Consensus),
            ("block 1 MiB", BLOCK_BYTES, BLOCKS, Class::Sync),
        ] {
            let mut base = Vec::new();
            let mut ours = Vec::new();
            let mut bursts: [Vec<Timing>; BURSTS.len()] = Default::default();
            let mut limited = Vec::new();
            for _ in 0..RUNS {
                base.push(baseline_throughput(size, count, BATCH).await);
                ours.push(transport_throughput(size, count, class, 1, bench_config).await);
                for (runs, burst) in bursts.iter_mut().zip(BURSTS) {
                    runs.push(transport_throughput(size, count, class, burst, bench_config).await);
                }
                limited.push(
                    transport_throughput(size, count, class, 1, Config::simulation).await,
                );
            }
            let burst_labels = BURSTS.map(|n| format!("transport, rate limit off, send_many × {n}"));
            let rate = |d: Duration| count as f64 / d.as_secs_f64();
            let mbps = |d: Duration| (count * size) as f64 / d.as_secs_f64() / 1e6;
            let wall = |v: &[Timing]| median(v.iter().map(|t| t.wall).collect());
            let b = wall(&base);
            let b_cpu = median_cpu(&base);
            let rows = [
                ("plain quinn (baseline)", &base),
                ("transport, rate limit off", &ours),
            ]
            .into_iter()
            .chain(burst_labels.iter().map(String::as_str).zip(&bursts))
            .chain([("transport, default limits", &limited)]);
            for (label, runs) in rows {
                let d = wall(runs);
                let cpu = median_cpu(runs);
                let per_msg = cpu.map_or("n/a".to_string(), |c| {
                    format!("{:.3}", c.as_secs_f64() * 1e6 / count as f64)
                });
                let cpu_ratio = cpu.zip(b_cpu).map_or("n/a".to_string(), |(c, b)| {
                    format!("{:.2}×", b.as_secs_f64() / c.as_secs_f64())
                });
                println!(
                    "| {name} × {count} | {label} | {:.0} | {:.1} | {:.2}× | {per_msg} | {cpu_ratio} |",
                    rate(d),
                    mbps(d),
                    b.as_secs_f64() / d.as_secs_f64()
                );
            }
        }
        println!();
        println!("| round trip, 200 B | p50 | p99 |");
        println!("| --- | ---: | ---: |");
        let mut base = Vec::new();
        let mut ours = Vec::new();
        for _ in 0..RUNS {
            base.push(baseline_latency().await);
            ours.push(transport_latency().await);
        }
        let pick = |v: &[(Duration, Duration)]| {
            (
                median(v.iter().map(|x| x.0).collect()),
                median(v.iter().map(|x| x.1).collect()),
            )
        };
        for (label, (p50, p99)) in [
            ("plain quinn echo (baseline)", pick(&base)),
            ("transport", pick(&ours)),
        ] {
            println!(
                "| {label} | {:.0} µs | {:.0} µs |",
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
        }
    });
}
