//! Keyspace notifications against redis-server 7.0 byte for byte: a subscriber on
//! `__key*__:*` hears the same messages, in the same order, while the same commands run on
//! both servers — one or more commands of every family, no-ops and errors included, lazy and
//! active expiry, key creation (`n`), read misses (`m`), other databases, blocked clients
//! served by a push, and the setting's own CONFIG GET form.

use std::time::{Duration, Instant};

use e2e::{Differential, RawConn, Server};

/// The end marker: a plain PUBLISH on `end`, which the subscriber also listens to, so it
/// knows it heard everything the script caused (no timing involved).
const END: &str = "end";

/// A subscriber on every keyspace and keyevent channel (and on [`END`]), in protocol `resp`.
fn subscriber(server: &Server, resp: u8) -> RawConn {
    let mut sub = server.raw();
    if resp == 3 {
        sub.cmd(&["HELLO", "3"]);
    }
    sub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    sub.cmd(&["SUBSCRIBE", END]);
    sub
}

/// Reads messages until the end marker; returns them as text.
fn hear_until_end(sub: &mut RawConn) -> Vec<String> {
    let mut heard = Vec::new();
    loop {
        let frame = e2e::text(sub.read_reply().expect("message"));
        if frame.contains("$7\r\nmessage\r\n$3\r\nend\r\n") {
            return heard;
        }
        heard.push(frame);
    }
}

/// Runs `script` (one command per line; `~` in front: the reply is not compared) on a client with `notify-keyspace-events` set to
/// `classes`, and returns each command's reply followed by everything a subscriber in
/// protocol `resp` heard.
fn transcript(server: &Server, classes: &str, resp: u8, script: &str) -> Vec<String> {
    let mut client = server.raw();
    client.cmd(&["FLUSHALL"]);
    let mut log = vec![e2e::text(client.cmd(&[
        "CONFIG",
        "SET",
        "notify-keyspace-events",
        classes,
    ]))];
    log.push(e2e::text(client.cmd(&[
        "CONFIG",
        "GET",
        "notify-keyspace-events",
    ])));
    let mut sub = subscriber(server, resp);
    for line in script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // `~`: a reply Redis leaves random (SPOP); only its events are compared.
        let (compare, line) = match line.strip_prefix('~') {
            Some(rest) => (false, rest.trim()),
            None => (true, line),
        };
        let args = e2e::words(line);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reply = e2e::text(client.cmd(&args));
        log.push(format!("{line} -> {}", if compare { &reply } else { "~" }));
    }
    client.cmd(&["PUBLISH", END, "x"]);
    log.extend(hear_until_end(&mut sub));
    log
}

/// [`transcript`] on both servers, for a RESP2 and a RESP3 subscriber.
fn same_events(classes: &str, script: &str) {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    for resp in [2, 3] {
        let ours = transcript(&d.ours, classes, resp, script);
        let theirs = transcript(&d.reference, classes, resp, script);
        assert_same(
            &ours,
            &theirs,
            &format!("classes {classes}, RESP{resp} subscriber"),
        );
    }
}

/// [`Differential::same_transcripts`] with [`assert_same`]'s report.
fn same_transcripts(d: &Differential, scenario: impl Fn(&Server) -> Vec<String>) {
    assert_same(&scenario(&d.ours), &scenario(&d.reference), "scenario");
}

/// Asserts equal transcripts, showing the first difference with some context.
fn assert_same(ours: &[String], theirs: &[String], what: &str) {
    if ours == theirs {
        return;
    }
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let from = at.saturating_sub(4);
    panic!(
        "{what}: transcripts differ at entry {at} ({} vs {} entries)\nkvstore:\n{:#?}\nredis-server:\n{:#?}",
        ours.len(),
        theirs.len(),
        &ours[from..ours.len().min(at + if std::env::var("FULL_DIFF").is_ok() { 10000 } else { 4 })],
        &theirs[from..theirs.len().min(at + if std::env::var("FULL_DIFF").is_ok() { 10000 } else { 4 })],
    );
}

