//! Pub/sub against redis-server 7.0 byte for byte: confirmations and messages in RESP2 and
//! RESP3 (push frames), the RESP2 subscribed mode and its errors, PUBSUB introspection,
//! many subscribers and patterns receiving the same messages in the same order, and a slow
//! subscriber disconnected at `client-output-buffer-limit pubsub` while the others carry on.

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::Duration;

use e2e::{Differential, RawConn, Server};

/// Sends one command, reads `frames` replies, and records the exchange.
fn say(log: &mut Vec<String>, conn: &mut RawConn, line: &str, frames: usize) {
    let args = e2e::words(line);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    conn.send(&e2e::encode_command(&args));
    let mut replies = String::new();
    for _ in 0..frames {
        replies.push_str(&String::from_utf8_lossy(&conn.read_reply().expect("reply")));
    }
    log.push(format!("{line} -> {replies}"));
}

/// Reads `n` frames (messages) and records them.
fn hear(log: &mut Vec<String>, conn: &mut RawConn, n: usize) {
    for _ in 0..n {
        let frame = conn.read_reply().expect("message");
        log.push(String::from_utf8_lossy(&frame).into_owned());
    }
}

fn resp3(server: &Server) -> RawConn {
    let mut conn = server.raw();
    conn.cmd(&["HELLO", "3"]);
    conn
}

#[test]
fn subscribed_mode_and_confirmations_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        UNSUBSCRIBE
        PUNSUBSCRIBE
        UNSUBSCRIBE nothing
        PUNSUBSCRIBE nothing*
        SUBSCRIBE
        PSUBSCRIBE
        SUBSCRIBE news
        SUBSCRIBE news
        PSUBSCRIBE n*
        GET k
        SET k v
        MULTI
        DISCARD
        PUBSUB NUMSUB news
        CLIENT GETNAME
        ECHO x
        PING
        PING hello
        PING a b
        PUBLISH news hi
        SUBSCRIBE
        UNSUBSCRIBE other
        UNSUBSCRIBE news
        PUNSUBSCRIBE n*
        GET k
        PSUBSCRIBE p*
        PUNSUBSCRIBE
        PUNSUBSCRIBE
        SUBSCRIBE again
        RESET
        GET k
        PING
        "#,
    );
}

#[test]
fn multi_channel_subscriptions_and_self_publish_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        for mut conn in [server.raw(), resp3(server)] {
            say(&mut log, &mut conn, "SUBSCRIBE a b a", 3);
            say(&mut log, &mut conn, "PSUBSCRIBE x* y? x*", 3);
            say(&mut log, &mut conn, "UNSUBSCRIBE b c", 2);
            say(&mut log, &mut conn, "PUNSUBSCRIBE y? z", 2);
            // RESP3 may publish while subscribed: the message precedes PUBLISH's reply.
            if log.len() > 4 {
                say(&mut log, &mut conn, "PUBLISH a hello", 2);
                say(&mut log, &mut conn, "PUBLISH xa hello", 2);
                say(&mut log, &mut conn, "PUBLISH nobody hello", 1);
                say(&mut log, &mut conn, "GET a", 1);
                // Inside EXEC, Redis 7.0 writes the push inside the array, before the reply
                // of the command that published it.
                say(&mut log, &mut conn, "MULTI", 1);
                say(&mut log, &mut conn, "PUBLISH a inside", 1);
                say(&mut log, &mut conn, "PING", 1);
                say(&mut log, &mut conn, "EXEC", 2);
            }
            say(&mut log, &mut conn, "UNSUBSCRIBE", 1);
            say(&mut log, &mut conn, "PUNSUBSCRIBE", 1);
            say(&mut log, &mut conn, "PING", 1);
        }
        log
    });
}

