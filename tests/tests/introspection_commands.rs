//! The commands operators type when something is slow — INFO commandstats / errorstats /
//! latencystats, SLOWLOG, LATENCY, MONITOR, DEBUG, LOLWUT, WAIT — against redis-server.
//!
//! Timings differ between any two runs, so replies are compared after masking only what is
//! a time, a duration or a client's port; everything else (counts, ids, argument vectors,
//! field names, error text) must be byte-identical. Redis prints commandstats and
//! latencystats in its hash table's order, so those lines are compared as sets.

use e2e::{Differential, RawConn, Server};

/// A decoded RESP2 reply, enough to mask the fields that are times.
#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

fn parse(buf: &[u8]) -> Resp {
    fn line(buf: &[u8], at: &mut usize) -> String {
        let end = (*at..buf.len())
            .find(|&i| buf[i] == b'\r')
            .expect("line end");
        let text = String::from_utf8_lossy(&buf[*at..end]).into_owned();
        *at = end + 2;
        text
    }
    fn value(buf: &[u8], at: &mut usize) -> Resp {
        let kind = buf[*at];
        *at += 1;
        let head = line(buf, at);
        match kind {
            b'+' => Resp::Simple(head),
            b'-' => Resp::Error(head),
            b':' => Resp::Int(head.parse().expect("integer")),
            b'$' => {
                let len: i64 = head.parse().expect("bulk length");
                if len < 0 {
                    return Resp::Bulk(None);
                }
                let data = buf[*at..*at + len as usize].to_vec();
                *at += len as usize + 2;
                Resp::Bulk(Some(data))
            }
            b'*' => {
                let len: i64 = head.parse().expect("array length");
                if len < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..len).map(|_| value(buf, at)).collect()))
            }
            other => panic!("unexpected RESP2 type {}", other as char),
        }
    }
    let mut at = 0;
    value(buf, &mut at)
}

fn items(r: &Resp) -> &[Resp] {
    match r {
        Resp::Array(Some(items)) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn bulk_text(r: &Resp) -> String {
    match r {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk: {other:?}"),
    }
}

/// `127.0.0.1:53412` → `127.0.0.1:PORT`.
fn mask_port(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((ip, _)) => format!("{ip}:PORT"),
        None => addr.to_owned(),
    }
}

/// The lines of an INFO section without its header, values of `masked` keys replaced.
fn info_lines(reply: Vec<u8>, mask: impl Fn(&str, &str) -> String) -> Vec<String> {
    let text = bulk_text(&parse(&reply));
    let mut lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, value) = l.split_once(':').expect("key:value");
            format!("{key}:{}", mask(key, value))
        })
        .collect();
    lines.sort();
    lines
}

/// `calls=3,usec=12,usec_per_call=4.00,...` with the times masked.
fn mask_cmdstat(value: &str) -> String {
    value
        .split(',')
        .map(|field| match field.split_once('=') {
            Some((k @ ("usec" | "usec_per_call"), _)) => format!("{k}=T"),
            _ => field.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `commands` on a fresh connection and returns the raw replies.
fn run(server: &Server, commands: &[&[&str]]) -> Vec<String> {
    let mut c = server.raw();
    commands
        .iter()
        .map(|args| String::from_utf8_lossy(&c.cmd(args)).into_owned())
        .collect()
}

const WORKLOAD: &[&[&str]] = &[
    &["CONFIG", "RESETSTAT"],
    &["SET", "a", "1"],
    &["GET", "a"],
    &["GET", "a"],
    &["LPUSH", "a", "x"],
    &["GET"],
    &["NOSUCHCOMMAND", "x"],
    &["CONFIG", "GET", "maxmemory"],
    &["CONFIG", "NOSUCH"],
    &["CONFIG", "SET", "maxmemory"],
    &["INCR", "a"],
    &["HSET", "h", "f"],
    &["MULTI"],
    &["SET", "b", "2"],
    &["LPOP", "a"],
    &["EXEC"],
    &["MULTI"],
    &["GET"],
    &["EXEC"],
    &["EXEC"],
    &["PING"],
    &["SET", "str", "x"],
    &[
        "EVAL",
        "return redis.call('lpush', KEYS[1], 'x')",
        "1",
        "str",
    ],
    &[
        "EVAL",
        "return redis.pcall('lpush', KEYS[1], 'x')",
        "1",
        "str",
    ],
    &["EVAL", "return redis.error_reply('MINE custom error')", "0"],
    &["EVAL", "return redis.call('nosuchcommand')", "0"],
    &["EVAL", "syntax error(", "0"],
    &["EVAL", "return redis.call('get', KEYS[1])", "1", "str"],
];

#[test]
fn commandstats_count_calls_rejections_and_failures_as_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut out = run(server, WORKLOAD);
        let mut c = server.raw();
        out.extend(info_lines(c.cmd(&["INFO", "commandstats"]), |_, v| {
            mask_cmdstat(v)
        }));
        out
    });
}

