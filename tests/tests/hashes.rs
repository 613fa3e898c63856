//! Hash commands, compared byte for byte with redis-server in RESP2 and RESP3. Small hashes
//! (listpack) answer in insertion order in both servers, so those replies are compared
//! exactly; hashtable-encoded ones (`^`/`^^` lines) as unordered collections, and random
//! commands by their properties.

use std::collections::{BTreeMap, BTreeSet};

use e2e::{elements, Differential, RawConn, Server};

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

/// The text of a bulk string frame.
fn body(frame: &[u8]) -> String {
    let text = String::from_utf8(frame.to_vec()).unwrap();
    text.split("\r\n").nth(1).unwrap().to_string()
}

#[test]
fn set_get_and_read_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HSET h f1 v1 f2 v2
        HSET h f1 new f3 v3
        HSET h f4
        HSET h
        HMSET h f5 v5 f1 again
        HMSET h f6
        HSETNX h f1 x
        HSETNX h f7 v7
        HSETNX h
        HGET h f1
        HGET h missing
        HGET nokey f
        HMGET h f1 missing f2 f1
        HMGET nokey a b
        HGETALL h
        HGETALL nokey
        HKEYS h
        HVALS h
        HKEYS nokey
        HVALS nokey
        HLEN h
        HLEN nokey
        HEXISTS h f1
        HEXISTS h nope
        HEXISTS nokey f
        HSTRLEN h f1
        HSTRLEN h nope
        HSTRLEN nokey f
        HSET h "" ""
        HGET h ""
        HSTRLEN h ""
        HSET h 10 -5 bin "a b"
        HGETALL h
        OBJECT ENCODING h
        TYPE h
        TYPE nokey
        "#,
    );
}

#[test]
fn hdel_deletes_the_key_with_its_last_field() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HSET h a 1 b 2 c 3 d 4
        HDEL h a
        HDEL h a x
        HGETALL h
        HDEL h c b
        HKEYS h
        HDEL h d d x
        EXISTS h
        HDEL h d
        HDEL nokey f
        HDEL h
        HSET h a 1
        HDEL h a b
        EXISTS h
        TYPE h
        "#,
    );
}

#[test]
fn wrong_types_are_refused_everywhere() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET s v
        HSET s f v
        HMSET s f v
        HSETNX s f v
        HGET s f
        HMGET s f
        HGETALL s
        HKEYS s
        HVALS s
        HDEL s f
        HLEN s
        HEXISTS s f
        HSTRLEN s f
        HINCRBY s f 1
        HINCRBYFLOAT s f 1
        HRANDFIELD s
        HRANDFIELD s 2
        HRANDFIELD s 2 WITHVALUES
        HSCAN s 0
        HSCAN s x
        HSET h f v
        GET h
        INCR h
        APPEND h x
        SADD h m
        GET s
        "#,
    );
}

#[test]
fn hincrby_and_hincrbyfloat_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HINCRBY h n 5
        HINCRBY h n -7
        HINCRBY h n x
        HINCRBY h n 1.5
        HINCRBY h n 9223372036854775807
        HINCRBY h n 9223372036854775808
        HSET h big 9223372036854775807 small -9223372036854775808 text abc sp " 1" lead 01
        HINCRBY h big 1
        HINCRBY h big 0
        HINCRBY h small -1
        HINCRBY h small 1
        HINCRBY h text 1
        HINCRBY h sp 1
        HINCRBY h lead 1
        HINCRBY newkey f 3
        HINCRBYFLOAT h fl 1.5
        HINCRBYFLOAT h fl 10.25
        HINCRBYFLOAT h fl -0.75
        HINCRBYFLOAT h fl 1e3
        HINCRBYFLOAT h fl 5.0e-3
        HINCRBYFLOAT h n 0.1
        HINCRBYFLOAT h text 1
        HINCRBYFLOAT h fl x
        HINCRBYFLOAT h fl inf
        HINCRBYFLOAT h fl -inf
        HINCRBYFLOAT h fl nan
        HINCRBYFLOAT h fl ""
        HSET h inf inf
        HINCRBYFLOAT h inf 1
        HINCRBYFLOAT h huge 1.7976931348623157e308
        HINCRBYFLOAT h huge 1.7976931348623157e308
        HINCRBYFLOAT h tiny 0x10
        HINCRBYFLOAT h tiny 3.0000000000000000001
        HINCRBYFLOAT newkey2 f 2.50
        OBJECT ENCODING h
        ^^ HGETALL h
        HGETALL newkey
        HINCRBY h n
        HINCRBYFLOAT h n
        "#,
    );
}

