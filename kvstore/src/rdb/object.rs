//! One value in RDB form: its type byte and body, as `rdbSaveObjectType` + `rdbSaveObject`
//! write them and `rdbLoadObject` reads them.
//!
//! Saving picks the RDB type from the value's encoding (listpack, intset, quicklist, or the
//! plain forms of big collections), so a value saves as redis-server saves the same value.
//! Loading accepts every type Redis 7.0 loads for strings, lists, sets, sorted sets, hashes
//! and streams (`stream`), including the ziplist forms of RDB 9, and then applies Redis's conversions (a
//! listpack hash with too many fields becomes a hash table, a small plain sorted set a
//! listpack...) under the configured [`Limits`]. Anything malformed, duplicated or empty is
//! [`Corrupt`]: this reader checks what Redis's deep sanitization checks, always.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::encoding::{write_binary_double, write_len, write_lzf_blob, write_string};
use super::encoding::{Corrupt, Reader, Result};
use super::listpack::{read_listpack, read_ziplist, Entry, ListpackWriter};
use super::{intset, lzf, stream, Limits};
use crate::keyspace::hash::Listpack;
use crate::keyspace::table::SlotTable;
use crate::keyspace::zset::{cmp_item, Item};
use crate::keyspace::{Hash, Set, Value, ZSet};
use crate::number::{parse_strtod, write_double};

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Quicklist node containers (`QUICKLIST_NODE_CONTAINER_*`).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Elements this long get a node of their own, stored verbatim (`packed_threshold`).
const PLAIN_ELEMENT: usize = 1 << 30;
/// Node size limits for `list-max-listpack-size` -1 .. -5 (`optimization_level`).
const NODE_SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A node never grows past this by a count-limited fill (`SIZE_SAFETY_LIMIT`).
const NODE_SAFETY_LIMIT: usize = 8192;
/// Redis adds this to an element's length when it estimates a node's growth.
const NODE_ENTRY_OVERHEAD: usize = 8;
/// Nodes smaller than this are never compressed (`MIN_COMPRESS_BYTES`).
const NODE_MIN_COMPRESS: usize = 48;
/// A node is stored compressed only if that saves more than this (`MIN_COMPRESS_IMPROVE`).
const NODE_MIN_IMPROVE: usize = 8;
/// The most bytes Redis lets a listpack hold (`LISTPACK_MAX_SAFETY_SIZE`).
const LISTPACK_MAX: usize = 1 << 30;

/// Appends `value`'s type byte and body.
pub fn save(out: &mut Vec<u8>, value: &Value, limits: &Limits) {
    let compress = limits.rdbcompression;
    match value {
        Value::Str(s) | Value::RawStr(s) => {
            out.push(TYPE_STRING);
            write_string(out, s, compress);
        }
        Value::List(list) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            save_quicklist(out, list.iter(), limits);
        }
        Value::Set(set) => match &**set {
            Set::Intset(members) => {
                out.push(TYPE_SET_INTSET);
                write_string(out, &intset::encode(members), compress);
            }
            Set::Table(_) => {
                out.push(TYPE_SET);
                write_len(out, set.len() as u64);
                for member in set.iter() {
                    write_string(out, &member, compress);
                }
            }
        },
        Value::ZSet(z) if z.is_listpack() => {
            out.push(TYPE_ZSET_LISTPACK);
            let mut lp = ListpackWriter::new();
            for (score, member) in z.iter() {
                lp.push(member);
                push_score(&mut lp, *score);
            }
            write_string(out, &lp.finish(), compress);
        }
        Value::ZSet(z) => {
            out.push(TYPE_ZSET_2);
            write_len(out, z.len() as u64);
            // Greatest first, as Redis walks its skiplist from the tail.
            for (score, member) in z.iter_rev_from(z.len() - 1) {
                write_string(out, member, compress);
                write_binary_double(out, *score);
            }
        }
        Value::Hash(h) => match &**h {
            Hash::Listpack(_) => {
                out.push(TYPE_HASH_LISTPACK);
                let mut lp = ListpackWriter::new();
                for (field, value) in h.iter() {
                    lp.push(field);
                    lp.push(value);
                }
                write_string(out, &lp.finish(), compress);
            }
            Hash::Table(_) => {
                out.push(TYPE_HASH);
                write_len(out, h.len() as u64);
                for (field, value) in h.iter() {
                    write_string(out, field, compress);
                    write_string(out, value, compress);
                }
            }
        },
        Value::Stream(s) => {
            out.push(stream::TYPE_STREAM_LISTPACKS_2);
            stream::save(out, s, compress);
        }
    }
}