#[test]
fn strings_and_generic_commands_raise_redis_events() {
    same_events(
        "KEA",
        r#"
        SET s 1
        SET s 2 EX 100
        SET s 3 KEEPTTL
        SET s 4 NX
        SET s 5 XX GET
        SETNX s 3
        SETNX s2 3
        SETEX s3 100 v
        PSETEX s4 100000 v
        GETSET s x
        GETDEL s
        GETDEL s
        GETEX s2 EX 100
        GETEX s2 PERSIST
        GETEX s2 PERSIST
        GETEX s2
        GETEX s2 PXAT 1
        MSET a 1 b 2
        MSETNX c 1 d 2
        MSETNX c 1 e 2
        INCR n
        DECR n
        INCRBY n 5
        DECRBY n 2
        INCRBYFLOAT n 1.5
        INCRBYFLOAT s3 1
        INCR s3
        APPEND a x
        APPEND newapp x
        SETRANGE a 3 zz
        SETRANGE a 0 ""
        SETRANGE sr 2 x
        DEL a b nosuch
        UNLINK c d
        EXPIRE e 100
        SET e v
        EXPIRE e 100
        EXPIRE e 200 NX
        PEXPIRE e 500000
        EXPIREAT e 1
        SET e v
        PERSIST e
        EXPIRE e 100
        PERSIST e
        RENAME e f
        SET g v
        RENAME f g
        SET f v
        RENAMENX g f
        RENAMENX g h
        RENAME nosuch x
        RENAME h h
        COPY h i
        COPY h i
        COPY h i REPLACE
        COPY h i DB 1
        COPY h h
        MOVE h 2
        MOVE i 1
        MOVE nosuch 1
        SELECT 1
        SET in1 v
        DEL in1 i
        SELECT 0
        FLUSHDB
        SET last v
        FLUSHALL
        "#,
    );
}

