//! A stream value's on-disk payload: everything XINFO can show survives a restart.
//!
//! A stream is stored per element ([`crate::keyspace::Value::per_element`]): its meta entry
//! holds the counters ([`encode_counters`]), and each node and each consumer group is one
//! element entry ([`Part::id`]), and so is each pending entry of a group: an XADD rewrites
//! the meta entry and the tail node (at most `stream-node-max-entries` entries), an XACK one
//! group header and the pending entries it acknowledged, never the whole stream. The whole-value form
//! ([`encode`]) is what log records of a key written whole carry.
//!
//! Layout (all integers big-endian): the stream's counters (length, last id, first id,
//! max deleted id, entries added); the nodes, each with its master id, master fields and
//! entries (id, tombstone flag, fields and values length-prefixed), so node boundaries (and
//! with them `~` trimming and `radix-tree-*`) are what they were; then the consumer groups,
//! each with its last id, read counter, pending entries (id, delivery time, count, consumer)
//! and consumers (name, seen time). A consumer's own PEL is rebuilt from the group's.
//!
//! Invariant: `decode(encode(s)) == s` for every stream (tested), and `decode` never panics on
//! bad input: it returns `None`.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::keyspace::stream::{Consumer, Group, Nack, Node, Part, Stream, StreamId};

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.encode());
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends the stream's counters: what the meta entry of a per-element stream holds.
pub fn encode_counters(s: &Stream, out: &mut Vec<u8>) {
    put_u64(out, s.length);
    put_id(out, s.last_id);
    put_id(out, s.first_id);
    put_id(out, s.max_deleted_id);
    put_u64(out, s.entries_added);
}

fn encode_node(node: &Node, out: &mut Vec<u8>) {
    put_u64(out, node.fixed_bytes);
    put_u64(out, node.master_fields.len() as u64);
    node.master_fields.iter().for_each(|f| put_str(out, f));
    put_u64(out, node.entries.len() as u64);
    for e in &node.entries {
        put_id(out, e.id);
        out.push(u8::from(e.deleted));
        put_u64(out, node.items(e).count() as u64);
        node.items(e).for_each(|f| put_str(out, f));
    }
}

/// A group without its pending entries: last id, read counter, consumers.
fn encode_group_header(g: &Group, out: &mut Vec<u8>) {
    put_id(out, g.last_id);
    put_u64(out, g.entries_read as u64);
    put_u64(out, g.consumers.len() as u64);
    for (cname, c) in &g.consumers {
        put_str(out, cname);
        put_u64(out, c.seen_time as u64);
    }
}

fn encode_nack(nack: &Nack, out: &mut Vec<u8>) {
    put_u64(out, nack.delivery_time as u64);
    put_u64(out, nack.delivery_count);
    put_str(out, &nack.consumer);
}

fn encode_group(g: &Group, out: &mut Vec<u8>) {
    encode_group_header(g, out);
    put_u64(out, g.pel.len() as u64);
    for (id, nack) in &g.pel {
        put_id(out, *id);
        encode_nack(nack, out);
    }
}

/// Appends the whole payload of `s` to `out`: counters, nodes, groups.
pub fn encode(s: &Stream, out: &mut Vec<u8>) {
    encode_counters(s, out);
    put_u64(out, s.nodes.len() as u64);
    for (master, node) in &s.nodes {
        put_id(out, *master);
        encode_node(node, out);
    }
    put_u64(out, s.groups().len() as u64);
    for (name, g) in s.groups() {
        put_str(out, name);
        encode_group(g, out);
    }
}

/// The current entry of a part, or `None` if it is gone.
pub fn part_state(s: &Stream, part: &Part) -> Option<Bytes> {
    let mut out = Vec::new();
    match part {
        Part::Node(master) => encode_node(s.nodes.get(master)?, &mut out),
        Part::Group(name) => encode_group_header(s.groups().get(name)?, &mut out),
        Part::Pending(name, id) => encode_nack(s.groups().get(name)?.pel.get(id)?, &mut out),
    }
    Some(Bytes::from(out))
}

/// Every element of a per-element stream: (element id, entry).
pub fn elements(s: &Stream) -> impl Iterator<Item = (Bytes, Bytes)> + '_ {
    let nodes = s.nodes.keys().map(|m| Part::Node(*m));
    let groups = s.groups().keys().map(|n| Part::Group(n.clone()));
    let pending = s
        .groups()
        .iter()
        .flat_map(|(n, g)| g.pel.keys().map(|id| Part::Pending(n.clone(), *id)));
    nodes
        .chain(groups)
        .chain(pending)
        .filter_map(move |part| Some((part.id(), part_state(s, &part)?)))
}

