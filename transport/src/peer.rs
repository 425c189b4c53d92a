//! One remote validator: its queues, its connection slot, its receive budgets, and the task
//! that keeps a connection to it up (`specs/transport.md` §6).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::Connection;
use shardnet_protocol::PublicKey;
use tokio::sync::watch;

use crate::budget::Budget;
use tokio::time::Instant;

use crate::config::Config;
use crate::conn::{CODE_PROTOCOL, install};
use crate::network::Shared;
use crate::queue::SendQueues;
use crate::rate::RateLimiter;
use crate::stats::Counters;
use crate::tls::{peer_key, server_name_for};

/// The connection currently used for a peer.
#[derive(Clone, Debug)]
pub(crate) struct Live {
    pub(crate) conn: Connection,
    /// Who dialed it (T-6.1 keeps the one the lower key dialed).
    pub(crate) initiator: PublicKey,
    /// When it was installed.
    pub(crate) since: Instant,
}

/// A registered peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) key: PublicKey,
    /// The same key as handed to the application in every [`crate::Inbound`] from this peer
    /// (one reference count, not a copy of the parsed key, per frame).
    pub(crate) shared_key: Arc<PublicKey>,
    addr: Mutex<Option<SocketAddr>>,
    pub(crate) queues: SendQueues,
    /// The connection in use, if any (T-6.1: at most one per peer).
    pub(crate) live: watch::Sender<Option<Live>>,
    /// Inbox budget (T-5.2).
    pub(crate) inbox: Arc<Budget>,
    /// Receive rate limit (T-5.3); `None` when both rates are unlimited.
    rate: Option<Mutex<RateLimiter>>,
    /// Set when the peer leaves the registry; its tasks then stop.
    pub(crate) removed: watch::Sender<bool>,
}

impl Peer {
    pub(crate) fn new(key: PublicKey, addr: Option<SocketAddr>, config: &Config) -> Self {
        Self {
            key,
            shared_key: Arc::new(key),
            addr: Mutex::new(addr),
            queues: SendQueues::new(config.queues),
            live: watch::Sender::new(None),
            inbox: Arc::new(Budget::new(
                config.inbox_frames_per_peer,
                config.inbox_kib_per_peer,
            )),
            rate: (config.recv_bytes_per_sec > 0 || config.recv_frames_per_sec > 0).then(|| {
                Mutex::new(RateLimiter::new(
                    config.recv_bytes_per_sec,
                    config.recv_burst_bytes,
                    config.recv_frames_per_sec,
                    config.recv_burst_frames,
                    Instant::now(),
                ))
            }),
            removed: watch::Sender::new(false),
        }
    }

    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        *self
            .addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_addr(&self, addr: Option<SocketAddr>) {
        *self
            .addr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = addr;
    }

    /// Accounts `frames` received frames of `bytes` bytes in total against the rate limit
    /// (T-5.3); how long to wait before reading them.
    pub(crate) fn rate_wait(&self, bytes: usize, frames: u32) -> Duration {
        match &self.rate {
            Some(rate) => rate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .reserve(bytes, frames, Instant::now()),
            None => Duration::ZERO,
        }
    }

    /// The live connection, if it is still open.
    pub(crate) fn connection(&self) -> Option<Connection> {
        self.live
            .borrow()
            .as_ref()
            .filter(|l| l.conn.close_reason().is_none())
            .map(|l| l.conn.clone())
    }

