//! Replication, the master's side (Redis's `replication.c`): the replication id and offset,
//! the backlog, the replicas attached and what each acknowledged.
//!
//! The write stream is RESP commands: [`Replication::feed`] encodes one (after a `SELECT` when
//! its database differs from the stream's), appends it to the backlog, counts its bytes into
//! `master_repl_offset` and queues it for every replica's connection. A replica that asks
//! `PSYNC <replid> <offset>` for an offset still in the backlog gets only what it missed
//! ([`Replication::resume`]); any other gets a snapshot ([`Replication::attach`]), taken by
//! the caller under the same keyspace lock as the registration, so no write falls between.
//!
//! Invariant: until the first replica asks to sync (Redis creates the backlog then), nothing
//! is recorded and [`Replication::active`] is false: commands pay one atomic load for
//! replication. Lock order: the keyspace, then this.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::pubsub::OutputLimit;

/// A replica's part of the stream: its connection writes what arrives and reports what it
/// wrote, so that a replica that stops reading is dropped at its output buffer limit
/// (`client-output-buffer-limit replica`) instead of growing the master without bound.
#[derive(Debug)]
pub(crate) struct Feed {
    rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicU64>,
}

impl Feed {
    /// The next bytes of the stream; `None` once the replica was dropped.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// More bytes, if some are already waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        self.rx.try_recv().ok()
    }

    /// `n` bytes reached the socket.
    pub(crate) fn written(&self, n: usize) {
        self.queued.fetch_sub(n as u64, Ordering::Relaxed);
    }
}

/// The replication state of a master.
pub(crate) struct Replication {
    active: AtomicBool,
    inner: Mutex<Inner>,
    /// Woken whenever a replica acknowledges an offset (WAIT waits on it).
    acked: Notify,
    /// `repl-backlog-size`, for the backlog created by the first replica.
    backlog_size: AtomicUsize,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (0: no check).
    min_replicas: AtomicUsize,
    min_replicas_max_lag: AtomicUsize,
}

struct Inner {
    replid: String,
    replid2: String,
    /// Bytes ever fed into the stream (`master_repl_offset`).
    offset: u64,
    second_offset: i64,
    backlog: Option<Backlog>,
    /// The database the stream last selected; `None` forces a `SELECT` before the next command.
    stream_db: Option<usize>,
    replicas: Vec<Replica>,
    output_limit: OutputLimit,
    sync_full: u64,
    sync_partial_ok: u64,
    sync_partial_err: u64,
}

/// The last `repl-backlog-size` bytes of the stream.
struct Backlog {
    data: VecDeque<u8>,
    size: usize,
    /// The offset of `data[0]` (`repl_backlog_first_byte_offset`).
    first_byte_offset: u64,
}

/// One attached replica.
struct Replica {
    client: u64,
    /// The address it announced (`REPLCONF ip-address`) or its peer address.
    ip: String,
    /// `REPLCONF listening-port`.
    port: u16,
    online: bool,
    ack_offset: u64,
    ack_at: Instant,
    tx: mpsc::UnboundedSender<Bytes>,
    /// Bytes fed and not yet written to its socket.
    queued: Arc<AtomicU64>,
    /// Since when `queued` has been over the soft limit.
    over_soft_since: Option<Instant>,
}

/// What a replica announced during its handshake (`REPLCONF`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaInfo {
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) capa_eof: bool,
    pub(crate) capa_psync2: bool,
}

/// One attached replica as INFO and ROLE show it.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaView {
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) online: bool,
    pub(crate) offset: u64,
    pub(crate) lag_secs: u64,
}

