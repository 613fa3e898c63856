//! The scripting family: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO and
//! FUNCTION, over the engine in `crate::scripting`. Redis puts all eight in one command
//! group (`scripting`) although its code is split in `eval.c` and `function.c`; here too
//! they are one family, whose FUNCTION / FCALL handlers live in the child module
//! [`functions`], because both halves share how a script is run ([`run_script`],
//! [`ScriptHost`]) and how other clients wait for it ([`busy_refusal`], [`kill`]).
//!
//! A script runs inside its command, under the keyspace lock the batch holds, so no other
//! client runs in between. While it runs, other clients' commands wait in dispatch
//! ([`busy_refusal`]) as they would in Redis, until the script ends or passes
//! `busy-reply-threshold`; then SCRIPT KILL / FUNCTION KILL / FUNCTION STATS and the other
//! `allow_busy` commands run (they need no keyspace lock) and the rest get BUSY. That takes
//! a free worker thread, even with the default `io-threads 1`: the connection moves a batch
//! that runs a script off its worker before the script starts. `redis.call` goes through
//! [`ScriptHost`]: Redis's checks for commands called from scripts (unknown, arity,
//! `noscript`, writes from read-only scripts), then the command's own handler through
//! [`Ctx::call_as`], as the script client (its own database selection and protocol
//! version), then the reply encoded as that client reads it.

mod functions;

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};

use super::args::{help, int_arg, is};
use super::context::Transaction;
use super::{acl, flags, lookup, CommandSpec, Ctx, Flags};
use crate::protocol::Reply;
use crate::scripting::{busy, Host, Run, Running, ScriptFlags, Scripting, RUNNING_SCRIPTS};
use crate::state::Shared;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, flags![NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], eval),
    CommandSpec::new("evalsha", -3, flags![NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], evalsha),
    CommandSpec::new("eval_ro", -3, flags![READONLY, NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], eval_ro),
    CommandSpec::new("evalsha_ro", -3, flags![READONLY, NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], evalsha_ro),
    CommandSpec::new("fcall", -3, flags![NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], fcall),
    CommandSpec::new("fcall_ro", -3, flags![READONLY, NOSCRIPT, STALE, SKIP_MONITOR, NO_MANDATORY_KEYS, MOVABLEKEYS], acl![SCRIPTING], fcall_ro),
    CommandSpec::new("script", -2, flags![], acl![], container).with_subcommands(SCRIPT),
    CommandSpec::new("function", -2, flags![], acl![], container).with_subcommands(FUNCTION),
];

/// SCRIPT's subcommands (Redis lists them in the order of its randomly seeded hash table).
#[rustfmt::skip]
static SCRIPT: &[CommandSpec] = &[
    CommandSpec::new("script|flush", -2, flags![NOSCRIPT], acl![SCRIPTING], script_flush),
    CommandSpec::new("script|help", 2, flags![LOADING, STALE], acl![SCRIPTING], script_help),
    CommandSpec::new("script|exists", -3, flags![NOSCRIPT], acl![SCRIPTING], script_exists),
    CommandSpec::new("script|kill", 2, flags![NOSCRIPT, ALLOW_BUSY], acl![SCRIPTING], script_kill),
    CommandSpec::new("script|load", 3, flags![NOSCRIPT, STALE], acl![SCRIPTING], script_load),
    CommandSpec::new("script|debug", 3, flags![NOSCRIPT], acl![SCRIPTING], script_debug),
];

/// FUNCTION's subcommands.
#[rustfmt::skip]
static FUNCTION: &[CommandSpec] = &[
    CommandSpec::new("function|flush", -2, flags![WRITE, NOSCRIPT], acl![SCRIPTING], functions::flush),
    CommandSpec::new("function|help", 2, flags![LOADING, STALE], acl![SCRIPTING], functions::help),
    CommandSpec::new("function|kill", 2, flags![NOSCRIPT, ALLOW_BUSY], acl![SCRIPTING], functions::kill),
    CommandSpec::new("function|load", -3, flags![WRITE, DENYOOM, NOSCRIPT], acl![SCRIPTING], functions::load),
    CommandSpec::new("function|restore", -3, flags![WRITE, DENYOOM, NOSCRIPT], acl![SCRIPTING], functions::restore),
    CommandSpec::new("function|delete", 3, flags![WRITE, NOSCRIPT], acl![SCRIPTING], functions::delete),
    CommandSpec::new("function|dump", 2, flags![NOSCRIPT], acl![SCRIPTING], functions::dump),
    CommandSpec::new("function|list", -2, flags![NOSCRIPT], acl![SCRIPTING], functions::list),
    CommandSpec::new("function|stats", 2, flags![NOSCRIPT, ALLOW_BUSY], acl![SCRIPTING], functions::stats),
];