#[test]
fn errorstats_and_total_error_replies_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut out = run(server, WORKLOAD);
        let mut c = server.raw();
        out.push(String::from_utf8_lossy(&c.cmd(&["INFO", "errorstats"])).into_owned());
        let stats = bulk_text(&parse(&c.cmd(&["INFO", "stats"])));
        out.extend(
            stats
                .split("\r\n")
                .filter(|l| l.starts_with("total_error_replies:"))
                .map(str::to_owned),
        );
        // CONFIG RESETSTAT clears both.
        c.cmd(&["CONFIG", "RESETSTAT"]);
        out.push(String::from_utf8_lossy(&c.cmd(&["INFO", "errorstats"])).into_owned());
        out.extend(info_lines(c.cmd(&["INFO", "commandstats"]), |_, v| {
            mask_cmdstat(v)
        }));
        out
    });
}

#[test]
fn latencystats_print_the_configured_percentiles() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = Vec::new();
        c.cmd(&["CONFIG", "RESETSTAT"]);
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["GET", "k"]);
        let mask = |_: &str, v: &str| {
            v.split(',')
                .map(|f| {
                    f.split_once('=')
                        .map_or(f.to_owned(), |(k, _)| k.to_owned())
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        out.extend(info_lines(c.cmd(&["INFO", "latencystats"]), mask));
        c.cmd(&[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0 12.5 99.99 100",
        ]);
        out.extend(info_lines(c.cmd(&["INFO", "latencystats"]), mask));
        c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
        out.push(String::from_utf8_lossy(&c.cmd(&["INFO", "latencystats"])).into_owned());
        out
    });
}

#[test]
fn slowlog_errors_and_help_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SLOWLOG
        SLOWLOG HELP
        SLOWLOG help x
        SLOWLOG NOSUCH
        SLOWLOG GET -2
        SLOWLOG GET abc
        SLOWLOG GET 1 2
        SLOWLOG LEN x
        SLOWLOG RESET x
        SLOWLOG RESET
        SLOWLOG LEN
        SLOWLOG GET
        SLOWLOG GET 0
        "#,
    );
}

/// SLOWLOG GET's entries with times masked: id, args, address without port, name.
fn slowlog_entries(c: &mut RawConn, count: &str) -> Vec<String> {
    let reply = parse(&c.cmd(&["SLOWLOG", "GET", count]));
    items(&reply)
        .iter()
        .map(|entry| {
            let fields = items(entry);
            assert_eq!(fields.len(), 6);
            let args: Vec<String> = items(&fields[3]).iter().map(bulk_text).collect();
            format!(
                "{:?} {:?} {} {}",
                fields[0],
                args,
                mask_port(&bulk_text(&fields[4])),
                bulk_text(&fields[5])
            )
        })
        .collect()
}

