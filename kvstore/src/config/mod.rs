//! Server configuration, parsed exactly the way `redis-server` 7.0.15 does it.
//!
//! kvstore is a drop-in replacement for `redis-server`, so it must accept the
//! same command lines (`kvstore [CONFIG_FILE] [--OPTION VALUE ...] [-]`) and
//! the same `redis.conf` files, reject bad ones with byte-identical fatal
//! messages, and answer `CONFIG GET` / `CONFIG SET` the way Redis does: tools
//! such as `redis-cli`, `redis-benchmark`, client libraries and test suites
//! read parameters like `save`, `appendonly` or `maxmemory` and compare error
//! strings.  This module is the single place that knows Redis's configuration
//! grammar and its table of parameters:
//!
//! * [`parse_args`] turns `argv[1..]` into an [`Invocation`]; the config file
//!   (first argument not starting with `-`), stdin (`-` as first or last
//!   argument) and the `--name value ...` options are concatenated into one
//!   text exactly like `redis-server`'s `main()` does, then parsed line by
//!   line with Redis's `sdssplitargs` quoting rules.
//! * Every parameter Redis 7.0.15 knows (the `standardConfig` table of
//!   `src/config.c` as compiled in Debian's TLS-enabled build, plus the special
//!   directives `include`, `rename-command`, `user`, `loadmodule`,
//!   `sentinel`, module `name.option` configs and the deprecated
//!   `list-max-ziplist-*` / `lua-replicate-commands`) is validated with Redis's
//!   own rules.  Directives kvstore acts on are stored in typed fields of
//!   [`Config`]; every other accepted directive is appended to
//!   [`Config::unused`] so the caller can warn about it, and its value is still
//!   reported by [`Config::get`].
//! * [`Config::get`] and [`Config::set`] implement `CONFIG GET` and
//!   `CONFIG SET` (all-or-nothing, Redis 7 error replies).
//!
//! Errors: a rejected directive yields [`ConfigError::Fatal`], whose `Display`
//! is byte for byte the block `redis-server` writes to stderr (it starts and
//! ends with a newline, so print it with `eprint!`, then exit with status 1).
//! [`ConfigError::CantOpenConfig`] is the message Redis logs (at warning
//! level, through its logger) when the configuration file cannot be opened.
//!
//! Deliberate differences from `redis-server`, all documented where they
//! happen: `daemonize yes` is rejected (kvstore always runs in the
//! foreground); the compiled-in default for `bind` is `127.0.0.1 ::1`
//! (Redis's is `* -::*`); `dir` is validated and resolved to an absolute path
//! but the process does not `chdir()` into it; `rename-command` and `user`
//! rules are stored but not validated (no command table / ACL engine here);
//! `--test-memory`, `--check-system` and sentinel mode are not supported
//! (they become ordinary, unknown or unused, directives); non-UTF-8 bytes in
//! values are converted lossily when stored in `String` fields.

use crate::glob::glob_match;
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;

/// The Redis version kvstore is compatible with.  It appears in the fatal
/// configuration error banner and should be used for `INFO`/`HELLO` replies.
pub const REDIS_VERSION: &str = "7.0.15";

/// `appendfsync`: when the append-only file is fsync()ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AppendFsync {
    /// fsync after every write.
    Always,
    /// fsync once per second (the default).
    #[default]
    EverySec,
    /// Let the OS decide.
    No,
}

impl AppendFsync {
    /// The name Redis uses in `redis.conf` and `CONFIG GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::EverySec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

impl fmt::Display for AppendFsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `loglevel`.  Ordered from most to least verbose.
///
/// Redis 7.0.15 accepts only `debug`, `verbose`, `notice` and `warning`;
/// [`LogLevel::Nothing`] (added in Redis 7.2) is never produced by parsing or
/// `CONFIG SET` and only exists for callers that want to silence logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Very verbose, for development.
    Debug,
    /// Verbose but less noisy than debug.
    Verbose,
    /// Moderately verbose (the default).
    #[default]
    Notice,
    /// Only important messages.
    Warning,
    /// No logging at all (not accepted by Redis 7.0.15 parsing).
    Nothing,
}

impl LogLevel {
    /// The name Redis uses in `redis.conf` and `CONFIG GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Nothing => "nothing",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the command line asks for.
// Built once at start-up, so the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// Start the server with this configuration.
    Run(Config),
    /// `-h` / `--help` as first argument: print [`usage_text`] to stderr and
    /// exit with status 1 (as `redis-server` does).
    Help,
    /// `-v` / `--version` as first argument: print [`version_text`] to stdout
    /// and exit with status 0.
    Version,
}

/// A configuration that `redis-server` would refuse to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A bad directive, argument count or value (or a failed post-load check
    /// such as an unopenable `logfile`).  `Display` is exactly what
    /// `redis-server` prints to stderr, including the leading and trailing
    /// newline:
    ///
    /// ```text
    ///
    /// *** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***
    /// Reading the configuration file, at line 2
    /// >>> 'foo "bar"'
    /// Bad directive or wrong number of arguments
    /// ```
    ///
    /// `location` is `(line number, trimmed line text)`; it is `None` for the
    /// checks Redis runs after the last line, which print no location.
    #[error("{}", fatal_text(.location, .reason))]
    Fatal {
        /// 1-based line number in the concatenated configuration text and the
        /// trimmed text of that line.
        location: Option<(usize, String)>,
        /// The last line of the message.
        reason: String,
    },
    /// The configuration file (or an `include`d one) could not be opened.
    /// Redis logs this message at warning level through its normal logger
    /// (`<pid>:C <date> # Fatal error, ...`) and exits with status 1.
    #[error("Fatal error, can't open config file '{path}': {reason}")]
    CantOpenConfig {
        /// The path as Redis reports it (absolute for the main file).
        path: String,
        /// `strerror(errno)`, e.g. `No such file or directory`.
        reason: String,
    },
}

fn fatal_text(location: &Option<(usize, String)>, reason: &str) -> String {
    let mut out = format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n");
    if let Some((line, text)) = location {
        out.push_str(&format!(
            "Reading the configuration file, at line {line}\n>>> '{text}'\n"
        ));
    }
    out.push_str(reason);
    out.push('\n');
    out
}

/// Text for `--help` (the `redis-server` usage screen, with kvstore's name).
pub fn usage_text() -> String {
    [
        "Usage: ./kvstore [/path/to/redis.conf] [options] [-]",
        "       ./kvstore - (read config from stdin)",
        "       ./kvstore -v or --version",
        "       ./kvstore -h or --help",
        "",
        "Examples:",
        "       ./kvstore (run the server with default conf)",
        "       echo 'maxmemory 128mb' | ./kvstore -",
        "       ./kvstore /etc/redis/6379.conf",
        "       ./kvstore --port 7777",
        "       ./kvstore --port 7777 --replicaof 127.0.0.1 8888",
        "       ./kvstore /etc/myredis.conf --loglevel verbose -",
        "       ./kvstore /etc/myredis.conf --loglevel verbose",
        "",
    ]
    .join("\n")
}

/// Text for `--version`, shaped like `redis-server -v` so that scripts
/// looking for `v=<version>` keep working.
pub fn version_text() -> String {
    format!(
        "kvstore server v={REDIS_VERSION} kvstore={} sha=00000000:0 malloc=libc bits={} build=0\n",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

/// The reply to send when applying an accepted `CONFIG SET` fails at runtime
/// (for example the new `port` cannot be bound), in Redis's format.  Callers
/// that apply changes after [`Config::set`] should restore a clone taken
/// before the call and reply with this.
pub fn config_set_failed_reply(parameter: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{parameter}') - {reason}")
}

// ---------------------------------------------------------------------------
// The parameter table (src/config.c `static_configs[]`, Redis 7.0.15, built
// with TLS like Debian's package).
// ---------------------------------------------------------------------------

/// `IMMUTABLE_CONFIG`: cannot be changed with CONFIG SET.
const IMM: u8 = 1;
/// `SENSITIVE_CONFIG`: value is a secret.
const SENS: u8 = 2;
/// `MULTI_ARG_CONFIG`: takes several arguments.
const MULTI: u8 = 4;
/// `HIDDEN_CONFIG`: not matched by CONFIG GET patterns, only by exact name.
const HID: u8 = 8;
/// `PROTECTED_CONFIG`: CONFIG SET needs `enable-protected-configs`.
const PROT: u8 = 16;

/// Numeric flags: `MEMORY_CONFIG`, `PERCENT_CONFIG`, `OCTAL_CONFIG`.
const MEM: u8 = 1;
const PCT: u8 = 2;
const OCT: u8 = 4;

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const LLONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` stored in a `long long`, as Redis's table does.
const ULLONG_MAX: i64 = -1;

/// The C type behind a numeric parameter; it decides how bounds are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    UInt,
    ULong,
    LongLong,
    ULongLong,
    SizeT,
    SSizeT,
    TimeT,
    OffT,
}

impl Ty {
    /// Redis checks bounds as unsigned only for these three types.
    fn unsigned_bounds(self) -> bool {
        matches!(self, Ty::ULongLong | Ty::UInt | Ty::SizeT)
    }
}

/// Extra validation hooks (`is_valid_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    ActiveDefrag,
    DbFilename,
    AofFilename,
    AofDirname,
    Hostname,
    ProcTitle,
    ShutdownFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyTrackingInfoPercentiles,
}

type EnumItems = &'static [(&'static str, i32)];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool {
        default: bool,
        check: Check,
    },
    Str {
        default: Option<&'static str>,
        empty_is_null: bool,
        check: Check,
    },
    Enum {
        items: EnumItems,
        default: i32,
        check: Check,
    },
    Num {
        ty: Ty,
        lo: i64,
        hi: i64,
        default: i64,
        flags: u8,
    },
    Special(Special),
}

#[derive(Debug)]
struct Def {
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    kind: Kind,
}

const fn boolean(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    default: bool,
    check: Check,
) -> Def {
    Def {
        name,
        alias,
        flags,
        kind: Kind::Bool { default, check },
    }
}

const fn string(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    empty_is_null: bool,
    default: Option<&'static str>,
    check: Check,
) -> Def {
    Def {
        name,
        alias,
        flags,
        kind: Kind::Str {
            default,
            empty_is_null,
            check,
        },
    }
}

const fn enumeration(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    items: EnumItems,
    default: i32,
    check: Check,
) -> Def {
    Def {
        name,
        alias,
        flags,
        kind: Kind::Enum {
            items,
            default,
            check,
        },
    }
}

#[allow(clippy::too_many_arguments)]
const fn numeric(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    ty: Ty,
    lo: i64,
    hi: i64,
    default: i64,
    num_flags: u8,
) -> Def {
    Def {
        name,
        alias,
        flags,
        kind: Kind::Num {
            ty,
            lo,
            hi,
            default,
            flags: num_flags,
        },
    }
}

const fn special(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    which: Special,
) -> Def {
    Def {
        name,
        alias,
        flags,
        kind: Kind::Special(which),
    }
}

