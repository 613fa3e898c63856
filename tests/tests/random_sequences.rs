//! Property-based differential test: proptest generates random command sequences over a few
//! keys of every type — strings, lists, hashes, sets, sorted sets, key commands, transactions —
//! runs each sequence on kvstore and on redis-server, and asserts byte-identical replies in
//! RESP2 or RESP3. Keys collide on purpose (WRONGTYPE paths, RENAME over other types, empty
//! aggregates deleted), collections stay in the encodings whose order Redis fixes (listpack
//! hashes and sorted sets, intsets, lists), and commands with random output are left out.
//! A failure is shrunk by proptest to a short sequence before it is reported.

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use e2e::{text, Differential};

fn key() -> impl Strategy<Value = String> {
    (0..4u8).prop_map(|i| format!("k{i}"))
}

/// Small integers: set members (intsets keep Redis's order fixed) and list elements.
fn int() -> impl Strategy<Value = String> {
    (-3..6i32).prop_map(|i| i.to_string())
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![(0..4u8).prop_map(|i| format!("f{i}")), int()]
}

fn member() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d", "e", "1", ""]).prop_map(str::to_string)
}

fn score() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["0", "1", "-2", "1.5", "3e2", "inf", "-inf", "x", "-0"])
        .prop_map(str::to_string)
}

fn range_bound() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["-inf", "+inf", "0", "(1", "1.5", "(-2", "3"])
        .prop_map(str::to_string)
}

fn lex_bound() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["-", "+", "[a", "(b", "[c", "(e"]).prop_map(str::to_string)
}

