//! Replication commands, for a server that has no replicas yet: WAIT.
//!
//! WAIT answers how many replicas acknowledged the client's writes, which without
//! replication is always 0. Asked for more than that, it blocks like Redis until its timeout
//! (0: for ever) or CLIENT UNBLOCK, then answers 0; inside MULTI it answers at once.

use bytes::Bytes;

use super::args::int_arg;
use super::{acl, flags, CommandSpec, Ctx};
use crate::keyspace::Db;
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("wait", 3, flags![NOSCRIPT], acl![CONNECTION], wait),
];

/// WAIT numreplicas timeout
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let numreplicas = int_arg(&args[1])?;
    // Redis's `getTimeoutFromObjectOrReply` in milliseconds.
    let timeout = crate::number::parse_i64(&args[2]).ok_or(Reply::error(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    if numreplicas <= 0 || ctx.in_multi() {
        return Ok(Reply::Integer(0));
    }
    // No key will ever serve it: only the timeout or CLIENT UNBLOCK releases it, and the
    // release answers 0 (`observe::unblocked`).
    Ok(ctx.block(&[], timeout as u64, args, never_served))
}

fn never_served(_: &mut Db, _: u64, _: &[Bytes], _: &Bytes) -> Option<Reply> {
    None
}
