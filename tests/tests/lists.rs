//! List commands, compared byte for byte with redis-server in RESP2 and RESP3, and list
//! persistence across restarts.

use e2e::{Differential, Server};

#[test]
fn push_pop_and_length_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        LPUSH l a b c
        RPUSH l d e
        LRANGE l 0 -1
        LLEN l
        LPUSHX l x
        RPUSHX l y
        LPUSHX missing x
        RPUSHX missing x
        EXISTS missing
        LPOP l
        RPOP l
        LPOP l 2
        RPOP l 0
        LPOP l -1
        LPOP l abc
        LPOP l 1 2
        RPOP l 100
        EXISTS l
        LPOP l
        LPOP l 0
        LPOP l 3
        RPOP missing
        LLEN missing
        SET s v
        LPUSH s a
        RPUSHX s a
        LPOP s
        LLEN s
        LPUSH
        LPUSH l
        LLEN l m
        RPUSH n 1 2 3 -4 9223372036854775808 "" " "
        LRANGE n 0 -1
        TYPE n
        OBJECT ENCODING n
        RPUSH big 0123456789012345678901234567890123456789012345678901234567890123456789
        OBJECT ENCODING big
        TYPE missing
        "#,
    );
}

#[test]
fn index_range_and_edit_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        RPUSH l a b c d e f
        LRANGE l 1 3
        LRANGE l -3 -1
        LRANGE l -100 100
        LRANGE l 4 2
        LRANGE l 6 10
        LRANGE l 0 -7
        LRANGE l abc 1
        LRANGE l 0 9223372036854775807
        LRANGE l -9223372036854775808 0
        LRANGE missing 0 -1
        LRANGE missing x y
        LINDEX l 0
        LINDEX l -1
        LINDEX l 6
        LINDEX l -7
        LINDEX l x
        LINDEX missing x
        LSET l 0 A
        LSET l -1 F
        LSET l 6 x
        LSET l x y
        LSET missing 0 x
        LRANGE l 0 -1
        LINSERT l BEFORE c X
        LINSERT l after c Y
        LINSERT l AFTER nope Z
        LINSERT l middle c Z
        LINSERT missing BEFORE a b
        LINSERT missing middle a b
        LRANGE l 0 -1
        RPUSH r a b a c a d a
        LREM r 2 a
        LRANGE r 0 -1
        LREM r -1 a
        LRANGE r 0 -1
        LREM r 0 a
        LRANGE r 0 -1
        LREM r 0 zz
        LREM r x a
        LREM missing 0 a
        LREM r 0 b
        LREM r 0 c
        LREM r 0 d
        EXISTS r
        RPUSH t 1 2 3 4 5 6 7
        LTRIM t 1 -2
        LRANGE t 0 -1
        LTRIM t -100 100
        LRANGE t 0 -1
        LTRIM t 2 1
        EXISTS t
        LTRIM missing 0 1
        LTRIM t x 1
        SET s v
        LRANGE s 0 -1
        LINDEX s 0
        LSET s 0 x
        LINSERT s BEFORE a b
        LREM s 0 a
        LTRIM s 0 1
        "#,
    );
}

#[test]
fn lpos_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        RPUSH l a b c a b c a
        LPOS l a
        LPOS l c
        LPOS l z
        LPOS l a RANK 2
        LPOS l a RANK -1
        LPOS l a RANK -2
        LPOS l a RANK 10
        LPOS l a COUNT 0
        LPOS l a COUNT 2
        LPOS l a COUNT 2 RANK 2
        LPOS l a RANK -1 COUNT 0
        LPOS l a MAXLEN 1
        LPOS l c MAXLEN 2
        LPOS l a COUNT 0 MAXLEN 4
        LPOS l a RANK -1 MAXLEN 2 COUNT 0
        LPOS l z COUNT 0
        LPOS l a RANK 0
        LPOS l a RANK x
        LPOS l a COUNT -1
        LPOS l a COUNT x
        LPOS l a MAXLEN -1
        LPOS l a MAXLEN x
        LPOS l a RANK
        LPOS l a BOGUS 1
        LPOS l a RANK -9223372036854775808
        LPOS l a RANK 9223372036854775807 COUNT 1
        LPOS missing a
        LPOS missing a COUNT 1
        LPOS missing a RANK 0
        SET s v
        LPOS s a
        "#,
    );
}

