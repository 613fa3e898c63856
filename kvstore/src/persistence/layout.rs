//! The on-disk layout: one sled entry per key.
//!
//! Key: the database number (4 bytes, big-endian, so each database is one contiguous range)
//! followed by the Redis key. Value: a type tag, a flags byte, the absolute expiry time in
//! Unix milliseconds when the flag says so, then the payload. Collection types will store one
//! sled entry per element under the same prefix scheme, so a write costs in proportion to the
//! change, never to the size of the value. Until then a list is one entry too: its elements
//! as a sequence of (4-byte big-endian length, bytes); a sorted set is its encoding byte, then
//! each member in order as the score's IEEE bits (8 bytes) and the length-prefixed member.
//!
//! Type tags follow Redis's RDB type numbers (string 0, list 1, set 2, zset 3, hash 4).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::keyspace::hash::Listpack;
use crate::keyspace::table::SlotTable;
use crate::keyspace::{Hash, Set, Value, ZSet};

// Type tags follow Redis's OBJ_* numbering.
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const HAS_EXPIRY: u8 = 1;

/// Collection payloads start with the encoding, so a restart restores OBJECT ENCODING too.
const ENC_SMALL: u8 = 0;
const ENC_TABLE: u8 = 1;

pub fn db_prefix(db: u32) -> [u8; 4] {
    db.to_be_bytes()
}

pub fn encode_key(db: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&db_prefix(db));
    k.extend_from_slice(key);
    k
}

pub fn split_key(k: &[u8]) -> Option<(u32, &[u8])> {
    let db = u32::from_be_bytes(k.get(..4)?.try_into().ok()?);
    Some((db, &k[4..]))
}

pub fn encode_value(value: &Value, expire_at: Option<u64>) -> Vec<u8> {
    let (kind, size) = match value {
        Value::Str(s) => (TYPE_STRING, s.len()),
        Value::Hash(h) => (
            TYPE_HASH,
            5 + h.iter().map(|(f, v)| 8 + f.len() + v.len()).sum::<usize>(),
        ),
        Value::Set(s) => (TYPE_SET, 5 + s.len() * 12),
        Value::List(items) => (TYPE_LIST, items.iter().map(|i| 4 + i.len()).sum()),
        Value::ZSet(z) => (
            TYPE_ZSET,
            1 + z.iter().map(|(_, m)| 12 + m.len()).sum::<usize>(),
        ),
    };
    let mut v = Vec::with_capacity(10 + size);
    v.push(kind);
    match expire_at {
        Some(at) => {
            v.push(HAS_EXPIRY);
            v.extend_from_slice(&at.to_be_bytes());
        }
        None => v.push(0),
    }
    match value {
        Value::Str(payload) => v.extend_from_slice(payload),
        Value::List(items) => {
            for item in items.iter() {
                v.extend_from_slice(&(item.len() as u32).to_be_bytes());
                v.extend_from_slice(item);
            }
        }
        // Whole-value encoding: [encoding][count u32] then length-prefixed strings (or
        // big-endian i64s for an intset).
        Value::Hash(h) => {
            v.push(if matches!(**h, Hash::Listpack(_)) {
                ENC_SMALL
            } else {
                ENC_TABLE
            });
            v.extend_from_slice(&(h.len() as u32).to_be_bytes());
            for (field, value) in h.iter() {
                put_str(&mut v, field);
                put_str(&mut v, value);
            }
        }
        Value::Set(s) => match &**s {
            Set::Intset(members) => {
                v.push(ENC_SMALL);
                v.extend_from_slice(&(members.len() as u32).to_be_bytes());
                members
                    .iter()
                    .for_each(|n| v.extend_from_slice(&n.to_be_bytes()));
            }
            Set::Table(t) => {
                v.push(ENC_TABLE);
                v.extend_from_slice(&(t.len() as u32).to_be_bytes());
                t.iter().for_each(|(m, _)| put_str(&mut v, m));
            }
        },
        Value::ZSet(z) => encode_zset(z, &mut v),
    }
    v
}

