//! SLOWLOG GET | LEN | RESET | HELP (Redis's `slowlog.c`).
//!
//! Entries are recorded after every call by `observe::after_call` when the call took at
//! least `slowlog-log-slower-than` microseconds (negative: never); the log keeps the newest
//! `slowlog-max-len`. Each entry is Redis's six fields: id, unix time, microseconds, the
//! arguments (at most 32, each cut at 128 bytes), the client's address and name.

use bytes::Bytes;

use super::args::{help, subcommand_syntax_error};
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("slowlog", -2, flags![], acl![], slowlog_help).with_subcommands(SLOWLOG),
];

#[rustfmt::skip]
static SLOWLOG: &[CommandSpec] = &[
    CommandSpec::new("slowlog|get", -2, flags![ADMIN, LOADING, STALE], acl![], slowlog_get),
    CommandSpec::new("slowlog|len", 2, flags![ADMIN, LOADING, STALE], acl![], slowlog_len),
    CommandSpec::new("slowlog|reset", 2, flags![ADMIN, LOADING, STALE], acl![], slowlog_reset),
    CommandSpec::new("slowlog|help", 2, flags![LOADING, STALE], acl![], slowlog_help),
];

/// SLOWLOG GET [count]
fn slowlog_get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    const COUNT: &str = "ERR count should be greater than or equal to -1";
    if args.len() > 3 {
        return Err(subcommand_syntax_error(args));
    }
    let introspection = ctx.shared.introspection();
    let count = match args.get(2) {
        None => 10,
        Some(arg) => match crate::number::parse_i64(arg) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Err(Reply::error(COUNT)),
        },
    };
    let entries = introspection.slowlog_get(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Integer(e.id as i64),
                    Reply::Integer(e.time as i64),
                    Reply::Integer(e.usec as i64),
                    Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                    Reply::bulk(e.peer),
                    Reply::Bulk(e.name),
                ])
            })
            .collect(),
    ))
}

/// SLOWLOG LEN
fn slowlog_len(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(
        ctx.shared.introspection().slowlog_len() as i64
    ))
}

/// SLOWLOG RESET
fn slowlog_reset(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.shared.introspection().slowlog_reset();
    Ok(Reply::Ok)
}

/// SLOWLOG HELP
fn slowlog_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}
