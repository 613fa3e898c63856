//! The generic key commands (DEL, EXISTS, EXPIRE and TTL families, KEYS, SCAN, RENAME, COPY,
//! MOVE, OBJECT, ...) against redis-server 7.0 byte for byte, plus the kvstore-only behaviour
//! that depends on the clock or on iteration order: TTL ranges, lazy and active expiry, full
//! SCAN iterations, and expiry times surviving a restart.

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::{Differential, Server};

/// Runs `script` on fresh servers once per protocol version and compares every reply.
///
/// Fresh servers rather than [`Differential::check_both`]: every one of the 16 databases
/// starts empty (the scenarios reach other databases with MOVE and COPY ... DB, without
/// SELECT or FLUSHALL).
fn check(script: &str) {
    for resp in [2, 3] {
        let Some(servers) = Differential::start(&[]) else {
            return;
        };
        servers.check(resp, script);
    }
}

/// Sends the same binary commands to both servers (in RESP2) and compares every reply.
fn check_bytes(commands: &[&[&[u8]]]) {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    for args in commands {
        assert_eq!(
            String::from_utf8_lossy(&ours.cmd_bytes(args)),
            String::from_utf8_lossy(&theirs.cmd_bytes(args)),
            "reply to {args:?} differs (left: kvstore, right: redis-server)"
        );
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Every key a complete SCAN with these options returns, and how many replies it took.
fn full_scan(con: &mut redis::Connection, options: &[&str]) -> (Vec<Vec<u8>>, usize) {
    let (mut cursor, mut keys, mut calls) = ("0".to_string(), Vec::new(), 0);
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(options);
        let (next, batch): (String, Vec<Vec<u8>>) = query(con, &args);
        keys.extend(batch);
        calls += 1;
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
}

/// Both servers loaded with the same 300 keys: `user:0..99`, `item:0..99`, `x0..99`.
fn loaded_pair() -> Option<(Differential, redis::Connection, redis::Connection)> {
    let servers = Differential::start(&[])?;
    let (mut ours, mut theirs) = (servers.ours.client(), servers.reference.client());
    for con in [&mut ours, &mut theirs] {
        for i in 0..100 {
            for prefix in ["user:", "item:", "x"] {
                let () = query(con, &["SET", &format!("{prefix}{i}"), "v"]);
            }
        }
    }
    Some((servers, ours, theirs))
}

fn sorted(keys: Vec<Vec<u8>>) -> BTreeSet<Vec<u8>> {
    keys.into_iter().collect()
}

#[test]
fn del_and_unlink_count_the_keys_that_existed() {
    check(
        r#"
        SET a 1
        SET b 2
        DEL a a missing
        EXISTS a
        UNLINK b missing b
        EXISTS b
        DEL missing
        SET "" empty
        DEL ""
        EXISTS ""
        DEL
        UNLINK
        "#,
    );
}

#[test]
fn exists_and_touch_count_repeats() {
    check(
        r#"
        SET a 1
        EXISTS a a a missing
        EXISTS missing
        TOUCH a a missing
        TOUCH missing
        EXISTS
        TOUCH
        "#,
    );
}

#[test]
fn type_names_strings_and_missing_keys() {
    check(
        r#"
        TYPE missing
        SET s v
        TYPE s
        SET n 12
        TYPE n
        TYPE
        TYPE s extra
        "#,
    );
}

#[test]
fn expire_family_sets_relative_and_absolute_times() {
    check(
        r#"
        SET k v
        EXPIRE missing 100
        PEXPIRE missing 100
        EXPIREAT missing 4102444800
        PEXPIREAT missing 4102444800000
        EXPIRE k 100
        TTL k
        ~PTTL k
        PEXPIRE k 200000
        TTL k
        PEXPIRE k 1200
        TTL k
        EXPIREAT k 4102444800
        EXPIRETIME k
        PEXPIREAT k 4102444800999
        PEXPIRETIME k
        expire k 50
        TTL k
        "#,
    );
}

#[test]
fn expire_options_nx_xx_gt_lt() {
    check(
        r#"
        SET k v
        EXPIRE k 100 XX
        EXPIRE k 100 GT
        EXPIRE k 100 NX
        EXPIRE k 200 nx
        EXPIRE k 100 nx NX
        TTL k
        EXPIRE k 50 GT
        EXPIRE k 200 gt
        TTL k
        EXPIRE k 300 LT
        EXPIRE k 100 lt
        TTL k
        EXPIRE k 150 XX GT
        EXPIRE k 120 xx lt
        TTL k
        PERSIST k
        EXPIRE k 100 LT
        TTL k
        PEXPIRE k 300000 GT
        TTL k
        # An equal time is neither greater nor less; only absolute times pin that down.
        EXPIREAT k 4102444800
        EXPIREAT k 4102444800 GT
        EXPIREAT k 4102444800 LT
        PEXPIREAT k 4102444800000 XX GT
        PEXPIREAT k 4102444800001 GT XX
        PEXPIRETIME k
        EXPIREAT k 4102444700 LT
        EXPIRETIME k
        EXPIRE missing 100 NX
        EXPIRE missing 100 LT
        "#,
    );
}

#[test]
fn expire_errors_and_overflow() {
    check(
        r#"
        SET k v
        EXPIRE k 100 NX XX
        EXPIRE k 100 NX GT
        EXPIRE k 100 lt nx
        EXPIRE k 100 GT LT
        EXPIRE k 100 XX GT LT
        EXPIRE k 100 foo
        EXPIRE k 100 NX XX foo
        EXPIRE k abc
        EXPIRE k abc foo
        EXPIRE k abc NX XX
        EXPIRE k 1.5
        EXPIRE k ""
        EXPIRE k 9223372036854775807
        EXPIRE k 9223372036854776
        EXPIRE k -9223372036854776
        EXPIRE missing 9223372036854775807
        expire k 9223372036854775807
        ExPiRe k 9223372036854775807
        PEXPIRE k 9223372036854775807
        PEXPIRE k 9223372036854775808
        EXPIREAT k 9223372036854776
        EXPIREAT k 9223372036854775808
        PEXPIREAT k 9223372036854775808
        TTL k
        EXPIRE k
        EXPIRE
        PEXPIRE k
        EXPIREAT k
        PEXPIREAT k
        "#,
    );
}

#[test]
fn expire_in_the_past_deletes_the_key() {
    check(
        r#"
        SET a v
        EXPIRE a -1
        EXISTS a
        SET a v
        EXPIRE a 0
        EXISTS a
        SET a v
        PEXPIRE a 0
        EXISTS a
        SET a v
        EXPIREAT a 1
        EXISTS a
        SET a v
        PEXPIREAT a -100
        TTL a
        SET a v
        EXPIRE a -9223372036854775
        TTL a
        SET a v
        PEXPIRE a -9223372036854775808
        TTL a
        SET a v
        EXPIRE a 100
        EXPIRE a -5 GT
        TTL a
        EXPIRE a -5 LT
        TTL a
        SET a v
        EXPIRE a -5 XX
        EXISTS a
        EXPIRE a -5 NX
        EXISTS a
        "#,
    );
}

#[test]
fn ttl_family_reports_missing_persistent_and_rounded_times() {
    check(
        r#"
        TTL missing
        PTTL missing
        EXPIRETIME missing
        PEXPIRETIME missing
        SET k v
        TTL k
        PTTL k
        EXPIRETIME k
        PEXPIRETIME k
        PEXPIREAT k 4102444800123
        EXPIRETIME k
        PEXPIRETIME k
        PEXPIREAT k 4102444800499
        EXPIRETIME k
        PEXPIREAT k 4102444800500
        EXPIRETIME k
        PEXPIREAT k 9223372036854775807
        EXPIRETIME k
        PEXPIRETIME k
        ~TTL k
        EXPIRE k 100
        TTL k
        ~PTTL k
        ~EXPIRETIME k
        ~PEXPIRETIME k
        TTL
        TTL k k
        PTTL
        EXPIRETIME
        PEXPIRETIME k k
        "#,
    );
}

#[test]
fn persist_removes_only_an_existing_expiry() {
    check(
        r#"
        PERSIST missing
        SET k v
        PERSIST k
        EXPIRE k 100
        PERSIST k
        TTL k
        PERSIST k
        PERSIST
        PERSIST k k
        "#,
    );
}

#[test]
fn keys_lists_matching_keys() {
    check(
        r#"
        KEYS *
        SET only v
        KEYS *
        KEYS only
        KEYS nope
        SET "" e
        KEYS ""
        KEYS
        KEYS a b
        "#,
    );
}

#[test]
fn keys_star_returns_every_key_like_redis() {
    let Some((_servers, mut ours, mut theirs)) = loaded_pair() else {
        return;
    };
    let ours: Vec<Vec<u8>> = query(&mut ours, &["KEYS", "*"]);
    let theirs: Vec<Vec<u8>> = query(&mut theirs, &["KEYS", "*"]);
    assert_eq!(ours.len(), 300);
    assert_eq!(sorted(ours), sorted(theirs));
}

#[test]
fn keys_and_scan_match_glob_patterns_like_redis() {
    let Some((_servers, mut ours, mut theirs)) = loaded_pair() else {
        return;
    };
    for pattern in [
        "user:*", "*:1?", "x[1-3]", "x[^0-8]*", "*9", "item:\\*", "[ux]*0",
    ] {
        let a: Vec<Vec<u8>> = query(&mut ours, &["KEYS", pattern]);
        let b: Vec<Vec<u8>> = query(&mut theirs, &["KEYS", pattern]);
        assert_eq!(sorted(a), sorted(b), "KEYS {pattern}");
        let (a, _) = full_scan(&mut ours, &["MATCH", pattern, "COUNT", "7"]);
        let (b, _) = full_scan(&mut theirs, &["MATCH", pattern, "COUNT", "7"]);
        assert_eq!(sorted(a), sorted(b), "SCAN MATCH {pattern}");
    }
}

#[test]
fn scan_rejects_bad_cursors_and_options() {
    check(
        r#"
        SCAN
        SCAN abc
        SCAN " 0"
        SCAN "0 "
        SCAN 0x1
        SCAN 1.5
        SCAN -
        SCAN +
        SCAN 18446744073709551616
        SCAN abc COUNT 0
        SCAN 0 COUNT 0
        SCAN 0 COUNT -1
        SCAN 0 COUNT abc
        SCAN 0 COUNT 9223372036854775808
        SCAN 0 COUNT
        SCAN 0 MATCH
        SCAN 0 TYPE
        SCAN 0 FOO bar
        SCAN 0 COUNT 10 extra
        SCAN 0 COUNT 0 MATCH
        SCAN 0 COUNT abc MATCH
        SCAN 0 MATCH * COUNT 0
        "#,
    );
}

#[test]
fn scan_accepts_what_strtoul_accepts() {
    check(
        r#"
        SCAN 0
        SCAN ""
        SCAN +0
        SCAN -0
        SCAN -1
        SCAN 18446744073709551615
        SCAN 12345
        SCAN 0 COUNT 9223372036854775807
        SCAN 0 count 5 COUNT 10 match * MATCH * type string
        "#,
    );
}

#[test]
fn scan_filters_a_single_key_by_match_and_type() {
    check(
        r#"
        SET k v
        SCAN 0
        SCAN 0 MATCH k
        SCAN 0 MATCH nope
        SCAN 0 MATCH *
        SCAN 0 TYPE string
        SCAN 0 TYPE STRING
        SCAN 0 TYPE hash
        SCAN 0 TYPE none
        SCAN 0 TYPE nonsense
        SCAN 0 MATCH k TYPE string COUNT 100
        SCAN 0 MATCH nope TYPE string
        "#,
    );
}

#[test]
fn full_scan_returns_every_key_once() {
    let Some((_servers, mut ours, mut theirs)) = loaded_pair() else {
        return;
    };
    let (a, calls) = full_scan(&mut ours, &["COUNT", "7"]);
    assert_eq!(a.len(), 300, "a scan without writes repeats no key");
    assert!(calls >= 300 / 7, "COUNT bounds each reply ({calls} calls)");
    let (b, _) = full_scan(&mut theirs, &["COUNT", "7"]);
    assert_eq!(sorted(a), sorted(b));

    let (a, _) = full_scan(&mut ours, &["TYPE", "string", "MATCH", "*"]);
    let (b, _) = full_scan(&mut theirs, &["TYPE", "string", "MATCH", "*"]);
    assert_eq!(a.len(), 300);
    assert_eq!(sorted(a), sorted(b));

    let (a, _) = full_scan(&mut ours, &["TYPE", "hash", "COUNT", "50"]);
    assert!(a.is_empty());
}

#[test]
fn full_scan_with_large_count_returns_everything_at_once() {
    let Some((_servers, mut ours, _)) = loaded_pair() else {
        return;
    };
    let (keys, calls) = full_scan(&mut ours, &["COUNT", "1000"]);
    assert_eq!((keys.len(), calls), (300, 1));
}

#[test]
fn randomkey_returns_nil_or_an_existing_key() {
    check(
        r#"
        RANDOMKEY
        SET only v
        RANDOMKEY
        DEL only
        RANDOMKEY
        RANDOMKEY x
        "#,
    );
}

#[test]
fn randomkey_eventually_returns_every_key() {
    let server = Server::kvstore(&[]);
    let mut con = server.client();
    for k in ["a", "b", "c"] {
        let () = query(&mut con, &["SET", k, "v"]);
    }
    let seen: BTreeSet<String> = (0..300)
        .map(|_| query::<String>(&mut con, &["RANDOMKEY"]))
        .collect();
    assert_eq!(seen, ["a", "b", "c"].map(String::from).into());
}

#[test]
fn rename_moves_value_and_expiry() {
    check(
        r#"
        RENAME missing x
        RENAME missing missing
        SET a 1
        RENAME a a
        GET a
        EXPIRE a 100
        RENAME a a
        TTL a
        RENAME a b
        EXISTS a
        GET b
        TTL b
        SET c 3
        RENAME c b
        GET b
        TTL b
        SET x 1
        EXPIRE x 100
        SET y 2
        RENAME y x
        TTL x
        RENAME x ""
        GET ""
        RENAME
        RENAME a
        RENAME a b c
        "#,
    );
}

#[test]
fn renamenx_refuses_an_existing_destination() {
    check(
        r#"
        RENAMENX missing x
        RENAMENX missing missing
        SET a 1
        SET b 2
        RENAMENX a b
        GET b
        RENAMENX a a
        EXPIRE a 100
        RENAMENX a c
        EXISTS a
        GET c
        TTL c
        RENAMENX
        RENAMENX a
        "#,
    );
}

#[test]
fn copy_within_a_database() {
    check(
        r#"
        COPY missing dst
        COPY missing missing
        SET a 1
        EXPIRE a 100
        COPY a a
        COPY a a DB 0
        COPY a b
        GET b
        TTL b
        COPY a b
        SET a 2
        COPY a b REPLACE
        GET b
        TTL b
        COPY a b replace REPLACE
        PERSIST a
        COPY a b REPLACE
        TTL b
        COPY a b DB 1 DB 0
        COPY
        COPY a
        "#,
    );
}

#[test]
fn copy_options_and_database_errors() {
    check(
        r#"
        SET a 1
        COPY a b DB
        COPY a b FOO
        COPY a b REPLACE FOO
        COPY a b DB abc
        COPY a b DB 1.5
        COPY a b DB 99999999999
        COPY a b DB 2147483648
        COPY a b DB -2147483649
        COPY a b DB 16
        COPY a b DB -1
        COPY a b DB 16 FOO
        COPY a b FOO DB 16
        COPY a a DB 16
        COPY missing b DB 16
        EXISTS b
        "#,
    );
}

#[test]
fn copy_to_another_database() {
    check(
        r#"
        SET a 1
        COPY a a DB 1
        COPY a a DB 1
        COPY a a DB 1 REPLACE
        COPY a b DB 15
        COPY a b DB 15
        EXISTS b
        GET a
        COPY missing a DB 1
        "#,
    );
}

#[test]
fn move_to_another_database() {
    check(
        r#"
        MOVE missing 1
        SET a 1
        MOVE a 0
        MOVE missing 0
        MOVE a 16
        MOVE a -1
        MOVE a abc
        MOVE a 99999999999
        MOVE a 1
        EXISTS a
        SET a 2
        MOVE a 1
        GET a
        COPY a a DB 1
        EXPIRE a 100
        MOVE a 15
        EXISTS a
        COPY a a DB 15
        SET "" e
        MOVE "" 3
        MOVE
        MOVE a
        MOVE a 1 2
        "#,
    );
}

#[test]
fn object_reports_encoding_and_refcount() {
    check(
        r#"
        OBJECT ENCODING missing
        OBJECT REFCOUNT missing
        OBJECT IDLETIME missing
        OBJECT FREQ missing
        SET int 12345
        OBJECT ENCODING int
        OBJECT REFCOUNT int
        SET shared 100
        OBJECT ENCODING shared
        OBJECT REFCOUNT shared
        SET zero 0
        OBJECT REFCOUNT zero
        SET neg -5
        OBJECT ENCODING neg
        OBJECT REFCOUNT neg
        SET limit 9999
        OBJECT REFCOUNT limit
        SET above 10000
        OBJECT REFCOUNT above
        SET long 123456789012345678901
        OBJECT ENCODING long
        SET emb hello
        OBJECT ENCODING emb
        OBJECT REFCOUNT emb
        SET e44 12345678901234567890123456789012345678901234
        OBJECT ENCODING e44
        SET r45 abcdefghijabcdefghijabcdefghijabcdefghijabcde
        OBJECT ENCODING r45
        OBJECT IDLETIME emb
        OBJECT FREQ emb
        object encoding emb
        "#,
    );
}

#[test]
fn object_help_and_subcommand_errors() {
    check(
        r#"
        OBJECT HELP
        object help
        OBJECT
        OBJECT ENCODING
        OBJECT ENCODING a b
        OBJECT REFCOUNT
        OBJECT HELP extra
        OBJECT foo
        OBJECT foo bar
        "#,
    );
}

#[test]
fn binary_keys_round_trip() {
    let key: &[u8] = b"\x00\xff\r\n key";
    let other: &[u8] = b"\xc3\x28\x00";
    check_bytes(&[
        &[b"SET", key, b"v"],
        &[b"EXISTS", key, key],
        &[b"TYPE", key],
        &[b"EXPIRE", key, b"100"],
        &[b"TTL", key],
        &[b"KEYS", key],
        &[b"SCAN", b"0", b"MATCH", key],
        &[b"RANDOMKEY"],
        &[b"OBJECT", b"ENCODING", key],
        &[b"COPY", key, other],
        &[b"TTL", other],
        &[b"RENAME", key, b""],
        &[b"EXISTS", key, b""],
        &[b"MOVE", b"", b"1"],
        &[b"RENAMENX", other, key],
        &[b"PERSIST", key],
        &[b"TOUCH", key, other],
        &[b"DEL", key, other],
        &[b"SCAN", b"0\x00junk"],
    ]);
}

/// Redis compares options as C strings: they end at the first NUL.
#[test]
fn options_end_at_a_nul_byte() {
    check_bytes(&[
        &[b"SET", b"k", b"v"],
        &[b"EXPIRE", b"k", b"100", b"nx\x00junk"],
        &[b"TTL", b"k"],
        &[b"EXPIRE", b"k", b"100", b"bad\x00nx"],
        &[b"SCAN", b"0", b"COUNT\x00x", b"5", b"TYPE", b"string\x00x"],
        &[b"COPY", b"k", b"c", b"db\x00x", b"1", b"replace\x00"],
        &[b"COPY", b"k", b"c", b"DB", b"1", b"REPLACE"],
    ]);
}

#[test]
fn ttl_replies_follow_the_clock() {
    let server = Server::kvstore(&[]);
    let mut con = server.client();
    let () = query(&mut con, &["SET", "k", "v"]);
    let before = now_ms();
    assert_eq!(query::<i64>(&mut con, &["PEXPIRE", "k", "2000"]), 1);
    let after = now_ms();
    let pttl: i64 = query(&mut con, &["PTTL", "k"]);
    assert!((1..=2000).contains(&pttl), "PTTL {pttl}");
    let ttl: i64 = query(&mut con, &["TTL", "k"]);
    assert!((1..=2).contains(&ttl), "TTL {ttl}");
    let at: i64 = query(&mut con, &["PEXPIRETIME", "k"]);
    assert!(
        (before + 2000..=after + 2000).contains(&at),
        "PEXPIRETIME {at}"
    );
    let at_s: i64 = query(&mut con, &["EXPIRETIME", "k"]);
    assert_eq!(at_s, (at + 500) / 1000);

    assert_eq!(query::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    let pttl: i64 = query(&mut con, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&pttl), "PTTL {pttl}");
}

#[test]
fn expired_key_is_gone_when_next_read() {
    let server = Server::kvstore(&[]);
    let mut con = server.client();
    for k in ["a", "b"] {
        let () = query(&mut con, &["SET", k, "v"]);
        assert_eq!(query::<i64>(&mut con, &["PEXPIRE", k, "50"]), 1);
    }
    sleep(Duration::from_millis(150));
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "a"]), 0);
    assert_eq!(query::<i64>(&mut con, &["TTL", "a"]), -2);
    assert_eq!(query::<i64>(&mut con, &["DEL", "b"]), 0);
    let err = redis::cmd("RENAME")
        .arg("b")
        .arg("c")
        .query::<()>(&mut con)
        .expect_err("renaming an expired key");
    assert_eq!(err.detail(), Some("no such key"));
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let server = Server::kvstore(&[]);
    let mut con = server.client();
    let () = query(&mut con, &["SET", "stays", "v"]);
    for i in 0..50 {
        let key = format!("k{i}");
        let () = query(&mut con, &["SET", &key, "v"]);
        assert_eq!(query::<i64>(&mut con, &["PEXPIRE", &key, "100"]), 1);
    }
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]), 51);
    let deadline = Instant::now() + Duration::from_secs(5);
    while query::<i64>(&mut con, &["DBSIZE"]) > 1 {
        assert!(
            Instant::now() < deadline,
            "expired keys still counted after 5 s"
        );
        sleep(Duration::from_millis(20));
    }
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "stays"]), 1);
}

