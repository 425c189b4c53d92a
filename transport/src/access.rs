//! Who may connect: the peer registry and the block list (`specs/transport.md` §1, §7).
//!
//! Shared between the TLS verifiers (which run inside quinn's tasks during handshakes) and
//! the network, behind one short-held lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use shardnet_protocol::PublicKey;
use tokio::time::Instant;

/// The registry and the block list.
#[derive(Debug)]
pub(crate) struct Access {
    me: PublicKey,
    state: Mutex<State>,
    /// Entries in `state.blocked`, so the common case (nobody blocked) needs no lock.
    blocked_count: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    known: BTreeSet<PublicKey>,
    blocked: BTreeMap<PublicKey, Instant>,
}

impl Access {
    pub(crate) fn new(me: PublicKey, known: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            me,
            state: Mutex::new(State {
                known: known.into_iter().filter(|k| *k != me).collect(),
                blocked: BTreeMap::new(),
            }),
            blocked_count: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the sets inconsistent (every update
        // is a single insert or remove), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// T-1.3: registered, not ourselves, and not blocked right now.
    pub(crate) fn admits(&self, key: &PublicKey) -> bool {
        let state = self.lock();
        *key != self.me
            && state.known.contains(key)
            && state
                .blocked
                .get(key)
                .is_none_or(|until| *until <= Instant::now())
    }

    /// When the block on `key` ends, if it is blocked now.
    pub(crate) fn blocked_until(&self, key: &PublicKey) -> Option<Instant> {
        if self.blocked_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut state = self.lock();
        let found = match state.blocked.get(key) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                state.blocked.remove(key);
                None
            }
            None => None,
        };
        self.blocked_count
            .store(state.blocked.len(), Ordering::Release);
        found
    }

    pub(crate) fn block(&self, key: PublicKey, until: Instant) {
        let mut state = self.lock();
        let entry = state.blocked.entry(key).or_insert(until);
        *entry = (*entry).max(until);
        self.blocked_count
            .store(state.blocked.len(), Ordering::Release);
    }

    pub(crate) fn unblock(&self, key: &PublicKey) {
        let mut state = self.lock();
        state.blocked.remove(key);
        self.blocked_count
            .store(state.blocked.len(), Ordering::Release);
    }

    /// Replaces the registry.
    pub(crate) fn set_known(&self, known: impl IntoIterator<Item = PublicKey>) {
        let mut state = self.lock();
        state.known = known.into_iter().filter(|k| *k != self.me).collect();
    }
}
