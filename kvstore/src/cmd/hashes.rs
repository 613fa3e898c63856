//! Hash commands: HSET and friends, HGET / HMGET / HGETALL / HKEYS / HVALS, HDEL, the HINCRBY
//! pair, HRANDFIELD and HSCAN.
//!
//! Checks happen in Redis's order (arguments that need no key first, then the key's type).
//! A hash left without fields is deleted, as in Redis. Writes go through `Db::value_mut`,
//! `Db::insert` or `Db::remove`, so persistence sees every change.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{err, int_arg, is};
use super::collection::{distinct_sample, scan_cursor, scan_reply, ScanOptions, MAX_RANDOM_REPLY};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::{Db, Hash, Value};
use crate::number::LongDouble;
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, flags![WRITE, DENYOOM, FAST], acl![HASH], hset).keys(1, 1, 1),
    CommandSpec::new("hsetnx", 4, flags![WRITE, DENYOOM, FAST], acl![HASH], hsetnx).keys(1, 1, 1),
    CommandSpec::new("hmset", -4, flags![WRITE, DENYOOM, FAST], acl![HASH], hset).keys(1, 1, 1),
    CommandSpec::new("hget", 3, flags![READONLY, FAST], acl![HASH], hget).keys(1, 1, 1),
    CommandSpec::new("hmget", -3, flags![READONLY, FAST], acl![HASH], hmget).keys(1, 1, 1),
    CommandSpec::new("hgetall", 2, flags![READONLY], acl![HASH], hgetall).keys(1, 1, 1),
    CommandSpec::new("hdel", -3, flags![WRITE, FAST], acl![HASH], hdel).keys(1, 1, 1),
    CommandSpec::new("hlen", 2, flags![READONLY, FAST], acl![HASH], hlen).keys(1, 1, 1),
    CommandSpec::new("hexists", 3, flags![READONLY, FAST], acl![HASH], hexists).keys(1, 1, 1),
    CommandSpec::new("hkeys", 2, flags![READONLY], acl![HASH], hkeys).keys(1, 1, 1),
    CommandSpec::new("hvals", 2, flags![READONLY], acl![HASH], hvals).keys(1, 1, 1),
    CommandSpec::new("hstrlen", 3, flags![READONLY, FAST], acl![HASH], hstrlen).keys(1, 1, 1),
    CommandSpec::new("hincrby", 4, flags![WRITE, DENYOOM, FAST], acl![HASH], hincrby).keys(1, 1, 1),
    CommandSpec::new("hincrbyfloat", 4, flags![WRITE, DENYOOM, FAST], acl![HASH], hincrbyfloat).keys(1, 1, 1),
    CommandSpec::new("hrandfield", -2, flags![READONLY], acl![HASH], hrandfield).keys(1, 1, 1),
    CommandSpec::new("hscan", -3, flags![READONLY], acl![HASH], hscan).keys(1, 1, 1),
];

/// Error replies only hash commands send, byte for byte as Redis 7.0 sends them.
mod hash_err {
    pub const NOT_INTEGER: &str = "ERR hash value is not an integer";
    pub const NOT_FLOAT: &str = "ERR hash value is not a float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const INCR_NAN: &str = "ERR value is NaN or Infinity";
    pub const RESULT_NAN: &str = "ERR increment would produce NaN or Infinity";
    pub const COUNT_RANGE: &str =
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    pub const OUT_OF_RANGE: &str = "ERR value is out of range";
}

