//! What a command handler works with: the [`Ctx`] of one command, the connection's
//! [`Session`] it reads and changes, and the [`Effects`] it asks the connection for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::MutexGuard;

use super::CommandSpec;
use crate::client::ClientHandle;
use crate::keyspace::{Db, Keyspace};
use crate::protocol::Reply;
use crate::pubsub::{Outbox, Registry};
use crate::rdb;
use crate::state::{notify, Blocked, Retry, Shared};

/// Side effects a batch asks the connection to carry out after writing its replies.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Close the connection once the replies are written (QUIT, protocol error).
    pub(crate) close: bool,
    /// Stop the server (SHUTDOWN).
    pub(crate) shutdown: bool,
    /// Make everything durable before replying (SAVE).
    pub(crate) save: bool,
    /// PSYNC / SYNC succeeded: once the replies are written, the connection carries the
    /// replication stream from this feed.
    pub(crate) replica_feed: Option<crate::state::Feed>,
    /// The snapshot went in the diskless `$EOF:` form: the stream waits for the replica's
    /// first `REPLCONF ACK`, so that it never follows the end mark in the same read (Redis's
    /// `repl_start_cmd_stream_on_ack`; a replica finds the mark in the last 40 bytes it read).
    pub(crate) replica_hold_until_ack: bool,
    /// WAIT: answer once this many replicas acknowledged the offset, or at the deadline.
    pub(crate) wait_replicas: Option<WaitReplicas>,
    /// Under `appendfsync always`: the write count that must be durable before replying.
    pub(crate) wait_for_durable: Option<u64>,
    /// The last command blocked (BLPOP & co.): execution stops there and the connection
    /// awaits the release; the rest of its input waits too.
    pub(crate) block: Option<Blocked>,
    /// Encoded frames to write right after the last command's reply (the client's own
    /// client-side caching invalidations).
    pub(crate) after_reply: Vec<Bytes>,
    /// CLIENT PAUSE holds this command back: execution stops before it, and the connection
    /// runs it again once the pause is over.
    pub(crate) postponed: Option<Vec<Bytes>>,
}

/// A WAIT the connection completes: the reply is the count of replicas that acknowledged
/// `offset` once there are `numreplicas` of them, or at `deadline`.
#[derive(Debug)]
pub(crate) struct WaitReplicas {
    pub(crate) offset: u64,
    pub(crate) numreplicas: usize,
    pub(crate) deadline: Option<std::time::Instant>,
}

/// The batch's keyspace, locked on first use: notes the write count at that moment and
/// stamps key accesses with this time and the policy in force (`keyspace::evict`), and turns
/// on the recording of keyspace events and tracked writes as configured.
pub(super) fn lock_for_batch<'g, 'a>(
    shared: &'a Shared,
    slot: &'g mut Option<MutexGuard<'a, Keyspace>>,
    writes_at_lock: &mut u64,
) -> &'g mut Keyspace {
    slot.get_or_insert_with(|| {
        let mut ks = shared.lock_keyspace();
        *writes_at_lock = ks.writes();
        ks.set_access_clock(shared.limits().memory().access(), crate::state::now_ms());
        notify::record(&mut ks, shared.notify_classes());
        ks.track_modified(shared.tracking().active());
        ks.record_deletions(shared.replication().active());
        ks.hide_expired(false);
        ks
    })
}

/// What a command handler works with.
pub(crate) struct Ctx<'b, 'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) session: &'b mut Session,
    pub(super) keyspace: &'b mut Option<MutexGuard<'a, Keyspace>>,
    pub(super) writes_at_lock: &'b mut u64,
    pub(crate) effects: &'b mut Effects,
    /// Unix milliseconds at the start of this command, or of the `fast` command just before it
    /// in the same batch (Redis caches the time per command too).
    pub(crate) now: u64,
}

impl Ctx<'_, '_> {
    /// The keyspace, locked for the rest of the batch on first use.
    pub(crate) fn keyspace(&mut self) -> &mut Keyspace {
        lock_for_batch(self.shared, self.keyspace, self.writes_at_lock)
    }

