//! What a command leaves for the replicas: Redis's propagation in `call()`, `alsoPropagate`
//! and `propagatePendingCommands`.
//!
//! Every call (from dispatch, EXEC's queue and a script's `redis.call`) is bracketed by
//! [`mark`] and [`after_call`]: a call that wrote (the keyspace's write count moved by more
//! than the keys it expired on the way) is propagated as it was sent, or as the handler
//! rewrote it through [`Ctx::propagate_as`] (relative expiry times made absolute, random
//! choices made explicit); keys that expired or were evicted on the way go first as `DEL`s.
//! Transactions and scripts propagate only the effects of the commands they ran. When the
//! top-level command ends, [`flush`] feeds what accumulated to the stream, wrapped in
//! `MULTI` / `EXEC` when it is more than one command, as Redis 7.0 does.
//!
//! While no replica ever synced, [`mark`] returns an inactive mark and nothing else runs.

use bytes::Bytes;

use super::{CommandSpec, Ctx, Session};
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::state::{Served, Shared};

/// The commands one top-level command propagates, gathered while it runs.
#[derive(Debug, Default)]
pub(crate) struct Propagation {
    ops: Vec<(usize, Vec<Bytes>)>,
    /// What the running handler propagates instead of its own arguments.
    rewrite: Option<Vec<Vec<Bytes>>>,
}

/// The state of the keyspace before a call.
pub(crate) struct Mark {
    active: bool,
    db: usize,
    /// The write count, if the keyspace was locked already (otherwise the batch's count at
    /// locking time applies).
    writes: Option<u64>,
    deletions: Option<u64>,
}

/// Notes where a call starts.
pub(crate) fn mark(ctx: &mut Ctx) -> Mark {
    let active = ctx.shared.replication().active();
    let (writes, deletions) = match ctx.keyspace.as_deref() {
        Some(ks) if active => (Some(ks.writes()), Some(ks.deletion_count())),
        _ => (None, None),
    };
    if active {
        ctx.session.propagation.rewrite = None;
    }
    Mark {
        active,
        db: ctx.session.db,
        writes,
        deletions,
    }
}

impl Ctx<'_, '_> {
    /// Whether the commands run now are propagated to replicas: a handler builds a rewrite
    /// only then.
    pub(crate) fn replicating(&self) -> bool {
        self.shared.replication().active()
    }

    /// Propagates `argv` (in the client's database) in place of the running command, as
    /// Redis's `rewriteClientCommandVector`; called again, adds another (`alsoPropagate`).
    pub(crate) fn propagate_as(&mut self, argv: Vec<Bytes>) {
        if self.replicating() {
            (self
                .session
                .propagation
                .rewrite
                .get_or_insert_with(Vec::new))
            .push(argv);
        }
    }

    /// Propagates nothing for the running command (`preventCommandPropagation`).
    pub(crate) fn propagate_nothing(&mut self) {
        if self.replicating() {
            self.session.propagation.rewrite = Some(Vec::new());
        }
    }
}

/// After a call: queues the keys deleted on the way, then the call itself (or its rewrite)
/// if it wrote.
pub(crate) fn after_call(
    ctx: &mut Ctx,
    mark: Mark,
    spec: &CommandSpec,
    args: &[Bytes],
    reply: &Reply,
) {
    if !mark.active {
        return;
    }
    let rewrite = ctx.session.propagation.rewrite.take();
    let writes_at_lock = *ctx.writes_at_lock;
    let (deleted, wrote) = match ctx.keyspace.as_deref_mut() {
        // The call never touched the keyspace (PUBLISH, FUNCTION LOAD).
        None => (Vec::new(), false),
        Some(ks) => {
            let deleted = ks.take_deletions();
            let deleted_during = match mark.deletions {
                Some(before) => ks.deletion_count() - before,
                None => deleted.len() as u64,
            };
            let writes_before = mark.writes.unwrap_or(writes_at_lock);
            let wrote = ks.writes().saturating_sub(writes_before) > deleted_during;
            (deleted, wrote)
        }
    };
    let ops = &mut ctx.session.propagation.ops;
    push_deletions(ctx.shared, ops, deleted);
    if is_container(spec) {
        return;
    }
    match rewrite {
        Some(argvs) => ops.extend(argvs.into_iter().map(|argv| (mark.db, argv))),
        None if wrote || always_propagated(spec, reply) => ops.push((mark.db, args.to_vec())),
        None => {}
    }
}

/// After a top-level command: feeds what it left to the stream, and notes the offset the
/// client's writes reach (for WAIT).
pub(crate) fn flush(shared: &Shared, session: &mut Session, spec: &CommandSpec) {
    let ops = std::mem::take(&mut session.propagation.ops);
    // Commands that may expire any number of keys (Redis's `CMD_TOUCHES_ARBITRARY_KEYS`:
    // SCAN, RANDOMKEY) send their DELs one by one, like the expiry sweep.
    if matches!(spec.name, "scan" | "randomkey") {
        for op in &ops {
            if let Some(offset) = feed(shared, std::slice::from_ref(op)) {
                session.woff = offset;
            }
        }
        return;
    }
    if let Some(offset) = feed(shared, &ops) {
        session.woff = offset;
    }
}

