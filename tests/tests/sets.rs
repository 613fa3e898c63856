//! Set commands, compared byte for byte with redis-server in RESP2 and RESP3. Integer sets
//! (intset) answer in ascending order in both servers, so they are compared exactly;
//! hashtable-encoded ones (`^` lines) as unordered collections, and random commands by
//! their properties.

use std::collections::BTreeSet;

use e2e::{elements, Differential, Server};

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}

#[test]
fn membership_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SADD s 3 1 2 3
        SADD s 2
        SMEMBERS s
        SCARD s
        SISMEMBER s 1
        SISMEMBER s 01
        SISMEMBER s 9
        SMISMEMBER s 1 9 3 x
        SMISMEMBER nokey a b
        SISMEMBER nokey a
        SCARD nokey
        SMEMBERS nokey
        SREM s 1 9
        SREM s x
        SMEMBERS s
        OBJECT ENCODING s
        SADD s -9223372036854775808 9223372036854775807 -1 0
        SMEMBERS s
        SADD s 9223372036854775808
        OBJECT ENCODING s
        ^ SMEMBERS s
        SADD w a
        SADD w b c a
        ^ SMEMBERS w
        OBJECT ENCODING w
        SREM w a b c
        EXISTS w
        SREM nokey a
        SADD s
        SREM s
        SADD e ""
        SISMEMBER e ""
        SMEMBERS e
        TYPE e
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
        SET str v
        SADD s a
        SADD str a
        SREM str a
        SMEMBERS str
        SISMEMBER str a
        SMISMEMBER str a
        SCARD str
        SPOP str
        SPOP str 2
        SPOP str -2
        SRANDMEMBER str
        SRANDMEMBER str 2
        SMOVE str s a
        SMOVE s str a
        SMOVE nokey str a
        SMOVE s str zz
        SINTER s str
        SINTER nokey str
        SINTER str nokey
        SINTERCARD 2 s str
        SINTERSTORE d s str
        SUNION s str
        SUNIONSTORE d s str
        SDIFF s str
        SDIFF nokey str
        SDIFFSTORE d s str
        SSCAN str 0
        HSET s f v
        GET s
        "#,
    );
}

#[test]
fn encodings_follow_the_intset_threshold() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SADD i 1 2 3
        OBJECT ENCODING i
        SADD t a
        OBJECT ENCODING t
        SADD t 1
        OBJECT ENCODING t
        SADD lead 01
        OBJECT ENCODING lead
        SADD plus +1
        OBJECT ENCODING plus
        SADD neg -0
        OBJECT ENCODING neg
        CONFIG SET set-max-intset-entries 3
        SADD i 2
        OBJECT ENCODING i
        SADD i 4
        OBJECT ENCODING i
        SREM i 1 2 3
        OBJECT ENCODING i
        SADD j 1 2 3 4
        OBJECT ENCODING j
        CONFIG SET set-max-intset-entries 0
        SADD z 1
        OBJECT ENCODING z
        CONFIG SET set-max-intset-entries 512
        SUNIONSTORE u t
        OBJECT ENCODING u
        SADD both 5 x
        SDIFFSTORE d both t
        OBJECT ENCODING d
        ^ SMEMBERS d
        SMOVE both moved 5
        OBJECT ENCODING moved
        SMOVE both moved2 x
        OBJECT ENCODING moved2
        "#,
    );
}

#[test]
fn algebra_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SADD a 1 2 3 4 5
        SADD b 4 5 6 7
        SADD c 5 7 9
        SADD w x y 5
        SINTER a b
        SINTER a b c
        SINTER a nokey
        SINTER nokey a
        SINTER a a
        SINTER a w
        SUNION a b c
        SUNION a nokey
        SUNION nokey
        ^ SUNION a w
        SDIFF a b
        SDIFF a b c
        SDIFF a a
        SDIFF a nokey b
        SDIFF nokey a
        SDIFF a w
        ^ SDIFF w a
        SINTERSTORE d a b
        SMEMBERS d
        OBJECT ENCODING d
        SUNIONSTORE d a c
        SMEMBERS d
        SDIFFSTORE d a c
        SMEMBERS d
        SINTERSTORE d a nokey
        EXISTS d
        SET d str
        EXPIRE d 100
        SUNIONSTORE d a
        TTL d
        TYPE d
        SDIFFSTORE d a a
        EXISTS d
        SUNIONSTORE d nokey
        EXISTS d
        SINTERSTORE a a b
        SMEMBERS a
        SINTER
        SINTERSTORE d
        SUNIONSTORE d
        SINTERCARD 1 a
        SINTERCARD 2 a b
        SINTERCARD 3 a b c
        SINTERCARD 2 a nokey
        SINTERCARD 2 b c LIMIT 1
        SINTERCARD 2 b c LIMIT 0
        SINTERCARD 2 b c LIMIT 100
        SINTERCARD 0 a
        SINTERCARD -1 a
        SINTERCARD x a
        SINTERCARD 3 a b
        SINTERCARD 1 a LIMIT
        SINTERCARD 1 a LIMIT -1
        SINTERCARD 1 a LIMIT x
        SINTERCARD 1 a BOGUS 1
        SINTERCARD 1 a b
        SINTERCARD 1
        "#,
    );
}

