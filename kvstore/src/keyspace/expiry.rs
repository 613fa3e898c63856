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

    /// The keys with the `n` soonest deadlines (volatile-ttl's candidates).
    pub fn soonest(&self, n: usize) -> impl Iterator<Item = &Bytes> {
        self.set.iter().take(n).map(|(_, k)| k)
    }

    /// A key at a random point of the deadlines' range: the first deadline at or after a
    /// time drawn uniformly between the soonest and the latest (the volatile policies'
    /// sample when few keys have a TTL).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&Bytes> {
        let (first, last) = (self.set.first()?.0, self.set.last()?.0);
        let at = rng.gen_range(first..=last);
        let (_, key) = self.set.range((at, Bytes::new())..).next()?;
        Some(key)
    }

    /// Removes and returns a key whose time is `<= now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Bytes> {
        match self.set.first() {
            Some((at, _)) if *at <= now => self.set.pop_first().map(|(_, k)| k),
            _ => None,
        }
    }
}