#[test]
fn slowlog_records_entries_as_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = Vec::new();
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        c.cmd(&["SLOWLOG", "RESET"]);
        c.cmd(&["CLIENT", "SETNAME", "slowpoke"]);
        c.cmd(&["SET", "k", "v"]);
        let long = "x".repeat(300);
        c.cmd(&["SET", "big", &long]);
        let many: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        let mut sadd = vec!["SADD", "s"];
        sadd.extend(many.iter().map(String::as_str));
        c.cmd(&sadd);
        // AUTH is never logged (skip_slowlog), nor EXEC.
        c.cmd(&["AUTH", "nopass"]);
        c.cmd(&["MULTI"]);
        c.cmd(&["INCR", "n"]);
        c.cmd(&["EXEC"]);
        c.cmd(&["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "lk"]);
        out.push(String::from_utf8_lossy(&c.cmd(&["SLOWLOG", "LEN"])).into_owned());
        out.extend(slowlog_entries(&mut c, "-1"));
        out.extend(slowlog_entries(&mut c, "2"));
        c.cmd(&["CONFIG", "SET", "slowlog-max-len", "3"]);
        c.cmd(&["PING"]);
        out.push(String::from_utf8_lossy(&c.cmd(&["SLOWLOG", "LEN"])).into_owned());
        out.extend(slowlog_entries(&mut c, "10"));
        // A shorter log is trimmed by the next command while the log is on, not before.
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.cmd(&["CONFIG", "SET", "slowlog-max-len", "1"]);
        c.cmd(&["PING"]);
        out.push(e2e::text(c.cmd(&["SLOWLOG", "LEN"])));
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "1000000000"]);
        c.cmd(&["PING"]);
        out.push(e2e::text(c.cmd(&["SLOWLOG", "LEN"])));
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.cmd(&["SLOWLOG", "RESET"]);
        c.cmd(&["SET", "k", "v"]);
        out.push(String::from_utf8_lossy(&c.cmd(&["SLOWLOG", "LEN"])).into_owned());
        out
    });
}

#[test]
fn latency_subcommands_without_events_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        LATENCY
        LATENCY HELP
        LATENCY NOSUCH
        LATENCY HISTORY
        LATENCY HISTORY command
        LATENCY GRAPH command
        LATENCY GRAPH command x
        LATENCY LATEST
        LATENCY LATEST x
        LATENCY DOCTOR
        LATENCY RESET
        LATENCY RESET command fast-command
        LATENCY HISTOGRAM nosuchcommand
        CONFIG SET latency-monitor-threshold 100000
        LATENCY DOCTOR
        CONFIG SET latency-monitor-threshold 0
        "#,
    );
}

#[test]
fn latency_histogram_counts_calls_per_command() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        c.cmd(&["CONFIG", "RESETSTAT"]);
        for _ in 0..3 {
            c.cmd(&["SET", "k", "v"]);
        }
        c.cmd(&["CONFIG", "GET", "port"]);
        let mut out = Vec::new();
        for args in [
            &["LATENCY", "HISTOGRAM", "set", "nosuch"][..],
            &["LATENCY", "HISTOGRAM", "CONFIG"][..],
        ] {
            let reply = parse(&c.cmd(args));
            let pairs = items(&reply);
            for pair in pairs.chunks(2) {
                let detail = items(&pair[1]);
                out.push(format!(
                    "{} {:?} {:?}",
                    bulk_text(&pair[0]),
                    detail[0],
                    detail[1]
                ));
                // The buckets: cumulative counts end at the number of calls.
                let buckets = items(&detail[3]);
                assert_eq!(buckets.last(), Some(&detail[1]), "{detail:?}");
            }
        }
        // Redis lists a container's subcommands in its hash table's order.
        out.sort();
        out
    });
}

#[test]
fn latency_monitor_records_slow_commands_like_redis() {
    let Some(d) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = Vec::new();
        // A loaded machine may make another command slow too: only what DEBUG SLEEP
        // certainly caused is compared.
        c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "20"]);
        c.cmd(&["DEBUG", "SLEEP", "0.05"]);
        let latest = parse(&c.cmd(&["LATENCY", "LATEST"]));
        for event in items(&latest) {
            let fields = items(event);
            if bulk_text(&fields[0]) == "command" {
                out.push(format!("latest command {}", fields.len()));
                let Resp::Int(ms) = fields[2] else {
                    panic!("{fields:?}")
                };
                out.push(format!("at least 50 ms: {}", ms >= 50));
            }
        }
        let history = parse(&c.cmd(&["LATENCY", "HISTORY", "command"]));
        out.push(format!("history {}", !items(&history).is_empty()));
        let doctor = bulk_text(&parse(&c.cmd(&["LATENCY", "DOCTOR"])));
        out.push(doctor.lines().next().unwrap_or_default().to_owned());
        let graph = bulk_text(&parse(&c.cmd(&["LATENCY", "GRAPH", "command"])));
        out.push(graph.lines().nth(1).unwrap_or_default().to_owned());
        out.push(e2e::text(c.cmd(&["LATENCY", "RESET", "command"])));
        out.push(e2e::text(c.cmd(&["LATENCY", "HISTORY", "command"])));
        out
    });
}

