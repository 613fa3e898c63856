//! Group commit: one background thread moves journaled changes into sled.
//!
//! Under `appendfsync always` a client whose batch wrote something waits, before it sees its
//! replies, until a commit covering its writes has been fsynced. While one fsync runs, every
//! other client's writes pile up and go out together in the next one, so throughput grows
//! with the number of clients instead of being capped at one fsync per write.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::{collect_changes, Store};
use crate::keyspace::Keyspace;

/// Changes are written to sled at least this often when nobody waits for them.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Under `appendfsync no`, sled is still fsynced this often, as the kernel would flush dirty
/// pages eventually.
const LAZY_SYNC_INTERVAL: Duration = Duration::from_secs(30);

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

struct Inner {
    store: Store,
    keyspace: Arc<Mutex<Keyspace>>,
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
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the commit thread. `written` is the keyspace's write count after loading, which
    /// is by definition durable already.
    pub fn start(
        store: Store,
        keyspace: Arc<Mutex<Keyspace>>,
        policy: Durability,
        written: u64,
    ) -> GroupCommit {
        let inner = Arc::new(Inner {
            store,
            keyspace,
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(written),
            policy: AtomicU8::new(policy.to_u8()),
            last_save: AtomicU64::new(unix_secs()),
            syncs: AtomicU64::new(0),
        });
        let worker = inner.clone();
        let thread = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || worker.run())
            .expect("spawn group-commit thread");
        GroupCommit {
            inner,
            thread: Mutex::new(Some(thread)),
        }
    }

    pub fn policy(&self) -> Durability {
        Durability::from_u8(self.inner.policy.load(Ordering::Relaxed))
    }

    pub fn set_policy(&self, policy: Durability) {
        self.inner.policy.store(policy.to_u8(), Ordering::Relaxed);
        self.inner.wake.notify_one();
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

    /// Asks for the keyspace state at write count `seq` to be made durable (with an fsync when
    /// `force` or the policy says so) as soon as possible.
    pub fn request(&self, seq: u64, force: bool) {
        let mut req = self.inner.requests.lock();
        req.wanted = req.wanted.max(seq);
        req.force_sync |= force;
        self.inner.wake.notify_one();
    }

    /// Waits until write count `seq` is durable.
    pub async fn wait(&self, seq: u64) {
        let mut rx = self.inner.durable.subscribe();
        if *rx.borrow() >= seq {
            return;
        }
        self.request(seq, false);
        // The sender lives as long as `self`, so this only ends when `seq` is reached.
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    /// Makes everything durable now and waits for it (SAVE, shutdown).
    pub async fn save(&self, seq: u64) {
        let mut rx = self.inner.durable.subscribe();
        self.request(seq, true);
        let _ = rx.wait_for(|durable| *durable >= seq).await;
    }

    /// Writes and fsyncs what is pending, stops the thread and waits for it.
    pub fn shutdown(&self) {
        self.inner.requests.lock().shutdown = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    fn run(&self) {
        let mut last_commit = Instant::now();
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        loop {
            let (shutdown, force) = {
                let mut req = self.requests.lock();
                loop {
                    if req.shutdown || req.force_sync || req.wanted > *self.durable.borrow() {
                        break;
                    }
                    let wait = COMMIT_INTERVAL.saturating_sub(last_commit.elapsed());
                    if wait.is_zero() || self.wake.wait_for(&mut req, wait).timed_out() {
                        break;
                    }
                }
                (req.shutdown, std::mem::take(&mut req.force_sync))
            };
            let (seq, changes) = {
                let mut ks = self.keyspace.lock();
                (ks.writes(), collect_changes(&mut ks))
            };
            last_commit = Instant::now();
            if changes.iter().any(|c| !c.is_empty()) {
                if let Err(e) = self.store.write(&changes) {
                    tracing::error!(error = %e, "writing to the data directory failed; will retry");
                    continue;
                }
                unsynced = true;
            }
            let policy = Durability::from_u8(self.policy.load(Ordering::Relaxed));
            let sync_due = policy != Durability::No || last_sync.elapsed() >= LAZY_SYNC_INTERVAL;
            if unsynced && (force || shutdown || sync_due) {
                if let Err(e) = self.store.sync() {
                    tracing::error!(error = %e, "fsync of the data directory failed; will retry");
                    continue;
                }
                unsynced = false;
                last_sync = Instant::now();
                self.syncs.fetch_add(1, Ordering::Relaxed);
            }
            if force || !unsynced {
                self.last_save.store(unix_secs(), Ordering::Relaxed);
            }
            self.durable.send_replace(seq);
            if shutdown {
                return;
            }
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
