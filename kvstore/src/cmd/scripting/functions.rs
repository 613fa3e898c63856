//! The FUNCTION half of the scripting family: FUNCTION LOAD | LIST | DELETE | FLUSH | DUMP |
//! RESTORE | STATS | KILL | HELP, and FCALL / FCALL_RO, over `crate::scripting::Functions`.
//!
//! Libraries survive restarts: after every change the whole set is written, as a FUNCTION
//! DUMP payload, to `functions.dump` in the data directory (written to a temporary file,
//! synced, then renamed, so a crash leaves the old or the new set), and it is read back the
//! first time a server touches its functions.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::super::args::{help as help_reply, is, sanitize, truncated};
use super::{keys_and_args, run_script, wait_for_busy, Ctx, RO_WITH_WRITE};
use crate::protocol::Reply;
use crate::scripting::functions::RestorePolicy;
use crate::scripting::{busy, Functions, Scripting};

const FILE: &str = "functions.dump";

fn dump_path(ctx: &Ctx) -> PathBuf {
    ctx.shared.config().dir.join(FILE)
}

/// The functions of this server, loaded from disk on first use.
fn with_functions<R>(
    ctx: &mut Ctx,
    f: impl FnOnce(&mut Ctx, &Scripting, &mut Functions) -> R,
) -> R {
    let scripting = ctx.shared.scripting();
    // Lock order: the keyspace first, then the engine.
    ctx.keyspace();
    let path = dump_path(ctx);
    let mut functions = scripting.functions.lock();
    if !scripting.functions_restored.swap(true, Ordering::AcqRel) {
        if let Ok(payload) = std::fs::read(&path) {
            if let Err(e) = functions.restore(&payload, RestorePolicy::Flush) {
                tracing::warn!(
                    "cannot restore the functions saved in {}: {e}",
                    path.display()
                );
            }
        }
    }
    let result = f(ctx, scripting, &mut functions);
    scripting
        .library_count
        .store(functions.libraries().len(), Ordering::Release);
    scripting
        .function_count
        .store(functions.function_count(), Ordering::Release);
    result
}

/// Writes the libraries to disk (after a change).
fn persist(ctx: &Ctx, functions: &Functions) {
    let path = dump_path(ctx);
    let tmp = path.with_extension("dump.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&functions.dump())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::warn!("cannot save the functions to {}: {e}", path.display());
    }
}

fn subcommand_syntax_error(args: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        truncated(&args[1], 128)
    ))
}

