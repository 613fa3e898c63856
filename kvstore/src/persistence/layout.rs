//! The on-disk layout: one sled entry per key.
//!
//! Key: the database number (4 bytes, big-endian, so each database is one contiguous range)
//! followed by the Redis key. Value: a type tag, a flags byte, the absolute expiry time in
//! Unix milliseconds when the flag says so, then the payload. Collection types will store one
//! sled entry per element under the same prefix scheme, so a write costs in proportion to the
//! change, never to the size of the value.

use bytes::Bytes;

use crate::keyspace::Value;

const TYPE_STRING: u8 = 0;
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
    let Value::Str(payload) = value;
    let mut v = Vec::with_capacity(10 + payload.len());
    v.push(TYPE_STRING);
    match expire_at {
        Some(at) => {
            v.push(HAS_EXPIRY);
            v.extend_from_slice(&at.to_be_bytes());
        }
        None => v.push(0),
    }
    v.extend_from_slice(payload);
    v
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
}
