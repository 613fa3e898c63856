//! Client connection limits: at most `max_connections` client connections are served at once
//! (further ones are closed at accept, as nginx's `worker_connections`). The count is also
//! what the shutdown drain waits on ([`crate::lifecycle`]).

use std::sync::Arc;

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
