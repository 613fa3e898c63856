//! String commands: GET, SET and its variants, INCR family, APPEND, GETRANGE, SETRANGE, ...

use bytes::Bytes;

use super::{err, CommandSpec, Ctx};
use crate::keyspace::Value;
use crate::protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, &["readonly", "fast"], get).keys(1, 1, 1),
    CommandSpec::new("set", -3, &["write", "denyoom"], set).keys(1, 1, 1),
    CommandSpec::new("incr", 2, &["write", "denyoom", "fast"], incr).keys(1, 1, 1),
];

/// GET key
fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    match ctx.db().get(&args[1], now) {
        None => Reply::Nil,
        Some(Value::Str(s)) => Reply::Bulk(s.clone()),
    }
}

/// SET key value
fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ctx.db()
        .insert(args[1].clone(), Value::Str(args[2].clone()), None);
    Reply::Ok
}

/// INCR key
fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now;
    let db = ctx.db();
    let current = match db.get(&args[1], now) {
        None => 0,
        Some(Value::Str(s)) => match crate::number::parse_i64(s) {
            Some(n) => n,
            None => return Reply::error(err::NOT_INTEGER),
        },
    };
    let Some(next) = current.checked_add(1) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    let expire_at = db.entry(&args[1], now).and_then(|e| e.expire_at);
    db.insert(
        args[1].clone(),
        Value::Str(Bytes::from(next.to_string())),
        expire_at,
    );
    Reply::Integer(next)
}
