//! Redis 7.0.15's table of configuration parameters: `static_configs[]` of
//! `src/config.c`, as compiled in Debian's TLS-enabled build.  Each [`Def`]
//! gives a parameter's name and alias, its flags (immutable, protected,
//! hidden, multi-argument), its kind (bool, string, enum with its names,
//! numeric with C type, bounds and units, or a special parameter), and its
//! default; [`Val`] is the value a parameter holds.
//!
//! It is a file of its own because it is data: when Redis changes, this is
//! the one file to diff against `config.c`, and the parsing code around it
//! does not move.
//!
//! Invariants: [`DEFS`] is in Redis's table order (so is `CONFIG GET *`);
//! names and aliases are unique; for every entry, [`default_val`] and every
//! value `Config::set_value` accepts have the [`Val`] variant its [`Kind`]
//! implies.

use std::path::PathBuf;

/// `IMMUTABLE_CONFIG`: cannot be changed with CONFIG SET.
pub(super) const IMM: u8 = 1;
/// `SENSITIVE_CONFIG`: value is a secret.
const SENS: u8 = 2;
/// `MULTI_ARG_CONFIG`: takes several arguments.
pub(super) const MULTI: u8 = 4;
/// `HIDDEN_CONFIG`: not matched by CONFIG GET patterns, only by exact name.
pub(super) const HID: u8 = 8;
/// `PROTECTED_CONFIG`: CONFIG SET needs `enable-protected-configs`.
pub(super) const PROT: u8 = 16;

/// Numeric flags: `MEMORY_CONFIG`, `PERCENT_CONFIG`, `OCTAL_CONFIG`.
pub(super) const MEM: u8 = 1;
pub(super) const PCT: u8 = 2;
pub(super) const OCT: u8 = 4;

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const LLONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` stored in a `long long`, as Redis's table does.
const ULLONG_MAX: i64 = -1;

/// The C type behind a numeric parameter; it decides how bounds are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
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
    pub(super) fn unsigned_bounds(self) -> bool {
        matches!(self, Ty::ULongLong | Ty::UInt | Ty::SizeT)
    }
}

/// Extra validation hooks (`is_valid_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
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
pub(super) enum Special {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyTrackingInfoPercentiles,
}

pub(super) type EnumItems = &'static [(&'static str, i32)];

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
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
pub(super) struct Def {
    pub(super) name: &'static str,
    pub(super) alias: Option<&'static str>,
    pub(super) flags: u8,
    pub(super) kind: Kind,
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
pub(super) static DEFS: &[Def] = &[
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
pub(super) const USED: &[&str] = &[
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
    // Read from the table by the ACL (`cmd::access_control`).
    "aclfile",
    "acllog-max-len",
    "acl-pubsub-default",
    // Read through `state::MemorySettings` rather than typed fields.
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "lfu-log-factor",
    "lfu-decay-time",
];

/// Finds a parameter by name or alias, ASCII case-insensitively.  Returns the
/// table index and whether the alias matched (Redis registers aliases as
/// separate entries, which matters for duplicate detection and for the name
/// reported in errors).
pub(super) fn lookup(name: &[u8]) -> Option<(usize, bool)> {
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

pub(super) fn def_index(name: &str) -> usize {
    DEFS.iter()
        .position(|d| d.name == name)
        .expect("parameter missing from the table")
}

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
pub(super) enum Val {
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

pub(super) fn default_val(def: &Def) -> Val {
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

#[cfg(test)]
mod tests {
    use super::*;

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
