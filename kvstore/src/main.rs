//! `kvstore [CONFIG_FILE] [--OPTION VALUE ...]`: the same command line as `redis-server`.
//! `kvstore healthcheck [PORT]`: exit 0 when the server on 127.0.0.1:PORT (default 6379)
//! answers PING — the Docker `HEALTHCHECK` of a scratch image, which has no `redis-cli`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use kvstore::{Invocation, LogLevel};

/// glibc's malloc spent most of the checkpoint thread's time freeing what commands allocated
/// on another thread (its free lists and consolidation), and rounds every small key and value
/// up with a header; mimalloc's size classes and per-thread heaps do neither. Counted, so
/// INFO's `used_memory` and `maxmemory` see what the process holds.
#[global_allocator]
static GLOBAL: kvstore::CountingAllocator = kvstore::CountingAllocator::new();

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("healthcheck") {
        return healthcheck(args.get(1).map(String::as_str));
    }
    let config = match kvstore::parse_args(&args) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Version) => {
            print!("{}", kvstore::version_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Help) => {
            eprint!("{}", kvstore::usage_text());
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
        kvstore::REDIS_VERSION,
        std::process::id()
    );
    tracing::info!("Configuration loaded: {}", config.summary());
    // `user` directives are ACL users, kept there for start-up.
    for (name, _) in config.unused.iter().filter(|(name, _)| name != "user") {
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
    if config
        .get(b"disable-thp")
        .first()
        .is_some_and(|(_, v)| v == "yes")
    {
        disable_transparent_huge_pages();
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
        .on_thread_unpark(kvstore::on_thread_unpark)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kvstore::run(config, signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Redis's `disable-thp yes` (the default): with transparent huge pages, the first touch of
/// fresh memory makes the kernel zero a whole 2 MiB page, and the allocator returning and
/// re-touching memory turned that into a third of the network thread's time under list
/// pushes. Like Redis, turn them off for this process only.
fn disable_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of the calling process.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::warn!(
            "could not disable transparent huge pages: {}",
            std::io::Error::last_os_error()
        );
    }
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
        // Colours only on a terminal: `docker logs` and files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

/// PINGs the local server. Any reply proves it is up and serving: `+PONG`, or `-NOAUTH` when
/// a password is set; `-LOADING` and friends, a refused connection or silence do not.
fn healthcheck(port: Option<&str>) -> ExitCode {
    let port: u16 = match port.unwrap_or("6379").parse() {
        Ok(p) => p,
        Err(_) => {
            eprintln!("usage: kvstore healthcheck [PORT]");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(2);
    let reply = (|| -> std::io::Result<Vec<u8>> {
        let mut conn = TcpStream::connect_timeout(&addr, timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        conn.write_all(b"*1\r\n$4\r\nPING\r\n")?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf)?;
        Ok(buf[..n].to_vec())
    })();
    match reply {
        Ok(r) if r.starts_with(b"+PONG") || r.starts_with(b"-NOAUTH") => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("{addr}: {}", String::from_utf8_lossy(&r).trim_end());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
