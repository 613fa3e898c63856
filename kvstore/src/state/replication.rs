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
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch, Notify};

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
    /// Whether this server follows a master (`REPLICAOF host port`): one load for dispatch's
    /// read-only check.
    replica: AtomicBool,
    /// `replica-read-only`.
    read_only: AtomicBool,
    /// `replica-serve-stale-data`.
    serve_stale: AtomicBool,
    /// The link to the master is up (synced and streaming).
    link_up: AtomicBool,
    /// The master to follow, watched by the link task (`master_link.rs`).
    target: watch::Sender<Option<MasterAddr>>,
}

/// The master a replica follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MasterAddr {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Where a replica's link to its master stands (Redis's `repl_state`, as ROLE names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Waiting to connect (after a failure, or right after REPLICAOF).
    Connect,
    /// Connecting the socket.
    Connecting,
    /// Connected, in the handshake (up to the answer to PSYNC).
    Handshake,
    /// Receiving the snapshot.
    Sync,
    /// Applying the stream.
    Connected,
}

impl LinkState {
    /// ROLE's name for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// A replica's side: the master it follows and its link's state.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub(crate) master: MasterAddr,
    pub(crate) state: LinkState,
    /// The last time the master sent something (`master_last_io_seconds_ago`).
    pub(crate) last_io: Instant,
    /// Since when the link is down (`master_link_down_since_seconds`); `None` before the
    /// first attempt, as Redis's `repl_down_since` 0.
    pub(crate) down_since: Option<Instant>,
    /// Whether a master client exists (the link synced at least once since REPLICAOF).
    pub(crate) has_master_client: bool,
    /// Bytes read of the stream beyond the offset applied (`slave_read_repl_offset`).
    pub(crate) unapplied: u64,
    /// No history to continue: PSYNC asks `? -1` (the `replicaof` directive at start-up,
    /// before the first sync).
    pub(crate) no_history: bool,
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
    /// Set while this server is a replica.
    upstream: Option<Upstream>,
    /// The database the master's stream is in (a replica's master client's), kept across
    /// reconnections: a `+CONTINUE` goes on without a `SELECT`.
    master_db: usize,
    /// A FAILOVER under way.
    failover: Option<Failover>,
}