#[test]
fn collections_raise_redis_events() {
    same_events(
        "AKE",
        r#"
        LPUSH l a b c
        RPUSH l d
        LPUSHX l e
        RPUSHX nolist e
        LPOP l
        RPOP l 2
        LPOP l 0
        LSET l 0 z
        LINSERT l BEFORE z y
        LINSERT l BEFORE nope y
        LREM l 0 y
        LREM l 0 nope
        LPUSH l2 a b
        LMOVE l2 l3 LEFT RIGHT
        RPOPLPUSH l2 l3
        LMOVE l3 l3 LEFT LEFT
        LMPOP 2 nosuch l3 LEFT COUNT 5
        LTRIM l 0 0
        LTRIM l 5 10
        RPUSH l4 a
        LPOP l4
        HSET h f v g w
        HSET h f v2
        HSETNX h f v
        HSETNX h n v
        HMSET h a b
        HINCRBY h i 2
        HINCRBYFLOAT h fl 1.5
        HINCRBY h f 1
        HDEL h nosuch
        HDEL h f g
        HDEL h n a i fl
        SADD set a b c
        SADD set a
        SREM set a nosuch
        SREM set nosuch
        SMOVE set set2 b
        SMOVE set set2 nosuch
        SADD set3 b
        SMOVE set2 set3 b
        SPOP set
        SPOP set
        SADD set4 x y z 1
        SPOP set4 0
        ~SPOP set4 1
        ~SPOP set4 10
        SADD set5 1 2 3 4 5 6 7 8
        ~SPOP set5 2
        ~SPOP set5 5
        ~SPOP set5
        SADD s1 a b c
        SADD s2 b c d
        SINTERSTORE dst s1 s2
        SUNIONSTORE dst s1 s2
        SDIFFSTORE dst s1 s2
        SINTERSTORE dst s1 nosuch
        SINTERSTORE dst s1 nosuch
        SUNIONSTORE dst nosuch
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a
        ZADD z XX 5 a
        ZADD z NX 5 a
        ZADD z GT CH 1 b
        ZINCRBY z 1 b
        ZADD z INCR 1 c
        ZREM z nosuch
        ZREM z a
        ZADD z 1 a 2 d 7 e
        ZREMRANGEBYSCORE z 0 1
        ZREMRANGEBYSCORE z 100 200
        ZREMRANGEBYRANK z 0 0
        ZADD zl 0 a 0 b 0 c
        ZREMRANGEBYLEX zl [a [b
        ZREMRANGEBYLEX zl - +
        ZPOPMIN z
        ZPOPMAX z 5
        ZPOPMAX z
        ZADD z1 1 a 2 b
        ZADD z2 1 b 3 c
        ZUNIONSTORE zd 2 z1 z2
        ZINTERSTORE zd 2 z1 z2
        ZDIFFSTORE zd 2 z1 z2
        ZINTERSTORE zd 2 z1 nosuch
        ZRANGESTORE zr z1 0 -1
        ZRANGESTORE zr z1 5 10
        ZMPOP 2 nosuch z1 MIN
        ZMPOP 1 z1 MAX COUNT 9
        "#,
    );
}

#[test]
fn streams_bitmaps_hyperloglogs_geo_and_sort_raise_redis_events() {
    same_events(
        "AKE",
        r#"
        XADD x 1-1 f v
        XADD x MAXLEN 1 2-1 f v
        XADD x 1-1 f v
        XADD nostream NOMKSTREAM * f v
        XTRIM x MAXLEN 5
        XTRIM x MAXLEN 0
        XADD x 3-1 f v
        XDEL x 9-9
        XDEL x 3-1
        XADD x 4-1 f v
        XGROUP CREATE x g 0
        XGROUP CREATE x g 0
        XGROUP CREATE x2 g $ MKSTREAM
        XGROUP CREATECONSUMER x g c
        XGROUP CREATECONSUMER x g c
        XGROUP SETID x g 0
        XREADGROUP GROUP g c2 STREAMS x >
        XREADGROUP GROUP g c2 STREAMS x >
        XCLAIM x g c3 0 4-1
        XCLAIM x g c3 0 4-1
        XAUTOCLAIM x g c4 0 0
        XGROUP DELCONSUMER x g nobody
        XGROUP DELCONSUMER x g c
        XGROUP DESTROY x g
        XGROUP DESTROY x g
        XSETID x 10-1
        SETBIT bits 7 1
        SETBIT bits 7 1
        SETBIT bits 100 0
        BITFIELD bf SET u8 0 255
        BITFIELD bf GET u8 0
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 10
        BITOP OR bo bits bf
        BITOP AND bo nosuch1 nosuch2
        PFADD hll a b
        PFADD hll a
        PFADD hll2
        PFMERGE hll3 hll hll2
        GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD geo 13.361389 38.115556 Palermo
        GEOSEARCHSTORE gs geo FROMLONLAT 15 37 BYRADIUS 200 km
        GEORADIUS geo 15 37 200 km STORE gr
        GEORADIUSBYMEMBER geo Palermo 1 km STOREDIST gr
        GEOSEARCHSTORE gs nosuch FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCHSTORE gs geo FROMLONLAT 0 0 BYRADIUS 1 km
        RPUSH sl 3 1 2
        SORT sl STORE sorted
        SORT nosuch STORE sorted
        SORT nosuch STORE sorted
        "#,
    );
}

#[test]
fn scripts_and_transactions_raise_the_events_of_their_commands() {
    same_events(
        "KEA",
        r#"
        MULTI
        SET a 1
        INCR a
        DEL a
        EXEC
        EVAL "redis.call('set', KEYS[1], 'v'); redis.call('lpush', KEYS[2], 'x'); return redis.call('del', KEYS[1], KEYS[2])" 2 k l
        EVAL "redis.call('hset', KEYS[1], 'f', 'v'); return redis.pcall('incr', KEYS[1])" 1 h
        EVAL "redis.call('rpush', KEYS[1], 'a'); redis.call('publish', '__keyspace@0__:x', 'm'); return redis.call('lpop', KEYS[1])" 1 l
        MULTI
        SADD s a
        PUBLISH __keyevent@0__:y m
        SREM s a
        EXEC
        "#,
    );
}

#[test]
fn classes_select_what_is_published() {
    let script = r#"
        SET s v
        LPUSH l a
        SADD set m
        HSET h f v
        ZADD z 1 m
        XADD x 1-1 f v
        GET missing
        LRANGE nolist 0 -1
        EXISTS missing
        GET s
        DEL s l set h z x
        PEXPIREAT s 1
        "#;
    for classes in [
        "K$", "El", "Esz", "Kh", "Kgt", "En", "KEn", "Km", "Em$", "AKEmn", "g", "x", "",
    ] {
        same_events(classes, script);
    }
}

#[test]
fn read_misses_raise_keymiss_where_redis_counts_them() {
    same_events(
        "Km",
        r#"
        GET m1
        MGET m2 m3
        STRLEN m4
        GETRANGE m5 0 1
        EXISTS m6
        TYPE m7
        TTL m8
        PTTL m9
        EXPIRETIME m10
        OBJECT ENCODING m11
        DUMP m12
        LLEN m13
        LRANGE m14 0 1
        LINDEX m15 0
        LPOS m16 a
        HGET m17 f
        HGETALL m18
        HLEN m19
        HEXISTS m20 f
        HMGET m21 f
        HRANDFIELD m22
        SMEMBERS m23
        SISMEMBER m24 a
        SCARD m25
        SRANDMEMBER m26
        SINTER m27 m28
        SUNION m29
        ZCARD m30
        ZSCORE m31 a
        ZRANGE m32 0 1
        ZRANK m33 a
        ZCOUNT m34 0 1
        XLEN m35
        XRANGE m36 - +
        GETBIT m37 0
        BITCOUNT m38
        PFCOUNT m39
        GEOPOS m40 a
        SORT_RO m41
        LCS m42 m43
        TOUCH m44
        GETDEL m45
        GETEX m46
        GETSET m47 v
        INCR m48
        DEL m48
        RENAME m49 m50
        COPY m51 m52
        APPEND m53 x
        SETRANGE m54 0 x
        INCRBYFLOAT m55 1
        HSET m56 f v
        SADD m57 a
        LPUSH m58 a
        ZADD m59 1 a
        XADD m60 1-1 f v
        SETBIT m61 0 1
        PFADD m62 a
        LPOP m63
        SPOP m64
        ZPOPMIN m65
        HDEL m66 f
        SREM m67 a
        EXPIRE m68 10
        PERSIST m69
        SINTERSTORE d m70
        SMOVE m71 d a
        LMOVE m72 d LEFT LEFT
        RPOPLPUSH m73 d
        BITOP AND d m74
        PFMERGE d m75
        SORT m76 STORE d
        GEOADD m77 1 1 a
        ZINCRBY m78 1 a
        HINCRBYFLOAT m79 f 1
        LTRIM m80 0 1
        LSET m81 0 a
        LINSERT m82 BEFORE a b
        LREM m83 0 a
        ZUNIONSTORE d 1 m84
        ZRANGESTORE d m85 0 1
        XTRIM m86 MAXLEN 1
        XDEL m87 1-1
        XGROUP CREATE m88 g $
        XREAD STREAMS m89 0
        GETEX m90 EX 10
        MSETNX m91 v
        SETNX m92 v
        HSETNX m93 f v
        BITFIELD m94 GET u8 0
        BITFIELD m95 SET u8 0 1
        GEOSEARCHSTORE d m96 FROMLONLAT 0 0 BYRADIUS 1 km
        SET present v
        GET present
        "#,
    );
}

#[test]
fn the_setting_reads_back_in_redis_form() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        CONFIG SET notify-keyspace-events KEA
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events g$lshzxetdKE
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Elm
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events nmEKA
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events KEq
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events ""
        CONFIG GET notify-keyspace-events
        "#,
    );
}

