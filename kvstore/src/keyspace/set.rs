//! `Set`: the value of a Redis set, in Redis 7.0's two encodings.
//!
//! A set whose members are all integers in canonical form (`string2ll`) is a sorted vector
//! of `i64` while it has at most `set-max-intset-entries` members, like Redis's intset (so
//! SMEMBERS answers in ascending order, as redis-server does); any other member, or one
//! member too many, turns it into a [`SlotTable`] for good.

use bytes::Bytes;
use rand::Rng;

use super::own;
use super::table::SlotTable;
use crate::number::parse_i64;

/// Redis caps the intset at 2^30 members whatever the configuration says.
const INTSET_HARD_MAX: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Intset(Vec<i64>),
    Table(Box<SlotTable<()>>),
}

impl Set {
    /// Redis's `setTypeCreate`: the encoding that can hold `first`.
    pub fn for_member(first: &[u8]) -> Set {
        if parse_i64(first).is_some() {
            Set::Intset(Vec::new())
        } else {
            Set::Table(Box::default())
        }
    }

    /// An empty intset, which the set operations start from (`createIntsetObject`).
    pub fn new() -> Set {
        Set::Intset(Vec::new())
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Table(t) => t.contains(member),
        }
    }

    /// Adds a member; returns true when it is new (Redis's `setTypeAdd`).
    pub fn add(&mut self, member: Bytes, max_intset: usize) -> bool {
        match self {
            Set::Intset(v) => match parse_i64(&member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => false,
                    Err(at) => {
                        v.insert(at, n);
                        if v.len() > max_intset.min(INTSET_HARD_MAX) {
                            self.convert();
                        }
                        true
                    }
                },
                None => {
                    self.convert();
                    self.add(member, max_intset)
                }
            },
            Set::Table(t) => {
                if t.contains(&member) {
                    return false;
                }
                t.insert(own(member), ());
                true
            }
        }
    }

    /// Removes a member; returns true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Set::Table(t) => t.remove(member).is_some(),
        }
    }

    fn convert(&mut self) {
        if let Set::Intset(v) = self {
            let mut t = SlotTable::with_capacity(v.len() + 1);
            for n in v.iter() {
                t.insert(int_bytes(*n), ());
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Members in the encoding's order (ascending for an intset).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Bytes> + '_> {
        match self {
            Set::Intset(v) => Box::new(v.iter().map(|&n| int_bytes(n))),
            Set::Table(t) => Box::new(t.iter().map(|(k, _)| k.clone())),
        }
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Bytes> {
        match self {
            Set::Intset(v) if v.is_empty() => None,
            Set::Intset(v) => Some(int_bytes(v[rng.gen_range(0..v.len())])),
            Set::Table(t) => t.random(rng).map(|(k, _)| k.clone()),
        }
    }

    /// One SSCAN step: an intset answers whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        match self {
            Set::Intset(_) => (0, self.iter().collect()),
            Set::Table(t) => {
                let (next, items) = t.scan(cursor, count);
                (next, items.into_iter().map(|(k, _)| k.clone()).collect())
            }
        }
    }
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

fn int_bytes(n: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_stays_sorted_until_a_string_or_too_many() {
        let mut s = Set::for_member(b"3");
        for m in ["3", "-1", "10", "3"] {
            s.add(Bytes::from(m), 3);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), ["-1", "3", "10"]);
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains(b"10") && !s.contains(b"010"));
        s.add(Bytes::from("4"), 3);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::for_member(b"1");
        s.add(Bytes::from("1"), 512);
        s.add(Bytes::from("x"), 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"1") && s.remove(b"x") && s.is_empty());
    }
}