/// Container commands answer through their subcommands; reached only with a bad arity.
fn container(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Err(Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        String::from_utf8_lossy(&args[0]).to_lowercase()
    )))
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const RO_WITH_WRITE: &str = "ERR Can not execute a script with write flag using *_ro command.";

/// EVAL script numkeys [key ...] [arg ...]
fn eval(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, args, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, args, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    eval_generic(ctx, args, true, true)
}

/// FCALL function numkeys [key ...] [arg ...]
fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    functions::fcall(ctx, args, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    functions::fcall(ctx, args, true)
}

/// Splits `numkeys key... arg...` (from `args[2]`) with Redis's errors.
fn keys_and_args(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let numkeys = int_arg(&args[2])?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    Ok(args[3..].split_at(numkeys as usize))
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], by_sha: bool, ro: bool) -> Result<Reply, Reply> {
    if by_sha && args[1].len() != 40 {
        return Err(Reply::error(NOSCRIPT));
    }
    let (keys, argv) = keys_and_args(args)?;
    let scripting = ctx.shared.scripting();
    // Lock order: the keyspace first, then the engine.
    ctx.keyspace();
    let mut scripts = scripting.scripts.lock();
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        if !scripts.exists(sha.as_bytes()) {
            return Err(Reply::error(NOSCRIPT));
        }
        sha
    } else {
        scripts.load(&args[1])?
    };
    let flags = scripts
        .get(sha.as_bytes())
        .map(|s| s.flags)
        .unwrap_or_default();
    if !flags.compat && !flags.no_writes && ro {
        return Err(Reply::error(RO_WITH_WRITE));
    }
    let read_only = ro || (!flags.compat && flags.no_writes);
    let allow_oom = !flags.compat && flags.allow_oom;
    Ok(run_script(
        ctx,
        scripting,
        sha,
        true,
        (read_only, allow_oom),
        args,
        |run| scripts.run(&run.name.clone(), keys, argv, run),
    ))
}

/// Runs `body` as the script client of `ctx`'s client: blocking commands answer at once,
/// the database it selects is its own, and the caller's session is restored afterwards.
/// Meanwhile other clients see it in `scripting.running` (SCRIPT KILL, FUNCTION STATS).
fn run_script(
    ctx: &mut Ctx,
    scripting: &Scripting,
    name: String,
    eval: bool,
    (read_only, allow_oom): (bool, bool),
    command: &[Bytes],
    body: impl FnOnce(&mut Run) -> Reply,
) -> Reply {
    let caller_resp = ctx.session.resp;
    let caller_db = ctx.session.db;
    let was_in_multi = ctx.session.multi.is_some();
    let was_in_script = std::mem::replace(&mut ctx.session.in_script, true);
    if !was_in_multi {
        // Inside a transaction blocking commands answer at once, as they must in a script.
        ctx.session.multi = Some(Transaction::default());
    }
    scripting.kill.store(false, Ordering::Release);
    scripting.dirty.store(false, Ordering::Release);
    *scripting.running.lock() = Some(Running {
        eval,
        name: name.clone(),
        command: command.to_vec(),
        started: std::time::Instant::now(),
    });
    RUNNING_SCRIPTS.fetch_add(1, Ordering::AcqRel);
    let mut host = ScriptHost {
        ctx: &mut *ctx,
        db: caller_db,
        dirty: &scripting.dirty,
        command,
        allow_oom,
        started: std::time::Instant::now(),
        handed_over: false,
    };
    let mut run = Run {
        host: &mut host,
        resp: 2,
        caller_resp,
        read_only,
        name,
        kill: Some(&scripting.kill),
    };
    let reply = body(&mut run);
    drop(run);
    *scripting.running.lock() = None;
    RUNNING_SCRIPTS.fetch_sub(1, Ordering::AcqRel);
    if !was_in_multi {
        ctx.session.multi = None;
    }
    ctx.session.in_script = was_in_script;
    ctx.session.resp = caller_resp;
    ctx.session.db = caller_db;
    reply
}

