//! Administration commands (Redis's "server" group, without COMMAND): INFO, DBSIZE, FLUSHDB,
//! FLUSHALL, SWAPDB, SAVE, BGSAVE, LASTSAVE, TIME, CONFIG and SHUTDOWN.
//!
//! Persistence commands map onto the group commit rather than onto RDB files: SAVE waits for
//! an fsync, BGSAVE asks for one without waiting, LASTSAVE reports the last one. INFO prints
//! Redis 7.0.15's sections and field names, with kvstore's own numbers where it has them and
//! Redis's idle values (0, `ok`) for machinery it does not have (forks, replication, eviction),
//! so that clients that parse INFO keep working.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::args::{err, help, is, sanitize};
use super::process::{resident_bytes, total_system_memory, used_and_peak};
use super::{acl, flags, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::state::Shared;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, flags![LOADING, STALE], acl![DANGEROUS], info),
    CommandSpec::new("dbsize", 1, flags![READONLY, FAST], acl![KEYSPACE], dbsize),
    CommandSpec::new("flushdb", -1, flags![WRITE], acl![KEYSPACE, DANGEROUS], flushdb),
    CommandSpec::new("flushall", -1, flags![WRITE], acl![KEYSPACE, DANGEROUS], flushall),
    CommandSpec::new("swapdb", 3, flags![WRITE, FAST], acl![KEYSPACE, DANGEROUS], swapdb),
    CommandSpec::new("save", 1, flags![ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI], acl![], save),
    CommandSpec::new("bgsave", -1, flags![ADMIN, NOSCRIPT, NO_ASYNC_LOADING], acl![], bgsave),
    CommandSpec::new("bgrewriteaof", 1, flags![ADMIN, NOSCRIPT, NO_ASYNC_LOADING], acl![], bgrewriteaof),
    CommandSpec::new("lastsave", 1, flags![LOADING, STALE, FAST], acl![ADMIN, DANGEROUS], lastsave),
    CommandSpec::new("time", 1, flags![LOADING, STALE, FAST], acl![], time),
    CommandSpec::new("shutdown", -1, flags![ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY], acl![], shutdown),
    CommandSpec::new("config", -2, flags![], acl![], config_help).with_subcommands(CONFIG),
];

#[rustfmt::skip]
static CONFIG: &[CommandSpec] = &[
    CommandSpec::new("config|get", -3, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], config_get),
    CommandSpec::new("config|set", -4, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], config_set),
    CommandSpec::new("config|resetstat", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], config_resetstat),
    CommandSpec::new("config|rewrite", 2, flags![ADMIN, NOSCRIPT, LOADING, STALE], acl![], config_rewrite),
    CommandSpec::new("config|help", 2, flags![LOADING, STALE], acl![], config_help),
];

/// DBSIZE
fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(ctx.db().len() as i64))
}

/// The optional ASYNC / SYNC argument of FLUSHDB and FLUSHALL. Both flush at once: freeing
/// memory is not what makes a flush slow here.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

/// FLUSHDB [ASYNC|SYNC]
fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if !flush_mode_ok(args) {
        return Err(Reply::error(err::SYNTAX));
    }
    ctx.db().clear();
    Ok(Reply::Ok)
}

/// FLUSHALL [ASYNC|SYNC]
fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if !flush_mode_ok(args) {
        return Err(Reply::error(err::SYNTAX));
    }
    ctx.keyspace()
        .dbs_mut()
        .iter_mut()
        .for_each(|db| db.clear());
    Ok(Reply::Ok)
}

/// SWAPDB index1 index2
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    // Redis reads both indexes as C ints, each with its own error.
    let index = |arg: &[u8], which: &str| {
        crate::number::parse_i64(arg)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| Reply::error(format!("ERR invalid {which} DB index")))
    };
    let (a, b) = match (index(&args[1], "first"), index(&args[2], "second")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let databases = ctx.databases() as i32;
    if !(0..databases).contains(&a) || !(0..databases).contains(&b) {
        return Err(Reply::error(err::DB_INDEX));
    }
    ctx.keyspace().swap(a as usize, b as usize);
    Ok(Reply::Ok)
}

