//! Server configuration, parsed exactly the way `redis-server` 7.0.15 does it.
//!
//! kvstore is a drop-in replacement for `redis-server`, so it must accept the
//! same command lines (`kvstore [CONFIG_FILE] [--OPTION VALUE ...] [-]`) and
//! the same `redis.conf` files, reject bad ones with byte-identical fatal
//! messages, and answer `CONFIG GET` / `CONFIG SET` the way Redis does: tools
//! such as `redis-cli`, `redis-benchmark`, client libraries and test suites
//! read parameters like `save`, `appendonly` or `maxmemory` and compare error
//! strings.  This module is the single place that knows Redis's configuration
//! grammar and its table of parameters, in four parts:
//!
//! * `grammar`: [`parse_args`] turns `argv[1..]` into an [`Invocation`]; the
//!   config file (first argument not starting with `-`), stdin (`-` as first
//!   or last argument) and the `--name value ...` options are concatenated
//!   into one text exactly like `redis-server`'s `main()` does, then parsed
//!   line by line with Redis's `sdssplitargs` quoting rules.
//! * `table`: every parameter Redis 7.0.15 knows (the `standardConfig` table
//!   of `src/config.c` as compiled in Debian's TLS-enabled build) with its
//!   flags, type, bounds, default and enum names.  The grammar also accepts
//!   the special directives `include`, `rename-command`, `user`,
//!   `loadmodule`, `sentinel`, module `name.option` configs and the
//!   deprecated `list-max-ziplist-*` / `lua-replicate-commands`.
//! * `value`: Redis's validation rules for one value, shared by the config
//!   file, the command line and `CONFIG SET`, and the text `CONFIG GET`
//!   shows.  Directives kvstore acts on are stored in typed fields of
//!   [`Config`]; every other accepted directive is appended to
//!   [`Config::unused`] so the caller can warn about it, and its value is
//!   still reported by [`Config::get`].
//! * `command`: [`Config::get`] and [`Config::set`] implement `CONFIG GET`
//!   and `CONFIG SET` (all-or-nothing, Redis 7 error replies).
//!
//! This file holds the public types and the mapping between the typed fields
//! of [`Config`] and the table's generic values.  Invariant: a typed field
//! and its table entry never disagree, because the typed fields *are* the
//! storage for their parameters (`load` / `store` below) and the generic
//! `others` vector is only read for the remaining ones.
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

mod command;
mod grammar;
mod table;
#[cfg(test)]
mod test_support;
mod value;

pub(crate) use grammar::split_args;
pub use grammar::{parse_args, usage_text, version_text};

use std::fmt;
use std::path::PathBuf;
use table::{def_index, default_val, Val, DEFS};
use value::format_val;

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

/// `CONFIG_MIN_HZ` / `CONFIG_MAX_HZ`.
const CONFIG_MIN_HZ: i64 = 1;
const CONFIG_MAX_HZ: i64 = 500;

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

impl Config {
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

    /// `notify-keyspace-events` as Redis's class bits (`notify.c`). Read from the value,
    /// not its CONFIG GET text, which leaves out `n` as Redis's does.
    pub fn notify_keyspace_events(&self) -> u32 {
        match self.load(def_index("notify-keyspace-events")) {
            Val::Notify(flags) => flags as u32,
            _ => 0,
        }
    }

    /// The text `CONFIG GET` shows for parameter `idx`.
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

    /// The current value of a parameter without a typed field.
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
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;

    #[test]
    fn hz_is_clamped_after_loading() {
        assert_eq!(value(&conf("hz 1000\n").unwrap(), "hz"), "500");
        assert_eq!(value(&conf("hz 0\n").unwrap(), "hz"), "1");
    }

    #[test]
    fn enums_print_their_redis_names() {
        assert_eq!(AppendFsync::EverySec.to_string(), "everysec");
        assert_eq!(LogLevel::Warning.to_string(), "warning");
        assert!(LogLevel::Debug < LogLevel::Warning);
    }

    #[test]
    fn summary_masks_the_password() {
        let config = conf("requirepass hunter2\nport 7000\nmaxmemory-clients 1mb\n").unwrap();
        let line = config.summary();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("requirepass=(set)"));
        assert!(line.contains("port=7000"));
        assert!(line.contains("unused-directives=1"));
        assert!(!line.contains('\n'));
        assert!(Config::default().summary().contains("requirepass=(none)"));
    }
}
