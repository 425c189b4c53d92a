//! Every bound the transport enforces, in one place (`specs/transport.md` §5).
//!
//! The defaults of [`crate::Config`] come from here. Each constant names its unit. A
//! queue, a frame, a rate, a timeout or a retry that is not bounded by one of these is a bug.

use std::time::Duration;

use shardnet_protocol::limits::MAX_MESSAGE_BYTES;

/// Largest frame body accepted or sent, in bytes (T-2.2): the protocol's message limit.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES;

/// Bytes of the length prefix in front of every frame (T-2.1).
pub const FRAME_HEADER_BYTES: usize = 4;

/// Frames queued for one peer in the consensus class before the oldest is dropped (T-4.2).
pub const CONSENSUS_QUEUE_FRAMES: usize = 1024;

/// Frames queued for one peer in the sync class before `send` refuses more (T-4.3).
pub const SYNC_QUEUE_FRAMES: usize = 256;

/// Frames queued for one peer in the lanes class before `send` refuses more (T-4.3).
pub const LANES_QUEUE_FRAMES: usize = 256;

/// Bytes queued for one peer in one class (all three classes have this budget; T-4.2, T-4.3).
pub const QUEUE_BYTES_PER_CLASS: usize = 2 * MAX_MESSAGE_BYTES;

/// A consensus frame still queued after this long is stale and dropped unsent (T-4.2).
pub const CONSENSUS_STALE_AFTER: Duration = Duration::from_secs(30);

/// How often the clock that stamps queued frames is read (T-4.2): a stamp is up to this much
/// early, and a frame is dropped as stale up to this much late.
pub const QUEUE_CLOCK_TICK: Duration = Duration::from_millis(100);

/// Frames a writer takes from a queue at once (the QUIC stream priority orders the writers
/// of one connection; batching amortises the per-write cost for small frames). As large as
/// the largest queue ([`CONSENSUS_QUEUE_FRAMES`]), so that a writer takes a whole queue of
/// small frames in one swap and a sender waiting for room is woken once per queueful.
pub const WRITE_BATCH_FRAMES: usize = 1024;

/// Bytes a writer takes from a queue at once (at least one frame, whatever its size).
pub const WRITE_BATCH_BYTES: usize = 1024 * 1024;

/// Frames up to this size are copied together with their headers into one buffer per
/// batch; larger ones are written from their own buffers.
pub const COALESCE_FRAME_BYTES: usize = 4096;

/// Most frames in one run: consecutive small frames of one `send_many` burst that are framed
/// into one buffer when queued (T-4.6). The baseline batch of the benchmark.
pub const SEND_RUN_FRAMES: usize = 256;

/// Most bytes (headers included) in one run (T-4.6).
pub const SEND_RUN_BYTES: usize = 64 * 1024;

/// Frames a stream reader hands to the inbox at once, when they are already buffered (about
/// what [`READ_AHEAD_BYTES`] holds of small frames: one inbox hand-off per read).
pub const DELIVER_BATCH_FRAMES: usize = 256;

/// Bytes a stream reader may buffer beyond the frame it is reading.
pub const READ_AHEAD_BYTES: usize = 64 * 1024;

/// Received frames from one peer waiting in the inbox for the application (T-5.2).
pub const INBOX_FRAMES_PER_PEER: u32 = 4096;

/// Received bytes from one peer waiting in the inbox, in KiB (T-5.2): 2 max-size frames.
pub const INBOX_KIB_PER_PEER: u32 = (2 * MAX_MESSAGE_BYTES / 1024) as u32;

/// Sustained receive rate allowed from one peer, bytes per second (T-5.3).
pub const RECV_BYTES_PER_SEC: u64 = 256 * 1024 * 1024;

/// Burst of bytes allowed from one peer above the sustained rate (T-5.3). At least one
/// max-size frame, so a whole block is never refused for its size alone.
pub const RECV_BURST_BYTES: u64 = 2 * MAX_MESSAGE_BYTES as u64;

/// Sustained frames per second allowed from one peer (T-5.3).
pub const RECV_FRAMES_PER_SEC: u64 = 100_000;

/// Burst of frames allowed from one peer above the sustained rate (T-5.3).
pub const RECV_BURST_FRAMES: u64 = 20_000;

/// Unidirectional streams one peer may have open towards us at once (T-3.2): one per class,
/// plus slack for a reconnect overlapping the old connection's streams.
pub const MAX_UNI_STREAMS: u32 = 8;

/// Request streams one peer may have open towards us at once (T-3.4).
pub const MAX_BIDI_STREAMS: u32 = 32;

/// QUIC flow-control window of one stream, bytes (bounds what one stream can buffer in us).
pub const STREAM_RECEIVE_WINDOW_BYTES: u32 = 8 * 1024 * 1024;

/// QUIC flow-control window of one connection, bytes (bounds what one peer can buffer in us).
pub const CONNECTION_RECEIVE_WINDOW_BYTES: u32 = 32 * 1024 * 1024;

/// Bytes quinn may buffer for sending on one connection.
pub const SEND_WINDOW_BYTES: u64 = 32 * 1024 * 1024;

/// QUIC keep-alive interval (T-6.3): also how soon a restarted peer's stateless reset is seen.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// A connection with no packet from the peer for this long is closed (T-6.3).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A dial (QUIC + TLS handshake) that takes longer than this has failed (T-6.2).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// An inbound handshake that takes longer than this is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Inbound handshakes in progress at once; more are refused (T-6.5).
pub const MAX_PENDING_HANDSHAKES: usize = 64;

/// First reconnect delay (T-6.2); doubled after each failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Largest reconnect delay (T-6.2).
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How long the higher of two keys waits before dialing a peer it has no connection to, so
/// that at start-up the lower key's dial usually wins without a duplicate (T-6.1).
pub const HIGHER_KEY_DIAL_DELAY: Duration = Duration::from_millis(200);

/// How long a request's peer has to start sending a request frame and the handler to reply.
pub const REQUEST_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a peer stays blocked after [`crate::Blocker::block`] (T-7.1).
pub const BLOCK_DURATION: Duration = Duration::from_secs(600);
