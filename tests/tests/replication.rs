//! kvstore as a master of Debian's redis-server 7.0.15: the replica's handshake, the full
//! resync's RDB snapshot of every type, the write stream (with the rewrites Redis makes for
//! relative expiries, floats, random pops, scripts, transactions and served blocking pops,
//! and the `DEL`s of expired keys), a reconnection inside the backlog (`+CONTINUE`), WAIT,
//! and ROLE / INFO replication next to a redis-server master in the same state.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use e2e::{elements, require_redis, send_command, text, wait_blocked, RawConn, Rng, Server};

/// One field of an INFO reply.
fn info_field(conn: &mut RawConn, section: &str, name: &str) -> Option<String> {
    let info = text(conn.cmd(&["INFO", section]));
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

/// A replica of `master` (redis-server), once its link is up.
fn start_replica(master: &Server) -> Server {
    start_replica_with(master, &[])
}

fn start_replica_with(master: &Server, extra: &[&str]) -> Server {
    let port = master.port.to_string();
    let mut args = vec![
        "--replicaof",
        "127.0.0.1",
        &port,
        "--save",
        "",
        "--appendonly",
        "no",
        "--enable-debug-command",
        "yes",
        "--repl-diskless-load",
        "disabled",
    ];
    args.extend(extra);
    let replica = Server::redis(&args);
    wait_link_up(&mut replica.raw());
    replica
}

/// Waits until the replica on `conn` reports its link to its master up.
fn wait_link_up(conn: &mut RawConn) {
    wait_until("the replica's link to its master is up", || {
        info_field(conn, "replication", "master_link_status").as_deref() == Some("up")
    });
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the replica processed everything the master sent.
fn wait_caught_up(master: &mut RawConn, replica: &mut RawConn) {
    let mut last = (String::new(), String::new());
    wait_until("the replica's offset reaches the master's", || {
        let m = info_field(master, "replication", "master_repl_offset").unwrap_or_default();
        let r = info_field(replica, "replication", "master_repl_offset").unwrap_or_default();
        last = (m.clone(), r.clone());
        !m.is_empty() && m == r
    });
}

/// A key as both servers must agree on it: database, name, `DEBUG DIGEST-VALUE`, PEXPIRETIME
/// (with a stream's groups and pending summaries).
type KeyState = (usize, Vec<u8>, Vec<u8>, Vec<u8>);

/// Every key of every database, sorted.
fn dataset(conn: &mut RawConn) -> Vec<KeyState> {
    let mut out = Vec::new();
    for db in 0..16 {
        conn.cmd(&["SELECT", &db.to_string()]);
        let keys = elements(&conn.cmd(&["KEYS", "*"]));
        for frame in keys {
            let start = frame.iter().position(|&b| b == b'\n').expect("bulk header") + 1;
            let key = frame[start..frame.len() - 2].to_vec();
            let k = &key[..];
            let digest = conn.cmd_bytes(&[b"DEBUG", b"DIGEST-VALUE", k]);
            let mut expires = conn.cmd_bytes(&[b"PEXPIRETIME", k]);
            // Digests leave consumer groups out: their counters and pending entries.
            if conn.cmd_bytes(&[b"TYPE", k]) == b"+stream\r\n" {
                // A group's read counter, and the lag computed from it, are left out:
                // redis-server 7.0's own replicas lose the counter (its XCLAIM carries none;
                // a redis-server master and replica show 1 and nil after the same
                // XREADGROUP), and kvstore sends what Redis sends.
                let groups = text(conn.cmd_bytes(&[b"XINFO", b"GROUPS", k]));
                let masked: Vec<&str> = (groups.split("\r\n").enumerate())
                    .map(|(i, line)| {
                        let after_read = i > 0
                            && matches!(
                                groups.split("\r\n").nth(i - 1),
                                Some("entries-read" | "lag")
                            );
                        if after_read {
                            "*"
                        } else {
                            line
                        }
                    })
                    .collect();
                expires.extend(masked.join("\r\n").into_bytes());
                expires.extend(conn.cmd_bytes(&[b"XPENDING", k, b"g"]));
                expires.extend(conn.cmd_bytes(&[b"XPENDING", k, b"g1"]));
            }
            out.push((db, key, digest, expires));
        }
    }
    conn.cmd(&["SELECT", "0"]);
    out.sort();
    out
}

/// Data of every type and encoding, in two databases.
fn populate(c: &mut RawConn) {
    for db in ["0", "3"] {
        c.cmd(&["SELECT", db]);
        c.cmd(&["SET", "str", "hello"]);
        c.cmd(&["SET", "int", "12345"]);
        c.cmd(&["SET", "long", &"abcdefgh".repeat(100)]);
        c.cmd(&["SET", "ttl", "v", "EX", "1000"]);
        c.cmd(&["RPUSH", "list", "a", "b", "1", "2"]);
        let big: Vec<String> = (0..300).map(|i| format!("element-{i}")).collect();
        let mut args = vec!["RPUSH", "biglist"];
        args.extend(big.iter().map(String::as_str));
        c.cmd(&args);
        c.cmd(&["HSET", "hash", "f1", "v1", "f2", "2"]);
        let mut args = vec!["HSET", "bighash"];
        let fields: Vec<String> = (0..200).map(|i| format!("field-{i}")).collect();
        for f in &fields {
            args.push(f);
            args.push(f);
        }
        c.cmd(&args);
        c.cmd(&["SADD", "intset", "1", "2", "3", "-7"]);
        c.cmd(&["SADD", "set", "a", "b", "c"]);
        let mut args = vec!["SADD", "bigset"];
        args.extend(big.iter().map(String::as_str));
        c.cmd(&args);
        c.cmd(&["ZADD", "zset", "1", "a", "2.5", "b"]);
        let mut args = vec!["ZADD", "bigzset"];
        let scores: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        for (s, m) in scores.iter().zip(&big) {
            args.push(s);
            args.push(m);
        }
        c.cmd(&args);
        for i in 0..5 {
            c.cmd(&[
                "XADD",
                "stream",
                &format!("{}-1", i + 1),
                "f",
                &i.to_string(),
            ]);
        }
        c.cmd(&["XGROUP", "CREATE", "stream", "g1", "0"]);
        c.cmd(&["XGROUP", "CREATECONSUMER", "stream", "g1", "alice"]);
        c.cmd(&["PFADD", "hll", "a", "b", "c"]);
        c.cmd(&["SETBIT", "bits", "100", "1"]);
    }
    c.cmd(&["SELECT", "0"]);
}

/// One random write among every type's, with the commands whose propagation Redis rewrites.
fn random_write(c: &mut RawConn, rng: &mut Rng, step: usize) {
    let key = |rng: &mut Rng, prefix: &str| format!("{prefix}{}", rng.below(20));
    let n = rng.below(1000).to_string();
    match rng.below(30) {
        0 => drop(c.cmd(&["SET", &key(rng, "s"), &n])),
        1 => drop(c.cmd(&["SET", &key(rng, "s"), &n, "EX", "100"])),
        2 => drop(c.cmd(&["SET", &key(rng, "s"), &n, "PX", "30"])),
        3 => drop(c.cmd(&["EXPIRE", &key(rng, "s"), "1000"])),
        4 => drop(c.cmd(&["PEXPIRE", &key(rng, "l"), "25"])),
        5 => drop(c.cmd(&["INCRBYFLOAT", &key(rng, "f"), "1.1"])),
        6 => drop(c.cmd(&["INCR", &key(rng, "i")])),
        7 => drop(c.cmd(&["LPUSH", &key(rng, "l"), &n])),
        8 => drop(c.cmd(&["RPOP", &key(rng, "l")])),
        9 => drop(c.cmd(&["HSET", &key(rng, "h"), &n, &n])),
        10 => drop(c.cmd(&["HINCRBYFLOAT", &key(rng, "h"), "x", "0.5"])),
        11 => drop(c.cmd(&["SADD", &key(rng, "t"), &n, "a"])),
        12 => drop(c.cmd(&["SPOP", &key(rng, "t")])),
        13 => drop(c.cmd(&["SPOP", &key(rng, "t"), "2"])),
        14 => drop(c.cmd(&["ZADD", &key(rng, "z"), &n, &n])),
        15 => drop(c.cmd(&["ZINCRBY", &key(rng, "z"), "0.25", "m"])),
        16 => drop(c.cmd(&["XADD", &key(rng, "x"), "*", "f", &n])),
        17 => drop(c.cmd(&["DEL", &key(rng, "s")])),
        18 => drop(c.cmd(&[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); redis.call('INCR', KEYS[2]); return redis.call('SPOP', KEYS[3])",
            "3",
            &key(rng, "s"),
            &key(rng, "i"),
            &key(rng, "t"),
            &n,
        ])),
        19 => {
            c.cmd(&["MULTI"]);
            c.cmd(&["SET", &key(rng, "s"), &n, "EX", "50"]);
            c.cmd(&["HSET", &key(rng, "h"), "m", &n]);
            c.cmd(&["SELECT", "5"]);
            c.cmd(&["INCR", &key(rng, "i")]);
            c.cmd(&["SELECT", "0"]);
            c.cmd(&["EXEC"]);
        }
        20 => {
            c.cmd(&["SELECT", "3"]);
            c.cmd(&["SETEX", &key(rng, "s"), "100", &n]);
            c.cmd(&["GETEX", &key(rng, "s"), "PX", "40"]);
            c.cmd(&["SELECT", "0"]);
        }
        21 => drop(c.cmd(&["GET", &key(rng, "s")])),
        22 => drop(c.cmd(&["SETRANGE", &key(rng, "r"), &rng.below(50).to_string(), &n])),
        23 => drop(c.cmd(&["XADD", &key(rng, "x"), "MAXLEN", "~", "3", "*", "f", &n])),
        24 => {
            let payload = c.cmd(&["DUMP", &key(rng, "h")]);
            if payload.starts_with(b"$") && !payload.starts_with(b"$-1") {
                let start = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
                let body = &payload[start..payload.len() - 2];
                let target = key(rng, "h");
                let ttl: &[u8] = if rng.below(2) == 0 { b"0" } else { b"100000" };
                c.cmd_bytes(&[b"RESTORE", target.as_bytes(), ttl, body, b"REPLACE"]);
            }
        }
        25 => drop(c.cmd(&["EXPIRE", &key(rng, "i"), "0"])),
        26 => drop(c.cmd(&["XGROUP", "CREATE", &key(rng, "x"), "g", "0", "MKSTREAM"])),
        27 => drop(c.cmd(&[
            "XREADGROUP", "GROUP", "g", &key(rng, "c"), "COUNT", "2", "STREAMS", &key(rng, "x"), ">",
        ])),
        28 => drop(c.cmd(&[
            "XREADGROUP", "GROUP", "g", &key(rng, "c"), "NOACK", "STREAMS", &key(rng, "x"), ">",
        ])),
        _ => {
            if step % 7 == 0 {
                c.cmd(&["FLUSHDB"]);
            } else {
                c.cmd(&["ZPOPMIN", &key(rng, "z")]);
            }
        }
    }
}

/// Full sync of every type, then a few thousand random writes: the replica's dataset equals
/// the master's key by key (digest and expiry time).
#[test]
fn redis_replica_follows_kvstore() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut m = master.raw();
    populate(&mut m);
    m.cmd(&["FUNCTION", "LOAD", &library("before")]);
    let replica = start_replica(&master);
    let mut r = replica.raw();
    wait_caught_up(&mut m, &mut r);
    assert_eq!(dataset(&mut m), dataset(&mut r), "after the full sync");
    // The snapshot carries the function libraries (FUNCTION2 records).
    let list = ["FUNCTION", "LIST", "WITHCODE"];
    assert_eq!(text(m.cmd(&list)), text(r.cmd(&list)));
    assert_eq!(
        text(r.cmd(&["FCALL_RO", "before_get", "1", "str"])),
        "$5\r\nhello\r\n"
    );

    // A blocked pop served later is propagated as the pop it became.
    let mut blocked = master.raw();
    send_command(&mut blocked, &["BLPOP", "waiting", "0"]);
    wait_blocked(&mut m, 1);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..10_000 {
        random_write(&mut m, &mut rng, step);
        if step == 5000 {
            m.cmd(&["RPUSH", "waiting", "x", "y"]);
            let served = elements(&blocked.read_reply().expect("BLPOP served"));
            assert_eq!(served[1], b"$1\r\nx\r\n");
        }
    }
    // Let the short expiries fire, lazily and in the sweep.
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..20 {
        m.cmd(&["GET", &format!("s{i}")]);
    }
    m.cmd(&["SET", "done", "1"]);
    assert_eq!(text(m.cmd(&["WAIT", "1", "5000"])), ":1\r\n");
    wait_caught_up(&mut m, &mut r);
    let master_data = dataset(&mut m);
    let replica_data = dataset(&mut r);
    assert!(master_data.len() > 50, "{} keys", master_data.len());
    let expired: u64 = info_field(&mut m, "stats", "expired_keys")
        .unwrap()
        .parse()
        .unwrap();
    assert!(expired > 0, "no key expired on the way");
    let diff = differences(&master_data, &replica_data);
    assert!(diff.is_empty(), "keys that differ: {diff:#?}");
    for db in ["0", "3", "5"] {
        m.cmd(&["SELECT", db]);
        r.cmd(&["SELECT", db]);
        assert_eq!(m.cmd(&["DBSIZE"]), r.cmd(&["DBSIZE"]), "DBSIZE of db {db}");
    }
    assert_eq!(m.cmd(&["DEBUG", "DIGEST"]), r.cmd(&["DEBUG", "DIGEST"]));
    // One replica, synced from offset 0: every byte of the stream went to it.
    assert_eq!(
        info_field(&mut m, "stats", "total_net_repl_output_bytes"),
        info_field(&mut m, "replication", "master_repl_offset")
    );
}

