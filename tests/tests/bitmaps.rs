//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO), compared
//! byte for byte with redis-server in RESP2 and RESP3, errors and argument order included.

use e2e::Differential;

/// What the persistence tests run under: every acknowledged write is durable.
const ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

#[test]
fn setbit_getbit_and_string_commands_share_the_value() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SETBIT b 7 1
        SETBIT b 7 1
        SETBIT b 7 0
        SETBIT b 100 1
        GETBIT b 100
        GETBIT b 101
        GETBIT b 100000
        GETBIT missing 3
        GET b
        STRLEN b
        APPEND b xyz
        GETBIT b 105
        SETRANGE b 0 A
        GETRANGE b 0 1
        GET b
        OBJECT ENCODING b
        SET s hello
        SETBIT s 1 1
        OBJECT ENCODING s
        SETBIT s 0 1
        GET s
        SET n 12
        SETBIT n 2 0
        GET n
        SET ttl abc EX 1000
        SETBIT ttl 1 0
        TTL ttl
        SETBIT b -1 1
        SETBIT b abc 1
        SETBIT b 4294967296 1
        SETBIT b 1 2
        SETBIT b 1 -1
        SETBIT b 1 x
        SETBIT b x 2
        GETBIT b -1
        GETBIT b 4294967296
        LPUSH l a
        SETBIT l 1 1
        SETBIT l x 1
        SETBIT l 1 5
        GETBIT l 1
        GETBIT l x
        SETBIT
        GETBIT b
        "#,
    );
}

/// A bit write that changes nothing is no change for WATCH; one that grows the string or
/// flips a bit is.
#[test]
fn watch_sees_the_changes_redis_counts() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SETBIT b 7 1
        WATCH b
        SETBIT b 7 1
        SETBIT b 6 0
        MULTI
        GET b
        EXEC
        WATCH b
        SETBIT b 6 1
        MULTI
        GET b
        EXEC
        WATCH b
        SETBIT b 100 0
        MULTI
        GET b
        EXEC
        WATCH b
        BITFIELD b GET u8 0
        BITFIELD_RO b GET u8 0
        BITCOUNT b
        MULTI
        GET b
        EXEC
        "#,
    );
}

#[test]
fn bitcount_and_bitpos_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET s foobar
        BITCOUNT s
        BITCOUNT s 0 0
        BITCOUNT s 1 1
        BITCOUNT s 1 -2
        BITCOUNT s -3 -1
        BITCOUNT s -1 -3
        BITCOUNT s 5 30
        BITCOUNT s 0 5 BYTE
        BITCOUNT s 5 30 BIT
        BITCOUNT s -7 -1 bit
        BITCOUNT s 0 -1 bits
        BITCOUNT s 0
        BITCOUNT s 0 1 BIT x
        BITCOUNT s a 1
        BITCOUNT s 1 a
        BITCOUNT missing
        BITCOUNT missing 0 a
        BITCOUNT missing 1 2 3 4
        SET z "\x00\x00"
        SET f "\xff\xf0\x00"
        SET g "\x00\xff\xf0"
        BITPOS f 0
        BITPOS g 1
        BITPOS g 1 0
        BITPOS g 1 2
        BITPOS g 1 2 -1 BYTE
        BITPOS g 1 7 15 BIT
        BITPOS g 1 7 -3 BIT
        BITPOS g 0 8 16 bit
        BITPOS s 0
        BITPOS s 1 1 1
        BITPOS s 0 0 -1
        BITPOS s 1 100
        BITPOS s 1 -100 -1
        BITPOS s 0 1 0
        BITPOS missing 0
        BITPOS missing 1
        BITPOS missing 2
        BITPOS missing x
        BITPOS s 2
        BITPOS s 1 x
        BITPOS s 1 0 x
        BITPOS s 1 0 1 BYTES
        BITPOS s 1 0 1 BIT extra
        LPUSH l a
        BITCOUNT l
        BITCOUNT l x
        BITPOS l 1
        BITPOS l 2
        "#,
    );
}

