//! Blocking list commands: each scenario runs against kvstore and against redis-server and
//! the two transcripts (every reply, byte for byte) must be identical. Clients wait for each
//! other through INFO's `blocked_clients`, never through sleeps.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{same_as_redis, send_command, text, wait_blocked, RawConn, Server};

#[test]
fn waiters_are_served_first_come_first_served() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut waiters: Vec<RawConn> = (0..3).map(|_| s.raw()).collect();
        for (i, w) in waiters.iter_mut().enumerate() {
            send_command(w, &["BLPOP", "l", "0"]);
            wait_blocked(&mut ctl, i + 1);
        }
        let mut t = vec![text(ctl.cmd(&["RPUSH", "l", "a", "b"]))];
        t.push(text(waiters[0].read_reply().unwrap()));
        t.push(text(waiters[1].read_reply().unwrap()));
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["LLEN", "l"])));
        t.push(text(ctl.cmd(&["RPUSH", "l", "c", "d"])));
        t.push(text(waiters[2].read_reply().unwrap()));
        t.push(text(ctl.cmd(&["LRANGE", "l", "0", "-1"])));
        t
    });
}

#[test]
fn a_push_serves_waiters_before_the_pushers_next_command() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        send_command(&mut w, &["BRPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        ctl.send(b"*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nl\r\n");
        vec![
            text(ctl.read_reply().unwrap()),
            text(ctl.read_reply().unwrap()),
            text(w.read_reply().unwrap()),
            text(ctl.cmd(&["EXISTS", "l"])),
        ]
    });
}

#[test]
fn commands_pipelined_behind_a_blocked_one_wait_for_it() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        w.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nl\r\n*1\r\n$4\r\nPING\r\n");
        wait_blocked(&mut ctl, 1);
        let mut t = vec![text(ctl.cmd(&["RPUSH", "l", "a", "b"]))];
        for _ in 0..3 {
            t.push(text(w.read_reply().unwrap()));
        }
        t
    });
}

#[test]
fn the_first_key_to_get_data_serves_a_multi_key_waiter() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        send_command(&mut w, &["BLPOP", "a", "b", "c", "0"]);
        wait_blocked(&mut ctl, 1);
        let mut t = vec![text(ctl.cmd(&["RPUSH", "c", "1"]))];
        t.push(text(w.read_reply().unwrap()));
        send_command(
            &mut w,
            &["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"],
        );
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["RPUSH", "b", "1", "2", "3"])));
        t.push(text(w.read_reply().unwrap()));
        t.push(text(ctl.cmd(&["LRANGE", "b", "0", "-1"])));
        t
    });
}

#[test]
fn timeouts_reply_null_in_resp2_and_resp3() {
    same_as_redis(|s| {
        let mut c = s.raw();
        let mut t = Vec::new();
        for resp in ["2", "3"] {
            c.cmd(&["HELLO", resp]);
            t.push(text(c.cmd(&["BLPOP", "missing", "0.01"])));
            t.push(text(c.cmd(&["BRPOP", "missing", "other", "0.001"])));
            t.push(text(
                c.cmd(&["BLMOVE", "missing", "d", "LEFT", "RIGHT", "0.01"]),
            ));
            t.push(text(c.cmd(&["BRPOPLPUSH", "missing", "d", "0.01"])));
            t.push(text(c.cmd(&["BLMPOP", "0.01", "1", "missing", "LEFT"])));
            t.push(text(c.cmd(&["PING"])));
        }
        t.push(text(c.cmd(&["EXISTS", "d"])));
        t
    });
}

#[test]
fn a_client_that_disconnects_while_blocked_is_forgotten() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        send_command(&mut w, &["BLPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        drop(w);
        wait_blocked(&mut ctl, 0);
        vec![
            text(ctl.cmd(&["RPUSH", "l", "a"])),
            text(ctl.cmd(&["LRANGE", "l", "0", "-1"])),
        ]
    });
}

