//! HTTP test support for the load balancer: small named backends, a plain HTTP/1.1 client,
//! and launchers for the `proxy` binary and for Debian's nginx running `configs/nginx.conf`.
//!
//! Everything listens on loopback only. Backends are in-process (a tokio runtime each), so a
//! test can kill one (every socket closes at once, like SIGKILL of a container) and start it
//! again on the same address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{binary, free_port, free_ports, unsafe_kill, wait_timeout};

/// A tiny HTTP/1.1 server that answers every request with its name on the first body line,
/// then the request line and the request headers it received, one per line
/// (`name: value`, names lowercased). `GET /slow` waits 5 s first. `GET /readyz` answers
/// 503 instead while [`set_ready`](Backend::set_ready) said false, as an api that cannot reach
/// its store.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    served: Arc<AtomicU64>,
    /// Request heads received (counted before `/slow` waits).
    received: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Backend {
    /// Starts on a free port of 127.0.0.1.
    pub fn start(name: &str) -> Backend {
        Backend::start_on(name, "127.0.0.1:0".parse().unwrap())
    }

    /// Starts on `addr` (port 0: any free port).
    pub fn start_on(name: &str, addr: SocketAddr) -> Backend {
        let mut b = Backend {
            name: name.to_string(),
            addr,
            served: Arc::new(AtomicU64::new(0)),
            received: Arc::new(AtomicU64::new(0)),
            ready: Arc::new(AtomicBool::new(true)),
            rt: None,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            // The port of a killed backend can take a moment to be bindable again.
            match rt.block_on(tokio::net::TcpListener::bind(self.addr)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("backend {} cannot bind {}: {e}", self.name, self.addr),
            }
        };
        self.addr = listener.local_addr().expect("addr");
        let name: Arc<str> = self.name.as_str().into();
        let served = self.served.clone();
        let received = self.received.clone();
        let ready = self.ready.clone();
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(
                    stream,
                    name.clone(),
                    served.clone(),
                    received.clone(),
                    ready.clone(),
                ));
            }
        });
        self.rt = Some(rt);
    }

    /// `ip:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Requests answered so far (over all restarts).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Request heads received so far, answered or not (a `/slow` one counts at once).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Whether `GET /readyz` answers 200 (the default) or 503.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Kills the backend: the listener and every open connection close at once.
    pub fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    /// Starts the killed backend again on the same address.
    pub fn restart(&mut self) {
        assert!(self.rt.is_none(), "kill the backend first");
        self.spawn();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve_connection(
    mut stream: tokio::net::TcpStream,
    name: Arc<str>,
    served: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        received.fetch_add(1, Ordering::Relaxed);
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("").to_string();
        let mut body = format!("{name}\n{request_line}\n");
        let mut content_length = 0usize;
        let mut chunked = false;
        let mut close = request_line.ends_with("HTTP/1.0");
        for line in lines.filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                content_length = v.parse().unwrap_or(0);
            }
            if k == "transfer-encoding" {
                chunked = v.eq_ignore_ascii_case("chunked");
            }
            if k == "connection" {
                close = v.eq_ignore_ascii_case("close");
            }
            body.push_str(&format!("{k}: {v}\n"));
        }
        let request_body = if chunked {
            match read_chunked(&mut stream, &mut buf).await {
                Some(b) => b,
                None => return,
            }
        } else {
            if !fill(&mut stream, &mut buf, content_length).await {
                return;
            }
            buf.drain(..content_length).collect()
        };
        body.push_str(&format!(
            "body-length: {}\nbody-sum: {:016x}\n",
            request_body.len(),
            fnv1a(&request_body)
        ));
        if request_line.starts_with("GET /slow") {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        if request_line.starts_with("GET /big") {
            // A body longer than any buffer on the way: the echo, then a known pattern.
            let mut i = 0u32;
            while body.len() < BIG_BODY {
                body.push_str(&format!("{i:07}\n"));
                i += 1;
            }
            body.truncate(BIG_BODY);
        }
        let extra = if close { "Connection: close\r\n" } else { "" };
        let status = if request_line.starts_with("GET /readyz ") && !ready.load(Ordering::Relaxed) {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        let resp = if request_line.starts_with("GET /chunked") {
            // The echo in three chunks, with an extension and a trailer.
            let third = body.len() / 3;
            let (a, rest) = body.split_at(third);
            let (b, c) = rest.split_at(third);
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nServer: test-backend\r\n{extra}\r\n\
                 {:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n{:x}\r\n{c}\r\n0\r\nX-Trailer: t\r\n\r\n",
                a.len(),
                b.len(),
                c.len()
            )
        } else {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nServer: test-backend\r\n{extra}\r\n",
                body.len()
            );
            if request_line.starts_with("HEAD ") {
                head
            } else {
                head + &body
            }
        };
        // Counted before the write: a client that read the answer must see it counted.
        served.fetch_add(1, Ordering::Relaxed);
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// Length of `GET /big`'s body.
pub const BIG_BODY: usize = 300_000;

/// FNV-1a, the checksum the test backend reports for a request body (`body-sum`).
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads until `buf` holds at least `n` bytes; false when the peer closed first.
async fn fill(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    while buf.len() < n {
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    true
}

/// Reads and decodes a chunked body (trailers skipped); `None` when it is malformed or cut.
async fn read_chunked(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(p) = find(buf, b"\r\n") {
                break p;
            }
            if !fill(stream, buf, buf.len() + 1).await {
                return None;
            }
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        buf.drain(..line_end + 2);
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let end = loop {
                    if let Some(p) = find(buf, b"\r\n") {
                        break p;
                    }
                    if !fill(stream, buf, buf.len() + 1).await {
                        return None;
                    }
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return Some(body);
                }
            }
        }
        if !fill(stream, buf, size + 2).await {
            return None;
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first body line: the name of the backend that answered.
    pub fn backend(&self) -> &str {
        self.body.lines().next().unwrap_or("")
    }

    /// The value of a request header as the backend received it (its echo), if any.
    pub fn echoed(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.body
            .lines()
            .skip(2)
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }
}

/// Parses a raw HTTP/1.x response (head and the whole body read to close).
pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no complete response head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[end + 4..]).into_owned(),
    })
}