/// Runs the commands of a script.
struct ScriptHost<'c, 'b, 'a> {
    ctx: &'c mut Ctx<'b, 'a>,
    /// The script client's selected database (SELECT in a script does not change the
    /// caller's).
    db: usize,
    /// Set once the script ran a write command (SCRIPT KILL then refuses).
    dirty: &'c AtomicBool,
    /// The EVAL / FCALL command running the script (its declared keys are what a tracking
    /// caller caches when the script reads).
    command: &'c [Bytes],
    /// The script declared `allow-oom`: its `denyoom` commands run even out of memory.
    allow_oom: bool,
    /// When the script started, and whether it already handed its worker over
    /// ([`ScriptHost::still_running`]).
    started: std::time::Instant,
    handed_over: bool,
}

/// How long a script runs before its thread hands the runtime's worker to another thread.
const HAND_OVER_AFTER: std::time::Duration = std::time::Duration::from_millis(20);

/// Moves the runtime's worker off this thread, which goes on running the script: with the
/// default `io-threads 1` other clients are then still read (and get BUSY) and SCRIPT KILL
/// reaches the script. `block_in_place` starts a thread to take the worker over, and this
/// thread takes the worker back if it returns first; so it waits until a task spawned
/// meanwhile has run — proof that another thread runs the worker — for at most
/// [`HAND_OVER_WAIT`]. True when that happened; otherwise the caller tries again later (on a
/// busy machine the new thread may not be scheduled in time). Only scripts running past
/// [`HAND_OVER_AFTER`] pay this: handing over before every script halved EVALSHA's rate at
/// pipeline 1.
fn hand_worker_over() -> bool {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return true;
    };
    if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return true;
    }
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    tokio::task::block_in_place(|| {
        runtime.spawn(async move { flag.store(true, std::sync::atomic::Ordering::Relaxed) });
        let deadline = std::time::Instant::now() + HAND_OVER_WAIT;
        while !ran.load(std::sync::atomic::Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    ran.load(std::sync::atomic::Ordering::Relaxed)
}

/// The longest a script waits, per attempt, for another thread to take its worker over.
const HAND_OVER_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The command `args` name, subcommand resolved, as Redis's `lookupCommand` finds it.
fn resolve(args: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = lookup(&args[0])?;
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Some(spec);
    }
    spec.subcommands.iter().find(|s| {
        let sub = &s.name[spec.name.len() + 1..];
        is(&args[1], sub)
    })
}

/// Redis's `CMD_MAY_REPLICATE` (not reported by COMMAND INFO, so not in the table's flags):
/// commands a read-only script may not call although they are not writes.
fn may_replicate(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "publish" | "spublish" | "pfcount" | "eval" | "evalsha" | "fcall"
    )
}

fn error_bytes(msg: &str) -> Vec<u8> {
    format!("-ERR {msg}\r\n").into_bytes()
}