/// A MONITOR line with its timestamp and the client's port masked.
fn mask_monitor(line: Vec<u8>) -> String {
    let text = String::from_utf8_lossy(&line).into_owned();
    let Some(rest) = text.strip_prefix('+').filter(|r| r.contains(" [")) else {
        return text;
    };
    let (stamp, rest) = rest.split_once(' ').expect("timestamp");
    let (secs, micros) = stamp.split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{text}");
    let (who, args) = rest.split_once("] ").expect("[db addr]");
    format!("+T {}] {args}", mask_port(who))
}

#[test]
fn monitor_lines_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut monitor = server.raw();
        let mut out = vec![String::from_utf8_lossy(&monitor.cmd(&["MONITOR"])).into_owned()];
        let mut c = server.raw();
        for args in [
            &["SET", "k", "a \"b\"\n\t\\"][..],
            &["GET", "k"],
            &["SELECT", "1"],
            &["CONFIG", "GET", "port"],
            &["MULTI"],
            &["INCR", "n"],
            &["EXEC"],
            &["GET"],
            &["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "lk"],
            &["AUTH", "secret"],
            &["CONFIG", "SET", "requirepass", ""],
            &["HELLO", "2", "AUTH", "default", "pw"],
            &["ACL", "SETUSER", "alice", "on", ">secret", "~k*", "+get"],
            &["ACL", "DELUSER", "alice"],
            &["PING"],
        ] {
            c.cmd(args);
        }
        c.cmd_bytes(&[b"SET", b"bin", b"\x00\x01\xff"]);
        c.cmd(&["ECHO", "last"]);
        loop {
            let line = mask_monitor(monitor.read_reply().expect("monitor line"));
            let done = line.contains("\"last\"");
            out.push(line);
            if done {
                break;
            }
        }
        out
    });
}

#[test]
fn debug_is_refused_unless_enabled() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        DEBUG
        DEBUG HELP
        DEBUG SLEEP 0
        DEBUG nosuch
        "#,
    );
}

#[test]
fn debug_subcommands_match_redis_when_enabled() {
    let Some(d) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.check_both(
        r#"
        DEBUG HELP
        DEBUG SLEEP 0
        DEBUG SLEEP 0.001
        DEBUG SLEEP
        DEBUG SET-ACTIVE-EXPIRE 0
        DEBUG SET-ACTIVE-EXPIRE 1
        DEBUG SET-ACTIVE-EXPIRE
        DEBUG QUICKLIST-PACKED-THRESHOLD 0
        DEBUG QUICKLIST-PACKED-THRESHOLD 100mb
        DEBUG QUICKLIST-PACKED-THRESHOLD 5gb
        DEBUG QUICKLIST-PACKED-THRESHOLD abc
        DEBUG LOG hello
        DEBUG ERROR "some error"
        DEBUG CHANGE-REPL-ID
        DEBUG DIGEST
        DEBUG DIGEST x
        DEBUG DIGEST-VALUE
        SET str hello
        SET int 12345
        RPUSH list a b c 1 2
        SADD set 1 2 3
        SADD set2 a b c
        ZADD zset 1 a 2.5 b -3 c 1e100 d
        HSET hash f v g w
        XADD stream 1-1 f v g w
        XADD stream 2-5 f2 v2
        SET temp x EX 1000
        SELECT 3
        SET other db
        SELECT 0
        DEBUG DIGEST
        DEBUG DIGEST-VALUE str int list set set2 zset hash stream temp nokey
        SET k v
        DEBUG RELOAD
        DEBUG RELOAD NOSAVE NOFLUSH MERGE
        DEBUG RELOAD bogus
        GET k
        DEBUG nosuch
        "#,
    );
}

