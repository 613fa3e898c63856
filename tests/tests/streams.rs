//! Stream commands, compared byte for byte with redis-server in RESP2 and RESP3; blocking
//! XREAD / XREADGROUP compared as transcripts; streams and their consumer groups kept across
//! restarts and kill -9.
//!
//! Scripts use explicit ids wherever a reply would show one; lines whose replies hold
//! generated ids or times start with `~` (run on both, not compared).

use e2e::{send_command, text, wait_blocked, Differential, Rng, Server};

#[test]
fn xadd_ids_and_options_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XADD s 1-1 a 1
        XADD s 1-1 a 1
        XADD s 1-0 a 1
        XADD s 1-* b 2
        XADD s 2-* c 3
        XADD s 2 c 3
        XADD s 0-0 a 1
        XADD s 0 a 1
        XADD fresh 0-* a 1
        XADD s - a 1
        XADD s + a 1
        XADD s abc a 1
        XADD s 1-x a 1
        XADD s 5-1 a
        XADD s 5-1
        XADD s 5-1 a 1 b
        XADD s NOMKSTREAM
        XADD missing NOMKSTREAM 1-1 a 1
        EXISTS missing
        XADD s 18446744073709551615-18446744073709551615 a 1
        XADD s * a 1
        XADD s 18446744073709551615-* a 1
        XLEN s
        TYPE s
        OBJECT ENCODING s
        SET str v
        XADD str 1-1 a 1
        XADD str NOMKSTREAM 1-1 a 1
        XLEN str
        XLEN nothing
        ~XADD auto * f v
        XLEN auto
        XADD t MAXLEN 2 1-1 a 1
        XADD t MAXLEN = 2 2-1 a 1
        XADD t MAXLEN 2 3-1 a 1
        XRANGE t - +
        XADD t MAXLEN -1 4-1 a 1
        XADD t MAXLEN abc 4-1 a 1
        XADD t MAXLEN 2 MINID 1 4-1 a 1
        XADD t MINID 3 4-1 a 1
        XRANGE t - +
        XADD t MINID ~ 3 5-1 a 1
        XADD t LIMIT 10 6-1 a 1
        XADD t MAXLEN 2 LIMIT 10 6-1 a 1
        XADD t MAXLEN ~ 2 LIMIT -1 6-1 a 1
        XADD t MAXLEN ~ 2 LIMIT 10 6-1 a 1
        XADD t MAXLEN ~ 0 LIMIT 0 7-1 a 1
        XADD t MINID - 8-1 a 1
        XADD t 9-1 "" "" 123 -45 x 18446744073709551616
        XRANGE t - +
        XADD t MAXLEN
        XADD t MAXLEN 1
        "#,
    );
}

