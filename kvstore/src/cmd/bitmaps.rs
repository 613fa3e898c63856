//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, wiring
//! [`crate::bitops`] (Redis 7.0's `bitops.c`) to string keys.
//!
//! A bitmap is an ordinary string: GET, GETRANGE, SETRANGE and APPEND see the same bytes.
//! Arguments are checked in Redis's order, which `bitops` splits where Redis looks the key up,
//! so WRONGTYPE and argument errors reach the client in the same order as from redis-server.
//! Writes keep Redis's rules: a string a bit command writes is stored `raw` (as Redis's
//! `dbUnshareStringValue` leaves it), keeps its TTL, and a write that changes nothing is not
//! recorded (WATCH and persistence see no change).

use bytes::Bytes;

use super::args::{edit_string, err, string_for_write};
use super::{acl, flags, CommandSpec, Ctx};
use crate::bitops::{self, BitError, Bitfield};
use crate::keyspace::{Db, Value};
use crate::protocol::Reply;
use crate::state::notify;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, flags![WRITE, DENYOOM], acl![BITMAP], setbit).keys(1, 1, 1),
    CommandSpec::new("getbit", 3, flags![READONLY, FAST], acl![BITMAP], getbit).keys(1, 1, 1),
    CommandSpec::new("bitcount", -2, flags![READONLY], acl![BITMAP], bitcount).keys(1, 1, 1),
    CommandSpec::new("bitpos", -3, flags![READONLY], acl![BITMAP], bitpos).keys(1, 1, 1),
    CommandSpec::new("bitop", -4, flags![WRITE, DENYOOM], acl![BITMAP], bitop).keys(2, -1, 1),
    CommandSpec::new("bitfield", -2, flags![WRITE, DENYOOM], acl![BITMAP], bitfield).keys(1, 1, 1),
    CommandSpec::new("bitfield_ro", -2, flags![READONLY, FAST], acl![BITMAP], bitfield_ro).keys(1, 1, 1),
];

fn bit_error(e: BitError) -> Reply {
    Reply::error(e.to_string())
}

/// The string at `key` for a read command (counts a hit or miss); another type is WRONGTYPE.
fn read<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d Bytes>, Reply> {
    match db.get(key, now) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().proto_max_bulk_len();
    let offset = bitops::parse_bit_offset(&args[2], max).map_err(bit_error)?;
    let on = bitops::parse_bit_value(&args[3]).map_err(bit_error)?;
    let now = ctx.now;
    let db = ctx.db();
    if let Some(current) = string_for_write(db, &args[1], now)? {
        // Nothing to write when the bit is there already and the string need not grow.
        if (offset >> 3) < current.len() as u64 && bitops::getbit(current, offset) == on {
            db.unshare_string(&args[1]);
            return Ok(Reply::Integer(i64::from(on)));
        }
    }
    let byte = offset >> 3;
    let (old, _) = edit_string(db, &args[1], now, &[(byte, byte + 1)], |v| {
        bitops::setbit(v, offset, on)
    });
    db.notify(notify::STRING, "setbit", &args[1]);
    Ok(Reply::Integer(i64::from(old)))
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().proto_max_bulk_len();
    let offset = bitops::parse_bit_offset(&args[2], max).map_err(bit_error)?;
    let now = ctx.now;
    let bit = read(ctx.db(), &args[1], now)?.is_some_and(|v| bitops::getbit(v, offset));
    Ok(Reply::Integer(i64::from(bit)))
}

fn rest(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| &a[..]).collect()
}

/// BITCOUNT key [start end [BYTE | BIT]]
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let now = ctx.now;
    let Some(value) = read(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Integer(0));
    };
    bitops::bitcount(value, &rest(&args[2..]))
        .map(Reply::Integer)
        .map_err(bit_error)
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let bit = bitops::parse_bitpos_bit(&args[2]).map_err(bit_error)?;
    let now = ctx.now;
    let Some(value) = read(ctx.db(), &args[1], now)? else {
        return Ok(Reply::Integer(if bit { -1 } else { 0 }));
    };
    bitops::bitpos(value, bit, &rest(&args[3..]))
        .map(Reply::Integer)
        .map_err(bit_error)
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let op = bitops::parse_bitop(&args[1], args.len() - 3).map_err(bit_error)?;
    let now = ctx.now;
    let db = ctx.db();
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        sources.push(read(db, key, now)?.cloned());
    }
    let views: Vec<Option<&[u8]>> = sources.iter().map(|s| s.as_deref()).collect();
    let result = bitops::bitop(op, &views);
    let len = result.len() as i64;
    if result.is_empty() {
        if db.delete(&args[2], now) {
            db.notify(notify::GENERIC, "del", &args[2]);
        }
    } else {
        db.insert(args[2].clone(), Value::RawStr(Bytes::from(result)), None);
        db.notify(notify::STRING, "set", &args[2]);
    }
    Ok(Reply::Integer(len))
}

/// BITFIELD key [GET type offset | [OVERFLOW WRAP | SAT | FAIL] SET type offset value |
/// INCRBY type offset increment ...]
fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> Result<Reply, Reply> {
    let max = ctx.shared.limits().proto_max_bulk_len();
    let command = Bitfield::parse(&rest(&args[2..]), read_only, max).map_err(bit_error)?;
    let now = ctx.now;
    let db = ctx.db();
    let outcome = if command.writes() {
        string_for_write(db, &args[1], now)?;
        let ranges: Vec<_> = command.written_bytes().collect();
        let outcome = edit_string(db, &args[1], now, &ranges, |v| command.execute(v));
        if outcome.changes > 0 {
            db.notify(notify::STRING, "setbit", &args[1]);
        }
        outcome
    } else {
        // Reads see zeros past the end: a copy of the bytes the fields cover is enough.
        let covered = command
            .ops
            .iter()
            .map(|op| (op.offset + u64::from(op.bits)).div_ceil(8))
            .max()
            .unwrap_or(0);
        let mut value = read(db, &args[1], now)?
            .map(|v| v[..v.len().min(covered as usize)].to_vec())
            .unwrap_or_default();
        command.execute(&mut value)
    };
    Ok(Reply::Array(
        outcome
            .replies
            .into_iter()
            .map(|r| r.map_or(Reply::Nil, Reply::Integer))
            .collect(),
    ))
}