/// After the expiry sweep, or after serving blocked clients: the deletions, then the served
/// calls as the non-blocking commands they amount to, each on its own (Redis propagates a
/// served client's pop after the command that served it, never in one transaction with it).
pub(crate) fn background(shared: &Shared, ks: &mut Keyspace, served: Vec<Served>) {
    if !shared.replication().active() {
        return;
    }
    let mut ops = Vec::new();
    push_deletions(shared, &mut ops, ks.take_deletions());
    for s in served {
        match s.propagate {
            Some(propagate) => {
                let argvs = propagate(ks.db(s.db), &s.args, &s.key, &s.reply);
                ops.extend(argvs.into_iter().map(|argv| (s.db, argv)));
            }
            None => ops.extend(unblocked_equivalent(&s).map(|argv| (s.db, argv))),
        }
    }
    // Redis propagates each expired key on its own, never as one transaction.
    for op in ops {
        feed(shared, std::slice::from_ref(&op));
    }
}

fn feed(shared: &Shared, ops: &[(usize, Vec<Bytes>)]) -> Option<u64> {
    if ops.is_empty() {
        return None;
    }
    let multi = [Bytes::from_static(b"MULTI")];
    let exec = [Bytes::from_static(b"EXEC")];
    let wrap = ops.len() > 1;
    let commands = wrap
        .then(|| (Some(ops[0].0), &multi[..]))
        .into_iter()
        .chain(ops.iter().map(|(db, argv)| (Some(*db), &argv[..])))
        .chain(wrap.then_some((None, &exec[..])));
    Some(shared.replication().feed(commands))
}

/// Each key the keyspace deleted on its own, as Redis's `propagateDeletion`: `UNLINK` under
/// `lazyfree-lazy-expire` (expired) or `lazyfree-lazy-eviction` (evicted), else `DEL`.
fn push_deletions(
    shared: &Shared,
    ops: &mut Vec<(usize, Vec<Bytes>)>,
    deleted: Vec<(usize, Bytes, bool)>,
) {
    if deleted.is_empty() {
        return;
    }
    let (lazy_expire, lazy_eviction) = {
        let config = shared.config();
        (
            config.value("lazyfree-lazy-expire") == "yes",
            config.value("lazyfree-lazy-eviction") == "yes",
        )
    };
    for (db, key, evicted) in deleted {
        let lazy = if evicted { lazy_eviction } else { lazy_expire };
        let command = if lazy { &b"UNLINK"[..] } else { b"DEL" };
        ops.push((db, vec![Bytes::from_static(command), key]));
    }
}

/// Commands whose own arguments never propagate, only what they ran.
fn is_container(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Commands Redis propagates whether or not the keyspace changed (`forceCommandPropagation`
/// and `server.dirty++` outside the keyspace).
fn always_propagated(spec: &CommandSpec, reply: &Reply) -> bool {
    !matches!(reply, Reply::Error(_))
        && matches!(
            spec.name,
            "publish"
                | "spublish"
                | "function|load"
                | "function|delete"
                | "function|flush"
                | "function|restore"
        )
}

/// A served blocking call as Redis propagates it (`serveClientBlockedOnList` and friends).
fn unblocked_equivalent(s: &Served) -> Option<Vec<Bytes>> {
    let b = |t: &'static str| Bytes::from_static(t.as_bytes());
    let name = s.args[0].to_ascii_lowercase();
    let popped = || match &s.reply {
        Reply::Array(items) => match items.get(1) {
            Some(Reply::Array(elements)) => elements.len(),
            _ => 1,
        },
        _ => 1,
    };
    // BLMPOP / BZMPOP timeout numkeys key... LEFT|RIGHT|MIN|MAX [COUNT n]
    let side = |first: &'static str, second: &'static str| {
        let numkeys: usize = std::str::from_utf8(s.args.get(2)?).ok()?.parse().ok()?;
        let at = s.args.get(3 + numkeys)?;
        let first_side = at.eq_ignore_ascii_case(b"left") || at.eq_ignore_ascii_case(b"min");
        Some(b(if first_side { first } else { second }))
    };
    Some(match &name[..] {
        b"blpop" => vec![b("LPOP"), s.key.clone()],
        b"brpop" => vec![b("RPOP"), s.key.clone()],
        b"bzpopmin" => vec![b("ZPOPMIN"), s.key.clone()],
        b"bzpopmax" => vec![b("ZPOPMAX"), s.key.clone()],
        b"brpoplpush" => vec![b("RPOPLPUSH"), s.args[1].clone(), s.args[2].clone()],
        b"blmove" => vec![
            b("LMOVE"),
            s.args[1].clone(),
            s.args[2].clone(),
            s.args[3].clone(),
            s.args[4].clone(),
        ],
        b"blmpop" => {
            let count = Bytes::from(popped().to_string());
            vec![side("LPOP", "RPOP")?, s.key.clone(), count]
        }
        b"bzmpop" => {
            let count = Bytes::from(popped().to_string());
            vec![side("ZPOPMIN", "ZPOPMAX")?, s.key.clone(), count]
        }
        _ => return None,
    })
}