#[test]
fn ranges_lengths_and_deletes_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XADD s 1-0 a 1
        XADD s 1-1 b 2 c 3
        XADD s 2-0 a 1
        XADD s 3-5 d 4
        XADD s 4-0 a 1
        XRANGE s - +
        XRANGE s - + COUNT 2
        XRANGE s - + COUNT 0
        XRANGE s - + COUNT -1
        XRANGE s - + COUNT abc
        XRANGE s - + COUNT
        XRANGE s - + LIMIT 2
        XRANGE s 1 1
        XRANGE s (1-0 +
        XRANGE s - (4-0
        XRANGE s (1 (4
        XRANGE s (- +
        XRANGE s - (+
        XRANGE s (18446744073709551615-18446744073709551615 +
        XRANGE s - (0-0
        XRANGE s 3 2
        XRANGE s 2-0 3-5
        XRANGE s bad +
        XRANGE s - bad
        XREVRANGE s + -
        XREVRANGE s + - COUNT 1
        XREVRANGE s (4-0 (1-0
        XREVRANGE s - +
        XRANGE missing - +
        XREVRANGE missing + -
        XDEL s 2-0 9-9
        XDEL s 2-0
        XDEL s bad 1-0
        XDEL s 1-0
        XRANGE s - +
        XLEN s
        XINFO STREAM s
        XDEL missing 1-0
        XDEL s 1-1 3-5 4-0
        XLEN s
        EXISTS s
        XINFO STREAM s
        XRANGE s - +
        SET str v
        XRANGE str - +
        XDEL str 1-0
        "#,
    );
}

#[test]
fn trimming_follows_node_boundaries_like_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let mut script = String::new();
    for i in 1..=350 {
        script.push_str(&format!("XADD s {i}-1 field value{i}\n"));
    }
    // Changing fields and long values move node boundaries by bytes too.
    for i in 1..=120 {
        let big = "x".repeat(i * 7);
        script.push_str(&format!("XADD b {i}-1 f{} {big}\n", i % 3));
    }
    script.push_str(
        r#"
        XINFO STREAM s
        XINFO STREAM b
        XTRIM s MAXLEN ~ 260
        XTRIM s MAXLEN ~ 10 LIMIT 50
        XTRIM s MAXLEN ~ 10 LIMIT 100
        XINFO STREAM s
        XTRIM s MINID ~ 240
        XTRIM s MINID 240
        XDEL s 240-1 241-1 300-1
        XTRIM s MINID 242
        XINFO STREAM s
        XTRIM s MAXLEN = 50
        XTRIM s MAXLEN 50
        XINFO STREAM s
        XTRIM b MAXLEN ~ 30
        XINFO STREAM b
        XTRIM b MINID ~ 100
        XTRIM s
        XTRIM s LIMIT 1
        XTRIM s FOO 1
        XTRIM s MAXLEN 1 MINID 1
        XTRIM s MAXLEN 5 LIMIT 5
        XTRIM missing MAXLEN 1
        XTRIM s MAXLEN 0
        XINFO STREAM s
        XADD s 999-1 a 1
        XINFO STREAM s
        CONFIG SET stream-node-max-entries 7
        XTRIM s MAXLEN 0
        "#,
    );
    for i in 1000..1030 {
        script.push_str(&format!("XADD s {i}-1 f v\n"));
    }
    script.push_str(
        r#"
        XINFO STREAM s
        XADD s MAXLEN ~ 10 2000-1 f v
        XINFO STREAM s
        CONFIG SET stream-node-max-entries 100
        "#,
    );
    d.check_both(&script);
}

#[test]
fn consumer_groups_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XGROUP CREATE s g $
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATE s g2 0 ENTRIESREAD -2
        XGROUP CREATE s g2 0 ENTRIESREAD x
        XGROUP CREATE s g2 0 FOO
        XGROUP CREATE s g2 bad
        XGROUP CREATE s g2 -
        XGROUP CREATE s
        XGROUP FOO s g
        XGROUP HELP
        XGROUP HELP x
        XADD s 1-0 a 1
        XADD s 2-0 b 2
        XADD s 3-0 c 3
        XINFO GROUPS s
        XGROUP CREATE s g0 0
        XINFO GROUPS s
        XREADGROUP GROUP g0 alice COUNT 2 STREAMS s >
        XINFO GROUPS s
        XREADGROUP GROUP g0 bob STREAMS s >
        XREADGROUP GROUP g0 bob STREAMS s >
        XREADGROUP GROUP g0 alice STREAMS s 0
        XREADGROUP GROUP g0 alice COUNT 1 STREAMS s 0
        XREADGROUP GROUP g0 alice STREAMS s 1-0
        XREADGROUP GROUP nogroup alice STREAMS s >
        XREADGROUP GROUP g0 alice STREAMS missing >
        XREADGROUP GROUP g0 alice STREAMS s $
        XREADGROUP GROUP g0 alice STREAMS s
        XREADGROUP COUNT 1 STREAMS s >
        XREAD GROUP g0 alice STREAMS s >
        XREAD NOACK STREAMS s 0
        XREAD STREAMS s >
        XPENDING s g0
        ~XPENDING s g0 - + 10
        ~XPENDING s g0 IDLE 0 - + 10
        XPENDING s g0 IDLE 100000 - + 10
        ~XPENDING s g0 - + 10 alice
        XPENDING s g0 - + 10 nobody
        ~XPENDING s g0 (1-0 + 1
        XPENDING s g0 - + -5
        XPENDING s g0 - +
        XPENDING s g0 - + x
        XPENDING s g0 IDLE x - + 10
        XPENDING s g0 IDLE 5 - +
        XPENDING s nogroup
        XPENDING missing g0
        XACK s g0 1-0 9-0
        XACK s g0 1-0
        XACK s g0 bad
        XACK s nogroup 2-0
        XACK missing g0 2-0
        XPENDING s g0
        XDEL s 2-0
        XREADGROUP GROUP g0 alice STREAMS s 0
        XINFO GROUPS s
        XGROUP CREATECONSUMER s g0 carol
        XGROUP CREATECONSUMER s g0 carol
        XGROUP CREATECONSUMER s nogroup carol
        XGROUP CREATECONSUMER missing g0 carol
        XGROUP DELCONSUMER s g0 alice
        XGROUP DELCONSUMER s g0 alice
        XPENDING s g0
        XGROUP SETID s g0 0
        XGROUP SETID s g0 $ ENTRIESREAD 3
        XGROUP SETID s g0 - ENTRIESREAD 1
        XGROUP SETID s g0 + ENTRIESREAD
        XGROUP SETID s nogroup 0
        XINFO GROUPS s
        XGROUP SETID s g0 0
        XINFO GROUPS s
        XREADGROUP GROUP g0 dave NOACK STREAMS s >
        XPENDING s g0
        XINFO GROUPS s
        XGROUP DESTROY s g0
        XGROUP DESTROY s g0
        XINFO GROUPS s
        SET str v
        XGROUP CREATE str g $
        XREADGROUP GROUP g c STREAMS str >
        XINFO STREAM str
        XINFO STREAM missing
        XINFO GROUPS missing
        XINFO CONSUMERS s nogroup
        XINFO FOO s
        XINFO HELP
        XINFO HELP x
        XINFO STREAM s FULL COUNT
        XINFO STREAM s FOO
        XINFO STREAM s FULL LIMIT 1
        XINFO STREAM s FULL COUNT x
        "#,
    );
}

#[test]
fn lag_and_entries_read_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XGROUP CREATE s g $ MKSTREAM
        XINFO GROUPS s
        XADD s 1-0 a 1
        XADD s 2-0 a 1
        XADD s 3-0 a 1
        XADD s 4-0 a 1
        XADD s 5-0 a 1
        XGROUP CREATE s early 0
        XGROUP CREATE s late $
        XGROUP CREATE s mid 2-0
        XGROUP CREATE s known 2-0 ENTRIESREAD 2
        XINFO GROUPS s
        XREADGROUP GROUP g c COUNT 2 STREAMS s >
        XINFO GROUPS s
        XDEL s 4-0
        XINFO GROUPS s
        XREADGROUP GROUP g c COUNT 1 STREAMS s >
        XINFO GROUPS s
        XREADGROUP GROUP early c STREAMS s >
        XREADGROUP GROUP mid c STREAMS s >
        XINFO GROUPS s
        XTRIM s MAXLEN 1
        XINFO GROUPS s
        XADD s 6-0 a 1
        XINFO GROUPS s
        XSETID s 7-0
        XINFO GROUPS s
        XSETID s 7-0 ENTRIESADDED 10 MAXDELETEDID 6-5
        XINFO STREAM s
        XINFO GROUPS s
        XSETID s 1-0
        XSETID s 7-0 ENTRIESADDED 0
        XSETID s 7-0 ENTRIESADDED -1
        XSETID s 7-0 MAXDELETEDID 8-0
        XSETID s 7-0 FOO
        XSETID s bad
        XSETID s -
        XSETID missing 1-0
        XDEL s 5-0 6-0
        XSETID s 1-0 ENTRIESADDED 0
        XINFO STREAM s
        XINFO GROUPS s
        "#,
    );
}

#[test]
fn claims_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XADD s 1-0 a 1
        XADD s 2-0 b 2
        XADD s 3-0 c 3
        XADD s 4-0 d 4
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice STREAMS s >
        XCLAIM s g bob 0 1-0 2-0
        XCLAIM s g bob 0 1-0 JUSTID
        XCLAIM s g bob 3600000 1-0
        XCLAIM s g bob 0 9-0
        XCLAIM s g bob 0 9-0 FORCE
        XDEL s 3-0
        XCLAIM s g bob 0 3-0
        ~XPENDING s g - + 10
        XCLAIM s g carol 0 4-0 RETRYCOUNT 7
        XCLAIM s g carol 0 4-0 RETRYCOUNT 7 JUSTID
        ~XPENDING s g 4-0 4-0 1
        XCLAIM s g carol 0 4-0 IDLE 3600000 JUSTID
        ~XPENDING s g IDLE 3000000 - + 10
        XCLAIM s g carol 0 4-0 TIME 0 JUSTID
        XCLAIM s g carol 0 4-0 TIME -5 JUSTID
        XCLAIM s g carol x 4-0
        XCLAIM s g carol 0 4-0 IDLE x
        XCLAIM s g carol 0 4-0 TIME x
        XCLAIM s g carol 0 4-0 RETRYCOUNT x
        XCLAIM s g carol 0 4-0 LASTID x
        XCLAIM s g carol 0 4-0 FOO
        XCLAIM s g carol 0 4-0 FORCE 2-0
        XCLAIM s g carol 0 FORCE
        XCLAIM s nogroup carol 0 4-0
        XCLAIM missing g carol 0 4-0
        XCLAIM s g dave 0 4-0 LASTID 100-0 JUSTID
        XINFO GROUPS s
        XADD s 5-0 e 5
        XCLAIM s g dave 0 5-0 FORCE JUSTID
        ~XPENDING s g - + 10
        XPENDING s g
        XAUTOCLAIM s g erin 0 0
        XAUTOCLAIM s g erin 0 0 COUNT 1
        XAUTOCLAIM s g frank 0 0 COUNT 2 JUSTID
        XAUTOCLAIM s g frank 3600000 0
        XDEL s 2-0
        XAUTOCLAIM s g frank 0 0
        XAUTOCLAIM s g frank 0 (1-0 COUNT 1
        XAUTOCLAIM s g frank 0 0 COUNT 0
        XAUTOCLAIM s g frank 0 0 COUNT x
        XAUTOCLAIM s g frank 0 0 FOO
        XAUTOCLAIM s g frank x 0
        XAUTOCLAIM s g frank 0 bad
        XAUTOCLAIM s nogroup frank 0 0
        XAUTOCLAIM missing g frank 0 0
        XPENDING s g
        ~XINFO CONSUMERS s g
        SET str v
        XCLAIM str g c 0 1-0
        XAUTOCLAIM str g c 0 0
        XACK str g 1-0
        XPENDING str g
        "#,
    );
}

/// Group commands do not count as modifying the key for WATCH in Redis 7.0; XADD, XDEL and
/// XTRIM do.
#[test]
fn watch_sees_what_redis_signals() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XGROUP CREATE w g $ MKSTREAM
        XADD w 1-0 a 1
        XADD w 2-0 a 1
        WATCH w
        XREADGROUP GROUP g c STREAMS w >
        XACK w g 1-0
        XGROUP SETID w g 0
        XGROUP CREATECONSUMER w g d
        XGROUP DELCONSUMER w g d
        XGROUP CREATE w g2 0
        XGROUP DESTROY w g2
        XSETID w 5-0
        ~XCLAIM w g c 0 2-0
        XAUTOCLAIM w g c 0 0 JUSTID
        XTRIM w MAXLEN 5
        XDEL w 9-0
        MULTI
        PING
        EXEC
        WATCH w
        XDEL w 1-0
        MULTI
        PING
        EXEC
        WATCH w
        XTRIM w MAXLEN 0
        MULTI
        PING
        EXEC
        WATCH w
        XADD w 6-0 a 1
        MULTI
        PING
        EXEC
        WATCH x
        XGROUP CREATE x g $ MKSTREAM
        MULTI
        PING
        EXEC
        "#,
    );
}

#[test]
fn xread_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XADD a 1-0 f 1
        XADD a 2-0 f 2
        XADD b 1-0 g 1
        XREAD STREAMS a b 0 0
        XREAD COUNT 1 STREAMS a b 0 0
        XREAD STREAMS a b 1 1
        XREAD STREAMS a b $ $
        XREAD STREAMS a missing 0 0
        XREAD STREAMS missing 0
        XREAD STREAMS a
        XREAD STREAMS a b 0
        XREAD COUNT x STREAMS a 0
        XREAD COUNT -1 STREAMS a 0
        XREAD BLOCK x STREAMS a 0
        XREAD BLOCK -1 STREAMS a 0
        XREAD BLOCK 0 STREAMS a 0
        XREAD FOO STREAMS a 0
        XREAD COUNT 1 a 0
        XREAD STREAMS a bad
        XREAD STREAMS a -
        XREAD STREAMS a +
        SET str v
        XREAD STREAMS a str 0 0
        MULTI
        XREAD BLOCK 0 STREAMS a $
        XREADGROUP GROUP g c BLOCK 0 STREAMS a >
        EXEC
        XINFO STREAM a FULL
        "#,
    );
}

