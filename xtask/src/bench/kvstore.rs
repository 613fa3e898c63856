//! `cargo xtask bench kvstore`: redis-benchmark against kvstore and Debian's redis-server.
//!
//! Fairness: both servers run on this machine in the same run with the same durability
//! settings (`appendonly yes` and the chosen `appendfsync`), and every round alternates which
//! one is measured first; the table reports the median of the rounds. No test asserts any of
//! these numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{free_port, median, write_section, BenchArgs};
use crate::{cargo, root, sh};

/// Which store a benchmark runs (shared with `bench api`).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Flavor {
    Kvstore,
    Redis,
}

impl Flavor {
    pub(super) fn name(self) -> &'static str {
        match self {
            Flavor::Kvstore => "kvstore",
            Flavor::Redis => "redis-server",
        }
    }
}

/// A server started for one measurement, killed on drop.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a store with `appendonly yes` and the given `appendfsync`; returns once it answers.
pub(super) fn start(flavor: Flavor, fsync: &str) -> Result<Running> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("kvbench-{}-", flavor.name()))
        .tempdir()?;
    let port = free_port()?;
    let mut cmd = match flavor {
        Flavor::Kvstore => Command::new(root().join("target/release/kvstore")),
        Flavor::Redis => {
            let mut c = Command::new("redis-server");
            c.args(["--save", ""]);
            c
        }
    };
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
    ])
    .arg("--dir")
    .arg(dir.path())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", flavor.name()))?;
    let running = Running {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let pong = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output()?;
        if pong.stdout.starts_with(b"PONG") {
            return Ok(running);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} did not start", flavor.name())
}

/// One redis-benchmark run; returns requests per second by test name.
fn redis_benchmark(
    port: u16,
    requests: u64,
    pipeline: u32,
    tests: &str,
) -> Result<BTreeMap<String, f64>> {
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "50",
            "-n",
            &requests.to_string(),
        ])
        .args(["-P", &pipeline.to_string(), "-t", tests, "--csv"])
        .stderr(Stdio::null())
        .output()
        .context("cannot run redis-benchmark (apt-get install redis-tools)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        if let (Some(name), Some(rps)) =
            (fields.first(), fields.get(1).and_then(|r| r.parse().ok()))
        {
            rows.insert(
                name.split_whitespace().next().unwrap_or(name).to_string(),
                rps,
            );
        }
    }
    if rows.is_empty() {
        bail!("redis-benchmark printed no results: {text}");
    }
    Ok(rows)
}

/// Resident memory of a process in bytes.
fn rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// Loads `keys` small keys through `redis-cli --pipe` and returns the RSS growth.
fn memory_per_keys(flavor: Flavor, keys: u64) -> Result<(u64, u64)> {
    let server = start(flavor, "everysec")?;
    let before = rss(server.child.id())?;
    let mut payload = Vec::with_capacity(keys as usize * 40);
    for i in 0..keys {
        let key = format!("key:{i:012}");
        write!(
            payload,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$8\r\nvalue{:03}\r\n",
            key.len(),
            i % 1000
        )?;
    }
    let mut pipe = Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    pipe.stdin.take().context("stdin")?.write_all(&payload)?;
    pipe.wait()?;
    std::thread::sleep(Duration::from_secs(2));
    let after = rss(server.child.id())?;
    Ok((before, after))
}

pub fn run(mut args: BenchArgs) -> Result<()> {
    if args.quick {
        args.rounds = 1;
        args.requests = 20_000;
        args.memory_keys = 100_000;
    }
    sh(cargo().args(["build", "--release", "-p", "kvstore"]))?;
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .context("redis-server is not installed")?;
    let mut report = String::new();
    writeln!(report, "## kvstore vs redis-server\n")?;
    writeln!(
        report,
        "Reference: `{}`. Machine: {} cores. `redis-benchmark -c 50`, median of {} rounds, \
         order alternated every round; both with `appendonly yes` and the default `io-threads 1`.\n",
        String::from_utf8_lossy(&version.stdout).trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rounds
    )?;
    writeln!(
        report,
        "| appendfsync | pipeline | test | kvstore ops/s | redis-server ops/s | ratio |"
    )?;
    writeln!(report, "|---|---|---|---:|---:|---:|")?;
    for fsync in ["everysec", "always"] {
        for pipeline in [1u32, 16] {
            let requests = if pipeline == 1 {
                args.requests
            } else {
                args.requests * 10
            };
            let mut samples: BTreeMap<(&str, String), Vec<f64>> = BTreeMap::new();
            for round in 0..args.rounds {
                let order = if round % 2 == 0 {
                    [Flavor::Kvstore, Flavor::Redis]
                } else {
                    [Flavor::Redis, Flavor::Kvstore]
                };
                for flavor in order {
                    eprintln!(
                        "[bench] appendfsync={fsync} P{pipeline} round {} {}",
                        round + 1,
                        flavor.name()
                    );
                    let server = start(flavor, fsync)?;
                    for (test, rps) in
                        redis_benchmark(server.port, requests, pipeline, "set,get,incr,mset")?
                    {
                        samples.entry((flavor.name(), test)).or_default().push(rps);
                    }
                }
            }
            let tests: Vec<String> = samples
                .keys()
                .filter(|(f, _)| *f == "kvstore")
                .map(|(_, t)| t.clone())
                .collect();
            for test in tests {
                let ours = median(samples[&("kvstore", test.clone())].clone());
                let theirs = median(samples[&("redis-server", test.clone())].clone());
                writeln!(
                    report,
                    "| {fsync} | {pipeline} | {test} | {ours:.0} | {theirs:.0} | {:.2}x |",
                    ours / theirs
                )?;
            }
        }
    }
    writeln!(
        report,
        "\n### Memory: RSS after loading {} keys (12-byte keys, 8-byte values)\n",
        args.memory_keys
    )?;
    writeln!(
        report,
        "| server | RSS before | RSS after | bytes per key |"
    )?;
    writeln!(report, "|---|---:|---:|---:|")?;
    for flavor in [Flavor::Kvstore, Flavor::Redis] {
        eprintln!("[bench] memory {}", flavor.name());
        let (before, after) = memory_per_keys(flavor, args.memory_keys)?;
        writeln!(
            report,
            "| {} | {:.1} MiB | {:.1} MiB | {} |",
            flavor.name(),
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            after.saturating_sub(before) / args.memory_keys
        )?;
    }
    println!("{report}");
    if args.write {
        write_section("kvstore", &report)?;
    }
    Ok(())
}
