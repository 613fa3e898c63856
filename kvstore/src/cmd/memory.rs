//! MEMORY: what a key or the whole server occupies, in Redis's terms.
//!
//! kvstore holds values in Rust structures, not in Redis's listpacks, intsets, quicklists
//! and dicts under jemalloc, so its own footprint per key says little to someone sizing a
//! Redis deployment. `MEMORY USAGE` therefore answers what redis-server 7.0 (jemalloc, 64-bit)
//! would allocate for the same value: Redis's `objectComputeSize` formula over the encoding
//! kvstore reports in OBJECT ENCODING, with the blobs' sizes from the RDB codec's layout and
//! jemalloc's size classes. It is byte-exact for strings, listpacks, intsets and lists built
//! at the tail; hash tables and skiplists differ where Redis's answer depends on a rehash in
//! progress, sds growth or random skiplist levels (kvstore counts one level per node), and
//! lists count their nodes uncompressed whatever `list-compress-depth` says.
//! `MEMORY STATS` reports the counting allocator's `used_memory` where Redis reports
//! jemalloc's counters; `MALLOC-STATS` answers as a Redis built without jemalloc does.

use bytes::Bytes;

use super::args::{c_is, err, help, int_arg};
use super::process::used_and_peak;
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::stream::{rax_nodes, NodeLimits, Stream};
use crate::keyspace::{Hash, Set, Value};
use crate::protocol::Reply;
use crate::rdb;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    // Dispatch always resolves a subcommand (or fails arity): HELP stands in for the container.
    CommandSpec::new("memory", -2, flags![], acl![], memory_help).with_subcommands(SUBCOMMANDS),
];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("memory|purge", 2, flags![], acl![], memory_purge),
    CommandSpec::new("memory|help", 2, flags![LOADING, STALE], acl![], memory_help),
    CommandSpec::new("memory|doctor", 2, flags![], acl![], memory_doctor),
    CommandSpec::new("memory|usage", -3, flags![READONLY], acl![], memory_usage).keys(2, 2, 1),
    CommandSpec::new("memory|malloc-stats", 2, flags![], acl![], memory_malloc_stats),
    CommandSpec::new("memory|stats", 2, flags![], acl![], memory_stats),
];

/// Redis's structure sizes on a 64-bit build (`sizeof` in 7.0).
mod size {
    pub const ROBJ: usize = 16;
    pub const DICT_ENTRY: usize = 24;
    pub const DICT: usize = 56;
    pub const POINTER: usize = 8;
    pub const QUICKLIST: usize = 40;
    pub const QUICKLIST_NODE: usize = 40;
    pub const ZSET: usize = 16;
    pub const ZSKIPLIST: usize = 32;
    /// A skiplist node without its levels (`ele`, `score`, `backward`).
    pub const ZSKIPLIST_NODE: usize = 24;
    pub const ZSKIPLIST_LEVEL: usize = 16;
    pub const ZSKIPLIST_MAXLEVEL: usize = 32;
    /// The default of MEMORY USAGE's SAMPLES (`OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
    pub const DEFAULT_SAMPLES: usize = 5;
}

/// MEMORY HELP
fn memory_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    ))
}

/// MEMORY PURGE: nothing to purge outside jemalloc; Redis built without it answers OK too.
fn memory_purge(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Ok)
}

/// MEMORY MALLOC-STATS: Redis's answer when its allocator is not jemalloc.
fn memory_malloc_stats(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::bulk("Stats not supported for the current allocator"))
}

/// MEMORY USAGE key [SAMPLES count]: options are checked before the key is looked up, and
/// the lookup neither expires the key nor counts a hit (Redis's `dictFind`).
fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut samples = size::DEFAULT_SAMPLES;
    let mut i = 3;
    while i < args.len() {
        if c_is(&args[i], "samples") && i + 1 < args.len() {
            let n = int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::error(err::SYNTAX));
            }
            samples = if n == 0 { usize::MAX } else { n as usize };
            i += 2;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    let limits = (ctx.rdb_limits(), ctx.shared.limits().stream_node());
    let key = &args[2];
    Ok(match ctx.db().peek(key) {
        Some(entry) => Reply::Integer(key_usage(key, &entry.value, samples, &limits) as i64),
        None => Reply::Nil,
    })
}