/// SAVE: the connection replies once everything written so far is fsynced.
fn save(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.effects.save = true;
    Ok(Reply::Ok)
}

/// BGSAVE [SCHEDULE]: asks for an fsync of everything written so far, without waiting.
fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "schedule")) {
        return Err(Reply::error(err::SYNTAX));
    }
    let seq = ctx.keyspace().writes();
    ctx.shared.commit().request(seq, true);
    Ok(Reply::status("Background saving started"))
}

/// BGREWRITEAOF: what Redis's AOF rewrite is for — folding the log into a compact copy of
/// the data set — is kvstore's checkpoint: the changes logged so far go to sled and the log
/// segments they cover are deleted. Started in the background, as Redis forks its rewrite.
fn bgrewriteaof(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    if ctx.shared.commit().checkpoint() {
        Ok(Reply::status(
            "Background append only file rewriting started",
        ))
    } else {
        Err(Reply::error(
            "ERR Background append only file rewriting already in progress",
        ))
    }
}

/// LASTSAVE: when the data directory was last fsynced.
fn lastsave(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Integer(ctx.shared.commit().last_save() as i64))
}

/// TIME
fn time(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ]))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Every mode flushes to disk: kvstore's data
/// directory plays the part of Redis's AOF, which NOSAVE does not skip either. The client gets
/// no reply; it sees the connection close when the server exits.
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    for arg in &args[1..] {
        if is(arg, "nosave") {
            nosave = true;
        } else if is(arg, "save") {
            save = true;
        } else if is(arg, "now") || is(arg, "force") {
            other = true;
        } else if is(arg, "abort") {
            abort = true;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(Reply::error(err::SYNTAX));
    }
    if abort {
        // Shutdown never waits for anything (no replicas to catch up), so none is pending.
        return Err(Reply::error("ERR No shutdown in progress."));
    }
    ctx.effects.shutdown = true;
    Ok(Reply::Ok)
}

// ---------------------------------------------------------------------------------------
// CONFIG

/// CONFIG GET parameter [parameter ...]
fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let config = ctx.shared.config();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in config.get(pattern) {
            if !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name, value));
            }
        }
    }
    Ok(Reply::Map(
        pairs
            .into_iter()
            .map(|(n, v)| (Reply::bulk(n), Reply::bulk(v)))
            .collect(),
    ))
}

