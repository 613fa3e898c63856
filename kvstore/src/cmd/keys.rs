//! Generic key commands: DEL, EXISTS, TYPE, EXPIRE family, TTL family, KEYS, SCAN, RENAME, ...

use bytes::Bytes;

use super::{CommandSpec, Ctx};
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] =
    &[CommandSpec::new("del", -2, &["write"], del).keys(1, -1, 1)];

/// DEL key [key ...]
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    let db = ctx.db();
    Reply::Integer(args[1..].iter().filter(|k| db.delete(k, now)).count() as i64)
}