/// The hash at `key` for a read command (counts a keyspace hit or miss).
fn read<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Hash>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_hash().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Fails with WRONGTYPE when `key` holds something other than a hash; true when it exists.
fn check_write(db: &mut Db, key: &[u8], now: u64) -> Result<bool, Reply> {
    match db.entry(key, now) {
        None => Ok(false),
        Some(e) if e.value.as_hash().is_some() => Ok(true),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

/// The hash at `key` for a write, created empty when absent (`hashTypeLookupWriteOrCreate`).
/// The caller must leave it non-empty, and change no field but `fields` (journaled).
fn write<'d, 'a>(
    db: &'d mut Db,
    key: &Bytes,
    now: u64,
    fields: impl IntoIterator<Item = &'a Bytes>,
) -> Result<&'d mut Hash, Reply> {
    if !check_write(db, key, now)? {
        db.insert(key.clone(), Value::Hash(Arc::default()), None);
    }
    match db.value_mut_elements(key, now, fields) {
        Some(Value::Hash(h)) => Ok(Arc::make_mut(h)),
        _ => unreachable!("checked above"),
    }
}

/// HSET key field value [field value ...] and HMSET (which replies OK).
fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() % 2 == 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    let limits = ctx.shared.limits().hash();
    let now = ctx.now;
    let hash = write(ctx.db(), &args[1], now, args[2..].iter().step_by(2))?;
    hash.prepare_for(args[2..].iter().map(Bytes::len), limits);
    let created = args[2..]
        .chunks(2)
        .filter(|pair| hash.set(pair[0].clone(), pair[1].clone(), limits))
        .count();
    ctx.db().notify(notify::HASH, "hset", &args[1]);
    Ok(if is(&args[0][1..2], "s") {
        Reply::Integer(created as i64)
    } else {
        Reply::Ok
    })
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let limits = ctx.shared.limits().hash();
    let now = ctx.now;
    let db = ctx.db();
    let exists = check_write(db, &args[1], now)?
        && db
            .peek(&args[1])
            .and_then(|e| e.value.as_hash())
            .is_some_and(|h| h.contains(&args[2]));
    if exists {
        return Ok(Reply::Integer(0));
    }
    let hash = write(db, &args[1], now, [&args[2]])?;
    hash.set(args[2].clone(), args[3].clone(), limits);
    db.notify(notify::HASH, "hset", &args[1]);
    Ok(Reply::Integer(1))
}

/// HGET key field
fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now)
        .map(|h| Reply::opt_bulk(h.and_then(|h| h.get(&args[2]).map(Bytes::copy_from_slice))))
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|h| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|f| Reply::opt_bulk(h.and_then(|h| h.get(f).map(Bytes::copy_from_slice))))
                .collect(),
        )
    })
}

/// HGETALL key: a map in RESP3.
fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|h| {
        Reply::Map(
            h.into_iter()
                .flat_map(Hash::iter)
                .map(|(f, v)| (bulk(f), bulk(v)))
                .collect(),
        )
    })
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|h| {
        Reply::Array(
            h.into_iter()
                .flat_map(Hash::iter)
                .map(|(f, _)| bulk(f))
                .collect(),
        )
    })
}

/// HVALS key
fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|h| {
        Reply::Array(
            h.into_iter()
                .flat_map(Hash::iter)
                .map(|(_, v)| bulk(v))
                .collect(),
        )
    })
}

/// HDEL key field [field ...]: deletes the key with its last field.
fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let key = &args[1];
    if !check_write(db, key, now)? {
        return Ok(Reply::Integer(0));
    }
    let present = db
        .peek(key)
        .and_then(|e| e.value.as_hash())
        .is_some_and(|h| args[2..].iter().any(|f| h.contains(f)));
    if !present {
        return Ok(Reply::Integer(0));
    }
    let hash = write(db, key, now, &args[2..])?;
    let mut deleted = 0;
    for field in &args[2..] {
        if hash.remove(field) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    let emptied = hash.is_empty();
    db.notify(notify::HASH, "hdel", key);
    if emptied {
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::Integer(deleted))
}

/// HLEN key
fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|h| Reply::Integer(h.map_or(0, Hash::len) as i64))
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now)
        .map(|h| Reply::Integer(h.is_some_and(|h| h.contains(&args[2])) as i64))
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now)
        .map(|h| Reply::Integer(h.and_then(|h| h.get(&args[2])).map_or(0, <[u8]>::len) as i64))
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let incr = int_arg(&args[3])?;
    let limits = ctx.shared.limits().hash();
    let now = ctx.now;
    let db = ctx.db();
    let current = if check_write(db, &args[1], now)? {
        let hash = db
            .peek(&args[1])
            .and_then(|e| e.value.as_hash())
            .expect("checked");
        match hash.get(&args[2]) {
            Some(v) => crate::number::parse_i64(v).ok_or(Reply::error(hash_err::NOT_INTEGER))?,
            None => 0,
        }
    } else {
        0
    };
    let value = current
        .checked_add(incr)
        .ok_or(Reply::error(hash_err::OVERFLOW))?;
    let text = Bytes::from(itoa::Buffer::new().format(value).to_owned());
    write(db, &args[1], now, [&args[2]])?.set(args[2].clone(), text, limits);
    db.notify(notify::HASH, "hincrby", &args[1]);
    Ok(Reply::Integer(value))
}

