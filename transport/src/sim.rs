//! The transport on turmoil's simulated network (`specs/transport.md` §9).
//!
//! [`SimUdpSocket`] implements quinn's [`AsyncUdpSocket`] over [`turmoil::net::UdpSocket`],
//! so a simulated host runs the real QUIC stack, TLS handshakes included, through
//! [`crate::Network::start`] with [`crate::Socket::Abstract`]. turmoil already delays,
//! reorders (through random latency), partitions and crashes; this adapter adds seeded
//! packet duplication and loss, which turmoil lacks.
//!
//! Determinism (T-9.2): with the same turmoil seed (`Builder::rng_seed`), the same
//! [`crate::Config::simulation`] seeds and the same [`SimFaults`] seed, a run replays
//! exactly. ed25519 certificates keep every handshake the same size (ECDSA signature lengths
//! vary, which would change packet counts); every `tokio::select!` in this crate is `biased`,
//! so no branch is chosen at random even without `--cfg tokio_unstable`; quinn's RNG,
//! connection ids and backoff jitter are seeded. What still differs between runs (TLS
//! ephemeral keys and randoms, from the OS) changes packet contents but never their sizes or
//! timing.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Faults added by the adapter, drawn from a seeded RNG.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimFaults {
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Seed of the fault RNG.
    pub seed: u64,
}

impl SimFaults {
    /// No faults.
    pub const NONE: Self = Self {
        duplicate: 0.0,
        drop: 0.0,
        seed: 0,
    };
}

type Readable = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// A quinn socket over a turmoil UDP socket. Must be used inside a turmoil host.
pub struct SimUdpSocket {
    inner: Arc<turmoil::net::UdpSocket>,
    /// The pending "wait until readable" of the one task that polls receives.
    readable: Mutex<Option<Readable>>,
    faults: SimFaults,
    rng: Mutex<ChaCha20Rng>,
    counts: Arc<Mutex<FaultCounts>>,
}

/// How many datagrams the adapter duplicated and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Datagrams sent twice.
    pub duplicated: u64,
    /// Datagrams dropped.
    pub dropped: u64,
}

impl fmt::Debug for SimUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUdpSocket")
            .field("inner", &self.inner)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl SimUdpSocket {
    /// Binds a turmoil UDP socket at `addr` (e.g. `0.0.0.0:9000`) inside the current host.
    pub async fn bind(addr: SocketAddr, faults: SimFaults) -> io::Result<Arc<Self>> {
        let inner = turmoil::net::UdpSocket::bind(addr).await?;
        Ok(Arc::new(Self {
            inner: Arc::new(inner),
            readable: Mutex::new(None),
            faults,
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(faults.seed)),
            counts: Arc::default(),
        }))
    }

    /// Faults injected so far.
    pub fn fault_counts(&self) -> FaultCounts {
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A shared view of [`SimUdpSocket::fault_counts`] that outlives the socket (a harness
    /// keeps it across a simulated crash, which drops the socket with its host).
    pub fn fault_counter(&self) -> Arc<Mutex<FaultCounts>> {
        Arc::clone(&self.counts)
    }

    /// A uniform draw in [0, 1) from the fault RNG.
    fn draw(&self) -> f64 {
        let x = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next_u64();
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn send_one(&self, datagram: &[u8], to: SocketAddr) {
        // Draw both every time so the RNG stream does not depend on which faults are enabled.
        let (lose, dup) = (self.draw(), self.draw());
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lose < self.faults.drop {
            counts.dropped += 1;
            return;
        }
        let copies = if dup < self.faults.duplicate {
            counts.duplicated += 1;
            2
        } else {
            1
        };
        drop(counts);
        for _ in 0..copies {
            // UDP semantics: a datagram that cannot be sent (unknown host, crashed host) is
            // lost, not an error that would tear down quinn's endpoint driver.
            if let Err(e) = self.inner.try_send_to(datagram, to) {
                tracing::trace!(%to, error = %e, "simulated datagram lost");
            }
        }
    }
}

impl AsyncUdpSocket for SimUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        for datagram in transmit.contents.chunks(size) {
            self.send_one(datagram, transmit.destination);
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let mut readable = self
            .readable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            match self.inner.try_recv_from(buf) {
                Ok((len, from)) => {
                    *m = RecvMeta::default();
                    m.addr = from;
                    m.len = len;
                    m.stride = len;
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let fut = readable.get_or_insert_with(|| {
                let inner = self.inner.clone();
                Box::pin(async move { inner.readable().await })
            });
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    *readable = None;
                    r?;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// turmoil's UDP never pushes back on senders.
#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
