//! The on-disk layout: a meta entry per key, plus an entry per element for big collections.
//!
//! Main tree. Key: the database number (4 bytes, big-endian, so each database is one
//! contiguous range) followed by the Redis key. Value: a type tag, a flags byte, the absolute
//! expiry time in Unix milliseconds when the flag says so, a list's first element id when
//! the flag says so, then the payload. Strings and compact collections (a listpack hash, an
//! intset, a list of at most 128 elements) are whole there: a list its elements as a sequence
//! of (4-byte big-endian length, bytes); a hash or set its encoding, a count and
//! length-prefixed members, so a restart restores order and encoding.
//!
//! A value stored per element ([`Value::per_element`]: hashtable hashes and sets, long lists)
//! has only its header in the main tree (flag [`PER_ELEMENT`]); each element is an entry of
//! the elements tree keyed `db | key length (4, BE) | key | element id`, so a prefix scan
//! finds every element of a key.
//!
//! Hash fields, set members and sorted-set members are grouped in buckets by a stable 64-bit
//! hash of the element (flag [`BUCKETED`]): the bucket entries' ids are hash values (8 bytes,
//! big-endian), and the entry with id `s` holds, in (hash, element) order, every element
//! whose hash lies between `s` and the next entry's id — each as the length-prefixed element
//! and its entry value (a field's value, a member's score bits, nothing for a set). Nothing
//! else records the partition: a commit finds an element's bucket as the entry with the
//! greatest id at most its hash, merges the changes into it, and splits it (each piece keyed
//! by its first element's hash, the first keeping the bucket's id, all in one atomic sled
//! batch) once it holds more than [`BUCKET_MAX_ELEMENTS`] elements or [`BUCKET_MAX_BYTES`]
//! bytes. A change to one element rewrites one bucket of at most a few KiB; a commit of
//! many changes to one big collection writes each touched bucket once, which is what keeps
//! a million-element hash's write cost flat (sled's cost per entry written dominates, not
//! its size). Hashes, sets and sorted sets written one entry per element by earlier
//! versions (no [`BUCKETED`] flag) still load, and are rewritten in buckets by the first
//! commit.
//!
//! A long list is stored in chunks instead (flag [`CHUNKED`]): a list element has a stable
//! `i64` id ([`crate::keyspace::List`]), and the elements with ids `128 c .. 128 c + 127`
//! share one entry whose id is `c` encoded to sort as a number; it holds each present
//! element as (offset in the chunk, length, bytes). Pushes and pops only ever touch the end
//! chunks, so a checkpoint after a million LPUSHes writes about 8,000 entries, not a million
//! (sled's per-entry cost is what bounds list write throughput otherwise). Lists written
//! one entry per element by earlier versions (no [`CHUNKED`] flag) still load, and are
//! rewritten in chunks by the first commit.
//!
//! A string longer than 16 KiB is stored in chunks of [`STRING_CHUNK`] bytes: chunk `c` is
//! the element with id `c` (8 bytes, big-endian) and holds bytes `c * STRING_CHUNK ..` of
//! the value; its meta entry carries the length and the chunk size after the header.
//! SETBIT, SETRANGE, APPEND and BITFIELD change a string in place without shrinking it, so
//! a commit writes the chunks they touched and never has one to delete.
//!
//! A stream is always per element, without buckets or chunks: its meta entry carries its
//! counters after the header, and its nodes, group headers and pending entries are element
//! entries keyed by `keyspace::stream::Part::id` (`persistence/stream.rs`).
//!
//! Type tags follow Redis's OBJ_* type numbers (string 0, list 1, set 2, zset 3, hash 4,
//! stream 6).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::keyspace::hash::Listpack;
use crate::keyspace::table::SlotTable;
use crate::keyspace::zset::cmp_item;
use crate::keyspace::{Elements, Hash, List, Set, Value, ZSet, STRING_CHUNK};

// Type tags follow Redis's OBJ_* numbering.
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_STREAM: u8 = 6;
/// Not an RDB type: a string kept in Redis's `raw` encoding (written by APPEND / SETRANGE), so
/// OBJECT ENCODING says the same after a restart, as Redis's AOF replay would.
const TYPE_RAW_STRING: u8 = 200;
const HAS_EXPIRY: u8 = 1;
/// The value's elements are entries of the elements tree; the header has no payload.
const PER_ELEMENT: u8 = 2;
/// A list's first element id follows the expiry (absent: 0, as data written before ids).
const HAS_HEAD: u8 = 4;
/// A per-element list whose elements are grouped in chunks of [`LIST_CHUNK`] ids; its
/// length follows the head id, so the header alone says which ids are live.
const CHUNKED: u8 = 8;

