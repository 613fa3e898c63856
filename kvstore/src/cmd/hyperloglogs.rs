//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST, wiring
//! [`crate::hyperloglog`] (Redis 7.0's `hyperloglog.c`) to string keys.
//!
//! A HyperLogLog is a string value holding exactly the bytes redis-server would hold, stored
//! `raw` as Redis stores it. Invariants kept here: a command writes the key only when Redis
//! does (PFADD that changed a register, PFCOUNT that refreshed the cached cardinality, PFMERGE
//! always, PFDEBUG when it converted to dense), a written key keeps its TTL except where
//! Redis replaces the value, and keys are looked up and checked in Redis's order, so the
//! first bad key decides the error.

use bytes::Bytes;

use super::args::err;
use super::{acl, flags, CommandSpec, Ctx};
use crate::hyperloglog::{self, HllError, PfDebugReply, Union};
use crate::keyspace::{Db, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, flags![WRITE, DENYOOM, FAST], acl![HYPERLOGLOG], pfadd).keys(1, 1, 1),
    CommandSpec::new("pfcount", -2, flags![READONLY], acl![HYPERLOGLOG], pfcount).keys(1, -1, 1),
    CommandSpec::new("pfmerge", -2, flags![WRITE, DENYOOM], acl![HYPERLOGLOG], pfmerge).keys(1, -1, 1),
    CommandSpec::new("pfdebug", 3, flags![WRITE, DENYOOM, ADMIN], acl![HYPERLOGLOG], pfdebug).keys(2, 2, 1),
    CommandSpec::new("pfselftest", 1, flags![ADMIN], acl![HYPERLOGLOG], pfselftest),
];

fn hll_error(e: HllError) -> Reply {
    Reply::error(e.to_string())
}

/// The string at `key` (a read counts a hit or miss, a write lookup does not); another type
/// is the generic WRONGTYPE, a string that is no HyperLogLog is checked by the caller.
fn string_at(db: &mut Db, key: &[u8], now: u64, for_read: bool) -> Result<Option<Bytes>, Reply> {
    let value = if for_read {
        db.get(key, now)
    } else {
        db.entry(key, now).map(|e| &e.value)
    };
    match value {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .cloned()
            .map(Some)
            .ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Stores a HyperLogLog the command changed in place, keeping the key's TTL (the key exists:
/// the command just read it, under the same lock).
fn store(db: &mut Db, key: &Bytes, value: Vec<u8>, now: u64) {
    if let Some(slot) = db.value_mut(key, now) {
        *slot = Value::RawStr(Bytes::from(value));
    }
}

/// PFADD key [element [element ...]]
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().hll_sparse_max_bytes();
    let now = ctx.now;
    let db = ctx.db();
    let elements = &args[2..];
    let Some(current) = string_at(db, &args[1], now, false)? else {
        let (value, _) = hyperloglog::pfadd_new(elements, max);
        db.insert(args[1].clone(), Value::RawStr(Bytes::from(value)), None);
        db.notify(notify::STRING, "pfadd", &args[1]);
        return Ok(Reply::Integer(1));
    };
    hyperloglog::check(&current).map_err(hll_error)?;
    db.unshare_string(&args[1]);
    if hyperloglog::dense_unchanged(&current, elements) {
        return Ok(Reply::Integer(0));
    }
    let mut value = current.to_vec();
    match hyperloglog::pfadd(&mut value, elements, max) {
        Ok(0) => Ok(Reply::Integer(0)),
        Ok(_) => {
            store(db, &args[1], value, now);
            db.notify(notify::STRING, "pfadd", &args[1]);
            Ok(Reply::Integer(1))
        }
        Err(e) => {
            // Redis changed the value in place before it met the corruption.
            if value[..] != current[..] {
                store(db, &args[1], value, now);
            }
            Err(hll_error(e))
        }
    }
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    if args.len() > 2 {
        let mut union = Union::new();
        for key in &args[1..] {
            if let Some(value) = string_at(db, key, now, true)? {
                union.merge(&value).map_err(hll_error)?;
            }
        }
        return Ok(Reply::Integer(union.count() as i64));
    }
    let Some(current) = string_at(db, &args[1], now, true)? else {
        return Ok(Reply::Integer(0));
    };
    hyperloglog::check(&current).map_err(hll_error)?;
    db.unshare_string(&args[1]);
    if let Some(count) = hyperloglog::cached_count(&current) {
        return Ok(Reply::Integer(count as i64));
    }
    let mut value = current.to_vec();
    let (count, modified) = hyperloglog::pfcount(&mut value).map_err(hll_error)?;
    if modified {
        store(db, &args[1], value, now);
    }
    Ok(Reply::Integer(count as i64))
}

/// PFMERGE destkey [sourcekey [sourcekey ...]]: the destination is a source too.
fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().hll_sparse_max_bytes();
    let now = ctx.now;
    let db = ctx.db();
    let mut union = Union::new();
    for key in &args[1..] {
        if let Some(value) = string_at(db, key, now, true)? {
            union.merge(&value).map_err(hll_error)?;
        }
    }
    let dest = string_at(db, &args[1], now, false)?;
    let existed = dest.is_some();
    let mut value = dest.map_or_else(hyperloglog::new_sparse, |v| v.to_vec());
    let stored = union.store(&mut value, max);
    if existed {
        store(db, &args[1], value, now);
    } else {
        db.insert(args[1].clone(), Value::RawStr(Bytes::from(value)), None);
    }
    stored.map_err(hll_error)?;
    db.notify(notify::STRING, "pfadd", &args[1]);
    Ok(Reply::Ok)
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let current = string_at(db, &args[2], now, false)?;
    if current
        .as_ref()
        .is_some_and(|v| hyperloglog::check(v).is_ok())
    {
        db.unshare_string(&args[2]);
    }
    let mut value = current.as_ref().map(|v| v.to_vec());
    let (reply, modified) = hyperloglog::pfdebug(&args[1], value.as_mut()).map_err(hll_error)?;
    if let (true, Some(value)) = (modified, value) {
        store(db, &args[2], value, now);
    }
    Ok(match reply {
        PfDebugReply::Registers(registers) => Reply::Array(
            registers
                .into_iter()
                .map(|r| Reply::Integer(i64::from(r)))
                .collect(),
        ),
        PfDebugReply::Decoded(text) => Reply::Bulk(Bytes::from(text)),
        PfDebugReply::Encoding(name) => Reply::status(name),
        PfDebugReply::Converted(converted) => Reply::Integer(i64::from(converted)),
    })
}

/// PFSELFTEST
fn pfselftest(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().hll_sparse_max_bytes();
    hyperloglog::selftest(max).map_err(hll_error)?;
    Ok(Reply::Ok)
}
