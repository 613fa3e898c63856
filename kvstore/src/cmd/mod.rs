//! Commands: the table of every command kvstore knows, and how one is dispatched.
//!
//! Each family lives in its own file and exports a `COMMANDS` table of [`CommandSpec`]s: the
//! name, Redis's arity convention (positive = exact, negative = at least), flags and key
//! positions as COMMAND INFO reports them, and the handler. Dispatch follows Redis's
//! `processCommand` order: QUIT, lookup (unknown command / subcommand), arity, DEBUG's
//! `enable-debug-command`, then authentication, so clients see the same error for the same
//! mistake. Every call goes through `observe` (statistics, slow log, latency, MONITOR), and
//! CLIENT PAUSE postpones what it holds back before it runs or is queued.
//!
//! A family imports only this module, its helpers (`args`, `collection`, `blocking`,
//! `context`, `spec`) and the layers below (`state`, `keyspace`, `protocol`), never another
//! family: the module graph test (`tests/module_graph.rs`) holds that.

mod access_control;
mod admin;
mod args;
mod bitmaps;
mod blocking;
mod channels;
mod collection;
mod context;
mod debug;
mod geosets;
mod hashes;
mod hyperloglogs;
mod introspection;
mod keys;
mod latency;
mod lcs;
mod lists;
mod lolwut;
mod memory;
mod monitor;
mod observe;
mod oom;
mod process;
mod propagate;
mod replication;
mod scripting;
mod serialize;
mod session;
mod sets;
mod slowlog;
mod sort;
mod spec;
mod streams;
mod strings;
mod tracking;
mod transactions;
mod zsets;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use parking_lot::MutexGuard;

use crate::acl::{Call, Catalog, Context, Denial, LogEntry, Reason};
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::state::{now_ms, tick, Shared, Tick};
use args::{err, sanitize, truncated};

pub(crate) use access_control::load_users_at_startup;
pub(crate) use context::{rdb_limits, Ctx, Effects, Session, WaitReplicas};
pub(crate) use observe::unblocked;
pub(crate) use propagate::background as propagate_background;
pub(crate) use spec::{acl, flags, CommandSpec, Flags};

/// Every top-level command.
pub(crate) fn table() -> impl Iterator<Item = &'static CommandSpec> {
    session::COMMANDS
        .iter()
        .chain(access_control::COMMANDS)
        .chain(admin::COMMANDS)
        .chain(introspection::COMMANDS)
        .chain(strings::COMMANDS)
        .chain(keys::COMMANDS)
        .chain(serialize::COMMANDS)
        .chain(memory::COMMANDS)
        .chain(sort::COMMANDS)
        .chain(lcs::COMMANDS)
        .chain(lists::COMMANDS)
        .chain(hashes::COMMANDS)
        .chain(sets::COMMANDS)
        .chain(zsets::COMMANDS)
        .chain(transactions::COMMANDS)
        .chain(channels::COMMANDS)
        .chain(streams::COMMANDS)
        .chain(bitmaps::COMMANDS)
        .chain(hyperloglogs::COMMANDS)
        .chain(geosets::COMMANDS)
        .chain(scripting::COMMANDS)
        .chain(slowlog::COMMANDS)
        .chain(latency::COMMANDS)
        .chain(monitor::COMMANDS)
        .chain(debug::COMMANDS)
        .chain(lolwut::COMMANDS)
        .chain(replication::COMMANDS)
}

pub(crate) fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    type Index = HashMap<&'static str, &'static CommandSpec, foldhash::fast::FixedState>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| table().map(|c| (c.name, c)).collect());
    let mut lower = [0u8; 32];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(std::str::from_utf8(lower).ok()?).copied()
}

