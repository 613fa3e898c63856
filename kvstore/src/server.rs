//! The server: listeners, the accept loop, the background sweeps and orderly shutdown.
//!
//! Every connection runs on the tokio runtime and executes its commands under one keyspace
//! lock per batch: parsing, encoding and socket I/O run in parallel on all cores while
//! command execution stays serial, which is what makes multi-key commands and (later)
//! transactions atomic exactly as in single-threaded Redis.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::cmd::Session;
use crate::config::Config;
use crate::connection::Connection;
use crate::keyspace::Keyspace;
use crate::persistence::{GroupCommit, Store};
use crate::state::{checkpoint_size, durability, notify, now_ms, Shared};

/// How often the active expiry sweep runs (Redis's default `hz 10`).
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);
/// How long the expiry sweep waits for the keyspace lock before skipping a tick.
const EXPIRE_LOCK_WAIT: Duration = Duration::from_millis(5);
/// Keys one sweep may delete per database before yielding the lock.
const EXPIRE_BUDGET: usize = 200;
/// What Redis writes to a non-loopback client in protected mode before closing it.
const DENIED_MESSAGE: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
/// How long shutdown waits for connections to finish their current batch.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound, ready server: call [`Server::run`] to serve.
pub(crate) struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Opens the data directory, loads it, and binds every configured address.
    pub(crate) async fn bind(config: Config) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.dir).with_context(|| {
            format!("cannot create the data directory {}", config.dir.display())
        })?;
        let baseline_memory = crate::allocator::allocated() as u64;
        let store = Store::open(&config.dir)?;
        let replayed = store.replay_log()?;
        if replayed > 0 {
            tracing::info!(
                commits = replayed,
                "replayed the log left by an unclean shutdown"
            );
        }
        let startup_memory = crate::allocator::allocated() as u64;
        let mut keyspace = Keyspace::new(config.databases as usize);
        // Loaded keys are stamped as accessed now, as Redis stamps the objects it loads.
        let memory = crate::state::MemorySettings::new(&config);
        keyspace.set_access_clock(memory.access(), now_ms());
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
        let commit = GroupCommit::start(
            store,
            keyspace.clone(),
            durability(&config),
            checkpoint_size(&config),
            written,
        )?;

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
        let shared = Arc::new(Shared::new(config, keyspace, commit, port));
        crate::cmd::load_users_at_startup(&shared).map_err(anyhow::Error::msg)?;
        shared
            .limits()
            .memory()
            .set_startup(baseline_memory, startup_memory);
        Ok(Server { shared, listeners })
    }

    /// Addresses actually bound.
    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until shutdown is requested (SHUTDOWN, or `stop` resolving), then drains the
    /// connections and makes everything durable.
    pub(crate) async fn run(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let shared = self.shared;
        let maxclients = Arc::new(Semaphore::new(shared.config().maxclients as usize));
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            tasks.spawn(accept_loop(shared.clone(), listener, maxclients.clone()));
        }
        tasks.spawn(expire_loop(shared.clone()));
        tasks.spawn(replication_cron(shared.clone()));
        tasks.spawn(crate::master_link::run(shared.clone()));
        if let Some(budget) = crate::busy_poll::budget() {
            let shared = shared.clone();
            tasks.spawn(async move {
                crate::busy_poll::poller(shared.stats().commands_counter(), budget).await
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
        // The link to a master stops applying its stream before the position is read below.
        while tasks.join_next().await.is_some() {}
        // Connections hold a permit each; wait until they all returned them.
        let total = shared.config().maxclients;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, maxclients.acquire_many(total)).await;
        if drained.is_err() {
            tracing::warn!(
                clients = shared.clients().len(),
                "clients still connected at shutdown"
            );
        }
        tracing::info!("Saving the final state to disk before exiting.");
        let commit_shared = shared.clone();
        tokio::task::spawn_blocking(move || commit_shared.commit().shutdown()).await?;
        // A replica's position, so that its restart continues with PSYNC.
        let position = shared.replication().saved_position();
        crate::state::save_position(&shared.config().dir, position);
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
        shared.stats().connection_received();
        let permit = maxclients.clone().try_acquire_owned();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(permit) = permit else {
                shared.stats().connection_rejected();
                reject(socket, b"-ERR max number of clients reached\r\n").await;
                return;
            };
            if denied_by_protected_mode(&shared, addr.ip()) {
                reject(socket, DENIED_MESSAGE.as_bytes()).await;
                return;
            }
            if let Err(e) = configure(&socket, shared.config().tcp_keepalive) {
                tracing::debug!("configuring client socket: {e}");
            }
            let laddr = socket.local_addr().unwrap_or(addr);
            let fd = {
                use std::os::fd::AsRawFd;
                socket.as_raw_fd()
            };
            let handle = shared.clients().register(addr, laddr, fd);
            let authenticated = !shared.acl().auth_required();
            let session = Session::new(handle, authenticated);
            Connection::new(shared.clone(), socket, session).run().await;
            drop(permit);
        });
    }
}

