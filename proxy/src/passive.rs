//! Passive health, as nginx's `max_fails` / `fail_timeout`: a backend that fails `max_fails`
//! attempts within `fail_timeout` is skipped for `fail_timeout`, without waiting for the next
//! active check. A passing active check clears the mark early.
//!
//! It also holds back a backend that was just discovered (at start-up or when a name starts
//! resolving to one more address, as after `docker compose up --scale`) until an active check
//! has passed: pingora counts a new backend healthy before its first check, and a container
//! that listens before it is ready (an api that cannot reach the store yet) would answer users
//! with errors meanwhile.
//!
//! A configured (static) upstream is treated the nginx way until its first active check
//! passes: it is *on probation*, tried on requests even while its check fails (the check may
//! have run before it listened), and a failed attempt marks it down as any failure does.
//! This is what makes requests alternate from the first answer right after start-up.
//!
//! The request path reads one atomic when nothing is marked (the normal case) and only takes
//! the lock while some backend has failed recently.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Failures {
    count: u32,
    since: Instant,
    down_until: Option<Instant>,
    /// Discovered, not yet passed an active check.
    unchecked: bool,
    /// A static upstream that has not passed an active check yet: tried anyway.
    probation: bool,
}

impl Failures {
    fn new(now: Instant) -> Failures {
        Failures {
            count: 0,
            since: now,
            down_until: None,
            unchecked: false,
            probation: false,
        }
    }
}

pub struct PassiveHealth {
    max_fails: u32,
    fail_timeout: Duration,
    /// Number of entries in `failures`; zero means "nothing to look up".
    tracked: AtomicUsize,
    failures: Mutex<HashMap<SocketAddr, Failures>>,
    /// Per-server `max_fails` / `fail_timeout` where the server line sets them.
    limits: Mutex<HashMap<SocketAddr, (u32, Duration)>>,
    /// Backends whose last active check failed, whether or not that took them out yet
    /// (`health_fall` > 1): while there are any, checks come quickly.
    check_failing: Mutex<HashSet<SocketAddr>>,
}

impl PassiveHealth {
    pub fn new(max_fails: u32, fail_timeout: Duration) -> Self {
        PassiveHealth {
            max_fails,
            fail_timeout,
            tracked: AtomicUsize::new(0),
            failures: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            check_failing: Mutex::new(HashSet::new()),
        }
    }

    /// The global `max_fails` and `fail_timeout`.
    pub fn defaults(&self) -> (u32, Duration) {
        (self.max_fails, self.fail_timeout)
    }