#[test]
fn lmove_and_lmpop_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        RPUSH src a b c
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LRANGE dst 0 -1
        LMOVE src dst left left
        EXISTS src
        LMOVE src dst LEFT LEFT
        LMOVE dst dst LEFT RIGHT
        LRANGE dst 0 -1
        LMOVE dst dst MIDDLE RIGHT
        LMOVE missing dst MIDDLE RIGHT
        RPOPLPUSH dst other
        RPOPLPUSH missing other
        LRANGE other 0 -1
        SET s v
        LMOVE dst s LEFT LEFT
        LMOVE s dst LEFT LEFT
        RPOPLPUSH s dst
        RPOPLPUSH dst s
        LMOVE missing s LEFT LEFT
        RPUSH one x
        RPOPLPUSH one one
        LRANGE one 0 -1
        LMPOP 2 missing dst LEFT
        LMPOP 2 missing dst RIGHT COUNT 10
        LMPOP 1 missing LEFT
        RPUSH m 1 2 3 4 5
        LMPOP 1 m LEFT COUNT 2
        LMPOP 1 m RIGHT COUNT 2
        LMPOP 3 x y m left count 9
        LMPOP 0 m LEFT
        LMPOP -1 m LEFT
        LMPOP x m LEFT
        LMPOP 2 m LEFT
        LMPOP 5 m LEFT
        LMPOP 9223372036854775807 m LEFT
        LMPOP 1 m MIDDLE
        LMPOP 1 m LEFT COUNT 0
        LMPOP 1 m LEFT COUNT -1
        LMPOP 1 m LEFT COUNT x
        LMPOP 1 m LEFT COUNT 1 COUNT 2
        LMPOP 1 m LEFT COUNT
        LMPOP 1 m LEFT junk
        LMPOP 2 s m LEFT
        RPUSH m2 a
        LMPOP 2 m2 s LEFT
        LMPOP 2 s m2 LEFT
        "#,
    );
}

#[test]
fn blocking_commands_on_ready_keys_and_bad_arguments_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        RPUSH a 1 2 3
        RPUSH b x
        BLPOP missing a 0
        BRPOP missing a 0
        BRPOP b a 1.5
        EXISTS b
        BLPOP a abc
        BLPOP a -1
        BLPOP a inf
        BLPOP a nan
        BLPOP a ""
        BLPOP a 0x1
        RPUSH a 1 2 3 4 5 6 7 8 9
        BLMPOP 0 2 missing a LEFT COUNT 5
        BLMPOP 0 1 a LEFT
        BLMPOP x 1 a LEFT
        BLMPOP -1 1 a LEFT
        BLMPOP -1 0 a LEFT
        BLMPOP 0 1 a MIDDLE
        BLMPOP 0 1 a LEFT COUNT 0
        RPUSH src a b c
        BLMOVE src dst LEFT RIGHT 0
        BLMOVE src dst LEFT RIGHT x
        BLMOVE src dst MIDDLE RIGHT x
        BLMOVE src dst LEFT RIGHT -1
        BRPOPLPUSH src dst 0
        BRPOPLPUSH src dst x
        LRANGE dst 0 -1
        SET s v
        BLPOP s 0
        BLPOP missing s 0
        BLMPOP 0 2 missing s LEFT
        BLMOVE s dst LEFT LEFT 0
        BLMOVE src s LEFT LEFT 0
        BRPOPLPUSH src s 0
        BLPOP a
        BLMOVE a b LEFT RIGHT
        "#,
    );
}

#[test]
fn generic_commands_work_on_lists() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        RPUSH l a b c
        EXPIRE l 100
        TTL l
        RENAME l l2
        LRANGE l2 0 -1
        TTL l2
        COPY l2 l3
        LPUSH l3 z
        LRANGE l2 0 -1
        LRANGE l3 0 -1
        MOVE l3 1
        SELECT 1
        LRANGE l3 0 -1
        SELECT 0
        SCAN 0 TYPE list
        SCAN 0 TYPE string
        TYPE l2
        DEL l2
        EXISTS l2
        RPUSH p 1
        PEXPIREAT p 1
        LLEN p
        "#,
    );
}

#[test]
fn lists_survive_restart_and_kill() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    c.cmd(&["RPUSH", "l", "a", "", "c\r\nd"]);
    c.cmd(&["LPUSH", "l", "first"]);
    c.cmd(&["RPUSH", "ttl", "x"]);
    c.cmd(&["EXPIRE", "ttl", "1000"]);
    c.cmd(&["RPUSH", "gone", "x"]);
    c.cmd(&["LPOP", "gone"]);
    server.kill9();
    server.restart();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        b"*4\r\n$5\r\nfirst\r\n$1\r\na\r\n$0\r\n\r\n$4\r\nc\r\nd\r\n"
    );
    let ttl = String::from_utf8(c.cmd(&["TTL", "ttl"])).unwrap();
    let ttl: i64 = ttl.trim_start_matches(':').trim_end().parse().unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(c.cmd(&["EXISTS", "gone"]), b":0\r\n");
    c.cmd(&["RPUSH", "l", "last"]);
    server.stop();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["LLEN", "l"]), b":5\r\n");
    assert_eq!(c.cmd(&["RPOP", "l"]), b"$4\r\nlast\r\n");
    assert_eq!(c.cmd(&["TYPE", "l"]), b"+list\r\n");
}
