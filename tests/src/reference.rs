//! The reference programs some tests need, and what a test does when one is missing.
//!
//! A test that compares with redis-server or nginx, drives redis-cli, or starts containers
//! proves nothing without that program, so it must not pass without it: [`require`] panics
//! with the program's name and the command that installs it. A run that cannot have them
//! (a laptop without Docker, say) opts out explicitly with `KVSTACK_SKIP_MISSING=1`: then
//! `require` returns `false`, the test returns early, and the skip is appended to
//! [`skip_log`] so that `cargo xtask test` can say how many tests were skipped and why.
//! `cargo xtask test` and CI never set it.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable that turns a missing reference from a failure into a skip.
pub const OPT_OUT: &str = "KVSTACK_SKIP_MISSING";

/// A program some tests need.
#[derive(Debug)]
pub struct Reference {
    /// What the test needs, as a message names it.
    pub name: &'static str,
    /// The executable looked up on `PATH` (and in `/usr/sbin`, where Debian puts nginx).
    pub program: &'static str,
    /// How to get it on Debian or Ubuntu.
    pub install: &'static str,
    /// Present only when this extra check passes too (the Docker engine must answer, not
    /// only its client exist).
    pub answers: Option<fn() -> bool>,
    /// A directory searched before `PATH` (a virtualenv that `cargo xtask test` fills).
    pub also_in: Option<fn() -> PathBuf>,
}

pub const REDIS_SERVER: Reference = Reference {
    name: "redis-server",
    program: "redis-server",
    install: "apt-get install redis-server",
    answers: None,
    also_in: None,
};

pub const REDIS_CLI: Reference = Reference {
    name: "redis-cli",
    program: "redis-cli",
    install: "apt-get install redis-tools",
    answers: None,
    also_in: None,
};

pub const REDIS_BENCHMARK: Reference = Reference {
    name: "redis-benchmark",
    program: "redis-benchmark",
    install: "apt-get install redis-tools",
    answers: None,
    also_in: None,
};

pub const REDIS_SENTINEL: Reference = Reference {
    name: "redis-sentinel",
    program: "redis-sentinel",
    install: "apt-get install redis-sentinel",
    answers: None,
    also_in: None,
};

pub const NGINX: Reference = Reference {
    name: "nginx",
    program: "nginx",
    install: "apt-get install nginx-light",
    answers: None,
    also_in: None,
};

pub const WRK: Reference = Reference {
    name: "wrk",
    program: "wrk",
    install: "apt-get install wrk",
    answers: None,
    also_in: None,
};

pub const DOCKER: Reference = Reference {
    name: "a Docker engine",
    program: "docker",
    install: "apt-get install docker.io docker-compose, then start dockerd",
    answers: Some(docker_engine_answers),
    also_in: None,
};

/// A Docker engine that can be a single-node swarm manager. Whether it can is known only by
/// trying (`docker swarm init`): the swarm tests call [`require_attempt`] with the outcome.
pub const DOCKER_SWARM: Reference = Reference {
    name: "a Docker engine in swarm mode",
    program: "docker",
    install: "a Docker engine that accepts `docker swarm init` (rootful, not inside another \
              swarm's task)",
    answers: Some(docker_engine_answers),
    also_in: None,
};

/// The offline schema validator for Kubernetes manifests (PyPI), in the virtualenv
/// `cargo xtask test` creates under target/.
pub const KUBERNETES_VALIDATE: Reference = Reference {
    name: "kubernetes-validate",
    program: "kubernetes-validate",
    install: "cargo xtask test installs it into target/python-venv; by hand: \
              pip install kubernetes-validate==1.37.0",
    answers: None,
    also_in: Some(python_venv),
};

/// redis-py, the Python client (PyPI), in the same virtualenv: its `python3` must import it.
pub const REDIS_PY: Reference = Reference {
    name: "redis-py",
    program: "python3",
    install:
        "cargo xtask test installs it into target/python-venv; by hand: \
              python3 -m venv target/python-venv && target/python-venv/bin/pip install redis==5.2.1",
    answers: Some(redis_py_imports),
    also_in: Some(python_venv),
};

