//! Per-element persistence of big collections: every type comes back exactly (contents,
//! encodings, TTLs) after a restart and after kill -9, including changes that only the log
//! holds, and a change to one element of a big collection costs the log a few bytes.

use std::path::Path;

use e2e::{elements, encode_command, sorted_reply, RawConn, Rng, Server};

fn args(line: String) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

/// Collections big enough to be stored per element (hashtable hash and set, a list longer
/// than 128), compact ones, and one of each kind that crosses its threshold later.
fn setup() -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    for i in 0..400 {
        cmds.push(args(format!("RPUSH l:big e{i}")));
    }
    for i in 0..200 {
        cmds.push(args(format!("HSET h:big f{i} v{i}")));
        cmds.push(args(format!("SADD s:big m{i}")));
        cmds.push(args(format!("ZADD z:big {} m{i}", i % 17)));
    }
    for i in 0..100 {
        cmds.push(args(format!("HSET h:grow f{i} v{i}")));
        cmds.push(args(format!("SADD s:grow {i}")));
        cmds.push(args(format!("RPUSH l:grow e{i}")));
        cmds.push(args(format!("ZADD z:grow {i}.5 m{i}")));
    }
    cmds.push(args("HSET h:small b 1 a 2 c 3".into()));
    cmds.push(args("SADD s:ints 5 -3 12".into()));
    cmds.push(args("RPUSH l:small x y z".into()));
    cmds.push(args("ZADD z:small 2 b 1 a -inf c".into()));
    cmds.push(args("EXPIRE z:big 1000".into()));
    cmds.push(args("SET str plain".into()));
    cmds.push(args("EXPIRE s:big 1000".into()));
    cmds.push(args("SET str:ttl v EX 1000".into()));
    // A string long enough to be stored in chunks, and one that crosses into chunks later.
    cmds.push(args("SETRANGE str:big 20000 tail".into()));
    cmds.push(args("SETBIT str:grow 131030 1".into()));
    cmds
}

/// Random element-level writes on those keys, and with `whole` a few that rewrite a whole
/// key (which would hide a lost element change that came before them).
fn writes(rng: &mut Rng, n: usize, whole: bool) -> Vec<Vec<String>> {
    (0..n)
        .map(|_| {
            let r = rng.below(1000);
            let f = rng.below(260);
            let op = match rng.below(46) {
                21 | 22 if !whole => 13,
                op => op,
            };
            args(match op {
                0 => format!("HSET h:big f{f} w{r}"),
                1 => format!("HDEL h:big f{f} f{}", f + 1),
                2 => format!("HINCRBY h:big n{} {r}", f % 4),
                3 => format!("HSET h:grow g{f} v{r}"),
                4 => format!("HSET h:small {} {r}", ["a", "b", "d"][f as usize % 3]),
                5 => format!("SADD s:big m{f} n{r}"),
                6 => format!("SREM s:big m{f} n{r}"),
                7 => format!("SMOVE s:big s:other m{f}"),
                8 => format!("SADD s:grow {}", 100 + f),
                9 => format!("SREM s:ints {}", f % 20),
                10 => format!("SADD s:ints {}", f % 20),
                11 => format!("LPUSH l:big a{r} b{r}"),
                12 => format!("RPUSH l:big c{r}"),
                13 => "LPOP l:big 2".into(),
                14 => "RPOP l:big".into(),
                15 => "LMOVE l:big l:big LEFT RIGHT".into(),
                16 => "RPOPLPUSH l:big l:other".into(),
                17 => format!("LSET l:big {} s{r}", f % 50),
                18 => "LTRIM l:big 1 440".into(),
                19 => format!("RPUSH l:grow g{r}"),
                20 => "LPOP l:grow 3".into(),
                21 => format!("LINSERT l:big BEFORE e{f} i{r}"),
                22 => format!("LREM l:big 1 e{f}"),
                23 => "EXPIRE h:big 1000".into(),
                24 => "PERSIST h:big".into(),
                25 => "EXPIRE l:big 1000".into(),
                26 => "PERSIST s:big".into(),
                27 => format!("SET str v{r}"),
                28 => format!("HDEL h:grow f{f}"),
                29 => format!("ZADD z:big {} m{f} {}.25 n{r}", r % 50, r % 7),
                30 => format!("ZINCRBY z:big 1.5 m{f}"),
                31 => format!("ZREM z:big m{f} n{r}"),
                32 => "ZPOPMIN z:big 2".into(),
                33 => "ZPOPMAX z:big".into(),
                34 => format!("ZREMRANGEBYSCORE z:big {} {}", r % 50, r % 50),
                35 => format!("ZADD z:grow {r} g{f}"),
                36 => format!("ZADD z:small {} {}", r % 5, ["a", "b", "d"][f as usize % 3]),
                37 => "ZREMRANGEBYRANK z:big 0 0".into(),
                38 => format!("ZADD z:big GT CH {r} m{f}"),
                39 => format!("LPUSH l:small {r}"),
                40 => format!("SETBIT str:big {} {}", r * 160 + f, r % 2),
                41 => format!("SETRANGE str:big {} x{f}", r * 25),
                42 => format!("APPEND str:big a{r}"),
                43 => format!(
                    "BITFIELD str:big SET u8 #{} {f} INCRBY i16 {} 7",
                    r * 20,
                    r * 150
                ),
                44 => format!("APPEND str:grow z{r}"),
                _ => format!("SETRANGE str:grow {} y{r}", f * 60),
            })
        })
        .collect()
}

