//! The load balancer proper: a [`ProxyHttp`] implementation over pingora-load-balancing's
//! round-robin [`LoadBalancer`].
//!
//! Invariants:
//! - With every backend healthy, each request advances the round-robin counter exactly once,
//!   so consecutive requests alternate exactly, as with nginx.
//! - A request is retried on a backend it has not tried yet when the attempt failed before
//!   any response byte reached the client: always after a connect failure (the backend never
//!   saw the request, as nginx `proxy_next_upstream error`), and for idempotent methods after
//!   an I/O error on an established connection. The failed backend is marked (passive
//!   health); the client never sees the failure while another backend answers.
//! - With nothing reachable the client gets nginx's `502` (or `504` on a timeout) page.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_load_balancing::{selection::RoundRobin, Backend, LoadBalancer};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

use crate::access_log;
use crate::config::Config;
use crate::metrics;
use crate::passive::PassiveHealth;

/// What the request path needs from the configuration, resolved once.
pub struct Settings {
    pub server_header: Option<HeaderValue>,
    pub access_log: bool,
    pub max_tries: usize,
    pub keepalive: Option<u64>,
    pub client_body_timeout: Duration,
    pub max_header_bytes: usize,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    pub upstream_idle_timeout: Duration,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            // Static for the life of the process, so the per-response clone is a copy of a
            // pointer rather than a reference count shared by the worker threads.
            server_header: (!c.server_header.is_empty()).then(|| {
                let value: &'static [u8] = Box::leak(c.server_header.clone().into_bytes().into());
                HeaderValue::from_maybe_shared(Bytes::from_static(value))
                    .expect("validated server_header")
            }),
            access_log: c.access_log,
            max_tries: c.max_tries,
            keepalive: (c.keepalive_timeout > 0).then_some(c.keepalive_timeout),
            client_body_timeout: c.client_body_timeout,
            max_header_bytes: c.max_header_bytes,
            connect_timeout: c.connect_timeout,
            read_timeout: c.read_timeout,
            send_timeout: c.send_timeout,
            upstream_idle_timeout: c.upstream_idle_timeout,
        }
    }
}

/// The proxy service: the upstream set plus passive health.
pub struct Balancer {
    pub upstreams: Arc<LoadBalancer<RoundRobin>>,
    pub passive: Arc<PassiveHealth>,
    pub settings: Settings,
}

/// Per-request state.
pub struct RequestCtx {
    start: Instant,
    /// The backend of the current attempt.
    upstream: Option<SocketAddr>,
    upstream_start: Option<Instant>,
    /// Backends that failed for this request (not tried again).
    failed: Vec<SocketAddr>,
    /// Status sent by `fail_to_proxy` or a filter, when no upstream response was relayed.
    local_status: Option<u16>,
}

/// Appends `ip` as text, as `IpAddr`'s `Display` writes it; IPv4 without `fmt`, which
/// cost a thousand instructions per request.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
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

/// nginx's error pages (less its `<hr><center>nginx</center>` line), so a client sees the
/// same kind of page from either proxy.
pub fn error_page(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n",
        408 => "<html>\r\n<head><title>408 Request Time-out</title></head>\r\n<body>\r\n<center><h1>408 Request Time-out</h1></center>\r\n</body>\r\n</html>\r\n",
        431 => "<html>\r\n<head><title>431 Request Header Fields Too Large</title></head>\r\n<body>\r\n<center><h1>431 Request Header Fields Too Large</h1></center>\r\n</body>\r\n</html>\r\n",
        500 => "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n",
        502 => "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
        503 => "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n",
        504 => "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n",
        _ => return None,
    })
}

impl Balancer {
    fn tries_allowed(&self) -> usize {
        match self.settings.max_tries {
            0 => self.upstreams.backends().get_backend().len().max(1),
            n => n,
        }
    }

    /// Records a failed attempt; true when another backend may be tried.
    fn attempt_failed(&self, ctx: &mut RequestCtx) -> bool {
        if let Some(addr) = ctx.upstream {
            metrics::UPSTREAM_FAILURES
                .with_label_values(&[&addr.to_string()])
                .inc();
            if self.passive.failed(addr) {
                tracing::warn!(upstream = %addr, "upstream marked down (passive health)");
            }
            ctx.failed.push(addr);
        }
        ctx.failed.len() < self.tries_allowed()
    }

    async fn send_error(&self, session: &mut Session, code: u16) {
        let mut resp = ResponseHeader::build(code, Some(4)).expect("status");
        let body = error_page(code).unwrap_or("");
        let _ = resp.insert_header("Content-Type", "text/html");
        let _ = resp.insert_header("Content-Length", body.len());
        if let Some(server) = &self.settings.server_header {
            let _ = resp.insert_header(http::header::SERVER, server.clone());
        }
        // pingora does not reuse a client connection after a failed proxy attempt; say so.
        let _ = resp.insert_header("Connection", "close");
        session.set_keepalive(None);
        let _ = session
            .write_response_header(Box::new(resp), body.is_empty())
            .await;
        if !body.is_empty() {
            let _ = session
                .write_response_body(Some(Bytes::from_static(body.as_bytes())), true)
                .await;
        }
    }
}

