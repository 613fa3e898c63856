//! `cargo xtask bench proxy`: `wrk` through our proxy and through Debian's nginx with the
//! equivalent configuration (`configs/nginx.conf`'s shape), over the same two fast backends.
//!
//! Fairness: both proxies run with the same worker count (1 and 2), keep-alive on both sides
//! (wrk → proxy and proxy → backends), access logs off, and every round alternates which one
//! is measured first; the table reports medians. The backends are one nginx process with two
//! `return 200` servers, shared by both proxies. The load generator runs on the same cores,
//! so absolute numbers are low; the ratio is what to read. No test asserts any of these.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{free_port, median, write_section, BenchArgs};
use crate::{cargo, root, sh};

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    Proxy,
    Nginx,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Proxy => "proxy",
            Flavor::Nginx => "nginx",
        }
    }
}

/// A process started for the benchmark, stopped on drop.
struct Running {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_port(port: u16, child: &mut Child, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited during start-up: {status}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not start")
}

fn nginx(dir: &Path, conf: &str, port: u16, what: &str) -> Result<Child> {
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let mut child = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run nginx (apt-get install nginx-light)")?;
    wait_port(port, &mut child, what)?;
    Ok(child)
}

fn common_head(dir: &Path, workers: usize) -> String {
    let d = dir.display();
    let mut s = format!(
        "worker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 10000; }}\nhttp {{\naccess_log off;\n"
    );
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        writeln!(s, "{temp}_temp_path {d}/{temp};").unwrap();
    }
    s
}

/// The two fast backends: one nginx worker, two ports, `return 200`.
fn backends() -> Result<(Running, [u16; 2])> {
    let dir = tempfile::Builder::new()
        .prefix("proxybench-backends-")
        .tempdir()?;
    let ports = [free_port()?, free_port()?];
    let mut conf = common_head(dir.path(), 1);
    for (i, port) in ports.iter().enumerate() {
        writeln!(
            conf,
            "server {{ listen 127.0.0.1:{port} backlog=4096; keepalive_requests 1000000; \
             location / {{ return 200 \"backend{}\\n\"; }} }}",
            i + 1
        )?;
    }
    conf.push_str("}\n");
    let child = nginx(dir.path(), &conf, ports[0], "backend nginx")?;
    Ok((
        Running {
            child,
            port: ports[0],
            _dir: dir,
        },
        ports,
    ))
}

/// nginx as the load balancer, with the directives of configs/nginx.conf that matter here.
fn start_nginx(upstreams: [u16; 2], workers: usize) -> Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix("proxybench-nginx-")
        .tempdir()?;
    let port = free_port()?;
    let mut conf = common_head(dir.path(), workers);
    conf.push_str("upstream backends {\n");
    for p in upstreams {
        writeln!(conf, "server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;")?;
    }
    writeln!(
        conf,
        "keepalive 128;\n}}\nserver {{\nlisten 127.0.0.1:{port} backlog=4096;\n\
         keepalive_requests 1000000;\nlocation / {{\nproxy_pass http://backends;\n\
         proxy_http_version 1.1;\nproxy_set_header Connection \"\";\n\
         proxy_set_header Host $http_host;\nproxy_set_header X-Real-IP $remote_addr;\n\
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
         proxy_set_header X-Forwarded-Proto $scheme;\nproxy_next_upstream error timeout;\n}}\n}}\n}}"
    )?;
    let child = nginx(dir.path(), &conf, port, "nginx")?;
    Ok(Running {
        child,
        port,
        _dir: dir,
    })
}