/// The figures of INFO replication.
#[derive(Debug, Clone)]
pub(crate) struct ReplicationView {
    pub(crate) replid: String,
    pub(crate) replid2: String,
    pub(crate) offset: u64,
    pub(crate) second_offset: i64,
    pub(crate) backlog_active: bool,
    pub(crate) backlog_size: usize,
    pub(crate) backlog_first_byte_offset: u64,
    pub(crate) backlog_histlen: usize,
    pub(crate) replicas: Vec<ReplicaView>,
    pub(crate) sync_full: u64,
    pub(crate) sync_partial_ok: u64,
    pub(crate) sync_partial_err: u64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            active: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                replid: random_replid(),
                replid2: "0".repeat(40),
                offset: 0,
                second_offset: -1,
                backlog: None,
                stream_db: None,
                replicas: Vec::new(),
                output_limit: OutputLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_secs: 60,
                },
                sync_full: 0,
                sync_partial_ok: 0,
                sync_partial_err: 0,
            }),
            acked: Notify::new(),
            backlog_size: AtomicUsize::new(1024 * 1024),
            min_replicas: AtomicUsize::new(0),
            min_replicas_max_lag: AtomicUsize::new(10),
        }
    }
}

/// A new replication id: 40 random hex digits, as Redis's `changeReplicationId`.
pub(crate) fn random_replid() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect()
}

