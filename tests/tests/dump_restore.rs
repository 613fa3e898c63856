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
        b"+stream\r\n" => {
            let mut body = conn.cmd(&["XRANGE", key, "-", "+"]);
            body.extend(conn.cmd(&["XINFO", "STREAM", key, "FULL"]));
            body
        }
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
        "XADD stream 1-1 a 1 b 2",
        "XADD stream 2-0 a 3 b 4",
        "XADD stream 3-0 c hello",
        "XADD stream 3-7 a -5 b 100000 a 4611686018427387904",
        "XADD stream 4-0 a \"\" b x",
        "XDEL stream 2-0",
        "XGROUP CREATE stream readers 0",
        "XGROUP CREATE stream latecomers $",
        "XADD emptystream 5-0 f v",
        "XDEL emptystream 5-0",
        "XADD setid 1-0 f v",
        "XSETID setid 500-3 ENTRIESADDED 1000 MAXDELETEDID 400-0",
    ]
    .iter()
    .map(|line| e2e::words(line))
    .collect();
    script.push(vec!["SET".into(), "long".into(), long.clone()]);
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
        let mut entry = vec![
            "XADD".into(),
            "bigstream".into(),
            format!("{}-{}", 1000 + i / 3, i % 3),
            "member".into(),
            m.clone(),
            "n".into(),
            i.to_string(),
        ];
        if i % 7 == 0 {
            entry.extend(["long".into(), long.clone()]);
        }
        script.push(entry);
    }
    for line in [
        "XDEL bigstream 1010-1 1050-0 1050-1 1050-2 1099-2",
        "XTRIM bigstream MAXLEN 250",
        "XTRIM bigstream MINID 1020-0",
        "XGROUP CREATE bigstream g 1030-1 ENTRIESREAD 10",
    ] {
        script.push(e2e::words(line));
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
    "int",
    "negative",
    "short",
    "empty",
    "long",
    "raw",
    "list",
    "biglist",
    "hash",
    "intset",
    "intset64",
    "zset",
    "bigzset",
    "stream",
    "emptystream",
    "setid",
    "bigstream",
];
/// The other keys [`populate`] makes: hash tables, whose payload follows Redis's dict order.
const HASH_ORDERED: &[&str] = &["strings", "bighash", "bigset"];

/// Every key [`populate`] makes.
fn all_keys() -> Vec<&'static str> {
    DETERMINISTIC.iter().chain(HASH_ORDERED).copied().collect()
}

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
            ["stream-node-max-entries", "7"],
            ["stream-node-max-bytes", "300"],
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
    for key in all_keys() {
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
    let all = all_keys();
    let payloads: Vec<(&str, Vec<u8>)> = all.iter().map(|k| (*k, dump(&mut theirs, k))).collect();
    let expected: Vec<Vec<Vec<u8>>> = all.iter().map(|k| contents(&mut theirs, k)).collect();
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
    for (key, expected) in all.iter().zip(&expected) {
        assert_eq!(&contents(&mut conn, key), expected, "{key} after kill -9");
    }
    assert_eq!(conn.cmd(&["PEXPIRETIME", "ttl"]), b":4102444800000\r\n");
    assert_eq!(elements(&conn.cmd(&["KEYS", "*"])).len(), all.len() + 1);
}