/// Sends raw bytes on a new connection and returns everything the server sends until it
/// closes (or 10 s pass).
pub fn raw_exchange(addr: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A reset after the response was sent still counts as the response.
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(e),
    }
}

/// `GET path` on a new connection (`Connection: close`) with extra headers.
pub fn get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    parse_response(&raw_exchange(addr, req.as_bytes())?)
}

/// `GET path` on a new connection.
pub fn get(addr: &str, path: &str) -> std::io::Result<Response> {
    get_with(addr, path, &[])
}

/// The `proxy` binary, started with a TOML config on free loopback ports.
pub struct Proxy {
    pub port: u16,
    pub admin_port: u16,
    upstreams: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts the proxy in front of `upstreams` (`UPSTREAMS` syntax; empty: the TOML lines
    /// name them) with extra TOML lines.
    /// Waits until both listeners answer.
    pub fn start(upstreams: &str, extra_toml: &str) -> Proxy {
        Proxy::launch(upstreams, extra_toml, wait_http)
    }

    /// As [`start`](Self::start), but no request reaches the upstreams before the test's
    /// own: the client listener is only connected to, not asked (as right after
    /// `docker compose up`, before anyone browses).
    pub fn start_untouched(upstreams: &str, extra_toml: &str) -> Proxy {
        Proxy::launch(upstreams, extra_toml, wait_listening)
    }

    fn launch(upstreams: &str, extra_toml: &str, wait: fn(u16, &mut Child) -> bool) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        for _attempt in 0..5 {
            let [port, admin_port] = free_ports();
            // Quick health checks unless the test sets its own interval.
            let interval = if extra_toml.contains("health_interval_secs") {
                ""
            } else {
                "health_interval_secs = 0.2\n"
            };
            let toml = format!(
                "listen = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
                 threads = 2\n{interval}{extra_toml}\n"
            );
            std::fs::write(dir.path().join("proxy.toml"), toml).expect("write config");
            let mut child = proxy_command(dir.path(), upstreams)
                .spawn()
                .expect("spawn proxy");
            if wait(port, &mut child) && wait_http(admin_port, &mut child) {
                return Proxy {
                    port,
                    admin_port,
                    upstreams: upstreams.to_string(),
                    child: Some(child),
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("proxy did not start (run with KVSTACK_TEST_LOGS=1 to see its output)");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The temporary directory the proxy's files live in.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The admin listener's `/metrics` text.
    pub fn metrics(&self) -> String {
        get(&format!("127.0.0.1:{}", self.admin_port), "/metrics")
            .expect("metrics")
            .body
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("proxy running");
        unsafe_kill(child.id(), "TERM");
        wait_timeout(&mut child, Duration::from_secs(30))
            .expect("proxy did not exit within 30 s of SIGTERM")
    }

    /// The last 4 KB the proxy (and any process that upgraded it) wrote to stderr; empty
    /// with `KVSTACK_TEST_LOGS`, where it goes to the test's own stderr.
    pub fn stderr(&self) -> String {
        let text = std::fs::read(self.dir.path().join(STDERR)).unwrap_or_default();
        String::from_utf8_lossy(&text[text.len().saturating_sub(4096)..]).into_owned()
    }

    /// Sends `signal` (a name as `kill` takes it: `HUP`, `TERM`...) to the running proxy.
    pub fn signal(&self, signal: &str) {
        unsafe_kill(self.pid(), signal);
    }

    /// Rewrites the TOML config (listeners kept as started) for a SIGHUP reload.
    pub fn rewrite_config(&self, extra_toml: &str) {
        let toml = format!(
            "listen = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\n\
             threads = 2\n{extra_toml}\n",
            self.port, self.admin_port
        );
        std::fs::write(self.dir.path().join("proxy.toml"), toml).expect("write config");
    }

    /// Waits up to `timeout` for the proxy to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let status = wait_timeout(self.child.as_mut().expect("proxy running"), timeout)?;
        self.child = None;
        Some(status)
    }

    /// The running process (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A graceful upgrade as an operator runs one: a new process started with `--upgrade`
    /// waits on the upgrade socket, then SIGQUIT makes this one hand its listening sockets
    /// over and drain. Afterwards `self` is the new process; returns the old one's exit status.
    pub fn upgrade(&mut self) -> std::process::ExitStatus {
        let sock = self.dir.path().join("upgrade.sock");
        let _ = std::fs::remove_file(&sock);
        let mut new = proxy_command(self.dir.path(), &self.upstreams)
            .arg("--upgrade")
            .spawn()
            .expect("spawn proxy --upgrade");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline && matches!(new.try_wait(), Ok(None)),
                "proxy --upgrade did not open {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut old = self.child.replace(new).expect("proxy running");
        unsafe_kill(old.id(), "QUIT");
        wait_timeout(&mut old, Duration::from_secs(30))
            .expect("the old proxy did not exit within 30 s of SIGQUIT")
    }
}

/// The proxy's command line for the `proxy.toml` in `dir`, with nothing inherited from the
/// test's environment.
fn proxy_command(dir: &Path, upstreams: &str) -> Command {
    let mut cmd = Command::new(binary("proxy"));
    // Empty: the upstreams come from the TOML file (`upstreams = [...]`).
    if upstreams.is_empty() {
        cmd.env_remove("UPSTREAMS");
    } else {
        cmd.env("UPSTREAMS", upstreams);
    }
    cmd.arg("--config")
        .arg(dir.join("proxy.toml"))
        .env("UPGRADE_SOCK", dir.join("upgrade.sock"))
        .env_remove("LISTEN")
        .env_remove("THREADS")
        .env_remove("ADMIN_LISTEN")
        .env_remove("ACCESS_LOG")
        .env_remove("HOSTS_FILE")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if std::env::var_os("KVSTACK_TEST_LOGS").is_some() {
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        // Kept for [`Proxy::stderr`]: a crash's panic message and backtrace are there.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(STDERR))
            .expect("open the proxy's stderr file");
        cmd.stderr(log);
    }
    cmd
}

/// The file in the proxy's directory its stderr goes to.
const STDERR: &str = "proxy.stderr";

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until something on `port` answers an HTTP request (any status).
fn wait_http(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = format!("127.0.0.1:{port}");
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if get(&addr, "/healthz").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

/// Waits until `port` accepts a connection (closed at once, no request sent).
fn wait_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

/// True when Debian's nginx is installed; fails the test otherwise, unless the run opted out
/// of missing references ([`crate::reference::require`]).
pub fn require_nginx() -> bool {
    crate::reference::require(&crate::reference::NGINX)
}

fn nginx_path() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}

/// The repository's `configs/nginx.conf`.
pub fn nginx_conf_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .join("configs/nginx.conf")
}

/// `configs/nginx.conf` adapted to run unprivileged on test ports: the `server` lines of the
/// upstream become `upstreams` (keeping their parameters, minus `resolve`, which Debian's
/// nginx 1.22 lacks), `listen 80` becomes `127.0.0.1:port`, and pid / logs / temp files go to
/// `dir`. Everything else is used as written.
pub fn adapt_nginx_conf(
    conf: &str,
    upstreams: &[String],
    port: u16,
    dir: &std::path::Path,
) -> String {
    let d = dir.display();
    let mut out = String::from("user root;\n");
    let mut servers_done = false;
    for line in conf.lines() {
        let t = line.trim_start();
        if t.starts_with("pid ") {
            out.push_str(&format!("pid {d}/nginx.pid;\n"));
        } else if t.starts_with("error_log ") {
            out.push_str(&format!("error_log {d}/error.log warn;\n"));
        } else if t.starts_with("access_log ") {
            out.push_str(&format!("access_log {d}/access.log upstream;\n"));
        } else if t.starts_with("listen ") {
            out.push_str(&format!("listen 127.0.0.1:{port};\n"));
        } else if t.starts_with("server ") && t.contains(":5000") {
            if !servers_done {
                let params: String = t
                    .trim_end_matches(';')
                    .split_whitespace()
                    .skip(2)
                    .filter(|w| *w != "resolve")
                    .map(|w| format!(" {w}"))
                    .collect();
                for up in upstreams {
                    out.push_str(&format!("server {up}{params};\n"));
                }
                servers_done = true;
            }
        } else if t.starts_with("http {") {
            out.push_str(line);
            out.push('\n');
            for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                out.push_str(&format!("{temp}_temp_path {d}/{temp};\n"));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Debian's nginx running the adapted `configs/nginx.conf`.
pub struct Nginx {
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (`ip:port` each).
    pub fn start(upstreams: &[String]) -> Nginx {
        Nginx::launch(upstreams, "", wait_http)
    }

    /// As [`start`](Self::start), but no request reaches the upstreams before the test's own.
    pub fn start_untouched(upstreams: &[String]) -> Nginx {
        Nginx::launch(upstreams, "", wait_listening)
    }

    /// As [`start`](Self::start) with `directives` (a balancing method such as
    /// `least_conn;`) at the top of the upstream block. An upstream may carry server
    /// parameters after its address (`127.0.0.1:5001 backup`).
    pub fn start_with(upstreams: &[String], directives: &str) -> Nginx {
        Nginx::launch(upstreams, directives, wait_http)
    }

    /// As [`start_untouched`](Self::start_untouched) with extra directives in the `http`
    /// block and in `location /` (for `limit_req_zone` / `limit_req`, say).
    pub fn start_limited(upstreams: &[String], http: &str, location: &str) -> Nginx {
        let directives = format!("#http {http}\n#location {location}");
        Nginx::launch(upstreams, &directives, wait_listening)
    }

    fn launch(upstreams: &[String], directives: &str, wait: fn(u16, &mut Child) -> bool) -> Nginx {
        let template = std::fs::read_to_string(nginx_conf_path()).expect("configs/nginx.conf");
        let dir = tempfile::tempdir().expect("tempdir");
        for _attempt in 0..5 {
            let port = free_port();
            let conf = dir.path().join("nginx.conf");
            let mut adapted = adapt_nginx_conf(&template, upstreams, port, dir.path());
            // `#http X` / `#location X` lines go to those blocks, the rest to the upstream.
            let mut upstream = String::new();
            for line in directives.lines() {
                if let Some(d) = line.strip_prefix("#http ") {
                    adapted = adapted.replacen("http {\n", &format!("http {{\n{d}\n"), 1);
                } else if let Some(d) = line.strip_prefix("#location ") {
                    adapted =
                        adapted.replacen("location / {\n", &format!("location / {{\n{d}\n"), 1);
                } else {
                    upstream.push_str(line);
                    upstream.push('\n');
                }
            }
            let adapted = adapted.replacen(
                "upstream backends {\n",
                &format!("upstream backends {{\n{upstream}"),
                1,
            );
            std::fs::write(&conf, adapted).expect("write nginx.conf");
            let mut child = Command::new(nginx_path())
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn nginx");
            if wait(port, &mut child) {
                return Nginx {
                    port,
                    child: Some(child),
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start with the adapted configs/nginx.conf");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGQUIT: graceful; SIGTERM would do too. Kill to be quick.
            unsafe_kill(child.id(), "TERM");
            if wait_timeout(&mut child, Duration::from_secs(5)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