#[test]
fn the_config_file_setting_publishes_from_the_start() {
    let Some(d) = Differential::start(&["--notify-keyspace-events", "Eg$"]) else {
        return;
    };
    same_transcripts(&d, |server| {
        let mut sub = subscriber(server, 2);
        let mut client = server.raw();
        let mut log = vec![e2e::text(client.cmd(&[
            "CONFIG",
            "GET",
            "notify-keyspace-events",
        ]))];
        client.cmd(&["SET", "k", "v"]);
        client.cmd(&["DEL", "k"]);
        client.cmd(&["PUBLISH", END, "x"]);
        log.extend(hear_until_end(&mut sub));
        log
    });
}

/// Waits until `key` is gone (the active sweep or a lazy access removed it), checking with
/// a command that touches no key (DBSIZE counts keys whose time has come until they go).
fn wait_until_gone(client: &mut RawConn, key: &str) {
    let started = Instant::now();
    // SCAN visits keys without deleting the ones that are still live.
    while e2e::text(client.cmd(&["DBSIZE"])) != ":0\r\n" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{key} never expired"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn expiry_raises_expired_lazily_and_actively() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    same_transcripts(&d, |server| {
        let mut client = server.raw();
        client.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = subscriber(server, 2);
        let mut log = Vec::new();
        // Lazily: the key's time has passed when GET looks it up, whether or not the sweep
        // got there first, the subscriber hears `expired` once and GET answers nil.
        client.cmd(&["SET", "lazy", "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(20));
        log.push(e2e::text(client.cmd(&["GET", "lazy"])));
        // Actively: nobody touches the key; the sweep deletes it.
        client.cmd(&["SET", "active", "v", "PX", "30"]);
        wait_until_gone(&mut client, "active");
        client.cmd(&["PUBLISH", END, "x"]);
        log.extend(hear_until_end(&mut sub));
        log
    });
}

