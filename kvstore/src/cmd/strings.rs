//! String commands: GET, SET and its variants, the INCR family, APPEND, GETRANGE, SETRANGE.
//!
//! Argument checks happen in the order Redis performs them, because that order decides which
//! error a client sees when several things are wrong at once.

use bytes::Bytes;

use super::args::{edit_string, err, int_arg, is, string_for_write};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::{Db, Value};
use crate::number;
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, flags![READONLY, FAST], acl![STRING], get).keys(1, 1, 1),
    CommandSpec::new("set", -3, flags![WRITE, DENYOOM], acl![STRING], set).keys(1, 1, 1),
    CommandSpec::new("setnx", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], setnx).keys(1, 1, 1),
    CommandSpec::new("setex", 4, flags![WRITE, DENYOOM], acl![STRING], setex).keys(1, 1, 1),
    CommandSpec::new("psetex", 4, flags![WRITE, DENYOOM], acl![STRING], psetex).keys(1, 1, 1),
    CommandSpec::new("getset", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], getset).keys(1, 1, 1),
    CommandSpec::new("getdel", 2, flags![WRITE, FAST], acl![STRING], getdel).keys(1, 1, 1),
    CommandSpec::new("getex", -2, flags![WRITE, FAST], acl![STRING], getex).keys(1, 1, 1),
    CommandSpec::new("mget", -2, flags![READONLY, FAST], acl![STRING], mget).keys(1, -1, 1),
    CommandSpec::new("mset", -3, flags![WRITE, DENYOOM], acl![STRING], mset).keys(1, -1, 2),
    CommandSpec::new("msetnx", -3, flags![WRITE, DENYOOM], acl![STRING], msetnx).keys(1, -1, 2),
    CommandSpec::new("incr", 2, flags![WRITE, DENYOOM, FAST], acl![STRING], incr).keys(1, 1, 1),
    CommandSpec::new("decr", 2, flags![WRITE, DENYOOM, FAST], acl![STRING], decr).keys(1, 1, 1),
    CommandSpec::new("incrby", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], incrby).keys(1, 1, 1),
    CommandSpec::new("decrby", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], decrby).keys(1, 1, 1),
    CommandSpec::new("incrbyfloat", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], incrbyfloat).keys(1, 1, 1),
    CommandSpec::new("append", 3, flags![WRITE, DENYOOM, FAST], acl![STRING], append).keys(1, 1, 1),
    CommandSpec::new("strlen", 2, flags![READONLY, FAST], acl![STRING], strlen).keys(1, 1, 1),
    CommandSpec::new("getrange", 4, flags![READONLY], acl![STRING], getrange).keys(1, 1, 1),
    CommandSpec::new("substr", 4, flags![READONLY], acl![STRING], getrange).keys(1, 1, 1),
    CommandSpec::new("setrange", 4, flags![WRITE, DENYOOM], acl![STRING], setrange).keys(1, 1, 1),
];

/// The string stored at `key`: `Ok(None)` when absent, `Err(WRONGTYPE)` for another type.
fn read_str<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Bytes>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// GET key
fn get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read_str(ctx.db(), &args[1], now).map(|v| Reply::opt_bulk(v.cloned()))
}

/// Which of SET's and GETEX's shared options were given (Redis's `OBJ_SET_*` flags).
#[derive(Debug, Default, Clone, PartialEq)]
enum Expiry {
    /// No expiry option: SET clears the TTL, GETEX leaves it.
    #[default]
    Unset,
    KeepTtl,
    Persist,
    /// Relative (EX/PX) or absolute (EXAT/PXAT) time, still the client's argument.
    At {
        unit_ms: i64,
        value: Bytes,
        absolute: bool,
    },
}

#[derive(Debug, Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

impl SetOptions {
    /// The absolute expiry time an EX/PX/EXAT/PXAT option asks for, validated as Redis does.
    fn expire_at(&self, now: u64, command: &str) -> Result<Option<u64>, Reply> {
        match &self.expiry {
            Expiry::At {
                unit_ms,
                value,
                absolute,
            } => expire_at(value, *unit_ms, *absolute, now, command).map(Some),
            _ => Ok(None),
        }
    }
}