    /// Redis's `notifyKeyspaceEvent` for `key` in the client's database: publishes the
    /// keyspace's own events recorded so far (expiry, creation), then this one, if its class
    /// is enabled.
    pub(crate) fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.session.db;
        self.notify_in(db, class, event, key);
    }

    /// [`Ctx::notify`] for a key of database `db` (MOVE, COPY ... DB).
    pub(crate) fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        if self.shared.notify_classes() & class == 0 {
            return;
        }
        if let Some(ks) = self.keyspace.as_mut() {
            self.shared.publish_key_events(ks);
        }
        self.shared.notify(class, event, key, db);
    }

    /// Publishes the keyspace events recorded so far (PUBLISH calls it, so that a script's
    /// or a transaction's events precede its messages, as in Redis).
    pub(crate) fn publish_key_events(&mut self) {
        if self.shared.notify_classes() == 0 {
            return;
        }
        if let Some(ks) = self.keyspace.as_mut() {
            self.shared.publish_key_events(ks);
        }
    }

    /// The client's selected database.
    pub(crate) fn db(&mut self) -> &mut Db {
        let index = self.session.db;
        self.keyspace().db(index)
    }

    /// Drops the client's watches (UNWATCH, DISCARD, RESET), locking the keyspace only if
    /// there are some.
    pub(crate) fn forget_watches(&mut self) {
        if self.session.watched.is_empty() {
            return;
        }
        let mut watched = std::mem::take(&mut self.session.watched);
        let ks = self.keyspace();
        for (db, key, _) in watched.drain(..) {
            ks.db(db).unwatch(&key);
        }
    }

    /// Runs `spec`'s handler. On a replica, a normal client's read command sees expired keys
    /// as missing without deleting them: only the master's `DEL` removes them, so the
    /// dataset stays the master's (Redis's `expireIfNeeded`); a write deletes an expired key
    /// first, as anywhere. Nested calls (a script's) set and restore their own mode.
    pub(crate) fn handle(&mut self, spec: &'static CommandSpec, args: &[Bytes]) -> Reply {
        use super::spec::Flags;
        let keyed = spec.has_flag(Flags::READONLY) || spec.has_flag(Flags::WRITE);
        let previous = (keyed && self.shared.replication().is_replica()).then(|| {
            let hide = !self.session.master && !spec.has_flag(Flags::WRITE);
            self.keyspace().hide_expired(hide)
        });
        let reply = (spec.handler)(self, args).unwrap_or_else(|e| e);
        if let Some(previous) = previous {
            self.keyspace().hide_expired(previous);
        }
        reply
    }

    /// Runs `spec`'s handler for `args` as another client of this connection would, with its
    /// own selected database `db` (updated if the command SELECTs) and protocol `resp`: what
    /// a script's `redis.call` does. The caller's database and protocol are left as they were.
    pub(crate) fn call_as(
        &mut self,
        spec: &'static CommandSpec,
        args: &[Bytes],
        db: &mut usize,
        resp: u8,
    ) -> Reply {
        let (caller_db, caller_resp) = (self.session.db, self.session.resp);
        self.session.db = *db;
        self.session.resp = resp;
        let start = crate::state::tick();
        let mark = super::propagate::mark(self);
        let reply = self.handle(spec, args);
        super::propagate::after_call(self, mark, spec, args, &reply);
        *db = self.session.db;
        let nanos = crate::state::tick().nanos_since(start);
        let caller = super::observe::Caller::Script { db: *db };
        let observe = super::observe::after_call;
        observe(
            self.shared,
            spec,
            args,
            nanos,
            &reply,
            caller,
            false,
            u64::MAX,
        );
        self.session.db = caller_db;
        self.session.resp = caller_resp;
        reply
    }

    /// Number of databases configured.
    pub(crate) fn databases(&mut self) -> usize {
        self.keyspace().dbs().len()
    }

    /// The RDB codec's encoding thresholds from the configuration in force (DUMP and RESTORE
    /// encode with them; MEMORY USAGE measures the layout they give). Redis reads the same
    /// `server.*` fields when it saves or loads a value.
    pub(crate) fn rdb_limits(&self) -> rdb::Limits {
        rdb_limits(self.shared)
    }

    /// Whether this command runs inside MULTI/EXEC, where blocking commands do not block
    /// but answer as if they timed out.
    pub(crate) fn in_multi(&self) -> bool {
        self.session.in_multi()
    }

    /// Blocks the calling client on `keys` (all in its selected database) for `timeout_ms`
    /// (0: forever); `retry` serves it when one of them becomes ready. The reply returned
    /// here is never sent: the connection stops executing and awaits the release instead.
    pub(crate) fn block(
        &mut self,
        keys: &[Bytes],
        timeout_ms: u64,
        args: &[Bytes],
        retry: Retry,
    ) -> Reply {
        let handle = self.session.handle.clone();
        let db = self.session.db;
        let shared = self.shared;
        let blocked = shared
            .blocked()
            .block(self.db(), db, handle, keys, timeout_ms, args, retry);
        self.effects.block = Some(blocked);
        Reply::NilArray
    }

    /// [`Ctx::block`] for a command that says itself what serving it propagates to
    /// replicas (XREADGROUP: the XCLAIMs of what it delivered).
    pub(crate) fn block_propagating(
        &mut self,
        keys: &[Bytes],
        timeout_ms: u64,
        args: &[Bytes],
        retry: Retry,
        propagate: crate::state::Propagate,
    ) -> Reply {
        let reply = self.block(keys, timeout_ms, args, retry);
        let id = self.session.id();
        self.shared.blocked().propagate_with(id, propagate);
        reply
    }
}

