//! List commands: pushes and pops at both ends (with counts, across several keys, between
//! keys), indexed access, ranges, search, and the blocking pops.
//!
//! A list is a `VecDeque` (Redis 7.0 reports every list as a quicklist). Arguments are parsed
//! and keys looked up in the order Redis's `t_list.c` does, because that order decides which
//! error a client sees when several things are wrong at once. A command that empties a list
//! deletes the key. The blocking commands try their non-blocking form first; if nothing is
//! there they block through [`Ctx::block`] with a retry function that serves them from the key
//! that became ready, exactly as Redis's `serveClientBlockedOnList`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::args::{c_is, err, int_arg, MultiPop};
use super::blocking::parse_timeout;
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::{own, Db, List, ListEnd, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, flags![WRITE, DENYOOM, FAST], acl![LIST], lpush).keys(1, 1, 1),
    CommandSpec::new("rpush", -3, flags![WRITE, DENYOOM, FAST], acl![LIST], rpush).keys(1, 1, 1),
    CommandSpec::new("lpushx", -3, flags![WRITE, DENYOOM, FAST], acl![LIST], lpushx).keys(1, 1, 1),
    CommandSpec::new("rpushx", -3, flags![WRITE, DENYOOM, FAST], acl![LIST], rpushx).keys(1, 1, 1),
    CommandSpec::new("lpop", -2, flags![WRITE, FAST], acl![LIST], lpop).keys(1, 1, 1),
    CommandSpec::new("rpop", -2, flags![WRITE, FAST], acl![LIST], rpop).keys(1, 1, 1),
    CommandSpec::new("llen", 2, flags![READONLY, FAST], acl![LIST], llen).keys(1, 1, 1),
    CommandSpec::new("lrange", 4, flags![READONLY], acl![LIST], lrange).keys(1, 1, 1),
    CommandSpec::new("lindex", 3, flags![READONLY], acl![LIST], lindex).keys(1, 1, 1),
    CommandSpec::new("lset", 4, flags![WRITE, DENYOOM], acl![LIST], lset).keys(1, 1, 1),
    CommandSpec::new("linsert", 5, flags![WRITE, DENYOOM], acl![LIST], linsert).keys(1, 1, 1),
    CommandSpec::new("lrem", 4, flags![WRITE], acl![LIST], lrem).keys(1, 1, 1),
    CommandSpec::new("ltrim", 4, flags![WRITE], acl![LIST], ltrim).keys(1, 1, 1),
    CommandSpec::new("lpos", -3, flags![READONLY], acl![LIST], lpos).keys(1, 1, 1),
    CommandSpec::new("lmove", 5, flags![WRITE, DENYOOM], acl![LIST], lmove).keys(1, 2, 1),
    CommandSpec::new("rpoplpush", 3, flags![WRITE, DENYOOM], acl![LIST], rpoplpush).keys(1, 2, 1),
    CommandSpec::new("lmpop", -4, flags![WRITE, MOVABLEKEYS], acl![LIST], lmpop),
    CommandSpec::new("blpop", -3, flags![WRITE, NOSCRIPT, BLOCKING], acl![LIST], blpop).keys(1, -2, 1),
    CommandSpec::new("brpop", -3, flags![WRITE, NOSCRIPT, BLOCKING], acl![LIST], brpop).keys(1, -2, 1),
    CommandSpec::new("blmove", 6, flags![WRITE, DENYOOM, NOSCRIPT, BLOCKING], acl![LIST], blmove).keys(1, 2, 1),
    CommandSpec::new("brpoplpush", 4, flags![WRITE, DENYOOM, NOSCRIPT, BLOCKING], acl![LIST], brpoplpush).keys(1, 2, 1),
    CommandSpec::new("blmpop", -5, flags![WRITE, BLOCKING, MOVABLEKEYS], acl![LIST], blmpop),
];

/// Error replies only list commands send, byte for byte as Redis 7.0 sends them.
mod list_err {
    pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
    pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
    pub const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
    pub const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
}