fn start_proxy(upstreams: [u16; 2], workers: usize) -> Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix("proxybench-proxy-")
        .tempdir()?;
    let port = free_port()?;
    let mut child = Command::new(root().join("target/release/proxy"))
        .env(
            "UPSTREAMS",
            format!("127.0.0.1:{},127.0.0.1:{}", upstreams[0], upstreams[1]),
        )
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .env("THREADS", workers.to_string())
        .env("ACCESS_LOG", "off")
        .env("ADMIN_LISTEN", "off")
        .env("UPGRADE_SOCK", dir.path().join("upgrade.sock"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run target/release/proxy")?;
    wait_port(port, &mut child, "proxy")?;
    Ok(Running {
        child,
        port,
        _dir: dir,
    })
}

/// One wrk measurement: (requests/s, p50 ms, p99 ms).
struct Sample {
    rps: f64,
    p50: f64,
    p99: f64,
}

fn parse_ms(v: &str) -> Option<f64> {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * factor)
}

fn wrk(port: u16, connections: u32, seconds: u64) -> Result<Sample> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            &format!("http://127.0.0.1:{port}/"),
        ])
        .output()
        .context("cannot run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let find = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
    };
    let rps = find("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = find("50%").and_then(|v| parse_ms(&v));
    let p99 = find("99%").and_then(|v| parse_ms(&v));
    let errors = text.contains("Non-2xx") || text.contains("Socket errors");
    match (rps, p50, p99) {
        (Some(rps), Some(p50), Some(p99)) => {
            if errors {
                eprintln!("[bench] warning: wrk reported errors:\n{text}");
            }
            Ok(Sample { rps, p50, p99 })
        }
        _ => bail!("cannot read wrk's output:\n{text}"),
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let (rounds, seconds) = if args.quick {
        (1, 3)
    } else {
        (args.rounds, args.seconds)
    };
    crate::ensure_programs(crate::BENCH_TOOLS)?;
    sh(cargo().args(["build", "--release", "-p", "proxy"]))?;
    let version = Command::new("/usr/sbin/nginx")
        .arg("-v")
        .output()
        .context("nginx is not installed (apt-get install nginx-light)")?;
    let (_backends, ports) = backends()?;

    let mut report = String::new();
    writeln!(report, "## proxy vs nginx\n")?;
    writeln!(
        report,
        "Reference: `{}`. Machine: {} cores, shared by wrk (2 threads), the proxy under test and \
         the two backends (one nginx worker answering `return 200`). `wrk -d{seconds}s`, \
         keep-alive, median of {rounds} rounds, order alternated every round; access logs off; \
         upstream keep-alive on both.\n",
        String::from_utf8_lossy(&version.stderr).trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )?;
    writeln!(
        report,
        "| workers | connections | proxy req/s | nginx req/s | ratio | proxy p50 | nginx p50 | proxy p99 | nginx p99 |"
    )?;
    writeln!(report, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for workers in [1usize, 2] {
        for connections in [64u32, 256] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for round in 0..rounds {
                let order = if round % 2 == 0 {
                    [Flavor::Proxy, Flavor::Nginx]
                } else {
                    [Flavor::Nginx, Flavor::Proxy]
                };
                for flavor in order {
                    eprintln!(
                        "[bench] workers={workers} c={connections} round {} {}",
                        round + 1,
                        flavor.name()
                    );
                    let server = match flavor {
                        Flavor::Proxy => start_proxy(ports, workers)?,
                        Flavor::Nginx => start_nginx(ports, workers)?,
                    };
                    // Warm up connection pools, then measure.
                    wrk(server.port, connections, 1)?;
                    let s = wrk(server.port, connections, seconds)?;
                    match flavor {
                        Flavor::Proxy => ours.push(s),
                        Flavor::Nginx => theirs.push(s),
                    }
                }
            }
            let m = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
            let (our_rps, their_rps) = (m(&ours, |s| s.rps), m(&theirs, |s| s.rps));
            writeln!(
                report,
                "| {workers} | {connections} | {our_rps:.0} | {their_rps:.0} | {:.2}x | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                our_rps / their_rps,
                m(&ours, |s| s.p50),
                m(&theirs, |s| s.p50),
                m(&ours, |s| s.p99),
                m(&theirs, |s| s.p99),
            )?;
        }
    }
    println!("{report}");
    if args.write {
        write_section("proxy", &report)?;
    }
    Ok(())
}