#[test]
fn pubsub_introspection_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        PUBSUB
        PUBSUB HELP
        pubsub help
        PUBSUB HELP x
        PUBSUB NOSUCH
        PUBSUB CHANNELS
        PUBSUB CHANNELS *
        PUBSUB CHANNELS a b
        PUBSUB NUMSUB
        PUBSUB NUMSUB a b a
        PUBSUB NUMPAT
        PUBSUB NUMPAT x
        PUBSUB SHARDCHANNELS
        PUBSUB shardchannels x y
        PUBSUB SHARDNUMSUB
        PUBSUB SHARDNUMSUB a b
        PUBLISH
        PUBLISH ch
        PUBLISH ch msg
        PUBLISH ch msg extra
        "#,
    );
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        let mut subs: Vec<RawConn> = (0..3).map(|_| server.raw()).collect();
        say(&mut log, &mut subs[0], "SUBSCRIBE news sport", 2);
        say(&mut log, &mut subs[1], "SUBSCRIBE news", 1);
        say(&mut log, &mut subs[2], "PSUBSCRIBE n* s*", 2);
        say(&mut log, &mut subs[1], "PSUBSCRIBE n*", 1);
        let mut admin = server.raw();
        say(&mut log, &mut admin, "PUBSUB NUMSUB news sport weather", 1);
        say(&mut log, &mut admin, "PUBSUB NUMPAT", 1);
        let channels = |admin: &mut RawConn, pattern: &[&str]| {
            let mut args = vec!["PUBSUB", "CHANNELS"];
            args.extend(pattern);
            let reply = admin.cmd(&args);
            // Hash-table order is unspecified: compare the set.
            let text = String::from_utf8_lossy(&reply).into_owned();
            let set: BTreeSet<String> = text.lines().skip(1).map(str::to_owned).collect();
            format!("{set:?}")
        };
        log.push(channels(&mut admin, &[]));
        log.push(channels(&mut admin, &["n*"]));
        // A subscriber that goes away is forgotten.
        drop(subs.remove(0));
        while admin.cmd(&["PUBSUB", "NUMSUB", "sport"]) != b"*2\r\n$5\r\nsport\r\n:0\r\n" {
            sleep(Duration::from_millis(10));
        }
        say(&mut log, &mut admin, "PUBSUB NUMSUB news sport", 1);
        log.push(channels(&mut admin, &[]));
        drop(subs);
        while admin.cmd(&["PUBSUB", "NUMPAT"]) != b":0\r\n" {
            sleep(Duration::from_millis(10));
        }
        say(&mut log, &mut admin, "PUBLISH news x", 1);
        log
    });
}

#[test]
fn every_subscriber_and_pattern_gets_the_messages_in_order() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        let mut channel = server.raw();
        let mut pattern = server.raw();
        let mut both = server.raw();
        let mut pushes = resp3(server);
        let mut other = server.raw();
        say(&mut log, &mut channel, "SUBSCRIBE news", 1);
        say(&mut log, &mut pattern, "PSUBSCRIBE ne*", 1);
        say(&mut log, &mut both, "SUBSCRIBE news", 1);
        say(&mut log, &mut both, "PSUBSCRIBE n?ws", 1);
        say(&mut log, &mut pushes, "SUBSCRIBE news", 1);
        say(&mut log, &mut pushes, "PSUBSCRIBE *", 1);
        say(&mut log, &mut other, "SUBSCRIBE sport", 1);
        let mut publisher = server.raw();
        for i in 0..100 {
            let channel = if i % 10 == 9 { "sport" } else { "news" };
            say(
                &mut log,
                &mut publisher,
                &format!("PUBLISH {channel} \"message {i}\""),
                1,
            );
        }
        say(&mut log, &mut publisher, "PUBLISH news \"\"", 1);
        hear(&mut log, &mut channel, 91);
        hear(&mut log, &mut pattern, 91);
        hear(&mut log, &mut both, 2 * 91);
        hear(&mut log, &mut pushes, 2 * 91 + 10);
        hear(&mut log, &mut other, 10);
        // Nothing else arrived: the next reply is PING's.
        say(&mut log, &mut channel, "PING", 1);
        say(&mut log, &mut pushes, "PING", 1);
        log
    });
}

