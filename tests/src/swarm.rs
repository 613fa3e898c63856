//! Test support for Docker Swarm: a single-node swarm for the length of one test, and the
//! stack deployed on it by `cargo xtask swarm up` on a free port.
//!
//! Invariants: a test never leaves a stack, its volume or (when the test made it) the swarm
//! behind: [`SwarmStack`]'s `Drop` runs `docker stack rm`, waits until the stack's containers
//! and networks are gone and removes its volume, then [`Swarm`]'s `Drop` runs `docker swarm
//! leave --force`. A swarm this machine already had (not made by a test) is used and kept.
//! When the engine refuses `docker swarm init`, the test fails with the engine's reason
//! (unless the run opted out of missing references).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::compose::{try_get, Visit, NGINX_STANDIN, REDIS_STANDIN};
use crate::reference;

/// The node label that marks a swarm made by a test (so a test after a crashed one knows it
/// may leave it).
const TEST_LABEL: &str = "kvstack.e2e";

/// Runs `docker args`; its output whatever the status.
pub fn docker_output(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

/// Runs `docker args`, which must succeed; its stdout.
pub fn docker(args: &[&str]) -> String {
    let out = docker_output(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This engine as a swarm manager for one test.
pub struct Swarm {
    leave: bool,
}

impl Swarm {
    /// `docker swarm init` (advertising loopback: one node) unless a swarm is already active;
    /// `None` when the engine cannot and the run opted out.
    pub fn join() -> Option<Swarm> {
        if !crate::compose::require_docker() {
            return None;
        }
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let attempt = if state.trim() == "active" {
            Ok(Swarm {
                leave: node_label(TEST_LABEL).as_deref() == Some("true"),
            })
        } else {
            let out = docker_output(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            if out.status.success() {
                let me = node_id();
                docker(&[
                    "node",
                    "update",
                    "--label-add",
                    &format!("{TEST_LABEL}=true"),
                    &me,
                ]);
                Ok(Swarm { leave: true })
            } else {
                Err(format!(
                    "`docker swarm init` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        match attempt {
            Ok(swarm) => Some(swarm),
            Err(why) => {
                reference::require_attempt(&reference::DOCKER_SWARM, Err(why));
                None
            }
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.leave {
            let out = docker_output(&["swarm", "leave", "--force"]);
            if !out.status.success() {
                eprintln!(
                    "docker swarm leave failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            // The bridge `swarm init` made for overlay containers' outside traffic.
            let _ = docker_output(&["network", "rm", "docker_gwbridge"]);
        }
    }
}

fn node_id() -> String {
    docker(&["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_string()
}

fn node_label(label: &str) -> Option<String> {
    let out = docker_output(&[
        "node",
        "inspect",
        "self",
        "--format",
        &format!("{{{{index .Spec.Labels \"{label}\"}}}}"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The stack deployed by `cargo xtask swarm up --no-build` under a unique name, its load
/// balancer published (host mode) on a free port.
pub struct SwarmStack {
    pub name: String,
    pub lb_port: u16,
    /// How long `xtask swarm up` took, deploy to first 200.
    pub took: Duration,
    _nginx_conf: tempfile::TempDir,
    // Declared last: dropped after the stack is removed.
    _swarm: Swarm,
}

impl SwarmStack {
    /// Deploys the stack for `profiles` with extra variables (`REDIS_APPENDFSYNC`, …), waits
    /// for the first 200 and for two backends in rotation. `None`: skipped (no swarm, opt-out).
    pub fn deploy(profiles: &[&str], vars: &[(&str, &str)]) -> Option<SwarmStack> {
        let swarm = Swarm::join()?;
        for image in [
            "kvstack/kvstore:latest",
            "kvstack/api:latest",
            "kvstack/proxy:latest",
            REDIS_STANDIN,
            NGINX_STANDIN,
        ] {
            assert!(
                docker_output(&["image", "inspect", image]).status.success(),
                "{image} is missing: run `cargo xtask images --standins` (cargo xtask test does)"
            );
        }
        // Debian's nginx 1.22 (the stand-in) lacks the `resolve` server parameter.
        let nginx_conf = tempfile::tempdir().expect("tempdir");
        let conf = std::fs::read_to_string(workspace_root().join("configs/nginx.conf"))
            .expect("configs/nginx.conf")
            .replace(" resolve;", ";");
        let conf_path = nginx_conf.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut stack = SwarmStack {
            name: format!("kvswarm{}", std::process::id()),
            lb_port: crate::free_port(),
            took: Duration::ZERO,
            _nginx_conf: nginx_conf,
            _swarm: swarm,
        };
        let mut up = Command::new(crate::binary("xtask"));
        up.args(["swarm", "up", "--no-build", "--name", &stack.name]);
        for p in profiles {
            up.args(["--profile", p]);
        }
        up.env("LB_PORT", stack.lb_port.to_string())
            .env("REDIS_IMAGE", REDIS_STANDIN)
            .env("NGINX_IMAGE", NGINX_STANDIN)
            .env("NGINX_CONF", &conf_path)
            .stdin(Stdio::null());
        for (k, v) in vars {
            up.env(k, v);
        }
        let started = Instant::now();
        let out = up.output().expect("run xtask swarm up");
        stack.took = started.elapsed();
        assert!(
            out.status.success(),
            "xtask swarm up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            stack.logs()
        );
        stack.wait_for_rotation(Duration::from_secs(60));
        Some(stack)
    }

    /// `<stack>_<service>`, the Swarm service's name.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }

    /// The running containers of a service's tasks.
    pub fn containers(&self, service: &str) -> Vec<String> {
        docker(&[
            "ps",
            "-q",
            "--filter",
            &format!(
                "label=com.docker.swarm.service.name={}",
                self.service(service)
            ),
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect()
    }

    /// The hostnames (what the api reports as container_id) of a service's running tasks.
    pub fn hostnames(&self, service: &str) -> Vec<String> {
        self.containers(service)
            .iter()
            .map(|id| {
                docker(&["inspect", "--format", "{{.Config.Hostname}}", id])
                    .trim()
                    .to_string()
            })
            .collect()
    }

    /// `GET /` through the load balancer, parsed (the body must be the original's bytes).
    pub fn visit(&self) -> Visit {
        let r = try_get(self.lb_port, "/").unwrap_or_else(|e| panic!("GET /: {e}"));
        assert_eq!(r.status, 200, "{r:?}");
        Visit::parse(&r.body)
    }

    /// Polls `GET /` until it answers 200; returns that visit.
    pub fn wait_for_200(&self, timeout: Duration) -> Visit {
        let deadline = Instant::now() + timeout;
        loop {
            match try_get(self.lb_port, "/") {
                Ok(r) if r.status == 200 => return Visit::parse(&r.body),
                other if Instant::now() > deadline => {
                    panic!(
                        "no 200 within {timeout:?} (last: {other:?})\n{}",
                        self.logs()
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Waits until two consecutive visits reach different backends.
    pub fn wait_for_rotation(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = self.wait_for_200(timeout).container_id;
        loop {
            let next = self.wait_for_200(timeout).container_id;
            if next != last {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {last} answers after {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
            last = next;
        }
    }

    /// `docker stack ps` and the last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let ps = docker_output(&["stack", "ps", "--no-trunc", &self.name]);
        out.push_str(&String::from_utf8_lossy(&ps.stdout));
        let services = docker_output(&["stack", "services", "--format", "{{.Name}}", &self.name]);
        for service in String::from_utf8_lossy(&services.stdout).split_whitespace() {
            let logs = docker_output(&["service", "logs", "--no-trunc", "--tail", "20", service]);
            out.push_str(&format!("--- {service}\n"));
            out.push_str(&String::from_utf8_lossy(&logs.stdout));
            out.push_str(&String::from_utf8_lossy(&logs.stderr));
        }
        out
    }
}

impl Drop for SwarmStack {
    fn drop(&mut self) {
        let _ = docker_output(&["stack", "rm", &self.name]);
        let label = format!("label=com.docker.stack.namespace={}", self.name);
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let left = docker_output(&["ps", "-aq", "--filter", &label])
                .stdout
                .len()
                + docker_output(&["network", "ls", "-q", "--filter", &label])
                    .stdout
                    .len();
            if left == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = docker_output(&["volume", "rm", &format!("{}_redis_data", self.name)]);
    }
}
