//! Streams in RDB form: `RDB_TYPE_STREAM_LISTPACKS_2` (Redis 7.0, written and read) and
//! `RDB_TYPE_STREAM_LISTPACKS` (Redis 5 and 6, read), as `rdbSaveObject` and `rdbLoadObject`
//! handle `OBJ_STREAM`.
//!
//! The body is the radix tree of nodes (each a 16-byte big-endian master id and the node's
//! listpack, saved as RDB strings), the length, the last id, then (type 19 only) the first id,
//! the largest deleted id and the entries-added counter, then the consumer groups: name, last
//! delivered id, (type 19 only) the read counter, the group's pending entries with their
//! delivery time and count, and the consumers with their seen time and the ids they own.
//!
//! A node's listpack is rebuilt from the keyspace's [`Node`] exactly as `streamAppendItem`,
//! `streamIteratorRemoveEntry` and `streamTrim` leave it: the master entry (live count,
//! deleted count, master fields, a zero terminator), then per entry its flags, id deltas from
//! the master id, its fields (or only its values when they are the master fields) and the
//! back-pointer count. The keyspace splits nodes where Redis does, so the bytes are Redis's.
//!
//! Loading checks what `streamValidateListpackIntegrity` and Redis's deep sanitization check,
//! and also what the keyspace relies on and a stream Redis built always satisfies: ids
//! increasing within and across nodes, no node without a live entry, the length equal to the
//! live entries, the entries-added counter not below it, the last id not below any entry,
//! read counters of -1 or more, and every pending entry owned by exactly one consumer.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::encoding::{write_len, write_string, Corrupt, Reader, Result};
use super::listpack::{read_listpack, Entry, ListpackWriter};
use crate::keyspace::stream::{lp_int_size, Consumer, Group, Nack, Node, Stream, StreamId};

/// `RDB_TYPE_STREAM_LISTPACKS`: Redis 5 and 6 (no first id, tombstone id, counters).
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
/// `RDB_TYPE_STREAM_LISTPACKS_2`: Redis 7.0.
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// `STREAM_ITEM_FLAG_DELETED` / `STREAM_ITEM_FLAG_SAMEFIELDS`.
const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Appends a stream's body (the type byte is the caller's).
pub fn save(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    write_len(out, s.nodes.len() as u64);
    for (master, node) in &s.nodes {
        write_string(out, &master.encode(), compress);
        write_string(out, &node_listpack(*master, node).finish(), compress);
    }
    write_len(out, s.length);
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted_id);
    write_len(out, s.entries_added);
    write_len(out, s.groups().len() as u64);
    for (name, group) in s.groups() {
        write_string(out, name, compress);
        write_id(out, group.last_id);
        // Saved as an unsigned length: -1 (unknown) is 2^64 - 1.
        write_len(out, group.entries_read as u64);
        write_len(out, group.pel.len() as u64);
        for (id, nack) in &group.pel {
            out.extend_from_slice(&id.encode());
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            write_len(out, nack.delivery_count);
        }
        write_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            write_string(out, name, compress);
            out.extend_from_slice(&consumer.seen_time.to_le_bytes());
            write_len(out, consumer.pel.len() as u64);
            for id in &consumer.pel {
                out.extend_from_slice(&id.encode());
            }
        }
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// A node's listpack as Redis keeps it.
fn node_listpack(master: StreamId, node: &Node) -> ListpackWriter {
    let mut lp = ListpackWriter::new();
    let deleted = node.entries.len() as u64 - node.live;
    lp.push_int(node.live as i64);
    lp.push_int(deleted as i64);
    lp.push_int(node.master_fields.len() as i64);
    for field in &node.master_fields {
        lp.push(field);
    }
    lp.push_int(0);
    for e in &node.entries {
        let same = e.same_fields();
        let flags =
            if e.deleted { FLAG_DELETED } else { 0 } | if same { FLAG_SAMEFIELDS } else { 0 };
        lp.push_int(flags);
        lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
        let pairs = node.items(e).count() / 2;
        if same {
            for value in node.items(e).skip(1).step_by(2) {
                lp.push(value);
            }
            lp.push_int(pairs as i64 + 3);
        } else {
            lp.push_int(pairs as i64);
            for item in node.items(e) {
                lp.push(item);
            }
            lp.push_int(2 * pairs as i64 + 4);
        }
    }
    lp
}

/// The size of `node`'s listpack without its two counters: what the keyspace's node keeps
/// to decide where Redis would start a new node.
pub fn fixed_bytes(master: StreamId, node: &Node) -> u64 {
    let deleted = node.entries.len() as u64 - node.live;
    let counters = lp_int_size(node.live as i64) + lp_int_size(deleted as i64);
    (node_listpack(master, node).bytes() - counters) as u64
}