/// The RDB codec's encoding thresholds from the configuration in force (DUMP, RESTORE, the
/// snapshots a master sends and a replica loads).
pub(crate) fn rdb_limits(shared: &Shared) -> rdb::Limits {
    let cached = shared.limits();
    let config = shared.config();
    let param = |name: &str| {
        let value = config.get(name.as_bytes()).into_iter().next();
        value.map(|(_, v)| v).unwrap_or_default()
    };
    let defaults = rdb::Limits::default();
    rdb::Limits {
        hash: cached.hash(),
        zset: cached.zset(),
        set_max_intset_entries: cached.intset(),
        list_max_listpack_size: param("list-max-listpack-size")
            .parse()
            .unwrap_or(defaults.list_max_listpack_size),
        list_compress_depth: param("list-compress-depth")
            .parse()
            .unwrap_or(defaults.list_compress_depth),
        rdbcompression: param("rdbcompression") != "no",
    }
}

/// Per-connection state that commands read and change (the selected database, the protocol
/// version, authentication, a transaction being queued, watched keys, subscriptions).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) handle: Arc<ClientHandle>,
    pub(crate) db: usize,
    pub(crate) resp: u8,
    pub(crate) authenticated: bool,
    /// The ACL user whose permissions apply (`default` until AUTH / HELLO AUTH).
    pub(crate) user: Bytes,
    pub(crate) name: Option<Bytes>,
    pub(crate) lib_name: Option<Bytes>,
    pub(crate) lib_ver: Option<Bytes>,
    /// Between MULTI and EXEC/DISCARD (and while EXEC runs the queue).
    pub(crate) multi: Option<Transaction>,
    /// Keys under WATCH: database, key, version seen at WATCH.
    pub(crate) watched: Vec<(usize, Bytes, u64)>,
    pub(crate) subscriptions: Subscriptions,
    /// In MONITOR mode: every command's line arrives in the subscriptions' outbox.
    pub(crate) monitoring: bool,
    /// The call this client is blocked in, for the statistics recorded at its release.
    pub(crate) blocked_call: Option<super::observe::BlockedCall>,
    /// A script of this client is running the command (Redis's `CLIENT_SCRIPT`).
    pub(crate) in_script: bool,
    /// What the running command propagates to replicas.
    pub(crate) propagation: super::propagate::Propagation,
    /// The replication offset after this client's last propagated write (WAIT's target).
    pub(crate) woff: u64,
    /// What this connection announced with REPLCONF, if it is a replica's.
    pub(crate) replica: Option<crate::state::ReplicaInfo>,
    /// This is the link to our master (Redis's `CLIENT_MASTER`): its commands are obeyed
    /// without permission, memory or read-only checks, and answered with nothing.
    pub(crate) master: bool,
}

