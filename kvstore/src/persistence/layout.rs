//! The on-disk layout: one sled entry per key.
//!
//! Key: the database number (4 bytes, big-endian, so each database is one contiguous range)
//! followed by the Redis key. Value: a type tag, a flags byte, the absolute expiry time in
//! Unix milliseconds when the flag says so, then the payload. Collection types will store one
//! sled entry per element under the same prefix scheme, so a write costs in proportion to the
//! change, never to the size of the value. Until then a list is one entry too: its elements
//! as a sequence of (4-byte big-endian length, bytes).
//!
//! Type tags follow Redis's RDB type numbers (string 0, list 1, set 2, zset 3, hash 4).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::keyspace::Value;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
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
    let mut v = Vec::new();
    let kind = match value {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST,
    };
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
            v.reserve(items.iter().map(|i| 4 + i.len()).sum());
            for item in items.iter() {
                v.extend_from_slice(&(item.len() as u32).to_be_bytes());
                v.extend_from_slice(item);
            }
        }
    }
    v
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
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
