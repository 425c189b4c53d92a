//! Fetching blocks this validator lacks: ancestors of certified blocks (B-3) and, when far
//! behind, committed blocks with their finality proofs (B-4).

use std::collections::BTreeMap;
use std::sync::Arc;

use shardnet_protocol::limits::MAX_SYNC_BLOCKS;
use shardnet_protocol::{Block, BlockHash, BoundedVec, Height, QuorumCert, ValidatorIndex};

use super::{Core, Fault, Output, TimerId};
use crate::block_tree::{TreeError, check_extends};
use crate::messages::{CommittedBlock, ConsensusMessage};

/// One outstanding request.
#[derive(Debug)]
struct Pending {
    id: u64,
    attempts: u32,
    peers: Vec<ValidatorIndex>,
    next_peer: usize,
    message: ConsensusMessage,
}

/// Outstanding sync requests, keyed by what they fetch.
#[derive(Debug, Default)]
pub(super) struct SyncState {
    next_id: u64,
    blocks: BTreeMap<BlockHash, Pending>,
    catch_up: Option<Pending>,
}

impl SyncState {
    /// A block arrived: stop asking for it.
    pub(super) fn resolved(&mut self, hash: &BlockHash) {
        self.blocks.remove(hash);
    }
}

impl Core {
    /// B-3 / B-4: fetch the block certified by `qc`, or catch up if it is far ahead. The peer
    /// that showed us `qc` (`shown_by`: a proposer that extended the block, a peer whose
    /// timeout or sync answer carried the QC) is asked first, since it has the block if it is
    /// honest; then the QC's signers, then everyone else. Asking the signers in index order
    /// first would let one signer that cannot or will not answer (a Byzantine one, or a twin
    /// that never saw the block) cost every fetch `sync_retry_ms`.
    pub(super) fn request_missing(
        &mut self,
        now_ms: u64,
        qc: &QuorumCert,
        shown_by: Option<ValidatorIndex>,
    ) {
        let committed = self.tree.committed_height();
        let gap = qc.data.height.0.saturating_sub(committed.0);
        let mut peers: Vec<ValidatorIndex> = shown_by
            .into_iter()
            .filter(|i| i.as_usize() < self.committee.len())
            .chain(qc.signers.iter().filter(|i| Some(*i) != shown_by))
            .filter(|i| Some(*i) != self.index())
            .collect();
        let others: Vec<ValidatorIndex> = (0..self.committee.len() as u16)
            .map(ValidatorIndex)
            .filter(|i| Some(*i) != self.index() && !peers.contains(i))
            .collect();
        peers.extend(others);
        if peers.is_empty() {
            return;
        }
        if gap > MAX_SYNC_BLOCKS as u64 {
            return self.start_catch_up(now_ms, peers);
        }
        let hash = qc.block();
        if self.sync.blocks.contains_key(&hash) || self.sync.blocks.len() >= 64 {
            return;
        }
        let count = gap.clamp(1, MAX_SYNC_BLOCKS as u64) as u16;
        let message = ConsensusMessage::BlockRequest { hash, count };
        let pending = self.new_pending(peers, message);
        self.sync.blocks.insert(hash, pending);
        self.send_pending(now_ms, Some(hash));
    }

    /// B-4: ask `peers` (then everyone else) for committed blocks above our head.
    fn start_catch_up(&mut self, now_ms: u64, mut peers: Vec<ValidatorIndex>) {
        if self.sync.catch_up.is_some() {
            return;
        }
        peers.retain(|p| Some(*p) != self.index());
        for i in (0..self.committee.len() as u16).map(ValidatorIndex) {
            if Some(i) != self.index() && !peers.contains(&i) {
                peers.push(i);
            }
        }
        if peers.is_empty() {
            return;
        }
        let from = self.tree.committed_height().next();
        let pending = self.new_pending(peers, ConsensusMessage::CommittedRequest { from });
        self.sync.catch_up = Some(pending);
        self.send_pending(now_ms, None);
    }

    fn new_pending(&mut self, peers: Vec<ValidatorIndex>, message: ConsensusMessage) -> Pending {
        self.sync.next_id += 1;
        Pending {
            id: self.sync.next_id,
            attempts: 0,
            peers,
            next_peer: 0,
            message,
        }
    }

    /// Sends (or re-sends to the next peer) the request for `hash`, or the catch-up.
    fn send_pending(&mut self, now_ms: u64, hash: Option<BlockHash>) {
        let retry = self.cfg.sync_retry_ms;
        let max = self.cfg.max_sync_retries;
        let slot = match hash {
            Some(h) => self.sync.blocks.get_mut(&h),
            None => self.sync.catch_up.as_mut(),
        };
        let Some(p) = slot else { return };
        if p.attempts >= max {
            match hash {
                Some(h) => {
                    self.sync.blocks.remove(&h);
                }
                None => self.sync.catch_up = None,
            }
            return;
        }
        let to = p.peers[p.next_peer % p.peers.len()];
        p.next_peer += 1;
        p.attempts += 1;
        let (id, message) = (p.id, p.message.clone());
        self.outputs.push_back(Output::Send { to, message });
        self.outputs.push_back(Output::SetTimer {
            timer: TimerId::Sync(id),
            at_ms: now_ms + retry,
        });
    }

    pub(super) fn on_sync_timer(&mut self, now_ms: u64, id: u64) {
        if self.sync.catch_up.as_ref().is_some_and(|p| p.id == id) {
            return self.send_pending(now_ms, None);
        }
        let hash = self
            .sync
            .blocks
            .iter()
            .find(|(_, p)| p.id == id)
            .map(|(h, _)| *h);
        if let Some(h) = hash {
            self.send_pending(now_ms, Some(h));
        }
    }