/// Builds a stream with consumer groups, consumers and pending entries (their times are the
/// clock's, so only a payload carries them from one server to the other).
fn populate_groups(conn: &mut RawConn) {
    for line in [
        "CONFIG SET stream-node-max-entries 4",
        "XADD grouped 1-0 f 1",
        "XADD grouped 2-0 f 2",
        "XADD grouped 3-0 f 3 g x",
        "XADD grouped 4-0 f 4",
        "XADD grouped 5-0 f 5",
        "XADD grouped 6-0 f 6",
        "XGROUP CREATE grouped g1 0",
        "XGROUP CREATE grouped g2 0",
        "XGROUP CREATE grouped idle $",
        "XREADGROUP GROUP g1 alice COUNT 3 STREAMS grouped >",
        "XREADGROUP GROUP g1 bob COUNT 2 STREAMS grouped >",
        "XREADGROUP GROUP g1 alice STREAMS grouped 0",
        "XACK grouped g1 2-0",
        "XCLAIM grouped g1 carol 0 4-0 RETRYCOUNT 5",
        "XGROUP CREATECONSUMER grouped g1 dave",
        "XREADGROUP GROUP g2 1 NOACK STREAMS grouped >",
        "XREADGROUP GROUP g2 2 COUNT 1 STREAMS grouped 0",
        "XDEL grouped 3-0",
        "CONFIG SET stream-node-max-entries 100",
    ] {
        let reply = conn.cmd(
            &e2e::words(line)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert_ne!(
            reply[0],
            b'-',
            "{line}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
}

/// What a stream with groups shows: entries, the full XINFO (absolute times included), and
/// each group's pending summary.
fn stream_view(conn: &mut RawConn, key: &str) -> Vec<String> {
    let mut view = vec![
        conn.cmd(&["XRANGE", key, "-", "+"]),
        conn.cmd(&["XINFO", "STREAM", key]),
        conn.cmd(&["XINFO", "STREAM", key, "FULL"]),
        conn.cmd(&["XINFO", "GROUPS", key]),
        conn.cmd(&["DEBUG", "OBJECT", key]),
    ];
    for group in ["g1", "g2", "idle"] {
        view.push(conn.cmd(&["XPENDING", key, group]));
    }
    let mut view: Vec<String> = view.into_iter().map(e2e::text).collect();
    // DEBUG OBJECT's address and LRU fields are the process's own.
    if let Some(debug) = view.get_mut(4) {
        *debug = debug
            .split(' ')
            .filter(|w| w.starts_with("serializedlength") || w.starts_with("encoding"))
            .collect::<Vec<_>>()
            .join(" ");
    }
    view
}

#[test]
fn streams_with_groups_cross_between_servers_both_ways() {
    let Some(servers) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    populate_groups(&mut theirs);
    populate_groups(&mut ours);
    let from_redis = dump(&mut theirs, "grouped");
    let expected = stream_view(&mut theirs, "grouped");

    // Redis's payload restored here reads back as Redis shows it, and dumps to the same bytes.
    assert_eq!(restore(&mut ours, "copy", &from_redis, &[]), "+OK\r\n");
    assert_eq!(stream_view(&mut ours, "copy"), expected);
    assert_eq!(
        dump(&mut ours, "copy"),
        from_redis,
        "DUMP of a restored stream"
    );

    // Our stream built by the same commands differs only in its clock readings: Redis
    // restores it, and it shows there as here.
    let from_us = dump(&mut ours, "grouped");
    assert_eq!(restore(&mut theirs, "mine", &from_us, &[]), "+OK\r\n");
    assert_eq!(
        stream_view(&mut theirs, "mine"),
        stream_view(&mut ours, "grouped")
    );
    assert_eq!(dump(&mut theirs, "mine"), from_us);

    // Later writes behave the same on both copies of Redis's stream.
    assert_eq!(restore(&mut theirs, "copy", &from_redis, &[]), "+OK\r\n");
    servers.check(
        3,
        "XADD copy 7-0 f 7\nXACK copy g1 1-0 4-0\nXGROUP DELCONSUMER copy g1 bob\n\
         XTRIM copy MAXLEN 2\nXDEL copy 7-0\nXLEN copy\nXINFO STREAM copy",
    );
}

/// A reader of the RDB lengths and strings in an uncompressed payload body.
struct Body<'a>(&'a [u8], usize);

impl Body<'_> {
    fn len(&mut self) -> u64 {
        let first = self.0[self.1];
        self.1 += 1;
        match first >> 6 {
            0 => u64::from(first & 0x3f),
            1 => {
                self.1 += 1;
                (u64::from(first & 0x3f) << 8) | u64::from(self.0[self.1 - 1])
            }
            _ if first == 0x80 => {
                self.1 += 4;
                u64::from(u32::from_be_bytes(
                    self.0[self.1 - 4..self.1].try_into().unwrap(),
                ))
            }
            _ if first == 0x81 => {
                self.1 += 8;
                u64::from_be_bytes(self.0[self.1 - 8..self.1].try_into().unwrap())
            }
            _ => panic!("an encoded string: payloads here are uncompressed"),
        }
    }

    fn skip_string(&mut self) {
        let n = self.len() as usize;
        self.1 += n;
    }

    /// The bytes from `from` to here.
    fn since(&self, from: usize) -> &[u8] {
        &self.0[from..self.1]
    }
}

/// Redis 7.0's DUMP of a stream without consumers, rewritten as Redis 6 wrote it
/// (`RDB_TYPE_STREAM_LISTPACKS`, RDB 9): no first id, tombstone id, entries-added counter or
/// per-group read counter.
fn as_rdb9_stream(dumped: &[u8]) -> Vec<u8> {
    let body = &dumped[..dumped.len() - 10];
    assert_eq!(body[0], 19);
    let mut b = Body(body, 1);
    let mut out = vec![15];
    let nodes = b.len();
    for _ in 0..nodes {
        b.skip_string();
        b.skip_string();
    }
    b.len(); // length
    b.len(); // last id
    b.len();
    out.extend_from_slice(b.since(1));
    for _ in 0..5 {
        b.len(); // first id, max deleted id, entries added
    }
    let from = b.1;
    let groups = b.len();
    out.extend_from_slice(b.since(from));
    for _ in 0..groups {
        let from = b.1;
        b.skip_string();
        b.len();
        b.len();
        out.extend_from_slice(b.since(from));
        b.len(); // entries read
        let from = b.1;
        assert_eq!(
            (b.len(), b.len()),
            (0, 0),
            "no pending entries, no consumers"
        );
        out.extend_from_slice(b.since(from));
    }
    assert_eq!(b.1, body.len());
    payload(&out, 9)
}

#[test]
fn rdb9_stream_payloads_restore_as_redis_migrates_them() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    theirs.cmd(&["CONFIG", "SET", "rdbcompression", "no"]);
    for line in [
        "XADD old 1-0 a 1",
        "XADD old 2-0 a 2 b 3",
        "XADD old 3-0 a 3",
        "XDEL old 1-0",
        "XGROUP CREATE old g 2-0",
        "XGROUP CREATE old h 0",
        "XADD gone 1-0 a 1",
        "XDEL gone 1-0",
    ] {
        theirs.cmd(
            &e2e::words(line)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
    }
    for key in ["old", "gone"] {
        let old = as_rdb9_stream(&dump(&mut theirs, key));
        for conn in [&mut ours, &mut theirs] {
            assert_eq!(restore(conn, "migrated", &old, &["REPLACE"]), "+OK\r\n");
        }
        servers.check(3, "XINFO STREAM migrated FULL\nXINFO GROUPS migrated");
        assert_eq!(dump(&mut ours, "migrated"), dump(&mut theirs, "migrated"));
    }
}

#[test]
fn bad_stream_payloads_get_redis_errors() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    let key = |n: u8| {
        let mut k = vec![16];
        k.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0]);
        k
    };
    let empty_listpack = [7, 7, 0, 0, 0, 0, 0, 0xff];
    // Stream counters: length 0, last id, first id, max deleted id 0-0, entries added 0.
    let zero_counters = [0u8, 0, 0, 0, 0, 0, 0, 0];
    let group = |name: u8| vec![1, name, 0, 0, 0, 0, 0];
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut body = vec![19, 1, 15];
    body.extend_from_slice(&[0; 15]);
    cases.push(("short node key", body));
    let mut body = vec![19, 1];
    body.extend(key(1));
    body.extend_from_slice(&empty_listpack);
    body.extend_from_slice(&zero_counters);
    body.push(0);
    cases.push(("empty listpack", body));
    let mut body = vec![19, 0, 1];
    body.extend_from_slice(&zero_counters[1..]);
    body.push(0);
    cases.push(("length without nodes", body));
    let mut body = vec![19, 0];
    body.extend_from_slice(&zero_counters);
    body.push(2);
    body.extend(group(b'g'));
    body.extend(group(b'g'));
    cases.push(("duplicate group", body));
    let mut body = vec![19, 0];
    body.extend_from_slice(&zero_counters);
    body.extend_from_slice(&[1, 1, b'g', 0, 0, 0, 0, 1, 1, b'c']);
    body.extend_from_slice(&[0; 8]);
    body.push(1);
    body.extend_from_slice(&[0; 16]);
    cases.push(("consumer owns an id the group lacks", body));
    let mut body = vec![19, 0];
    body.extend_from_slice(&zero_counters);
    body.push(2);
    body.extend(group(b'g'));
    body.extend(group(b'h'));
    cases.push(("two groups (valid)", body.clone()));
    body.truncate(body.len() - 3);
    cases.push(("truncated group", body));
    for (case, body) in cases {
        let payload = payload(&body, 10);
        let (a, b) = (
            restore(&mut ours, "bad", &payload, &["REPLACE"]),
            restore(&mut theirs, "bad", &payload, &["REPLACE"]),
        );
        assert_eq!(a, b, "{case} (left: kvstore, right: redis-server)");
        let expected = if case.ends_with("(valid)") {
            "+OK\r\n"
        } else {
            "-ERR Bad data format\r\n"
        };
        assert_eq!(a, expected, "{case}");
    }
    servers.check(2, "XINFO STREAM bad FULL");
}

