//! `kvstore [CONFIG_FILE] [--OPTION VALUE ...]`: the same command line as `redis-server`.

use std::process::ExitCode;

use kvstore::config::{self, Invocation, LogLevel};
use kvstore::server::Server;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse_args(&args) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Version) => {
            print!("{}", config::version_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Help) => {
            eprint!("{}", config::usage_text());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            // The message carries its own line breaks, exactly as redis-server prints it.
            eprint!("{e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(config.loglevel);
    tracing::info!(
        "kvstore version={}, redis_version={}, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        config::REDIS_VERSION,
        std::process::id()
    );
    tracing::info!("Configuration loaded: {}", config.summary());
    for (name, _) in &config.unused {
        tracing::warn!(
            "'{name}' is a Redis directive kvstore does not use; it is accepted and ignored"
        );
    }
    if !config.save.is_empty() {
        tracing::info!(
            "save points ('{}') are ignored: kvstore persists continuously to sled",
            config.save
        );
    }
    // `io-threads` (Redis's knob, default 1) sets the worker threads that parse requests and
    // do socket I/O; command execution stays serial under the keyspace lock either way.
    let io_threads = config
        .get(b"io-threads")
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    tracing::info!(io_threads, "starting the network threads");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: config::Config) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    for addr in server.local_addrs() {
        tracing::info!("Ready to accept connections tcp {addr}");
    }
    server.run(signal()).await
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn init_tracing(level: LogLevel) {
    let default = match level {
        LogLevel::Debug | LogLevel::Verbose => "debug",
        LogLevel::Notice => "info",
        LogLevel::Warning => "warn",
        LogLevel::Nothing => "off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("kvstore={default},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
