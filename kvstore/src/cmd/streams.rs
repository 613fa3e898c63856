//! Stream commands: XADD, XRANGE / XREVRANGE, XLEN, XDEL, XTRIM, XREAD, the consumer groups
//! (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), XINFO and XSETID.
//!
//! Arguments are parsed, keys looked up and errors chosen in the order of Redis 7.0's
//! `t_stream.c`, since that order decides which error a client sees when several things are
//! wrong. The data structure and its Redis-visible internals (nodes, lag) are in
//! [`crate::keyspace::stream`]. Blocking XREAD / XREADGROUP go through [`Ctx::block`]: the
//! retry function gets a rewritten argument vector ([`Blocked`]) holding what Redis keeps in
//! the blocked client (the ids resolved at blocking time, the count, the group, the
//! protocol), and serves one ready key like `serveClientsBlockedOnStreamKey`.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{c_is, c_str, err, help, int_arg, sanitize, truncated};
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::stream::{AppendError, IdSpec, Item, Stream, StreamId, Trim, TrimStrategy};
use crate::keyspace::{Db, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, flags![WRITE, DENYOOM, FAST], acl![STREAM], xadd).keys(1, 1, 1),
    CommandSpec::new("xrange", -4, flags![READONLY], acl![STREAM], xrange).keys(1, 1, 1),
    CommandSpec::new("xrevrange", -4, flags![READONLY], acl![STREAM], xrevrange).keys(1, 1, 1),
    CommandSpec::new("xlen", 2, flags![READONLY, FAST], acl![STREAM], xlen).keys(1, 1, 1),
    CommandSpec::new("xdel", -3, flags![WRITE, FAST], acl![STREAM], xdel).keys(1, 1, 1),
    CommandSpec::new("xtrim", -4, flags![WRITE], acl![STREAM], xtrim).keys(1, 1, 1),
    CommandSpec::new("xread", -4, flags![READONLY, BLOCKING, MOVABLEKEYS], acl![STREAM], xread),
    CommandSpec::new("xreadgroup", -7, flags![WRITE, BLOCKING, MOVABLEKEYS], acl![STREAM], xreadgroup),
    CommandSpec::new("xack", -4, flags![WRITE, FAST], acl![STREAM], xack).keys(1, 1, 1),
    CommandSpec::new("xpending", -3, flags![READONLY], acl![STREAM], xpending).keys(1, 1, 1),
    CommandSpec::new("xclaim", -6, flags![WRITE, FAST], acl![STREAM], xclaim).keys(1, 1, 1),
    CommandSpec::new("xautoclaim", -6, flags![WRITE, FAST], acl![STREAM], xautoclaim).keys(1, 1, 1),
    CommandSpec::new("xsetid", -3, flags![WRITE, DENYOOM, FAST], acl![STREAM], xsetid).keys(1, 1, 1),
    // Dispatch always resolves a subcommand (or fails arity), so a container's own handler
    // never runs; one handler serves each container's subcommands, as in `t_stream.c`.
    CommandSpec::new("xgroup", -2, flags![], acl![], xgroup).with_subcommands(XGROUP_SUBCOMMANDS),
    CommandSpec::new("xinfo", -2, flags![], acl![], xinfo).with_subcommands(XINFO_SUBCOMMANDS),
];

/// In the order COMMAND INFO lists them in Redis 7.0.
#[rustfmt::skip]
static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xgroup|setid", -5, flags![WRITE], acl![STREAM], xgroup).keys(2, 2, 1),
    CommandSpec::new("xgroup|create", -5, flags![WRITE, DENYOOM], acl![STREAM], xgroup).keys(2, 2, 1),
    CommandSpec::new("xgroup|createconsumer", 5, flags![WRITE, DENYOOM], acl![STREAM], xgroup).keys(2, 2, 1),
    CommandSpec::new("xgroup|delconsumer", 5, flags![WRITE], acl![STREAM], xgroup).keys(2, 2, 1),
    CommandSpec::new("xgroup|destroy", 4, flags![WRITE], acl![STREAM], xgroup).keys(2, 2, 1),
    CommandSpec::new("xgroup|help", 2, flags![LOADING, STALE], acl![STREAM], xgroup),
];

#[rustfmt::skip]
static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xinfo|consumers", 4, flags![READONLY], acl![STREAM], xinfo).keys(2, 2, 1),
    CommandSpec::new("xinfo|stream", -3, flags![READONLY], acl![STREAM], xinfo).keys(2, 2, 1),
    CommandSpec::new("xinfo|help", 2, flags![LOADING, STALE], acl![STREAM], xinfo),
    CommandSpec::new("xinfo|groups", 3, flags![READONLY], acl![STREAM], xinfo).keys(2, 2, 1),
];

/// Error replies only stream commands send, byte for byte as Redis 7.0 sends them.
mod stream_err {
    pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
    pub const START_INTERVAL: &str = "ERR invalid start ID for the interval";
    pub const END_INTERVAL: &str = "ERR invalid end ID for the interval";
    pub const MAXLEN_AND_MINID: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    pub const MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
    pub const LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
    pub const LIMIT_NO_STRATEGY: &str =
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
    pub const XTRIM_NO_STRATEGY: &str =
        "ERR syntax error, XTRIM must be called with a trimming strategy";
    pub const LIMIT_NO_APPROX: &str =
        "ERR syntax error, LIMIT cannot be used without the special ~ option";
    pub const ZERO_ID: &str = "ERR The ID specified in XADD must be greater than 0-0";
    pub const EXHAUSTED: &str =
        "ERR The stream has exhausted the last possible ID, unable to add more items";
    pub const NOT_GREATER: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    pub const TOO_LARGE: &str = "ERR Elements are too large to be stored";
    pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
    pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
    pub const UNBALANCED: &str =
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
    pub const GROUP_IN_XREAD: &str =
        "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
    pub const NOACK_IN_XREAD: &str =
        "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
    pub const MISSING_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
    pub const DOLLAR_IN_GROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
    pub const GT_IN_XREAD: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
    pub const ENTRIESREAD: &str = "ERR value for ENTRIESREAD must be positive or -1";
    pub const KEY_REQUIRED: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
    pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
    pub const ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
    pub const SETID_BELOW_MAXDELETED: &str =
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
    pub const SETID_BELOW_TOP: &str =
        "ERR The ID specified in XSETID is smaller than the target stream top item";
    pub const SETID_ENTRIES_ADDED: &str =
        "ERR The entries_added specified in XSETID is smaller than the target stream length";
    pub const GROUP_GONE: &str =
        "NOGROUP the consumer group this client was blocked on no longer exists";
    pub const KEY_GONE: &str = "UNBLOCKED the stream key no longer exists";
    pub const AUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
}

use stream_err as e;

// ---------------------------------------------------------------------------------------
// Parsing

