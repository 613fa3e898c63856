//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SAVE, CONFIG, COMMAND, SHUTDOWN, ...

use bytes::Bytes;

use super::{CommandSpec, Ctx};
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("dbsize", 1, &["readonly", "fast"], dbsize)];

/// DBSIZE
fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::Integer(ctx.db().len() as i64)
}
