//! What runs on one connection: a writer per class, a reader per inbound stream, a handler
//! per inbound request (`specs/transport.md` §3 to §5).

use std::sync::Arc;

use bytes::Bytes;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use shardnet_protocol::PublicKey;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::api::{BlockReason, Responder};
use crate::class::Class;
use crate::error::TransportError;
use crate::framing::{FrameError, FrameReader, Run, check_len, header, kib, read_frame};
use crate::limits::{
    COALESCE_FRAME_BYTES, DELIVER_BATCH_FRAMES, FRAME_HEADER_BYTES, REQUEST_HANDLER_TIMEOUT,
    WRITE_BATCH_BYTES, WRITE_BATCH_FRAMES,
};
use crate::network::{Batch, Request, Shared};
use crate::peer::{Live, Peer};
use crate::queue::Entry;
use crate::stats::Counters;

/// Application close code: the endpoint is shutting down.
pub(crate) const CODE_SHUTDOWN: VarInt = VarInt::from_u32(0);
/// Application close code: a second connection to the same peer (T-6.1).
pub(crate) const CODE_DUPLICATE: VarInt = VarInt::from_u32(1);
/// Application close code: the peer is blocked (T-7.1).
pub(crate) const CODE_BLOCKED: VarInt = VarInt::from_u32(2);
/// Application close code: the peer left the registry.
pub(crate) const CODE_REMOVED: VarInt = VarInt::from_u32(3);
/// Application close code: the peer's identity is not the one dialed.
pub(crate) const CODE_PROTOCOL: VarInt = VarInt::from_u32(4);
/// Stream reset code: the request got no answer.
const CODE_NO_RESPONSE: VarInt = VarInt::from_u32(1);

/// The inbox budget a delivered frame holds until the application takes it (T-5.2).
pub(crate) type Permits = crate::budget::Share;

/// Makes `conn` the connection of `peer` unless a better one is already up (T-6.1), and if
/// so starts its tasks. Of two open connections between the same pair, the one dialed by the
/// lower key is kept; of two dialed by the same side, the newer (that side only dials when it
/// has given up on the older). Both ends apply the same rule to the same two connections, so
/// they agree without a message.
pub(crate) fn install(
    shared: &Arc<Shared>,
    peer: &Arc<Peer>,
    conn: Connection,
    initiator: PublicKey,
) -> bool {
    if shared.is_stopped() {
        conn.close(CODE_SHUTDOWN, b"shutdown");
        return false;
    }
    if *peer.removed.borrow() || shared.access.blocked_until(&peer.key).is_some() {
        conn.close(CODE_BLOCKED, b"blocked");
        return false;
    }
    let lower = shared.me.min(peer.key);
    let mut new = Some(Live {
        conn: conn.clone(),
        initiator,
        since: Instant::now(),
    });
    let mut replaced = None;
    let installed = peer.live.send_if_modified(|slot| {
        let keep_new = match slot {
            Some(cur) if cur.conn.close_reason().is_none() => {
                cur.initiator == initiator || initiator == lower
            }
            _ => true,
        };
        if keep_new {
            replaced = std::mem::replace(slot, new.take());
        }
        keep_new
    });
    if let Some(old) = replaced.filter(|old| old.conn.close_reason().is_none()) {
        old.conn.close(CODE_DUPLICATE, b"duplicate");
        Counters::add(&shared.counters.duplicates_closed, 1);
    }
    if !installed {
        conn.close(CODE_DUPLICATE, b"duplicate");
        Counters::add(&shared.counters.duplicates_closed, 1);
        return false;
    }
    Counters::add(&shared.counters.connections, 1);
    tracing::debug!(me = ?shared.me, peer = ?peer.key, ?initiator, "connection up");
    tokio::spawn(run_connection(shared.clone(), peer.clone(), conn.clone()));
    // A block that raced with the install must still take effect.
    if shared.access.blocked_until(&peer.key).is_some() {
        conn.close(CODE_BLOCKED, b"blocked");
    }
    true
}

async fn run_connection(shared: Arc<Shared>, peer: Arc<Peer>, conn: Connection) {
    for class in Class::ALL {
        tokio::spawn(write_class(
            shared.clone(),
            peer.clone(),
            conn.clone(),
            class,
        ));
    }
    tokio::spawn(accept_uni(shared.clone(), peer.clone(), conn.clone()));
    tokio::spawn(accept_bi(shared.clone(), peer.clone(), conn.clone()));
    let reason = conn.closed().await;
    if matches!(reason, quinn::ConnectionError::Reset) {
        Counters::add(&shared.counters.resets, 1);
    }
    let id = conn.stable_id();
    peer.live.send_if_modified(|slot| match slot {
        Some(l) if l.conn.stable_id() == id => {
            *slot = None;
            true
        }
        _ => false,
    });
    tracing::debug!(me = ?shared.me, peer = ?peer.key, %reason, "connection down");
}

