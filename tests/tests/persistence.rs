//! Durability: data and TTLs survive restarts and crashes as the fsync policy promises.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{binary, free_port, text, RawConn, Server};

fn get(server: &Server, key: &str) -> Vec<u8> {
    server.raw().cmd(&["GET", key])
}

#[test]
fn restart_keeps_values_and_absolute_ttls() {
    let mut server = Server::kvstore(&[]);
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "plain", "v"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&["SET", "long", "v", "EX", "1000"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&["SET", "short", "v", "PX", "300"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&["SET", "gone", "v"]), b"+OK\r\n");
    assert_eq!(conn.cmd(&["GETDEL", "gone"]), b"$1\r\nv\r\n");
    assert!(server.stop().success(), "clean exit on SIGTERM");
    std::thread::sleep(Duration::from_millis(400));
    server.restart();
    assert_eq!(get(&server, "plain"), b"$1\r\nv\r\n");
    assert_eq!(
        get(&server, "short"),
        b"$-1\r\n",
        "a TTL keeps running while the server is down"
    );
    assert_eq!(get(&server, "gone"), b"$-1\r\n");
    let mut client = server.client();
    let ttl: i64 = redis::cmd("PTTL").arg("long").query(&mut client).unwrap();
    assert!(
        (990_000..=1_000_000).contains(&ttl),
        "PTTL after restart: {ttl}"
    );
}

#[test]
fn flushall_is_durable() {
    let mut server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "a", "1"]);
    conn.cmd(&["FLUSHALL"]);
    conn.cmd(&["SET", "b", "2"]);
    server.stop();
    server.restart();
    assert_eq!(get(&server, "a"), b"$-1\r\n");
    assert_eq!(get(&server, "b"), b"$1\r\n2\r\n");
}

#[test]
fn kill_9_under_appendfsync_always_loses_no_acknowledged_write() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let acked = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = server.addr();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut conn = e2e::RawConn::connect(&addr);
                for _ in 0..100 {
                    let reply = conn.cmd(&["INCR", "counter"]);
                    assert!(reply.starts_with(b":"));
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = acked.load(Ordering::SeqCst);
    assert_eq!(n, 800);
    server.kill9();
    server.restart();
    assert_eq!(
        get(&server, "counter"),
        format!("$3\r\n{n}\r\n").into_bytes()
    );
}

#[test]
fn kill_9_under_everysec_loses_at_most_about_a_second() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut conn = server.raw();
    for _ in 0..100 {
        conn.cmd(&["INCR", "counter"]);
    }
    // Writes older than the commit interval must be on disk.
    std::thread::sleep(Duration::from_millis(2500));
    server.kill9();
    server.restart();
    assert_eq!(get(&server, "counter"), b"$3\r\n100\r\n");
}

#[test]
fn a_data_directory_in_use_is_refused() {
    let server = Server::kvstore(&[]);
    let output = Command::new(binary("kvstore"))
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
        ])
        .arg(server.dir())
        .stdin(Stdio::null())
        .output()
        .expect("run second kvstore");
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("in use by another kvstore process"),
        "log: {log}"
    );
    // The first server is unharmed.
    assert_eq!(server.raw().cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn save_and_lastsave_report_durability() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "a", "1"]);
    assert_eq!(conn.cmd(&["SAVE"]), b"+OK\r\n");
    let lastsave = conn.cmd(&["LASTSAVE"]);
    assert!(lastsave.starts_with(b":"), "{lastsave:?}");
}

fn log_segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("kvstore.wal.")
        })
        .count()
}

#[test]
fn bgrewriteaof_checkpoints_the_log_into_sled_and_a_clean_stop_leaves_none() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    for round in 0..3 {
        for i in 0..200 {
            conn.cmd(&["SET", &format!("k{i}"), &round.to_string()]);
        }
        server.checkpoint();
        // Only the segment opened by the checkpoint is left.
        assert_eq!(log_segments(server.dir()), 1, "round {round}");
    }
    let info = text(conn.cmd(&["INFO", "persistence"]));
    assert!(info.contains("aof_rewrites:3\r\n"), "{info}");
    // What the checkpoints wrote is in sled alone: a kill leaves no log to replay it from.
    server.kill9();
    server.restart();
    assert_eq!(get(&server, "k199"), b"$1\r\n2\r\n");
    let mut conn = server.raw();
    conn.cmd(&["SET", "k199", "3"]);
    assert!(server.stop().success());
    assert_eq!(
        log_segments(server.dir()),
        0,
        "a clean shutdown checkpoints everything"
    );
    server.restart();
    assert_eq!(get(&server, "k199"), b"$1\r\n3\r\n");
}

/// As Redis rewrites its AOF once it grew by `auto-aof-rewrite-min-size`, kvstore
/// checkpoints its log into sled once it grew by that much — and not before (the log is not
/// checkpointed every second), so a key written again and again reaches sled once.
#[test]
fn the_log_is_checkpointed_when_it_reaches_auto_aof_rewrite_min_size() {
    // Every SET its own commit: each logs its 1 kB value.
    let server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    let rewrites = |conn: &mut RawConn| {
        let info = text(conn.cmd(&["INFO", "persistence"]));
        let line = info
            .lines()
            .find(|l| l.starts_with("aof_rewrites:"))
            .expect("aof_rewrites")
            .to_string();
        line["aof_rewrites:".len()..]
            .parse::<u64>()
            .expect("a count")
    };
    let value = "x".repeat(1000);
    for i in 0..2000 {
        conn.cmd(&["SET", &format!("k{}", i % 100), &value]);
    }
    // 2 MB logged, far below the default 64 MB: two commit intervals bring no checkpoint.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(rewrites(&mut conn), 0);
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "auto-aof-rewrite-min-size", "1mb"]),
        b"+OK\r\n"
    );
    for i in 0..2000 {
        conn.cmd(&["SET", &format!("k{}", i % 100), &value]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rewrites(&mut conn) == 0 {
        assert!(std::time::Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_right_after_acknowledged_writes_replays_the_log() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "before", "1"]);
    conn.cmd(&["FLUSHALL"]);
    for i in 0..50 {
        conn.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    conn.cmd(&["DEL", "k0"]);
    // No pause: the checkpoint into sled has most likely not run, only the log has these.
    server.kill9();
    server.restart();
    assert_eq!(get(&server, "before"), b"$-1\r\n");
    assert_eq!(get(&server, "k0"), b"$-1\r\n");
    assert_eq!(get(&server, "k49"), b"$2\r\n49\r\n");
    assert_eq!(server.raw().cmd(&["DBSIZE"]), b":49\r\n");
}
