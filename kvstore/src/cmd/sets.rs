//! Set commands: membership (SADD, SREM, SISMEMBER, SMISMEMBER, SCARD, SMOVE), random
//! members (SPOP, SRANDMEMBER), the algebra (SINTER, SUNION, SDIFF, their STORE forms and
//! SINTERCARD; SMEMBERS is SINTER of one set, as in Redis) and SSCAN.
//!
//! Results are built the way Redis builds them, starting from an empty intset and adding
//! members, so their encoding (and with it the order of an intset result) matches. A set
//! left without members is deleted.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{err, int_arg, is};
use super::collection::{distinct_sample, MAX_RANDOM_REPLY};
use super::collection::{scan_cursor, scan_reply, ScanOptions};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::{Db, Set, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, flags![WRITE, DENYOOM, FAST], acl![SET], sadd).keys(1, 1, 1),
    CommandSpec::new("srem", -3, flags![WRITE, FAST], acl![SET], srem).keys(1, 1, 1),
    CommandSpec::new("smembers", 2, flags![READONLY], acl![SET], sinter).keys(1, 1, 1),
    CommandSpec::new("sismember", 3, flags![READONLY, FAST], acl![SET], sismember).keys(1, 1, 1),
    CommandSpec::new("smismember", -3, flags![READONLY, FAST], acl![SET], smismember).keys(1, 1, 1),
    CommandSpec::new("scard", 2, flags![READONLY, FAST], acl![SET], scard).keys(1, 1, 1),
    CommandSpec::new("spop", -2, flags![WRITE, FAST], acl![SET], spop).keys(1, 1, 1),
    CommandSpec::new("srandmember", -2, flags![READONLY], acl![SET], srandmember).keys(1, 1, 1),
    CommandSpec::new("smove", 4, flags![WRITE, FAST], acl![SET], smove).keys(1, 2, 1),
    CommandSpec::new("sinter", -2, flags![READONLY], acl![SET], sinter).keys(1, -1, 1),
    CommandSpec::new("sintercard", -3, flags![READONLY, MOVABLEKEYS], acl![SET], sintercard),
    CommandSpec::new("sinterstore", -3, flags![WRITE, DENYOOM], acl![SET], sinterstore).keys(1, -1, 1),
    CommandSpec::new("sunion", -2, flags![READONLY], acl![SET], sunion).keys(1, -1, 1),
    CommandSpec::new("sunionstore", -3, flags![WRITE, DENYOOM], acl![SET], sunionstore).keys(1, -1, 1),
    CommandSpec::new("sdiff", -2, flags![READONLY], acl![SET], sdiff).keys(1, -1, 1),
    CommandSpec::new("sdiffstore", -3, flags![WRITE, DENYOOM], acl![SET], sdiffstore).keys(1, -1, 1),
    CommandSpec::new("sscan", -3, flags![READONLY], acl![SET], sscan).keys(1, 1, 1),
];

/// Error replies only set commands send, byte for byte as Redis 7.0 sends them.
mod set_err {
    pub const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    pub const TOO_MANY_KEYS: &str = "ERR Number of keys can't be greater than number of args";
    pub const LIMIT: &str = "ERR LIMIT can't be negative";
    pub const POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const COUNT_RANGE: &str =
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
}

/// Redis's `getPositiveLongFromObjectOrReply` with a message: one error for a bad integer
/// and for a negative one.
fn non_negative(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    crate::number::parse_i64(arg)
        .filter(|&n| n >= 0)
        .ok_or(Reply::error(msg))
}

/// The set at `key` for a read command (counts a keyspace hit or miss).
fn read<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Set>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_set().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Like [`read`] without counting a hit or miss (`lookupKeyWrite`).
fn peek<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Set>, Reply> {
    match db.entry(key, now) {
        None => Ok(None),
        Some(e) => e
            .value
            .as_set()
            .map(Some)
            .ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// The set at `key` (which must exist and be a set), for a write that changes no member but
/// `members` (journaled).
fn write<'d, 'a>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
    members: impl IntoIterator<Item = &'a Bytes>,
) -> &'d mut Set {
    match db.value_mut_elements(key, now, members) {
        Some(Value::Set(s)) => Arc::make_mut(s),
        _ => unreachable!("the caller checked the key"),
    }
}