/// CONFIG SET parameter value [parameter value ...]
fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    if args.len() % 2 == 1 {
        return Err(Reply::error(err::SYNTAX));
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = args[2..]
        .chunks(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    let changed = (ctx.shared.set_config(&pairs)).map_err(|e| Reply::error(sanitize(e)))?;
    tracing::info!(?changed, "CONFIG SET");
    // As Redis's `updateMaxmemory`: a new limit is enforced at once, not at the next write.
    if changed.iter().any(|name| name == "maxmemory") {
        let shared = ctx.shared;
        let memory = shared.limits().memory();
        let maxmemory = memory.maxmemory();
        if maxmemory != 0 {
            let used = memory.baseline() + ctx.keyspace().dataset_bytes();
            if maxmemory < used {
                tracing::warn!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({maxmemory}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy."
                );
            }
            shared.perform_evictions(ctx.keyspace());
        }
    }
    Ok(Reply::Ok)
}

/// CONFIG RESETSTAT
fn config_resetstat(ctx: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    ctx.shared.reset_stats();
    ctx.keyspace().reset_stats();
    Ok(Reply::Ok)
}

/// CONFIG REWRITE. kvstore never writes its configuration file.
fn config_rewrite(_: &mut Ctx, _: &[Bytes]) -> Result<Reply, Reply> {
    Err(match config_file() {
        None => Reply::error("ERR The server is running without a config file"),
        Some(_) => Reply::error("ERR Rewriting config file: not supported by kvstore"),
    })
}

/// CONFIG HELP
fn config_help(_: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    Ok(help(
        &args[0],
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

/// The configuration file the server was started with: like redis-server, the first
/// argument when it is not an option.
fn config_file() -> Option<PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| {
        let first = std::env::args().nth(1)?;
        if first.starts_with('-') {
            return None;
        }
        Some(std::fs::canonicalize(&first).unwrap_or_else(|_| first.into()))
    })
    .clone()
}

// ---------------------------------------------------------------------------------------
// INFO

/// The sections `INFO` and `INFO default` print.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections an INFO call asked for.
struct Sections {
    all: bool,
    names: Vec<String>,
}

impl Sections {
    fn parse(args: &[Bytes]) -> Sections {
        let mut sections = Sections {
            all: false,
            names: Vec::new(),
        };
        if args.is_empty() {
            sections.add_defaults();
        }
        for arg in args {
            if is(arg, "default") {
                sections.add_defaults();
            } else if is(arg, "all") || is(arg, "everything") {
                sections.all = true;
            } else {
                sections
                    .names
                    .push(String::from_utf8_lossy(arg).to_ascii_lowercase());
            }
        }
        sections
    }

    fn add_defaults(&mut self) {
        self.names
            .extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }

    fn wants(&self, names: &[&str]) -> bool {
        self.all || self.names.iter().any(|n| names.contains(&n.as_str()))
    }
}

/// INFO [section ...]
fn info(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let sections = Sections::parse(&args[1..]);
    let mut out = String::new();
    type Section = fn(&mut Ctx, &mut String);
    let all: &[(&[&str], &str, Section)] = &[
        (&["server"], "Server", server_section),
        (&["clients"], "Clients", clients_section),
        (&["memory"], "Memory", memory_section),
        (&["persistence"], "Persistence", persistence_section),
        (&["stats"], "Stats", stats_section),
        (&["replication"], "Replication", replication_section),
        (&["cpu"], "CPU", cpu_section),
        (&["module_list", "modules"], "Modules", |_, _| {}),
        (&["commandstats"], "Commandstats", commandstats_section),
        (&["errorstats"], "Errorstats", errorstats_section),
        (&["latencystats"], "Latencystats", latencystats_section),
        (&["cluster"], "Cluster", |_, out| {
            field(out, "cluster_enabled", 0)
        }),
        (&["keyspace"], "Keyspace", keyspace_section),
    ];
    for (names, title, section) in all {
        if sections.wants(names) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str("# ");
            out.push_str(title);
            out.push_str("\r\n");
            section(ctx, &mut out);
        }
    }
    Ok(Reply::Verbatim(out.into()))
}

/// Appends one `name:value` line.
fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    use std::fmt::Write;
    let _ = write!(out, "{name}:{value}\r\n");
}

fn server_section(ctx: &mut Ctx, out: &mut String) {
    let shared: &Shared = ctx.shared;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let uptime = shared.uptime().as_secs();
    field(out, "redis_version", crate::config::REDIS_VERSION);
    field(out, "redis_git_sha1", "00000000");
    field(out, "redis_git_dirty", 0);
    field(out, "redis_build_id", "0");
    field(out, "redis_mode", "standalone");
    field(out, "os", os_name());
    field(out, "arch_bits", usize::BITS);
    field(out, "monotonic_clock", "POSIX clock_gettime");
    field(out, "multiplexing_api", "epoll");
    field(out, "atomicvar_api", "c11-builtin");
    field(out, "gcc_version", "0.0.0");
    field(out, "process_id", std::process::id());
    field(out, "process_supervised", "no");
    field(out, "run_id", shared.run_id());
    field(out, "tcp_port", shared.port());
    field(out, "server_time_usec", now.as_micros());
    field(out, "uptime_in_seconds", uptime);
    field(out, "uptime_in_days", uptime / 86400);
    field(out, "hz", 10);
    field(out, "configured_hz", 10);
    // Redis's LRU clock: seconds, wrapping at 24 bits.
    field(out, "lru_clock", now.as_secs() & ((1 << 24) - 1));
    let exe = std::env::current_exe().unwrap_or_default();
    field(out, "executable", exe.display());
    let file = config_file().unwrap_or_default();
    field(out, "config_file", file.display());
    field(out, "io_threads_active", 0);
    field(out, "kvstore_version", env!("CARGO_PKG_VERSION"));
}

