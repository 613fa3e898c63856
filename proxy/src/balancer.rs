//! The balancing policy: which upstream a request goes to, and what a failed attempt means.
//! Selection, discovery and active health checks are pingora-load-balancing's; this adds
//! nginx's passive health (`max_fails`) and `proxy_next_upstream_tries`.
//!
//! Invariants:
//! - With every backend healthy, each request advances the round-robin counter exactly once,
//!   so consecutive requests alternate exactly, as with nginx.
//! - A request is never sent twice to a backend that failed it.
//! - With nothing healthy left, the backends not yet tried are tried anyway (nginx does the
//!   same rather than fail outright).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pingora_load_balancing::Backend;

use crate::config::{Config, HashKey, Method};
use crate::limits::Limits;
use crate::metrics;
use crate::passive::PassiveHealth;
use crate::selector::Selector;

/// What the request path needs from the configuration, resolved once.
pub struct Settings {
    /// Response `Server` header value; empty: keep the upstream's.
    pub server_header: Box<[u8]>,
    pub access_log: bool,
    pub max_tries: usize,
    /// Idle keep-alive timeout for client connections; `None`: no keep-alive.
    pub keepalive: Option<Duration>,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    pub client_max_body_size: u64,
    pub max_header_bytes: usize,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            server_header: c.server_header.as_bytes().into(),
            access_log: c.access_log,
            max_tries: c.max_tries,
            keepalive: (c.keepalive_timeout > 0).then(|| Duration::from_secs(c.keepalive_timeout)),
            client_header_timeout: Duration::from_secs(c.client_header_timeout),
            client_body_timeout: c.client_body_timeout,
            client_max_body_size: c.client_max_body_size,
            max_header_bytes: c.max_header_bytes,
            connect_timeout: c.connect_timeout,
            read_timeout: c.read_timeout,
            send_timeout: c.send_timeout,
        }
    }
}

/// The upstream groups plus passive health.
pub struct Balancer {
    /// The servers not marked `backup`.
    pub primary: Selector,
    /// The `backup` servers: used only while no primary one is usable.
    pub backup: Option<Selector>,
    pub method: Method,
    /// Requests in flight per upstream (`least_conn`).
    pub in_flight: Mutex<HashMap<SocketAddr, usize>>,
    /// Breaks `least_conn` ties in turn.
    pub turn: AtomicUsize,
    pub passive: Arc<PassiveHealth>,
    pub settings: Settings,
    /// `limit_req` / `limit_conn`.
    pub limits: Limits,
    /// How often the refresh task re-resolves names and checks backends.
    pub resolve_interval: Duration,
    pub check_interval: Duration,
}

/// Appends `ip` as text, as `IpAddr`'s `Display` writes it; IPv4 without `fmt`, which
/// cost a thousand instructions per request.
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(_) => {
            use std::io::Write as _;
            let _ = write!(out, "{ip}");
        }
    }
}

fn backend_addr(b: &Backend) -> Option<SocketAddr> {
    b.addr.as_inet().copied()
}

