//! `cargo xtask swarm up | down`: the stack on a single-node Docker Swarm, without a registry.
//!
//! `up` makes this engine a swarm manager when it is not one (`docker swarm init`), labels a
//! node for the store when none carries [`STORE_NODE_LABEL`], checks that every image the
//! rendered stack names is already local (Swarm would otherwise try to pull it), deploys
//! [`stack_file`] with `--resolve-image never`, and waits for the first 200 on the load
//! balancer's port, so "it deployed" means "it serves". `down` removes the stack and waits
//! until its networks are gone (the `redis_data` volume is kept); `--leave` also leaves the
//! swarm.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_norway::Value;

use crate::stack::{answers_200, stack_file, EndpointMode, STORE_NODE_LABEL};
use crate::{images, prereqs, root, sh};

#[derive(Subcommand)]
pub enum Action {
    /// `docker swarm init` if needed, then `docker stack deploy`; waits for the first 200.
    Up(UpArgs),
    /// `docker stack rm`, waiting until the stack's networks are gone (the volume is kept).
    Down(DownArgs),
}

#[derive(Args)]
pub struct UpArgs {
    /// Compose profiles (default: kvstack): official-redis, official-nginx, official; add
    /// `--profile kvstack --profile scale` for the scalable api service `backend`.
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// See `cargo xtask stack-file --help`.
    #[arg(long, value_enum, default_value = "dnsrr")]
    endpoint_mode: EndpointMode,
    /// The stack's name (services are `<name>_<service>`).
    #[arg(long, default_value = "kvstack")]
    name: String,
    /// Use the images already built instead of rebuilding ours.
    #[arg(long)]
    no_build: bool,
}

#[derive(Args)]
pub struct DownArgs {
    /// The stack's name.
    #[arg(long, default_value = "kvstack")]
    name: String,
    /// Also leave the swarm (`docker swarm leave --force`).
    #[arg(long)]
    leave: bool,
}

pub fn run(action: Action) -> Result<()> {
    match action {
        Action::Up(args) => up(args),
        Action::Down(args) => down(args),
    }
}

fn up(args: UpArgs) -> Result<()> {
    let build: &[&[prereqs::Need]] = if args.no_build {
        &[]
    } else {
        &[prereqs::BUILD]
    };
    prereqs::ensure("swarm up", build, prereqs::Docker::Engine, false)?;
    if !args.no_build {
        images::build(&images::CRATES, "latest")?;
    }
    let rendered = stack_file(&args.profiles, args.endpoint_mode)?;
    let missing: Vec<String> = stack_images(&rendered)?
        .into_iter()
        .filter(|i| !image_is_local(i))
        .collect();
    if !missing.is_empty() {
        bail!(
            "images not on this engine: {} (ours: `cargo xtask images`; stand-ins: `cargo xtask \
             images --standins` and REDIS_IMAGE / NGINX_IMAGE; others: `docker pull`)",
            missing.join(", ")
        );
    }
    if ensure_manager()? {
        eprintln!("[xtask] this engine is now a single-node swarm manager (docker swarm init)");
    }
    label_store_node()?;
    deploy(&args.name, &rendered)?;
    let port: u16 = std::env::var("LB_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !answers_200(port) {
        if Instant::now() > deadline {
            bail!(
                "the load balancer on :{port} gave no 200 within 120 s; see `docker stack ps {} \
                 --no-trunc`",
                args.name
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("[xtask] the stack serves: curl http://localhost:{port}/");
    Ok(())
}

fn down(args: DownArgs) -> Result<()> {
    prereqs::ensure("swarm down", &[], prereqs::Docker::Engine, false)?;
    if node_state()? == "active" {
        sh(Command::new("docker").args(["stack", "rm", &args.name]))?;
        wait_until_removed(&args.name, Duration::from_secs(120))?;
    }
    if args.leave {
        sh(Command::new("docker").args(["swarm", "leave", "--force"]))?;
    }
    Ok(())
}

/// `docker info`'s swarm state of this engine: `inactive`, `active`, `pending`, `error`, ….
fn node_state() -> Result<String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .context("docker info")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Makes this engine a swarm manager; true when it had to `docker swarm init`. A machine with
/// several addresses makes `init` ask which one to advertise: a single-node swarm advertises
/// loopback (join other nodes only after a `swarm init` that names a reachable address).
pub fn ensure_manager() -> Result<bool> {
    if node_state()? == "active" {
        return Ok(false);
    }
    let out = Command::new("docker").args(["swarm", "init"]).output()?;
    if out.status.success() {
        return Ok(true);
    }
    let why = String::from_utf8_lossy(&out.stderr);
    if why.contains("advertise") {
        sh(Command::new("docker").args(["swarm", "init", "--advertise-addr", "127.0.0.1"]))?;
        return Ok(true);
    }
    bail!("docker swarm init failed: {}", why.trim())
}

/// Labels this node `kvstack.store=true` unless a node of the swarm already carries it.
fn label_store_node() -> Result<()> {
    let ids = Command::new("docker").args(["node", "ls", "-q"]).output()?;
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let format = format!("{{{{index .Spec.Labels \"{STORE_NODE_LABEL}\"}}}}");
    let labels = Command::new("docker")
        .args(["node", "inspect", "--format", &format])
        .args(&ids)
        .output()?;
    if String::from_utf8_lossy(&labels.stdout)
        .lines()
        .any(|l| l.trim() == "true")
    {
        return Ok(());
    }
    let me = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.NodeID}}"])
        .output()?;
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    eprintln!("[xtask] docker node update --label-add {STORE_NODE_LABEL}=true {me}");
    sh(Command::new("docker").args([
        "node",
        "update",
        "--label-add",
        &format!("{STORE_NODE_LABEL}=true"),
        &me,
    ]))
}

/// The images a rendered stack file names, with its variables substituted from this
/// environment (by `docker stack config`, as `docker stack deploy` will).
fn stack_images(rendered: &str) -> Result<Vec<String>> {
    let config = docker_with_stdin(&["stack", "config", "-c", "-"], rendered)?;
    let doc: Value = serde_norway::from_str(&config)?;
    Ok(doc
        .get("services")
        .and_then(Value::as_mapping)
        .into_iter()
        .flat_map(|s| s.values())
        .filter_map(|s| s.get("image").and_then(Value::as_str).map(str::to_string))
        .collect())
}

fn image_is_local(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker stack deploy` of `rendered`, with the local images only.
fn deploy(name: &str, rendered: &str) -> Result<()> {
    docker_with_stdin(
        &[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "--prune",
            "-c",
            "-",
            name,
        ],
        rendered,
    )
    .map(|_| ())
}

/// Runs `docker args` in the workspace root with `input` on stdin; its stdout, or an error
/// carrying its stderr.
fn docker_with_stdin(args: &[&str], input: &str) -> Result<String> {
    let mut child = Command::new("docker")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run docker")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until no container and no network of stack `name` is left (`docker stack rm`
/// returns before they are gone, and a new deploy would race with the old network).
pub fn wait_until_removed(name: &str, timeout: Duration) -> Result<()> {
    let label = format!("label=com.docker.stack.namespace={name}");
    let deadline = Instant::now() + timeout;
    loop {
        let left = [["ps", "-aq"], ["network", "ls"]].iter().any(|what| {
            Command::new("docker")
                .args(what)
                .args(["-q", "--filter", &label])
                .output()
                .is_ok_and(|o| !o.stdout.trim_ascii().is_empty())
        });
        if !left {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("stack {name}: containers or networks still there after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
