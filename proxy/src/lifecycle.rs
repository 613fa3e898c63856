//! The process lifecycle: signals, draining, and the order things stop in.
//!
//! pingora's own handling of SIGTERM stops the listeners, then sleeps for the whole grace
//! period on the main thread, then drops every task still running. The proxy used to cut
//! that sleep short by calling `process::exit` from a background task as soon as it was
//! drained; exiting from a side thread while worker threads still ran raced with them
//! (atexit handlers and the allocator torn down under running threads) and now and then
//! ended in SIGABRT. Here the drain happens *before* pingora is told to stop:
//!
//! - [`Signals`] is the pingora `ShutdownSignalWatch`. On SIGTERM (or SIGQUIT, after handing
//!   the listening sockets to the new process of a graceful upgrade) it closes the client
//!   listener through [`Listening`]'s own shutdown watch, waits until no client connection
//!   has been open for [`SETTLE`] (bounded by the grace period), and only then returns, so
//!   pingora's broadcast and runtime shutdown find nothing in flight. The grace period given
//!   to pingora is zero, and `Server::run` returns to `main`, which returns normally: the
//!   process exits from the main thread after every runtime stopped.
//! - SIGHUP does not stop anything: it calls the reload hook and keeps waiting.
//! - SIGINT is pingora's fast shutdown, unchanged.
//!
//! Invariant: the client listener stops accepting before the drain starts, and the drain
//! ends only after [`SETTLE`] without any open client connection (a connection accepted just
//! before the listener stopped takes its permit when first polled).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::server::{ListenFds, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora_core::services::{ServiceReadyNotifier, ServiceWithDependents};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::listener::Connections;

/// How long the process must have had no open client connection before the drain ends;
/// far longer than a spawned task waits for its first poll on a runtime that does not block.
pub const SETTLE: Duration = Duration::from_millis(100);

/// What [`Signals`] and the wrapped listening service share.
#[derive(Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<bool>>,
    fds: Arc<Mutex<Option<ListenFds>>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            tx: Arc::new(watch::channel(false).0),
            fds: Arc::new(Mutex::new(None)),
        }
    }

    /// Tells the client listener (and idle keep-alive connections) to stop.
    fn stop_accepting(&self) {
        self.tx.send_replace(true);
    }
}

/// A listening service started with the lifecycle's shutdown watch instead of pingora's, so
/// it can stop accepting before pingora's shutdown begins (pingora's still stops it too).
pub struct Listening<S> {
    pub inner: S,
    pub stop: Stop,
}

#[async_trait]
impl<S: ServiceWithDependents> ServiceWithDependents for Listening<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
        ready_notifier: ServiceReadyNotifier,
    ) {
        if let Some(fds) = &fds {
            *self.stop.fds.lock().unwrap_or_else(|p| p.into_inner()) = Some(fds.clone());
        }
        // pingora's own broadcast (SIGINT, or the end of a drain) stops the listener too.
        let tx = self.stop.tx.clone();
        let mut theirs = shutdown;
        tokio::spawn(async move {
            while !*theirs.borrow_and_update() {
                if theirs.changed().await.is_err() {
                    return;
                }
            }
            tx.send_replace(true);
        });
        let ours = self.stop.tx.subscribe();
        self.inner
            .start_service(fds, ours, listeners_per_fd, ready_notifier)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}

/// The signal handler pingora's `Server::run` waits on.
pub struct Signals {
    pub stop: Stop,
    pub connections: Connections,
    /// Longest wait for in-flight requests.
    pub grace: Duration,
    /// Where a graceful upgrade's new process waits for the listening sockets.
    pub upgrade_sock: String,
    /// Reloaded on SIGHUP.
    pub live: Arc<dyn Reload>,
}

/// What SIGHUP does.
#[async_trait]
pub trait Reload: Send + Sync {
    async fn reload(&self);
}

impl Signals {
    /// Waits until no client connection has been open for [`SETTLE`], or `grace` passed.
    async fn drain(&self) {
        let deadline = Instant::now() + self.grace;
        let mut idle_since = None;
        loop {
            if self.connections.open() > 0 {
                idle_since = None;
            } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= SETTLE {
                tracing::info!("drained: no request in flight");
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    open = self.connections.open(),
                    "grace period over with connections still open; closing them"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Hands the listening sockets to the process started with `--upgrade`.
    fn hand_over(&self) {
        let fds = self
            .stop
            .fds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(fds) = fds else {
            tracing::warn!("graceful upgrade: no listening sockets to hand over");
            return;
        };
        let fds = fds.lock();
        match fds.send_to_sock(self.upgrade_sock.as_str()) {
            Ok(_) => tracing::info!("listening sockets handed to the new process"),
            Err(e) => tracing::error!("cannot hand the listening sockets over: {e}"),
        }
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let listen = |kind| signal(kind).expect("signal handler");
        let mut term = listen(SignalKind::terminate());
        let mut quit = listen(SignalKind::quit());
        let mut int = listen(SignalKind::interrupt());
        let mut hup = listen(SignalKind::hangup());
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: stop accepting, drain, exit");
                    break;
                }
                _ = quit.recv() => {
                    tracing::info!("SIGQUIT: graceful upgrade");
                    self.hand_over();
                    break;
                }
                _ = int.recv() => return ShutdownSignal::FastShutdown,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    self.live.reload().await;
                }
            }
        }
        self.stop.stop_accepting();
        self.drain().await;
        ShutdownSignal::GracefulTerminate
    }
}