    /// Seconds to wait before a reconnect: `backoff_min · 2^(failures-1)` capped at
    /// `backoff_max`, times a jitter factor in [0.5, 1.5) drawn from the node seed, the two
    /// keys and the attempt number (T-6.2), so peers that lost each other at the same moment
    /// do not redial in lock step, and a simulation replays the same delays.
    pub(crate) fn backoff(&self, shared: &Shared, failures: u32, attempt: u64) -> Duration {
        let config = &shared.config;
        let exp = failures.saturating_sub(1).min(16);
        let base = config
            .backoff_min
            .saturating_mul(1u32 << exp)
            .min(config.backoff_max);
        let mut h = blake3::Hasher::new_keyed(&shared.seed);
        h.update(b"backoff");
        h.update(&shared.me.to_bytes());
        h.update(&self.key.to_bytes());
        h.update(&attempt.to_le_bytes());
        let mut r = [0u8; 8];
        r.copy_from_slice(&h.finalize().as_bytes()[..8]);
        // factor = 0.5 + r / 2^64, in thousandths.
        let per_mille = 500 + (u64::from_le_bytes(r) % 1000);
        base.saturating_mul(u32::try_from(per_mille).unwrap_or(1000)) / 1000
    }
}

/// Keeps a connection to `peer` up while it is registered and we are running (T-6.2):
/// waits until there is no live connection, backs off if the last one failed or was
/// short-lived, and dials. Inbound connections fill the same slot, so whichever side
/// connects first wins and the other side's dial resolves as a duplicate (T-6.1).
pub(crate) async fn supervise(shared: Arc<Shared>, peer: Arc<Peer>) {
    let mut live = peer.live.subscribe();
    let mut stop = shared.shutdown.subscribe();
    let mut removed = peer.removed.subscribe();
    let mut failures: u32 = 0;
    let mut attempt: u64 = 0;
    loop {
        let since = live.borrow_and_update().as_ref().map(|l| l.since);
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            _ = removed.wait_for(|r| *r) => return,
            r = live.wait_for(|l| l.is_none()) => if r.is_err() { return },
        }
        if let Some(since) = since {
            // A connection that lived less than twice the largest backoff counts as a
            // failure, so a peer that keeps closing on us is not redialled in a hot loop.
            if since.elapsed() < shared.config.backoff_max * 2 {
                failures = failures.saturating_add(1);
            } else {
                failures = 0;
            }
        }
        let delay = if let Some(until) = shared.access.blocked_until(&peer.key) {
            until.saturating_duration_since(Instant::now())
        } else if failures > 0 {
            peer.backoff(&shared, failures, attempt)
        } else if shared.me > peer.key {
            shared.config.higher_key_dial_delay
        } else {
            Duration::ZERO
        };
        if !delay.is_zero() {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                _ = removed.wait_for(|r| *r) => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        if live.borrow().is_some() || shared.access.blocked_until(&peer.key).is_some() {
            continue; // the peer dialed us meanwhile, or we blocked it
        }
        let Some(addr) = peer.addr() else {
            // Inbound only: wait for the peer, or for shutdown.
            failures = failures.max(1);
            continue;
        };
        attempt += 1;
        let dialed = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            d = dial(&shared, &peer, addr) => d,
        };
        match dialed {
            Ok(conn) => {
                install(&shared, &peer, conn, shared.me);
            }
            Err(e) => {
                Counters::add(&shared.counters.dial_failures, 1);
                tracing::debug!(peer = ?peer.key, %addr, error = %e, "dial failed");
                failures = failures.saturating_add(1);
            }
        }
    }
}

/// Dials `peer` at `addr`. The TLS verifier checks that the server holds exactly `peer`'s
/// key (T-1.4); this re-checks it from the connection.
async fn dial(shared: &Shared, peer: &Peer, addr: SocketAddr) -> Result<Connection, String> {
    let connecting = shared
        .endpoint
        .connect_with(
            shared.client_config.clone(),
            addr,
            &server_name_for(&peer.key),
        )
        .map_err(|e| e.to_string())?;
    let conn = tokio::time::timeout(shared.config.dial_timeout, connecting)
        .await
        .map_err(|_| "dial timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if peer_key(&conn) != Some(peer.key) {
        conn.close(CODE_PROTOCOL, b"identity");
        return Err("peer identity does not match".into());
    }
    Ok(conn)
}
