//! Blocking commands' machinery: clients waiting for keys (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! This is Redis 7.0's `blocked.c` model. A command that finds nothing to pop calls
//! [`Ctx::block`] with the keys it waits for, its timeout and a [`Retry`] function: the
//! non-blocking attempt for one key. The client is appended to each key's queue of waiters
//! (in its [`Db`], so FIFO order lives next to the keys) and its connection awaits a
//! [`Release`]. Creating a key that has waiters queues it as ready (`Db::insert`); after each
//! command, with the keyspace lock still held, [`serve_ready`] runs the waiters' `Retry` on
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

use super::Ctx;
use crate::client::ClientHandle;
use crate::keyspace::{Db, Keyspace};
use crate::number::LongDouble;
use crate::protocol::Reply;
use crate::server::{now_ms, Shared};

/// Redis's `getTimeoutFromObjectOrReply` errors.
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
/// What CLIENT UNBLOCK ... ERROR sends the blocked client.
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// Deadlines further away than this count as "forever" (the timer cannot hold them).
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Tries to serve a blocked command from `key`, which just became ready: `args` are the
/// command's arguments as it was called. `None` leaves the client blocked (the key is of
/// another type, or empty); `Some(reply)` releases it with that reply (errors included).
pub type Retry = fn(db: &mut Db, now: u64, args: &[Bytes], key: &Bytes) -> Option<Reply>;

/// How a blocked client is released.
#[derive(Debug)]
pub struct Release {
    pub reply: Reply,
    /// The keyspace write count after serving it: under `appendfsync always` the reply waits
    /// until that much is durable, as the served pop was a write.
    pub writes: u64,
}

/// A blocked client's side of the wait: what its connection awaits.
#[derive(Debug)]
pub struct Blocked {
    pub release: oneshot::Receiver<Release>,
    /// `None`: wait forever.
    pub deadline: Option<Instant>,
}

struct Waiter {
    handle: Arc<ClientHandle>,
    db: usize,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
    retry: Retry,
    release: oneshot::Sender<Release>,
    /// Blocked with a timeout (counted in INFO's `clients_in_timeout_table`).
    timed: bool,
}

/// Every blocked client, by client id. Its lock is only taken with the keyspace lock held.
#[derive(Default)]
pub struct BlockedClients {
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
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of them wait with a timeout (INFO's `clients_in_timeout_table`).
    pub fn timed(&self) -> usize {
        self.timed.load(Ordering::Relaxed)
    }

    /// Takes client `id` out of the waiters and releases it with `reply`. False if it was
    /// not blocked (already served, timed out, or never blocked).
    pub fn release(&self, ks: &mut Keyspace, id: u64, reply: Reply) -> bool {
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
    pub fn cancel(&self, ks: &mut Keyspace, id: u64) -> bool {
        self.release(ks, id, Reply::NilArray)
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

/// A blocking command's timeout argument in seconds (a float, like Redis's `strtold` path),
/// as milliseconds: 0 means forever.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, Reply> {
    let seconds = LongDouble::parse(arg).ok_or(Reply::error(TIMEOUT_NOT_FLOAT))?;
    let ms = seconds.mul_ceil_i64(1000);
    u64::try_from(ms).map_err(|_| Reply::error(TIMEOUT_NEGATIVE))
}

impl Ctx<'_, '_> {
    /// Whether this command runs inside MULTI/EXEC, where blocking commands do not block
    /// but answer as if they timed out.
    pub fn in_multi(&self) -> bool {
        self.session.in_multi()
    }

    /// Blocks the calling client on `keys` (all in its selected database) for `timeout_ms`
    /// (0: forever); `retry` serves it when one of them becomes ready. The reply returned
    /// here is never sent: the connection stops executing and awaits the release instead.
    pub fn block(
        &mut self,
        keys: &[Bytes],
        timeout_ms: u64,
        args: &[Bytes],
        retry: Retry,
    ) -> Reply {
        let id = self.session.id();
        let db_index = self.session.db;
        let (tx, rx) = oneshot::channel();
        let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(key) {
                unique.push(key.clone());
            }
        }
        let db = self.db();
        for key in &unique {
            db.add_waiter(key, id);
        }
        let handle = self.session.handle.clone();
        handle.set_blocked(true);
        let blocked = &self.shared.blocked;
        blocked.waiters.lock().insert(
            id,
            Waiter {
                handle,
                db: db_index,
                keys: unique,
                args: args.to_vec(),
                retry,
                release: tx,
                timed: timeout_ms > 0,
            },
        );
        blocked.count.fetch_add(1, Ordering::Relaxed);
        if timeout_ms > 0 {
            blocked.timed.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = (timeout_ms > 0)
            .then(|| Duration::from_millis(timeout_ms))
            .filter(|d| *d <= MAX_WAIT)
            .and_then(|d| Instant::now().checked_add(d));
        self.effects.block = Some(Blocked {
            release: rx,
            deadline,
        });
        Reply::NilArray
    }
}

/// Serves the clients blocked on keys that became ready, first blocked first, until no key is
/// ready (serving BLMOVE can make its destination ready). Called after every command while
/// clients are blocked, with the keyspace lock held.
pub fn serve_ready(shared: &Shared, ks: &mut Keyspace) {
    let blocked = &shared.blocked;
    let mut waiters = blocked.waiters.lock();
    let mut released = Vec::new();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_redis() {
        let ms = |s: &str| parse_timeout(s.as_bytes());
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("0.0001"), Ok(1));
        assert_eq!(ms("1.5"), Ok(1500));
        assert_eq!(ms("0x10"), Ok(16000));
        assert_eq!(ms("-0.0001"), Ok(0));
        assert_eq!(ms("1e-400"), Ok(1));
        assert_eq!(ms("-1e-400"), Ok(0));
        for negative in ["-1", "inf", "-inf", "1e20"] {
            assert_eq!(
                ms(negative),
                Err(Reply::error(TIMEOUT_NEGATIVE)),
                "{negative}"
            );
        }
        for bad in ["", "abc", "nan", "1 ", " 1"] {
            assert_eq!(ms(bad), Err(Reply::error(TIMEOUT_NOT_FLOAT)), "{bad}");
        }
    }
}