/// Sends `cmds` in pipelined bursts of random size (so some commits carry many changes to
/// the same key) and returns the replies.
fn run(conn: &mut RawConn, cmds: &[Vec<String>], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut replies = Vec::with_capacity(cmds.len());
    for burst in cmds.chunks(1 + rng.below(12) as usize) {
        let mut bytes = Vec::new();
        for cmd in burst {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            bytes.extend_from_slice(&encode_command(&args));
        }
        conn.send(&bytes);
        for _ in burst {
            replies.push(conn.read_reply().expect("reply"));
        }
    }
    replies
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// Every key with its type, encoding, TTL (rounded: both servers count from their own
/// clock) and contents; unordered encodings compared sorted.
fn dump(conn: &mut RawConn) -> Vec<String> {
    let mut keys = elements(&conn.cmd(&["KEYS", "*"]));
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let key = text(&key);
        let key = key.split("\r\n").nth(1).expect("bulk key").to_string();
        let kind = text(&conn.cmd(&["TYPE", &key]));
        let encoding = text(&conn.cmd(&["OBJECT", "ENCODING", &key]));
        let ttl = text(&conn.cmd(&["TTL", &key]));
        let ttl = match ttl.trim_start_matches(':').trim_end().parse::<i64>() {
            Ok(-1) => "no ttl".to_string(),
            Ok(t) if (990..=1000).contains(&t) => "ttl about 1000".to_string(),
            _ => ttl,
        };
        let unordered = encoding.contains("hashtable");
        let contents = match kind.as_str() {
            "+string\r\n" => conn.cmd(&["GET", &key]),
            "+list\r\n" => conn.cmd(&["LRANGE", &key, "0", "-1"]),
            "+hash\r\n" if unordered => sorted_reply(&conn.cmd(&["HGETALL", &key]), 2),
            "+hash\r\n" => conn.cmd(&["HGETALL", &key]),
            "+set\r\n" if unordered => sorted_reply(&conn.cmd(&["SMEMBERS", &key]), 1),
            "+zset\r\n" => conn.cmd(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            _ => conn.cmd(&["SMEMBERS", &key]),
        };
        out.push(format!(
            "{key} {kind:?} {encoding:?} {ttl} {}",
            text(&contents)
        ));
    }
    out
}

const ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

#[test]
fn every_type_comes_back_exactly_after_kill_9_and_restart_as_in_redis() {
    if !e2e::require_redis() {
        return;
    }
    let mut ours = Server::kvstore(ALWAYS);
    let mut theirs = Server::redis(ALWAYS);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let phases = [
        setup(),
        writes(&mut rng, 600, true),
        writes(&mut rng, 600, false),
    ];
    for (i, phase) in phases.iter().enumerate() {
        let seed = 7 + i as u64;
        let a = run(&mut ours.raw(), phase, &mut Rng(seed));
        let b = run(&mut theirs.raw(), phase, &mut Rng(seed));
        for ((cmd, a), b) in phase.iter().zip(&a).zip(&b) {
            assert_eq!(text(a), text(b), "phase {i}: {cmd:?}");
        }
        if i == 1 {
            // A checkpoint moves phase 1 into sled: the last phase is then replayed from the
            // log on top of it.
            ours.checkpoint();
        }
    }
    let expected = dump(&mut theirs.raw());
    assert_eq!(dump(&mut ours.raw()), expected, "before the crash");
    let len = text(&ours.raw().cmd(&["LLEN", "l:big"]));
    let len: usize = len.trim_start_matches(':').trim_end().parse().unwrap();
    assert!(
        len > 128,
        "l:big stays long enough to be stored per element: {len}"
    );
    for server in [&mut ours, &mut theirs] {
        server.kill9();
        server.restart();
    }
    assert_eq!(dump(&mut theirs.raw()), expected, "redis after kill -9");
    assert_eq!(dump(&mut ours.raw()), expected, "after kill -9");
    // Changes on top of a replayed log, then a clean restart from sled alone.
    let more = writes(&mut rng, 300, false);
    let a = run(&mut ours.raw(), &more, &mut Rng(99));
    let b = run(&mut theirs.raw(), &more, &mut Rng(99));
    assert_eq!(a, b);
    let expected = dump(&mut theirs.raw());
    assert!(ours.stop().success());
    ours.restart();
    assert_eq!(dump(&mut ours.raw()), expected, "after a clean restart");
}

#[test]
fn spop_and_blocking_pops_on_big_collections_survive_kill_9() {
    let mut server = Server::kvstore(ALWAYS);
    let mut conn = server.raw();
    for i in 0..300 {
        conn.cmd(&["SADD", "s", &format!("m{i}")]);
        conn.cmd(&["RPUSH", "l", &format!("e{i}")]);
    }
    // The collections reach sled; the pops after are replayed from the log on top.
    server.checkpoint();
    conn.cmd(&["SPOP", "s"]);
    conn.cmd(&["SPOP", "s", "7"]);
    conn.cmd(&["BLPOP", "l", "0"]);
    conn.cmd(&["BRPOP", "l", "0"]);
    let members = sorted_reply(&conn.cmd(&["SMEMBERS", "s"]), 1);
    let list = conn.cmd(&["LRANGE", "l", "0", "-1"]);
    server.kill9();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(sorted_reply(&conn.cmd(&["SMEMBERS", "s"]), 1), members);
    assert_eq!(conn.cmd(&["SCARD", "s"]), b":292\r\n");
    assert_eq!(conn.cmd(&["LRANGE", "l", "0", "-1"]), list);
    assert_eq!(conn.cmd(&["LLEN", "l"]), b":298\r\n");
}

/// Loads `n` elements into a hash, a set and a list with few round trips.
fn load_big(conn: &mut RawConn, n: usize) {
    let chunk = 1000;
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let mut hset = vec!["HSET".to_string(), "hash".into()];
        let mut sadd = vec!["SADD".to_string(), "set".into()];
        let mut rpush = vec!["RPUSH".to_string(), "list".into()];
        let mut zadd = vec!["ZADD".to_string(), "zset".into()];
        for i in start..end {
            zadd.push(format!("{}", i % 1000));
            zadd.push(format!("member:{i}"));
            hset.push(format!("field:{i}"));
            hset.push(format!("value:{i}"));
            sadd.push(format!("member:{i}"));
            rpush.push(format!("item:{i}"));
        }
        for cmd in [hset, sadd, rpush, zadd] {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let reply = conn.cmd(&args);
            assert!(reply.starts_with(b":"), "{}", text(&reply));
        }
    }
}

