//! Project chores as `cargo xtask <task>`: one language, typed options, `--help`.
//!
//! - `test`: build every binary, then run every test (what CI runs).
//! - `run`: start the stack (for now kvstore; the compose stack once its images exist).
//! - `bench kvstore`: redis-benchmark against kvstore and redis-server in the same run.
//! - `bench proxy`: wrk through the proxy and through nginx in the same run.

mod bench;

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
    /// Build in release mode and start kvstore in the foreground (data in ./data).
    Run {
        /// Extra kvstore options, redis-server style (e.g. --port 6380).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark against the reference servers; prints a table and can write BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Test { args } => test(&args),
        Task::Run { args } => run(&args),
        Task::Bench(args) => bench::run(args),
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
];

/// Programs only the benchmarks need (installed by `bench`, not by `test`).
pub const BENCH_TOOLS: &[(&str, &str)] = &[("wrk", "wrk"), ("nginx", "nginx-light")];

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the Debian packages of `tools` whose program is missing (apt-get, as root).
pub fn install_packages(tools: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| !found(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        let root_user = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root_user || !found("apt-get") {
            bail!(
                "missing tools; install the Debian packages: {}",
                missing.join(" ")
            );
        }
        eprintln!("[xtask] installing {}", missing.join(" "));
        sh(Command::new("apt-get").args(["update", "-qq"]))?;
        sh(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(())
}

/// Installs what the tests need when it is missing: Debian packages through apt-get (as
/// root), cargo-nextest through cargo. Does nothing on a machine that has everything.
fn ensure_tools() -> Result<()> {
    install_packages(TOOLS)?;
    if !cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        sh(cargo().args(["install", "cargo-nextest", "--locked"]))?;
    }
    Ok(())
}

fn test(args: &[String]) -> Result<()> {
    ensure_tools()?;
    sh(cargo().args(["build", "--workspace", "--bins"]))?;
    sh(cargo()
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(args))
}

fn run(args: &[String]) -> Result<()> {
    sh(cargo().args(["build", "--release", "-p", "kvstore"]))?;
    let data = root().join("data");
    std::fs::create_dir_all(&data)?;
    sh(Command::new(root().join("target/release/kvstore"))
        .arg("--dir")
        .arg(&data)
        .args(args))
}