#[test]
fn bitop_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET a foobar
        SET b abcdef
        SET c xy
        BITOP AND dest a b
        GET dest
        BITOP OR dest a b c
        GET dest
        BITOP XOR dest a c
        GET dest
        BITOP NOT dest a
        GET dest
        BITOP and dest a missing
        GET dest
        BITOP OR dest missing other
        EXISTS dest
        SET dest x EX 100
        BITOP OR dest a
        TTL dest
        BITOP NOT dest a b
        BITOP NOR dest a
        BITOP NOT dest
        LPUSH l x
        BITOP AND dest a l
        BITOP AND l a
        TYPE l
        BITOP AND dest2 l
        BITOP NOT dest2 l
        "#,
    );
}

#[test]
fn bitfield_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        BITFIELD f SET i8 0 100 GET i8 0
        BITFIELD f INCRBY i8 0 100 GET u4 0
        BITFIELD f OVERFLOW SAT INCRBY i8 0 100 INCRBY i8 0 -300
        BITFIELD f OVERFLOW FAIL INCRBY i8 0 100 GET i8 0
        BITFIELD f OVERFLOW WRAP INCRBY u2 100 1 INCRBY u2 100 1 INCRBY u2 100 1 INCRBY u2 100 1
        BITFIELD f SET u8 #2 255 GET u8 #2 GET u8 16 GET i64 0 GET u63 1
        BITFIELD f INCRBY i64 0 9223372036854775807 INCRBY i64 0 9223372036854775807
        BITFIELD f OVERFLOW SAT SET i4 0 100 SET u4 0 -5 GET i4 0
        GET f
        BITFIELD f
        BITFIELD missing GET u8 0 GET i16 100
        EXISTS missing
        BITFIELD created OVERFLOW FAIL SET u2 0 7
        EXISTS created
        GET created
        BITFIELD_RO f GET i8 0 GET u7 3
        STRLEN f
        BITFIELD_RO f GET u8 96 GET i16 90 GET u63 50 GET i64 #1 GET u9 1000
        BITFIELD f GET u8 96 GET i16 90 GET u63 1 GET i5 #20
        BITFIELD_RO f
        BITFIELD_RO missing GET i8 0
        BITFIELD_RO f SET i8 0 1
        BITFIELD_RO f GET i8 0 INCRBY i8 0 1
        BITFIELD f GET u64 0
        BITFIELD f GET i65 0
        BITFIELD f GET x8 0
        BITFIELD f GET i0 0
        BITFIELD f GET i8 -1
        BITFIELD f GET i8 #-1
        BITFIELD f GET i8 x
        BITFIELD f GET i8 4294967296
        BITFIELD f SET i8 0 x
        BITFIELD f INCRBY i8 0
        BITFIELD f OVERFLOW BOOM GET i8 0
        BITFIELD f OVERFLOW
        BITFIELD f GET i8
        BITFIELD f FOO
        LPUSH l x
        BITFIELD l GET i8 0
        BITFIELD l GET x8 0
        BITFIELD_RO l GET i8 0
        BITFIELD l SET i8 0 1
        "#,
    );
}

#[test]
fn bitmaps_survive_kill_9_under_appendfsync_always() {
    let Some(mut d) = Differential::start(ALWAYS) else {
        return;
    };
    d.check(
        2,
        r#"
        SETBIT b 10 1
        SETBIT b 1000 1
        BITFIELD f SET u16 0 4660 INCRBY i8 16 -3
        SET s foobar
        BITOP XOR x b s
        SETBIT s 3 0
        "#,
    );
    d.kill9_and_restart();
    d.check(
        2,
        r#"
        GET b
        BITCOUNT b
        GET f
        GET x
        GET s
        BITFIELD_RO f GET u16 0 GET i8 16
        OBJECT ENCODING f
        OBJECT ENCODING s
        "#,
    );
}

/// The commands describe themselves (COMMAND INFO / DOCS / GETKEYS) as Redis 7.0.15's do.
#[test]
fn command_metadata_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let names = "setbit getbit bitcount bitpos bitop bitfield bitfield_ro";
    let mut script = format!("COMMAND INFO {names}\nCOMMAND DOCS {names}\n");
    script.push_str("COMMAND GETKEYS BITOP AND dst a b c\nCOMMAND GETKEYS BITFIELD k GET u8 0\n");
    d.check_both(&script);
}