/// C's `strtoull` after Redis's `string2ull` fast path, as `streamGenericParseIDOrReply`
/// uses it: leading spaces and a sign are accepted, a minus wraps.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::number::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut rest = s;
    while let [c, tail @ ..] = rest {
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in rest {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// How an id argument may look.
#[derive(Clone, Copy)]
struct IdRules {
    /// The sequence when only milliseconds are given.
    missing_seq: u64,
    /// Refuse `-` and `+`.
    strict: bool,
    /// Accept `ms-*` (XADD).
    seq_star: bool,
}

/// `streamGenericParseIDOrReply`: the id and whether its sequence was given.
fn parse_id_with(arg: &[u8], rules: IdRules) -> Option<(StreamId, bool)> {
    if arg.len() > 127 {
        return None;
    }
    let buf = c_str(arg);
    if rules.strict && (buf == b"-" || buf == b"+") {
        return None;
    }
    if buf == b"-" {
        return Some((StreamId::MIN, true));
    }
    if buf == b"+" {
        return Some((StreamId::MAX, true));
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part)?;
    match seq_part {
        Some(b"*") if rules.seq_star => Some((StreamId::new(ms, 0), false)),
        Some(seq) => Some((StreamId::new(ms, string2ull(seq)?), true)),
        None => Some((StreamId::new(ms, rules.missing_seq), true)),
    }
}

fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, Reply> {
    let rules = IdRules {
        missing_seq,
        strict,
        seq_star: false,
    };
    parse_id_with(arg, rules)
        .map(|(id, _)| id)
        .ok_or(Reply::error(e::INVALID_ID))
}

/// A strict id (no `-` / `+`), sequence 0 when missing.
fn strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id(arg, 0, true)
}

/// `streamParseIntervalIDOrReply`: an id, or `(id` for an exclusive bound.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id(&arg[1..], missing_seq, true)?, true))
    } else {
        Ok((parse_id(arg, missing_seq, false)?, false))
    }
}

/// A range's start bound, made inclusive.
fn start_bound(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, exclusive) = interval_id(arg, 0)?;
    if exclusive {
        id.incr().ok_or(Reply::error(e::START_INTERVAL))
    } else {
        Ok(id)
    }
}

/// A range's end bound, made inclusive.
fn end_bound(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, exclusive) = interval_id(arg, u64::MAX)?;
    if exclusive {
        id.decr().ok_or(Reply::error(e::END_INTERVAL))
    } else {
        Ok(id)
    }
}

fn long_long_or(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    crate::number::parse_i64(arg).ok_or(Reply::error(msg))
}

/// `addReplySubcommandSyntaxError`.
fn subcommand_error(args: &[Bytes]) -> Reply {
    Reply::error(sanitize(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        truncated(&args[1], 128),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    )))
}

fn nogroup(msg: String) -> Reply {
    Reply::error(sanitize(msg))
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(c_str(b))
}

// ---------------------------------------------------------------------------------------
// Lookups and replies

/// The stream at `key` for a read command: `Ok(None)` when absent.
fn read_stream<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Stream>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_stream().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Whether `key` holds a stream, for a write command: `Ok(false)` when absent.
fn check_stream(db: &mut Db, key: &[u8], now: u64) -> Result<bool, Reply> {
    match db.entry(key, now) {
        None => Ok(false),
        Some(e) if e.value.as_stream().is_some() => Ok(true),
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

/// The stream at `key`, which the caller checked exists, for changing. The parts it changes
/// are journaled by [`journal_parts`] once the command is done (see [`changing`]).
fn stream_mut<'d>(db: &'d mut Db, key: &[u8], now: u64) -> &'d mut Stream {
    db.value_mut_elements(key, now, std::iter::empty())
        .and_then(Value::as_stream_mut)
        .expect("checked to be a stream")
}

/// Names the nodes and groups of the stream at `key` that the command changed, so
/// persistence rewrites those only (an XADD costs its tail node, not the stream).
fn journal_parts(db: &mut Db, key: &[u8], now: u64) {
    let pending = matches!(
        db.entry(key, now).map(|e| &e.value),
        Some(Value::Stream(s)) if s.has_changes()
    );
    if !pending {
        return;
    }
    // Bookkeeping, not a change: WATCH saw (or did not see) the command's own write.
    let mark = db.watch_mark(key);
    let parts = db
        .value_mut_elements(key, now, std::iter::empty())
        .and_then(Value::as_stream_mut)
        .map(Stream::take_changes)
        .unwrap_or_default();
    let ids: Vec<Bytes> = parts.iter().map(|p| p.id()).collect();
    db.touch_elements(key, ids.iter());
    db.restore_watch(key, mark);
}

/// Runs a stream command that may change the stream at `args[key_at]`, then journals the
/// parts it changed.
fn changing(
    ctx: &mut Ctx,
    args: &[Bytes],
    key_at: usize,
    run: impl FnOnce(&mut Ctx) -> Result<Reply, Reply>,
) -> Result<Reply, Reply> {
    let mark = args.get(key_at).map(|key| ctx.db().watch_mark(key));
    let result = run(ctx);
    // Redis signals a modified key only when something changed: not on an error, nor when
    // XDEL / XTRIM deleted nothing.
    if let (true, Some(key)) = (
        matches!(result, Err(_) | Ok(Reply::Integer(0))),
        args.get(key_at),
    ) {
        ctx.db().restore_watch(key, mark);
    }
    journal_after(ctx, args, key_at);
    result
}

/// [`changing`] for the group commands, which Redis does not count as modifying the key for
/// WATCH (XGROUP CREATE ... MKSTREAM creating the stream still does).
fn changing_groups(
    ctx: &mut Ctx,
    args: &[Bytes],
    key_at: usize,
    run: impl FnOnce(&mut Ctx) -> Result<Reply, Reply>,
) -> Result<Reply, Reply> {
    let Some(key) = args.get(key_at).cloned() else {
        return run(ctx);
    };
    let now = ctx.now;
    let db = ctx.db();
    let existed = db.contains(&key, now);
    let mark = db.watch_mark(&key);
    let result = run(ctx);
    if existed {
        ctx.db().restore_watch(&key, mark);
    }
    journal_after(ctx, args, key_at);
    result
}