#[test]
fn lolwut_and_wait_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        LOLWUT
        LOLWUT VERSION
        LOLWUT VERSION x
        LOLWUT VERSION 7
        LOLWUT foo bar
        LOLWUT VERSION 5 1 1 1
        LOLWUT VERSION 5 10 2 2
        LOLWUT VERSION 5 66 8 2
        LOLWUT VERSION 5 33 3 1
        LOLWUT VERSION 5 -5 0 0
        LOLWUT VERSION 5 abc
        LOLWUT VERSION 5 10 x
        LOLWUT VERSION 4294967301 10 2 2
        LOLWUT VERSION 6 x
        LOLWUT VERSION 6 10 y
        WAIT
        WAIT 0 0
        WAIT -1 10
        WAIT x 0
        WAIT 0 x
        WAIT 0 -1
        WAIT 0 1.5
        "#,
    );
}

/// Reads `n` more frames from `c`, as text.
fn frames(c: &mut RawConn, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| String::from_utf8_lossy(&c.read_reply().expect("frame")).into_owned())
        .collect()
}

fn sharded_pubsub_scenario(server: &Server, resp: &str) -> Vec<String> {
    let mut sub = server.raw();
    let mut other = server.raw();
    let mut out = Vec::new();
    if resp == "3" {
        sub.cmd(&["HELLO", "3"]);
    }
    out.push(e2e::text(sub.cmd(&["SSUBSCRIBE", "a", "b", "a"])));
    out.extend(frames(&mut sub, 2));
    out.push(e2e::text(sub.cmd(&["SUBSCRIBE", "a"])));
    out.push(e2e::text(sub.cmd(&["GET", "x"])));
    out.push(e2e::text(other.cmd(&["SPUBLISH", "a", "hello"])));
    out.push(e2e::text(other.cmd(&["PUBLISH", "b", "plain"])));
    out.push(e2e::text(other.cmd(&["SPUBLISH", "nobody", "x"])));
    out.extend(frames(&mut sub, 1));
    out.push(e2e::text(e2e::sorted_reply(
        &other.cmd(&["PUBSUB", "SHARDCHANNELS"]),
        1,
    )));
    out.push(e2e::text(other.cmd(&["PUBSUB", "SHARDCHANNELS", "b*"])));
    out.push(e2e::text(other.cmd(&["PUBSUB", "SHARDCHANNELS", "a", "b"])));
    out.push(e2e::text(other.cmd(&[
        "PUBSUB",
        "SHARDNUMSUB",
        "a",
        "b",
        "c",
    ])));
    out.push(e2e::text(other.cmd(&["PUBSUB", "NUMSUB", "a", "b"])));
    out.push(e2e::text(other.cmd(&["PUBSUB", "CHANNELS"])));
    let stats = bulk_text(&parse(&other.cmd(&["INFO", "stats"])));
    out.extend(
        stats
            .split("\r\n")
            .filter(|l| l.starts_with("pubsub"))
            .map(str::to_owned),
    );
    out.push(e2e::text(sub.cmd(&["SUNSUBSCRIBE", "a", "zzz"])));
    out.extend(frames(&mut sub, 1));
    out.push(e2e::text(sub.cmd(&["UNSUBSCRIBE"])));
    out.push(e2e::text(sub.cmd(&["SUNSUBSCRIBE"])));
    out.push(e2e::text(sub.cmd(&["SUNSUBSCRIBE"])));
    out.push(e2e::text(sub.cmd(&["GET", "x"])));
    out.push(e2e::text(other.cmd(&["SPUBLISH", "b", "gone"])));
    out.push(e2e::text(other.cmd(&["MULTI"])));
    out.push(e2e::text(other.cmd(&["SSUBSCRIBE", "m"])));
    out.push(e2e::text(other.cmd(&["EXEC"])));
    out.push(e2e::text(other.cmd(&["SSUBSCRIBE"])));
    out.push(e2e::text(other.cmd(&["SPUBLISH", "a"])));
    out
}

#[test]
fn sharded_pubsub_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| sharded_pubsub_scenario(server, "2"));
    d.same_transcripts(|server| sharded_pubsub_scenario(server, "3"));
}

