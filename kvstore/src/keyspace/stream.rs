//! The stream type (XADD & co.): entries in nodes, consumer groups, pending entries lists.
//!
//! This models Redis 7.0's `t_stream.c` closely enough that every reply matches, including
//! the ones that expose its internals:
//!
//! - Entries live in *nodes* (Redis's listpacks, one per radix-tree key) keyed by the id of
//!   the first entry ever appended to them (the *master* id, kept after that entry is
//!   deleted). A node takes new entries until it holds `stream-node-max-entries` entries
//!   (live and deleted) or its listpack would reach `stream-node-max-bytes`; its listpack's
//!   size is computed exactly ([`lp_int_size`], [`lp_str_size`]) so the boundaries fall where
//!   Redis puts them. `~` trimming removes whole nodes only, so its counts depend on that.
//! - Deleting an entry marks it (a tombstone); a node whose last live entry goes is removed.
//! - `radix-tree-nodes` is the node count of a radix tree over the 16-byte big-endian master
//!   ids, computed from the keys ([`Stream::rax_nodes`]).
//! - Consumer groups keep the last delivered id, the `entries_read` counter (or `-1` when it
//!   is unknown) and the lag estimate exactly as `streamEstimateDistanceFromFirstEverEntry`.
//!
//! - A node packs its entries' fields and values in one buffer; an entry whose fields are the
//!   node's master fields stores its values only (Redis's `SAMEFIELDS` flag).
//! - Every change names the [`Part`]s it touched (a node, a group header, a pending entry);
//!   commands take them with [`Stream::take_changes`] after each write and journal them, so
//!   persistence rewrites those parts only. Groups are changed through [`Stream::group_mut`]
//!   & co. and pending entries through [`Group`]'s methods, which record the change.
//!
//! Invariants: `length` is the number of live entries; `nodes` are ordered by master id and
//! every entry id in a node is at least its master id and below the next node's; every group
//! PEL entry is in its consumer's PEL and nowhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

/// A stream entry id: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next id, or `None` past the last one (`streamIncrID`).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id, or `None` before 0-0 (`streamDecrID`).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The 16-byte big-endian form Redis uses as a radix-tree key.
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }

    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// `stream-node-max-entries` / `stream-node-max-bytes` in force (0: no limit).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
        }
    }
}

/// Redis's `STREAM_LISTPACK_MAX_SIZE`: no entry or node may be larger.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// Bytes a listpack element holding integer `v` takes (encoding plus back-length).
pub fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + 1
}

/// Bytes a listpack element holding string `s` takes; integer-looking strings are stored
/// as integers, as `lpAppend` does.
pub fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = crate::number::parse_i64(s) {
        return lp_int_size(v);
    }
    let len = s.len();
    let enc = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    let back = if enc <= 127 {
        1
    } else if enc < 16383 {
        2
    } else if enc < 2_097_151 {
        3
    } else if enc < 268_435_455 {
        4
    } else {
        5
    };
    enc + back
}

/// One entry of a node: its id, where its fields and values lie in the node's buffer, and
/// its tombstone flag.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEntry {
    pub id: StreamId,
    at: usize,
    items: u32,
    /// Its fields are the node's master fields: only the values are stored (as Redis's
    /// `STREAM_ITEM_FLAG_SAMEFIELDS`).
    same: bool,
    pub deleted: bool,
}

impl NodeEntry {
    /// Whether the entry stores its values only, its fields being the node's master fields
    /// (Redis's `STREAM_ITEM_FLAG_SAMEFIELDS`).
    pub fn same_fields(&self) -> bool {
        self.same
    }
}

/// A radix-tree node's listpack: entries appended in id order. Their fields and values are
/// packed in one buffer (each length-prefixed), so an entry costs its bytes plus a small
/// index record, not an allocation per field.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub master_fields: Vec<Bytes>,
    data: Vec<u8>,
    pub entries: Vec<NodeEntry>,
    pub live: u64,
    /// The listpack's size without its live and deleted counters.
    pub fixed_bytes: u64,
}

