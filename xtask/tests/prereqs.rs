//! `cargo xtask up --check` / `test --check` on a machine missing things, simulated by running
//! the xtask binary with a `PATH` that holds only chosen programs: it names what is missing and
//! the one apt-get line that installs it, before building anything.

use std::path::Path;
use std::process::{Command, Output};

/// A directory of symlinks to the real `programs` (those found on this machine's PATH).
fn path_with(programs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let real_path = std::env::var_os("PATH").unwrap();
    for program in programs {
        let real = std::env::split_paths(&real_path)
            .map(|d| d.join(program))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{program} is not on this machine's PATH"));
        std::os::unix::fs::symlink(real, dir.path().join(program)).unwrap();
    }
    dir
}

fn xtask(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("PATH", path)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run xtask")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn up_check_names_a_missing_compiler_and_its_install_line() {
    let path = path_with(&["docker"]);
    let out = xtask(&["up", "--check"], path.path());
    let text = text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("missing  cc (gcc)"), "{text}");
    assert!(text.contains("`cargo xtask up` needs cc"), "{text}");
    assert!(text.contains("apt-get install -y gcc"), "{text}");
    // One line of error, no backtrace, even where RUST_BACKTRACE is set.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn up_check_names_a_missing_docker_client() {
    let path = path_with(&["cc"]);
    let out = xtask(&["up", "--check"], path.path());
    let text = text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("missing  docker (docker.io)"), "{text}");
    assert!(text.contains("apt-get install -y docker.io"), "{text}");
}

#[test]
fn test_check_names_every_missing_reference_program() {
    let path = path_with(&["cc", "docker"]);
    let out = xtask(&["test", "--check"], path.path());
    let text = text(&out);
    assert!(!out.status.success(), "{text}");
    for program in [
        "redis-server",
        "redis-cli",
        "redis-benchmark",
        "redis-sentinel",
        "wrk",
        "python3",
    ] {
        assert!(
            text.contains(&format!("missing  {program} (")),
            "{program}: {text}"
        );
    }
    assert!(
        text.contains("redis-server redis-tools"),
        "one install line for all: {text}"
    );
}

/// On this machine (as `cargo xtask test` leaves it) `up` has all it needs; needs a Docker
/// engine, like the compose tests.
#[test]
fn up_check_passes_where_everything_is_installed() {
    if !e2e::reference::require(&e2e::reference::DOCKER) {
        return;
    }
    let out = xtask(
        &["up", "--check"],
        Path::new(&std::env::var_os("PATH").unwrap()),
    );
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("everything `cargo xtask up` needs is here"),
        "{text}"
    );
    assert!(!text.contains("missing"), "{text}");
}

/// With the Docker client present but no engine answering (`DOCKER_HOST` pointing at a
/// socket nobody serves), `up` stops in one line saying what to install and start.
#[test]
fn up_without_an_engine_says_so_in_one_line() {
    let socket = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["up", "--check"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", socket.path().display()),
        )
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run xtask");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no Docker engine answers `docker info`"),
        "{stderr}"
    );
    assert!(stderr.contains("apt-get install -y docker.io"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