fn max_intset(ctx: &Ctx) -> usize {
    ctx.shared.limits().intset()
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = max_intset(ctx);
    let now = ctx.now;
    let db = ctx.db();
    let key = &args[1];
    match peek(db, key, now)? {
        Some(set) if args[2..].iter().all(|m| set.contains(m)) => return Ok(Reply::Integer(0)),
        Some(_) => {}
        None => {
            db.insert(
                key.clone(),
                Value::Set(Arc::new(Set::for_member(&args[2]))),
                None,
            );
        }
    }
    let set = write(db, key, now, &args[2..]);
    let added = args[2..]
        .iter()
        .filter(|m| set.add((*m).clone(), max))
        .count();
    db.notify(notify::SET, "sadd", key);
    Ok(Reply::Integer(added as i64))
}

/// SREM key member [member ...]: deletes the key with its last member.
fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let key = &args[1];
    match peek(db, key, now)? {
        Some(set) if args[2..].iter().any(|m| set.contains(m)) => {}
        _ => return Ok(Reply::Integer(0)),
    }
    let set = write(db, key, now, &args[2..]);
    let mut deleted = 0;
    for member in &args[2..] {
        if set.remove(member) {
            deleted += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    let emptied = set.is_empty();
    db.notify(notify::SET, "srem", key);
    if emptied {
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
    }
    Ok(Reply::Integer(deleted))
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now)
        .map(|s| Reply::Integer(s.is_some_and(|s| s.contains(&args[2])) as i64))
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|s| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|m| Reply::Integer(s.is_some_and(|s| s.contains(m)) as i64))
                .collect(),
        )
    })
}