/// A function library `<name>` with one read-only function `<name>_get`.
fn library(name: &str) -> String {
    format!(
        "#!lua name={name}\nredis.register_function{{function_name='{name}_get', \
         callback=function(keys, args) return redis.call('GET', keys[1]) end, \
         flags={{'no-writes'}}}}"
    )
}

/// A master with a password: the replica authenticates with `masterauth`; the snapshot
/// goes in the `$<length>` form to a replica that did not announce `capa eof` (SYNC).
#[test]
fn replica_authenticates_with_masterauth() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--requirepass", "s3cret"]);
    let mut m = master.raw();
    m.cmd(&["AUTH", "s3cret"]);
    m.cmd(&["SET", "a", "1"]);
    let replica = start_replica_with(&master, &["--masterauth", "s3cret"]);
    let mut r = replica.raw();
    m.cmd(&["SET", "b", "2"]);
    wait_caught_up(&mut m, &mut r);
    assert_eq!(r.cmd(&["MGET", "a", "b"]), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n");

    let mut old = std::net::TcpStream::connect(master.addr()).unwrap();
    old.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    old.write_all(b"AUTH s3cret\r\nSYNC\r\n").unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = |got: &[u8]| {
        let Some(rest) = got.strip_prefix(b"+OK\r\n$") else {
            return false;
        };
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let len: usize = std::str::from_utf8(&rest[..end]).unwrap().parse().unwrap();
        rest.len() >= end + 2 + len
    };
    while !complete(&got) {
        let n = old.read(&mut chunk).expect("the snapshot");
        assert!(n > 0, "closed after {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    let body_at = got.windows(2).skip(5).position(|w| w == b"\r\n").unwrap() + 5 + 2;
    assert!(got[body_at..].starts_with(b"REDIS0010"));
}

/// A replica whose link broke reconnects inside the backlog: `+CONTINUE`, no new snapshot.
#[test]
fn reconnect_inside_the_backlog_continues() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut m = master.raw();
    m.cmd(&["SET", "a", "1"]);
    let replica = start_replica(&master);
    let mut r = replica.raw();
    wait_caught_up(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    r.cmd(&["CLIENT", "KILL", "TYPE", "master"]);
    m.cmd(&["SET", "b", "2"]);
    wait_until("the replica's link is up again", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
            && info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(r.cmd(&["GET", "b"]), b"$1\r\n2\r\n");
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // The master's side: the replica's connection is type `replica`, flag S, and killing it
    // makes the replica continue again.
    let list = text(m.cmd(&["CLIENT", "LIST", "TYPE", "replica"]));
    assert_eq!(list.matches("id=").count(), 1, "{list}");
    assert!(list.contains(" flags=S "), "{list}");
    assert_eq!(m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), b":1\r\n");
    wait_until("the replica continued again", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("2")
    });

    // The same by hand: the stream from an offset in the backlog, then the next write.
    let replid = info_field(&mut m, "replication", "master_replid").unwrap();
    let offset: u64 = info_field(&mut m, "replication", "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    let mut fake = master.raw();
    assert_eq!(
        fake.cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]),
        b"+OK\r\n"
    );
    let from = (offset + 1).to_string();
    assert_eq!(
        text(fake.cmd(&["PSYNC", &replid, &from])),
        format!("+CONTINUE {replid}\r\n")
    );
    m.cmd(&["SET", "c", "3"]);
    let next = fake.read_reply().unwrap();
    assert_eq!(text(next), "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n");
    // An unknown history gets a full resync.
    let mut other = master.raw();
    let reply = other.cmd(&["PSYNC", &"f".repeat(40), "1"]);
    assert!(text(reply).starts_with("+FULLRESYNC "));
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_err").as_deref(),
        Some("1")
    );
}

