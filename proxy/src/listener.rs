//! The client side of the proxy listener: what pingora's generic HTTP/1 loop does, plus the
//! limits that keep hostile clients from hurting others.
//!
//! - At most `max_connections` client connections are served at once; further ones are
//!   closed at accept (nginx's `worker_connections` behaves the same way).
//! - The first request head must arrive within `client_header_timeout` (pingora reads the
//!   head under the connection's keep-alive timeout, so that is what is set here); later
//!   heads within the keep-alive timeout that [`crate::balancer`] sets per request.
//! - Request bodies and header sizes are bounded in [`crate::balancer`].
//!
//! Only HTTP/1.x is served (as nginx without `http2 on`): no h2c preface sniffing.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::apps::{HttpServerApp, ServerApp};
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::Stream;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::sync::Semaphore;

use crate::metrics;

/// Wraps an HTTP app (pingora's proxy) with per-connection limits.
pub struct ClientLimits<A> {
    app: Arc<A>,
    connections: Arc<Semaphore>,
    header_timeout_secs: u64,
}

impl<A> ClientLimits<A> {
    pub fn new(app: A, connections: &Connections, header_timeout_secs: u64) -> Self {
        ClientLimits {
            app: Arc::new(app),
            connections: connections.permits.clone(),
            header_timeout_secs,
        }
    }
}

/// The open client connections: a semaphore with one permit per allowed connection.
#[derive(Clone)]
pub struct Connections {
    permits: Arc<Semaphore>,
    max: usize,
}

impl Connections {
    pub fn new(max: usize) -> Self {
        Connections {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Client connections open right now.
    pub fn open(&self) -> usize {
        self.max - self.permits.available_permits()
    }
}

/// Graceful shutdown that ends as soon as the proxy is drained.
///
/// On SIGTERM pingora stops accepting, closes idle keep-alive connections, and then sleeps
/// for the whole grace period before it drops whatever still runs. This service watches
/// the open connections during that period and exits the process as soon as none is left
/// (in-flight requests finished), so `docker stop` takes as long as the slowest request,
/// bounded by `shutdown_grace_secs`, instead of always the full grace period.
pub struct Drain {
    pub connections: Connections,
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        loop {
            let open = self.connections.open();
            if open == 0 {
                tracing::info!("drained: no request in flight, exiting");
                std::process::exit(0);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl<A> ServerApp for ClientLimits<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.connections.try_acquire() else {
            metrics::CONNECTIONS_REFUSED.inc();
            return None;
        };
        let mut session = ServerSession::new_http1(stream);
        if *shutdown.borrow() {
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(self.header_timeout_secs));
        }
        let mut result = self.app.process_new_http(session, shutdown).await;
        while let Some((stream, settings)) = result.map(|r| r.consume()) {
            let mut session = ServerSession::new_http1(stream);
            if let Some(settings) = settings {
                settings.apply_to_session(&mut session);
            }
            result = self.app.process_new_http(session, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.app.http_cleanup().await;
    }
}
