//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO and
//! FUNCTION, over the engine in [`crate::scripting`].
//!
//! A script runs inside its command, under the keyspace lock the batch holds, so no other
//! client runs in between. While it runs, other clients' commands wait in dispatch
//! ([`busy_refusal`]) as they would in Redis, until the script ends or passes
//! `busy-reply-threshold`; then SCRIPT KILL / FUNCTION KILL / FUNCTION STATS and the other
//! `allow_busy` commands run (they need no keyspace lock) and the rest get BUSY. That takes
//! a free worker thread: with the default `io-threads 1` the script's own thread is the only
//! one, and every client waits for the script to end. `redis.call` goes through [`ScriptHost`]: Redis's checks for
//! commands called from scripts (unknown, arity, `noscript`, writes from read-only scripts),
//! then the command's own handler with the caller's context, as the script client (its own
//! database selection and protocol version), then the reply encoded as that client reads it.

use bytes::{Bytes, BytesMut};

use std::sync::atomic::{AtomicBool, Ordering};

use super::{int_arg, is, lookup, CommandSpec, Ctx};
use crate::client::Transaction;
use crate::protocol::Reply;
use crate::scripting::{self, Host, Run, Running, Scripting, RUNNING_SCRIPTS};
use crate::server::Shared;

const EVAL_FLAGS: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];
const EVAL_RO_FLAGS: &[&str] = &[
    "readonly",
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, eval),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, evalsha),
    CommandSpec::new("eval_ro", -3, EVAL_RO_FLAGS, eval_ro),
    CommandSpec::new("evalsha_ro", -3, EVAL_RO_FLAGS, evalsha_ro),
    CommandSpec::new("fcall", -3, EVAL_FLAGS, fcall),
    CommandSpec::new("fcall_ro", -3, EVAL_RO_FLAGS, fcall_ro),
    CommandSpec::new("script", -2, &[], container).with_subcommands(SCRIPT),
    CommandSpec::new("function", -2, &[], container).with_subcommands(FUNCTION),
];

/// Subcommands (Redis lists them in the order of its randomly seeded hash table).
static SCRIPT: &[CommandSpec] = &[
    CommandSpec::new("script|flush", -2, &["noscript"], script_flush),
    CommandSpec::new("script|help", 2, &["loading", "stale"], script_help),
    CommandSpec::new("script|exists", -3, &["noscript"], script_exists),
    CommandSpec::new("script|kill", 2, &["noscript", "allow_busy"], script_kill),
    CommandSpec::new("script|load", 3, &["noscript", "stale"], script_load),
    CommandSpec::new("script|debug", 3, &["noscript"], script_debug),
];

static FUNCTION: &[CommandSpec] = &[
    CommandSpec::new(
        "function|flush",
        -2,
        &["write", "noscript"],
        super::functions::flush,
    ),
    CommandSpec::new(
        "function|help",
        2,
        &["loading", "stale"],
        super::functions::help,
    ),
    CommandSpec::new(
        "function|kill",
        2,
        &["noscript", "allow_busy"],
        super::functions::kill,
    ),
    CommandSpec::new(
        "function|load",
        -3,
        &["write", "denyoom", "noscript"],
        super::functions::load,
    ),
    CommandSpec::new(
        "function|restore",
        -3,
        &["write", "denyoom", "noscript"],
        super::functions::restore,
    ),
    CommandSpec::new(
        "function|delete",
        3,
        &["write", "noscript"],
        super::functions::delete,
    ),
    CommandSpec::new("function|dump", 2, &["noscript"], super::functions::dump),
    CommandSpec::new("function|list", -2, &["noscript"], super::functions::list),
    CommandSpec::new(
        "function|stats",
        2,
        &["noscript", "allow_busy"],
        super::functions::stats,
    ),
];

/// Container commands answer through their subcommands; reached only with a bad arity.
fn container(_: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        String::from_utf8_lossy(&args[0]).to_lowercase()
    ))
}

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// The scripting state of the server `ctx` belongs to.
pub fn scripting(ctx: &Ctx) -> std::sync::Arc<Scripting> {
    scripting::for_server(&ctx.shared.run_id)
}

/// EVAL script numkeys [key ...] [arg ...]
fn eval(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    eval_generic(ctx, args, true, true)
}