impl Node {
    fn new(master_fields: Vec<Bytes>) -> Node {
        let mut fixed = 6 + 1; // header + end byte
        fixed += lp_int_size(master_fields.len() as i64);
        fixed += master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>();
        fixed += lp_int_size(0); // master entry terminator
        Node {
            master_fields,
            data: Vec::new(),
            entries: Vec::new(),
            live: 0,
            fixed_bytes: fixed as u64,
        }
    }

    /// An empty node to refill with [`Node::restore_entry`] (persistence).
    pub fn restored(master_fields: Vec<Bytes>, fixed_bytes: u64) -> Node {
        Node {
            master_fields,
            data: Vec::new(),
            entries: Vec::new(),
            live: 0,
            fixed_bytes,
        }
    }

    /// Appends an entry as stored (persistence), without recomputing sizes.
    pub fn restore_entry<'a>(
        &mut self,
        id: StreamId,
        deleted: bool,
        items: impl IntoIterator<Item = &'a [u8]> + Clone,
    ) {
        let same = self.same_fields(items.clone());
        let at = self.data.len();
        let mut n = 0;
        for (i, item) in items.into_iter().enumerate() {
            if !same || i % 2 == 1 {
                self.append_item(item);
            }
            n += 1;
        }
        self.entries.push(NodeEntry {
            id,
            at,
            items: n,
            same,
            deleted,
        });
        self.live += u64::from(!deleted);
    }

    fn append_item(&mut self, item: &[u8]) {
        self.data
            .extend_from_slice(&(item.len() as u32).to_le_bytes());
        self.data.extend_from_slice(item);
    }

    /// An entry's fields and values, interleaved.
    pub fn items<'a>(&'a self, e: &NodeEntry) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut at = e.at;
        let data = &self.data;
        let (same, master) = (e.same, &self.master_fields);
        (0..e.items as usize).map(move |i| {
            if same && i % 2 == 0 {
                return &master[i / 2][..];
            }
            let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
            let item = &data[at + 4..at + 4 + len];
            at += 4 + len;
            item
        })
    }

    /// An entry's fields and values as owned strings.
    pub fn fields(&self, e: &NodeEntry) -> Vec<Bytes> {
        self.items(e).map(Bytes::copy_from_slice).collect()
    }

    fn deleted(&self) -> u64 {
        self.entries.len() as u64 - self.live
    }

    /// The listpack's size in bytes (`lpBytes`).
    pub fn bytes(&self) -> u64 {
        self.fixed_bytes
            + lp_int_size(self.live as i64) as u64
            + lp_int_size(self.deleted() as i64) as u64
    }

    /// Whether the fields of `items` (fields and values interleaved) are the master fields.
    fn same_fields<'a>(&self, items: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let mut n = 0;
        let mut fields = self.master_fields.iter();
        for (i, item) in items.into_iter().enumerate() {
            n += 1;
            if i % 2 == 0 && !matches!(fields.next(), Some(f) if f[..] == *item) {
                return false;
            }
        }
        n == 2 * self.master_fields.len()
    }

    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[Bytes]) {
        let same = self.same_fields(pairs.iter().map(|p| &p[..]));
        let n = pairs.len() / 2;
        let mut size = lp_int_size(if same { 2 } else { 0 });
        size += lp_int_size(id.ms.wrapping_sub(master.ms) as i64);
        size += lp_int_size(id.seq.wrapping_sub(master.seq) as i64);
        let mut lp_count = n + 3;
        if !same {
            size += lp_int_size(n as i64);
            lp_count += n + 1;
        }
        for (i, item) in pairs.iter().enumerate() {
            if !same || i % 2 == 1 {
                size += lp_str_size(item);
            }
        }
        size += lp_int_size(lp_count as i64);
        self.fixed_bytes += size as u64;
        self.restore_entry(id, false, pairs.iter().map(|p| &p[..]));
    }

    fn position(&self, id: StreamId) -> Option<usize> {
        self.entries.binary_search_by(|e| e.id.cmp(&id)).ok()
    }
}

