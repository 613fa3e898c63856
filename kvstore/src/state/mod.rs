//! The state every connection shares, and the clock.
//!
//! [`Shared`] is what a connection holds an `Arc` of: the keyspace behind its lock, the
//! configuration, the limits read on every request, the client and pub/sub registries, the
//! clients waiting in blocking commands, the group commit and the counters INFO prints. Its
//! fields are private; the accessors say what may be done with each. In particular the
//! configuration changes only through [`Shared::set_config`], which also refreshes the
//! [`Limits`] cached from it, so a `CONFIG SET` can never leave them stale.
//!
//! This module sits below the commands and the connections: it knows the keyspace,
//! persistence, the configuration and the registries, never a command or a socket.

mod blocked;
mod clock;
mod introspection;
mod invalidation;
mod memory;
pub(crate) mod notify;
mod pause;
mod replication;

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use tokio::sync::watch;

pub(crate) use blocked::{Blocked, BlockedClients, Propagate, Release, Retry, Served};
pub(crate) use clock::{tick, Tick};
pub(crate) use introspection::{CommandStat, Introspection, LatencySeries};
pub(crate) use memory::MemorySettings;
pub(crate) use pause::{ClientPause, PauseKind};
pub(crate) use replication::{
    encode_command, random_replid, Feed, LinkState, MasterAddr, ReplicaInfo, Replication,
};

use crate::acl::AccessControl;
use crate::client::ClientRegistry;
use crate::config::{AppendFsync, Config};
use crate::keyspace::stream::NodeLimits;
use crate::keyspace::{HashLimits, Keyspace};
use crate::persistence::{Durability, GroupCommit};
use crate::pubsub::{OutputLimit, Registry};
use crate::scripting::Scripting;
use crate::tracking::Tracking;

/// Unix time in milliseconds: the clock every command and the expiry sweep read.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Counters for INFO stats: only ever added to, or reset by CONFIG RESETSTAT.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    connections_received: AtomicU64,
    commands_processed: AtomicU64,
    rejected_connections: AtomicU64,
    net_input_bytes: AtomicU64,
    net_output_bytes: AtomicU64,
    /// Bytes of the replication stream written to replicas (Redis counts them apart).
    net_repl_output_bytes: AtomicU64,
}

/// The counters of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatsSnapshot {
    pub(crate) connections_received: u64,
    pub(crate) commands_processed: u64,
    pub(crate) rejected_connections: u64,
    pub(crate) net_input_bytes: u64,
    pub(crate) net_output_bytes: u64,
    pub(crate) net_repl_output_bytes: u64,
}