/// SCARD key
fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|s| Reply::Integer(s.map_or(0, Set::len) as i64))
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = max_intset(ctx);
    let now = ctx.now;
    let db = ctx.db();
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let dst_exists = db.contains(dst, now);
    let in_src = match peek(db, src, now)? {
        None => return Ok(Reply::Integer(0)),
        Some(s) => s.contains(member),
    };
    peek(db, dst, now)?;
    if src == dst || !in_src {
        // Moving to the same set changes nothing; a missing member moves nowhere.
        return Ok(Reply::Integer(in_src as i64));
    }
    let set = write(db, src, now, [member]);
    set.remove(member);
    let emptied = set.is_empty();
    db.notify(notify::SET, "srem", src);
    if emptied {
        db.remove(src);
        db.notify(notify::GENERIC, "del", src);
    }
    if !dst_exists {
        db.insert(
            dst.clone(),
            Value::Set(Arc::new(Set::for_member(member))),
            None,
        );
    }
    if !db
        .peek(dst)
        .and_then(|e| e.value.as_set())
        .is_some_and(|s| s.contains(member))
    {
        write(db, dst, now, [member]).add(member.clone(), max);
        db.notify(notify::SET, "sadd", dst);
    }
    Ok(Reply::Integer(1))
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = max_intset(ctx);
    let now = ctx.now;
    let key = &args[1];
    let mut rng = rand::thread_rng();
    if args.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    if args.len() == 2 {
        let db = ctx.db();
        let Some(member) = peek(db, key, now)?.and_then(|s| s.random(&mut rng)) else {
            return Ok(Reply::Nil);
        };
        let set = write(db, key, now, [&member]);
        set.remove(&member);
        let emptied = set.is_empty();
        db.notify(notify::SET, "spop", key);
        if emptied {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
        }
        // The member chosen at random goes to replicas by name.
        if ctx.replicating() {
            let srem = Bytes::from_static(b"SREM");
            ctx.propagate_as(vec![srem, key.clone(), member.clone()]);
        }
        return Ok(Reply::Bulk(member));
    }
    let count = non_negative(&args[2], set_err::POSITIVE)?;
    let count = count as u64;
    let db = ctx.db();
    let Some(set) = peek(db, key, now)? else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let size = set.len() as u64;
    db.notify(notify::SET, "spop", key);
    if count >= size {
        // The whole set, in the order of a union built from it (as Redis's reply is).
        let set = db
            .peek(key)
            .and_then(|e| e.value.as_set())
            .expect("checked");
        let whole = union_of(&[Some(set)], max);
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
        if ctx.replicating() {
            ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        return Ok(set_reply(&whole));
    }
    let remaining = size - count;
    let mut out = Vec::new();
    if remaining * 5 > count {
        let set = write(db, key, now, []);
        let mut popped = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let member = set.random(&mut rng).expect("not empty");
            set.remove(&member);
            popped.push(member);
        }
        db.touch_elements(key, &popped);
        out.extend(popped.into_iter().map(Reply::Bulk));
    } else {
        // The set is rebuilt (maybe in another encoding): journaled whole.
        let Some(Value::Set(set)) = db.value_mut(key, now) else {
            unreachable!("checked above")
        };
        let set = Arc::make_mut(set);
        // Move the members that stay into a new set and return the rest.
        let mut kept: Option<Set> = None;
        for _ in 0..remaining {
            let member = set.random(&mut rng).expect("not empty");
            set.remove(&member);
            kept.get_or_insert_with(|| Set::for_member(&member))
                .add(member, max);
        }
        out.extend(set.iter().map(Reply::Bulk));
        *set = kept.expect("remaining > 0");
    }
    // The members chosen at random go to replicas by name, one SREM each as in Redis 7.0
    // (a transaction of them, since they are several).
    if ctx.replicating() {
        ctx.propagate_nothing();
        for member in &out {
            if let Reply::Bulk(m) = member {
                let srem = Bytes::from_static(b"SREM");
                ctx.propagate_as(vec![srem, key.clone(), m.clone()]);
            }
        }
    }
    Ok(Reply::Set(out))
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let mut rng = rand::thread_rng();
    if args.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    if args.len() == 2 {
        let set = read(ctx.db(), &args[1], now)?;
        return Ok(Reply::opt_bulk(set.and_then(|s| s.random(&mut rng))));
    }
    let count = int_arg(&args[2])?;
    if count == i64::MIN {
        return Err(Reply::error(set_err::COUNT_RANGE));
    }
    let Some(set) = read(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let out: Vec<Reply> = if count < 0 || count == 1 {
        (0..count.unsigned_abs().min(MAX_RANDOM_REPLY))
            .map(|_| Reply::Bulk(set.random(&mut rng).expect("not empty")))
            .collect()
    } else if count as u64 >= set.len() as u64 {
        set.iter().map(Reply::Bulk).collect()
    } else if count as u64 * 3 <= set.len() as u64 {
        // A few of many: draw until enough distinct ones came up, O(count) as Redis does.
        let mut seen = std::collections::HashSet::with_capacity(count as usize);
        while seen.len() < count as usize {
            seen.insert(set.random(&mut rng).expect("not empty"));
        }
        seen.into_iter().map(Reply::Bulk).collect()
    } else {
        let chosen = distinct_sample(set.len(), count as usize, &mut rng);
        set.iter()
            .enumerate()
            .filter(|(i, _)| chosen.binary_search(i).is_ok())
            .map(|(_, m)| Reply::Bulk(m))
            .collect()
    };
    Ok(Reply::Array(out))
}

/// The sets at `keys` (`None` for missing ones), failing on the first of another type.
fn sets_at<'d>(db: &'d mut Db, keys: &[Bytes], now: u64) -> Result<Vec<Option<&'d Set>>, Reply> {
    // Look every key up first (expiring what is due), then borrow them all.
    for key in keys {
        if let Some(v) = db.get(key, now) {
            if v.as_set().is_none() {
                return Err(Reply::error(err::WRONGTYPE));
            }
        }
    }
    let db = &*db;
    Ok(keys
        .iter()
        .map(|k| db.peek(k).and_then(|e| e.value.as_set()))
        .collect())
}

fn set_reply(set: &Set) -> Reply {
    Reply::Set(set.iter().map(Reply::Bulk).collect())
}

fn union_of(sets: &[Option<&Set>], max: usize) -> Set {
    let mut out = Set::new();
    for set in sets.iter().flatten() {
        for m in set.iter() {
            out.add(m, max);
        }
    }
    out
}