#[test]
fn client_pause_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        CLIENT PAUSE
        CLIENT PAUSE abc
        CLIENT PAUSE -1
        CLIENT PAUSE 10 foo
        CLIENT PAUSE abc foo
        CLIENT PAUSE 10 write extra
        CLIENT UNPAUSE x
        CLIENT PAUSE 0
        CLIENT PAUSE 0 WRITE
        CLIENT UNPAUSE
        CLIENT NO-EVICT maybe
        CLIENT NO-EVICT on
        CLIENT NO-EVICT OFF
        "#,
    );
}

fn pause_scenario(server: &Server) -> Vec<String> {
    let mut admin = server.raw();
    let mut writer = server.raw();
    let mut out = Vec::new();
    out.push(e2e::text(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])));
    // Reads go on; the write waits for the pause to end, and so does what follows it.
    out.push(e2e::text(writer.cmd(&["GET", "k"])));
    e2e::send_command(&mut writer, &["SET", "k", "v"]);
    e2e::send_command(&mut writer, &["GET", "k"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    out.push(e2e::text(admin.cmd(&["GET", "k"])));
    out.push(e2e::text(admin.cmd(&["CLIENT", "UNPAUSE"])));
    out.extend(frames(&mut writer, 2));
    // ALL holds every command, the pauser's own included, until the timeout.
    out.push(e2e::text(admin.cmd(&["CLIENT", "PAUSE", "200", "ALL"])));
    out.push(e2e::text(writer.cmd(&["GET", "k"])));
    out.push(e2e::text(admin.cmd(&["PING"])));
    out
}

#[test]
fn client_pause_holds_commands_until_unpaused() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(pause_scenario);
}

/// CLIENT LIST's flags, subscription counts and last command, one line per client, sorted.
fn client_list_fields(c: &mut RawConn) -> Vec<String> {
    let list = bulk_text(&parse(&c.cmd(&["CLIENT", "LIST"])));
    let mut lines: Vec<String> = list
        .lines()
        .map(|line| {
            line.split(' ')
                .filter(|f| {
                    ["flags=", "sub=", "psub=", "ssub=", "cmd="]
                        .iter()
                        .any(|k| f.starts_with(k))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn client_list_shows_monitors_and_shard_subscribers() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut monitor = server.raw();
        let mut sub = server.raw();
        let mut c = server.raw();
        monitor.cmd(&["MONITOR"]);
        sub.cmd(&["SSUBSCRIBE", "x", "y"]);
        sub.read_reply().expect("second confirmation");
        let mut out = client_list_fields(&mut c);
        // A second MONITOR is ignored without a reply.
        e2e::send_command(&mut monitor, &["MONITOR"]);
        e2e::send_command(&mut monitor, &["PING"]);
        loop {
            let frame = mask_monitor(monitor.read_reply().expect("reply"));
            let done = frame == "+PONG\r\n";
            out.push(frame);
            if done {
                break;
            }
        }
        out
    });
}

#[test]
fn protocol_errors_count_in_errorstats() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut bad = server.raw();
        bad.send(b"*1\r\n$x\r\n");
        let mut out = vec![e2e::text(bad.read_to_close())];
        let mut c = server.raw();
        out.push(e2e::text(c.cmd(&["INFO", "errorstats"])));
        out
    });
}