/// Parses SET's (`for_set`) or GETEX's options, with Redis's rules for which combinations
/// are a syntax error.
fn parse_options(opts: &[Bytes], for_set: bool) -> Result<SetOptions, Reply> {
    let mut o = SetOptions::default();
    let mut i = 0;
    while i < opts.len() {
        let opt = &opts[i];
        let has_next = i + 1 < opts.len();
        let timed = matches!(o.expiry, Expiry::At { .. });
        let expiry_kind = |unit_ms, absolute| (unit_ms, absolute);
        let kind = if is(opt, "ex") {
            Some(expiry_kind(1000, false))
        } else if is(opt, "px") {
            Some(expiry_kind(1, false))
        } else if is(opt, "exat") {
            Some(expiry_kind(1000, true))
        } else if is(opt, "pxat") {
            Some(expiry_kind(1, true))
        } else {
            None
        };
        if for_set && is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && is(opt, "get") {
            o.get = true;
        } else if for_set && is(opt, "keepttl") && !timed {
            o.expiry = Expiry::KeepTtl;
        } else if !for_set && is(opt, "persist") && !timed {
            o.expiry = Expiry::Persist;
        } else if let (Some((unit_ms, absolute)), true) = (kind, has_next) {
            let same_kind = match o.expiry {
                Expiry::At {
                    unit_ms: u,
                    absolute: a,
                    ..
                } => u == unit_ms && a == absolute,
                Expiry::Unset => true,
                _ => false,
            };
            if !same_kind {
                return Err(Reply::error(err::SYNTAX));
            }
            // The value is validated later, after all options parsed, as Redis does.
            o.expiry = Expiry::At {
                unit_ms,
                value: opts[i + 1].clone(),
                absolute,
            };
            i += 1;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// Turns an EX/PX/EXAT/PXAT argument into an absolute Unix time in ms, with Redis's errors.
fn expire_at(
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    now: u64,
    command: &str,
) -> Result<u64, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{command}' command"));
    let n = int_arg(arg)?;
    if n <= 0 || (unit_ms == 1000 && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = n * unit_ms;
    if !absolute {
        ms = ms.checked_add(now as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let o = parse_options(&args[3..], true)?;
    let now = ctx.now;
    let new_expiry = o.expire_at(now, "set")?;
    let db = ctx.db();
    let old = if o.get {
        read_str(db, &args[1], now)?.cloned()
    } else {
        None
    };
    let exists = db.contains(&args[1], now);
    if (o.nx && exists) || (o.xx && !exists) {
        return Ok(if o.get {
            Reply::opt_bulk(old)
        } else {
            Reply::Nil
        });
    }
    let expiry = if matches!(o.expiry, Expiry::KeepTtl) {
        db.entry(&args[1], now).and_then(|e| e.expire_at)
    } else {
        new_expiry
    };
    db.insert(args[1].clone(), Value::Str(args[2].clone()), expiry);
    ctx.notify(notify::STRING, "set", &args[1]);
    if let Some(at) = new_expiry {
        ctx.notify(notify::GENERIC, "expire", &args[1]);
        let pxat = matches!(
            o.expiry,
            Expiry::At {
                unit_ms: 1,
                absolute: true,
                ..
            }
        );
        if !pxat {
            propagate_set_pxat(ctx, &args[1], &args[2], at);
        }
    }
    Ok(if o.get {
        Reply::opt_bulk(old)
    } else {
        Reply::Ok
    })
}

/// SETNX key value
fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    if db.contains(&args[1], now) {
        return Ok(Reply::Integer(0));
    }
    db.insert(args[1].clone(), Value::Str(args[2].clone()), None);
    ctx.notify(notify::STRING, "set", &args[1]);
    Ok(Reply::Integer(1))
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, args, 1000, "setex")
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_with_ttl(ctx, args, 1, "psetex")
}

fn set_with_ttl(
    ctx: &mut Ctx,
    args: &[Bytes],
    unit_ms: i64,
    command: &str,
) -> Result<Reply, Reply> {
    let now = ctx.now;
    let at = expire_at(&args[2], unit_ms, false, now, command)?;
    ctx.db()
        .insert(args[1].clone(), Value::Str(args[3].clone()), Some(at));
    ctx.notify(notify::STRING, "set", &args[1]);
    ctx.notify(notify::GENERIC, "expire", &args[1]);
    propagate_set_pxat(ctx, &args[1], &args[3], at);
    Ok(Reply::Ok)
}

/// Redis 7.0 propagates a SET with a relative expiry (SET EX/PX/EXAT, SETEX, PSETEX) as
/// `SET key value PXAT <ms>`, so the replica's key dies at the master's moment.
fn propagate_set_pxat(ctx: &mut Ctx, key: &Bytes, value: &Bytes, at: u64) {
    if ctx.replicating() {
        ctx.propagate_as(vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            value.clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::from(at.to_string()),
        ]);
    }
}

/// GETSET key value
fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let old = read_str(db, &args[1], now)?.cloned();
    db.insert(args[1].clone(), Value::Str(args[2].clone()), None);
    ctx.notify(notify::STRING, "set", &args[1]);
    // Propagated as the SET it amounts to (Redis's `getsetCommand`).
    if ctx.replicating() {
        let set = Bytes::from_static(b"SET");
        ctx.propagate_as(vec![set, args[1].clone(), args[2].clone()]);
    }
    Ok(Reply::opt_bulk(old))
}

/// GETDEL key
fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let old = read_str(db, &args[1], now)?.cloned();
    if old.is_some() {
        db.remove(&args[1]);
        ctx.notify(notify::GENERIC, "del", &args[1]);
    }
    Ok(Reply::opt_bulk(old))
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let o = parse_options(&args[2..], false)?;
    let now = ctx.now;
    let at = o.expire_at(now, "getex")?;
    let db = ctx.db();
    let Some(value) = read_str(db, &args[1], now)?.cloned() else {
        return Ok(Reply::Nil);
    };
    let event = match (o.expiry, at) {
        (Expiry::Persist, _) => {
            let had = db
                .entry(&args[1], now)
                .is_some_and(|e| e.expire_at.is_some());
            db.set_expire(&args[1], None, now);
            had.then_some(("persist", "PERSIST", None))
        }
        (_, Some(at)) if at <= now => {
            db.remove(&args[1]);
            Some(("del", "DEL", None))
        }
        (_, Some(at)) => {
            db.set_expire(&args[1], Some(at), now);
            Some(("expire", "PEXPIREAT", Some(at)))
        }
        _ => None,
    };
    if let Some((event, command, at)) = event {
        ctx.notify(notify::GENERIC, event, &args[1]);
        // Never propagated as GETEX: as the change it made (Redis's `getexCommand`).
        if ctx.replicating() {
            let mut argv = vec![Bytes::from_static(command.as_bytes()), args[1].clone()];
            argv.extend(at.map(|at| Bytes::from(at.to_string())));
            ctx.propagate_as(argv);
        }
    }
    Ok(Reply::Bulk(value))
}

