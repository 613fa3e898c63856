//! MONITOR: the client receives a line for every command run after it (Redis's
//! `monitorCommand` and `replicationFeedMonitors`).
//!
//! The lines reach the client through the same [`Outbox`] that carries pub/sub messages, so
//! the connection writes them out while it waits for input; `observe::after_call` builds
//! them. As in Redis 7.0 a command is fed after it ran, in the database it left selected,
//! and administrative commands (and those flagged `skip_monitor`) are not fed at all.

use bytes::Bytes;

use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::pubsub::Outbox;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("monitor", 1, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], monitor),
];

/// MONITOR
fn monitor(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.in_multi() {
        return Err(Reply::error(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    let session = &mut *ctx.session;
    if session.monitoring {
        // Redis ignores a second MONITOR without a reply.
        return Ok(Reply::Frames(Vec::new()));
    }
    session.monitoring = true;
    let (handle, resp) = (session.handle.clone(), session.resp);
    let outbox = session
        .subscriptions
        .outbox
        .get_or_insert_with(|| Outbox::new(handle, resp))
        .clone();
    ctx.shared.introspection().add_monitor(outbox);
    Ok(Reply::Ok)
}
