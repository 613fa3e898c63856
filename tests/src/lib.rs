//! Test support: start the real binaries on ephemeral loopback ports and talk to them.
//!
//! Every end-to-end test goes through this module, so starting a server, waiting until it
//! answers, comparing it byte for byte with Debian's `redis-server`, and stopping it (politely
//! or with SIGKILL) is written once.

pub mod compose;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;

pub mod api;
pub mod http;
pub mod reference;
pub mod sentinel;
pub mod swarm;

/// The workspace's `target/<profile>` directory holding the binaries under test.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KVSTACK_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // Test executables live in target/<profile>/deps.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Path of a workspace binary; panics with the command to run when it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo xtask test` does), or set KVSTACK_BIN_DIR",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (the kernel picks it; a rare race with another process is
/// handled by the callers retrying start-up).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free TCP ports on 127.0.0.1. Each is held until all are picked: two calls to
/// [`free_port`] in a row can return the same port (the first one's socket is closed before
/// the second bind), which once gave the proxy its admin listener on its client listener's
/// address, and a compose stack two services on one published port (Docker: "port is
/// already allocated").
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").expect("bind :0"));
    held.map(|l| l.local_addr().expect("addr").port())
}

/// Which server program a [`Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Kvstore,
    /// Debian's `redis-server`, the reference.
    Redis,
}

/// A running server process with its own data directory.
pub struct Server {
    pub flavor: Flavor,
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    args: Vec<String>,
}

/// True when Debian's `redis-server` is installed; fails the test otherwise, unless the run
/// opted out of missing references ([`reference::require`]).
pub fn require_redis() -> bool {
    reference::require(&reference::REDIS_SERVER)
}

impl Server {
    /// Starts kvstore with extra redis-style options (`["--appendfsync", "always"]`).
    pub fn kvstore(args: &[&str]) -> Server {
        Server::start(Flavor::Kvstore, args)
    }

    /// Starts Debian's redis-server with the same kind of options.
    pub fn redis(args: &[&str]) -> Server {
        Server::start(Flavor::Redis, args)
    }

    pub fn start(flavor: Flavor, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Server {
            flavor,
            port: 0,
            child: None,
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self) {
        self.spawn_on(None);
    }

    /// Starts the program on `fixed` (one attempt) or on a free port (retrying a lost race).
    fn spawn_on(&mut self, fixed: Option<u16>) {
        for _attempt in 0..if fixed.is_some() { 1 } else { 5 } {
            let port = fixed.unwrap_or_else(free_port);
            let mut cmd = match self.flavor {
                Flavor::Kvstore => Command::new(binary("kvstore")),
                Flavor::Redis => {
                    let mut c = Command::new("redis-server");
                    c.args([
                        "--save",
                        "",
                        "--daemonize",
                        "no",
                        "--appendfilename",
                        "appendonly.aof",
                    ]);
                    c
                }
            };
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
                .arg(self.dir.path())
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if std::env::var_os("KVSTACK_TEST_LOGS").is_some() {
                cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            }
            let mut child = cmd.spawn().expect("spawn server");
            if wait_ready(port, &mut child) {
                self.port = port;
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "{:?} did not start (run with KVSTACK_TEST_LOGS=1 to see its output)",
            self.flavor
        );
    }

    /// Stops with SIGTERM and waits; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        unsafe_kill(child.id(), "TERM");
        wait_timeout(&mut child, Duration::from_secs(20))
            .expect("server did not exit within 20 s of SIGTERM")
    }

    /// Kills with SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the same program again on the same data directory (a new port).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.spawn();
    }

    /// Starts the same program again on the same data directory and the same port, as a
    /// store coming back after an outage (clients reconnect to the address they know).
    pub fn restart_same_port(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        self.spawn_on(Some(self.port));
    }

