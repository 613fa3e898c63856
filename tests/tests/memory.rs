//! MEMORY against redis-server 7.0: USAGE's estimate is Redis's number for every encoding
//! whose layout is a function of the value (strings, listpacks, intsets, lists) and close to
//! it for hash tables and skiplists; the other subcommands answer in Redis's shape.

use e2e::{elements, Differential};

/// Both servers with the same keys of every encoding.
fn loaded() -> Option<Differential> {
    let servers = Differential::start(&[])?;
    let long = "x".repeat(100);
    let mut script = vec![
        "SET int 1".to_string(),
        "SET short hello".into(),
        format!("SET long {long}"),
        format!("SET longer {}", "y".repeat(1000)),
        "RPUSH list a b c".into(),
        "HSET hash a 1".into(),
        format!("HSET widehash a {long} b c"),
        "SADD intset 1 2".into(),
        "SADD wideintset 1 2 70000".into(),
        "SADD strings a b".into(),
        "ZADD zset 1 a".into(),
        format!("ZADD widezset 1 a 2 {long}"),
    ];
    for i in 0..300 {
        script.push(format!("RPUSH biglist item-{i}"));
        script.push(format!("HSET bighash f{i} v{i}"));
        script.push(format!("SADD bigset m{i}"));
        script.push(format!("ZADD bigzset {i} m{i}"));
    }
    servers.check(2, &script.join("\n"));
    Some(servers)
}

#[test]
fn usage_is_redis_number_for_deterministic_layouts() {
    let Some(servers) = loaded() else {
        return;
    };
    let mut script = String::new();
    for key in [
        "int",
        "short",
        "long",
        "longer",
        "list",
        "hash",
        "widehash",
        "intset",
        "wideintset",
        "strings",
        "zset",
        "biglist",
        "bighash",
    ] {
        script.push_str(&format!(
            "MEMORY USAGE {key}\nMEMORY USAGE {key} SAMPLES 0\n"
        ));
    }
    servers.check(2, &script);
    servers.check(3, "MEMORY USAGE missing\nMEMORY USAGE int SAMPLES 2");
}

#[test]
fn usage_of_hash_tables_and_skiplists_is_close_to_redis() {
    let Some(servers) = loaded() else {
        return;
    };
    let (mut ours, mut theirs) = (servers.ours.raw(), servers.reference.raw());
    let usage = |conn: &mut e2e::RawConn, key: &str| -> f64 {
        let reply = e2e::text(conn.cmd(&["MEMORY", "USAGE", key, "SAMPLES", "0"]));
        reply
            .trim_start_matches(':')
            .trim()
            .parse()
            .expect("an integer")
    };
    // `widezset` (a listpack grown by one ZADD past 64 bytes) came out 16 bytes apart in one
    // run of many (1096 against 1112): Redis's allocation there is not a function of the
    // value alone, so it is compared within the tolerance too.
    for key in ["bigset", "bigzset", "widezset"] {
        let (a, b) = (usage(&mut ours, key), usage(&mut theirs, key));
        assert!(
            (a / b - 1.0).abs() < 0.2,
            "{key}: kvstore {a}, redis-server {b}"
        );
    }
}

#[test]
fn usage_of_streams_is_redis_number() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let add = |script: &mut Vec<String>, key: &str, n: usize, value: &dyn Fn(usize) -> String| {
        for i in 1..=n {
            script.push(format!("XADD {key} {i}-1 {}", value(i)));
        }
    };
    let mut script = Vec::new();
    add(&mut script, "one", 1, &|i| format!("f v{i}"));
    add(&mut script, "full", 100, &|i| format!("f v{i}"));
    add(&mut script, "past", 101, &|i| format!("f v{i} g {i}"));
    add(&mut script, "many", 1000, &|i| format!("f{} v", i % 3));
    add(&mut script, "wide", 5, &|_| {
        format!("f {}", "x".repeat(5000))
    });
    add(&mut script, "trimmed", 500, &|i| format!("f v{i}"));
    add(&mut script, "groups", 300, &|i| format!("f v{i}"));
    script.extend(
        [
            "XDEL trimmed 3-1 150-1 499-1",
            "XTRIM trimmed MAXLEN 350",
            "XGROUP CREATE groups empty $",
            "XGROUP CREATE groups g 0",
            "XGROUP CREATE groups h 0",
            "XGROUP CREATECONSUMER groups g idle",
            "XREADGROUP GROUP g alice COUNT 50 STREAMS groups >",
            "XREADGROUP GROUP g bob COUNT 30 STREAMS groups >",
            "XREADGROUP GROUP h carol COUNT 200 STREAMS groups >",
            "XACK groups g 1-1 2-1 40-1",
            "XCLAIM groups h dave 0 10-1 11-1 12-1",
            "XGROUP DELCONSUMER groups g bob",
        ]
        .map(String::from),
    );
    servers.check(2, &script.join("\n"));
    let usage = |keys: &[&str]| {
        keys.iter()
            .map(|key| {
                format!(
                    "MEMORY USAGE {key}\nMEMORY USAGE {key} SAMPLES 0\nMEMORY USAGE {key} SAMPLES 2\n"
                )
            })
            .collect::<String>()
    };
    servers.check(
        2,
        &usage(&["one", "full", "past", "many", "wide", "trimmed", "groups"]),
    );
    // Smaller nodes: the node byte limit is also what a new node's listpack preallocates.
    let mut script = vec![
        "CONFIG SET stream-node-max-entries 10".to_string(),
        "CONFIG SET stream-node-max-bytes 200".into(),
    ];
    add(&mut script, "small_nodes", 55, &|i| format!("f v{i}"));
    servers.check(2, &script.join("\n"));
    servers.check(2, &usage(&["small_nodes"]));
}

#[test]
fn usage_errors_and_small_subcommands_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "SET k v
        MEMORY USAGE k SAMPLES x
        MEMORY USAGE k SAMPLES -1
        MEMORY USAGE k SAMPLES
        MEMORY USAGE k foo
        MEMORY USAGE
        MEMORY HELP
        memory help
        MEMORY PURGE
        MEMORY DOCTOR
        MEMORY NOSUCH
        MEMORY STATS extra",
    );
}

#[test]
fn stats_has_redis_fields_in_redis_order() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    let names = |server: &e2e::Server| -> Vec<Vec<u8>> {
        let mut conn = server.raw();
        conn.cmd(&["SET", "k", "v"]);
        let reply = conn.cmd(&["MEMORY", "STATS"]);
        elements(&reply).into_iter().step_by(2).collect()
    };
    assert_eq!(names(&servers.ours), names(&servers.reference));
}