/// Passes a queue wake-up on when a writer stops, in case it swallowed one meant for the
/// writer of the connection that replaces it.
struct WakeNext<'a>(&'a Peer, Class);

impl Drop for WakeNext<'_> {
    fn drop(&mut self) {
        self.0.queues.ready(self.1).notify_one();
    }
}

/// Moves frames of one class from the peer's queue onto one unidirectional stream, opened on
/// first use with the class tag as header and the class priority (T-3.1 to T-3.3), in
/// batches (T-4.5).
async fn write_class(shared: Arc<Shared>, peer: Arc<Peer>, conn: Connection, class: Class) {
    let _wake = WakeNext(&peer, class);
    let mut stream: Option<SendStream> = None;
    let mut batch = crate::queue::Batch::with_capacity(WRITE_BATCH_FRAMES);
    let mut chunks: Vec<Bytes> = Vec::with_capacity(2 * WRITE_BATCH_FRAMES + 1);
    let mut small = bytes::BytesMut::new();
    loop {
        loop {
            let stale = peer.queues.pop_batch(
                class,
                shared.clock.stamp(Instant::now()),
                WRITE_BATCH_FRAMES,
                WRITE_BATCH_BYTES,
                &mut batch,
            );
            Counters::add(&shared.counters.dropped_stale, stale as u64);
            if !batch.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = conn.closed() => return,
                _ = peer.queues.ready(class).notified() => {}
            }
            // Woken by a send: give the sender one scheduling turn to queue more, so a burst
            // goes out in one write instead of one write per frame (one yield costs
            // microseconds; one write per 200-byte vote costs throughput).
            tokio::task::yield_now().await;
        }
        if stream.is_none() {
            let Ok(s) = conn.open_uni().await else {
                return;
            };
            let _ = s.set_priority(class.priority());
            chunks.push(Bytes::copy_from_slice(&[class.tag()]));
            stream = Some(s);
        }
        let Some(s) = stream.as_mut() else {
            return;
        };
        let mut frames = 0u64;
        let mut bytes = 0u64;
        // Small frames and small runs are copied into one buffer (frames with their
        // headers); large ones go out from their own buffers, without a copy.
        let coalesced: usize = batch
            .iter()
            .map(|(_, e)| match e {
                Entry::Frame(f) if f.len() <= COALESCE_FRAME_BYTES => f.len() + FRAME_HEADER_BYTES,
                Entry::Run { data, .. } if data.len() <= COALESCE_FRAME_BYTES => data.len(),
                _ => 0,
            })
            .sum();
        small.reserve(coalesced);
        for (_, entry) in batch.drain(..) {
            frames += entry.frames() as u64;
            bytes += entry.bytes() as u64;
            match entry {
                Entry::Frame(frame) if frame.len() <= COALESCE_FRAME_BYTES => {
                    // Checked by `check_outgoing`: the length fits in a u32 (T-2.1).
                    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
                    small.extend_from_slice(&len.to_le_bytes());
                    small.extend_from_slice(&frame);
                }
                Entry::Run { data, .. } if data.len() <= COALESCE_FRAME_BYTES => {
                    small.extend_from_slice(&data);
                }
                Entry::Frame(frame) => {
                    if !small.is_empty() {
                        chunks.push(small.split().freeze());
                    }
                    chunks.push(header(frame.len()));
                    chunks.push(frame);
                }
                Entry::Run { data, .. } => {
                    if !small.is_empty() {
                        chunks.push(small.split().freeze());
                    }
                    chunks.push(data);
                }
            }
        }
        if !small.is_empty() {
            chunks.push(small.split().freeze());
        }
        // On failure the frames are lost with the connection (T-4.4: at most once).
        if s.write_all_chunks(&mut chunks).await.is_err() {
            return;
        }
        chunks.clear();
        Counters::add(&shared.counters.frames_sent, frames);
        Counters::add(&shared.counters.bytes_sent, bytes);
        // Let the senders and the connection run before taking the next batch, so that under
        // load batches grow instead of the writer spinning on a few frames per write.
        tokio::task::yield_now().await;
    }
}

async fn accept_uni(shared: Arc<Shared>, peer: Arc<Peer>, conn: Connection) {
    while let Ok(recv) = conn.accept_uni().await {
        tokio::spawn(read_uni(shared.clone(), peer.clone(), conn.clone(), recv));
    }
}

async fn accept_bi(shared: Arc<Shared>, peer: Arc<Peer>, conn: Connection) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(serve_request(
            shared.clone(),
            peer.clone(),
            conn.clone(),
            send,
            recv,
        ));
    }
}