#[test]
fn big_collections_come_back_after_kill_9_and_restart() {
    let n = 200_000;
    let mut server = Server::kvstore(ALWAYS);
    let mut conn = server.raw();
    load_big(&mut conn, n);
    conn.cmd(&["HSET", "hash", "field:7", "changed"]);
    conn.cmd(&["HDEL", "hash", "field:8"]);
    conn.cmd(&["SREM", "set", "member:9"]);
    conn.cmd(&["LPUSH", "list", "first"]);
    conn.cmd(&["RPOP", "list"]);
    conn.cmd(&["EXPIRE", "set", "1000"]);
    conn.cmd(&["ZADD", "zset", "-1", "member:5", "2000", "new"]);
    conn.cmd(&["ZREM", "zset", "member:6"]);
    conn.cmd(&["ZPOPMIN", "zset"]);
    for round in ["kill -9", "clean restart"] {
        if round == "kill -9" {
            server.kill9();
        } else {
            assert!(server.stop().success());
        }
        server.restart();
        let mut conn = server.raw();
        assert_eq!(conn.cmd(&["HLEN", "hash"]), b":199999\r\n", "{round}");
        assert_eq!(conn.cmd(&["HGET", "hash", "field:7"]), b"$7\r\nchanged\r\n");
        assert_eq!(conn.cmd(&["HGET", "hash", "field:8"]), b"$-1\r\n");
        assert_eq!(
            conn.cmd(&["HGET", "hash", "field:199999"]),
            b"$12\r\nvalue:199999\r\n"
        );
        assert_eq!(conn.cmd(&["SCARD", "set"]), b":199999\r\n");
        assert_eq!(conn.cmd(&["SISMEMBER", "set", "member:9"]), b":0\r\n");
        assert_eq!(conn.cmd(&["SISMEMBER", "set", "member:10"]), b":1\r\n");
        let ttl = text(&conn.cmd(&["TTL", "set"]));
        let secs: i64 = ttl.trim_start_matches(':').trim_end().parse().unwrap();
        assert!((900..=1000).contains(&secs), "{round}: TTL {ttl}");
        assert_eq!(
            conn.cmd(&["LLEN", "list"]),
            format!(":{n}\r\n").into_bytes()
        );
        assert_eq!(conn.cmd(&["LINDEX", "list", "0"]), b"$5\r\nfirst\r\n");
        assert_eq!(conn.cmd(&["LINDEX", "list", "1"]), b"$6\r\nitem:0\r\n");
        assert_eq!(
            conn.cmd(&["LINDEX", "list", "-1"]),
            b"$11\r\nitem:199998\r\n"
        );
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "hash"]),
            b"$9\r\nhashtable\r\n"
        );
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "set"]),
            b"$9\r\nhashtable\r\n"
        );
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "zset"]),
            b"$8\r\nskiplist\r\n"
        );
        assert_eq!(conn.cmd(&["ZCARD", "zset"]), b":199999\r\n");
        assert_eq!(conn.cmd(&["ZSCORE", "zset", "member:6"]), b"$-1\r\n");
        assert_eq!(conn.cmd(&["ZSCORE", "zset", "new"]), b"$4\r\n2000\r\n");
        assert_eq!(
            conn.cmd(&["ZRANGE", "zset", "0", "1"]),
            b"*2\r\n$8\r\nmember:0\r\n$11\r\nmember:1000\r\n",
            "{round}: score order, then member order"
        );
        assert_eq!(conn.cmd(&["ZRANK", "zset", "new"]), b":199998\r\n");
        // Pushes and pops after the restart continue the same element ids.
        conn.cmd(&["LPUSH", "list", "again"]);
        conn.cmd(&["RPUSH", "list", "last"]);
        conn.cmd(&["RPOP", "list"]);
        conn.cmd(&["LPOP", "list"]);
    }
}

