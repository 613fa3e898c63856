//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against redis-server 7.0 byte for byte: queuing,
//! EXECABORT, per-command runtime errors, refusals; WATCH invalidated by other clients, by
//! the client itself, by expiry and by flushes (multi-connection scenarios run on both
//! servers and compare transcripts); EXEC's atomicity under concurrency and its durability
//! under `appendfsync always`.

use std::thread::sleep;
use std::time::Duration;

use e2e::{Differential, RawConn, Server};

/// Sends one command and records the exchange.
fn say(log: &mut Vec<String>, conn: &mut RawConn, line: &str) {
    let args = e2e::words(line);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reply = conn.cmd(&args);
    log.push(format!("{line} -> {}", String::from_utf8_lossy(&reply)));
}

#[test]
fn queuing_errors_and_nesting_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EXEC
        DISCARD
        MULTI
        MULTI
        SET a 1
        WATCH a
        GET a
        EXEC
        GET a
        EXEC
        MULTI
        SET a
        INCR a
        EXEC
        GET a
        MULTI
        NOSUCHCOMMAND x
        DISCARD
        MULTI
        CONFIG NOSUCH
        EXEC
        MULTI
        SAVE
        EXEC
        MULTI
        SHUTDOWN
        DISCARD
        MULTI
        EXEC
        EXEC x
        MULTI
        SET a 1
        EXEC x
        EXEC
        MULTI
        SET s text
        INCR s
        APPEND s more
        PING
        ECHO hi
        GET nothing
        EXEC
        GET s
        MULTI
        RESET
        EXEC
        "#,
    );
}

#[test]
fn queued_commands_see_select_and_run_in_order() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        MULTI
        SET k 1
        SELECT 1
        SET k 2
        INCR k
        SELECT 0
        GET k
        DEL k
        EXISTS k
        EXEC
        SELECT 1
        GET k
        SELECT 0
        MULTI
        SELECT 99
        SET x y
        EXEC
        GET x
        "#,
    );
}

#[test]
fn exec_refused_before_auth_discards_the_transaction() {
    let Some(d) = Differential::start(&["--requirepass", "pw"]) else {
        return;
    };
    d.check(
        2,
        r#"
        EXEC
        MULTI
        EXEC x
        AUTH pw
        MULTI
        SET a b
        EXEC x
        EXEC
        MULTI
        GET a
        EXEC
        "#,
    );
}

#[test]
fn watch_unwatch_and_discard_on_one_connection_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        WATCH
        WATCH a b a
        UNWATCH
        SET a 1
        MULTI
        EXEC
        WATCH a
        SET a 2
        MULTI
        SET a 3
        EXEC
        GET a
        WATCH a
        GET a
        MULTI
        INCR a
        EXEC
        WATCH a
        MULTI
        DISCARD
        SET a 9
        MULTI
        EXEC
        WATCH a
        UNWATCH
        SET a 10
        MULTI
        GET a
        EXEC
        WATCH missing
        DEL missing
        MULTI
        GET missing
        EXEC
        "#,
    );
}

#[test]
fn a_write_from_another_client_fails_exec() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let (mut a, mut b) = (server.raw(), server.raw());
        let mut log = Vec::new();
        say(&mut log, &mut a, "SET k 1");
        say(&mut log, &mut a, "WATCH k other");
        say(&mut log, &mut b, "SET k 2");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "SET k 3");
        say(&mut log, &mut a, "EXEC");
        say(&mut log, &mut a, "GET k");
        // The failed EXEC unwatched everything: the next transaction goes through.
        say(&mut log, &mut b, "SET other 1");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "SET k 4");
        say(&mut log, &mut a, "EXEC");
        // The same key name in another database is another key.
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut b, "SELECT 1");
        say(&mut log, &mut b, "SET k x");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "GET k");
        say(&mut log, &mut a, "EXEC");
        // Deleting, expiring and renaming count as writes; reads do not.
        for write in ["DEL k", "EXPIRE k 100", "RENAME k k2", "GET k"] {
            say(&mut log, &mut a, "SET k 1");
            say(&mut log, &mut a, "WATCH k");
            say(&mut log, &mut b, "SELECT 0");
            say(&mut log, &mut b, write);
            say(&mut log, &mut a, "MULTI");
            say(&mut log, &mut a, "PING");
            say(&mut log, &mut a, "EXEC");
        }
        // A transaction queued across several round trips while the other client writes.
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "SET k mine");
        say(&mut log, &mut b, "SET k theirs");
        say(&mut log, &mut a, "EXEC");
        say(&mut log, &mut a, "GET k");
        // A client that disconnects stops watching without disturbing others.
        say(&mut log, &mut b, "WATCH k");
        drop(b);
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "INCR n");
        say(&mut log, &mut a, "EXEC");
        log
    });
}

