//! Busy polling: after it served a command, the network thread keeps polling its sockets for
//! a short while instead of going to sleep in `epoll_wait` at once.
//!
//! Why: with pipeline-1 clients the server often runs out of work for a few microseconds
//! between one client's reply and the next request. A sleeping thread must be woken by the
//! kernel for every request that arrives (a context switch here, and an inter-processor
//! wake-up charged to the client's `write`), and on a small VM that round trip, not the
//! command, bounds throughput: measured with redis-benchmark -c 50, kvstore slept about
//! 0.4 times per request (redis-server 0.06) although it used less CPU.
//!
//! How, with tokio's own poller: [`poller`] is a task that, once woken, keeps yielding. A
//! yielded task makes the worker poll the reactor with a zero timeout (`epoll_wait(…, 0)`)
//! before running it again, so arriving requests are picked up within a microsecond or two
//! and never wait for the poller. It stops after `budget` without a new command and sleeps
//! until the runtime's next real wake-up ([`unparked`], from `on_thread_unpark`). An idle
//! server therefore sleeps as before; a busy one spends at most `budget` of CPU per gap.
//!
//! `KVSTORE_BUSY_POLL_US` sets the budget in microseconds (default [`DEFAULT_BUDGET_US`];
//! 0 turns busy polling off).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The budget when `KVSTORE_BUSY_POLL_US` is not set.
pub const DEFAULT_BUDGET_US: u64 = 50;

/// Signalled whenever a worker thread wakes up from a real sleep.
static WOKEN: Notify = Notify::const_new();

/// For the runtime builder's `on_thread_unpark`: a worker woke up, so work arrived.
pub fn unparked() {
    WOKEN.notify_one();
}

/// The configured budget; `None`: busy polling is off.
pub fn budget() -> Option<Duration> {
    let us = match std::env::var("KVSTORE_BUSY_POLL_US") {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!("KVSTORE_BUSY_POLL_US={v:?} is not a number of microseconds; using {DEFAULT_BUDGET_US}");
            DEFAULT_BUDGET_US
        }),
        Err(_) => DEFAULT_BUDGET_US,
    };
    (us > 0).then(|| Duration::from_micros(us))
}

/// Polls while `commands` keeps moving, for up to `budget` after its last change, each time
/// a worker wakes up. Runs until aborted.
pub async fn poller(commands: &AtomicU64, budget: Duration) {
    loop {
        WOKEN.notified().await;
        let mut idle = Idle::new(budget, commands.load(Ordering::Relaxed), Instant::now());
        loop {
            tokio::task::yield_now().await;
            if !idle.keep_polling(commands.load(Ordering::Relaxed), Instant::now()) {
                break;
            }
        }
    }
}

/// When to stop polling: `budget` after the command count last changed.
struct Idle {
    budget: Duration,
    seen: u64,
    last_work: Instant,
}

impl Idle {
    fn new(budget: Duration, commands: u64, now: Instant) -> Self {
        Idle {
            budget,
            seen: commands,
            last_work: now,
        }
    }

    fn keep_polling(&mut self, commands: u64, now: Instant) -> bool {
        if commands != self.seen {
            self.seen = commands;
            self.last_work = now;
        }
        now.duration_since(self.last_work) < self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_until_a_whole_budget_passed_without_a_command() {
        let budget = Duration::from_micros(50);
        let t0 = Instant::now();
        let at = |us| t0 + Duration::from_micros(us);
        let mut idle = Idle::new(budget, 7, t0);
        assert!(idle.keep_polling(7, at(49)));
        // A command at 60 µs starts a new budget.
        assert!(idle.keep_polling(8, at(60)));
        assert!(idle.keep_polling(8, at(109)));
        assert!(!idle.keep_polling(8, at(110)), "50 µs without a command");
    }
}