#[test]
fn smove_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SADD src 1 2 x
        SMOVE src dst 1
        SMOVE src dst 1
        SMOVE src dst nope
        SMEMBERS dst
        SMOVE src src 2
        SMOVE src src nope
        SMOVE nokey dst 1
        SADD dst 2
        SMOVE src dst 2
        SMEMBERS dst
        SMOVE src dst x
        EXISTS src
        ^ SMEMBERS dst
        OBJECT ENCODING dst
        SMOVE src dst
        "#,
    );
}

#[test]
fn spop_and_srandmember_arguments_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SPOP nokey
        SPOP nokey 3
        SPOP nokey 0
        SPOP nokey -1
        SPOP nokey x
        SRANDMEMBER nokey
        SRANDMEMBER nokey 3
        SRANDMEMBER nokey -3
        SADD s 5 1 3
        SPOP s 0
        SPOP s -1
        SPOP s x
        SPOP s 1 2
        SRANDMEMBER s 0
        SRANDMEMBER s 3
        SRANDMEMBER s 100
        SRANDMEMBER s 9223372036854775807
        SRANDMEMBER s -9223372036854775808
        SRANDMEMBER s x
        SRANDMEMBER s 1 2
        SPOP s 3
        EXISTS s
        SADD s 5 1 3
        SPOP s 100
        EXISTS s
        SADD one m
        SPOP one
        EXISTS one
        SADD one m
        SRANDMEMBER one
        SRANDMEMBER one -3
        SRANDMEMBER one 1
        SPOP one 1
        EXISTS one
        "#,
    );
}

#[test]
fn spop_and_srandmember_return_members_as_asked() {
    for (max, resp3) in [("512", false), ("512", true), ("4", false), ("4", true)] {
        let server = Server::kvstore(&["--set-max-intset-entries", max]);
        let mut conn = server.raw();
        if resp3 {
            conn.cmd(&["HELLO", "3"]);
        }
        let all: BTreeSet<Vec<u8>> = (0..10).map(|i| bulk(&i.to_string())).collect();
        let fill = |conn: &mut e2e::RawConn| {
            for i in 0..10 {
                conn.cmd(&["SADD", "s", &i.to_string()]);
            }
        };
        fill(&mut conn);
        for count in [1i64, 3, 9, 10, 11, -3, -25] {
            let got = elements(&conn.cmd(&["SRANDMEMBER", "s", &count.to_string()]));
            let expected = if count > 0 { count.min(10) } else { -count };
            assert_eq!(got.len() as i64, expected, "SRANDMEMBER {count}");
            assert!(got.iter().all(|m| all.contains(m)));
            if count > 0 {
                assert_eq!(
                    got.iter().collect::<BTreeSet<_>>().len(),
                    got.len(),
                    "distinct"
                );
            }
        }
        for count in [1, 3, 8, 9, 10, 11] {
            conn.cmd(&["DEL", "s"]);
            fill(&mut conn);
            let popped = elements(&conn.cmd(&["SPOP", "s", &count.to_string()]));
            let popped: BTreeSet<_> = popped.into_iter().collect();
            assert_eq!(
                popped.len(),
                count.min(10),
                "SPOP {count}: distinct members"
            );
            let rest: BTreeSet<_> = elements(&conn.cmd(&["SMEMBERS", "s"]))
                .into_iter()
                .collect();
            assert!(popped.is_disjoint(&rest));
            assert_eq!(popped.union(&rest).cloned().collect::<BTreeSet<_>>(), all);
        }
        let mut seen = BTreeSet::new();
        conn.cmd(&["DEL", "s"]);
        fill(&mut conn);
        for _ in 0..200 {
            seen.insert(conn.cmd(&["SRANDMEMBER", "s"]));
        }
        assert_eq!(seen.len(), 10, "every member comes up");
        while conn.cmd(&["SCARD", "s"]) != b":0\r\n" {
            let m = conn.cmd(&["SPOP", "s"]);
            assert!(all.contains(&m));
        }
        assert_eq!(conn.cmd(&["EXISTS", "s"]), b":0\r\n");
    }
}

#[test]
fn spop_keeps_the_encoding_redis_gives_the_rest() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    // Popping most of a hashtable set rebuilds it from what stays: all integers -> intset.
    d.check_both(
        r#"
        SADD s x 1 2 3 4 5 6 7 8 9
        SREM s x
        OBJECT ENCODING s
        ~SPOP s 8
        OBJECT ENCODING s
        SCARD s
        "#,
    );
}

#[test]
fn sscan_of_small_sets_and_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SSCAN nokey 0
        SSCAN nokey 0 BOGUS
        SSCAN nokey x
        SADD s 10 2 33 4
        SSCAN s 0
        SSCAN s 0 COUNT 1
        SSCAN s 0 MATCH 3*
        SSCAN s 0 MATCH nothing
        SSCAN s 0 TYPE set
        SSCAN s 0 COUNT 0
        SSCAN s 0 COUNT x
        SSCAN s 0 MATCH
        SSCAN s x
        SSCAN s
        "#,
    );
}

