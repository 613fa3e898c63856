//! Client-side caching against redis-server 7.0 byte for byte: CLIENT TRACKING in the default
//! mode (RESP3 pushes, RESP2 with REDIRECT to an `__redis__:invalidate` subscriber), BCAST
//! with prefixes, OPTIN / OPTOUT with CLIENT CACHING, NOLOOP, flushes, expiry, a broken
//! redirect, and every error and CLIENT GETREDIR / TRACKINGINFO answer.
//!
//! Invalidations reach a client between its own replies, so each scenario makes the
//! receiver send PING after the change and records every frame up to the PONG: the same
//! frames in the same order on both servers, with no timing involved.

use e2e::{Differential, RawConn, Server};

/// Sends a command and records its reply.
fn say(log: &mut Vec<String>, conn: &mut RawConn, line: &str) {
    let args = e2e::words(line);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reply = e2e::text(conn.cmd(&args));
    log.push(format!("{line} -> {reply}"));
}

/// Sends a command and records every frame up to and including its reply `last`
/// (invalidations queued before it come first).
fn say_until(log: &mut Vec<String>, conn: &mut RawConn, line: &str, last: &str) {
    let args = e2e::words(line);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    conn.send(&e2e::encode_command(&args));
    loop {
        let frame = e2e::text(conn.read_reply().expect("frame"));
        log.push(format!("{line} => {frame}"));
        if frame == last {
            return;
        }
    }
}

/// Everything a RESP3 connection received up to the reply to a PING.
fn pushes_until_pong(log: &mut Vec<String>, conn: &mut RawConn) {
    say_until(log, conn, "PING", "+PONG\r\n");
}

fn resp3(server: &Server) -> RawConn {
    let mut conn = server.raw();
    conn.cmd(&["HELLO", "3"]);
    conn
}

/// The connection's client id, as a string.
fn id_of(conn: &mut RawConn) -> String {
    let reply = e2e::text(conn.cmd(&["CLIENT", "ID"]));
    reply.trim_start_matches(':').trim_end().to_string()
}

/// `text` with client id `id` (which differs between the servers) written `<id>`, where it
/// is an integer reply or a REDIRECT argument.
fn hide_id(text: &str, id: &str) -> String {
    text.replace(&format!(":{id}\r\n"), ":<id>\r\n")
        .replace(&format!("REDIRECT {id} "), "REDIRECT <id> ")
}

/// [`Differential::same_transcripts`] on fresh servers with `args`.
fn same(args: &[&str], scenario: fn(&Server) -> Vec<String>) {
    if let Some(d) = Differential::start(args) {
        d.same_transcripts(scenario);
    }
}

#[test]
fn resp3_clients_are_told_when_keys_they_read_change() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut cache, "MGET a b");
        say(&mut log, &mut cache, "HGETALL h");
        say(&mut log, &mut writer, "SET k v");
        say(&mut log, &mut writer, "SET k v2");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut writer, "MSET a 1 b 2");
        say(&mut log, &mut writer, "HSET h f v");
        say(&mut log, &mut writer, "SET untracked v");
        pushes_until_pong(&mut log, &mut cache);
        // Read again, then the client changes the key itself: the push follows its reply.
        say(&mut log, &mut cache, "GET k");
        say_until(&mut log, &mut cache, "SET k mine", "+OK\r\n");
        pushes_until_pong(&mut log, &mut cache);
        // Deleting, expiring and renaming invalidate too.
        say(&mut log, &mut cache, "GET a");
        say(&mut log, &mut cache, "GET b");
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut writer, "DEL a");
        say(&mut log, &mut writer, "PEXPIREAT b 1");
        say(&mut log, &mut writer, "RENAME k k2");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut cache, "CLIENT TRACKING OFF");
        say(&mut log, &mut cache, "GET k2");
        say(&mut log, &mut writer, "SET k2 v");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

#[test]
fn noloop_skips_the_clients_own_changes() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON NOLOOP");
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut cache, "SET k v");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut writer, "SET k w");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

