//! Keys ordered by expiry time, so the active sweep finds due keys without sampling.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use bytes::Bytes;

/// `(expire_at_ms, hash of the key, key)` triples; the soonest first. Many keys share a
/// millisecond (a rate limiter sets the same TTL on every key it touches), and ordering those
/// by their bytes made every insert and removal compare keys with `memcmp` at each level of
/// the tree — 15% of an `INCR` + `EXPIRE` script's time at 100,000 keys. The hash orders them
/// by one integer comparison instead; the key only breaks ties between equal hashes.
#[derive(Debug, Default)]
pub struct ExpiryIndex {
    set: BTreeSet<(u64, u64, Bytes)>,
    hasher: foldhash::fast::FixedState,
}

impl ExpiryIndex {
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn insert(&mut self, at: u64, key: Bytes) {
        let hash = self.hasher.hash_one(&key);
        self.set.insert((at, hash, key));
    }

    pub fn remove(&mut self, at: u64, key: &Bytes) {
        let hash = self.hasher.hash_one(key);
        self.set.remove(&(at, hash, key.clone()));
    }

    /// The keys with the `n` soonest deadlines (volatile-ttl's candidates).
    pub fn soonest(&self, n: usize) -> impl Iterator<Item = &Bytes> {
        self.set.iter().take(n).map(|(_, _, k)| k)
    }

    /// A key at a random point of the deadlines' range: the first deadline at or after a
    /// time drawn uniformly between the soonest and the latest (the volatile policies'
    /// sample when few keys have a TTL).
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&Bytes> {
        let (first, last) = (self.set.first()?.0, self.set.last()?.0);
        let at = rng.gen_range(first..=last);
        let (_, _, key) = self.set.range((at, 0, Bytes::new())..).next()?;
        Some(key)
    }

    /// Removes and returns a key whose time is `<= now`, if any.
    pub fn pop_due(&mut self, now: u64) -> Option<Bytes> {
        match self.set.first() {
            Some((at, _, _)) if *at <= now => self.set.pop_first().map(|(_, _, k)| k),
            _ => None,
        }
    }
}