#[test]
fn sscan_of_a_hashtable_returns_every_member() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    for i in 0..1000 {
        conn.cmd(&["SADD", "s", &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut calls = 0;
    loop {
        let reply = conn.cmd(&["SSCAN", "s", &cursor, "COUNT", "50"]);
        let parts = elements(&reply);
        let next = String::from_utf8(parts[0].clone()).unwrap();
        cursor = next.split("\r\n").nth(1).unwrap().to_string();
        // Members added during the scan may or may not be returned.
        conn.cmd(&["SADD", "s", &format!("new{calls}")]);
        seen.extend(elements(&parts[1]));
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 1);
    for i in 0..1000 {
        assert!(seen.contains(&bulk(&format!("m{i}"))), "m{i} missed");
    }
}

#[test]
fn generic_key_commands_work_on_sets() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SADD s 1 2
        RENAME s s2
        SMEMBERS s2
        COPY s2 s3
        SADD s3 3
        SMEMBERS s2
        SMEMBERS s3
        MOVE s3 1
        EXPIRE s2 100
        TTL s2
        SCAN 0 TYPE set
        TYPE s2
        DEL s2
        SADD e a
        PEXPIREAT e 1
        SMEMBERS e
        "#,
    );
}

#[test]
fn sets_survive_restart_with_encoding_and_ttl() {
    let mut server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["SADD", "ints", "3", "-1", "2"]);
    conn.cmd(&["SADD", "strs", "a", "b", "1"]);
    conn.cmd(&["SADD", "ttl", "m"]);
    conn.cmd(&["EXPIRE", "ttl", "1000"]);
    assert!(server.stop().success());
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["SMEMBERS", "ints"]),
        b"*3\r\n$2\r\n-1\r\n$1\r\n2\r\n$1\r\n3\r\n"
    );
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "ints"]), bulk("intset"));
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "strs"]), bulk("hashtable"));
    assert_eq!(conn.cmd(&["SCARD", "strs"]), b":3\r\n");
    let ttl = String::from_utf8(conn.cmd(&["TTL", "ttl"])).unwrap();
    assert!(ttl == ":1000\r\n" || ttl == ":999\r\n", "{ttl}");
}

#[test]
fn set_writes_survive_kill_9_under_appendfsync_always() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    for i in 0..50 {
        conn.cmd(&["SADD", "s", &i.to_string(), &format!("m{i}")]);
    }
    conn.cmd(&["SREM", "s", "0"]);
    conn.cmd(&["SUNIONSTORE", "u", "s"]);
    server.kill9();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SCARD", "s"]), b":99\r\n");
    assert_eq!(conn.cmd(&["SCARD", "u"]), b":99\r\n");
    assert_eq!(conn.cmd(&["SISMEMBER", "s", "0"]), b":0\r\n");
}

/// A small deterministic generator (xorshift), so a failing script can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn random_scripts_of_hash_and_set_commands_match_redis() {
    let Some(d) = Differential::start(&[
        "--set-max-intset-entries",
        "6",
        "--hash-max-listpack-entries",
        "6",
    ]) else {
        return;
    };
    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);
    let mut script = String::new();
    for _ in 0..600 {
        let key = |rng: &mut Lcg| ["s1", "s2", "s3", "h1", "h2"][rng.below(5) as usize];
        let member = |rng: &mut Lcg| {
            // Mostly integers (intset), sometimes a string (hashtable).
            if rng.below(8) == 0 {
                format!("m{}", rng.below(4))
            } else {
                format!("{}", rng.below(12) as i64 - 3)
            }
        };
        let (a, b, c) = (key(&mut rng), key(&mut rng), key(&mut rng));
        let (m, n) = (member(&mut rng), member(&mut rng));
        let line = match rng.below(22) {
            0..=2 => format!("SADD {a} {m} {n}"),
            3 | 4 => format!("SREM {a} {m} {n}"),
            5 => format!("^ SMEMBERS {a}"),
            6 => format!("^ SINTER {a} {b}"),
            7 => format!("^ SUNION {a} {b} {c}"),
            8 => format!("^ SDIFF {a} {b}"),
            9 => format!("SINTERSTORE {a} {b} {c}"),
            10 => format!("SUNIONSTORE {a} {b}"),
            11 => format!("SDIFFSTORE {a} {b} {c}"),
            12 => format!("SMOVE {a} {b} {m}"),
            13 => format!("SMISMEMBER {a} {m} {n}"),
            14 => format!("OBJECT ENCODING {a}"),
            15 => format!("SINTERCARD 2 {a} {b}"),
            16 | 17 => format!("HSET {a} f{m} {n}"),
            18 => format!("HDEL {a} f{m} f{n}"),
            19 => format!("HINCRBY {a} f{m} {n}"),
            20 => format!("^^ HGETALL {a}"),
            _ => format!("SCARD {a}"),
        };
        script.push_str(&line);
        script.push('\n');
        if rng.below(10) == 0 {
            script.push_str(&format!("TYPE {a}\nEXISTS {a}\nHLEN {a}\n"));
        }
    }
    d.check_both(&script);
}