/// A coordinated failover (FAILOVER; Redis's `failover_state` and its companions).
#[derive(Debug, Clone)]
struct Failover {
    /// The replica to hand over to: `TO host port`, else the first one caught up.
    target: Option<MasterAddr>,
    /// `TIMEOUT`: when waiting for a replica to catch up stops.
    deadline: Option<Instant>,
    /// `FORCE`: at the deadline, hand over anyway.
    force: bool,
    /// `PSYNC ... FAILOVER` is on its way to the target (`failover-in-progress`); before,
    /// writes are held until a replica acknowledged everything (`waiting-for-sync`).
    in_progress: bool,
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
    /// `REPLCONF rdb-only 1` (`redis-cli --rdb`): the snapshot, then the connection closes.
    pub(crate) rdb_only: bool,
    /// `REPLCONF rdb-filter-only`: what the snapshot leaves out.
    pub(crate) exclude_data: bool,
    pub(crate) exclude_functions: bool,
    /// It sent a `REPLCONF ACK` since it synced.
    pub(crate) acked: bool,
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
    /// The master followed, when a replica.
    pub(crate) upstream: Option<Upstream>,
    pub(crate) read_only: bool,
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
                upstream: None,
                master_db: 0,
                failover: None,
            }),
            acked: Notify::new(),
            backlog_size: AtomicUsize::new(1024 * 1024),
            min_replicas: AtomicUsize::new(0),
            min_replicas_max_lag: AtomicUsize::new(10),
            replica: AtomicBool::new(false),
            read_only: AtomicBool::new(true),
            serve_stale: AtomicBool::new(true),
            link_up: AtomicBool::new(false),
            target: watch::Sender::new(None),
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
    let mut digits = itoa::Buffer::new();
    out.reserve(16 + argv.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(b"*");
    out.extend_from_slice(digits.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in argv {
        out.extend_from_slice(b"$");
        out.extend_from_slice(digits.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
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
        if inner.upstream.is_some() {
            // A replica's stream is its master's, proxied as it arrives (`proxy`).
            return inner.offset;
        }
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
            upstream: inner.upstream.clone(),
            read_only: self.read_only.load(Ordering::Relaxed),
        }
    }

    /// Whether dispatch refuses writes from ordinary clients: a replica under
    /// `replica-read-only yes`. One atomic load on a master.
    pub(crate) fn refuses_writes(&self) -> bool {
        self.replica.load(Ordering::Relaxed) && self.read_only.load(Ordering::Relaxed)
    }

    /// Whether this server follows a master.
    pub(crate) fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Relaxed)
    }

    /// Whether dispatch refuses commands without the `stale` flag: a replica whose link is
    /// down, under `replica-serve-stale-data no` (Redis's `MASTERDOWN`).
    pub(crate) fn refuses_stale(&self) -> bool {
        self.replica.load(Ordering::Relaxed)
            && !self.serve_stale.load(Ordering::Relaxed)
            && !self.link_up.load(Ordering::Relaxed)
    }

    /// `replica-serve-stale-data` (at start-up and on CONFIG SET).
    pub(crate) fn set_serve_stale(&self, serve: bool) {
        self.serve_stale.store(serve, Ordering::Relaxed);
    }

    /// `replica-read-only` (at start-up and on CONFIG SET).
    pub(crate) fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, Ordering::Relaxed);
    }

    /// REPLICAOF host port (Redis's `replicationSetMaster`): follow `master` from now on.
    /// Replicas attached to this server are dropped, so that they sync again with the new
    /// history. Returns false when it already follows that master.
    pub(crate) fn follow(&self, master: MasterAddr) -> bool {
        self.follow_with(master, false)
    }

    /// The `replicaof` directive: follow `master` from start-up, asking for a full sync
    /// (`PSYNC ? -1`), as Redis does without a saved history.
    pub(crate) fn follow_from_start(&self, master: MasterAddr) {
        self.follow_with(master, true);
    }

    fn follow_with(&self, master: MasterAddr, no_history: bool) -> bool {
        let mut inner = self.inner.lock();
        if (inner.upstream.as_ref()).is_some_and(|u| u.master == master) {
            return false;
        }
        inner.upstream = Some(Upstream {
            master: master.clone(),
            state: LinkState::Connect,
            last_io: Instant::now(),
            down_since: None,
            has_master_client: false,
            unapplied: 0,
            no_history,
        });
        inner.replicas.clear();
        self.link_up.store(false, Ordering::Relaxed);
        self.replica.store(true, Ordering::Relaxed);
        drop(inner);
        self.target.send_replace(Some(master));
        true
    }

    /// REPLICAOF NO ONE (Redis's `replicationUnsetMaster`): a master again, keeping the data;
    /// the master's history becomes the second id (`shiftReplicationId`), so replicas of the
    /// old master can continue with this one. Returns false when it was no replica.
    pub(crate) fn unfollow(&self) -> bool {
        let mut inner = self.inner.lock();
        if inner.upstream.take().is_none() {
            return false;
        }
        inner.replid2 = std::mem::replace(&mut inner.replid, random_replid());
        inner.second_offset = inner.offset as i64 + 1;
        inner.stream_db = None;
        inner.replicas.clear();
        self.replica.store(false, Ordering::Relaxed);
        drop(inner);
        self.target.send_replace(None);
        true
    }

    /// Where a replica's history stands, for a clean shutdown to save (Redis keeps it in the
    /// RDB file's aux fields): (replid, offset, the stream's database); `None` on a master or
    /// before the first sync. Read once the link stopped, with the keyspace as persisted.
    pub(crate) fn saved_position(&self) -> Option<(String, u64, usize)> {
        let inner = self.inner.lock();
        let up = inner.upstream.as_ref()?;
        (!up.no_history).then(|| (inner.replid.clone(), inner.offset, inner.master_db))
    }

    /// At start-up, with the `replicaof` directive: the position a clean shutdown saved, so
    /// the first PSYNC continues from it (`+CONTINUE` when the master's backlog still
    /// holds what followed) instead of asking for a full sync.
    pub(crate) fn restore_position(&self, replid: &str, offset: u64, master_db: usize) {
        let mut inner = self.inner.lock();
        if let Some(up) = inner.upstream.as_mut() {
            up.no_history = false;
            inner.replid = replid.to_owned();
            inner.offset = offset;
            inner.master_db = master_db;
        }
    }

    /// FAILOVER [TO host port [FORCE]] [TIMEOUT ms], after its arguments were parsed
    /// (Redis's `failoverCommand`): the checks in Redis's order, then writes are held until a
    /// replica caught up. The error is the message to answer.
    pub(crate) fn start_failover(
        &self,
        target: Option<MasterAddr>,
        timeout_ms: Option<u64>,
        force: bool,
        pause: &super::ClientPause,
    ) -> Result<(), &'static str> {
        let mut inner = self.inner.lock();
        if inner.failover.is_some() {
            return Err("ERR FAILOVER already in progress.");
        }
        if inner.upstream.is_some() {
            return Err("ERR FAILOVER is not valid when server is a replica.");
        }
        if inner.replicas.is_empty() {
            return Err("ERR FAILOVER requires connected replicas.");
        }
        if force && (timeout_ms.is_none() || target.is_none()) {
            return Err(
                "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
            );
        }
        if let Some(target) = &target {
            let replica = (inner.replicas.iter())
                .find(|r| r.ip == target.host && r.port == target.port)
                .ok_or("ERR FAILOVER target HOST and PORT is not a replica.")?;
            if !replica.online {
                return Err("ERR FAILOVER target replica is not online.");
            }
            tracing::info!("FAILOVER requested to {}:{}.", target.host, target.port);
        } else {
            tracing::info!("FAILOVER requested to any replica.");
        }
        inner.failover = Some(Failover {
            target,
            deadline: timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
            force,
            in_progress: false,
        });
        pause.hold_writes_for_failover(true);
        Ok(())
    }

    /// Redis's `updateFailoverStatus`, run often while a FAILOVER waits: hands over to the
    /// target (or the first replica) once it acknowledged the whole stream, or at the
    /// deadline gives up (or, with `FORCE`, hands over anyway).
    pub(crate) fn failover_step(&self, pause: &super::ClientPause) {
        let inner = self.inner.lock();
        let offset = inner.offset;
        let Some(failover) = inner.failover.clone() else {
            return;
        };
        if failover.in_progress {
            return;
        }
        if failover.deadline.is_some_and(|at| at <= Instant::now()) {
            match (&failover.target, failover.force) {
                (Some(target), true) => {
                    tracing::info!(
                        "FAILOVER to {}:{} time out exceeded, failing over.",
                        target.host,
                        target.port
                    );
                    let target = target.clone();
                    drop(inner);
                    self.hand_over(target);
                }
                _ => {
                    drop(inner);
                    self.abort_failover("Replica never caught up before timeout", pause);
                }
            }
            return;
        }
        let caught_up = inner.replicas.iter().find(|r| {
            r.ack_offset == offset
                && failover
                    .target
                    .as_ref()
                    .map_or(true, |t| r.ip == t.host && r.port == t.port)
        });
        let Some(replica) = caught_up else {
            return;
        };
        let target = MasterAddr {
            host: replica.ip.clone(),
            port: replica.port,
        };
        tracing::info!(
            "Failover target {}:{} is synced, failing over.",
            target.host,
            target.port
        );
        drop(inner);
        self.hand_over(target)
    }

    /// Follows the failover's target, asking it to take over (Redis's `replicationSetMaster`
    /// with the failover in progress: the link's PSYNC then carries `FAILOVER`).
    fn hand_over(&self, target: MasterAddr) {
        if let Some(failover) = self.inner.lock().failover.as_mut() {
            failover.target = Some(target.clone());
            failover.in_progress = true;
        }
        self.follow(target);
    }

    /// The target answered the `PSYNC ... FAILOVER`: the failover is done (Redis's
    /// `clearFailoverState`).
    pub(crate) fn failover_done(&self, pause: &super::ClientPause) {
        let mut inner = self.inner.lock();
        if inner.failover.take().is_some() {
            pause.hold_writes_for_failover(false);
        }
    }

    /// FAILOVER ABORT, a timeout, or a target that refused: back to a master with writes
    /// allowed (Redis's `abortFailover`). Returns false when no failover was under way.
    pub(crate) fn abort_failover(&self, reason: &str, pause: &super::ClientPause) -> bool {
        let Some(failover) = self.inner.lock().failover.take() else {
            return false;
        };
        match &failover.target {
            Some(t) => tracing::info!("FAILOVER to {}:{} aborted: {reason}", t.host, t.port),
            None => tracing::info!("FAILOVER to any replica aborted: {reason}"),
        }
        if failover.in_progress {
            self.unfollow();
        }
        pause.hold_writes_for_failover(false);
        true
    }

    /// Whether a FAILOVER is under way (REPLICAOF and SYNC are refused meanwhile).
    pub(crate) fn failing_over(&self) -> bool {
        self.inner.lock().failover.is_some()
    }

    /// INFO's `master_failover_state`.
    pub(crate) fn failover_state(&self) -> &'static str {
        match &self.inner.lock().failover {
            None => "no-failover",
            Some(f) if f.in_progress => "failover-in-progress",
            Some(_) => "waiting-for-sync",
        }
    }

    /// The master to follow, for the link task.
    pub(crate) fn target(&self) -> watch::Receiver<Option<MasterAddr>> {
        self.target.subscribe()
    }

    /// What a replica asks in its PSYNC: its history's id and the next offset it needs
    /// (its own, if it never followed this master: Redis's `replicationCacheMasterUsingMyself`).
    pub(crate) fn psync_position(&self) -> (String, i64) {
        let inner = self.inner.lock();
        match inner.upstream.as_ref().is_some_and(|u| u.no_history) {
            true => ("?".to_owned(), -1),
            false => (inner.replid.clone(), inner.offset as i64 + 1),
        }
    }

    /// Whether this server's PSYNC asks the master to take over (a FAILOVER in progress).
    pub(crate) fn psync_failover(&self) -> bool {
        (self.inner.lock().failover.as_ref()).is_some_and(|f| f.in_progress)
    }

    /// The link's state moved (and, `io`, the master was heard from).
    pub(crate) fn set_link_state(&self, state: LinkState) {
        let mut inner = self.inner.lock();
        if let Some(up) = inner.upstream.as_mut() {
            if state != LinkState::Connected && up.state == LinkState::Connected {
                up.down_since = Some(Instant::now());
            }
            if state == LinkState::Connect && up.down_since.is_none() {
                up.down_since = Some(Instant::now());
            }
            if state == LinkState::Connected {
                up.down_since = None;
                up.has_master_client = true;
            }
            up.state = state;
            up.last_io = Instant::now();
            self.link_up
                .store(state == LinkState::Connected, Ordering::Relaxed);
        }
    }

    /// The master was heard from; `unapplied` bytes are read and not yet applied.
    pub(crate) fn master_io(&self, unapplied: u64) {
        let mut inner = self.inner.lock();
        if let Some(up) = inner.upstream.as_mut() {
            up.last_io = Instant::now();
            up.unapplied = unapplied;
        }
    }

    /// `+FULLRESYNC <replid> <offset>` loaded: this server's history is now the master's.
    /// The backlog restarts after `offset` and replicas attached here must sync again.
    pub(crate) fn full_synced(&self, replid: &str, offset: u64, stream_db: usize) {
        let mut inner = self.inner.lock();
        inner.master_db = stream_db;
        inner.replid = replid.to_owned();
        inner.replid2 = "0".repeat(40);
        inner.second_offset = -1;
        inner.offset = offset;
        if let Some(up) = inner.upstream.as_mut() {
            up.no_history = false;
        }
        // Redis creates a replica's backlog with its master client, for its own replicas and
        // for the day it is promoted.
        inner.create_backlog_if_needed(self);
        if let Some(backlog) = inner.backlog.as_mut() {
            backlog.data.clear();
            backlog.first_byte_offset = offset + 1;
        }
        inner.replicas.clear();
    }

    /// `+CONTINUE [<replid>]`: the stream goes on; a new id means the master was promoted,
    /// and the old one becomes the second id, as Redis does.
    pub(crate) fn continued(&self, new_replid: Option<&str>) {
        let mut inner = self.inner.lock();
        inner.create_backlog_if_needed(self);
        if let Some(new) = new_replid {
            if !new.eq_ignore_ascii_case(&inner.replid) {
                inner.replid2 = std::mem::replace(&mut inner.replid, new.to_owned());
                inner.second_offset = inner.offset as i64 + 1;
            }
        }
    }

    /// Bytes of the master's stream this replica applied: they count into its offset and
    /// go, unchanged, into its backlog and to its own replicas (Redis's proxying of the
    /// master stream to sub-replicas). The caller holds the keyspace lock of the batch that
    /// applied them.
    pub(crate) fn proxy(&self, bytes: Bytes, db: usize) -> u64 {
        let mut inner = self.inner.lock();
        inner.master_db = db;
        if inner.backlog.is_none() {
            inner.offset += bytes.len() as u64;
            return inner.offset;
        }
        inner.append(bytes)
    }

    /// The database the master's stream is in, where a (re)connected link starts.
    pub(crate) fn master_db(&self) -> usize {
        self.inner.lock().master_db
    }

    /// The `repl-stream-db` of a snapshot: a replica's proxied stream goes on in its
    /// master's database; a master's selects again after a snapshot (0).
    pub(crate) fn snapshot_stream_db(&self) -> usize {
        let inner = self.inner.lock();
        match inner.upstream {
            Some(_) => inner.master_db,
            None => 0,
        }
    }

    /// The offset applied so far (`master_repl_offset`; a replica's `REPLCONF ACK`).
    pub(crate) fn offset(&self) -> u64 {
        self.inner.lock().offset
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