#[async_trait]
impl ProxyHttp for Balancer {
    type CTX = RequestCtx;

    fn init_downstream_modules(&self, _modules: &mut pingora_core::modules::http::HttpModules) {
        // No response compression module (pingora adds a disabled one by default): one less
        // allocation per request, and nginx's config has no gzip either.
    }

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            start: Instant::now(),
            upstream: None,
            upstream_start: None,
            failed: Vec::new(),
            local_status: None,
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The head is in: from now on reads are body reads, and after this request the
        // connection may idle for the keep-alive timeout.
        session.set_read_timeout(Some(self.settings.client_body_timeout));
        if session.get_keepalive().is_some() {
            session.set_keepalive(self.settings.keepalive);
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let head_len = session
            .as_downstream()
            .as_http1()
            .map_or(0, |h1| h1.get_headers_raw_bytes().len());
        if head_len > self.settings.max_header_bytes {
            ctx.local_status = Some(431);
            self.send_error(session, 431).await;
            return Ok(true);
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let failed = &ctx.failed;
        let passive = &self.passive;
        let not_failed = |b: &Backend| backend_addr(b).is_some_and(|a| !failed.contains(&a));
        let choice = self
            .upstreams
            .select_with(b"", 256, |b, healthy| {
                healthy
                    && backend_addr(b).is_some_and(|a| !passive.is_down(&a))
                    && (failed.is_empty() || not_failed(b))
            })
            // Nothing healthy: like nginx, try the others anyway rather than fail outright.
            .or_else(|| self.upstreams.select_with(b"", 256, |b, _| not_failed(b)));
        let Some(backend) = choice else {
            return Err(Error::explain(
                ErrorType::ConnectNoRoute,
                "no upstream left to try",
            ));
        };
        if !ctx.failed.is_empty() {
            metrics::RETRIES.inc();
        }
        ctx.upstream = backend_addr(&backend);
        ctx.upstream_start = Some(Instant::now());
        let mut peer = HttpPeer::new(backend.addr, false, String::new());
        let o = &mut peer.options;
        o.connection_timeout = Some(self.settings.connect_timeout);
        o.read_timeout = Some(self.settings.read_timeout);
        o.write_timeout = Some(self.settings.send_timeout);
        o.idle_timeout = Some(self.settings.upstream_idle_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        // What nginx's `proxy_set_header` lines in configs/nginx.conf send; Host is kept.
        if let Some(ip) = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip())
        {
            let mut real_ip = Vec::with_capacity(15);
            push_ip(&mut real_ip, ip);
            let xff = match req.headers.get("X-Forwarded-For").map(|v| v.as_bytes()) {
                Some(prev) if !prev.is_empty() => {
                    let mut v = Vec::with_capacity(prev.len() + 2 + real_ip.len());
                    v.extend_from_slice(prev);
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(&real_ip);
                    v
                }
                _ => real_ip.clone(),
            };
            req.insert_header("X-Forwarded-For", xff)?;
            req.insert_header("X-Real-IP", real_ip)?;
        }
        req.insert_header("X-Forwarded-Proto", HeaderValue::from_static("http"))?;
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(server) = &self.settings.server_header {
            resp.insert_header(http::header::SERVER, server.clone())?;
        }
        if let Some(addr) = ctx.upstream {
            self.passive.succeeded(&addr);
        }
        Ok(())
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // A client that hung up or was cut off by a limit is not the proxy's error (nginx
        // logs these at `info`); they still count in the metrics and the access log.
        error.esource() == &ErrorSource::Downstream
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // The backend never saw the request: any method may go to the next one.
        if self.attempt_failed(ctx) {
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        _client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        // Only upstream failures count against the backend; a client hanging up does not.
        if e.esource() != &ErrorSource::Upstream {
            e.set_retry(false);
            return e;
        }
        let more = self.attempt_failed(ctx);
        let safe = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated()
            && session.response_written().is_none();
        e.set_retry(more && safe);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        use ErrorType::*;
        let code = match (e.etype(), e.esource()) {
            (HTTPStatus(code), _) => *code,
            (ConnectTimedout | ReadTimedout | WriteTimedout, ErrorSource::Upstream) => 504,
            (_, ErrorSource::Upstream) => 502,
            (ConnectNoRoute, _) => 502,
            (ReadTimedout, ErrorSource::Downstream) => 408,
            (ReadError | WriteError | ConnectionClosed, ErrorSource::Downstream) => 0,
            (_, ErrorSource::Downstream) => 400,
            _ => 500,
        };
        if code > 0 && session.response_written().is_none() {
            self.send_error(session, code).await;
        }
        ctx.local_status = Some(code);
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.local_status)
            .unwrap_or(0);
        metrics::observe_request(ctx.upstream, status, ctx.start.elapsed().as_secs_f64());
        if self.settings.access_log {
            let upstream = ctx
                .upstream
                .map_or_else(|| "-".to_string(), |a| a.to_string());
            let upstream_time = ctx.upstream_start.map(|t| t.elapsed());
            access_log::write(session, status, &upstream, upstream_time);
        }
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
