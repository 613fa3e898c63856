//! Clients waiting for keys in blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! This is Redis 7.0's `blocked.c` model. A command that finds nothing to pop calls
//! [`BlockedClients::block`] (through `Ctx::block`) with the keys it waits for, its timeout and a [`Retry`] function: the
//! non-blocking attempt for one key. The client is appended to each key's queue of waiters
//! (in its [`Db`], so FIFO order lives next to the keys) and its connection awaits a
//! [`Release`]. Creating a key that has waiters queues it as ready (`Db::insert`); after each
//! command, with the keyspace lock still held, [`BlockedClients::serve_ready`] runs the waiters' `Retry` on
//! each ready key in the order they blocked and sends the replies to the waiting connections.
//! A waiter its `Retry` cannot serve (wrong type, nothing left) stays in line. Serving may
//! create keys (BLMOVE's push), so it repeats until nothing is ready. Timeouts, CLIENT UNBLOCK
//! and disconnection take the waiter out under the same lock, so each waiter is released
//! exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::now_ms;
use crate::client::ClientHandle;
use crate::keyspace::{Db, Keyspace};
use crate::protocol::Reply;

/// Deadlines further away than this count as "forever" (the timer cannot hold them).
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Tries to serve a blocked command from `key`, which just became ready: `args` are the
/// command's arguments as it was called. `None` leaves the client blocked (the key is of
/// another type, or empty); `Some(reply)` releases it with that reply (errors included).
pub(crate) type Retry = fn(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply>;

/// What a served call propagates to replicas, for a command that says so itself
/// ([`BlockedClients::propagate_with`]): from the database after serving, the call's
/// arguments, the key that served it and its reply.
pub(crate) type Propagate =
    fn(db: &mut Db, args: &[Bytes], key: &Bytes, reply: &Reply) -> Vec<Vec<Bytes>>;

/// How a blocked client is released.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) reply: Reply,
    /// The keyspace write count after serving it: under `appendfsync always` the reply waits
    /// until that much is durable, as the served pop was a write.
    pub(crate) writes: u64,
}

/// A blocked client's side of the wait: what its connection awaits.
#[derive(Debug)]
pub(crate) struct Blocked {
    pub(crate) release: oneshot::Receiver<Release>,
    /// `None`: wait forever.
    pub(crate) deadline: Option<Instant>,
}

struct Waiter {
    handle: Arc<ClientHandle>,
    db: usize,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
    retry: Retry,
    propagate: Option<Propagate>,
    release: oneshot::Sender<Release>,
    /// Blocked with a timeout (counted in INFO's `clients_in_timeout_table`).
    timed: bool,
}

/// A blocked call served by [`BlockedClients::serve_ready`].
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) db: usize,
    pub(crate) args: Vec<Bytes>,
    /// The key whose change served it.
    pub(crate) key: Bytes,
    pub(crate) reply: Reply,
    pub(crate) propagate: Option<Propagate>,
}

/// Every blocked client, by client id. Its lock is only taken with the keyspace lock held.
#[derive(Default)]
pub(crate) struct BlockedClients {
    waiters: Mutex<HashMap<u64, Waiter>>,
    count: AtomicUsize,
    timed: AtomicUsize,
}

impl std::fmt::Debug for BlockedClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockedClients({})", self.len())
    }
}

impl BlockedClients {
    /// How many clients are blocked (INFO's `blocked_clients`).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of them wait with a timeout (INFO's `clients_in_timeout_table`).
    pub(crate) fn timed(&self) -> usize {
        self.timed.load(Ordering::Relaxed)
    }

    /// Takes client `id` out of the waiters and releases it with `reply`. False if it was
    /// not blocked (already served, timed out, or never blocked).
    pub(crate) fn release(&self, ks: &mut Keyspace, id: u64, reply: Reply) -> bool {
        if self.is_empty() {
            return false;
        }
        let mut waiters = self.waiters.lock();
        let Some(waiter) = waiters.remove(&id) else {
            return false;
        };
        let tx = self.unlink(ks.db(waiter.db), id, waiter);
        // Nothing was written on its behalf.
        let _ = tx.send(Release { reply, writes: 0 });
        true
    }

