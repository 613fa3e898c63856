//! Part `api`: wrk against one api instance and against the original Flask app.
//!
//! Everything runs on this machine in the same run — the api on kvstore and on Debian's
//! redis-server, the original (`xtask/original/app.py`, Flask's own server as the seed's
//! `python app.py` runs it) on the same two stores — each round in a different order,
//! medians reported.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::proc::{bin, free_port, Proc, Store};
use super::wrk::{self, Sample};
use super::{median, plan_steps, ratio, spread, step, Plan};
use crate::{root, sh};

/// Which HTTP application.
#[derive(Clone, Copy, PartialEq)]
pub enum App {
    Api,
    Flask,
}

impl App {
    pub fn name(self) -> &'static str {
        match self {
            App::Api => "api",
            App::Flask => "original Flask",
        }
    }
}

/// A virtualenv under target/ with the original's requirements; reused while they are
/// unchanged.
pub fn flask_python() -> Result<PathBuf> {
    let venv = root().join("target/bench-flask-venv");
    let requirements = root().join("xtask/original/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("original requirements")?;
    let marker = venv.join("installed-requirements.txt");
    let python = venv.join("bin/python");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        eprintln!("[bench] creating {} (Flask, redis-py)", venv.display());
        // Debian splits venv support out of python3: python3-venv is a prerequisite of bench.
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

/// Starts `app` on a free port against the store on `store_port`; `name` is what it reports
/// as `container_id`. Returns once `GET /` answers 200.
pub fn start_app(app: App, store_port: u16, python: &PathBuf, name: &str) -> Result<Proc> {
    let port = free_port()?;
    let mut cmd = match app {
        App::Api => Command::new(bin("api")?),
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
        .env("CONTAINER_ID", name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", app.name()))?;
    let running = Proc {
        child,
        port,
        dir: None,
    };
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

pub fn run(plan: &Plan) -> Result<String> {
    let cases = [
        (App::Api, Store::Kvstore),
        (App::Api, Store::Redis),
        (App::Flask, Store::Kvstore),
        (App::Flask, Store::Redis),
    ];
    plan_steps((plan.rounds * cases.len()) as u64);
    let python = flask_python()?;
    let python_version =
        super::command_line(&python.display().to_string(), &["--version"]).unwrap_or_default();
    let connections = 50;
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for i in Plan::order(round, cases.len()) {
            let (app, store) = cases[i];
            step(&format!(
                "api: round {}, {} on {}",
                round + 1,
                app.name(),
                store.name()
            ));
            let store = store.start("everysec")?;
            let server = start_app(app, store.port, &python, "bench-api-01")?;
            samples[i].push(wrk::measure(
                server.port,
                connections,
                plan.seconds,
                &[server.pid()],
            )?);
        }
    }
    let m = |i: usize, f: fn(&Sample) -> f64| median(&samples[i].iter().map(f).collect::<Vec<_>>());
    let mut report = String::new();
    writeln!(report, "## api vs the original Flask app\n")?;
    writeln!(
        report,
        "`wrk -t2 -c{connections} -d{}s` on `GET /` (one INCR each) against one instance, median \
         of {} rounds (spread in brackets), order changed every round, after a 1 s warm-up. api: \
         release build, default settings (request logs on). Original: `xtask/original/app.py` \
         on Flask's own server ({python_version}), as the seed runs it. Stores: kvstore and \
         redis-server, both `appendonly yes`, `appendfsync everysec`. **CPU µs/request**: CPU \
         time of the application process (not the store's) per request.\n",
        plan.seconds, plan.rounds
    )?;
    let speedup = m(0, |s| s.rps) / m(2, |s| s.rps);
    writeln!(
        report,
        "**Reading:** on kvstore the api serves {speedup:.0}x the original's requests per second \
         with {:.0}x less CPU per request.\n",
        m(2, |s| s.cpu_us) / m(0, |s| s.cpu_us)
    )?;
    writeln!(
        report,
        "| server | store | req/s | p50 ms | p99 ms | errors | req/s vs original | CPU µs/request | CPU vs original |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (i, (app, store)) in cases.iter().enumerate() {
        let original = cases
            .iter()
            .position(|c| *c == (App::Flask, *store))
            .expect("an original case per store");
        let rps: Vec<f64> = samples[i].iter().map(|s| s.rps).collect();
        writeln!(
            report,
            "| {} | {} | {:.0} ({}) | {:.2} | {:.2} | {} | {} | {:.1} | {} |",
            app.name(),
            store.name(),
            m(i, |s| s.rps),
            spread(&rps, 0),
            m(i, |s| s.p50_ms),
            m(i, |s| s.p99_ms),
            samples[i].iter().map(|s| s.errors).sum::<u64>(),
            ratio(m(i, |s| s.rps), m(original, |s| s.rps)),
            m(i, |s| s.cpu_us),
            ratio(m(original, |s| s.cpu_us), m(i, |s| s.cpu_us)),
        )?;
    }
    writeln!(
        report,
        "\n`errors`: non-2xx responses plus socket errors, summed over rounds. `CPU vs \
         original`: how many times less CPU per request than the original."
    )?;
    Ok(report)
}
