//! Idle keep-alive connections to the upstreams, as nginx's `keepalive N` in an `upstream`
//! block: after a complete response the connection is parked here, and the next request to
//! the same address takes it back instead of connecting again.
//!
//! Invariants:
//! - Each worker thread has its own pool ([`Pools`]). A pool keeps `max` idle connections, all
//!   upstreams together; beyond that it keeps the ones a burst needed only until they have
//!   idled [`SURPLUS_IDLE`] (closed by the next [`Pool::sweep`], least recently used first).
//!   nginx closes them at once; doing the same here, the bursts of a single-threaded event
//!   loop serving 256 clients with 128 kept made the proxy reconnect for one request in
//!   seven (nginx: one in fifty). The surplus is bounded by the requests in flight a second
//!   earlier.
//! - A connection handed out has been idle less than `idle_timeout` and has neither been
//!   closed by the upstream nor received unexpected bytes. The check costs no system call
//!   for a healthy connection: the last read of a response returned less than the buffer,
//!   which clears tokio's readiness, so `try_read` answers `WouldBlock` from its own state
//!   unless the reactor has since seen the socket become readable (a FIN or stray data).
//! - Takes are last in, first out: the connection used most recently is reused first, and
//!   [`Pool::sweep`] closes the ones that have idled too long. Each list is in the order the
//!   connections were parked, oldest first.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// How long connections beyond a pool's `max` may idle before the sweep closes them.
const SURPLUS_IDLE: Duration = Duration::from_secs(1);

struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// Idle connections by upstream address. A list searched in order: there are a handful of
/// upstreams, and hashing a `SocketAddr` with SipHash cost more than the search.
#[derive(Default)]
struct Parked {
    by_addr: Vec<(SocketAddr, VecDeque<Idle>)>,
    total: usize,
}

impl Parked {
    fn list(&mut self, addr: SocketAddr) -> Option<&mut VecDeque<Idle>> {
        self.by_addr
            .iter_mut()
            .find(|(a, _)| *a == addr)
            .map(|(_, list)| list)
    }
}

pub struct Pool {
    parked: Mutex<Parked>,
    max: usize,
    idle_timeout: Duration,
}

/// One [`Pool`] per worker thread, as nginx keeps one per worker process: a connection is
/// reused by the thread whose reactor it is registered with, so its readiness never has to
/// cross threads. Threads get their pool in the order they first ask for one; only the
/// proxy's worker threads ask, so with `threads` pools each has its own.
pub struct Pools {
    shards: Box<[Pool]>,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, assigned on first use.
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
}

impl Pools {
    /// `threads` pools of at most `max` idle connections each.
    pub fn new(threads: usize, max: usize, idle_timeout: Duration) -> Self {
        Pools {
            shards: (0..threads.max(1))
                .map(|_| Pool::new(max, idle_timeout))
                .collect(),
        }
    }

    /// The calling thread's pool.
    pub fn local(&self) -> &Pool {
        &self.shards[SHARD.with(|s| *s) % self.shards.len()]
    }

    /// [`Pool::sweep`] on every thread's pool.
    pub fn sweep(&self) {
        self.shards.iter().for_each(Pool::sweep);
    }
}

/// True while the upstream has neither closed the idle connection nor written to it.
fn quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

impl Pool {
    pub fn new(max: usize, idle_timeout: Duration) -> Self {
        Pool {
            parked: Mutex::new(Parked::default()),
            max,
            idle_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Parked> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection to `addr` that can carry a request, if one is parked.
    pub fn take(&self, addr: SocketAddr) -> Option<TcpStream> {
        loop {
            let idle = {
                let mut parked = self.lock();
                let idle = parked.list(addr)?.pop_back()?;
                parked.total -= 1;
                idle
            };
            // A stale connection is dropped here, outside the lock, and the next one tried.
            if idle.since.elapsed() < self.idle_timeout && quiet(&idle.stream) {
                return Some(idle.stream);
            }
        }
    }

    /// Parks a connection whose last response was read completely.
    pub fn put(&self, addr: SocketAddr, stream: TcpStream) {
        let mut parked = self.lock();
        parked.total += 1;
        let idle = Idle {
            stream,
            since: Instant::now(),
        };
        match parked.list(addr) {
            Some(list) => list.push_back(idle),
            None => parked.by_addr.push((addr, VecDeque::from([idle]))),
        }
    }

    /// Closes connections idle for `idle_timeout` or closed by their upstream, and those
    /// beyond `max` that idled [`SURPLUS_IDLE`].
    pub fn sweep(&self) {
        self.sweep_at(Instant::now());
    }

    fn sweep_at(&self, now: Instant) {
        let idled = |c: &Idle, limit: Duration| now.saturating_duration_since(c.since) >= limit;
        let mut closing = Vec::new();
        {
            let mut guard = self.lock();
            let parked = &mut *guard;
            for (_, list) in parked.by_addr.iter_mut() {
                let (keep, stale): (VecDeque<Idle>, VecDeque<Idle>) = list
                    .drain(..)
                    .partition(|c| !idled(c, self.idle_timeout) && quiet(&c.stream));
                *list = keep;
                closing.extend(stale);
            }
            parked.total -= closing.len();
            while parked.total > self.max {
                let oldest = parked
                    .by_addr
                    .iter_mut()
                    .map(|(_, list)| list)
                    .filter(|list| list.front().is_some_and(|c| idled(c, SURPLUS_IDLE)))
                    .min_by_key(|list| list.front().map(|c| c.since));
                let Some(c) = oldest.and_then(VecDeque::pop_front) else {
                    break;
                };
                closing.push(c);
                parked.total -= 1;
            }
            parked.by_addr.retain(|(_, list)| !list.is_empty());
        }
        drop(closing);
    }

    /// Idle connections right now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn reuses_quiet_connections_and_drops_closed_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(2, Duration::from_secs(60));

        let (a, _a_server) = pair(&listener).await;
        pool.put(addr, a);
        assert!(pool.take(addr).is_some(), "a quiet connection is reused");
        assert!(pool.take(addr).is_none());

        let (b, b_server) = pair(&listener).await;
        pool.put(addr, b);
        drop(b_server);
        // Let the reactor see the FIN.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            pool.take(addr).is_none(),
            "a connection the upstream closed"
        );

        let (c, mut c_server) = pair(&listener).await;
        pool.put(addr, c);
        c_server.write_all(b"junk").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        pool.sweep();
        assert_eq!(pool.idle(), 0, "stray bytes make a connection unusable");
    }

    #[tokio::test]
    async fn keeps_a_burst_beyond_max_for_a_while_and_expires_idle_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = Pool::new(2, Duration::from_secs(60));
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..3 {
            let (c, s) = pair(&listener).await;
            servers.push(s);
            ports.push(c.local_addr().unwrap().port());
            pool.put(addr, c);
        }
        let start = Instant::now();
        pool.sweep_at(start);
        assert_eq!(pool.idle(), 3, "a burst's surplus is kept while recent");
        pool.sweep_at(start + SURPLUS_IDLE);
        assert_eq!(pool.idle(), 2, "then trimmed to max");
        let port = |s: Option<TcpStream>| s.unwrap().local_addr().unwrap().port();
        assert_eq!(
            port(pool.take(addr)),
            ports[2],
            "most recently parked first"
        );
        assert_eq!(port(pool.take(addr)), ports[1], "the oldest was closed");

        let (d, _d_server) = pair(&listener).await;
        pool.put(addr, d);
        pool.sweep_at(Instant::now() + Duration::from_secs(60));
        assert_eq!(pool.idle(), 0, "idle_timeout");
    }
}
