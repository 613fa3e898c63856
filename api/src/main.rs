//! `api`: read the configuration, build the state and the router, serve until SIGTERM.
//!
//! `api healthcheck` instead probes a running instance (the image has no curl).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use api::{app, AppState, Config, Metrics, Store, VisitStore};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "api",
    version,
    about = "Visit counter over a Redis-protocol store (replaces the original Flask backend)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Exit 0 when /healthz on the local PORT answers 200 (for Docker HEALTHCHECK).
    Healthcheck {
        /// Longest wait for the answer, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// Ask /readyz instead: healthy only while the store answers too.
        #[arg(long)]
        ready: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { timeout_ms, ready }) => {
            let addr = cli.config.local_addr();
            let path = if ready { "/readyz" } else { "/healthz" };
            if let Err(e) = api::healthcheck::probe(addr, path, Duration::from_millis(timeout_ms)) {
                eprintln!("unhealthy: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
        None => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .with_ansi(std::io::stdout().is_terminal())
                .init();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?
                .block_on(serve(cli.config))
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    tracing::info!(%config, "starting api {}", env!("CARGO_PKG_VERSION"));
    let metrics = Arc::new(Metrics::new());
    let store = Store::new(&config, metrics.store.clone()).context("invalid store address")?;
    let state = AppState::new(config.resolve_container_id(), store, metrics);
    tracing::info!(container_id = %state.container_id, "serving visits");

    // Say early whether the store is there; requests connect on demand either way.
    let warm = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.ping().await {
            tracing::warn!(error = %e, "store not reachable yet; requests will retry");
        }
    });

    let listener = TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("cannot listen on {} (BIND, PORT)", config.listen_addr()))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");

    let draining = api::server::serve(
        listener,
        app(state),
        config.header_timeout(),
        shutdown_signal(),
    )
    .await;
    let grace = config.shutdown_timeout();
    if tokio::time::timeout(grace, draining).await.is_err() {
        tracing::warn!(
            timeout_ms = grace.as_millis() as u64,
            "requests still running after SHUTDOWN_TIMEOUT_MS; exiting anyway"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM (docker stop) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
