//! Sorted set commands: ZADD and friends, the range family (ZRANGE with BYSCORE / BYLEX / REV /
//! LIMIT and its older spellings, ZRANGESTORE, ZREMRANGEBY*), pops (blocking ones through
//! `blocking.rs`, with [`zpop`] as their retry), ZUNION / ZINTER / ZDIFF and their STORE forms
//! (plain sets count as members scored 1), ZRANDMEMBER and ZSCAN, following Redis 7.0.15's
//! `t_zset.c`.
//!
//! Argument checks run in Redis's order (options, then ranges, then the key lookup and its type
//! check), because that order decides which error a client sees. Score ranges are read with C's
//! `strtod` as Redis's `zslParseRange` does ([`number::parse_strtod`]), scores themselves with
//! `string2d` ([`number::parse_f64`]). Keys left empty are deleted.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;

use super::args::{c_is, err, int_arg, MultiPop};
use super::blocking::parse_timeout;
use super::collection::{scan_cursor, scan_reply, ScanOptions};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::zset::{Item, ListpackLimits, ZSet};
use crate::keyspace::{Db, Set, Value};
use crate::number;
use crate::protocol::Reply;
use crate::state::notify;

type Hasher = foldhash::fast::RandomState;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, flags![WRITE, DENYOOM, FAST], acl![SORTEDSET], zadd).keys(1, 1, 1),
    CommandSpec::new("zincrby", 4, flags![WRITE, DENYOOM, FAST], acl![SORTEDSET], zincrby).keys(1, 1, 1),
    CommandSpec::new("zrem", -3, flags![WRITE, FAST], acl![SORTEDSET], zrem).keys(1, 1, 1),
    CommandSpec::new("zcard", 2, flags![READONLY, FAST], acl![SORTEDSET], zcard).keys(1, 1, 1),
    CommandSpec::new("zcount", 4, flags![READONLY, FAST], acl![SORTEDSET], zcount).keys(1, 1, 1),
    CommandSpec::new("zlexcount", 4, flags![READONLY, FAST], acl![SORTEDSET], zlexcount).keys(1, 1, 1),
    CommandSpec::new("zscore", 3, flags![READONLY, FAST], acl![SORTEDSET], zscore).keys(1, 1, 1),
    CommandSpec::new("zmscore", -3, flags![READONLY, FAST], acl![SORTEDSET], zmscore).keys(1, 1, 1),
    CommandSpec::new("zrank", 3, flags![READONLY, FAST], acl![SORTEDSET], zrank).keys(1, 1, 1),
    CommandSpec::new("zrevrank", 3, flags![READONLY, FAST], acl![SORTEDSET], zrevrank).keys(1, 1, 1),
    CommandSpec::new("zrange", -4, flags![READONLY], acl![SORTEDSET], zrange).keys(1, 1, 1),
    CommandSpec::new("zrangestore", -5, flags![WRITE, DENYOOM], acl![SORTEDSET], zrangestore).keys(1, 2, 1),
    CommandSpec::new("zrangebyscore", -4, flags![READONLY], acl![SORTEDSET], zrangebyscore).keys(1, 1, 1),
    CommandSpec::new("zrevrangebyscore", -4, flags![READONLY], acl![SORTEDSET], zrevrangebyscore).keys(1, 1, 1),
    CommandSpec::new("zrangebylex", -4, flags![READONLY], acl![SORTEDSET], zrangebylex).keys(1, 1, 1),
    CommandSpec::new("zrevrangebylex", -4, flags![READONLY], acl![SORTEDSET], zrevrangebylex).keys(1, 1, 1),
    CommandSpec::new("zrevrange", -4, flags![READONLY], acl![SORTEDSET], zrevrange).keys(1, 1, 1),
    CommandSpec::new("zremrangebyrank", 4, flags![WRITE], acl![SORTEDSET], zremrangebyrank).keys(1, 1, 1),
    CommandSpec::new("zremrangebyscore", 4, flags![WRITE], acl![SORTEDSET], zremrangebyscore).keys(1, 1, 1),
    CommandSpec::new("zremrangebylex", 4, flags![WRITE], acl![SORTEDSET], zremrangebylex).keys(1, 1, 1),
    CommandSpec::new("zpopmin", -2, flags![WRITE, FAST], acl![SORTEDSET], zpopmin).keys(1, 1, 1),
    CommandSpec::new("zpopmax", -2, flags![WRITE, FAST], acl![SORTEDSET], zpopmax).keys(1, 1, 1),
    CommandSpec::new("zmpop", -4, flags![WRITE, MOVABLEKEYS], acl![SORTEDSET], zmpop),
    CommandSpec::new("bzpopmin", -3, flags![WRITE, NOSCRIPT, BLOCKING, FAST], acl![SORTEDSET], bzpopmin).keys(1, -2, 1),
    CommandSpec::new("bzpopmax", -3, flags![WRITE, NOSCRIPT, BLOCKING, FAST], acl![SORTEDSET], bzpopmax).keys(1, -2, 1),
    CommandSpec::new("bzmpop", -5, flags![WRITE, BLOCKING, MOVABLEKEYS], acl![SORTEDSET], bzmpop),
    CommandSpec::new("zunion", -3, flags![READONLY, MOVABLEKEYS], acl![SORTEDSET], zunion),
    CommandSpec::new("zinter", -3, flags![READONLY, MOVABLEKEYS], acl![SORTEDSET], zinter),
    CommandSpec::new("zdiff", -3, flags![READONLY, MOVABLEKEYS], acl![SORTEDSET], zdiff),
    CommandSpec::new("zunionstore", -4, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![SORTEDSET], zunionstore).keys(1, 1, 1),
    CommandSpec::new("zinterstore", -4, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![SORTEDSET], zinterstore).keys(1, 1, 1),
    CommandSpec::new("zdiffstore", -4, flags![WRITE, DENYOOM, MOVABLEKEYS], acl![SORTEDSET], zdiffstore).keys(1, 1, 1),
    CommandSpec::new("zintercard", -3, flags![READONLY, MOVABLEKEYS], acl![SORTEDSET], zintercard),
    CommandSpec::new("zrandmember", -2, flags![READONLY], acl![SORTEDSET], zrandmember).keys(1, 1, 1),
    CommandSpec::new("zscan", -3, flags![READONLY], acl![SORTEDSET], zscan).keys(1, 1, 1),
];