#[test]
fn blocked_clients_served_by_a_push_raise_the_pop_events() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    same_transcripts(&d, |server| {
        let mut client = server.raw();
        client.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = subscriber(server, 3);
        let mut waiter = server.raw();
        let mut log = Vec::new();
        e2e::send_command(&mut waiter, &["BLPOP", "q", "0"]);
        e2e::wait_blocked(&mut client, 1);
        log.push(e2e::text(client.cmd(&["RPUSH", "q", "a"])));
        log.push(e2e::text(waiter.read_reply().expect("served")));
        e2e::send_command(&mut waiter, &["BLMOVE", "q2", "dst", "LEFT", "RIGHT", "0"]);
        e2e::wait_blocked(&mut client, 1);
        log.push(e2e::text(client.cmd(&["LPUSH", "q2", "a", "b"])));
        log.push(e2e::text(waiter.read_reply().expect("served")));
        e2e::send_command(&mut waiter, &["BZPOPMIN", "zq", "0"]);
        e2e::wait_blocked(&mut client, 1);
        log.push(e2e::text(client.cmd(&["ZADD", "zq", "1", "m"])));
        log.push(e2e::text(waiter.read_reply().expect("served")));
        client.cmd(&["XGROUP", "CREATE", "xs", "g", "$", "MKSTREAM"]);
        e2e::send_command(
            &mut waiter,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "xs",
                ">",
            ],
        );
        e2e::wait_blocked(&mut client, 1);
        log.push(e2e::text(client.cmd(&["XADD", "xs", "1-1", "f", "v"])));
        log.push(e2e::text(waiter.read_reply().expect("served")));
        client.cmd(&["PUBLISH", END, "x"]);
        log.extend(hear_until_end(&mut sub));
        log
    });
}

#[test]
fn restore_raises_restore_and_del() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    same_transcripts(&d, |server| {
        let mut client = server.raw();
        client.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        client.cmd(&["SET", "k", "v"]);
        let dump = client.cmd(&["DUMP", "k"]);
        // The payload of `$<len>\r\n<payload>\r\n`.
        let start = dump.iter().position(|&b| b == b'\n').expect("header") + 1;
        let payload = &dump[start..dump.len() - 2];
        let mut sub = subscriber(server, 2);
        let mut log = Vec::new();
        for args in [
            &[&b"RESTORE"[..], b"r", b"0", payload][..],
            &[b"RESTORE", b"r", b"0", payload, b"REPLACE"],
            &[b"RESTORE", b"r", b"1", payload, b"REPLACE", b"ABSTTL"],
            &[b"RESTORE", b"r", b"1", payload, b"REPLACE", b"ABSTTL"],
            &[b"RESTORE", b"r", b"100000", payload],
        ] {
            log.push(e2e::text(client.cmd_bytes(args)));
        }
        client.cmd(&["PUBLISH", END, "x"]);
        log.extend(hear_until_end(&mut sub));
        log
    });
}