#[test]
fn renames_copies_moves_and_expiry_times_survive_a_restart() {
    let mut server = Server::kvstore(&[]);
    {
        let mut con = server.client();
        for k in ["a", "e", "gone"] {
            let () = query(&mut con, &["SET", k, "v"]);
        }
        assert_eq!(query::<i64>(&mut con, &["EXPIREAT", "a", "4102444800"]), 1);
        let () = query(&mut con, &["RENAME", "a", "b"]);
        assert_eq!(query::<i64>(&mut con, &["COPY", "b", "c"]), 1);
        assert_eq!(query::<i64>(&mut con, &["PERSIST", "c"]), 1);
        assert_eq!(query::<i64>(&mut con, &["MOVE", "e", "1"]), 1);
        assert_eq!(query::<i64>(&mut con, &["EXPIRE", "gone", "-1"]), 1);
    }
    assert!(server.stop().success());
    server.restart();
    let mut con = server.client();
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "a", "e", "gone"]), 0);
    assert_eq!(query::<i64>(&mut con, &["EXPIRETIME", "b"]), 4102444800);
    assert_eq!(query::<i64>(&mut con, &["TTL", "c"]), -1);
    // `e` is in database 1 now: copying onto it there is refused.
    assert_eq!(query::<i64>(&mut con, &["COPY", "b", "e", "DB", "1"]), 0);
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]), 2);
}