/// Errors of this family, byte for byte as Redis 7.0.15 sends them.
mod zerr {
    pub const NAN: &str = "ERR resulting score is not a number (NaN)";
    pub const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
    pub const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
    pub const INCR_PAIRS: &str = "ERR INCR option supports a single increment-element pair";
    pub const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
    pub const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
    pub const LIMIT_WITH_RANK: &str =
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
    pub const WITHSCORES_WITH_LEX: &str =
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
    pub const WEIGHT: &str = "ERR weight value is not a float";
    pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
    pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const OUT_OF_RANGE: &str = "ERR value is out of range";
    pub const RANDMEMBER_COUNT: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
}

/// ZRANDMEMBER with a negative count repeats members; Redis streams any number of them, kvstore
/// builds the reply in memory, so it refuses more than this many.
const MAX_RANDOM_REPEATS: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// Lookups and replies
// ---------------------------------------------------------------------------

/// The current `zset-max-listpack-*` settings.
fn limits(ctx: &Ctx) -> ListpackLimits {
    ctx.shared.limits().zset()
}

/// The sorted set at `key` for a read command (counts a hit or miss).
fn read<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d ZSet>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_zset().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Whether a sorted set lives at `key`, for a write command (no hit/miss counted, as Redis's
/// `lookupKeyWrite`); another type is WRONGTYPE.
fn exists_for_write(db: &mut Db, key: &[u8], now: u64) -> Result<bool, Reply> {
    match db.entry(key, now) {
        None => Ok(false),
        Some(e) if e.value.as_zset().is_some() => Ok(true),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

/// The sorted set at `key` for writing; the caller checked it exists and changes no member
/// but `members` (journaled; more can follow through `Db::touch_elements`).
fn write<'d, 'a>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
    members: impl IntoIterator<Item = &'a Bytes>,
) -> &'d mut ZSet {
    db.value_mut_elements(key, now, members)
        .and_then(Value::as_zset_mut)
        .expect("checked to be a sorted set")
}

/// Deletes `key` if its sorted set became empty, as Redis deletes empty aggregates (after
/// the command's own event: `del` follows it).
fn delete_if_empty(db: &mut Db, key: &[u8]) {
    if db
        .peek(key)
        .and_then(|e| e.value.as_zset())
        .is_some_and(ZSet::is_empty)
    {
        db.remove(key);
        db.notify(notify::GENERIC, "del", key);
    }
}

/// Stores a command's result set at `dst` (dropping any TTL) or deletes `dst` when the result is
/// empty; replies with the result's size.
/// `event` is the keyspace event of a non-empty result.
fn store(db: &mut Db, dst: &Bytes, z: ZSet, now: u64, event: &'static str) -> Reply {
    if z.is_empty() {
        if db.delete(dst, now) {
            db.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Integer(0);
    }
    let len = z.len() as i64;
    db.insert(dst.clone(), Value::ZSet(Arc::new(z)), None);
    db.notify(notify::ZSET, event, dst);
    Reply::Integer(len)
}

/// Members, with scores when asked: flat pairs in RESP2, `[member, score]` arrays in RESP3.
fn items_reply<'a>(items: impl Iterator<Item = &'a Item>, withscores: bool, resp: u8) -> Reply {
    let mut out = Vec::new();
    for (score, member) in items {
        if !withscores {
            out.push(Reply::Bulk(member.clone()));
        } else if resp >= 3 {
            out.push(Reply::Array(vec![
                Reply::Bulk(member.clone()),
                Reply::Double(*score),
            ]));
        } else {
            out.push(Reply::Bulk(member.clone()));
            out.push(Reply::Double(*score));
        }
    }
    Reply::Array(out)
}

/// `getRangeLongFromObjectOrReply` with a message: a non-integer or a value out of
/// `min..=max` both get `msg`.
fn ranged_int(arg: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, Reply> {
    match number::parse_i64(arg) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Reply::error(msg)),
    }
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

/// A score interval, `(` making an end exclusive (Redis's `zrangespec`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ScoreRange {
    min: f64,
    max: f64,
    min_ex: bool,
    max_ex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
        fn bound(arg: &[u8]) -> Option<(f64, bool)> {
            match arg.split_first() {
                Some((b'(', rest)) => number::parse_strtod(rest).map(|v| (v, true)),
                _ => number::parse_strtod(arg).map(|v| (v, false)),
            }
        }
        match (bound(min), bound(max)) {
            (Some((min, min_ex)), Some((max, max_ex))) => Ok(ScoreRange {
                min,
                max,
                min_ex,
                max_ex,
            }),
            _ => Err(Reply::error(zerr::NOT_FLOAT_RANGE)),
        }
    }

    /// The ranks `lo..hi` of the members in range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.partition_point(|x| {
            if self.min_ex {
                x.0 <= self.min
            } else {
                x.0 < self.min
            }
        });
        let hi = z.partition_point(|x| {
            if self.max_ex {
                x.0 < self.max
            } else {
                x.0 <= self.max
            }
        });
        (lo, hi.max(lo))
    }
}