/// `uname -srm`, read from /proc so no FFI is needed.
fn os_name() -> String {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("ostype"),
        read("osrelease"),
        std::env::consts::ARCH
    )
}

fn clients_section(ctx: &mut Ctx, out: &mut String) {
    field(out, "connected_clients", ctx.shared.clients().len());
    field(out, "cluster_connections", 0);
    field(out, "maxclients", ctx.shared.config().maxclients);
    field(out, "client_recent_max_input_buffer", 0);
    field(out, "client_recent_max_output_buffer", 0);
    field(out, "blocked_clients", ctx.shared.blocked().len());
    field(out, "tracking_clients", ctx.shared.tracking().counts().0);
    field(
        out,
        "clients_in_timeout_table",
        ctx.shared.blocked().timed(),
    );
}

/// `used_memory` is every byte the process allocated (`crate::allocator`), `used_memory_rss`
/// its resident set, `used_memory_startup` what it held before loading its data. The
/// dataset is what the keys take (`keyspace::evict::footprint`); eviction counts it plus the
/// process's memory before sled was opened, and `mem_not_counted_for_evict` is the rest —
/// persistence's (sled's cache and log buffers, changes waiting for a checkpoint), as Redis
/// leaves its AOF buffer out.
fn memory_section(ctx: &mut Ctx, out: &mut String) {
    let (used, peak) = used_and_peak();
    let rss = resident_bytes();
    let system = total_system_memory();
    let memory = ctx.shared.limits().memory();
    let (maxmemory, baseline) = (memory.maxmemory(), memory.baseline());
    let startup = memory.startup().min(used);
    let policy = ctx.shared.config().value("maxmemory-policy");
    let dataset = ctx.keyspace().dataset_bytes().min(used);
    let not_counted = used.saturating_sub(baseline + dataset);
    let percent =
        |part: u64, whole: u64| format!("{:.2}%", part as f64 * 100.0 / whole.max(1) as f64);
    field(out, "used_memory", used);
    field(out, "used_memory_human", human_bytes(used));
    field(out, "used_memory_rss", rss);
    field(out, "used_memory_rss_human", human_bytes(rss));
    field(out, "used_memory_peak", peak);
    field(out, "used_memory_peak_human", human_bytes(peak));
    field(out, "used_memory_peak_perc", percent(used, peak));
    field(out, "used_memory_overhead", used - dataset);
    field(out, "used_memory_startup", startup);
    field(out, "used_memory_dataset", dataset);
    field(out, "used_memory_dataset_perc", percent(dataset, used));
    field(out, "allocator_allocated", used);
    field(out, "allocator_active", used);
    field(out, "allocator_resident", rss);
    field(out, "total_system_memory", system);
    field(out, "total_system_memory_human", human_bytes(system));
    scripting_memory(ctx, out);
    field(out, "maxmemory", maxmemory);
    field(out, "maxmemory_human", human_bytes(maxmemory));
    field(out, "maxmemory_policy", policy);
    field(
        out,
        "mem_fragmentation_ratio",
        format!("{:.2}", rss as f64 / used.max(1) as f64),
    );
    field(out, "mem_fragmentation_bytes", rss as i64 - used as i64);
    field(out, "mem_not_counted_for_evict", not_counted);
    field(out, "mem_allocator", "mimalloc");
    field(out, "active_defrag_running", 0);
    field(out, "lazyfree_pending_objects", 0);
    field(out, "lazyfreed_objects", 0);
}