#[test]
fn full_info_and_keyspace_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        XADD s 1-0 a 1
        XADD s 2-0 b 2
        XADD s 3-0 c 3
        XGROUP CREATE s g 0
        XGROUP CREATE s h $
        XREADGROUP GROUP g alice COUNT 1 STREAMS s >
        XREADGROUP GROUP g bob COUNT 1 STREAMS s >
        XCLAIM s g alice 0 2-0 TIME 1000 JUSTID
        XGROUP CREATECONSUMER s h carol
        ~XINFO STREAM s FULL
        ~XINFO CONSUMERS s g
        XINFO STREAM s
        COPY s c
        XRANGE c - +
        XINFO GROUPS c
        XPENDING c g
        RENAME c d
        TYPE d
        XLEN d
        EXPIRE d 100
        TTL d
        OBJECT ENCODING d
        DEL d
        EXISTS d
        SCAN 0 TYPE stream
        SCAN 0 TYPE string
        XGROUP CREATE e g $ MKSTREAM
        XLEN e
        XINFO STREAM e
        XINFO STREAM e FULL
        SCAN 0 MATCH e TYPE stream
        COMMAND INFO xadd xrange xrevrange xlen xdel xtrim xread xreadgroup xack xpending
        COMMAND INFO xclaim xautoclaim xsetid
        COMMAND GETKEYS XREADGROUP GROUP g c STREAMS a b > >
        "#,
    );
}