/// A transaction being queued (MULTI) or executed (EXEC).
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    pub(crate) queue: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    pub(crate) aborted: bool,
}

/// A connection's channel and pattern subscriptions, and the queue its messages arrive in.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    pub(crate) channels: HashSet<Bytes>,
    pub(crate) patterns: HashSet<Bytes>,
    /// Shard channels (SSUBSCRIBE).
    pub(crate) shard_channels: HashSet<Bytes>,
    /// Created at the first subscription; kept afterwards so queued messages still leave.
    pub(crate) outbox: Option<Arc<Outbox>>,
}

impl Subscriptions {
    /// The count SUBSCRIBE and friends report.
    pub(crate) fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Subscribed to anything, shard channels included.
    pub(crate) fn any(&self) -> bool {
        self.count() > 0 || !self.shard_channels.is_empty()
    }
}

impl Session {
    pub(crate) fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Session {
        Session {
            handle,
            db: 0,
            resp: 2,
            authenticated,
            user: Bytes::from_static(b"default"),
            name: None,
            lib_name: None,
            lib_ver: None,
            multi: None,
            watched: Vec::new(),
            subscriptions: Subscriptions::default(),
            monitoring: false,
            blocked_call: None,
            in_script: false,
            propagation: Default::default(),
            woff: 0,
            replica: None,
            master: false,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.handle.id
    }

    /// Binds the session to an ACL user; CLIENT LIST and DELUSER see it at once.
    pub(crate) fn set_user(&mut self, user: &[u8]) {
        if self.user[..] != *user {
            self.user = Bytes::copy_from_slice(user);
        }
        self.handle.info.lock().user = (user != b"default").then(|| self.user.clone());
    }

    /// Switches the protocol version; messages published from now on are framed for it.
    pub(crate) fn set_resp(&mut self, resp: u8) {
        self.resp = resp;
        if let Some(outbox) = &self.subscriptions.outbox {
            outbox.set_resp(resp);
        }
    }

    /// Inside MULTI or running EXEC's queue: blocking commands must answer at once, as in
    /// Redis, where a transaction never blocks.
    pub(crate) fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Subscribed in RESP2: only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET run.
    pub(crate) fn in_subscribed_mode(&self) -> bool {
        self.resp == 2 && self.subscriptions.any()
    }

    /// Publishes the session's fields for CLIENT LIST.
    pub(crate) fn publish(&self, last_cmd: &str) {
        let mut info = self.handle.info.lock();
        info.db = self.db;
        info.resp = self.resp;
        info.last_active = Instant::now();
        info.sub = self.subscriptions.channels.len();
        info.psub = self.subscriptions.patterns.len();
        info.ssub = self.subscriptions.shard_channels.len();
        info.monitor = self.monitoring;
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

impl Session {
    /// Drops every watch (UNWATCH, DISCARD, RESET, EXEC, and when the connection ends).
    pub(crate) fn unwatch_all(&mut self, ks: &mut Keyspace) {
        for (db, key, _) in self.watched.drain(..) {
            ks.db(db).unwatch(&key);
        }
    }

    /// Ends every subscription without replying (RESET, and when the connection ends).
    pub(crate) fn unsubscribe_all(&mut self, registry: &mut Registry) {
        let subs = &mut self.subscriptions;
        let Some(outbox) = &subs.outbox else {
            return;
        };
        for name in subs.channels.drain() {
            registry.unsubscribe(&name, outbox);
        }
        for name in subs.patterns.drain() {
            registry.punsubscribe(&name, outbox);
        }
        for name in subs.shard_channels.drain() {
            registry.sunsubscribe(&name, outbox);
        }
    }
}