#[test]
fn resp2_clients_redirect_to_an_invalidate_subscriber() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut sink = server.raw();
        let sink_id = id_of(&mut sink);
        say(&mut log, &mut sink, "SUBSCRIBE __redis__:invalidate");
        let mut cache = server.raw();
        let mut writer = server.raw();
        let on = format!("CLIENT TRACKING ON REDIRECT {sink_id}");
        say(&mut log, &mut cache, &on);
        let last = log.pop().expect("logged");
        log.push(hide_id(&last, &sink_id));
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut cache, "GET other");
        say(&mut log, &mut writer, "SET k v");
        say(&mut log, &mut cache, "SET other v");
        say(&mut log, &mut writer, "FLUSHALL");
        say_until(
            &mut log,
            &mut sink,
            "PING",
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n",
        );
        // The redirect as CLIENT GETREDIR and TRACKINGINFO report it, without the id.
        let getredir = e2e::text(cache.cmd(&["CLIENT", "GETREDIR"]));
        log.push(hide_id(&getredir, &sink_id));
        let info = e2e::text(cache.cmd(&["CLIENT", "TRACKINGINFO"]));
        log.push(hide_id(&info, &sink_id));
        log
    });
}

#[test]
fn a_resp3_redirect_target_gets_pushes_and_a_vanished_one_is_reported() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut sink = resp3(server);
        let sink_id = id_of(&mut sink);
        say(&mut log, &mut sink, "SUBSCRIBE something");
        let mut cache = resp3(server);
        let mut writer = server.raw();
        let on = format!("CLIENT TRACKING ON REDIRECT {sink_id}");
        say(&mut log, &mut cache, &on);
        let last = log.pop().expect("logged");
        log.push(hide_id(&last, &sink_id));
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut writer, "SET k v");
        pushes_until_pong(&mut log, &mut sink);
        // The target goes away: the next invalidation tells the tracking client instead.
        drop(sink);
        let started = std::time::Instant::now();
        while e2e::text(writer.cmd(&["CLIENT", "LIST"])).contains(&format!("id={sink_id} ")) {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        say(&mut log, &mut cache, "GET k");
        say(&mut log, &mut writer, "SET k w");
        let mut frames = Vec::new();
        pushes_until_pong(&mut frames, &mut cache);
        log.extend(frames.iter().map(|f| hide_id(f, &sink_id)));
        let info = e2e::text(cache.cmd(&["CLIENT", "TRACKINGINFO"]));
        log.push(hide_id(&info, &sink_id));
        log
    });
}

#[test]
fn bcast_sends_changed_keys_per_prefix() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut all = resp3(server);
        let mut writer = server.raw();
        say(
            &mut log,
            &mut cache,
            "CLIENT TRACKING ON BCAST PREFIX user: PREFIX obj:",
        );
        say(&mut log, &mut all, "CLIENT TRACKING ON BCAST");
        say(&mut log, &mut writer, "SET user:1 a");
        say(&mut log, &mut writer, "SET other b");
        say(&mut log, &mut writer, "MSET obj:2 x user:2 y obj:1 z");
        pushes_until_pong(&mut log, &mut cache);
        pushes_until_pong(&mut log, &mut all);
        // The client's own change reaches it too (no NOLOOP), after its batch.
        say_until(&mut log, &mut cache, "SET user:9 me", "+OK\r\n");
        pushes_until_pong(&mut log, &mut cache);
        say(
            &mut log,
            &mut cache,
            "CLIENT TRACKING ON BCAST PREFIX post:",
        );
        say(&mut log, &mut cache, "CLIENT TRACKINGINFO");
        say(&mut log, &mut writer, "SET post:1 p");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut writer, "FLUSHDB");
        pushes_until_pong(&mut log, &mut cache);
        pushes_until_pong(&mut log, &mut all);
        log
    });
}

#[test]
fn bcast_noloop_leaves_out_the_clients_own_keys() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON BCAST NOLOOP");
        say_until(&mut log, &mut cache, "SET mine 1", "+OK\r\n");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut writer, "SET theirs 1");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

#[test]
fn optin_and_optout_follow_client_caching() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut optin = resp3(server);
        let mut optout = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut optin, "CLIENT TRACKING ON OPTIN");
        say(&mut log, &mut optin, "GET a");
        say(&mut log, &mut optin, "CLIENT CACHING yes");
        say(&mut log, &mut optin, "CLIENT TRACKINGINFO");
        say(&mut log, &mut optin, "GET b");
        say(&mut log, &mut optin, "CLIENT TRACKINGINFO");
        say(&mut log, &mut optin, "GET c");
        say(&mut log, &mut optout, "CLIENT TRACKING ON OPTOUT");
        say(&mut log, &mut optout, "GET a");
        say(&mut log, &mut optout, "CLIENT CACHING no");
        say(&mut log, &mut optout, "GET b");
        say(&mut log, &mut optout, "GET c");
        say(&mut log, &mut writer, "MSET a 1 b 2 c 3");
        pushes_until_pong(&mut log, &mut optin);
        pushes_until_pong(&mut log, &mut optout);
        log
    });
}