/// jemalloc's size class for a request of `n` bytes: 8, then steps of 16 up to 128, then
/// four classes per doubling.
fn jemalloc(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return (n + 15) & !15;
    }
    let group = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (group - 2);
    (n + step - 1) & !(step - 1)
}

/// The allocation of an sds string of `len` bytes made to measure (`sdsnewlen`).
fn sds(len: usize) -> usize {
    let header = match len {
        0 => 3,
        1..=31 => 1,
        32..=255 => 3,
        256..=65535 => 5,
        _ if len < 1 << 32 => 9,
        _ => 17,
    };
    jemalloc(header + len + 1)
}

/// Slots of a dict holding `n` entries that only grew (`_dictExpandIfNeeded`).
fn dict_slots(n: usize) -> usize {
    n.next_power_of_two().max(4)
}

/// The configuration encodings follow: collections' (`rdb::Limits`) and stream nodes'.
type Limits = (rdb::Limits, NodeLimits);

/// `objectComputeSize` plus the key and its dict entry (`MEMORY USAGE`).
fn key_usage(key: &[u8], value: &Value, samples: usize, limits: &Limits) -> usize {
    value_usage(value, samples, limits) + sds(key.len()) + size::DICT_ENTRY
}

/// Average of the first `samples` element sizes, times the element count (Redis's double
/// arithmetic, truncated).
fn sampled(sizes: impl Iterator<Item = usize>, samples: usize, len: usize) -> usize {
    let (mut total, mut n) = (0usize, 0usize);
    for size in sizes.take(samples) {
        total += size;
        n += 1;
    }
    if n == 0 {
        return 0;
    }
    (total as f64 / n as f64 * len as f64) as usize
}

fn value_usage(value: &Value, samples: usize, limits: &Limits) -> usize {
    let packed = || rdb::packed_sizes(value, &limits.0);
    let dict = |len: usize| size::DICT + size::POINTER * dict_slots(len);
    match value {
        Value::Str(s) | Value::RawStr(s) => match value.encoding() {
            "int" => size::ROBJ,
            "embstr" => jemalloc(size::ROBJ + 3 + s.len() + 1),
            _ => size::ROBJ + sds(s.len()),
        },
        Value::List(_) => {
            let nodes = packed();
            let each = nodes.iter().map(|&n| size::QUICKLIST_NODE + jemalloc(n));
            size::ROBJ + size::QUICKLIST + sampled(each, samples, nodes.len())
        }
        Value::Hash(h) => match &**h {
            Hash::Listpack(_) => size::ROBJ + packed().iter().map(|&n| jemalloc(n)).sum::<usize>(),
            Hash::Table(_) => {
                let each = h
                    .iter()
                    .map(|(f, v)| sds(f.len()) + sds(v.len()) + size::DICT_ENTRY);
                size::ROBJ + dict(h.len()) + sampled(each, samples, h.len())
            }
        },
        Value::Set(set) => match &**set {
            Set::Intset(_) => size::ROBJ + packed().iter().map(|&n| jemalloc(n)).sum::<usize>(),
            Set::Table(_) => {
                let each = set.iter().map(|m| size::DICT_ENTRY + sds(m.len()));
                size::ROBJ + dict(set.len()) + sampled(each, samples, set.len())
            }
        },
        Value::ZSet(z) if z.is_listpack() => {
            size::ROBJ + packed().iter().map(|&n| jemalloc(n)).sum::<usize>()
        }
        Value::ZSet(z) => {
            let header =
                jemalloc(size::ZSKIPLIST_NODE + size::ZSKIPLIST_MAXLEVEL * size::ZSKIPLIST_LEVEL);
            let node = jemalloc(size::ZSKIPLIST_NODE + size::ZSKIPLIST_LEVEL);
            let each = z
                .iter()
                .map(|(_, member)| sds(member.len()) + size::DICT_ENTRY + node);
            size::ROBJ
                + size::ZSET
                + size::ZSKIPLIST
                + dict(z.len())
                + header
                + sampled(each, samples, z.len())
        }
        Value::Stream(stream) => stream_usage(stream, samples, limits.1),
    }
}

