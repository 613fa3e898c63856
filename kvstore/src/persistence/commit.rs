//! Group commit: journaled changes move to disk in commits that cover many clients each.
//!
//! Each commit takes the keyspace's journal, appends the changed keys' states to the redo log
//! ([`Wal`]) and syncs it as the policy says. Under `appendfsync always` a client whose batch
//! wrote something waits, before it sees its replies, until a synced commit covers its writes.
//! The first such client leads the commit on its own network thread, like Redis's event loop:
//! it lets the other ready clients run and write first, then syncs for all of them; the
//! clients that arrive during the sync go out together in the next one. Under the other
//! policies a background thread commits about once a second. About once a second the changes
//! accumulated since the last checkpoint are handed to a second thread that writes them to
//! sled, flushes sled, and deletes the log segments the checkpoint covers, so the log stays
//! short and sled remains the store of record.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::wal::{self, Wal};
use super::{collect_changes, DbChanges, KeyState, PersistError, Record, Store};
use crate::keyspace::Keyspace;

/// Changes are committed at least this often when nobody waits for them.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Under `appendfsync no`, the log is still synced this often, as the kernel would flush
/// dirty pages eventually.
const LAZY_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// A client leading a commit stops gathering others after this many scheduler rounds in a
/// row brought no new writer.
const GATHER_QUIET_ROUNDS: u32 = 3;
/// Longest a client leading a commit gathers others.
const MAX_GATHER: Duration = Duration::from_millis(2);
/// Changes are checkpointed into sled at least this often while there are any.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Changes waiting for a checkpoint (distinct keys and elements) that start one
/// whatever the log's size: what bounds the memory they hold (about 100 bytes each).
pub(super) const PENDING_LIMIT: usize = 1 << 18;

/// When acknowledged writes become durable (`appendfsync`, or `appendonly no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge a write only after it was fsynced.
    Always,
    /// Write and fsync once a second.
    EverySec,
    /// Write once a second; fsync rarely.
    No,
}

impl Durability {
    fn to_u8(self) -> u8 {
        self as u8
    }

    fn from_u8(v: u8) -> Durability {
        match v {
            0 => Durability::Always,
            1 => Durability::EverySec,
            _ => Durability::No,
        }
    }
}

#[derive(Default)]
struct Requests {
    /// Highest keyspace write count some client waits to see durable.
    wanted: u64,
    /// SAVE / BGSAVE asked for an fsync whatever the policy.
    force_sync: bool,
    shutdown: bool,
}

/// What a commit works on, held by whoever commits: the commit thread, or under `appendfsync
/// always` the client leading a commit.
struct Log {
    wal: Wal,
    /// Changes logged since the last checkpoint was handed over.
    pending: Pending,
    /// The log holds appended changes not synced yet.
    unsynced: bool,
    last_sync: Instant,
    last_checkpoint: Instant,
    /// Bytes appended to the log since the last checkpoint was handed over.
    logged: u64,
    /// Gone once the commit thread stopped.
    to_checkpointer: Option<mpsc::Sender<(Vec<DbChanges>, u64)>>,
}

struct Inner {
    store: Store,
    dir: PathBuf,
    /// A checkpoint is being written to sled.
    checkpointing: AtomicBool,
    /// BGREWRITEAOF asked for a checkpoint.
    checkpoint_wanted: AtomicBool,
    /// `auto-aof-rewrite-min-size`: the log's size that starts a checkpoint.
    checkpoint_size: AtomicU64,
    /// Checkpoints written so far (INFO's `aof_rewrites`).
    checkpoints: AtomicU64,
    /// A checkpoint failed: log segments are no longer deleted.
    checkpoint_failed: AtomicBool,
    keyspace: Arc<Mutex<Keyspace>>,
    log: Mutex<Log>,
    /// A client leads a commit (`appendfsync always`); the others wait for its result.
    leading: AtomicBool,
    /// Clients that started waiting for durability so far.
    arrivals: AtomicU64,
    /// Moving average of a sync's duration.
    sync_nanos: AtomicU64,
    requests: Mutex<Requests>,
    wake: Condvar,
    durable: watch::Sender<u64>,
    policy: AtomicU8,
    last_save: AtomicU64,
    syncs: AtomicU64,
}