#[test]
fn expiry_invalidates_tracked_keys() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut writer, "SET k v PX 40");
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        say(&mut log, &mut cache, "GET k");
        // The active sweep (or a lazy access) deletes it; wait for the push itself.
        log.push(e2e::text(cache.read_reply().expect("invalidation")));
        log
    });
}

#[test]
fn tracking_errors_and_introspection_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        CLIENT TRACKING
        CLIENT TRACKING maybe
        CLIENT TRACKING ON PREFIX a
        CLIENT TRACKING ON BCAST OPTIN
        CLIENT TRACKING ON BCAST OPTOUT
        CLIENT TRACKING ON OPTIN OPTOUT
        CLIENT TRACKING ON REDIRECT 999999
        CLIENT TRACKING ON REDIRECT abc
        CLIENT TRACKING ON REDIRECT 0
        CLIENT TRACKING ON foo
        CLIENT TRACKING ON PREFIX
        CLIENT TRACKING OFF BCAST foo
        CLIENT TRACKING ON BCAST PREFIX a PREFIX ab
        CLIENT TRACKING ON BCAST PREFIX "" PREFIX x
        CLIENT CACHING yes
        CLIENT CACHING
        CLIENT GETREDIR
        CLIENT GETREDIR x
        CLIENT TRACKINGINFO
        CLIENT TRACKINGINFO x
        CLIENT TRACKING ON BCAST PREFIX user:
        CLIENT TRACKING ON BCAST PREFIX user:1
        CLIENT TRACKING ON BCAST PREFIX us
        CLIENT TRACKING ON BCAST PREFIX obj:
        CLIENT TRACKING ON BCAST
        CLIENT TRACKINGINFO
        CLIENT TRACKING ON
        CLIENT CACHING yes
        CLIENT CACHING no
        CLIENT GETREDIR
        CLIENT TRACKING OFF
        CLIENT TRACKINGINFO
        CLIENT TRACKING ON OPTIN NOLOOP
        CLIENT CACHING yes
        CLIENT TRACKINGINFO
        GET x
        CLIENT TRACKINGINFO
        CLIENT TRACKING ON OPTOUT
        CLIENT CACHING no
        CLIENT CACHING maybe
        CLIENT TRACKING ON NOLOOP
        CLIENT TRACKINGINFO
        CLIENT TRACKING ON OPTOUT
        CLIENT CACHING no
        CLIENT TRACKINGINFO
        RESET
        CLIENT TRACKINGINFO
        CLIENT GETREDIR
        "#,
    );
}

#[test]
fn reads_inside_transactions_are_tracked_and_group_changes_are_not_modifications() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        say(&mut log, &mut cache, "MULTI");
        say(&mut log, &mut cache, "GET a");
        say(&mut log, &mut cache, "XLEN x");
        say(&mut log, &mut cache, "EXEC");
        say(&mut log, &mut writer, "SET a 1");
        say(&mut log, &mut writer, "XGROUP CREATE x g $ MKSTREAM");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut cache, "XLEN x");
        say(&mut log, &mut writer, "XGROUP CREATECONSUMER x g c");
        say(&mut log, &mut writer, "XGROUP SETID x g 0");
        pushes_until_pong(&mut log, &mut cache);
        say(&mut log, &mut writer, "XADD x 1-1 f v");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

#[test]
fn a_later_prefix_overlap_is_an_error_and_still_enables_tracking() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let line = "CLIENT TRACKING ON BCAST PREFIX x PREFIX a PREFIX ab";
        say_until(&mut log, &mut cache, line, "+OK\r\n");
        say(&mut log, &mut cache, "CLIENT TRACKINGINFO");
        log
    });
}