/// A per-element hash, set or sorted set whose elements are grouped in hash buckets.
const BUCKETED: u8 = 16;
/// A bucket holding more elements than this is split.
const BUCKET_MAX_ELEMENTS: usize = 128;
/// A bucket whose entry is longer than this is split (when its elements' hashes differ).
const BUCKET_MAX_BYTES: usize = 4096;

/// Ids per list chunk (a power of two: the chunk of id `i` is `i >> 7`, its offset `i & 127`).
const LIST_CHUNK: i64 = 128;

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

fn type_tag(value: &Value) -> u8 {
    match value {
        Value::Str(_) => TYPE_STRING,
        Value::RawStr(_) => TYPE_RAW_STRING,
        Value::List(_) => TYPE_LIST,
        Value::Set(_) => TYPE_SET,
        Value::Hash(_) => TYPE_HASH,
        Value::ZSet(_) => TYPE_ZSET,
        Value::Stream(_) => TYPE_STREAM,
    }
}

/// Type tag, flags, expiry and (lists) head id.
fn put_header(v: &mut Vec<u8>, value: &Value, expire_at: Option<u64>, per_element: bool) {
    v.push(type_tag(value));
    let mut flags = if per_element { PER_ELEMENT } else { 0 };
    if expire_at.is_some() {
        flags |= HAS_EXPIRY;
    }
    let head = match value {
        Value::List(l) if l.head() != 0 => Some(l.head()),
        _ => None,
    };
    let chunked_len = match value {
        Value::List(l) if per_element => Some(l.len() as u64),
        _ => None,
    };
    if chunked_len.is_some() {
        flags |= CHUNKED;
    } else if per_element && value.as_str().is_none() && !matches!(value, Value::Stream(_)) {
        flags |= BUCKETED;
    }
    if head.is_some() {
        flags |= HAS_HEAD;
    }
    v.push(flags);
    if let Some(at) = expire_at {
        v.extend_from_slice(&at.to_be_bytes());
    }
    if let Some(head) = head {
        v.extend_from_slice(&head.to_be_bytes());
    }
    if let Some(len) = chunked_len {
        v.extend_from_slice(&len.to_be_bytes());
    }
}

/// The main-tree entry of a value stored per element: its header alone.
pub fn encode_meta(value: &Value, expire_at: Option<u64>) -> Vec<u8> {
    let mut v = Vec::with_capacity(18);
    put_header(&mut v, value, expire_at, true);
    match value {
        // A stream's counters change with every write: they live in its meta entry.
        Value::Stream(s) => super::stream::encode_counters(s, &mut v),
        // A long string's length and the chunk size its element ids count in.
        Value::Str(s) | Value::RawStr(s) => {
            v.extend_from_slice(&(s.len() as u64).to_be_bytes());
            v.extend_from_slice(&(STRING_CHUNK as u32).to_be_bytes());
        }
        _ => {}
    }
    v
}

/// A long string's chunk id: its number, big-endian, so chunks sort in string order.
fn string_chunk_id(chunk: u64) -> Bytes {
    Bytes::copy_from_slice(&chunk.to_be_bytes())
}

/// A per-element string's meta payload: (length, chunk size).
fn string_meta(payload: &[u8]) -> Option<(u64, usize)> {
    let mut r = Reader(payload);
    let len = r.i64()? as u64;
    let chunk = r.u32()?;
    (r.0.is_empty() && chunk > 0).then_some((len, chunk))
}