/// Handle to the commit thread.
pub struct GroupCommit {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the commit and checkpoint threads. `written` is the keyspace's write count
    /// after loading, which is by definition durable already.
    pub fn start(
        store: Store,
        keyspace: Arc<Mutex<Keyspace>>,
        policy: Durability,
        checkpoint_size: u64,
        written: u64,
    ) -> Result<GroupCommit, PersistError> {
        let dir = store.dir().to_path_buf();
        let wal = Wal::create(&dir)?;
        let (to_checkpointer, jobs) = mpsc::channel();
        let inner = Arc::new(Inner {
            store,
            dir,
            checkpointing: AtomicBool::new(false),
            checkpoint_wanted: AtomicBool::new(false),
            checkpoint_size: AtomicU64::new(checkpoint_size),
            checkpoints: AtomicU64::new(0),
            checkpoint_failed: AtomicBool::new(false),
            keyspace,
            log: Mutex::new(Log {
                wal,
                pending: Pending::default(),
                unsynced: false,
                last_sync: Instant::now(),
                last_checkpoint: Instant::now(),
                logged: 0,
                to_checkpointer: Some(to_checkpointer),
            }),
            leading: AtomicBool::new(false),
            arrivals: AtomicU64::new(0),
            sync_nanos: AtomicU64::new(0),
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(written),
            policy: AtomicU8::new(policy.to_u8()),
            last_save: AtomicU64::new(unix_secs()),
            syncs: AtomicU64::new(0),
        });
        let checkpointer = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("checkpoint".into())
                .spawn(move || inner.checkpoint_loop(jobs))?
        };
        let committer = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("group-commit".into())
                .spawn(move || inner.run())?
        };
        Ok(GroupCommit {
            inner,
            threads: Mutex::new(vec![committer, checkpointer]),
        })
    }

    pub fn policy(&self) -> Durability {
        self.inner.policy()
    }

    pub fn set_policy(&self, policy: Durability) {
        self.inner.policy.store(policy.to_u8(), Ordering::Relaxed);
        self.inner.wake.notify_one();
    }

    /// `auto-aof-rewrite-min-size`: the log's size that starts a checkpoint.
    pub fn set_checkpoint_size(&self, bytes: u64) {
        self.inner.checkpoint_size.store(bytes, Ordering::Relaxed);
    }

    /// BGREWRITEAOF: starts a checkpoint of everything logged so far, unless one is being
    /// written (then false, and nothing changes).
    pub fn checkpoint(&self) -> bool {
        if self.checkpoint_running() {
            return false;
        }
        self.inner.checkpoint_wanted.store(true, Ordering::Release);
        let _guard = self.inner.requests.lock();
        self.inner.wake.notify_one();
        true
    }

    /// A checkpoint is being written or was asked for (INFO's `aof_rewrite_in_progress`).
    pub fn checkpoint_running(&self) -> bool {
        self.inner.checkpointing.load(Ordering::Acquire)
            || self.inner.checkpoint_wanted.load(Ordering::Acquire)
    }

    /// Checkpoints written so far (INFO's `aof_rewrites`).
    pub fn checkpoints(&self) -> u64 {
        self.inner.checkpoints.load(Ordering::Relaxed)
    }

    /// Unix time of the last successful fsync (LASTSAVE).
    pub fn last_save(&self) -> u64 {
        self.inner.last_save.load(Ordering::Relaxed)
    }

    /// Keyspace write count written to the data directory so far (INFO persistence).
    pub fn durable(&self) -> u64 {
        *self.inner.durable.borrow()
    }

    /// Number of fsyncs so far (INFO persistence).
    pub fn syncs(&self) -> u64 {
        self.inner.syncs.load(Ordering::Relaxed)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.inner.store.size_on_disk()
    }

    /// Asks the commit thread to make the keyspace state at write count `seq` durable (with
    /// an fsync when `force` or the policy says so) as soon as possible.
    pub fn request(&self, seq: u64, force: bool) {
        let mut req = self.inner.requests.lock();
        req.wanted = req.wanted.max(seq);
        req.force_sync |= force;
        self.inner.wake.notify_one();
    }

    /// Waits until write count `seq` is durable.
    ///
    /// Under `appendfsync always`, the first client to wait leads the next commit itself, on
    /// its network thread, as Redis's event loop fsyncs once per loop: see [`Self::gather`].
    /// Other policies leave the commit to the commit thread.
    pub async fn wait(&self, seq: u64) {
        let inner = &*self.inner;
        let mut rx = inner.durable.subscribe();
        inner.arrivals.fetch_add(1, Ordering::Relaxed);
        loop {
            if *rx.borrow_and_update() >= seq {
                return;
            }
            if self.policy() != Durability::Always {
                break;
            }
            let Some(lead) = Leading::take(&inner.leading) else {
                // Another client leads: wait for its commit, then look again. The sender
                // lives as long as `self`, so this fails only at the very end.
                if rx.changed().await.is_err() {
                    return;
                }
                continue;
            };
            self.gather().await;
            let Some(durable) = inner.commit(&mut inner.log.lock(), false, false) else {
                // Let the commit thread retry.
                break;
            };
            // Hand the lead on before waking the clients, so that one of them can take it.
            drop(lead);
            inner.publish(durable);
            inner.checkpoint_if_due(&mut inner.log.lock(), false);
        }
        self.request(seq, false);
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    /// Before a commit it leads, a client lets the others that are ready run first and write
    /// too: it yields to the scheduler (which also polls the sockets) until
    /// [`GATHER_QUIET_ROUNDS`] rounds in a row brought no new writer, or for at most twice
    /// the measured sync time ([`MAX_GATHER`] at most). The clients that arrive during the
    /// sync then wait in their sockets and go out together in the next commit.
    ///
    /// Measured with redis-benchmark (`appendfsync always`, 50 clients, pipeline 1, LPUSH,
    /// in the same run as redis-server): the commit thread gathering clients before each sync
    /// (the design before this one) covered 40 clients per sync, but the network and commit
    /// threads woke each other about 10 times per sync: 0.77× redis-server. Leading from the
    /// network thread after a single yield covered only 15 (the clients ready next had not
    /// been polled yet): 0.65×. Gathering until 1 quiet round: 0.94×; until 3: 32 clients per
    /// sync, 21k context switches per 200k writes (redis-server: 22k), 1.02–1.12× on SET,
    /// INCR, LPUSH and HSET. At 200 clients, a limit of one sync time gave 0.87×, two to
    /// five sync times 0.95–1.0×.
    async fn gather(&self) {
        let inner = &*self.inner;
        let started = Instant::now();
        let limit =
            (2 * Duration::from_nanos(inner.sync_nanos.load(Ordering::Relaxed))).min(MAX_GATHER);
        let mut seen = inner.arrivals.load(Ordering::Relaxed);
        let mut quiet = 0;
        while quiet < GATHER_QUIET_ROUNDS && started.elapsed() < limit {
            tokio::task::yield_now().await;
            let arrived = inner.arrivals.load(Ordering::Relaxed);
            quiet = if arrived == seen { quiet + 1 } else { 0 };
            seen = arrived;
        }
    }

    /// Makes everything durable now and waits for it (SAVE, shutdown).
    pub async fn save(&self, seq: u64) {
        let mut rx = self.inner.durable.subscribe();
        self.request(seq, true);
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    /// Writes and fsyncs what is pending, stops the threads and waits for them.
    pub fn shutdown(&self) {
        self.inner.requests.lock().shutdown = true;
        self.inner.wake.notify_one();
        for thread in std::mem::take(&mut *self.threads.lock()) {
            let _ = thread.join();
        }
    }
}

impl Inner {
    fn policy(&self) -> Durability {
        Durability::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// The commit thread: commits when asked (SAVE, a client under a policy other than
    /// `always`, a failed commit to retry) and at least every [`COMMIT_INTERVAL`].
    fn run(self: Arc<Self>) {
        let mut last_commit = Instant::now();
        loop {
            let (shutdown, force) = self.wait_for_work(last_commit);
            let mut log = self.log.lock();
            if let Some(durable) = self.commit(&mut log, force, shutdown) {
                self.publish(durable);
            }
            self.checkpoint_if_due(&mut log, shutdown);
            last_commit = Instant::now();
            if shutdown {
                self.finish(log);
                return;
            }
        }
    }

    /// Appends the keyspace's changes to the log and syncs it when `force`, `shutdown` or the
    /// policy says so. Returns the keyspace write count this made durable, or None when the
    /// log could not be written or synced (the next commit retries; the changes stay pending
    /// for sled either way).
    fn commit(&self, log: &mut Log, force: bool, shutdown: bool) -> Option<u64> {
        // Gone once shut down: the log is closed.
        log.to_checkpointer.as_ref()?;
        let (seq, changes) = {
            let mut ks = self.keyspace.lock();
            (ks.writes(), collect_changes(&mut ks))
        };
        let mut ok = true;
        if !changes.is_empty() {
            match log.wal.append(&changes) {
                Ok(bytes) => log.logged += bytes as u64,
                Err(e) => {
                    tracing::error!(error = %e, "appending to the log failed; the next checkpoint still writes these changes to sled");
                    ok = false;
                }
            }
            log.pending.merge(changes);
            log.unsynced = true;
        }
        let sync_due = match self.policy() {
            Durability::Always => true,
            Durability::EverySec => log.last_sync.elapsed() >= COMMIT_INTERVAL,
            Durability::No => log.last_sync.elapsed() >= LAZY_SYNC_INTERVAL,
        };
        if ok && log.unsynced && (force || shutdown || sync_due) {
            let started = Instant::now();
            match log.wal.sync() {
                Ok(()) => {
                    let took = started.elapsed().as_nanos() as u64;
                    let average = self.sync_nanos.load(Ordering::Relaxed);
                    self.sync_nanos
                        .store((average * 3 + took) / 4, Ordering::Relaxed);
                    log.unsynced = false;
                    log.last_sync = Instant::now();
                    self.syncs.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(error = %e, "syncing the log failed; will retry");
                    ok = false;
                }
            }
        }
        if ok && (force || !log.unsynced) {
            self.last_save.store(unix_secs(), Ordering::Relaxed);
        }
        ok.then_some(seq)
    }

    /// Wakes the clients waiting for write count `durable` or less.
    fn publish(&self, durable: u64) {
        self.durable.send_modify(|d| *d = (*d).max(durable));
    }

    /// Hands the changes logged so far to the checkpoint thread when one is due: as Redis
    /// rewrites its AOF once it grew by `auto-aof-rewrite-min-size`, when the log since the
    /// last checkpoint reached that size; and when BGREWRITEAOF asks, at shutdown, when the
    /// changes waiting reach [`PENDING_LIMIT`], or after [`CHECKPOINT_INTERVAL`].
    ///
    /// Waiting for the log to grow lets a key written again and again reach sled once per
    /// checkpoint: with a checkpoint every second, writing sled took about 40% of kvstore's
    /// CPU time under a rate limiter's `INCR` + `EXPIRE` script over 100,000 keys.
    fn checkpoint_if_due(&self, log: &mut Log, shutdown: bool) {
        if self.checkpointing.load(Ordering::Acquire) {
            return;
        }
        let wanted = self.checkpoint_wanted.load(Ordering::Acquire);
        let due = shutdown
            || wanted
            || log.logged >= self.checkpoint_size.load(Ordering::Relaxed)
            || log.pending.items >= PENDING_LIMIT
            || log.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL;
        if due && !log.pending.is_empty() {
            self.hand_over_checkpoint(log);
        }
        if wanted {
            // After the hand-over marked the checkpoint running: INFO never shows a gap.
            self.checkpoint_wanted.store(false, Ordering::Release);
        }
    }

    /// Starts a new log segment and sends the changes logged so far to the checkpoint thread.
    fn hand_over_checkpoint(&self, log: &mut Log) {
        let Some(to_checkpointer) = &log.to_checkpointer else {
            return;
        };
        match log.wal.rotate() {
            Ok(segment) => {
                self.checkpointing.store(true, Ordering::Release);
                let _ = to_checkpointer.send((log.pending.take(), segment));
                log.last_checkpoint = Instant::now();
                log.logged = 0;
            }
            Err(e) => {
                tracing::error!(error = %e, "starting a new log segment failed; will retry")
            }
        }
    }

    /// At shutdown, after the last commit: writes what is left to sled, stops the checkpoint
    /// thread, and leaves a clean directory when everything reached sled.
    fn finish(&self, mut log: parking_lot::MutexGuard<'_, Log>) {
        let wait_for_checkpoint = || {
            while self.checkpointing.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        if !log.pending.is_empty() {
            // A checkpoint was still running; wait for it, then write the rest.
            wait_for_checkpoint();
            self.hand_over_checkpoint(&mut log);
        }
        // Dropping the sender ends the checkpoint thread once it wrote everything.
        log.to_checkpointer = None;
        wait_for_checkpoint();
        if log.pending.is_empty() && !self.checkpoint_failed.load(Ordering::Acquire) {
            // Everything reached sled; the fresh segment the last rotation opened is empty.
            if let Err(e) = wal::remove_through(&self.dir, u64::MAX) {
                tracing::warn!(error = %e, "removing the log at shutdown failed");
            }
        }
    }

    /// Blocks until a commit is due: a client waits for durability, SAVE, shutdown, or the
    /// commit interval passed. Returns (shutdown, forced sync).
    fn wait_for_work(&self, last_commit: Instant) -> (bool, bool) {
        let mut req = self.requests.lock();
        loop {
            if req.shutdown
                || req.force_sync
                || req.wanted > *self.durable.borrow()
                || (self.checkpoint_wanted.load(Ordering::Acquire)
                    && !self.checkpointing.load(Ordering::Acquire))
            {
                break;
            }
            let wait = COMMIT_INTERVAL.saturating_sub(last_commit.elapsed());
            if wait.is_zero() || self.wake.wait_for(&mut req, wait).timed_out() {
                break;
            }
        }
        (req.shutdown, std::mem::take(&mut req.force_sync))
    }

    /// Writes each checkpoint to sled, flushes sled, then deletes the log segments it covers.
    /// After a failure nothing is deleted any more: the log keeps every change for recovery.
    fn checkpoint_loop(&self, jobs: mpsc::Receiver<(Vec<DbChanges>, u64)>) {
        for (changes, segment) in jobs {
            let result = self.store.write(&changes).and_then(|()| self.store.sync());
            self.checkpoints.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(()) if !self.checkpoint_failed.load(Ordering::Acquire) => {
                    if let Err(e) = wal::remove_through(&self.dir, segment) {
                        tracing::warn!(error = %e, "removing checkpointed log segments failed");
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "writing a checkpoint to sled failed; the log keeps the changes");
                    self.checkpoint_failed.store(true, Ordering::Release);
                }
            }
            self.checkpointing.store(false, Ordering::Release);
            if self.checkpoint_wanted.load(Ordering::Acquire) {
                // BGREWRITEAOF came while this one ran: the commit thread starts it now.
                let _guard = self.requests.lock();
                self.wake.notify_one();
            }
        }
    }
}

/// The lead of the next commit, given back if its holder is dropped before committing.
struct Leading<'a>(&'a AtomicBool);

impl<'a> Leading<'a> {
    /// The lead, unless someone holds it.
    fn take(flag: &'a AtomicBool) -> Option<Leading<'a>> {
        // Not `then_some`: building a guard that is then dropped would free the holder's lead.
        #[allow(clippy::unnecessary_lazy_evaluations)]
        (!flag.swap(true, Ordering::Acquire)).then(|| Leading(flag))
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Changes logged since the last checkpoint: the latest state of each key.
#[derive(Default)]
pub(super) struct Pending {
    dbs: BTreeMap<u32, (bool, HashMap<bytes::Bytes, PendingKey>)>,
    /// Keys and elements held since the last take (a key's elements dropped by a later whole
    /// state still count): what [`PENDING_LIMIT`] bounds.
    pub(super) items: usize,
}

/// A key's changes since the last checkpoint: a whole state (if any) followed by element
/// changes made since it (the latest header and the latest state of each element; boxed,
/// as most keys change whole and a bulk load holds one of these per key). Elements keep the
/// order they first changed in: a list's pushes then reach the checkpoint in id order, which
/// walks its chunks in memory order (in a hash map's order, each of a million pushes cost it a
/// cache miss; a B-tree kept them sorted but made merging random hash fields 75% dearer).
#[derive(Default)]
struct PendingKey {
    whole: Option<Option<Record>>,
    elements: Option<Box<PendingElements>>,
}

type PendingElements = (
    Vec<u8>,
    IndexMap<bytes::Bytes, Option<bytes::Bytes>, foldhash::fast::RandomState>,
);

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    pub(super) fn merge(&mut self, changes: Vec<DbChanges>) {
        for change in changes {
            let (cleared, entries) = self.dbs.entry(change.db).or_default();
            if change.cleared {
                *cleared = true;
                entries.clear();
            }
            for (key, state) in change.entries {
                let pending = match entries.entry(key) {
                    Entry::Occupied(known) => known.into_mut(),
                    Entry::Vacant(new) => {
                        self.items += 1;
                        new.insert(PendingKey::default())
                    }
                };
                match state {
                    KeyState::Whole(whole) => {
                        *pending = PendingKey {
                            whole: Some(whole),
                            ..PendingKey::default()
                        }
                    }
                    KeyState::Elements { meta, elements } => {
                        let pending = pending.elements.get_or_insert_with(Box::default);
                        pending.0 = meta;
                        let before = pending.1.len();
                        pending.1.extend(elements);
                        self.items += pending.1.len() - before;
                    }
                }
            }
        }
    }

    pub(super) fn take(&mut self) -> Vec<DbChanges> {
        self.items = 0;
        std::mem::take(&mut self.dbs)
            .into_iter()
            .map(|(db, (cleared, entries))| DbChanges {
                db,
                cleared,
                entries: entries
                    .into_iter()
                    .flat_map(|(key, pending)| {
                        let whole = pending
                            .whole
                            .map(|whole| (key.clone(), KeyState::Whole(whole)));
                        let elements = pending.elements.map(|changes| {
                            let (meta, elements) = *changes;
                            let elements = elements.into_iter().collect();
                            (key, KeyState::Elements { meta, elements })
                        });
                        whole.into_iter().chain(elements)
                    })
                    .collect(),
            })
            .collect()
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_client_leads_until_it_lets_go() {
        let flag = AtomicBool::new(false);
        let lead = Leading::take(&flag).expect("the lead is free");
        assert!(Leading::take(&flag).is_none());
        assert!(
            flag.load(Ordering::Relaxed),
            "a refused taker must not free the lead"
        );
        drop(lead);
        assert!(!flag.load(Ordering::Relaxed));
        assert!(Leading::take(&flag).is_some());
    }
}
