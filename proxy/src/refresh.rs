//! The live upstream set's background task: re-resolves the names every `resolve_interval` and
//! runs the active health checks, like pingora-load-balancing's own background service, but
//! with an adaptive check interval.
//!
//! pingora checks at a fixed frequency, so a backend whose check failed (at start-up, the
//! first check often runs before the backend listens) stays out of rotation for a whole
//! interval. Here, while some backend's last check failed (whether or not that took it out
//! yet: `health_fall`), the next round comes after
//! [`FIRST_RECHECK`], doubling each round up to the configured interval; once all pass, the
//! configured interval applies, and the next failure starts again from [`FIRST_RECHECK`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::time::Instant;

use crate::balancer::Balancer;
use crate::upstreams::Live;

/// The first re-check after a failed one.
pub const FIRST_RECHECK: Duration = Duration::from_millis(20);

/// The next wait between check rounds: `interval` while everything passes, else `backoff`,
/// which doubles each failing round up to `interval`.
pub fn next_wait(all_pass: bool, backoff: &mut Duration, interval: Duration) -> Duration {
    if all_pass {
        *backoff = FIRST_RECHECK.min(interval);
        return interval;
    }
    let wait = *backoff;
    *backoff = (*backoff * 2).min(interval);
    wait
}

/// Keeps the live balancer's backends resolved and checked, following reloads.
pub struct Refresh {
    pub live: Arc<Live>,
}

#[async_trait]
impl BackgroundService for Refresh {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        'balancer: loop {
            let balancer = self.live.balancer();
            let groups = || std::iter::once(&balancer.primary).chain(balancer.backup.as_ref());
            let interval = balancer.check_interval;
            // A new balancer was just resolved and checked (at start-up or by a reload).
            let now = Instant::now();
            let mut next_resolve = now + balancer.resolve_interval;
            let mut backoff = FIRST_RECHECK.min(interval);
            let all_pass = |b: &Balancer| {
                b.primary.all_pass()
                    && b.backup.as_ref().map_or(true, |g| g.all_pass())
                    && !b.passive.checks_failing()
            };
            let mut next_check = now + next_wait(all_pass(&balancer), &mut backoff, interval);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_resolve.min(next_check)) => {}
                    _ = self.live.reloaded.notified() => continue 'balancer,
                    _ = shutdown.changed() => return,
                }
                // A reload that happened while a round ran was not waited for above.
                if !Arc::ptr_eq(&self.live.balancer(), &balancer) {
                    continue 'balancer;
                }
                let now = Instant::now();
                if now >= next_resolve {
                    for g in groups() {
                        if let Err(e) = g.update().await {
                            tracing::debug!("upstream resolution: {e}");
                        }
                    }
                    next_resolve = now + balancer.resolve_interval;
                }
                if now >= next_check {
                    for g in groups() {
                        g.backends().run_health_check(true).await;
                    }
                    next_check = now + next_wait(all_pass(&balancer), &mut backoff, interval);
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rechecks_back_off_to_the_interval_and_restart_after_a_pass() {
        let interval = Duration::from_secs(1);
        let mut backoff = FIRST_RECHECK;
        let waits: Vec<u128> = (0..8)
            .map(|_| next_wait(false, &mut backoff, interval).as_millis())
            .collect();
        assert_eq!(waits, [20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(next_wait(true, &mut backoff, interval), interval);
        assert_eq!(next_wait(false, &mut backoff, interval), FIRST_RECHECK);
    }
}