/// Which end of a list an operation works on (Redis's `LIST_HEAD` / `LIST_TAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// LEFT or RIGHT, compared as C strings the way Redis's `strcasecmp` sees them.
    fn parse(arg: &[u8]) -> Result<End, Reply> {
        if c_is(arg, "left") {
            Ok(End::Left)
        } else if c_is(arg, "right") {
            Ok(End::Right)
        } else {
            Err(Reply::error(err::SYNTAX))
        }
    }

    fn pop(self, list: &mut List) -> Option<Bytes> {
        match self {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        }
    }

    fn push(self, list: &mut List, value: Bytes) {
        match self {
            End::Left => list.push_front(value),
            End::Right => list.push_back(value),
        }
    }

    /// The keyspace event of a push at this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    /// The keyspace event of a pop at this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

impl From<End> for ListEnd {
    fn from(end: End) -> ListEnd {
        match end {
            End::Left => ListEnd::Front,
            End::Right => ListEnd::Back,
        }
    }
}

/// The list at `key` for a read command (counts a keyspace hit or miss).
fn read_list<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d VecDeque<Bytes>>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_list().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Whether `key` holds a list, for a write command: `Ok(false)` when absent.
fn check_list(db: &mut Db, key: &[u8], now: u64) -> Result<bool, Reply> {
    match db.entry(key, now) {
        None => Ok(false),
        Some(e) if e.value.as_list().is_some() => Ok(true),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

/// The list at `key`, which the caller checked exists, for changing (journals the key).
fn list_mut<'d>(db: &'d mut Db, key: &[u8], now: u64) -> &'d mut VecDeque<Bytes> {
    db.value_mut(key, now)
        .and_then(Value::as_list_mut)
        .expect("checked to be a list")
}

/// The list at `key`, which the caller checked exists, for `pushes` pushes and up to `pops`
/// pops at `end` (journals only the element ids those touch).
fn list_ends_mut<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
    end: End,
    pushes: usize,
    pops: usize,
) -> &'d mut List {
    db.list_ends_mut(key, now, end.into(), pushes, pops)
        .expect("checked to be a list")
}

/// Deletes `key` if its list is now empty, as every command that removes elements does
/// (after raising its own event: `del` follows it).
fn delete_if_empty(db: &mut Db, key: &[u8]) {
    if db
        .peek(key)
        .and_then(|e| e.value.as_list())
        .is_some_and(VecDeque::is_empty)
    {
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
    }
}

/// Pops `count` elements (or as many as there are) from the list at `key`, which exists.
fn pop_many(db: &mut Db, key: &[u8], end: End, count: usize, now: u64) -> Vec<Bytes> {
    let list = list_ends_mut(db, key, now, end, 0, count);
    let n = count.min(list.len());
    let popped = (0..n).filter_map(|_| end.pop(list)).collect();
    db.notify(notify::LIST, end.pop_event(), key);
    delete_if_empty(db, key);
    popped
}

/// `Reply::Array` of bulk strings.
fn bulks(items: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(push(ctx, args, End::Left, false))
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(push(ctx, args, End::Right, false))
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(push(ctx, args, End::Left, true))
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(push(ctx, args, End::Right, true))
}

/// The push family; `xx` pushes only onto an existing list. Replies with the new length.
fn push(ctx: &mut Ctx, args: &[Bytes], end: End, xx: bool) -> Reply {
    let key = &args[1];
    let now = ctx.now;
    let db = ctx.db();
    let exists = match check_list(db, key, now) {
        Ok(exists) => exists,
        Err(e) => return e,
    };
    if !exists {
        if xx {
            return Reply::Integer(0);
        }
        let mut list = List::new(VecDeque::with_capacity(args.len() - 2));
        args[2..]
            .iter()
            .for_each(|v| end.push(&mut list, own(v.clone())));
        let len = list.len();
        db.insert(key.clone(), Value::List(Arc::new(list)), None);
        db.notify(notify::LIST, end.push_event(), key);
        return Reply::Integer(len as i64);
    }
    let list = list_ends_mut(db, key, now, end, args.len() - 2, 0);
    args[2..]
        .iter()
        .for_each(|v| end.push(list, own(v.clone())));
    let len = list.len();
    db.notify(notify::LIST, end.push_event(), key);
    Reply::Integer(len as i64)
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    pop(ctx, args, End::Left)
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    pop(ctx, args, End::Right)
}