/// FUNCTION LOAD [REPLACE] function-code
pub(super) fn load(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if is(&args[at], "replace") {
            replace = true;
            at += 1;
            continue;
        }
        return Err(Reply::error(sanitize(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&args[at])
        ))));
    }
    if at >= args.len() {
        return Err(Reply::error("ERR Function code is missing"));
    }
    let code = args[at].clone();
    with_functions(ctx, |ctx, _, functions| {
        match functions.load(&code, replace) {
            Ok(name) => {
                persist(ctx, functions);
                Ok(Reply::bulk(name))
            }
            Err(e) => Err(Reply::error(sanitize(format!("ERR {e}")))),
        }
    })
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
pub(super) fn list(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(&args[i], "withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if pattern.is_none() && is(&args[i], "libraryname") {
            if i >= args.len() - 1 {
                return Err(Reply::error("ERR library name argument was not given"));
            }
            pattern = Some(&args[i + 1]);
            i += 2;
            continue;
        }
        return Err(Reply::error(sanitize(format!(
            "ERR Unknown argument {}",
            String::from_utf8_lossy(&args[i])
        ))));
    }
    with_functions(ctx, |_, _, functions| {
        let libs = functions
            .libraries()
            .iter()
            .filter(|l| {
                pattern.map_or(true, |p| {
                    crate::glob::glob_match(p, l.name.as_bytes(), true)
                })
            })
            .map(|lib| {
                let funcs = lib
                    .functions
                    .iter()
                    .map(|f| {
                        Reply::Map(vec![
                            (Reply::bulk("name"), Reply::bulk(f.name.clone())),
                            (
                                Reply::bulk("description"),
                                Reply::opt_bulk(f.description.clone()),
                            ),
                            (
                                Reply::bulk("flags"),
                                Reply::Set(
                                    f.flags.names().into_iter().map(Reply::status).collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut fields = vec![
                    (Reply::bulk("library_name"), Reply::bulk(lib.name.clone())),
                    (Reply::bulk("engine"), Reply::bulk(lib.engine)),
                    (Reply::bulk("functions"), Reply::Array(funcs)),
                ];
                if with_code {
                    fields.push((Reply::bulk("library_code"), Reply::Bulk(lib.code.clone())));
                }
                Reply::Map(fields)
            })
            .collect();
        Ok(Reply::Array(libs))
    })
}

/// FUNCTION DELETE library-name
pub(super) fn delete(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    with_functions(ctx, |ctx, _, functions| {
        if functions.delete(&args[2]) {
            persist(ctx, functions);
            Ok(Reply::Ok)
        } else {
            Err(Reply::error("ERR Library not found"))
        }
    })
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub(super) fn flush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 3 {
        return Err(subcommand_syntax_error(args));
    }
    if args.len() == 3 && !is(&args[2], "sync") && !is(&args[2], "async") {
        return Err(Reply::error(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    with_functions(ctx, |ctx, _, functions| {
        functions.flush();
        persist(ctx, functions);
        Ok(Reply::Ok)
    })
}

/// FUNCTION DUMP
pub(super) fn dump(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(with_functions(ctx, |_, _, functions| {
        Reply::bulk(functions.dump())
    }))
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
pub(super) fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 4 {
        return Err(subcommand_syntax_error(args));
    }
    let policy =
        match args.get(3) {
            None => RestorePolicy::Append,
            Some(p) if is(p, "append") => RestorePolicy::Append,
            Some(p) if is(p, "replace") => RestorePolicy::Replace,
            Some(p) if is(p, "flush") => RestorePolicy::Flush,
            Some(_) => return Err(Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    with_functions(ctx, |ctx, _, functions| {
        match functions.restore(&args[2], policy) {
            Ok(()) => {
                persist(ctx, functions);
                Ok(Reply::Ok)
            }
            Err(e) => Err(Reply::error(sanitize(format!("ERR {e}")))),
        }
    })
}

/// FUNCTION STATS. While a script runs (another client's, holding the keyspace lock and
/// the engines) it answers from what the run published, without waiting for either.
pub(super) fn stats(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let scripting = ctx.shared.scripting();
    let running = wait_for_busy(ctx.shared);
    if let Some(r) = &running {
        if r.eval {
            return Err(Reply::error(busy::BUSY_EVAL));
        }
    } else {
        // Nothing runs: make sure the saved libraries are loaded, so the counts are right.
        with_functions(ctx, |_, _, _| ());
    }
    let running_script = match running {
        None => Reply::Nil,
        Some(r) => Reply::Map(vec![
            (Reply::bulk("name"), Reply::bulk(r.name)),
            (
                Reply::bulk("command"),
                Reply::Array(r.command.into_iter().map(Reply::Bulk).collect()),
            ),
            (
                Reply::bulk("duration_ms"),
                Reply::Integer(r.started.elapsed().as_millis() as i64),
            ),
        ]),
    };
    let count =
        |c: &std::sync::atomic::AtomicUsize| Reply::Integer(c.load(Ordering::Acquire) as i64);
    Ok(Reply::Map(vec![
        (Reply::bulk("running_script"), running_script),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk("libraries_count"),
                        count(&scripting.library_count),
                    ),
                    (
                        Reply::bulk("functions_count"),
                        count(&scripting.function_count),
                    ),
                ]),
            )]),
        ),
    ]))
}

/// FUNCTION KILL (see SCRIPT KILL).
pub(super) fn kill(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    super::kill(ctx.shared, false)
}

/// FUNCTION HELP
pub(super) fn help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help_reply(
        &args[0],
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    ))
}

/// FCALL / FCALL_RO function numkeys [key ...] [arg ...]
pub(super) fn fcall(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> Result<Reply, Reply> {
    with_functions(ctx, |ctx, scripting, functions| {
        let Some(function) = functions.get(&args[1]) else {
            return Err(Reply::error("ERR Function not found"));
        };
        if crate::number::parse_i64(&args[2]).is_none() {
            return Err(Reply::error("ERR Bad number of keys provided"));
        }
        let (keys, argv) = keys_and_args(args)?;
        let flags = function.flags;
        if !flags.no_writes && ro {
            return Err(Reply::error(RO_WITH_WRITE));
        }
        let name = function.name.clone();
        Ok(run_script(
            ctx,
            scripting,
            name,
            false,
            (ro || flags.no_writes, flags.allow_oom),
            args,
            |run| functions.call(&args[1], keys, argv, run),
        ))
    })
}
