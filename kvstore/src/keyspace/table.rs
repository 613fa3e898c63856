//! `SlotTable`: the "hashtable" encoding of hashes and sets.
//!
//! Members live in a vector of slots whose indices never move while the member lives (a
//! freed slot is reused by a later insertion), and a hash index maps a member to its slot.
//! HSCAN / SSCAN walk the slots, so a cursor returns every member present for the whole
//! scan, as Redis's reverse-binary cursor does, even while others come and go. The index
//! stores only the 4-byte slot number: each member's bytes are stored once.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashTable;
use rand::Rng;

type Hasher = foldhash::fast::RandomState;

/// Members (`Bytes`) with a value each (`()` for sets), in stable slots.
#[derive(Clone, Default)]
pub struct SlotTable<V> {
    index: HashTable<u32>,
    slots: Vec<Option<(Bytes, V)>>,
    /// Freed slots; entries at or past `slots.len()` are stale (the tail was trimmed).
    free: Vec<u32>,
    hasher: Hasher,
}

impl<V> SlotTable<V> {
    pub fn with_capacity(n: usize) -> Self {
        SlotTable {
            index: HashTable::with_capacity(n),
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            hasher: Hasher::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        let slots = &self.slots;
        self.index
            .find(hash, |&i| slot_key(slots, i) == member)
            .copied()
    }

    pub fn get(&self, member: &[u8]) -> Option<&V> {
        let i = self.find(member)?;
        self.slots[i as usize].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, member: &[u8]) -> Option<&mut V> {
        let i = self.find(member)?;
        self.slots[i as usize].as_mut().map(|(_, v)| v)
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, member: Bytes, value: V) -> Option<V> {
        if let Some(i) = self.find(&member) {
            let slot = self.slots[i as usize].as_mut().expect("indexed slot");
            return Some(std::mem::replace(&mut slot.1, value));
        }
        let hash = self.hasher.hash_one(&member[..]);
        let i = loop {
            match self.free.pop() {
                Some(i) if (i as usize) < self.slots.len() => break i,
                Some(_) => continue,
                None => {
                    self.slots.push(None);
                    break (self.slots.len() - 1) as u32;
                }
            }
        };
        self.slots[i as usize] = Some((member, value));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| hasher.hash_one(slot_key(slots, j)));
        None
    }

    /// Removes a member; returns its value.
    pub fn remove(&mut self, member: &[u8]) -> Option<V> {
        let hash = self.hasher.hash_one(member);
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(hash, |&i| slot_key(slots, i) == member)
            .ok()?;
        let (i, _) = entry.remove();
        let (_, value) = self.slots[i as usize].take().expect("indexed slot");
        // Trailing free slots are dropped: no live member moves, so cursors stay valid.
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        if (i as usize) < self.slots.len() {
            self.free.push(i);
        }
        if self.free.len() > 2 * self.slots.len() + 16 {
            let len = self.slots.len();
            self.free.retain(|&f| (f as usize) < len);
        }
        if self.index.is_empty() {
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.shrink_if_sparse();
        }
        Some(value)
    }

    /// Gives memory back after mass deletions, as Redis resizes a dict that fell below a
    /// tenth of its capacity. Only spare capacity goes: no live member changes slot.
    fn shrink_if_sparse(&mut self) {
        let len = self.index.len();
        if self.index.capacity() > 64 && len * 10 < self.index.capacity() {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.index
                .shrink_to(len * 2, |&j| hasher.hash_one(slot_key(slots, j)));
        }
        if self.slots.capacity() > 64 && self.slots.len() * 4 < self.slots.capacity() {
            self.slots.shrink_to(self.slots.len() * 2);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    /// A uniformly random member, `None` when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&Bytes, &V)> {
        if self.is_empty() {
            return None;
        }
        for _ in 0..32 {
            if let Some((k, v)) = &self.slots[rng.gen_range(0..self.slots.len())] {
                return Some((k, v));
            }
        }
        // A sparse table: pick the n-th live member instead.
        let n = rng.gen_range(0..self.len());
        self.iter().nth(n)
    }

    /// One step of HSCAN / SSCAN: visits slots from `cursor` until `count` members were
    /// seen. Returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &V)>) {
        let mut out = Vec::with_capacity(count.min(1024));
        let mut i = usize::try_from(cursor).unwrap_or(usize::MAX);
        while i < self.slots.len() && out.len() < count {
            if let Some((k, v)) = &self.slots[i] {
                out.push((k, v));
            }
            i += 1;
        }
        let next = if i >= self.slots.len() { 0 } else { i as u64 };
        (next, out)
    }
}

fn slot_key<V>(slots: &[Option<(Bytes, V)>], i: u32) -> &[u8] {
    slots[i as usize].as_ref().map_or(&[][..], |(k, _)| &k[..])
}

impl<V: PartialEq> PartialEq for SlotTable<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for SlotTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_put_and_are_reused() {
        let mut t = SlotTable::default();
        for i in 0..100 {
            assert_eq!(t.insert(Bytes::from(format!("m{i}")), i), None);
        }
        assert_eq!(t.insert(Bytes::from("m5"), 500), Some(5));
        for i in (0..100).step_by(2) {
            assert!(t.remove(format!("m{i}").as_bytes()).is_some());
        }
        assert_eq!(t.len(), 50);
        assert_eq!(t.get(b"m99"), Some(&99));
        assert!(!t.contains(b"m98"));
        // Scanning while inserting still returns every original member.
        let mut seen = 0;
        let mut cursor = 0;
        let mut n = 0;
        loop {
            let (next, items) = t.scan(cursor, 7);
            seen += items.iter().filter(|(k, _)| k.starts_with(b"m")).count();
            t.insert(Bytes::from(format!("new{n}")), 0);
            n += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert!(seen >= 50);
        let mut rng = rand::thread_rng();
        assert!(t.random(&mut rng).is_some());
        for i in 0..100 {
            t.remove(format!("m{i}").as_bytes());
            t.remove(format!("new{i}").as_bytes());
        }
        assert!(t.is_empty());
        assert!(t.random(&mut rng).is_none());
    }
}