#[test]
fn restored_stream_survives_kill_9() {
    if !e2e::require_redis() {
        return;
    }
    let mut reference = Server::redis(&["--enable-debug-command", "yes"]);
    let mut theirs = reference.raw();
    populate_groups(&mut theirs);
    let payload = dump(&mut theirs, "grouped");
    let expected = stream_view(&mut theirs, "grouped");
    reference.stop();

    let mut ours = Server::kvstore(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
    ]);
    let mut conn = ours.raw();
    assert_eq!(restore(&mut conn, "grouped", &payload, &[]), "+OK\r\n");
    drop(conn);
    ours.kill9();
    ours.restart();
    let mut conn = ours.raw();
    assert_eq!(stream_view(&mut conn, "grouped"), expected);
    assert_eq!(dump(&mut conn, "grouped"), payload);
}

/// A small deterministic generator (64-bit LCG), so a failing sequence replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One random stream write on `key` (ids explicit, so both servers take the same ones).
fn random_stream_write(
    rng: &mut Lcg,
    key: &str,
    next: &mut (u64, u64),
    ids: &[String],
) -> Vec<String> {
    let pick_id = |rng: &mut Lcg| -> String {
        if ids.is_empty() || rng.below(8) == 0 {
            format!("{}-{}", rng.below(next.0 + 2), rng.below(4))
        } else {
            ids[rng.below(ids.len() as u64) as usize].clone()
        }
    };
    let mut cmd: Vec<String> = vec![];
    match rng.below(20) {
        0..=13 => {
            cmd.extend(["XADD".into(), key.into()]);
            match rng.below(30) {
                0 => cmd.extend(["MAXLEN".into(), "~".into(), rng.below(300).to_string()]),
                1 => cmd.extend(["MAXLEN".into(), rng.below(300).to_string()]),
                2 => cmd.extend(["MINID".into(), "~".into(), pick_id(rng)]),
                _ => {}
            }
            if rng.below(3) == 0 {
                next.0 += 1 + rng.below(100_000);
                next.1 = 0;
            } else {
                next.1 += 1 + rng.below(3);
            }
            cmd.push(format!("{}-{}", next.0, next.1));
            let fields = ["a", "b", "c", "12", "-7", "field-with-a-longer-name"];
            let pairs = 1 + rng.below(4);
            let same = rng.below(2) == 0;
            for i in 0..pairs {
                let field = if same {
                    fields[i as usize]
                } else {
                    fields[rng.below(fields.len() as u64) as usize]
                };
                let value = match rng.below(10) {
                    0 => rng.below(128).to_string(),
                    1 => format!("-{}", rng.below(5000)),
                    2 => (rng.below(1 << 40) as i64 - (1 << 39)).to_string(),
                    3 => String::new(),
                    4 => "y".repeat(200 + rng.below(100) as usize),
                    5 if rng.below(10) == 0 => "z".repeat(4100 + rng.below(200) as usize),
                    _ => format!("v{}", rng.below(100_000)).repeat(1 + rng.below(8) as usize),
                };
                cmd.extend([field.to_string(), value]);
            }
        }
        14..=16 => {
            cmd.extend(["XDEL".into(), key.into()]);
            for _ in 0..1 + rng.below(4) {
                cmd.push(pick_id(rng));
            }
        }
        17 => {
            cmd.extend(["XTRIM".into(), key.into()]);
            if rng.below(2) == 0 {
                cmd.push("MAXLEN".into());
            } else {
                cmd.push("MINID".into());
            }
            let approx = rng.below(2) == 0;
            if approx {
                cmd.push("~".into());
            }
            cmd.push(if cmd[2] == "MAXLEN" {
                rng.below(300).to_string()
            } else {
                pick_id(rng)
            });
            if approx && rng.below(3) == 0 {
                cmd.extend(["LIMIT".into(), rng.below(50).to_string()]);
            }
        }
        18 => {
            let group = format!("g{}", rng.below(3));
            let sub = if rng.below(2) == 0 { "CREATE" } else { "SETID" };
            cmd.extend(["XGROUP".into(), sub.into(), key.into(), group, pick_id(rng)]);
            if rng.below(2) == 0 {
                cmd.extend(["ENTRIESREAD".into(), rng.below(40).to_string()]);
            }
        }
        _ => {
            let max_deleted = pick_id(rng);
            cmd.extend([
                "XSETID".into(),
                key.into(),
                format!("{}-{}", next.0, next.1),
                "ENTRIESADDED".into(),
                (ids.len() as u64 + rng.below(5)).to_string(),
                "MAXDELETEDID".into(),
                max_deleted,
            ]);
        }
    }
    cmd
}