/// INFO memory's scripting fields, in Redis 7.0's order. From inside a script (whose engine
/// stays locked while it runs) the counts come from FUNCTION STATS' counters and the byte
/// figures are left at 0.
fn scripting_memory(ctx: &mut Ctx, out: &mut String) {
    let scripting = ctx.shared.scripting();
    let (eval_vm, eval_bytes, scripts) = match scripting.scripts.try_lock() {
        Some(s) => {
            let (vm, bytes) = s.memory();
            (vm, bytes, s.count())
        }
        None => (0, 0, 0),
    };
    let (function_vm, function_bytes, functions, libraries) = match scripting.functions.try_lock() {
        Some(f) => {
            let (vm, bytes) = f.memory();
            (vm, bytes, f.function_count(), f.libraries().len())
        }
        None => (
            0,
            0,
            scripting
                .function_count
                .load(std::sync::atomic::Ordering::Relaxed),
            scripting
                .library_count
                .load(std::sync::atomic::Ordering::Relaxed),
        ),
    };
    field(out, "used_memory_lua", eval_vm);
    field(out, "used_memory_vm_eval", eval_vm);
    field(out, "used_memory_lua_human", human_bytes(eval_vm as u64));
    field(out, "used_memory_scripts_eval", eval_bytes);
    field(out, "number_of_cached_scripts", scripts);
    field(out, "number_of_functions", functions);
    field(out, "number_of_libraries", libraries);
    field(out, "used_memory_vm_functions", function_vm);
    field(out, "used_memory_vm_total", eval_vm + function_vm);
    field(
        out,
        "used_memory_vm_total_human",
        human_bytes((eval_vm + function_vm) as u64),
    );
    field(out, "used_memory_functions", function_bytes);
    field(out, "used_memory_scripts", eval_bytes + function_bytes);
    field(
        out,
        "used_memory_scripts_human",
        human_bytes((eval_bytes + function_bytes) as u64),
    );
}

/// Redis's `bytesToHuman`: `100B`, `1.49M`, `23.54G`.
fn human_bytes(n: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    let (div, unit) = UNITS
        .iter()
        .rev()
        .find(|(div, _)| n >= *div)
        .copied()
        .unwrap_or((1 << 10, "K"));
    format!("{:.2}{unit}", n as f64 / div as f64)
}

fn persistence_section(ctx: &mut Ctx, out: &mut String) {
    let writes = ctx.keyspace().writes();
    let commit = ctx.shared.commit();
    let appendonly = ctx.shared.config().appendonly;
    field(out, "loading", 0);
    field(out, "async_loading", 0);
    field(out, "current_cow_peak", 0);
    field(out, "current_cow_size", 0);
    field(out, "current_cow_size_age", 0);
    field(out, "current_fork_perc", "0.00");
    field(out, "current_save_keys_processed", 0);
    field(out, "current_save_keys_total", 0);
    field(
        out,
        "rdb_changes_since_last_save",
        writes.saturating_sub(commit.durable()),
    );
    field(out, "rdb_bgsave_in_progress", 0);
    field(out, "rdb_last_save_time", commit.last_save());
    field(out, "rdb_last_bgsave_status", "ok");
    field(out, "rdb_last_bgsave_time_sec", -1);
    field(out, "rdb_current_bgsave_time_sec", -1);
    field(out, "rdb_saves", commit.syncs());
    field(out, "rdb_last_cow_size", 0);
    field(out, "aof_enabled", u8::from(appendonly));
    field(
        out,
        "aof_rewrite_in_progress",
        u8::from(commit.checkpoint_running()),
    );
    field(out, "aof_rewrite_scheduled", 0);
    field(out, "aof_last_rewrite_time_sec", -1);
    field(out, "aof_current_rewrite_time_sec", -1);
    field(out, "aof_last_bgrewrite_status", "ok");
    field(out, "aof_rewrites", commit.checkpoints());
    field(out, "aof_last_write_status", "ok");
    field(out, "module_fork_in_progress", 0);
    field(out, "module_fork_last_cow_size", 0);
    field(out, "kvstore_size_on_disk", commit.size_on_disk());
}