/// Reads a stream body of `rdb_type` (15 or 19).
pub fn load(rdb_type: u8, r: &mut Reader<'_>) -> Result<Stream> {
    let v2 = rdb_type == TYPE_STREAM_LISTPACKS_2;
    let mut s = Stream::new();
    let nodes = r.length()?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(Corrupt);
        }
        let master = StreamId::decode(&key).ok_or(Corrupt)?;
        let blob = r.string()?;
        let node = load_node(master, &read_listpack(&blob)?)?;
        if s.nodes.insert(master, node).is_some() {
            return Err(Corrupt);
        }
    }
    s.length = r.length()?;
    s.last_id = read_id(r)?;
    if v2 {
        s.first_id = read_id(r)?;
        s.max_deleted_id = read_id(r)?;
        s.entries_added = r.length()?;
        // XSETID refuses a counter below the length; the lag arithmetic relies on it.
        if s.entries_added < s.length {
            return Err(Corrupt);
        }
    } else {
        // As Redis 7.0 migrates an older stream: the counter starts at the length, and the
        // first id is the first live entry's (all ones when there is none).
        s.entries_added = s.length;
        s.first_id = s.first_live().unwrap_or(StreamId::MAX);
    }
    check_entries(&s)?;
    let groups = r.length()?;
    for _ in 0..groups {
        let name = r.string()?;
        let last_id = read_id(r)?;
        let entries_read = if v2 {
            // -1 (unknown) is saved as 2^64 - 1; nothing else below 0 is possible.
            let read = r.length()? as i64;
            if read < -1 {
                return Err(Corrupt);
            }
            read
        } else {
            s.estimate_distance(last_id)
        };
        if s.groups().contains_key(&name) {
            return Err(Corrupt);
        }
        let group = load_group(r, last_id, entries_read)?;
        s.insert_group(name, group);
    }
    // A restored value is new: nothing to journal part by part.
    s.take_changes();
    Ok(s)
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId> {
    Ok(StreamId::new(r.length()?, r.length()?))
}

fn raw_id(r: &mut Reader<'_>) -> Result<StreamId> {
    StreamId::decode(r.take(16)?).ok_or(Corrupt)
}

fn millis(r: &mut Reader<'_>) -> Result<i64> {
    Ok(i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")))
}

/// A group's pending entries and consumers; each pending entry must belong to exactly one
/// consumer.
fn load_group(r: &mut Reader<'_>, last_id: StreamId, entries_read: i64) -> Result<Group> {
    let mut group = Group::new(last_id, entries_read);
    let mut unowned: BTreeMap<StreamId, (i64, u64)> = BTreeMap::new();
    for _ in 0..r.length()? {
        let id = raw_id(r)?;
        let time = millis(r)?;
        let count = r.length()?;
        if unowned.insert(id, (time, count)).is_some() {
            return Err(Corrupt);
        }
    }
    for _ in 0..r.length()? {
        let name = r.string()?;
        if group.consumers.contains_key(&name) {
            return Err(Corrupt);
        }
        let seen_time = millis(r)?;
        let mut pel = BTreeSet::new();
        for _ in 0..r.length()? {
            let id = raw_id(r)?;
            let (delivery_time, delivery_count) = unowned.remove(&id).ok_or(Corrupt)?;
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: name.clone(),
            };
            group.pel.insert(id, nack);
            pel.insert(id);
        }
        group.consumers.insert(name, Consumer { seen_time, pel });
    }
    if !unowned.is_empty() {
        return Err(Corrupt);
    }
    Ok(group)
}

fn int(entry: Option<&Entry<'_>>) -> Result<i64> {
    match entry {
        Some(Entry::Int(v)) => Ok(*v),
        _ => Err(Corrupt),
    }
}