/// A value whole (the main-tree entry of a compact value; log records of any value).
pub fn encode_value(value: &Value, expire_at: Option<u64>) -> Vec<u8> {
    let size = match value {
        Value::Str(s) | Value::RawStr(s) => s.len(),
        Value::Hash(h) => 5 + h.iter().map(|(f, v)| 8 + f.len() + v.len()).sum::<usize>(),
        Value::Set(s) => 5 + s.len() * 12,
        Value::List(items) => items.iter().map(|i| 4 + i.len()).sum(),
        Value::ZSet(z) => 1 + z.iter().map(|(_, m)| 12 + m.len()).sum::<usize>(),
        Value::Stream(_) => 256,
    };
    let mut v = Vec::with_capacity(18 + size);
    put_header(&mut v, value, expire_at, false);
    match value {
        Value::Str(payload) | Value::RawStr(payload) => v.extend_from_slice(payload),
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
        Value::Stream(s) => super::stream::encode(s, &mut v),
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

/// A main-tree entry's header.
pub struct Header<'a> {
    kind: u8,
    pub per_element: bool,
    /// A per-element list stored in chunks (else one entry per element, as before chunks).
    pub chunked: bool,
    /// A per-element hash, set or sorted set stored in hash buckets (else one entry per
    /// element, as before buckets).
    pub bucketed: bool,
    /// A chunked list's length (its live ids are `head .. head + len`).
    len: u64,
    pub expire_at: Option<u64>,
    head: i64,
    payload: &'a [u8],
}

impl Header<'_> {
    /// The live ids of a chunked list, `head .. tail`.
    pub fn list_ids(&self) -> Option<std::ops::Range<i64>> {
        let tail = self.head.checked_add(i64::try_from(self.len).ok()?)?;
        self.chunked.then_some(self.head..tail)
    }

    /// Whether `value`, loaded from this entry, is stored in an older layout than the one a
    /// commit would write now (a big collection whole, or one entry per element), so
    /// it must be rewritten whole before any element-level change is written for it.
    pub fn outdated(&self, value: &Value) -> bool {
        let list = matches!(value, Value::List(_));
        let stream = matches!(value, Value::Stream(_));
        let string = value.as_str().is_some();
        (!self.per_element && value.per_element())
            || (self.per_element && list && !self.chunked)
            || (self.per_element && !list && !stream && !string && !self.bucketed)
            // Chunk ids count in the chunk size they were written with.
            || (self.per_element
                && string
                && string_meta(self.payload).map(|(_, c)| c) != Some(STRING_CHUNK))
    }
}

pub fn decode_header(v: &[u8]) -> Option<Header<'_>> {
    let mut r = Reader(v);
    let kind = r.u8()?;
    let flags = r.u8()?;
    let expire_at = match flags & HAS_EXPIRY {
        0 => None,
        _ => Some(r.i64()? as u64),
    };
    let head = match flags & HAS_HEAD {
        0 => 0,
        _ => r.i64()?,
    };
    let len = match flags & CHUNKED {
        0 => 0,
        _ => r.i64()? as u64,
    };
    Some(Header {
        kind,
        per_element: flags & PER_ELEMENT != 0,
        chunked: flags & CHUNKED != 0,
        bucketed: flags & BUCKETED != 0,
        len,
        expire_at,
        head,
        payload: r.0,
    })
}

/// Decodes a whole value (not a per-element header).
pub fn decode_value(v: &[u8]) -> Option<(Value, Option<u64>)> {
    let h = decode_header(v)?;
    if h.per_element {
        return None;
    }
    let rest = h.payload;
    let value = match h.kind {
        TYPE_STRING => Value::Str(Bytes::copy_from_slice(rest)),
        TYPE_RAW_STRING => Value::RawStr(Bytes::copy_from_slice(rest)),
        TYPE_LIST => Value::List(Arc::new(List::with_head(h.head, decode_items(rest)?))),
        TYPE_HASH => Value::Hash(Arc::new(decode_hash(rest)?)),
        TYPE_SET => Value::Set(Arc::new(decode_set(rest)?)),
        TYPE_ZSET => Value::ZSet(Arc::new(decode_zset(rest)?)),
        TYPE_STREAM => Value::Stream(Arc::new(super::stream::decode(rest)?)),
        _ => return None,
    };
    Some((value, h.expire_at))
}

/// The prefix of every element entry of `key`.
pub fn element_prefix(db: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len() + 16);
    k.extend_from_slice(&db_prefix(db));
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The elements-tree key of element `id` of `key`.
pub fn element_key(db: u32, key: &[u8], id: &[u8]) -> Vec<u8> {
    let mut k = element_prefix(db, key);
    k.extend_from_slice(id);
    k
}

/// A list element id as bytes that sort like the number.
fn list_id(id: i64) -> Bytes {
    Bytes::copy_from_slice(&((id as u64) ^ (1 << 63)).to_be_bytes())
}

fn parse_list_id(b: &[u8]) -> Option<i64> {
    Some((u64::from_be_bytes(b.try_into().ok()?) ^ (1 << 63)) as i64)
}

