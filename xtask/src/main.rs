//! Project chores as `cargo xtask <task>`: one language, typed options, `--help`.
//!
//! - `up` / `down`: build the images offline and start (or stop) the compose stack.
//! - `test`: build every binary and image, then run every test (what CI runs).
//! - `images`: the offline image build (static binaries into FROM-scratch images), and
//!   stand-ins for the official images.
//! - `stack-file`, `swarm up|down`: the same stack on Docker Swarm; `k8s`: on Kubernetes.
//! - `bench <part>`: each part against its reference program in the same run.
//!   (`bench api` also measures the original Flask app, from `xtask/original/`.)

mod bench;
mod images;
mod k8s;
mod prereqs;
mod stack;
mod swarm;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project chores: test, run, bench")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build all binaries, then run the whole test suite with cargo-nextest.
    Test {
        /// Only check what the tests need (and say what to install); build nothing.
        #[arg(long)]
        check: bool,
        /// Extra arguments for `cargo nextest run` (e.g. a test filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the images offline, start the stack (docker compose up -d), wait for the first 200.
    Up(stack::UpArgs),
    /// Stop the stack (docker compose down; the redis_data volume is kept).
    Down {
        /// Extra `down` arguments (e.g. -v to delete the data volume).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark against the reference servers; prints a table and can write BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Print docker-compose.yml as `docker stack deploy -c -` accepts it (Swarm has no profiles).
    StackFile {
        /// Profiles whose services to keep (default: kvstack).
        #[arg(long = "profile")]
        profiles: Vec<String>,
        /// dnsrr: no IPVS needed, the load balancer's port in host mode; vip: Swarm's virtual
        /// IPs and routing mesh (kernels with IPVS), ports as in docker-compose.yml.
        #[arg(long, value_enum, default_value = "dnsrr")]
        endpoint_mode: stack::EndpointMode,
    },
    /// Deploy the stack on a single-node Docker Swarm (`up`), or remove it (`down`).
    Swarm {
        #[command(subcommand)]
        action: swarm::Action,
    },
    /// Print Kubernetes manifests rendered from docker-compose.yml (`kubectl apply -f -`).
    K8s(k8s::K8sArgs),
    /// Build the images offline: static binaries on the host, copied into FROM-scratch images.
    Images(images::ImagesArgs),
}

/// Errors end the task in one line (the causes joined), never with a backtrace: the messages
/// say what to do.
fn main() -> std::process::ExitCode {
    match run(Cli::parse().task) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Test { check, args } => test(check, &args),
        Task::Up(args) => stack::up(args),
        Task::Down { args } => stack::down(&args),
        Task::StackFile {
            profiles,
            endpoint_mode,
        } => {
            print!("{}", stack::stack_file(&profiles, endpoint_mode)?);
            Ok(())
        }
        Task::Swarm { action } => swarm::run(action),
        Task::K8s(args) => k8s::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Images(args) => images::run(args),
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing with its command line if it fails.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn cargo_nextest_installed() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs Debian packages with apt-get (as root); a no-op for an empty list.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    if !prereqs::can_install() {
        bail!(
            "missing tools; install the Debian packages: {}",
            packages.join(" ")
        );
    }
    eprintln!("[xtask] installing {}", packages.join(" "));
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// `cargo xtask test`: every prerequisite is installed (or the task stops saying what to
/// install) before anything compiles, so no test meets a missing reference program. Only a
/// user who sets `KVSTACK_SKIP_MISSING=1` lets tests skip for a missing program (CI never
/// does); the run then ends with how many were skipped and why.
fn test(check: bool, args: &[String]) -> Result<()> {
    let opt_out = std::env::var_os(SKIP_MISSING).is_some_and(|v| !v.is_empty() && v != "0");
    if opt_out && !check {
        eprintln!("[xtask] {SKIP_MISSING} is set: tests whose reference program is missing skip");
        prereqs::ensure("test", &[prereqs::BUILD], prereqs::Docker::No, false)?;
    } else {
        prereqs::ensure(
            "test",
            &[prereqs::BUILD, prereqs::TEST],
            prereqs::Docker::Compose,
            check,
        )?;
        if check {
            return Ok(());
        }
    }
    // The Kubernetes manifests' schema validator and redis-py (PyPI, in a virtualenv under
    // target/).
    if let Err(e) = prereqs::ensure_python_packages() {
        if !opt_out {
            return Err(e);
        }
        eprintln!("[xtask] python packages not installed: {e:#}");
    }
    if !cargo_nextest_installed() {
        sh(cargo().args(["install", "cargo-nextest", "--locked"]))?;
    }
    sh(cargo().args(["build", "--workspace", "--bins"]))?;
    if prereqs::docker_engine_answers() {
        images::build(&images::CRATES, "latest")?;
        images::standins()?;
    }
    let skip_log = root().join("target/debug/kvstack-skipped.txt");
    let _ = std::fs::remove_file(&skip_log);
    let result = sh(cargo()
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(args));
    if opt_out {
        eprintln!("{}", skipped_summary(&skip_log));
    }
    result
}

/// The variable that lets tests skip when a reference program is missing (tests/src/reference.rs).
const SKIP_MISSING: &str = "KVSTACK_SKIP_MISSING";

/// "N tests skipped: M for want of redis-server, …" from the tests' skip log.
fn skipped_summary(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut by_reference: Vec<(String, usize)> = Vec::new();
    let mut total = 0;
    for reference in text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, r)| r)
    {
        total += 1;
        match by_reference.iter_mut().find(|(r, _)| r == reference) {
            Some((_, n)) => *n += 1,
            None => by_reference.push((reference.to_string(), 1)),
        }
    }
    if total == 0 {
        return format!("[xtask] {SKIP_MISSING}: no test skipped");
    }
    let parts: Vec<String> = by_reference
        .iter()
        .map(|(r, n)| format!("{n} for want of {r}"))
        .collect();
    format!(
        "[xtask] {SKIP_MISSING}: {total} test(s) skipped and NOT run: {} (list: {})",
        parts.join(", "),
        log.display()
    )
}