/// nginx's reason phrase and error page (less its `<hr><center>nginx</center>` line) for the
/// statuses this proxy answers by itself, so a client sees the same kind of page from either.
pub fn error_page(code: u16) -> (&'static str, &'static str) {
    match code {
        400 => ("Bad Request", "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n"),
        408 => ("Request Time-out", "<html>\r\n<head><title>408 Request Time-out</title></head>\r\n<body>\r\n<center><h1>408 Request Time-out</h1></center>\r\n</body>\r\n</html>\r\n"),
        429 => ("Too Many Requests", "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n</body>\r\n</html>\r\n"),
        503 => ("Service Temporarily Unavailable", "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"),
        413 => ("Request Entity Too Large", "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"),
        431 => ("Request Header Fields Too Large", "<html>\r\n<head><title>431 Request Header Fields Too Large</title></head>\r\n<body>\r\n<center><h1>431 Request Header Fields Too Large</h1></center>\r\n</body>\r\n</html>\r\n"),
        501 => ("Not Implemented", "<html>\r\n<head><title>501 Not Implemented</title></head>\r\n<body>\r\n<center><h1>501 Not Implemented</h1></center>\r\n</body>\r\n</html>\r\n"),
        502 => ("Bad Gateway", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"),
        504 => ("Gateway Time-out", "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"),
        _ => ("Internal Server Error", "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n"),
    }
}

/// Takes one off an upstream's in-flight count when the attempt ends.
pub struct InFlight<'a> {
    balancer: &'a Balancer,
    addr: SocketAddr,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self.balancer.lock_in_flight();
        if let Some(n) = map.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The request target of a request head (`$request_uri`).
fn request_target(head: &[u8]) -> &[u8] {
    let line = head
        .split(|&c| c == b'\r' || c == b'\n')
        .next()
        .unwrap_or(b"");
    line.split(|&c| c == b' ').nth(1).unwrap_or(b"")
}

impl Balancer {
    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, usize>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tries_allowed(&self) -> usize {
        let backups = self
            .backup
            .as_ref()
            .map_or(0, |b| b.backends().get_backend().len());
        match self.settings.max_tries {
            0 => (self.primary.backends().get_backend().len() + backups).max(1),
            n => n,
        }
    }

    /// What the configured method hashes for a request: its head and the client address
    /// as text. Empty for the methods that hash nothing.
    pub fn key(&self, head: &[u8], client_ip: &[u8]) -> Vec<u8> {
        match self.method {
            Method::RoundRobin | Method::LeastConn => Vec::new(),
            // nginx hashes the first three octets of an IPv4 address, all of an IPv6 one.
            Method::IpHash => match client_ip.iter().rposition(|&c| c == b'.') {
                Some(dot) => client_ip[..dot].to_vec(),
                None => client_ip.to_vec(),
            },
            Method::Hash { key, .. } => match key {
                HashKey::RequestUri => request_target(head).to_vec(),
                HashKey::RemoteAddr => client_ip.to_vec(),
            },
        }
    }

    /// Counts a request in flight to `addr` until the guard drops (for `least_conn`).
    pub fn track(&self, addr: SocketAddr) -> Option<InFlight<'_>> {
        if self.method != Method::LeastConn {
            return None;
        }
        *self.lock_in_flight().entry(addr).or_default() += 1;
        Some(InFlight {
            balancer: self,
            addr,
        })
    }

    /// `least_conn`: among the acceptable backends, the fewest in flight per weight; ties in
    /// turn.
    fn least_conn(
        &self,
        group: &Selector,
        accept: impl Fn(&Backend, bool) -> bool,
    ) -> Option<Backend> {
        let backends = group.backends();
        let in_flight = self.lock_in_flight();
        let load = |b: &Backend| {
            let n = backend_addr(b)
                .and_then(|a| in_flight.get(&a))
                .copied()
                .unwrap_or(0);
            (n, b.weight.max(1))
        };
        let mut best: Vec<Backend> = Vec::new();
        for b in backends.get_backend().iter() {
            if !accept(b, backends.ready(b)) {
                continue;
            }
            match best.first().map(load) {
                None => best.push(b.clone()),
                Some((n, w)) => {
                    let (m, v) = load(b);
                    // m/v < n/w
                    if m * w < n * v {
                        best.clear();
                        best.push(b.clone());
                    } else if m * w == n * v {
                        best.push(b.clone());
                    }
                }
            }
        }
        if best.is_empty() {
            return None;
        }
        let i = self.turn.fetch_add(1, Ordering::Relaxed) % best.len();
        Some(best.swap_remove(i))
    }

    fn pick(
        &self,
        group: &Selector,
        key: &[u8],
        accept: impl Fn(&Backend, bool) -> bool,
    ) -> Option<Backend> {
        if self.method == Method::LeastConn {
            self.least_conn(group, accept)
        } else {
            group.select_with(key, accept)
        }
    }

    /// The next upstream for a request (hashing `key`) that already failed on `failed`:
    /// a usable primary, else a usable backup, else any not tried yet.
    pub fn select(&self, failed: &[SocketAddr], key: &[u8]) -> Option<SocketAddr> {
        let passive = &self.passive;
        let not_failed = |b: &Backend| backend_addr(b).is_some_and(|a| !failed.contains(&a));
        let usable = |b: &Backend, healthy: bool| {
            backend_addr(b).is_some_and(|a| passive.usable(&a, healthy))
                && (failed.is_empty() || not_failed(b))
        };
        self.pick(&self.primary, key, usable)
            .or_else(|| self.backup.as_ref().and_then(|g| self.pick(g, key, usable)))
            .or_else(|| self.pick(&self.primary, key, |b, _| not_failed(b)))
            .or_else(|| {
                self.backup
                    .as_ref()
                    .and_then(|g| self.pick(g, key, |b, _| not_failed(b)))
            })
            .and_then(|b| backend_addr(&b))
    }

    /// Records that `addr` failed an attempt; true when another backend may be tried.
    pub fn attempt_failed(&self, addr: SocketAddr, failed: &mut Vec<SocketAddr>) -> bool {
        metrics::UPSTREAM_FAILURES
            .with_label_values(&[&addr.to_string()])
            .inc();
        if self.passive.failed(addr) {
            tracing::warn!(upstream = %addr, "upstream marked down (passive health)");
        }
        failed.push(addr);
        failed.len() < self.tries_allowed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uri_is_the_target() {
        assert_eq!(
            request_target(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"/a?b=1"
        );
        assert_eq!(request_target(b""), b"");
    }

    #[test]
    fn client_ip_text_is_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "203.0.113.7",
            "10.20.100.255",
            "9.99.199.249",
            "::1",
            "::ffff:10.0.0.1",
            "2001:db8::5",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }
}
