//! The admin listener (default `127.0.0.1:9091`): `/metrics` in Prometheus text format and
//! `/healthz` (200 while at least one upstream is usable, 503 otherwise, so the container's
//! health reflects whether it can serve).

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

use crate::metrics;
use crate::upstreams::Live;

pub struct Admin {
    pub live: Arc<Live>,
}

impl Admin {
    /// Upstreams the balancer would pick: healthy, not marked down, not held for a check.
    fn healthy_upstreams(&self) -> usize {
        let balancer = self.live.balancer();
        std::iter::once(&balancer.primary)
            .chain(balancer.backup.as_ref())
            .flat_map(|g| {
                let backends = g.backends();
                backends
                    .get_backend()
                    .iter()
                    .filter(|b| backends.ready(b))
                    .filter_map(|b| b.addr.as_inet().copied())
                    .collect::<Vec<_>>()
            })
            .filter(|a| !balancer.passive.is_down(a))
            .count()
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let (status, ctype, body) = match path.as_str() {
            "/metrics" => (200, "text/plain; version=0.0.4", metrics::render()),
            "/healthz" => {
                let n = self.healthy_upstreams();
                let status = if n > 0 { 200 } else { 503 };
                (
                    status,
                    "text/plain",
                    format!("{n} healthy upstreams\n").into_bytes(),
                )
            }
            _ => (404, "text/plain", b"not found\n".to_vec()),
        };
        Response::builder()
            .status(status)
            .header("Content-Type", ctype)
            .header("Content-Length", body.len())
            .body(body)
            .expect("response")
    }
}