    /// Sets `addr`'s own `max_fails` / `fail_timeout` (nginx's server parameters).
    pub fn set_limits(&self, addr: SocketAddr, max_fails: u32, fail_timeout: Duration) {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, (max_fails, fail_timeout));
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
            .is_some_and(|f| f.unchecked || f.down_until.is_some_and(|until| until > now))
    }

    /// Whether a request may go to `addr`, whose active check says `healthy`: not down, and
    /// healthy or on probation.
    pub fn usable(&self, addr: &SocketAddr, healthy: bool) -> bool {
        if self.tracked.load(Relaxed) == 0 {
            return healthy;
        }
        let now = Instant::now();
        match self.lock().get(addr) {
            None => healthy,
            Some(f) => {
                (healthy || f.probation)
                    && !f.unchecked
                    && !f.down_until.is_some_and(|until| until > now)
            }
        }
    }

    /// Puts a configured upstream on probation until [`checked`](Self::checked).
    pub fn probation(&self, addr: SocketAddr) {
        let mut map = self.lock();
        map.entry(addr)
            .or_insert_with(|| Failures::new(Instant::now()))
            .probation = true;
        self.tracked.store(map.len(), Relaxed);
    }

    /// Holds a just-discovered backend out of rotation until [`checked`](Self::checked).
    pub fn hold_until_checked(&self, addr: SocketAddr) {
        let mut map = self.lock();
        map.entry(addr)
            .or_insert_with(|| Failures::new(Instant::now()))
            .unchecked = true;
        self.tracked.store(map.len(), Relaxed);
    }

    /// Records a failed attempt; returns true when this failure took the backend down.
    pub fn failed(&self, addr: SocketAddr) -> bool {
        let (max_fails, fail_timeout) = self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&addr)
            .copied()
            .unwrap_or((self.max_fails, self.fail_timeout));
        if max_fails == 0 {
            return false;
        }
        let now = Instant::now();
        let mut map = self.lock();
        let f = map.entry(addr).or_insert_with(|| Failures::new(now));
        if now.duration_since(f.since) > fail_timeout {
            f.count = 0;
            f.since = now;
        }
        f.count += 1;
        let went_down = f.count >= max_fails && f.down_until.map_or(true, |u| u <= now);
        if went_down {
            f.down_until = Some(now + fail_timeout);
        }
        self.tracked.store(map.len(), Relaxed);
        went_down
    }

    /// A successful attempt: forget the failures (and a hold: the backend answered). A
    /// probation stays until an active check passes: until then the check's verdict, from
    /// before the backend listened, must not count.
    pub fn succeeded(&self, addr: &SocketAddr) {
        if self.tracked.load(Relaxed) == 0 {
            return;
        }
        let mut map = self.lock();
        match map.get_mut(addr) {
            Some(f) if f.probation => {
                *f = Failures {
                    probation: true,
                    ..Failures::new(Instant::now())
                }
            }
            Some(_) => {
                map.remove(addr);
            }
            None => {}
        }
        self.tracked.store(map.len(), Relaxed);
    }

    /// A passing active check: forget the failures; true when this released a hold or ended
    /// a probation (the backend's first passing check).
    pub fn checked(&self, addr: &SocketAddr) -> bool {
        self.remove(addr)
            .is_some_and(|f| f.unchecked || f.probation)
    }

    /// Records an active check's outcome for [`checks_failing`](Self::checks_failing).
    pub fn check_result(&self, addr: SocketAddr, passed: bool) {
        let mut failing = self.check_failing.lock().unwrap_or_else(|p| p.into_inner());
        if passed {
            failing.remove(&addr);
        } else {
            failing.insert(addr);
        }
    }

    /// True while some backend's last active check failed.
    pub fn checks_failing(&self) -> bool {
        !self
            .check_failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// A backend no longer discovered: nothing about it needs remembering.
    pub fn forget(&self, addr: &SocketAddr) {
        self.remove(addr);
        self.check_result(*addr, true);
    }

    fn remove(&self, addr: &SocketAddr) -> Option<Failures> {
        if self.tracked.load(Relaxed) == 0 {
            return None;
        }
        let mut map = self.lock();
        let removed = map.remove(addr);
        self.tracked.store(map.len(), Relaxed);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_is_remembered_until_one_passes_or_the_backend_goes() {
        let (a, b): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let p = PassiveHealth::new(1, Duration::from_secs(10));
        assert!(!p.checks_failing());
        p.check_result(a, false);
        p.check_result(b, false);
        p.check_result(a, true);
        assert!(p.checks_failing());
        p.forget(&b);
        assert!(!p.checks_failing());
    }

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
    fn a_discovered_backend_waits_for_its_first_passing_check() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let p = PassiveHealth::new(0, Duration::from_secs(60));
        p.hold_until_checked(a);
        assert!(p.is_down(&a));
        // Failures do not release it (max_fails 0 ignores them), a passing check does.
        p.failed(a);
        assert!(p.is_down(&a));
        assert!(p.checked(&a));
        assert!(!p.is_down(&a));
        assert!(!p.checked(&a), "nothing was held any more");
    }

    #[test]
    fn a_static_upstream_is_tried_until_it_fails_or_passes() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let p = PassiveHealth::new(1, Duration::from_secs(60));
        assert!(!p.usable(&a, false));
        p.probation(a);
        assert!(p.usable(&a, false), "tried although its check failed");
        p.succeeded(&a);
        assert!(p.usable(&a, false), "an answer does not end the probation");
        p.failed(a);
        assert!(!p.usable(&a, false), "a failed attempt takes it down");
        assert!(p.checked(&a), "the first pass ends the probation");
        assert!(!p.usable(&a, false), "once checked, the check decides");
        assert!(p.usable(&a, true));
    }

    #[test]
    fn a_server_line_sets_its_own_limits() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let p = PassiveHealth::new(1, Duration::from_secs(60));
        p.set_limits(a, 3, Duration::from_secs(60));
        assert!(!p.failed(a));
        assert!(!p.failed(a));
        assert!(p.failed(a), "the third failure");
        assert!(p.failed(b), "the global max_fails");
    }

    #[test]
    fn zero_disables() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let p = PassiveHealth::new(0, Duration::from_secs(60));
        p.failed(a);
        assert!(!p.is_down(&a));
    }
}