/// XREAD BLOCK wakes on XADD from another client, with the entries after the id it blocked
/// on (`$` resolved when it blocked).
#[test]
fn blocked_xread_wakes_on_xadd() {
    e2e::same_as_redis(|server| {
        let mut ctl = server.raw();
        let mut reader = server.raw();
        let mut out = Vec::new();
        out.push(text(ctl.cmd(&["XADD", "s", "1-0", "f", "v"])));
        send_command(&mut reader, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["XADD", "other", "1-0", "f", "v"])));
        out.push(text(ctl.cmd(&["XADD", "s", "2-0", "f", "w"])));
        out.push(text(reader.read_reply().expect("reply")));
        // A reader blocked on a missing key is served by its creation.
        send_command(
            &mut reader,
            &["XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "new", "0"],
        );
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["XADD", "new", "5-0", "a", "b"])));
        out.push(text(reader.read_reply().expect("reply")));
        // RESP3: a map.
        reader.cmd(&["HELLO", "3"]);
        send_command(&mut reader, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["XADD", "s", "3-0", "f", "x"])));
        out.push(text(reader.read_reply().expect("reply")));
        // Inside MULTI the XADD wakes the reader after EXEC.
        send_command(&mut reader, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["MULTI"])));
        out.push(text(ctl.cmd(&["XADD", "s", "4-0", "f", "y"])));
        out.push(text(ctl.cmd(&["XADD", "s", "5-0", "f", "z"])));
        out.push(text(ctl.cmd(&["EXEC"])));
        out.push(text(reader.read_reply().expect("reply")));
        // Timeout.
        out.push(text(
            reader.cmd(&["XREAD", "BLOCK", "1", "STREAMS", "s", "$"]),
        ));
        out
    });
}