const MAXMEMORY_POLICY_ENUM: EnumItems = &[
    ("volatile-lru", 1),
    ("volatile-lfu", (1 << 8) | 2),
    ("volatile-random", 3 << 8),
    ("volatile-ttl", 2 << 8),
    ("allkeys-lru", (4 << 8) | 1 | 4),
    ("allkeys-lfu", (5 << 8) | 2 | 4),
    ("allkeys-random", (6 << 8) | 4),
    ("noeviction", 7 << 8),
];
const SYSLOG_FACILITY_ENUM: EnumItems = &[
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
];
const LOGLEVEL_ENUM: EnumItems = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED_MODE_ENUM: EnumItems = &[("upstart", 3), ("systemd", 2), ("auto", 1), ("no", 0)];
const AOF_FSYNC_ENUM: EnumItems = &[("everysec", 2), ("always", 1), ("no", 0)];
const SHUTDOWN_ON_SIG_ENUM: EnumItems = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const REPL_DISKLESS_LOAD_ENUM: EnumItems = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS_ENUM: EnumItems = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ_ENUM: EnumItems = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT_ENUM: EnumItems = &[("allchannels", 1 << 3), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD_ENUM: EnumItems = &[("no", 0), ("yes", 1), ("clients", 2)];
const PROTECTED_ACTION_ENUM: EnumItems = &[("no", 0), ("yes", 1), ("local", 2)];
const CLUSTER_PREFERRED_ENDPOINT_TYPE_ENUM: EnumItems =
    &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR_ENUM: EnumItems =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

/// Every parameter of Redis 7.0.15, in the order of `static_configs[]`.
#[rustfmt::skip]
static DEFS: &[Def] = &[
    boolean("rdbchecksum", None, IMM, true, Check::None),
    boolean("daemonize", None, IMM, false, Check::None),
    boolean("io-threads-do-reads", None, IMM, false, Check::None),
    boolean("always-show-logo", None, IMM, false, Check::None),
    boolean("protected-mode", None, 0, true, Check::None),
    boolean("rdbcompression", None, 0, true, Check::None),
    boolean("rdb-del-sync-files", None, 0, false, Check::None),
    boolean("activerehashing", None, 0, true, Check::None),
    boolean("stop-writes-on-bgsave-error", None, 0, true, Check::None),
    boolean("set-proc-title", None, IMM, true, Check::None),
    boolean("dynamic-hz", None, 0, true, Check::None),
    boolean("lazyfree-lazy-eviction", None, 0, false, Check::None),
    boolean("lazyfree-lazy-expire", None, 0, false, Check::None),
    boolean("lazyfree-lazy-server-del", None, 0, false, Check::None),
    boolean("lazyfree-lazy-user-del", None, 0, false, Check::None),
    boolean("lazyfree-lazy-user-flush", None, 0, false, Check::None),
    boolean("repl-disable-tcp-nodelay", None, 0, false, Check::None),
    boolean("repl-diskless-sync", None, 0, true, Check::None),
    boolean("aof-rewrite-incremental-fsync", None, 0, true, Check::None),
    boolean("no-appendfsync-on-rewrite", None, 0, false, Check::None),
    boolean("cluster-require-full-coverage", None, 0, true, Check::None),
    boolean("rdb-save-incremental-fsync", None, 0, true, Check::None),
    boolean("aof-load-truncated", None, 0, true, Check::None),
    boolean("aof-use-rdb-preamble", None, 0, true, Check::None),
    boolean("aof-timestamp-enabled", None, 0, false, Check::None),
    boolean("cluster-replica-no-failover", Some("cluster-slave-no-failover"), 0, false, Check::None),
    boolean("replica-lazy-flush", Some("slave-lazy-flush"), 0, false, Check::None),
    boolean("replica-serve-stale-data", Some("slave-serve-stale-data"), 0, true, Check::None),
    boolean("replica-read-only", Some("slave-read-only"), 0, true, Check::None),
    boolean("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), 0, true, Check::None),
    boolean("jemalloc-bg-thread", None, 0, true, Check::None),
    boolean("activedefrag", None, 0, false, Check::ActiveDefrag),
    boolean("syslog-enabled", None, IMM, false, Check::None),
    boolean("cluster-enabled", None, IMM, false, Check::None),
    boolean("appendonly", None, 0, false, Check::None),
    boolean("cluster-allow-reads-when-down", None, 0, false, Check::None),
    boolean("cluster-allow-pubsubshard-when-down", None, 0, true, Check::None),
    boolean("crash-log-enabled", None, 0, true, Check::None),
    boolean("crash-memcheck-enabled", None, 0, true, Check::None),
    boolean("use-exit-on-panic", None, HID, false, Check::None),
    boolean("disable-thp", None, IMM, true, Check::None),
    boolean("cluster-allow-replica-migration", None, 0, true, Check::None),
    boolean("replica-announced", None, 0, true, Check::None),
    boolean("latency-tracking", None, 0, true, Check::None),
    boolean("aof-disable-auto-gc", None, 0, false, Check::None),
    boolean("replica-ignore-disk-write-errors", None, 0, false, Check::None),
    string("aclfile", None, IMM, false, Some(""), Check::None),
    string("unixsocket", None, IMM, true, None, Check::None),
    string("pidfile", None, IMM, true, None, Check::None),
    string("replica-announce-ip", Some("slave-announce-ip"), 0, true, None, Check::None),
    string("masteruser", None, SENS, true, None, Check::None),
    string("cluster-announce-ip", None, 0, true, None, Check::None),
    string("cluster-config-file", None, IMM, false, Some("nodes.conf"), Check::None),
    string("cluster-announce-hostname", None, 0, true, None, Check::Hostname),
    string("syslog-ident", None, IMM, false, Some("redis"), Check::None),
    string("dbfilename", None, PROT, false, Some("dump.rdb"), Check::DbFilename),
    string("appendfilename", None, IMM, false, Some("appendonly.aof"), Check::AofFilename),
    string("appenddirname", None, IMM, false, Some("appendonlydir"), Check::AofDirname),
    string("server_cpulist", None, IMM, true, None, Check::None),
    string("bio_cpulist", None, IMM, true, None, Check::None),
    string("aof_rewrite_cpulist", None, IMM, true, None, Check::None),
    string("bgsave_cpulist", None, IMM, true, None, Check::None),
    string("ignore-warnings", None, 0, false, Some(""), Check::None),
    string("proc-title-template", None, 0, false, Some("{title} {listen-addr} {server-mode}"), Check::ProcTitle),
    string("bind-source-addr", None, 0, true, None, Check::None),
    string("logfile", None, IMM, false, Some(""), Check::None),
    string("masterauth", None, SENS, true, None, Check::None),
    string("requirepass", None, SENS, true, None, Check::None),
    enumeration("supervised", None, IMM, SUPERVISED_MODE_ENUM, 0, Check::None),
    enumeration("syslog-facility", None, IMM, SYSLOG_FACILITY_ENUM, 128, Check::None),
    enumeration("repl-diskless-load", None, 0, REPL_DISKLESS_LOAD_ENUM, 0, Check::None),
    enumeration("loglevel", None, 0, LOGLEVEL_ENUM, 2, Check::None),
    enumeration("maxmemory-policy", None, 0, MAXMEMORY_POLICY_ENUM, 7 << 8, Check::None),
    enumeration("appendfsync", None, 0, AOF_FSYNC_ENUM, 2, Check::None),
    enumeration("oom-score-adj", None, 0, OOM_SCORE_ADJ_ENUM, 0, Check::None),
    enumeration("acl-pubsub-default", None, 0, ACL_PUBSUB_DEFAULT_ENUM, 0, Check::None),
    enumeration("sanitize-dump-payload", None, 0, SANITIZE_DUMP_PAYLOAD_ENUM, 0, Check::None),
    enumeration("enable-protected-configs", None, IMM, PROTECTED_ACTION_ENUM, 0, Check::None),
    enumeration("enable-debug-command", None, IMM, PROTECTED_ACTION_ENUM, 0, Check::None),
    enumeration("enable-module-command", None, IMM, PROTECTED_ACTION_ENUM, 0, Check::None),
    enumeration("cluster-preferred-endpoint-type", None, 0, CLUSTER_PREFERRED_ENDPOINT_TYPE_ENUM, 0, Check::None),
    enumeration("propagation-error-behavior", None, 0, PROPAGATION_ERROR_BEHAVIOR_ENUM, 0, Check::None),
    enumeration("shutdown-on-sigint", None, MULTI, SHUTDOWN_ON_SIG_ENUM, 0, Check::ShutdownFlags),
    enumeration("shutdown-on-sigterm", None, MULTI, SHUTDOWN_ON_SIG_ENUM, 0, Check::ShutdownFlags),
    numeric("databases", None, IMM, Ty::Int, 1, INT_MAX, 16, 0),
    numeric("port", None, 0, Ty::Int, 0, 65535, 6379, 0),
    numeric("io-threads", None, IMM, Ty::Int, 1, 128, 1, 0),
    numeric("auto-aof-rewrite-percentage", None, 0, Ty::Int, 0, INT_MAX, 100, 0),
    numeric("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), 0, Ty::Int, 0, INT_MAX, 10, 0),
    numeric("list-max-listpack-size", Some("list-max-ziplist-size"), 0, Ty::Int, INT_MIN, INT_MAX, -2, 0),
    numeric("tcp-keepalive", None, 0, Ty::Int, 0, INT_MAX, 300, 0),
    numeric("cluster-migration-barrier", None, 0, Ty::Int, 0, INT_MAX, 1, 0),
    numeric("active-defrag-cycle-min", None, 0, Ty::Int, 1, 99, 1, 0),
    numeric("active-defrag-cycle-max", None, 0, Ty::Int, 1, 99, 25, 0),
    numeric("active-defrag-threshold-lower", None, 0, Ty::Int, 0, 1000, 10, 0),
    numeric("active-defrag-threshold-upper", None, 0, Ty::Int, 0, 1000, 100, 0),
    numeric("lfu-log-factor", None, 0, Ty::Int, 0, INT_MAX, 10, 0),
    numeric("lfu-decay-time", None, 0, Ty::Int, 0, INT_MAX, 1, 0),
    numeric("replica-priority", Some("slave-priority"), 0, Ty::Int, 0, INT_MAX, 100, 0),
    numeric("repl-diskless-sync-delay", None, 0, Ty::Int, 0, INT_MAX, 5, 0),
    numeric("maxmemory-samples", None, 0, Ty::Int, 1, INT_MAX, 5, 0),
    numeric("maxmemory-eviction-tenacity", None, 0, Ty::Int, 0, 100, 10, 0),
    numeric("timeout", None, 0, Ty::Int, 0, INT_MAX, 0, 0),
    numeric("replica-announce-port", Some("slave-announce-port"), 0, Ty::Int, 0, 65535, 0, 0),
    numeric("tcp-backlog", None, IMM, Ty::Int, 0, INT_MAX, 511, 0),
    numeric("cluster-port", None, IMM, Ty::Int, 0, 65535, 0, 0),
    numeric("cluster-announce-bus-port", None, 0, Ty::Int, 0, 65535, 0, 0),
    numeric("cluster-announce-port", None, 0, Ty::Int, 0, 65535, 0, 0),
    numeric("cluster-announce-tls-port", None, 0, Ty::Int, 0, 65535, 0, 0),
    numeric("repl-timeout", None, 0, Ty::Int, 1, INT_MAX, 60, 0),
    numeric("repl-ping-replica-period", Some("repl-ping-slave-period"), 0, Ty::Int, 1, INT_MAX, 10, 0),
    numeric("list-compress-depth", None, 0, Ty::Int, 0, INT_MAX, 0, 0),
    numeric("rdb-key-save-delay", None, HID, Ty::Int, INT_MIN, INT_MAX, 0, 0),
    numeric("key-load-delay", None, HID, Ty::Int, INT_MIN, INT_MAX, 0, 0),
    numeric("active-expire-effort", None, 0, Ty::Int, 1, 10, 1, 0),
    numeric("hz", None, 0, Ty::Int, 0, INT_MAX, 10, 0),
    numeric("min-replicas-to-write", Some("min-slaves-to-write"), 0, Ty::Int, 0, INT_MAX, 0, 0),
    numeric("min-replicas-max-lag", Some("min-slaves-max-lag"), 0, Ty::Int, 0, INT_MAX, 10, 0),
    numeric("watchdog-period", None, HID, Ty::Int, 0, INT_MAX, 0, 0),
    numeric("shutdown-timeout", None, 0, Ty::Int, 0, INT_MAX, 10, 0),
    numeric("repl-diskless-sync-max-replicas", None, 0, Ty::Int, 0, INT_MAX, 0, 0),
    numeric("maxclients", None, 0, Ty::UInt, 1, UINT_MAX, 10000, 0),
    numeric("unixsocketperm", None, IMM, Ty::UInt, 0, 0o777, 0, OCT),
    numeric("socket-mark-id", None, IMM, Ty::UInt, 0, UINT_MAX, 0, 0),
    numeric("active-defrag-max-scan-fields", None, 0, Ty::ULong, 1, LONG_MAX, 1000, 0),
    numeric("slowlog-max-len", None, 0, Ty::ULong, 0, LONG_MAX, 128, 0),
    numeric("acllog-max-len", None, 0, Ty::ULong, 0, LONG_MAX, 128, 0),
    numeric("busy-reply-threshold", Some("lua-time-limit"), 0, Ty::LongLong, 0, LONG_MAX, 5000, 0),
    numeric("cluster-node-timeout", None, 0, Ty::LongLong, 0, LLONG_MAX, 15000, 0),
    numeric("slowlog-log-slower-than", None, 0, Ty::LongLong, -1, LLONG_MAX, 10000, 0),
    numeric("latency-monitor-threshold", None, 0, Ty::LongLong, 0, LLONG_MAX, 0, 0),
    numeric("proto-max-bulk-len", None, 0, Ty::LongLong, 1024*1024, LONG_MAX, 512*1024*1024, MEM),
    numeric("stream-node-max-entries", None, 0, Ty::LongLong, 0, LLONG_MAX, 100, 0),
    numeric("repl-backlog-size", None, 0, Ty::LongLong, 1, LLONG_MAX, 1024*1024, MEM),
    numeric("maxmemory", None, 0, Ty::ULongLong, 0, ULLONG_MAX, 0, MEM),
    numeric("cluster-link-sendbuf-limit", None, 0, Ty::ULongLong, 0, ULLONG_MAX, 0, MEM),
    numeric("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), 0, Ty::SizeT, 0, LONG_MAX, 512, 0),
    numeric("set-max-intset-entries", None, 0, Ty::SizeT, 0, LONG_MAX, 512, 0),
    numeric("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), 0, Ty::SizeT, 0, LONG_MAX, 128, 0),
    numeric("active-defrag-ignore-bytes", None, 0, Ty::SizeT, 1, LLONG_MAX, 100<<20, MEM),
    numeric("hash-max-listpack-value", Some("hash-max-ziplist-value"), 0, Ty::SizeT, 0, LONG_MAX, 64, MEM),
    numeric("stream-node-max-bytes", None, 0, Ty::SizeT, 0, LONG_MAX, 4096, MEM),
    numeric("zset-max-listpack-value", Some("zset-max-ziplist-value"), 0, Ty::SizeT, 0, LONG_MAX, 64, MEM),
    numeric("hll-sparse-max-bytes", None, 0, Ty::SizeT, 0, LONG_MAX, 3000, MEM),
    numeric("tracking-table-max-keys", None, 0, Ty::SizeT, 0, LONG_MAX, 1000000, 0),
    numeric("client-query-buffer-limit", None, 0, Ty::SizeT, 1024*1024, LONG_MAX, 1024*1024*1024, MEM),
    numeric("maxmemory-clients", None, 0, Ty::SSizeT, -100, LONG_MAX, 0, MEM|PCT),
    numeric("repl-backlog-ttl", None, 0, Ty::TimeT, 0, LONG_MAX, 60*60, 0),
    numeric("auto-aof-rewrite-min-size", None, 0, Ty::OffT, 0, LLONG_MAX, 64*1024*1024, MEM),
    numeric("loading-process-events-interval-bytes", None, HID, Ty::OffT, 1024, INT_MAX, 1024*1024*2, 0),
    numeric("tls-port", None, 0, Ty::Int, 0, 65535, 0, 0),
    numeric("tls-session-cache-size", None, 0, Ty::Int, 0, INT_MAX, 20*1024, 0),
    numeric("tls-session-cache-timeout", None, 0, Ty::Int, 0, INT_MAX, 300, 0),
    boolean("tls-cluster", None, 0, false, Check::None),
    boolean("tls-replication", None, 0, false, Check::None),
    enumeration("tls-auth-clients", None, 0, TLS_AUTH_CLIENTS_ENUM, 1, Check::None),
    boolean("tls-prefer-server-ciphers", None, 0, false, Check::None),
    boolean("tls-session-caching", None, 0, true, Check::None),
    string("tls-cert-file", None, 0, true, None, Check::None),
    string("tls-key-file", None, 0, true, None, Check::None),
    string("tls-key-file-pass", None, 0, true, None, Check::None),
    string("tls-client-cert-file", None, 0, true, None, Check::None),
    string("tls-client-key-file", None, 0, true, None, Check::None),
    string("tls-client-key-file-pass", None, 0, true, None, Check::None),
    string("tls-dh-params-file", None, 0, true, None, Check::None),
    string("tls-ca-cert-file", None, 0, true, None, Check::None),
    string("tls-ca-cert-dir", None, 0, true, None, Check::None),
    string("tls-protocols", None, 0, true, None, Check::None),
    string("tls-ciphers", None, 0, true, None, Check::None),
    string("tls-ciphersuites", None, 0, true, None, Check::None),
    special("dir", None, PROT, Special::Dir),
    special("save", None, MULTI, Special::Save),
    special("client-output-buffer-limit", None, MULTI, Special::ClientOutputBufferLimit),
    special("oom-score-adj-values", None, MULTI, Special::OomScoreAdjValues),
    special("notify-keyspace-events", None, 0, Special::NotifyKeyspaceEvents),
    special("bind", None, MULTI, Special::Bind),
    special("replicaof", Some("slaveof"), IMM | MULTI, Special::ReplicaOf),
    special("latency-tracking-info-percentiles", None, MULTI, Special::LatencyTrackingInfoPercentiles),
];

/// Directives kvstore acts on; they live in typed fields of [`Config`].
const USED: &[&str] = &[
    "port",
    "bind",
    "dir",
    "appendonly",
    "appendfsync",
    "save",
    "requirepass",
    "protected-mode",
    "maxclients",
    "databases",
    "loglevel",
    "timeout",
    "tcp-keepalive",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "daemonize",
    "logfile",
    "pidfile",
    "dbfilename",
    "appendfilename",
    "io-threads",
    "disable-thp",
];

/// Maximum `bind` addresses (`CONFIG_BINDADDR_MAX`).
const CONFIG_BINDADDR_MAX: usize = 16;
/// `NET_HOST_STR_LEN`.
const NET_HOST_STR_LEN: usize = 256;
/// Redis formats some error strings into a 256-byte buffer.
const LOADBUF_SIZE: usize = 256;
/// `CONFIG_MIN_HZ` / `CONFIG_MAX_HZ`.
const CONFIG_MIN_HZ: i64 = 1;
const CONFIG_MAX_HZ: i64 = 500;
/// Nested `include` limit (Redis has none and would recurse until it crashes).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Finds a parameter by name or alias, ASCII case-insensitively.  Returns the
/// table index and whether the alias matched (Redis registers aliases as
/// separate entries, which matters for duplicate detection and for the name
/// reported in errors).
fn lookup(name: &[u8]) -> Option<(usize, bool)> {
    DEFS.iter().enumerate().find_map(|(idx, def)| {
        if def.name.as_bytes().eq_ignore_ascii_case(name) {
            Some((idx, false))
        } else if def
            .alias
            .is_some_and(|a| a.as_bytes().eq_ignore_ascii_case(name))
        {
            Some((idx, true))
        } else {
            None
        }
    })
}

fn def_index(name: &str) -> usize {
    DEFS.iter()
        .position(|d| d.name == name)
        .expect("parameter missing from the table")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `isspace()` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strerror(errno)` for an I/O error (Rust appends " (os error N)").
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(pos) => text[..pos].to_string(),
        None => text,
    }
}

// ---------------------------------------------------------------------------
// Lexical helpers: sdssplitargs, sdscatrepr and Redis's number parsers.
// ---------------------------------------------------------------------------

/// Redis's `sdssplitargs()`: splits a line into arguments, honouring
/// `"double quotes"` (with `\n \r \t \b \a \xHH` and `\<any>` escapes) and
/// `'single quotes'` (only `\'` is an escape).  A closing quote must be
/// followed by whitespace or the end of the line.  Returns `None` for
/// unbalanced quotes.  Like the C code, the input ends at the first NUL byte.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        let mut done = false;
        while !done {
            let c = at(p);
            if in_dq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    current.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    other => current.push(other),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        args.push(current);
    }
}

/// Redis's `sdscatrepr()`: appends `bytes` as a double-quoted, escaped string
/// that [`split_args`] reads back verbatim.
fn cat_repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// Redis's `sdssplitlen(value, " ")` as used by CONFIG SET for multi-argument
/// parameters: splits on every single space; an empty value has no elements.
fn split_spaces(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
}

/// Redis's `memtoull()`: digits followed by an optional unit (`b`, `k`,
/// `kb`, `m`, `mb`, `g`, `gb`, case-insensitive; `k` = 1000, `kb` = 1024).
/// Faithful to the C quirks: the empty string is 0, digit overflow saturates
/// and the multiplication wraps around.
fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = s[digits..].to_ascii_lowercase();
    let mul: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    let mut val: u64 = 0;
    for &d in &s[..digits] {
        val = val
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(val.wrapping_mul(mul))
}

/// C `strtoll(s, &end, base)`: returns the value (saturated on overflow, as
/// with `ERANGE`), the index where parsing stopped (0 when there were no
/// digits, like `end == s`) and whether it overflowed.
fn c_strtoll(s: &[u8], base: u32) -> (i64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let first_digit = i;
    let mut acc: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        match acc
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => acc = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == first_digit {
        return (0, 0, false);
    }
    let value = if negative {
        if overflow || acc > 1u64 << 63 {
            overflow = true;
            i64::MIN
        } else {
            (acc as i64).wrapping_neg()
        }
    } else if overflow || acc > i64::MAX as u64 {
        overflow = true;
        i64::MAX
    } else {
        acc as i64
    };
    (value, i, overflow)
}

/// `strtoll(s, &end, 10)` that must consume the whole string (an empty
/// string is 0, exactly like the C checks `*end == '\0'`).
fn strtoll_whole(s: &[u8]) -> Option<i64> {
    let (value, end, _) = c_strtoll(s, 10);
    (end == s.len()).then_some(value)
}

/// `printf("%f")` followed by Redis's `trimDoubleString()`.
fn format_percentile(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Keyspace notification classes (`notify.c`).
const NOTIFY_KEYSPACE: i32 = 1 << 0;
const NOTIFY_KEYEVENT: i32 = 1 << 1;
const NOTIFY_GENERIC: i32 = 1 << 2;
const NOTIFY_STRING: i32 = 1 << 3;
const NOTIFY_LIST: i32 = 1 << 4;
const NOTIFY_SET: i32 = 1 << 5;
const NOTIFY_HASH: i32 = 1 << 6;
const NOTIFY_ZSET: i32 = 1 << 7;
const NOTIFY_EXPIRED: i32 = 1 << 8;
const NOTIFY_EVICTED: i32 = 1 << 9;
const NOTIFY_STREAM: i32 = 1 << 10;
const NOTIFY_KEY_MISS: i32 = 1 << 11;
const NOTIFY_MODULE: i32 = 1 << 13;
const NOTIFY_NEW: i32 = 1 << 14;
const NOTIFY_ALL: i32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

fn keyspace_events_from_str(s: &[u8]) -> Option<i32> {
    let mut flags = 0;
    for &c in s.iter().take_while(|&&c| c != 0) {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'g' => NOTIFY_GENERIC,
            b'$' => NOTIFY_STRING,
            b'l' => NOTIFY_LIST,
            b's' => NOTIFY_SET,
            b'h' => NOTIFY_HASH,
            b'z' => NOTIFY_ZSET,
            b'x' => NOTIFY_EXPIRED,
            b'e' => NOTIFY_EVICTED,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b't' => NOTIFY_STREAM,
            b'm' => NOTIFY_KEY_MISS,
            b'd' => NOTIFY_MODULE,
            b'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(flags)
}

fn keyspace_events_to_string(flags: i32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// Redis's `getAbsolutePath()`: trims blanks and joins a relative path to the
/// current directory, folding leading `../` components.
fn absolute_path(filename: &str) -> String {
    let rel = filename.trim_matches([' ', '\r', '\n', '\t']);
    if rel.starts_with('/') {
        return rel.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return rel.to_string();
    };
    let mut abs = cwd.to_string_lossy().into_owned();
    if !abs.is_empty() && !abs.ends_with('/') {
        abs.push('/');
    }
    let mut rel = rel;
    while let Some(rest) = rel.strip_prefix("../") {
        rel = rest;
        if abs.len() > 1 {
            let trimmed = &abs[..abs.len() - 1];
            let cut = trimmed.rfind('/').map_or(0, |p| p + 1);
            abs.truncate(cut);
        }
    }
    abs.push_str(rel);
    abs
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// One class of `client-output-buffer-limit`: hard bytes, soft bytes, soft
/// seconds.
type ObufLimit = (u64, u64, i64);

const DEFAULT_OBUF_LIMITS: [ObufLimit; 3] = [
    (0, 0, 0),
    (256 * 1024 * 1024, 64 * 1024 * 1024, 60),
    (32 * 1024 * 1024, 8 * 1024 * 1024, 60),
];

/// The current value of one parameter.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Bool(bool),
    Str(Option<String>),
    Enum(i32),
    Num(i64),
    Dir(PathBuf),
    /// Normalised `save` string (`"3600 1 300 100"`, or empty).
    Save(String),
    Obuf([ObufLimit; 3]),
    Oom([i64; 3]),
    Notify(i32),
    Bind(Vec<String>),
    ReplicaOf(Option<(String, i64)>),
    Percentiles(Vec<f64>),
}

fn default_val(def: &Def) -> Val {
    match def.kind {
        Kind::Bool { default, .. } => Val::Bool(default),
        Kind::Str { default, .. } => Val::Str(default.map(str::to_string)),
        Kind::Enum { default, .. } => Val::Enum(default),
        Kind::Num { default, .. } => Val::Num(default),
        Kind::Special(which) => match which {
            Special::Dir => Val::Dir(PathBuf::from(".")),
            Special::Save => Val::Save("3600 1 300 100 60 10000".to_string()),
            Special::ClientOutputBufferLimit => Val::Obuf(DEFAULT_OBUF_LIMITS),
            Special::OomScoreAdjValues => Val::Oom([0, 200, 800]),
            Special::NotifyKeyspaceEvents => Val::Notify(0),
            Special::Bind => Val::Bind(vec!["127.0.0.1".to_string(), "::1".to_string()]),
            Special::ReplicaOf => Val::ReplicaOf(None),
            Special::LatencyTrackingInfoPercentiles => Val::Percentiles(vec![50.0, 99.0, 99.9]),
        },
    }
}

/// `configEnumGetName()`.
fn enum_name(items: EnumItems, value: i32, bitflags: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for &(name, v) in items {
        if value == v {
            return name.to_string();
        }
        if bitflags && v != 0 && v == (unmatched & v) {
            names.push(name);
            unmatched &= !v;
        }
    }
    if names.is_empty() || unmatched != 0 {
        "unknown".to_string()
    } else {
        names.join(" ")
    }
}

/// Formats a value the way `CONFIG GET` shows it.
fn format_val(def: &Def, val: &Val) -> String {
    match (val, def.kind) {
        (Val::Bool(b), _) => if *b { "yes" } else { "no" }.to_string(),
        (Val::Str(s), _) => s.clone().unwrap_or_default(),
        (Val::Enum(v), Kind::Enum { items, .. }) => enum_name(items, *v, def.flags & MULTI != 0),
        (Val::Num(v), Kind::Num { flags, .. }) => {
            if flags & PCT != 0 && *v < 0 {
                format!("{}%", v.unsigned_abs())
            } else if flags & MEM != 0 {
                (*v as u64).to_string()
            } else if flags & OCT != 0 {
                format!("{:o}", *v as u64)
            } else {
                v.to_string()
            }
        }
        (Val::Dir(p), _) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .to_string_lossy()
            .into_owned(),
        (Val::Save(s), _) => s.clone(),
        (Val::Obuf(limits), _) => ["normal", "slave", "pubsub"]
            .iter()
            .zip(limits)
            .map(|(class, (hard, soft, secs))| format!("{class} {hard} {soft} {secs}"))
            .collect::<Vec<_>>()
            .join(" "),
        (Val::Oom(v), _) => format!("{} {} {}", v[0], v[1], v[2]),
        (Val::Notify(flags), _) => keyspace_events_to_string(*flags),
        (Val::Bind(addrs), _) => addrs.join(" "),
        (Val::ReplicaOf(r), _) => r
            .as_ref()
            .map(|(host, port)| format!("{host} {port}"))
            .unwrap_or_default(),
        (Val::Percentiles(p), _) => p
            .iter()
            .map(|v| format_percentile(*v))
            .collect::<Vec<_>>()
            .join(" "),
        (Val::Enum(v), _) => v.to_string(),
        (Val::Num(v), _) => v.to_string(),
    }
}

/// State shared by the lines of one configuration load (Redis keeps it in
/// statics).
#[derive(Debug, Default)]
struct LoadState {
    /// `reading_config_file`: `save` lines append instead of replacing.  Like
    /// Redis, an `include` clears it when the included file ends.
    reading_config_file: bool,
    /// Whether a `save` line already replaced the compiled-in default.
    save_loaded: bool,
    /// Nesting depth of `include`.
    depth: usize,
}

/// The reason printed when a configuration asks kvstore to daemonize.
const DAEMONIZE_UNSUPPORTED: &str =
    "daemonize yes is not supported by kvstore: it always runs in the foreground (use a supervisor such as systemd)";

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The server configuration.
///
/// The typed fields are the directives kvstore acts on; every other
/// directive Redis knows is validated, remembered for [`Config::get`] /
/// [`Config::set`], and listed in [`Config::unused`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Absolute path of the configuration file given on the command line
    /// (Redis's `server.configfile`), if any.
    pub config_file: Option<PathBuf>,
    /// `port` (0..=65535, default 6379; 0 means "no TCP listener" in Redis).
    pub port: u16,
    /// `bind` addresses exactly as given (Redis 7 syntax such as `*`, `-::1`
    /// or `-127.0.0.1` is kept verbatim).  Default `127.0.0.1 ::1` (Redis's
    /// compiled-in default is `* -::*`; its sample redis.conf uses
    /// `127.0.0.1 -::1`).  `bind ""` gives an empty list.
    pub bind: Vec<String>,
    /// `dir`: default `.`; when set by a directive it is validated like
    /// Redis's `chdir()` and stored as a canonical absolute path.  Redis
    /// resolves relative `logfile`, `pidfile`, `dbfilename`, ... against it
    /// (it changes its working directory); kvstore does not `chdir()`, so
    /// callers should join relative paths to `dir`.
    pub dir: PathBuf,
    /// `appendonly` (default `no`).
    pub appendonly: bool,
    /// `appendfsync` (default `everysec`).
    pub appendfsync: AppendFsync,
    /// `save`, normalised as `CONFIG GET save` shows it: space-separated
    /// `seconds changes` pairs, empty when snapshots are disabled
    /// (`save ""`).  Default `3600 1 300 100 60 10000`.
    pub save: String,
    /// `requirepass` (`None` when empty/unset).
    pub requirepass: Option<String>,
    /// `protected-mode` (default `yes`).
    pub protected_mode: bool,
    /// `maxclients` (1..=4294967295, default 10000).
    pub maxclients: u32,
    /// `databases` (1..=2147483647, default 16).
    pub databases: u32,
    /// `loglevel` (default `notice`).
    pub loglevel: LogLevel,
    /// `timeout`: idle client timeout in seconds, 0 = never (default 0).
    pub timeout: u64,
    /// `tcp-keepalive` in seconds, 0 = off (default 300).
    pub tcp_keepalive: u64,
    /// `proto-max-bulk-len` in bytes (>= 1mb, default 512mb).
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit` in bytes (>= 1mb, default 1gb).
    pub client_query_buffer_limit: u64,
    /// `daemonize`: always `false`; `daemonize yes` is rejected with a fatal
    /// configuration error because kvstore never forks into the background.
    pub daemonize: bool,
    /// `logfile`: empty (the default) means standard output.
    pub logfile: String,
    /// `pidfile` (`None` by default: no pid file when not daemonized).
    pub pidfile: Option<String>,
    /// `dbfilename` (default `dump.rdb`; a bare file name).
    pub dbfilename: String,
    /// `appendfilename` (default `appendonly.aof`; a bare file name).
    pub appendfilename: String,
    /// Directives that were accepted but have no effect in kvstore, in file
    /// order: the lower-cased directive name and its arguments.  Callers
    /// should log a warning for each.
    pub unused: Vec<(String, Vec<String>)>,
    /// Current values of the parameters without a typed field (indexed like
    /// `DEFS`; entries of typed parameters are ignored).
    others: Vec<Val>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            config_file: None,
            port: 6379,
            bind: vec!["127.0.0.1".to_string(), "::1".to_string()],
            dir: PathBuf::from("."),
            appendonly: false,
            appendfsync: AppendFsync::EverySec,
            save: "3600 1 300 100 60 10000".to_string(),
            requirepass: None,
            protected_mode: true,
            maxclients: 10000,
            databases: 16,
            loglevel: LogLevel::Notice,
            timeout: 0,
            tcp_keepalive: 300,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            daemonize: false,
            logfile: String::new(),
            pidfile: None,
            dbfilename: "dump.rdb".to_string(),
            appendfilename: "appendonly.aof".to_string(),
            unused: Vec::new(),
            others: DEFS.iter().map(default_val).collect(),
        }
    }
}

/// Parses `redis-server`-style arguments (`args` excludes the program name).
///
/// * no arguments: the defaults, without reading any file;
/// * `-v`/`--version` or `-h`/`--help` as the first argument;
/// * a first argument not starting with `-` is the configuration file;
/// * `-` as the first or last argument reads more configuration from stdin;
/// * every `--name` starts a directive whose arguments are the following
///   arguments that do not start with `--` (a directive with no argument yet
///   takes the next one whatever it looks like; `--save` directly followed by
///   another option or at the end means `save ""`).
///
/// The file, stdin and the options are concatenated into one text (the
/// options after a newline, each argument re-quoted with `sdscatrepr`), so
/// errors in command-line options are reported with line numbers counted
/// after the file's lines, exactly as `redis-server` does.
///
/// Side effects, as in `redis-server`: stdin is read to the end when `-` is
/// given, and a non-empty `logfile` is opened for appending (so created) to
/// check that it is usable.
pub fn parse_args(args: &[String]) -> Result<Invocation, ConfigError> {
    parse_args_with_stdin(args, || {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    })
}

fn parse_args_with_stdin(
    args: &[String],
    read_stdin: impl FnOnce() -> io::Result<Vec<u8>>,
) -> Result<Invocation, ConfigError> {
    let Some(first) = args.first() else {
        return Ok(Invocation::Run(Config::default()));
    };
    match first.as_str() {
        "-v" | "--version" => return Ok(Invocation::Version),
        "-h" | "--help" => return Ok(Invocation::Help),
        _ => {}
    }
    let (config_file, from_stdin, options) = merge_args(args);

    let mut text = Vec::new();
    if let Some(path) = &config_file {
        let mut file = std::fs::File::open(path).map_err(|e| ConfigError::CantOpenConfig {
            path: path.clone(),
            reason: strerror(&e),
        })?;
        // Like fgets(), a read error (e.g. EISDIR) just ends the input.
        let _ = file.read_to_end(&mut text);
    }
    if from_stdin {
        let input = read_stdin().map_err(|e| ConfigError::CantOpenConfig {
            path: "-".to_string(),
            reason: strerror(&e),
        })?;
        text.extend_from_slice(&input);
    }
    text.push(b'\n');
    text.extend_from_slice(&options);

    let mut config = Config {
        config_file: config_file.map(PathBuf::from),
        ..Config::default()
    };
    config.load_text(&text, &mut LoadState::default())?;
    Ok(Invocation::Run(config))
}

/// The argument handling of `redis-server`'s `main()`: returns the absolute
/// configuration file path, whether stdin is read, and the options text.
fn merge_args(args: &[String]) -> (Option<String>, bool, Vec<u8>) {
    let n = args.len();
    let mut j = 0;
    let mut config_file = None;
    if n > 0 && !args[0].starts_with('-') {
        config_file = Some(absolute_path(&args[0]));
        j = 1;
    }
    let mut from_stdin = false;
    let mut options: Vec<u8> = Vec::new();
    let mut handled_last_config_arg = true;
    while j < n {
        let arg = args[j].as_bytes();
        let next_is_option = j + 1 < n && args[j + 1].starts_with("--");
        let is_last = j + 1 == n;
        if arg == b"-" && (j == 0 || is_last) {
            from_stdin = true;
        } else if handled_last_config_arg && arg.starts_with(b"--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg[2..]);
            options.push(b' ');
            let words = split_args(arg).map_or(0, |v| v.len());
            if words == 1 {
                // Only the option name: its value follows.
                handled_last_config_arg = false;
                let is_save = arg.eq_ignore_ascii_case(b"--save");
                let is_sentinel = arg.eq_ignore_ascii_case(b"--sentinel");
                if is_save && next_is_option {
                    options.extend_from_slice(b"\"\"");
                    handled_last_config_arg = true;
                } else if is_save && is_last {
                    options.extend_from_slice(b"\"\"");
                } else if is_sentinel && next_is_option {
                    handled_last_config_arg = true;
                }
            } else {
                // "--port 6380" in a single argument.
                handled_last_config_arg = true;
            }
        } else {
            cat_repr(&mut options, arg);
            options.push(b' ');
            handled_last_config_arg = true;
        }
        j += 1;
    }
    (config_file, from_stdin, options)
}

impl Config {
    /// `CONFIG GET pattern`: the parameters whose name matches the glob
    /// `pattern` (case-insensitively, aliases included, hidden debugging
    /// parameters only by exact name), with their values formatted as Redis
    /// does (sizes in plain bytes, booleans `yes`/`no`, `bind` space-joined,
    /// `save` normalised, `dir` absolute).  A pattern without `*`, `?` or `[`
    /// is an exact lookup whose reply uses the name as the client spelled it.
    /// Results follow Redis's table order (Redis itself uses hash order).
    pub fn get(&self, pattern: &[u8]) -> Vec<(String, String)> {
        self.get_many([pattern])
    }

    /// `CONFIG GET pattern [pattern ...]` (Redis 7): the union of the
    /// matches, each parameter reported once.
    pub fn get_many<I, P>(&self, patterns: I) -> Vec<(String, String)>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<[u8]>,
    {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &[(String, String)], name: &[u8]| {
            out.iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        };
        for pattern in patterns {
            let pattern = pattern.as_ref();
            if !pattern.iter().any(|b| b"[*?".contains(b)) {
                if !seen(&out, pattern) {
                    if let Some((idx, _)) = lookup(pattern) {
                        out.push((lossy(pattern), self.format_value(idx)));
                    }
                }
                continue;
            }
            for (idx, def) in DEFS.iter().enumerate() {
                if def.flags & HID != 0 {
                    continue;
                }
                for name in std::iter::once(def.name).chain(def.alias) {
                    if !seen(&out, name.as_bytes()) && glob_match(pattern, name.as_bytes(), true) {
                        out.push((name.to_string(), self.format_value(idx)));
                    }
                }
            }
        }
        out
    }

    /// `CONFIG SET name value [name value ...]` with Redis 7 semantics for a
    /// client that is not local (see [`Config::set_for_client`]).
    ///
    /// All pairs are validated and applied, or none is.  On success returns
    /// the (canonical) names of the parameters whose value actually changed,
    /// so the caller can apply side effects (rebind, open the AOF, ...).  On
    /// failure returns the exact Redis error reply without the leading `-`,
    /// e.g. `ERR Unknown option or number of arguments for CONFIG SET - 'foo'`.
    pub fn set(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        self.set_for_client(pairs, false)
    }

    /// [`Config::set`] for a client that is (`local_client`) or is not
    /// connected over loopback/unix socket; this only matters for the
    /// protected parameters `dir` and `dbfilename` when
    /// `enable-protected-configs local` is configured.
    pub fn set_for_client(
        &mut self,
        pairs: &[(Vec<u8>, Vec<u8>)],
        local_client: bool,
    ) -> Result<Vec<String>, String> {
        if pairs.is_empty() {
            return Err("ERR wrong number of arguments for 'config|set' command".to_string());
        }
        let protected_allowed = match self.others[def_index("enable-protected-configs")] {
            Val::Enum(1) => true,
            Val::Enum(2) => local_client,
            _ => false,
        };
        let mut entries: Vec<(usize, bool)> = Vec::with_capacity(pairs.len());
        let mut unknown: Option<String> = None;
        let mut failure: Option<(String, &str)> = None;
        for (name, _) in pairs {
            let invalid = unknown.is_some() || failure.is_some();
            let Some(entry) = lookup(name) else {
                if !invalid {
                    unknown = Some(lossy(name));
                }
                continue;
            };
            if invalid {
                continue;
            }
            let flags = DEFS[entry.0].flags;
            if flags & IMM != 0 {
                failure = Some((lossy(name), "can't set immutable config"));
            } else if flags & PROT != 0 && !protected_allowed {
                failure = Some((lossy(name), "can't set protected config"));
            } else if entries.contains(&entry) {
                failure = Some((lossy(name), "duplicate parameter"));
            }
            entries.push(entry);
        }
        if let Some(name) = unknown {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
        if let Some((name, reason)) = failure {
            return Err(config_set_failed_reply(&name, reason));
        }

        let mut next = self.clone();
        let mut state = LoadState::default();
        let mut changed: Vec<String> = Vec::new();
        for (&(idx, is_alias), (_, value)) in entries.iter().zip(pairs) {
            let def = &DEFS[idx];
            let args = if def.flags & MULTI != 0 {
                split_spaces(value)
            } else {
                vec![value.clone()]
            };
            let old = next.load(idx);
            let new = next.set_value(idx, &args, &mut state).map_err(|reason| {
                let name = if is_alias {
                    def.alias.unwrap_or(def.name)
                } else {
                    def.name
                };
                config_set_failed_reply(name, &reason)
            })?;
            if new != old && !changed.iter().any(|c| c == def.name) {
                changed.push(def.name.to_string());
            }
            next.store(idx, new);
        }
        next.clamp_hz();
        *self = next;
        Ok(changed)
    }

    /// One line describing the effective configuration for the start-up log
    /// (`requirepass` is masked).
    pub fn summary(&self) -> String {
        format!(
            "config_file={} port={} bind=\"{}\" dir={} databases={} maxclients={} timeout={} \
             tcp-keepalive={} protected-mode={} requirepass={} appendonly={} appendfsync={} \
             appendfilename={} save=\"{}\" dbfilename={} loglevel={} logfile={} pidfile={} \
             proto-max-bulk-len={} client-query-buffer-limit={} unused-directives={}",
            self.config_file
                .as_deref()
                .map_or_else(|| "(none)".to_string(), |p| p.display().to_string()),
            self.port,
            self.bind.join(" "),
            self.dir.display(),
            self.databases,
            self.maxclients,
            self.timeout,
            self.tcp_keepalive,
            yes_no(self.protected_mode),
            if self.requirepass.is_some() {
                "(set)"
            } else {
                "(none)"
            },
            yes_no(self.appendonly),
            self.appendfsync,
            self.appendfilename,
            self.save,
            self.dbfilename,
            self.loglevel,
            if self.logfile.is_empty() {
                "(stdout)"
            } else {
                &self.logfile
            },
            self.pidfile.as_deref().unwrap_or("(none)"),
            self.proto_max_bulk_len,
            self.client_query_buffer_limit,
            self.unused.len(),
        )
    }

    // --- value plumbing --------------------------------------------------

    fn format_value(&self, idx: usize) -> String {
        if DEFS[idx].name == "loglevel" && self.loglevel == LogLevel::Nothing {
            return "nothing".to_string();
        }
        format_val(&DEFS[idx], &self.load(idx))
    }

    /// Reads a parameter's current value.
    fn load(&self, idx: usize) -> Val {
        match DEFS[idx].name {
            "port" => Val::Num(i64::from(self.port)),
            "bind" => Val::Bind(self.bind.clone()),
            "dir" => Val::Dir(self.dir.clone()),
            "appendonly" => Val::Bool(self.appendonly),
            "appendfsync" => Val::Enum(match self.appendfsync {
                AppendFsync::No => 0,
                AppendFsync::Always => 1,
                AppendFsync::EverySec => 2,
            }),
            "save" => Val::Save(self.save.clone()),
            "requirepass" => Val::Str(self.requirepass.clone()),
            "protected-mode" => Val::Bool(self.protected_mode),
            "maxclients" => Val::Num(i64::from(self.maxclients)),
            "databases" => Val::Num(i64::from(self.databases)),
            "loglevel" => Val::Enum(self.loglevel as i32),
            "timeout" => Val::Num(self.timeout as i64),
            "tcp-keepalive" => Val::Num(self.tcp_keepalive as i64),
            "proto-max-bulk-len" => Val::Num(self.proto_max_bulk_len as i64),
            "client-query-buffer-limit" => Val::Num(self.client_query_buffer_limit as i64),
            "daemonize" => Val::Bool(self.daemonize),
            "logfile" => Val::Str(Some(self.logfile.clone())),
            "pidfile" => Val::Str(self.pidfile.clone()),
            "dbfilename" => Val::Str(Some(self.dbfilename.clone())),
            "appendfilename" => Val::Str(Some(self.appendfilename.clone())),
            _ => self.others[idx].clone(),
        }
    }

    /// Stores a validated value.
    fn store(&mut self, idx: usize, val: Val) {
        match (DEFS[idx].name, val) {
            ("port", Val::Num(n)) => self.port = n as u16,
            ("bind", Val::Bind(v)) => self.bind = v,
            ("dir", Val::Dir(p)) => self.dir = p,
            ("appendonly", Val::Bool(b)) => self.appendonly = b,
            ("appendfsync", Val::Enum(e)) => {
                self.appendfsync = match e {
                    0 => AppendFsync::No,
                    1 => AppendFsync::Always,
                    _ => AppendFsync::EverySec,
                }
            }
            ("save", Val::Save(s)) => self.save = s,
            ("requirepass", Val::Str(s)) => self.requirepass = s,
            ("protected-mode", Val::Bool(b)) => self.protected_mode = b,
            ("maxclients", Val::Num(n)) => self.maxclients = n as u32,
            ("databases", Val::Num(n)) => self.databases = n as u32,
            ("loglevel", Val::Enum(e)) => {
                self.loglevel = match e {
                    0 => LogLevel::Debug,
                    1 => LogLevel::Verbose,
                    3 => LogLevel::Warning,
                    _ => LogLevel::Notice,
                }
            }
            ("timeout", Val::Num(n)) => self.timeout = n as u64,
            ("tcp-keepalive", Val::Num(n)) => self.tcp_keepalive = n as u64,
            ("proto-max-bulk-len", Val::Num(n)) => self.proto_max_bulk_len = n as u64,
            ("client-query-buffer-limit", Val::Num(n)) => self.client_query_buffer_limit = n as u64,
            ("daemonize", Val::Bool(b)) => self.daemonize = b,
            ("logfile", Val::Str(s)) => self.logfile = s.unwrap_or_default(),
            ("pidfile", Val::Str(s)) => self.pidfile = s,
            ("dbfilename", Val::Str(s)) => self.dbfilename = s.unwrap_or_default(),
            ("appendfilename", Val::Str(s)) => self.appendfilename = s.unwrap_or_default(),
            (_, val) => self.others[idx] = val,
        }
    }

    fn other(&self, name: &str) -> &Val {
        &self.others[def_index(name)]
    }

    /// `updateHZ()`: `hz` is a hint, out-of-range values are capped.
    fn clamp_hz(&mut self) {
        let idx = def_index("hz");
        if let Val::Num(hz) = self.others[idx] {
            self.others[idx] = Val::Num(hz.clamp(CONFIG_MIN_HZ, CONFIG_MAX_HZ));
        }
    }

    /// Validates `args` for parameter `idx` and returns the new value (the
    /// `set` function of Redis's type interface, plus its `is_valid_fn`).
    fn set_value(
        &self,
        idx: usize,
        args: &[Vec<u8>],
        state: &mut LoadState,
    ) -> Result<Val, String> {
        let def = &DEFS[idx];
        let first = args.first().map_or(&[][..], Vec::as_slice);
        match def.kind {
            Kind::Bool { check, .. } => {
                let value = if first.eq_ignore_ascii_case(b"yes") {
                    true
                } else if first.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err("argument must be 'yes' or 'no'".to_string());
                };
                if check == Check::ActiveDefrag && value {
                    // Debian's redis-server uses the system jemalloc, which
                    // lacks the defragmentation hint; kvstore has no defrag.
                    return Err(
                        "Active defragmentation cannot be enabled: it requires a Redis \
                                server compiled with a modified Jemalloc like the one shipped by \
                                default with the Redis source distribution"
                            .to_string(),
                    );
                }
                Ok(Val::Bool(value))
            }
            Kind::Str {
                empty_is_null,
                check,
                ..
            } => {
                self.check_string(check, first)?;
                if empty_is_null && first.is_empty() {
                    Ok(Val::Str(None))
                } else {
                    Ok(Val::Str(Some(lossy(first))))
                }
            }
            Kind::Enum { items, check, .. } => {
                let bitflags = def.flags & MULTI != 0;
                let value = enum_value(items, args, bitflags).ok_or_else(|| {
                    let names: Vec<&str> = items.iter().map(|(n, _)| *n).collect();
                    let mut msg = format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    );
                    msg.truncate(LOADBUF_SIZE - 1);
                    msg
                })?;
                if check == Check::ShutdownFlags && value & 1 != 0 && value & 2 != 0 {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".to_string(),
                    );
                }
                Ok(Val::Enum(value))
            }
            Kind::Num {
                ty, lo, hi, flags, ..
            } => {
                let value = parse_numeric(first, flags)?;
                check_bounds(value, ty, lo, hi, flags)?;
                Ok(Val::Num(value))
            }
            Kind::Special(which) => self.set_special(which, idx, args, state),
        }
    }

    fn check_string(&self, check: Check, value: &[u8]) -> Result<(), String> {
        let is_path = value.contains(&b'/') || value.contains(&b'\\');
        let err = |m: &str| Err(m.to_string());
        match check {
            Check::DbFilename if is_path => err("dbfilename can't be a path, just a filename"),
            Check::AofFilename if value.is_empty() => err("appendfilename can't be empty"),
            Check::AofFilename if is_path => err("appendfilename can't be a path, just a filename"),
            Check::AofDirname if value.is_empty() => err("appenddirname can't be empty"),
            Check::AofDirname if is_path => err("appenddirname can't be a path, just a dirname"),
            Check::Hostname if value.len() >= NET_HOST_STR_LEN => {
                err("Hostnames must be less than 256 characters")
            }
            Check::Hostname
                if !value
                    .iter()
                    .take_while(|&&b| b != 0)
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
            {
                err("Hostnames may only contain alphanumeric characters, hyphens or dots")
            }
            Check::ProcTitle if !self.proc_title_template_ok(value) => {
                err("template format is invalid or contains unknown variables")
            }
            _ => Ok(()),
        }
    }

    /// `validateProcTitleTemplate()`: the template must expand (known
    /// `{variables}`, `{{` for a literal brace) to something non-blank.
    fn proc_title_template_ok(&self, template: &[u8]) -> bool {
        let end = template
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(template.len());
        let t = &template[..end];
        let tls_port = match self.other("tls-port") {
            Val::Num(p) => *p,
            _ => 0,
        };
        let unixsocket = match self.other("unixsocket") {
            Val::Str(s) => s.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let mut out: Vec<u8> = Vec::new();
        let mut p = 0;
        while p < t.len() {
            let Some(open) = t[p..].iter().position(|&b| b == b'{') else {
                out.extend_from_slice(&t[p..]);
                break;
            };
            out.extend_from_slice(&t[p..p + open]);
            let var_start = p + open + 1;
            if var_start >= t.len() {
                return false;
            }
            if t[var_start] == b'{' {
                out.push(b'{');
                p = var_start + 1;
                continue;
            }
            let Some(close) = t[var_start..].iter().position(|&b| b == b'}') else {
                return false;
            };
            let value = match &t[var_start..var_start + close] {
                b"title" => String::new(),
                b"listen-addr" => {
                    if self.port != 0 || tls_port != 0 {
                        let addr = self.bind.first().map_or("*", String::as_str);
                        let port = if self.port != 0 {
                            i64::from(self.port)
                        } else {
                            tls_port
                        };
                        format!("{addr}:{port}")
                    } else {
                        format!("unixsocket:{unixsocket}")
                    }
                }
                b"server-mode" => {
                    if *self.other("cluster-enabled") == Val::Bool(true) {
                        "[cluster]".to_string()
                    } else {
                        String::new()
                    }
                }
                b"config-file" => self
                    .config_file
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |p| p.display().to_string()),
                b"port" => self.port.to_string(),
                b"tls-port" => tls_port.to_string(),
                b"unixsocket" => unixsocket.clone(),
                _ => return false,
            };
            out.extend_from_slice(value.as_bytes());
            p = var_start + close + 1;
        }
        out.iter().any(|&b| b != b' ')
    }

    fn set_special(
        &self,
        which: Special,
        idx: usize,
        args: &[Vec<u8>],
        state: &mut LoadState,
    ) -> Result<Val, String> {
        let wrong_args = || "wrong number of arguments".to_string();
        match which {
            Special::Dir => {
                let [arg] = args else {
                    return Err(wrong_args());
                };
                // Redis chdir()s here; kvstore only validates and resolves.
                if arg.is_empty() {
                    return Err("No such file or directory".to_string());
                }
                let target = self.dir.join(lossy(arg));
                let canonical = std::fs::canonicalize(&target).map_err(|e| strerror(&e))?;
                if !canonical.is_dir() {
                    return Err("Not a directory".to_string());
                }
                Ok(Val::Dir(canonical))
            }
            Special::Save => {
                let mut args = args;
                let mut old = self.save.clone();
                if args.len() == 1 && args[0].is_empty() {
                    old.clear();
                    args = &[];
                }
                let invalid = || "Invalid save parameters".to_string();
                if args.len() % 2 == 1 {
                    return Err(invalid());
                }
                let mut pairs = Vec::new();
                for pair in args.chunks(2) {
                    let seconds = strtoll_whole(&pair[0]).ok_or_else(invalid)?;
                    let changes = strtoll_whole(&pair[1]).ok_or_else(invalid)?;
                    if seconds < 1 || changes < 0 {
                        return Err(invalid());
                    }
                    // `changes` is stored in a C int.
                    pairs.push(format!("{seconds} {}", changes as i32));
                }
                if !state.reading_config_file {
                    old.clear();
                } else if !state.save_loaded {
                    state.save_loaded = true;
                    old.clear();
                }
                let mut all: Vec<String> = Vec::new();
                if !old.is_empty() {
                    all.push(old);
                }
                all.extend(pairs);
                Ok(Val::Save(all.join(" ")))
            }
            Special::ClientOutputBufferLimit => {
                let Val::Obuf(mut limits) = self.others[idx].clone() else {
                    unreachable!("client-output-buffer-limit holds Val::Obuf")
                };
                if args.len() % 4 != 0 {
                    return Err(
                        "Wrong number of arguments in buffer limit configuration.".to_string()
                    );
                }
                let mut updates = Vec::new();
                for chunk in args.chunks(4) {
                    let class = match chunk[0].to_ascii_lowercase().as_slice() {
                        b"normal" => 0,
                        b"slave" | b"replica" => 1,
                        b"pubsub" => 2,
                        _ => {
                            return Err("Invalid client class specified in buffer limit \
                                        configuration."
                                .to_string())
                        }
                    };
                    let hard = memtoull(&chunk[1]);
                    let soft = memtoull(&chunk[2]);
                    // soft_seconds = strtoll(...) stored in an int.
                    let (secs, end, _) = c_strtoll(&chunk[3], 10);
                    let secs = secs as i32;
                    match (hard, soft) {
                        (Some(hard), Some(soft)) if secs >= 0 && end == chunk[3].len() => {
                            updates.push((class, (hard, soft, i64::from(secs))));
                        }
                        _ => {
                            return Err("Error in hard, soft or soft_seconds setting in buffer \
                                        limit configuration."
                                .to_string())
                        }
                    }
                }
                for (class, limit) in updates {
                    limits[class] = limit;
                }
                Ok(Val::Obuf(limits))
            }
            Special::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err(wrong_args());
                }
                let mut values = [0i64; 3];
                for (slot, arg) in values.iter_mut().zip(args) {
                    *slot = strtoll_whole(arg)
                        .filter(|v| (-2000..=2000).contains(v))
                        .ok_or_else(|| {
                            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                                .to_string()
                        })?;
                }
                Ok(Val::Oom(values))
            }
            Special::NotifyKeyspaceEvents => {
                let [arg] = args else {
                    return Err(wrong_args());
                };
                keyspace_events_from_str(arg)
                    .map(Val::Notify)
                    .ok_or_else(|| {
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                    })
            }
            Special::Bind => {
                if args.len() > CONFIG_BINDADDR_MAX {
                    return Err("Too many bind addresses specified.".to_string());
                }
                if args.len() == 1 && args[0].is_empty() {
                    return Ok(Val::Bind(Vec::new()));
                }
                Ok(Val::Bind(args.iter().map(|a| lossy(a)).collect()))
            }
            Special::ReplicaOf => {
                let [host, port] = args else {
                    return Err(wrong_args());
                };
                if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
                    return Ok(Val::ReplicaOf(None));
                }
                let (port_num, end, _) = c_strtoll(port, 10);
                if !(0..=65535).contains(&port_num) || end != port.len() {
                    return Err("Invalid master port".to_string());
                }
                Ok(Val::ReplicaOf(Some((lossy(host), port_num))))
            }
            Special::LatencyTrackingInfoPercentiles => {
                if args.len() == 1 && args[0].is_empty() {
                    return Ok(Val::Percentiles(Vec::new()));
                }
                let mut out = Vec::with_capacity(args.len());
                for arg in args {
                    // Redis parses each percentile with `string2d`.
                    let v = crate::number::parse_f64(arg).ok_or_else(|| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                    if !(0.0..=100.0).contains(&v) {
                        return Err("latency-tracking-info-percentiles parameters should sit \
                                    between [0.0,100.0]"
                            .to_string());
                    }
                    out.push(v);
                }
                Ok(Val::Percentiles(out))
            }
        }
    }

    // --- loading ----------------------------------------------------------

    /// Redis's `loadServerConfigFromString()`.
    fn load_text(&mut self, text: &[u8], state: &mut LoadState) -> Result<(), ConfigError> {
        state.reading_config_file = true;
        let lines: Vec<&[u8]> = if text.is_empty() {
            Vec::new()
        } else {
            text.split(|&b| b == b'\n').collect()
        };
        for (i, raw) in lines.iter().enumerate() {
            let line = trim_line(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |reason: &str| ConfigError::Fatal {
                location: Some((i + 1, lossy(line))),
                reason: reason.to_string(),
            };
            let Some(mut argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            argv[0].make_ascii_lowercase();
            let name = lossy(&argv[0]);
            let remember = |config: &mut Config| {
                config
                    .unused
                    .push((name.clone(), argv[1..].iter().map(|a| lossy(a)).collect()));
            };

            if let Some((idx, _)) = lookup(&argv[0]) {
                let def = &DEFS[idx];
                let multi = def.flags & MULTI != 0;
                if !multi && argv.len() != 2 {
                    return Err(fail("wrong number of arguments"));
                }
                let args = if multi && argv.len() == 2 && !argv[1].is_empty() {
                    // `--save "3600 1 300 100"` style: split the single value.
                    split_args(&argv[1]).unwrap_or_default()
                } else {
                    argv[1..].to_vec()
                };
                let value = self.set_value(idx, &args, state).map_err(|r| fail(&r))?;
                if def.name == "daemonize" && value == Val::Bool(true) {
                    return Err(fail(DAEMONIZE_UNSUPPORTED));
                }
                self.store(idx, value);
                if !USED.contains(&def.name) {
                    remember(self);
                }
                continue;
            }

            let argc = argv.len();
            match name.as_str() {
                "list-max-ziplist-entries"
                | "list-max-ziplist-value"
                | "lua-replicate-commands"
                    if argc == 2 =>
                {
                    remember(self)
                }
                "include" if argc == 2 => {
                    if state.depth >= MAX_INCLUDE_DEPTH {
                        return Err(fail("Too many nested include directives"));
                    }
                    self.include(&lossy(&argv[1]), state)?;
                }
                // Not validated: kvstore has no command table / ACL engine.
                "rename-command" if argc == 3 => remember(self),
                "user" | "loadmodule" if argc >= 2 => remember(self),
                _ if name.contains('.') => {
                    if argc < 2 {
                        return Err(fail("Module config specified without value"));
                    }
                    remember(self);
                }
                "sentinel" => {
                    if argc != 1 {
                        return Err(fail("sentinel directive while not in sentinel mode"));
                    }
                    remember(self);
                }
                _ => return Err(fail("Bad directive or wrong number of arguments")),
            }
        }

        if !self.logfile.is_empty() {
            // Redis checks it can open (and so creates) the log file.
            let path = self.dir.join(&self.logfile);
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
            {
                return Err(ConfigError::Fatal {
                    location: None,
                    reason: format!("Can't open the log file: {}", strerror(&e)),
                });
            }
        }
        if *self.other("cluster-enabled") == Val::Bool(true)
            && !matches!(self.other("replicaof"), Val::ReplicaOf(None))
        {
            return Err(ConfigError::Fatal {
                location: None,
                reason: "replicaof directive not allowed in cluster mode".to_string(),
            });
        }
        self.clamp_hz();
        state.reading_config_file = false;
        Ok(())
    }

    /// `include path`: the file (or, with wildcards, every matching file in
    /// sorted order, concatenated) is parsed as a separate text with its own
    /// line numbers.  Relative paths are relative to `dir`, because Redis has
    /// already `chdir()`ed there.  A wildcard pattern matching nothing is
    /// silently ignored.
    fn include(&mut self, path: &str, state: &mut LoadState) -> Result<(), ConfigError> {
        let files: Vec<String> = if path.contains(['*', '?', '[']) {
            self.glob_paths(path)
        } else {
            vec![path.to_string()]
        };
        let mut text = Vec::new();
        for file in files {
            let mut handle = std::fs::File::open(self.dir.join(&file)).map_err(|e| {
                ConfigError::CantOpenConfig {
                    path: file.clone(),
                    reason: strerror(&e),
                }
            })?;
            let _ = handle.read_to_end(&mut text);
        }
        state.depth += 1;
        let result = self.load_text(&text, state);
        state.depth -= 1;
        result
    }

    /// A small `glob(3)`: wildcards may appear in any path component;
    /// dot-files only match a component pattern starting with `.`; results are
    /// sorted bytewise.
    fn glob_paths(&self, pattern: &str) -> Vec<String> {
        let mut prefixes = vec![if pattern.starts_with('/') {
            "/".to_string()
        } else {
            String::new()
        }];
        let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let join = |prefix: &str, name: &str| {
            if prefix.is_empty() || prefix.ends_with('/') {
                format!("{prefix}{name}")
            } else {
                format!("{prefix}/{name}")
            }
        };
        for component in components {
            let mut next = Vec::new();
            for prefix in &prefixes {
                if !component.contains(['*', '?', '[']) {
                    next.push(join(prefix, component));
                    continue;
                }
                let dir = self.dir.join(if prefix.is_empty() { "." } else { prefix });
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || component.starts_with('.'))
                    .filter(|n| glob_match(component.as_bytes(), n.as_bytes(), false))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|n| join(prefix, n)));
            }
            prefixes = next;
        }
        let mut found: Vec<String> = prefixes
            .into_iter()
            .filter(|p| self.dir.join(p).exists())
            .collect();
        found.sort();
        found
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `sdstrim(line, " \t\r\n")`, then the C-string view (up to the first NUL).
fn trim_line(raw: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = raw.iter().position(|b| !is_trim(b)).unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |p| p + 1);
    let line = &raw[start..end];
    let nul = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    &line[..nul]
}

/// `configEnumGetValue()`.
fn enum_value(items: EnumItems, args: &[Vec<u8>], bitflags: bool) -> Option<i32> {
    if args.is_empty() || (!bitflags && args.len() != 1) {
        return None;
    }
    let mut value = 0;
    for arg in args {
        let mut matched = false;
        for &(name, v) in items {
            if name.as_bytes().eq_ignore_ascii_case(arg) {
                value |= v;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(value)
}

/// `numericParseString()`.
fn parse_numeric(s: &[u8], flags: u8) -> Result<i64, String> {
    if flags & MEM != 0 {
        if let Some(v) = memtoull(s) {
            return Ok(v as i64); // stored in a long long, like Redis
        }
    }
    if flags & PCT != 0 && s.len() > 1 && s.ends_with(b"%") {
        if let Some(v) = crate::number::parse_i64(&s[..s.len() - 1]).filter(|v| *v >= 0) {
            return Ok(-v); // percentages are stored negated
        }
    }
    if flags & OCT != 0 {
        let (v, end, overflow) = c_strtoll(s, 8);
        if !overflow && end == s.len() {
            return Ok(v);
        }
    }
    if flags == 0 {
        if let Some(v) = crate::number::parse_i64(s) {
            return Ok(v);
        }
    }
    Err(if flags & MEM != 0 && flags & PCT != 0 {
        "argument must be a memory or percent value"
    } else if flags & MEM != 0 {
        "argument must be a memory value"
    } else if flags & OCT != 0 {
        "argument couldn't be parsed as an octal number"
    } else {
        "argument couldn't be parsed into an integer"
    }
    .to_string())
}

/// `numericBoundaryCheck()`.
fn check_bounds(v: i64, ty: Ty, lo: i64, hi: i64, flags: u8) -> Result<(), String> {
    if ty.unsigned_bounds() {
        let (uv, ulo, uhi) = (v as u64, lo as u64, hi as u64);
        if uv > uhi || uv < ulo {
            return Err(if flags & OCT != 0 {
                format!("argument must be between {ulo:o} and {uhi:o} inclusive")
            } else {
                format!("argument must be between {ulo} and {uhi} inclusive")
            });
        }
    } else if flags & PCT != 0 && v < 0 {
        if v < lo {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                lo.unsigned_abs()
            ));
        }
    } else if v > hi || v < lo {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const BANNER: &str = "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n";

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run_with_stdin(list: &[&str], stdin: &str) -> Result<Config, ConfigError> {
        let input = stdin.as_bytes().to_vec();
        match parse_args_with_stdin(&strings(list), move || Ok(input))? {
            Invocation::Run(config) => Ok(config),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn run(list: &[&str]) -> Result<Config, ConfigError> {
        run_with_stdin(list, "")
    }

    fn fatal_at(line: usize, text: &str, reason: &str) -> String {
        format!("{BANNER}Reading the configuration file, at line {line}\n>>> '{text}'\n{reason}\n")
    }

    fn err_text(result: Result<Config, ConfigError>) -> String {
        result
            .expect_err("configuration should be rejected")
            .to_string()
    }

    /// The defaults, then `text` loaded as a configuration file.
    fn conf(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.load_text(text.as_bytes(), &mut LoadState::default())?;
        Ok(config)
    }

    fn value(config: &Config, name: &str) -> String {
        let got = config.get(name.as_bytes());
        assert_eq!(got.len(), 1, "exactly one value for {name}");
        got[0].1.clone()
    }

    fn set(config: &mut Config, kv: &[&str]) -> Result<Vec<String>, String> {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = kv
            .chunks(2)
            .map(|c| (c[0].as_bytes().to_vec(), c[1].as_bytes().to_vec()))
            .collect();
        config.set(&pairs)
    }

    /// A scratch directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "kvstore-config-test-{}-{tag}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(std::fs::canonicalize(&path).unwrap())
        }

        fn file(&self, name: &str, contents: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path.to_string_lossy().into_owned()
        }

        fn path(&self) -> String {
            self.0.to_string_lossy().into_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    // --- command line ---------------------------------------------------

    #[test]
    fn no_arguments_gives_defaults() {
        let config = run(&[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.port, 6379);
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);
        assert_eq!(config.dir, PathBuf::from("."));
        assert!(!config.appendonly);
        assert_eq!(config.appendfsync, AppendFsync::EverySec);
        assert_eq!(config.save, "3600 1 300 100 60 10000");
        assert_eq!(config.requirepass, None);
        assert!(config.protected_mode);
        assert_eq!(config.maxclients, 10000);
        assert_eq!(config.databases, 16);
        assert_eq!(config.loglevel, LogLevel::Notice);
        assert_eq!(config.timeout, 0);
        assert_eq!(config.tcp_keepalive, 300);
        assert_eq!(config.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(config.client_query_buffer_limit, 1024 * 1024 * 1024);
        assert!(!config.daemonize);
        assert_eq!(config.logfile, "");
        assert_eq!(config.pidfile, None);
        assert_eq!(config.dbfilename, "dump.rdb");
        assert_eq!(config.appendfilename, "appendonly.aof");
        assert!(config.unused.is_empty());
        assert_eq!(config.config_file, None);
    }

    #[test]
    fn help_and_version_only_as_first_argument() {
        for a in ["-v", "--version"] {
            assert_eq!(parse_args(&strings(&[a])).unwrap(), Invocation::Version);
        }
        for a in ["-h", "--help"] {
            assert_eq!(
                parse_args(&strings(&[a, "--port", "1"])).unwrap(),
                Invocation::Help
            );
        }
        // Later on they are ordinary (and here invalid) option names.
        assert_eq!(
            err_text(run(&["--port", "1", "--version"])),
            fatal_at(3, "version", "Bad directive or wrong number of arguments")
        );
        assert!(version_text().contains("v=7.0.15"));
        assert!(usage_text().starts_with("Usage: ./kvstore [/path/to/redis.conf] [options] [-]"));
    }

    #[test]
    fn options_become_lines_after_an_empty_first_line() {
        // All strings below were produced by redis-server 7.0.15.
        assert_eq!(
            err_text(run(&["--foo", "bar"])),
            format!(
                "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\n\
                 Reading the configuration file, at line 2\n\
                 >>> 'foo \"bar\"'\n\
                 Bad directive or wrong number of arguments\n"
            )
        );
        assert_eq!(
            err_text(run(&["--port", "abc"])),
            fatal_at(
                2,
                "port \"abc\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err_text(run(&["--port", "70000"])),
            fatal_at(
                2,
                "port \"70000\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        assert_eq!(
            err_text(run(&["--port"])),
            fatal_at(2, "port", "wrong number of arguments")
        );
        assert_eq!(
            err_text(run(&["--Port", "x"])),
            fatal_at(
                2,
                "Port \"x\"",
                "argument couldn't be parsed into an integer"
            )
        );
        assert_eq!(
            err_text(run(&["--FOO", "1"])),
            fatal_at(2, "FOO \"1\"", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            err_text(run(&["--tls-port", "abc"])),
            fatal_at(
                2,
                "tls-port \"abc\"",
                "argument couldn't be parsed into an integer"
            )
        );
    }

    #[test]
    fn option_arguments_are_requoted_with_sdscatrepr() {
        assert_eq!(
            err_text(run(&["--port", "1", "--save", "--foo", "a b", "x\"y"])),
            fatal_at(
                4,
                "foo \"a b\" \"x\\\"y\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            err_text(run(&["--foo", "a\tb\u{1}\"\\", "c d", "\u{e9}"])),
            fatal_at(
                2,
                "foo \"a\\tb\\x01\\\"\\\\\" \"c d\" \"\\xc3\\xa9\"",
                "Bad directive or wrong number of arguments"
            )
        );
        assert_eq!(
            err_text(run(&["--foo", ""])),
            fatal_at(2, "foo \"\"", "Bad directive or wrong number of arguments")
        );
        // Name and value in one argument are copied verbatim.
        assert_eq!(
            err_text(run(&["--foo 6380", "x"])),
            fatal_at(
                2,
                "foo 6380 \"x\"",
                "Bad directive or wrong number of arguments"
            )
        );
        // Several values for a single-value parameter.
        assert_eq!(
            err_text(run(&["--port", "1", "2"])),
            fatal_at(2, "port \"1\" \"2\"", "wrong number of arguments")
        );
    }

    #[test]
    fn option_name_without_value_takes_the_next_argument() {
        // `--port --save`: "--save" becomes the value of port.
        assert_eq!(
            err_text(run(&["--port", "--save"])),
            fatal_at(
                2,
                "port \"--save\"",
                "argument couldn't be parsed into an integer"
            )
        );
        // `--save` followed by another option means `save ""`.
        assert_eq!(
            err_text(run(&["--save", "--foo"])),
            fatal_at(3, "foo", "Bad directive or wrong number of arguments")
        );
        let config = run(&["--save", "--port", "7000"]).unwrap();
        assert_eq!(config.save, "");
        assert_eq!(config.port, 7000);
        // ...and so does a trailing `--save`.
        let config = run(&["--port", "7000", "--save"]).unwrap();
        assert_eq!(config.save, "");
        // `--sentinel` is a value-less pseudo option.
        assert_eq!(
            err_text(run(&["--sentinel", "--foo", "1"])),
            fatal_at(3, "foo \"1\"", "Bad directive or wrong number of arguments")
        );
    }

    #[test]
    fn first_argument_starting_with_dash_is_not_a_file() {
        assert_eq!(
            err_text(run(&["-x"])),
            fatal_at(2, "\"-x\"", "Bad directive or wrong number of arguments")
        );
    }

    #[test]
    fn multi_value_options_and_save_merging() {
        let config = run(&["--bind", "127.0.0.1", "::1", "-::2", "--port", "0"]).unwrap();
        assert_eq!(config.bind, ["127.0.0.1", "::1", "-::2"]);
        assert_eq!(config.port, 0);
        assert_eq!(value(&config, "bind"), "127.0.0.1 ::1 -::2");

        let config = run(&["--bind", "127.0.0.1 ::1"]).unwrap();
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);

        let config = run(&["--save", "900", "1", "--save", "300", "10"]).unwrap();
        assert_eq!(config.save, "900 1 300 10");
        let config = run(&["--save", "10 1 20 2"]).unwrap();
        assert_eq!(config.save, "10 1 20 2");
        let config = run(&["--save", ""]).unwrap();
        assert_eq!(config.save, "");
        let config = run(&["--save", "60", ""]).unwrap();
        assert_eq!(config.save, "60 0");
        let config = run(&["--save", "+60", "4294967297"]).unwrap();
        assert_eq!(config.save, "60 1");
        assert_eq!(
            err_text(run(&["--save", "\"60 1\""])),
            fatal_at(2, "save \"\\\"60 1\\\"\"", "Invalid save parameters")
        );
    }

    #[test]
    fn config_file_then_options_line_numbers() {
        let dir = TempDir::new("lines");
        let with_newline = dir.file("a.conf", "port 1\n");
        assert_eq!(
            err_text(run(&[&with_newline, "--port", "99999"])),
            fatal_at(
                3,
                "port \"99999\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        let without_newline = dir.file("b.conf", "port 1");
        assert_eq!(
            err_text(run(&[&without_newline, "--port", "99999"])),
            fatal_at(
                2,
                "port \"99999\"",
                "argument must be between 0 and 65535 inclusive"
            )
        );
        let bad = dir.file("c.conf", "port 1\nfoo bar\n");
        assert_eq!(
            err_text(run(&[&bad, "--port", "99999"])),
            fatal_at(2, "foo bar", "Bad directive or wrong number of arguments")
        );
        // Options override the file; the file path is kept.
        let good = dir.file("d.conf", "port 1\nmaxclients 5\n");
        let config = run(&[&good, "--port", "2"]).unwrap();
        assert_eq!(config.port, 2);
        assert_eq!(config.maxclients, 5);
        assert_eq!(config.config_file, Some(PathBuf::from(&good)));
        // A stray non-option argument after the file is a bad directive.
        assert_eq!(
            err_text(run(&[&good, "x", "y"])),
            fatal_at(
                4,
                "\"x\" \"y\"",
                "Bad directive or wrong number of arguments"
            )
        );
    }

    #[test]
    fn stdin_is_read_for_a_first_or_last_dash() {
        assert_eq!(
            err_text(run_with_stdin(&["-", "--port", "1"], "foo bar\n")),
            fatal_at(1, "foo bar", "Bad directive or wrong number of arguments")
        );
        assert_eq!(
            err_text(run_with_stdin(&["--port", "1", "--xx", "-"], "port 1\n")),
            fatal_at(4, "xx", "Bad directive or wrong number of arguments")
        );
        let dir = TempDir::new("stdin");
        let file = dir.file("a.conf", "port 1\n");
        assert_eq!(
            err_text(run_with_stdin(&[&file, "--xx", "-"], "port 2\n")),
            fatal_at(4, "xx", "Bad directive or wrong number of arguments")
        );
        let config = run_with_stdin(&[&file, "-"], "port 2\n").unwrap();
        assert_eq!(config.port, 2);
        // A dash in the middle is just an argument.
        assert_eq!(
            err_text(run(&["--port", "1", "-", "--maxclients", "2"])),
            fatal_at(2, "port \"1\" \"-\"", "wrong number of arguments")
        );
    }

    #[test]
    fn missing_config_file_is_reported_with_its_absolute_path() {
        let err = run(&["/nonexistent-kvstore/redis.conf"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Fatal error, can't open config file '/nonexistent-kvstore/redis.conf': No such file or directory"
        );
        let cwd = std::env::current_dir().unwrap();
        let parent = cwd.parent().unwrap_or(&cwd).to_string_lossy().into_owned();
        let expected = if parent == "/" {
            "/nonexistent-kvstore.conf".to_string()
        } else {
            format!("{parent}/nonexistent-kvstore.conf")
        };
        assert_eq!(absolute_path(" ../nonexistent-kvstore.conf\n"), expected);
        assert_eq!(
            absolute_path("x.conf"),
            format!("{}/x.conf", cwd.to_string_lossy().trim_end_matches('/'))
        );
    }

    // --- config file syntax ------------------------------------------------

    #[test]
    fn split_args_follows_sdssplitargs() {
        let split = |s: &str| {
            split_args(s.as_bytes()).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(split("set key value").unwrap(), ["set", "key", "value"]);
        assert_eq!(split("  a \t b  ").unwrap(), ["a", "b"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split("\u{b}\u{c}").unwrap(), Vec::<String>::new());
        assert_eq!(split("\"a b\" 'c d'").unwrap(), ["a b", "c d"]);
        assert_eq!(
            split("\"\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\\q\"").unwrap(),
            ["AJ\n\r\t\u{8}\u{7}\\\"q"]
        );
        assert_eq!(split("\"\\x4\"").unwrap(), ["x4"]);
        assert_eq!(split("'it\\'s' 'a\\nb'").unwrap(), ["it's", "a\\nb"]);
        assert_eq!(split("foo\"bar baz\"").unwrap(), ["foobar baz"]);
        assert_eq!(split("a\\nb").unwrap(), ["a\\nb"]);
        assert_eq!(split("\"\" ''").unwrap(), ["", ""]);
        assert_eq!(split("\"a\"\u{b}b").unwrap(), ["a", "b"]);
        assert_eq!(split_args(b"\"\\xff\\x00\"").unwrap(), [vec![0xff, 0x00]]);
        assert_eq!(split_args(b"a\0b c").unwrap(), [b"a".to_vec()]);
        assert!(split("\"unterminated").is_none());
        assert!(split("'unterminated").is_none());
        assert!(split("\"a\"b").is_none());
        assert!(split("'a'b").is_none());
        assert!(split("\"a\\\"").is_none());
    }

    #[test]
    fn sdscatrepr_round_trips() {
        let mut out = Vec::new();
        cat_repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x01\xff ~");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x01\\xff ~\"".to_vec());
        assert_eq!(
            split_args(&out).unwrap(),
            [b"a\"b\\c\n\r\t\x07\x08\x01\xff ~".to_vec()]
        );
    }

    #[test]
    fn comments_blank_lines_and_case() {
        let config = conf(
            "# a comment\n\n   \t\r\n  PORT 7000  \r\n\tMaxClients   '12'\n  # indented comment\nappendfsync ALWAYS\nloglevel WARNING\n",
        )
        .unwrap();
        assert_eq!(config.port, 7000);
        assert_eq!(config.maxclients, 12);
        assert_eq!(config.appendfsync, AppendFsync::Always);
        assert_eq!(config.loglevel, LogLevel::Warning);
        // The reported line is trimmed but otherwise verbatim.
        assert_eq!(
            err_text(conf("  # comment\n\n\t  foo   \"a\\x41\\n\" \r\n")),
            fatal_at(
                3,
                "foo   \"a\\x41\\n\"",
                "Bad directive or wrong number of arguments"
            )
        );
    }

    #[test]
    fn quoting_in_values() {
        let config = conf(
            "requirepass 'pa ss\\'w\"d'\ndbfilename \"x\\x41y.rdb\"\nlogfile \"\"\nbind \"127.0.0.1 ::1\"\n",
        )
        .unwrap();
        assert_eq!(config.requirepass.as_deref(), Some("pa ss'w\"d"));
        assert_eq!(config.dbfilename, "xAy.rdb");
        assert_eq!(config.logfile, "");
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);
        let config = conf("requirepass \"\"\npidfile \"\"\n").unwrap();
        assert_eq!(config.requirepass, None);
        assert_eq!(config.pidfile, None);
        let config = conf("bind \"\"\n").unwrap();
        assert!(config.bind.is_empty());
    }

    /// Every (line, reason) pair was checked against redis-server 7.0.15.
    #[rustfmt::skip]
    const DIRECTIVE_ERRORS: &[(&str, &str)] = &[
        ("maxmemory 10xb", "argument must be a memory value"),
        ("maxmemory -1", "argument must be a memory value"),
        ("maxmemory-clients 200%", "percentage argument must be less or equal to 100"),
        ("maxmemory-clients abc", "argument must be a memory or percent value"),
        ("unixsocketperm 800", "argument couldn't be parsed as an octal number"),
        ("unixsocketperm 7777", "argument must be between 0 and 777 inclusive"),
        ("appendonly maybe", "argument must be 'yes' or 'no'"),
        ("appendfsync sometimes", "argument(s) must be one of the following: everysec, always, no"),
        ("loglevel nothing", "argument(s) must be one of the following: debug, verbose, notice, warning"),
        ("loglevel", "wrong number of arguments"),
        ("save 1 2 3", "Invalid save parameters"),
        ("save \"1 2 3\"", "Invalid save parameters"),
        ("save 0 1", "Invalid save parameters"),
        ("save 60 -1", "Invalid save parameters"),
        ("save -- 1", "Invalid save parameters"),
        ("client-output-buffer-limit normal 1 1", "Wrong number of arguments in buffer limit configuration."),
        ("client-output-buffer-limit master 1 1 1", "Invalid client class specified in buffer limit configuration."),
        ("client-output-buffer-limit normal 1x 1 1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("client-output-buffer-limit normal 1 1 -1", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ("oom-score-adj-values 1 2", "wrong number of arguments"),
        ("oom-score-adj-values 1 2 2001", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        ("notify-keyspace-events KEq", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        ("notify-keyspace-events K E", "wrong number of arguments"),
        ("bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "Too many bind addresses specified."),
        ("replicaof a", "wrong number of arguments"),
        ("replicaof a 70000", "Invalid master port"),
        ("replicaof a 1x", "Invalid master port"),
        ("latency-tracking-info-percentiles 101", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        ("latency-tracking-info-percentiles x", "Invalid latency-tracking-info-percentiles parameters"),
        ("latency-tracking-info-percentiles 0x1p-2000", "Invalid latency-tracking-info-percentiles parameters"),
        ("shutdown-on-sigint save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously"),
        ("shutdown-on-sigint", "argument(s) must be one of the following: default, save, nosave, now, force"),
        ("shutdown-on-sigint bad", "argument(s) must be one of the following: default, save, nosave, now, force"),
        ("activedefrag yes", "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
        ("dbfilename a/b", "dbfilename can't be a path, just a filename"),
        ("appendfilename \"\"", "appendfilename can't be empty"),
        ("appendfilename a/b", "appendfilename can't be a path, just a filename"),
        ("appenddirname \"\"", "appenddirname can't be empty"),
        ("appenddirname a\\\\b", "appenddirname can't be a path, just a dirname"),
        ("cluster-announce-hostname a_b", "Hostnames may only contain alphanumeric characters, hyphens or dots"),
        ("proc-title-template \"{title}\"", "template format is invalid or contains unknown variables"),
        ("proc-title-template \"{foo}\"", "template format is invalid or contains unknown variables"),
        ("maxmemory-policy foo", "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        ("supervised foo", "argument(s) must be one of the following: upstart, systemd, auto, no"),
        ("syslog-facility foo", "argument(s) must be one of the following: user, local0, local1, local2, local3, local4, local5, local6, local7"),
        ("databases 0", "argument must be between 1 and 2147483647 inclusive"),
        ("maxclients 0", "argument must be between 1 and 4294967295 inclusive"),
        ("maxclients 4294967296", "argument must be between 1 and 4294967295 inclusive"),
        ("timeout -1", "argument must be between 0 and 2147483647 inclusive"),
        ("tcp-keepalive 1.5", "argument couldn't be parsed into an integer"),
        ("proto-max-bulk-len 1k", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("client-query-buffer-limit 100", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("hz abc", "argument couldn't be parsed into an integer"),
        ("slowlog-log-slower-than -2", "argument must be between -1 and 9223372036854775807 inclusive"),
        ("list-max-ziplist-entries 1 2", "Bad directive or wrong number of arguments"),
        ("include a b", "Bad directive or wrong number of arguments"),
        ("rename-command a", "Bad directive or wrong number of arguments"),
        ("user", "Bad directive or wrong number of arguments"),
        ("loadmodule", "Bad directive or wrong number of arguments"),
        ("requirepass a b", "wrong number of arguments"),
        ("dir \"\"", "No such file or directory"),
        ("dir /nonexistent-kvstore", "No such file or directory"),
        ("dir /etc/passwd", "Not a directory"),
        ("io-threads 0", "argument must be between 1 and 128 inclusive"),
        ("lua-time-limit x", "argument couldn't be parsed into an integer"),
        ("SLAVEOF a", "wrong number of arguments"),
        ("port \"1", "Unbalanced quotes in configuration line"),
        ("port \"1\"x", "Unbalanced quotes in configuration line"),
        ("port '1", "Unbalanced quotes in configuration line"),
        ("foo bar", "Bad directive or wrong number of arguments"),
        ("foo.bar", "Module config specified without value"),
        ("sentinel monitor x", "sentinel directive while not in sentinel mode"),
    ];

    #[test]
    fn directive_errors_match_redis() {
        let cases = DIRECTIVE_ERRORS;
        for (line, reason) in cases {
            let text = format!("bind 127.0.0.1\nport 0\n{line}\n");
            assert_eq!(
                err_text(conf(&text)),
                fatal_at(3, line, reason),
                "for directive {line:?}"
            );
        }
    }

    #[test]
    fn post_load_errors_have_no_location() {
        assert_eq!(
            err_text(conf("logfile /nonexistent-kvstore/x.log\n")),
            format!("{BANNER}Can't open the log file: No such file or directory\n")
        );
        assert_eq!(
            err_text(conf("cluster-enabled yes\nreplicaof 1.2.3.4 5\n")),
            format!("{BANNER}replicaof directive not allowed in cluster mode\n")
        );
        let dir = TempDir::new("logfile");
        let config = conf(&format!("dir {}\nlogfile kv.log\n", dir.path())).unwrap();
        assert_eq!(config.logfile, "kv.log");
        assert!(
            dir.0.join("kv.log").exists(),
            "Redis creates the log file while loading"
        );
    }

    #[test]
    fn daemonize_yes_is_rejected() {
        assert!(!conf("daemonize no\n").unwrap().daemonize);
        assert_eq!(
            err_text(conf("daemonize yes\n")),
            fatal_at(1, "daemonize yes", DAEMONIZE_UNSUPPORTED)
        );
        assert_eq!(
            err_text(conf("daemonize maybe\n")),
            fatal_at(1, "daemonize maybe", "argument must be 'yes' or 'no'")
        );
    }

    #[test]
    fn used_directives_fill_typed_fields() {
        let config = conf(
            "port 6380\nbind 127.0.0.1 -::1\nappendonly yes\nappendfsync no\nsave 60 1\n\
             requirepass secret\nprotected-mode no\nmaxclients 50\ndatabases 4\nloglevel debug\n\
             timeout 30\ntcp-keepalive 0\nproto-max-bulk-len 2mb\nclient-query-buffer-limit 1gb\n\
             daemonize no\npidfile /tmp/kv.pid\ndbfilename db.rdb\nappendfilename a.aof\n",
        )
        .unwrap();
        assert_eq!(config.port, 6380);
        assert_eq!(config.bind, ["127.0.0.1", "-::1"]);
        assert!(config.appendonly);
        assert_eq!(config.appendfsync, AppendFsync::No);
        assert_eq!(config.save, "60 1");
        assert_eq!(config.requirepass.as_deref(), Some("secret"));
        assert!(!config.protected_mode);
        assert_eq!(config.maxclients, 50);
        assert_eq!(config.databases, 4);
        assert_eq!(config.loglevel, LogLevel::Debug);
        assert_eq!(config.timeout, 30);
        assert_eq!(config.tcp_keepalive, 0);
        assert_eq!(config.proto_max_bulk_len, 2 * 1024 * 1024);
        assert_eq!(config.client_query_buffer_limit, 1 << 30);
        assert_eq!(config.pidfile.as_deref(), Some("/tmp/kv.pid"));
        assert_eq!(config.dbfilename, "db.rdb");
        assert_eq!(config.appendfilename, "a.aof");
        assert!(config.unused.is_empty(), "{:?}", config.unused);
    }

    #[test]
    fn unknown_to_kvstore_but_known_to_redis_goes_to_unused() {
        let config = conf(
            "maxmemory 100mb\nmaxmemory-policy allkeys-lru\nslaveof 127.0.0.1 6380\n\
             client-output-buffer-limit pubsub 1mb 1mb 10\nrename-command FLUSHALL \"\"\n\
             user bob on >pw ~* +@all\nloadmodule /x.so arg\nmymodule.opt 1 2\nsentinel\n\
             list-max-ziplist-entries 512\nlua-replicate-commands yes\nport 1\n",
        )
        .unwrap();
        let names: Vec<&str> = config.unused.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "maxmemory",
                "maxmemory-policy",
                "slaveof",
                "client-output-buffer-limit",
                "rename-command",
                "user",
                "loadmodule",
                "mymodule.opt",
                "sentinel",
                "list-max-ziplist-entries",
                "lua-replicate-commands",
            ]
        );
        assert_eq!(config.unused[4].1, ["FLUSHALL", ""]);
        assert_eq!(config.unused[3].1, ["pubsub", "1mb", "1mb", "10"]);
        assert_eq!(value(&config, "maxmemory"), "104857600");
        assert_eq!(value(&config, "maxmemory-policy"), "allkeys-lru");
        assert_eq!(value(&config, "replicaof"), "127.0.0.1 6380");
        assert_eq!(
            value(&config, "client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 1048576 10"
        );
    }

    #[test]
    fn memory_units_like_memtoull() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("", Some(0)),
            ("1", Some(1)),
            ("1b", Some(1)),
            ("1B", Some(1)),
            ("1k", Some(1000)),
            ("1K", Some(1000)),
            ("1kb", Some(1024)),
            ("1Kb", Some(1024)),
            ("1m", Some(1_000_000)),
            ("1mb", Some(1 << 20)),
            ("1MB", Some(1 << 20)),
            ("1g", Some(1_000_000_000)),
            ("1gb", Some(1 << 30)),
            ("1Gb", Some(1 << 30)),
            ("512mb", Some(512 << 20)),
            ("20000000000g", Some(1_553_255_926_290_448_384)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("-1", None),
            ("1.5mb", None),
            ("1tb", None),
            (" 1", None),
            ("+1", None),
            ("1 mb", None),
            ("mb", Some(0)),
        ];
        for (input, expected) in cases {
            assert_eq!(memtoull(input.as_bytes()), *expected, "memtoull({input:?})");
        }
        let config =
            conf("proto-max-bulk-len 1gb\nclient-query-buffer-limit 2GB\nmaxmemory 1k\n").unwrap();
        assert_eq!(config.proto_max_bulk_len, 1 << 30);
        assert_eq!(config.client_query_buffer_limit, 2 << 30);
        assert_eq!(value(&config, "maxmemory"), "1000");
    }

    #[test]
    fn c_strtoll_parses_like_c() {
        assert_eq!(c_strtoll(b"  +42x", 10), (42, 5, false));
        assert_eq!(c_strtoll(b"x", 10), (0, 0, false));
        assert_eq!(c_strtoll(b"0755", 8), (493, 4, false));
        assert_eq!(c_strtoll(b"99999999999999999999", 10), (i64::MAX, 20, true));
        assert_eq!(strtoll_whole(b""), Some(0));
    }

    #[test]
    fn save_lines_append_within_a_file() {
        assert_eq!(conf("save 60 1\nsave 120 2\n").unwrap().save, "60 1 120 2");
        assert_eq!(conf("save \"\"\nsave 60 1\n").unwrap().save, "60 1");
        assert_eq!(conf("save 60 1\nsave \"\"\n").unwrap().save, "");
        assert_eq!(
            conf("SAVE \"120 2 180 3\"\nsave 200 +4\n").unwrap().save,
            "120 2 180 3 200 4"
        );
        assert_eq!(conf("port 1\n").unwrap().save, "3600 1 300 100 60 10000");
    }

    #[test]
    fn include_files() {
        let dir = TempDir::new("include");
        dir.file("inc.conf", "save 5 5\nmaxclients 77\n");
        let main = dir.file(
            "main.conf",
            &format!("save 60 1\ninclude {}/inc.conf\nsave 120 2\n", dir.path()),
        );
        let config = run(&[&main]).unwrap();
        assert_eq!(config.maxclients, 77);
        // As in Redis, the include ends "reading the config file" mode, so
        // the next save line replaces instead of appending.
        assert_eq!(config.save, "120 2");

        // Errors inside an included file use its own line numbers.
        dir.file("bad.conf", "port 1\nport x\n");
        assert_eq!(
            err_text(conf(&format!("include {}/bad.conf\n", dir.path()))),
            fatal_at(2, "port x", "argument couldn't be parsed into an integer")
        );
        assert_eq!(
            conf(&format!("include {}/missing.conf\n", dir.path()))
                .unwrap_err()
                .to_string(),
            format!(
                "Fatal error, can't open config file '{}/missing.conf': No such file or directory",
                dir.path()
            )
        );

        // Wildcards: sorted, dot-files skipped, no match is fine; relative
        // paths are relative to `dir`.
        std::fs::create_dir(dir.0.join("conf.d")).unwrap();
        dir.file("conf.d/b.conf", "maxmemory-policy allkeys-lru\n");
        dir.file(
            "conf.d/a.conf",
            "maxmemory-policy volatile-lru\nmaxmemory 2mb\n",
        );
        dir.file("conf.d/.hidden.conf", "port x\n");
        let config = conf(&format!(
            "dir {}\ninclude conf.d/*.conf\ninclude nothing-*.conf\n",
            dir.path()
        ))
        .unwrap();
        assert_eq!(value(&config, "maxmemory-policy"), "allkeys-lru");
        assert_eq!(value(&config, "maxmemory"), "2097152");

        // Self-inclusion stops instead of recursing forever.
        let looping = dir.file("loop.conf", "");
        std::fs::write(&looping, format!("include {looping}\n")).unwrap();
        assert!(err_text(run(&[&looping])).ends_with("Too many nested include directives\n"));
    }

    #[test]
    fn dir_is_validated_and_resolved() {
        let dir = TempDir::new("dir");
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        let config = conf(&format!("dir {}\ndir sub\n", dir.path())).unwrap();
        assert_eq!(config.dir, dir.0.join("sub"));
        assert_eq!(value(&config, "dir"), format!("{}/sub", dir.path()));
        let file = dir.file("plain", "");
        assert_eq!(
            err_text(conf(&format!("dir {file}\n"))),
            fatal_at(1, &format!("dir {file}"), "Not a directory")
        );
        // The default reports the current directory, like getcwd().
        let cwd = std::fs::canonicalize(".").unwrap();
        assert_eq!(value(&Config::default(), "dir"), cwd.to_string_lossy());
    }

    #[test]
    fn hz_is_clamped_after_loading() {
        assert_eq!(value(&conf("hz 1000\n").unwrap(), "hz"), "500");
        assert_eq!(value(&conf("hz 0\n").unwrap(), "hz"), "1");
    }

    // --- CONFIG GET ------------------------------------------------------

    /// `CONFIG GET *` of a pristine redis-server 7.0.15 (Debian build), minus
    /// the five parameters that depend on how it was started.
    const REDIS_DEFAULTS: &str = "
acl-pubsub-default\tresetchannels
aclfile\t
acllog-max-len\t128
active-defrag-cycle-max\t25
active-defrag-cycle-min\t1
active-defrag-ignore-bytes\t104857600
active-defrag-max-scan-fields\t1000
active-defrag-threshold-lower\t10
active-defrag-threshold-upper\t100
active-expire-effort\t1
activedefrag\tno
activerehashing\tyes
always-show-logo\tno
aof-disable-auto-gc\tno
aof-load-truncated\tyes
aof-rewrite-incremental-fsync\tyes
aof-timestamp-enabled\tno
aof-use-rdb-preamble\tyes
aof_rewrite_cpulist\t
appenddirname\tappendonlydir
appendfilename\tappendonly.aof
appendfsync\teverysec
appendonly\tno
auto-aof-rewrite-min-size\t67108864
auto-aof-rewrite-percentage\t100
bgsave_cpulist\t
bind-source-addr\t
bio_cpulist\t
busy-reply-threshold\t5000
client-output-buffer-limit\tnormal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60
client-query-buffer-limit\t1073741824
cluster-allow-pubsubshard-when-down\tyes
cluster-allow-reads-when-down\tno
cluster-allow-replica-migration\tyes
cluster-announce-bus-port\t0
cluster-announce-hostname\t
cluster-announce-ip\t
cluster-announce-port\t0
cluster-announce-tls-port\t0
cluster-config-file\tnodes.conf
cluster-enabled\tno
cluster-link-sendbuf-limit\t0
cluster-migration-barrier\t1
cluster-node-timeout\t15000
cluster-port\t0
cluster-preferred-endpoint-type\tip
cluster-replica-no-failover\tno
cluster-replica-validity-factor\t10
cluster-require-full-coverage\tyes
cluster-slave-no-failover\tno
cluster-slave-validity-factor\t10
crash-log-enabled\tyes
crash-memcheck-enabled\tyes
daemonize\tno
databases\t16
dbfilename\tdump.rdb
disable-thp\tyes
dynamic-hz\tyes
enable-debug-command\tno
enable-module-command\tno
enable-protected-configs\tno
hash-max-listpack-entries\t512
hash-max-listpack-value\t64
hash-max-ziplist-entries\t512
hash-max-ziplist-value\t64
hll-sparse-max-bytes\t3000
hz\t10
ignore-warnings\t
io-threads\t1
io-threads-do-reads\tno
jemalloc-bg-thread\tyes
latency-monitor-threshold\t0
latency-tracking\tyes
latency-tracking-info-percentiles\t50 99 99.9
lazyfree-lazy-eviction\tno
lazyfree-lazy-expire\tno
lazyfree-lazy-server-del\tno
lazyfree-lazy-user-del\tno
lazyfree-lazy-user-flush\tno
lfu-decay-time\t1
lfu-log-factor\t10
list-compress-depth\t0
list-max-listpack-size\t-2
list-max-ziplist-size\t-2
loglevel\tnotice
lua-time-limit\t5000
masterauth\t
masteruser\t
maxclients\t10000
maxmemory\t0
maxmemory-clients\t0
maxmemory-eviction-tenacity\t10
maxmemory-policy\tnoeviction
maxmemory-samples\t5
min-replicas-max-lag\t10
min-replicas-to-write\t0
min-slaves-max-lag\t10
min-slaves-to-write\t0
no-appendfsync-on-rewrite\tno
notify-keyspace-events\t
oom-score-adj\tno
oom-score-adj-values\t0 200 800
pidfile\t
proc-title-template\t{title} {listen-addr} {server-mode}
propagation-error-behavior\tignore
protected-mode\tyes
proto-max-bulk-len\t536870912
rdb-del-sync-files\tno
rdb-save-incremental-fsync\tyes
rdbchecksum\tyes
rdbcompression\tyes
repl-backlog-size\t1048576
repl-backlog-ttl\t3600
repl-disable-tcp-nodelay\tno
repl-diskless-load\tdisabled
repl-diskless-sync\tyes
repl-diskless-sync-delay\t5
repl-diskless-sync-max-replicas\t0
repl-ping-replica-period\t10
repl-ping-slave-period\t10
repl-timeout\t60
replica-announce-ip\t
replica-announce-port\t0
replica-announced\tyes
replica-ignore-disk-write-errors\tno
replica-ignore-maxmemory\tyes
replica-lazy-flush\tno
replica-priority\t100
replica-read-only\tyes
replica-serve-stale-data\tyes
replicaof\t
requirepass\t
sanitize-dump-payload\tno
server_cpulist\t
set-max-intset-entries\t512
set-proc-title\tyes
shutdown-on-sigint\tdefault
shutdown-on-sigterm\tdefault
shutdown-timeout\t10
slave-announce-ip\t
slave-announce-port\t0
slave-ignore-maxmemory\tyes
slave-lazy-flush\tno
slave-priority\t100
slave-read-only\tyes
slave-serve-stale-data\tyes
slaveof\t
slowlog-log-slower-than\t10000
slowlog-max-len\t128
socket-mark-id\t0
stop-writes-on-bgsave-error\tyes
stream-node-max-bytes\t4096
stream-node-max-entries\t100
supervised\tno
syslog-enabled\tno
syslog-facility\tlocal0
syslog-ident\tredis
tcp-backlog\t511
tcp-keepalive\t300
timeout\t0
tls-auth-clients\tyes
tls-ca-cert-dir\t
tls-ca-cert-file\t
tls-cert-file\t
tls-ciphers\t
tls-ciphersuites\t
tls-client-cert-file\t
tls-client-key-file\t
tls-client-key-file-pass\t
tls-cluster\tno
tls-dh-params-file\t
tls-key-file\t
tls-key-file-pass\t
tls-port\t0
tls-prefer-server-ciphers\tno
tls-protocols\t
tls-replication\tno
tls-session-cache-size\t20480
tls-session-cache-timeout\t300
tls-session-caching\tyes
tracking-table-max-keys\t1000000
unixsocket\t
unixsocketperm\t0
zset-max-listpack-entries\t128
zset-max-listpack-value\t64
zset-max-ziplist-entries\t128
zset-max-ziplist-value\t64
";

    #[test]
    fn config_get_star_matches_redis_defaults() {
        let config = Config::default();
        let mut got: Vec<String> = config
            .get(b"*")
            .into_iter()
            .filter(|(k, _)| !["port", "bind", "dir", "logfile", "save"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}\t{v}"))
            .collect();
        got.sort();
        let expected: Vec<&str> = REDIS_DEFAULTS.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(got, expected);
        assert_eq!(config.get(b"*").len(), 192);
        assert_eq!(value(&config, "port"), "6379");
        assert_eq!(value(&config, "bind"), "127.0.0.1 ::1");
        assert_eq!(value(&config, "logfile"), "");
        assert_eq!(value(&config, "save"), "3600 1 300 100 60 10000");
    }

    #[test]
    fn config_get_patterns() {
        let config = Config::default();
        let names = |p: &str| -> Vec<String> {
            let mut v: Vec<String> = config
                .get(p.as_bytes())
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            v.sort();
            v
        };
        // Exact lookups echo the client's spelling.
        assert_eq!(
            config.get(b"MAXMEMORY"),
            [("MAXMEMORY".to_string(), "0".to_string())]
        );
        assert_eq!(
            names("Maxmem*"),
            [
                "maxmemory",
                "maxmemory-clients",
                "maxmemory-eviction-tenacity",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        assert_eq!(names("*max*entries*"), names("*MAX*ENTRIES*"));
        assert_eq!(
            names("*max*entries*"),
            [
                "hash-max-listpack-entries",
                "hash-max-ziplist-entries",
                "set-max-intset-entries",
                "stream-node-max-entries",
                "zset-max-listpack-entries",
                "zset-max-ziplist-entries"
            ]
        );
        assert_eq!(value(&config, "slaveof"), "");
        assert_eq!(value(&config, "list-max-ziplist-size"), "-2");
        // Hidden parameters only by exact name.
        assert_eq!(value(&config, "use-exit-on-panic"), "no");
        assert!(config.get(b"use-exit*").is_empty());
        assert!(config.get(b"nonexistent").is_empty());
        assert!(config.get(b"").is_empty());
        assert!(config.get(b"[").is_empty());
        // Several patterns: each parameter once, first spelling wins.
        let got = config.get_many(["port", "PORT", "p*"]);
        let got_names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            got_names
                .iter()
                .filter(|n| n.eq_ignore_ascii_case("port"))
                .count(),
            1
        );
        assert_eq!(got_names[0], "port");
        assert!(got_names.contains(&"proto-max-bulk-len"));
        assert!(got_names.contains(&"protected-mode"));
        // What redis-benchmark / redis-cli / redis-py read.
        assert_eq!(value(&config, "appendonly"), "no");
        assert_eq!(value(&config, "appendfsync"), "everysec");
        assert_eq!(value(&config, "databases"), "16");
        assert_eq!(value(&config, "maxmemory-policy"), "noeviction");
    }

    #[test]
    fn config_get_formats_values() {
        let mut config = conf(
            "maxmemory 1gb\nmaxmemory-clients 10%\nunixsocketperm 0755\nnotify-keyspace-events KEA\n\
             shutdown-on-sigterm \"now force nosave\"\noom-score-adj relative\n\
             latency-tracking-info-percentiles \"0x10 1e1 99.9999 0.0078125\"\nrequirepass pw\n",
        )
        .unwrap();
        assert_eq!(value(&config, "maxmemory"), "1073741824");
        assert_eq!(value(&config, "maxmemory-clients"), "10%");
        assert_eq!(value(&config, "unixsocketperm"), "755");
        assert_eq!(value(&config, "notify-keyspace-events"), "AKE");
        assert_eq!(value(&config, "shutdown-on-sigterm"), "nosave now force");
        assert_eq!(value(&config, "oom-score-adj"), "yes");
        assert_eq!(
            value(&config, "latency-tracking-info-percentiles"),
            "16 10 99.9999 0.007812"
        );
        assert_eq!(value(&config, "requirepass"), "pw");
        assert_eq!(value(&config, "protected-mode"), "yes");
        config.loglevel = LogLevel::Nothing;
        assert_eq!(value(&config, "loglevel"), "nothing");
    }

    // --- CONFIG SET ------------------------------------------------------

    /// CONFIG SET calls replayed, in order, against redis-server 7.0.15 (started
    /// with `--bind 127.0.0.1 --save ""`), with its replies.
    #[rustfmt::skip]
    const SET_SESSION: &[(&[&str], &str)] = &[
        (&["foo", "bar"], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&["maxclients", "abc"], "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"),
        (&["databases", "3"], "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"),
        (&["maxclients", "0"], "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"),
        (&["Databases", "3"], "ERR CONFIG SET failed (possibly related to argument 'Databases') - can't set immutable config"),
        (&["DIR", "/tmp"], "ERR CONFIG SET failed (possibly related to argument 'DIR') - can't set protected config"),
        (&["dbfilename", "x"], "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config"),
        (&["port", "70000"], "ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive"),
        (&["MAXCLIENTS", "1", "maxclients", "2"], "ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate parameter"),
        (&["maxclients", "1", "Maxclients", "2"], "ERR CONFIG SET failed (possibly related to argument 'Maxclients') - duplicate parameter"),
        (&["appendonly", "maybe"], "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"),
        (&["appendfsync", "sometimes"], "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no"),
        (&["loglevel", "nothing"], "ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning"),
        (&["maxclients", "100", "foo", "bar"], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&["foo", "bar", "maxclients", "x"], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&["maxclients", "x", "foo", "bar"], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
        (&["databases", "3", "foo", "bar"], "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"),
        (&["timeout", "-1"], "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"),
        (&["proto-max-bulk-len", "1k"], "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        (&["proto-max-bulk-len", "abc"], "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be a memory value"),
        (&["client-query-buffer-limit", "1"], "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        (&["client-query-buffer-limit", "-5"], "ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - argument must be a memory value"),
        (&["save", "1 2 3"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", "abc 1"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", ""], "OK"),
        (&["save", "100 10  200 20"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", "100 10 200 20"], "OK"),
        (&["MAXCLIENTS", "abc"], "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"),
        (&["slave-priority", "abc"], "ERR CONFIG SET failed (possibly related to argument 'slave-priority') - argument couldn't be parsed into an integer"),
        (&["maxmemory", "20000000000g"], "OK"),
        (&["maxmemory", "1KB"], "OK"),
        (&["maxmemory", ""], "OK"),
        (&["maxmemory", "99999999999999999999999"], "OK"),
        (&["maxmemory-clients", "10%"], "OK"),
        (&["maxmemory-clients", "101%"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"),
        (&["maxmemory-clients", "18446744073709551615"], "OK"),
        (&["maxmemory-clients", "abc"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value"),
        (&["shutdown-on-sigint", "now save"], "OK"),
        (&["shutdown-on-sigint", "save nosave"], "ERR CONFIG SET failed (possibly related to argument 'shutdown-on-sigint') - shutdown options SAVE and NOSAVE can't be used simultaneously"),
        (&["shutdown-on-sigint", ""], "ERR CONFIG SET failed (possibly related to argument 'shutdown-on-sigint') - argument(s) must be one of the following: default, save, nosave, now, force"),
        (&["shutdown-on-sigint", "bad"], "ERR CONFIG SET failed (possibly related to argument 'shutdown-on-sigint') - argument(s) must be one of the following: default, save, nosave, now, force"),
        (&["oom-score-adj", "relative"], "OK"),
        (&["notify-keyspace-events", "KEA"], "OK"),
        (&["notify-keyspace-events", "Kxm"], "OK"),
        (&["notify-keyspace-events", "K q"], "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        (&["latency-tracking-info-percentiles", "50 99.5 0.0078125"], "OK"),
        (&["latency-tracking-info-percentiles", "abc"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "101"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        (&["latency-tracking-info-percentiles", "0x10 1e2"], "OK"),
        (&["latency-tracking-info-percentiles", ""], "OK"),
        (&["activedefrag", "yes"], "ERR CONFIG SET failed (possibly related to argument 'activedefrag') - Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"),
        (&["activedefrag", "no"], "OK"),
        (&["hz", "1000"], "OK"),
        (&["hz", "0"], "OK"),
        (&["hz", "-1"], "ERR CONFIG SET failed (possibly related to argument 'hz') - argument must be between 0 and 2147483647 inclusive"),
        (&["client-output-buffer-limit", "normal 1mb 2k 3"], "OK"),
        (&["client-output-buffer-limit", "master 1 1 1"], "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration."),
        (&["client-output-buffer-limit", "normal 1 1"], "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration."),
        (&["client-output-buffer-limit", "replica x 1 1"], "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        (&["client-output-buffer-limit", "replica 5 1 -1"], "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        (&["client-output-buffer-limit", "replica 5 1 "], "OK"),
        (&["client-output-buffer-limit", ""], "OK"),
        (&["replicaof", "no one"], "ERR CONFIG SET failed (possibly related to argument 'replicaof') - can't set immutable config"),
        (&["slaveof", "no one"], "ERR CONFIG SET failed (possibly related to argument 'slaveof') - can't set immutable config"),
        (&["requirepass", "secret"], "OK"),
        (&["requirepass", ""], "OK"),
        (&["unixsocketperm", "700"], "ERR CONFIG SET failed (possibly related to argument 'unixsocketperm') - can't set immutable config"),
        (&["proc-title-template", "{foo}"], "ERR CONFIG SET failed (possibly related to argument 'proc-title-template') - template format is invalid or contains unknown variables"),
        (&["proc-title-template", "   "], "ERR CONFIG SET failed (possibly related to argument 'proc-title-template') - template format is invalid or contains unknown variables"),
        (&["proc-title-template", "{title"], "ERR CONFIG SET failed (possibly related to argument 'proc-title-template') - template format is invalid or contains unknown variables"),
        (&["proc-title-template", "{{x}"], "OK"),
        (&["cluster-announce-hostname", "a_b"], "ERR CONFIG SET failed (possibly related to argument 'cluster-announce-hostname') - Hostnames may only contain alphanumeric characters, hyphens or dots"),
        (&["cluster-announce-hostname", "a-b"], "OK"),
        (&["oom-score-adj-values", "1 2"], "ERR CONFIG SET failed (possibly related to argument 'oom-score-adj-values') - wrong number of arguments"),
        (&["oom-score-adj-values", "1 2 3000"], "ERR CONFIG SET failed (possibly related to argument 'oom-score-adj-values') - Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        (&["oom-score-adj-values", "1 2 3"], "OK"),
        (&["list-max-ziplist-entries", "5"], "ERR Unknown option or number of arguments for CONFIG SET - 'list-max-ziplist-entries'"),
        (&["tls-port", "abc"], "ERR CONFIG SET failed (possibly related to argument 'tls-port') - argument couldn't be parsed into an integer"),
        (&["unixsocket", "/tmp/x"], "ERR CONFIG SET failed (possibly related to argument 'unixsocket') - can't set immutable config"),
        (&["protected-mode", "maybe"], "ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'"),
        (&["protected-mode", "no"], "OK"),
        (&["loglevel", "WARNING"], "OK"),
        (&["appendfsync", "ALWAYS"], "OK"),
        (&["maxmemory-policy", "x"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        (&["maxmemory-policy", "ALLKEYS-LRU", "maxmemory", "10mb"], "OK"),
        (&["maxmemory", "1mb", "maxmemory-policy", "bad"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
        (&["slave-priority", "7", "replica-priority", "9"], "OK"),
        (&["timeout", "10", "tcp-keepalive", "20", "maxclients", "300", "loglevel", "debug"], "OK"),
        (&["save", "60 1", "appendfsync", "no"], "OK"),
        (&["dbfilename", "a/b"], "ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config"),
        (&["appenddirname", "x"], "ERR CONFIG SET failed (possibly related to argument 'appenddirname') - can't set immutable config"),
        (&["enable-protected-configs", "yes"], "ERR CONFIG SET failed (possibly related to argument 'enable-protected-configs') - can't set immutable config"),
        (&["busy-reply-threshold", "1", "lua-time-limit", "2"], "OK"),
        (&["maxmemory", "1", "maxmemory", "2"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"),
        (&["io-threads", "2"], "ERR CONFIG SET failed (possibly related to argument 'io-threads') - can't set immutable config"),
        (&["notify-keyspace-events", ""], "OK"),
        (&["bind", "127.0.0.1 ::1 -::1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1"], "ERR CONFIG SET failed (possibly related to argument 'bind') - Too many bind addresses specified."),
        (&["list-max-listpack-size", "-2147483649"], "ERR CONFIG SET failed (possibly related to argument 'list-max-listpack-size') - argument must be between -2147483648 and 2147483647 inclusive"),
        (&["list-max-listpack-size", "-2147483648"], "OK"),
        (&["slowlog-log-slower-than", "-2"], "ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive"),
        (&["cluster-node-timeout", "9223372036854775808"], "ERR CONFIG SET failed (possibly related to argument 'cluster-node-timeout') - argument couldn't be parsed into an integer"),
        (&["stream-node-max-entries", "9223372036854775807"], "OK"),
        (&["hash-max-listpack-value", "9223372036854775808"], "ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-value') - argument must be between 0 and 9223372036854775807 inclusive"),
        (&["hash-max-listpack-value", "18446744073709551615"], "ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-value') - argument must be between 0 and 9223372036854775807 inclusive"),
        (&["tracking-table-max-keys", "-1"], "ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - argument must be between 0 and 9223372036854775807 inclusive"),
        (&["repl-backlog-ttl", "-1"], "ERR CONFIG SET failed (possibly related to argument 'repl-backlog-ttl') - argument must be between 0 and 9223372036854775807 inclusive"),
        (&["min-replicas-to-write", " 1"], "ERR CONFIG SET failed (possibly related to argument 'min-replicas-to-write') - argument couldn't be parsed into an integer"),
        (&["min-replicas-to-write", "01"], "ERR CONFIG SET failed (possibly related to argument 'min-replicas-to-write') - argument couldn't be parsed into an integer"),
        (&["min-replicas-to-write", "+1"], "ERR CONFIG SET failed (possibly related to argument 'min-replicas-to-write') - argument couldn't be parsed into an integer"),
        (&["min-replicas-to-write", "1.0"], "ERR CONFIG SET failed (possibly related to argument 'min-replicas-to-write') - argument couldn't be parsed into an integer"),
        (&["masterauth", ""], "OK"),
        (&["masteruser", "bob"], "OK"),
        (&["ignore-warnings", "a b"], "OK"),
        (&["replica-announce-ip", ""], "OK"),
        (&["appendonly", "no"], "OK"),
        (&["latency-tracking-info-percentiles", "1e400"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "1e-400"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "inf"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        (&["latency-tracking-info-percentiles", "nan"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "-0"], "OK"),
        (&["latency-tracking-info-percentiles", "0x1p-2000"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "0x1p-1075"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "0x1p-1074"], "OK"),
        (&["latency-tracking-info-percentiles", "0x1.8p1 0X1P+2 0x.8 0x1.p1 +5 1e+2"], "OK"),
        (&["latency-tracking-info-percentiles", "0x1p"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "0x"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "5e"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - Invalid latency-tracking-info-percentiles parameters"),
        (&["latency-tracking-info-percentiles", "INF"], "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        (&["latency-tracking-info-percentiles", "0x1p-2 .5 5."], "OK"),
        (&["save", "60 -1"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", "0 1"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", "60"], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        (&["save", "9999999999999999999 1"], "OK"),
        (&["save", "60 1 "], "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
    ];

    /// A session replayed against redis-server 7.0.15 (started with
    /// `--bind 127.0.0.1 --save ""`); every reply matched.
    #[test]
    fn config_set_session_matches_redis() {
        let cases = SET_SESSION;
        let mut config = conf("bind 127.0.0.1\nsave \"\"\n").unwrap();
        for (args, expected) in cases {
            let got = match set(&mut config, args) {
                Ok(_) => "OK".to_string(),
                Err(e) => e,
            };
            assert_eq!(&got, expected, "CONFIG SET {args:?}");
        }
        // State after the session, as redis-server reported it.
        assert_eq!(value(&config, "save"), "9223372036854775807 1");
        assert_eq!(value(&config, "maxmemory"), "10485760");
        assert_eq!(value(&config, "maxmemory-policy"), "allkeys-lru");
        assert_eq!(value(&config, "slave-priority"), "9");
        assert_eq!(
            value(&config, "latency-tracking-info-percentiles"),
            "0.25 0.5 5"
        );
        assert_eq!(
            value(&config, "client-output-buffer-limit"),
            "normal 1048576 2000 3 slave 5 1 0 pubsub 33554432 8388608 60"
        );
        assert_eq!(value(&config, "hz"), "1");
        assert_eq!(config.timeout, 10);
        assert_eq!(config.tcp_keepalive, 20);
        assert_eq!(config.maxclients, 300);
        assert_eq!(config.loglevel, LogLevel::Debug);
        assert_eq!(config.appendfsync, AppendFsync::No);
        assert!(!config.protected_mode);
        assert_eq!(config.requirepass, None);
    }

    #[test]
    fn config_set_is_all_or_nothing_and_reports_changes() {
        let mut config = Config::default();
        let before = config.clone();
        assert_eq!(
            set(&mut config, &["maxclients", "100", "timeout", "x"]),
            Err("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer".to_string())
        );
        assert_eq!(config, before);
        assert_eq!(
            set(
                &mut config,
                &[
                    "maxclients",
                    "100",
                    "timeout",
                    "5",
                    "appendonly",
                    "no",
                    "save",
                    ""
                ]
            ),
            Ok(vec![
                "maxclients".to_string(),
                "timeout".to_string(),
                "save".to_string()
            ])
        );
        assert_eq!(
            (config.maxclients, config.timeout, config.save.as_str()),
            (100, 5, "")
        );
        assert_eq!(
            set(
                &mut config,
                &[
                    "appendonly",
                    "yes",
                    "appendfsync",
                    "always",
                    "requirepass",
                    "s3cret"
                ]
            ),
            Ok(vec![
                "appendonly".to_string(),
                "appendfsync".to_string(),
                "requirepass".to_string()
            ])
        );
        assert!(config.appendonly);
        assert_eq!(config.requirepass.as_deref(), Some("s3cret"));
        assert_eq!(
            set(&mut config, &["save", "100 10 200 20"]),
            Ok(vec!["save".to_string()])
        );
        assert_eq!(config.save, "100 10 200 20");
        assert_eq!(
            set(
                &mut config,
                &[
                    "proto-max-bulk-len",
                    "2mb",
                    "client-query-buffer-limit",
                    "4mb",
                    "loglevel",
                    "verbose",
                    "protected-mode",
                    "no",
                    "tcp-keepalive",
                    "0"
                ]
            )
            .map(|v| v.len()),
            Ok(5)
        );
        assert_eq!(config.proto_max_bulk_len, 2 << 20);
        assert_eq!(config.client_query_buffer_limit, 4 << 20);
        assert_eq!(config.loglevel, LogLevel::Verbose);
        // An alias changes the primary parameter, reported by primary name.
        assert_eq!(
            set(&mut config, &["slave-priority", "3"]),
            Ok(vec!["replica-priority".to_string()])
        );
        assert_eq!(value(&config, "replica-priority"), "3");
        assert_eq!(
            set(&mut config, &[]),
            Err("ERR wrong number of arguments for 'config|set' command".to_string())
        );
    }

    #[test]
    fn config_set_immutable_and_protected() {
        let mut config = Config::default();
        for name in [
            "databases",
            "daemonize",
            "logfile",
            "pidfile",
            "appendfilename",
            "replicaof",
            "unixsocket",
        ] {
            assert_eq!(
                set(&mut config, &[name, "x"]),
                Err(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"))
            );
        }
        for name in ["dir", "dbfilename"] {
            assert_eq!(
                set(&mut config, &[name, "x"]),
                Err(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"))
            );
        }
        let dir = TempDir::new("protected");
        let mut local = conf("enable-protected-configs local\n").unwrap();
        let pairs = vec![
            (b"dir".to_vec(), dir.path().into_bytes()),
            (b"dbfilename".to_vec(), b"x.rdb".to_vec()),
        ];
        assert!(local.set(&pairs).is_err());
        assert_eq!(
            local.set_for_client(&pairs, true),
            Ok(vec!["dir".to_string(), "dbfilename".to_string()])
        );
        assert_eq!(local.dir, dir.0);
        let mut open = conf("enable-protected-configs yes\n").unwrap();
        assert_eq!(
            set(&mut open, &["dir", "/nonexistent-kvstore"]),
            Err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory".to_string())
        );
        assert_eq!(
            set(&mut open, &["dbfilename", "a/b"]),
            Err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename".to_string())
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            config_set_failed_reply("port", "Unable to listen on this port. Check server logs."),
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
        );
        assert_eq!(AppendFsync::EverySec.to_string(), "everysec");
        assert_eq!(LogLevel::Warning.to_string(), "warning");
        assert!(LogLevel::Debug < LogLevel::Warning);
    }

    #[test]
    fn summary_masks_the_password() {
        let config = conf("requirepass hunter2\nport 7000\nmaxmemory 1mb\n").unwrap();
        let line = config.summary();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("requirepass=(set)"));
        assert!(line.contains("port=7000"));
        assert!(line.contains("unused-directives=1"));
        assert!(!line.contains('\n'));
        assert!(Config::default().summary().contains("requirepass=(none)"));
    }

    #[test]
    fn every_parameter_has_a_unique_name() {
        let mut names: Vec<&str> = DEFS
            .iter()
            .flat_map(|d| std::iter::once(d.name).chain(d.alias))
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
        assert_eq!(DEFS.len(), 178);
        for used in USED {
            assert!(lookup(used.as_bytes()).is_some(), "{used}");
        }
    }
}