fn stats_section(ctx: &mut Ctx, out: &mut String) {
    let keyspace = ctx.keyspace().stats();
    let stats = ctx.shared.stats().snapshot();
    field(
        out,
        "total_connections_received",
        stats.connections_received,
    );
    field(out, "total_commands_processed", stats.commands_processed);
    field(out, "instantaneous_ops_per_sec", 0);
    field(out, "total_net_input_bytes", stats.net_input_bytes);
    field(out, "total_net_output_bytes", stats.net_output_bytes);
    field(out, "total_net_repl_input_bytes", 0);
    field(
        out,
        "total_net_repl_output_bytes",
        stats.net_repl_output_bytes,
    );
    field(out, "instantaneous_input_kbps", "0.00");
    field(out, "instantaneous_output_kbps", "0.00");
    field(out, "rejected_connections", stats.rejected_connections);
    let sync = ctx.shared.replication().view();
    field(out, "sync_full", sync.sync_full);
    field(out, "sync_partial_ok", sync.sync_partial_ok);
    field(out, "sync_partial_err", sync.sync_partial_err);
    field(out, "expired_keys", keyspace.expired);
    field(out, "expired_stale_perc", "0.00");
    field(out, "expired_time_cap_reached_count", 0);
    field(out, "evicted_keys", ctx.keyspace().evicted_keys());
    field(out, "evicted_clients", 0);
    field(out, "keyspace_hits", keyspace.hits);
    field(out, "keyspace_misses", keyspace.misses);
    let (channels, patterns, shard_channels) = {
        let registry = ctx.shared.pubsub();
        (
            registry.numchannels(),
            registry.numpat(),
            registry.numshardchannels(),
        )
    };
    field(out, "pubsub_channels", channels);
    field(out, "pubsub_patterns", patterns);
    field(out, "pubsubshard_channels", shard_channels);
    field(out, "latest_fork_usec", 0);
    field(out, "total_forks", 0);
    field(out, "migrate_cached_sockets", 0);
    let (_, keys, items, prefixes) = ctx.shared.tracking().counts();
    field(out, "tracking_total_keys", keys);
    field(out, "tracking_total_items", items);
    field(out, "tracking_total_prefixes", prefixes);
    field(out, "unexpected_error_replies", 0);
    let errors = ctx.shared.introspection().total_error_replies();
    field(out, "total_error_replies", errors);
    field(out, "dump_payload_sanitizations", 0);
}

/// Redis's `getSafeInfoString`: INFO's separators cannot appear in a name.
fn info_safe(name: &str) -> String {
    name.replace(['#', ':', '\n', '\r'], "_")
}

fn commandstats_section(ctx: &mut Ctx, out: &mut String) {
    for stat in ctx.shared.introspection().commands_seen() {
        let c = stat.counts();
        if c.calls == 0 && c.failed == 0 && c.rejected == 0 {
            continue;
        }
        // Redis divides in single precision.
        let per_call = if c.calls == 0 {
            0.0
        } else {
            f64::from(c.usec as f32 / c.calls as f32)
        };
        field(
            out,
            &format!("cmdstat_{}", info_safe(stat.name)),
            format!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                c.calls, c.usec, c.rejected, c.failed
            ),
        );
    }
}

fn errorstats_section(ctx: &mut Ctx, out: &mut String) {
    for (prefix, count) in ctx.shared.introspection().errors() {
        let name = info_safe(&String::from_utf8_lossy(&prefix));
        field(out, &format!("errorstat_{name}"), format!("count={count}"));
    }
}

fn latencystats_section(ctx: &mut Ctx, out: &mut String) {
    let introspection = ctx.shared.introspection();
    if !introspection.latency_tracking() {
        return;
    }
    let percentiles = introspection.percentiles();
    for stat in introspection.commands_seen() {
        let Some(histogram) = stat.histogram() else {
            continue;
        };
        let values: Vec<String> = (percentiles.iter())
            .map(|&p| {
                let usec = histogram.value_at_percentile(p) as f64 / 1000.0;
                format!("p{}={usec:.3}", percentile_label(p))
            })
            .collect();
        let name = format!("latency_percentiles_usec_{}", info_safe(stat.name));
        field(out, &name, values.join(","));
    }
}