fn index() -> impl Strategy<Value = String> {
    (-4..5i32).prop_map(|i| i.to_string())
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn command() -> impl Strategy<Value = Vec<String>> {
    let strings = prop_oneof![
        (key(), int()).prop_map(|(k, v)| words(&["SET", &k, &v])),
        key().prop_map(|k| words(&["GET", &k])),
        key().prop_map(|k| words(&["INCR", &k])),
        (key(), member()).prop_map(|(k, v)| words(&["APPEND", &k, &v])),
    ];
    let keys = prop_oneof![
        key().prop_map(|k| words(&["DEL", &k])),
        key().prop_map(|k| words(&["EXISTS", &k])),
        key().prop_map(|k| words(&["TYPE", &k])),
        key().prop_map(|k| words(&["OBJECT", "ENCODING", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["RENAME", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["COPY", &a, &b, "REPLACE"])),
        key().prop_map(|k| words(&["EXPIRE", &k, "1000"])),
        key().prop_map(|k| words(&["PERSIST", &k])),
        Just(words(&["DBSIZE"])),
    ];
    let lists = prop_oneof![
        (key(), prop::collection::vec(int(), 1..4)).prop_map(|(k, v)| {
            let mut c = words(&["LPUSH", &k]);
            c.extend(v);
            c
        }),
        (key(), int()).prop_map(|(k, v)| words(&["RPUSH", &k, &v])),
        (key(), int()).prop_map(|(k, v)| words(&["RPUSHX", &k, &v])),
        key().prop_map(|k| words(&["LPOP", &k])),
        (key(), index()).prop_map(|(k, n)| words(&["RPOP", &k, &n])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["LRANGE", &k, &a, &b])),
        (key(), index()).prop_map(|(k, i)| words(&["LINDEX", &k, &i])),
        (key(), index(), int()).prop_map(|(k, i, v)| words(&["LSET", &k, &i, &v])),
        (key(), int(), int()).prop_map(|(k, p, v)| words(&["LINSERT", &k, "BEFORE", &p, &v])),
        (key(), index(), int()).prop_map(|(k, n, v)| words(&["LREM", &k, &n, &v])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&["LTRIM", &k, &a, &b])),
        (key(), int()).prop_map(|(k, v)| words(&["LPOS", &k, &v, "COUNT", "0"])),
        (key(), key()).prop_map(|(a, b)| words(&["LMOVE", &a, &b, "LEFT", "RIGHT"])),
        key().prop_map(|k| words(&["LLEN", &k])),
        // Never blocks in the sequence: the key is either there or the timeout is short.
        (key(), key()).prop_map(|(a, b)| words(&["BLMPOP", "0.01", "2", &a, &b, "LEFT"])),
    ];
    let hashes = prop_oneof![
        (key(), field(), member()).prop_map(|(k, f, v)| words(&["HSET", &k, &f, &v])),
        (key(), field(), member()).prop_map(|(k, f, v)| words(&["HSETNX", &k, &f, &v])),
        (key(), field()).prop_map(|(k, f)| words(&["HGET", &k, &f])),
        (key(), field()).prop_map(|(k, f)| words(&["HDEL", &k, &f])),
        key().prop_map(|k| words(&["HGETALL", &k])),
        (key(), field(), int()).prop_map(|(k, f, n)| words(&["HINCRBY", &k, &f, &n])),
        (key(), field()).prop_map(|(k, f)| words(&["HINCRBYFLOAT", &k, &f, "1.25"])),
        key().prop_map(|k| words(&["HLEN", &k])),
        (key(), field(), field()).prop_map(|(k, a, b)| words(&["HMGET", &k, &a, &b])),
    ];
    let sets = prop_oneof![
        (key(), prop::collection::vec(int(), 1..4)).prop_map(|(k, v)| {
            let mut c = words(&["SADD", &k]);
            c.extend(v);
            c
        }),
        (key(), int()).prop_map(|(k, m)| words(&["SREM", &k, &m])),
        key().prop_map(|k| words(&["SMEMBERS", &k])),
        (key(), int()).prop_map(|(k, m)| words(&["SISMEMBER", &k, &m])),
        (key(), key()).prop_map(|(a, b)| words(&["SINTER", &a, &b])),
        (key(), key(), key()).prop_map(|(d, a, b)| words(&["SUNIONSTORE", &d, &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["SDIFF", &a, &b])),
        (key(), key(), int()).prop_map(|(a, b, m)| words(&["SMOVE", &a, &b, &m])),
        key().prop_map(|k| words(&["SCARD", &k])),
    ];
    let zsets = prop_oneof![
        (
            key(),
            prop::sample::select(vec!["", "NX", "XX", "GT", "LT", "CH", "INCR", "NX GT"]),
            score(),
            member()
        )
            .prop_map(|(k, opt, s, m)| {
                let mut c = words(&["ZADD", &k]);
                c.extend(opt.split_whitespace().map(str::to_string));
                c.extend([s, m]);
                c
            }),
        (key(), score(), member()).prop_map(|(k, s, m)| words(&["ZINCRBY", &k, &s, &m])),
        (key(), member()).prop_map(|(k, m)| words(&["ZREM", &k, &m])),
        (key(), index(), index())
            .prop_map(|(k, a, b)| { words(&["ZRANGE", &k, &a, &b, "WITHSCORES"]) }),
        (key(), range_bound(), range_bound())
            .prop_map(|(k, a, b)| { words(&["ZRANGE", &k, &a, &b, "BYSCORE", "LIMIT", "0", "3"]) }),
        (key(), range_bound(), range_bound())
            .prop_map(|(k, a, b)| { words(&["ZREVRANGEBYSCORE", &k, &b, &a, "WITHSCORES"]) }),
        (key(), lex_bound(), lex_bound()).prop_map(|(k, a, b)| words(&["ZRANGEBYLEX", &k, &a, &b])),
        (key(), range_bound(), range_bound()).prop_map(|(k, a, b)| words(&["ZCOUNT", &k, &a, &b])),
        (key(), member()).prop_map(|(k, m)| words(&["ZRANK", &k, &m])),
        (key(), member()).prop_map(|(k, m)| words(&["ZSCORE", &k, &m])),
        (key(), index()).prop_map(|(k, n)| words(&["ZPOPMIN", &k, &n])),
        key().prop_map(|k| words(&["ZPOPMAX", &k])),
        (key(), key(), key()).prop_map(|(d, a, b)| {
            words(&["ZUNIONSTORE", &d, "2", &a, &b, "WEIGHTS", "2", "-1"])
        }),
        (key(), key()).prop_map(|(a, b)| {
            words(&["ZINTER", "2", &a, &b, "AGGREGATE", "MAX", "WITHSCORES"])
        }),
        key().prop_map(|k| words(&["ZCARD", &k])),
    ];
    let transactions = prop_oneof![
        Just(words(&["MULTI"])),
        Just(words(&["EXEC"])),
        Just(words(&["DISCARD"])),
        key().prop_map(|k| words(&["WATCH", &k])),
    ];
    prop_oneof![
        1 => strings,
        2 => keys,
        4 => lists,
        3 => hashes,
        3 => sets,
        5 => zsets,
        1 => transactions,
    ]
}

#[test]
fn random_command_sequences_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let conns = RefCell::new((d.ours.raw(), d.reference.raw()));
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let sequences = (any::<bool>(), prop::collection::vec(command(), 1..60));
    runner
        .run(&sequences, |(resp3, commands)| {
            let mut guard = conns.borrow_mut();
            let (ours, theirs) = &mut *guard;
            let protocol = if resp3 { "3" } else { "2" };
            for c in [&mut *ours, &mut *theirs] {
                // What the previous case left open (a transaction, watches) ends here.
                c.cmd(&["DISCARD"]);
                c.cmd(&["UNWATCH"]);
                c.cmd(&["HELLO", protocol]);
                c.cmd(&["FLUSHALL"]);
            }
            for command in &commands {
                let args: Vec<&str> = command.iter().map(String::as_str).collect();
                let (a, b) = (text(ours.cmd(&args)), text(theirs.cmd(&args)));
                if a != b {
                    return Err(TestCaseError::fail(format!(
                        "RESP{protocol} reply to {command:?} differs:\n kvstore: {a:?}\n   redis: {b:?}"
                    )));
                }
            }
            Ok(())
        })
        .unwrap();
}
