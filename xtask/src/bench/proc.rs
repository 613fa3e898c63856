//! The processes a benchmark runs — stores, load balancers, backends — and what is read off
//! them (CPU time, resident memory). Every one is started on a free loopback port in its own
//! temporary directory and stopped (SIGTERM, then SIGKILL) when its guard drops.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::images;

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A release binary of this workspace (the static build the images ship).
pub fn bin(name: &str) -> Result<PathBuf> {
    Ok(images::release_dir()?.join(name))
}

/// A running process on `port`, stopped when dropped.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub dir: Option<tempfile::TempDir>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits up to 60 s for a clean exit (a store writing its data), then
    /// SIGKILL. Returns how long the exit took.
    pub fn stop(&mut self) -> Duration {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        started.elapsed()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Waits until `port` accepts connections, failing if `child` exits first.
pub fn wait_port(port: u16, child: &mut Child, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited during start-up: {status}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{what} did not start listening on {port}")
}

fn tempdir(prefix: &str) -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix(&format!("kvbench-{prefix}-"))
        .tempdir()?)
}

/// CPU seconds (user + system) used so far by `pids` and their child processes (nginx's
/// workers).
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    let stat = |pid: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the parenthesised command name; utime and stime are 14 and 15.
                let rest = s.rsplit_once(')')?.1.to_string();
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0)
    };
    let ticks: u64 = pids
        .iter()
        .map(|pid| {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            stat(&pid.to_string()) + children.split_whitespace().map(stat).sum::<u64>()
        })
        .sum();
    // /proc counts in USER_HZ ticks, 100 per second on Linux for every architecture.
    ticks as f64 / 100.0
}

/// Waits until `pid` is idle — at most one CPU tick (10 ms) over each of two consecutive
/// half seconds — or `limit` has passed; returns how long it waited. After a bulk load a
/// store may still be persisting it (kvstore's checkpoint into sled, Redis's AOF fsync):
/// measuring then would charge the load to the next test.
pub fn wait_idle(pid: u32, limit: Duration) -> Duration {
    let started = std::time::Instant::now();
    let mut last = cpu_seconds(&[pid]);
    let mut quiet = 0;
    while quiet < 2 && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu_seconds(&[pid]);
        quiet = if now - last <= 0.011 { quiet + 1 } else { 0 };
        last = now;
    }
    started.elapsed()
}

/// Resident memory of a process in bytes.
pub fn rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

/// Which Redis-protocol store.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Store {
    Kvstore,
    Redis,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Kvstore => "kvstore",
            Store::Redis => "redis-server",
        }
    }

    /// Starts the store with `appendonly yes` and `appendfsync`, in a new directory.
    pub fn start(self, fsync: &str) -> Result<Proc> {
        self.start_with(fsync, &[])
    }

    /// [`Store::start`] with more options (`--replicaof host port`).
    pub fn start_with(self, fsync: &str, extra: &[&str]) -> Result<Proc> {
        let dir = tempdir(self.name())?;
        let mut proc = self.start_in_with(fsync, dir.path(), free_port()?, extra)?;
        proc.dir = Some(dir);
        Ok(proc)
    }

    /// Starts the store on `dir` (whose data it loads) and `port`; returns once it answers
    /// PING with PONG (not while it still answers `-LOADING`).
    pub fn start_in(self, fsync: &str, dir: &Path, port: u16) -> Result<Proc> {
        self.start_in_with(fsync, dir, port, &[])
    }

    fn start_in_with(self, fsync: &str, dir: &Path, port: u16, extra: &[&str]) -> Result<Proc> {
        let mut cmd = match self {
            Store::Kvstore => Command::new(bin("kvstore")?),
            Store::Redis => {
                let mut c = Command::new("redis-server");
                c.args(["--save", ""]);
                c
            }
        };
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--appendfsync", fsync])
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.name()))?;
        let mut proc = Proc {
            child,
            port,
            dir: None,
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = proc.child.try_wait() {
                bail!("{} exited during start-up: {status}", self.name());
            }
            if ping(port) {
                return Ok(proc);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("{} did not answer PING", self.name())
    }
}

/// True when a store on `port` answers PING with PONG.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reply = [0u8; 7];
    conn.write_all(b"PING\r\n").is_ok()
        && conn.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// The start of an nginx configuration living in `dir`.
fn nginx_head(dir: &Path, workers: usize) -> String {
    let d = dir.display();
    let mut s = format!(
        "worker_processes {workers};\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 10000; }}\nhttp {{\naccess_log off;\n"
    );
    for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        writeln!(s, "{temp}_temp_path {d}/{temp};").expect("write to String");
    }
    s
}

fn start_nginx(dir: tempfile::TempDir, conf: &str, port: u16, what: &str) -> Result<Proc> {
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf)?;
    let mut child = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run nginx (apt-get install nginx-light)")?;
    wait_port(port, &mut child, what)?;
    Ok(Proc {
        child,
        port,
        dir: Some(dir),
    })
}