/// Splits `numkeys key... arg...` (from `args[2]`) with Redis's errors.
pub fn keys_and_args(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let numkeys = int_arg(&args[2])?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &args[3..];
    Ok(rest.split_at(numkeys as usize))
}

fn eval_generic(ctx: &mut Ctx, args: &[Bytes], by_sha: bool, ro: bool) -> Reply {
    if by_sha && args[1].len() != 40 {
        return Reply::error(NOSCRIPT);
    }
    let (keys, argv) = match keys_and_args(args) {
        Ok(split) => split,
        Err(e) => return e,
    };
    let scripting = scripting(ctx);
    // Lock order: the keyspace first, then the engine.
    ctx.keyspace();
    let mut scripts = scripting.scripts.lock();
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        if !scripts.exists(sha.as_bytes()) {
            return Reply::error(NOSCRIPT);
        }
        sha
    } else {
        match scripts.load(&args[1]) {
            Ok(sha) => sha,
            Err(e) => return e,
        }
    };
    let flags = scripts
        .get(sha.as_bytes())
        .map(|s| s.flags)
        .unwrap_or_default();
    if !flags.compat && !flags.no_writes && ro {
        return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
    }
    let read_only = ro || (!flags.compat && flags.no_writes);
    run_script(ctx, &scripting, sha, true, read_only, args, |run| {
        scripts.run(&run.name.clone(), keys, argv, run)
    })
}

/// Runs `body` as the script client of `ctx`'s client: blocking commands answer at once,
/// the database it selects is its own, and the caller's session is restored afterwards.
/// Meanwhile other clients see it in `scripting.running` (SCRIPT KILL, FUNCTION STATS).
#[allow(clippy::too_many_arguments)]
pub fn run_script(
    ctx: &mut Ctx,
    scripting: &Scripting,
    name: String,
    eval: bool,
    read_only: bool,
    command: &[Bytes],
    body: impl FnOnce(&mut Run) -> Reply,
) -> Reply {
    let caller_resp = ctx.session.resp;
    let caller_db = ctx.session.db;
    let was_in_multi = ctx.session.multi.is_some();
    if !was_in_multi {
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
    };
    let mut run = Run {
        host: &mut host,
        resp: 2,
        caller_resp,
        read_only,
        name,
        kill: Some(&scripting.kill),
    };
    // The script runs on this worker thread: other clients are served meanwhile only by
    // the other worker threads (`io-threads` > 1), see the module documentation.
    let reply = body(&mut run);
    drop(run);
    *scripting.running.lock() = None;
    RUNNING_SCRIPTS.fetch_sub(1, Ordering::AcqRel);
    if !was_in_multi {
        ctx.session.multi = None;
    }
    ctx.session.resp = caller_resp;
    ctx.session.db = caller_db;
    reply
}

/// Runs the commands of a script.
pub struct ScriptHost<'c, 'b, 'a> {
    ctx: &'c mut Ctx<'b, 'a>,
    /// The script client's selected database (SELECT in a script does not change the
    /// caller's).
    db: usize,
    /// Set once the script ran a write command (SCRIPT KILL then refuses).
    dirty: &'c AtomicBool,
}

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
    spec.has_flag("may_replicate")
        || matches!(
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
        if spec.has_flag("noscript") {
            return error_bytes("This Redis command is not allowed from script");
        }
        if read_only && (spec.has_flag("write") || may_replicate(spec)) {
            return error_bytes("Write commands are not allowed from read-only scripts.");
        }
        if spec.has_flag("write") {
            self.dirty.store(true, Ordering::Release);
        }
        let session = &mut *self.ctx.session;
        let saved_resp = session.resp;
        session.db = self.db;
        session.resp = resp;
        let reply = (spec.handler)(self.ctx, &args);
        self.db = self.ctx.session.db;
        self.ctx.session.resp = saved_resp;
        // Clients blocked on keys the script fills are served after the whole script, by
        // the batch (as Redis serves them after the EVAL command), not in the middle of it.
        let mut out = BytesMut::new();
        reply.encode(resp, &mut out);
        out.to_vec()
    }

    fn command_exists(&self, args: &[Bytes]) -> bool {
        resolve(args).is_some()
    }
}