/// XREADGROUP BLOCK is served by XADD, each waiter gets distinct entries, and deleting the
/// key or destroying the group releases it with Redis's errors.
#[test]
fn blocked_xreadgroup_is_served_and_released_like_redis() {
    e2e::same_as_redis(|server| {
        let mut ctl = server.raw();
        let mut r1 = server.raw();
        let mut r2 = server.raw();
        let mut out = Vec::new();
        out.push(text(
            ctl.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        ));
        let read = [
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        send_command(&mut r1, &read);
        wait_blocked(&mut ctl, 1);
        let read2 = [
            "XREADGROUP",
            "GROUP",
            "g",
            "c2",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        send_command(&mut r2, &read2);
        wait_blocked(&mut ctl, 2);
        out.push(text(ctl.cmd(&["XADD", "s", "1-0", "f", "v"])));
        out.push(text(r1.read_reply().expect("reply")));
        out.push(text(ctl.cmd(&["XADD", "s", "2-0", "f", "w"])));
        out.push(text(r2.read_reply().expect("reply")));
        out.push(text(ctl.cmd(&["XPENDING", "s", "g"])));
        send_command(&mut r1, &read);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["XGROUP", "DESTROY", "s", "g"])));
        out.push(text(r1.read_reply().expect("reply")));
        out.push(text(ctl.cmd(&["XGROUP", "CREATE", "s", "g", "$"])));
        send_command(&mut r1, &read);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["DEL", "s"])));
        out.push(text(r1.read_reply().expect("reply")));
        // Overwritten by another type, flushed, renamed or swapped away: released with an error.
        for setup in [
            &["SET", "s", "x"][..],
            &["FLUSHALL"],
            &["RENAME", "s", "t"],
            &["SWAPDB", "0", "1"],
        ] {
            ctl.cmd(&["DEL", "s", "t"]);
            out.push(text(
                ctl.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
            ));
            send_command(&mut r1, &read);
            wait_blocked(&mut ctl, 1);
            out.push(text(ctl.cmd(setup)));
            out.push(text(r1.read_reply().expect("reply")));
        }
        // Expired (by the active sweep: nothing else runs meanwhile).
        ctl.cmd(&["DEL", "s", "t"]);
        out.push(text(
            ctl.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        ));
        send_command(&mut r1, &read);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["PEXPIRE", "s", "20"])));
        out.push(text(r1.read_reply().expect("reply")));
        // XREAD waiters stay blocked when the key goes, until CLIENT UNBLOCK.
        let id = text(r2.cmd(&["CLIENT", "ID"]));
        let id = id.trim_start_matches(':').trim();
        send_command(&mut r2, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut ctl, 1);
        out.push(text(ctl.cmd(&["SET", "s", "x"])));
        out.push(text(ctl.cmd(&["DEL", "s"])));
        out.push(text(ctl.cmd(&["CLIENT", "UNBLOCK", id])));
        out.push(text(r2.read_reply().expect("reply")));
        out
    });
}