/// MGET key [key ...]
fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    Ok(Reply::Array(
        args[1..]
            .iter()
            .map(|k| Reply::opt_bulk(db.get(k, now).and_then(Value::as_str).cloned()))
            .collect(),
    ))
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() % 2 == 0 {
        return Err(Reply::error(
            "ERR wrong number of arguments for 'mset' command",
        ));
    }
    for pair in args[1..].chunks(2) {
        ctx.db()
            .insert(pair[0].clone(), Value::Str(pair[1].clone()), None);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    Ok(Reply::Ok)
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() % 2 == 0 {
        return Err(Reply::error(
            "ERR wrong number of arguments for 'msetnx' command",
        ));
    }
    let now = ctx.now;
    let db = ctx.db();
    if args[1..].chunks(2).any(|pair| db.contains(&pair[0], now)) {
        return Ok(Reply::Integer(0));
    }
    for pair in args[1..].chunks(2) {
        ctx.db()
            .insert(pair[0].clone(), Value::Str(pair[1].clone()), None);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    Ok(Reply::Integer(1))
}

/// INCR key
fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    incr_by(ctx, &args[1], 1)
}

/// DECR key
fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    incr_by(ctx, &args[1], -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    incr_by(ctx, &args[1], int_arg(&args[2])?)
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    match int_arg(&args[2])? {
        i64::MIN => Err(Reply::error(number::ERR_DECREMENT_OVERFLOW)),
        by => incr_by(ctx, &args[1], -by),
    }
}

