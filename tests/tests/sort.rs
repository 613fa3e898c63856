//! SORT and SORT_RO against redis-server 7.0 byte for byte: numeric and ALPHA order, BY
//! patterns (weights, hash fields, `nosort`), GET patterns with `#`, LIMIT windows at every
//! edge, STORE, and the errors in Redis's order.

use e2e::Differential;

fn check(script: &str) {
    if let Some(servers) = Differential::start(&[]) {
        servers.check_both(script);
    }
}

#[test]
fn numeric_and_alpha_order_with_limits() {
    check(
        "RPUSH l 3 1 2 10 -5 1.5 0x10 \"\" \" 7\"
        SORT l
        SORT l DESC
        SORT l ALPHA
        SORT l ALPHA DESC
        SORT l LIMIT 1 2
        SORT l LIMIT 0 0
        SORT l LIMIT -5 100
        SORT l LIMIT 10 2
        SORT l LIMIT 2 -1
        SORT l DESC LIMIT 0 3 ASC
        SADD s 5 3 9 1
        SORT s
        SORT s DESC LIMIT 1 2
        SADD names c a b B A
        SORT names ALPHA
        ZADD z 3 c 1 a 2 b
        SORT z ALPHA
        SORT z ALPHA DESC LIMIT 0 2
        SORT missing
        SORT missing ALPHA LIMIT 0 5",
    );
}

#[test]
fn by_and_get_patterns() {
    check(
        "RPUSH l 3 1 2 10
        MSET w_3 30 w_1 10 w_2 20 w_10 5 o_1 one o_2 two
        HSET h_1 f a
        HSET h_2 f b
        HSET h_3 g z
        SORT l BY w_*
        SORT l BY w_* DESC
        SORT l BY w_* GET #
        SORT l BY w_* GET o_* GET #
        SORT l BY w_* LIMIT 1 2
        SORT l BY h_*->f ALPHA
        SORT l BY h_*->f
        SORT l GET h_*->f GET h_*->
        SORT l GET nostar
        SORT l BY missing_*
        SORT l BY nosort
        SORT l BY nosort DESC
        SORT l BY nosort LIMIT 1 2
        SORT l BY nosort DESC LIMIT 1 2
        SORT l BY nosort LIMIT 5 2
        ZADD z 3 c 1 a 2 b
        SORT z BY nosort
        SORT z BY nosort DESC LIMIT 1 1
        SORT z BY nosort GET # GET w_*
        SORT_RO l BY w_* GET # GET w_*
        SADD si 3 1 2
        SORT si BY nosort",
    );
}

#[test]
fn store_writes_a_list_or_deletes() {
    check(
        "RPUSH l 3 1 2
        MSET o_1 one o_3 three
        SORT l STORE dst
        LRANGE dst 0 -1
        TYPE dst
        SORT l GET o_* GET # STORE dst
        LRANGE dst 0 -1
        SET dst x
        EXPIRE dst 100
        SORT l STORE dst
        TTL dst
        SORT l LIMIT 100 5 STORE dst
        EXISTS dst
        SADD s c a b
        SORT s BY nosort STORE sorted
        LRANGE sorted 0 -1
        SORT missing STORE dst
        EXISTS dst",
    );
}

#[test]
fn errors_in_redis_order() {
    check(
        "RPUSH l 1 x 2
        RPUSH big 1e999 1
        RPUSH tiny 1e-400 1
        RPUSH nan nan 1
        SET str x
        SORT l
        SORT l ALPHA
        SORT big
        SORT tiny
        SORT nan
        SORT str
        SORT str LIMIT 0 x
        SORT l LIMIT 1
        SORT l LIMIT 1 x
        SORT l foo
        SORT l STORE
        SORT_RO l STORE dst
        SORT l BY
        SORT l GET
        SORT",
    );
}

#[test]
fn command_getkeys_finds_the_store_key() {
    check(
        "COMMAND GETKEYS SORT l
        COMMAND GETKEYS SORT l BY w_* STORE dst
        COMMAND GETKEYS SORT l STORE a LIMIT 0 1 STORE b
        COMMAND GETKEYS SORT l GET store STORE
        COMMAND GETKEYS SORT l LIMIT store x STORE c
        COMMAND GETKEYSANDFLAGS SORT l STORE dst
        COMMAND GETKEYS SORT_RO l BY w_*
        COMMAND GETKEYSANDFLAGS SORT_RO l",
    );
}