/// ROLE and INFO replication of a kvstore master next to a redis-server master, each with one
/// redis-server replica that caught up: the same lines, ids, offsets and lag masked.
#[test]
fn role_and_info_replication_match_redis() {
    if !require_redis() {
        return;
    }
    let mut views = Vec::new();
    for master in [Server::kvstore(&[]), Server::redis(&["--save", ""])] {
        let mut m = master.raw();
        m.cmd(&["SET", "k", "v"]);
        let replica = start_replica(&master);
        let mut r = replica.raw();
        m.cmd(&["SET", "k2", "v"]);
        wait_caught_up(&mut m, &mut r);
        wait_until("the replica acknowledged the last write", || {
            text(m.cmd(&["WAIT", "1", "100"])) == ":1\r\n"
        });
        wait_until("ROLE lists the replica with its offset", || {
            let role = text(m.cmd(&["ROLE"]));
            let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
            role.contains(&format!("${}\r\n{offset}\r\n", offset.len()))
        });
        let info = text(m.cmd(&["INFO", "replication"]));
        let role = text(m.cmd(&["ROLE"]));
        let replica_port = replica.port.to_string();
        let mask = |s: &str| {
            let mut out = String::new();
            for line in s.split("\r\n") {
                let masked = match line.split_once(':') {
                    Some((name, _))
                        if [
                            "master_replid",
                            "master_repl_offset",
                            "repl_backlog_histlen",
                        ]
                        .contains(&name) =>
                    {
                        format!("{name}:*")
                    }
                    Some((name, value)) if name.starts_with("slave") => {
                        let value = value.replace(&replica_port, "PORT");
                        let fields: Vec<String> = (value.split(','))
                            .map(|f| match f.split_once('=') {
                                Some(("offset" | "lag", _)) => {
                                    format!("{}=*", f.split('=').next().unwrap())
                                }
                                _ => f.to_owned(),
                            })
                            .collect();
                        format!("{name}:{}", fields.join(","))
                    }
                    _ => line.to_owned(),
                };
                out.push_str(&masked);
                out.push_str("\r\n");
            }
            out
        };
        // ROLE's numbers (offsets, the replica's port) masked, its frames kept.
        let tokens: Vec<&str> = role.split("\r\n").collect();
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let role_shape: Vec<String> = (0..tokens.len())
            .map(|i| match tokens[i] {
                t if digits(t) => "N".to_owned(),
                t if t.starts_with(':') => ":N".to_owned(),
                t if t.starts_with('$') && tokens.get(i + 1).is_some_and(|n| digits(n)) => {
                    "$N".to_owned()
                }
                t => t.to_owned(),
            })
            .collect();
        views.push((mask(&info), role_shape.join("\r\n")));
    }
    assert_eq!(views[0], views[1]);
}

/// A replica spoken by hand: the handshake, the snapshot skipped, then the raw stream.
struct FakeReplica {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl FakeReplica {
    fn connect(master: &Server) -> FakeReplica {
        let stream = std::net::TcpStream::connect(master.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut r = FakeReplica {
            stream,
            buf: Vec::new(),
        };
        r.send(&["REPLCONF", "listening-port", "4242"]);
        r.expect_line(b"+OK");
        r.send(&["REPLCONF", "capa", "eof", "capa", "psync2"]);
        r.expect_line(b"+OK");
        r.send(&["PSYNC", "?", "-1"]);
        // Redis may send newlines while it prepares the snapshot.
        let line = loop {
            let line = r.line();
            if !line.is_empty() {
                break line;
            }
        };
        assert!(
            line.starts_with(b"+FULLRESYNC "),
            "{}",
            String::from_utf8_lossy(&line)
        );
        let header = loop {
            let line = r.line();
            if !line.is_empty() {
                break line;
            }
        };
        let mark = header
            .strip_prefix(b"$EOF:")
            .expect("a diskless snapshot")
            .to_vec();
        // The snapshot ends with the mark (which cannot occur earlier: it is random).
        loop {
            if let Some(at) = r.buf.windows(mark.len()).position(|w| w == &mark[..]) {
                r.buf.drain(..at + mark.len());
                break;
            }
            r.fill();
        }
        r.send(&["REPLCONF", "ACK", "0"]);
        r
    }

    fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&e2e::encode_command(&args)).unwrap();
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        let n = (self.stream.read(&mut chunk))
            .unwrap_or_else(|e| panic!("{e} after {:?}", String::from_utf8_lossy(&self.buf)));
        assert!(n > 0, "the master closed the link");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                return line.strip_suffix(b"\r\n").unwrap_or(&line[..at]).to_vec();
            }
            self.fill();
        }
    }

    fn expect_line(&mut self, wanted: &[u8]) {
        let line = self.line();
        assert_eq!(line, wanted, "{}", String::from_utf8_lossy(&line));
    }

    /// The stream until it holds `end`, PINGs left out. Acknowledges meanwhile, as a replica
    /// does every second: Redis starts the stream at an ACK after the snapshot.
    fn until(&mut self, end: &[u8]) -> String {
        let started = Instant::now();
        self.stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut chunk = [0u8; 64 * 1024];
        while !self.buf.windows(end.len()).any(|w| w == end) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no end in the stream"
            );
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the master closed the link"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => self.send(&["REPLCONF", "ACK", "0"]),
            }
        }
        let text = String::from_utf8_lossy(&self.buf).replace("*1\r\n$4\r\nPING\r\n", "");
        self.buf.clear();
        text
    }
}