/// LPOP / RPOP: one element as a bulk string, or with a count an array of up to that many.
fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> Result<Reply, Reply> {
    if args.len() > 3 {
        return Err(arity(&args[0]));
    }
    let count = match args.get(2) {
        Some(arg) => Some(positive(arg, list_err::MUST_BE_POSITIVE)?),
        None => None,
    };
    let key = &args[1];
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, key, now)? {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    Ok(match count {
        None => Reply::Bulk(pop_many(db, key, end, 1, now).remove(0)),
        Some(0) => Reply::Array(Vec::new()),
        Some(n) => bulks(pop_many(db, key, end, n as usize, now)),
    })
}

/// The error for a wrong number of arguments that the handler detects itself.
fn arity(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        String::from_utf8_lossy(name).to_ascii_lowercase()
    ))
}

/// Redis's `getRangeLongFromObjectOrReply(0, LONG_MAX, msg)`: `msg` for anything else.
fn positive(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    crate::number::parse_i64(arg)
        .filter(|n| *n >= 0)
        .ok_or(Reply::error(msg))
}

/// LLEN key
fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read_list(ctx.db(), &args[1], now).map(|l| Reply::Integer(l.map_or(0, |l| l.len() as i64)))
}

/// Clamps Redis-style inclusive `start..=end` indexes (negative from the end) to a list of
/// `len` elements; `None` when the range is empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    let now = ctx.now;
    let Some(list) = read_list(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match clamp_range(start, end, list.len()) {
        None => Reply::Array(Vec::new()),
        Some((from, to)) => Reply::bulk_array(list.range(from..=to)),
    })
}

/// A list index (negative from the end) as a position, if inside a list of `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index: the key is looked up before the index is parsed, as in Redis.
fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let Some(list) = read_list(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Nil);
    };
    let index = int_arg(&args[2])?;
    Ok(Reply::opt_bulk(
        position(index, list.len()).map(|i| list[i].clone()),
    ))
}

/// LSET key index element
fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let key = &args[1];
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, key, now)? {
        return Err(Reply::error(err::NO_SUCH_KEY));
    }
    let index = int_arg(&args[2])?;
    let len = db
        .peek(key)
        .and_then(|e| e.value.as_list())
        .map_or(0, VecDeque::len);
    let i = position(index, len).ok_or(Reply::error(list_err::INDEX_OUT_OF_RANGE))?;
    *db.list_element_mut(key, now, i).expect("checked") = own(args[3].clone());
    db.notify(notify::LIST, "lset", key);
    Ok(Reply::Ok)
}

/// LINSERT key BEFORE|AFTER pivot element: -1 when the pivot is not found.
fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let after = if c_is(&args[2], "after") {
        true
    } else if c_is(&args[2], "before") {
        false
    } else {
        return Err(Reply::error(err::SYNTAX));
    };
    let key = &args[1];
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, key, now)? {
        return Ok(Reply::Integer(0));
    }
    let list = db
        .peek(key)
        .and_then(|e| e.value.as_list())
        .expect("checked");
    let Some(at) = list.iter().position(|e| *e == args[3]) else {
        return Ok(Reply::Integer(-1));
    };
    let list = list_mut(db, key, now);
    list.insert(at + usize::from(after), own(args[4].clone()));
    let len = list.len();
    db.notify(notify::LIST, "linsert", key);
    Ok(Reply::Integer(len as i64))
}

