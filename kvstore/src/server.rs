//! The server: shared state, listeners, the accept loop and orderly shutdown.
//!
//! Every connection runs on the tokio runtime and executes its commands under one keyspace
//! lock per batch: parsing, encoding and socket I/O run in parallel on all cores while
//! command execution stays serial, which is what makes multi-key commands and (later)
//! transactions atomic exactly as in single-threaded Redis.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::client::{ClientRegistry, Session};
use crate::cmd::blocking::BlockedClients;
use crate::config::{AppendFsync, Config};
use crate::connection::Connection;
use crate::keyspace::Keyspace;
use crate::persistence::{Durability, GroupCommit, Store};
use crate::pubsub::{OutputLimit, Registry};

/// How often the active expiry sweep runs (Redis's default `hz 10`).
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);
/// Keys one sweep may delete per database before yielding the lock.
const EXPIRE_BUDGET: usize = 200;
/// How long shutdown waits for connections to finish their current batch.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters for INFO stats.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
}

/// Settings read on every request, kept outside the config lock.
#[derive(Debug)]
pub struct Limits {
    pub proto_max_bulk_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub timeout_secs: AtomicU64,
    /// `hash-max-listpack-entries`, `hash-max-listpack-value`, `set-max-intset-entries`.
    pub hash_max_listpack_entries: AtomicU64,
    pub hash_max_listpack_value: AtomicU64,
    pub set_max_intset_entries: AtomicU64,
    /// `zset-max-listpack-entries` / `zset-max-listpack-value`.
    pub zset_max_listpack_entries: AtomicU64,
    pub zset_max_listpack_value: AtomicU64,
    /// `client-output-buffer-limit pubsub`.
    pub pubsub_output: Mutex<OutputLimit>,
}

impl Limits {
    /// The thresholds of the hash encodings in force.
    pub fn hash(&self) -> crate::keyspace::HashLimits {
        crate::keyspace::HashLimits {
            max_entries: self.hash_max_listpack_entries.load(Ordering::Relaxed) as usize,
            max_value: self.hash_max_listpack_value.load(Ordering::Relaxed) as usize,
        }
    }

    /// `set-max-intset-entries`.
    pub fn intset(&self) -> usize {
        self.set_max_intset_entries.load(Ordering::Relaxed) as usize
    }