    /// Waits for the process to exit on its own (after SHUTDOWN).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        wait_timeout(&mut child, timeout)
    }

    /// kvstore: writes every change logged so far to sled (BGREWRITEAOF, kvstore's
    /// checkpoint) and waits until that is done and the log segments it covered are gone.
    pub fn checkpoint(&self) {
        let mut conn = self.raw();
        let deadline = Instant::now() + Duration::from_secs(30);
        let running = |conn: &mut RawConn| {
            let info = String::from_utf8(conn.cmd(&["INFO", "persistence"])).expect("utf8");
            info.contains("aof_rewrite_in_progress:1")
        };
        loop {
            // One running already may have started before the last change: wait it out.
            while running(&mut conn) {
                assert!(Instant::now() < deadline, "no checkpoint within 30 s");
                std::thread::sleep(Duration::from_millis(10));
            }
            if conn.cmd(&["BGREWRITEAOF"]) == b"+Background append only file rewriting started\r\n"
            {
                break;
            }
        }
        while running(&mut conn) {
            assert!(Instant::now() < deadline, "no checkpoint within 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A raw RESP connection.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(&self.addr())
    }

    /// A `redis` crate client.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

pub(crate) fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn wait_ready(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut conn = RawConn::from_stream(stream);
            // With `requirepass` a ready server answers NOAUTH.
            if conn
                .try_cmd(&["PING"])
                .is_ok_and(|r| r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH "))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A connection that sends bytes and reads back whole RESP replies as raw bytes, framed with
/// [`frame_len`] so tests compare exactly what the server sent.
pub struct RawConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawConn {
    pub fn connect(addr: &str) -> RawConn {
        RawConn::try_connect(addr).expect("connect")
    }

    pub fn try_connect(addr: &str) -> std::io::Result<RawConn> {
        TcpStream::connect(addr).map(RawConn::from_stream)
    }

    fn from_stream(stream: TcpStream) -> RawConn {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Sends a command as a RESP array and returns the raw reply.
    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.try_cmd(args).expect("reply")
    }

    /// Same as [`RawConn::cmd`] with binary arguments.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode_command(args));
        self.read_reply().expect("reply")
    }

    pub fn try_cmd(&mut self, args: &[&str]) -> std::io::Result<Vec<u8>> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&encode_command(&args));
        self.read_reply()
    }

    /// A second handle on the same socket (for writing from another thread); it has its own
    /// read buffer, so read from only one of them.
    pub fn try_clone(&self) -> RawConn {
        RawConn {
            stream: self.stream.try_clone().expect("clone"),
            buf: BytesMut::new(),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one complete reply (RESP2 or RESP3), returned as its raw bytes.
    pub fn read_reply(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if !self.buf.is_empty() {
                match frame_len(&self.buf, 0) {
                    Ok(Some(len)) => return Ok(self.buf.split_to(len).to_vec()),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "undecodable reply {:?}: {e}",
                                String::from_utf8_lossy(&self.buf)
                            ),
                        ))
                    }
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the server closes the connection; returns everything it sent.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = self.buf.split().to_vec();
        let _ = self.stream.read_to_end(&mut out);
        out
    }
}

/// The length of the complete RESP2/RESP3 frame starting at `at`, `None` if more bytes are
/// needed. Only framing is checked: a generic decoder would reject replies Redis really sends
/// (`$-1` null bulks on a RESP3 parser, sets of maps in COMMAND INFO key specs).
pub fn frame_len(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[at + 1..at + eol]).map_err(|e| e.to_string())?;
    let after = at + eol + 2;
    let number = || {
        line.parse::<i64>()
            .map_err(|_| format!("bad length {line:?} after {:?}", kind as char))
    };
    let aggregate = |count: i64| -> Result<Option<usize>, String> {
        let mut pos = after;
        for _ in 0..count.max(0) {
            match frame_len(buf, pos)? {
                Some(len) => pos += len,
                None => return Ok(None),
            }
        }
        Ok(Some(pos - at))
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Ok(Some(after - at)),
        b'$' | b'=' | b'!' => match number()? {
            n if n < 0 => Ok(Some(after - at)),
            n => {
                let end = after + n as usize + 2;
                Ok((buf.len() >= end).then_some(end - at))
            }
        },
        b'*' | b'~' | b'>' => aggregate(number()?),
        b'%' | b'|' => aggregate(number()? * 2),
        other => Err(format!("unknown RESP type byte {:?}", other as char)),
    }
}

/// The raw frames of the elements of an aggregate reply (a map's keys and values in turn);
/// empty for anything else.
pub fn elements(reply: &[u8]) -> Vec<Vec<u8>> {
    let Some(eol) = reply.windows(2).position(|w| w == b"\r\n") else {
        return Vec::new();
    };
    let count: i64 = match (
        reply[0],
        std::str::from_utf8(&reply[1..eol]).map(str::parse),
    ) {
        (b'*' | b'~' | b'>', Ok(Ok(n))) => n,
        (b'%', Ok(Ok(n))) => 2 * n,
        _ => return Vec::new(),
    };
    let mut pos = eol + 2;
    (0..count.max(0))
        .map(|_| {
            let len = frame_len(reply, pos)
                .ok()
                .flatten()
                .expect("complete frame");
            pos += len;
            reply[pos - len..pos].to_vec()
        })
        .collect()
}

