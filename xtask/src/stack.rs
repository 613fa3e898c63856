//! `cargo xtask up` / `down`: the compose stack, from a fresh clone, without a registry.
//!
//! `up` builds our images the offline way (`images::build`), then runs `docker compose up -d`
//! (or `docker-compose`, v1, where the v2 plugin is missing) and waits until the load balancer
//! answers 200, so "it started" means "it serves".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_norway::Value;

use crate::{images, prereqs, root, sh};

#[derive(Args)]
pub struct UpArgs {
    /// Compose profiles (default: `kvstack`, from .env): official-redis, official-nginx,
    /// official, scale.
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Use the images already built instead of rebuilding them.
    #[arg(long)]
    no_build: bool,
    /// Only check what `up` needs on this machine (and say what to install); build nothing.
    #[arg(long)]
    check: bool,
    /// Extra `docker compose up` arguments (e.g. --scale backend=3).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// `docker compose` when the v2 plugin is there, else `docker-compose` (v1).
pub fn compose() -> Command {
    if prereqs::docker_succeeds(&["compose", "version"]) {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    }
}

pub fn up(args: UpArgs) -> Result<()> {
    let build: &[&[prereqs::Need]] = if args.no_build {
        &[]
    } else {
        &[prereqs::BUILD]
    };
    prereqs::ensure("up", build, prereqs::Docker::Compose, args.check)?;
    if args.check {
        return Ok(());
    }
    if !args.no_build {
        images::build(&images::CRATES, "latest")?;
    }
    let mut cmd = compose();
    for p in &args.profiles {
        cmd.args(["--profile", p]);
    }
    sh(cmd.args(["up", "-d", "--no-build"]).args(&args.args))?;
    let port: u16 = std::env::var("LB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers_200(port) {
        if Instant::now() > deadline {
            bail!(
                "the load balancer on :{port} gave no 200 within 60 s; see `docker compose logs`"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("[xtask] the stack serves: curl http://localhost:{port}/");
    Ok(())
}

/// docker-compose.yml in the shape `docker stack deploy` accepts, for the given profiles
/// (default `kvstack`): Swarm knows neither `profiles` nor `depends_on` conditions, so the
/// services of other profiles are dropped and each `depends_on` becomes a plain list (Swarm
/// ignores it anyway; health checks and restarts do that job there). Variables stay `${…}`:
/// `docker stack deploy` substitutes them from the shell.
pub fn stack_file(profiles: &[String]) -> Result<String> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let mut doc: Value = serde_norway::from_str(&text)?;
    // Merge keys nest (x-store merges x-service); each pass resolves one level.
    loop {
        let before = doc.clone();
        doc.apply_merge()?;
        if doc == before {
            break;
        }
    }
    let active: Vec<&str> = if profiles.is_empty() {
        vec!["kvstack"]
    } else {
        profiles.iter().map(String::as_str).collect()
    };
    let services = doc
        .get_mut("services")
        .and_then(Value::as_mapping_mut)
        .context("docker-compose.yml has no services")?;
    services.retain(|_, service| match service.get("profiles") {
        None => true,
        Some(list) => list
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|p| p.as_str().is_some_and(|p| active.contains(&p))),
    });
    let names: Vec<Value> = services.keys().cloned().collect();
    for service in services.values_mut() {
        let Some(service) = service.as_mapping_mut() else {
            continue;
        };
        service.remove("profiles");
        if let Some(deps) = service.get("depends_on").and_then(Value::as_mapping) {
            let list = deps.keys().filter(|k| names.contains(k)).cloned().collect();
            service.insert("depends_on".into(), Value::Sequence(list));
        }
    }
    // The x- anchors served their purpose; Swarm has no use for them.
    if let Some(top) = doc.as_mapping_mut() {
        top.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    }
    Ok(serde_norway::to_string(&doc)?)
}

pub fn down(args: &[String]) -> Result<()> {
    sh(compose().arg("down").args(args))
}

pub fn answers_200(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    if conn
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}
