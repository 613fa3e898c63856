//! `proxy`: the stack's load balancer, a drop-in for its `nginx:alpine` container.
//!
//! `main` only reads the configuration, builds the live upstream set (`upstreams.rs`:
//! discovery, active health checks, method, limits; swapped on SIGHUP) and the proxy service,
//! and hands both to pingora's [`Server`], which owns threads, the listeners and graceful
//! upgrade (`--upgrade`). Signals go through `lifecycle.rs`, which drains before pingora
//! stops, so `Server::run` returns and the process exits from the main thread.

mod access_log;
mod admin;
mod balancer;
mod config;
mod discovery;
mod forward;
mod http1;
mod lifecycle;
mod limits;
mod listener;
mod metrics;
mod passive;
mod pool;
mod refresh;
mod selector;
mod upgrade;
mod upstreams;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pingora_core::apps::http_app::HttpServer;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs, Server};
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use std::time::Duration;

use crate::config::{CheckKind, Config, Overrides};

/// glibc's malloc took about a tenth of the proxy's CPU under load (its free lists and
/// consolidation); pingora allocates several small objects per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "proxy",
    version,
    about = "Round-robin HTTP load balancer (pingora)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML file with the remaining settings (see proxy/README.md).
    #[arg(long, global = true, env = "PROXY_CONFIG")]
    config: Option<PathBuf>,
    /// Upstreams: host:port[=weight], comma separated. Default backend1:5000,backend2:5000.
    #[arg(long, global = true, env = "UPSTREAMS")]
    upstreams: Option<String>,
    /// Client listener address. Default 0.0.0.0:80.
    #[arg(long, global = true, env = "LISTEN")]
    listen: Option<String>,
    /// Worker threads. Default: number of cores.
    #[arg(long, global = true, env = "THREADS")]
    threads: Option<usize>,
    /// Admin listener (/metrics, /healthz); "off" disables. Default 127.0.0.1:9091.
    #[arg(long, global = true, env = "ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// Access log on stdout: on/off. Default on.
    #[arg(long, global = true, env = "ACCESS_LOG", value_parser = parse_switch)]
    access_log: Option<bool>,
    /// A hosts-format file consulted before DNS when resolving upstream names.
    #[arg(long, global = true, env = "HOSTS_FILE")]
    hosts_file: Option<PathBuf>,
    /// Active health check: tcp (connect) or http (GET HEALTH_PATH, healthy on 200). Default tcp.
    #[arg(long, env = "HEALTH_CHECK", value_parser = parse_check)]
    health_check: Option<CheckKind>,
    /// Path the http health check asks for. Default /.
    #[arg(long, env = "HEALTH_PATH")]
    health_path: Option<String>,
    /// Take over the listeners of a running proxy (graceful upgrade; send it SIGQUIT).
    #[arg(short, long)]
    upgrade: bool,
    /// Socket used to hand listeners over during a graceful upgrade.
    #[arg(long, env = "UPGRADE_SOCK", default_value = "/tmp/proxy_upgrade.sock")]
    upgrade_sock: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exit 0 when the running proxy reports a usable upstream (for Docker HEALTHCHECK).
    Healthcheck,
}

fn parse_switch(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected on or off, got {v:?}")),
    }
}

fn parse_check(v: &str) -> Result<CheckKind, String> {
    match v.to_ascii_lowercase().as_str() {
        "tcp" => Ok(CheckKind::Tcp),
        "http" => Ok(CheckKind::Http),
        _ => Err(format!("expected tcp or http, got {v:?}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let over = Overrides {
        upstreams: cli.upstreams.clone(),
        listen: cli.listen.clone(),
        threads: cli.threads,
        admin_listen: cli.admin_listen.clone(),
        access_log: cli.access_log,
        hosts_file: cli.hosts_file.clone(),
        health_check: cli.health_check,
        health_path: cli.health_path.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), over.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("proxy: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Healthcheck) => healthcheck(&config),
        None => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                        "info,pingora_core=warn,pingora_load_balancing=error".into()
                    }),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            if let Err(e) = serve(config, cli.config, over, cli.upgrade, cli.upgrade_sock) {
                tracing::error!("{e:#}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}

/// `proxy healthcheck`: GET /healthz on the admin listener, or (admin off) a TCP connect
/// to the client listener. No shell or curl needed in a scratch image.
fn healthcheck(config: &Config) -> ExitCode {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
    use std::time::Duration;
    let local = |mut a: SocketAddr| {
        if a.ip().is_unspecified() {
            a.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        a
    };
    let timeout = Duration::from_secs(3);
    let ok = match config.admin_listen {
        Some(admin) => (|| -> std::io::Result<bool> {
            let mut s = TcpStream::connect_timeout(&local(admin), timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
            // The status line is all we need; don't wait for the close.
            let mut out = [0u8; 12];
            s.read_exact(&mut out)?;
            Ok(&out[9..12] == b"200")
        })()
        .unwrap_or(false),
        None => TcpStream::connect_timeout(&local(config.listen), timeout).is_ok(),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("proxy healthcheck: unhealthy");
        ExitCode::FAILURE
    }
}

fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    over: Overrides,
    upgrade: bool,
    upgrade_sock: String,
) -> Result<()> {
    tracing::info!(
        "proxy {} starting with {config:#?}",
        env!("CARGO_PKG_VERSION")
    );
    metrics::init();

    let conf = ServerConf {
        threads: config.threads,
        work_stealing: config.work_stealing,
        // The drain happens before pingora hears of the shutdown (lifecycle.rs).
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(config.shutdown_timeout_secs),
        upgrade_sock: upgrade_sock.clone(),
        pid_file: "/tmp/proxy.pid".into(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    // Resolve and check once before accepting, so the first requests go to backends that
    // passed a check (the configured ones are tried anyway: passive.rs). A name that does
    // not resolve yet is not fatal (unlike nginx): the next round picks it up.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let balancer = rt.block_on(upstreams::build(&config));
    drop(rt);
    let live = Arc::new(upstreams::Live::new(
        balancer,
        config.clone(),
        config_path,
        over,
    ));
    let background = background_service("upstreams", refresh::Refresh { live: live.clone() });
    // nginx's `keepalive N` is per worker process; here it is per worker thread.
    let pools = Arc::new(pool::Pools::new(
        config.threads,
        config.upstream_keepalive,
        config.upstream_idle_timeout,
    ));
    let connections = listener::Connections::new(config.max_connections);
    let app = forward::Forwarder::new(live.clone(), pools.clone(), &connections);
    let mut service = Service::new("proxy".to_string(), app);
    service.add_tcp(&config.listen.to_string());
    let stop = lifecycle::Stop::new();
    server.add_service(lifecycle::Listening {
        inner: service,
        stop: stop.clone(),
    });
    server.add_service(background);
    server.add_service(background_service(
        "upstream pool",
        forward::PoolSweeper(pools),
    ));

    if let Some(admin) = config.admin_listen {
        let mut svc = Service::new(
            "admin".to_string(),
            HttpServer::new_app(admin::Admin { live: live.clone() }),
        );
        svc.add_tcp(&admin.to_string());
        server.add_service(svc);
    }
    tracing::info!(listen = %config.listen, "proxy ready");
    let signals = lifecycle::Signals {
        stop,
        connections,
        grace: Duration::from_secs(config.shutdown_grace_secs),
        upgrade_sock,
        live,
    };
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    tracing::info!("stopped");
    Ok(())
}