impl Host for ScriptHost<'_, '_, '_> {
    fn call(&mut self, args: Vec<Bytes>, resp: u8, read_only: bool) -> Vec<u8> {
        let Some(spec) = resolve(&args) else {
            return error_bytes("Unknown Redis command called from script");
        };
        if !spec.arity_ok(args.len()) {
            return error_bytes("Wrong number of args calling Redis command from script");
        }
        if spec.has_flag(Flags::NOSCRIPT) {
            return error_bytes("This Redis command is not allowed from script");
        }
        let shared = self.ctx.shared;
        if let Err(denied) = super::permission(shared, &self.ctx.session.user, spec, &args) {
            let context = crate::acl::Context::Lua;
            super::log_denial(shared, self.ctx.session, spec, &args, denied, context);
            return error_bytes(match denied.0 {
                crate::acl::Denial::Command => {
                    "The user executing the script can't run this command or subcommand"
                }
                crate::acl::Denial::Key => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
                crate::acl::Denial::Channel => {
                    "The user executing the script can't publish to the channel mentioned in the command"
                }
            });
        }
        let write = spec.has_flag(Flags::WRITE);
        if read_only && (write || may_replicate(spec)) {
            return error_bytes("Write commands are not allowed from read-only scripts.");
        }
        // Redis's `scriptVerifyWriteCommandAllow`: a read-only replica runs its master's
        // scripts' writes only.
        if write && !self.ctx.session.master && shared.replication().refuses_writes() {
            return format!("-{}\r\n", super::args::err::READONLY).into_bytes();
        }
        // ... and under `min-replicas-to-write`, a script that has not written yet cannot
        // start to without enough good replicas.
        if write
            && !self.dirty.load(Ordering::Acquire)
            && shared.replication().too_few_good_replicas()
        {
            return format!("-{}\r\n", super::args::err::NOREPLICAS).into_bytes();
        }
        // Redis's `scriptVerifyOOM`: out of memory when the script started, its first
        // write (nothing changed yet, so it can still stop cleanly) is refused.
        if !self.allow_oom
            && spec.has_flag(Flags::DENYOOM)
            && !self.dirty.load(Ordering::Acquire)
            && self.ctx.shared.limits().memory().pre_command_oom()
        {
            return format!("-{}\r\n", super::args::err::OOM).into_bytes();
        }
        if write {
            self.dirty.store(true, Ordering::Release);
        }
        // Clients blocked on keys the script fills are served after the whole script, by
        // the batch (as Redis serves them after the EVAL command), not in the middle of it.
        let reply = self.ctx.call_as(spec, &args, &mut self.db, resp);
        if spec.has_flag(Flags::READONLY) {
            super::tracking::remember_script_keys(self.ctx, self.command);
        }
        let mut out = BytesMut::new();
        reply.encode(resp, &mut out);
        out.to_vec()
    }

    fn command_exists(&self, args: &[Bytes]) -> bool {
        resolve(args).is_some()
    }

    fn permitted(&self, args: &[Bytes]) -> bool {
        resolve(args).is_some_and(|spec| {
            super::permission(self.ctx.shared, &self.ctx.session.user, spec, args).is_ok()
        })
    }

    fn still_running(&mut self) {
        if !self.handed_over && self.started.elapsed() >= HAND_OVER_AFTER {
            self.handed_over = hand_worker_over();
        }
    }
}

/// SCRIPT LOAD script
fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let scripting = ctx.shared.scripting();
    ctx.keyspace();
    let sha = scripting.scripts.lock().load(&args[2])?;
    Ok(Reply::bulk(sha))
}