/// Journals the parts the command changed in the stream at `args[key_at]`.
fn journal_after(ctx: &mut Ctx, args: &[Bytes], key_at: usize) {
    if let Some(key) = args.get(key_at) {
        let now = ctx.now;
        journal_parts(ctx.db(), key, now);
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entry_reply((id, fields): &Item) -> Reply {
    Reply::Array(vec![id_reply(*id), Reply::bulk_array(fields.iter())])
}

fn entries_reply(items: &[Item]) -> Reply {
    Reply::Array(items.iter().map(entry_reply).collect())
}

// ---------------------------------------------------------------------------------------
// XADD, XTRIM

/// Parsed XADD / XTRIM options (`streamAddTrimArgs`).
struct AddTrimArgs {
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Index of the id argument (XADD).
    id_pos: usize,
    /// Index of the trim threshold (after `~` when approximate).
    trim_arg_idx: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(args: &[Bytes], xadd: bool, node_max_entries: u64) -> Result<AddTrimArgs, Reply> {
    let mut out = AddTrimArgs {
        id: None,
        no_mkstream: false,
        trim: None,
        id_pos: args.len(),
        trim_arg_idx: 0,
    };
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && c_str(opt) == b"*" {
            break;
        } else if (c_is(opt, "maxlen") || c_is(opt, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(Reply::error(e::MAXLEN_AND_MINID));
            }
            approx = false;
            let next = c_str(&args[i + 1]);
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            out.trim_arg_idx = i + 1;
            if c_is(opt, "maxlen") {
                let n = int_arg(&args[i + 1])?;
                if n < 0 {
                    return Err(Reply::error(e::MAXLEN_NEGATIVE));
                }
                strategy = Some(TrimStrategy::MaxLen(n as u64));
            } else {
                strategy = Some(TrimStrategy::MinId(strict_id(&args[i + 1])?));
            }
            i += 1;
        } else if c_is(opt, "limit") && more > 0 {
            limit = int_arg(&args[i + 1])?;
            if limit < 0 {
                return Err(Reply::error(e::LIMIT_NEGATIVE));
            }
            limit_given = true;
            i += 1;
        } else if xadd && c_is(opt, "nomkstream") {
            out.no_mkstream = true;
        } else if xadd {
            let rules = IdRules {
                missing_seq: 0,
                strict: true,
                seq_star: true,
            };
            out.id = Some(parse_id_with(opt, rules).ok_or(Reply::error(e::INVALID_ID))?);
            break;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    out.id_pos = i;
    if limit != 0 && strategy.is_none() {
        return Err(Reply::error(e::LIMIT_NO_STRATEGY));
    }
    if !xadd && strategy.is_none() {
        return Err(Reply::error(e::XTRIM_NO_STRATEGY));
    }
    if limit_given {
        if !approx {
            return Err(Reply::error(e::LIMIT_NO_APPROX));
        }
    } else if approx {
        let l = 100i128 * i128::from(node_max_entries);
        limit = if l <= 0 {
            10_000
        } else {
            l.min(1_000_000) as i64
        };
    } else {
        limit = 0;
    }
    out.trim = strategy.map(|strategy| Trim {
        strategy,
        approx,
        limit: limit as u64,
    });
    Ok(out)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing(ctx, args, 1, |ctx| {
        let limits = ctx.shared.limits().stream_node();
        let parsed = parse_add_trim(args, true, limits.max_entries)?;
        let field_pos = parsed.id_pos + 1;
        if args.len() < field_pos + 2 || (args.len() - field_pos) % 2 == 1 {
            return Err(Reply::error(
                "ERR wrong number of arguments for 'xadd' command",
            ));
        }
        if let Some((id, true)) = parsed.id {
            if id.is_zero() {
                return Err(Reply::error(e::ZERO_ID));
            }
        }
        let key = &args[1];
        let now = ctx.now;
        let db = ctx.db();
        if !check_stream(db, key, now)? {
            if parsed.no_mkstream {
                return Ok(Reply::Nil);
            }
            db.insert(key.clone(), Value::Stream(Arc::new(Stream::new())), None);
        }
        let s = stream_mut(db, key, now);
        if s.last_id == StreamId::MAX {
            return Err(Reply::error(e::EXHAUSTED));
        }
        let spec = match parsed.id {
            None => IdSpec::Auto,
            Some((id, true)) => IdSpec::Exact(id),
            Some((id, false)) => IdSpec::Ms(id.ms),
        };
        // Like Redis's `mstime()`, the clock itself: a pipelined run of XADD * must not share
        // the batch's cached time.
        let clock = if spec == IdSpec::Auto {
            crate::state::now_ms()
        } else {
            now
        };
        let id = s
            .append(&args[field_pos..], spec, clock, limits)
            .map_err(|err| match err {
                AppendError::NotGreater => Reply::error(e::NOT_GREATER),
                AppendError::TooLarge => Reply::error(e::TOO_LARGE),
            })?;
        let trimmed = parsed.trim.map_or(0, |trim| s.trim(trim));
        db.signal_ready(key);
        db.notify(notify::STREAM, "xadd", key);
        if trimmed > 0 {
            db.notify(notify::STREAM, "xtrim", key);
        }
        // A generated ID goes to replicas as the ID it became, an approximate trim as the
        // exact one it amounted to (Redis's `xaddCommand`).
        let approx = parsed.trim.is_some_and(|t| t.approx);
        if (spec != IdSpec::Exact(id) || approx) && ctx.replicating() {
            let mut argv = args.to_vec();
            argv[parsed.id_pos] = id.to_bytes();
            if let Some(trim) = parsed.trim.filter(|t| t.approx) {
                let s = stream_mut(ctx.db(), key, now);
                exact_trim(&mut argv, s, trim, parsed.trim_arg_idx);
            }
            ctx.propagate_as(argv);
        }
        Ok(id_reply(id))
    })
}

/// Redis's `streamRewriteApproxSpecifier` and `streamRewriteTrimArgument`: `~ threshold`
/// becomes `= <the length or first ID the trim left>`, so replicas trim exactly as much.
fn exact_trim(argv: &mut [Bytes], s: &Stream, trim: Trim, at: usize) {
    argv[at - 1] = Bytes::from_static(b"=");
    argv[at] = match trim.strategy {
        TrimStrategy::MaxLen(_) => Bytes::from(s.len().to_string()),
        TrimStrategy::MinId(_) => s.first_live().unwrap_or_default().to_bytes(),
    };
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing(ctx, args, 1, |ctx| {
        let limits = ctx.shared.limits().stream_node();
        let parsed = parse_add_trim(args, false, limits.max_entries)?;
        let now = ctx.now;
        let replicating = ctx.replicating();
        let db = ctx.db();
        if !check_stream(db, &args[1], now)? {
            return Ok(Reply::Integer(0));
        }
        let trim = parsed.trim.expect("XTRIM has a strategy");
        let s = stream_mut(db, &args[1], now);
        let trimmed = s.trim(trim);
        let mut exact = None;
        if trim.approx && replicating {
            let mut argv = args.to_vec();
            exact_trim(&mut argv, s, trim, parsed.trim_arg_idx);
            exact = Some(argv);
        }
        if trimmed > 0 {
            db.notify(notify::STREAM, "xtrim", &args[1]);
        }
        if let Some(argv) = exact {
            ctx.propagate_as(argv);
        }
        Ok(Reply::Integer(trimmed as i64))
    })
}

// ---------------------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN, XDEL

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    range(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    range(ctx, args, true)
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n]
fn range(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Result<Reply, Reply> {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = start_bound(start_arg)?;
    let end = end_bound(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if c_is(&args[j], "count") && j + 1 < args.len() {
            count = int_arg(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    let now = ctx.now;
    let Some(s) = read_stream(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let count = if count == -1 { 0 } else { count as usize };
    Ok(entries_reply(&s.range(start, end, rev, count)))
}

/// XLEN key
fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let s = read_stream(ctx.db(), &args[1], now)?;
    Ok(Reply::Integer(s.map_or(0, |s| s.len() as i64)))
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing(ctx, args, 1, |ctx| {
        let now = ctx.now;
        let db = ctx.db();
        if !check_stream(db, &args[1], now)? {
            return Ok(Reply::Integer(0));
        }
        let ids = args[2..]
            .iter()
            .map(|a| strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        let s = stream_mut(db, &args[1], now);
        let deleted = s.delete(&ids);
        if deleted > 0 {
            db.notify(notify::STREAM, "xdel", &args[1]);
        }
        Ok(Reply::Integer(deleted as i64))
    })
}

// ---------------------------------------------------------------------------------------
// XREAD, XREADGROUP

/// What a blocked XREAD / XREADGROUP needs to be served later, encoded as the argument
/// vector its retry receives: `[resp, count, noack, group, consumer, key, id, key, id ...]`
/// (`group` empty for XREAD; ids resolved, `>` as the maximal id).
struct Blocked<'a> {
    resp: u8,
    count: usize,
    noack: bool,
    group: Option<&'a Bytes>,
    consumer: &'a Bytes,
    pairs: &'a [Bytes],
}

impl<'a> Blocked<'a> {
    fn encode(&self) -> Vec<Bytes> {
        let mut out = vec![
            Bytes::from(self.resp.to_string()),
            Bytes::from(self.count.to_string()),
            Bytes::from(if self.noack { "1" } else { "0" }),
            self.group.cloned().unwrap_or_default(),
            self.consumer.clone(),
        ];
        out.extend(self.pairs.iter().cloned());
        out
    }
}

/// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ...: XREAD's
/// parsing and serving, plus the bookkeeping of the groups it changes.
fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    // XREADGROUP changes groups of its streams (any argument may be one of their keys),
    // which Redis does not count as modifying them for WATCH.
    let db = ctx.db();
    let marks: Vec<_> = args[1..].iter().map(|k| db.watch_mark(k)).collect();
    let result = xread(ctx, args);
    let now = ctx.now;
    let db = ctx.db();
    for (key, mark) in args[1..].iter().zip(marks) {
        journal_parts(db, key, now);
        db.restore_watch(key, mark);
    }
    result
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ..., and XREADGROUP's reading (told apart
/// by the command name).
fn xread(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let xreadgroup = args[0].len() == 10;
    let mut timeout: i64 = -1;
    let mut count: i64 = 0;
    let mut streams_at = 0;
    let mut streams_count = 0;
    let mut noack = false;
    let mut group: Option<(&Bytes, &Bytes)> = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i];
        if c_is(o, "block") && more > 0 {
            if ctx.session.in_script {
                return Err(Reply::error(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&args[0])
                )));
            }
            i += 1;
            timeout = long_long_or(&args[i], e::TIMEOUT_NOT_INTEGER)?;
            if timeout < 0 {
                return Err(Reply::error(e::TIMEOUT_NEGATIVE));
            }
        } else if c_is(o, "count") && more > 0 {
            i += 1;
            count = int_arg(&args[i])?.max(0);
        } else if c_is(o, "streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if n % 2 != 0 {
                return Err(Reply::error(e::UNBALANCED));
            }
            streams_count = n / 2;
            break;
        } else if c_is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(Reply::error(e::GROUP_IN_XREAD));
            }
            group = Some((&args[i + 1], &args[i + 2]));
            i += 2;
        } else if c_is(o, "noack") {
            if !xreadgroup {
                return Err(Reply::error(e::NOACK_IN_XREAD));
            }
            noack = true;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(Reply::error(err::SYNTAX));
    }
    if xreadgroup && group.is_none() {
        return Err(Reply::error(e::MISSING_GROUP));
    }
    let keys = &args[streams_at..streams_at + streams_count];
    let id_args = &args[streams_at + streams_count..];
    let now = ctx.now;
    let resp = ctx.session.resp;
    let db = ctx.db();
    let mut ids = Vec::with_capacity(streams_count);
    for (key, arg) in keys.iter().zip(id_args) {
        let s = read_stream(db, key, now)?;
        if let Some((g, _)) = group {
            if !s.is_some_and(|s| s.groups().contains_key(g)) {
                return Err(nogroup(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    text(key),
                    text(g)
                )));
            }
        }
        let id = match c_str(arg) {
            b"$" => {
                if xreadgroup {
                    return Err(Reply::error(e::DOLLAR_IN_GROUP));
                }
                s.map_or(StreamId::MIN, |s| s.last_id)
            }
            b">" => {
                if !xreadgroup {
                    return Err(Reply::error(e::GT_IN_XREAD));
                }
                StreamId::MAX
            }
            _ => strict_id(arg)?,
        };
        ids.push(id);
    }
    // Serve synchronously what can be served. XREADGROUP goes to replicas as what it did to
    // the group (Redis's `streamPropagateXCLAIM`, `streamPropagateGroupID`,
    // `streamPropagateConsumerCreation`), never as itself.
    let replicating = xreadgroup && ctx.replicating();
    let mut propagate: Vec<Vec<Bytes>> = Vec::new();
    let db = ctx.db();
    let mut served: Vec<(Bytes, Reply)> = Vec::new();
    for (key, gt) in keys.iter().zip(ids.iter_mut()) {
        let Some(Value::Stream(s)) = db.get(key, now) else {
            continue;
        };
        let mut history = false;
        let serve = if let Some((g, _)) = group {
            if *gt != StreamId::MAX {
                history = true;
                true
            } else if !s.is_empty() {
                let last = s.groups()[g].last_id;
                if s.last_live().is_some_and(|m| m > last) {
                    *gt = last;
                    true
                } else {
                    false
                }
            } else {
                false
            }
        } else {
            !s.is_empty() && s.last_live().is_some_and(|m| m > *gt)
        };
        if !serve {
            continue;
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        let mut created = false;
        let entries = match group {
            None => entries_reply(&s.range(start, StreamId::MAX, false, count as usize)),
            Some((g, c)) => {
                let s = stream_mut(db, key, now);
                let group = s.group_mut(g).expect("group checked");
                created = group.touch_consumer(c, now as i64);
                if created && replicating && noack {
                    propagate.push(argv(&["XGROUP", "CREATECONSUMER"], [key, g, c]));
                }
                if history {
                    // Redis 7.0 propagates nothing of a history read (its delivery counts
                    // and times stay the master's own).
                    let items = s.history(g, c, start, count as usize, now as i64);
                    Reply::Array(
                        items
                            .into_iter()
                            .map(|(id, fields)| match fields {
                                Some(f) => entry_reply(&(id, f)),
                                None => Reply::Array(vec![id_reply(id), Reply::NilArray]),
                            })
                            .collect(),
                    )
                } else {
                    let last_before = s.groups()[g].last_id;
                    let items = s.deliver(g, c, start, count as usize, noack, now as i64);
                    if replicating && !noack {
                        let claims = items.iter().map(|(id, _)| {
                            xclaim_with_last_id(s, key, g, *id, (*id).max(last_before))
                        });
                        propagate.extend(claims);
                    }
                    let group = &s.groups()[g];
                    if replicating && noack && group.last_id != last_before {
                        let setid = ["XGROUP", "SETID"];
                        let last = group.last_id.to_bytes();
                        let read = Bytes::from(group.entries_read.to_string());
                        let entries_read = Bytes::from_static(b"ENTRIESREAD");
                        propagate.push(argv(&setid, [key, g, &last, &entries_read, &read]));
                    }
                    entries_reply(&items)
                }
            }
        };
        if created {
            db.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        served.push((key.clone(), entries));
    }
    if replicating {
        ctx.propagate_nothing();
        for command in propagate {
            ctx.propagate_as(command);
        }
    }
    if !served.is_empty() {
        return Ok(keyed_reply(resp, served));
    }
    if timeout == -1 {
        return Ok(Reply::NilArray);
    }
    if ctx.in_multi() {
        return Ok(Reply::NilArray);
    }
    let mut pairs = Vec::with_capacity(keys.len() * 2);
    for (key, id) in keys.iter().zip(&ids) {
        pairs.push(key.clone());
        pairs.push(Bytes::from(id.to_string()));
    }
    let empty = Bytes::new();
    let blocked = Blocked {
        resp,
        count: if count == 0 { 1000 } else { count as usize },
        noack,
        group: group.map(|(g, _)| g),
        consumer: group.map_or(&empty, |(_, c)| c),
        pairs: &pairs,
    };
    let args = blocked.encode();
    Ok(ctx.block_propagating(keys, timeout as u64, &args, serve_blocked, propagate_served))
}

/// A command line of static words followed by arguments.
fn argv<'a>(words: &[&'static str], rest: impl IntoIterator<Item = &'a Bytes>) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::from_static(w.as_bytes()))
        .collect();
    out.extend(rest.into_iter().cloned());
    out
}

/// Redis's `streamPropagateXCLAIM`: the pending entry `id` of `group` as an idempotent
/// `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID last-id`.
fn xclaim_for(s: &Stream, key: &Bytes, group: &[u8], id: StreamId) -> Vec<Bytes> {
    let last_id = s.groups()[group].last_id;
    xclaim_with_last_id(s, key, group, id, last_id)
}

/// [`xclaim_for`] with the group's last ID as it was when `id` was delivered (XREADGROUP
/// delivering several entries moves it along them).
fn xclaim_with_last_id(
    s: &Stream,
    key: &Bytes,
    group: &[u8],
    id: StreamId,
    last_id: StreamId,
) -> Vec<Bytes> {
    let g = &s.groups()[group];
    let nack = &g.pel[&id];
    let b = |t: &'static str| Bytes::from_static(t.as_bytes());
    vec![
        b("XCLAIM"),
        key.clone(),
        Bytes::copy_from_slice(group),
        nack.consumer.clone(),
        b("0"),
        id.to_bytes(),
        b("TIME"),
        Bytes::from(nack.delivery_time.to_string()),
        b("RETRYCOUNT"),
        Bytes::from(nack.delivery_count.to_string()),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        last_id.to_bytes(),
    ]
}

/// What serving a blocked XREADGROUP propagates (Redis's `serveClientsBlockedOnStreamKey`):
/// an XCLAIM per delivered entry or, under NOACK, the consumer and the group's new last ID.
/// A blocked XREAD propagates nothing.
fn propagate_served(db: &mut Db, args: &[Bytes], key: &Bytes, reply: &Reply) -> Vec<Vec<Bytes>> {
    let (noack, group, consumer) = (&args[2][..] == b"1", &args[3], &args[4]);
    if group.is_empty() {
        return Vec::new();
    }
    // The reply is [[key, entries]] (RESP2) or {key: entries} (RESP3).
    let entries = match reply {
        Reply::Array(keys) => match keys.first() {
            Some(Reply::Array(pair)) => pair.get(1),
            _ => None,
        },
        Reply::Map(pairs) => pairs.first().map(|(_, v)| v),
        _ => None,
    };
    let Some(Reply::Array(entries)) = entries else {
        return Vec::new();
    };
    let ids: Vec<StreamId> = (entries.iter())
        .filter_map(|e| match e {
            Reply::Array(pair) => match pair.first() {
                Some(Reply::Bulk(id)) => parse_id(id, 0, true).ok(),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let Some(Value::Stream(s)) = db.peek(key).map(|e| &e.value) else {
        return Vec::new();
    };
    let Some(g) = s.groups().get(group) else {
        return Vec::new();
    };
    if ids.is_empty() {
        return Vec::new();
    }
    if noack {
        let (last, read) = (
            g.last_id.to_bytes(),
            Bytes::from(g.entries_read.to_string()),
        );
        let entries_read = Bytes::from_static(b"ENTRIESREAD");
        return vec![
            argv(&["XGROUP", "CREATECONSUMER"], [key, group, consumer]),
            argv(
                &["XGROUP", "SETID"],
                [key, group, &last, &entries_read, &read],
            ),
        ];
    }
    (ids.into_iter())
        .map(|id| xclaim_with_last_id(s, key, group, id, id))
        .collect()
}

/// XREAD's reply: a map of key → entries in RESP3, an array of [key, entries] in RESP2.
fn keyed_reply(resp: u8, served: Vec<(Bytes, Reply)>) -> Reply {
    if resp >= 3 {
        Reply::Map(
            served
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            served
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

/// Serves a blocked XREAD / XREADGROUP from `key` (`serveClientsBlockedOnStreamKey`), with
/// the arguments [`Blocked::encode`] wrote.
fn serve_blocked(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply> {
    let resp: u8 = std::str::from_utf8(&args[0]).ok()?.parse().ok()?;
    let count: usize = std::str::from_utf8(&args[1]).ok()?.parse().ok()?;
    let noack = &args[2][..] == b"1";
    let group = (!args[3].is_empty()).then(|| args[3].clone());
    let consumer = args[4].clone();
    let pairs = &args[5..];
    let at = pairs.iter().step_by(2).position(|k| k == key)?;
    let mut gt = parse_id(&pairs[at * 2 + 1], 0, false).ok()?;
    let is_stream = matches!(db.entry(key, now).map(|e| &e.value), Some(Value::Stream(_)));
    if !is_stream {
        return group.map(|_| Reply::error(e::KEY_GONE));
    }
    let Some(Value::Stream(s)) = db.entry(key, now).map(|e| &e.value) else {
        return None;
    };
    if let Some(g) = &group {
        match s.groups().get(g) {
            None => return Some(Reply::error(e::GROUP_GONE)),
            Some(group) => gt = group.last_id,
        }
    }
    if s.last_id <= gt {
        return None;
    }
    let start = gt.incr().unwrap_or(StreamId::MIN);
    let entries = match &group {
        None => s.range(start, StreamId::MAX, false, count),
        Some(g) => {
            let mark = db.watch_mark(key);
            let s = stream_mut(db, key, now);
            let created = s
                .group_mut(g)
                .expect("group")
                .touch_consumer(&consumer, now as i64);
            let items = s.deliver(g, &consumer, start, count, noack, now as i64);
            if created {
                db.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            journal_parts(db, key, now);
            db.restore_watch(key, mark);
            items
        }
    };
    Some(keyed_reply(
        resp,
        vec![(key.clone(), entries_reply(&entries))],
    ))
}

// ---------------------------------------------------------------------------------------
// XGROUP, XSETID

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | HELP
fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing_groups(ctx, args, 2, |ctx| {
        let opt = &args[1];
        let argc = args.len();
        let mut mkstream = false;
        let mut entries_read: i64 = -1;
        let now = ctx.now;
        let mut exists = false;
        let mut has_group = false;
        if argc >= 4 {
            let create = c_is(opt, "create");
            let setid = c_is(opt, "setid");
            let mut i = 5;
            while i < argc {
                if create && c_is(&args[i], "mkstream") {
                    mkstream = true;
                    i += 1;
                } else if (create || setid) && c_is(&args[i], "entriesread") && i + 1 < argc {
                    entries_read = int_arg(&args[i + 1])?;
                    if entries_read < 0 && entries_read != -1 {
                        return Err(Reply::error(e::ENTRIESREAD));
                    }
                    i += 2;
                } else {
                    return Err(subcommand_error(args));
                }
            }
            let db = ctx.db();
            exists = check_stream(db, &args[2], now)?;
            if exists {
                let s = db.entry(&args[2], now).and_then(|e| e.value.as_stream());
                has_group = s.is_some_and(|s| s.groups().contains_key(&args[3]));
            }
        }
        if argc >= 4 && !mkstream {
            if !exists {
                return Err(Reply::error(e::KEY_REQUIRED));
            }
            if !has_group
                && (c_is(opt, "setid") || c_is(opt, "createconsumer") || c_is(opt, "delconsumer"))
            {
                return Err(nogroup(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    text(&args[3]),
                    text(&args[2])
                )));
            }
        }
        let db = ctx.db();
        if argc == 2 && c_is(opt, "help") {
            Ok(help(&args[0], XGROUP_HELP))
        } else if c_is(opt, "create") && (5..=8).contains(&argc) {
            let id = if c_str(&args[4]) == b"$" {
                let s = db.entry(&args[2], now).and_then(|e| e.value.as_stream());
                s.map_or(StreamId::MIN, |s| s.last_id)
            } else {
                strict_id(&args[4])?
            };
            if !exists {
                db.insert(
                    args[2].clone(),
                    Value::Stream(Arc::new(Stream::new())),
                    None,
                );
            } else if has_group {
                return Err(Reply::error(e::BUSYGROUP));
            }
            let s = stream_mut(db, &args[2], now);
            s.insert_group(
                Bytes::copy_from_slice(&args[3]),
                crate::keyspace::stream::Group::new(id, entries_read),
            );
            db.notify(notify::STREAM, "xgroup-create", &args[2]);
            Ok(Reply::Ok)
        } else if c_is(opt, "setid") && (argc == 5 || argc == 7) {
            let s = stream_mut(db, &args[2], now);
            let id = if c_str(&args[4]) == b"$" {
                s.last_id
            } else {
                parse_id(&args[4], 0, false)?
            };
            let g = s.group_mut(&args[3]).expect("group checked");
            g.last_id = id;
            g.entries_read = entries_read;
            db.notify(notify::STREAM, "xgroup-setid", &args[2]);
            Ok(Reply::Ok)
        } else if c_is(opt, "destroy") && argc == 4 {
            if !has_group {
                return Ok(Reply::Integer(0));
            }
            stream_mut(db, &args[2], now).remove_group(&args[3]);
            db.notify(notify::STREAM, "xgroup-destroy", &args[2]);
            db.signal_ready(&args[2]);
            Ok(Reply::Integer(1))
        } else if c_is(opt, "createconsumer") && argc == 5 {
            let s = stream_mut(db, &args[2], now);
            let g = s.group_mut(&args[3]).expect("group checked");
            let created = g.create_consumer(&args[4], now as i64);
            if created {
                db.notify(notify::STREAM, "xgroup-createconsumer", &args[2]);
            }
            Ok(Reply::Integer(i64::from(created)))
        } else if c_is(opt, "delconsumer") && argc == 5 {
            let s = db.entry(&args[2], now).and_then(|e| e.value.as_stream());
            let known = s.is_some_and(|s| s.groups()[&args[3]].consumers.contains_key(&args[4]));
            if !known {
                return Ok(Reply::Integer(0));
            }
            let s = stream_mut(db, &args[2], now);
            let g = s.group_mut(&args[3]).expect("group checked");
            let pending = g.delete_consumer(&args[4]).unwrap_or(0);
            db.notify(notify::STREAM, "xgroup-delconsumer", &args[2]);
            Ok(Reply::Integer(pending as i64))
        } else {
            Err(subcommand_error(args))
        }
    })
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing_groups(ctx, args, 1, |ctx| {
        let id = strict_id(&args[2])?;
        let mut entries_added: i64 = -1;
        let mut max_deleted = StreamId::MIN;
        let mut i = 3;
        while i < args.len() {
            let more = args.len() - 1 - i;
            if c_is(&args[i], "entriesadded") && more > 0 {
                entries_added = int_arg(&args[i + 1])?;
                if entries_added < 0 {
                    return Err(Reply::error(e::ENTRIES_ADDED_NEGATIVE));
                }
                i += 2;
            } else if c_is(&args[i], "maxdeletedid") && more > 0 {
                max_deleted = strict_id(&args[i + 1])?;
                if id < max_deleted {
                    return Err(Reply::error(e::SETID_BELOW_MAXDELETED));
                }
                i += 2;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
        }
        let now = ctx.now;
        let db = ctx.db();
        if !check_stream(db, &args[1], now)? {
            return Err(Reply::error(err::NO_SUCH_KEY));
        }
        let s = db
            .entry(&args[1], now)
            .and_then(|e| e.value.as_stream())
            .expect("stream");
        if !s.is_empty() {
            if s.last_live().is_some_and(|m| id < m) {
                return Err(Reply::error(e::SETID_BELOW_TOP));
            }
            if entries_added != -1 && s.len() > entries_added as u64 {
                return Err(Reply::error(e::SETID_ENTRIES_ADDED));
            }
        }
        let s = stream_mut(db, &args[1], now);
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_deleted.is_zero() {
            s.max_deleted_id = max_deleted;
        }
        db.notify(notify::STREAM, "xsetid", &args[1]);
        Ok(Reply::Ok)
    })
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM

/// The stream at `key` and whether it has `group`, for the group commands that read first.
fn group_exists(db: &mut Db, key: &[u8], group: &[u8], now: u64) -> Result<bool, Reply> {
    Ok(read_stream(db, key, now)?.is_some_and(|s| s.groups().contains_key(group)))
}

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing_groups(ctx, args, 1, |ctx| {
        let now = ctx.now;
        let db = ctx.db();
        if !group_exists(db, &args[1], &args[2], now)? {
            return Ok(Reply::Integer(0));
        }
        let ids = args[3..]
            .iter()
            .map(|a| strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        let s = db
            .entry(&args[1], now)
            .and_then(|e| e.value.as_stream())
            .expect("stream");
        if !ids
            .iter()
            .any(|id| s.groups()[&args[2]].pel.contains_key(id))
        {
            return Ok(Reply::Integer(0));
        }
        let g = stream_mut(db, &args[1], now)
            .group_mut(&args[2])
            .expect("group");
        Ok(Reply::Integer(
            ids.iter().filter(|id| g.ack(**id)).count() as i64
        ))
    })
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Reply::error(err::SYNTAX));
    }
    let mut range = None;
    let mut min_idle = 0;
    if argc >= 6 {
        let mut at = 3;
        if c_is(&args[3], "idle") {
            min_idle = int_arg(&args[4])?;
            if argc < 8 {
                return Err(Reply::error(err::SYNTAX));
            }
            at += 2;
        }
        let count = int_arg(&args[at + 2])?.max(0);
        let start = start_bound(&args[at])?;
        let end = end_bound(&args[at + 1])?;
        let consumer = args.get(at + 3);
        range = Some((start, end, count as usize, consumer));
    }
    let now = ctx.now;
    let s = read_stream(ctx.db(), &args[1], now)?;
    let Some(g) = s.and_then(|s| s.groups().get(&args[2])) else {
        return Err(nogroup(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            text(&args[1]),
            text(&args[2])
        )));
    };
    let Some((start, end, mut count, consumer)) = range else {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Integer(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        }
        let first = *g.pel.keys().next().expect("non-empty");
        let last = *g.pel.keys().next_back().expect("non-empty");
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    Reply::Bulk(name.clone()),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Integer(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(consumers),
        ]));
    };
    let ids: Box<dyn Iterator<Item = &StreamId>> = match consumer {
        Some(name) => match g.consumers.get(name) {
            None => return Ok(Reply::Array(Vec::new())),
            Some(c) => Box::new(c.pel.iter()),
        },
        None => Box::new(g.pel.keys()),
    };
    let now = now as i64;
    let mut out = Vec::new();
    for id in ids.skip_while(|id| **id < start) {
        if count == 0 || *id > end {
            break;
        }
        let nack = &g.pel[id];
        if min_idle != 0 && now - nack.delivery_time < min_idle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_reply(*id),
            Reply::Bulk(nack.consumer.clone()),
            Reply::Integer((now - nack.delivery_time).max(0)),
            Reply::Integer(nack.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

/// XCLAIM key group consumer min-idle id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT n]
/// [FORCE] [JUSTID] [LASTID id]
fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing_groups(ctx, args, 1, |ctx| {
        let now = ctx.now;
        let replicating = ctx.replicating();
        let mut propagate: Vec<Vec<Bytes>> = Vec::new();
        let db = ctx.db();
        if !group_exists(db, &args[1], &args[2], now)? {
            return Err(nogroup(format!(
                "NOGROUP No such key '{}' or consumer group '{}'",
                text(&args[1]),
                text(&args[2])
            )));
        }
        let min_idle =
            long_long_or(&args[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
        let mut ids = Vec::new();
        let mut j = 5;
        while j < args.len() {
            match parse_id(&args[j], 0, true) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            j += 1;
        }
        let now = now as i64;
        let mut force = false;
        let mut justid = false;
        let mut delivery: Option<i64> = None;
        let mut retrycount: i64 = -1;
        let mut last_id = StreamId::MIN;
        while j < args.len() {
            let more = args.len() - 1 - j;
            let opt = &args[j];
            if c_is(opt, "force") {
                force = true;
            } else if c_is(opt, "justid") {
                justid = true;
            } else if c_is(opt, "idle") && more > 0 {
                j += 1;
                let idle = long_long_or(&args[j], "ERR Invalid IDLE option argument for XCLAIM")?;
                delivery = Some(now.wrapping_sub(idle));
            } else if c_is(opt, "time") && more > 0 {
                j += 1;
                delivery = Some(long_long_or(
                    &args[j],
                    "ERR Invalid TIME option argument for XCLAIM",
                )?);
            } else if c_is(opt, "retrycount") && more > 0 {
                j += 1;
                retrycount = long_long_or(
                    &args[j],
                    "ERR Invalid RETRYCOUNT option argument for XCLAIM",
                )?;
            } else if c_is(opt, "lastid") && more > 0 {
                j += 1;
                last_id = strict_id(&args[j])?;
            } else {
                return Err(Reply::error(sanitize(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    text(opt)
                ))));
            }
            j += 1;
        }
        let delivery = match delivery {
            Some(t) if t >= 0 && t <= now => t,
            _ => now,
        };
        let s = stream_mut(db, &args[1], now as u64);
        let group_name = &args[2];
        let consumer = &args[3];
        let mut propagate_last_id = false;
        {
            let g = s.group_mut(group_name).expect("group");
            if last_id > g.last_id {
                g.last_id = last_id;
                propagate_last_id = true;
            }
        }
        let mut out = Vec::new();
        let mut consumer_seen = false;
        let mut created = false;
        // Each change goes to replicas as an idempotent XCLAIM (Redis's `xclaimCommand`).
        for id in ids {
            let exists = s.contains(id);
            if !exists && replicating && s.groups()[group_name].pel.contains_key(&id) {
                propagate.push(xclaim_for(s, &args[1], group_name, id));
                propagate_last_id = false;
            }
            let g = s.group_mut(group_name).expect("group");
            if !exists {
                g.ack(id);
                continue;
            }
            let mut fresh = false;
            if !g.pel.contains_key(&id) {
                if !force {
                    continue;
                }
                fresh = true;
            }
            if !fresh && min_idle != 0 {
                let nack = &g.pel[&id];
                if now - nack.delivery_time < min_idle {
                    continue;
                }
            }
            if !consumer_seen {
                created = g.touch_consumer(consumer, now);
                consumer_seen = true;
            }
            let nack = g.assign(id, consumer);
            if fresh {
                nack.delivery_count = 1;
            }
            nack.delivery_time = delivery;
            if retrycount >= 0 {
                nack.delivery_count = retrycount as u64;
            } else if !justid {
                nack.delivery_count += 1;
            }
            if justid {
                out.push(id_reply(id));
            } else {
                let fields = s.get(id).expect("exists");
                out.push(entry_reply(&(id, fields)));
            }
            if replicating {
                propagate.push(xclaim_for(s, &args[1], group_name, id));
                propagate_last_id = false;
            }
        }
        if replicating && propagate_last_id {
            let g = &s.groups()[group_name];
            let (last, read) = (
                g.last_id.to_bytes(),
                Bytes::from(g.entries_read.to_string()),
            );
            let entries_read = Bytes::from_static(b"ENTRIESREAD");
            let setid = ["XGROUP", "SETID"];
            propagate.push(argv(
                &setid,
                [&args[1], group_name, &last, &entries_read, &read],
            ));
        }
        if created {
            db.notify(notify::STREAM, "xgroup-createconsumer", &args[1]);
        }
        if replicating {
            ctx.propagate_nothing();
            propagate.into_iter().for_each(|p| ctx.propagate_as(p));
        }
        Ok(Reply::Array(out))
    })
}

/// XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]
fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    changing_groups(ctx, args, 1, |ctx| {
        let min_idle = long_long_or(
            &args[4],
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        )?
        .max(0);
        let start = start_bound(&args[5])?;
        let mut count: i64 = 100;
        let mut justid = false;
        let mut j = 6;
        while j < args.len() {
            let more = args.len() - 1 - j;
            if c_is(&args[j], "count") && more > 0 {
                let max = i64::MAX / 16;
                count = crate::number::parse_i64(&args[j + 1])
                    .filter(|n| (1..=max).contains(n))
                    .ok_or(Reply::error(e::AUTOCLAIM_COUNT))?;
                j += 1;
            } else if c_is(&args[j], "justid") {
                justid = true;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
            j += 1;
        }
        let now = ctx.now;
        let replicating = ctx.replicating();
        let mut propagate: Vec<Vec<Bytes>> = Vec::new();
        let db = ctx.db();
        if !group_exists(db, &args[1], &args[2], now)? {
            return Err(nogroup(format!(
                "NOGROUP No such key '{}' or consumer group '{}'",
                text(&args[1]),
                text(&args[2])
            )));
        }
        let now = now as i64;
        let s = stream_mut(db, &args[1], now as u64);
        let group_name = &args[2];
        let consumer = &args[3];
        let mut attempts = count.saturating_mul(10);
        let mut out = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor = start;
        let mut exhausted = false;
        let mut consumer_seen = false;
        let mut created = false;
        while attempts > 0 && count > 0 {
            attempts -= 1;
            let g = s.groups().get(group_name).expect("group");
            let Some((&id, nack)) = g.pel.range(cursor..).next() else {
                exhausted = true;
                break;
            };
            cursor = id;
            let delivery_time = nack.delivery_time;
            let exists = s.contains(id);
            // Redis's `xautoclaimCommand` propagates each change as an XCLAIM.
            if !exists && replicating {
                propagate.push(xclaim_for(s, &args[1], group_name, id));
            }
            let g = s.group_mut(group_name).expect("group");
            if !exists {
                g.ack(id);
                deleted.push(id);
                count -= 1;
                continue;
            }
            // Move past this entry next time round.
            let next_cursor = id.incr();
            if min_idle != 0 && now - delivery_time < min_idle {
                match next_cursor {
                    Some(n) => cursor = n,
                    None => {
                        exhausted = true;
                        break;
                    }
                }
                continue;
            }
            if !consumer_seen {
                created = g.touch_consumer(consumer, now);
                consumer_seen = true;
            }
            let nack = g.assign(id, consumer);
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
            if justid {
                out.push(id_reply(id));
            } else {
                let fields = s.get(id).expect("exists");
                out.push(entry_reply(&(id, fields)));
            }
            if replicating {
                propagate.push(xclaim_for(s, &args[1], group_name, id));
            }
            count -= 1;
            match next_cursor {
                Some(n) => cursor = n,
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        let next = if exhausted {
            StreamId::MIN
        } else {
            let g = s.groups().get(group_name).expect("group");
            // A deleted entry left the PEL: the cursor already points past it.
            g.pel
                .range(cursor..)
                .next()
                .map_or(StreamId::MIN, |(id, _)| *id)
        };
        if created {
            db.notify(notify::STREAM, "xgroup-createconsumer", &args[1]);
        }
        if replicating {
            ctx.propagate_nothing();
            propagate.into_iter().for_each(|p| ctx.propagate_as(p));
        }
        Ok(Reply::Array(vec![
            id_reply(next),
            Reply::Array(out),
            Reply::Array(deleted.into_iter().map(id_reply).collect()),
        ]))
    })
}

// ---------------------------------------------------------------------------------------
// XINFO

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if c_is(&args[1], "help") {
        if args.len() != 2 {
            return Err(subcommand_error(args));
        }
        return Ok(help(&args[0], XINFO_HELP));
    } else if args.len() < 3 {
        return Err(subcommand_error(args));
    }
    let opt = &args[1];
    let now = ctx.now;
    let Some(s) = read_stream(ctx.db(), &args[2], now)? else {
        return Err(Reply::error(err::NO_SUCH_KEY));
    };
    if c_is(opt, "consumers") && args.len() == 4 {
        let Some(g) = s.groups().get(&args[3]) else {
            return Err(nogroup(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                text(&args[3]),
                text(&args[2])
            )));
        };
        let now = now as i64;
        Ok(Reply::Array(
            g.consumers
                .iter()
                .map(|(name, c)| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(name.clone())),
                        (bulk("pending"), Reply::Integer(c.pel.len() as i64)),
                        (bulk("idle"), Reply::Integer((now - c.seen_time).max(0))),
                    ])
                })
                .collect(),
        ))
    } else if c_is(opt, "groups") && args.len() == 3 {
        Ok(Reply::Array(
            s.groups()
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(name.clone())),
                        (bulk("consumers"), Reply::Integer(g.consumers.len() as i64)),
                        (bulk("pending"), Reply::Integer(g.pel.len() as i64)),
                        (bulk("last-delivered-id"), id_reply(g.last_id)),
                        (bulk("entries-read"), entries_read(g.entries_read)),
                        (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Integer)),
                    ])
                })
                .collect(),
        ))
    } else if c_is(opt, "stream") {
        stream_info(s, args)
    } else {
        Err(subcommand_error(args))
    }
}

