//! DUMP and RESTORE against redis-server 7.0 byte for byte: the payload of every type built by
//! the same commands (where Redis's bytes are a function of the value and the configuration),
//! payloads crossing between the two servers in both directions, RESTORE's errors in Redis's
//! order, and a restored value surviving a `kill -9` under `appendfsync always`.

use e2e::{elements, Differential, RawConn, Server};

/// The body of a bulk-string reply; `None` for nil.
fn bulk(reply: &[u8]) -> Option<Vec<u8>> {
    if reply.starts_with(b"$-1") || reply.starts_with(b"_") {
        return None;
    }
    assert_eq!(
        reply[0],
        b'$',
        "not a bulk reply: {}",
        String::from_utf8_lossy(reply)
    );
    let header_end = reply.windows(2).position(|w| w == b"\r\n").expect("header") + 2;
    Some(reply[header_end..reply.len() - 2].to_vec())
}

fn dump(conn: &mut RawConn, key: &str) -> Vec<u8> {
    bulk(&conn.cmd(&["DUMP", key])).unwrap_or_else(|| panic!("{key} exists"))
}

fn restore(conn: &mut RawConn, key: &str, payload: &[u8], options: &[&str]) -> String {
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), b"0", payload];
    args.extend(options.iter().map(|o| o.as_bytes()));
    String::from_utf8_lossy(&conn.cmd_bytes(&args)).into_owned()
}

/// A key as commands show it: type, encoding, and contents (sorted where Redis's order is a
/// hash table's), as raw replies.
fn contents(conn: &mut RawConn, key: &str) -> Vec<Vec<u8>> {
    let kind = conn.cmd(&["TYPE", key]);
    let encoding = conn.cmd(&["OBJECT", "ENCODING", key]);
    let body = match &kind[..] {
        b"+string\r\n" => conn.cmd(&["GET", key]),
        b"+list\r\n" => conn.cmd(&["LRANGE", key, "0", "-1"]),
        b"+hash\r\n" => e2e::sorted_reply(&conn.cmd(&["HGETALL", key]), 2),
        b"+set\r\n" => e2e::sorted_reply(&conn.cmd(&["SMEMBERS", key]), 1),
        b"+zset\r\n" => conn.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        other => panic!("unexpected type {}", String::from_utf8_lossy(other)),
    };
    vec![kind, encoding, body]
}