/// Redis's stream branch of `objectComputeSize`: the stream and its radix tree, the node
/// listpacks as allocated (the first `samples` averaged, integer division, for all but the
/// last, which is counted as is), and each consumer group with its pending entries and
/// consumers.
fn stream_usage(stream: &Stream, samples: usize, node: NodeLimits) -> usize {
    const STREAM: usize = 80;
    const GROUP: usize = 40;
    const NACK: usize = 24;
    const CONSUMER: usize = 24;
    // `streamRadixTreeMemoryUsage`: an id per element, a node header and 30 words per tree
    // node (it assigns `sizeof(rax)` and then overwrites it, so the rax itself is not counted).
    let radix = |elements: usize, nodes: u64| {
        elements * STREAM_ID_BYTES + nodes as usize * (RAX_NODE + 30 * size::POINTER)
    };
    // A node's listpack starts preallocated (`STREAM_LISTPACK_MAX_PRE_ALLOCATE`, or the node
    // byte limit if smaller, as configured now) and grows by reallocation; once the next
    // entry goes to a new node it is shrunk to fit (`lpShrinkToFit`).
    let prealloc = match node.max_bytes {
        1..=4095 => node.max_bytes as usize,
        _ => 4096,
    }
    .max(7);
    let count = stream.nodes.len();
    let allocated = stream.nodes.values().enumerate().map(|(i, n)| {
        let bytes = n.bytes() as usize;
        jemalloc(if i + 1 < count {
            bytes
        } else {
            bytes.max(prealloc)
        })
    });
    let sampled: Vec<usize> = allocated.clone().take(samples).collect();
    let mut listpacks: usize = sampled.iter().sum();
    if count > sampled.len() {
        listpacks = listpacks / sampled.len().max(1) * (count - 1)
            + allocated.clone().next_back().unwrap_or(0);
    }
    let groups: usize = stream
        .groups()
        .values()
        .map(|g| {
            GROUP
                + radix(g.pel.len(), rax_nodes(g.pel.keys().copied()))
                + NACK * g.pel.len()
                + g.consumers
                    .iter()
                    .map(|(name, c)| {
                        CONSUMER + name.len() + radix(c.pel.len(), rax_nodes(c.pel.iter().copied()))
                    })
                    .sum::<usize>()
        })
        .sum();
    size::ROBJ + STREAM + radix(count, stream.rax_nodes()) + listpacks + groups
}

/// A stream id's bytes as a radix-tree key, and `sizeof(raxNode)` (its header word).
const STREAM_ID_BYTES: usize = 16;
const RAX_NODE: usize = 4;

/// Below this much data Redis's doctor declines to diagnose (`total_allocated` < 5 MiB).
const DOCTOR_MIN_BYTES: usize = 5 << 20;

/// MEMORY DOCTOR: Redis's report for a small instance, or for one without issues. kvstore has
/// none of the conditions Redis diagnoses (no replicas, no Lua, no jemalloc fragmentation to
/// speak of), so only the dataset's size decides.
fn memory_doctor(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    const EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
    const FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
    let limits = (ctx.rdb_limits(), ctx.shared.limits().stream_node());
    let now = ctx.now;
    let mut total = 0;
    'dbs: for db in ctx.keyspace().dbs_mut() {
        for key in db.keys(now) {
            if let Some(entry) = db.peek(&key) {
                total += key_usage(&key, &entry.value, size::DEFAULT_SAMPLES, &limits);
            }
            if total >= DOCTOR_MIN_BYTES {
                break 'dbs;
            }
        }
    }
    Ok(Reply::Verbatim(Bytes::from_static(
        if total < DOCTOR_MIN_BYTES {
            EMPTY
        } else {
            FINE
        }
        .as_bytes(),
    )))
}

