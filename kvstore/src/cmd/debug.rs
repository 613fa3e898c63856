//! DEBUG: the subcommands test suites and tools rely on (Redis's `debug.c`), behind
//! `enable-debug-command` (`no` by default in 7.0: dispatch refuses DEBUG with Redis's
//! message, see [`allowed`]).
//!
//! OBJECT reports a value's encoding and serialized length as Redis does.
//! SLEEP stops this client's worker for the given seconds (as Redis stops its event loop);
//! SET-ACTIVE-EXPIRE switches the active expiry sweep; the switches that only matter to
//! Redis's internals (QUICKLIST-PACKED-THRESHOLD, SET-SKIP-CHECKSUM-VALIDATION,
//! AOF-FLUSH-SLEEP, CHANGE-REPL-ID, REPLICATE) validate their argument and answer as Redis
//! does. Anything else gets Redis's subcommand syntax error.

use bytes::Bytes;

use super::args::{c_is, c_str, help, sanitize, subcommand_syntax_error};
use super::{acl, flags, CommandSpec, Ctx, Session};
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::rdb;
use crate::state::Shared;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("debug", -2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], debug),
];

/// Redis's refusal when `enable-debug-command` does not allow this client.
pub(crate) const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Redis's `allowProtectedAction`: `yes`, or `local` and a loopback client.
pub(crate) fn allowed(shared: &Shared, session: &Session) -> bool {
    let config = shared.config();
    let setting = config.get(b"enable-debug-command").into_iter().next();
    match setting.map(|(_, v)| v).as_deref() {
        Some("yes") => true,
        Some("local") => session.handle.addr.ip().is_loopback(),
        _ => false,
    }
}

/// DEBUG subcommand [argument ...]
fn debug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let sub = &args[1];
    let argc = args.len();
    if argc == 2 && c_is(sub, "help") {
        return Ok(help(&args[0], HELP));
    }
    if c_is(sub, "sleep") && argc == 3 {
        let seconds = strtod(c_str(&args[2]));
        let micros = (seconds * 1_000_000.0) as i64;
        if micros > 0 {
            std::thread::sleep(std::time::Duration::from_micros(micros as u64));
        }
        return Ok(Reply::Ok);
    }
    if c_is(sub, "set-active-expire") && argc == 3 {
        let enabled = atoi(c_str(&args[2])) != 0;
        ctx.shared.introspection().set_active_expire(enabled);
        return Ok(Reply::Ok);
    }
    if c_is(sub, "quicklist-packed-threshold") && argc == 3 {
        const ERR: &str = "ERR argument must be a memory value bigger than 1 and smaller than 4gb";
        return match memtoull(c_str(&args[2])) {
            Some(size) if size <= (1u64 << 32) - (1 << 20) => Ok(Reply::Ok),
            _ => Err(Reply::error(ERR)),
        };
    }
    if argc == 3
        && (c_is(sub, "set-skip-checksum-validation")
            || c_is(sub, "aof-flush-sleep")
            || c_is(sub, "log")
            || c_is(sub, "leak"))
    {
        if c_is(sub, "log") {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(c_str(&args[2])));
        }
        return Ok(Reply::Ok);
    }
    if c_is(sub, "replicate") && argc >= 3 {
        return Ok(Reply::Ok);
    }
    if c_is(sub, "change-repl-id") && argc == 2 {
        tracing::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
        ctx.shared.replication().change_replid();
        return Ok(Reply::Ok);
    }
    if c_is(sub, "reload") {
        // kvstore's data directory is always current: reloading it gives back the dataset
        // in memory, so RELOAD only makes it durable first (unless NOSAVE), as Redis saves.
        let mut save = true;
        for opt in &args[2..] {
            if c_is(opt, "nosave") {
                save = false;
            } else if !(c_is(opt, "merge") || c_is(opt, "noflush")) {
                return Err(Reply::error(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ));
            }
        }
        ctx.effects.save |= save;
        tracing::warn!("DB reloaded by DEBUG RELOAD");
        return Ok(Reply::Ok);
    }
    if c_is(sub, "digest") && argc == 2 {
        return Ok(Reply::Status(hex(&dataset_digest(ctx)).into()));
    }
    if c_is(sub, "digest-value") {
        let db = ctx.db();
        let digests = args[2..]
            .iter()
            .map(|key| {
                let mut digest = [0u8; 20];
                if let Some(entry) = db.peek(key) {
                    value_digest(&mut digest, entry);
                }
                Reply::Status(hex(&digest).into())
            })
            .collect();
        return Ok(Reply::Array(digests));
    }
    if c_is(sub, "object") && argc == 3 {
        return debug_object(ctx, &args[2]);
    }
    if c_is(sub, "error") && argc == 3 {
        return Err(Reply::error(sanitize(
            String::from_utf8_lossy(c_str(&args[2])).into_owned(),
        )));
    }
    Err(subcommand_syntax_error(args))
}