#[test]
fn client_unblock_releases_with_a_timeout_or_an_error() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        let id = text(w.cmd(&["CLIENT", "ID"]));
        let id = id.trim_start_matches(':').trim_end().to_string();
        let mut t = vec![text(ctl.cmd(&["CLIENT", "UNBLOCK", &id]))];
        send_command(&mut w, &["BLPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"])));
        t.push(text(w.read_reply().unwrap()));
        send_command(&mut w, &["BLMOVE", "l", "m", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", &id, "error"])));
        t.push(text(w.read_reply().unwrap()));
        w.cmd(&["HELLO", "3"]);
        send_command(&mut w, &["BLMPOP", "0", "1", "l", "LEFT"]);
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", &id])));
        t.push(text(w.read_reply().unwrap()));
        t.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", &id])));
        t.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", "-1"])));
        t.push(text(ctl.cmd(&["RPUSH", "l", "x"])));
        t.push(text(w.cmd(&["LPOP", "l"])));
        t
    });
}

#[test]
fn blmove_chains_serve_the_clients_blocked_on_its_destination() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut first = s.raw();
        let mut second = s.raw();
        let mut third = s.raw();
        send_command(&mut first, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut ctl, 1);
        send_command(&mut second, &["BRPOPLPUSH", "b", "c", "0"]);
        wait_blocked(&mut ctl, 2);
        send_command(&mut third, &["BLPOP", "c", "0"]);
        wait_blocked(&mut ctl, 3);
        vec![
            text(ctl.cmd(&["RPUSH", "a", "x", "y"])),
            text(first.read_reply().unwrap()),
            text(second.read_reply().unwrap()),
            text(third.read_reply().unwrap()),
            text(ctl.cmd(&["LRANGE", "a", "0", "-1"])),
            text(ctl.cmd(&["EXISTS", "b", "c"])),
        ]
    });
}

#[test]
fn waiters_ignore_keys_of_other_types_and_other_databases() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        let mut t = vec![text(w.cmd(&["SELECT", "1"]))];
        send_command(&mut w, &["BLPOP", "k", "0"]);
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["RPUSH", "k", "db0"])));
        t.push(text(ctl.cmd(&["SELECT", "1"])));
        t.push(text(ctl.cmd(&["SET", "k", "string"])));
        wait_blocked(&mut ctl, 1);
        t.push(text(ctl.cmd(&["DEL", "k"])));
        t.push(text(ctl.cmd(&["FLUSHDB"])));
        t.push(text(ctl.cmd(&["RPUSH", "src", "moved"])));
        t.push(text(ctl.cmd(&["RENAME", "src", "k"])));
        t.push(text(w.read_reply().unwrap()));
        t.push(text(ctl.cmd(&["SELECT", "0"])));
        t.push(text(ctl.cmd(&["LRANGE", "k", "0", "-1"])));
        t
    });
}

#[test]
fn a_blocked_blmove_whose_destination_became_another_type_gets_wrongtype() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        send_command(&mut w, &["BLMOVE", "a", "dst", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut ctl, 1);
        vec![
            text(ctl.cmd(&["SET", "dst", "string"])),
            text(ctl.cmd(&["RPUSH", "a", "x"])),
            text(w.read_reply().unwrap()),
            text(ctl.cmd(&["LRANGE", "a", "0", "-1"])),
            text(ctl.cmd(&["INFO", "clients"]))
                .lines()
                .filter(|l| l.starts_with("blocked_clients"))
                .collect(),
        ]
    });
}