/// Every element of a per-element value: (id, entry value).
pub fn elements(value: &Value) -> Box<dyn Iterator<Item = (Bytes, Bytes)> + '_> {
    match value {
        Value::Hash(h) => buckets(
            h.iter()
                .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v))),
        ),
        Value::Set(s) => buckets(s.iter().map(|m| (m, Bytes::new()))),
        Value::List(l) => {
            // One entry per chunk: the run of consecutive elements that share a chunk number.
            let mut index = 0;
            Box::new(std::iter::from_fn(move || {
                l.get(index)?;
                let (chunk, _) = chunk_of(l.head() + index as i64);
                let mut entry = Vec::new();
                while let Some(item) = l.get(index) {
                    let (c, offset) = chunk_of(l.head() + index as i64);
                    if c != chunk {
                        break;
                    }
                    put_chunk_item(&mut entry, offset, item);
                    index += 1;
                }
                Some((list_id(chunk), Bytes::from(entry)))
            }))
        }
        Value::ZSet(z) => buckets(z.iter().map(|(s, m)| (m.clone(), score_bytes(*s)))),
        Value::Stream(s) => Box::new(super::stream::elements(s)),
        Value::Str(s) | Value::RawStr(s) => Box::new(
            s.chunks(STRING_CHUNK)
                .enumerate()
                .map(|(c, bytes)| (string_chunk_id(c as u64), Bytes::copy_from_slice(bytes))),
        ),
    }
}

/// Every element as (entry id, entry value) grouped in buckets: (bucket id, bucket entry).
fn buckets(
    elements: impl Iterator<Item = (Bytes, Bytes)>,
) -> Box<dyn Iterator<Item = (Bytes, Bytes)>> {
    let mut elements: Vec<(u64, Bytes, Option<Bytes>)> = elements
        .map(|(id, item)| (element_hash(&id), id, Some(item)))
        .collect();
    elements.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let changes: Vec<BucketChange<'_>> = elements.iter().map(|(h, id, v)| (*h, id, v)).collect();
    let pieces = merge_bucket(0, None, &changes).unwrap_or_default();
    Box::new(
        pieces
            .into_iter()
            .filter_map(|(start, entry)| Some((bucket_id(start), Bytes::from(entry?)))),
    )
}

/// The stable 64-bit hash that places an element in its bucket (FNV-1a, then MurmurHash3's
/// finalizer to spread FNV's low-entropy high bits). Part of the on-disk layout: never change.
pub fn element_hash(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The entry id of the bucket starting at hash `start`.
pub fn bucket_id(start: u64) -> Bytes {
    Bytes::copy_from_slice(&start.to_be_bytes())
}

pub fn parse_bucket_id(id: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(id.try_into().ok()?))
}

/// A stored element in a bucket: (hash, element, entry value).
type BucketItem<'a> = (u64, &'a [u8], &'a [u8]);

/// Reads a bucket entry's (element, entry value) pairs one by one.
pub struct BucketReader<'a>(Reader<'a>);

impl<'a> BucketReader<'a> {
    pub fn new(entry: &'a [u8]) -> Self {
        BucketReader(Reader(entry))
    }

    /// The next element, `Ok(None)` at the end, `Err(())` if the entry is malformed.
    pub fn next_element(&mut self) -> Result<Option<[&'a [u8]; 2]>, ()> {
        if self.0 .0.is_empty() {
            return Ok(None);
        }
        let mut element = || {
            let len = self.0.u32()?;
            let id = self.0.take(len)?;
            let len = self.0.u32()?;
            Some([id, self.0.take(len)?])
        };
        element().map(Some).ok_or(())
    }
}

/// A bucket's elements as (hash, element, entry value), in (hash, element) order, or `None`
/// if the entry is malformed.
fn decode_bucket(entry: &[u8]) -> Option<Vec<BucketItem<'_>>> {
    let mut r = BucketReader::new(entry);
    let mut items = Vec::new();
    while let Some([id, item]) = r.next_element().ok()? {
        items.push((element_hash(id), id, item));
    }
    Some(items)
}

/// A bucket entry to write: (bucket id, entry, or `None` to delete it).
pub type BucketWrite = (u64, Option<Vec<u8>>);

/// One element's new state for [`merge_bucket`]: (its hash, the element, entry value or
/// `None` if gone).
pub type BucketChange<'a> = (u64, &'a Bytes, &'a Option<Bytes>);