#[test]
fn flushes_fail_exec_only_for_watched_keys_that_existed() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let (mut a, mut b) = (server.raw(), server.raw());
        let mut log = Vec::new();
        for flush in ["FLUSHALL", "FLUSHDB"] {
            say(&mut log, &mut a, "WATCH missing");
            say(&mut log, &mut b, flush);
            say(&mut log, &mut a, "MULTI");
            say(&mut log, &mut a, "PING");
            say(&mut log, &mut a, "EXEC");
            say(&mut log, &mut a, "SET k v");
            say(&mut log, &mut a, "WATCH k");
            say(&mut log, &mut b, flush);
            say(&mut log, &mut a, "MULTI");
            say(&mut log, &mut a, "PING");
            say(&mut log, &mut a, "EXEC");
        }
        // FLUSHDB of another database leaves the watch alone.
        say(&mut log, &mut a, "SET k v");
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut b, "SELECT 1");
        say(&mut log, &mut b, "FLUSHDB");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "PING");
        say(&mut log, &mut a, "EXEC");
        log
    });
}

#[test]
fn a_watched_key_that_expires_fails_exec() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let (mut a, mut b) = (server.raw(), server.raw());
        let mut log = Vec::new();
        // Expired by the time EXEC runs, deleted or not.
        say(&mut log, &mut a, "SET k v PX 50");
        say(&mut log, &mut a, "WATCH k");
        sleep(Duration::from_millis(150));
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "PING");
        say(&mut log, &mut a, "EXEC");
        // Expired and deleted by another client's read.
        say(&mut log, &mut a, "SET k v PX 50");
        say(&mut log, &mut a, "WATCH k");
        sleep(Duration::from_millis(150));
        say(&mut log, &mut b, "GET k");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "PING");
        say(&mut log, &mut a, "EXEC");
        // Already expired when watched: nothing changes afterwards.
        say(&mut log, &mut a, "SET k v PX 50");
        sleep(Duration::from_millis(150));
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "PING");
        say(&mut log, &mut a, "EXEC");
        // A TTL that has not run out yet does not matter.
        say(&mut log, &mut a, "SET k v EX 100");
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "TTL k");
        say(&mut log, &mut a, "EXEC");
        log
    });
}

/// Each transaction increments a counter twice; a reader that ever sees an odd value saw
/// half a transaction.
#[test]
fn exec_is_atomic_under_concurrent_clients() {
    let server = Server::kvstore(&[]);
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let mut conn = server.raw();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    conn.send(b"MULTI\r\nINCR c\r\n");
                    assert_eq!(conn.read_reply().unwrap(), b"+OK\r\n");
                    assert_eq!(conn.read_reply().unwrap(), b"+QUEUED\r\n");
                    // The second half arrives in a separate read batch.
                    conn.send(b"INCR c\r\nEXEC\r\n");
                    assert_eq!(conn.read_reply().unwrap(), b"+QUEUED\r\n");
                    assert!(conn.read_reply().unwrap().starts_with(b"*2\r\n"));
                }
            })
        })
        .collect();
    let mut reader = server.raw();
    while !writers.iter().all(|w| w.is_finished()) {
        let reply = reader.cmd(&["GET", "c"]);
        if reply != b"$-1\r\n" {
            let text = String::from_utf8_lossy(&reply);
            let n: u64 = text.lines().nth(1).unwrap().parse().unwrap();
            assert_eq!(n % 2, 0, "saw half a transaction: {n}");
        }
    }
    writers.into_iter().for_each(|w| w.join().unwrap());
    assert_eq!(reader.cmd(&["GET", "c"]), b"$4\r\n1600\r\n");
}