/// Members of the first set in none of the others (an empty result if a later key is the
/// same set).
fn diff_of(sets: &[Option<&Set>], max: usize) -> Set {
    let mut out = Set::new();
    let Some(Some(first)) = sets.first() else {
        return out;
    };
    let rest = &sets[1..];
    if rest.iter().flatten().any(|s| std::ptr::eq(*s, *first)) {
        return out;
    }
    for m in first.iter() {
        if !rest.iter().flatten().any(|s| s.contains(&m)) {
            out.add(m, max);
        }
    }
    out
}

/// Members in every set, in the order of the smallest one (Redis iterates it and answers
/// as it goes); `limit` (0: none) stops early.
fn inter_members(sets: &[Option<&Set>], limit: usize) -> Vec<Bytes> {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return Vec::new();
    };
    present.sort_by_key(|s| s.len());
    let Some((smallest, rest)) = present.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in smallest.iter() {
        if rest
            .iter()
            .all(|s| std::ptr::eq(*s, *smallest) || s.contains(&m))
        {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// How a set operation's result is delivered.
enum Target<'a> {
    Reply,
    /// Store under this key, raising this event.
    Store(&'a Bytes, &'static str),
}

fn set_op(
    ctx: &mut Ctx,
    keys: &[Bytes],
    target: Target,
    op: fn(&[Option<&Set>], usize) -> Set,
) -> Reply {
    let max = max_intset(ctx);
    let now = ctx.now;
    let db = ctx.db();
    let result = match sets_at(db, keys, now) {
        Ok(sets) => op(&sets, max),
        Err(e) => return e,
    };
    match target {
        Target::Reply => set_reply(&result),
        Target::Store(dst, event) => store(db, dst, result, event),
    }
}

/// Stores a result (replacing whatever `dst` held, TTL included) or deletes `dst` when empty.
fn store(db: &mut Db, dst: &Bytes, result: Set, event: &'static str) -> Reply {
    let n = result.len() as i64;
    if n == 0 {
        if db.remove(dst).is_some() {
            db.notify(notify::GENERIC, "del", dst);
        }
    } else {
        db.insert(dst.clone(), Value::Set(Arc::new(result)), None);
        db.notify(notify::SET, event, dst);
    }
    Reply::Integer(n)
}

fn inter(sets: &[Option<&Set>], max: usize) -> Set {
    let mut out = Set::new();
    for m in inter_members(sets, 0) {
        out.add(m, max);
    }
    out
}

/// SINTER key [key ...] and SMEMBERS key: answered straight from the smallest set.
fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let sets = sets_at(ctx.db(), &args[1..], now)?;
    Ok(Reply::Set(
        inter_members(&sets, 0)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    ))
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_op(
        ctx,
        &args[2..],
        Target::Store(&args[1], "sinterstore"),
        inter,
    ))
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_op(ctx, &args[1..], Target::Reply, union_of))
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_op(
        ctx,
        &args[2..],
        Target::Store(&args[1], "sunionstore"),
        union_of,
    ))
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_op(ctx, &args[1..], Target::Reply, diff_of))
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(set_op(
        ctx,
        &args[2..],
        Target::Store(&args[1], "sdiffstore"),
        diff_of,
    ))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let numkeys = non_negative(&args[1], set_err::NUMKEYS)?;
    if numkeys < 1 {
        return Err(Reply::error(set_err::NUMKEYS));
    }
    if numkeys > (args.len() - 2) as i64 {
        return Err(Reply::error(set_err::TOO_MANY_KEYS));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0;
    let mut rest = &args[2 + numkeys..];
    while let [option, tail @ ..] = rest {
        match tail {
            [value, tail @ ..] if is(option, "limit") => {
                limit = non_negative(value, set_err::LIMIT)? as usize;
                rest = tail;
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    let now = ctx.now;
    let sets = sets_at(ctx.db(), &args[2..2 + numkeys], now)?;
    Ok(Reply::Integer(inter_members(&sets, limit).len() as i64))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan_cursor(&args[2])?;
    let now = ctx.now;
    let Some(set) = read(ctx.db(), &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    let (next, members) = set.scan(cursor, options.count);
    Ok(scan_reply(
        next,
        members.into_iter().filter(|m| options.matches(m)).collect(),
    ))
}