/// A node from its listpack's entries (`streamValidateListpackIntegrity`, deep).
fn load_node(master: StreamId, entries: &[Entry<'_>]) -> Result<Node> {
    let mut it = entries.iter();
    let live = int(it.next())?;
    let deleted = int(it.next())?;
    let fields = int(it.next())?;
    if live < 1 || deleted < 0 || fields < 1 {
        return Err(Corrupt);
    }
    let mut master_fields = Vec::new();
    for _ in 0..fields {
        master_fields.push(it.next().ok_or(Corrupt)?.to_bytes());
    }
    if int(it.next())? != 0 {
        return Err(Corrupt);
    }
    let mut node = Node::restored(master_fields, 0);
    let total = live.checked_add(deleted).ok_or(Corrupt)?;
    let mut previous: Option<StreamId> = None;
    for _ in 0..total {
        let flags = int(it.next())?;
        let ms = int(it.next())?;
        let seq = int(it.next())?;
        if !(0..=FLAG_DELETED | FLAG_SAMEFIELDS).contains(&flags) {
            return Err(Corrupt);
        }
        let id = StreamId::new(
            master.ms.wrapping_add(ms as u64),
            master.seq.wrapping_add(seq as u64),
        );
        if id < master || previous.is_some_and(|p| p >= id) {
            return Err(Corrupt);
        }
        previous = Some(id);
        let mut items: Vec<Bytes> = Vec::new();
        let expected_count = if flags & FLAG_SAMEFIELDS != 0 {
            for field in &node.master_fields {
                items.push(field.clone());
                items.push(it.next().ok_or(Corrupt)?.to_bytes());
            }
            fields + 3
        } else {
            let n = int(it.next())?;
            if n < 1 {
                return Err(Corrupt);
            }
            for _ in 0..n {
                items.push(it.next().ok_or(Corrupt)?.to_bytes());
                items.push(it.next().ok_or(Corrupt)?.to_bytes());
            }
            2 * n + 4
        };
        if int(it.next())? != expected_count {
            return Err(Corrupt);
        }
        node.restore_entry(id, flags & FLAG_DELETED != 0, items.iter().map(|b| &b[..]));
    }
    if it.next().is_some() || node.live != live as u64 {
        return Err(Corrupt);
    }
    node.fixed_bytes = fixed_bytes(master, &node);
    Ok(node)
}

/// What the keyspace relies on across nodes: each node's entries below the next node's
/// master id and not above the last id, and the length the count of live entries.
fn check_entries(s: &Stream) -> Result<()> {
    let mut live = 0u64;
    let masters: Vec<StreamId> = s.nodes.keys().copied().collect();
    for (i, node) in s.nodes.values().enumerate() {
        let last = node.entries.last().ok_or(Corrupt)?.id;
        if masters.get(i + 1).is_some_and(|next| last >= *next) || last > s.last_id {
            return Err(Corrupt);
        }
        live += node.live;
    }
    if live != s.length {
        return Err(Corrupt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::stream::{IdSpec, NodeLimits, Trim, TrimStrategy};

    fn body(s: &Stream) -> Vec<u8> {
        let mut out = Vec::new();
        save(&mut out, s, true);
        out
    }

    /// A stream of several nodes with tombstones, a trimmed head, a group with pending
    /// entries of two consumers and a group whose read counter is unknown.
    fn sample() -> Stream {
        let mut s = Stream::new();
        let limits = NodeLimits {
            max_entries: 4,
            max_bytes: 4096,
        };
        for i in 1..=30u64 {
            let mut pairs = vec![Bytes::from("f"), Bytes::from(i.to_string())];
            if i % 5 == 0 {
                pairs.extend([Bytes::from("other"), Bytes::from("x".repeat(i as usize))]);
            }
            let id = IdSpec::Exact(StreamId::new(1000 + i / 2, i % 2));
            s.append(&pairs, id, 0, limits).unwrap();
        }
        s.delete(&[StreamId::new(1003, 0), StreamId::new(1010, 1)]);
        s.trim(Trim {
            strategy: TrimStrategy::MaxLen(25),
            approx: false,
            limit: 0,
        });
        s.insert_group(Bytes::from("g"), Group::new(StreamId::MIN, 0));
        s.insert_group(
            Bytes::from("unknown"),
            Group::new(StreamId::new(1005, 0), -1),
        );
        for consumer in ["alice", "7"] {
            let name = Bytes::from(consumer);
            s.group_mut(b"g").unwrap().create_consumer(&name, 42);
            s.deliver(b"g", &name, StreamId::MIN, 3, false, 1_700_000_000_000);
        }
        s.take_changes();
        s
    }

    #[test]
    fn streams_round_trip_with_their_node_sizes() {
        let s = sample();
        assert!(s.nodes.len() > 4);
        let saved = body(&s);
        let restored = load(TYPE_STREAM_LISTPACKS_2, &mut Reader::new(&saved)).unwrap();
        // Equal nodes include equal listpack sizes: later appends split where Redis does.
        assert_eq!(restored, s);
        assert_eq!(body(&restored), saved);
        let empty = Stream::new();
        let restored = load(TYPE_STREAM_LISTPACKS_2, &mut Reader::new(&body(&empty))).unwrap();
        assert_eq!(restored, empty);
    }

    #[test]
    fn inconsistent_streams_are_refused() {
        let s = sample();
        let mut longer = s.clone();
        longer.length += 1;
        longer.entries_added += 1;
        let mut behind = s.clone();
        behind.last_id = StreamId::new(1001, 0);
        let mut counted = s.clone();
        counted.entries_added = counted.length - 1;
        let mut unread = s.clone();
        unread.group_mut(b"g").unwrap().entries_read = -2;
        for (what, bad) in [
            ("length", longer),
            ("last id", behind),
            ("entries added", counted),
            ("read counter", unread),
        ] {
            let saved = body(&bad);
            let got = load(TYPE_STREAM_LISTPACKS_2, &mut Reader::new(&saved));
            assert_eq!(got.err(), Some(Corrupt), "{what}");
        }
    }
}