fn incr_by(ctx: &mut Ctx, key: &Bytes, by: i64) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let current = string_for_write(db, key, now)?;
    let n = number::checked_incr(current.map(|b| &b[..]), by)
        .map_err(|e| Reply::error(e.to_string()))?;
    let mut digits = itoa::Buffer::new();
    let text = Bytes::copy_from_slice(digits.format(n).as_bytes());
    db.update(key.clone(), Value::Str(text), now);
    ctx.notify(notify::STRING, "incrby", key);
    Ok(Reply::Integer(n))
}

/// INCRBYFLOAT key increment
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let current = string_for_write(db, &args[1], now)?;
    let text = number::incr_by_float(current.map(|b| &b[..]), &args[2])
        .map_err(|e| Reply::error(e.to_string()))?;
    let text = Bytes::from(text);
    db.update(args[1].clone(), Value::Str(text.clone()), now);
    ctx.notify(notify::STRING, "incrbyfloat", &args[1]);
    // Propagated as the value it gave, so float formatting never differs on a replica.
    if ctx.replicating() {
        ctx.propagate_as(vec![
            Bytes::from_static(b"SET"),
            args[1].clone(),
            text.clone(),
            Bytes::from_static(b"KEEPTTL"),
        ]);
    }
    Ok(Reply::Bulk(text))
}

/// Redis's `checkStringLength`: a string may not grow past `proto-max-bulk-len`.
fn check_length(ctx: &Ctx, len: u64) -> Result<(), Reply> {
    if len > ctx.shared.limits().proto_max_bulk_len() {
        Err(Reply::error(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ))
    } else {
        Ok(())
    }
}

/// APPEND key value
fn append(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let current = string_for_write(ctx.db(), &args[1], now)?.map(|s| s.len());
    let Some(len) = current else {
        ctx.db()
            .insert(args[1].clone(), Value::Str(args[2].clone()), None);
        ctx.notify(notify::STRING, "append", &args[1]);
        return Ok(Reply::Integer(args[2].len() as i64));
    };
    let total = (len + args[2].len()) as u64;
    check_length(ctx, total)?;
    edit_string(ctx.db(), &args[1], now, &[(len as u64, total)], |v| {
        v.extend_from_slice(&args[2])
    });
    ctx.notify(notify::STRING, "append", &args[1]);
    Ok(Reply::Integer(total as i64))
}

/// STRLEN key
fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read_str(ctx.db(), &args[1], now).map(|v| Reply::Integer(v.map_or(0, |s| s.len() as i64)))
}

/// GETRANGE key start end (and its old name SUBSTR)
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut start = int_arg(&args[2])?;
    let mut end = int_arg(&args[3])?;
    let now = ctx.now;
    let empty = Reply::Bulk(Bytes::new());
    let Some(s) = read_str(ctx.db(), &args[1], now)? else {
        return Ok(empty);
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(empty);
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return Ok(empty);
    }
    Ok(Reply::Bulk(s.slice(start as usize..=end as usize)))
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let offset = int_arg(&args[2])?;
    if offset < 0 {
        return Err(Reply::error("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let value = &args[3];
    let now = ctx.now;
    let current_len = string_for_write(ctx.db(), &args[1], now)?.map_or(0, |s| s.len());
    if value.is_empty() {
        return Ok(Reply::Integer(current_len as i64));
    }
    check_length(ctx, offset + value.len() as u64)?;
    let end = offset + value.len() as u64;
    let len = edit_string(ctx.db(), &args[1], now, &[(offset, end)], |v| {
        let (offset, end) = (offset as usize, end as usize);
        if v.len() < end {
            v.resize(end, 0);
        }
        v[offset..end].copy_from_slice(value);
        v.len()
    });
    ctx.notify(notify::STRING, "setrange", &args[1]);
    Ok(Reply::Integer(len as i64))
}
