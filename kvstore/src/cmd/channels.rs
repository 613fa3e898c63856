//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB,
//! and their sharded forms SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH (without cluster every
//! shard channel lives on this server; their subscriptions are counted apart).
//!
//! The registry of subscriptions and the delivery queues are in `crate::pubsub`; this file
//! keeps a connection's own view ([`Subscriptions`]) and the registry in step and builds
//! Redis's confirmation frames: pushes in RESP3, arrays in RESP2, one per channel.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{help, sanitize};
use super::context::Subscriptions;
use super::Session;
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::pubsub::{Outbox, Registry};

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], subscribe),
    CommandSpec::new("unsubscribe", -1, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], unsubscribe),
    CommandSpec::new("psubscribe", -2, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], psubscribe),
    CommandSpec::new("punsubscribe", -1, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], punsubscribe),
    CommandSpec::new("publish", 3, flags![PUBSUB, LOADING, STALE, FAST], acl![], publish),
    CommandSpec::new("spublish", 3, flags![PUBSUB, LOADING, STALE, FAST], acl![], spublish).keys(1, 1, 1),
    CommandSpec::new("ssubscribe", -2, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], ssubscribe).keys(1, -1, 1),
    CommandSpec::new("sunsubscribe", -1, flags![PUBSUB, NOSCRIPT, LOADING, STALE], acl![], sunsubscribe).keys(1, -1, 1),
    CommandSpec::new("pubsub", -2, flags![], acl![], pubsub_help).with_subcommands(PUBSUB),
];

#[rustfmt::skip]
static PUBSUB: &[CommandSpec] = &[
    CommandSpec::new("pubsub|channels", -2, flags![PUBSUB, LOADING, STALE], acl![], pubsub_channels),
    CommandSpec::new("pubsub|numsub", -2, flags![PUBSUB, LOADING, STALE], acl![], pubsub_numsub),
    CommandSpec::new("pubsub|numpat", 2, flags![PUBSUB, LOADING, STALE], acl![], pubsub_numpat),
    CommandSpec::new("pubsub|shardchannels", -2, flags![PUBSUB, LOADING, STALE], acl![], pubsub_shardchannels),
    CommandSpec::new("pubsub|shardnumsub", -2, flags![PUBSUB, LOADING, STALE], acl![], pubsub_shardnumsub),
    CommandSpec::new("pubsub|help", 2, flags![LOADING, STALE], acl![], pubsub_help),
];

/// The commands a RESP2 subscriber may still send (Redis's list in `processCommand`).
pub(crate) fn allowed_when_subscribed(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "ping"
            | "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "quit"
            | "reset"
    )
}

/// The error for any other command in that state.
pub(crate) fn subscribed_mode_error(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.name
    ))
}

fn confirmation(kind: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(kind),
        Reply::opt_bulk(name),
        Reply::Integer(count as i64),
    ])
}

/// The connection's outbox, created on its first subscription.
fn outbox(session: &mut Session) -> Arc<Outbox> {
    let (handle, resp) = (session.handle.clone(), session.resp);
    session
        .subscriptions
        .outbox
        .get_or_insert_with(|| Outbox::new(handle, resp))
        .clone()
}

/// Which of the two kinds of subscription a command deals with.
#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn names(self, subs: &mut Subscriptions) -> &mut std::collections::HashSet<Bytes> {
        match self {
            Kind::Channel => &mut subs.channels,
            Kind::Pattern => &mut subs.patterns,
            Kind::Shard => &mut subs.shard_channels,
        }
    }

    /// The count the confirmations report: shard channels are counted apart.
    fn count(self, subs: &Subscriptions) -> usize {
        match self {
            Kind::Channel | Kind::Pattern => subs.count(),
            Kind::Shard => subs.shard_channels.len(),
        }
    }

    fn add(self, registry: &mut Registry, name: Bytes, outbox: &Arc<Outbox>) {
        match self {
            Kind::Channel => registry.subscribe(name, outbox),
            Kind::Pattern => registry.psubscribe(name, outbox),
            Kind::Shard => registry.ssubscribe(name, outbox),
        }
    }

    fn remove(self, registry: &mut Registry, name: &[u8], outbox: &Arc<Outbox>) {
        match self {
            Kind::Channel => registry.unsubscribe(name, outbox),
            Kind::Pattern => registry.punsubscribe(name, outbox),
            Kind::Shard => registry.sunsubscribe(name, outbox),
        }
    }
}