/// Times in the stream (PXAT, PEXPIREAT, XADD IDs) differ between runs: each run of 13
/// digits becomes `#`s, lengths kept.
fn mask_times(stream: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in stream.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() == 13 {
            out.push_str(&"#".repeat(13));
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// The replication stream kvstore sends for a script of writes, byte for byte the one
/// redis-server 7.0.15 sends for it (times masked): SELECTs, the rewrites, transactions and
/// scripts as effects, a served blocking pop after the push that served it, lazily expired
/// keys as DELs.
#[test]
fn stream_matches_redis_byte_for_byte() {
    if !require_redis() {
        return;
    }
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["SET", "b", "2", "EX", "100"],
        &["SET", "c", "3", "NX", "PX", "100000"],
        &["SET", "d", "4", "PXAT", "4102444800000"],
        &["SETEX", "e", "100", "5"],
        &["PSETEX", "e2", "100000", "5"],
        &["GETSET", "a", "11"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["HINCRBYFLOAT", "h", "x", "2.5"],
        &["EXPIRE", "a", "100"],
        &["PEXPIRE", "a", "200000", "GT"],
        &["EXPIREAT", "f", "4102444800"],
        &["GETEX", "b", "PERSIST"],
        &["GETEX", "c", "EX", "50"],
        &["DEL", "nothing"],
        &["INCR", "counter"],
        &["SELECT", "2"],
        &["RPUSH", "l", "x", "y", "z"],
        &["LPOP", "l"],
        &["SADD", "one", "only"],
        &["SPOP", "one"],
        &["SADD", "s", "p", "q"],
        &["SPOP", "s", "5"],
        &["ZADD", "z", "1", "m", "2", "n"],
        &["ZPOPMIN", "z"],
        &["SELECT", "0"],
        &["MULTI"],
        &["SET", "t1", "1"],
        &["SELECT", "3"],
        &["INCR", "t2"],
        &["SELECT", "0"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", "only-one"],
        &["EXEC"],
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], '1'); redis.call('INCR', KEYS[1]); return 1",
            "1",
            "ev",
        ],
        &["EVAL", "return redis.call('INCR', KEYS[1])", "1", "ev"],
        &["EVAL", "return redis.call('GET', KEYS[1])", "1", "ev"],
        &["XADD", "st", "1-1", "f", "v"],
        &["XADD", "st", "MAXLEN", "~", "1", "2-1", "f", "v"],
        &["XGROUP", "CREATE", "st", "g", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "NOACK",
            "STREAMS",
            "st",
            ">",
        ],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "st", "0"],
        &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "st", ">"],
        &["XCLAIM", "st", "g", "carol", "0", "1-1"],
        &["XAUTOCLAIM", "st", "g", "dave", "0", "0-0", "JUSTID"],
        &["XCLAIM", "st", "g", "erin", "0", "9-9", "LASTID", "9-9"],
        &["XACK", "st", "g", "1-1"],
        &["HSET", "h2", "a", "1"],
        &["HDEL", "h2", "a", "b"],
        &["PUBLISH", "chan", "hello"],
        &["FLUSHDB"],
        &["SET", "after", "flush"],
    ];
    let mut streams = Vec::new();
    for master in [
        Server::kvstore(&[]),
        Server::redis(&["--save", "", "--repl-diskless-sync-delay", "0"]),
    ] {
        let mut fake = FakeReplica::connect(&master);

        let mut c = master.raw();
        for command in script {
            if command[0] == "FLUSHDB" {
                // Let `short` expire, then read it: an expired key goes as DEL (lazily here
                // or from the sweep, the same bytes).
                c.cmd(&["SET", "short", "v", "PX", "1"]);
                std::thread::sleep(Duration::from_millis(20));
                c.cmd(&["GET", "short"]);
                // Under lazyfree-lazy-expire, as UNLINK.
                c.cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
                c.cmd(&["SET", "lazy", "v", "PX", "1"]);
                std::thread::sleep(Duration::from_millis(20));
                c.cmd(&["GET", "lazy"]);
                c.cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "no"]);
                // A blocked pop served by a push.
                let mut blocked = master.raw();
                send_command(&mut blocked, &["BLPOP", "queue", "0"]);
                wait_blocked(&mut c, 1);
                c.cmd(&["RPUSH", "queue", "job1", "job2"]);
                blocked.read_reply().unwrap();
                // A blocked XREADGROUP served by an XADD: the XCLAIM of what it delivered.
                send_command(
                    &mut blocked,
                    &[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        "zed",
                        "BLOCK",
                        "0",
                        "STREAMS",
                        "st",
                        ">",
                    ],
                );
                wait_blocked(&mut c, 1);
                c.cmd(&["XADD", "st", "10-1", "f", "v"]);
                blocked.read_reply().unwrap();
            }
            c.cmd(command);
        }
        c.cmd(&["SET", "the-end", "1"]);

        streams.push(mask_times(&fake.until(b"$7\r\nthe-end\r\n$1\r\n1\r\n")));
    }
    let lines = |s: &str| s.split("\r\n").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(lines(&streams[0]), lines(&streams[1]));
    assert!(
        streams[0].contains("$6\r\nUNLINK\r\n$4\r\nlazy\r\n"),
        "{}",
        streams[0]
    );
}

/// `min-replicas-to-write`: without enough replicas acknowledging in time, writes get Redis's
/// NOREPLICAS (queued in MULTI too, which aborts the transaction); with one, they run.
#[test]
fn min_replicas_to_write_refuses_writes_like_redis() {
    if !require_redis() {
        return;
    }
    let options = ["--min-replicas-to-write", "1", "--save", ""];
    let mut transcripts = Vec::new();
    for master in [Server::kvstore(&options), Server::redis(&options)] {
        let mut m = master.raw();
        let mut transcript = Vec::new();
        for command in [
            &["SET", "a", "1"][..],
            &["GET", "a"],
            &["MULTI"],
            &["INCR", "n"],
            &["EXEC"],
            &["EVAL", "return 1", "0"],
            // A script's first write is refused inside it (pcall sees the error), unless it
            // already wrote; a script declaring flags without no-writes is refused whole.
            &["EVAL", "return redis.pcall('SET', 'x', '1')", "0"],
            &["EVAL", "return redis.call('SET', 'x', '1')", "0"],
            &["EVAL", "#!lua\nreturn redis.call('SET', 'x', '1')", "0"],
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('GET', 'x')",
                "0",
            ],
            &["EVAL", "return redis.call('GET', 'x')", "0"],
        ] {
            transcript.push(text(m.cmd(command)));
        }
        transcripts.push(transcript);
        if master.flavor == e2e::Flavor::Kvstore {
            let replica = start_replica(&master);
            let mut r = replica.raw();
            wait_until("the replica acknowledged", || {
                text(m.cmd(&["SET", "a", "2"])) == "+OK\r\n"
            });
            wait_caught_up(&mut m, &mut r);
            assert_eq!(r.cmd(&["GET", "a"]), b"$1\r\n2\r\n");
        }
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert_eq!(
        transcripts[0][0],
        "-NOREPLICAS Not enough good replicas to write.\r\n"
    );
}