/// Builds the same keys of every type and encoding on a connection, with plain commands.
fn populate(conn: &mut RawConn) {
    let long = "compress me ".repeat(20);
    let many: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
    let mut script: Vec<Vec<String>> = [
        "SET int 12345",
        "SET negative -9000000000",
        "SET short hello",
        "SET empty \"\"",
        "RPUSH list a b 1 -300 100000 4611686018427387904",
        "HSET hash f v n 1 empty \"\"",
        "SADD intset 5 -3 100000",
        "SADD intset64 1 -9223372036854775808",
        "SADD strings a b c",
        "ZADD zset 1 a 2.5 b -0 c inf d",
    ]
    .iter()
    .map(|line| e2e::words(line))
    .collect();
    script.push(vec!["SET".into(), "long".into(), long]);
    script.push(vec!["APPEND".into(), "raw".into(), "x".repeat(25)]);
    for (i, m) in many.iter().enumerate() {
        script.push(vec!["RPUSH".into(), "biglist".into(), m.clone()]);
        script.push(vec![
            "ZADD".into(),
            "bigzset".into(),
            (i * 7 % 101).to_string(),
            m.clone(),
        ]);
        script.push(vec![
            "HSET".into(),
            "bighash".into(),
            m.clone(),
            i.to_string(),
        ]);
        script.push(vec!["SADD".into(), "bigset".into(), m.clone()]);
    }
    for args in script {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = conn.cmd(&args);
        assert_ne!(
            reply[0],
            b'-',
            "{args:?}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

/// Keys whose payload Redis writes deterministically (no hash table order involved).
const DETERMINISTIC: &[&str] = &[
    "int", "negative", "short", "empty", "long", "raw", "list", "biglist", "hash", "intset",
    "intset64", "zset", "bigzset",
];
/// Every key [`populate`] makes.
const ALL: &[&str] = &[
    "int", "negative", "short", "empty", "long", "raw", "list", "biglist", "hash", "intset",
    "intset64", "zset", "bigzset", "strings", "bighash", "bigset",
];

#[test]
fn dump_gives_redis_bytes_for_every_type() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    populate(&mut ours);
    populate(&mut theirs);
    for key in DETERMINISTIC {
        assert_eq!(dump(&mut ours, key), dump(&mut theirs, key), "DUMP {key}");
    }
    servers.check_both("DUMP missing\nSET k v\nDUMP k");
}

#[test]
fn dump_follows_the_configuration() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    for conn in [&mut ours, &mut theirs] {
        for setting in [
            ["rdbcompression", "no"],
            ["list-max-listpack-size", "5"],
            ["list-compress-depth", "1"],
            ["hash-max-listpack-entries", "1000"],
            ["zset-max-listpack-entries", "1000"],
        ] {
            assert_eq!(
                conn.cmd(&["CONFIG", "SET", setting[0], setting[1]]),
                b"+OK\r\n"
            );
        }
        populate(conn);
    }
    for key in DETERMINISTIC.iter().chain(&["bighash"]) {
        assert_eq!(dump(&mut ours, key), dump(&mut theirs, key), "DUMP {key}");
    }
}

#[test]
fn payloads_cross_between_servers_both_ways() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    populate(&mut ours);
    populate(&mut theirs);
    for key in ALL {
        let expected = contents(&mut theirs, key);
        assert_eq!(contents(&mut ours, key), expected, "{key} as built");
        let from_redis = dump(&mut theirs, key);
        let from_us = dump(&mut ours, key);
        assert_eq!(
            restore(&mut ours, "copy", &from_redis, &["REPLACE"]),
            "+OK\r\n"
        );
        assert_eq!(
            contents(&mut ours, "copy"),
            expected,
            "Redis's {key} restored here"
        );
        assert_eq!(
            restore(&mut theirs, "copy", &from_us, &["REPLACE"]),
            "+OK\r\n"
        );
        assert_eq!(
            contents(&mut theirs, "copy"),
            expected,
            "our {key} restored in Redis"
        );
    }
}

/// Redis's CRC-64 (Jones, reflected) of `data`.
fn crc64(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(data)
}

/// A payload around `body` with a correct footer for RDB `version`.
fn payload(body: &[u8], version: u16) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn restore_errors_come_in_redis_order() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    theirs.cmd(&["SET", "src", "value"]);
    let good = dump(&mut theirs, "src");
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().expect("footer") ^= 1;
    let owned = |args: &[&[u8]]| args.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (owned(&[b"k", b"0", &good, b"REPLACE", b"nx"]), "syntax"),
        (owned(&[b"k", b"0", &good, b"IDLETIME", b"-1"]), "idletime"),
        (owned(&[b"k", b"0", &good, b"FREQ", b"256"]), "freq"),
        (
            owned(&[b"k", b"0", &good, b"FREQ", b"x"]),
            "freq not integer",
        ),
        (
            owned(&[b"k", b"0", &good, b"IDLETIME", b"1", b"FREQ", b"1"]),
            "both",
        ),
        (owned(&[b"k", b"0", &good, b"IDLETIME"]), "missing value"),
        (owned(&[b"existing", b"x", b"junk"]), "busy before ttl"),
        (owned(&[b"k", b"x", &good]), "ttl not integer"),
        (
            owned(&[b"k", b"-1", b"junk"]),
            "negative ttl before payload",
        ),
        (owned(&[b"k", b"0", b"short"]), "short payload"),
        (owned(&[b"k", b"0", &bad_crc]), "checksum"),
        (
            owned(&[b"k", b"0", &payload(b"\x00\x05abc", 10)]),
            "truncated string",
        ),
        (
            owned(&[b"k", b"0", &payload(b"\x00\x03abc", 11)]),
            "newer version",
        ),
        (owned(&[b"k", b"0", &payload(b"\x63", 10)]), "unknown type"),
        (
            owned(&[b"k", b"0", &payload(b"\x0e\x00", 10)]),
            "empty quicklist",
        ),
        (owned(&[b"k", b"0", &payload(b"", 10)]), "empty body"),
        (owned(&[b"existing", b"0", &good, b"REPLACE"]), "replace"),
        (
            owned(&[b"k", b"0", &payload(b"\x00\x03abc", 9)]),
            "old version",
        ),
    ];
    for conn in [&mut ours, &mut theirs] {
        conn.cmd(&["SET", "existing", "x"]);
    }
    for (args, case) in cases {
        let mut full: Vec<&[u8]> = vec![b"RESTORE"];
        full.extend(args.iter().map(Vec::as_slice));
        let (a, b) = (ours.cmd_bytes(&full), theirs.cmd_bytes(&full));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{case} (left: kvstore, right: redis-server)"
        );
        for conn in [&mut ours, &mut theirs] {
            conn.cmd(&["DEL", "k"]);
        }
    }
}