/// Blocks the peer if `error` proves it broke the framing rules (T-7.2).
fn frame_error(shared: &Shared, peer: &Peer, error: &FrameError) {
    if error.is_misbehaviour() {
        Counters::add(&shared.counters.malformed, 1);
        let reason = match error {
            FrameError::TooLarge { .. } => BlockReason::Oversized,
            _ => BlockReason::Malformed,
        };
        tracing::warn!(peer = ?peer.key, %error, "malformed frame");
        shared.block_peer(&peer.key, reason);
    }
}

/// The class named by a stream header; blocks the peer for an unknown tag (T-3.1).
async fn read_class(shared: &Shared, peer: &Peer, reader: &mut FrameReader) -> Option<Class> {
    match reader.tag().await {
        Ok(Some(tag)) => {
            let class = Class::from_tag(tag);
            if class.is_none() {
                frame_error(shared, peer, &FrameError::Version(tag));
            }
            class
        }
        Ok(None) => None,
        Err(e) => {
            frame_error(shared, peer, &e);
            None
        }
    }
}

/// Waits until the peer may send `len` more bytes (T-5.3) and the inbox has room for them
/// (T-5.2). Until then the stream is not read, so QUIC flow control stalls the sender.
async fn admit(shared: &Shared, peer: &Peer, conn: &Connection, len: usize) -> Option<Permits> {
    let wait = peer.rate_wait(len, 1);
    if !wait.is_zero() {
        Counters::add(&shared.counters.rate_limited, 1);
        tokio::select! {
            biased;
            _ = conn.closed() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let kib = kib(len);
    // Fast path: room in the budget (no future, no connection lock).
    if let Some(share) = peer.inbox.try_take(kib) {
        return Some(share);
    }
    tokio::select! {
        biased;
        _ = conn.closed() => None,
        share = peer.inbox.take(kib) => Some(share),
    }
}

/// Reads one frame after its header: length check before allocation (T-2.2), admission
/// (T-5.2, T-5.3), body and version check (T-2.3).
async fn read_admitted(
    shared: &Shared,
    peer: &Peer,
    conn: &Connection,
    reader: &mut FrameReader,
    len: usize,
) -> Option<(Bytes, Permits)> {
    if let Err(e) = check_len(len, shared.config.max_frame_bytes) {
        frame_error(shared, peer, &e);
        return None;
    }
    let permits = admit(shared, peer, conn, len).await?;
    match reader.body(len).await {
        Ok(frame) => Some((frame, permits)),
        Err(e) => {
            frame_error(shared, peer, &e);
            None
        }
    }
}

/// T-5.3, then T-5.2, for `run` (frames about to be read): waits, with the batch flushed
/// first, while the peer is over its rate or its inbox budget. False if the connection closed
/// meanwhile.
async fn admit_run(
    shared: &Shared,
    peer: &Arc<Peer>,
    conn: &Connection,
    batch: &mut Batch,
    run: Run,
) -> bool {
    let wait = peer.rate_wait(run.bytes, run.frames);
    if !wait.is_zero() {
        flush(shared, peer, batch);
        Counters::add(&shared.counters.rate_limited, 1);
        tokio::select! {
            biased;
            _ = conn.closed() => return false,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if !peer.inbox.try_take_raw(run.frames, run.kib) {
        flush(shared, peer, batch);
        tokio::select! {
            biased;
            _ = conn.closed() => return false,
            () = peer.inbox.take_raw(run.frames, run.kib) => {}
        }
    }
    true
}

/// Hands a batch of frames to the inbox, if there is one.
fn flush(shared: &Shared, peer: &Arc<Peer>, batch: &mut Batch) {
    if !batch.is_empty() {
        let class = batch.class();
        shared.deliver_batch(std::mem::replace(batch, Batch::new(peer.clone(), class)));
    }
}

/// Reads frames of one class from one inbound unidirectional stream into the inbox. The
/// frames already wholly buffered are admitted together (one rate reservation and one budget
/// operation for the run) and taken without waiting; they are handed over in batches (one
/// inbox wake-up per batch, not per frame). A frame not wholly buffered is read on its own,
/// after the batch is flushed, since reading it may wait.
async fn read_uni(shared: Arc<Shared>, peer: Arc<Peer>, conn: Connection, recv: RecvStream) {
    let mut reader = FrameReader::new(recv);
    let Some(class) = read_class(&shared, &peer, &mut reader).await else {
        return;
    };
    let max_len = shared.config.max_frame_bytes;
    // A run must fit in an empty budget, or waiting for room for it would never end.
    let (max_frames, max_kib) = peer.inbox.max();
    // Frames taken into the batch hold their inbox budget; the batch gives back whatever
    // it still holds if it is dropped undelivered.
    let mut batch = Batch::new(peer.clone(), class);
    loop {
        let room = u32::try_from(DELIVER_BATCH_FRAMES - batch.len()).unwrap_or(u32::MAX);
        let run = reader.buffered_run(max_len, room.min(max_frames), max_kib);
        if run.frames > 0 {
            if !admit_run(&shared, &peer, &conn, &mut batch, run).await {
                return;
            }
            let (mut frames, mut kibs) = (run.frames, run.kib);
            while frames > 0 {
                match reader.take_buffered() {
                    Ok(frame) => {
                        let k = kib(frame.len());
                        batch.push(frame, k);
                        frames -= 1;
                        kibs -= k;
                    }
                    Err(e) => {
                        peer.inbox.give(frames, kibs);
                        flush(&shared, &peer, &mut batch);
                        return frame_error(&shared, &peer, &e);
                    }
                }
            }
            if batch.len() >= DELIVER_BATCH_FRAMES {
                flush(&shared, &peer, &mut batch);
            }
            continue;
        }
        // The next frame is not wholly here (or its length is wrong): on its own.
        flush(&shared, &peer, &mut batch);
        let len = match reader.len().await {
            Ok(Some(len)) => len,
            Ok(None) => break,
            Err(e) => return frame_error(&shared, &peer, &e),
        };
        if let Err(e) = check_len(len, max_len) {
            return frame_error(&shared, &peer, &e);
        }
        let one = Run {
            frames: 1,
            bytes: len,
            kib: kib(len),
        };
        if !admit_run(&shared, &peer, &conn, &mut batch, one).await {
            return;
        }
        match reader.body(len).await {
            Ok(frame) => batch.push(frame, one.kib),
            Err(e) => {
                peer.inbox.give(1, one.kib);
                return frame_error(&shared, &peer, &e);
            }
        }
    }
    flush(&shared, &peer, &mut batch);
}

/// Answers one inbound request stream (T-3.4): header, one frame, hand it to the
/// application, write its answer as one frame and finish; reset the stream if the application
/// drops the request or does not answer in time.
async fn serve_request(
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    conn: Connection,
    mut send: SendStream,
    recv: RecvStream,
) {
    let mut reader = FrameReader::new(recv);
    let read = async {
        let class = read_class(&shared, &peer, &mut reader).await?;
        let len = match reader.len().await {
            Ok(Some(len)) => len,
            Ok(None) => {
                frame_error(&shared, &peer, &FrameError::Truncated);
                return None;
            }
            Err(e) => {
                frame_error(&shared, &peer, &e);
                return None;
            }
        };
        let (frame, permits) = read_admitted(&shared, &peer, &conn, &mut reader, len).await?;
        Some((class, frame, permits))
    };
    let Ok(Some((class, frame, permits))) =
        tokio::time::timeout(REQUEST_HANDLER_TIMEOUT, read).await
    else {
        let _ = send.reset(CODE_NO_RESPONSE);
        return;
    };
    let (tx, rx) = oneshot::channel();
    shared.deliver_request(Request::new(
        peer.clone(),
        class,
        frame,
        Responder::new(tx, shared.config.max_frame_bytes),
        permits,
    ));
    let _ = send.set_priority(class.priority());
    match tokio::time::timeout(REQUEST_HANDLER_TIMEOUT, rx).await {
        Ok(Ok(answer)) => {
            let mut chunks = [header(answer.len()), answer];
            if send.write_all_chunks(&mut chunks).await.is_ok() {
                let _ = send.finish();
            }
        }
        _ => {
            let _ = send.reset(CODE_NO_RESPONSE);
        }
    }
}

/// The requesting side of T-3.4 on an established connection.
pub(crate) async fn request_on(
    shared: &Shared,
    peer: &Peer,
    conn: &Connection,
    class: Class,
    frame: Bytes,
) -> Result<Bytes, TransportError> {
    let connection = |e: &dyn std::fmt::Display| TransportError::Connection(e.to_string());
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| connection(&e))?;
    let _ = send.set_priority(class.priority());
    let mut chunks = [
        Bytes::copy_from_slice(&[class.tag()]),
        header(frame.len()),
        frame,
    ];
    send.write_all_chunks(&mut chunks)
        .await
        .map_err(|e| connection(&e))?;
    let _ = send.finish();
    match read_frame(&mut recv, shared.config.max_frame_bytes).await {
        Ok(answer) => Ok(answer),
        Err(FrameError::Io(e)) => Err(TransportError::Connection(e)),
        Err(e) => {
            frame_error(shared, peer, &e);
            Err(TransportError::MalformedResponse(match e {
                FrameError::TooLarge { .. } => "too large",
                FrameError::Version(_) => "wrong wire version",
                FrameError::Empty => "empty",
                _ => "truncated",
            }))
        }
    }
}
