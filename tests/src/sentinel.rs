//! Debian's `redis-sentinel` on an ephemeral loopback port, monitoring a master by address.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, reference, RawConn};

/// The master name every test monitors (the api's `REDIS_MASTER_NAME` default).
pub const MASTER_NAME: &str = "mymaster";

/// One Sentinel process; killed on drop.
pub struct Sentinel {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// True when redis-sentinel is installed; else fails the test (or skips it under the
/// explicit opt-out), as for every reference program.
pub fn require() -> bool {
    reference::require(&reference::REDIS_SENTINEL)
}

impl Sentinel {
    /// A Sentinel monitoring the master on loopback `master_port` with `quorum`, declaring it
    /// down after `down_after_ms` without an answer.
    pub fn start(master_port: u16, quorum: u32, down_after_ms: u64) -> Sentinel {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        // Sentinel rewrites its configuration file (known replicas, other Sentinels, epochs).
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\nlogfile \"\"\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\n\
                 sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}\n\
                 sentinel failover-timeout {MASTER_NAME} 10000\n",
                dir = dir.path().display()
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(log(dir.path()))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel (apt-get install redis-sentinel)");
        let sentinel = Sentinel {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-sentinel did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        sentinel
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The master's port this Sentinel names now (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    pub fn master_port(&self) -> Option<u16> {
        let reply = RawConn::connect(&self.addr()).cmd(&[
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            MASTER_NAME,
        ]);
        let items = crate::elements(&reply);
        let port = String::from_utf8_lossy(items.get(1)?);
        port.split("\r\n").nth(1)?.parse().ok()
    }

    /// What this Sentinel logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("sentinel.log")).unwrap_or_default()
    }
}

fn log(dir: &Path) -> Stdio {
    Stdio::from(std::fs::File::create(dir.join("sentinel.log")).expect("sentinel.log"))
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