#[test]
fn restore_ttl_and_replace_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    theirs.cmd(&["RPUSH", "src", "a", "b"]);
    let payload = dump(&mut theirs, "src");
    let future = "4102444800000";
    for (options, ttl) in [
        (&[][..], "0"),
        (&[][..], "100000"),
        (&["ABSTTL"][..], future),
        (&["ABSTTL"][..], "1000"),
        (&["REPLACE", "ABSTTL"][..], "1000"),
        (&["REPLACE", "IDLETIME", "10"][..], "0"),
        (&["REPLACE", "FREQ", "3"][..], "0"),
    ] {
        let mut replies = Vec::new();
        for conn in [&mut ours, &mut theirs] {
            conn.cmd(&["DEL", "k"]);
            if options.contains(&"REPLACE") {
                conn.cmd(&["SET", "k", "old"]);
            }
            let mut args: Vec<&[u8]> = vec![b"RESTORE", b"k", ttl.as_bytes(), &payload];
            args.extend(options.iter().map(|o| o.as_bytes()));
            replies.push(vec![
                conn.cmd_bytes(&args),
                conn.cmd(&["EXISTS", "k"]),
                conn.cmd(&["LRANGE", "k", "0", "-1"]),
                conn.cmd(&["TTL", "k"]),
                if ttl == future {
                    conn.cmd(&["PEXPIRETIME", "k"])
                } else {
                    vec![]
                },
            ]);
        }
        let theirs_replies = replies.pop();
        assert_eq!(
            replies
                .pop()
                .map(|r| r.into_iter().map(e2e::text).collect::<Vec<_>>()),
            theirs_replies.map(|r| r.into_iter().map(e2e::text).collect::<Vec<_>>()),
            "RESTORE k {ttl} {options:?} (left: kvstore, right: redis-server)"
        );
    }
}

#[test]
fn restored_value_survives_kill_9() {
    if !e2e::require_redis() {
        return;
    }
    let mut reference = Server::redis(&[]);
    let mut theirs = reference.raw();
    populate(&mut theirs);
    let payloads: Vec<(&str, Vec<u8>)> = ALL.iter().map(|k| (*k, dump(&mut theirs, k))).collect();
    let expected: Vec<Vec<Vec<u8>>> = ALL.iter().map(|k| contents(&mut theirs, k)).collect();
    reference.stop();

    let mut ours = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = ours.raw();
    for (key, payload) in &payloads {
        assert_eq!(restore(&mut conn, key, payload, &[]), "+OK\r\n", "{key}");
    }
    let mut args: Vec<&[u8]> = vec![b"RESTORE", b"ttl", b"0", &payloads[0].1, b"ABSTTL"];
    args[2] = b"4102444800000";
    assert_eq!(conn.cmd_bytes(&args), b"+OK\r\n");
    drop(conn);
    ours.kill9();
    ours.restart();
    let mut conn = ours.raw();
    for (key, expected) in ALL.iter().zip(&expected) {
        assert_eq!(&contents(&mut conn, key), expected, "{key} after kill -9");
    }
    assert_eq!(conn.cmd(&["PEXPIRETIME", "ttl"]), b":4102444800000\r\n");
    assert_eq!(elements(&conn.cmd(&["KEYS", "*"])).len(), ALL.len() + 1);
}
