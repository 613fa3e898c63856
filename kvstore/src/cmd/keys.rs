//! Generic key commands: the ones that work on any key whatever its type. Existence (DEL,
//! UNLINK, EXISTS, TOUCH, TYPE), time to live (the EXPIRE and TTL families, PERSIST),
//! enumeration (KEYS, SCAN, RANDOMKEY), renaming and copying (RENAME, RENAMENX, COPY, MOVE)
//! and introspection (OBJECT).
//!
//! Every change goes through `Db::insert`, `Db::remove` or `Db::set_expire`, so persistence
//! sees it. Read commands look keys up with `Db::get` to count keyspace hits and misses where
//! Redis's `lookupKeyRead` does; write commands use `Db::entry`, which, like `lookupKeyWrite`,
//! counts nothing. Both delete a key whose time has come before looking at it.

use bytes::Bytes;

use super::args::{c_is, c_str, err, int_arg, sanitize};
use super::collection::{scan_cursor, scan_reply, ScanOptions};
use super::{acl, flags, CommandSpec, Ctx};
use crate::glob::glob_match;
use crate::keyspace::{evict, Entry, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, flags![WRITE], acl![KEYSPACE], del).keys(1, -1, 1),
    CommandSpec::new("unlink", -2, flags![WRITE, FAST], acl![KEYSPACE], del).keys(1, -1, 1),
    CommandSpec::new("exists", -2, flags![READONLY, FAST], acl![KEYSPACE], exists).keys(1, -1, 1),
    CommandSpec::new("touch", -2, flags![READONLY, FAST], acl![KEYSPACE], exists).keys(1, -1, 1),
    CommandSpec::new("type", 2, flags![READONLY, FAST], acl![KEYSPACE], type_of).keys(1, 1, 1),
    CommandSpec::new("expire", -3, flags![WRITE, FAST], acl![KEYSPACE], expire).keys(1, 1, 1),
    CommandSpec::new("pexpire", -3, flags![WRITE, FAST], acl![KEYSPACE], pexpire).keys(1, 1, 1),
    CommandSpec::new("expireat", -3, flags![WRITE, FAST], acl![KEYSPACE], expireat).keys(1, 1, 1),
    CommandSpec::new("pexpireat", -3, flags![WRITE, FAST], acl![KEYSPACE], pexpireat).keys(1, 1, 1),
    CommandSpec::new("ttl", 2, flags![READONLY, FAST], acl![KEYSPACE], ttl).keys(1, 1, 1),
    CommandSpec::new("pttl", 2, flags![READONLY, FAST], acl![KEYSPACE], pttl).keys(1, 1, 1),
    CommandSpec::new("expiretime", 2, flags![READONLY, FAST], acl![KEYSPACE], expiretime).keys(1, 1, 1),
    CommandSpec::new("pexpiretime", 2, flags![READONLY, FAST], acl![KEYSPACE], pexpiretime).keys(1, 1, 1),
    CommandSpec::new("persist", 2, flags![WRITE, FAST], acl![KEYSPACE], persist).keys(1, 1, 1),
    CommandSpec::new("keys", 2, flags![READONLY], acl![KEYSPACE, DANGEROUS], keys),
    CommandSpec::new("scan", -2, flags![READONLY], acl![KEYSPACE], scan),
    CommandSpec::new("randomkey", 1, flags![READONLY], acl![KEYSPACE], randomkey),
    CommandSpec::new("rename", 3, flags![WRITE], acl![KEYSPACE], rename).keys(1, 2, 1),
    CommandSpec::new("renamenx", 3, flags![WRITE, FAST], acl![KEYSPACE], renamenx).keys(1, 2, 1),
    CommandSpec::new("copy", -3, flags![WRITE, DENYOOM], acl![KEYSPACE], copy).keys(1, 2, 1),
    CommandSpec::new("move", 3, flags![WRITE, FAST], acl![KEYSPACE], move_key).keys(1, 1, 1),
    // Dispatch always resolves a subcommand (or fails arity), so the container's own handler
    // never runs; HELP is the natural stand-in.
    CommandSpec::new("object", -2, flags![], acl![], object_help).with_subcommands(OBJECT_SUBCOMMANDS),
];