#[test]
fn scripts_that_read_make_their_declared_keys_tracked() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        say(
            &mut log,
            &mut cache,
            r#"EVAL "return redis.call('get', KEYS[1])" 2 read also"#,
        );
        say(
            &mut log,
            &mut cache,
            r#"EVAL "return redis.call('set', KEYS[1], 'x')" 1 written"#,
        );
        say(&mut log, &mut writer, "MSET read 1 also 2 written 3");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

#[test]
fn commands_whose_keys_move_track_the_keys_their_specs_name() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut writer = server.raw();
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        say(&mut log, &mut cache, "ZUNION 2 za zb WITHSCORES");
        say(&mut log, &mut cache, "SINTERCARD 2 sa sb LIMIT 1");
        say(&mut log, &mut cache, "XREAD COUNT 1 STREAMS xa xb 0 0");
        say(&mut log, &mut cache, "SORT_RO la");
        say(&mut log, &mut cache, "LCS ka kb");
        say(&mut log, &mut writer, "ZADD zb 1 m");
        say(&mut log, &mut writer, "SADD sa m");
        say(&mut log, &mut writer, "XADD xb 1-1 f v");
        say(&mut log, &mut writer, "RPUSH la 1");
        say(&mut log, &mut writer, "MSET ka 1 kb 2");
        pushes_until_pong(&mut log, &mut cache);
        log
    });
}

/// INFO's tracking fields, one per line.
fn tracking_info(conn: &mut RawConn) -> String {
    let info = e2e::text(conn.cmd(&["INFO", "everything"]));
    info.lines()
        .filter(|l| l.starts_with("tracking_"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn info_counts_tracking_clients_keys_and_prefixes() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut one = resp3(server);
        let mut two = resp3(server);
        let mut bcast = resp3(server);
        let mut writer = server.raw();
        log.push(tracking_info(&mut writer));
        say(&mut log, &mut one, "CLIENT TRACKING ON");
        say(&mut log, &mut two, "CLIENT TRACKING ON");
        say(&mut log, &mut one, "MGET a b c");
        say(&mut log, &mut two, "MGET b c d");
        log.push(tracking_info(&mut writer));
        say(&mut log, &mut writer, "SET b 1");
        log.push(tracking_info(&mut writer));
        say(
            &mut log,
            &mut bcast,
            "CLIENT TRACKING ON BCAST PREFIX x PREFIX y",
        );
        log.push(tracking_info(&mut writer));
        say(&mut log, &mut one, "CLIENT TRACKING OFF");
        say(&mut log, &mut bcast, "CLIENT TRACKING OFF");
        log.push(tracking_info(&mut writer));
        say(&mut log, &mut writer, "FLUSHALL");
        log.push(tracking_info(&mut writer));
        log
    });
}

/// The `flags=` and `redir=` fields of CLIENT INFO, the client id written `<id>`.
fn list_fields(conn: &mut RawConn, id: &str) -> String {
    let info = e2e::text(conn.cmd(&["CLIENT", "INFO"]));
    info.split_whitespace()
        .filter(|f| f.starts_with("flags=") || f.starts_with("redir="))
        .map(|f| f.replace(&format!("redir={id}"), "redir=<id>"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn client_list_shows_tracking_flags_and_redirect() {
    same(&[], |server| {
        let mut log = Vec::new();
        let mut cache = resp3(server);
        let mut sink = server.raw();
        let sink_id = id_of(&mut sink);
        log.push(list_fields(&mut cache, &sink_id));
        say(&mut log, &mut cache, "CLIENT TRACKING ON");
        log.push(list_fields(&mut cache, &sink_id));
        say(&mut log, &mut cache, "CLIENT TRACKING OFF");
        say(&mut log, &mut cache, "CLIENT TRACKING ON BCAST");
        log.push(list_fields(&mut cache, &sink_id));
        say(&mut log, &mut cache, "CLIENT TRACKING OFF");
        log.push(list_fields(&mut cache, &sink_id));
        cache.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &sink_id]);
        log.push(list_fields(&mut cache, &sink_id));
        say(&mut log, &mut cache, "GET k");
        drop(sink);
        let mut writer = server.raw();
        let started = std::time::Instant::now();
        while e2e::text(writer.cmd(&["CLIENT", "LIST"])).contains(&format!("id={sink_id} ")) {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        say(&mut log, &mut writer, "SET k v");
        let mut frames = Vec::new();
        pushes_until_pong(&mut frames, &mut cache);
        log.push(list_fields(&mut cache, &sink_id));
        log
    });
}