/// The bucket starting at `start` (stored as `stored`) with `changes` applied, all of whose
/// hashes lie in the bucket's range, sorted by (hash, element). Returns the entries to write:
/// first the bucket's own (`None`: delete it, its range joins the previous bucket's), then,
/// if it had to be split, the other pieces keyed by their first hash; these must be written
/// in one atomic batch, or a crash between them would lose the elements moved. `Err(())` if
/// the stored entry is malformed.
pub fn merge_bucket(
    start: u64,
    stored: Option<&[u8]>,
    changes: &[BucketChange<'_>],
) -> Result<Vec<BucketWrite>, ()> {
    let stored = match stored {
        Some(entry) => decode_bucket(entry).ok_or(())?,
        None => Vec::new(),
    };
    // Merge two sorted runs; a change replaces the stored element it names.
    let mut merged: Vec<BucketItem<'_>> = Vec::with_capacity(stored.len() + changes.len());
    let mut old = stored.into_iter().peekable();
    for &(h, id, item) in changes {
        while let Some(&(oh, oid, _)) = old.peek() {
            if (oh, oid) < (h, &id[..]) {
                merged.extend(old.next());
            } else {
                break;
            }
        }
        if old
            .peek()
            .is_some_and(|&(oh, oid, _)| (oh, oid) == (h, &id[..]))
        {
            old.next();
        }
        // The same element twice in `changes`: its later state wins.
        if merged
            .last()
            .is_some_and(|&(mh, mid, _)| (mh, mid) == (h, &id[..]))
        {
            merged.pop();
        }
        if let Some(item) = item {
            merged.push((h, id, item));
        }
    }
    merged.extend(old);
    let size = |items: &[BucketItem<'_>]| {
        items
            .iter()
            .map(|(_, id, item)| 8 + id.len() + item.len())
            .sum::<usize>()
    };
    let bytes = size(&merged);
    if merged.is_empty() {
        return Ok(vec![(start, None)]);
    }
    // Pieces about half full, so the next inserts fit; never cut between equal hashes.
    let pieces = merged
        .len()
        .div_ceil(BUCKET_MAX_ELEMENTS / 2)
        .max(bytes.div_ceil(BUCKET_MAX_BYTES / 2));
    let split = merged.len() > BUCKET_MAX_ELEMENTS || bytes > BUCKET_MAX_BYTES;
    let mut cuts = vec![0];
    if split {
        for k in 1..pieces {
            let mut at = (k * merged.len() / pieces).max(cuts[cuts.len() - 1] + 1);
            while at < merged.len() && merged[at].0 == merged[at - 1].0 {
                at += 1;
            }
            if at < merged.len() {
                cuts.push(at);
            }
        }
        cuts.dedup();
    }
    cuts.push(merged.len());
    Ok(cuts
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let items = &merged[w[0]..w[1]];
            let mut entry = Vec::with_capacity(size(items));
            for (_, id, item) in items {
                put_str(&mut entry, id);
                put_str(&mut entry, item);
            }
            let key = if i == 0 { start } else { items[0].0 };
            (key, Some(entry))
        })
        .collect())
}

/// The chunk holding list element `id`, and the element's offset in it.
fn chunk_of(id: i64) -> (i64, u8) {
    (id.div_euclid(LIST_CHUNK), id.rem_euclid(LIST_CHUNK) as u8)
}

fn put_chunk_item(entry: &mut Vec<u8>, offset: u8, item: &[u8]) {
    entry.push(offset);
    put_str(entry, item);
}

/// A chunk's elements, (offset, bytes) in offset order, or `None` if it is malformed.
fn decode_chunk(entry: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut r = Reader(entry);
    let mut items = Vec::new();
    while !r.0.is_empty() {
        let offset = r.u8()?;
        let len = r.u32()?;
        let item = r.take(len)?;
        if items.last().is_some_and(|&(last, _)| last >= offset) || i64::from(offset) >= LIST_CHUNK
        {
            return None;
        }
        items.push((offset, item));
    }
    Some(items)
}

/// The new states of a chunk's changed elements: (offset in the chunk, element or `None`).
pub type ChunkChanges = Vec<(u8, Option<Bytes>)>;

/// What a commit does to the chunks of a list stored in chunks: rewrite some (merge their
/// changes into what is stored, then drop whatever lies outside the live ids) and delete
/// others outside the live ids altogether.
#[derive(Debug, Default, PartialEq)]
pub struct ChunkPlan {
    /// Chunk entry id and the changes to merge into it, in id order.
    pub rewrite: Vec<(Bytes, ChunkChanges)>,
    pub delete: Vec<Bytes>,
}

