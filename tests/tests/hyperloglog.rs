//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST), compared byte for byte
//! with redis-server in RESP2 and RESP3: replies, errors, and the stored strings themselves
//! (sparse, promoted to dense, with a refreshed cardinality cache). PFSELFTEST's success is
//! left to the module's unit tests: an unoptimized build takes seconds to run it.

use e2e::{same_as_redis, Differential, Server};

/// What the persistence tests run under: every acknowledged write is durable.
const ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

/// `PFADD key e<from>..e<to>` as one script line.
fn pfadd_range(key: &str, from: usize, to: usize) -> String {
    let mut line = format!("PFADD {key}");
    for i in from..to {
        line.push_str(&format!(" e{i}"));
    }
    line
}

/// The exact bytes of a reply, as hex (text comparison would hide binary differences).
fn hex(reply: Vec<u8>) -> String {
    reply.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn pfadd_pfcount_and_pfmerge_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let script = format!(
        r#"
        PFADD h a b c
        PFADD h a
        PFADD h d
        PFADD empty
        PFADD empty
        PFCOUNT h
        PFCOUNT h
        PFCOUNT missing
        PFCOUNT h missing empty
        PFDEBUG ENCODING h
        PFDEBUG DECODE h
        {big}
        PFCOUNT big
        PFDEBUG ENCODING big
        {more}
        PFDEBUG ENCODING big
        PFCOUNT big h
        PFMERGE dest h big
        PFCOUNT dest
        PFDEBUG ENCODING dest
        PFMERGE small h empty
        PFCOUNT small
        PFDEBUG ENCODING small
        PFMERGE small
        PFMERGE fresh
        EXISTS fresh
        PFCOUNT fresh
        SET plain x EX 1000
        PFADD ttl a
        EXPIRE ttl 1000
        PFADD ttl b
        TTL ttl
        OBJECT ENCODING h
        TYPE h
        "#,
        big = pfadd_range("big", 0, 500),
        more = pfadd_range("big", 500, 3000),
    );
    d.check_both(&script);
}

#[test]
fn pf_errors_and_corrupted_values_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET s notanhll
        PFADD s a
        PFCOUNT s
        PFCOUNT s missing
        PFCOUNT missing s
        PFMERGE dest s
        PFMERGE s
        LPUSH l a
        PFADD l a
        PFCOUNT l
        PFCOUNT h l
        PFMERGE l
        PFMERGE dest l
        PFDEBUG ENCODING l
        PFDEBUG ENCODING missing
        PFDEBUG NOSUCH missing
        PFDEBUG ENCODING s
        PFADD h a b c
        PFDEBUG NOSUCH h
        PFDEBUG GETREG h extra
        PFDEBUG ENCODING
        PFADD
        PFCOUNT
        PFMERGE
        PFSELFTEST extra
        SET magic HYLL
        PFADD magic a
        PFADD tail a b c
        APPEND tail hello
        PFCOUNT tail
        PFADD tail zzz
        PFADD enc a
        SETRANGE enc 4 x
        PFCOUNT enc
        PFADD dense a
        PFDEBUG TODENSE dense
        PFDEBUG TODENSE dense
        PFDEBUG DECODE dense
        PFDEBUG ENCODING dense
        APPEND dense x
        PFCOUNT dense
        PFADD conv a b
        PFDEBUG GETREG conv
        PFDEBUG ENCODING conv
        "#,
    );
}

/// PF* commands modify a key (WATCH sees it) exactly when Redis does: PFADD that changed a
/// register, PFCOUNT that refreshed the cached cardinality, PFMERGE always.
#[test]
fn watch_sees_the_changes_redis_counts() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        PFADD h a b
        WATCH h
        PFADD h a
        MULTI
        PFCOUNT h
        EXEC
        WATCH h
        PFCOUNT h
        MULTI
        PFCOUNT h
        EXEC
        WATCH h
        PFCOUNT h
        MULTI
        PFCOUNT h
        EXEC
        WATCH h
        PFADD h c
        MULTI
        PFCOUNT h
        EXEC
        WATCH h
        PFMERGE h
        MULTI
        PFCOUNT h
        EXEC
        "#,
    );
}