#[rustfmt::skip]
static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("object|help", 2, flags![LOADING, STALE], acl![KEYSPACE], object_help),
    CommandSpec::new("object|encoding", 3, flags![READONLY], acl![KEYSPACE], object_encoding).keys(2, 2, 1),
    CommandSpec::new("object|freq", 3, flags![READONLY], acl![KEYSPACE], object_freq).keys(2, 2, 1),
    CommandSpec::new("object|idletime", 3, flags![READONLY], acl![KEYSPACE], object_idletime).keys(2, 2, 1),
    CommandSpec::new("object|refcount", 3, flags![READONLY], acl![KEYSPACE], object_refcount).keys(2, 2, 1),
];

/// Error replies only these commands send, byte for byte as Redis 7.0 sends them.
mod keys_err {
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const NOT_INT32: &str =
        "ERR value is out of range, value must between -2147483648 and 2147483647";
    pub const NX_WITH_OTHERS: &str =
        "ERR NX and XX, GT or LT options at the same time are not compatible";
    pub const GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
    pub const LFU_NO_IDLETIME: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
    pub const NO_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
}

/// DEL key [key ...] and UNLINK key [key ...]: deletes the keys, returns how many existed.
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let mut deleted = 0;
    for key in &args[1..] {
        if ctx.db().delete(key, now) {
            deleted += 1;
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Ok(Reply::Integer(deleted))
}

/// EXISTS key [key ...] and TOUCH key [key ...]: how many of the keys exist, repeats counted.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    Ok(Reply::Integer(
        args[1..]
            .iter()
            .filter(|k| db.get(k, now).is_some())
            .count() as i64,
    ))
}

/// TYPE key
fn type_of(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    Ok(Reply::status(
        ctx.db().get(&args[1], now).map_or("none", Value::type_name),
    ))
}

/// EXPIRE key seconds [NX | XX | GT | LT]
fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now as i64;
    set_expiry(ctx, args, now, 1000)
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now as i64;
    set_expiry(ctx, args, now, 1)
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_expiry(ctx, args, 0, 1000)
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_expiry(ctx, args, 0, 1)
}

/// The EXPIRE family: `args[2]` in units of `unit_ms` milliseconds, added to `base` (now for
/// relative commands, 0 for absolute ones). A time not in the future deletes the key.
fn set_expiry(ctx: &mut Ctx, args: &[Bytes], base: i64, unit_ms: i64) -> Result<Reply, Reply> {
    let condition = ExpireCondition::parse(&args[3..])?;
    let overflow = || {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        Reply::error(format!("ERR invalid expire time in '{name}' command"))
    };
    let when = int_arg(&args[2])?
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(base))
        .ok_or_else(overflow)?;
    let now = ctx.now;
    let db = ctx.db();
    let Some(entry) = db.entry(&args[1], now) else {
        return Ok(Reply::Integer(0));
    };
    let current = entry.expire_at.map(|at| at as i64);
    if !condition.allows(current, when) {
        return Ok(Reply::Integer(0));
    }
    let event = if when <= now as i64 {
        db.remove(&args[1]);
        "del"
    } else {
        db.set_expire(&args[1], Some(when as u64), now);
        "expire"
    };
    ctx.notify(notify::GENERIC, event, &args[1]);
    // Propagated with an absolute time (or as the DEL it amounted to), as Redis's
    // `expireGenericCommand` rewrites it; the conditions stay.
    if ctx.replicating() {
        let mut argv = args.to_vec();
        if event == "del" {
            argv = vec![Bytes::from_static(b"DEL"), args[1].clone()];
        } else {
            argv[0] = Bytes::from_static(b"PEXPIREAT");
            argv[2] = Bytes::from(when.to_string());
        }
        ctx.propagate_as(argv);
    }
    Ok(Reply::Integer(1))
}