/// MEMORY STATS: Redis's fields, filled from `used_memory` (the counting allocator) and the
/// keyspace's per-key overheads as Redis would count them.
fn memory_stats(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let (used, peak) = used_and_peak();
    let clients = ctx.shared.clients().len() as u64;
    let mut fields: Vec<(&'static str, Reply)> = Vec::new();
    let int = |n: u64| Reply::Integer(n as i64);
    fields.push(("peak.allocated", int(peak)));
    fields.push(("total.allocated", int(used)));
    fields.push(("startup.allocated", int(0)));
    fields.push(("replication.backlog", int(0)));
    fields.push(("clients.slaves", int(0)));
    fields.push(("clients.normal", int(clients * 1024)));
    fields.push(("cluster.links", int(0)));
    fields.push(("aof.buffer", int(0)));
    fields.push(("lua.caches", int(0)));
    fields.push(("functions.caches", int(0)));
    let mut overhead = clients * 1024;
    let mut dbs = Vec::new();
    let mut keys = 0u64;
    for (i, db) in ctx.keyspace().dbs().iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let table = |n: usize| match n {
            0 => 0,
            n => (n * size::DICT_ENTRY + dict_slots(n) * size::POINTER) as u64,
        };
        let (main, expires) = (table(db.len()), table(db.expires_len()));
        overhead += main + expires;
        keys += db.len() as u64;
        dbs.push((
            format!("db.{i}"),
            Reply::Map(vec![
                (Reply::bulk("overhead.hashtable.main"), int(main)),
                (Reply::bulk("overhead.hashtable.expires"), int(expires)),
                (Reply::bulk("overhead.hashtable.slot-to-keys"), int(0)),
            ]),
        ));
    }
    let dataset = used.saturating_sub(overhead);
    let percent = |part: u64, whole: u64| Reply::Double(part as f64 * 100.0 / whole.max(1) as f64);
    let mut tail: Vec<(&'static str, Reply)> = vec![
        ("overhead.total", int(overhead)),
        ("keys.count", int(keys)),
        (
            "keys.bytes-per-key",
            int(used.checked_div(keys).unwrap_or(0)),
        ),
        ("dataset.bytes", int(dataset)),
        ("dataset.percentage", percent(dataset, used)),
        ("peak.percentage", percent(used, peak)),
        ("allocator.allocated", int(used)),
        ("allocator.active", int(used)),
        ("allocator.resident", int(used)),
        ("allocator-fragmentation.ratio", Reply::Double(1.0)),
        ("allocator-fragmentation.bytes", int(0)),
        ("allocator-rss.ratio", Reply::Double(1.0)),
        ("allocator-rss.bytes", int(0)),
        ("rss-overhead.ratio", Reply::Double(1.0)),
        ("rss-overhead.bytes", int(0)),
        ("fragmentation", Reply::Double(1.0)),
        ("fragmentation.bytes", int(0)),
    ];
    let mut map: Vec<(Reply, Reply)> = fields.drain(..).map(|(k, v)| (Reply::bulk(k), v)).collect();
    map.extend(dbs.into_iter().map(|(k, v)| (Reply::bulk(k), v)));
    map.extend(tail.drain(..).map(|(k, v)| (Reply::bulk(k), v)));
    Ok(Reply::Map(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_size_classes() {
        let classes: Vec<usize> = [1, 8, 9, 17, 128, 129, 160, 161, 257, 536, 1025, 4097]
            .into_iter()
            .map(jemalloc)
            .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 32, 128, 160, 160, 192, 320, 640, 1280, 5120]
        );
    }

    #[test]
    fn sds_headers_follow_the_length() {
        assert_eq!(sds(0), 8); // type 8 for the empty string: 3 + 0 + 1
        assert_eq!(sds(1), 8);
        assert_eq!(sds(100), 112);
        assert_eq!(sds(300), 320);
    }
}