/// One end of a lexicographic interval (Redis's `zslParseLexRangeItem`).
#[derive(Debug, Clone, PartialEq)]
enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[member`
    Inclusive(Bytes),
    /// `(member`
    Exclusive(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Option<LexBound> {
        let alone = arg.get(1).map_or(true, |&c| c == 0);
        match arg.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
            b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
            _ => None,
        }
    }
}

/// A lexicographic interval; meaningful when all scores are equal, as in Redis.
#[derive(Debug, Clone, PartialEq)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Reply::error(zerr::NOT_LEX_RANGE)),
        }
    }

    /// Redis's `zslLexValueGteMin`.
    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(v) => m >= &v[..],
            LexBound::Exclusive(v) => m > &v[..],
        }
    }

    /// Redis's `zslLexValueLteMax`.
    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(v) => m <= &v[..],
            LexBound::Exclusive(v) => m < &v[..],
        }
    }

    /// Ranges that can hold nothing: min above max, or equal with an exclusive end
    /// (`-` and `+` count as exclusive, as in Redis).
    fn always_empty(&self) -> bool {
        fn key(b: &LexBound) -> (u8, &[u8], bool) {
            match b {
                LexBound::Min => (0, &[], true),
                LexBound::Max => (2, &[], true),
                LexBound::Inclusive(v) => (1, v, false),
                LexBound::Exclusive(v) => (1, v, true),
            }
        }
        let (a, b) = (key(&self.min), key(&self.max));
        match (a.0, a.1).cmp(&(b.0, b.1)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => a.2 || b.2,
            std::cmp::Ordering::Less => false,
        }
    }

    /// Where a listpack-encoded set's walk starts, as `zzlFirstInLexRange` (or, `reverse`,
    /// `zzlLastInLexRange`) finds it. The walk is what defines the result when scores differ.
    fn listpack_start(&self, z: &ZSet, reverse: bool) -> Option<usize> {
        let (first, last) = (z.get(0)?, z.get(z.len() - 1)?);
        if self.always_empty() || !self.gte_min(&last.1) || !self.lte_max(&first.1) {
            return None;
        }
        if reverse {
            let (r, item) = (0..z.len())
                .rev()
                .zip(z.iter_rev_from(z.len() - 1))
                .find(|(_, x)| self.lte_max(&x.1))?;
            self.gte_min(&item.1).then_some(r)
        } else {
            let (r, item) = z.iter().enumerate().find(|(_, x)| self.gte_min(&x.1))?;
            self.lte_max(&item.1).then_some(r)
        }
    }

    /// The ranks `lo..hi` of the members in range, walking forwards from the first one.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if z.is_listpack() {
            return self.listpack_start(z, false).map_or((0, 0), |lo| {
                let n = z.iter_from(lo).take_while(|x| self.lte_max(&x.1)).count();
                (lo, lo + n)
            });
        }
        let lo = z.partition_point(|(_, m)| !self.gte_min(m));
        let hi = z.partition_point(|(_, m)| self.lte_max(m));
        (lo, hi.max(lo))
    }

    /// ZRANGE BYLEX with LIMIT on a listpack-encoded set, walked as Redis walks it: from the
    /// start, skip `offset` members unchecked, then take members while in range.
    fn listpack_walk(&self, z: &ZSet, offset: i64, limit: i64, reverse: bool) -> (usize, usize) {
        let Some(start) = self.listpack_start(z, reverse) else {
            return (0, 0);
        };
        let Ok(offset) = usize::try_from(offset) else {
            return (0, 0);
        };
        let first = if reverse {
            start.checked_sub(offset)
        } else {
            Some(start + offset).filter(|&r| r < z.len())
        };
        let Some(first) = first else { return (0, 0) };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let count = if reverse {
            z.iter_rev_from(first)
                .take(limit)
                .take_while(|x| self.gte_min(&x.1))
                .count()
        } else {
            z.iter_from(first)
                .take(limit)
                .take_while(|x| self.lte_max(&x.1))
                .count()
        };
        (first, count)
    }
}

/// Ranks `start..=end` after Redis's index sanitizing (negative from the end), or `None` when
/// the range is empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    end = end.min(len - 1);
    Some((start as usize, end as usize))
}

// ---------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM, reads of single members
// ---------------------------------------------------------------------------

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zadd_generic(ctx, args, false)
}

/// ZINCRBY key increment member: ZADD's code with INCR set, options parsing included (so
/// `ZINCRBY key nx member` is a syntax error, as in Redis).
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zadd_generic(ctx, args, true)
}

fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut incr: bool) -> Result<Reply, Reply> {
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let opt = &args[i];
        if c_is(opt, "nx") {
            nx = true;
        } else if c_is(opt, "xx") {
            xx = true;
        } else if c_is(opt, "ch") {
            ch = true;
        } else if c_is(opt, "incr") {
            incr = true;
        } else if c_is(opt, "gt") {
            gt = true;
        } else if c_is(opt, "lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(Reply::error(err::SYNTAX));
    }
    if nx && xx {
        return Err(Reply::error(zerr::XX_AND_NX));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Reply::error(zerr::GT_LT_NX));
    }
    if incr && pairs.len() > 2 {
        return Err(Reply::error(zerr::INCR_PAIRS));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| number::parse_f64(&p[0]).ok_or(Reply::error(err::NOT_FLOAT)))
        .collect::<Result<Vec<f64>, Reply>>()?;

    let key = &args[1];
    let (now, limits) = (ctx.now, limits(ctx));
    let db = ctx.db();
    let exists = exists_for_write(db, key, now)?;
    if !exists && xx {
        return Ok(if incr { Reply::Nil } else { Reply::Integer(0) });
    }
    // Plan on the current state first, so that a ZADD that changes nothing writes nothing
    // (WATCH and persistence see no change, as in Redis); `planned` holds this command's
    // earlier changes for members given twice.
    let view = db.peek(key).and_then(|e| e.value.as_zset());
    let mut planned: HashMap<&[u8], f64, Hasher> = HashMap::default();
    let mut changes: Vec<(&Bytes, f64)> = Vec::new();
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut last = 0.0;
    let mut nan = false;
    for (&score, pair) in scores.iter().zip(pairs.chunks(2)) {
        let member = &pair[1];
        let current = planned
            .get(&member[..])
            .copied()
            .or_else(|| view.and_then(|z| z.score(member)));
        match current {
            Some(_) if nx => {}
            Some(current) => {
                let score = if incr { score + current } else { score };
                if score.is_nan() {
                    nan = true; // what came before stays done, as in Redis
                    break;
                }
                if (lt && score >= current) || (gt && score <= current) {
                    continue;
                }
                processed += 1;
                last = score;
                if score != current {
                    changes.push((member, score));
                    planned.insert(member, score);
                    updated += 1;
                }
            }
            None if xx => {}
            None => {
                changes.push((member, score));
                planned.insert(member, score);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    if !changes.is_empty() {
        if !exists {
            let z = ZSet::for_first_member(pairs[1].len(), limits);
            db.insert(key.clone(), Value::ZSet(Arc::new(z)), None);
        }
        let z = write(db, key, now, changes.iter().map(|(m, _)| *m));
        for (member, score) in changes {
            z.insert(member.clone(), score, limits);
        }
        if added + updated > 0 {
            db.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, key);
        }
    }
    if nan {
        return Err(Reply::error(zerr::NAN));
    }
    Ok(if incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Integer(if ch { added + updated } else { added })
    })
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (key, now) = (&args[1], ctx.now);
    let db = ctx.db();
    if !exists_for_write(db, key, now)? {
        return Ok(Reply::Integer(0));
    }
    let present = |m: &Bytes| {
        db.peek(key)
            .and_then(|e| e.value.as_zset())
            .is_some_and(|z| z.score(m).is_some())
    };
    if !args[2..].iter().any(present) {
        return Ok(Reply::Integer(0)); // nothing to write
    }
    let z = write(db, key, now, &args[2..]);
    let mut deleted = 0;
    for member in &args[2..] {
        deleted += z.remove(member).is_some() as i64;
        if z.is_empty() {
            break;
        }
    }
    db.notify(notify::ZSET, "zrem", key);
    delete_if_empty(db, key);
    Ok(Reply::Integer(deleted))
}

/// ZCARD key
fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|z| Reply::Integer(z.map_or(0, |z| z.len() as i64)))
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|z| {
        z.and_then(|z| z.score(&args[2]))
            .map_or(Reply::Nil, Reply::Double)
    })
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|z| {
        Reply::Array(
            args[2..]
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
                .collect(),
        )
    })
}

/// ZRANK key member
fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    rank(ctx, args, false)
}

/// ZREVRANK key member
fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    rank(ctx, args, true)
}

fn rank(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> Result<Reply, Reply> {
    let now = ctx.now;
    read(ctx.db(), &args[1], now).map(|z| {
        let Some(z) = z else { return Reply::Nil };
        z.rank(&args[2]).map_or(Reply::Nil, |r| {
            Reply::Integer(if reverse { z.len() - 1 - r } else { r } as i64)
        })
    })
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    ScoreRange::parse(&args[2], &args[3]).and_then(|range| {
        let now = ctx.now;
        let z = read(ctx.db(), &args[1], now)?;
        Ok(Reply::Integer(z.map_or(0, |z| {
            let (lo, hi) = range.ranks(z);
            (hi - lo) as i64
        })))
    })
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    LexRange::parse(&args[2], &args[3]).and_then(|range| {
        let now = ctx.now;
        let z = read(ctx.db(), &args[1], now)?;
        Ok(Reply::Integer(z.map_or(0, |z| {
            let (lo, hi) = range.ranks(z);
            (hi - lo) as i64
        })))
    })
}

// ---------------------------------------------------------------------------
// The ZRANGE family
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum RangeBy {
    Auto,
    Rank,
    Score,
    Lex,
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Auto, None)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, Some(&args[1]), RangeBy::Auto, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Rank, Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Score, Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Score, Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Lex, Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    zrange_generic(ctx, args, None, RangeBy::Lex, Some(true))
}

/// Redis's `zrangeGenericCommand`: `by` and `reverse` are fixed by the older commands and
/// chosen by options for ZRANGE / ZRANGESTORE (`Auto` / `None`).
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    dst: Option<&Bytes>,
    mut by: RangeBy,
    mut reverse: Option<bool>,
) -> Result<Reply, Reply> {
    let src = if dst.is_some() { 2 } else { 1 };
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let opt = &args[j];
        if dst.is_none() && c_is(opt, "withscores") {
            withscores = true;
        } else if c_is(opt, "limit") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if reverse.is_none() && c_is(opt, "rev") {
            reverse = Some(true);
        } else if by == RangeBy::Auto && c_is(opt, "bylex") {
            by = RangeBy::Lex;
        } else if by == RangeBy::Auto && c_is(opt, "byscore") {
            by = RangeBy::Score;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if by == RangeBy::Auto {
        by = RangeBy::Rank;
    }
    // LIMIT x -1 cannot be told from no LIMIT at all, as in Redis.
    if limit != -1 && by == RangeBy::Rank {
        return Err(Reply::error(zerr::LIMIT_WITH_RANK));
    }
    if withscores && by == RangeBy::Lex {
        return Err(Reply::error(zerr::WITHSCORES_WITH_LEX));
    }
    let (mut lo_arg, mut hi_arg) = (&args[src + 1], &args[src + 2]);
    if reverse && by != RangeBy::Rank {
        std::mem::swap(&mut lo_arg, &mut hi_arg);
    }
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match by {
        RangeBy::Score => Parsed::Score(ScoreRange::parse(lo_arg, hi_arg)?),
        RangeBy::Lex => Parsed::Lex(LexRange::parse(lo_arg, hi_arg)?),
        _ => Parsed::Rank(int_arg(lo_arg)?, int_arg(hi_arg)?),
    };

    let (now, resp, limits) = (ctx.now, ctx.session.resp, limits(ctx));
    let db = ctx.db();
    let Some(z) = read(db, &args[src], now)? else {
        return Ok(match dst {
            Some(dst) => store(db, dst, ZSet::default(), now, "zrangestore"),
            None => Reply::Array(Vec::new()),
        });
    };
    // The result as a rank interval plus direction.
    let (first, count) = match &parsed {
        &Parsed::Rank(start, end) => match rank_range(start, end, z.len()) {
            None => (0, 0),
            Some((s, e)) if reverse => (z.len() - 1 - s, e - s + 1),
            Some((s, e)) => (s, e - s + 1),
        },
        Parsed::Score(r) => with_limit(r.ranks(z), offset, limit, reverse),
        Parsed::Lex(r) if z.is_listpack() => r.listpack_walk(z, offset, limit, reverse),
        Parsed::Lex(r) => with_limit(r.ranks(z), offset, limit, reverse),
    };
    let items: Box<dyn Iterator<Item = &Item>> = match (count, reverse) {
        (0, _) => Box::new(std::iter::empty()),
        (_, true) => Box::new(z.iter_rev_from(first).take(count)),
        (_, false) => Box::new(z.iter_from(first).take(count)),
    };
    match dst {
        Some(dst) => {
            // Redis adds the results one by one to a listpack, unless a rank range is known
            // to be too long for one.
            let listpack = match parsed {
                Parsed::Rank(..) => count <= limits.entries,
                _ => true,
            };
            let z = ZSet::from_adds(items.cloned().collect::<Vec<_>>(), listpack, limits);
            Ok(store(db, dst, z, now, "zrangestore"))
        }
        None => Ok(items_reply(items, withscores, resp)),
    }
}

/// The first rank and the count of a BYSCORE / BYLEX result whose members have the ranks
/// `lo..hi`, after LIMIT: a negative offset walks off the end in Redis (nothing), a negative
/// count means no limit. Reversed, the first rank is the highest.
fn with_limit((lo, hi): (usize, usize), offset: i64, limit: i64, reverse: bool) -> (usize, usize) {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let available = (hi - lo).saturating_sub(skip);
    let count = usize::try_from(limit).map_or(available, |l| available.min(l));
    match (count, reverse) {
        (0, _) => (0, 0),
        (_, true) => (hi - 1 - skip, count),
        (_, false) => (lo + skip, count),
    }
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let ranks = int_arg(&args[2]).and_then(|start| Ok((start, int_arg(&args[3])?)));
    ranks.and_then(|(start, end)| {
        remove_range(ctx, &args[1], "zremrangebyrank", |z| {
            rank_range(start, end, z.len()).map_or((0, 0), |(s, e)| (s, e + 1))
        })
    })
}

/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    ScoreRange::parse(&args[2], &args[3])
        .and_then(|range| remove_range(ctx, &args[1], "zremrangebyscore", |z| range.ranks(z)))
}

/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    LexRange::parse(&args[2], &args[3])
        .and_then(|range| remove_range(ctx, &args[1], "zremrangebylex", |z| range.ranks(z)))
}

/// Removes the ranks `lo..hi` that `ranks` picks; replies how many went.
fn remove_range(
    ctx: &mut Ctx,
    key: &Bytes,
    event: &'static str,
    ranks: impl FnOnce(&ZSet) -> (usize, usize),
) -> Result<Reply, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    if !exists_for_write(db, key, now)? {
        return Ok(Reply::Integer(0));
    }
    let z = db
        .peek(key)
        .and_then(|e| e.value.as_zset())
        .expect("checked");
    let (lo, hi) = ranks(z);
    if lo >= hi {
        return Ok(Reply::Integer(0));
    }
    let gone: Vec<Bytes> = z
        .iter_from(lo)
        .take(hi - lo)
        .map(|(_, m)| m.clone())
        .collect();
    let removed = write(db, key, now, &gone).remove_ranks(lo, hi);
    db.notify(notify::ZSET, event, key);
    delete_if_empty(db, key);
    Ok(Reply::Integer(removed as i64))
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// The shape of a pop's reply (Redis's `emitkey` / `use_nested_array`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopShape {
    /// ZPOPMIN / ZPOPMAX: member, score, ... flat.
    Flat,
    /// ZPOPMIN / ZPOPMAX with COUNT in RESP3: `[member, score]` pairs.
    Pairs,
    /// BZPOPMIN / BZPOPMAX: key, member, score flat.
    KeyFlat,
    /// ZMPOP / BZMPOP: `[key, [[member, score], ...]]`.
    KeyPairs,
}

/// Pops up to `count` members from the lowest (`max` false) or highest end of the first
/// non-empty sorted set among `keys`, deleting it when emptied. `Ok(None)` means no key holds
/// a sorted set (the caller replies empty, or a blocking command waits); a key of another
/// type before the first sorted set is WRONGTYPE. Redis's `genericZpopCommand`.
pub fn zpop(
    db: &mut Db,
    keys: &[Bytes],
    max: bool,
    count: usize,
    shape: PopShape,
    now: u64,
) -> Result<Option<Reply>, Reply> {
    let mut found = None;
    for key in keys {
        if exists_for_write(db, key, now)? {
            found = Some(key);
            break;
        }
    }
    let Some(key) = found else { return Ok(None) };
    if count == 0 {
        return Ok(Some(Reply::Array(Vec::new())));
    }
    let z = write(db, key, now, []);
    let n = count.min(z.len());
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        popped.push(z.pop(max).expect("counted"));
    }
    db.touch_elements(key, popped.iter().map(|(_, m)| m));
    db.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    delete_if_empty(db, key);
    let pairs = || {
        popped
            .iter()
            .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m.clone()), Reply::Double(*s)]))
            .collect::<Vec<Reply>>()
    };
    let flat = || {
        popped
            .iter()
            .flat_map(|(s, m)| [Reply::Bulk(m.clone()), Reply::Double(*s)])
    };
    Ok(Some(match shape {
        PopShape::Flat => Reply::Array(flat().collect()),
        PopShape::Pairs => Reply::Array(pairs()),
        PopShape::KeyFlat => Reply::Array(
            std::iter::once(Reply::Bulk(key.clone()))
                .chain(flat())
                .collect(),
        ),
        PopShape::KeyPairs => Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(pairs())]),
    }))
}

/// ZPOPMIN key [count]
fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    pop_command(ctx, args, false)
}

/// ZPOPMAX key [count]
fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    pop_command(ctx, args, true)
}

fn pop_command(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Result<Reply, Reply> {
    if args.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    let count = match args.get(2) {
        Some(arg) => Some(ranged_int(arg, 0, i64::MAX, zerr::MUST_BE_POSITIVE)?),
        None => None,
    };
    let shape = if ctx.session.resp >= 3 && count.is_some() {
        PopShape::Pairs
    } else {
        PopShape::Flat
    };
    let count = count.map_or(1, |c| c as usize);
    let now = ctx.now;
    let popped = zpop(ctx.db(), &args[1..2], max, count, shape, now)?;
    Ok(popped.unwrap_or(Reply::Array(Vec::new())))
}

/// MIN or MAX (true), as ZMPOP / BZMPOP name the end to pop from.
fn min_or_max(arg: &[u8]) -> Result<bool, Reply> {
    if c_is(arg, "min") {
        Ok(false)
    } else if c_is(arg, "max") {
        Ok(true)
    } else {
        Err(Reply::error(err::SYNTAX))
    }
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mpop = MultiPop::parse(args, 1, min_or_max)?;
    let now = ctx.now;
    let popped = zpop(
        ctx.db(),
        mpop.keys,
        mpop.side,
        mpop.count,
        PopShape::KeyPairs,
        now,
    )?;
    Ok(popped.unwrap_or(Reply::NilArray))
}

/// BZPOPMIN key [key ...] timeout
fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    blocking_pop(ctx, args)
}

/// BZPOPMAX key [key ...] timeout
fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    blocking_pop(ctx, args)
}

/// BZPOPMIN / BZPOPMAX: the timeout is checked first, then the keys in order; with nothing to
/// pop the client blocks (inside MULTI it gets the timeout's null at once).
fn blocking_pop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    let (now, max) = (ctx.now, is_max(&args[0]));
    if let Some(reply) = zpop(ctx.db(), keys, max, 1, PopShape::KeyFlat, now)? {
        return Ok(reply);
    }
    if ctx.in_multi() {
        return Ok(Reply::NilArray);
    }
    Ok(ctx.block(keys, timeout, args, serve_blocking_pop))
}

/// Whether a BZPOP* command pops the highest scores.
fn is_max(command: &[u8]) -> bool {
    command.eq_ignore_ascii_case(b"bzpopmax")
}

/// Serves a blocked BZPOPMIN / BZPOPMAX from `key`; a key of another type keeps it waiting.
fn serve_blocking_pop(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    let keys = std::slice::from_ref(key);
    zpop(db, keys, is_max(&args[0]), 1, PopShape::KeyFlat, now).ok()?
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: the timeout is checked after
/// the rest, as in Redis.
fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mpop = MultiPop::parse(args, 2, min_or_max)?;
    let timeout = parse_timeout(&args[1])?;
    let now = ctx.now;
    let shape = PopShape::KeyPairs;
    if let Some(reply) = zpop(ctx.db(), mpop.keys, mpop.side, mpop.count, shape, now)? {
        return Ok(reply);
    }
    if ctx.in_multi() {
        return Ok(Reply::NilArray);
    }
    Ok(ctx.block(mpop.keys, timeout, args, serve_blocking_mpop))
}

/// Serves a blocked BZMPOP from `key`.
fn serve_blocking_mpop(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    let mpop = MultiPop::parse(args, 2, min_or_max).ok()?;
    let keys = std::slice::from_ref(key);
    zpop(db, keys, mpop.side, mpop.count, PopShape::KeyPairs, now).ok()?
}

// ---------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------

/// What a set operation reads from one input key: sorted sets give their scores, plain sets
/// give every member the score 1, as Redis's `zuiNext` / `zuiFind` do.
trait ScoredMembers {
    fn len(&self) -> usize;
    fn score(&self, member: &[u8]) -> Option<f64>;
    fn scored(&self) -> Box<dyn Iterator<Item = (f64, Bytes)> + '_>;
}

impl ScoredMembers for ZSet {
    fn len(&self) -> usize {
        ZSet::len(self)
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        ZSet::score(self, member)
    }

    fn scored(&self) -> Box<dyn Iterator<Item = (f64, Bytes)> + '_> {
        Box::new(self.iter().map(|(s, m)| (*s, m.clone())))
    }
}

impl ScoredMembers for Set {
    fn len(&self) -> usize {
        Set::len(self)
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.contains(member).then_some(1.0)
    }

    fn scored(&self) -> Box<dyn Iterator<Item = (f64, Bytes)> + '_> {
        Box::new(self.iter().map(|m| (1.0, m)))
    }
}

/// An input of a set operation: `None` for a missing key (an empty input).
fn source(value: Option<&Value>) -> Result<Option<&dyn ScoredMembers>, Reply> {
    match value {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(&**z)),
        Some(Value::Set(s)) => Ok(Some(&**s)),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: an inf + -inf sum is 0.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(ctx, args, "zunion", None, SetOp::Union, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(ctx, args, "zinter", None, SetOp::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(ctx, args, "zdiff", None, SetOp::Diff, false)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(
        ctx,
        args,
        "zunionstore",
        Some(&args[1]),
        SetOp::Union,
        false,
    )
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(
        ctx,
        args,
        "zinterstore",
        Some(&args[1]),
        SetOp::Inter,
        false,
    )
}

/// ZDIFFSTORE destination numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(ctx, args, "zdiffstore", Some(&args[1]), SetOp::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    set_operation(ctx, args, "zintercard", None, SetOp::Inter, true)
}

/// Redis's `zunionInterDiffGenericCommand`.
fn set_operation(
    ctx: &mut Ctx,
    args: &[Bytes],
    name: &'static str,
    dst: Option<&Bytes>,
    op: SetOp,
    cardinality_only: bool,
) -> Result<Reply, Reply> {
    let numkeys_idx = if dst.is_some() { 2 } else { 1 };
    let setnum = int_arg(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum > (args.len() - numkeys_idx - 1) as i64 {
        return Err(Reply::error(err::SYNTAX));
    }
    let setnum = setnum as usize;
    let keys = &args[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    let (now, resp, limits) = (ctx.now, ctx.session.resp, limits(ctx));
    let db = ctx.db();
    // Look every key up first (expiring, counting hits, checking types) as Redis does before
    // parsing the options, then borrow them all at once.
    for key in keys {
        source(db.get(key, now))?;
    }

    let mut weights = vec![1.0; setnum];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let opt = &args[j];
        let combines = op != SetOp::Diff && !cardinality_only;
        if combines && remaining > setnum && c_is(opt, "weights") {
            for (w, arg) in weights.iter_mut().zip(&args[j + 1..]) {
                *w = number::parse_f64(arg).ok_or(Reply::error(zerr::WEIGHT))?;
            }
            j += 1 + setnum;
        } else if combines && remaining >= 2 && c_is(opt, "aggregate") {
            let which = &args[j + 1];
            aggregate = if c_is(which, "sum") {
                Aggregate::Sum
            } else if c_is(which, "min") {
                Aggregate::Min
            } else if c_is(which, "max") {
                Aggregate::Max
            } else {
                return Err(Reply::error(err::SYNTAX));
            };
            j += 2;
        } else if dst.is_none() && !cardinality_only && c_is(opt, "withscores") {
            withscores = true;
            j += 1;
        } else if cardinality_only && remaining >= 2 && c_is(opt, "limit") {
            limit = ranged_int(&args[j + 1], 0, i64::MAX, zerr::LIMIT_NEGATIVE)? as usize;
            j += 2;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }

    let mut inputs: Vec<(Option<&dyn ScoredMembers>, f64)> = Vec::with_capacity(setnum);
    for (key, &weight) in keys.iter().zip(&weights) {
        inputs.push((source(db.peek(key).map(|e| &e.value))?, weight));
    }
    let len = |s: &Option<&dyn ScoredMembers>| s.map_or(0, |s| s.len());
    if op != SetOp::Diff {
        // Smallest first, stably, as Redis's qsort (glibc's merge sort) orders them.
        inputs.sort_by_key(|(s, _)| len(s));
    }
    let same = |a: &dyn ScoredMembers, b: &dyn ScoredMembers| {
        std::ptr::eq(
            a as *const dyn ScoredMembers as *const u8,
            b as *const dyn ScoredMembers as *const u8,
        )
    };

    let mut result: Vec<Item> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if let (Some(first), w0) = inputs[0] {
                'members: for (score0, member) in first.scored() {
                    let mut score = w0 * score0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for &(other, w) in &inputs[1..] {
                        let value = match other {
                            Some(o) if same(o, first) => score0 * w,
                            Some(o) => match o.score(&member) {
                                Some(v) => v * w,
                                None => continue 'members,
                            },
                            None => continue 'members,
                        };
                        aggregate.apply(&mut score, value);
                    }
                    if cardinality_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((score, member));
                    }
                }
            }
        }
        SetOp::Union => {
            // At least as large as the largest input (the last one, inputs are sorted).
            let largest = inputs.last().map_or(0, |(s, _)| len(s));
            let mut acc: HashMap<Bytes, f64, Hasher> =
                HashMap::with_capacity_and_hasher(largest, Hasher::default());
            for &(input, w) in &inputs {
                let Some(input) = input else { continue };
                for (s, member) in input.scored() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&member[..]) {
                        Some(existing) => aggregate.apply(existing, score),
                        None => {
                            acc.insert(member, score);
                        }
                    }
                }
            }
            result = acc.into_iter().map(|(m, s)| (s, m)).collect();
        }
        SetOp::Diff => {
            if let (Some(first), _) = inputs[0] {
                for (s, member) in first.scored() {
                    let elsewhere = inputs[1..]
                        .iter()
                        .any(|(o, _)| o.is_some_and(|o| o.score(&member).is_some()));
                    if !elsewhere {
                        result.push((s, member));
                    }
                }
            }
        }
    }
    drop(inputs);

    if let Some(dst) = dst {
        return Ok(store(db, dst, ZSet::from_items(result, limits), now, name));
    }
    if cardinality_only {
        return Ok(Reply::Integer(cardinality as i64));
    }
    result.sort_by(|a, b| crate::keyspace::zset::cmp_item(a, b.0, &b.1));
    Ok(items_reply(result.iter(), withscores, resp))
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (now, resp) = (ctx.now, ctx.session.resp);
    if args.len() == 2 {
        let Some(z) = read(ctx.db(), &args[1], now)? else {
            return Ok(Reply::Nil);
        };
        let r = rand::thread_rng().gen_range(0..z.len());
        return Ok(Reply::Bulk(z.get(r).expect("in range").1.clone()));
    }
    let l = int_arg(&args[2])?;
    if l == i64::MIN {
        return Err(Reply::error(zerr::RANDMEMBER_COUNT));
    }
    if args.len() > 4 || (args.len() == 4 && !c_is(&args[3], "withscores")) {
        return Err(Reply::error(err::SYNTAX));
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(Reply::error(zerr::OUT_OF_RANGE));
    }
    let Some(z) = read(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut rng = rand::thread_rng();
    let size = z.len();
    if l < 0 || count == 1 {
        if count > MAX_RANDOM_REPEATS {
            return Err(Reply::error(zerr::OUT_OF_RANGE));
        }
        let picks: Vec<&Item> = (0..count)
            .map(|_| z.get(rng.gen_range(0..size)).expect("in range"))
            .collect();
        return Ok(items_reply(picks.into_iter(), withscores, resp));
    }
    if count >= size as u64 {
        // The whole set, highest first: Redis's set-operation iterator walks backwards.
        return Ok(items_reply(z.iter_rev_from(size - 1), withscores, resp));
    }
    let picks = rand::seq::index::sample(&mut rng, size, count as usize);
    Ok(items_reply(
        picks.iter().map(|r| z.get(r).expect("in range")),
        withscores,
        resp,
    ))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
///
/// A listpack-encoded set comes back whole with cursor 0, as in Redis. A larger one is walked
/// through its slot table ([`ZSet::scan`]): every member present for the whole scan is
/// returned exactly once, whatever happens to its score.
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan_cursor(&args[2])?;
    let now = ctx.now;
    let Some(z) = read(ctx.db(), &args[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let options = ScanOptions::parse(&args[3..], false)?;
    let (next, items): (u64, Vec<(&Bytes, f64)>) = if z.is_listpack() {
        (0, z.iter().map(|(s, m)| (m, *s)).collect())
    } else {
        let cursor = usize::try_from(cursor).unwrap_or(usize::MAX);
        let (next, members) = z.scan(cursor, options.count);
        let items = members
            .into_iter()
            .map(|m| (m, z.score(m).expect("member")))
            .collect();
        (next as u64, items)
    };
    let items = items
        .into_iter()
        .filter(|(m, _)| options.matches(m))
        .flat_map(|(m, score)| [m.clone(), Bytes::from(number::format_double(score))])
        .collect();
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_ex && !r.max_ex && r.max == f64::INFINITY);
        assert!(ScoreRange::parse(b"(", b"").is_ok());
        assert!(ScoreRange::parse(b"nan", b"1").is_err());
        assert!(ScoreRange::parse(b"1x", b"1").is_err());
        let lex = |s: &'static str| LexBound::parse(&Bytes::from(s));
        assert_eq!(lex("+"), Some(LexBound::Max));
        assert_eq!(lex("+a"), None);
        assert_eq!(lex(""), None);
        assert_eq!(lex("a"), None);
        assert_eq!(lex("[a"), Some(LexBound::Inclusive(Bytes::from("a"))));
        assert_eq!(rank_range(0, -1, 3), Some((0, 2)));
        assert_eq!(rank_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(rank_range(2, 1, 3), None);
        assert_eq!(rank_range(0, -4, 3), None);
    }
}