/// The newest log segment and its size.
fn newest_segment(dir: &Path) -> (String, u64) {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("kvstore.wal."))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .max()
        .expect("a log segment")
}

/// How many bytes one command adds to the log: the growth of the newest segment across the
/// command (retried if a checkpoint started a new segment meanwhile).
fn logged_bytes(server: &Server, conn: &mut RawConn, cmd: &[&str]) -> u64 {
    for _ in 0..20 {
        let (name, before) = newest_segment(server.dir());
        let reply = conn.cmd(cmd);
        assert!(!reply.starts_with(b"-"), "{}", text(&reply));
        let (name_after, after) = newest_segment(server.dir());
        if name == name_after {
            return after - before;
        }
    }
    panic!("the log rotated during every attempt");
}

#[test]
fn one_element_change_to_a_big_collection_logs_a_few_bytes() {
    let server = Server::kvstore(ALWAYS);
    let mut conn = server.raw();
    load_big(&mut conn, 100_000);
    // The first write after a whole-key write may still log the whole key; after that,
    // every change logs its elements only.
    for cmd in [
        &["HSET", "hash", "field:1", "x"][..],
        &["SADD", "set", "new"],
        &["LPUSH", "list", "new"],
    ] {
        conn.cmd(cmd);
    }
    for cmd in [
        &["HSET", "hash", "field:5", "new value"][..],
        &["HSET", "hash", "another field", "v"],
        &["HDEL", "hash", "field:6"],
        &["HINCRBY", "hash", "counter", "5"],
        &["SADD", "set", "another member"],
        &["SREM", "set", "member:5"],
        &["SPOP", "set"],
        &["LPUSH", "list", "head"],
        &["RPUSH", "list", "tail"],
        &["LPOP", "list"],
        &["RPOP", "list"],
        &["LMOVE", "list", "list", "LEFT", "RIGHT"],
        &["LTRIM", "list", "1", "-2"],
        &["LSET", "list", "5000", "replaced"],
        &["EXPIRE", "hash", "1000"],
        &["ZADD", "zset", "5", "member:1"],
        &["ZADD", "zset", "5", "a new member"],
        &["ZINCRBY", "zset", "2", "member:2"],
        &["ZREM", "zset", "member:3"],
        &["ZPOPMIN", "zset"],
        &["ZPOPMAX", "zset", "2"],
        &["ZREMRANGEBYRANK", "zset", "10", "12"],
    ] {
        let bytes = logged_bytes(&server, &mut conn, cmd);
        assert!(bytes < 200, "{cmd:?} logged {bytes} bytes");
    }
    // A whole-key change still logs the whole key.
    let bytes = logged_bytes(
        &server,
        &mut conn,
        &["LINSERT", "list", "BEFORE", "item:50", "x"],
    );
    assert!(bytes > 1_000_000, "LINSERT logged {bytes} bytes");
}