#[test]
fn exec_writes_survive_kill_9_under_appendfsync_always() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    conn.cmd(&["MULTI"]);
    conn.cmd(&["SET", "a", "1"]);
    conn.cmd(&["SET", "b", "2", "EX", "1000"]);
    conn.cmd(&["DEL", "nothing"]);
    assert_eq!(
        conn.cmd(&["EXEC"]),
        b"*3\r\n+OK\r\n+OK\r\n:0\r\n",
        "EXEC replied"
    );
    server.kill9();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["MGET", "a", "b"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    let ttl = conn.cmd(&["TTL", "b"]);
    let ttl: i64 = String::from_utf8_lossy(&ttl[1..]).trim().parse().unwrap();
    assert!((900..=1000).contains(&ttl), "TTL kept: {ttl}");
}

/// Optimistic locking as clients use it: WATCH, read, MULTI, write, EXEC, retry on a null
/// reply. No increment may be lost, on either server.
#[test]
fn watch_retry_loops_lose_no_increment() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    for server in [&d.ours, &d.reference] {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let mut conn = server.raw();
                std::thread::spawn(move || {
                    let mut retries = 0;
                    for _ in 0..100 {
                        loop {
                            conn.cmd(&["WATCH", "counter"]);
                            let value = conn.cmd(&["GET", "counter"]);
                            let n: u64 = String::from_utf8_lossy(&value)
                                .lines()
                                .nth(1)
                                .map_or(0, |l| l.parse().unwrap());
                            conn.cmd(&["MULTI"]);
                            conn.cmd(&["SET", "counter", &(n + 1).to_string()]);
                            match conn.cmd(&["EXEC"]).as_slice() {
                                b"*1\r\n+OK\r\n" => break,
                                b"*-1\r\n" => retries += 1,
                                other => panic!("EXEC: {}", String::from_utf8_lossy(other)),
                            }
                        }
                    }
                    retries
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(
            server.raw().cmd(&["GET", "counter"]),
            b"$3\r\n400\r\n",
            "{:?}",
            server.flavor
        );
    }
}

#[test]
fn swapdb_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SWAPDB
        SWAPDB 0
        SWAPDB a 1
        SWAPDB 0 b
        SWAPDB a b
        SWAPDB 0 16
        SWAPDB -1 0
        SWAPDB 0 2147483648
        SWAPDB 0 0
        SET a 1
        SET t 2 EX 100
        SELECT 1
        SET b 3
        SWAPDB 0 1
        EXISTS a t b
        GET a
        TTL t
        SELECT 0
        GET b
        DBSIZE
        MULTI
        SWAPDB 0 1
        GET a
        EXEC
        "#,
    );
}

#[test]
fn swapdb_fails_exec_for_watched_keys_on_either_side() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let (mut a, mut b) = (server.raw(), server.raw());
        let mut log = Vec::new();
        // Watched in db 0, present only in db 1 before the swap.
        say(&mut log, &mut b, "SELECT 1");
        say(&mut log, &mut b, "SET k there");
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut b, "SWAPDB 0 1");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "GET k");
        say(&mut log, &mut a, "EXEC");
        // Absent on both sides: untouched.
        say(&mut log, &mut a, "WATCH nowhere");
        say(&mut log, &mut b, "SWAPDB 0 1");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "GET k");
        say(&mut log, &mut a, "EXEC");
        // Swapping two other databases leaves db 0 alone.
        say(&mut log, &mut a, "WATCH k");
        say(&mut log, &mut b, "SWAPDB 2 3");
        say(&mut log, &mut a, "MULTI");
        say(&mut log, &mut a, "GET k");
        say(&mut log, &mut a, "EXEC");
        log
    });
}

#[test]
fn swapdb_survives_restart_and_kill_9() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "zero", "0"]);
    conn.cmd(&["SET", "ttl", "t", "EX", "1000"]);
    conn.cmd(&["SELECT", "1"]);
    conn.cmd(&["SET", "one", "1"]);
    assert_eq!(conn.cmd(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    server.kill9();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["KEYS", "*"]), b"*1\r\n$3\r\none\r\n");
    conn.cmd(&["SELECT", "1"]);
    assert_eq!(
        conn.cmd(&["MGET", "zero", "ttl", "one"]),
        b"*3\r\n$1\r\n0\r\n$1\r\nt\r\n$-1\r\n"
    );
    assert!(conn.cmd(&["TTL", "ttl"]).starts_with(b":"));
    assert_eq!(conn.cmd(&["SWAPDB", "1", "0"]), b"+OK\r\n");
    server.stop();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["DBSIZE"]), b":2\r\n");
    conn.cmd(&["SELECT", "1"]);
    assert_eq!(conn.cmd(&["KEYS", "*"]), b"*1\r\n$3\r\none\r\n");
}