/// RESP multibulk of `argv`, as the stream carries commands.
pub(crate) fn encode_command(argv: &[Bytes], out: &mut BytesMut) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for arg in argv {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

impl Replication {
    /// Whether the stream is recorded (a replica synced once: the backlog exists).
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Appends commands executed in database `db` (or, for `None`, in whatever database the
    /// stream is in: PING, REPLCONF GETACK) to the stream. Returns the offset after them.
    pub(crate) fn feed<'a>(
        &self,
        commands: impl IntoIterator<Item = (Option<usize>, &'a [Bytes])>,
    ) -> u64 {
        let mut inner = self.inner.lock();
        let mut out = BytesMut::new();
        for (db, argv) in commands {
            if let Some(db) = db {
                if inner.stream_db != Some(db) {
                    let select = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
                    encode_command(&select, &mut out);
                    inner.stream_db = Some(db);
                }
            }
            encode_command(argv, &mut out);
        }
        inner.append(out.freeze())
    }

    /// Registers a replica for a full resync and returns the id and offset to announce
    /// (`+FULLRESYNC <replid> <offset>`) and its feed. The caller holds the keyspace lock and
    /// takes the snapshot before releasing it.
    pub(crate) fn attach(&self, client: u64, info: &ReplicaInfo) -> (String, u64, Feed) {
        let mut inner = self.inner.lock();
        inner.create_backlog_if_needed(self);
        // The replica starts from the snapshot's state: the stream selects again.
        inner.stream_db = None;
        inner.sync_full += 1;
        let rx = inner.register(client, info);
        (inner.replid.clone(), inner.offset, rx)
    }

    /// Redis's `masterTryPartialResynchronization`: the bytes after `offset` if the backlog
    /// still holds them for `replid`, with the replica registered; `None` (counted as a
    /// failed partial sync when the replica asked for one) when a full resync is needed.
    pub(crate) fn resume(
        &self,
        client: u64,
        info: &ReplicaInfo,
        replid: &[u8],
        offset: i64,
    ) -> Option<(String, Bytes, Feed)> {
        let mut inner = self.inner.lock();
        let wanted = replid != b"?";
        let same_history = replid.eq_ignore_ascii_case(inner.replid.as_bytes())
            || (replid.eq_ignore_ascii_case(inner.replid2.as_bytes())
                && offset <= inner.second_offset);
        let missing = match (&inner.backlog, same_history) {
            (Some(backlog), true)
                if offset >= backlog.first_byte_offset as i64
                    && offset <= (backlog.first_byte_offset + backlog.data.len() as u64) as i64 =>
            {
                let skip = (offset as u64 - backlog.first_byte_offset) as usize;
                let (a, b) = backlog.data.as_slices();
                let mut bytes = Vec::with_capacity(backlog.data.len() - skip);
                if skip < a.len() {
                    bytes.extend_from_slice(&a[skip..]);
                    bytes.extend_from_slice(b);
                } else {
                    bytes.extend_from_slice(&b[skip - a.len()..]);
                }
                Some(Bytes::from(bytes))
            }
            _ => None,
        };
        let Some(missing) = missing else {
            if wanted {
                inner.sync_partial_err += 1;
            }
            return None;
        };
        inner.sync_partial_ok += 1;
        let rx = inner.register(client, info);
        if let Some(replica) = inner.replicas.last_mut() {
            replica.online = true;
        }
        Some((inner.replid.clone(), missing, rx))
    }

    /// The snapshot reached the replica: it is online.
    pub(crate) fn online(&self, client: u64) {
        let mut inner = self.inner.lock();
        if let Some(r) = inner.replicas.iter_mut().find(|r| r.client == client) {
            r.online = true;
            r.ack_at = Instant::now();
        }
    }

    /// `REPLCONF ACK <offset>` from a replica.
    pub(crate) fn ack(&self, client: u64, offset: u64) {
        let mut inner = self.inner.lock();
        if let Some(r) = inner.replicas.iter_mut().find(|r| r.client == client) {
            r.ack_offset = r.ack_offset.max(offset);
            r.ack_at = Instant::now();
        }
        drop(inner);
        self.acked.notify_waiters();
    }

    /// The replica's connection ended.
    pub(crate) fn detach(&self, client: u64) {
        self.inner.lock().replicas.retain(|r| r.client != client);
        self.acked.notify_waiters();
    }

    /// How many replicas are attached (any state).
    pub(crate) fn replica_count(&self) -> usize {
        self.inner.lock().replicas.len()
    }

    /// How many replicas acknowledged at least `offset` (Redis's
    /// `replicationCountAcksByOffset`).
    pub(crate) fn acked_at_least(&self, offset: u64) -> usize {
        let inner = self.inner.lock();
        (inner.replicas.iter())
            .filter(|r| r.online && r.ack_offset >= offset)
            .count()
    }

    /// Resolves at the next acknowledgement (or departure) of a replica.
    pub(crate) fn acked(&self) -> &Notify {
        &self.acked
    }

    /// Whether any replica is attached, for the periodic PING.
    pub(crate) fn has_replicas(&self) -> bool {
        !self.inner.lock().replicas.is_empty()
    }

    /// DEBUG CHANGE-REPL-ID: a new id, the old one forgotten (Redis's `changeReplicationId`
    /// then `clearReplicationId2`).
    pub(crate) fn change_replid(&self) {
        let mut inner = self.inner.lock();
        inner.replid = random_replid();
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
    }

    /// What INFO replication and ROLE show.
    pub(crate) fn view(&self) -> ReplicationView {
        let backlog_size = self.backlog_size.load(Ordering::Relaxed);
        let inner = self.inner.lock();
        let now = Instant::now();
        ReplicationView {
            replid: inner.replid.clone(),
            replid2: inner.replid2.clone(),
            offset: inner.offset,
            second_offset: inner.second_offset,
            backlog_active: inner.backlog.is_some(),
            backlog_size: inner.backlog.as_ref().map_or(backlog_size, |b| b.size),
            backlog_first_byte_offset: inner.backlog.as_ref().map_or(0, |b| b.first_byte_offset),
            backlog_histlen: inner.backlog.as_ref().map_or(0, |b| b.data.len()),
            replicas: (inner.replicas.iter())
                .map(|r| ReplicaView {
                    ip: r.ip.clone(),
                    port: r.port,
                    online: r.online,
                    offset: r.ack_offset,
                    lag_secs: now.duration_since(r.ack_at).as_secs(),
                })
                .collect(),
            sync_full: inner.sync_full,
            sync_partial_ok: inner.sync_partial_ok,
            sync_partial_err: inner.sync_partial_err,
        }
    }

    /// `min-replicas-to-write` and `min-replicas-max-lag` (at start-up and on CONFIG SET).
    pub(crate) fn set_min_replicas(&self, to_write: usize, max_lag: usize) {
        self.min_replicas.store(to_write, Ordering::Relaxed);
        self.min_replicas_max_lag.store(max_lag, Ordering::Relaxed);
    }

    /// Redis's `checkGoodReplicasStatus` failing: `min-replicas-to-write` is set and fewer
    /// online replicas acknowledged within `min-replicas-max-lag` seconds. One atomic load
    /// while the option is off.
    pub(crate) fn too_few_good_replicas(&self) -> bool {
        let wanted = self.min_replicas.load(Ordering::Relaxed);
        let max_lag = self.min_replicas_max_lag.load(Ordering::Relaxed) as u64;
        if wanted == 0 || max_lag == 0 {
            return false;
        }
        let inner = self.inner.lock();
        let now = Instant::now();
        let good = (inner.replicas.iter())
            .filter(|r| r.online && now.duration_since(r.ack_at).as_secs() <= max_lag)
            .count();
        good < wanted
    }

    /// `client-output-buffer-limit`'s replica class (at start-up and on CONFIG SET).
    pub(crate) fn set_output_limit(&self, limit: OutputLimit) {
        self.inner.lock().output_limit = limit;
    }

    /// `repl-backlog-size` (at start-up and on CONFIG SET): the backlog's size, now or when
    /// it is created.
    pub(crate) fn set_backlog_size(&self, size: usize) {
        self.backlog_size.store(size, Ordering::Relaxed);
        let mut inner = self.inner.lock();
        if let Some(backlog) = inner.backlog.as_mut() {
            backlog.size = size.max(1);
            backlog.trim();
        }
    }
}

impl Inner {
    fn create_backlog_if_needed(&mut self, owner: &Replication) {
        if self.backlog.is_none() {
            self.backlog = Some(Backlog {
                data: VecDeque::new(),
                size: owner.backlog_size.load(Ordering::Relaxed).max(1),
                first_byte_offset: self.offset + 1,
            });
            owner.active.store(true, Ordering::Relaxed);
        }
    }

    fn register(&mut self, client: u64, info: &ReplicaInfo) -> Feed {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicU64::new(0));
        self.replicas.retain(|r| r.client != client);
        self.replicas.push(Replica {
            client,
            ip: info.ip.clone(),
            port: info.port,
            online: false,
            ack_offset: 0,
            ack_at: Instant::now(),
            tx,
            queued: queued.clone(),
            over_soft_since: None,
        });
        Feed { rx, queued }
    }

    /// Adds `bytes` to the stream: offset, backlog, every replica's feed.
    fn append(&mut self, bytes: Bytes) -> u64 {
        let Some(backlog) = self.backlog.as_mut() else {
            return self.offset;
        };
        if backlog.data.is_empty() {
            backlog.first_byte_offset = self.offset + 1;
        }
        self.offset += bytes.len() as u64;
        backlog.data.extend(bytes.iter());
        backlog.trim();
        // A replica whose connection is gone, or that is over its output buffer limit, is
        // dropped here (its connection then ends); its task detaches it too.
        let limit = self.output_limit;
        let now = Instant::now();
        self.replicas.retain_mut(|r| {
            let queued = r.queued.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let queued = queued + bytes.len() as u64;
            let over_soft = limit.soft > 0 && queued > limit.soft;
            let since = match over_soft {
                true => *r.over_soft_since.get_or_insert(now),
                false => {
                    r.over_soft_since = None;
                    now
                }
            };
            let over = (limit.hard > 0 && queued > limit.hard)
                || (over_soft && now.duration_since(since).as_secs() > limit.soft_secs);
            if over {
                tracing::warn!(
                    "Client id={} addr={}:{} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    r.client,
                    r.ip,
                    r.port
                );
                return false;
            }
            r.tx.send(bytes.clone()).is_ok()
        });
        self.offset
    }
}

impl Backlog {
    fn trim(&mut self) {
        if self.data.len() > self.size {
            let excess = self.data.len() - self.size;
            self.data.drain(..excess);
            self.first_byte_offset += excess as u64;
        }
    }
}