/// SCRIPT LOAD script
fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let scripting = scripting(ctx);
    ctx.keyspace();
    let result = scripting.scripts.lock().load(&args[2]);
    match result {
        Ok(sha) => Reply::bulk(sha),
        Err(e) => e,
    }
}

/// SCRIPT EXISTS sha1 [sha1 ...]
fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let scripting = scripting(ctx);
    ctx.keyspace();
    let scripts = scripting.scripts.lock();
    Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Integer(scripts.exists(sha) as i64))
            .collect(),
    )
}

/// SCRIPT FLUSH [ASYNC|SYNC]
fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let valid =
        args.len() == 2 || (args.len() == 3 && (is(&args[2], "sync") || is(&args[2], "async")));
    if !valid {
        return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    let scripting = scripting(ctx);
    ctx.keyspace();
    scripting.scripts.lock().flush();
    Reply::Ok
}

/// SCRIPT KILL. It needs no keyspace lock, so it runs while another client's script holds
/// it. As in Redis, where a script is only interrupted once it has run for
/// `busy-reply-threshold`, the kill waits for that moment (or for the script to end).
fn script_kill(ctx: &mut Ctx, _: &[Bytes]) -> Reply {
    kill(ctx, true)
}

/// Dispatch's check before any command (Redis's `processCommand`): while another client's
/// script runs, the command waits as it would in Redis, until the script ends or passes
/// `busy-reply-threshold`; then only `allow_busy` commands run, the others get BUSY.
pub fn busy_refusal(shared: &Shared, spec: &CommandSpec) -> Option<Reply> {
    if RUNNING_SCRIPTS.load(Ordering::Acquire) == 0 {
        return None;
    }
    let scripting = scripting::for_server(&shared.run_id);
    let running = wait_for_busy_in(shared, &scripting)?;
    if spec.has_flag("allow_busy") {
        return None;
    }
    Some(Reply::error(if running.eval {
        scripting::busy::BUSY_EVAL
    } else {
        scripting::busy::BUSY_FUNCTION
    }))
}

/// Waits, as a command sent to Redis during a script waits, until no script runs or the
/// running one has passed `busy-reply-threshold`; returns the running script, if any.
pub fn wait_for_busy(ctx: &Ctx, scripting: &Scripting) -> Option<Running> {
    wait_for_busy_in(ctx.shared, scripting)
}

fn wait_for_busy_in(shared: &Shared, scripting: &Scripting) -> Option<Running> {
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

/// SCRIPT KILL / FUNCTION KILL.
pub fn kill(ctx: &mut Ctx, eval: bool) -> Reply {
    let scripting = scripting(ctx);
    let Some(victim) = wait_for_busy(ctx, &scripting) else {
        return Reply::error(scripting::busy::NOTBUSY);
    };
    if let Err(e) = scripting.kill_running(eval) {
        return Reply::error(e);
    }
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
    Reply::Ok
}

/// `busy-reply-threshold` (alias `lua-time-limit`).
pub fn busy_threshold(shared: &Shared) -> std::time::Duration {
    let ms = shared
        .config
        .read()
        .get(b"busy-reply-threshold")
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(5000u64);
    std::time::Duration::from_millis(ms)
}

/// SCRIPT DEBUG YES|SYNC|NO: kvstore has no Lua debugger, so only NO (the default) is
/// accepted.
fn script_debug(_: &mut Ctx, args: &[Bytes]) -> Reply {
    if is(&args[2], "no") {
        Reply::Ok
    } else if is(&args[2], "yes") || is(&args[2], "sync") {
        Reply::error("ERR SCRIPT DEBUG is not supported: kvstore has no Lua debugger")
    } else {
        Reply::error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    }
}

/// Redis's `addReplyHelp`: the header, the lines, and HELP's own entry.
pub fn help(command: &str, lines: &[&'static str]) -> Reply {
    let mut out = vec![Reply::Status(
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    )];
    out.extend(lines.iter().map(|l| Reply::status(l)));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

/// SCRIPT HELP
fn script_help(_: &mut Ctx, _: &[Bytes]) -> Reply {
    help(
        "SCRIPT",
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
    )
}

/// FCALL function numkeys [key ...] [arg ...]
fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    super::functions::fcall(ctx, args, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    super::functions::fcall(ctx, args, true)
}