/// LREM key count element: count > 0 from the head, < 0 from the tail, 0 all.
fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let count = int_arg(&args[2])?;
    let (key, element) = (&args[1], &args[3]);
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, key, now)? {
        return Ok(Reply::Integer(0));
    }
    let list = db
        .peek(key)
        .and_then(|e| e.value.as_list())
        .expect("checked");
    if !list.contains(element) {
        return Ok(Reply::Integer(0));
    }
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let list = list_mut(db, key, now);
    let mut removed = 0u64;
    let mut kept: VecDeque<Bytes> = VecDeque::with_capacity(list.len());
    let mut take = |item: Bytes, kept: &mut VecDeque<Bytes>, front: bool| {
        if removed < limit && item == *element {
            removed += 1;
        } else if front {
            kept.push_front(item);
        } else {
            kept.push_back(item);
        }
    };
    if count < 0 {
        while let Some(item) = list.pop_back() {
            take(item, &mut kept, true);
        }
    } else {
        while let Some(item) = list.pop_front() {
            take(item, &mut kept, false);
        }
    }
    *list = kept;
    db.notify(notify::LIST, "lrem", key);
    delete_if_empty(db, key);
    Ok(Reply::Integer(removed as i64))
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    let key = &args[1];
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, key, now)? {
        return Ok(Reply::Ok);
    }
    let len = db
        .peek(key)
        .and_then(|e| e.value.as_list())
        .map_or(0, VecDeque::len);
    let Some((from, to)) = clamp_range(start, end, len) else {
        db.remove(key);
        db.notify(notify::LIST, "ltrim", key);
        db.notify(notify::GENERIC, "del", key);
        return Ok(Reply::Ok);
    };
    // Trimming is popping from both ends: the remaining elements keep their ids.
    let (front, back) = (from, len - 1 - to);
    list_ends_mut(db, key, now, End::Left, 0, front);
    let list = list_ends_mut(db, key, now, End::Right, 0, back);
    list.items_mut().truncate(to + 1);
    for _ in 0..front {
        list.pop_front();
    }
    db.notify(notify::LIST, "ltrim", key);
    delete_if_empty(db, key);
    Ok(Reply::Ok)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if c_is(&args[i], "rank") && more {
            rank = int_arg(&args[i + 1])?;
            if rank == 0 {
                return Err(Reply::error(list_err::RANK_ZERO));
            }
        } else if c_is(&args[i], "count") && more {
            count = Some(positive(&args[i + 1], list_err::COUNT_NEGATIVE)?);
        } else if c_is(&args[i], "maxlen") && more {
            maxlen = positive(&args[i + 1], list_err::MAXLEN_NEGATIVE)?;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 2;
    }
    // As in C, negating LONG_MIN leaves it negative: it then matches from the first hit.
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let now = ctx.now;
    let Some(list) = read_list(ctx.db(), &args[1], now)? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let len = list.len();
    let scan = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as usize)
    };
    let mut matches = 0i64;
    let mut found = Vec::new();
    for step in 0..scan {
        let index = if from_tail { len - 1 - step } else { step };
        if list[index] != args[2] {
            continue;
        }
        matches += 1;
        if matches >= rank {
            match count {
                None => return Ok(Reply::Integer(index as i64)),
                Some(c) => {
                    found.push(Reply::Integer(index as i64));
                    if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c {
                        break;
                    }
                }
            }
        }
    }
    Ok(match count {
        None => Reply::Nil,
        Some(_) => Reply::Array(found),
    })
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (from, to) = (End::parse(&args[3])?, End::parse(&args[4])?);
    move_or_nil(ctx, args, from, to)
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    move_or_nil(ctx, args, End::Right, End::Left)
}

/// LMOVE's body: nil when the source is absent.
fn move_or_nil(ctx: &mut Ctx, args: &[Bytes], from: End, to: End) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    if !check_list(db, &args[1], now)? {
        return Ok(Reply::Nil);
    }
    move_element(db, &args[1], &args[2], from, to, now).map(Reply::Bulk)
}

/// Moves one element from the list at `src` (which exists) to `dst`, creating it if needed.
fn move_element(
    db: &mut Db,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
    now: u64,
) -> Result<Bytes, Reply> {
    check_list(db, dst, now)?;
    if src == dst {
        // Journal both ends before either changes.
        list_ends_mut(db, src, now, to, 1, 0);
    }
    let list = list_ends_mut(db, src, now, from, 0, 1);
    let value = from.pop(list).expect("lists are never empty");
    if src == dst {
        to.push(list, value.clone());
    } else {
        match db.list_ends_mut(dst, now, to.into(), 1, 0) {
            Some(target) => to.push(target, value.clone()),
            None => {
                db.insert(dst.clone(), Value::list([value.clone()].into()), None);
            }
        }
    }
    // Redis's order: the push, then the pop.
    db.notify(notify::LIST, to.push_event(), dst);
    db.notify(notify::LIST, from.pop_event(), src);
    delete_if_empty(db, src);
    Ok(value)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mpop = MultiPop::parse(args, 1, End::parse)?;
    let now = ctx.now;
    let db = ctx.db();
    Ok(first_pop(db, mpop.keys, mpop.side, Some(mpop.count), now)?.unwrap_or(Reply::NilArray))
}

