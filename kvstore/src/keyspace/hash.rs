//! `Hash`: the value of a Redis hash, in Redis's two encodings.
//!
//! Small hashes are a vector of pairs in insertion order, as Redis's listpack keeps them
//! (so HGETALL, HKEYS and HSCAN answer in the same order as redis-server); once a hash has
//! more than `hash-max-listpack-entries` fields, or a field or value longer than
//! `hash-max-listpack-value` bytes, it becomes a [`SlotTable`] for good, as in Redis.

use bytes::Bytes;
use rand::Rng;

use super::own;
use super::table::SlotTable;

/// The `hash-max-listpack-*` thresholds in force.
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    Listpack(Vec<(Bytes, Bytes)>),
    Table(SlotTable<Bytes>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Vec::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.len(),
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            Hash::Listpack(v) => v.iter().find(|(f, _)| f[..] == *field).map(|(_, v)| v),
            Hash::Table(t) => t.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Redis's `hashTypeTryConversion`: leaves the listpack encoding before a write
    /// carrying any string longer than the value limit.
    pub fn prepare_for(&mut self, lens: impl IntoIterator<Item = usize>, limits: HashLimits) {
        if matches!(self, Hash::Listpack(_)) && lens.into_iter().any(|l| l > limits.max_value) {
            self.convert();
        }
    }

    /// Sets a field; returns true when it is new. Converts as Redis's `hashTypeSet` does.
    pub fn set(&mut self, field: Bytes, value: Bytes, limits: HashLimits) -> bool {
        self.prepare_for([field.len(), value.len()], limits);
        let value = own(value);
        match self {
            Hash::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| f[..] == field[..]) {
                    slot.1 = value;
                    return false;
                }
                v.push((own(field), value));
                if v.len() > limits.max_entries {
                    self.convert();
                }
                true
            }
            Hash::Table(t) => {
                if let Some(slot) = t.get_mut(&field) {
                    *slot = value;
                    return false;
                }
                t.insert(own(field), value);
                true
            }
        }
    }

    /// Deletes a field; returns true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(v) => match v.iter().position(|(f, _)| f[..] == *field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    fn convert(&mut self) {
        if let Hash::Listpack(v) = self {
            let mut t = SlotTable::with_capacity(v.len());
            for (f, val) in v.drain(..) {
                t.insert(f, val);
            }
            *self = Hash::Table(t);
        }
    }

    /// Fields and values in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, &Bytes)> + '_> {
        match self {
            Hash::Listpack(v) => Box::new(v.iter().map(|(f, v)| (f, v))),
            Hash::Table(t) => Box::new(t.iter()),
        }
    }

    /// A uniformly random field and its value.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&Bytes, &Bytes)> {
        match self {
            Hash::Listpack(v) if v.is_empty() => None,
            Hash::Listpack(v) => {
                let (f, val) = &v[rng.gen_range(0..v.len())];
                Some((f, val))
            }
            Hash::Table(t) => t.random(rng),
        }
    }

    /// One HSCAN step: a listpack hash answers whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &Bytes)>) {
        match self {
            Hash::Listpack(v) => (0, v.iter().map(|(f, v)| (f, v)).collect()),
            Hash::Table(t) => t.scan(cursor, count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 8,
    };

    #[test]
    fn listpack_keeps_insertion_order_until_a_threshold() {
        let mut h = Hash::default();
        for f in ["c", "a", "b"] {
            assert!(h.set(Bytes::from(f), Bytes::from("1"), LIMITS));
        }
        assert!(!h.set(Bytes::from("a"), Bytes::from("2"), LIMITS));
        assert!(h.remove(b"c"));
        let order: Vec<_> = h.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(order, ["a", "b"]);
        assert_eq!(h.encoding(), "listpack");
        h.set(Bytes::from("long"), Bytes::from("123456789"), LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a").map(|v| &v[..]), Some(&b"2"[..]));
        let mut h = Hash::default();
        for f in ["1", "2", "3", "4", "5"] {
            h.set(Bytes::from(f), Bytes::new(), LIMITS);
        }
        assert_eq!(h.encoding(), "hashtable");
    }
}