/// Random XADD / XDEL / XTRIM / XGROUP / XSETID sequences under several node limits: the
/// stream dumps to Redis's bytes after every few writes, Redis's payload restored here dumps
/// back to the same bytes, and the restored copy, written to like the original, still does.
#[test]
fn random_stream_writes_dump_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    let limits = [
        ("100", "4096"),
        ("5", "0"),
        ("0", "300"),
        ("3", "150"),
        ("40", "1000"),
    ];
    for (round, (entries, bytes)) in limits.iter().enumerate() {
        for conn in [&mut ours, &mut theirs] {
            conn.cmd(&["FLUSHALL"]);
            conn.cmd(&["CONFIG", "SET", "stream-node-max-entries", entries]);
            conn.cmd(&["CONFIG", "SET", "stream-node-max-bytes", bytes]);
            conn.cmd(&[
                "CONFIG",
                "SET",
                "rdbcompression",
                if round % 2 == 0 { "yes" } else { "no" },
            ]);
        }
        let mut rng = Lcg(round as u64 + 1);
        let mut next = (1u64, 0u64);
        let mut ids: Vec<String> = Vec::new();
        for step in 0..800 {
            let cmd = random_stream_write(&mut rng, "r", &mut next, &ids);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (a, b) = (ours.cmd(&args), theirs.cmd(&args));
            assert_eq!(
                e2e::text(a.clone()),
                e2e::text(b),
                "round {round} step {step}: {cmd:?} (left: kvstore, right: redis-server)"
            );
            if cmd[0] == "XADD" && a[0] == b'$' {
                ids.push(String::from_utf8_lossy(&bulk(&a).unwrap()).into_owned());
            }
            // The same write on the last restored copy: a restored stream goes on as Redis's.
            let on_copy: Vec<&str> = args
                .iter()
                .map(|a| if *a == "r" { "copy" } else { a })
                .collect();
            assert_eq!(
                e2e::text(ours.cmd(&on_copy)),
                e2e::text(theirs.cmd(&on_copy)),
                "round {round} step {step}: {on_copy:?}"
            );
            if step % 10 == 9 && theirs.cmd(&["EXISTS", "copy"]) == b":1\r\n" {
                assert_eq!(
                    dump(&mut ours, "copy"),
                    dump(&mut theirs, "copy"),
                    "round {round} step {step}: the copy after writes"
                );
            }
            if step % 10 == 9 && theirs.cmd(&["EXISTS", "r"]) == b":1\r\n" {
                let expected = dump(&mut theirs, "r");
                assert_eq!(
                    dump(&mut ours, "r"),
                    expected,
                    "round {round} step {step}: DUMP after {cmd:?}"
                );
                for conn in [&mut ours, &mut theirs] {
                    assert_eq!(restore(conn, "copy", &expected, &["REPLACE"]), "+OK\r\n");
                }
                assert_eq!(
                    dump(&mut ours, "copy"),
                    expected,
                    "round {round} step {step}: copy"
                );
            }
        }
        servers.check(2, "XINFO STREAM r FULL\nXINFO STREAM copy FULL");
    }
}