/// Rebuilds a per-element stream from its counters (the meta payload) and its elements.
pub fn rebuild(
    counters: &[u8],
    elements: &mut dyn Iterator<Item = (Bytes, Bytes)>,
) -> Option<Stream> {
    let mut r = Reader(counters);
    let mut s = decode_counters(&mut r)?;
    if !r.0.is_empty() {
        return None;
    }
    for (id, entry) in elements {
        let mut r = Reader(&entry);
        match Part::parse(&id)? {
            Part::Node(master) => {
                s.nodes.insert(master, decode_node(&mut r)?);
            }
            Part::Group(name) => {
                let g = decode_group_header(&mut r)?;
                s.insert_group(name, g);
            }
            // Group headers sort before pending entries: the group and its consumer exist.
            Part::Pending(name, id) => {
                let nack = decode_nack(&mut r)?;
                let g = s.group_mut(&name)?;
                g.consumers.get_mut(&nack.consumer)?.pel.insert(id);
                g.pel.insert(id, nack);
            }
        }
        if !r.0.is_empty() {
            return None;
        }
    }
    s.take_changes();
    Some(s)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let head = self.0.get(..n)?;
        self.0 = &self.0[n..];
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A count, bounded by what is left (each counted item takes at least one byte).
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.0.len()).then_some(n)
    }

    fn id(&mut self) -> Option<StreamId> {
        StreamId::decode(self.take(16)?)
    }

    fn slice(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }

    fn bytes(&mut self) -> Option<Bytes> {
        self.slice().map(Bytes::copy_from_slice)
    }
}

fn decode_counters(r: &mut Reader<'_>) -> Option<Stream> {
    let mut s = Stream::new();
    s.length = r.u64()?;
    s.last_id = r.id()?;
    s.first_id = r.id()?;
    s.max_deleted_id = r.id()?;
    s.entries_added = r.u64()?;
    Some(s)
}

fn decode_node(r: &mut Reader<'_>) -> Option<Node> {
    let fixed_bytes = r.u64()?;
    let master_fields = (0..r.count()?)
        .map(|_| r.bytes())
        .collect::<Option<Vec<_>>>()?;
    let mut node = Node::restored(master_fields, fixed_bytes);
    for _ in 0..r.count()? {
        let id = r.id()?;
        let deleted = r.take(1)?[0] != 0;
        let items = (0..r.count()?)
            .map(|_| r.slice())
            .collect::<Option<Vec<_>>>()?;
        node.restore_entry(id, deleted, items);
    }
    Some(node)
}

fn decode_nack(r: &mut Reader<'_>) -> Option<Nack> {
    Some(Nack {
        delivery_time: r.u64()? as i64,
        delivery_count: r.u64()?,
        consumer: r.bytes()?,
    })
}

fn decode_group_header(r: &mut Reader<'_>) -> Option<Group> {
    let mut g = Group::new(r.id()?, r.u64()? as i64);
    for _ in 0..r.count()? {
        let cname = r.bytes()?;
        let seen_time = r.u64()? as i64;
        g.consumers.insert(
            cname,
            Consumer {
                seen_time,
                pel: BTreeSet::new(),
            },
        );
    }
    Some(g)
}

fn decode_group(r: &mut Reader<'_>) -> Option<Group> {
    let mut g = decode_group_header(r)?;
    for _ in 0..r.count()? {
        let id = r.id()?;
        let nack = decode_nack(r)?;
        g.consumers.get_mut(&nack.consumer)?.pel.insert(id);
        g.pel.insert(id, nack);
    }
    Some(g)
}

/// Decodes a payload written by [`encode`].
pub fn decode(payload: &[u8]) -> Option<Stream> {
    let mut r = Reader(payload);
    let mut s = decode_counters(&mut r)?;
    for _ in 0..r.count()? {
        let master = r.id()?;
        s.nodes.insert(master, decode_node(&mut r)?);
    }
    for _ in 0..r.count()? {
        let name = r.bytes()?;
        let g = decode_group(&mut r)?;
        s.insert_group(name, g);
    }
    s.take_changes();
    r.0.is_empty().then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::stream::{IdSpec, NodeLimits};

    #[test]
    fn round_trips() {
        let mut s = Stream::new();
        for i in 1..=150u64 {
            let pairs = vec![Bytes::from("f"), Bytes::from(i.to_string())];
            s.append(
                &pairs,
                IdSpec::Exact(StreamId::new(i, 0)),
                0,
                NodeLimits::default(),
            )
            .unwrap();
        }
        s.delete(&[StreamId::new(3, 0)]);
        let mut g = Group::new(StreamId::new(2, 0), 2);
        let c = Bytes::from("alice");
        g.create_consumer(&c, 42);
        s.insert_group(Bytes::from("g"), g);
        s.deliver(b"g", &c, StreamId::new(4, 0), 2, false, 99);
        let mut out = Vec::new();
        encode(&s, &mut out);
        assert_eq!(decode(&out), Some(s.clone()));
        assert_eq!(decode(&out[..out.len() - 1]), None);
        // Per element: counters plus one entry per node and group.
        let mut counters = Vec::new();
        encode_counters(&s, &mut counters);
        let parts: Vec<_> = elements(&s).collect();
        assert_eq!(
            parts.len(),
            s.nodes.len() + 1 + 2,
            "nodes, a group, two pending"
        );
        assert_eq!(rebuild(&counters, &mut parts.into_iter()), Some(s));
    }
}