    /// Forgets client `id`'s wait (its connection is going away or stopped waiting).
    pub(crate) fn cancel(&self, ks: &mut Keyspace, id: u64) -> bool {
        self.release(ks, id, Reply::NilArray)
    }

    /// Blocks client `handle` on `keys` of database `db` (whose `Db` is `db_keys`) for
    /// `timeout_ms` (0: forever); `retry` serves it when one of them becomes ready, with `args`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block(
        &self,
        db_keys: &mut Db,
        db: usize,
        handle: Arc<ClientHandle>,
        keys: &[Bytes],
        timeout_ms: u64,
        args: &[Bytes],
        retry: Retry,
    ) -> Blocked {
        let id = handle.id;
        let (tx, rx) = oneshot::channel();
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        for key in &unique {
            db_keys.add_waiter(key, id);
        }
        handle.set_blocked(true);
        self.waiters.lock().insert(
            id,
            Waiter {
                handle,
                db,
                keys: unique,
                args: args.to_vec(),
                retry,
                propagate: None,
                release: tx,
                timed: timeout_ms > 0,
            },
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        if timeout_ms > 0 {
            self.timed.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = (timeout_ms > 0)
            .then(|| Duration::from_millis(timeout_ms))
            .filter(|d| *d <= MAX_WAIT)
            .and_then(|d| Instant::now().checked_add(d));
        Blocked {
            release: rx,
            deadline,
        }
    }

    /// Takes a waiter out of its keys' queues; returns where its release goes.
    fn unlink(&self, db: &mut Db, id: u64, waiter: Waiter) -> oneshot::Sender<Release> {
        for key in &waiter.keys {
            db.remove_waiter(key, id);
        }
        waiter.handle.set_blocked(false);
        self.count.fetch_sub(1, Ordering::Relaxed);
        if waiter.timed {
            self.timed.fetch_sub(1, Ordering::Relaxed);
        }
        waiter.release
    }
}

impl BlockedClients {
    /// Has the call client `id` is blocked in propagate, once served, what `propagate`
    /// says (instead of the non-blocking form of its name).
    pub(crate) fn propagate_with(&self, id: u64, propagate: Propagate) {
        if let Some(waiter) = self.waiters.lock().get_mut(&id) {
            waiter.propagate = Some(propagate);
        }
    }

    /// Serves the clients blocked on keys that became ready, first blocked first, until no key is
    /// ready (serving BLMOVE can make its destination ready). Called after every command while
    /// clients are blocked, with the keyspace lock held. Returns each served call (its
    /// database, arguments and the key that served it), for replication to propagate.
    pub(crate) fn serve_ready(&self, ks: &mut Keyspace) -> Vec<Served> {
        let blocked = self;
        let mut waiters = blocked.waiters.lock();
        let mut released = Vec::new();
        let mut served = Vec::new();
        loop {
            let mut any = false;
            for index in 0..ks.dbs().len() {
                let ready = ks.db(index).take_ready();
                if ready.is_empty() {
                    continue;
                }
                any = true;
                let now = now_ms();
                let db = ks.db(index);
                for key in ready {
                    for id in db.waiters(&key) {
                        let Some(waiter) = waiters.get(&id) else {
                            continue;
                        };
                        if let Some(reply) = (waiter.retry)(db, now, &waiter.args, &key) {
                            let waiter = waiters.remove(&id).expect("present");
                            served.push(Served {
                                db: index,
                                args: waiter.args.clone(),
                                key: key.clone(),
                                reply: reply.clone(),
                                propagate: waiter.propagate,
                            });
                            released.push((blocked.unlink(db, id, waiter), reply));
                        }
                    }
                }
            }
            if !any {
                break;
            }
        }
        let writes = ks.writes();
        for (tx, reply) in released {
            let _ = tx.send(Release { reply, writes });
        }
        served
    }
}