    /// The thresholds of the sorted set encodings in force.
    pub fn zset(&self) -> crate::keyspace::zset::ListpackLimits {
        crate::keyspace::zset::ListpackLimits {
            entries: self.zset_max_listpack_entries.load(Ordering::Relaxed) as usize,
            value: self.zset_max_listpack_value.load(Ordering::Relaxed) as usize,
        }
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

/// State shared by every connection.
pub struct Shared {
    pub keyspace: Arc<Mutex<Keyspace>>,
    pub config: RwLock<Config>,
    pub limits: Limits,
    pub clients: ClientRegistry,
    /// Channel and pattern subscriptions.
    pub pubsub: Mutex<Registry>,
    pub commit: GroupCommit,
    /// Clients waiting in blocking commands.
    pub blocked: BlockedClients,
    pub stats: Stats,
    pub started: Instant,
    pub started_unix: u64,
    pub run_id: String,
    /// Ports actually bound (the configured port may be 0 in tests).
    pub port: u16,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    /// Asks the server to stop: listeners close, connections end after their batch.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
        self.clients.kill_all();
    }

    pub fn shutdown_requested(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Applies a runtime change of configuration to the parts that cache it.
    pub fn config_changed(&self) {
        let config = self.config.read();
        self.limits
            .proto_max_bulk_len
            .store(config.proto_max_bulk_len, Ordering::Relaxed);
        self.limits
            .client_query_buffer_limit
            .store(config.client_query_buffer_limit, Ordering::Relaxed);
        self.limits
            .timeout_secs
            .store(config.timeout, Ordering::Relaxed);
        self.limits.hash_max_listpack_entries.store(
            size_param(&config, "hash-max-listpack-entries"),
            Ordering::Relaxed,
        );
        self.limits.hash_max_listpack_value.store(
            size_param(&config, "hash-max-listpack-value"),
            Ordering::Relaxed,
        );
        self.limits.set_max_intset_entries.store(
            size_param(&config, "set-max-intset-entries"),
            Ordering::Relaxed,
        );
        *self.limits.pubsub_output.lock() = pubsub_output_limit(&config);
        self.limits.zset_max_listpack_entries.store(
            size_param(&config, "zset-max-listpack-entries"),
            Ordering::Relaxed,
        );
        self.limits.zset_max_listpack_value.store(
            size_param(&config, "zset-max-listpack-value"),
            Ordering::Relaxed,
        );
        self.commit.set_policy(durability(&config));
    }
}

/// The `pubsub` class of `client-output-buffer-limit` (as CONFIG GET prints it).
pub fn pubsub_output_limit(config: &Config) -> OutputLimit {
    let text = config
        .get(b"client-output-buffer-limit")
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let class = words.chunks(4).find(|c| c.first() == Some(&"pubsub"));
    let number = |i: usize| class.and_then(|c| c.get(i)).and_then(|w| w.parse().ok());
    OutputLimit {
        hard: number(1).unwrap_or(32 << 20),
        soft: number(2).unwrap_or(8 << 20),
        soft_secs: number(3).unwrap_or(60),
    }
}

/// Maps `appendonly` / `appendfsync` onto when sled is fsynced. With `appendonly no` kvstore
/// still persists (every second, fsynced lazily), which is closer to what users of the
/// default redis:alpine image expect from its RDB snapshots than losing everything.
pub fn durability(config: &Config) -> Durability {
    match (config.appendonly, config.appendfsync) {
        (true, AppendFsync::Always) => Durability::Always,
        (true, AppendFsync::EverySec) => Durability::EverySec,
        _ => Durability::No,
    }
}

/// A bound, ready server: call [`Server::run`] to serve.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Opens the data directory, loads it, and binds every configured address.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.dir).with_context(|| {
            format!("cannot create the data directory {}", config.dir.display())
        })?;
        let store = Store::open(&config.dir)?;
        let replayed = store.replay_log()?;
        if replayed > 0 {
            tracing::info!(
                commits = replayed,
                "replayed the log left by an unclean shutdown"
            );
        }
        let mut keyspace = Keyspace::new(config.databases as usize);
        let loaded_at = Instant::now();
        let stats = store.load(&mut keyspace, now_ms())?;
        tracing::info!(
            keys = stats.keys,
            expired = stats.expired,
            "DB loaded from disk: {:.3} seconds",
            loaded_at.elapsed().as_secs_f64()
        );
        if stats.out_of_range > 0 {
            tracing::warn!(
                keys = stats.out_of_range,
                "keys of databases beyond 'databases' were not loaded"
            );
        }
        let written = keyspace.writes();
        let keyspace = Arc::new(Mutex::new(keyspace));
        let commit = GroupCommit::start(store, keyspace.clone(), durability(&config), written)?;

        let mut listeners = Vec::new();
        for addr in &config.bind {
            let optional = addr.starts_with('-');
            let host = addr.trim_start_matches('-');
            let ips: Vec<IpAddr> = match host {
                "*" => vec!["0.0.0.0".parse()?],
                "::*" => vec!["::".parse()?],
                _ => vec![host
                    .parse()
                    .with_context(|| format!("invalid bind address '{host}'"))?],
            };
            for ip in ips {
                match listen(SocketAddr::new(ip, config.port)) {
                    Ok(l) => listeners.push(l),
                    Err(e)
                        if optional
                            || (ip.is_ipv6()
                                && e.kind() == std::io::ErrorKind::AddrNotAvailable) =>
                    {
                        tracing::warn!(
                            "Could not create server TCP listening socket {ip}:{}: {e}",
                            config.port
                        );
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!(
                                "Could not create server TCP listening socket {ip}:{}",
                                config.port
                            )
                        })
                    }
                }
            }
        }
        if listeners.is_empty() {
            anyhow::bail!("Failed listening on port {} (tcp), aborting.", config.port);
        }
        let port = listeners[0].local_addr()?.port();
        let limits = Limits {
            proto_max_bulk_len: AtomicU64::new(config.proto_max_bulk_len),
            client_query_buffer_limit: AtomicU64::new(config.client_query_buffer_limit),
            timeout_secs: AtomicU64::new(config.timeout),
            zset_max_listpack_entries: AtomicU64::new(size_param(
                &config,
                "zset-max-listpack-entries",
            )),
            zset_max_listpack_value: AtomicU64::new(size_param(&config, "zset-max-listpack-value")),
            hash_max_listpack_entries: AtomicU64::new(size_param(
                &config,
                "hash-max-listpack-entries",
            )),
            hash_max_listpack_value: AtomicU64::new(size_param(&config, "hash-max-listpack-value")),
            set_max_intset_entries: AtomicU64::new(size_param(&config, "set-max-intset-entries")),
            pubsub_output: Mutex::new(pubsub_output_limit(&config)),
        };
        let shared = Arc::new(Shared {
            keyspace,
            config: RwLock::new(config),
            limits,
            clients: ClientRegistry::default(),
            pubsub: Mutex::new(Registry::default()),
            commit,
            blocked: BlockedClients::default(),
            stats: Stats::default(),
            started: Instant::now(),
            started_unix: now_ms() / 1000,
            run_id: run_id(),
            port,
            shutdown: watch::Sender::new(false),
        });
        Ok(Server { shared, listeners })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Addresses actually bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until shutdown is requested (SHUTDOWN, or `stop` resolving), then drains the
    /// connections and makes everything durable.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let shared = self.shared;
        let maxclients = Arc::new(Semaphore::new(shared.config.read().maxclients as usize));
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            tasks.spawn(accept_loop(shared.clone(), listener, maxclients.clone()));
        }
        tasks.spawn(expire_loop(shared.clone()));
        if let Some(budget) = crate::busy_poll::budget() {
            let shared = shared.clone();
            tasks.spawn(async move {
                crate::busy_poll::poller(&shared.stats.commands_processed, budget).await
            });
        }
        tokio::pin!(stop);
        let mut shutdown = shared.shutdown_requested();
        tokio::select! {
            _ = &mut stop => tracing::warn!("Received shutdown signal, scheduling shutdown..."),
            _ = shutdown.wait_for(|s| *s) => tracing::warn!("User requested shutdown..."),
        }
        shared.request_shutdown();
        tasks.abort_all();
        // Connections hold a permit each; wait until they all returned them.
        let total = shared.config.read().maxclients;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, maxclients.acquire_many(total)).await;
        if drained.is_err() {
            tracing::warn!(
                clients = shared.clients.len(),
                "clients still connected at shutdown"
            );
        }
        tracing::info!("Saving the final state to disk before exiting.");
        let commit_shared = shared.clone();
        tokio::task::spawn_blocking(move || commit_shared.commit.shutdown()).await?;
        tracing::warn!("kvstore is now ready to exit, bye bye...");
        Ok(())
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(511)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, maxclients: Arc<Semaphore>) {
    loop {
        let (socket, addr) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        let permit = maxclients.clone().try_acquire_owned();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(permit) = permit else {
                shared
                    .stats
                    .rejected_connections
                    .fetch_add(1, Ordering::Relaxed);
                reject(socket, b"-ERR max number of clients reached\r\n").await;
                return;
            };
            if denied_by_protected_mode(&shared, addr.ip()) {
                reject(socket, crate::cmd::DENIED_MESSAGE.as_bytes()).await;
                return;
            }
            if let Err(e) = configure(&socket, shared.config.read().tcp_keepalive) {
                tracing::debug!("configuring client socket: {e}");
            }
            let laddr = socket.local_addr().unwrap_or(addr);
            let fd = {
                use std::os::fd::AsRawFd;
                socket.as_raw_fd()
            };
            let handle = shared.clients.register(addr, laddr, fd);
            let authenticated = shared.config.read().requirepass.is_none();
            let session = Session::new(handle, authenticated);
            Connection::new(shared.clone(), socket, session).run().await;
            drop(permit);
        });
    }
}