fn entries_read(n: i64) -> Reply {
    if n == -1 {
        Reply::Nil
    } else {
        Reply::Integer(n)
    }
}

/// XINFO STREAM key [FULL [COUNT n]]
fn stream_info(s: &Stream, args: &[Bytes]) -> Result<Reply, Reply> {
    let opts = &args[3..];
    let mut full = true;
    let mut count: i64 = 10;
    if opts.is_empty() {
        full = false;
    } else {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(subcommand_error(args));
        }
        if !c_is(&opts[0], "full") {
            return Err(subcommand_error(args));
        }
        if opts.len() == 3 {
            if !c_is(&opts[1], "count") {
                return Err(subcommand_error(args));
            }
            count = int_arg(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let count = count as usize;
    let mut map = vec![
        (bulk("length"), Reply::Integer(s.len() as i64)),
        (
            bulk("radix-tree-keys"),
            Reply::Integer(s.nodes.len() as i64),
        ),
        (
            bulk("radix-tree-nodes"),
            Reply::Integer(s.rax_nodes() as i64),
        ),
        (bulk("last-generated-id"), id_reply(s.last_id)),
        (bulk("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (
            bulk("entries-added"),
            Reply::Integer(s.entries_added as i64),
        ),
        (bulk("recorded-first-entry-id"), id_reply(s.first_id)),
    ];
    if !full {
        map.push((bulk("groups"), Reply::Integer(s.groups().len() as i64)));
        let first = s.range(StreamId::MIN, StreamId::MAX, false, 1);
        let last = s.range(StreamId::MIN, StreamId::MAX, true, 1);
        map.push((
            bulk("first-entry"),
            first.first().map_or(Reply::Nil, entry_reply),
        ));
        map.push((
            bulk("last-entry"),
            last.first().map_or(Reply::Nil, entry_reply),
        ));
        return Ok(Reply::Map(map));
    }
    let take = |n: usize| if count == 0 { n } else { n.min(count) };
    map.push((
        bulk("entries"),
        entries_reply(&s.range(StreamId::MIN, StreamId::MAX, false, count)),
    ));
    let groups = s
        .groups()
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(take(g.pel.len()))
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(n.consumer.clone()),
                        Reply::Integer(n.delivery_time),
                        Reply::Integer(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pel
                        .iter()
                        .take(take(c.pel.len()))
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Integer(n.delivery_time),
                                Reply::Integer(n.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(cname.clone())),
                        (bulk("seen-time"), Reply::Integer(c.seen_time)),
                        (bulk("pel-count"), Reply::Integer(c.pel.len() as i64)),
                        (bulk("pending"), Reply::Array(pending)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (bulk("name"), Reply::Bulk(name.clone())),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), entries_read(g.entries_read)),
                (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Integer)),
                (bulk("pel-count"), Reply::Integer(g.pel.len() as i64)),
                (bulk("pending"), Reply::Array(pending)),
                (bulk("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    map.push((bulk("groups"), Reply::Array(groups)));
    Ok(Reply::Map(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        let strict = |s: &str| strict_id(s.as_bytes()).ok();
        assert_eq!(strict("1-2"), Some(StreamId::new(1, 2)));
        assert_eq!(strict("5"), Some(StreamId::new(5, 0)));
        assert_eq!(strict("-"), None);
        assert_eq!(strict("+"), None);
        assert_eq!(strict("1-"), None);
        assert_eq!(strict("-1"), None);
        assert_eq!(strict("+5"), Some(StreamId::new(5, 0)));
        assert_eq!(strict("007-1"), Some(StreamId::new(7, 1)));
        assert_eq!(strict("18446744073709551616"), None);
        assert_eq!(parse_id(b"+", 0, false).ok(), Some(StreamId::MAX));
        assert_eq!(end_bound(b"5").ok(), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(start_bound(b"(5-0").ok(), Some(StreamId::new(5, 1)));
        assert!(start_bound(b"(18446744073709551615-18446744073709551615").is_err());
    }
}
