//! Part `compose`: the compose stack itself — our images (profile `kvstack`) and each
//! official-image profile, with the stand-ins for `redis:alpine` / `nginx:alpine` built from
//! Debian's binaries (no registry here) — measured twice per round: through the load
//! balancer's published port (what a user on the host gets, through Docker's userland proxy)
//! and through the balancer's own address on the compose network (what the balancer and the
//! stack behind it can do). Also the image sizes and the time from `up` to the first 200.
//! Skipped when no Docker engine answers.

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

    /// `docker compose -p <project> <args>` with the project's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = stack::compose();
        cmd.args(["-p", &self.name])
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn compose(&self, args: &[&str]) -> Result<()> {
        let out = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run docker compose")?;
        if !out.status.success() {
            bail!(
                "compose {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The load balancer's address on the compose network (`ip:80`).
    fn balancer_addr(&self, profile: &str) -> Result<String> {
        let service = if profile.ends_with("nginx") || profile == "official" {
            "nginx-official"
        } else {
            "nginx"
        };
        let out = self
            .command(&["ps", "-q", service])
            .output()
            .context("cannot run docker compose ps")?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("docker")
            .args([
                "inspect",
                "-f",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                &id,
            ])
            .output()
            .context("cannot run docker inspect")?;
        let ips = String::from_utf8_lossy(&out.stdout).into_owned();
        match ips.split_whitespace().next() {
            Some(ip) => Ok(format!("{ip}:80")),
            None => bail!("{}: no address for {service} ({id:?})", self.name),
        }
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
    // Per profile and round: up → 200, through the published port, through the balancer's
    // address.
    let mut samples: Vec<Vec<(Duration, Sample, Sample)>> =
        PROFILES.iter().map(|_| Vec::new()).collect();
    for round in 0..plan.rounds {
        for i in Plan::order(round, PROFILES.len()) {
            step(&format!(
                "compose: round {}, profile {}",
                round + 1,
                PROFILES[i]
            ));
            let project = Project::new(PROFILES[i])?;
            let took = project.up()?;
            let published = wrk::measure(project.lb_port, connections, plan.seconds, &[])?;
            let direct = wrk::measure_at(
                &project.balancer_addr(PROFILES[i])?,
                connections,
                plan.seconds,
                &[],
            )?;
            samples[i].push((took, published, direct));
        }
    }
    let official = PROFILES.len() - 1;
    let m = |i: usize, f: fn(&(Duration, Sample, Sample)) -> f64| {
        median(&samples[i].iter().map(f).collect::<Vec<_>>())
    };
    let fastest = (0..PROFILES.len())
        .max_by(|&a, &b| m(a, |s| s.2.rps).total_cmp(&m(b, |s| s.2.rps)))
        .unwrap_or(0);
    // Which profile's balancer is the other load balancer in front of kvstore.
    let official_nginx = PROFILES
        .iter()
        .position(|p| *p == "official-nginx")
        .unwrap_or(official);
    let published_spread: Vec<f64> = (0..PROFILES.len()).map(|i| m(i, |s| s.1.rps)).collect();
    let ups: Vec<f64> = (0..PROFILES.len())
        .map(|i| m(i, |s| s.0.as_secs_f64()))
        .collect();
    writeln!(
        report,
        "Each profile started as its own compose project (`up -d`, host ports on 127.0.0.1), \
         measured with `wrk -t2 -c{connections} -d{}s` after a 1 s warm-up twice: through the \
         load balancer's **published** port (Docker's userland proxy in between, as a user on \
         the host gets it) and **direct** to the load balancer's address on the compose \
         network, then taken down with its volume. Defaults of \
         docker-compose.yml (access and request logs on, `appendfsync everysec`). \
         `official-*` profiles run stand-ins for `redis:alpine` / `nginx:alpine` built from \
         Debian's redis-server 7.0 and nginx 1.22 (no registry on this machine). **up → 200**: \
         from `up -d` to the first 200 through the load balancer. Median of {} rounds.\n",
        plan.seconds, plan.rounds
    )?;
    let low = published_spread
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let high = published_spread
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    writeln!(
        report,
        "**Reading:** direct to the balancer, our images serve {} of the official line-up's \
         requests per second, and our proxy in front of kvstore {} of nginx in front of \
         kvstore (p99 {:.2} ms against {:.2} ms); the fastest profile is {} at {:.0} req/s. \
         Through the published port every profile lands between {:.0} and {:.0} req/s \
         (medians): there Docker's userland proxy, not the balancer, sets the figure. From \
         `up -d` to the first 200 took {:.2}–{:.2} s (medians per profile).\n",
        ratio(m(0, |s| s.2.rps), m(official, |s| s.2.rps)),
        ratio(m(0, |s| s.2.rps), m(official_nginx, |s| s.2.rps)),
        m(0, |s| s.2.p99_ms),
        m(official_nginx, |s| s.2.p99_ms),
        PROFILES[fastest],
        m(fastest, |s| s.2.rps),
        low,
        high,
        ups.iter().copied().fold(f64::INFINITY, f64::min),
        ups.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )?;
    writeln!(
        report,
        "| profile | load balancer → store | direct req/s | p50 / p99 ms | vs official | published req/s | p50 / p99 ms | errors | up → 200 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (i, profile) in PROFILES.iter().enumerate() {
        let lineup = match *profile {
            "kvstack" => "proxy → kvstore",
            "official-redis" => "proxy → redis",
            "official-nginx" => "nginx → kvstore",
            _ => "nginx → redis",
        };
        let direct: Vec<f64> = samples[i].iter().map(|s| s.2.rps).collect();
        let published: Vec<f64> = samples[i].iter().map(|s| s.1.rps).collect();
        writeln!(
            report,
            "| {profile} | {lineup} | {:.0} ({}) | {:.2} / {:.2} | {} | {:.0} ({}) | {:.2} / {:.2} | {} | {:.2} s |",
            m(i, |s| s.2.rps),
            spread(&direct, 0),
            m(i, |s| s.2.p50_ms),
            m(i, |s| s.2.p99_ms),
            ratio(m(i, |s| s.2.rps), m(official, |s| s.2.rps)),
            m(i, |s| s.1.rps),
            spread(&published, 0),
            m(i, |s| s.1.p50_ms),
            m(i, |s| s.1.p99_ms),
            samples[i]
                .iter()
                .map(|s| s.1.errors + s.2.errors)
                .sum::<u64>(),
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
