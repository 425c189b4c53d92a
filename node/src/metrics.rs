//! Prometheus metrics of the validators a process runs, served as text at `/metrics`.
//!
//! Each validator updates its [`Metrics`] from its core thread (atomics, no locks on the hot
//! path); [`serve`] renders every registered validator with `shard` and `validator` labels.
//! The HTTP side is a few lines over tokio: one GET, one response, close.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bounds (milliseconds) of the commit latency histogram buckets.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000,
];

/// One validator's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Shard label.
    pub shard: u16,
    /// Committee index label.
    pub validator: u16,
    commits: AtomicU64,
    committed_txs: AtomicU64,
    round: AtomicU64,
    timeouts: AtomicU64,
    height: AtomicU64,
    connected_peers: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    latency_count: AtomicU64,
    latency_sum_ms: AtomicU64,
    /// Backlog per outbound request lane, by destination shard.
    lane_backlog: Mutex<Vec<(u16, u64)>>,
}

impl Metrics {
    /// Metrics of validator `validator` of `shard`.
    pub fn new(shard: u16, validator: u16) -> Self {
        Self {
            shard,
            validator,
            ..Self::default()
        }
    }

    /// A block committed at `height` with `txs` transactions, `latency_ms` after its
    /// proposer's timestamp.
    pub fn committed(&self, height: u64, txs: u64, latency_ms: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.committed_txs.fetch_add(txs, Ordering::Relaxed);
        self.height.store(height, Ordering::Relaxed);
        for (bound, bucket) in LATENCY_BUCKETS_MS.iter().zip(&self.latency_buckets) {
            if latency_ms <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(latency_ms, Ordering::Relaxed);
    }

    /// The consensus round now.
    pub fn set_round(&self, round: u64) {
        self.round.store(round, Ordering::Relaxed);
    }

    /// A round timer fired.
    pub fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Peers with a live connection.
    pub fn set_connected_peers(&self, n: usize) {
        self.connected_peers.store(n as u64, Ordering::Relaxed);
    }

    /// Backlog of each outbound request lane, by destination shard.
    pub fn set_lane_backlog(&self, lanes: Vec<(u16, u64)>) {
        if let Ok(mut l) = self.lane_backlog.lock() {
            *l = lanes;
        }
    }

    /// Commits measured and the sum of their latencies (ms), for averages over a window.
    pub fn latency_totals(&self) -> (u64, u64) {
        (
            self.latency_count.load(Ordering::Relaxed),
            self.latency_sum_ms.load(Ordering::Relaxed),
        )
    }

    /// Cross-shard request messages emitted and not yet certified executed, over all lanes.
    pub fn backlog(&self) -> u64 {
        self.lane_backlog
            .lock()
            .map(|l| l.iter().map(|(_, b)| b).sum())
            .unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        let labels = format!("shard=\"{}\",validator=\"{}\"", self.shard, self.validator);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "shardnet_commits_total{{{labels}}} {}",
            get(&self.commits)
        );
        let _ = writeln!(
            out,
            "shardnet_committed_transactions_total{{{labels}}} {}",
            get(&self.committed_txs)
        );
        let _ = writeln!(out, "shardnet_height{{{labels}}} {}", get(&self.height));
        let _ = writeln!(out, "shardnet_round{{{labels}}} {}", get(&self.round));
        let _ = writeln!(
            out,
            "shardnet_round_timeouts_total{{{labels}}} {}",
            get(&self.timeouts)
        );
        let _ = writeln!(
            out,
            "shardnet_connected_peers{{{labels}}} {}",
            get(&self.connected_peers)
        );
        for (bound, bucket) in LATENCY_BUCKETS_MS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "shardnet_commit_latency_seconds_bucket{{{labels},le=\"{}\"}} {}",
                *bound as f64 / 1000.0,
                get(bucket)
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            out,
            "shardnet_commit_latency_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "shardnet_commit_latency_seconds_sum{{{labels}}} {}",
            get(&self.latency_sum_ms) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "shardnet_commit_latency_seconds_count{{{labels}}} {count}"
        );
        if let Ok(lanes) = self.lane_backlog.lock() {
            for (dest, backlog) in lanes.iter() {
                let _ = writeln!(
                    out,
                    "shardnet_lane_backlog{{{labels},destination=\"{dest}\"}} {backlog}"
                );
            }
        }
    }
}

