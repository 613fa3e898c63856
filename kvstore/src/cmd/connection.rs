//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, RESET, CLIENT.

use bytes::Bytes;

use super::{CommandSpec, Ctx};
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, &["fast"], ping),
    CommandSpec::new("echo", 2, &["fast"], echo),
];

/// PING [message]
fn ping(_: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::status("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::error("ERR wrong number of arguments for 'ping' command"),
    }
}

/// ECHO message
fn echo(_: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}