/// A sorted set as a whole: the encoding flag, then each (score, member) in order as the
/// score's IEEE bits (8 bytes) and the member length-prefixed (4 bytes), all big-endian.
fn encode_zset(z: &ZSet, out: &mut Vec<u8>) {
    out.push(if z.is_listpack() {
        ENC_SMALL
    } else {
        ENC_TABLE
    });
    for (score, member) in z.iter() {
        out.extend_from_slice(&score.to_bits().to_be_bytes());
        out.extend_from_slice(&(member.len() as u32).to_be_bytes());
        out.extend_from_slice(member);
    }
}

fn decode_zset(payload: &[u8]) -> Option<ZSet> {
    let (&listpack, mut rest) = payload.split_first()?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let score = f64::from_bits(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?));
        let len = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
        let member = rest.get(12..12 + len)?;
        items.push((score, Bytes::copy_from_slice(member)));
        rest = &rest[12 + len..];
    }
    Some(ZSet::from_sorted(items, listpack == ENC_SMALL))
}

/// The elements of a length-prefixed sequence, or `None` if it is malformed.
fn decode_items(mut rest: &[u8]) -> Option<VecDeque<Bytes>> {
    let mut items = VecDeque::new();
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let item = rest.get(4..4 + len)?;
        items.push_back(Bytes::copy_from_slice(item));
        rest = &rest[4 + len..];
    }
    Some(items)
}

fn put_str(v: &mut Vec<u8>, s: &[u8]) {
    v.extend_from_slice(&(s.len() as u32).to_be_bytes());
    v.extend_from_slice(s);
}

/// A cursor over a collection payload; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, &self.0[n..]);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Bytes> {
        let n = self.u32()?;
        Some(Bytes::copy_from_slice(self.take(n)?))
    }
}

fn decode_hash(rest: &[u8]) -> Option<Hash> {
    let mut r = Reader(rest);
    let encoding = r.u8()?;
    let n = r.u32()?;
    // The count comes from disk: never trust it for an allocation.
    let cap = n.min(r.0.len() / 8);
    let hash = if encoding == ENC_SMALL {
        let mut pairs = Listpack::default();
        for _ in 0..n {
            let field = r.bytes()?;
            pairs.push(&field, &r.bytes()?);
        }
        Hash::Listpack(pairs)
    } else {
        let mut t = SlotTable::with_capacity(cap);
        for _ in 0..n {
            let field = r.bytes()?;
            t.insert(field, r.bytes()?);
        }
        Hash::Table(Box::new(t))
    };
    r.0.is_empty().then_some(hash)
}

fn decode_set(rest: &[u8]) -> Option<Set> {
    let mut r = Reader(rest);
    let encoding = r.u8()?;
    let n = r.u32()?;
    let cap = n.min(r.0.len() / 4);
    let set = if encoding == ENC_SMALL {
        let mut members = Vec::with_capacity(cap);
        for _ in 0..n {
            members.push(r.i64()?);
        }
        Set::Intset(members)
    } else {
        let mut t = SlotTable::with_capacity(cap);
        for _ in 0..n {
            t.insert(r.bytes()?, ());
        }
        Set::Table(Box::new(t))
    };
    r.0.is_empty().then_some(set)
}

