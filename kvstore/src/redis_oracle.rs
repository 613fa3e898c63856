//! Test support: a real `redis-server` 7.0.15 as the oracle for unit tests of pure modules.
//!
//! Modules that reimplement a Redis algorithm (HyperLogLog, geohash, bit operations) check
//! their answers against the real thing: [`RedisOracle::start`] runs Debian's `redis-server`
//! on a free loopback port (no persistence), and [`RedisOracle::pipeline`] sends commands and
//! reads the RESP2 replies with a minimal client. The child is killed when the oracle drops.
//! Invariant: each oracle is a private server, so tests running in parallel never share keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

/// True when Debian's `redis-server` is on `PATH`. When it is missing a test needing it fails
/// naming the package, unless the run set `KVSTACK_SKIP_MISSING=1` (then the test returns
/// early and says so): the same rule as the end-to-end tests' `e2e::reference::require`.
pub fn require_redis_server() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join("redis-server"))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    if found {
        return true;
    }
    let opted_out =
        std::env::var_os("KVSTACK_SKIP_MISSING").is_some_and(|v| !v.is_empty() && v != "0");
    if !opted_out {
        panic!(
            "this test needs redis-server and it is missing: install it (apt-get install \
             redis-server), or set KVSTACK_SKIP_MISSING=1 to skip such tests"
        );
    }
    eprintln!(
        "SKIP (KVSTACK_SKIP_MISSING): {} needs redis-server",
        std::thread::current().name().unwrap_or("a test")
    );
    false
}

/// One RESP2 reply, as redis-server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// The integer of an integer reply; panics on anything else.
    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The bytes of a bulk reply; panics on anything else (nil included).
    pub fn bulk(&self) -> Vec<u8> {
        match self {
            Resp::Bulk(Some(b)) => b.clone(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }

    /// The text of a status reply (without `+`); panics on anything else.
    pub fn status(&self) -> String {
        match self {
            Resp::Simple(s) => String::from_utf8_lossy(s).into_owned(),
            other => panic!("expected a status reply, got {other:?}"),
        }
    }

    /// The bytes of each element of an array of bulk strings; panics on anything else.
    pub fn bulks(&self) -> Vec<Vec<u8>> {
        self.array().iter().map(Resp::bulk).collect()
    }

    /// The text of an error reply (without `-`); panics on anything else.
    pub fn error(&self) -> String {
        match self {
            Resp::Error(e) => String::from_utf8_lossy(e).into_owned(),
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    /// The elements of an array reply; panics on anything else.
    pub fn array(&self) -> Vec<Resp> {
        match self {
            Resp::Array(Some(a)) => a.clone(),
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
}

/// A private redis-server and one connection to it.
pub struct RedisOracle {
    child: Child,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RedisOracle {
    /// Starts `redis-server` on a free loopback port and connects to it; `None` when it is
    /// not installed and the run opted out of missing references ([`require_redis_server`]).
    pub fn start() -> Option<RedisOracle> {
        RedisOracle::start_with(&[])
    }

    /// [`RedisOracle::start`] with more configuration (`--dir`, `--dbfilename`, ...).
    pub fn start_with(extra: &[&str]) -> Option<RedisOracle> {
        if !require_redis_server() {
            return None;
        }
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server is installed");
            // Wait until it listens (or has died, e.g. because the port was taken meanwhile).
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                    let writer = stream.try_clone().expect("clone the stream");
                    return Some(RedisOracle {
                        child,
                        reader: BufReader::new(stream),
                        writer,
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        panic!("could not start redis-server");
    }

    /// Sends one command, split at spaces (`"CONFIG SET rdbcompression no"`), and returns
    /// its reply.
    pub fn run(&mut self, line: &str) -> Resp {
        self.cmd(&line.split(' ').collect::<Vec<_>>())
    }

    /// Sends one command and returns its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Resp {
        self.pipeline(&[args]).pop().expect("one reply")
    }

    /// Sends every command in one write, then reads one reply per command.
    pub fn pipeline<A: AsRef<[u8]>, C: AsRef<[A]>>(&mut self, commands: &[C]) -> Vec<Resp> {
        let mut out = Vec::new();
        for command in commands {
            let args = command.as_ref();
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                let arg = arg.as_ref();
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.writer.write_all(&out).expect("write to redis-server");
        (0..commands.len()).map(|_| self.read_reply()).collect()
    }

    /// Redis's count of changes since the last save (`server.dirty`, from INFO).
    pub fn changes_since_save(&mut self) -> i64 {
        let info = String::from_utf8(self.cmd(&["INFO", "persistence"]).bulk()).expect("UTF-8");
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .expect("INFO persistence has rdb_changes_since_last_save");
        line.trim().parse().expect("an integer")
    }

    fn read_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .expect("read from redis-server");
        assert!(line.ends_with(b"\r\n"), "truncated reply line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn read_reply(&mut self) -> Resp {
        let line = self.read_line();
        let (kind, rest) = line.split_first().expect("non-empty reply line");
        let number = || -> i64 { std::str::from_utf8(rest).unwrap().parse().unwrap() };
        match kind {
            b'+' => Resp::Simple(rest.to_vec()),
            b'-' => Resp::Error(rest.to_vec()),
            b':' => Resp::Int(number()),
            b'$' => {
                let len = number();
                if len < 0 {
                    return Resp::Bulk(None);
                }
                let mut body = vec![0; len as usize + 2];
                self.reader.read_exact(&mut body).expect("bulk body");
                body.truncate(len as usize);
                Resp::Bulk(Some(body))
            }
            b'*' => {
                let len = number();
                if len < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..len).map(|_| self.read_reply()).collect()))
            }
            other => panic!("unknown RESP type byte {other}"),
        }
    }
}

impl Drop for RedisOracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