/// Plans a chunked list's commit from the live ids stored before (`old`, from the stored
/// header), the live ids now (`new`), and the changed elements (as [`element_states`] gives
/// them: only elements that are there). The chunks at both ends of the live ids are always
/// rewritten, so pops that end inside a chunk trim it; chunks of the old ids beyond the
/// new ends are deleted without being read.
pub fn plan_list_chunks(
    old: Option<std::ops::Range<i64>>,
    new: std::ops::Range<i64>,
    changed: &[(Bytes, Option<Bytes>)],
) -> Option<ChunkPlan> {
    let chunks_of = |ids: &std::ops::Range<i64>| {
        (!ids.is_empty()).then(|| chunk_of(ids.start).0..=chunk_of(ids.end - 1).0)
    };
    let live = chunks_of(&new);
    let mut ids = changed
        .iter()
        .map(|(id, item)| Some((parse_list_id(id)?, item)))
        .collect::<Option<Vec<_>>>()?;
    ids.retain(|(id, _)| new.contains(id));
    // Stable: should an id come twice, its later state stays later.
    ids.sort_by_key(|&(id, _)| id);
    let mut rewrite: Vec<(i64, ChunkChanges)> = Vec::new();
    for (id, item) in ids {
        let (chunk, offset) = chunk_of(id);
        match rewrite.last_mut() {
            Some((c, changes)) if *c == chunk => changes.push((offset, item.clone())),
            _ => rewrite.push((chunk, vec![(offset, item.clone())])),
        }
    }
    if let Some(live) = &live {
        for end in [*live.start(), *live.end()] {
            if let Err(at) = rewrite.binary_search_by_key(&end, |(c, _)| *c) {
                rewrite.insert(at, (end, Vec::new()));
            }
        }
    }
    let delete = chunks_of(&old.unwrap_or(0..0))
        .into_iter()
        .flatten()
        .filter(|c| !live.as_ref().is_some_and(|live| live.contains(c)))
        .map(list_id)
        .collect();
    Some(ChunkPlan {
        rewrite: rewrite
            .into_iter()
            .map(|(chunk, changes)| (list_id(chunk), changes))
            .collect(),
        delete,
    })
}

/// A chunk entry with `changes` applied, keeping only the elements whose ids are in `live`;
/// `None` if none is left, `Err(())` if the chunk id or the stored entry is malformed.
pub fn merge_chunk(
    chunk: &[u8],
    stored: Option<&[u8]>,
    changes: &[(u8, Option<Bytes>)],
    live: &std::ops::Range<i64>,
) -> Result<Option<Vec<u8>>, ()> {
    let base = parse_list_id(chunk)
        .and_then(|c| c.checked_mul(LIST_CHUNK))
        .ok_or(())?;
    let mut slots: Vec<Option<&[u8]>> = vec![None; LIST_CHUNK as usize];
    for (offset, item) in stored
        .map(decode_chunk)
        .unwrap_or(Some(Vec::new()))
        .ok_or(())?
    {
        slots[usize::from(offset)] = Some(item);
    }
    for (offset, item) in changes {
        slots[usize::from(*offset)] = item.as_deref();
    }
    let mut entry = Vec::new();
    for (offset, item) in slots.iter().enumerate() {
        match item {
            Some(item) if live.contains(&(base + offset as i64)) => {
                put_chunk_item(&mut entry, offset as u8, item)
            }
            _ => {}
        }
    }
    Ok((!entry.is_empty()).then_some(entry))
}

/// A sorted set member's entry value: its score's IEEE bits, big-endian.
fn score_bytes(score: f64) -> Bytes {
    Bytes::copy_from_slice(&score.to_bits().to_be_bytes())
}

/// The current state of the changed elements of a per-element value: each id with its entry
/// value, or `None` if the element is gone. Costs in proportion to `changed`.
pub fn element_states(value: &Value, changed: &Elements) -> Vec<(Bytes, Option<Bytes>)> {
    match value {
        Value::Hash(h) => changed
            .members
            .iter()
            .map(|f| (f.clone(), h.get(f).map(Bytes::copy_from_slice)))
            .collect(),
        Value::Set(s) => changed
            .members
            .iter()
            .map(|m| (m.clone(), s.contains(m).then(Bytes::new)))
            .collect(),
        // Only elements still there: the header's live range says which ids are gone, so
        // popping a million elements logs nothing per element.
        Value::List(l) => [changed.front, changed.back]
            .into_iter()
            .flatten()
            .flat_map(|(from, to)| from.max(l.head())..to.min(l.tail()))
            .chain(changed.ids.iter().copied())
            .filter_map(|id| Some((list_id(id), Some(l.by_id(id)?.clone()))))
            .collect(),
        Value::ZSet(z) => changed
            .members
            .iter()
            .map(|m| (m.clone(), z.score(m).map(score_bytes)))
            .collect(),
        Value::Stream(s) => changed
            .members
            .iter()
            .filter_map(|id| {
                let part = crate::keyspace::stream::Part::parse(id)?;
                Some((id.clone(), super::stream::part_state(s, &part)))
            })
            .collect(),
        // Copies: a slice would share the string, and its next change in place copy it all.
        Value::Str(s) | Value::RawStr(s) => changed
            .chunks
            .iter()
            .filter_map(|&c| {
                let start = usize::try_from(c).ok()?.checked_mul(STRING_CHUNK)?;
                let bytes = s.get(start..s.len().min(start + STRING_CHUNK))?;
                Some((string_chunk_id(c), Some(Bytes::copy_from_slice(bytes))))
            })
            .collect(),
    }
}