/// A pending entry: delivered to a consumer, not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// `-1`: unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: i64,
    /// Change it through [`Group::ack`], [`Group::assign`], [`Group::delete_consumer`] or
    /// [`Group::pending_mut`], which record what changed for persistence.
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
    /// Pending entries changed since [`Stream::take_changes`] (equality ignores it).
    pel_changes: PelChanges,
}

#[derive(Debug, Clone, Default)]
struct PelChanges(Vec<StreamId>);

impl PartialEq for PelChanges {
    fn eq(&self, _: &PelChanges) -> bool {
        true
    }
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
            pel_changes: PelChanges::default(),
        }
    }

    /// A pending entry for changing (recorded as changed).
    pub fn pending_mut(&mut self, id: StreamId) -> Option<&mut Nack> {
        let nack = self.pel.get_mut(&id)?;
        self.pel_changes.0.push(id);
        Some(nack)
    }

    /// Looks a consumer up, creating it if absent; refreshes its seen time. Returns whether
    /// it was created.
    pub fn touch_consumer(&mut self, name: &Bytes, now: i64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => {
                self.create_consumer(name, now);
                true
            }
        }
    }

    /// Creates a consumer; false if it exists.
    pub fn create_consumer(&mut self, name: &Bytes, now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Bytes::copy_from_slice(name),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
            self.pel_changes.0.push(*id);
        }
        Some(consumer.pel.len())
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(nack) => {
                self.pel_changes.0.push(id);
                if let Some(c) = self.consumers.get_mut(&nack.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives pending entry `id` to `consumer` (which exists), creating it if absent.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes) -> &mut Nack {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone()) {
            if old != consumer {
                if let Some(c) = self.consumers.get_mut(&old) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        self.pel_changes.0.push(id);
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: 0,
            delivery_count: 0,
            consumer: consumer.clone(),
        });
        nack.consumer = consumer.clone();
        nack
    }
}

/// How XADD chooses the new entry's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: from the clock.
    Auto,
    /// `ms-*`: this millisecond, the next free sequence.
    Ms(u64),
    /// A full id.
    Exact(StreamId),
}

/// Why an append failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The id is not greater than the last one.
    NotGreater,
    /// The entry is larger than a listpack may be.
    TooLarge,
}

/// How XADD / XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimStrategy {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    pub approx: bool,
    /// 0: no limit.
    pub limit: u64,
}

/// A part of a stream persistence stores as one element: a node, by master id, or a
/// consumer group, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Node(StreamId),
    /// A group's header: last id, read counter, consumers.
    Group(Bytes),
    /// One pending entry of a group.
    Pending(Bytes, StreamId),
}

/// Element ids of a per-element stream: a tag, then the master id or the group name. Nodes
/// sort before groups, in id order.
const PART_NODE: u8 = 1;
const PART_GROUP: u8 = 2;
const PART_PENDING: u8 = 3;

impl Part {
    /// The part's element id in the journal and on disk.
    pub fn id(&self) -> Bytes {
        let mut id = Vec::with_capacity(17);
        match self {
            Part::Node(master) => {
                id.push(PART_NODE);
                id.extend_from_slice(&master.encode());
            }
            Part::Group(name) => {
                id.push(PART_GROUP);
                id.extend_from_slice(name);
            }
            Part::Pending(group, entry) => {
                id.push(PART_PENDING);
                id.extend_from_slice(&(group.len() as u32).to_be_bytes());
                id.extend_from_slice(group);
                id.extend_from_slice(&entry.encode());
            }
        }
        Bytes::from(id)
    }