/// Streams, their node boundaries and consumer-group state survive a clean restart and a
/// kill -9 under `appendfsync always`.
#[test]
fn streams_persist_across_restart_and_kill() {
    let mut server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    for i in 1..=250 {
        c.cmd(&["XADD", "s", &format!("{i}-0"), "f", &format!("v{i}")]);
    }
    c.cmd(&["XDEL", "s", "7-0"]);
    c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ]);
    c.cmd(&["XGROUP", "CREATECONSUMER", "s", "g", "bob"]);
    // Every kind of part: a node emptied by XDEL, trimmed nodes, a claimed entry, a deleted
    // consumer, a destroyed group, groups with and without a read counter.
    let node_two: Vec<String> = (101..=200).map(|i| format!("{i}-0")).collect();
    let mut xdel = vec!["XDEL", "s"];
    xdel.extend(node_two.iter().map(String::as_str));
    c.cmd(&xdel);
    c.cmd(&["XTRIM", "s", "MINID", "3"]);
    c.cmd(&["XCLAIM", "s", "g", "bob", "0", "3-0", "JUSTID"]);
    c.cmd(&["XGROUP", "CREATE", "s", "h", "$"]);
    c.cmd(&["XGROUP", "CREATE", "s", "gone", "0"]);
    c.cmd(&["XREADGROUP", "GROUP", "gone", "x", "STREAMS", "s", ">"]);
    c.cmd(&["XGROUP", "DESTROY", "s", "gone"]);
    c.cmd(&["XGROUP", "CREATECONSUMER", "s", "h", "temp"]);
    c.cmd(&["XGROUP", "DELCONSUMER", "s", "h", "temp"]);
    c.cmd(&["EXPIRE", "s", "100000"]);
    let snapshot = |c: &mut e2e::RawConn| {
        vec![
            text(c.cmd(&["XINFO", "STREAM", "s"])),
            // Times are absolute here (delivery, seen): they survive exactly.
            text(c.cmd(&["XINFO", "STREAM", "s", "FULL", "COUNT", "0"])),
            text(c.cmd(&["PEXPIRETIME", "s"])),
            text(c.cmd(&["XINFO", "GROUPS", "s"])),
            text(c.cmd(&["XPENDING", "s", "g", "-", "+", "10"]))
                .split("\r\n")
                .filter(|l| !l.starts_with(':'))
                .collect::<Vec<_>>()
                .join("\r\n"),
            text(c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "10"])),
        ]
    };
    let before = snapshot(&mut c);
    server.kill9();
    server.restart();
    let mut c = server.raw();
    assert_eq!(snapshot(&mut c), before, "after kill -9");
    // And one more write after the restart, then a clean restart.
    c.cmd(&["XACK", "s", "g", "1-0"]);
    c.cmd(&["XADD", "s", "300-0", "f", "v"]);
    let before = snapshot(&mut c);
    server.stop();
    server.restart();
    let mut c = server.raw();
    assert_eq!(snapshot(&mut c), before, "after a clean restart");
}

/// The newest log segment and its size.
fn newest_segment(dir: &std::path::Path) -> (String, u64) {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("kvstore.wal."))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .max()
        .expect("a log segment")
}

/// How many bytes one command adds to the log (retried if the log rotated meanwhile).
fn logged_bytes(server: &Server, conn: &mut e2e::RawConn, cmd: &[&str]) -> u64 {
    for _ in 0..20 {
        let (name, before) = newest_segment(server.dir());
        let reply = conn.cmd(cmd);
        assert!(!reply.starts_with(b"-"), "{}", text(reply));
        let (name_after, after) = newest_segment(server.dir());
        if name == name_after {
            return after - before;
        }
    }
    panic!("the log rotated during every attempt");
}