fn denied_by_protected_mode(shared: &Shared, ip: IpAddr) -> bool {
    // Redis asks whether the default user needs a password, whatever set it.
    let has_password = shared
        .acl()
        .read()
        .get(b"default")
        .is_some_and(|d| !d.nopass);
    protected_mode_denies(shared.config().protected_mode, has_password, ip)
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

/// Redis's `replicationCron` for a master: a `PING` into the stream every
/// `repl-ping-replica-period` seconds while replicas are attached, so they can tell a silent
/// master from a dead link; and, every tenth of a second, the progress of a FAILOVER
/// (during which no PING is sent: it would move the offset a replica must reach).
async fn replication_cron(shared: Arc<Shared>) {
    const TICK: Duration = Duration::from_millis(100);
    let mut tick = tokio::time::interval(TICK);
    let mut loops = 0u64;
    let ping = [bytes::Bytes::from_static(b"PING")];
    loop {
        tick.tick().await;
        loops += 1;
        let replication = shared.replication();
        if replication.failing_over() {
            replication.failover_step(shared.pause());
            continue;
        }
        let period: u64 = (shared.config().value("repl-ping-replica-period"))
            .parse()
            .unwrap_or(10);
        if loops % (period.max(1) * 10) == 0 && replication.has_replicas() {
            replication.feed([(None, &ping[..])]);
        }
    }
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
    let timeout = shared.limits().timeout_secs();
    if timeout == 0 {
        return;
    }
    let now = Instant::now();
    for client in shared.clients().all() {
        if client.is_blocked() {
            continue;
        }
        let (last_active, subscribed) = {
            let info = client.info.lock();
            (
                info.last_active,
                info.is_pubsub() || info.monitor || info.master,
            )
        };
        // Like Redis, subscribers are never idle: they wait for messages.
        if !subscribed && now.duration_since(last_active).as_secs() >= timeout {
            client.kill();
        }
    }
}

/// One bounded sweep over every database; true if some database had more due keys.
fn expire_step(shared: &Shared) -> bool {
    // DEBUG SET-ACTIVE-EXPIRE 0, or a CLIENT PAUSE (Redis expires nothing while paused).
    // A replica leaves expiry to its master, which sends a `DEL` (Redis runs the active
    // cycle on masters only).
    if !shared.introspection().active_expire()
        || shared.pause().holds(|| true)
        || shared.replication().is_replica()
    {
        return false;
    }
    let now = now_ms();
    // A script may hold the keyspace for seconds: rather than stall this worker (the only
    // one with `io-threads 1`, which must go on serving BUSY and SCRIPT KILL), the sweep
    // skips its turn and tries again at the next tick.
    let Some(mut ks) = shared.try_lock_keyspace(EXPIRE_LOCK_WAIT) else {
        return false;
    };
    let mut more = false;
    notify::record(&mut ks, shared.notify_classes());
    ks.record_deletions(shared.replication().active());
    ks.track_modified(shared.tracking().active());
    for db in ks.dbs_mut() {
        more |= db.expire_due(now, EXPIRE_BUDGET) == EXPIRE_BUDGET;
    }
    // An eviction cycle that ran out of time goes on here (Redis's `evictionTimeProc`).
    if ks.eviction_running() {
        shared.perform_evictions(&mut ks);
    }
    // An expired stream releases its XREADGROUP waiters (Redis serves them before sleeping).
    let served = match shared.blocked().is_empty() {
        true => Vec::new(),
        false => shared.blocked().serve_ready(&mut ks),
    };
    crate::cmd::propagate_background(shared, &mut ks, served);
    shared.publish_key_events(&mut ks);
    shared.invalidate_modified(&mut ks, None);
    drop(ks);
    shared.broadcast_invalidations();
    more
}

#[cfg(test)]
mod tests {
    use super::protected_mode_denies;

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