/// The NX / XX / GT / LT options of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    /// Parses the options, rejecting unknown ones and the combinations Redis rejects.
    fn parse(options: &[Bytes]) -> Result<ExpireCondition, Reply> {
        let mut c = ExpireCondition::default();
        for opt in options {
            let flag = match opt {
                o if c_is(o, "nx") => &mut c.nx,
                o if c_is(o, "xx") => &mut c.xx,
                o if c_is(o, "gt") => &mut c.gt,
                o if c_is(o, "lt") => &mut c.lt,
                // Redis prints the option as a C string.
                o => {
                    let text = String::from_utf8_lossy(c_str(o));
                    return Err(Reply::error(sanitize(format!(
                        "ERR Unsupported option {text}"
                    ))));
                }
            };
            *flag = true;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(Reply::error(keys_err::NX_WITH_OTHERS));
        }
        if c.gt && c.lt {
            return Err(Reply::error(keys_err::GT_AND_LT));
        }
        Ok(c)
    }

    /// Whether a key whose expiry time is `current` (`None`: persistent, an infinite TTL)
    /// may get the new time `when`.
    fn allows(self, current: Option<i64>, when: i64) -> bool {
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.map_or(true, |c| when <= c))
            || (self.lt && current.is_some_and(|c| when >= c)))
    }
}

/// TTL key
fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(time_to_live(ctx, &args[1], false, false))
}

/// PTTL key
fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(time_to_live(ctx, &args[1], true, false))
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(time_to_live(ctx, &args[1], false, true))
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(time_to_live(ctx, &args[1], true, true))
}

/// The TTL family: -2 for a missing key, -1 for a persistent one, else the remaining time
/// (or, when `absolute`, the expiry time) in milliseconds or rounded seconds.
fn time_to_live(ctx: &mut Ctx, key: &[u8], millis: bool, absolute: bool) -> Reply {
    let now = ctx.now;
    let db = ctx.db();
    if db.get(key, now).is_none() {
        return Reply::Integer(-2);
    }
    let Some(at) = db.peek(key).and_then(|e| e.expire_at) else {
        return Reply::Integer(-1);
    };
    let at = at as i64;
    let ms = if absolute {
        at
    } else {
        (at - now as i64).max(0)
    };
    // Widened so that an expiry time near i64::MAX rounds as the real server reports it.
    Reply::Integer(if millis {
        ms
    } else {
        ((i128::from(ms) + 500) / 1000) as i64
    })
}

/// PERSIST key: removes the expiry time; 1 if there was one.
fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let had_expiry = db
        .entry(&args[1], now)
        .is_some_and(|e| e.expire_at.is_some());
    if had_expiry {
        db.set_expire(&args[1], None, now);
        ctx.notify(notify::GENERIC, "persist", &args[1]);
    }
    Ok(Reply::Integer(had_expiry as i64))
}

/// KEYS pattern
fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let pattern = &args[1];
    let all = pattern[..] == b"*"[..];
    let now = ctx.now;
    let keys = ctx.db().keys(now);
    Ok(Reply::Array(
        keys.into_iter()
            .filter(|k| all || glob_match(pattern, k, false))
            .map(Reply::Bulk)
            .collect(),
    ))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan_cursor(&args[1])?;
    let options = ScanOptions::parse(&args[2..], true)?;
    let now = ctx.now;
    let db = ctx.db();
    let (next, mut keys) = db.scan(cursor, options.count, now);
    if let Some(pattern) = options.pattern.filter(|p| p[..] != b"*"[..]) {
        keys.retain(|k| glob_match(pattern, k, false));
    }
    if let Some(wanted) = options.type_name {
        keys.retain(|k| {
            let name = db.get(k, now).map_or("none", Value::type_name);
            c_str(wanted).eq_ignore_ascii_case(name.as_bytes())
        });
    }
    Ok(scan_reply(next, keys))
}