fn denied_by_protected_mode(shared: &Shared, ip: IpAddr) -> bool {
    let config = shared.config.read();
    protected_mode_denies(config.protected_mode, config.requirepass.is_some(), ip)
}

/// Redis refuses non-loopback clients while protected mode is on and no password is set
/// (an IPv4 client on an IPv6 socket counts by its IPv4 address).
fn protected_mode_denies(protected_mode: bool, has_password: bool, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    protected_mode && !has_password && !ip.is_loopback()
}

async fn reject(mut socket: TcpStream, message: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let _ = socket.write_all(message).await;
}

fn configure(socket: &TcpStream, keepalive_secs: u64) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    if keepalive_secs > 0 {
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive_secs))
            .with_interval(Duration::from_secs((keepalive_secs / 3).max(1)));
        socket2::SockRef::from(socket).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// The active half of expiry: keys nobody reads still leave memory and disk.
async fn expire_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EXPIRE_PERIOD);
    loop {
        tick.tick().await;
        while expire_step(&shared) {
            tokio::task::yield_now().await;
        }
        close_idle_clients(&shared);
    }
}

/// Closes clients idle for longer than `timeout` (Redis's clientsCron does the same), so a
/// change of `timeout` applies to connections already waiting too.
fn close_idle_clients(shared: &Shared) {
    let timeout = shared.limits.timeout_secs.load(Ordering::Relaxed);
    if timeout == 0 {
        return;
    }
    let now = Instant::now();
    for client in shared.clients.all() {
        if client.is_blocked() {
            continue;
        }
        let (last_active, subscribed) = {
            let info = client.info.lock();
            (info.last_active, info.is_pubsub())
        };
        // Like Redis, subscribers are never idle: they wait for messages.
        if !subscribed && now.duration_since(last_active).as_secs() >= timeout {
            client.kill();
        }
    }
}

/// One bounded sweep over every database; true if some database had more due keys.
fn expire_step(shared: &Shared) -> bool {
    let now = now_ms();
    let mut ks = shared.keyspace.lock();
    let mut more = false;
    for db in ks.dbs_mut() {
        more |= db.expire_due(now, EXPIRE_BUDGET) == EXPIRE_BUDGET;
    }
    more
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn run_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{protected_mode_denies, pubsub_output_limit};
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

    #[test]
    fn protected_mode_refuses_only_remote_clients_without_a_password() {
        let remote = "192.0.2.7".parse().unwrap();
        let mapped_loopback = "::ffff:127.0.0.1".parse().unwrap();
        assert!(protected_mode_denies(true, false, remote));
        assert!(!protected_mode_denies(true, true, remote));
        assert!(!protected_mode_denies(false, false, remote));
        assert!(!protected_mode_denies(
            true,
            false,
            "127.0.0.5".parse().unwrap()
        ));
        assert!(!protected_mode_denies(true, false, "::1".parse().unwrap()));
        assert!(!protected_mode_denies(true, false, mapped_loopback));
        assert!(protected_mode_denies(
            true,
            false,
            "2001:db8::1".parse().unwrap()
        ));
    }
}
