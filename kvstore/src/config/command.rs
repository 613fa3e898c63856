//! `CONFIG GET` and `CONFIG SET`: [`Config::get`] and [`Config::set`], the
//! functions the `CONFIG` handlers in `cmd/server.rs` call.  (`CONFIG
//! REWRITE` and `CONFIG RESETSTAT` never read the parameter table, so they
//! stay in the handler.)
//!
//! Invariants: `CONFIG SET` is all-or-nothing: every pair is validated on a
//! clone, which replaces the configuration only when all were accepted; its
//! error replies are Redis 7's, naming the parameter as the client spelled
//! it.  `CONFIG GET` reports each parameter once, in table order, and hidden
//! parameters only when asked for by exact name.

use super::grammar::{lossy, LoadState};
use super::table::{def_index, lookup, Val, DEFS, HID, IMM, MULTI, PROT};
use super::Config;
use crate::glob::glob_match;

/// The reply to send when applying an accepted `CONFIG SET` fails at runtime
/// (for example the new `port` cannot be bound), in Redis's format.  Callers
/// that apply changes after [`Config::set`] should restore a clone taken
/// before the call and reply with this.
pub fn config_set_failed_reply(parameter: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{parameter}') - {reason}")
}

/// Redis's `sdssplitlen(value, " ")` as used by CONFIG SET for multi-argument
/// parameters: splits on every single space; an empty value has no elements.
fn split_spaces(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
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

    /// One parameter's value as CONFIG GET prints it (`name` exact, not a pattern); empty
    /// when there is no such parameter.
    pub fn value(&self, name: &str) -> String {
        self.get(name.as_bytes())
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::*;
    use crate::config::{AppendFsync, LogLevel};

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
    fn failed_apply_reply_names_the_parameter() {
        assert_eq!(
            config_set_failed_reply("port", "Unable to listen on this port. Check server logs."),
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
        );
    }

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
}
