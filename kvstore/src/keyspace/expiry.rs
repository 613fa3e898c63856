//! Keys ordered by expiry time, so the active sweep finds due keys without sampling.

use std::collections::BTreeSet;

use bytes::Bytes;

/// `(expire_at_ms, key)` pairs; the soonest first.
#[derive(Debug, Default)]
pub struct ExpiryIndex {
    set: BTreeSet<(u64, Bytes)>,
}

impl ExpiryIndex {
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn insert(&mut self, at: u64, key: Bytes) {
        self.set.insert((at, key));
    }

    pub fn remove(&mut self, at: u64, key: &Bytes) {
        self.set.remove(&(at, key.clone()));
    }

    /// Removes and returns a key whose time is `<= now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Bytes> {
        match self.set.first() {
            Some((at, _)) if *at <= now => self.set.pop_first().map(|(_, k)| k),
            _ => None,
        }
    }
}