/// `n` fast backends for the load balancers: one nginx worker, `n` ports, `return 200`.
pub fn fast_backends(n: usize) -> Result<(Proc, Vec<u16>)> {
    let dir = tempdir("backends")?;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
    let mut conf = nginx_head(dir.path(), 1);
    for (i, port) in ports.iter().enumerate() {
        writeln!(
            conf,
            "server {{ listen 127.0.0.1:{port} backlog=4096; keepalive_requests 1000000; \
             location / {{ return 200 \"backend{}\\n\"; }} }}",
            i + 1
        )?;
    }
    conf.push_str("}\n");
    let proc = start_nginx(dir, &conf, ports[0], "backend nginx")?;
    Ok((proc, ports))
}

/// Which load balancer.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Balancer {
    Proxy,
    Nginx,
}

impl Balancer {
    pub fn name(self) -> &'static str {
        match self {
            Balancer::Proxy => "proxy",
            Balancer::Nginx => "nginx",
        }
    }

    /// Starts the balancer over `upstreams` with `workers` workers and no access log. nginx
    /// gets the directives of configs/nginx.conf that matter here (round-robin, upstream
    /// keep-alive, the forwarding headers, `proxy_next_upstream`).
    pub fn start(self, upstreams: &[u16], workers: usize) -> Result<Proc> {
        let dir = tempdir(self.name())?;
        let port = free_port()?;
        match self {
            Balancer::Nginx => {
                let mut conf = nginx_head(dir.path(), workers);
                conf.push_str("upstream backends {\n");
                for p in upstreams {
                    writeln!(conf, "server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;")?;
                }
                writeln!(
                    conf,
                    "keepalive 128;\n}}\nserver {{\nlisten 127.0.0.1:{port} backlog=4096;\n\
                     keepalive_requests 1000000;\nlocation / {{\nproxy_pass http://backends;\n\
                     proxy_http_version 1.1;\nproxy_set_header Connection \"\";\n\
                     proxy_set_header Host $http_host;\nproxy_set_header X-Real-IP $remote_addr;\n\
                     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                     proxy_set_header X-Forwarded-Proto $scheme;\n\
                     proxy_next_upstream error timeout;\n}}\n}}\n}}"
                )?;
                start_nginx(dir, &conf, port, "nginx")
            }
            Balancer::Proxy => {
                let list: Vec<String> =
                    upstreams.iter().map(|p| format!("127.0.0.1:{p}")).collect();
                let mut child = Command::new(bin("proxy")?)
                    .env("UPSTREAMS", list.join(","))
                    .env("LISTEN", format!("127.0.0.1:{port}"))
                    .env("THREADS", workers.to_string())
                    .env("ACCESS_LOG", "off")
                    .env("ADMIN_LISTEN", "off")
                    .env("UPGRADE_SOCK", dir.path().join("upgrade.sock"))
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .spawn()
                    .context("cannot run the proxy")?;
                wait_port(port, &mut child, "proxy")?;
                Ok(Proc {
                    child,
                    port,
                    dir: Some(dir),
                })
            }
        }
    }
}

/// A CPU cgroup that confines the processes put in it to `quota` of one core: cgroup v1's
/// `cpu` controller (`cpu.cfs_quota_us` over `cpu.cfs_period_us`) where it is mounted
/// writable, else cgroup v2's `cpu.max`. Removed (its processes moved back to the root
/// group first) on drop.
pub struct CpuQuota {
    dir: PathBuf,
    root: PathBuf,
}

impl CpuQuota {
    /// A new group allowing `share` of one core (0.5: half a core).
    pub fn new(name: &str, share: f64) -> Result<CpuQuota> {
        const PERIOD_US: u64 = 100_000;
        let quota_us = (share * PERIOD_US as f64) as u64;
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let (root, limit, text) = if v1.join("cpu.cfs_quota_us").exists() {
            (v1, "cpu.cfs_quota_us", quota_us.to_string())
        } else {
            let v2 = Path::new("/sys/fs/cgroup");
            (v2, "cpu.max", format!("{quota_us} {PERIOD_US}"))
        };
        let dir = root.join(format!("kvbench-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the CPU cgroup {}", dir.display()))?;
        let group = CpuQuota {
            dir,
            root: root.to_path_buf(),
        };
        if limit == "cpu.cfs_quota_us" {
            std::fs::write(group.dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
        }
        std::fs::write(group.dir.join(limit), text)
            .with_context(|| format!("cannot set {limit} in {}", group.dir.display()))?;
        Ok(group)
    }

    /// Moves `pid` and its children (nginx's workers) into the group, all their threads
    /// with them.
    pub fn add(&self, pid: u32) -> Result<()> {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for p in
            std::iter::once(pid.to_string()).chain(children.split_whitespace().map(String::from))
        {
            std::fs::write(self.dir.join("cgroup.procs"), &p)
                .with_context(|| format!("cannot move process {p} into {}", self.dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for p in procs.split_whitespace() {
            let _ = std::fs::write(self.root.join("cgroup.procs"), p);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