/// Rebuilds a per-element value from its header and its elements-tree entries in key order
/// (entry key, whose first `prefix_len` bytes are the key's prefix, and entry value).
pub fn rebuild<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    header: &Header<'_>,
    prefix_len: usize,
    entries: impl Iterator<Item = (K, V)>,
) -> Option<Value> {
    let mut malformed = false;
    let mut elements: Box<dyn Iterator<Item = (Bytes, Bytes)>> = if header.bucketed {
        let malformed = &mut malformed;
        Box::new(
            entries
                .map_while(move |(_, bucket)| {
                    let items = decode_bucket(bucket.as_ref()).map(|items| {
                        items
                            .into_iter()
                            .map(|(_, id, item)| {
                                (Bytes::copy_from_slice(id), Bytes::copy_from_slice(item))
                            })
                            .collect::<Vec<_>>()
                    });
                    *malformed |= items.is_none();
                    items
                })
                .flatten(),
        )
    } else {
        Box::new(entries.map(|(k, v)| {
            let id = Bytes::copy_from_slice(k.as_ref().get(prefix_len..).unwrap_or_default());
            (id, Bytes::copy_from_slice(v.as_ref()))
        }))
    };
    let value = rebuild_elements(header, &mut elements);
    drop(elements);
    value.filter(|_| !malformed)
}