/// RANDOMKEY
fn randomkey(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    Ok(Reply::opt_bulk(ctx.db().random_key(now)))
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(rename_key(ctx, args, false))
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(rename_key(ctx, args, true))
}

/// RENAME and RENAMENX: moves the value and its expiry time to the new name. Renaming a key
/// to itself changes nothing but still requires the key to exist.
fn rename_key(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (from, to) = (&args[1], &args[2]);
    let now = ctx.now;
    let db = ctx.db();
    if db.entry(from, now).is_none() {
        return Reply::error(err::NO_SUCH_KEY);
    }
    // Like Redis, look the destination up (expiring it if due) whether or not NX needs it.
    let target_exists = db.contains(to, now);
    let renamed = from != to && !(target_exists && nx);
    if renamed {
        let entry = db.remove(from).expect("checked above");
        if target_exists {
            // Delete, then add, as Redis does: the new name is a new key (`new` event).
            db.remove(to);
        }
        db.insert(to.clone(), entry.value, entry.expire_at);
        ctx.notify(notify::GENERIC, "rename_from", from);
        ctx.notify(notify::GENERIC, "rename_to", to);
    }
    if nx {
        Reply::Integer(renamed as i64)
    } else {
        Reply::Ok
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (from, to) = (&args[1], &args[2]);
    let source = ctx.session.db;
    let (mut target, mut replace) = (source, false);
    let mut i = 3;
    while i < args.len() {
        if c_is(&args[i], "replace") {
            replace = true;
        } else if c_is(&args[i], "db") && i + 1 < args.len() {
            i += 1;
            target = db_index(ctx, &args[i])?;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    if source == target && from == to {
        return Err(Reply::error(keys_err::SAME_OBJECT));
    }
    let now = ctx.now;
    let keyspace = ctx.keyspace();
    let src = keyspace.db(source);
    if src.get(from, now).is_none() {
        return Ok(Reply::Integer(0));
    }
    let entry = src.peek(from).expect("checked above").clone();
    let dst = keyspace.db(target);
    if dst.contains(to, now) {
        if !replace {
            return Ok(Reply::Integer(0));
        }
        // Delete, then add, as Redis does: the new key wakes clients blocked on it.
        dst.remove(to);
    }
    dst.insert(to.clone(), entry.value, entry.expire_at);
    ctx.notify_in(target, notify::GENERIC, "copy_to", to);
    Ok(Reply::Integer(1))
}

/// MOVE key db
fn move_key(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let key = &args[1];
    let target = db_index(ctx, &args[2])?;
    let source = ctx.session.db;
    if source == target {
        return Err(Reply::error(keys_err::SAME_OBJECT));
    }
    let now = ctx.now;
    let (src, dst) = ctx.keyspace().two_dbs(source, target);
    if src.entry(key, now).is_none() || dst.contains(key, now) {
        return Ok(Reply::Integer(0));
    }
    let entry = src.remove(key).expect("checked above");
    dst.insert(key.clone(), entry.value, entry.expire_at);
    ctx.notify_in(source, notify::GENERIC, "move_from", key);
    ctx.notify_in(target, notify::GENERIC, "move_to", key);
    Ok(Reply::Integer(1))
}

/// A database number argument, checked as Redis's `getIntFromObjectOrReply` and `selectDb`.
fn db_index(ctx: &mut Ctx, arg: &[u8]) -> Result<usize, Reply> {
    let n = int_arg(arg)?;
    let n = i32::try_from(n).map_err(|_| Reply::error(keys_err::NOT_INT32))?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.databases())
        .ok_or(Reply::error(err::DB_INDEX))
}

/// OBJECT HELP
fn object_help(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().copied().map(Reply::status).collect(),
    ))
}