#[test]
fn encodings_follow_the_listpack_thresholds() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let long = "x".repeat(65);
    let exact = "y".repeat(64);
    d.check_both(&format!(
        r#"
        HSET small a 1
        OBJECT ENCODING small
        HSET exact f {exact}
        OBJECT ENCODING exact
        HSET longval f {long}
        OBJECT ENCODING longval
        HSET longfield {long} v
        OBJECT ENCODING longfield
        HSETNX nx {long} v
        OBJECT ENCODING nx
        HINCRBYFLOAT flt f 1.00000000000000000000000000000000000000000000000000000000000000001
        OBJECT ENCODING flt
        HSET h a 1 b 2 c 3
        CONFIG SET hash-max-listpack-entries 3
        OBJECT ENCODING h
        HSET h a 9
        OBJECT ENCODING h
        HSET h d 4
        OBJECT ENCODING h
        HDEL h a b c
        OBJECT ENCODING h
        HGETALL h
        CONFIG SET hash-max-listpack-value 2
        HSET v ab cd
        OBJECT ENCODING v
        HSET v abc d
        OBJECT ENCODING v
        CONFIG SET hash-max-listpack-entries 0
        HSET zero a 1
        OBJECT ENCODING zero
        OBJECT ENCODING nokey
        CONFIG SET hash-max-listpack-entries 512
        CONFIG SET hash-max-listpack-value 64
        "#
    ));
}

#[test]
fn hashtable_hashes_hold_the_same_contents() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let mut script = String::from("CONFIG SET hash-max-listpack-entries 16\n");
    for i in 0..40 {
        script.push_str(&format!("HSET big f{i} v{i}\n"));
    }
    script.push_str(
        r#"
        OBJECT ENCODING big
        ^^ HGETALL big
        ^ HKEYS big
        ^ HVALS big
        HLEN big
        HDEL big f1 f2 f3 nope
        ^^ HGETALL big
        HMGET big f0 f1 f39
        HINCRBY big f0 1
        HINCRBY big counter 1
        HSTRLEN big f10
        CONFIG SET hash-max-listpack-entries 512
        "#,
    );
    d.check_both(&script);
}

#[test]
fn hrandfield_arguments_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HRANDFIELD nokey
        HRANDFIELD nokey 5
        HRANDFIELD nokey -5 WITHVALUES
        HRANDFIELD nokey x
        HSET h a 1 b 2 c 3
        HRANDFIELD h 0
        HRANDFIELD h 0 WITHVALUES
        HRANDFIELD h 3
        HRANDFIELD h 5
        HRANDFIELD h 3 WITHVALUES
        HRANDFIELD h 100 withvalues
        HRANDFIELD h 9223372036854775807
        HRANDFIELD h x
        HRANDFIELD h 1.5
        HRANDFIELD h 1 WITHVALUE
        HRANDFIELD h 1 WITHVALUES x
        HRANDFIELD h -9223372036854775808
        HRANDFIELD h -9223372036854775807 WITHVALUES
        HRANDFIELD h 9223372036854775807 WITHVALUES
        HRANDFIELD h 4611686018427387904 WITHVALUES
        HRANDFIELD h x WITHVALUES
        HRANDFIELD h 1 2 3
        HSET one f v
        HRANDFIELD one
        HRANDFIELD one -3
        HRANDFIELD one -2 WITHVALUES
        HRANDFIELD one 1 WITHVALUES
        "#,
    );
}

/// Reads an HRANDFIELD reply as (field, value) pairs; values are `None` without WITHVALUES.
fn random_pairs(conn: &mut RawConn, args: &[&str], resp3: bool) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let reply = conn.cmd(args);
    let items = elements(&reply);
    let with_values = args.len() == 4;
    match (with_values, resp3) {
        (false, _) => items.into_iter().map(|f| (f, None)).collect(),
        (true, true) => items
            .into_iter()
            .map(|pair| {
                let mut p = elements(&pair).into_iter();
                (p.next().unwrap(), p.next())
            })
            .collect(),
        (true, false) => items
            .chunks(2)
            .map(|c| (c[0].clone(), Some(c[1].clone())))
            .collect(),
    }
}

#[test]
fn hrandfield_returns_distinct_or_repeated_fields_as_asked() {
    for (entries, resp3) in [("512", false), ("512", true), ("4", false), ("4", true)] {
        let server = Server::kvstore(&["--hash-max-listpack-entries", entries]);
        let mut conn = server.raw();
        if resp3 {
            conn.cmd(&["HELLO", "3"]);
        }
        let hash: BTreeMap<Vec<u8>, Vec<u8>> = (0..10)
            .map(|i| (bulk(&format!("f{i}")), bulk(&format!("v{i}"))))
            .collect();
        for i in 0..10 {
            conn.cmd(&["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
        }
        for count in ["3", "9", "10", "-3", "-25", "1"] {
            for with_values in [false, true] {
                let mut args = vec!["HRANDFIELD", "h", count];
                if with_values {
                    args.push("WITHVALUES");
                }
                let pairs = random_pairs(&mut conn, &args, resp3);
                let n: i64 = count.parse().unwrap();
                assert_eq!(
                    pairs.len() as i64,
                    n.abs().min(if n > 0 { 10 } else { i64::MAX }),
                    "{args:?}"
                );
                for (f, v) in &pairs {
                    let stored = hash
                        .get(f)
                        .unwrap_or_else(|| panic!("{args:?}: unknown field {f:?}"));
                    if let Some(v) = v {
                        assert_eq!(v, stored, "{args:?}: value belongs to its field");
                    }
                }
                if n > 0 {
                    let distinct: BTreeSet<_> = pairs.iter().map(|(f, _)| f).collect();
                    assert_eq!(distinct.len(), pairs.len(), "{args:?}: distinct fields");
                }
            }
        }
        // Every field comes up eventually.
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            seen.insert(conn.cmd(&["HRANDFIELD", "h"]));
        }
        assert_eq!(seen.len(), 10);
    }
}

#[test]
fn hscan_of_small_hashes_and_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HSCAN nokey 0
        HSCAN nokey 0 BOGUS
        HSCAN nokey x
        HSET h name1 a name2 b other c
        HSCAN h 0
        HSCAN h 0 COUNT 1
        HSCAN h 0 MATCH name*
        HSCAN h 0 MATCH nothing*
        HSCAN h 0 MATCH * COUNT 100
        HSCAN h 0 TYPE hash
        HSCAN h 0 COUNT 0
        HSCAN h 0 COUNT x
        HSCAN h 0 MATCH
        HSCAN h 0 BOGUS x
        HSCAN h -1
        HSCAN h x
        HSCAN h 18446744073709551616
        HSCAN h
        "#,
    );
}

