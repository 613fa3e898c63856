//! Project chores as `cargo xtask <task>`: one language, typed options, `--help`.
//!
//! - `up` / `down`: build the images offline and start (or stop) the compose stack.
//! - `test`: build every binary and image, then run every test (what CI runs).
//! - `images`: the offline image build (static binaries into FROM-scratch images), and
//!   stand-ins for the official images.
//! - `bench <part>`: each part against its reference program in the same run.
//!   (`bench api` also measures the original Flask app, from `xtask/original/`.)

mod bench;
mod images;
mod stack;

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
    },
    /// Build the images offline: static binaries on the host, copied into FROM-scratch images.
    Images(images::ImagesArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Test { args } => test(&args),
        Task::Up(args) => stack::up(args),
        Task::Down { args } => stack::down(&args),
        Task::StackFile { profiles } => {
            print!("{}", stack::stack_file(&profiles)?);
            Ok(())
        }
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

/// Programs the tests run, with the Debian package that provides each (nginx-light: the
/// proxy parity tests run configs/nginx.conf with Debian's nginx).
const TOOLS: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),
    ("redis-benchmark", "redis-tools"),
    ("cmake", "cmake"),
    ("nginx", "nginx-light"),
    // The benchmark harness's --quick test.
    ("wrk", "wrk"),
];

/// Programs the benchmarks need (installed by `bench`, not by `test`).
pub const BENCH_TOOLS: &[(&str, &str)] = &[
    ("wrk", "wrk"),
    ("nginx", "nginx-light"),
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),
    ("redis-benchmark", "redis-tools"),
];

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs what the tests need when it is missing: Debian packages through apt-get (as
/// root), cargo-nextest through cargo. Does nothing on a machine that has everything.
fn ensure_tools() -> Result<()> {
    ensure_programs(TOOLS)?;
    if !cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        sh(cargo().args(["install", "cargo-nextest", "--locked"]))?;
    }
    Ok(())
}

/// Installs the Debian packages providing whichever of `tools` (program, package) are
/// missing; a no-op when all are present.
pub fn ensure_programs(tools: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| !found(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    apt_install(&missing)
}

/// Installs Debian packages with apt-get (as root); a no-op for an empty list.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root_user || !found("apt-get") {
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

fn test(args: &[String]) -> Result<()> {
    ensure_tools()?;
    sh(cargo().args(["build", "--workspace", "--bins"]))?;
    if stack::docker_available() {
        images::build(&images::CRATES, "latest")?;
        images::standins()?;
    } else {
        eprintln!("[xtask] no Docker engine answers: images not built, compose tests will skip");
    }
    sh(cargo()
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(args))
}