#[test]
fn a_change_in_place_to_a_10_mb_string_logs_the_chunks_it_touched() {
    if !e2e::require_redis() {
        return;
    }
    let mut ours = Server::kvstore(ALWAYS);
    let theirs = Server::redis(ALWAYS);
    let mut conn = ours.raw();
    let mut reference = theirs.raw();
    // 10 MiB, then a first change in place (which may still log the string whole).
    for cmd in [
        ["SETBIT", "bits", "83886079", "1"],
        ["SETBIT", "bits", "5", "1"],
    ] {
        assert_eq!(conn.cmd(&cmd), reference.cmd(&cmd), "{cmd:?}");
    }
    ours.checkpoint();
    let changes: &[&[&str]] = &[
        &["SETBIT", "bits", "123456", "1"],
        &["SETRANGE", "bits", "5000000", "hello"],
        // Across a chunk boundary.
        &["SETRANGE", "bits", "1023", "ab"],
        &["APPEND", "bits", "tail"],
        &[
            "BITFIELD", "bits", "SET", "u8", "#100", "255", "INCRBY", "u16", "40000000", "3",
        ],
        &["SETBIT", "bits", "83886083", "0"],
    ];
    for cmd in changes {
        let bytes = logged_bytes(&ours, &mut conn, cmd);
        assert!(bytes < 2 * 1024 + 200, "{cmd:?} logged {bytes} bytes");
        let (ours_now, theirs_now) = (conn.cmd(&["STRLEN", "bits"]), reference.cmd(cmd));
        assert!(!theirs_now.starts_with(b"-"), "{}", text(&theirs_now));
        assert_eq!(ours_now, reference.cmd(&["STRLEN", "bits"]), "{cmd:?}");
    }
    let appended = "x".repeat(100_000);
    let bytes = logged_bytes(&ours, &mut conn, &["APPEND", "bits", &appended]);
    assert!(bytes < 110_000, "APPEND of 100 kB logged {bytes} bytes");
    reference.cmd(&["APPEND", "bits", &appended]);
    let expected = reference.cmd(&["GET", "bits"]);
    // The changes since the checkpoint come back from the log on top of sled's chunks.
    ours.kill9();
    ours.restart();
    let mut conn = ours.raw();
    assert!(conn.cmd(&["GET", "bits"]) == expected, "after kill -9");
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "bits"]), b"$3\r\nraw\r\n");
    ours.checkpoint();
    assert!(ours.stop().success());
    ours.restart();
    assert!(
        ours.raw().cmd(&["GET", "bits"]) == expected,
        "after a clean restart"
    );
}

#[test]
fn element_writes_to_big_collections_invalidate_watch() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    load_big(&mut conn, 300);
    for write in [
        &["HSET", "hash", "f", "v"][..],
        &["SADD", "set", "m"],
        &["LPUSH", "list", "x"],
        &["RPOP", "list"],
        &["LTRIM", "list", "1", "-1"],
        &["ZADD", "zset", "1", "m"],
        &["ZPOPMIN", "zset"],
    ] {
        let key = write[1];
        assert_eq!(conn.cmd(&["WATCH", key]), b"+OK\r\n");
        server.raw().cmd(write);
        conn.cmd(&["MULTI"]);
        conn.cmd(&["PING"]);
        assert_eq!(conn.cmd(&["EXEC"]), b"*-1\r\n", "{write:?}");
    }
}
