//! Test support for the Docker Compose stack: one project per test, on free loopback ports,
//! torn down with its volumes when the test ends.
//!
//! The images come from `cargo xtask images --standins` (`cargo xtask test` builds them when a
//! Docker engine is present). Without an engine the tests say so and skip; with an engine but
//! without the images they fail, naming the command that builds them.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::http::Response;

/// Tags `cargo xtask images --standins` gives the stand-ins for the official images.
pub const REDIS_STANDIN: &str = "kvstack-standin/redis:alpine";
pub const NGINX_STANDIN: &str = "kvstack-standin/nginx:alpine";

/// True when a Docker engine answers; fails the test otherwise, unless the run opted out of
/// missing references ([`crate::reference::require`]).
pub fn require_docker() -> bool {
    crate::reference::require(&crate::reference::DOCKER)
}

/// `docker compose` (v2) when the plugin is there, else `docker-compose` (v1); asked once.
fn compose_program() -> &'static [&'static str] {
    static PROGRAM: OnceLock<&'static [&'static str]> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if v2 {
            &["docker", "compose"]
        } else {
            &["docker-compose"]
        }
    })
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Size of a local image in bytes.
pub fn image_size(image: &str) -> u64 {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", image])
        .output()
        .expect("docker image inspect");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("size of {image}: {out:?}"))
}