fn add(ctx: &mut Ctx, args: &[Bytes], kind: Kind, reply: &'static str) -> Reply {
    let outbox = outbox(ctx.session);
    let mut registry = ctx.shared.pubsub();
    let subs = &mut ctx.session.subscriptions;
    let frames = args[1..]
        .iter()
        .map(|name| {
            if !kind.names(subs).contains(name) {
                let name = Bytes::copy_from_slice(name);
                kind.names(subs).insert(name.clone());
                kind.add(&mut registry, name, &outbox);
            }
            confirmation(reply, Some(name.clone()), kind.count(subs))
        })
        .collect();
    Reply::Frames(frames)
}

fn remove(ctx: &mut Ctx, args: &[Bytes], kind: Kind, reply: &'static str) -> Reply {
    let subs = &mut ctx.session.subscriptions;
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        kind.names(subs).iter().cloned().collect()
    };
    if names.is_empty() {
        return confirmation(reply, None, kind.count(subs));
    }
    let mut registry = ctx.shared.pubsub();
    let frames = names
        .into_iter()
        .map(|name| {
            if kind.names(subs).remove(&name) {
                if let Some(outbox) = &subs.outbox {
                    kind.remove(&mut registry, &name, outbox);
                }
            }
            confirmation(reply, Some(name), kind.count(subs))
        })
        .collect();
    Reply::Frames(frames)
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(add(ctx, args, Kind::Channel, "subscribe"))
}

/// UNSUBSCRIBE [channel ...]
fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(remove(ctx, args, Kind::Channel, "unsubscribe"))
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(add(ctx, args, Kind::Pattern, "psubscribe"))
}

/// PUNSUBSCRIBE [pattern ...]
fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(remove(ctx, args, Kind::Pattern, "punsubscribe"))
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.in_multi() {
        return Err(Reply::error(
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client",
        ));
    }
    Ok(add(ctx, args, Kind::Shard, "ssubscribe"))
}

/// SUNSUBSCRIBE [shardchannel ...]
fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(remove(ctx, args, Kind::Shard, "sunsubscribe"))
}

/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let limit = ctx.shared.limits().pubsub_output();
    let receivers = ctx.shared.pubsub().spublish(&args[1], &args[2], limit);
    Ok(Reply::Integer(receivers as i64))
}

/// PUBLISH channel message
fn publish(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    // Keyspace events a script or transaction raised before this come first.
    ctx.publish_key_events();
    let limit = ctx.shared.limits().pubsub_output();
    let receivers = ctx.shared.pubsub().publish(&args[1], &args[2], limit);
    Ok(Reply::Integer(receivers as i64))
}

/// The error of (SHARD)CHANNELS with more than a pattern.
fn too_many_args(args: &[Bytes]) -> Option<Reply> {
    (args.len() > 3).then(|| {
        Reply::error(sanitize(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        )))
    })
}

/// PUBSUB SHARDCHANNELS [pattern]
fn pubsub_shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if let Some(error) = too_many_args(args) {
        return Err(error);
    }
    let channels = (ctx.shared.pubsub()).shard_channels(args.get(2).map(|p| &p[..]));
    Ok(Reply::Array(
        channels.into_iter().map(Reply::Bulk).collect(),
    ))
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
fn pubsub_shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let registry = ctx.shared.pubsub();
    let pairs = args[2..].iter().flat_map(|c| {
        let n = registry.shard_numsub(c) as i64;
        [Reply::Bulk(c.clone()), Reply::Integer(n)]
    });
    Ok(Reply::Array(pairs.collect()))
}

/// PUBSUB CHANNELS [pattern]
fn pubsub_channels(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if let Some(error) = too_many_args(args) {
        return Err(error);
    }
    let channels = ctx.shared.pubsub().channels(args.get(2).map(|p| &p[..]));
    Ok(Reply::Array(
        channels.into_iter().map(Reply::Bulk).collect(),
    ))
}

/// PUBSUB NUMSUB [channel ...]
fn pubsub_numsub(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let registry = ctx.shared.pubsub();
    let mut out = Vec::with_capacity(2 * (args.len() - 2));
    for channel in &args[2..] {
        out.push(Reply::Bulk(channel.clone()));
        out.push(Reply::Integer(registry.numsub(channel) as i64));
    }
    Ok(Reply::Array(out))
}

/// PUBSUB NUMPAT
fn pubsub_numpat(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(ctx.shared.pubsub().numpat() as i64))
}

/// PUBSUB HELP
fn pubsub_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    ))
}