/// Pops from the first of `keys` holding a list: `[key, element]`, or with a count
/// `[key, [elements]]`. `None` when none holds one; WRONGTYPE stops the search.
fn first_pop(
    db: &mut Db,
    keys: &[Bytes],
    end: End,
    count: Option<usize>,
    now: u64,
) -> Result<Option<Reply>, Reply> {
    for key in keys {
        if check_list(db, key, now)? {
            return Ok(Some(pop_reply(db, key, end, count, now)));
        }
    }
    Ok(None)
}

/// Pops from the list at `key` (which exists) and builds the blocking family's reply.
fn pop_reply(db: &mut Db, key: &Bytes, end: End, count: Option<usize>, now: u64) -> Reply {
    let head = Reply::Bulk(key.clone());
    match count {
        None => {
            let value = pop_many(db, key, end, 1, now).remove(0);
            Reply::Array(vec![head, Reply::Bulk(value)])
        }
        Some(n) => Reply::Array(vec![head, bulks(pop_many(db, key, end, n, now))]),
    }
}

/// Whether `key` holds a list now: what a blocked client needs before it can be served.
fn holds_list(db: &mut Db, key: &[u8], now: u64) -> bool {
    db.entry(key, now)
        .is_some_and(|e| e.value.as_list().is_some())
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    blocking_pop(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    blocking_pop(ctx, args, End::Right)
}

fn blocking_pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> Result<Reply, Reply> {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    let now = ctx.now;
    if let Some(reply) = first_pop(ctx.db(), keys, end, None, now)? {
        return Ok(reply);
    }
    if ctx.in_multi() {
        return Ok(Reply::NilArray);
    }
    Ok(ctx.block(keys, timeout, args, serve_blocking_pop))
}

/// Serves a blocked BLPOP / BRPOP from `key`.
fn serve_blocking_pop(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    let end = if c_is(&args[0], "blpop") {
        End::Left
    } else {
        End::Right
    };
    holds_list(db, key, now).then(|| pop_reply(db, key, end, None, now))
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: the timeout is checked
/// after the rest, as in Redis.
fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mpop = MultiPop::parse(args, 2, End::parse)?;
    let timeout = parse_timeout(&args[1])?;
    let now = ctx.now;
    if let Some(reply) = first_pop(ctx.db(), mpop.keys, mpop.side, Some(mpop.count), now)? {
        return Ok(reply);
    }
    if ctx.in_multi() {
        return Ok(Reply::NilArray);
    }
    Ok(ctx.block(mpop.keys, timeout, args, serve_blocking_mpop))
}

/// Serves a blocked BLMPOP from `key`.
fn serve_blocking_mpop(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    let mpop = MultiPop::parse(args, 2, End::parse).ok()?;
    holds_list(db, key, now).then(|| pop_reply(db, key, mpop.side, Some(mpop.count), now))
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (from, to) = (End::parse(&args[3])?, End::parse(&args[4])?);
    let timeout = parse_timeout(&args[5])?;
    blocking_move(ctx, args, from, to, timeout)
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    parse_timeout(&args[3]).and_then(|t| blocking_move(ctx, args, End::Right, End::Left, t))
}

fn blocking_move(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: u64,
) -> Result<Reply, Reply> {
    let now = ctx.now;
    if check_list(ctx.db(), &args[1], now)? {
        return move_element(ctx.db(), &args[1], &args[2], from, to, now).map(Reply::Bulk);
    }
    if ctx.in_multi() {
        return Ok(Reply::Nil);
    }
    Ok(ctx.block(&args[1..2], timeout, args, serve_blocking_move))
}

/// Serves a blocked BLMOVE / BRPOPLPUSH from its source `key`. A destination of another
/// type releases the client with WRONGTYPE, as Redis does.
fn serve_blocking_move(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    if !holds_list(db, key, now) {
        return None;
    }
    let (from, to) = if args.len() == 6 {
        (End::parse(&args[3]).ok()?, End::parse(&args[4]).ok()?)
    } else {
        (End::Right, End::Left)
    };
    Some(move_element(db, key, &args[2], from, to, now).map_or_else(|e| e, Reply::Bulk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn positions_count_from_either_end() {
        assert_eq!(position(0, 3), Some(0));
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(3, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
    }
}