/// A write to a big stream logs the parts it changed (the tail node, a group's header, the
/// pending entries it touched), not the stream nor the whole pending entries list: the cost
/// of a write does not grow with the stream.
#[test]
fn a_write_to_a_big_stream_logs_its_tail_node_only() {
    let server = Server::kvstore(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut conn = server.raw();
    let n = 20_000;
    let mut pipeline = Vec::new();
    for i in 1..=n {
        let (id, value) = (format!("{i}-0"), format!("value number {i}"));
        pipeline.extend(e2e::encode_command(&[
            b"XADD",
            b"s",
            id.as_bytes(),
            b"field",
            value.as_bytes(),
        ]));
    }
    conn.send(&pipeline);
    for _ in 0..n {
        conn.read_reply().expect("reply");
    }
    conn.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    // A big pending entries list: acknowledging one entry must not rewrite it.
    conn.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bulk",
        "COUNT",
        "10000",
        "STREAMS",
        "s",
        ">",
    ]);
    // The first write after a whole-key write may still log the whole key.
    conn.cmd(&["XADD", "s", "*", "field", "value"]);
    for cmd in [
        &["XADD", "s", "*", "field", "value"][..],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
        &["XACK", "s", "g", "1-0"],
        &["XCLAIM", "s", "g", "alice", "0", "2-0", "JUSTID"],
        &[
            "XAUTOCLAIM",
            "s",
            "g",
            "carol",
            "0",
            "0",
            "COUNT",
            "3",
            "JUSTID",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bulk",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            "0",
        ],
        &["XDEL", "s", "5000-0"],
        &["XTRIM", "s", "MAXLEN", "~", "19000"],
        &["XADD", "s", "MAXLEN", "19000", "*", "field", "value"],
        &["XSETID", "s", "99999999999999-0"],
    ] {
        let bytes = logged_bytes(&server, &mut conn, cmd);
        assert!(bytes < 16 * 1024, "{cmd:?} logged {bytes} bytes");
    }
}

/// A reply with every integer that follows a consumer name in an XPENDING entry (its idle
/// time) replaced by `:_`, so replies that show times can be compared.
fn mask_idle(reply: String) -> String {
    let mut lines: Vec<String> = reply.split("\r\n").map(str::to_owned).collect();
    for i in 0..lines.len() {
        // An extended XPENDING entry: *4, $len, id, $len, consumer, :idle, :count.
        if lines[i] == "*4" && i + 5 < lines.len() && lines[i + 5].starts_with(':') {
            lines[i + 5] = ":_".into();
        }
        // XINFO CONSUMERS: "idle" then its value.
        if lines[i] == "idle" && i + 1 < lines.len() {
            lines[i + 1] = ":_".into();
        }
    }
    lines.join("\r\n")
}

