//! Replication commands, for a server that has no replicas yet: WAIT.
//!
//! WAIT answers how many replicas acknowledged the client's writes, which without
//! replication is always 0; it validates its arguments with Redis's errors and answers at
//! once, where Redis would wait out the timeout when asked for more replicas than exist.

use bytes::Bytes;

use super::args::int_arg;
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("wait", 3, flags![NOSCRIPT], acl![CONNECTION], wait),
];

/// WAIT numreplicas timeout
fn wait(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    int_arg(&args[1])?;
    // Redis's `getTimeoutFromObjectOrReply` in milliseconds.
    let timeout = crate::number::parse_i64(&args[2]).ok_or(Reply::error(
        "ERR timeout is not an integer or out of range",
    ))?;
    if timeout < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(Reply::Integer(0))
}