    /// The part an element id names.
    pub fn parse(id: &[u8]) -> Option<Part> {
        match id.split_first()? {
            (&PART_NODE, master) if master.len() == 16 => {
                Some(Part::Node(StreamId::decode(master)?))
            }
            (&PART_GROUP, name) => Some(Part::Group(Bytes::copy_from_slice(name))),
            (&PART_PENDING, rest) => {
                let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let name = rest.get(4..4 + len)?;
                let entry = rest.get(4 + len..)?;
                if entry.len() != 16 {
                    return None;
                }
                Some(Part::Pending(
                    Bytes::copy_from_slice(name),
                    StreamId::decode(entry)?,
                ))
            }
            _ => None,
        }
    }
}

/// The parts changed since the last [`Stream::take_changes`]: what the journal must name so
/// persistence rewrites those parts only. Not part of the value (equality ignores it).
#[derive(Debug, Clone, Default)]
struct Changes(Vec<Part>);

impl PartialEq for Changes {
    fn eq(&self, _: &Changes) -> bool {
        true
    }
}

/// A stream value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    pub nodes: BTreeMap<StreamId, Node>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Private so that every change is recorded: [`Stream::group_mut`] & co.
    groups: BTreeMap<Bytes, Group>,
    changes: Changes,
}

/// An entry as commands see it.
pub type Item = (StreamId, Vec<Bytes>);

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    /// The consumer groups, by name.
    pub fn groups(&self) -> &BTreeMap<Bytes, Group> {
        &self.groups
    }

    /// Whether parts changed since the last [`Stream::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.changes.0.is_empty() || self.groups.values().any(|g| !g.pel_changes.0.is_empty())
    }

    /// The parts changed since the last call (each at most once).
    pub fn take_changes(&mut self) -> Vec<Part> {
        let mut parts = std::mem::take(&mut self.changes.0);
        for (name, g) in self.groups.iter_mut() {
            for id in g.pel_changes.0.drain(..) {
                parts.push(Part::Pending(name.clone(), id));
            }
        }
        parts.sort_by_key(|p| p.id());
        parts.dedup();
        parts
    }

    fn changed_node(&mut self, master: StreamId) {
        self.changes.0.push(Part::Node(master));
    }

    /// A group for changing (recorded as changed).
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        let (key, group) = self.groups.get_key_value(name)?;
        self.changes.0.push(Part::Group(key.clone()));
        let _ = group;
        self.groups.get_mut(name)
    }

    /// Adds a group (recorded as changed).
    pub fn insert_group(&mut self, name: Bytes, group: Group) {
        self.changes.0.push(Part::Group(name.clone()));
        self.groups.insert(name, group);
    }

    /// Removes a group (recorded as changed).
    pub fn remove_group(&mut self, name: &[u8]) -> Option<Group> {
        let (key, group) = self.groups.remove_entry(name)?;
        for id in group.pel.keys().chain(&group.pel_changes.0) {
            self.changes.0.push(Part::Pending(key.clone(), *id));
        }
        self.changes.0.push(Part::Group(key));
        Some(group)
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Appends an entry (`pairs` is field, value, field, value...) and returns its id.
    pub fn append(
        &mut self,
        pairs: &[Bytes],
        spec: IdSpec,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AppendError> {
        let id = match spec {
            IdSpec::Exact(id) => id,
            IdSpec::Ms(ms) => {
                if self.last_id.ms == ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AppendError::NotGreater);
                    }
                    StreamId::new(ms, self.last_id.seq + 1)
                } else {
                    StreamId::new(ms, 0)
                }
            }
            IdSpec::Auto => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::NotGreater);
        }
        let total: u64 = pairs.iter().map(|p| p.len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        let tail_fits = self.nodes.last_key_value().is_some_and(|(_, node)| {
            node.bytes() + total < max_bytes
                && (limits.max_entries == 0 || (node.entries.len() as u64) < limits.max_entries)
        });
        if !tail_fits {
            let master_fields = pairs
                .iter()
                .step_by(2)
                .map(|f| Bytes::copy_from_slice(f))
                .collect();
            self.nodes.insert(id, Node::new(master_fields));
        }
        let (master, node) = self.nodes.iter_mut().next_back().expect("tail node");
        node.push(*master, id, pairs);
        let master = *master;
        self.changed_node(master);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// The node holding `id`, if any could.
    fn node_of(&self, id: StreamId) -> Option<(&StreamId, &Node)> {
        self.nodes.range(..=id).next_back()
    }

    /// Whether a live entry has this id.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The fields and values of the live entry with this id.
    pub fn get(&self, id: StreamId) -> Option<Vec<Bytes>> {
        let (_, node) = self.node_of(id)?;
        let e = &node.entries[node.position(id)?];
        (!e.deleted).then(|| node.fields(e))
    }

    /// Live entries from `start` to `end` inclusive, in order (reversed with `rev`), at most
    /// `count` of them (0: all).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<Item> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        let first_node = self.node_of(start).map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(first_node..=end);
        let mut push = |node: &Node, e: &NodeEntry| {
            if !e.deleted && e.id >= start && e.id <= end {
                out.push((e.id, node.fields(e)));
            }
            count != 0 && out.len() >= count
        };
        if rev {
            'outer: for (_, node) in nodes.rev() {
                for e in node.entries.iter().rev() {
                    if push(node, e) {
                        break 'outer;
                    }
                }
            }
        } else {
            'outer: for (_, node) in nodes {
                for e in &node.entries {
                    if push(node, e) {
                        break 'outer;
                    }
                }
            }
        }
        out
    }

    /// The first live entry's id (`streamGetEdgeID` skipping tombstones).
    pub fn first_live(&self) -> Option<StreamId> {
        self.nodes
            .values()
            .flat_map(|n| n.entries.iter())
            .find(|e| !e.deleted)
            .map(|e| e.id)
    }

    /// The last live entry's id (`streamLastValidID`).
    pub fn last_live(&self) -> Option<StreamId> {
        self.nodes
            .values()
            .rev()
            .flat_map(|n| n.entries.iter().rev())
            .find(|e| !e.deleted)
            .map(|e| e.id)
    }

    /// Deletes the live entry `id` (`streamDeleteItem`); false if absent.
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(pos) = node.position(id) else {
            return false;
        };
        if node.entries[pos].deleted {
            return false;
        }
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.entries[pos].deleted = true;
            node.live -= 1;
        }
        self.length -= 1;
        self.changed_node(master);
        true
    }

    /// XDEL: deletes these ids, returns how many were live.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.first_live().unwrap_or(StreamId::MAX);
            }
        }
        deleted
    }

    /// Trims from the head (`streamTrim`); returns how many entries went.
    pub fn trim(&mut self, trim: Trim) -> u64 {
        let mut deleted = 0u64;
        // Trimming works from the head: after a node goes, the next is the first again.
        while let Some(&master) = self.nodes.keys().next() {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.length <= max {
                    break;
                }
            }
            let node = self.nodes.get_mut(&master).expect("node");
            let entries = node.live;
            if trim.limit != 0 && deleted + entries > trim.limit {
                break;
            }
            let remove = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.length - entries >= max,
                TrimStrategy::MinId(min) => node.entries.last().is_some_and(|e| e.id < min),
            };
            if remove {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                self.changes.0.push(Part::Node(master));
                continue;
            }
            if trim.approx {
                break;
            }
            self.changes.0.push(Part::Node(master));
            for e in node.entries.iter_mut() {
                let stop = match trim.strategy {
                    TrimStrategy::MaxLen(max) => self.length <= max,
                    TrimStrategy::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted {
                    e.deleted = true;
                    node.live -= 1;
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_live().unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// Node count of Redis's radix tree over the nodes' 16-byte keys.
    pub fn rax_nodes(&self) -> u64 {
        rax_nodes(self.nodes.keys().copied())
    }

    /// `streamRangeHasTombstones` for `start..=MAX`.
    fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the read counter of `id`, or -1.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return -1;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        -1
    }

    /// A group's lag, or `None` when it cannot be known (`streamReplyWithCGLag`).
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != -1 && !self.has_tombstones_from(group.last_id) {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        let read = self.estimate_distance(group.last_id);
        (read != -1).then(|| self.entries_added as i64 - read)
    }

    /// Delivers new entries from `start` on to `consumer` of `group` (which both exist), as
    /// XREADGROUP `>` does: advances the group's last id and read counter, and records the
    /// entries as pending unless `noack`.
    pub fn deliver(
        &mut self,
        group_name: &[u8],
        consumer: &Bytes,
        start: StreamId,
        count: usize,
        noack: bool,
        now: i64,
    ) -> Vec<Item> {
        let items = self.range(start, StreamId::MAX, false, count);
        for (id, _) in &items {
            let group = &self.groups[group_name];
            if *id > group.last_id {
                let read = if group.entries_read != -1 && !self.has_tombstones_from(*id) {
                    Some(group.entries_read + 1)
                } else if self.entries_added != 0 {
                    Some(self.estimate_distance(*id))
                } else {
                    None
                };
                let group = self.group_mut(group_name).expect("group");
                if let Some(read) = read {
                    group.entries_read = read;
                }
                group.last_id = *id;
            }
            if !noack {
                let group = self.group_mut(group_name).expect("group");
                let nack = group.assign(*id, consumer);
                nack.delivery_time = now;
                nack.delivery_count = 1;
            }
        }
        items
    }

    /// XREADGROUP with an id: the consumer's own pending entries from `start` on. An entry
    /// deleted since comes back as its id with `None`.
    pub fn history(
        &mut self,
        group_name: &[u8],
        consumer: &[u8],
        start: StreamId,
        count: usize,
        now: i64,
    ) -> Vec<(StreamId, Option<Vec<Bytes>>)> {
        let group = self.groups.get(group_name).expect("group");
        let ids: Vec<StreamId> = group.consumers[consumer]
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let fields = self.get(id);
            if fields.is_some() {
                let group = self.group_mut(group_name).expect("group");
                if let Some(nack) = group.pending_mut(id) {
                    nack.delivery_time = now;
                    nack.delivery_count += 1;
                }
            }
            out.push((id, fields));
        }
        out
    }
}

