//! Connected clients: what CLIENT LIST shows and how CLIENT KILL reaches another connection.
//!
//! Each connection owns its [`Session`]; a shared [`ClientHandle`] mirrors the fields other
//! connections may read, refreshed once per batch of commands rather than per command.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::cmd::CommandSpec;
use crate::pubsub::Outbox;

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
    /// Commands queued since MULTI, -1 outside MULTI.
    pub multi: i64,
}

impl ClientInfo {
    /// Subscribed to anything: CLIENT LIST / KILL's type `pubsub`.
    pub fn is_pubsub(&self) -> bool {
        self.sub + self.psub > 0
    }
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
        if info.is_pubsub() {
            flags.push('P');
        }
        if info.multi >= 0 {
            flags.push('x');
        }
        if self.is_blocked() {
            flags.push('b');
        }
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
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
             cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
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
            info.multi,
            info.last_cmd,
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
                multi: -1,
            }),
            killed: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            socket_open: Mutex::new(true),
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

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn kill_all(&self) {
        self.clients.lock().values().for_each(|c| c.kill());
    }
}

/// Per-connection state that commands read and change (the selected database, the protocol
/// version, authentication, a transaction being queued, watched keys, subscriptions).
#[derive(Debug)]
pub struct Session {
    pub handle: Arc<ClientHandle>,
    pub db: usize,
    pub resp: u8,
    pub authenticated: bool,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    /// Between MULTI and EXEC/DISCARD (and while EXEC runs the queue).
    pub multi: Option<Transaction>,
    /// Keys under WATCH: database, key, version seen at WATCH.
    pub watched: Vec<(usize, Bytes, u64)>,
    pub subscriptions: Subscriptions,
}

/// A transaction being queued (MULTI) or executed (EXEC).
#[derive(Debug, Default)]
pub struct Transaction {
    pub queue: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    pub aborted: bool,
}

/// A connection's channel and pattern subscriptions, and the queue its messages arrive in.
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    /// Created at the first subscription; kept afterwards so queued messages still leave.
    pub outbox: Option<Arc<Outbox>>,
}

impl Subscriptions {
    /// The count SUBSCRIBE and friends report.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

impl Session {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Session {
        Session {
            handle,
            db: 0,
            resp: 2,
            authenticated,
            name: None,
            lib_name: None,
            lib_ver: None,
            multi: None,
            watched: Vec::new(),
            subscriptions: Subscriptions::default(),
        }
    }

    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Switches the protocol version; messages published from now on are framed for it.
    pub fn set_resp(&mut self, resp: u8) {
        self.resp = resp;
        if let Some(outbox) = &self.subscriptions.outbox {
            outbox.set_resp(resp);
        }
    }

    /// Inside MULTI or running EXEC's queue: blocking commands must answer at once, as in
    /// Redis, where a transaction never blocks.
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Subscribed in RESP2: only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET run.
    pub fn in_subscribed_mode(&self) -> bool {
        self.resp == 2 && self.subscriptions.count() > 0
    }

    /// Publishes the session's fields for CLIENT LIST.
    pub fn publish(&self, last_cmd: &str) {
        let mut info = self.handle.info.lock();
        info.db = self.db;
        info.resp = self.resp;
        info.last_active = Instant::now();
        info.sub = self.subscriptions.channels.len();
        info.psub = self.subscriptions.patterns.len();
        info.multi = self.multi.as_ref().map_or(-1, |tx| tx.queue.len() as i64);
        if info.last_cmd != last_cmd {
            info.last_cmd = last_cmd.to_owned();
        }
        if info.name != self.name {
            info.name = self.name.clone();
        }
        if info.lib_name != self.lib_name || info.lib_ver != self.lib_ver {
            info.lib_name = self.lib_name.clone();
            info.lib_ver = self.lib_ver.clone();
        }
    }
}