/// The commands of one read batch, executed under one acquisition of the keyspace lock.
pub(crate) struct Batch<'a> {
    shared: &'a Shared,
    session: &'a mut Session,
    keyspace: Option<MutexGuard<'a, Keyspace>>,
    writes_at_lock: u64,
    effects: Effects,
    last_cmd: &'static str,
    /// The time the last command ran at, if it was a `fast` one (O(1) or O(log n) in Redis's
    /// command table): the next command may take its time from it instead of the clock, which
    /// was the largest user-space cost of a pipelined PING or GET. After any other command
    /// the clock is read again, so a slow command never makes later ones see an old time.
    recent_now: Option<u64>,
    /// When the previous command of the batch ended: the next one's start, so that timing a
    /// command (INFO commandstats, SLOWLOG, LATENCY) costs one clock read, not two.
    clock: Option<Tick>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(shared: &'a Shared, session: &'a mut Session) -> Batch<'a> {
        Batch {
            shared,
            session,
            keyspace: None,
            writes_at_lock: 0,
            effects: Effects::default(),
            last_cmd: "",
            recent_now: None,
            clock: None,
        }
    }

    pub(crate) fn session(&self) -> &Session {
        self.session
    }

    pub(crate) fn effects(&self) -> &Effects {
        &self.effects
    }

    pub(crate) fn effects_mut(&mut self) -> &mut Effects {
        &mut self.effects
    }

    /// The reply to a malformed request, counted like any error reply (INFO errorstats).
    pub(crate) fn protocol_error(&mut self, message: String) -> Reply {
        let reply = Reply::error(message);
        observe::rejected(self.shared, None, &reply);
        reply
    }

    /// Runs one command (or queues it inside MULTI) and returns its reply.
    pub(crate) fn execute(&mut self, args: Vec<Bytes>) -> Reply {
        if args[0].eq_ignore_ascii_case(b"quit") {
            self.effects.close = true;
            return Reply::Ok;
        }
        let spec = match self.check(&args) {
            Ok(spec) => spec,
            Err((spec, error)) => {
                let reply = transactions::refuse(self.session, spec, error);
                observe::rejected(self.shared, spec, &reply);
                return reply;
            }
        };
        let master = self.session.master;
        if let Some(busy) = scripting::busy_refusal(self.shared, spec).filter(|_| !master) {
            let reply = transactions::refuse(self.session, Some(spec), busy);
            observe::rejected(self.shared, Some(spec), &reply);
            return reply;
        }
        if !master && (self.shared.pause()).holds(|| may_replicate(spec, self.session)) {
            self.effects.postponed = Some(args);
            return Reply::Nil;
        }
        if let Some(tx) = &mut self.session.multi {
            if !transactions::runs_inside_multi(spec) {
                self.last_cmd = spec.name;
                tx.queue.push((spec, args));
                return Reply::status("QUEUED");
            }
        }
        self.last_cmd = spec.name;
        let now = self.recent_now.take().unwrap_or_else(now_ms);
        let mut ctx = Ctx {
            shared: self.shared,
            session: self.session,
            keyspace: &mut self.keyspace,
            writes_at_lock: &mut self.writes_at_lock,
            effects: &mut self.effects,
            now,
        };
        let start = self.clock.take().unwrap_or_else(tick);
        let caller = observe::Caller::Client {
            addr: ctx.session.handle.addr,
            name: None,
            db: ctx.session.db,
            own: None,
        };
        let errors = observe::before_call(ctx.shared, spec, &args, caller);
        let mark = propagate::mark(&mut ctx);
        if master {
            ctx.keyspace().obey_master(true);
        }
        let reply = ctx.handle(spec, &args);
        if master {
            ctx.keyspace().obey_master(false);
        }
        propagate::after_call(&mut ctx, mark, spec, &args, &reply);
        let end = tick();
        self.clock = Some(end);
        let own = (self.session.monitoring)
            .then_some(self.session.subscriptions.outbox.as_ref())
            .flatten();
        let caller = observe::Caller::Client {
            addr: self.session.handle.addr,
            name: self.session.name.as_ref(),
            db: self.session.db,
            own,
        };
        let nanos = end.nanos_since(start);
        let blocked = self.effects.block.is_some();
        let own_line = observe::after_call(
            self.shared,
            spec,
            &args,
            nanos,
            &reply,
            caller,
            blocked,
            errors,
        );
        if blocked {
            self.session.blocked_call = Some(observe::BlockedCall::new(spec, args.clone(), nanos));
        }
        if spec.has_flag(Flags::FAST) {
            self.recent_now = Some(now);
        }
        // What the command propagates goes to the stream before what serving blocked
        // clients does.
        if self.shared.replication().active() {
            propagate::flush(self.shared, self.session, spec);
        }
        // Like Redis's `handleClientsBlockedOnKeys` after each command: clients blocked on
        // keys this command created are served before anything else runs.
        if !self.shared.blocked().is_empty() {
            if let Some(ks) = self.keyspace.as_mut() {
                let served = self.shared.blocked().serve_ready(ks);
                // Each served call propagates on its own, after the command that served it.
                propagate::background(self.shared, ks, served);
            }
        }
        if self.shared.notify_classes() != 0 {
            if let Some(ks) = self.keyspace.as_mut() {
                self.shared.publish_key_events(ks);
            }
        }
        if self.shared.tracking().active() {
            let id = self.session.id();
            let own =
                tracking::after_command(self.shared, self.keyspace.as_deref_mut(), id, spec, &args);
            self.effects.after_reply.extend(own);
        }
        match own_line {
            Some(line) => Reply::Frames(vec![reply, Reply::Encoded(line)]),
            None => reply,
        }
    }

    /// Redis's checks before running or queuing a command, in its order: lookup, arity,
    /// DEBUG's protection, authentication, MULTI-compatibility, ACL permissions, `maxmemory`
    /// (eviction, OOM), subscribed mode. A refusal carries the command it refused, when known.
    #[allow(clippy::type_complexity)]
    fn check(
        &mut self,
        args: &[Bytes],
    ) -> Result<&'static CommandSpec, (Option<&'static CommandSpec>, Reply)> {
        let name = &args[0];
        let Some(mut spec) = lookup(name) else {
            return Err((None, unknown_command(args)));
        };
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            match spec.subcommands.iter().find(|s| {
                let sub = &s.name[spec.name.len() + 1..];
                sub.as_bytes().eq_ignore_ascii_case(&args[1])
            }) {
                Some(sub) => spec = sub,
                None => {
                    let error = Reply::error(sanitize(format!(
                        "ERR unknown subcommand '{}'. Try {} HELP.",
                        truncated(&args[1], 128),
                        spec.name.to_ascii_uppercase()
                    )));
                    return Err((None, error));
                }
            }
        }
        if !spec.arity_ok(args.len()) {
            let error = Reply::error(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            return Err((Some(spec), error));
        }
        if spec.name == "debug" && !debug::allowed(self.shared, self.session) {
            return Err((Some(spec), Reply::error(debug::NOT_ALLOWED)));
        }
        if !self.session.authenticated
            && !spec.has_flag(Flags::NO_AUTH)
            && self.shared.acl().auth_required()
        {
            return Err((Some(spec), Reply::error(err::NOAUTH)));
        }
        if self.session.multi.is_some() && spec.has_flag(Flags::NO_MULTI) {
            return Err((Some(spec), Reply::error(transactions::NOT_IN_MULTI)));
        }
        if self.session.master {
            // Redis's `mustObeyClient`: what the master sent is applied as it is.
            return Ok(spec);
        }
        if let Err((denial, at)) = permission(self.shared, &self.session.user, spec, args) {
            let context = match self.session.multi {
                Some(_) => Context::Multi,
                None => Context::Toplevel,
            };
            log_denial(self.shared, self.session, spec, args, (denial, at), context);
            return Err((Some(spec), access_control::refusal(spec, denial)));
        }
        if oom::applies(self.shared) {
            let ks =
                context::lock_for_batch(self.shared, &mut self.keyspace, &mut self.writes_at_lock);
            if oom::refuses(self.shared, ks, self.session, spec, args) {
                return Err((Some(spec), Reply::error(err::OOM)));
            }
        }
        // Redis's `checkGoodReplicasStatus`: writes need `min-replicas-to-write` good replicas.
        if self.shared.replication().too_few_good_replicas()
            && (spec.has_flag(Flags::WRITE)
                || exec_writes(spec, self.session)
                || scripting::script_writes(self.shared, spec, args) == Some(true))
        {
            return Err((Some(spec), Reply::error(err::NOREPLICAS)));
        }
        // A read-only replica refuses writes (scripts by their declared flags; EXEC of a
        // transaction that queued one) to everyone but its master.
        if self.shared.replication().refuses_writes()
            && (spec.has_flag(Flags::WRITE)
                || exec_writes(spec, self.session)
                || scripting::script_writes(self.shared, spec, args) == Some(true))
        {
            return Err((Some(spec), Reply::error(err::READONLY)));
        }
        if self.session.in_subscribed_mode() && !channels::allowed_when_subscribed(spec) {
            return Err((Some(spec), channels::subscribed_mode_error(spec)));
        }
        // A replica cut off from its master under `replica-serve-stale-data no` serves only
        // the commands flagged `stale` (INFO, REPLICAOF, ...; EXEC only if all it queued are).
        if self.shared.replication().refuses_stale()
            && (!spec.has_flag(Flags::STALE)
                || exec_queued(spec, self.session, |s| !s.has_flag(Flags::STALE)))
        {
            return Err((Some(spec), Reply::error(err::MASTERDOWN)));
        }
        Ok(spec)
    }

    /// Releases the keyspace lock and reports what the connection must do next.
    pub(crate) fn finish(mut self) -> Effects {
        // Redis sends BCAST invalidations before its event loop sleeps: after the batch.
        self.shared.broadcast_invalidations();
        if let Some(ks) = self.keyspace.take() {
            let writes = ks.writes();
            drop(ks);
            if writes != self.writes_at_lock
                && self.shared.commit().policy() == crate::persistence::Durability::Always
            {
                self.effects.wait_for_durable = Some(writes);
            }
        }
        if !self.last_cmd.is_empty() {
            self.session.publish(self.last_cmd);
        }
        self.effects
    }
}