/// HINCRBYFLOAT key field increment: long double arithmetic, as Redis does it.
fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let incr = LongDouble::parse(&args[3]).ok_or(Reply::error(err::NOT_FLOAT))?;
    if !incr.is_finite() {
        return Err(Reply::error(hash_err::INCR_NAN));
    }
    let limits = ctx.shared.limits().hash();
    let now = ctx.now;
    let db = ctx.db();
    let current = if check_write(db, &args[1], now)? {
        let hash = db
            .peek(&args[1])
            .and_then(|e| e.value.as_hash())
            .expect("checked");
        match hash.get(&args[2]) {
            Some(v) => LongDouble::parse(v).ok_or(Reply::error(hash_err::NOT_FLOAT))?,
            None => LongDouble::ZERO,
        }
    } else {
        LongDouble::ZERO
    };
    let sum = current + incr;
    if !sum.is_finite() {
        return Err(Reply::error(hash_err::RESULT_NAN));
    }
    let text = Bytes::from(sum.to_human_bytes());
    write(db, &args[1], now, [&args[2]])?.set(args[2].clone(), text.clone(), limits);
    db.notify(notify::HASH, "hincrbyfloat", &args[1]);
    // Propagated as the value it gave (Redis's `hincrbyfloatCommand`).
    if ctx.replicating() {
        let hset = Bytes::from_static(b"HSET");
        ctx.propagate_as(vec![hset, args[1].clone(), args[2].clone(), text.clone()]);
    }
    Ok(Reply::Bulk(text))
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let resp3 = ctx.session.resp >= 3;
    let mut rng = rand::thread_rng();
    if args.len() == 2 {
        let hash = read(ctx.db(), &args[1], now)?;
        return Ok(Reply::opt_bulk(
            hash.and_then(|h| h.random(&mut rng))
                .map(|(f, _)| Bytes::copy_from_slice(f)),
        ));
    }
    let count = int_arg(&args[2])?;
    if count == i64::MIN {
        return Err(Reply::error(hash_err::COUNT_RANGE));
    }
    if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withvalues")) {
        return Err(Reply::error(err::SYNTAX));
    }
    let with_values = args.len() == 4;
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Reply::error(hash_err::OUT_OF_RANGE));
    }
    let Some(hash) = read(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let pair = |f: &[u8], v: &[u8], out: &mut Vec<Reply>| match (with_values, resp3) {
        (false, _) => out.push(bulk(f)),
        (true, true) => out.push(Reply::Array(vec![bulk(f), bulk(v)])),
        (true, false) => {
            out.push(bulk(f));
            out.push(bulk(v));
        }
    };
    let mut out = Vec::new();
    if count < 0 || count == 1 {
        // With repetitions, in random order.
        for _ in 0..count.unsigned_abs().min(MAX_RANDOM_REPLY) {
            let (f, v) = hash.random(&mut rng).expect("a stored hash is not empty");
            pair(f, v, &mut out);
        }
    } else if count as u64 >= hash.len() as u64 {
        hash.iter().for_each(|(f, v)| pair(f, v, &mut out));
    } else if count as u64 * 3 <= hash.len() as u64 {
        // A few of many: draw until enough distinct ones came up, O(count) as Redis does.
        let mut seen = std::collections::HashSet::with_capacity(count as usize);
        while seen.len() < count as usize {
            let (f, v) = hash.random(&mut rng).expect("not empty");
            if seen.insert(f) {
                pair(f, v, &mut out);
            }
        }
    } else {
        let chosen = distinct_sample(hash.len(), count as usize, &mut rng);
        for (i, (f, v)) in hash.iter().enumerate() {
            if chosen.binary_search(&i).is_ok() {
                pair(f, v, &mut out);
            }
        }
    }
    Ok(Reply::Array(out))
}

/// A bulk reply holding a copy of `s`.
fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan_cursor(&args[2])?;
    let now = ctx.now;
    let Some(hash) = read(ctx.db(), &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    let (next, pairs) = hash.scan(cursor, options.count);
    let items = pairs
        .into_iter()
        .filter(|(f, _)| options.matches(f))
        .flat_map(|(f, v)| [Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)])
        .collect();
    Ok(scan_reply(next, items))
}
