//! `Hash`: the value of a Redis hash, in Redis's two encodings.
//!
//! A small hash is a [`Listpack`]: its fields and values packed into one buffer in insertion
//! order, as Redis's listpack keeps them (so HGETALL, HKEYS and HSCAN answer in the same
//! order as redis-server, and a small hash costs a few bytes per field rather than a few
//! allocations). Once a hash has more than `hash-max-listpack-entries` fields, or a field
//! or value longer than `hash-max-listpack-value` bytes, it becomes a [`SlotTable`] for
//! good, as in Redis.

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

/// A field and its value, borrowed from a hash.
pub type FieldValue<'a> = (&'a [u8], &'a [u8]);

#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    Listpack(Listpack),
    Table(Box<SlotTable<Bytes>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::default())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(l) => l.len,
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

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack(l) => l.find(field).map(|at| &l.buf[at.value.clone()]),
            Hash::Table(t) => t.get(field).map(|v| &v[..]),
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
        match self {
            Hash::Listpack(l) => {
                if let Some(at) = l.find(&field) {
                    l.buf.splice(at.value_with_len, encoded(&value));
                    return false;
                }
                l.push(&field, &value);
                if l.len > limits.max_entries {
                    self.convert();
                }
                true
            }
            Hash::Table(t) => {
                if let Some(slot) = t.get_mut(&field) {
                    *slot = own(value);
                    return false;
                }
                t.insert(own(field), own(value));
                true
            }
        }
    }

    /// Deletes a field; returns true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(l) => match l.find(field) {
                Some(at) => {
                    l.buf.drain(at.pair);
                    l.len -= 1;
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    fn convert(&mut self) {
        if let Hash::Listpack(l) = self {
            let mut t = SlotTable::with_capacity(l.len);
            for (f, v) in l.iter() {
                t.insert(Bytes::copy_from_slice(f), Bytes::copy_from_slice(v));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Fields and values in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Listpack(l) => Box::new(l.iter()),
            Hash::Table(t) => Box::new(t.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// A uniformly random field and its value.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack(l) if l.len == 0 => None,
            Hash::Listpack(l) => l.iter().nth(rng.gen_range(0..l.len)),
            Hash::Table(t) => t.random(rng).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// One HSCAN step: a listpack hash answers whole with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<FieldValue<'_>>) {
        match self {
            Hash::Listpack(l) => (0, l.iter().collect()),
            Hash::Table(t) => {
                let (next, items) = t.scan(cursor, count);
                (
                    next,
                    items.into_iter().map(|(f, v)| (&f[..], &v[..])).collect(),
                )
            }
        }
    }
}

/// Field-value pairs in insertion order in one buffer; each string is a LEB128 length
/// followed by its bytes. Lookups are linear, as in Redis's listpack, which is fine below
/// the entry threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listpack {
    buf: Vec<u8>,
    /// Number of pairs.
    len: usize,
}

/// Where a pair sits in the buffer.
struct PairAt {
    /// The whole pair, both lengths included.
    pair: std::ops::Range<usize>,
    /// The value's length prefix and bytes.
    value_with_len: std::ops::Range<usize>,
    /// The value's bytes.
    value: std::ops::Range<usize>,
}

impl Listpack {
    /// Appends a pair (the caller checked that the field is new).
    pub fn push(&mut self, field: &[u8], value: &[u8]) {
        // Exact growth, as Redis reallocates a listpack: small hashes keep no slack.
        self.buf.reserve_exact(field.len() + value.len() + 10);
        self.buf.extend_from_slice(&encoded(field));
        self.buf.extend_from_slice(&encoded(value));
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let field = self.string_at(&mut pos);
            let value = self.string_at(&mut pos);
            Some((&self.buf[field], &self.buf[value]))
        })
    }

    /// Reads the string starting at `*pos` (its length first), advancing past it.
    fn string_at(&self, pos: &mut usize) -> std::ops::Range<usize> {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = self.buf[*pos];
            *pos += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let start = *pos;
        *pos += len;
        start..*pos
    }

    fn find(&self, field: &[u8]) -> Option<PairAt> {
        let mut pos = 0;
        while pos < self.buf.len() {
            let start = pos;
            let f = self.string_at(&mut pos);
            let value_start = pos;
            let value = self.string_at(&mut pos);
            if self.buf[f] == *field {
                return Some(PairAt {
                    pair: start..pos,
                    value_with_len: value_start..pos,
                    value,
                });
            }
        }
        None
    }
}

/// A string with its LEB128 length prefix.
fn encoded(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 5);
    let mut n = s.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(s);
    out
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
        let order: Vec<_> = h.iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(order, [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(h.encoding(), "listpack");
        h.set(Bytes::from("long"), Bytes::from("123456789"), LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        let mut h = Hash::default();
        for f in ["1", "2", "3", "4", "5"] {
            h.set(Bytes::from(f), Bytes::new(), LIMITS);
        }
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn listpack_handles_long_strings_and_replacements() {
        let limits = HashLimits {
            max_entries: 100,
            max_value: 100_000,
        };
        let mut h = Hash::default();
        let long = Bytes::from(vec![b'x'; 300]);
        h.set(Bytes::from("a"), long.clone(), limits);
        h.set(Bytes::from(""), Bytes::from(""), limits);
        h.set(long.clone(), Bytes::from("v"), limits);
        h.set(Bytes::from("a"), Bytes::from("short"), limits);
        assert_eq!(h.get(b"a"), Some(&b"short"[..]));
        assert_eq!(h.get(&long), Some(&b"v"[..]));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert!(h.remove(b""));
        assert_eq!(h.len(), 2);
        let fields: Vec<_> = h.iter().map(|(f, _)| f.len()).collect();
        assert_eq!(fields, [1, 300]);
        let mut rng = rand::thread_rng();
        assert!(h.random(&mut rng).is_some());
        assert_eq!(h.encoding(), "listpack");
    }
}
