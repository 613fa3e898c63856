//! `cargo xtask bench api`: wrk against one api instance and against the original Flask app.
//!
//! Fairness: everything runs on this machine in the same run — the api on kvstore and on
//! Debian's redis-server, the original (`xtask/original/app.py`, Flask's own server as the
//! seed's `python app.py` runs it) on the same two stores — each round in a different order,
//! medians reported. wrk shares the cores with the servers, as a load generator on the same
//! host does; the ratio is what matters. No test asserts any of these numbers.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::kvstore::{start as start_store, Flavor};
use super::{free_port, median, write_section, BenchArgs};
use crate::{apt_install, cargo, ensure_programs, root, sh};

/// An HTTP server under test, killed on drop.
struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum App {
    Api,
    Flask,
}

impl App {
    fn name(self) -> &'static str {
        match self {
            App::Api => "api",
            App::Flask => "original Flask",
        }
    }
}

/// One wrk result.
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Non-2xx responses plus socket errors.
    errors: u64,
    /// CPU time (user + system) the server process used per request: unlike req/s, it
    /// hardly depends on what else the machine is doing.
    cpu_us: f64,
}

/// A virtualenv under target/ with the original's requirements; reused while they are
/// unchanged.
fn flask_python() -> Result<PathBuf> {
    let venv = root().join("target/bench-flask-venv");
    let requirements = root().join("xtask/original/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("original requirements")?;
    let marker = venv.join("installed-requirements.txt");
    let python = venv.join("bin/python");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        eprintln!("[bench] creating {} (Flask, redis-py)", venv.display());
        // Debian splits venv support out of python3.
        let has_venv = Command::new("python3")
            .args(["-c", "import ensurepip, venv"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_venv {
            apt_install(&["python3-venv"])?;
        }
        sh(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("python3 -m venv (apt-get install python3-venv)")?;
        sh(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements))?;
        std::fs::write(&marker, wanted)?;
    }
    Ok(python)
}

fn start_app(app: App, store_port: u16, python: &PathBuf) -> Result<Running> {
    let port = free_port()?;
    let mut cmd = match app {
        App::Api => Command::new(root().join("target/release/api")),
        App::Flask => {
            let mut c = Command::new(python);
            c.arg(root().join("xtask/original/app.py"));
            c
        }
    };
    cmd.env("PORT", port.to_string())
        .env("BIND", "127.0.0.1")
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", store_port.to_string())
        .env("CONTAINER_ID", "bench-api-01")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", app.name()))?;
    let running = Running { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if get_root(port).is_ok_and(|status| status.contains(" 200 ")) {
            return Ok(running);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} did not answer 200 on GET /", app.name())
}

/// The status line of `GET /` (HTTP/1.0).
fn get_root(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The 1-minute load average, as text (`?` where /proc is missing).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// Parses wrk's duration notation (`812.00us`, `1.20ms`, `2.01s`) into milliseconds.
fn millis(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// CPU seconds (user + system) process `pid` has used so far.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .context("unreadable /proc/<pid>/stat")
    };
    // /proc counts in USER_HZ ticks, 100 per second on Linux for every architecture.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn wrk(server: &Running, seconds: u64, connections: u32) -> Result<Sample> {
    let port = server.port;
    let cpu_before = cpu_seconds(server.child.id())?;
    let out = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run wrk")?;
    let cpu = cpu_seconds(server.child.id())? - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p50_ms = field("50%").and_then(millis).unwrap_or(f64::NAN);
    let p99_ms = field("99%").and_then(millis).unwrap_or(f64::NAN);
    let non_2xx: u64 = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket_errors: u64 = field("Socket errors:")
        .map(|v| {
            v.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let requests: f64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    Ok(Sample {
        rps,
        p50_ms,
        p99_ms,
        errors: non_2xx + socket_errors,
        cpu_us: cpu * 1e6 / requests,
    })
}

pub fn run(mut args: BenchArgs) -> Result<()> {
    if args.quick {
        args.rounds = 1;
        args.seconds = 3;
    }
    ensure_programs(&[
        ("wrk", "wrk"),
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
    ])?;
    sh(cargo().args(["build", "--release", "-p", "api", "-p", "kvstore"]))?;
    let python = flask_python()?;
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .context("redis-server is not installed")?;
    let python_version = Command::new(&python).arg("--version").output()?;

    // Other work on the machine skews every number; the report says how busy it was.
    let load_before = load_average();
    let cases = [
        (App::Api, Flavor::Kvstore),
        (App::Api, Flavor::Redis),
        (App::Flask, Flavor::Kvstore),
        (App::Flask, Flavor::Redis),
    ];
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..args.rounds {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        order.rotate_left(round % cases.len());
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (app, flavor) = cases[i];
            eprintln!(
                "[bench] round {} {} on {}",
                round + 1,
                app.name(),
                flavor.name()
            );
            let store = start_store(flavor, "everysec")?;
            let server = start_app(app, store.port, &python)?;
            wrk(&server, 1, args.connections)?; // warm-up, discarded
            samples[i].push(wrk(&server, args.seconds, args.connections)?);
        }
    }

    let summary: Vec<(f64, f64, f64, u64, f64)> = samples
        .iter()
        .map(|s| {
            (
                median(s.iter().map(|x| x.rps).collect()),
                median(s.iter().map(|x| x.p50_ms).collect()),
                median(s.iter().map(|x| x.p99_ms).collect()),
                s.iter().map(|x| x.errors).sum(),
                median(s.iter().map(|x| x.cpu_us).collect()),
            )
        })
        .collect();
    let load_after = load_average();
    let mut report = String::new();
    writeln!(report, "## api vs the original Flask app\n")?;
    writeln!(
        report,
        "`wrk -t2 -c{} -d{}s --latency` on `GET /` (one INCR each), median of {} rounds, order \
         changed every round, after a 1 s warm-up. Machine: {} cores shared by wrk, the server \
         and the store. api: release build, default settings (request logs on). Original: \
         `xtask/original/app.py` on Flask's own server ({}). Stores: kvstore and `{}`, both \
         `appendonly yes`, `appendfsync everysec`. 1-minute load average before / after \
         the run: {load_before} / {load_after}.\n",
        args.connections,
        args.seconds,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        String::from_utf8_lossy(&python_version.stdout).trim(),
        String::from_utf8_lossy(&version.stdout)
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )?;
    writeln!(
        report,
        "| server | store | req/s | p50 ms | p99 ms | errors | req/s vs original | server CPU µs/request | CPU vs original |"
    )?;
    writeln!(report, "|---|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (i, (app, flavor)) in cases.iter().enumerate() {
        let (rps, p50, p99, errors, cpu_us) = summary[i];
        let original = cases
            .iter()
            .position(|c| *c == (App::Flask, *flavor))
            .map(|j| summary[j]);
        let (original_rps, original_cpu) = original.map_or((f64::NAN, f64::NAN), |o| (o.0, o.4));
        writeln!(
            report,
            "| {} | {} | {rps:.0} | {p50:.2} | {p99:.2} | {errors} | {:.1}x | {cpu_us:.1} | {:.1}x |",
            app.name(),
            flavor.name(),
            rps / original_rps,
            original_cpu / cpu_us,
        )?;
    }
    writeln!(
        report,
        "\n`errors`: non-2xx responses plus wrk socket errors (connect, read, write, timeout), \
         summed over rounds. `server CPU µs/request`: user + system CPU time of the server \
         process (not the store's) during the measured run, divided by the requests wrk \
         completed; it depends much less than req/s on other load on the machine. \
         `CPU vs original`: how many times less CPU per request than the original."
    )?;
    println!("{report}");
    if args.write {
        write_section("api", &report)?;
    }
    Ok(())
}
