//! Support for the `api` binary: start it against a store on ephemeral loopback ports and
//! talk HTTP to it, both with a raw socket (exact bytes, HTTP/1.0) and with `reqwest`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{binary, free_port, unsafe_kill, wait_timeout};

/// A running `api` process, killed on drop.
pub struct Api {
    pub port: u16,
    pub container_id: String,
    child: Option<Child>,
}

impl Api {
    /// Starts `api` with `CONTAINER_ID=container_id`, counting in the store on
    /// `127.0.0.1:store_port`; `env` adds or overrides variables (timeouts, ...). Returns
    /// once `/healthz` answers.
    pub fn start(container_id: &str, store_port: u16, env: &[(&str, &str)]) -> Api {
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(binary("api"));
            cmd.env("PORT", port.to_string())
                .env("BIND", "127.0.0.1")
                .env("REDIS_HOST", "127.0.0.1")
                .env("REDIS_PORT", store_port.to_string())
                .env("CONTAINER_ID", container_id)
                .env("RUST_LOG", "warn")
                .env_remove("REDIS_PASSWORD")
                .env_remove("REDIS_DB")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if std::env::var_os("KVSTACK_TEST_LOGS").is_some() {
                cmd.env("RUST_LOG", "info")
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit());
            }
            let mut child = cmd.spawn().expect("spawn api");
            if wait_healthy(port, &mut child) {
                return Api {
                    port,
                    container_id: container_id.to_string(),
                    child: Some(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("api did not start (run with KVSTACK_TEST_LOGS=1 to see its output)");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("api running").id()
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        unsafe_kill(self.pid(), "TERM");
    }

    /// Waits for the process to exit (after [`Api::terminate`]).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let status = wait_timeout(&mut child, timeout);
        if status.is_none() {
            self.child = Some(child);
        }
        status
    }

    /// Stops with SIGTERM and waits; returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate();
        self.wait_exit(Duration::from_secs(20))
            .expect("api did not exit within 20 s of SIGTERM")
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_healthy(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(response) = try_raw_http(
            &format!("127.0.0.1:{port}"),
            b"GET /healthz HTTP/1.0\r\n\r\n",
        ) {
            if response.starts_with(b"HTTP/1.0 200 ") || response.starts_with(b"HTTP/1.1 200 ") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Writes `request` as is and reads until the server closes; for HTTP/1.0 and for checking
/// exact bytes.
pub fn raw_http(addr: &str, request: &[u8]) -> Vec<u8> {
    try_raw_http(addr, request).expect("raw HTTP exchange")
}

fn try_raw_http(addr: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request)?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(out)
}

/// A raw HTTP response split into status line, headers (lower-cased names) and body.
#[derive(Debug)]
pub struct RawResponse {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses one complete response (the server closed after it).
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        RawResponse {
            status_line,
            headers,
            body: bytes[split + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The body the original Flask app sends for a counted visit, built the way Flask builds it:
/// `json.dumps(..., sort_keys=True, separators=(",", ":"))` plus a newline.
pub fn flask_visit_body(container_id: &str, visits: i64) -> String {
    format!(
        "{{\"container_id\":\"{container_id}\",\"database_status\":\"Terhubung\",\
         \"info\":\"Refresh halaman ini untuk melihat container_id berubah (Load Balancing)\",\
         \"message\":\"Halo dari Backend API!\",\"total_visits\":{visits}}}\n"
    )
}

/// A fake store that completes the connection handshake (`+OK` to everything, `+PONG` to
/// PING) but never answers `INCR`: it holds an api request in flight for as long as the
/// api's command timeout, and tells the test when that request reached the store.
pub struct StallingStore {
    pub port: u16,
    incr_seen: std::sync::mpsc::Receiver<()>,
}

impl StallingStore {
    pub fn start() -> StallingStore {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let tx = tx.clone();
                std::thread::spawn(move || stall(stream, tx));
            }
        });
        StallingStore {
            port,
            incr_seen: rx,
        }
    }

    /// Waits until an `INCR` arrived (panics after 20 s).
    pub fn wait_for_incr(&self) {
        self.incr_seen
            .recv_timeout(Duration::from_secs(20))
            .expect("no INCR reached the store");
    }
}

fn stall(mut stream: TcpStream, incr_seen: std::sync::mpsc::Sender<()>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Ok(Some(len)) = crate::frame_len(&buf, 0) {
            let frame: Vec<u8> = buf.drain(..len).collect();
            let upper = frame.to_ascii_uppercase();
            let reply: &[u8] = if upper.windows(6).any(|w| w == b"\r\nINCR") {
                let _ = incr_seen.send(());
                continue;
            } else if upper.windows(6).any(|w| w == b"\r\nPING") {
                b"+PONG\r\n"
            } else {
                b"+OK\r\n"
            };
            if stream.write_all(reply).is_err() {
                return;
            }
        }
    }
}
