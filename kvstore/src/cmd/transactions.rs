//! Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH.
//!
//! MULTI makes dispatch queue commands (after the checks that can refuse them; a refusal
//! marks the transaction aborted, so EXEC answers EXECABORT). EXEC runs the queue inside the
//! one command, hence under the keyspace lock its batch holds: nothing else runs in between,
//! whichever read batches the queued commands arrived in, and under `appendfsync always` the
//! batch's usual wait makes the writes durable before the reply leaves.
//!
//! WATCH records each key's version in its [`Db`](crate::keyspace::Db); every change to the
//! key bumps it (whoever makes the change, expiry and FLUSHDB/FLUSHALL included), and EXEC
//! fails with a null reply when a version moved or a watched key has expired since.

use std::collections::HashSet;

use bytes::Bytes;

use super::context::Transaction;
use super::{acl, flags, CommandSpec, Ctx, Session};
use super::{observe, propagate};
use crate::protocol::Reply;
use crate::state::now_ms;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, flags![NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY], acl![TRANSACTION], multi),
    CommandSpec::new("exec", 1, flags![NOSCRIPT, LOADING, STALE, SKIP_SLOWLOG], acl![TRANSACTION], exec),
    CommandSpec::new("discard", 1, flags![NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY], acl![TRANSACTION], discard),
    CommandSpec::new("watch", -2, flags![NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY], acl![TRANSACTION], watch).keys(1, -1, 1),
    CommandSpec::new("unwatch", 1, flags![NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY], acl![TRANSACTION], unwatch),
];

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub(crate) const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";

/// Commands that run at once even inside MULTI (Redis's list in `processCommand`).
pub(crate) fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// What dispatch answers when it refuses a command: inside MULTI the refusal aborts the
/// transaction, and a refused EXEC discards it with the reason.
pub(crate) fn refuse(session: &mut Session, spec: Option<&CommandSpec>, error: Reply) -> Reply {
    if let Some(tx) = &mut session.multi {
        tx.aborted = true;
    }
    match (spec, &error) {
        (Some(spec), Reply::Error(msg)) if spec.name == "exec" => {
            session.multi = None;
            let reason = msg.strip_prefix("ERR ").unwrap_or(msg);
            Reply::error(format!(
                "EXECABORT Transaction discarded because of: {reason}"
            ))
        }
        _ => error,
    }
}

/// MULTI
fn multi(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.session.multi.is_some() {
        return Err(Reply::error("ERR MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Transaction::default());
    Ok(Reply::Ok)
}

/// EXEC
fn exec(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let Some(tx) = ctx.session.multi.take() else {
        return Err(Reply::error("ERR EXEC without MULTI"));
    };
    let now = ctx.now;
    let mut watched = std::mem::take(&mut ctx.session.watched);
    let watch_failed = !watched.is_empty() && {
        let ks = ctx.keyspace();
        let failed = watched
            .iter()
            .any(|(db, key, version)| !ks.db(*db).watch_holds(key, *version, now));
        for (db, key, _) in watched.drain(..) {
            ks.db(db).unwatch(&key);
        }
        failed
    };
    if tx.aborted {
        return Err(Reply::error(EXECABORT));
    }
    if watch_failed {
        return Ok(Reply::NilArray);
    }
    // Queued commands see `in_multi()`, so blocking ones answer at once.
    ctx.session.multi = Some(Transaction::default());
    // Like Redis, messages a subscriber receives meanwhile (it may publish to itself in
    // RESP3) go out where they arrive: before the array, or before the reply of the
    // command that published them.
    let before = pushed(ctx.session);
    let mut replies = Vec::with_capacity(tx.queue.len());
    for (spec, args) in tx.queue {
        ctx.now = now_ms();
        // Permissions are checked again: the user's rules may have changed since queuing.
        let reply = match super::permission(ctx.shared, &ctx.session.user, spec, &args) {
            Ok(()) => call_queued(ctx, spec, &args),
            Err(denied) => {
                let context = crate::acl::Context::Multi;
                super::log_denial(ctx.shared, ctx.session, spec, &args, denied, context);
                let error = Reply::error(format!(
                    "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                    match denied.0 {
                        crate::acl::Denial::Command => "no permission to execute the command or subcommand",
                        crate::acl::Denial::Key => "no permission to touch the specified keys",
                        crate::acl::Denial::Channel => "no permission to access one of the channels used as arguments",
                    }
                ));
                // Not a call: counted as an error reply only, as Redis's execCommand does.
                if let Reply::Error(message) = &error {
                    ctx.shared.introspection().record_error(message);
                }
                error
            }
        };
        replies.push(match pushed(ctx.session) {
            Some(messages) => Reply::Frames(vec![messages, reply]),
            None => reply,
        });
    }
    ctx.session.multi = None;
    Ok(match before {
        Some(messages) => Reply::Frames(vec![messages, Reply::Array(replies)]),
        None => Reply::Array(replies),
    })
}

/// Pub/sub messages waiting for this client, already encoded.
fn pushed(session: &Session) -> Option<Reply> {
    let outbox = session.subscriptions.outbox.as_ref()?;
    let mut messages = bytes::BytesMut::new();
    outbox.drain_into(&mut messages, usize::MAX);
    (!messages.is_empty()).then(|| Reply::Encoded(messages.freeze()))
}

/// DISCARD
fn discard(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.session.multi.take().is_none() {
        return Err(Reply::error("ERR DISCARD without MULTI"));
    }
    ctx.forget_watches();
    Ok(Reply::Ok)
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.session.multi.is_some() {
        return Err(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    let (db, now) = (ctx.session.db, ctx.now);
    // A set, not a scan per key: WATCH with many keys stays linear.
    let mut seen: HashSet<Bytes> = (ctx.session.watched.iter())
        .filter(|(d, _, _)| *d == db)
        .map(|(_, k, _)| k.clone())
        .collect();
    for key in &args[1..] {
        if !seen.insert(key.clone()) {
            continue;
        }
        let version = ctx.keyspace().db(db).watch(key, now);
        ctx.session
            .watched
            .push((db, Bytes::copy_from_slice(key), version));
    }
    Ok(Reply::Ok)
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.forget_watches();
    Ok(Reply::Ok)
}

/// Runs one queued command of EXEC as Redis's `call` does: timed, counted, shown to
/// MONITOR, and its reads remembered for client-side caching.
fn call_queued(ctx: &mut Ctx, spec: &'static CommandSpec, args: &[Bytes]) -> Reply {
    let start = crate::state::tick();
    let caller = observe::Caller::Client {
        addr: ctx.session.handle.addr,
        name: None,
        db: ctx.session.db,
        own: None,
    };
    let errors = observe::before_call(ctx.shared, spec, args, caller);
    let mark = propagate::mark(ctx);
    let reply = ctx.handle(spec, args);
    propagate::after_call(ctx, mark, spec, args, &reply);
    super::tracking::remember_reads(ctx, spec, args);
    let caller = observe::Caller::Client {
        addr: ctx.session.handle.addr,
        name: ctx.session.name.as_ref(),
        db: ctx.session.db,
        own: None,
    };
    let nanos = crate::state::tick().nanos_since(start);
    observe::after_call(ctx.shared, spec, args, nanos, &reply, caller, false, errors);
    reply
}