/// OBJECT ENCODING key
fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(object_lookup(ctx, &args[2], |v| Reply::bulk(v.encoding())))
}

/// OBJECT REFCOUNT key: Redis shares one object among all small non-negative integers.
fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(object_lookup(ctx, &args[2], |v| match v {
        Value::Str(s) if v.encoding() == "int" => {
            let shared = crate::number::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n));
            Reply::Integer(if shared { i64::from(i32::MAX) } else { 1 })
        }
        _ => Reply::Integer(1),
    }))
}

/// OBJECT IDLETIME key: seconds since the key was last read or written (the eviction
/// clock, `keyspace::evict`). Under an LFU policy Redis tracks frequencies instead and
/// refuses.
fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let access = ctx.shared.limits().memory().access();
    let now = ctx.now;
    Ok(object_lookup_entry(ctx, &args[2], |entry| {
        if access.lfu {
            Reply::error(keys_err::LFU_NO_IDLETIME)
        } else {
            Reply::Integer((evict::idle_ms(entry.access(), now) / 1000) as i64)
        }
    }))
}

/// OBJECT FREQ key: the logarithmic access counter, decayed, under an LFU
/// `maxmemory-policy` only (Redis's `LFUDecrAndReturn`).
fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let access = ctx.shared.limits().memory().access();
    let now = ctx.now;
    Ok(object_lookup_entry(ctx, &args[2], |entry| {
        if access.lfu {
            Reply::Integer(i64::from(access.counter(entry.access(), now)))
        } else {
            Reply::error(keys_err::NO_LFU)
        }
    }))
}

/// The OBJECT subcommands' common part: nil for a missing key.
fn object_lookup(ctx: &mut Ctx, key: &[u8], then: impl FnOnce(&Value) -> Reply) -> Reply {
    object_lookup_entry(ctx, key, |entry| then(&entry.value))
}

/// Looks `key` up as OBJECT does (Redis's `LOOKUP_NOTOUCH`): a hit or miss is counted but
/// the access clock is left alone, so OBJECT IDLETIME does not reset what it reports.
fn object_lookup_entry(ctx: &mut Ctx, key: &[u8], then: impl FnOnce(&Entry) -> Reply) -> Reply {
    let now = ctx.now;
    ctx.db().get_untouched(key, now).map_or(Reply::Nil, then)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn condition(words: &[&str]) -> Result<ExpireCondition, Reply> {
        ExpireCondition::parse(&args(words))
    }

    #[test]
    fn expire_options_reject_what_redis_rejects() {
        assert!(condition(&["nx", "NX"]).is_ok());
        assert!(condition(&["xx", "gt"]).is_ok());
        for bad in [&["nx", "xx"][..], &["gt", "nx"], &["NX", "lt"]] {
            assert_eq!(condition(bad), Err(Reply::error(keys_err::NX_WITH_OTHERS)));
        }
        assert_eq!(
            condition(&["gt", "lt"]),
            Err(Reply::error(keys_err::GT_AND_LT))
        );
        assert_eq!(
            condition(&["nx", "a\r\nb\0c"]),
            Err(Reply::error("ERR Unsupported option a  b"))
        );
    }

    #[test]
    fn expire_options_treat_no_expiry_as_infinite() {
        let c = |w: &[&str]| condition(w).unwrap();
        assert!(c(&[]).allows(Some(5), 1));
        assert!(c(&["nx"]).allows(None, 1));
        assert!(!c(&["nx"]).allows(Some(5), 1));
        assert!(!c(&["xx"]).allows(None, 1));
        assert!(!c(&["gt"]).allows(None, 1));
        assert!(!c(&["gt"]).allows(Some(5), 5));
        assert!(c(&["gt"]).allows(Some(5), 6));
        assert!(c(&["lt"]).allows(None, 1));
        assert!(!c(&["lt"]).allows(Some(5), 5));
        assert!(!c(&["xx", "lt"]).allows(None, 1));
    }
}