pub fn decode_value(v: &[u8]) -> Option<(Value, Option<u64>)> {
    let (&kind, rest) = v.split_first()?;
    let (&flags, mut rest) = rest.split_first()?;
    let expire_at = if flags & HAS_EXPIRY != 0 {
        let at = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        rest = &rest[8..];
        Some(at)
    } else {
        None
    };
    match kind {
        TYPE_STRING => Some((Value::Str(Bytes::copy_from_slice(rest)), expire_at)),
        TYPE_LIST => Some((Value::list(decode_items(rest)?), expire_at)),
        TYPE_HASH => Some((Value::Hash(Arc::new(decode_hash(rest)?)), expire_at)),
        TYPE_SET => Some((Value::Set(Arc::new(decode_set(rest)?)), expire_at)),
        TYPE_ZSET => Some((Value::ZSet(Arc::new(decode_zset(rest)?)), expire_at)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::zset::ListpackLimits;

    #[test]
    fn round_trip() {
        let v = Value::Str(Bytes::from_static(b"hello"));
        assert_eq!(
            decode_value(&encode_value(&v, Some(42))),
            Some((v.clone(), Some(42)))
        );
        assert_eq!(decode_value(&encode_value(&v, None)), Some((v, None)));
        assert_eq!(split_key(&encode_key(7, b"k")), Some((7, &b"k"[..])));
    }

    #[test]
    fn zset_round_trip_keeps_order_scores_and_encoding() {
        let limits = ListpackLimits::default();
        let mut z = ZSet::for_first_member(1, limits);
        for (s, m) in [(1.5, "b"), (-0.0, "a"), (f64::INFINITY, ""), (1.5, "a\0c")] {
            z.insert(Bytes::copy_from_slice(m.as_bytes()), s, limits);
        }
        let v = Value::ZSet(Arc::new(z));
        assert_eq!(
            decode_value(&encode_value(&v, Some(9))),
            Some((v.clone(), Some(9)))
        );
        let mut big = ZSet::default();
        big.insert(Bytes::from_static(b"m"), -0.0, limits);
        let big = Value::ZSet(Arc::new(big));
        let (back, _) = decode_value(&encode_value(&big, None)).unwrap();
        assert_eq!(back, big);
        assert_eq!(back.encoding(), "skiplist");
        assert!(back
            .as_zset()
            .unwrap()
            .score(b"m")
            .unwrap()
            .is_sign_negative());
        let bytes = encode_value(&v, None);
        for cut in [bytes.len() - 1, bytes.len() - 3, 2] {
            assert_eq!(decode_value(&bytes[..cut]), None, "truncated at {cut}");
        }
    }

    #[test]
    fn list_round_trip() {
        let items = ["a", "", "a longer element\r\n\0"]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let v = Value::list(items);
        assert_eq!(
            decode_value(&encode_value(&v, Some(7))),
            Some((v.clone(), Some(7)))
        );
        assert_eq!(decode_value(&encode_value(&v, None)), Some((v, None)));
        let mut truncated = encode_value(&Value::list([Bytes::from("abc")].into()), None);
        truncated.pop();
        assert_eq!(decode_value(&truncated), None);
    }

    #[test]
    fn collections_round_trip_with_their_encoding() {
        let limits = crate::keyspace::HashLimits {
            max_entries: 2,
            max_value: 64,
        };
        let mut small = Hash::default();
        small.set(Bytes::from("b"), Bytes::from(""), limits);
        small.set(Bytes::from("a"), Bytes::from("1"), limits);
        let mut big = small.clone();
        big.set(Bytes::from("c"), Bytes::from("x\0y"), limits);
        let ints = {
            let mut s = Set::new();
            s.add(Bytes::from("-5"), 512);
            s.add(Bytes::from("7"), 512);
            s
        };
        let mut strs = ints.clone();
        strs.add(Bytes::from("m"), 512);
        for value in [
            Value::Hash(Arc::new(small)),
            Value::Hash(Arc::new(big)),
            Value::Set(Arc::new(ints)),
            Value::Set(Arc::new(strs)),
            Value::Set(Arc::new(Set::Table(Box::default()))),
        ] {
            for ttl in [None, Some(99)] {
                let encoded = encode_value(&value, ttl);
                let (decoded, at) = decode_value(&encoded).expect("decodes");
                assert_eq!((&decoded, at), (&value, ttl));
                assert_eq!(decoded.encoding(), value.encoding());
                if let (Value::Hash(a), Value::Hash(b)) = (&decoded, &value) {
                    assert!(a.iter().eq(b.iter()), "order kept");
                }
                assert_eq!(decode_value(&encoded[..encoded.len() - 1]), None);
            }
        }
    }
}