/// The ACL view of the command table: an id per command and subcommand, with its categories.
pub(crate) fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut catalog = Catalog::default();
        for spec in table() {
            let subcommands = spec
                .subcommands
                .iter()
                .map(|s| (s.name, s.acl_categories().bits()));
            catalog.add(spec.name, spec.acl_categories().bits(), subcommands);
        }
        catalog
    })
}

/// Whether `user` may run `spec` with `args` (Redis's `ACLCheckAllUserCommandPerm`): `Err`
/// names the reason and the argument at fault. A user that no longer exists may run nothing.
pub(crate) fn permission(
    shared: &Shared,
    user: &[u8],
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), (Denial, usize)> {
    let acl = shared.acl();
    if user == b"default" && acl.default_unrestricted() {
        return Ok(());
    }
    let users = acl.read();
    let Some(user) = users.get(user) else {
        return Err((Denial::Command, 0));
    };
    let Some(id) = catalog().id(spec.name) else {
        return Ok(());
    };
    // Finding keys costs a walk of the key specs: only for users restricted to some keys.
    let keys = match user.selectors.iter().all(|s| s.allkeys) {
        true => Vec::new(),
        false => introspection::key_access(spec, args),
    };
    let channels = channel_args(spec, args);
    user.check(&Call {
        id,
        is_subcommand: spec.name.contains('|'),
        no_auth: spec.has_flag(Flags::NO_AUTH),
        args,
        keys: &keys,
        channels: &channels,
    })
}

