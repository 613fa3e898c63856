//! What each task needs on the machine, checked before anything compiles.
//!
//! A fresh Debian or Ubuntu machine with Rust and a Docker engine is enough for every task:
//! the rest are Debian packages, installed here with apt-get when we run as root (or named in
//! one line when we do not). The Docker engine is the one thing no task installs: without
//! it, `up` and `test` stop in one line saying what to install. `--check` prints the same
//! verdict without installing or building anything.
//!
//! Programs are looked up on `PATH` (and in `/usr/sbin`, where Debian puts nginx) by this
//! code, not through a shell, so a stripped `PATH` is seen exactly as a user's would be.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Result};

/// One thing a task needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// What it is, as a message names it (a program name, or a file's role).
    pub what: &'static str,
    pub how: Lookup,
    /// The Debian package that provides it.
    pub package: &'static str,
}

/// How to tell whether a [`Need`] is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// An executable of this name on `PATH` or in `/usr/sbin`.
    Program(&'static str),
    /// Any of these files.
    File(&'static [&'static str]),
    /// `python3 -c 'import …'` succeeds.
    PythonModules(&'static str),
}

const fn program(name: &'static str, package: &'static str) -> Need {
    Need {
        what: name,
        how: Lookup::Program(name),
        package,
    }
}

/// Building the static binaries: a C compiler and linker (mimalloc and Lua are C, and rustc
/// links through `cc`), and glibc's static archive (`+crt-static`).
pub const BUILD: &[Need] = &[
    program("cc", "gcc"),
    Need {
        what: "libc.a (static glibc)",
        how: Lookup::File(&[
            "/usr/lib/x86_64-linux-gnu/libc.a",
            "/usr/lib/aarch64-linux-gnu/libc.a",
            "/usr/lib64/libc.a",
            "/usr/lib/libc.a",
        ]),
        package: "libc6-dev",
    },
];

/// The Docker client (the engine is checked separately: it is not a package we start).
pub const DOCKER_CLIENT: &[Need] = &[program("docker", "docker.io")];

/// What `images --standins` copies into the stand-ins for redis:alpine and nginx:alpine.
pub const STANDINS: &[Need] = &[
    program("redis-server", "redis-server"),
    program("redis-cli", "redis-tools"),
    program("nginx", "nginx-light"),
    program("busybox", "busybox-static"),
];

