//! Connected clients: what CLIENT LIST shows and how CLIENT KILL reaches another connection.
//!
//! Each connection owns its session (`cmd::Session`); a shared [`ClientHandle`] mirrors the
//! fields other connections may read, refreshed once per batch of commands rather than per
//! command. This module knows nothing of commands or sockets beyond a descriptor to shut.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

/// The fields of a client that CLIENT LIST / CLIENT INFO report.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub db: usize,
    pub resp: u8,
    pub last_cmd: String,
    pub last_active: Instant,
    /// Channel and pattern subscriptions.
    pub sub: usize,
    pub psub: usize,
    /// Shard channel subscriptions (SSUBSCRIBE).
    pub ssub: usize,
    /// In MONITOR mode (flag `O`; like Redis's replicas, never idle).
    pub monitor: bool,
    /// Commands queued since MULTI, -1 outside MULTI.
    pub multi: i64,
    /// The ACL user the client is authenticated as (`None`: `default`).
    pub user: Option<Bytes>,
    /// A replica's connection after its sync (flag `S`, type `replica`).
    pub replica: bool,
    /// A replica's link to its master (flag `M`, type `master`).
    pub master: bool,
}

impl ClientInfo {
    /// Subscribed to anything: CLIENT LIST / KILL's type `pubsub`.
    pub fn is_pubsub(&self) -> bool {
        self.sub + self.psub + self.ssub > 0
    }
}

/// What CLIENT LIST shows of a client's client-side caching: flags `t`, `R` and `B`, and
/// `redir=`. Kept up to date by the tracking table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrackingView {
    pub on: bool,
    pub broken_redirect: bool,
    pub bcast: bool,
    pub redirect: u64,
}

/// A connection as the rest of the server sees it.
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    pub info: Mutex<ClientInfo>,
    killed: AtomicBool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`; exempt from the idle timeout).
    blocked: AtomicBool,
    /// Whether `fd` still belongs to this connection; guards the shutdown(2) in `kill`.
    socket_open: Mutex<bool>,
    pub tracking: Mutex<TrackingView>,
}

impl ClientHandle {
    /// Makes the connection close after its current batch: its pending read sees end of
    /// stream. Shutting the socket's read side down from here keeps the connection's hot path
    /// free of any extra wake-up source to poll on every read.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        let open = self.socket_open.lock();
        if *open {
            // SAFETY: `fd` is this connection's socket while `socket_open` is true, and the
            // connection clears it (under this lock) before closing the socket.
            unsafe { libc::shutdown(self.fd, libc::SHUT_RD) };
        }
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Called by the connection right before it closes its socket.
    pub fn socket_closing(&self) {
        *self.socket_open.lock() = false;
    }

    /// One CLIENT LIST line (without the newline), in Redis 7's field order.
    pub fn describe(&self, now: Instant) -> String {
        let info = self.info.lock();
        let mut flags = String::new();
        if info.monitor {
            flags.push('O');
        } else if info.replica {
            flags.push('S');
        } else if info.master {
            flags.push('M');
        }
        if info.is_pubsub() {
            flags.push('P');
        }
        if info.multi >= 0 {
            flags.push('x');
        }
        if self.is_blocked() {
            flags.push('b');
        }
        let tracking = *self.tracking.lock();
        for (on, flag) in [
            (tracking.on, 't'),
            (tracking.broken_redirect, 'R'),
            (tracking.bcast, 'B'),
        ] {
            if on {
                flags.push(flag);
            }
        }
        let redir = if tracking.on {
            tracking.redirect as i64
        } else {
            -1
        };
        if flags.is_empty() {
            flags.push('N');
        }
        let text = |b: &Option<Bytes>| {
            b.as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned()
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
             cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            fmt_addr(self.addr),
            fmt_addr(self.laddr),
            self.fd,
            text(&info.name),
            now.duration_since(self.created).as_secs(),
            now.duration_since(info.last_active).as_secs(),
            flags,
            info.db,
            info.sub,
            info.psub,
            info.ssub,
            info.multi,
            info.last_cmd,
            info.user.as_deref().map_or("default".into(), String::from_utf8_lossy),
            redir,
            info.resp,
            text(&info.lib_name),
            text(&info.lib_ver),
        )
    }
}

/// `ip:port` as Redis prints it (IPv6 without brackets).
pub fn fmt_addr(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// Every connected client by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
}

impl ClientRegistry {
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, fd: i32) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: now,
            info: Mutex::new(ClientInfo {
                name: None,
                lib_name: None,
                lib_ver: None,
                db: 0,
                resp: 2,
                last_cmd: "NULL".into(),
                last_active: now,
                sub: 0,
                psub: 0,
                ssub: 0,
                monitor: false,
                replica: false,
                master: false,
                multi: -1,
                user: None,
            }),
            killed: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            socket_open: Mutex::new(true),
            tracking: Mutex::new(TrackingView::default()),
        });
        self.clients.lock().insert(id, handle.clone());
        handle
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// A snapshot of all clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn kill_all(&self) {
        self.clients.lock().values().for_each(|c| c.kill());
    }
}