/// `hll-sparse-max-bytes` set at run time decides when a sparse value turns dense.
#[test]
fn sparse_max_bytes_follows_config_set() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check(
        2,
        &format!(
            "CONFIG SET hll-sparse-max-bytes 40\nPFADD h a b c\nPFDEBUG ENCODING h\n{}\nPFDEBUG ENCODING h\nPFCOUNT h\nCONFIG SET hll-sparse-max-bytes 3000",
            pfadd_range("h", 0, 30)
        ),
    );
}

/// Stored HyperLogLogs are the very bytes redis-server stores: sparse, dense after
/// promotion, after a merge, and with the cache PFCOUNT wrote.
#[test]
fn stored_strings_are_redis_bytes() {
    same_as_redis(|server: &Server| {
        let mut c = server.raw();
        let mut out = Vec::new();
        let elements: Vec<String> = (0..4000).map(|i| format!("x{i}")).collect();
        let mut args = vec!["PFADD", "big"];
        args.extend(elements.iter().map(String::as_str));
        for cmd in [
            &["PFADD", "h", "a", "b", "c"][..],
            &["GET", "h"],
            &["PFCOUNT", "h"],
            &["GET", "h"],
            &args,
            &["GET", "big"],
            &["PFCOUNT", "big"],
            &["GET", "big"],
            &["PFMERGE", "h", "big"],
            &["GET", "h"],
            &["PFMERGE", "m", "h"],
            &["GET", "m"],
        ] {
            out.push(hex(c.cmd(cmd)));
        }
        out
    });
}

/// A HyperLogLog copied with SET is a short `embstr` string; the PF* commands that read it
/// turn it `raw` as Redis does, without counting a change.
#[test]
fn pf_commands_unshare_a_copied_value() {
    same_as_redis(|server: &Server| {
        let mut c = server.raw();
        c.cmd(&["PFADD", "h", "a", "b"]);
        c.cmd(&["PFCOUNT", "h"]);
        let reply = c.cmd(&["GET", "h"]);
        let header = reply.iter().position(|&b| b == b'\n').expect("bulk reply") + 1;
        let value = reply[header..reply.len() - 2].to_vec();
        let mut out = Vec::new();
        for key in ["c1", "c2", "c3"] {
            out.push(hex(c.cmd_bytes(&[b"SET", key.as_bytes(), &value])));
            out.push(hex(c.cmd(&["OBJECT", "ENCODING", key])));
        }
        for cmd in [
            &["PFADD", "c1", "a"][..],
            &["OBJECT", "ENCODING", "c1"],
            &["PFCOUNT", "c2"],
            &["OBJECT", "ENCODING", "c2"],
            &["PFDEBUG", "ENCODING", "c3"],
            &["OBJECT", "ENCODING", "c3"],
            &["GET", "c1"],
        ] {
            out.push(hex(c.cmd(cmd)));
        }
        out
    });
}

#[test]
fn hyperloglogs_survive_kill_9_under_appendfsync_always() {
    let Some(mut d) = Differential::start(ALWAYS) else {
        return;
    };
    let script = format!(
        "PFADD h a b c\nPFCOUNT h\n{}\nPFMERGE m h big\n",
        pfadd_range("big", 0, 2000)
    );
    d.check(2, &script);
    d.kill9_and_restart();
    d.check(
        2,
        r#"
        PFCOUNT h
        PFCOUNT big
        PFCOUNT m
        PFDEBUG ENCODING big
        PFCOUNT h big
        OBJECT ENCODING h
        OBJECT ENCODING m
        "#,
    );
    d.same_transcripts(|server: &Server| {
        let mut c = server.raw();
        ["h", "big", "m"]
            .iter()
            .map(|k| hex(c.cmd(&["GET", k])))
            .collect()
    });
}

/// The commands describe themselves (COMMAND INFO / DOCS / GETKEYS) as Redis 7.0.15's do.
#[test]
fn command_metadata_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let names = "pfadd pfcount pfmerge pfdebug pfselftest";
    let mut script = format!("COMMAND INFO {names}\nCOMMAND DOCS {names}\n");
    script.push_str("COMMAND GETKEYS PFCOUNT a b c\nCOMMAND GETKEYS PFDEBUG GETREG k\nCOMMAND GETKEYS PFMERGE d a b\n");
    d.check_both(&script);
}