/// A DEBUG OBJECT line with the address and LRU clock masked.
fn mask_debug_object(reply: Vec<u8>) -> String {
    e2e::text(reply)
        .split(' ')
        .map(|field| match field.split_once(':') {
            Some(("at" | "lru", _)) => "MASKED".to_owned(),
            _ => field.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn debug_object_matches_redis() {
    let Some(d) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let long: String = "x".repeat(60);
        let varied: String = (0..200)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let members: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
        let mut rpush = vec!["RPUSH", "biglist"];
        rpush.extend(members.iter().map(String::as_str));
        let mut sadd = vec!["SADD", "bigset"];
        sadd.extend(members.iter().map(String::as_str));
        for args in [
            &["RPUSH", "ql", "a", "b", "c"][..],
            &["SET", "int", "12"],
            &["SET", "bigint", "123456"],
            &["SET", "emb", "hello"],
            &["SET", "long", &long],
            &["SET", "varied", &varied],
            &["HSET", "h", "f", "v"],
            &["SADD", "st", "1", "2"],
            &["ZADD", "z", "1", "a"],
            &rpush,
            &sadd,
        ] {
            c.cmd(args);
        }
        let mut out = Vec::new();
        for key in [
            "ql", "int", "bigint", "emb", "long", "varied", "h", "st", "z", "biglist", "bigset",
            "nokey",
        ] {
            out.push(mask_debug_object(c.cmd(&["DEBUG", "OBJECT", key])));
        }
        out.push(e2e::text(c.cmd(&["DEBUG", "OBJECT"])));
        out
    });
}

#[test]
fn blocked_commands_enter_the_slowlog_when_released() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut waiter = server.raw();
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        c.cmd(&["CONFIG", "RESETSTAT"]);
        c.cmd(&["SLOWLOG", "RESET"]);
        let mut out = vec![e2e::text(waiter.cmd(&["BLPOP", "nolist", "0.05"]))];
        e2e::send_command(&mut waiter, &["BLPOP", "l", "0"]);
        e2e::wait_blocked(&mut c, 1);
        out.push(e2e::text(c.cmd(&["RPUSH", "l", "x"])));
        out.push(e2e::text(waiter.read_reply().expect("served")));
        out.extend(slowlog_entries(&mut c, "-1"));
        out.extend(info_lines(c.cmd(&["INFO", "commandstats"]), |_, v| {
            mask_cmdstat(v)
        }));
        // How often wait_blocked polled INFO depends on timing; ids follow from it too.
        out.retain(|l| !l.contains("INFO") && !l.starts_with("cmdstat_info:"));
        out.iter()
            .map(|l| {
                l.split_once(") ")
                    .map_or(l.clone(), |(_, rest)| rest.to_owned())
            })
            .collect()
    });
}

#[test]
fn deterministic_replies_match_redis_in_both_protocols() {
    let Some(d) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.check_both(
        r#"
        LATENCY HISTOGRAM nosuch
        LATENCY LATEST
        LATENCY HISTORY command
        PUBSUB SHARDNUMSUB a b
        PUBSUB SHARDCHANNELS
        SPUBLISH a b
        SLOWLOG GET 0
        SLOWLOG LEN
        SET k v
        DEBUG DIGEST-VALUE k
        DEBUG OBJECT nokey
        LOLWUT
        WAIT 0 0
        "#,
    );
}

#[test]
fn wait_blocks_until_its_timeout_or_client_unblock() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut waiter = server.raw();
        let mut ctl = server.raw();
        let mut out = vec![e2e::text(waiter.cmd(&["WAIT", "1", "50"]))];
        let id = e2e::text(waiter.cmd(&["CLIENT", "ID"]));
        let id = id.trim_start_matches(':').trim_end().to_owned();
        for mode in ["TIMEOUT", "ERROR"] {
            e2e::send_command(&mut waiter, &["WAIT", "2", "0"]);
            e2e::wait_blocked(&mut ctl, 1);
            out.push(e2e::text(ctl.cmd(&["CLIENT", "UNBLOCK", &id, mode])));
            out.push(e2e::text(waiter.read_reply().expect("released")));
        }
        out.push(e2e::text(waiter.cmd(&["MULTI"])));
        out.push(e2e::text(waiter.cmd(&["WAIT", "1", "0"])));
        out.push(e2e::text(waiter.cmd(&["EXEC"])));
        out
    });
}

#[test]
fn debug_set_active_expire_stops_the_sweep() {
    let Some(d) = Differential::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = vec![e2e::text(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]))];
        c.cmd(&["SET", "k", "v", "PX", "20"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        // Nobody read it and nothing swept it: still counted until touched.
        out.push(e2e::text(c.cmd(&["DBSIZE"])));
        out.push(e2e::text(c.cmd(&["GET", "k"])));
        out.push(e2e::text(c.cmd(&["DBSIZE"])));
        out.push(e2e::text(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"])));
        out
    });
}

#[test]
fn reset_ends_monitor_mode() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut monitor = server.raw();
        let mut c = server.raw();
        let mut out = vec![e2e::text(monitor.cmd(&["MONITOR"]))];
        out.push(e2e::text(monitor.cmd(&["RESET"])));
        c.cmd(&["SET", "unseen", "1"]);
        out.push(e2e::text(monitor.cmd(&["PING"])));
        out.extend(client_list_fields(&mut c));
        out
    });
}
