//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (Redis's `networking.c`), and what
//! dispatch does for client-side caching after each command: remember the keys a tracking
//! client read, send the invalidations for the keys the command changed.
//!
//! A helper of the `session` family (which lists these handlers under CLIENT) and of
//! dispatch; the table and the messages are `crate::tracking`'s.

use std::sync::Arc;

use bytes::Bytes;

use super::args::{c_is, err, int_arg, sanitize};
use super::introspection::metadata;
use super::{CommandSpec, Ctx, Flags};
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::pubsub::Outbox;
use crate::state::Shared;
use crate::tracking::Options;

const MODE_SWITCH: &str = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.";
const OPT_SWITCH: &str = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.";

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]:
/// the options are all read first, then checked in Redis's order.
pub(super) fn client_tracking(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut redirect: i64 = 0;
    let mut options = Options::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let arg = &args[j];
        if c_is(arg, "redirect") && more > 0 {
            j += 1;
            if redirect != 0 {
                return Err(Reply::error(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            redirect = int_arg(&args[j])?;
            let exists = ctx
                .shared
                .clients()
                .all()
                .iter()
                .any(|c| c.id as i64 == redirect);
            if !exists {
                return Err(Reply::error(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
        } else if c_is(arg, "bcast") {
            options.bcast = true;
        } else if c_is(arg, "optin") {
            options.optin = true;
        } else if c_is(arg, "optout") {
            options.optout = true;
        } else if c_is(arg, "noloop") {
            options.noloop = true;
        } else if c_is(arg, "prefix") && more > 0 {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
        j += 1;
    }
    let id = ctx.session.id();
    if c_is(&args[2], "off") {
        ctx.shared.tracking().disable(id);
        return Ok(Reply::Ok);
    }
    if !c_is(&args[2], "on") {
        return Err(Reply::error(err::SYNTAX));
    }
    if !options.bcast && !prefixes.is_empty() {
        return Err(Reply::error(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let current = ctx.shared.tracking().state(id);
    if let Some(current) = &current {
        if current.options.bcast != options.bcast {
            return Err(Reply::error(MODE_SWITCH));
        }
    }
    if options.bcast && (options.optin || options.optout) {
        return Err(Reply::error(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if options.optin && options.optout {
        return Err(Reply::error(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(current) = &current {
        let was = current.options;
        if (options.optin && was.optout) || (options.optout && was.optin) {
            return Err(Reply::error(OPT_SWITCH));
        }
    }
    let mut collision = None;
    if options.bcast {
        let existing = current.as_ref().map(|c| &c.prefixes);
        collision = check_prefix_collisions(existing.into_iter().flatten(), &prefixes)?;
    }
    let outbox = own_outbox(ctx);
    ctx.shared
        .tracking()
        .enable(id, outbox, redirect as u64, options, &prefixes);
    // From now on the keyspace records the keys that change.
    ctx.keyspace().track_modified(true);
    Ok(match collision {
        // Redis 7.0 replies with both, having enabled tracking all the same.
        Some(error) => Reply::Frames(vec![error, Reply::Ok]),
        None => Reply::Ok,
    })
}

/// The connection's outbox, created if it has none yet: invalidations for a RESP3 client
/// arrive there, as pub/sub messages do.
fn own_outbox(ctx: &mut Ctx) -> Arc<Outbox> {
    let (handle, resp) = (ctx.session.handle.clone(), ctx.session.resp);
    ctx.session
        .subscriptions
        .outbox
        .get_or_insert_with(|| Outbox::new(handle, resp))
        .clone()
}

/// Redis's `checkPrefixCollisionsOrReply`: two prefixes collide when one starts the other.
/// A collision among the given prefixes past the first is `Ok(Some(error))`: Redis 7.0 then
/// returns the index as if it meant success, so the error reply is followed by tracking
/// being enabled and `+OK`.
fn check_prefix_collisions<'a>(
    existing: impl Iterator<Item = &'a Bytes> + Clone,
    prefixes: &[Bytes],
) -> Result<Option<Reply>, Reply> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let text = |b: &[u8]| {
        // `%s` of the C string.
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    for (i, prefix) in prefixes.iter().enumerate() {
        if let Some(collision) = existing.clone().find(|e| overlap(e, prefix)) {
            return Err(Reply::error(sanitize(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(prefix),
                text(collision)
            ))));
        }
        if let Some(other) = prefixes[i + 1..].iter().find(|o| overlap(prefix, o)) {
            let error = Reply::error(sanitize(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(prefix),
                text(other)
            )));
            return if i == 0 { Err(error) } else { Ok(Some(error)) };
        }
    }
    Ok(None)
}

/// CLIENT CACHING YES|NO
pub(super) fn client_caching(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let id = ctx.session.id();
    let Some(state) = ctx.shared.tracking().state(id) else {
        return Err(Reply::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if c_is(&args[2], "yes") {
        if !state.options.optin {
            return Err(Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if c_is(&args[2], "no") {
        if !state.options.optout {
            return Err(Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Reply::error(err::SYNTAX));
    }
    ctx.shared.tracking().set_caching(id, true);
    Ok(Reply::Ok)
}

/// CLIENT GETREDIR: the redirect target, 0 for none, -1 when not tracking.
pub(super) fn client_getredir(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let state = ctx.shared.tracking().state(ctx.session.id());
    Ok(Reply::Integer(state.map_or(-1, |s| s.redirect as i64)))
}

/// CLIENT TRACKINGINFO
pub(super) fn client_trackinginfo(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let state = ctx.shared.tracking().state(ctx.session.id());
    let mut flags = vec![Reply::bulk(if state.is_some() { "on" } else { "off" })];
    let mut redirect = -1;
    let mut prefixes = Vec::new();
    if let Some(s) = &state {
        let o = s.options;
        for (on, name) in [
            (o.bcast, "bcast"),
            (o.optin, "optin"),
            (o.optin && s.caching, "caching-yes"),
            (o.optout, "optout"),
            (o.optout && s.caching, "caching-no"),
            (o.noloop, "noloop"),
            (s.broken_redirect, "broken_redirect"),
        ] {
            if on {
                flags.push(Reply::bulk(name));
            }
        }
        redirect = s.redirect as i64;
        prefixes = s.prefixes.iter().cloned().map(Reply::Bulk).collect();
    }
    Ok(Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(flags)),
        (Reply::bulk("redirect"), Reply::Integer(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ]))
}

/// What dispatch does after running `spec` for client `id` while some client tracks:
/// invalidations for the keys the command changed, keys it read remembered, CLIENT CACHING
/// consumed. Returns the client's own invalidations, which follow its reply.
pub(super) fn after_command(
    shared: &Shared,
    keyspace: Option<&mut Keyspace>,
    id: u64,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Vec<Bytes> {
    let mut own = match keyspace {
        Some(ks) => shared.invalidate_modified(ks, Some(id)),
        None => Vec::new(),
    };
    if reads_keys(spec) {
        let tracked = shared.tracking().remember(id, keys_of(spec, args));
        own.extend(shared.limit_tracked_keys(tracked, Some(id)));
    }
    if !spec.name.starts_with("client") {
        shared.tracking().set_caching(id, false);
    }
    own
}

/// Remembers the keys a command EXEC runs read, as Redis's `call` does for each command of
/// a transaction (dispatch sees only EXEC).
pub(super) fn remember_reads(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes]) {
    if ctx.shared.tracking().active() && reads_keys(spec) {
        ctx.shared
            .tracking()
            .remember(ctx.session.id(), keys_of(spec, args));
    }
}

/// A script (EVAL / FCALL `command`) ran a read-only command: its caller, if it tracks,
/// may cache the keys the script declared, as Redis remembers them.
pub(super) fn remember_script_keys(ctx: &mut Ctx, command: &[Bytes]) {
    if !ctx.shared.tracking().active() {
        return;
    }
    let numkeys = command
        .get(2)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let keys = command.iter().skip(3).take(numkeys);
    ctx.shared.tracking().remember(ctx.session.id(), keys);
}

/// A read-only command whose keys a tracking client may cache (the read-only script
/// commands excepted, as in Redis).
fn reads_keys(spec: &CommandSpec) -> bool {
    spec.has_flag(Flags::READONLY) && !matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
}

/// The keys of a command as Redis's `getKeysFromCommand` finds them: at its fixed key
/// positions, or (keys that move: XREAD, ZUNION, SINTERCARD, ...) where its key specs say.
fn keys_of<'a>(spec: &CommandSpec, args: &'a [Bytes]) -> Box<dyn Iterator<Item = &'a Bytes> + 'a> {
    if spec.first_key == 0 && spec.has_flag(Flags::MOVABLEKEYS) {
        let found = metadata::lookup(spec.name).and_then(|meta| meta.find_keys(args));
        let at: Vec<usize> = found.into_iter().flatten().map(|(i, _)| i).collect();
        return Box::new(at.into_iter().filter_map(move |i| args.get(i)));
    }
    Box::new(fixed_keys(spec, args))
}

/// The keys at a command's fixed key positions (first, last, step; a negative last counts
/// from the end).
fn fixed_keys<'a>(spec: &CommandSpec, args: &'a [Bytes]) -> impl Iterator<Item = &'a Bytes> {
    let argc = args.len() as i32;
    let (first, step) = (spec.first_key, spec.step.max(1));
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key
    };
    let range = if first > 0 {
        first..(last.min(argc - 1) + 1)
    } else {
        0..0
    };
    range
        .step_by(step as usize)
        .filter_map(move |i| args.get(i as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_collide_when_one_starts_the_other() {
        let existing = [Bytes::from("user:")];
        let err = |r: Result<Option<Reply>, Reply>| match r {
            Err(Reply::Error(e)) | Ok(Some(Reply::Error(e))) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            check_prefix_collisions(existing.iter(), &[Bytes::from("obj:")]),
            Ok(None)
        ));
        assert!(matches!(
            check_prefix_collisions(
                [].iter(),
                &[Bytes::from("x"), Bytes::from("a"), Bytes::from("ab")]
            ),
            Ok(Some(_))
        ));
        assert_eq!(
            err(check_prefix_collisions(existing.iter(), &[Bytes::from("user:1")])),
            "ERR Prefix 'user:1' overlaps with an existing prefix 'user:'. Prefixes for a single client must not overlap."
        );
        assert_eq!(
            err(check_prefix_collisions([].iter(), &[Bytes::from("a"), Bytes::from("ab")])),
            "ERR Prefix 'a' overlaps with another provided prefix 'ab'. Prefixes for a single client must not overlap."
        );
    }
}