/// The programs the tests compare with or drive.
pub const TEST: &[Need] = &[
    program("redis-server", "redis-server"),
    program("redis-cli", "redis-tools"),
    program("redis-benchmark", "redis-tools"),
    program("redis-sentinel", "redis-sentinel"),
    program("nginx", "nginx-light"),
    // The benchmark harness's --quick test.
    program("wrk", "wrk"),
    program("python3", "python3"),
    Need {
        what: "python3's venv module",
        how: Lookup::PythonModules("ensurepip, venv"),
        package: "python3-venv",
    },
    Need {
        what: "the DejaVu Sans font (plots)",
        how: Lookup::File(&["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]),
        package: "fonts-dejavu-core",
    },
];

/// What the benchmarks run besides our binaries (the same references as the tests).
pub const BENCH: &[Need] = TEST;

/// Where `program` is: on `path` (a `PATH` value), else in `/usr/sbin`.
pub fn locate(program: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn path_var() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_default()
}

impl Need {
    pub fn met(&self) -> bool {
        match self.how {
            Lookup::Program(name) => locate(name, &path_var()).is_some(),
            Lookup::File(paths) => paths.iter().any(|p| Path::new(p).exists()),
            Lookup::PythonModules(modules) => {
                locate("python3", &path_var()).is_some_and(|python| {
                    Command::new(python)
                        .args(["-c", &format!("import {modules}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                })
            }
        }
    }
}

/// The unmet needs among `needs`.
pub fn missing<'a>(needs: impl IntoIterator<Item = &'a Need>) -> Vec<&'a Need> {
    needs.into_iter().filter(|n| !n.met()).collect()
}

/// The Debian packages that provide `needs`, each once, in order.
pub fn packages(needs: &[&Need]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for need in needs {
        if !out.contains(&need.package) {
            out.push(need.package);
        }
    }
    out
}

/// The one-line install command for `needs`.
pub fn install_line(needs: &[&Need]) -> String {
    format!("apt-get install -y {}", packages(needs).join(" "))
}

/// True when `docker <args>` exits 0 (its output discarded).
pub fn docker_succeeds(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when a Docker engine answers `docker info`.
pub fn docker_engine_answers() -> bool {
    docker_succeeds(&["info", "--format", "{{.ServerVersion}}"])
}

/// True when either Compose answers: the v2 plugin or docker-compose (v1).
pub fn compose_answers() -> bool {
    docker_succeeds(&["compose", "version"]) || locate("docker-compose", &path_var()).is_some()
}

/// The message for a machine without a Docker engine.
pub const NO_ENGINE: &str = "no Docker engine answers `docker info`: install one \
     (apt-get install -y docker.io docker-compose) and start it (systemctl start docker, or \
     dockerd &)";

/// What a task needs from Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Docker {
    /// Nothing (the benchmark parts without compose).
    No,
    /// An engine that builds images.
    Engine,
    /// An engine and Compose (v2 plugin or docker-compose v1).
    Compose,
}

/// Checks `needs` and `docker` before anything is built. Missing packages are installed
/// with apt-get when running as root and `install` is true; otherwise one line names them
/// and the command that installs them. `check_only` reports without installing.
pub fn ensure(task: &str, needs: &[&[Need]], docker: Docker, check_only: bool) -> Result<()> {
    let mut wanted: Vec<&Need> = needs.iter().flat_map(|n| n.iter()).collect();
    if docker != Docker::No {
        wanted.extend(DOCKER_CLIENT);
    }
    let mut missing = missing(wanted.iter().copied());
    let compose_missing = docker == Docker::Compose && !compose_answers();
    const COMPOSE: Need = program("docker-compose", "docker-compose");
    if compose_missing {
        missing.push(&COMPOSE);
    }
    if check_only {
        for need in &wanted {
            let state = if missing.contains(need) {
                "missing"
            } else {
                "ok"
            };
            println!("{state:>7}  {} ({})", need.what, need.package);
        }
        if compose_missing {
            println!("missing  docker compose or docker-compose (docker-compose)");
        }
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|n| n.what).collect();
        if check_only || !can_install() {
            bail!(
                "`cargo xtask {task}` needs {}: install with `{}`{}",
                names.join(", "),
                install_line(&missing),
                if check_only {
                    ""
                } else {
                    " (as root, `cargo xtask` runs it itself)"
                }
            );
        }
        crate::apt_install(&packages(&missing))?;
        let still = self::missing(missing.iter().copied());
        if !still.is_empty() {
            let names: Vec<&str> = still.iter().map(|n| n.what).collect();
            bail!("still missing after apt-get: {}", names.join(", "));
        }
    }
    if docker != Docker::No && !docker_engine_answers() {
        bail!("`cargo xtask {task}`: {NO_ENGINE}");
    }
    if check_only {
        println!("everything `cargo xtask {task}` needs is here");
    }
    Ok(())
}

/// The PyPI packages the tests run, pinned, in one virtualenv under target/:
/// kubernetes-validate bundles the schemas of every Kubernetes version it knows (validation
/// needs no cluster and no network); redis-py is the client whose `Lock` and stream consumer
/// groups tests/tests/redis_py.rs runs against kvstore and redis-server.
pub const PYTHON_PACKAGES: [&str; 2] = ["kubernetes-validate==1.37.0", "redis==5.2.1"];

/// `bin/` of the virtualenv holding [`PYTHON_PACKAGES`]; the tests look there
/// (tests/src/reference.rs).
pub fn python_venv_bin() -> PathBuf {
    crate::root().join("target/python-venv/bin")
}

/// Creates the virtualenv with [`PYTHON_PACKAGES`] unless it holds them already (needs python3
/// and its venv module, which [`TEST`] lists, and PyPI).
pub fn ensure_python_packages() -> Result<()> {
    let bin = python_venv_bin();
    let marker = bin.join("installed.txt");
    let wanted = PYTHON_PACKAGES.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let venv = bin.parent().expect("venv");
    eprintln!("[xtask] creating {} ({wanted})", venv.display());
    crate::sh(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    crate::sh(
        Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES),
    )?;
    std::fs::write(marker, wanted)?;
    Ok(())
}

/// True when apt-get can be run: as root, with apt-get on `PATH`.
pub fn can_install() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    root && locate("apt-get", &path_var()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_listed_once_in_order() {
        let needs: Vec<&Need> = TEST.iter().collect();
        assert_eq!(
            install_line(&needs),
            "apt-get install -y redis-server redis-tools redis-sentinel nginx-light wrk python3 \
             python3-venv fonts-dejavu-core"
        );
    }

    #[test]
    fn a_program_is_found_only_on_the_given_path() {
        let empty = tempfile::tempdir().unwrap();
        assert!(locate("cc", empty.path().as_os_str()).is_none());
        assert!(locate("sh", "/bin:/usr/bin".as_ref()).is_some());
    }
}
