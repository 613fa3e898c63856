//! Per-client limits, as nginx's `limit_req` and `limit_conn` keyed by `$binary_remote_addr`.
//!
//! - Requests in flight per client address ([`Limits::conn`]) are counted with
//!   pingora-limits' `Inflight` (a count-min sketch: it may over-count on a collision, never
//!   under-count). One HTTP/1.1 connection has at most one request in flight, so this is
//!   nginx's `limit_conn`, which counts connections with a request being processed.
//! - The request rate ([`Limits::req`]) is nginx's leaky bucket, written out here because
//!   pingora-limits' `Rate` estimates a windowed rate and cannot express nginx's `burst`:
//!   each client has an excess that drains at `rate` per second and grows by one per request;
//!   a request that would take it above `burst` is refused. The first request of a client
//!   starts at zero, so `1 + burst` requests pass at once (nginx's `nodelay`: accepted
//!   requests are never delayed).
//!
//! Refused requests get the configured status (nginx's `limit_req_status` and
//! `limit_conn_status`, both 503 by default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use pingora_limits::inflight::{Guard, Inflight};

/// Client buckets kept before the drained ones are forgotten.
const MAX_CLIENTS: usize = 100_000;

/// nginx's `limit_req rate=R burst=B nodelay`.
pub struct RequestRate {
    /// Requests per second.
    rate: f64,
    burst: f64,
    pub status: u16,
    buckets: Mutex<HashMap<Vec<u8>, (f64, Instant)>>,
}

impl RequestRate {
    pub fn new(rate: f64, burst: u32, status: u16) -> Self {
        RequestRate {
            rate,
            burst: f64::from(burst),
            status,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request from `client` now stays within the limit (and counts it if so).
    pub fn allow(&self, client: &[u8]) -> bool {
        self.allow_at(client, Instant::now())
    }

    fn allow_at(&self, client: &[u8], now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((excess, last)) = buckets.get_mut(client) {
            let drained = self.rate * now.saturating_duration_since(*last).as_secs_f64();
            let next = (*excess - drained).max(0.0) + 1.0;
            if next > self.burst + 1e-9 {
                return false;
            }
            *excess = next;
            *last = now;
            return true;
        }
        if buckets.len() >= MAX_CLIENTS {
            let rate = self.rate;
            buckets.retain(|_, (e, last)| {
                *e > rate * now.saturating_duration_since(*last).as_secs_f64()
            });
        }
        buckets.insert(client.to_vec(), (0.0, now));
        true
    }
}

/// nginx's `limit_conn N`.
pub struct Concurrency {
    max: isize,
    pub status: u16,
    inflight: Inflight,
}

impl Concurrency {
    pub fn new(max: u32, status: u16) -> Self {
        Concurrency {
            max: max as isize,
            status,
            inflight: Inflight::new(),
        }
    }

    /// Counts a request from `client` in flight until the guard drops; `None` (and nothing
    /// counted) when that would exceed the limit.
    pub fn enter(&self, client: &[u8]) -> Option<Guard> {
        let (guard, n) = self.inflight.incr(client, 1);
        (n <= self.max).then_some(guard)
    }
}

/// The limits a request passes before it is forwarded.
#[derive(Default)]
pub struct Limits {
    pub req: Option<RequestRate>,
    pub conn: Option<Concurrency>,
}

/// A request that passed: holds its `limit_conn` slot.
pub struct Admitted {
    _slot: Option<Guard>,
}

impl Limits {
    /// Admits a request from `client`, or says which status refuses it.
    pub fn admit(&self, client: &[u8]) -> Result<Admitted, u16> {
        let slot = match &self.conn {
            Some(c) => Some(c.enter(client).ok_or(c.status)?),
            None => None,
        };
        if let Some(r) = &self.req {
            if !r.allow(client) {
                return Err(r.status);
            }
        }
        Ok(Admitted { _slot: slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_plus_burst_pass_at_once_then_the_rate() {
        let r = RequestRate::new(2.0, 2, 503);
        let t = Instant::now();
        let ip = b"10.0.0.1";
        assert!(r.allow_at(ip, t));
        assert!(r.allow_at(ip, t));
        assert!(r.allow_at(ip, t));
        assert!(!r.allow_at(ip, t), "1 + burst");
        assert!(r.allow_at(b"10.0.0.2", t), "per client");
        assert!(!r.allow_at(ip, t + Duration::from_millis(400)));
        assert!(
            r.allow_at(ip, t + Duration::from_millis(500)),
            "one drained at 2/s"
        );
    }

    #[test]
    fn concurrency_is_per_client_and_released() {
        let c = Concurrency::new(1, 503);
        let first = c.enter(b"a").expect("first");
        assert!(c.enter(b"a").is_none());
        assert!(c.enter(b"b").is_some());
        drop(first);
        assert!(c.enter(b"a").is_some());
    }
}