impl Stats {
    pub(crate) fn connection_received(&self) {
        self.connections_received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_rejected(&self) {
        self.rejected_connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn commands_processed(&self, n: u64) {
        self.commands_processed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn bytes_read(&self, n: u64) {
        self.net_input_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn bytes_written(&self, n: u64) {
        self.net_output_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes of the replication stream written to a replica.
    pub(crate) fn repl_bytes_written(&self, n: u64) {
        self.net_repl_output_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// The command counter itself, for the busy poller to watch.
    pub(crate) fn commands_counter(&self) -> &AtomicU64 {
        &self.commands_processed
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_received: get(&self.connections_received),
            commands_processed: get(&self.commands_processed),
            rejected_connections: get(&self.rejected_connections),
            net_input_bytes: get(&self.net_input_bytes),
            net_output_bytes: get(&self.net_output_bytes),
            net_repl_output_bytes: get(&self.net_repl_output_bytes),
        }
    }

    /// CONFIG RESETSTAT.
    fn reset(&self) {
        for counter in [
            &self.connections_received,
            &self.commands_processed,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.net_repl_output_bytes,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Settings read on every request, cached outside the config lock. Only
/// [`Shared::set_config`] writes them.
#[derive(Debug)]
pub(crate) struct Limits {
    proto_max_bulk_len: AtomicU64,
    client_query_buffer_limit: AtomicU64,
    timeout_secs: AtomicU64,
    hash_max_listpack_entries: AtomicU64,
    hash_max_listpack_value: AtomicU64,
    set_max_intset_entries: AtomicU64,
    zset_max_listpack_entries: AtomicU64,
    zset_max_listpack_value: AtomicU64,
    stream_node_max_entries: AtomicU64,
    stream_node_max_bytes: AtomicU64,
    hll_sparse_max_bytes: AtomicU64,
    /// `client-output-buffer-limit pubsub`.
    pubsub_output: Mutex<OutputLimit>,
    /// `notify-keyspace-events` as class bits (`notify.rs`).
    notify_classes: AtomicU32,
    /// `tracking-table-max-keys`.
    tracking_table_max_keys: AtomicU64,
    /// `maxmemory` and eviction.
    memory: MemorySettings,
}

impl Limits {
    fn new(config: &Config) -> Limits {
        let limits = Limits {
            proto_max_bulk_len: AtomicU64::new(0),
            client_query_buffer_limit: AtomicU64::new(0),
            timeout_secs: AtomicU64::new(0),
            hash_max_listpack_entries: AtomicU64::new(0),
            hash_max_listpack_value: AtomicU64::new(0),
            set_max_intset_entries: AtomicU64::new(0),
            zset_max_listpack_entries: AtomicU64::new(0),
            zset_max_listpack_value: AtomicU64::new(0),
            stream_node_max_entries: AtomicU64::new(0),
            stream_node_max_bytes: AtomicU64::new(0),
            hll_sparse_max_bytes: AtomicU64::new(0),
            pubsub_output: Mutex::new(pubsub_output_limit(config)),
            notify_classes: AtomicU32::new(0),
            tracking_table_max_keys: AtomicU64::new(0),
            memory: MemorySettings::new(config),
        };
        limits.load(config);
        limits
    }

    /// Copies the configuration's values into the cache.
    fn load(&self, config: &Config) {
        let set = |cell: &AtomicU64, value| cell.store(value, Ordering::Relaxed);
        set(&self.proto_max_bulk_len, config.proto_max_bulk_len);
        set(
            &self.client_query_buffer_limit,
            config.client_query_buffer_limit,
        );
        set(&self.timeout_secs, config.timeout);
        for (cell, name) in [
            (&self.hash_max_listpack_entries, "hash-max-listpack-entries"),
            (&self.hash_max_listpack_value, "hash-max-listpack-value"),
            (&self.set_max_intset_entries, "set-max-intset-entries"),
            (&self.zset_max_listpack_entries, "zset-max-listpack-entries"),
            (&self.zset_max_listpack_value, "zset-max-listpack-value"),
            (&self.stream_node_max_entries, "stream-node-max-entries"),
            (&self.stream_node_max_bytes, "stream-node-max-bytes"),
            (&self.hll_sparse_max_bytes, "hll-sparse-max-bytes"),
            (&self.tracking_table_max_keys, "tracking-table-max-keys"),
        ] {
            set(cell, size_param(config, name));
        }
        *self.pubsub_output.lock() = pubsub_output_limit(config);
        self.memory.load(config);
        self.notify_classes
            .store(config.notify_keyspace_events(), Ordering::Relaxed);
    }

    /// `tracking-table-max-keys` (0: no limit).
    pub(crate) fn tracking_table_max_keys(&self) -> usize {
        self.tracking_table_max_keys.load(Ordering::Relaxed) as usize
    }

    /// `notify-keyspace-events` as class bits.
    pub(crate) fn notify_classes(&self) -> u32 {
        self.notify_classes.load(Ordering::Relaxed)
    }

    /// `proto-max-bulk-len`.
    pub(crate) fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    /// `client-query-buffer-limit`.
    pub(crate) fn client_query_buffer_limit(&self) -> u64 {
        self.client_query_buffer_limit.load(Ordering::Relaxed)
    }

    /// `timeout`: seconds a client may stay idle, 0 for ever.
    pub(crate) fn timeout_secs(&self) -> u64 {
        self.timeout_secs.load(Ordering::Relaxed)
    }

    /// The thresholds of the hash encodings in force.
    pub(crate) fn hash(&self) -> HashLimits {
        HashLimits {
            max_entries: self.hash_max_listpack_entries.load(Ordering::Relaxed) as usize,
            max_value: self.hash_max_listpack_value.load(Ordering::Relaxed) as usize,
        }
    }

    /// `set-max-intset-entries`.
    pub(crate) fn intset(&self) -> usize {
        self.set_max_intset_entries.load(Ordering::Relaxed) as usize
    }

    /// The thresholds of the sorted set encodings in force.
    pub(crate) fn zset(&self) -> crate::keyspace::zset::ListpackLimits {
        crate::keyspace::zset::ListpackLimits {
            entries: self.zset_max_listpack_entries.load(Ordering::Relaxed) as usize,
            value: self.zset_max_listpack_value.load(Ordering::Relaxed) as usize,
        }
    }

    /// The size of a stream node in force (`stream-node-max-entries` / `-bytes`).
    pub(crate) fn stream_node(&self) -> NodeLimits {
        NodeLimits {
            max_entries: self.stream_node_max_entries.load(Ordering::Relaxed),
            max_bytes: self.stream_node_max_bytes.load(Ordering::Relaxed),
        }
    }

    /// `hll-sparse-max-bytes`: past this size a sparse HyperLogLog turns dense.
    pub(crate) fn hll_sparse_max_bytes(&self) -> usize {
        self.hll_sparse_max_bytes.load(Ordering::Relaxed) as usize
    }

    /// `client-output-buffer-limit pubsub`.
    pub(crate) fn pubsub_output(&self) -> OutputLimit {
        *self.pubsub_output.lock()
    }

    /// `maxmemory` and the eviction settings.
    pub(crate) fn memory(&self) -> &MemorySettings {
        &self.memory
    }
}

/// A numeric parameter without a typed `Config` field (the encoding thresholds).
fn size_param(config: &Config, name: &str) -> u64 {
    config
        .get(name.as_bytes())
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The `pubsub` class of `client-output-buffer-limit` (as CONFIG GET prints it).
fn pubsub_output_limit(config: &Config) -> OutputLimit {
    output_limit(config, "pubsub", (32 << 20, 8 << 20, 60))
}

/// The `slave` (replica) class of `client-output-buffer-limit`.
fn replica_output_limit(config: &Config) -> OutputLimit {
    output_limit(config, "slave", (256 << 20, 64 << 20, 60))
}

/// One class of `client-output-buffer-limit`, as CONFIG GET prints it.
fn output_limit(config: &Config, name: &str, (hard, soft, secs): (u64, u64, u64)) -> OutputLimit {
    let text = config
        .get(b"client-output-buffer-limit")
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let class = words.chunks(4).find(|c| c.first() == Some(&name));
    let number = |i: usize| class.and_then(|c| c.get(i)).and_then(|w| w.parse().ok());
    OutputLimit {
        hard: number(1).unwrap_or(hard),
        soft: number(2).unwrap_or(soft),
        soft_secs: number(3).unwrap_or(secs),
    }
}

/// Maps `appendonly` / `appendfsync` onto when sled is fsynced. With `appendonly no` kvstore
/// still persists (every second, fsynced lazily), which is closer to what users of the
/// default redis:alpine image expect from its RDB snapshots than losing everything.
pub(crate) fn durability(config: &Config) -> Durability {
    match (config.appendonly, config.appendfsync) {
        (true, AppendFsync::Always) => Durability::Always,
        (true, AppendFsync::EverySec) => Durability::EverySec,
        _ => Durability::No,
    }
}

/// `auto-aof-rewrite-min-size` in bytes: the log's size that starts a checkpoint.
pub(crate) fn checkpoint_size(config: &Config) -> u64 {
    config
        .value("auto-aof-rewrite-min-size")
        .parse()
        .unwrap_or(64 << 20)
}

/// `repl-backlog-size` in bytes.
fn backlog_size(config: &Config) -> usize {
    config
        .value("repl-backlog-size")
        .parse()
        .unwrap_or(1024 * 1024)
}

/// `min-replicas-to-write` and `min-replicas-max-lag`.
fn min_replicas(config: &Config) -> (usize, usize) {
    let number = |name| config.value(name).parse().unwrap_or(0);
    (
        number("min-replicas-to-write"),
        number("min-replicas-max-lag"),
    )
}

/// State shared by every connection.
pub(crate) struct Shared {
    keyspace: Arc<Mutex<Keyspace>>,
    config: RwLock<Config>,
    limits: Limits,
    clients: ClientRegistry,
    /// Channel and pattern subscriptions.
    pubsub: Mutex<Registry>,
    /// Users and the ACL LOG.
    acl: AccessControl,
    commit: GroupCommit,
    /// Clients waiting in blocking commands.
    blocked: BlockedClients,
    /// The script cache, the function libraries and the script running now.
    scripting: Scripting,
    /// Client-side caching: who may cache which keys.
    tracking: Tracking,
    stats: Stats,
    /// Command statistics, error counts, slow log, latency events, monitors.
    introspection: Introspection,
    /// CLIENT PAUSE.
    pause: ClientPause,
    /// The replication stream, its backlog and the replicas attached.
    replication: Replication,
    started: Instant,
    run_id: String,
    /// The port actually bound (the configured port may be 0 in tests).
    port: u16,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    /// The state of a server that loaded `keyspace` (shared with `commit`'s checkpoints) and
    /// listens on `port`.
    pub(crate) fn new(
        config: Config,
        keyspace: Arc<Mutex<Keyspace>>,
        commit: GroupCommit,
        port: u16,
    ) -> Shared {
        let acl = AccessControl::new(config.requirepass.as_deref());
        let introspection = Introspection::new(&config);
        let replication = Replication::default();
        replication.set_backlog_size(backlog_size(&config));
        let (to_write, max_lag) = min_replicas(&config);
        replication.set_min_replicas(to_write, max_lag);
        replication.set_output_limit(replica_output_limit(&config));
        replication.set_read_only(config.value("replica-read-only") == "yes");
        replication.set_serve_stale(config.value("replica-serve-stale-data") == "yes");
        let saved = take_saved_position(&config.dir);
        if let Some(master) = replicaof(&config) {
            replication.follow_from_start(master);
            if let Some((replid, offset, db)) = saved {
                tracing::info!("Resuming replication from {replid}:{offset}");
                replication.restore_position(&replid, offset, db);
            }
        }
        Shared {
            keyspace,
            limits: Limits::new(&config),
            config: RwLock::new(config),
            clients: ClientRegistry::default(),
            pubsub: Mutex::new(Registry::default()),
            acl,
            commit,
            blocked: BlockedClients::default(),
            scripting: Scripting::default(),
            tracking: Tracking::default(),
            stats: Stats::default(),
            introspection,
            pause: ClientPause::default(),
            replication,
            started: Instant::now(),
            run_id: run_id(),
            port,
            shutdown: watch::Sender::new(false),
        }
    }

    /// Locks the keyspace. Commands lock it once per batch (see `cmd::Batch`).
    pub(crate) fn lock_keyspace(&self) -> MutexGuard<'_, Keyspace> {
        self.keyspace.lock()
    }

    /// Locks the keyspace unless another holder keeps it for longer than `wait` (a long
    /// script): for background sweeps that can skip a turn.
    pub(crate) fn try_lock_keyspace(&self, wait: Duration) -> Option<MutexGuard<'_, Keyspace>> {
        self.keyspace.try_lock_for(wait)
    }

    /// The configuration in force (read-locked: do not hold it across an await).
    pub(crate) fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.read()
    }

    /// CONFIG SET: applies `pairs` atomically and refreshes what is cached from them.
    /// Returns the names changed, or Redis's error message.
    pub(crate) fn set_config(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<String>, String> {
        let mut config = self.config.write();
        let changed = config.set(pairs)?;
        self.limits.load(&config);
        self.introspection.load(&config);
        self.commit.set_policy(durability(&config));
        self.commit.set_checkpoint_size(checkpoint_size(&config));
        self.replication.set_backlog_size(backlog_size(&config));
        let (to_write, max_lag) = min_replicas(&config);
        self.replication.set_min_replicas(to_write, max_lag);
        self.replication
            .set_output_limit(replica_output_limit(&config));
        (self.replication).set_read_only(config.value("replica-read-only") == "yes");
        (self.replication).set_serve_stale(config.value("replica-serve-stale-data") == "yes");
        if changed.iter().any(|name| name == "requirepass") {
            let password = config.requirepass.clone();
            self.acl
                .update(|users| users.set_default_password(password.as_deref()));
        }
        Ok(changed)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Users, their permissions and the ACL LOG.
    pub(crate) fn acl(&self) -> &AccessControl {
        &self.acl
    }

    pub(crate) fn clients(&self) -> &ClientRegistry {
        &self.clients
    }

    /// The pub/sub registry, locked.
    pub(crate) fn pubsub(&self) -> MutexGuard<'_, Registry> {
        self.pubsub.lock()
    }

    pub(crate) fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    pub(crate) fn blocked(&self) -> &BlockedClients {
        &self.blocked
    }

    /// The Lua engines (EVAL scripts, FUNCTION libraries) and what other clients may see of
    /// a running script. Its mutexes are taken after the keyspace lock, never before.
    pub(crate) fn scripting(&self) -> &Scripting {
        &self.scripting
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// CONFIG RESETSTAT's part outside the keyspace.
    pub(crate) fn reset_stats(&self) {
        self.stats.reset();
        self.introspection.reset_stats();
    }

    /// The replication stream and the replicas (`state/replication.rs`).
    pub(crate) fn replication(&self) -> &Replication {
        &self.replication
    }

    /// The pause CLIENT PAUSE put in force, if any.
    pub(crate) fn pause(&self) -> &ClientPause {
        &self.pause
    }

    /// Per-command statistics, errors, the slow log, latency events and MONITOR clients.
    pub(crate) fn introspection(&self) -> &Introspection {
        &self.introspection
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// INFO's `run_id`: random, fixed for the life of the process.
    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The port of the first listener.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Asks the server to stop: listeners close, connections end after their batch.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
        self.clients.kill_all();
    }

    pub(crate) fn shutdown_requested(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

fn run_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect()
}

/// The file a replica's clean shutdown leaves in the data directory: its replication id,
/// offset and stream database, what Redis keeps in its RDB file's aux fields.
const REPLICATION_STATE: &str = "kvstore.replication";

/// Saves a replica's position at a clean shutdown, after the final checkpoint: the data on
/// disk is then exactly what the stream up to that offset made it.
pub(crate) fn save_position(dir: &Path, position: Option<(String, u64, usize)>) {
    let path = dir.join(REPLICATION_STATE);
    let result = match position {
        Some((replid, offset, db)) => std::fs::write(&path, format!("{replid} {offset} {db}\n")),
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    if let Err(e) = result {
        tracing::warn!(
            "cannot save the replication position in {}: {e}",
            path.display()
        );
    }
}

/// The position a clean shutdown saved, removed as it is read: after a crash the data may
/// be ahead of it, and only a full sync is safe then.
fn take_saved_position(dir: &Path) -> Option<(String, u64, usize)> {
    let path = dir.join(REPLICATION_STATE);
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let mut parts = text.split_whitespace();
    let replid = parts.next().filter(|id| id.len() == 40)?.to_owned();
    let offset = parts.next()?.parse().ok()?;
    let db = parts.next()?.parse().ok()?;
    Some((replid, offset, db))
}

/// The `replicaof` directive: the master to follow from start-up.
fn replicaof(config: &Config) -> Option<MasterAddr> {
    let value = config.value("replicaof");
    let (host, port) = value.rsplit_once(' ')?;
    Some(MasterAddr {
        host: host.to_owned(),
        port: port.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::pubsub_output_limit;
    use crate::config::Config;
    use crate::pubsub::OutputLimit;

    #[test]
    fn pubsub_output_limit_reads_the_pubsub_class() {
        let default = Config::default();
        let limit = |hard, soft, soft_secs| OutputLimit {
            hard,
            soft,
            soft_secs,
        };
        assert_eq!(pubsub_output_limit(&default), limit(32 << 20, 8 << 20, 60));
        let mut set = Config::default();
        let limits = b"pubsub 1mb 512kb 1".to_vec();
        set.set(&[(b"client-output-buffer-limit".to_vec(), limits)])
            .unwrap();
        assert_eq!(pubsub_output_limit(&set), limit(1 << 20, 512 << 10, 1));
    }
}