/// DEBUG OBJECT key: Redis's line about the value. The address is made up (there is no
/// `robj`), the LRU clock is now's and the idle time 0, as OBJECT IDLETIME; the serialized
/// length is the DUMP body's, which kvstore writes as Redis does. Lists add the quicklist's
/// node figures.
fn debug_object(ctx: &mut Ctx, key: &[u8]) -> Result<Reply, Reply> {
    let limits = ctx.rdb_limits();
    let now = ctx.now;
    let Some(value) = ctx.db().get(key, now) else {
        return Err(Reply::error(super::args::err::NO_SUCH_KEY));
    };
    let encoding = value.encoding();
    let refcount = match value {
        Value::Str(s) if encoding == "int" => {
            let shared = crate::number::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n));
            if shared {
                i32::MAX
            } else {
                1
            }
        }
        _ => 1,
    };
    let serialized = {
        let mut body = Vec::new();
        rdb::object::save(&mut body, value, &limits);
        body.len() - 1
    };
    let mut extra = String::new();
    if let Value::List(list) = value {
        let nodes = rdb::packed_sizes(value, &limits);
        let count = nodes.len().max(1);
        extra = format!(
            " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
            nodes.len(),
            list.len() as f64 / count as f64,
            limits.list_max_listpack_size,
            u8::from(limits.list_compress_depth != 0),
            nodes.iter().sum::<usize>()
        );
    }
    let lru = (now / 1000) & ((1 << 24) - 1);
    let address = 0x7f00_0000_0000u64 + (key.len() as u64) * 16;
    Ok(Reply::Status(
        format!(
            "Value at:{address:#x} refcount:{refcount} encoding:{encoding} serializedlength:{serialized} lru:{lru} lru_seconds_idle:0{extra}"
        )
        .into(),
    ))
}

/// Redis's `xorDigest`: `digest ^= SHA1(data)`.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let hash = sha1_smol::Sha1::from(data).digest().bytes();
    digest.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
}

/// Redis's `mixDigest`: `digest = SHA1(digest ^ SHA1(data))`, so order matters.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1_smol::Sha1::from(&digest[..]).digest().bytes();
}

fn hex(digest: &[u8; 20]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redis's `computeDatasetDigest` (DEBUG DIGEST): per database with keys, its number mixed
/// in, then every key's digest (its name mixed with its value's) xored in, so key order does
/// not matter.
fn dataset_digest(ctx: &mut Ctx) -> [u8; 20] {
    let now = ctx.now;
    let mut result = [0u8; 20];
    for (j, db) in ctx.keyspace().dbs_mut().iter_mut().enumerate() {
        let keys = db.keys(now);
        if keys.is_empty() {
            continue;
        }
        mix_digest(&mut result, &(j as u32).to_be_bytes());
        for key in keys {
            let Some(entry) = db.peek(&key) else {
                continue;
            };
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, &key);
            value_digest(&mut digest, entry);
            xor_digest(&mut result, &digest);
        }
    }
    result
}

/// Redis's `xorObjectDigest`: the type, then the elements (mixed where order matters,
/// xored where it does not), then whether the key expires.
fn value_digest(digest: &mut [u8; 20], entry: &crate::keyspace::Entry) {
    let pair = |first: &[u8], second: &[u8]| {
        let mut element = [0u8; 20];
        mix_digest(&mut element, first);
        mix_digest(&mut element, second);
        element
    };
    let value = &entry.value;
    let kind: u32 = match value {
        Value::Str(_) | Value::RawStr(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    };
    mix_digest(digest, &kind.to_be_bytes());
    match value {
        Value::Str(s) | Value::RawStr(s) => mix_digest(digest, s),
        Value::List(list) => list.iter().for_each(|item| mix_digest(digest, item)),
        Value::Set(set) => set.iter().for_each(|member| xor_digest(digest, &member)),
        Value::ZSet(z) => {
            for (score, member) in z.iter() {
                let score = crate::number::format_double(*score);
                xor_digest(digest, &pair(member, score.as_bytes()));
            }
        }
        Value::Hash(h) => {
            for (field, value) in h.iter() {
                xor_digest(digest, &pair(field, value));
            }
        }
        Value::Stream(stream) => {
            use crate::keyspace::stream::StreamId;
            for (id, fields) in stream.range(StreamId::MIN, StreamId::MAX, false, usize::MAX) {
                mix_digest(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                fields.iter().for_each(|f| mix_digest(digest, f));
            }
        }
    }
    if entry.expire_at.is_some() {
        xor_digest(digest, b"!!expire!!");
    }
}

/// C's `strtod` on a prefix: the longest leading number, 0 when there is none.
fn strtod(s: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(s);
    let text = text.trim_start();
    (1..=text.len())
        .rev()
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| text[..end].parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// C's `atoi`: optional sign and leading digits.
fn atoi(s: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(s);
    let text = text.trim_start();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    sign * digits[..end].parse::<i64>().unwrap_or(0)
}

/// Redis's `memtoull`: digits with an optional unit (b, k, kb, m, mb, g, gb).
fn memtoull(s: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(s).ok()?.to_ascii_lowercase();
    let split = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

/// DEBUG HELP's lines (Debian's redis-server 7.0.15 is built with jemalloc).
const HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(strtod(b"0.5x"), 0.5);
        assert_eq!(strtod(b"abc"), 0.0);
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(memtoull(b"5gb"), Some(5 << 30));
        assert_eq!(memtoull(b"abc"), None);
    }
}