/// A subscriber that never reads is disconnected once its queue passes the limit; the
/// publisher never waits for it, and a subscriber that reads gets every message.
#[test]
fn a_slow_subscriber_is_disconnected_at_the_output_buffer_limit() {
    // 4 MB: the reader must not be dropped when a loaded machine delays its writes for the
    // time of a few dozen publishes (kvstore queues for it meanwhile; Redis writes to every
    // client between two commands).
    let args = ["--client-output-buffer-limit", "pubsub 4mb 2mb 1"];
    let Some(d) = Differential::start(&args) else {
        return;
    };
    for server in [&d.ours, &d.reference] {
        let mut slow = server.raw();
        slow.cmd(&["SUBSCRIBE", "flood"]);
        let mut reader = server.raw();
        reader.cmd(&["SUBSCRIBE", "flood"]);
        let reading = std::thread::spawn(move || {
            let mut n = 0u64;
            loop {
                let frame = reader.read_reply().expect("message");
                if frame.ends_with(b"$3\r\nend\r\n") {
                    return n;
                }
                n += 1;
            }
        });
        let mut publisher = server.raw();
        let payload = "x".repeat(64 * 1024);
        let mut published = 0u64;
        let mut dropped = false;
        // 64 MiB at most: far more than the limit plus both sockets' kernel buffers.
        for _ in 0..1024 {
            let receivers = publisher.cmd(&["PUBLISH", "flood", &payload]);
            published += 1;
            if receivers == b":1\r\n" {
                dropped = true;
                break;
            }
            assert_eq!(receivers, b":2\r\n");
        }
        assert!(dropped, "{:?} kept the slow subscriber", server.flavor);
        assert_eq!(publisher.cmd(&["PUBLISH", "flood", "end"]), b":1\r\n");
        assert_eq!(reading.join().unwrap(), published, "{:?}", server.flavor);
        // The slow subscriber's connection ends after what the kernel had buffered.
        slow.read_to_close();
        assert_eq!(publisher.cmd(&["PING"]), b"+PONG\r\n");
        while publisher.cmd(&["PUBSUB", "NUMSUB", "flood"]) != b"*2\r\n$5\r\nflood\r\n:0\r\n" {
            sleep(Duration::from_millis(10));
        }
    }
}

/// The fields of a CLIENT LIST line that describe subscriptions and transactions.
fn state_fields(line: &str) -> String {
    line.split(' ')
        .filter(|f| {
            ["flags=", "sub=", "psub=", "multi="]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn client_list_shows_subscribers_and_transactions_like_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        let mut sub = server.raw();
        say(&mut log, &mut sub, "SUBSCRIBE a b", 2);
        say(&mut log, &mut sub, "PSUBSCRIBE c*", 1);
        let mut tx = server.raw();
        say(&mut log, &mut tx, "MULTI", 1);
        say(&mut log, &mut tx, "SET k v", 1);
        say(&mut log, &mut tx, "GET k", 1);
        let mut admin = server.raw();
        for kind in ["pubsub", "normal"] {
            let reply = admin.cmd(&["CLIENT", "LIST", "TYPE", kind]);
            let text = String::from_utf8_lossy(&reply).into_owned();
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with("id="))
                .map(state_fields)
                .collect();
            lines.sort();
            log.push(format!("{kind}: {lines:?}"));
        }
        say(&mut log, &mut admin, "CLIENT KILL TYPE pubsub", 1);
        say(&mut log, &mut tx, "EXEC", 1);
        log
    });
}

/// Subscribers wait for messages: the idle `timeout` does not close them.
#[test]
fn idle_timeout_spares_subscribers() {
    let Some(d) = Differential::start(&["--timeout", "1"]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        let mut sub = server.raw();
        say(&mut log, &mut sub, "SUBSCRIBE news", 1);
        sleep(Duration::from_millis(2500));
        say(&mut log, &mut server.raw(), "PUBLISH news still-here", 1);
        hear(&mut log, &mut sub, 1);
        log
    });
}

/// CLIENT KILL reaches a subscriber whose socket is full (its connection is stuck writing).
#[test]
fn client_kill_ends_a_subscriber_stuck_on_a_full_socket() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    for server in [&d.ours, &d.reference] {
        let mut slow = server.raw();
        slow.cmd(&["SUBSCRIBE", "flood"]);
        let mut publisher = server.raw();
        let payload = "x".repeat(64 * 1024);
        // 24 MiB: more than the sockets hold, less than the default 32mb limit.
        for _ in 0..384 {
            assert_eq!(publisher.cmd(&["PUBLISH", "flood", &payload]), b":1\r\n");
        }
        assert_eq!(
            publisher.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]),
            b":1\r\n"
        );
        let mut waited = 0;
        while publisher.cmd(&["PUBSUB", "NUMSUB", "flood"]) != b"*2\r\n$5\r\nflood\r\n:0\r\n" {
            waited += 1;
            assert!(
                waited < 1000,
                "{:?} kept the killed subscriber",
                server.flavor
            );
            sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn info_counts_channels_and_patterns() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut sub = server.raw();
        let mut log = Vec::new();
        say(&mut log, &mut sub, "SUBSCRIBE a b", 2);
        say(&mut log, &mut sub, "PSUBSCRIBE c* d*", 2);
        let info = server.raw().cmd(&["INFO", "stats"]);
        let info = String::from_utf8_lossy(&info).into_owned();
        log.extend(
            info.lines()
                .filter(|l| l.starts_with("pubsub"))
                .map(str::to_owned),
        );
        log
    });
}

