//! Passive health, as nginx's `max_fails` / `fail_timeout`: a backend that fails `max_fails`
//! attempts within `fail_timeout` is skipped for `fail_timeout`, without waiting for the next
//! active check. A successful active check clears the mark early.
//!
//! The request path reads one atomic when nothing is marked (the normal case) and only takes
//! the lock while some backend has failed recently.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Failures {
    count: u32,
    since: Instant,
    down_until: Option<Instant>,
}

pub struct PassiveHealth {
    max_fails: u32,
    fail_timeout: Duration,
    /// Number of entries in `failures`; zero means "nothing to look up".
    tracked: AtomicUsize,
    failures: Mutex<HashMap<SocketAddr, Failures>>,
}

impl PassiveHealth {
    pub fn new(max_fails: u32, fail_timeout: Duration) -> Self {
        PassiveHealth {
            max_fails,
            fail_timeout,
            tracked: AtomicUsize::new(0),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while `addr` is taken out of rotation by recent failures.
    pub fn is_down(&self, addr: &SocketAddr) -> bool {
        if self.tracked.load(Relaxed) == 0 {
            return false;
        }
        let now = Instant::now();
        self.lock()
            .get(addr)
            .and_then(|f| f.down_until)
            .is_some_and(|until| until > now)
    }

    /// Records a failed attempt; returns true when this failure took the backend down.
    pub fn failed(&self, addr: SocketAddr) -> bool {
        if self.max_fails == 0 {
            return false;
        }
        let now = Instant::now();
        let mut map = self.lock();
        let f = map.entry(addr).or_insert(Failures {
            count: 0,
            since: now,
            down_until: None,
        });
        if now.duration_since(f.since) > self.fail_timeout {
            f.count = 0;
            f.since = now;
        }
        f.count += 1;
        let went_down = f.count >= self.max_fails && f.down_until.map_or(true, |u| u <= now);
        if went_down {
            f.down_until = Some(now + self.fail_timeout);
        }
        self.tracked.store(map.len(), Relaxed);
        went_down
    }

    /// A successful attempt or health check: forget the failures.
    pub fn succeeded(&self, addr: &SocketAddr) {
        if self.tracked.load(Relaxed) == 0 {
            return;
        }
        let mut map = self.lock();
        map.remove(addr);
        self.tracked.store(map.len(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_fails_within_window() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let p = PassiveHealth::new(2, Duration::from_secs(60));
        assert!(!p.is_down(&a));
        assert!(!p.failed(a));
        assert!(!p.is_down(&a));
        assert!(p.failed(a));
        assert!(p.is_down(&a));
        p.succeeded(&a);
        assert!(!p.is_down(&a));
    }

    #[test]
    fn zero_disables() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let p = PassiveHealth::new(0, Duration::from_secs(60));
        p.failed(a);
        assert!(!p.is_down(&a));
    }
}
