//! Client connection limits and draining: at most `max_connections` client connections are
//! served at once (further ones are closed at accept, as nginx's `worker_connections`), and
//! on SIGTERM the process exits as soon as the last one is done.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tokio::sync::Semaphore;

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

    /// The permits, one taken per client connection while it is served.
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
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