    pub(super) fn on_block_request(&mut self, from: ValidatorIndex, hash: BlockHash, count: u16) {
        let count = usize::from(count).min(MAX_SYNC_BLOCKS);
        let mut blocks = self.tree.chain_ending_at(&hash, count);
        if blocks.is_empty() {
            // Perhaps an older committed block: walk the retained log backwards.
            let mut want = hash;
            for c in self.committed_log.iter().rev() {
                if blocks.len() >= count {
                    break;
                }
                if c.block.hash() == want {
                    blocks.push(c.block.clone());
                    want = c.block.header.parent;
                }
            }
        }
        if let Ok(blocks) = BoundedVec::try_from_vec(blocks)
            && !blocks.is_empty()
        {
            self.outputs.push_back(Output::Send {
                to: from,
                message: ConsensusMessage::BlockResponse(blocks),
            });
        }
    }

    /// B-3: accept a chain ending at a block we asked for, verifying every link and QC.
    pub(super) fn on_block_response(
        &mut self,
        now_ms: u64,
        from: ValidatorIndex,
        blocks: Vec<Block>,
    ) {
        let Some(newest) = blocks.first() else { return };
        if !self.sync.blocks.contains_key(&newest.hash()) {
            return; // Unsolicited or already resolved.
        }
        if blocks.windows(2).any(|w| w[0].header.parent != w[1].hash()) {
            return self.fault(from, Fault::BadSyncResponse("blocks do not form a chain"));
        }
        for block in blocks.into_iter().rev() {
            if self.tree.contains(&block.hash())
                || block.header.height <= self.tree.committed_height()
            {
                continue;
            }
            if let Err(e) = self.verify_qc(&block.justify) {
                return self.fault(from, Fault::InvalidCert(e));
            }
            let justify = block.justify.clone();
            let hash = block.hash();
            match self.tree.insert(Arc::new(block)) {
                Ok(()) => {
                    self.process_qc(now_ms, justify, Some(from));
                    self.on_block_inserted(now_ms, hash);
                }
                Err(TreeError::UnknownParent) => {
                    // The answer stopped at the responder's committed head above ours: the
                    // blocks in between are committed, so fetch them with proofs (B-4), from
                    // the responder first: it has them (a QC signer need not, e.g. a twin
                    // that never saw them).
                    self.sync.resolved(&hash);
                    let peers = std::iter::once(from)
                        .chain(justify.signers.iter().filter(|s| *s != from))
                        .collect();
                    self.start_catch_up(now_ms, peers);
                    return;
                }
                Err(TreeError::Stale) => {}
                Err(TreeError::Malformed(why)) => {
                    return self.fault(from, Fault::MalformedBlock(why));
                }
            }
        }
    }

    pub(super) fn on_committed_request(&mut self, from: ValidatorIndex, height: Height) {
        let entries: Vec<CommittedBlock> = self
            .committed_log
            .iter()
            .filter(|c| c.block.header.height >= height)
            .take(MAX_SYNC_BLOCKS)
            .map(|c| CommittedBlock::clone(c))
            .collect();
        if let Ok(entries) = BoundedVec::try_from_vec(entries)
            && !entries.is_empty()
        {
            self.outputs.push_back(Output::Send {
                to: from,
                message: ConsensusMessage::CommittedResponse(entries),
            });
        }
    }

    /// B-4: commit blocks whose finality proofs verify, in height order from our head.
    pub(super) fn on_committed_response(
        &mut self,
        now_ms: u64,
        from: ValidatorIndex,
        entries: Vec<CommittedBlock>,
    ) {
        if self.sync.catch_up.is_none() {
            return;
        }
        let full = entries.len() >= MAX_SYNC_BLOCKS;
        // Only the newest proof's QC is processed, after the loop: processing each one would
        // fetch (B-3) the block it certifies, which the next entry commits anyway, and those
        // requests would then be retried to every peer (they never resolve).
        let mut last_qc = None;
        let mut fault = None;
        for entry in entries {
            let head = Arc::clone(self.tree.committed());
            if entry.block.header.height <= head.header.height {
                continue;
            }
            if entry.block.hash() != entry.proof.header.hash() {
                fault = Some(Fault::BadSyncResponse("proof is for another block"));
                break;
            }
            if let Err(why) = check_extends(&head.header, &entry.block) {
                if let TreeError::Malformed(why) = why {
                    fault = Some(Fault::MalformedBlock(why));
                }
                break;
            }
            if let Err(e) = entry.proof.verify_with(&self.committee) {
                fault = Some(Fault::InvalidCert(e));
                break;
            }
            let block = Arc::new(entry.block.clone());
            last_qc = Some(entry.proof.qc.clone());
            self.sync.resolved(&block.hash());
            // Reputation (C-5) is fed from the committed chain however it was learned, or a
            // validator that caught up would disagree with the others on leaders.
            self.leaders.observe_committed_block(&block);
            self.record_commit(Arc::new(entry));
            if self.tree.contains(&block.hash()) {
                self.tree.advance_committed(block.hash());
            } else {
                self.tree.reset(block);
            }
        }
        let progressed = last_qc.is_some();
        if let Some(qc) = last_qc {
            self.process_qc(now_ms, qc, Some(from));
        }
        if let Some(fault) = fault {
            // Keep the catch-up pending: its retry asks another peer.
            return self.fault(from, fault);
        }
        self.sync.catch_up = None;
        if progressed && full {
            let qc = self.high_qc.clone();
            self.request_missing(now_ms, &qc, Some(from));
        }
    }
}