fn rebuild_elements(
    header: &Header<'_>,
    elements: &mut dyn Iterator<Item = (Bytes, Bytes)>,
) -> Option<Value> {
    Some(match header.kind {
        TYPE_STRING | TYPE_RAW_STRING => {
            let (len, chunk) = string_meta(header.payload)?;
            let mut bytes = Vec::with_capacity(usize::try_from(len).ok()?);
            for (id, entry) in elements {
                // Chunks are consecutive and full but for the last: else a damaged store.
                let expected = (bytes.len() / chunk) as u64;
                if bytes.len() % chunk != 0
                    || u64::from_be_bytes(id[..].try_into().ok()?) != expected
                {
                    return None;
                }
                bytes.extend_from_slice(&entry);
            }
            if bytes.len() as u64 != len {
                return None;
            }
            let bytes = Bytes::from(bytes);
            if header.kind == TYPE_STRING {
                Value::Str(bytes)
            } else {
                Value::RawStr(bytes)
            }
        }
        TYPE_STREAM => Value::Stream(Arc::new(super::stream::rebuild(header.payload, elements)?)),
        TYPE_HASH => {
            let mut t = SlotTable::default();
            elements.for_each(|(f, v)| {
                t.insert(f, v);
            });
            Value::Hash(Arc::new(Hash::Table(Box::new(t))))
        }
        TYPE_SET => {
            let mut t = SlotTable::default();
            elements.for_each(|(m, _)| {
                t.insert(m, ());
            });
            Value::Set(Arc::new(Set::Table(Box::new(t))))
        }
        TYPE_LIST if header.chunked => {
            let mut items = VecDeque::new();
            let mut head = None;
            for (chunk, entry) in elements {
                let base = parse_list_id(&chunk)?.checked_mul(LIST_CHUNK)?;
                for (offset, item) in decode_chunk(&entry)? {
                    let id = base + i64::from(offset);
                    let head = *head.get_or_insert(id);
                    // Ids are consecutive by construction; a gap means a damaged store.
                    if id != head + items.len() as i64 {
                        return None;
                    }
                    items.push_back(Bytes::copy_from_slice(item));
                }
            }
            let ids = header.list_ids()?;
            if head? != ids.start || items.len() as i64 != ids.end - ids.start {
                return None;
            }
            Value::List(Arc::new(List::with_head(ids.start, items)))
        }
        TYPE_LIST => {
            let mut items = VecDeque::new();
            let (first, item) = elements.next()?;
            let head = parse_list_id(&first)?;
            items.push_back(item);
            for (id, item) in elements {
                // Ids are consecutive by construction; a gap means a damaged store.
                if parse_list_id(&id)? != head + items.len() as i64 {
                    return None;
                }
                items.push_back(item);
            }
            Value::List(Arc::new(List::with_head(head, items)))
        }
        TYPE_ZSET => {
            let mut items = Vec::new();
            for (member, score) in elements {
                let bits = u64::from_be_bytes(score[..].try_into().ok()?);
                items.push((f64::from_bits(bits), member));
            }
            // Entries come in member order; the set is in (score, member) order.
            items.sort_by(|a, b| cmp_item(a, b.0, &b.1));
            Value::ZSet(Arc::new(ZSet::from_sorted(items, false)))
        }
        _ => return None,
    })
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
        let raw = Value::RawStr(Bytes::from_static(b"12"));
        let (back, _) = decode_value(&encode_value(&raw, None)).expect("decodes");
        assert_eq!((back.encoding(), back.as_str()), ("raw", raw.as_str()));
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
    fn a_bucket_splits_into_half_full_pieces_keyed_by_their_first_hash() {
        let ids: Vec<Bytes> = (0..300).map(|i| Bytes::from(format!("e{i}"))).collect();
        let item = Some(Bytes::from_static(b"v"));
        let mut changes: Vec<BucketChange<'_>> =
            ids.iter().map(|id| (element_hash(id), id, &item)).collect();
        changes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let pieces = merge_bucket(7, None, &changes).unwrap();
        assert_eq!(pieces[0].0, 7, "the first piece keeps the bucket's id");
        let mut seen = 0;
        for (i, (start, entry)) in pieces.iter().enumerate() {
            let items = decode_bucket(entry.as_deref().unwrap()).unwrap();
            assert!((1..=BUCKET_MAX_ELEMENTS / 2 + 1).contains(&items.len()));
            if i > 0 {
                assert_eq!(*start, items[0].0);
            }
            seen += items.len();
        }
        assert_eq!(seen, 300);
        // A bucket left empty is deleted: its range joins the previous bucket's.
        let gone = None;
        let stored = pieces[0].1.clone().unwrap();
        let first = decode_bucket(&stored).unwrap().len();
        let removals: Vec<BucketChange<'_>> = changes[..first]
            .iter()
            .map(|&(h, id, _)| (h, id, &gone))
            .collect();
        assert_eq!(
            merge_bucket(7, Some(&stored), &removals).unwrap(),
            vec![(7, None)]
        );
    }

    #[test]
    fn a_long_string_round_trips_through_its_chunks() {
        for len in [16 * 1024 + 1, 20 * STRING_CHUNK, 20 * STRING_CHUNK + 5] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for v in [
                Value::Str(Bytes::from(bytes.clone())),
                Value::RawStr(Bytes::from(bytes.clone())),
            ] {
                assert!(v.per_element());
                let meta = encode_meta(&v, Some(9));
                let header = decode_header(&meta).unwrap();
                assert!(!header.outdated(&v) && !header.bucketed);
                let chunks: Vec<_> = elements(&v).collect();
                assert_eq!(chunks.len(), len.div_ceil(STRING_CHUNK));
                let rebuilt = rebuild(&header, 0, chunks.iter().map(|(id, c)| (id, c)));
                assert_eq!(rebuilt, Some(v.clone()), "{len}");
                // A changed chunk's state is its bytes now.
                let changed = Elements {
                    chunks: [3].into(),
                    ..Elements::default()
                };
                let states = element_states(&v, &changed);
                assert_eq!(
                    states,
                    vec![chunks[3].clone()]
                        .into_iter()
                        .map(|(id, c)| (id, Some(c)))
                        .collect::<Vec<_>>()
                );
                // A missing or short middle chunk is damage, not a shorter string.
                let mut gap = chunks.clone();
                gap.remove(2);
                assert_eq!(rebuild(&header, 0, gap.iter().map(|(id, c)| (id, c))), None);
                let mut short = chunks.clone();
                short[1].1 = short[1].1.slice(1..);
                assert_eq!(
                    rebuild(&header, 0, short.iter().map(|(id, c)| (id, c))),
                    None
                );
            }
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
        let moved = Value::List(Arc::new(List::with_head(-7, [Bytes::from("x")].into())));
        assert_eq!(
            decode_value(&encode_value(&moved, Some(3))),
            Some((moved.clone(), Some(3))),
            "the head id is kept"
        );
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