#[test]
fn hscan_of_a_hashtable_returns_every_field_once_with_its_value() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    for i in 0..1000 {
        conn.cmd(&["HSET", "h", &format!("f{i}"), &format!("v{i}")]);
    }
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    let mut cursor = "0".to_string();
    let mut seen = BTreeMap::new();
    let mut calls = 0;
    loop {
        let reply = conn.cmd(&["HSCAN", "h", &cursor, "COUNT", "37", "MATCH", "f*"]);
        let parts = elements(&reply);
        cursor = body(&parts[0]);
        for pair in elements(&parts[1]).chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 1, "a hashtable is scanned in steps");
    assert_eq!(seen.len(), 1000);
    for (f, v) in seen {
        let (f, v) = (body(&f), body(&v));
        assert_eq!(
            f.strip_prefix('f'),
            v.strip_prefix('v'),
            "{f} comes with its value"
        );
    }
}

#[test]
fn generic_key_commands_work_on_hashes() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HSET h a 1 b 2
        RENAME h h2
        HGETALL h2
        COPY h2 h3
        HSET h3 c 3
        HGETALL h2
        HGETALL h3
        MOVE h3 1
        EXISTS h3
        EXPIRE h2 100
        TTL h2
        PERSIST h2
        SCAN 0 TYPE hash
        SCAN 0 TYPE string
        DEL h2
        EXISTS h2
        HSET e f v
        PEXPIREAT e 1
        HGET e f
        EXISTS e
        "#,
    );
}

#[test]
fn hashes_survive_restart_with_encoding_order_and_ttl() {
    let mut server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["HSET", "small", "z", "1", "a", "2", "m", "3"]);
    for i in 0..600 {
        conn.cmd(&["HSET", "big", &format!("f{i}"), &format!("v{i}")]);
    }
    conn.cmd(&["HSET", "ttl", "f", "v"]);
    conn.cmd(&["EXPIRE", "ttl", "1000"]);
    conn.cmd(&["HSET", "gone", "f", "v"]);
    conn.cmd(&["HDEL", "gone", "f"]);
    let before = conn.cmd(&["HGETALL", "small"]);
    assert!(server.stop().success());
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["HGETALL", "small"]),
        before,
        "insertion order kept"
    );
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "small"]), bulk("listpack"));
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "big"]), bulk("hashtable"));
    assert_eq!(conn.cmd(&["HLEN", "big"]), b":600\r\n");
    assert_eq!(conn.cmd(&["HGET", "big", "f599"]), bulk("v599"));
    let ttl = String::from_utf8(conn.cmd(&["TTL", "ttl"])).unwrap();
    assert!(ttl == ":1000\r\n" || ttl == ":999\r\n", "{ttl}");
    assert_eq!(conn.cmd(&["EXISTS", "gone"]), b":0\r\n");
}

#[test]
fn hash_writes_survive_kill_9_under_appendfsync_always() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    for i in 0..50 {
        conn.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
        conn.cmd(&["HINCRBY", "h", "n", "1"]);
    }
    conn.cmd(&["HDEL", "h", "f0"]);
    server.kill9();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HLEN", "h"]), b":50\r\n");
    assert_eq!(conn.cmd(&["HGET", "h", "n"]), bulk("50"));
    assert_eq!(conn.cmd(&["HEXISTS", "h", "f0"]), b":0\r\n");
}

#[test]
fn concurrent_writers_lose_no_update() {
    let server = Server::kvstore(&[]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let addr = server.addr();
            std::thread::spawn(move || {
                let mut conn = RawConn::connect(&addr);
                for i in 0..200 {
                    conn.cmd(&["HINCRBY", "h", "n", "1"]);
                    conn.cmd(&["HSET", "h", &format!("t{t}-{i}"), "v"]);
                    conn.cmd(&["SADD", "s", &format!("{t}-{i}")]);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HGET", "h", "n"]), bulk("1600"));
    assert_eq!(conn.cmd(&["HLEN", "h"]), b":1601\r\n");
    assert_eq!(conn.cmd(&["SCARD", "s"]), b":1600\r\n");
}