/// Many poppers and pushers at once: every element reaches exactly one popper.
#[test]
fn concurrent_pushers_and_blocked_poppers_lose_and_duplicate_nothing() {
    let server = Server::kvstore(&[]);
    const POPPERS: usize = 4;
    const PER_POPPER: usize = 200;
    let poppers: Vec<_> = (0..POPPERS)
        .map(|_| {
            let mut c = server.raw();
            std::thread::spawn(move || {
                (0..PER_POPPER)
                    .map(|_| text(c.cmd(&["BLPOP", "q1", "q2", "0"])))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            let mut c = server.raw();
            std::thread::spawn(move || {
                for i in 0..POPPERS * PER_POPPER / 4 {
                    let key = if i % 2 == 0 { "q1" } else { "q2" };
                    c.cmd(&["RPUSH", key, &format!("{p}-{i}")]);
                }
            })
        })
        .collect();
    pushers.into_iter().for_each(|p| p.join().unwrap());
    let mut seen = BTreeSet::new();
    for popper in poppers {
        for reply in popper.join().unwrap() {
            let value = reply.rsplit("\r\n").nth(1).unwrap().to_string();
            assert!(seen.insert(value), "delivered twice: {reply}");
        }
    }
    assert_eq!(seen.len(), POPPERS * PER_POPPER);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["EXISTS", "q1", "q2"]), b":0\r\n");
}

#[test]
fn client_kill_ends_a_blocked_client() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut w = s.raw();
        let id = text(w.cmd(&["CLIENT", "ID"]));
        let id = id.trim_start_matches(':').trim_end().to_string();
        send_command(&mut w, &["BRPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        let flags = text(ctl.cmd(&["CLIENT", "LIST", "ID", &id]));
        let flags = flags.split(' ').find(|f| f.starts_with("flags=")).unwrap();
        let mut t = vec![flags.to_string()];
        t.push(text(ctl.cmd(&["CLIENT", "KILL", "ID", &id])));
        t.push(text(w.read_to_close()));
        wait_blocked(&mut ctl, 0);
        t.push(text(ctl.cmd(&["RPUSH", "l", "a"])));
        t
    });
}

#[test]
fn the_idle_timeout_spares_blocked_clients() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        ctl.cmd(&["CONFIG", "SET", "timeout", "1"]);
        let mut w = s.raw();
        send_command(&mut w, &["BLPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        // Long enough for an idle client to be closed (Redis checks every 100 ms or so).
        std::thread::sleep(Duration::from_millis(2500));
        let mut ctl = s.raw();
        vec![
            text(ctl.cmd(&["RPUSH", "l", "a"])),
            text(w.read_reply().unwrap()),
            text(w.cmd(&["PING"])),
        ]
    });
}

#[test]
fn a_served_blmove_is_durable_before_its_reply_under_appendfsync_always() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut ctl = server.raw();
    let mut w = server.raw();
    send_command(&mut w, &["BLMOVE", "a", "b", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 1);
    assert_eq!(ctl.cmd(&["RPUSH", "a", "x", "y"]), b":2\r\n");
    assert_eq!(w.read_reply().unwrap(), b"$1\r\ny\r\n");
    server.kill9();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["LRANGE", "a", "0", "-1"]), b"*1\r\n$1\r\nx\r\n");
    assert_eq!(c.cmd(&["LRANGE", "b", "0", "-1"]), b"*1\r\n$1\r\ny\r\n");
}

#[test]
fn info_counts_blocked_clients_and_those_with_a_timeout() {
    same_as_redis(|s| {
        let mut ctl = s.raw();
        let mut forever = s.raw();
        let mut timed = s.raw();
        send_command(&mut forever, &["BLPOP", "l", "0"]);
        wait_blocked(&mut ctl, 1);
        send_command(&mut timed, &["BLMPOP", "100", "1", "l", "LEFT"]);
        wait_blocked(&mut ctl, 2);
        let counters = |ctl: &mut RawConn| -> String {
            text(ctl.cmd(&["INFO", "clients"]))
                .lines()
                .filter(|l| l.starts_with("blocked_") || l.contains("timeout_table"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut t = vec![counters(&mut ctl)];
        t.push(text(ctl.cmd(&["RPUSH", "l", "a", "b"])));
        t.push(text(forever.read_reply().unwrap()));
        t.push(text(timed.read_reply().unwrap()));
        t.push(counters(&mut ctl));
        t
    });
}
