//! One `wrk` measurement: keep-alive load on `GET /`, read back through a small Lua `done`
//! hook that prints exact counts and latency percentiles (wrk's own text output rounds and
//! changes units), plus the CPU time the servers under test used meanwhile.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::proc::cpu_seconds;

/// Percentiles the hook prints (the latency-distribution plots use them all).
pub const PERCENTILES: [f64; 14] = [
    1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

const HOOK: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KVBENCH requests %d\n", summary.requests))
  io.write(string.format("KVBENCH duration_us %d\n", summary.duration))
  io.write(string.format("KVBENCH errors %d\n",
    e.connect + e.read + e.write + e.status + e.timeout))
  for _, p in ipairs({ PERCENTILES }) do
    io.write(string.format("KVBENCH p %s %d\n", p, latency:percentile(p)))
  end
end
"#;

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Sample {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx responses plus socket errors (connect, read, write, timeout).
    pub errors: u64,
    /// CPU time of the measured processes per request, in microseconds.
    pub cpu_us: f64,
    /// (percentile, milliseconds) for every entry of `PERCENTILES`.
    pub latency: Vec<(f64, f64)>,
}

fn hook() -> Result<PathBuf> {
    let path = crate::root().join("target/kvbench-wrk-hook.lua");
    let list: Vec<String> = PERCENTILES.iter().map(|p| p.to_string()).collect();
    std::fs::create_dir_all(path.parent().expect("target/"))?;
    std::fs::write(&path, HOOK.replace(" PERCENTILES ", &list.join(", ")))?;
    Ok(path)
}

/// `wrk -t2 -c<connections> -d<seconds>s` against `GET http://<addr>/` (`ip:port`), measuring
/// the CPU time of `pids` (and their children).
fn run(addr: &str, connections: u32, seconds: u64, pids: &[u32]) -> Result<Sample> {
    let cpu_before = cpu_seconds(pids);
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(hook()?)
        .arg(format!("http://{addr}/"))
        .output()
        .context("cannot run wrk (apt-get install wrk)")?;
    let cpu = cpu_seconds(pids) - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut requests = None;
    let mut duration_us = None;
    let mut errors = 0;
    let mut latency = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["KVBENCH", "requests", n] => requests = n.parse::<f64>().ok(),
            ["KVBENCH", "duration_us", n] => duration_us = n.parse::<f64>().ok(),
            ["KVBENCH", "errors", n] => errors = n.parse().unwrap_or(0),
            ["KVBENCH", "p", p, us] => {
                if let (Ok(p), Ok(us)) = (p.parse::<f64>(), us.parse::<f64>()) {
                    latency.push((p, us / 1000.0));
                }
            }
            _ => {}
        }
    }
    let (Some(requests), Some(duration_us)) = (requests, duration_us) else {
        bail!(
            "cannot read wrk's output:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let at = |p: f64| {
        latency
            .iter()
            .find(|(q, _)| *q == p)
            .map_or(f64::NAN, |(_, ms)| *ms)
    };
    Ok(Sample {
        rps: requests / (duration_us / 1e6),
        p50_ms: at(50.0),
        p99_ms: at(99.0),
        errors,
        cpu_us: cpu * 1e6 / requests.max(1.0),
        latency,
    })
}

/// A 1 s warm-up, then the measurement, against `127.0.0.1:<port>`.
pub fn measure(port: u16, connections: u32, seconds: u64, pids: &[u32]) -> Result<Sample> {
    measure_at(&format!("127.0.0.1:{port}"), connections, seconds, pids)
}

/// [`measure`] against `http://<addr>/`.
pub fn measure_at(addr: &str, connections: u32, seconds: u64, pids: &[u32]) -> Result<Sample> {
    run(addr, connections, 1, pids)?;
    run(addr, connections, seconds, pids)
}
