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

use pingora_load_balancing::{selection::RoundRobin, Backend, LoadBalancer};

use crate::config::Config;
use crate::metrics;
use crate::passive::PassiveHealth;

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

/// The upstream set plus passive health.
pub struct Balancer {
    pub upstreams: Arc<LoadBalancer<RoundRobin>>,
    pub passive: Arc<PassiveHealth>,
    pub settings: Settings,
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
        413 => ("Request Entity Too Large", "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"),
        431 => ("Request Header Fields Too Large", "<html>\r\n<head><title>431 Request Header Fields Too Large</title></head>\r\n<body>\r\n<center><h1>431 Request Header Fields Too Large</h1></center>\r\n</body>\r\n</html>\r\n"),
        501 => ("Not Implemented", "<html>\r\n<head><title>501 Not Implemented</title></head>\r\n<body>\r\n<center><h1>501 Not Implemented</h1></center>\r\n</body>\r\n</html>\r\n"),
        502 => ("Bad Gateway", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"),
        504 => ("Gateway Time-out", "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"),
        _ => ("Internal Server Error", "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n"),
    }
}

impl Balancer {
    fn tries_allowed(&self) -> usize {
        match self.settings.max_tries {
            0 => self.upstreams.backends().get_backend().len().max(1),
            n => n,
        }
    }

    /// The next upstream for a request that already failed on `failed`.
    pub fn select(&self, failed: &[SocketAddr]) -> Option<SocketAddr> {
        let passive = &self.passive;
        let not_failed = |b: &Backend| backend_addr(b).is_some_and(|a| !failed.contains(&a));
        self.upstreams
            .select_with(b"", 256, |b, healthy| {
                backend_addr(b).is_some_and(|a| passive.usable(&a, healthy))
                    && (failed.is_empty() || not_failed(b))
            })
            .or_else(|| self.upstreams.select_with(b"", 256, |b, _| not_failed(b)))
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
