//! Part `compose`: the compose stack itself, through its load balancer's published port —
//! our images (profile `kvstack`) and each official-image profile, with the stand-ins for
//! `redis:alpine` / `nginx:alpine` built from Debian's binaries (no registry here). Also the
//! image sizes and the time from `up` to the first 200. Skipped when no Docker engine answers.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::proc::free_port;
use super::wrk::{self, Sample};
use super::{median, note, plan_steps, ratio, spread, step, Plan};
use crate::{images, root, stack};

const PROFILES: [&str; 4] = ["kvstack", "official-redis", "official-nginx", "official"];

/// One compose project on free loopback ports, taken down (with its volume) on drop.
struct Project {
    name: String,
    env: Vec<(&'static str, String)>,
    lb_port: u16,
    _conf: tempfile::TempDir,
}

impl Project {
    fn new(profile: &str) -> Result<Project> {
        let lb_port = free_port()?;
        // Debian's nginx 1.22 (the stand-in) lacks the `resolve` server parameter of the
        // nginx:alpine that configs/nginx.conf is written for.
        let conf = tempfile::tempdir()?;
        let text =
            std::fs::read_to_string(root().join("configs/nginx.conf"))?.replace(" resolve;", ";");
        std::fs::write(conf.path().join("nginx.conf"), text)?;
        let env = vec![
            ("COMPOSE_PROFILES", profile.to_string()),
            ("HOST_IP", "127.0.0.1".to_string()),
            ("LB_PORT", lb_port.to_string()),
            ("BACKEND1_PORT", free_port()?.to_string()),
            ("BACKEND2_PORT", free_port()?.to_string()),
            ("STORE_PORT", free_port()?.to_string()),
            ("REDIS_IMAGE", images::REDIS_STANDIN.to_string()),
            ("NGINX_IMAGE", images::NGINX_STANDIN.to_string()),
            (
                "NGINX_CONF",
                conf.path().join("nginx.conf").display().to_string(),
            ),
        ];
        Ok(Project {
            name: format!("kvbench{}{}", std::process::id(), profile.replace('-', "")),
            env,
            lb_port,
            _conf: conf,
        })
    }

    fn compose(&self, args: &[&str]) -> Result<()> {
        let mut cmd = stack::compose();
        cmd.args(["-p", &self.name])
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().context("cannot run docker compose")?;
        if !out.status.success() {
            bail!(
                "compose {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// `up -d`, then the time until the load balancer's first 200.
    fn up(&self) -> Result<Duration> {
        let started = Instant::now();
        self.compose(&["up", "-d", "--no-build"])?;
        while !stack::answers_200(self.lb_port) {
            if started.elapsed() > Duration::from_secs(120) {
                bail!("{}: no 200 within 120 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(started.elapsed())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--timeout", "5"]);
    }
}

fn image_size(image: &str) -> String {
    Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Size}}", image])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or("—".to_string(), |b| format!("{:.1} MB", b / 1e6))
}

pub fn run(plan: &Plan) -> Result<String> {
    let mut report = String::from("## The compose stack\n\n");
    if !crate::prereqs::docker_engine_answers() {
        note("compose: no Docker engine answers; section skipped");
        report.push_str("Skipped: no Docker engine answered `docker info` on this machine.\n");
        return Ok(report);
    }
    plan_steps((plan.rounds * PROFILES.len()) as u64);
    note("compose: building our images and the stand-ins");
    images::build(&images::CRATES, "latest")?;
    images::standins()?;
    let connections = 50;
    let mut samples: Vec<Vec<(Duration, Sample)>> = PROFILES.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for i in Plan::order(round, PROFILES.len()) {
            step(&format!(
                "compose: round {}, profile {}",
                round + 1,
                PROFILES[i]
            ));
            let project = Project::new(PROFILES[i])?;
            let took = project.up()?;
            let sample = wrk::measure(project.lb_port, connections, plan.seconds, &[])?;
            samples[i].push((took, sample));
        }
    }
    let official = PROFILES.len() - 1;
    let m = |i: usize, f: fn(&(Duration, Sample)) -> f64| {
        median(&samples[i].iter().map(f).collect::<Vec<_>>())
    };
    writeln!(
        report,
        "Each profile started as its own compose project (`up -d`, host ports on 127.0.0.1), \
         measured through the load balancer's published port with `wrk -t2 -c{connections} \
         -d{}s` after a 1 s warm-up, then taken down with its volume. Defaults of \
         docker-compose.yml (access and request logs on, `appendfsync everysec`). \
         `official-*` profiles run stand-ins for `redis:alpine` / `nginx:alpine` built from \
         Debian's redis-server 7.0 and nginx 1.22 (no registry on this machine). **up → 200**: \
         from `up -d` to the first 200 through the load balancer. Median of {} rounds.\n",
        plan.seconds, plan.rounds
    )?;
    writeln!(
        report,
        "**Reading:** through Docker's published port our images serve {} of the official \
         line-up's requests per second (stand-ins for the official images, see above). \
         Docker's userland proxy and bridge add the same cost to every profile.\n",
        ratio(m(0, |s| s.1.rps), m(official, |s| s.1.rps))
    )?;
    writeln!(
        report,
        "| profile | load balancer → store | req/s | p50 ms | p99 ms | errors | vs official | up → 200 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|"
    )?;
    for (i, profile) in PROFILES.iter().enumerate() {
        let lineup = match *profile {
            "kvstack" => "proxy → kvstore",
            "official-redis" => "proxy → redis",
            "official-nginx" => "nginx → kvstore",
            _ => "nginx → redis",
        };
        let rps: Vec<f64> = samples[i].iter().map(|s| s.1.rps).collect();
        writeln!(
            report,
            "| {profile} | {lineup} | {:.0} ({}) | {:.2} | {:.2} | {} | {} | {:.2} s |",
            m(i, |s| s.1.rps),
            spread(&rps, 0),
            m(i, |s| s.1.p50_ms),
            m(i, |s| s.1.p99_ms),
            samples[i].iter().map(|s| s.1.errors).sum::<u64>(),
            ratio(m(i, |s| s.1.rps), m(official, |s| s.1.rps)),
            m(i, |s| s.0.as_secs_f64()),
        )?;
    }
    writeln!(
        report,
        "\n| image | size |\n|---|---:|\n| kvstack/kvstore | {} |\n| kvstack/api | {} |\n\
         | kvstack/proxy | {} |\n| stand-in redis (Debian redis-server + libraries) | {} |\n\
         | stand-in nginx (Debian nginx + libraries) | {} |",
        image_size("kvstack/kvstore:latest"),
        image_size("kvstack/api:latest"),
        image_size("kvstack/proxy:latest"),
        image_size(images::REDIS_STANDIN),
        image_size(images::NGINX_STANDIN),
    )?;
    Ok(report)
}