const HELP: &str = "\
# HELP shardnet_commits_total Blocks committed.
# TYPE shardnet_commits_total counter
# HELP shardnet_committed_transactions_total Transactions in committed blocks (rate() gives finalized tx/s).
# TYPE shardnet_committed_transactions_total counter
# HELP shardnet_height Committed height.
# TYPE shardnet_height gauge
# HELP shardnet_round Current consensus round.
# TYPE shardnet_round gauge
# HELP shardnet_round_timeouts_total Round timers that fired.
# TYPE shardnet_round_timeouts_total counter
# HELP shardnet_connected_peers Peers with a live QUIC connection.
# TYPE shardnet_connected_peers gauge
# HELP shardnet_commit_latency_seconds From the proposer's block timestamp to the commit here.
# TYPE shardnet_commit_latency_seconds histogram
# HELP shardnet_lane_backlog Cross-shard request messages emitted and not yet certified executed.
# TYPE shardnet_lane_backlog gauge
";

/// The Prometheus text of every validator in `all`.
pub fn render(all: &[Arc<Metrics>]) -> String {
    let mut out = String::from(HELP);
    for m in all {
        m.render(&mut out);
    }
    out
}

/// Serves `GET /metrics` on `addr` until the runtime stops; returns the bound address.
pub fn serve(
    addr: SocketAddr,
    all: Vec<Arc<Metrics>>,
    rt: &tokio::runtime::Handle,
) -> std::io::Result<SocketAddr> {
    let listener = {
        let _guard = rt.enter();
        let std = std::net::TcpListener::bind(addr)?;
        std.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(std)?
    };
    let local = listener.local_addr()?;
    let all = Arc::new(all);
    rt.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                // Out of descriptors or similar: back off rather than stop serving.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let all = Arc::clone(&all);
            tokio::spawn(async move {
                // Read the request head (bounded in size and time); its first line is all we
                // need, but answering before it is complete would cut the client off.
                let mut buf = Vec::with_capacity(1024);
                let read_head = async {
                    let mut chunk = [0u8; 1024];
                    while buf.len() < 8 * 1024 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                };
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read_head).await;
                let head = String::from_utf8_lossy(&buf);
                let (status, body) = if head.starts_with("GET /metrics") {
                    ("200 OK", render(&all))
                } else {
                    ("404 Not Found", "only /metrics is served\n".to_string())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_lanes() {
        let m = Arc::new(Metrics::new(1, 2));
        m.committed(5, 10, 120);
        m.committed(6, 0, 4_000);
        m.set_round(9);
        m.timed_out();
        m.set_lane_backlog(vec![(0, 3)]);
        let text = render(&[m]);
        assert!(text.contains("shardnet_commits_total{shard=\"1\",validator=\"2\"} 2"));
        assert!(
            text.contains("shardnet_committed_transactions_total{shard=\"1\",validator=\"2\"} 10")
        );
        assert!(text.contains("le=\"0.2\"} 1"));
        assert!(text.contains("le=\"5\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("shardnet_round_timeouts_total{shard=\"1\",validator=\"2\"} 1"));
        assert!(
            text.contains("shardnet_lane_backlog{shard=\"1\",validator=\"2\",destination=\"0\"} 3")
        );
    }

    #[test]
    fn serves_over_http() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let m = Arc::new(Metrics::new(0, 0));
        m.committed(1, 1, 10);
        let addr = serve("127.0.0.1:0".parse().unwrap(), vec![m], rt.handle()).unwrap();
        let get = |path: &str| {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("shardnet_height{shard=\"0\",validator=\"0\"} 1"));
        assert!(get("/other").starts_with("HTTP/1.1 404"));
    }
}