/// A replica that stops reading is dropped at `client-output-buffer-limit replica`, as Redis
/// drops it, instead of the master queueing the stream for it without bound.
#[test]
fn replica_over_its_output_buffer_limit_is_dropped() {
    let master = Server::kvstore(&["--client-output-buffer-limit", "replica 1mb 256kb 0"]);
    let mut m = master.raw();
    // Handshake by hand, then never read again.
    let mut silent = master.raw();
    assert_eq!(silent.cmd(&["REPLCONF", "capa", "eof"]), b"+OK\r\n");
    silent.send(&e2e::encode_command(&[b"PSYNC", b"?", b"-1"]));
    wait_until("the replica is attached", || {
        info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("1")
    });
    let value = "x".repeat(64 * 1024);
    for i in 0..400 {
        m.cmd(&["SET", &format!("k{}", i % 10), &value]);
        if info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("0") {
            return;
        }
    }
    panic!("a replica 25 MB behind is still attached");
}

/// WAIT with a replica attached: the count of replicas that acknowledged the client's last
/// write, at once when enough did, at the timeout otherwise; a WAIT for ever does not keep
/// the server from shutting down.
#[test]
fn wait_counts_acknowledging_replicas() {
    if !require_redis() {
        return;
    }
    let mut master = Server::kvstore(&[]);
    let mut m = master.raw();
    let replica = start_replica(&master);
    let mut r = replica.raw();
    m.cmd(&["SET", "a", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "0"]), b":1\r\n");
    assert_eq!(m.cmd(&["WAIT", "2", "300"]), b":1\r\n");
    wait_caught_up(&mut m, &mut r);
    let mut forever = master.raw();
    send_command(&mut forever, &["WAIT", "2", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    m.send(&e2e::encode_command(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(
        master.wait_exit(Duration::from_secs(10)).is_some(),
        "a WAIT kept the server running"
    );
}

// kvstore as a replica.

/// A redis-server to replicate with: no RDB saves, DEBUG allowed, diskless syncs at once.
fn redis_master() -> Server {
    Server::redis(&[
        "--save",
        "",
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ])
}

/// Points `replica` (kvstore) at `master` with REPLICAOF and waits until its link is up.
fn follow(replica: &mut RawConn, master: &Server) {
    let port = master.port.to_string();
    assert_eq!(
        text(replica.cmd(&["REPLICAOF", "127.0.0.1", &port])),
        "+OK\r\n"
    );
    wait_link_up(replica);
}

/// The keys on which a master and its replica differ, shown; empty when they agree.
fn differences(master: &[KeyState], replica: &[KeyState]) -> Vec<String> {
    let t = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (master.iter())
        .filter(|k| !replica.contains(k))
        .map(|k| ("master", k))
        .chain((replica.iter().filter(|k| !master.contains(k))).map(|k| ("replica", k)))
        .map(|(side, (db, k, d, e))| format!("{side}: db {db} {}: {} {}", t(k), t(d), t(e)))
        .collect()
}

/// Random writes on `master`, then the two datasets compared key by key and by DBSIZE.
fn write_and_compare(m: &mut RawConn, r: &mut RawConn, seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    for step in 0..steps {
        random_write(m, &mut rng, step);
    }
    std::thread::sleep(Duration::from_millis(200));
    m.cmd(&["SET", "done", &seed.to_string()]);
    assert_eq!(text(m.cmd(&["WAIT", "1", "5000"])), ":1\r\n");
    wait_caught_up(m, r);
    let (master_data, replica_data) = (dataset(m), dataset(r));
    assert!(master_data.len() > 50, "{} keys", master_data.len());
    let diff = differences(&master_data, &replica_data);
    assert!(diff.is_empty(), "keys that differ: {diff:#?}");
    for db in ["0", "3", "5"] {
        m.cmd(&["SELECT", db]);
        r.cmd(&["SELECT", db]);
        assert_eq!(m.cmd(&["DBSIZE"]), r.cmd(&["DBSIZE"]), "DBSIZE of db {db}");
    }
    m.cmd(&["SELECT", "0"]);
    r.cmd(&["SELECT", "0"]);
}

/// kvstore follows redis-server: the snapshot of every type (RDB 10 from 7.0.15, diskless
/// `$EOF:` form), then a few thousand random writes of every type.
#[test]
fn kvstore_follows_redis() {
    if !require_redis() {
        return;
    }
    let master = redis_master();
    let mut m = master.raw();
    populate(&mut m);
    m.cmd(&["FUNCTION", "LOAD", &library("before")]);
    let replica = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut r = replica.raw();
    r.cmd(&["SET", "stale", "gone after the sync"]);
    r.cmd(&["FUNCTION", "LOAD", &library("stale")]);
    follow(&mut r, &master);
    m.cmd(&["FUNCTION", "LOAD", &library("after")]);
    wait_caught_up(&mut m, &mut r);
    let diff = differences(&dataset(&mut m), &dataset(&mut r));
    assert!(diff.is_empty(), "after the full sync: {diff:#?}");
    // The snapshot's libraries replace the replica's; later ones arrive in the stream.
    // (One library at a time: Redis lists them in its hash table's order.)
    for name in ["before", "after", "stale"] {
        let list = ["FUNCTION", "LIST", "LIBRARYNAME", name, "WITHCODE"];
        assert_eq!(text(m.cmd(&list)), text(r.cmd(&list)), "library {name}");
    }
    assert_eq!(
        text(r.cmd(&["FCALL_RO", "before_get", "1", "str"])),
        "$5\r\nhello\r\n"
    );
    write_and_compare(&mut m, &mut r, 0x2545_f491_4f6c_dd1d, 10_000);
}

/// kvstore follows kvstore; after CLIENT KILL TYPE replica on the master the replica comes
/// back with PSYNC and continues from the backlog (`+CONTINUE`, `sync_partial_ok`); a
/// restarted replica keeps what it received.
#[test]
fn kvstore_follows_kvstore_and_continues_after_a_kill() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut m = master.raw();
    populate(&mut m);
    m.cmd(&["FUNCTION", "LOAD", &library("before")]);
    let mut replica = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut r = replica.raw();
    follow(&mut r, &master);
    let list = ["FUNCTION", "LIST", "WITHCODE"];
    assert_eq!(
        text(m.cmd(&list)),
        text(r.cmd(&list)),
        "libraries after the sync"
    );
    write_and_compare(&mut m, &mut r, 0x9e37_79b9_7f4a_7c15, 10_000);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );

    assert_eq!(
        text(m.cmd(&["CLIENT", "KILL", "TYPE", "replica"])),
        ":1\r\n"
    );
    m.cmd(&["SET", "while", "away"]);
    wait_until("the replica continued", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    write_and_compare(&mut m, &mut r, 0x1234_5678_9abc_def1, 1000);

    // What the replica received is persisted like any write.
    let before = dataset(&mut r);
    drop(r);
    replica.stop();
    replica.restart();
    let mut r = replica.raw();
    let diff = differences(&before, &dataset(&mut r));
    assert!(diff.is_empty(), "after the restart: {diff:#?}");
}

/// INFO replication with what differs between runs masked: ids, offsets, times, the
/// master's port.
fn replica_info_masked(c: &mut RawConn) -> Vec<String> {
    let info = text(c.cmd(&["INFO", "replication"]));
    // The bulk's length line left out: masked values differ in length.
    (info.split("\r\n").skip(1))
        .map(|line| match line.split_once(':') {
            Some((name, _))
                if [
                    "master_port",
                    "master_replid",
                    "master_replid2",
                    "master_repl_offset",
                    "second_repl_offset",
                    "slave_read_repl_offset",
                    "slave_repl_offset",
                    "repl_backlog_first_byte_offset",
                    "repl_backlog_histlen",
                    "master_last_io_seconds_ago",
                    "master_link_down_since_seconds",
                ]
                .contains(&name) =>
            {
                format!("{name}:*")
            }
            _ => line.to_owned(),
        })
        .collect()
}

/// ROLE with its integers masked.
fn role_masked(c: &mut RawConn) -> Vec<String> {
    let role = text(c.cmd(&["ROLE"]));
    (role.split("\r\n"))
        .map(|t| match t {
            t if t.starts_with(':') => ":N".to_owned(),
            t => t.to_owned(),
        })
        .collect()
}

/// The same two replicas once their master is gone: the link-down form of INFO
/// replication and ROLE.
#[test]
fn link_down_info_matches_redis() {
    if !require_redis() {
        return;
    }
    let mut master = Server::redis(&["--save", "", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.raw();
    m.cmd(&["SET", "k", "v"]);
    let redis_replica = start_replica(&master);
    let kvstore_replica = Server::kvstore(&[]);
    let mut k = kvstore_replica.raw();
    follow(&mut k, &master);
    let mut r = redis_replica.raw();
    m.cmd(&["SET", "k2", "v2"]);
    wait_caught_up(&mut m, &mut r);
    wait_caught_up(&mut m, &mut k);
    drop(m);
    master.stop();
    for c in [&mut r, &mut k] {
        wait_until("the link is down", || {
            info_field(c, "replication", "master_link_status").as_deref() == Some("down")
        });
    }
    assert_eq!(replica_info_masked(&mut r), replica_info_masked(&mut k));
    // Both retry every second: the state is `connect` or `connecting`.
    let state = |c: &mut RawConn| {
        let mut role = role_masked(c);
        if role.get(7).is_some_and(|s| s == "connecting") {
            role[7] = "connect".to_owned();
            role[6] = "$7".to_owned();
        }
        role
    };
    assert_eq!(state(&mut r), state(&mut k));
    assert_eq!(text(k.cmd(&["GET", "k2"])), "$2\r\nv2\r\n");

    // Under `replica-serve-stale-data no` only the commands flagged `stale` are served.
    let script: &[&[&str]] = &[
        &["CONFIG", "SET", "replica-serve-stale-data", "no"],
        &["GET", "k2"],
        &["PING"],
        &["DBSIZE"],
        &["CONFIG", "GET", "replica-serve-stale-data"],
        &["MULTI"],
        &["GET", "k2"],
        &["EXEC"],
        &["CONFIG", "SET", "replica-serve-stale-data", "yes"],
        &["GET", "k2"],
        &["CONFIG", "SET", "replica-serve-stale-data", "no"],
        &["REPLICAOF", "NO", "ONE"],
        &["GET", "k2"],
    ];
    let replies =
        |c: &mut RawConn| -> Vec<String> { script.iter().map(|cmd| text(c.cmd(cmd))).collect() };
    let (from_redis, from_kvstore) = (replies(&mut r), replies(&mut k));
    assert_eq!(from_redis, from_kvstore);
    assert!(
        from_kvstore[1].starts_with("-MASTERDOWN "),
        "{from_kvstore:?}"
    );
}

/// The same commands sent to a redis-server replica and a kvstore replica of the same
/// redis-server master: the same replies (READONLY for writes, scripts by their flags,
/// EXEC of a queued write), the same ROLE and INFO replication (ids, offsets, times
/// masked); after REPLICAOF NO ONE both accept writes and show the master's id as their
/// second id.
#[test]
fn read_only_replica_role_and_info_match_redis() {
    if !require_redis() {
        return;
    }
    let master = Server::redis(&["--save", "", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.raw();
    m.cmd(&["SET", "k", "v"]);
    m.cmd(&["RPUSH", "l", "a", "b"]);
    let redis_replica = start_replica(&master);
    let kvstore_replica = Server::kvstore(&[]);
    let mut k = kvstore_replica.raw();
    follow(&mut k, &master);
    let mut r = redis_replica.raw();
    m.cmd(&["SET", "k2", "v2"]);
    wait_caught_up(&mut m, &mut r);
    wait_caught_up(&mut m, &mut k);

    let script = [
        &["SET", "k", "x"][..],
        &["GET", "k"],
        &["DEL", "k"],
        &["INCR", "n"],
        &["LPUSH", "l", "z"],
        &["LRANGE", "l", "0", "-1"],
        &["EXPIRE", "k", "10"],
        &["FLUSHALL"],
        &["XADD", "s", "*", "f", "v"],
        &["PUBLISH", "c", "m"],
        &["EVAL", "return redis.call('GET', 'k')", "0"],
        &["EVAL", "return redis.call('SET', 'k', 'y')", "0"],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('GET', 'k')",
            "0",
        ],
        &["EVAL_RO", "return redis.call('GET', 'k')", "0"],
        &["MULTI"],
        &["SET", "k", "z"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "k"],
        &["EXEC"],
        &["SELECT", "3"],
        &["SET", "k", "v"],
        &["SELECT", "0"],
        &["REPLICAOF", "127.0.0.1", "notaport"],
    ];
    for args in script {
        assert_eq!(text(r.cmd(args)), text(k.cmd(args)), "replies to {args:?}");
    }

    assert_eq!(
        replica_info_masked(&mut r),
        replica_info_masked(&mut k),
        "INFO replication"
    );
    assert_eq!(role_masked(&mut r), role_masked(&mut k), "ROLE");
    let master_replid = info_field(&mut m, "replication", "master_replid").unwrap();
    assert_eq!(
        info_field(&mut k, "replication", "master_replid").as_deref(),
        Some(master_replid.as_str())
    );
    assert_eq!(
        info_field(&mut k, "replication", "master_repl_offset"),
        info_field(&mut m, "replication", "master_repl_offset")
    );

    // Promoted: writes accepted, the master's history kept as the second id.
    let offset = info_field(&mut k, "replication", "master_repl_offset").unwrap();
    for c in [&mut r, &mut k] {
        assert_eq!(text(c.cmd(&["REPLICAOF", "NO", "ONE"])), "+OK\r\n");
        assert_eq!(text(c.cmd(&["SET", "k", "mine"])), "+OK\r\n");
        assert_eq!(text(c.cmd(&["GET", "k2"])), "$2\r\nv2\r\n");
    }
    assert_eq!(
        replica_info_masked(&mut r),
        replica_info_masked(&mut k),
        "INFO after NO ONE"
    );
    assert_eq!(
        role_masked(&mut r),
        role_masked(&mut k),
        "ROLE after NO ONE"
    );
    assert_eq!(
        info_field(&mut k, "replication", "master_replid2").as_deref(),
        Some(master_replid.as_str())
    );
    let second: u64 = info_field(&mut k, "replication", "second_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(second, offset.parse::<u64>().unwrap() + 1);
}

/// The `replicaof` and `masterauth` directives: kvstore follows a redis-server that wants a
/// password from start-up, asking `PSYNC ? -1` as a Redis replica without history does
/// (the master counts no failed partial sync).
#[test]
fn replicaof_directive_follows_from_start() {
    if !require_redis() {
        return;
    }
    let master = Server::redis(&[
        "--save",
        "",
        "--requirepass",
        "sekret",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut m = master.raw();
    m.cmd(&["AUTH", "sekret"]);
    m.cmd(&["SET", "k", "from the master"]);
    let port = master.port.to_string();
    let replica = Server::kvstore(&["--replicaof", "127.0.0.1", &port, "--masterauth", "sekret"]);
    let mut r = replica.raw();
    wait_link_up(&mut r);
    assert_eq!(text(r.cmd(&["GET", "k"])), "$15\r\nfrom the master\r\n");
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_err").as_deref(),
        Some("0")
    );
}

/// A chain: redis-server follows a kvstore replica of a kvstore master. The replica passes
/// its master's stream on unchanged, so the end of the chain holds the master's dataset at
/// the master's offset.
#[test]
fn redis_follows_a_kvstore_replica() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut m = master.raw();
    populate(&mut m);
    let middle = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut k = middle.raw();
    follow(&mut k, &master);
    // The stream in a database other than 0 when the chain's end syncs.
    m.cmd(&["SELECT", "3"]);
    m.cmd(&["SET", "in3", "x"]);
    wait_caught_up(&mut m, &mut k);
    let end = start_replica(&middle);
    let mut e = end.raw();
    m.cmd(&["SET", "in3", "y"]);
    m.cmd(&["SELECT", "0"]);
    let mut rng = Rng(0x0bad_cafe_dead_beef);
    for step in 0..1500 {
        random_write(&mut m, &mut rng, step);
    }
    std::thread::sleep(Duration::from_millis(200));
    m.cmd(&["SET", "done", "1"]);
    wait_caught_up(&mut m, &mut k);
    wait_caught_up(&mut m, &mut e);
    let (master_data, end_data) = (dataset(&mut m), dataset(&mut e));
    assert!(master_data.len() > 50, "{} keys", master_data.len());
    let diff = differences(&master_data, &end_data);
    assert!(diff.is_empty(), "keys that differ: {diff:#?}");
}

/// FAILOVER's refusals, as redis-server words them: on a master without replicas, on a
/// replica, and PSYNC FAILOVER sent to a master.
#[test]
fn failover_refusals_match_redis() {
    let Some(servers) = e2e::Differential::start(&[]) else {
        return;
    };
    servers.check(
        2,
        "FAILOVER
         FAILOVER ABORT
         FAILOVER TIMEOUT 0
         FAILOVER TIMEOUT -5
         FAILOVER TIMEOUT x
         FAILOVER TIMEOUT
         FAILOVER TO 127.0.0.1
         FAILOVER TO 127.0.0.1 x
         FAILOVER FORCE
         FAILOVER FORCE FORCE
         FAILOVER TIMEOUT 10 TIMEOUT 10
         FAILOVER BOGUS
         FAILOVER TO 127.0.0.1 1 FORCE
         PSYNC 0123456789012345678901234567890123456789 1 FAILOVER",
    );
}

/// FAILOVER hands the master role to a replica: writes wait until it caught up, then the
/// old master follows it with `PSYNC ... FAILOVER`, answered `+CONTINUE` (no full resync),
/// and the stream flows the other way. kvstore to kvstore, kvstore to redis-server and
/// redis-server to kvstore.
#[test]
fn failover_hands_over_to_a_replica_without_a_full_resync() {
    if !require_redis() {
        return;
    }
    let kv = || Server::kvstore(&["--enable-debug-command", "yes"]);

    for (name, master, replica) in [
        ("kvstore to kvstore", kv(), kv()),
        ("kvstore to redis-server", kv(), redis_master()),
        ("redis-server to kvstore", redis_master(), kv()),
    ] {
        let (mut m, mut r) = (master.raw(), replica.raw());
        populate(&mut m);
        follow(&mut r, &master);
        write_and_compare(&mut m, &mut r, 0x5eed_0000_0000_0001, 1000);
        let target = replica.port.to_string();
        let reply = text(m.cmd(&["FAILOVER", "TO", "127.0.0.1", &target, "TIMEOUT", "10000"]));
        assert_eq!(reply, "+OK\r\n", "{name}");
        wait_until("the old master follows the replica", || {
            info_field(&mut m, "replication", "role").as_deref() == Some("slave")
                && info_field(&mut m, "replication", "master_link_status").as_deref() == Some("up")
                && info_field(&mut m, "replication", "master_failover_state").as_deref()
                    == Some("no-failover")
        });
        assert_eq!(
            info_field(&mut r, "replication", "role").as_deref(),
            Some("master"),
            "{name}"
        );
        assert_eq!(
            info_field(&mut r, "stats", "sync_partial_ok").as_deref(),
            Some("1"),
            "{name}: the old master continued from the backlog"
        );
        assert_eq!(
            info_field(&mut r, "stats", "sync_full").as_deref(),
            Some("0"),
            "{name}"
        );
        assert_eq!(
            text(m.cmd(&["SET", "x", "1"])),
            "-READONLY You can't write against a read only replica.\r\n",
            "{name}"
        );
        // The new master's writes reach the old one.
        write_and_compare(&mut r, &mut m, 0x5eed_0000_0000_0002, 1000);
    }
}

/// A kvstore replica (of redis-server, and of kvstore) stopped cleanly saves its replication
/// id and offset with its data, so its restart continues with PSYNC (`+CONTINUE`, the writes it missed from the master's
/// backlog, no second full sync), as a redis-server replica does from its RDB file; after
/// kill -9 nothing says how far the data on disk goes, and it syncs in full.
#[test]
fn a_replica_restarted_cleanly_continues_with_psync() {
    if !require_redis() {
        return;
    }
    restarted_replica_continues(redis_master());
    restarted_replica_continues(Server::kvstore(&["--enable-debug-command", "yes"]));
}

fn restarted_replica_continues(master: Server) {
    let mut m = master.raw();
    populate(&mut m);
    let port = master.port.to_string();
    let mut replica = Server::kvstore(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--enable-debug-command",
        "yes",
    ]);
    let mut r = replica.raw();
    wait_link_up(&mut r);
    write_and_compare(&mut m, &mut r, 0x0dd0_0000_0000_0001, 800);
    drop(r);
    assert!(replica.stop().success());
    // Missed while away, INCRs included: applied twice, they would show.
    for i in 0..50 {
        m.cmd(&["INCR", "away:counter"]);
        m.cmd(&["RPUSH", "away:list", &i.to_string()]);
    }
    replica.restart();
    let mut r = replica.raw();
    wait_link_up(&mut r);
    let stat = |m: &mut RawConn, name: &str| info_field(m, "stats", name).unwrap_or_default();
    assert_eq!(stat(&mut m, "sync_full"), "1", "no second full sync");
    assert_eq!(stat(&mut m, "sync_partial_ok"), "1");
    assert_eq!(text(r.cmd(&["GET", "away:counter"])), "$2\r\n50\r\n");
    write_and_compare(&mut m, &mut r, 0x0dd0_0000_0000_0002, 800);

    drop(r);
    replica.kill9();
    m.cmd(&["INCR", "away:counter"]);
    replica.restart();
    let mut r = replica.raw();
    wait_link_up(&mut r);
    assert_eq!(stat(&mut m, "sync_full"), "2", "after kill -9, a full sync");
    write_and_compare(&mut m, &mut r, 0x0dd0_0000_0000_0003, 800);
}

/// `replica-announce-ip` / `replica-announce-port` (what Sentinel and clients are told to
/// connect to, e.g. a container's service name): a kvstore replica announces them in its
/// handshake as a redis-server replica does, so redis-server's INFO lists the same address.
#[test]
fn a_replica_announces_its_configured_address() {
    if !require_redis() {
        return;
    }
    let master = redis_master();
    let announce = [
        "--replica-announce-ip",
        "replica.example",
        "--replica-announce-port",
        "7777",
    ];
    let redis_replica = start_replica_with(&master, &announce);
    let kvstore_replica = Server::kvstore(&announce);
    follow(&mut kvstore_replica.raw(), &master);
    let mut m = master.raw();
    let listed: Vec<String> = (0..2)
        .map(|n| info_field(&mut m, "replication", &format!("slave{n}")).unwrap_or_default())
        .map(|line| line.split(",state=").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        listed,
        [
            "ip=replica.example,port=7777",
            "ip=replica.example,port=7777"
        ],
        "{:?}",
        (redis_replica.port, kvstore_replica.port)
    );
    // kvstore as the master lists its replica's announced address the same way.
    let kv_master = Server::kvstore(&[]);
    let announced = Server::kvstore(&announce);
    follow(&mut announced.raw(), &kv_master);
    let line = info_field(&mut kv_master.raw(), "replication", "slave0").unwrap_or_default();
    assert!(
        line.starts_with("ip=replica.example,port=7777,state=online,"),
        "{line}"
    );
}

/// On a replica an expired key reads as missing but stays until the master's `DEL` (Redis's
/// `expireIfNeeded`): DBSIZE still counts it, RANDOMKEY may return it when every key is
/// expired, and the dataset never departs from the master's. Compared with a redis-server
/// replica of the same master.
#[test]
fn a_replica_hides_expired_keys_until_the_master_deletes_them() {
    if !require_redis() {
        return;
    }
    let master = redis_master();
    let mut m = master.raw();
    m.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let redis_replica = start_replica(&master);
    let kvstore_replica = Server::kvstore(&[]);
    let mut replicas = [redis_replica.raw(), kvstore_replica.raw()];
    follow(&mut replicas[1], &master);
    m.cmd(&["SET", "short", "lived", "PX", "100"]);
    m.cmd(&["HSET", "h", "f", "v"]);
    m.cmd(&["PEXPIRE", "h", "100"]);
    for r in &mut replicas {
        wait_caught_up(&mut m, r);
    }
    std::thread::sleep(Duration::from_millis(150));
    let reads: &[&[&str]] = &[
        &["GET", "short"],
        &["EXISTS", "short", "h"],
        &["TTL", "short"],
        &["TYPE", "h"],
        &["HGET", "h", "f"],
        &["OBJECT", "ENCODING", "short"],
        &["KEYS", "*"],
        &["SCAN", "0"],
        &["DBSIZE"],
        &["MULTI"],
        &["GET", "short"],
        &["EXEC"],
        &["EVAL", "return redis.call('GET', KEYS[1])", "1", "short"],
        &["DBSIZE"],
    ];
    let answers: Vec<Vec<String>> = (replicas.iter_mut())
        .map(|r| reads.iter().map(|cmd| text(r.cmd(cmd))).collect())
        .collect();
    assert_eq!(
        answers[0], answers[1],
        "redis-server replica, kvstore replica"
    );
    assert_eq!(
        answers[1].last().map(String::as_str),
        Some(":2\r\n"),
        "{:?}",
        answers[1]
    );
    // Every key is expired: RANDOMKEY returns one anyway rather than search forever.
    let random = text(replicas[1].cmd(&["RANDOMKEY"]));
    assert!(
        random == "$5\r\nshort\r\n" || random == "$1\r\nh\r\n",
        "{random}"
    );
    // The master's lazy expiry sends the DELs; then the keys are gone from the replicas too.
    m.cmd(&["GET", "short"]);
    m.cmd(&["GET", "h"]);
    for r in &mut replicas {
        wait_caught_up(&mut m, r);
        assert_eq!(text(r.cmd(&["DBSIZE"])), ":0\r\n");
    }
}

/// `redis-cli --rdb` and `--functions-rdb` (REPLCONF rdb-only / rdb-filter-only, then SYNC)
/// against kvstore and redis-server holding the same data: each file, loaded by a fresh
/// redis-server, holds the same keys and libraries (none of the keys with the functions
/// filter), and neither master keeps the client among its replicas.
#[test]
fn redis_cli_rdb_backups_match_redis() {
    if !require_redis() {
        return;
    }
    let mut loaded = Vec::new();
    for master in [Server::kvstore(&[]), Server::redis(&["--save", ""])] {
        let mut m = master.raw();
        m.cmd(&["SET", "a", "1"]);
        m.cmd(&["RPUSH", "l", "x", "y"]);
        m.cmd(&["FUNCTION", "LOAD", &library("lib")]);
        let mut views = Vec::new();
        for (flag, name) in [("--rdb", "all.rdb"), ("--functions-rdb", "functions.rdb")] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(name);
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &master.port.to_string(), flag])
                .arg(&file)
                .output()
                .expect("redis-cli");
            assert!(out.status.success(), "{flag}: {out:?}");
            let dir_arg = dir.path().display().to_string();
            let reader = Server::redis(&["--dir", &dir_arg, "--dbfilename", name]);
            let mut r = reader.raw();
            views.push((
                text(r.cmd(&["DBSIZE"])),
                text(r.cmd(&["LRANGE", "l", "0", "-1"])),
                text(r.cmd(&["FUNCTION", "LIST"])),
            ));
        }
        assert_eq!(
            info_field(&mut m, "replication", "connected_slaves").as_deref(),
            Some("0")
        );
        loaded.push(views);
    }
    assert_eq!(loaded[0], loaded[1]);
    assert_eq!(loaded[0][0].0, ":2\r\n");
    assert_eq!(loaded[0][1].0, ":0\r\n");
    assert!(loaded[0][1].2.contains("lib_get"), "{:?}", loaded[0][1]);
}

/// A redis-server replica of kvstore that stops with its save points on writes an RDB file
/// holding the replication id and offset; restarted from it, it asks PSYNC and kvstore
/// continues from its backlog (`+CONTINUE`, the writes it missed, no second snapshot).
#[test]
fn a_redis_replica_restarted_from_its_rdb_continues_with_kvstore() {
    if !require_redis() {
        return;
    }
    let master = Server::kvstore(&["--enable-debug-command", "yes"]);
    let mut m = master.raw();
    populate(&mut m);
    let mut replica = start_replica_with(&master, &["--save", "3600 1"]);
    let mut r = replica.raw();
    write_and_compare(&mut m, &mut r, 0x0dd0_0000_0000_0004, 2000);
    drop(r);
    assert!(replica.stop().success());
    for i in 0..50 {
        m.cmd(&["INCR", "away:counter"]);
        m.cmd(&["RPUSH", "away:list", &i.to_string()]);
    }
    replica.restart();
    let mut r = replica.raw();
    wait_link_up(&mut r);
    let stat = |m: &mut RawConn, name: &str| info_field(m, "stats", name).unwrap_or_default();
    assert_eq!(stat(&mut m, "sync_full"), "1", "no second full sync");
    assert_eq!(stat(&mut m, "sync_partial_ok"), "1");
    write_and_compare(&mut m, &mut r, 0x0dd0_0000_0000_0005, 2000);
}