/// Nodes strictly below the node for the common prefix `keys[..][..depth]` in a radix tree
/// holding `keys` (sorted, distinct, all 16 bytes).
/// Node count of a Redis radix tree holding `ids` (in order) as 16-byte keys: a stream's
/// nodes, a group's or a consumer's pending entries.
pub fn rax_nodes(ids: impl Iterator<Item = StreamId>) -> u64 {
    let keys: Vec<[u8; 16]> = ids.map(|id| id.encode()).collect();
    1 + below(&keys, 0)
}

fn below(keys: &[[u8; 16]], depth: usize) -> u64 {
    match keys {
        [] => 0,
        [only] => u64::from(depth < only.len()),
        _ => {
            let (first, last) = (&keys[0], &keys[keys.len() - 1]);
            let lcp = first.iter().zip(last).take_while(|(a, b)| a == b).count();
            // A compressed node leads from `depth` to the branching node at `lcp`.
            let mut n = u64::from(lcp > depth);
            let mut i = 0;
            while i < keys.len() {
                let c = keys[i][lcp];
                let j = i + keys[i..].iter().take_while(|k| k[lcp] == c).count();
                n += 1 + below(&keys[i..j], lcp + 1);
                i = j;
            }
            n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn add(s: &mut Stream, ms: u64, seq: u64) {
        s.append(
            &pairs(&["f", "v"]),
            IdSpec::Exact(StreamId::new(ms, seq)),
            0,
            NodeLimits::default(),
        )
        .unwrap();
    }

    #[test]
    fn ids_are_monotonic() {
        let mut s = Stream::new();
        let l = NodeLimits::default();
        assert_eq!(
            s.append(&pairs(&["a", "1"]), IdSpec::Auto, 5, l),
            Ok(StreamId::new(5, 0))
        );
        assert_eq!(
            s.append(&pairs(&["a", "1"]), IdSpec::Auto, 5, l),
            Ok(StreamId::new(5, 1))
        );
        assert_eq!(
            s.append(&pairs(&["a", "1"]), IdSpec::Ms(5), 0, l),
            Ok(StreamId::new(5, 2))
        );
        assert_eq!(
            s.append(
                &pairs(&["a", "1"]),
                IdSpec::Exact(StreamId::new(5, 2)),
                0,
                l
            ),
            Err(AppendError::NotGreater)
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s.entries_added, 3);
    }

    #[test]
    fn nodes_fill_up_to_the_entry_limit() {
        let mut s = Stream::new();
        for i in 1..=250 {
            add(&mut s, i, 0);
        }
        assert_eq!(s.nodes.len(), 3);
        let trimmed = s.trim(Trim {
            strategy: TrimStrategy::MaxLen(120),
            approx: true,
            limit: 10_000,
        });
        assert_eq!(trimmed, 100, "only whole nodes go with ~");
        let trimmed = s.trim(Trim {
            strategy: TrimStrategy::MaxLen(120),
            approx: false,
            limit: 0,
        });
        assert_eq!(trimmed, 30);
        assert_eq!(s.first_id, StreamId::new(131, 0));
    }

    #[test]
    fn deleting_every_entry_of_a_node_removes_it() {
        let mut s = Stream::new();
        add(&mut s, 1, 0);
        add(&mut s, 2, 0);
        assert_eq!(s.delete(&[StreamId::new(1, 0)]), 1);
        assert_eq!(s.first_id, StreamId::new(2, 0));
        assert_eq!(s.max_deleted_id, StreamId::new(1, 0));
        assert_eq!(s.nodes.len(), 1);
        assert_eq!(s.delete(&[StreamId::new(2, 0), StreamId::new(2, 0)]), 1);
        assert!(s.nodes.is_empty());
        assert_eq!(s.first_id, StreamId::MIN);
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        add(&mut s, 1, 0);
        assert_eq!(s.rax_nodes(), 2);
        for i in 2..=101 {
            add(&mut s, i, 0);
        }
        // Keys 1-0 and 101-0 differ at byte 7: the root compresses 7 bytes to a branch,
        // each branch child compresses the rest to its leaf (redis-server says 6 too).
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.rax_nodes(), 6);
    }

    #[test]
    fn listpack_sizes() {
        assert_eq!(lp_int_size(0), 2);
        assert_eq!(lp_int_size(128), 3);
        assert_eq!(lp_int_size(-1), 3);
        assert_eq!(lp_int_size(1 << 40), 10);
        assert_eq!(lp_str_size(b"abc"), 5);
        assert_eq!(lp_str_size(b"-0"), 4);
        assert_eq!(lp_str_size(&[b'x'; 100]), 103);
    }

    #[test]
    fn lag_follows_reads() {
        let mut s = Stream::new();
        for i in 1..=3 {
            add(&mut s, i, 0);
        }
        s.groups
            .insert(Bytes::from("g"), Group::new(StreamId::MIN, 0));
        assert_eq!(s.lag(&s.groups[&b"g"[..]]), Some(3));
        let c = Bytes::from("c");
        s.groups.get_mut(&b"g"[..]).unwrap().create_consumer(&c, 0);
        let got = s.deliver(b"g", &c, StreamId::new(0, 1), 2, false, 7);
        assert_eq!(got.len(), 2);
        let g = &s.groups[&b"g"[..]];
        assert_eq!(g.entries_read, 2);
        assert_eq!(s.lag(g), Some(1));
        assert_eq!(g.pel.len(), 2);
        assert_eq!(g.consumers[&c].pel.len(), 2);
    }
}
