//! String commands, compared byte for byte with redis-server in RESP2 and RESP3.

use e2e::{Differential, Server};

#[test]
fn get_set_and_options_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        GET missing
        SET k v
        GET k
        SET k v2 NX
        SET k v3 XX
        GET k
        SET new v XX
        SET k v4 GET
        SET missing2 v GET
        SET k v NX GET
        SET k v EX 100
        SET k v EX 0
        SET k v EX -1
        SET k v EX abc
        SET k v EX 9223372036854775807
        SET k v PX 9223372036854775807
        SET k v EX 10 PX 10
        SET k v EX 10 EX 20
        SET k v NX XX
        SET k v KEEPTTL EX 10
        SET k v EX 10 KEEPTTL
        SET k v EX
        SET k v BOGUS
        SET k v GET GET
        SET k v keepttl
        SET "" empty
        GET ""
        SET k
        GET
        GET a b
        SET k v EXAT 1
        GET k
        SET k v PXAT 1
        SET k v EXAT 99999999999
        SET k v PXAT 99999999999999
        "#,
    );
}

#[test]
fn setnx_setex_getset_getdel_getex_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SETNX a 1
        SETNX a 2
        GET a
        SETEX b 100 v
        GET b
        SETEX b 0 v
        SETEX b -5 v
        SETEX b x v
        SETEX b 9223372036854775807 v
        PSETEX c 100000 v
        PSETEX c 0 v
        GETSET a 3
        GETSET missing 1
        GETDEL a
        GETDEL a
        GETEX missing
        GETEX b
        GETEX b PERSIST
        GETEX b EX 100
        GETEX b PX 100000
        GETEX b EXAT 99999999999
        GETEX b EX 0
        GETEX b EX 10 PERSIST
        GETEX b PERSIST EX 10
        GETEX b NX
        GETEX b GET
        GETEX b EXAT 1
        GET b
        "#,
    );
}

#[test]
fn multi_key_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        MSET a 1 b 2 c 3
        MGET a b c missing
        MSET a 1 b
        MSET a
        MSETNX a 1 d 4
        MSETNX d 4 e 5
        MGET d e
        MSETNX f
        MGET
        "#,
    );
}

#[test]
fn counters_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        INCR n
        INCR n
        DECR n
        INCRBY n 10
        INCRBY n -20
        DECRBY n 5
        DECRBY n -9223372036854775808
        INCRBY n abc
        INCRBY n 1.5
        SET big 9223372036854775807
        INCR big
        SET small -9223372036854775808
        DECR small
        SET s hello
        INCR s
        SET sp " 1"
        INCR sp
        SET lz 01
        INCR lz
        SET plus +1
        INCR plus
        SET f 10.50
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f -5
        INCRBYFLOAT f 0.2
        SET e 5.0e3
        INCRBYFLOAT e 2.0e2
        INCRBYFLOAT e abc
        INCRBYFLOAT e inf
        INCRBYFLOAT s 1
        INCRBYFLOAT newf 3.0e-10
        INCRBYFLOAT newf2 1e20
        INCRBYFLOAT newf2 0.1
        SET ttl 5 EX 100
        INCR ttl
        TTL ttl
        "#,
    );
}

#[test]
fn ranges_and_append_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        APPEND a Hello
        APPEND a " World"
        GET a
        STRLEN a
        STRLEN missing
        GETRANGE a 0 4
        GETRANGE a -5 -1
        GETRANGE a -1 -5
        GETRANGE a 5 1
        GETRANGE a 0 -1
        GETRANGE a -100 100
        GETRANGE a 100 200
        GETRANGE missing 0 -1
        GETRANGE a x 1
        SUBSTR a 0 2
        SETRANGE a 6 Redis
        GET a
        SETRANGE b 5 x
        GET b
        SETRANGE c 3 ""
        EXISTS c
        SETRANGE a -1 x
        SETRANGE a 0 ""
        SETRANGE a 536870911 x
        SETRANGE a 536870912 x
        SET n 12
        APPEND n 3
        INCR n
        # APPEND and SETRANGE leave a string in the raw encoding, whatever its content; a new
        # key written by APPEND is encoded like SET's; COPY keeps the encoding.
        OBJECT ENCODING a
        OBJECT ENCODING b
        SET s 0
        APPEND s 1
        OBJECT ENCODING s
        COPY s s2
        OBJECT ENCODING s2
        APPEND fresh 12
        OBJECT ENCODING fresh
        APPEND fresh2 hello
        OBJECT ENCODING fresh2
        SETRANGE s3 0 7
        OBJECT ENCODING s3
        INCR s
        OBJECT ENCODING s
        "#,
    );
}

#[test]
fn binary_values_round_trip() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    let value: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    assert_eq!(
        conn.cmd_bytes(&[b"SET", b"\x00bin\r\n", &value]),
        b"+OK\r\n"
    );
    let mut expected = format!("${}\r\n", value.len()).into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(conn.cmd_bytes(&[b"GET", b"\x00bin\r\n"]), expected);
}

#[test]
fn redis_crate_round_trip_in_resp2_and_resp3() {
    let server = Server::kvstore(&[]);
    for protocol in ["", "?protocol=resp3"] {
        let client = redis::Client::open(format!("{}{protocol}", server.url())).expect("url");
        let mut conn = client.get_connection().expect("connect");
        let _: () = redis::cmd("SET")
            .arg("greeting")
            .arg("halo")
            .query(&mut conn)
            .expect("SET");
        let got: String = redis::cmd("GET")
            .arg("greeting")
            .query(&mut conn)
            .expect("GET");
        assert_eq!(got, "halo");
        let n: i64 = redis::cmd("INCRBY")
            .arg("visits")
            .arg(5)
            .query(&mut conn)
            .expect("INCRBY");
        assert!(n % 5 == 0);
        let missing: Option<String> = redis::cmd("GET")
            .arg("nope")
            .query(&mut conn)
            .expect("GET nil");
        assert_eq!(missing, None);
    }
}