/// The channels a command publishes to or subscribes to, with whether each is a pattern
/// (Redis's `commands_with_channels`; unsubscribing needs no permission).
fn channel_args(spec: &CommandSpec, args: &[Bytes]) -> Vec<(usize, bool)> {
    match spec.name {
        "publish" | "spublish" => (1..args.len().min(2)).map(|i| (i, false)).collect(),
        "subscribe" | "ssubscribe" => (1..args.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..args.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// Records a refused command in the ACL LOG (`addACLLogEntry`).
pub(crate) fn log_denial(
    shared: &Shared,
    session: &Session,
    spec: &CommandSpec,
    args: &[Bytes],
    (denial, at): (Denial, usize),
    context: Context,
) {
    let (reason, object) = match denial {
        Denial::Command => (Reason::Command, Bytes::from_static(spec.name.as_bytes())),
        Denial::Key => (Reason::Key, args[at].clone()),
        Denial::Channel => (Reason::Channel, args[at].clone()),
    };
    session.publish(spec.name);
    log_entry(
        shared,
        session,
        reason,
        context,
        object,
        session.user.clone(),
    );
}

/// Adds an entry to the ACL LOG for this client, under `acllog-max-len`.
pub(crate) fn log_entry(
    shared: &Shared,
    session: &Session,
    reason: Reason,
    context: Context,
    object: Bytes,
    username: Bytes,
) {
    let max_len = shared
        .config()
        .value("acllog-max-len")
        .parse()
        .unwrap_or(128);
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        time_ms: now_ms(),
        client_info: session.handle.describe(std::time::Instant::now()),
    };
    shared.acl().update(|users| users.log.add(entry, max_len));
}

/// Whether CLIENT PAUSE WRITE holds `spec` back: Redis's write commands, those flagged
/// `may_replicate` (EVAL, EVALSHA, FCALL, PFCOUNT, PUBLISH, SPUBLISH), and EXEC of a
/// transaction that queued one.
fn may_replicate(spec: &CommandSpec, session: &Session) -> bool {
    let one = |spec: &CommandSpec| {
        spec.has_flag(Flags::WRITE)
            || matches!(
                spec.name,
                "eval" | "evalsha" | "fcall" | "pfcount" | "publish" | "spublish"
            )
    };
    one(spec)
        || (spec.name == "exec"
            && (session.multi.as_ref()).is_some_and(|tx| tx.queue.iter().any(|(s, _)| one(s))))
}

/// EXEC of a transaction that queued a write command (Redis's `mstate.cmd_flags & CMD_WRITE`).
fn exec_writes(spec: &CommandSpec, session: &Session) -> bool {
    exec_queued(spec, session, |queued| queued.has_flag(Flags::WRITE))
}

/// EXEC of a transaction that queued a command for which `which` holds.
fn exec_queued(
    spec: &CommandSpec,
    session: &Session,
    which: impl Fn(&CommandSpec) -> bool,
) -> bool {
    spec.name == "exec"
        && (session.multi.as_ref()).is_some_and(|tx| tx.queue.iter().any(|(s, _)| which(s)))
}

fn unknown_command(args: &[Bytes]) -> Reply {
    let mut rest = String::new();
    for arg in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push('\'');
        rest.push_str(&truncated(arg, room));
        rest.push_str("' ");
    }
    Reply::error(sanitize(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncated(&args[0], 128),
        rest
    )))
}
