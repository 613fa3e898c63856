//! Argument parsing and replies every command family uses: Redis's shared error messages,
//! integer and keyword arguments (with C's stop-at-NUL quirks where Redis has them), the
//! `numkeys key... SIDE [COUNT n]` tail of the multi-pop commands, HELP replies, and the
//! string lookup of the commands that write one (strings and bitmaps).

use std::borrow::Cow;

use bytes::Bytes;

use crate::keyspace::{Db, Value};
use crate::protocol::Reply;

/// Error replies shared by many commands, byte for byte as Redis sends them.
pub(crate) mod err {
    pub(crate) const SYNTAX: &str = "ERR syntax error";
    pub(crate) const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub(crate) const WRONGTYPE: &str =
        "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub(crate) const NOAUTH: &str = "NOAUTH Authentication required.";
    /// A write from an ordinary client to a read-only replica (Redis's `shared.roslaveerr`).
    pub(crate) const READONLY: &str = "READONLY You can't write against a read only replica.";
    /// A write under `min-replicas-to-write` without enough good replicas (Redis's
    /// `shared.noreplicaserr`).
    pub(crate) const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
    /// A command without the `stale` flag on a replica whose link is down, under
    /// `replica-serve-stale-data no` (Redis's `shared.masterdownerr`).
    pub(crate) const MASTERDOWN: &str =
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    /// Redis's `shared.oomerr`: a `denyoom` command out of memory (`cmd::oom`).
    pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    pub(crate) const WRONGPASS: &str =
        "WRONGPASS invalid username-password pair or user is disabled.";
    pub(crate) const NO_SUCH_KEY: &str = "ERR no such key";
    pub(crate) const DB_INDEX: &str = "ERR DB index is out of range";
    pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
}

/// At most `max` bytes of `b`, as text (Redis's `%.128s`).
pub(crate) fn truncated(b: &[u8], max: usize) -> Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(max)])
}

/// Errors must stay on one line: Redis replaces CR and LF in them with spaces.
pub(crate) fn sanitize(msg: String) -> String {
    if msg.contains(['\r', '\n']) {
        msg.replace(['\r', '\n'], " ")
    } else {
        msg
    }
}

/// Parses an integer argument the way Redis's `getLongLongFromObject` does.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    crate::number::parse_i64(arg).ok_or(Reply::error(err::NOT_INTEGER))
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub(crate) fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Case-insensitive keyword comparison of an argument up to its first NUL (C's `strcasecmp`).
pub(crate) fn c_is(arg: &[u8], keyword: &str) -> bool {
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    text.eq_ignore_ascii_case(keyword.as_bytes())
}

/// The bytes a C string function sees of an argument: up to the first NUL.
pub(crate) fn c_str(arg: &[u8]) -> &[u8] {
    arg.split(|&b| b == 0).next().unwrap_or_default()
}

/// The shared tail of LMPOP / BLMPOP / ZMPOP / BZMPOP: `numkeys key... SIDE [COUNT count]`,
/// checked in Redis's order with its errors; `side` reads LEFT|RIGHT or MIN|MAX.
pub(crate) struct MultiPop<'a, S> {
    pub(crate) keys: &'a [Bytes],
    pub(crate) side: S,
    pub(crate) count: usize,
}

impl<'a, S> MultiPop<'a, S> {
    /// Parses from `args[at]` (numkeys) on.
    pub(crate) fn parse(
        args: &'a [Bytes],
        at: usize,
        side: fn(&[u8]) -> Result<S, Reply>,
    ) -> Result<MultiPop<'a, S>, Reply> {
        const NUMKEYS: &str = "ERR numkeys should be greater than 0";
        const COUNT: &str = "ERR count should be greater than 0";
        let numkeys = crate::number::parse_i64(&args[at])
            .filter(|n| *n >= 1)
            .ok_or(Reply::error(NUMKEYS))?;
        let side_at = usize::try_from(numkeys)
            .ok()
            .and_then(|n| n.checked_add(at + 1))
            .filter(|i| *i < args.len())
            .ok_or(Reply::error(err::SYNTAX))?;
        let side = side(&args[side_at])?;
        let mut count = None;
        let mut i = side_at + 1;
        while i < args.len() {
            if count.is_none() && c_is(&args[i], "count") && i + 1 < args.len() {
                let n = crate::number::parse_i64(&args[i + 1])
                    .filter(|n| *n >= 1)
                    .ok_or(Reply::error(COUNT))?;
                count = Some(n as usize);
                i += 2;
            } else {
                return Err(Reply::error(err::SYNTAX));
            }
        }
        Ok(MultiPop {
            keys: &args[at + 1..side_at],
            side,
            count: count.unwrap_or(1),
        })
    }
}

/// A HELP reply in Redis's layout (`addReplyHelp`): a header naming the command as the
/// client typed it, the lines, and the HELP entry itself.
pub(crate) fn help(command: &[u8], lines: &[&'static str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Status(
        format!(
            "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            String::from_utf8_lossy(command).to_uppercase()
        )
        .into(),
    ));
    out.extend(lines.iter().map(|l| Reply::status(l)));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

/// The string at `key` for a command that writes it (Redis's `lookupKeyWrite`: no hit or
/// miss counted, no `keymiss` raised); another type is WRONGTYPE.
pub(crate) fn string_for_write<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d Bytes>, Reply> {
    match db.entry(key, now) {
        None => Ok(None),
        Some(e) => e
            .value
            .as_str()
            .map(Some)
            .ok_or(Reply::error(err::WRONGTYPE)),
    }
}

/// Runs `edit` on the string at `key` in place and stores it back `raw` (as Redis's
/// `dbUnshareStringValue` leaves it), keeping its TTL; a missing key is created from an empty
/// string. `edit` writes only bytes in `ranges` (half-open, `(start, end)`) and grows the
/// string to at most their end, which is what persistence records of a long string
/// (`Db::string_mut`). The caller checked the type. The bytes are taken over without a copy when nothing else shares them, and grow
/// as Redis's `sdsMakeRoomFor` grows a string: room for as much again, at most 1 MB more, so
/// appending to a string costs amortized O(appended bytes).
pub(crate) fn edit_string<R>(
    db: &mut Db,
    key: &Bytes,
    now: u64,
    ranges: &[(u64, u64)],
    edit: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    let end = ranges.iter().map(|r| r.1).max().unwrap_or(0) as usize;
    let Some(value) = db.string_mut(key, now, ranges) else {
        let mut bytes = Vec::new();
        let r = edit(&mut bytes);
        db.insert(key.clone(), Value::RawStr(Bytes::from(bytes)), None);
        return r;
    };
    let taken = match value {
        Value::Str(s) | Value::RawStr(s) => std::mem::take(s),
        _ => unreachable!("the caller checked the type"),
    };
    let mut bytes: Vec<u8> = match taken.try_into_mut() {
        Ok(unique) => unique.into(),
        Err(shared) => shared.to_vec(),
    };
    if end > bytes.capacity() {
        const MAX_PREALLOC: usize = 1024 * 1024;
        bytes.reserve_exact(end - bytes.len() + end.min(MAX_PREALLOC));
    }
    let r = edit(&mut bytes);
    *value = Value::RawStr(Bytes::from(bytes));
    r
}

/// Redis's `addReplySubcommandSyntaxError`: a known subcommand with the wrong arguments.
pub(crate) fn subcommand_syntax_error(args: &[Bytes]) -> Reply {
    Reply::error(sanitize(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        truncated(&args[1], 128),
        String::from_utf8_lossy(&args[0]).to_uppercase()
    )))
}