/// One compose project: the repository's docker-compose.yml under a unique project name, with
/// its host ports on free loopback ports.
pub struct Stack {
    pub project: String,
    pub lb_port: u16,
    pub backend_ports: [u16; 2],
    pub store_port: u16,
    env: Vec<(String, String)>,
    _nginx_conf: tempfile::TempDir,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Stack {
    /// A stack with the given profiles (`kvstack` is ours) and extra compose variables; nothing
    /// runs until [`Stack::up`].
    pub fn new(profiles: &str, vars: &[(&str, &str)]) -> Stack {
        for image in [
            "kvstack/kvstore:latest",
            "kvstack/api:latest",
            "kvstack/proxy:latest",
        ] {
            assert!(
                image_exists(image),
                "{image} is missing: run `cargo xtask images --standins` (cargo xtask test does)"
            );
        }
        let project = format!(
            "kvstacktest{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let [lb_port, b1, b2, store_port] = crate::free_ports();
        let mut env: Vec<(String, String)> = vec![
            ("COMPOSE_PROFILES".into(), profiles.into()),
            ("HOST_IP".into(), "127.0.0.1".into()),
            ("LB_PORT".into(), lb_port.to_string()),
            ("BACKEND1_PORT".into(), b1.to_string()),
            ("BACKEND2_PORT".into(), b2.to_string()),
            ("STORE_PORT".into(), store_port.to_string()),
            ("REDIS_IMAGE".into(), REDIS_STANDIN.into()),
            ("NGINX_IMAGE".into(), NGINX_STANDIN.into()),
        ];
        // The nginx stand-in is Debian's nginx 1.22, which lacks the `resolve` server parameter
        // (nginx >= 1.27.3, as in nginx:alpine): give it configs/nginx.conf without it.
        let nginx_conf = tempfile::tempdir().expect("tempdir");
        let conf = std::fs::read_to_string(workspace_root().join("configs/nginx.conf"))
            .expect("configs/nginx.conf")
            .replace(" resolve;", ";");
        let conf_path = nginx_conf.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        env.push(("NGINX_CONF".into(), conf_path.display().to_string()));
        for (k, v) in vars {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        Stack {
            _nginx_conf: nginx_conf,
            project,
            lb_port,
            backend_ports: [b1, b2],
            store_port,
            env,
        }
    }

    /// Runs `docker compose -p <project> <args>`; returns its output whatever the status.
    pub fn compose_output(&self, args: &[&str]) -> Output {
        let program = compose_program();
        let mut cmd = Command::new(program[0]);
        cmd.args(&program[1..])
            .args(["-p", &self.project, "-f"])
            .arg(workspace_root().join("docker-compose.yml"))
            .args(args)
            .current_dir(workspace_root())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("run docker compose")
    }

    /// Runs a compose command that must succeed.
    pub fn compose(&self, args: &[&str]) -> String {
        let out = self.compose_output(args);
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `up -d` (plus `extra`), then waits for the first 200 through the load balancer (which
    /// counts a visit: it is returned) and then for both backends to be ready (store reachable),
    /// so what follows sees the whole stack. Also returns the time from `up` to that first 200.
    pub fn up(&self, extra: &[&str]) -> (Duration, Visit) {
        let started = Instant::now();
        let mut args = vec!["up", "-d", "--no-build"];
        args.extend_from_slice(extra);
        self.compose(&args);
        let first = self.wait_for_200(Duration::from_secs(60));
        let took = started.elapsed();
        self.wait_for_backends(Duration::from_secs(60));
        self.wait_for_rotation(Duration::from_secs(60));
        (took, first)
    }

    /// Waits until two consecutive visits through the load balancer reach different backends:
    /// the proxy's health check has seen both ready.
    pub fn wait_for_rotation(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        // A backend the proxy tries before its first check passed (as nginx tries its servers)
        // may still answer 503 while its first store connection is made: that is waited out
        // here too.
        let answer = || match try_get(self.lb_port, "/") {
            Ok(r) if r.status == 200 => Some(Visit::parse(&r.body).container_id),
            _ => None,
        };
        let mut last = answer();
        loop {
            let next = answer();
            if next.is_some() && last.is_some() && next != last {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {last:?} answers after {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
            last = next;
        }
    }

    /// Polls each backend's `/readyz` on its published port until both answer 200.
    pub fn wait_for_backends(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for port in self.backend_ports {
            while !try_get(port, "/readyz").is_ok_and(|r| r.status == 200) {
                assert!(
                    Instant::now() < deadline,
                    "backend on :{port} not ready within {timeout:?}\n{}",
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Polls `GET /` on the load balancer until it answers 200; returns that visit.
    pub fn wait_for_200(&self, timeout: Duration) -> Visit {
        let deadline = Instant::now() + timeout;
        loop {
            match try_get(self.lb_port, "/") {
                Ok(r) if r.status == 200 => return Visit::parse(&r.body),
                other if Instant::now() > deadline => {
                    panic!(
                        "no 200 on :{} within {timeout:?} (last: {other:?})\n{}",
                        self.lb_port,
                        self.logs()
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `GET /` through the load balancer, parsed.
    pub fn visit(&self) -> Visit {
        let r = get(self.lb_port, "/");
        assert_eq!(r.status, 200, "{r:?}");
        Visit::parse(&r.body)
    }

    /// The container of a service (first replica).
    pub fn container(&self, service: &str) -> String {
        self.compose(&["ps", "-q", service])
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no container for {service}"))
            .to_string()
    }

    /// Waits until every container of `service` passes its health check (the api's asks
    /// `/readyz`: its store answers), so a replica that just started is not visited while its
    /// first store connection is still being made.
    pub fn wait_healthy(&self, service: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ids = self.compose(&["ps", "-q", service]);
            let ids: Vec<&str> = ids.lines().collect();
            let mut args = vec!["inspect", "-f", "{{.State.Health.Status}}"];
            args.extend(ids.iter().copied());
            let states = crate::swarm::docker(&args);
            if !ids.is_empty() && states.lines().all(|s| s.trim() == "healthy") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{service} not healthy: {states}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs a program in a service's (first) container; its stdout.
    pub fn exec(&self, service: &str, args: &[&str]) -> String {
        let mut all = vec!["exec", "-T", service];
        all.extend_from_slice(args);
        self.compose(&all)
    }

    /// Every container's log, for failure messages.
    pub fn logs(&self) -> String {
        let out = self.compose_output(&["logs", "--no-color", "--tail", "50"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GET total_visits` on the store's published port (the bulk string's text).
    pub fn stored_visits(&self) -> String {
        let reply = crate::RawConn::connect(&format!("127.0.0.1:{}", self.store_port))
            .cmd(&["GET", "total_visits"]);
        let reply = String::from_utf8_lossy(&reply);
        reply.split("\r\n").nth(1).unwrap_or_default().to_string()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.compose_output(&["down", "-v", "--remove-orphans", "-t", "5"]);
        if !out.status.success() {
            eprintln!(
                "compose down of {} failed: {}",
                self.project,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `GET path` on 127.0.0.1:`port`, on a new connection.
pub fn try_get(port: u16, path: &str) -> std::io::Result<Response> {
    crate::http::get(&format!("127.0.0.1:{port}"), path)
}

pub fn get(port: u16, path: &str) -> Response {
    try_get(port, path).unwrap_or_else(|e| panic!("GET {path} on :{port}: {e}"))
}

/// The fields of the api's answer that the tests follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub container_id: String,
    pub total_visits: u64,
}

impl Visit {
    /// Parses the body and checks it is byte for byte what the original Flask app sends for
    /// these values: compact JSON, sorted keys, one trailing newline.
    pub fn parse(text: &str) -> Visit {
        let field = |name: &str| -> &str {
            let start = text
                .find(&format!("\"{name}\":"))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                + name.len()
                + 3;
            let rest = &text[start..];
            let end = rest.find([',', '}']).expect("field end");
            &rest[..end]
        };
        let visit = Visit {
            container_id: field("container_id").trim_matches('"').to_string(),
            total_visits: field("total_visits")
                .parse()
                .unwrap_or_else(|_| panic!("total_visits in {text}")),
        };
        assert_eq!(
            text,
            crate::api::flask_visit_body(&visit.container_id, visit.total_visits as i64),
            "body differs from the original's"
        );
        visit
    }
}