/// A sorted-set score as `zzlInsertAt` stores it: an integer when the double is one
/// (`double2ll`, which also turns -0 into 0), else its `%.17g` text.
fn push_score(lp: &mut ListpackWriter, score: f64) {
    match double_to_i64(score) {
        Some(v) => lp.push_int(v),
        None => {
            let mut text = Vec::with_capacity(24);
            write_double(&mut text, score);
            lp.push(&text);
        }
    }
}

/// Redis's `double2ll`: the integer a double holds exactly, within ±`i64::MAX / 2`.
fn double_to_i64(d: f64) -> Option<i64> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&d) {
        return None;
    }
    let v = d as i64;
    (v as f64 == d).then_some(v)
}

/// A quicklist node being built.
enum Node {
    Plain(Bytes),
    Packed(ListpackWriter),
}

/// Whether a node may take one more element of `len` bytes (`_quicklistNodeAllowInsert`).
fn node_takes(node: &ListpackWriter, fill: i32, len: usize) -> bool {
    let new_size = node.bytes() + len + NODE_ENTRY_OVERHEAD;
    if fill < 0 {
        let level = (-fill - 1) as usize;
        if level < NODE_SIZE_LEVELS.len() && new_size <= NODE_SIZE_LEVELS[level] {
            return true;
        }
    }
    if new_size > NODE_SAFETY_LIMIT {
        return false;
    }
    (node.count() as i64) < i64::from(fill)
}

/// Writes a list as a quicklist of listpack nodes ([`quicklist_nodes`]), with the nodes away
/// from the ends compressed under `list-compress-depth`.
fn save_quicklist<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a Bytes>, limits: &Limits) {
    let nodes = quicklist_nodes(items, limits);
    write_len(out, nodes.len() as u64);
    let depth = limits.list_compress_depth as usize;
    let compressed =
        |i: usize| depth > 0 && nodes.len() >= depth * 2 && i >= depth && i < nodes.len() - depth;
    let compressed: Vec<bool> = (0..nodes.len()).map(compressed).collect();
    for (node, compressed) in nodes.into_iter().zip(compressed) {
        match node {
            Node::Plain(item) => {
                write_len(out, CONTAINER_PLAIN);
                write_string(out, &item, limits.rdbcompression);
            }
            Node::Packed(lp) => {
                write_len(out, CONTAINER_PACKED);
                let blob = lp.finish();
                let packed = if compressed && blob.len() >= NODE_MIN_COMPRESS {
                    lzf::compress(&blob, blob.len())
                        .filter(|p| p.len() + NODE_MIN_IMPROVE < blob.len())
                } else {
                    None
                };
                match packed {
                    Some(p) => write_lzf_blob(out, &p, blob.len()),
                    None => write_string(out, &blob, limits.rdbcompression),
                }
            }
        }
    }
}

/// A list split into quicklist nodes as Redis splits one built by pushing its elements at
/// the tail (`quicklistPushTail` under `list-max-listpack-size`).
fn quicklist_nodes<'a>(items: impl Iterator<Item = &'a Bytes>, limits: &Limits) -> Vec<Node> {
    let fill = limits.list_max_listpack_size.clamp(-5, i64::from(i16::MAX)) as i32;
    let mut nodes: Vec<Node> = Vec::new();
    for item in items {
        if item.len() >= PLAIN_ELEMENT {
            nodes.push(Node::Plain(item.clone()));
            continue;
        }
        match nodes.last_mut() {
            Some(Node::Packed(lp)) if node_takes(lp, fill, item.len()) => lp.push(item),
            _ => {
                let mut lp = ListpackWriter::new();
                lp.push(item);
                nodes.push(Node::Packed(lp));
            }
        }
    }
    nodes
}