fn redis_py_imports() -> bool {
    Command::new(python_venv().join("python3"))
        .args(["-c", "import redis"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `bin/` of the virtualenv holding kubernetes-validate and redis-py (xtask/src/prereqs.rs
/// makes it).
pub fn python_venv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("target/python-venv/bin")
}

/// Every reference, for the tests of this module and for documentation.
pub const ALL: [&Reference; 10] = [
    &REDIS_SERVER,
    &REDIS_CLI,
    &REDIS_BENCHMARK,
    &REDIS_SENTINEL,
    &NGINX,
    &WRK,
    &DOCKER,
    &DOCKER_SWARM,
    &KUBERNETES_VALIDATE,
    &REDIS_PY,
];

fn docker_engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Reference {
    /// Where the program is, searching `path` (a `PATH` value) and then `/usr/sbin`.
    pub fn locate_in(&self, path: &OsStr) -> Option<PathBuf> {
        std::env::split_paths(path)
            .chain([PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join(self.program))
            .find(|p| is_executable(p))
    }

    /// Where the program is: its own directory ([`Reference::also_in`]), else this
    /// process's `PATH` (or `/usr/sbin`).
    pub fn locate(&self) -> Option<PathBuf> {
        if let Some(dir) = self.also_in {
            let path = dir().join(self.program);
            if is_executable(&path) {
                return Some(path);
            }
        }
        self.locate_in(&std::env::var_os("PATH").unwrap_or_default())
    }

    fn present(&self) -> bool {
        self.locate().is_some() && self.answers.map_or(true, |answers| answers())
    }

    /// The message a test fails with when the program is missing.
    pub fn missing_message(&self) -> String {
        format!(
            "this test needs {} and it is missing: install it ({}), or set {OPT_OUT}=1 to skip \
             such tests",
            self.name, self.install
        )
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What a test does about `reference`, given whether it is present and whether the run
/// opted out: `Ok(true)` run, `Ok(false)` skip, `Err(message)` fail.
pub fn decide(reference: &Reference, present: bool, opt_out: bool) -> Result<bool, String> {
    match (present, opt_out) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(reference.missing_message()),
    }
}

/// True when the run asked to skip tests whose reference is missing.
pub fn opted_out() -> bool {
    std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `true` when `reference` is there. When it is missing: panics with what to install, or,
/// under `KVSTACK_SKIP_MISSING=1`, records the skip and returns `false` (the caller returns).
pub fn require(reference: &Reference) -> bool {
    match decide(reference, reference.present(), opted_out()) {
        Ok(true) => true,
        Ok(false) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            eprintln!("SKIP ({OPT_OUT}): {test} needs {}", reference.name);
            record_skip(&test, reference);
            false
        }
        Err(message) => panic!("{message}"),
    }
}

/// Like [`require`] for a reference whose absence is known only by trying it (`docker swarm
/// init`): `attempt` is what trying gave. `Err(why)` fails the test with `why`, or under
/// `KVSTACK_SKIP_MISSING=1` records the skip and returns `false`.
pub fn require_attempt(reference: &Reference, attempt: Result<(), String>) -> bool {
    let why = match attempt {
        Ok(()) => return true,
        Err(why) => why,
    };
    match decide(reference, false, opted_out()) {
        Ok(_) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            eprintln!("SKIP ({OPT_OUT}): {test} needs {}: {why}", reference.name);
            record_skip(&test, reference);
            false
        }
        Err(message) => panic!("{message}: {why}"),
    }
}

/// The file skips are appended to: `target/<profile>/kvstack-skipped.txt`, one
/// `test<TAB>reference` line per skip (tests run as separate processes; appends of one short
/// line do not interleave).
pub fn skip_log() -> PathBuf {
    crate::bin_dir().join("kvstack-skipped.txt")
}

fn record_skip(test: &str, reference: &Reference) {
    let line = format!("{test}\t{}\n", reference.name);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_log())
    {
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory holding an executable `name` (a shell script that exits 0).
    fn fake_program_dir(name: &str) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn each_reference_fails_when_missing_and_names_its_install_command() {
        for reference in ALL {
            let message = decide(reference, false, false).unwrap_err();
            assert!(message.contains(reference.name), "{message}");
            assert!(message.contains(reference.install), "{message}");
            assert!(message.contains(OPT_OUT), "{message}");
        }
    }

    #[test]
    fn each_reference_is_skipped_when_missing_under_the_opt_out() {
        for reference in ALL {
            assert_eq!(decide(reference, false, true), Ok(false), "{reference:?}");
        }
    }

    #[test]
    fn each_reference_runs_when_present_whatever_the_opt_out() {
        for reference in ALL {
            assert_eq!(decide(reference, true, false), Ok(true));
            assert_eq!(decide(reference, true, true), Ok(true));
        }
    }

    /// A refused `docker swarm init` fails the test with the engine's reason (the opt-out,
    /// when this run has it, turns that into a skip instead).
    #[test]
    fn a_refused_attempt_fails_with_its_reason() {
        assert!(require_attempt(&DOCKER_SWARM, Ok(())));
        if opted_out() {
            return;
        }
        let failed = std::panic::catch_unwind(|| {
            require_attempt(&DOCKER_SWARM, Err("swarm init: not permitted".into()))
        })
        .unwrap_err();
        let message = failed.downcast_ref::<String>().expect("a message");
        assert!(message.contains("swarm init: not permitted"), "{message}");
        assert!(message.contains(DOCKER_SWARM.name), "{message}");
    }

    /// The lookup itself: an empty PATH finds nothing but what /usr/sbin holds, and a PATH
    /// with the program finds it there.
    #[test]
    fn programs_are_found_on_the_given_path_only() {
        for reference in ALL {
            let empty = tempfile::tempdir().unwrap();
            let found = reference.locate_in(empty.path().as_os_str());
            let in_sbin = Path::new("/usr/sbin").join(reference.program);
            assert_eq!(found.is_some(), is_executable(&in_sbin), "{reference:?}");

            let dir = fake_program_dir(reference.program);
            let found = reference.locate_in(dir.path().as_os_str()).unwrap();
            assert!(
                found.starts_with(dir.path()) || found.starts_with("/usr/sbin"),
                "{found:?}"
            );
        }
    }
}
