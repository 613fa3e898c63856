//! Client connection limits and draining: at most `max_connections` client connections are
//! served at once (further ones are closed at accept, as nginx's `worker_connections`), and
//! on SIGTERM or an upgrade the process exits once no connection has been open for 100 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long the process must have had no open client connection before a graceful shutdown
/// exits early; far longer than a spawned task waits for its first poll on a runtime that
/// does not block.
const SETTLE: Duration = Duration::from_millis(100);

/// Graceful shutdown that ends as soon as the proxy is drained.
///
/// On SIGTERM pingora stops accepting, closes idle keep-alive connections, and then sleeps
/// for the whole grace period before it drops whatever still runs. This service watches
/// the open connections during that period and exits the process as soon as none is left
/// (in-flight requests finished), so `docker stop` takes as long as the slowest request,
/// bounded by `shutdown_grace_secs`, instead of always the full grace period.
///
/// "None left" must hold for [`SETTLE`]: pingora spawns each accepted connection as a task
/// that takes its permit only when first polled, so a connection accepted just before the
/// listener stopped may not be counted yet when shutdown begins, and exiting then would
/// close it unanswered.
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
        let mut idle_since = None;
        loop {
            if self.connections.open() > 0 {
                idle_since = None;
            } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= SETTLE {
                tracing::info!("drained: no request in flight, exiting");
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