/// `%f` without trailing zeros (Redis's `trimDoubleString`): `50`, `99.9`.
fn percentile_label(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn replication_section(ctx: &mut Ctx, out: &mut String) {
    let view = ctx.shared.replication().view();
    match &view.upstream {
        None => field(out, "role", "master"),
        Some(up) => {
            use crate::state::LinkState;
            let now = std::time::Instant::now();
            let secs = |at: std::time::Instant| now.duration_since(at).as_secs();
            let linked = up.has_master_client;
            field(out, "role", "slave");
            field(out, "master_host", &up.master.host);
            field(out, "master_port", up.master.port);
            let connected = up.state == LinkState::Connected;
            field(
                out,
                "master_link_status",
                if connected { "up" } else { "down" },
            );
            let last_io = match connected {
                true => secs(up.last_io) as i64,
                false => -1,
            };
            field(out, "master_last_io_seconds_ago", last_io);
            field(
                out,
                "master_sync_in_progress",
                u8::from(up.state == LinkState::Sync),
            );
            let (read, applied) = match linked {
                true => (view.offset + up.unapplied, view.offset),
                false => (1, 1),
            };
            field(out, "slave_read_repl_offset", read);
            field(out, "slave_repl_offset", applied);
            if !connected {
                let down = up.down_since.map_or(-1, |at| secs(at) as i64);
                field(out, "master_link_down_since_seconds", down);
            }
            field(
                out,
                "slave_priority",
                ctx.shared.config().value("replica-priority"),
            );
            field(out, "slave_read_only", u8::from(view.read_only));
            field(
                out,
                "replica_announced",
                u8::from(ctx.shared.config().value("replica-announced") == "yes"),
            );
        }
    }
    field(out, "connected_slaves", view.replicas.len());
    for (i, r) in view.replicas.iter().enumerate() {
        let state = if r.online { "online" } else { "wait_bgsave" };
        field(
            out,
            &format!("slave{i}"),
            format!(
                "ip={},port={},state={state},offset={},lag={}",
                r.ip, r.port, r.offset, r.lag_secs
            ),
        );
    }
    field(
        out,
        "master_failover_state",
        ctx.shared.replication().failover_state(),
    );
    field(out, "master_replid", &view.replid);
    field(out, "master_replid2", &view.replid2);
    field(out, "master_repl_offset", view.offset);
    field(out, "second_repl_offset", view.second_offset);
    field(out, "repl_backlog_active", u8::from(view.backlog_active));
    field(out, "repl_backlog_size", view.backlog_size);
    field(
        out,
        "repl_backlog_first_byte_offset",
        view.backlog_first_byte_offset,
    );
    field(out, "repl_backlog_histlen", view.backlog_histlen);
}

fn cpu_section(_: &mut Ctx, out: &mut String) {
    let usage = |who| {
        // SAFETY: getrusage only writes the struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        let secs = |tv: libc::timeval| format!("{}.{:06}", tv.tv_sec, tv.tv_usec);
        (secs(ru.ru_stime), secs(ru.ru_utime))
    };
    let (sys, user) = usage(libc::RUSAGE_SELF);
    let (sys_children, user_children) = usage(libc::RUSAGE_CHILDREN);
    field(out, "used_cpu_sys", sys);
    field(out, "used_cpu_user", user);
    field(out, "used_cpu_sys_children", sys_children);
    field(out, "used_cpu_user_children", user_children);
}

fn keyspace_section(ctx: &mut Ctx, out: &mut String) {
    for (i, db) in ctx.keyspace().dbs().iter().enumerate() {
        if !db.is_empty() || db.expires_len() > 0 {
            field(
                out,
                &format!("db{i}"),
                format!("keys={},expires={},avg_ttl=0", db.len(), db.expires_len()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_like_redis() {
        assert_eq!(human_bytes(100), "100B");
        assert_eq!(human_bytes(1558568), "1.49M");
        assert_eq!(human_bytes(25276510208), "23.54G");
        assert_eq!(human_bytes(32768), "32.00K");
    }

    #[test]
    fn info_sections() {
        let s = Sections::parse(&[]);
        assert!(s.wants(&["server"]) && s.wants(&["module_list"]) && !s.wants(&["commandstats"]));
        let s = Sections::parse(&[Bytes::from("CLIENTS")]);
        assert!(s.wants(&["clients"]) && !s.wants(&["server"]));
        assert!(Sections::parse(&[Bytes::from("everything")]).wants(&["latencystats"]));
    }
}