/// XPENDING's extended form and XINFO CONSUMERS, idle times masked: owners, delivery
/// counts, order and the IDLE filter match Redis.
#[test]
fn pending_entries_match_redis_but_for_idle_times() {
    e2e::same_as_redis(|server| {
        let mut c = server.raw();
        for cmd in [
            &["XADD", "s", "1-0", "a", "1"][..],
            &["XADD", "s", "2-0", "b", "2"],
            &["XADD", "s", "3-0", "c", "3"],
            &["XGROUP", "CREATE", "s", "g", "0"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
            &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
            &[
                "XCLAIM", "s", "g", "bob", "0", "1-0", "IDLE", "3600000", "JUSTID",
            ],
            &[
                "XCLAIM",
                "s",
                "g",
                "carol",
                "0",
                "2-0",
                "RETRYCOUNT",
                "9",
                "JUSTID",
            ],
        ] {
            c.cmd(cmd);
        }
        [
            &["XPENDING", "s", "g", "-", "+", "10"][..],
            &["XPENDING", "s", "g", "-", "+", "10", "bob"],
            &["XPENDING", "s", "g", "(1-0", "+", "1"],
            &["XPENDING", "s", "g", "IDLE", "1000000", "-", "+", "10"],
            &["XPENDING", "s", "g", "IDLE", "0", "-", "(3-0", "5", "alice"],
            &["XINFO", "CONSUMERS", "s", "g"],
        ]
        .iter()
        .map(|cmd| mask_idle(text(c.cmd(cmd))))
        .collect()
    });
}

/// One random command on stream `s`: appends with varied fields and sizes (so nodes fill by
/// entries and by bytes), deletes, exact and `~` trims, group reads, acks and claims, and
/// the replies that expose the internals (XINFO's radix-tree counts, lag, entries-read).
fn random_command(rng: &mut Rng, ms: &mut u64) -> String {
    let id = |rng: &mut Rng, ms: u64| format!("{}-{}", rng.below(ms + 1), rng.below(3));
    let group = format!("g{}", rng.below(3));
    let consumer = format!("c{}", rng.below(3));
    match rng.below(100) {
        0..=44 => {
            *ms += [0, 1, 1, 2, 50, 100_000][rng.below(6) as usize];
            let mut fields = String::new();
            for i in 0..1 + rng.below(3) {
                let field = match rng.below(4) {
                    0 => format!("field{i}"),
                    1 => "123".to_string(),
                    2 => "x".repeat(rng.below(200) as usize),
                    _ => rng.pick(&["f", "g", "h"]).to_string(),
                };
                let value = match rng.below(4) {
                    0 => "y".repeat(rng.below(300) as usize),
                    1 => rng.pick(&["1", "-1", "99999", "12345678901"]).to_string(),
                    _ => format!("v{}", rng.below(1000)),
                };
                fields.push_str(&format!(" \"{field}\" \"{value}\""));
            }
            let trim = match rng.below(12) {
                0 => format!("MAXLEN ~ {} ", rng.below(300)),
                1 => format!("MAXLEN {} ", rng.below(300)),
                2 => format!("MINID ~ {} ", ms.saturating_sub(rng.below(5000))),
                3 => format!("MAXLEN ~ {} LIMIT {} ", rng.below(300), rng.below(200)),
                _ => String::new(),
            };
            let seq = if rng.below(2) == 0 {
                "*".to_string()
            } else {
                rng.below(3).to_string()
            };
            format!("XADD s {trim}{ms}-{seq}{fields}")
        }
        45..=52 => format!("XDEL s {} {} {}", id(rng, *ms), id(rng, *ms), id(rng, *ms)),
        53..=57 => match rng.below(4) {
            0 => format!("XTRIM s MAXLEN ~ {}", rng.below(300)),
            1 => format!("XTRIM s MAXLEN = {}", rng.below(300)),
            2 => format!("XTRIM s MINID ~ {}", rng.below(*ms + 1)),
            _ => format!("XTRIM s MINID {}", rng.below(*ms + 1)),
        },
        58..=61 => format!("XGROUP CREATE s {group} {} MKSTREAM", id(rng, *ms)),
        62..=69 => {
            let from = if rng.below(4) == 0 { "0" } else { ">" };
            let noack = if rng.below(5) == 0 { "NOACK " } else { "" };
            let count = rng.below(5);
            format!("XREADGROUP GROUP {group} {consumer} {noack}COUNT {count} STREAMS s {from}")
        }
        70..=73 => format!("XACK s {group} {} {}", id(rng, *ms), id(rng, *ms)),
        74..=76 => format!("XCLAIM s {group} {consumer} 0 {} JUSTID", id(rng, *ms)),
        77..=78 => format!("XAUTOCLAIM s {group} {consumer} 0 0 COUNT 3 JUSTID"),
        79..=80 => format!("XGROUP SETID s {group} {}", id(rng, *ms)),
        81..=86 => "XINFO STREAM s".to_string(),
        87..=89 => "XINFO GROUPS s".to_string(),
        90..=92 => format!("XPENDING s {group}"),
        93..=95 => format!("XRANGE s - + COUNT {}", rng.below(8)),
        _ => format!("XREVRANGE s + - COUNT {}", rng.below(8)),
    }
}

/// Random sequences of stream commands under several node limits give Redis's replies,
/// node boundaries (radix-tree keys and nodes) and group counters included.
#[test]
fn random_stream_sequences_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    for seed in 1..=8u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let entries = ["100", "100", "3", "7", "0"][rng.below(5) as usize];
        let bytes = ["4096", "4096", "700", "200", "0"][rng.below(5) as usize];
        let mut script = format!(
            "CONFIG SET stream-node-max-entries {entries}\nCONFIG SET stream-node-max-bytes {bytes}\n"
        );
        let mut ms = 1;
        for _ in 0..300 {
            script.push_str(&random_command(&mut rng, &mut ms));
            script.push('\n');
        }
        script.push_str("XINFO STREAM s\nXINFO GROUPS s\n");
        d.check(2, "FLUSHALL");
        d.check(2, &script);
    }
}
