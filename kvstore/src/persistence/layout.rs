//! The on-disk layout: one sled entry per key.
//!
//! Key: the database number (4 bytes, big-endian, so each database is one contiguous range)
//! followed by the Redis key. Value: a type tag, a flags byte, the absolute expiry time in
//! Unix milliseconds when the flag says so, then the payload. Collection types will store one
//! sled entry per element under the same prefix scheme, so a write costs in proportion to the
//! change, never to the size of the value.

use std::sync::Arc;

use bytes::Bytes;

use crate::keyspace::{Value, ZSet};

/// Type tags, numbered as Redis's `OBJ_*` types.
const TYPE_STRING: u8 = 0;
const TYPE_ZSET: u8 = 3;
const HAS_EXPIRY: u8 = 1;

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
    let (kind, payload_len) = match value {
        Value::Str(s) => (TYPE_STRING, s.len()),
        Value::ZSet(z) => (
            TYPE_ZSET,
            1 + z.iter().map(|(_, m)| 12 + m.len()).sum::<usize>(),
        ),
    };
    let mut v = Vec::with_capacity(10 + payload_len);
    v.push(kind);
    match expire_at {
        Some(at) => {
            v.push(HAS_EXPIRY);
            v.extend_from_slice(&at.to_be_bytes());
        }
        None => v.push(0),
    }
    match value {
        Value::Str(s) => v.extend_from_slice(s),
        Value::ZSet(z) => encode_zset(z, &mut v),
    }
    v
}

/// A sorted set as a whole: the encoding flag, then each (score, member) in order as the
/// score's IEEE bits (8 bytes) and the member length-prefixed (4 bytes), all big-endian.
fn encode_zset(z: &ZSet, out: &mut Vec<u8>) {
    out.push(z.is_listpack() as u8);
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
    Some(ZSet::from_sorted(items, listpack != 0))
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
}