/// SCRIPT EXISTS sha1 [sha1 ...]
fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let scripting = ctx.shared.scripting();
    ctx.keyspace();
    let scripts = scripting.scripts.lock();
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Integer(scripts.exists(sha) as i64))
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]
fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let valid =
        args.len() == 2 || (args.len() == 3 && (is(&args[2], "sync") || is(&args[2], "async")));
    if !valid {
        return Err(Reply::error(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    let scripting = ctx.shared.scripting();
    ctx.keyspace();
    scripting.scripts.lock().flush();
    Ok(Reply::Ok)
}

/// SCRIPT KILL. It needs no keyspace lock, so it runs while another client's script holds
/// it. As in Redis, where a script is only interrupted once it has run for
/// `busy-reply-threshold`, the kill waits for that moment (or for the script to end).
fn script_kill(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    kill(ctx.shared, true)
}

/// Whether a script runs now (any client's): eviction then waits, as Redis does not evict
/// while a busy script yields.
pub(super) fn script_running() -> bool {
    RUNNING_SCRIPTS.load(Ordering::Acquire) != 0
}

/// For EVAL*, FCALL*: whether the script makes the command `denyoom`, from its flags
/// (Redis's `evalGetCommandFlags` / `fcallGetCommandFlags`): a script that declares flags
/// is, unless they include `allow-oom` or `no-writes`; one without a shebang (or not found)
/// keeps the command's own flags. `None` for other commands.
pub(super) fn script_denyoom(shared: &Shared, spec: &CommandSpec, args: &[Bytes]) -> Option<bool> {
    let own = spec.has_flag(Flags::DENYOOM);
    script_flag(shared, spec, args, own, |flags| {
        !(flags.allow_oom || flags.no_writes)
    })
}

/// For EVAL*, FCALL*: whether the script makes the command a `write` one (Redis's
/// `scriptFlagsToCmdFlags`: a script that declares flags writes unless it says
/// `no-writes`), which a read-only replica refuses. `None` for other commands.
pub(super) fn script_writes(shared: &Shared, spec: &CommandSpec, args: &[Bytes]) -> Option<bool> {
    let own = spec.has_flag(Flags::WRITE);
    script_flag(shared, spec, args, own, |flags| !flags.no_writes)
}

/// What a script's declared flags make of one of the command's flags (`own`, kept for a
/// script without a shebang or not found).
fn script_flag(
    shared: &Shared,
    spec: &CommandSpec,
    args: &[Bytes],
    own: bool,
    from_flags: impl Fn(ScriptFlags) -> bool,
) -> Option<bool> {
    let declared = |flags: ScriptFlags| match flags.compat {
        true => own,
        false => from_flags(flags),
    };
    match spec.name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => {
            let by_sha = spec.name.starts_with("evalsha");
            if by_sha && args[1].len() != 40 {
                return Some(own);
            }
            let sha = if by_sha {
                args[1].to_vec()
            } else {
                crate::scripting::sha1_hex(&args[1]).into_bytes()
            };
            let cached = shared.scripting().scripts.lock().get(&sha).map(|s| s.flags);
            let flags = match cached {
                Some(flags) => flags,
                None if by_sha => return Some(own),
                None => match crate::scripting::parse_shebang(&args[1]) {
                    Ok((flags, _)) => flags,
                    Err(_) => return Some(own),
                },
            };
            Some(declared(flags))
        }
        "fcall" | "fcall_ro" => {
            let functions = shared.scripting().functions.lock();
            let flags = functions.get(&args[1]).map(|f| f.flags);
            Some(flags.map_or(own, declared))
        }
        _ => None,
    }
}

/// Dispatch's check before any command (Redis's `processCommand`): while another client's
/// script runs, the command waits as it would in Redis, until the script ends or passes
/// `busy-reply-threshold`; then only `allow_busy` commands run, the others get BUSY.
pub(super) fn busy_refusal(shared: &Shared, spec: &CommandSpec) -> Option<Reply> {
    if RUNNING_SCRIPTS.load(Ordering::Acquire) == 0 {
        return None;
    }
    let running = wait_for_busy(shared)?;
    if spec.has_flag(Flags::ALLOW_BUSY) {
        return None;
    }
    Some(Reply::error(if running.eval {
        busy::BUSY_EVAL
    } else {
        busy::BUSY_FUNCTION
    }))
}

/// Waits, as a command sent to Redis during a script waits, until no script runs or the
/// running one has passed `busy-reply-threshold`; returns the running script, if any.
fn wait_for_busy(shared: &Shared) -> Option<Running> {
    let scripting = shared.scripting();
    let threshold = busy_threshold(shared);
    loop {
        let running = scripting.running.lock().clone();
        match running {
            Some(r) if r.started.elapsed() < threshold => {
                let left = threshold - r.started.elapsed().min(threshold);
                std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
            }
            other => return other,
        }
    }
}

/// SCRIPT KILL (`eval`) / FUNCTION KILL.
fn kill(shared: &Shared, eval: bool) -> Result<Reply, Reply> {
    let scripting = shared.scripting();
    let Some(victim) = wait_for_busy(shared) else {
        return Err(Reply::error(busy::NOTBUSY));
    };
    scripting.kill_running(eval).map_err(Reply::error)?;
    // Redis stops the script before it reads the next command: wait for it to stop (at its
    // next hook, within 100000 instructions), so that later commands find it gone.
    while scripting
        .running
        .lock()
        .as_ref()
        .is_some_and(|r| r.started == victim.started)
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(Reply::Ok)
}

/// `busy-reply-threshold` (alias `lua-time-limit`).
fn busy_threshold(shared: &Shared) -> std::time::Duration {
    let ms = shared
        .config()
        .get(b"busy-reply-threshold")
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(5000u64);
    std::time::Duration::from_millis(ms)
}

/// SCRIPT DEBUG YES|SYNC|NO: kvstore has no Lua debugger, so only NO (the default) is
/// accepted.
fn script_debug(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if is(&args[2], "no") {
        Ok(Reply::Ok)
    } else if is(&args[2], "yes") || is(&args[2], "sync") {
        Err(Reply::error(
            "ERR SCRIPT DEBUG is not supported: kvstore has no Lua debugger",
        ))
    } else {
        Err(Reply::error("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
    }
}

/// SCRIPT HELP
fn script_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    ))
}