/// The sizes of the blobs Redis keeps `value`'s elements in: each quicklist node's listpack
/// (or plain element) for a list, the one listpack of a listpack-encoded hash or sorted set,
/// nothing for the other encodings. What `MEMORY USAGE` measures besides the fixed headers.
pub fn packed_sizes(value: &Value, limits: &Limits) -> Vec<usize> {
    let pairs = |pairs: &mut dyn Iterator<Item = (&[u8], Option<f64>, &[u8])>| {
        let mut lp = ListpackWriter::new();
        for (first, score, second) in pairs {
            lp.push(first);
            match score {
                Some(score) => push_score(&mut lp, score),
                None => lp.push(second),
            }
        }
        vec![lp.bytes()]
    };
    match value {
        Value::List(list) => quicklist_nodes(list.iter(), limits)
            .iter()
            .map(|node| match node {
                Node::Plain(item) => item.len(),
                Node::Packed(lp) => lp.bytes(),
            })
            .collect(),
        Value::Hash(h) if matches!(&**h, Hash::Listpack(_)) => {
            pairs(&mut h.iter().map(|(f, v)| (f, None, v)))
        }
        Value::ZSet(z) if z.is_listpack() => {
            pairs(&mut z.iter().map(|(score, m)| (&m[..], Some(*score), &b""[..])))
        }
        Value::Set(set) => match &**set {
            Set::Intset(members) => vec![intset::encode(members).len()],
            Set::Table(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Reads a value of RDB type `rdb_type` (already read) from `r`.
pub fn load(rdb_type: u8, r: &mut Reader<'_>, limits: &Limits) -> Result<Value> {
    match rdb_type {
        TYPE_STRING => Ok(Value::Str(r.string()?)),
        TYPE_LIST => {
            let n = nonzero(r.count()?)?;
            let mut items = VecDeque::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                items.push_back(r.string()?);
            }
            Ok(Value::list(items))
        }
        TYPE_LIST_ZIPLIST => {
            let blob = r.string()?;
            let items: VecDeque<Bytes> = read_ziplist(&blob)?
                .into_iter()
                .map(Entry::to_bytes)
                .collect();
            nonzero(items.len())?;
            Ok(Value::list(items))
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => load_quicklist(rdb_type, r),
        TYPE_SET => load_set(r, limits),
        TYPE_SET_INTSET => {
            let members = intset::decode(&r.string()?)?;
            let set = if members.len() > limits.set_max_intset_entries {
                let mut t = SlotTable::with_capacity(members.len());
                for m in members {
                    t.insert(Entry::Int(m).to_bytes(), ());
                }
                Set::Table(Box::new(t))
            } else {
                Set::Intset(members)
            };
            Ok(Value::Set(Arc::new(set)))
        }
        TYPE_ZSET | TYPE_ZSET_2 => load_plain_zset(rdb_type, r, limits),
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            let entries = packed_pairs(rdb_type == TYPE_ZSET_ZIPLIST, &blob)?;
            let mut seen = HashSet::with_capacity(entries.len() / 2);
            let mut items: Vec<Item> = Vec::with_capacity(entries.len() / 2);
            for pair in entries.chunks_exact(2) {
                let member = pair[0].to_bytes();
                let score = match pair[1] {
                    Entry::Int(v) => v as f64,
                    Entry::Str(s) => parse_strtod(s).ok_or(Corrupt)?,
                };
                if score.is_nan() || !seen.insert(member.clone()) {
                    return Err(Corrupt);
                }
                items.push((score, member));
            }
            let listpack = items.len() <= limits.zset.entries;
            Ok(zset(items, listpack))
        }
        TYPE_HASH => load_plain_hash(r, limits),
        stream::TYPE_STREAM_LISTPACKS | stream::TYPE_STREAM_LISTPACKS_2 => {
            Ok(Value::Stream(Arc::new(stream::load(rdb_type, r)?)))
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let entries = packed_pairs(rdb_type == TYPE_HASH_ZIPLIST, &blob)?;
            let mut seen = HashSet::with_capacity(entries.len() / 2);
            let mut lp = Listpack::default();
            for pair in entries.chunks_exact(2) {
                let (field, value) = (pair[0].to_bytes(), pair[1].to_bytes());
                if !seen.insert(field.clone()) {
                    return Err(Corrupt);
                }
                lp.push(&field, &value);
            }
            let hash = if entries.len() / 2 > limits.hash.max_entries {
                let mut t = SlotTable::with_capacity(entries.len() / 2);
                for (f, v) in lp.iter() {
                    t.insert(Bytes::copy_from_slice(f), Bytes::copy_from_slice(v));
                }
                Hash::Table(Box::new(t))
            } else {
                Hash::Listpack(lp)
            };
            Ok(Value::Hash(Arc::new(hash)))
        }
        _ => Err(Corrupt),
    }
}

fn nonzero(n: usize) -> Result<usize> {
    if n == 0 {
        Err(Corrupt)
    } else {
        Ok(n)
    }
}

/// The entries of a listpack (or ziplist) of pairs: non-empty and even.
fn packed_pairs(ziplist: bool, blob: &[u8]) -> Result<Vec<Entry<'_>>> {
    let entries = if ziplist {
        read_ziplist(blob)?
    } else {
        read_listpack(blob)?
    };
    if entries.is_empty() || entries.len() % 2 != 0 {
        return Err(Corrupt);
    }
    Ok(entries)
}

fn load_quicklist(rdb_type: u8, r: &mut Reader<'_>) -> Result<Value> {
    let nodes = nonzero(r.count()?)?;
    let mut items = VecDeque::new();
    for _ in 0..nodes {
        let container = if rdb_type == TYPE_LIST_QUICKLIST_2 {
            r.length()?
        } else {
            CONTAINER_PACKED
        };
        let data = r.string()?;
        if data.is_empty() {
            return Err(Corrupt);
        }
        match container {
            CONTAINER_PLAIN => items.push_back(data),
            CONTAINER_PACKED => {
                let entries = if rdb_type == TYPE_LIST_QUICKLIST_2 {
                    read_listpack(&data)?
                } else {
                    read_ziplist(&data)?
                };
                items.extend(entries.into_iter().map(Entry::to_bytes));
            }
            _ => return Err(Corrupt),
        }
    }
    nonzero(items.len())?;
    Ok(Value::list(items))
}

fn load_set(r: &mut Reader<'_>, limits: &Limits) -> Result<Value> {
    let n = nonzero(r.count()?)?;
    let max_intset = limits.set_max_intset_entries.min(1 << 30);
    let mut set = if n > max_intset {
        Set::Table(Box::new(SlotTable::with_capacity(n.min(1 << 16))))
    } else {
        Set::new()
    };
    for _ in 0..n {
        if !set.add(r.string()?, max_intset) {
            return Err(Corrupt);
        }
    }
    Ok(Value::Set(Arc::new(set)))
}

fn load_plain_zset(rdb_type: u8, r: &mut Reader<'_>, limits: &Limits) -> Result<Value> {
    let n = nonzero(r.count()?)?;
    let mut seen = HashSet::with_capacity(n.min(1 << 16));
    let mut items: Vec<Item> = Vec::with_capacity(n.min(1 << 16));
    let (mut longest, mut total) = (0usize, 0usize);
    for _ in 0..n {
        let member = r.string()?;
        let score = if rdb_type == TYPE_ZSET_2 {
            r.binary_double()?
        } else {
            r.text_double()?
        };
        if score.is_nan() || !seen.insert(member.clone()) {
            return Err(Corrupt);
        }
        longest = longest.max(member.len());
        total += member.len();
        items.push((score, member));
    }
    let listpack =
        n <= limits.zset.entries && longest <= limits.zset.value && total <= LISTPACK_MAX;
    if listpack {
        // Converting to a listpack stores -0 as the integer 0.
        for item in &mut items {
            if item.0 == 0.0 {
                item.0 = 0.0;
            }
        }
    }
    Ok(zset(items, listpack))
}

fn zset(mut items: Vec<Item>, listpack: bool) -> Value {
    items.sort_by(|a, b| cmp_item(a, b.0, &b.1));
    Value::ZSet(Arc::new(ZSet::from_sorted(items, listpack)))
}

fn load_plain_hash(r: &mut Reader<'_>, limits: &Limits) -> Result<Value> {
    let n = nonzero(r.count()?)?;
    let mut hash = if n > limits.hash.max_entries {
        Hash::Table(Box::new(SlotTable::with_capacity(n.min(1 << 16))))
    } else {
        Hash::default()
    };
    for _ in 0..n {
        let field = r.string()?;
        let value = r.string()?;
        if !hash.set(field, value, limits.hash) {
            return Err(Corrupt);
        }
    }
    Ok(Value::Hash(Arc::new(hash)))
}