/// `reply` with its top-level elements sorted in groups of `group` (2: field-value pairs),
/// for comparing collections whose order is unspecified.
pub fn sorted_reply(reply: &[u8], group: usize) -> Vec<u8> {
    let items = elements(reply);
    if items.is_empty() {
        return reply.to_vec();
    }
    let mut groups: Vec<Vec<u8>> = items.chunks(group).map(|c| c.concat()).collect();
    groups.sort();
    let header_end = reply.windows(2).position(|w| w == b"\r\n").expect("header") + 2;
    let mut out = reply[..header_end].to_vec();
    groups.iter().for_each(|g| out.extend_from_slice(g));
    out
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Splits a script line like `SET k "a b"` into arguments (double quotes group words).
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Differential testing: runs the same script against kvstore and redis-server and compares
/// every reply byte for byte.
pub struct Differential {
    pub ours: Server,
    pub reference: Server,
}

impl Differential {
    /// Starts both servers with the same options; `None` when redis-server is missing and the
    /// run opted out of missing references (without the opt-out the test fails).
    pub fn start(args: &[&str]) -> Option<Differential> {
        if !require_redis() {
            return None;
        }
        Some(Differential {
            ours: Server::kvstore(args),
            reference: Server::redis(args),
        })
    }

    /// Runs `script` (one command per line, `#` comments, blank lines ignored) on one fresh
    /// connection per server, using protocol `resp` (2 or 3), and asserts identical replies.
    /// Lines starting with `~` are run on both but their replies are not compared (e.g. TIME).
    /// Lines starting with `^` compare the reply's elements as an unordered collection, `^^`
    /// as unordered pairs (for replies whose order Redis leaves unspecified: hashtable-encoded
    /// hashes and sets).
    pub fn check(&self, resp: u8, script: &str) {
        let mut ours = self.ours.raw();
        let mut theirs = self.reference.raw();
        if resp == 3 {
            ours.cmd(&["HELLO", "3"]);
            theirs.cmd(&["HELLO", "3"]);
        }
        for line in script
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (compare, line) = match line.strip_prefix('~') {
                Some(rest) => (false, rest.trim()),
                None => (true, line),
            };
            let (group, line) = if let Some(rest) = line.strip_prefix("^^") {
                (2, rest.trim())
            } else if let Some(rest) = line.strip_prefix('^') {
                (1, rest.trim())
            } else {
                (0, line)
            };
            let args = words(line);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (mut a, mut b) = (ours.cmd(&args), theirs.cmd(&args));
            if group > 0 {
                (a, b) = (sorted_reply(&a, group), sorted_reply(&b, group));
            }
            if compare {
                assert_eq!(
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b),
                    "RESP{resp} reply to `{line}` differs (left: kvstore, right: redis-server)"
                );
            }
        }
    }

    /// Runs a multi-connection `scenario` (returning the replies it read, as text) against
    /// kvstore and against redis-server, and asserts identical transcripts.
    pub fn same_transcripts(&self, scenario: impl Fn(&Server) -> Vec<String>) {
        let ours = scenario(&self.ours);
        let theirs = scenario(&self.reference);
        assert_eq!(ours, theirs, "left: kvstore, right: redis-server");
    }

    /// Kills both servers with SIGKILL and starts them again on their data directories:
    /// what a script wrote before must come back as it was acknowledged.
    pub fn kill9_and_restart(&mut self) {
        for server in [&mut self.ours, &mut self.reference] {
            server.kill9();
            server.restart();
        }
    }

    /// [`Differential::check`] in RESP2 and in RESP3, flushing both servers in between.
    pub fn check_both(&self, script: &str) {
        for resp in [2, 3] {
            self.check(resp, "FLUSHALL");
            self.check(resp, script);
        }
    }
}

/// A small deterministic generator (xorshift64), so a failing random sequence can be replayed
/// from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A reply as text (for transcripts and messages).
pub fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

/// Sends a command without reading its reply (the client is about to block).
pub fn send_command(c: &mut RawConn, args: &[&str]) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.send(&encode_command(&args));
}

/// Waits until the server reports exactly `n` blocked clients (INFO's `blocked_clients`):
/// how blocking scenarios order their clients without sleeping.
pub fn wait_blocked(ctl: &mut RawConn, n: usize) {
    let wanted = format!("blocked_clients:{n}\r\n");
    let started = std::time::Instant::now();
    loop {
        let info = text(ctl.cmd(&["INFO", "clients"]));
        if info.contains(&wanted) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never reached {n} blocked clients: {info}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a multi-connection `scenario` on fresh servers: [`Differential::same_transcripts`].
/// Skipped only when redis-server is missing and the run opted out.
pub fn same_as_redis(scenario: fn(&Server) -> Vec<String>) {
    if let Some(d) = Differential::start(&[]) {
        d.same_transcripts(scenario);
    }
}