/// Concurrent publishers: every subscriber, by channel or by pattern, sees every message
/// once and all of them in the same order.
#[test]
fn concurrent_publishers_reach_every_subscriber_in_one_order() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    for server in [&d.ours, &d.reference] {
        let mut subscribers = Vec::new();
        for (i, command) in ["SUBSCRIBE", "SUBSCRIBE", "PSUBSCRIBE"].iter().enumerate() {
            let mut conn = if i == 1 { resp3(server) } else { server.raw() };
            let target = if *command == "PSUBSCRIBE" {
                "ev*"
            } else {
                "events"
            };
            conn.cmd(&[command, target]);
            subscribers.push(std::thread::spawn(move || {
                let mut seen = Vec::new();
                while seen.len() < 4 * 250 {
                    let frame = conn.read_reply().expect("message");
                    let text = String::from_utf8_lossy(&frame).into_owned();
                    let payload = text.lines().last().unwrap().to_owned();
                    seen.push(payload);
                }
                seen
            }));
        }
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                let mut conn = server.raw();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        let reply = conn.cmd(&["PUBLISH", "events", &format!("{p}-{i}")]);
                        assert_eq!(reply, b":3\r\n");
                    }
                })
            })
            .collect();
        publishers.into_iter().for_each(|p| p.join().unwrap());
        let seen: Vec<Vec<String>> = subscribers.into_iter().map(|s| s.join().unwrap()).collect();
        let mut distinct = seen[0].clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 1000, "{:?}", server.flavor);
        assert!(seen.iter().all(|s| *s == seen[0]), "{:?}", server.flavor);
        // Each publisher's own messages stay in its order.
        for p in 0..4 {
            let mine: Vec<&String> = seen[0]
                .iter()
                .filter(|m| m.starts_with(&format!("{p}-")))
                .collect();
            let expected: Vec<String> = (0..250).map(|i| format!("{p}-{i}")).collect();
            assert!(mine.iter().zip(&expected).all(|(a, b)| *a == b));
        }
    }
}

#[test]
fn command_info_and_docs_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    // Not the PUBSUB container: Redis lists its subcommands in hash-table order, which
    // changes from run to run.
    let names = "subscribe unsubscribe psubscribe punsubscribe publish pubsub|channels \
                 pubsub|numsub pubsub|numpat pubsub|shardchannels pubsub|shardnumsub pubsub|help \
                 multi exec discard watch unwatch";
    let mut script = String::new();
    for name in names.split_whitespace() {
        script.push_str(&format!("COMMAND INFO {name}\nCOMMAND DOCS {name}\n"));
    }
    script.push_str("COMMAND GETKEYS WATCH a b c\n");
    d.check_both(&script);
}

/// HELLO switches the framing of the messages published after it.
#[test]
fn messages_follow_the_subscribers_protocol_switches() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut log = Vec::new();
        let mut sub = resp3(server);
        let mut publisher = server.raw();
        say(&mut log, &mut sub, "SUBSCRIBE ch", 1);
        say(&mut log, &mut publisher, "PUBLISH ch one", 1);
        hear(&mut log, &mut sub, 1);
        say(&mut log, &mut sub, "HELLO 2", 1);
        say(&mut log, &mut publisher, "PUBLISH ch two", 1);
        hear(&mut log, &mut sub, 1);
        say(&mut log, &mut sub, "PING", 1);
        say(&mut log, &mut sub, "RESET", 1);
        say(&mut log, &mut publisher, "PUBLISH ch three", 1);
        say(&mut log, &mut sub, "PING", 1);
        // Drop the HELLO maps' client ids: they differ between servers.
        log.retain(|l| !l.starts_with("HELLO"));
        log
    });
}
