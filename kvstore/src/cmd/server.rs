//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SAVE, CONFIG, COMMAND, SHUTDOWN, ...

use bytes::Bytes;

use super::{CommandSpec, Ctx};
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dbsize", 1, &["readonly", "fast"], dbsize),
    CommandSpec::new("flushall", -1, &["write"], flushall),
];

/// FLUSHALL
fn flushall(ctx: &mut Ctx, _: &[Bytes]) -> Reply {
    ctx.keyspace()
        .dbs_mut()
        .iter_mut()
        .for_each(|db| db.clear());
    Reply::Ok
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> Reply {
    Reply::Integer(ctx.db().len() as i64)
}
