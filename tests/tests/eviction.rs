//! `maxmemory` and eviction against redis-server 7.0, run side by side in each test: the
//! approximated LRU keeps recently read keys as Redis does, volatile-ttl evicts the soonest
//! deadlines first, noeviction refuses `denyoom` commands with Redis's very bytes (MULTI,
//! EXEC and scripts included) while reads and deletes go on, a restart brings back exactly
//! the keys that were not evicted, and `CONFIG SET maxmemory` applies at once.
//!
//! The servers do not count memory alike (kvstore counts its dataset and leaves persistence
//! out, Redis counts everything but its AOF buffer), so limits are set relative to what each
//! reports (`used_memory - mem_not_counted_for_evict`) and outcomes compared with a
//! tolerance, never timings.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{elements, encode_command, require_redis, text, Differential, RawConn, Server};

const VALUE_LEN: usize = 1000;

/// One `name:value` field of INFO.
fn info(c: &mut RawConn, section: &str, name: &str) -> String {
    let reply = text(c.cmd(&["INFO", section]));
    let prefix = format!("{name}:");
    reply
        .split("\r\n")
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("INFO {section} has no {name}: {reply}"))
        .to_owned()
}

fn info_u64(c: &mut RawConn, section: &str, name: &str) -> u64 {
    info(c, section, name).parse().expect("a number")
}

/// The memory a server compares with `maxmemory`.
fn counted(c: &mut RawConn) -> u64 {
    info_u64(c, "memory", "used_memory") - info_u64(c, "memory", "mem_not_counted_for_evict")
}

/// Sends `commands` pipelined (in chunks) and returns their replies.
fn pipeline(c: &mut RawConn, commands: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut replies = Vec::with_capacity(commands.len());
    for chunk in commands.chunks(500) {
        let mut out = Vec::new();
        for command in chunk {
            let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
            out.extend_from_slice(&encode_command(&args));
        }
        c.send(&out);
        for _ in chunk {
            replies.push(c.read_reply().expect("reply"));
        }
    }
    replies
}

/// SETs `keys` to values of [`VALUE_LEN`] bytes (with `EX ttl(i)` when given); every reply
/// must be OK.
fn set_all(c: &mut RawConn, keys: &[String], ttl: Option<&dyn Fn(usize) -> u64>) {
    let value = vec![b'x'; VALUE_LEN];
    let commands: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut command = vec![b"SET".to_vec(), key.as_bytes().to_vec(), value.clone()];
            if let Some(ttl) = ttl {
                command.push(b"EX".to_vec());
                command.push(ttl(i).to_string().into_bytes());
            }
            command
        })
        .collect();
    for reply in pipeline(c, &commands) {
        assert_eq!(text(reply), "+OK\r\n");
    }
}

/// Which of `keys` exist (EXISTS does not count as an access).
fn present(c: &mut RawConn, keys: &[String]) -> Vec<bool> {
    let commands: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|k| vec![b"EXISTS".to_vec(), k.as_bytes().to_vec()])
        .collect();
    pipeline(c, &commands)
        .into_iter()
        .map(|r| text(r) == ":1\r\n")
        .collect()
}

fn fraction(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&p| p).count() as f64 / flags.len() as f64
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i:06}")).collect()
}

/// Every key, sorted.
fn all_keys(c: &mut RawConn) -> BTreeSet<Vec<u8>> {
    elements(&c.cmd(&["KEYS", "*"])).into_iter().collect()
}

/// What the LRU run measured on one server.
#[derive(Debug)]
struct LruRun {
    hot_kept: f64,
    first_round_kept: f64,
    evicted: u64,
}

/// 1,000 hot keys, then ten rounds of 10 MB of new keys (100 MB in all) into a 20 MB limit;
/// before each round the clock moves on and the hot keys are read. Under allkeys-lru the hot
/// keys should stay and the oldest rounds go.
fn lru_run(server: &Server) -> LruRun {
    let mut c = server.raw();
    let hot = names("hot", 1000);
    set_all(&mut c, &hot, None);
    let mut first_round = Vec::new();
    for round in 0..10 {
        // The LRU clock ticks once a second: let it, so reads and writes of different
        // rounds have different ages.
        std::thread::sleep(Duration::from_millis(1100));
        let gets: Vec<Vec<Vec<u8>>> = hot
            .iter()
            .map(|k| vec![b"GET".to_vec(), k.as_bytes().to_vec()])
            .collect();
        pipeline(&mut c, &gets);
        let cold = names(&format!("cold{round}"), 10_000);
        set_all(&mut c, &cold, None);
        if round == 0 {
            first_round = cold;
        }
    }
    LruRun {
        hot_kept: fraction(&present(&mut c, &hot)),
        first_round_kept: fraction(&present(&mut c, &first_round)),
        evicted: info_u64(&mut c, "stats", "evicted_keys"),
    }
}

#[test]
fn allkeys_lru_keeps_recently_read_keys_as_redis_does_and_bounds_memory() {
    if !require_redis() {
        return;
    }
    let args = ["--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru"];
    let ours = Server::kvstore(&args);
    let theirs = Server::redis(&args);
    let baseline_rss = info_u64(&mut ours.raw(), "memory", "used_memory_rss");
    let (a, b) = (lru_run(&ours), lru_run(&theirs));
    eprintln!("kvstore {a:?}\nredis-server {b:?}");
    assert!(a.evicted > 0 && b.evicted > 0, "kvstore {a:?}, redis {b:?}");
    // About as many keys fit: kvstore counts its own per-key overhead, Redis its own.
    let written = 101_000.0;
    let (kept_a, kept_b) = (written - a.evicted as f64, written - b.evicted as f64);
    assert!(
        (kept_a - kept_b).abs() <= 0.25 * kept_b,
        "keys kept: kvstore {kept_a}, redis {kept_b}"
    );
    assert!(
        a.hot_kept >= b.hot_kept - 0.15,
        "recently read keys kept: kvstore {a:?}, redis {b:?}"
    );
    assert!(
        a.first_round_kept <= b.first_round_kept + 0.15,
        "oldest keys kept: kvstore {a:?}, redis {b:?}"
    );
    let mut c = ours.raw();
    let maxmemory = 20 << 20;
    assert_eq!(info_u64(&mut c, "memory", "maxmemory"), maxmemory);
    assert_eq!(info(&mut c, "memory", "maxmemory_human"), "20.00M");
    assert_eq!(info(&mut c, "memory", "maxmemory_policy"), "allkeys-lru");
    assert!(info_u64(&mut c, "memory", "used_memory_dataset") <= maxmemory);
    // The process, persistence (sled, the redo log) included, stays within a bound set by the
    // limit rather than by the 100 MB written.
    let rss = info_u64(&mut c, "memory", "used_memory_rss");
    eprintln!("kvstore rss {rss} (at start {baseline_rss})");
    assert!(
        rss <= baseline_rss + 10 * maxmemory,
        "rss {rss} after writing 100 MB under a 20 MB limit (at start: {baseline_rss})"
    );
}

/// Loads 1,000 keys without a TTL and 2,000 with TTLs growing with their number, then lowers
/// `maxmemory` by about a megabyte under volatile-ttl. Returns which volatile keys are left.
fn volatile_ttl_run(server: &Server) -> Vec<bool> {
    let mut c = server.raw();
    let persistent = names("p", 1000);
    let volatile = names("v", 2000);
    set_all(&mut c, &persistent, None);
    set_all(&mut c, &volatile, Some(&|i| 100_000 + i as u64));
    let limit = (counted(&mut c) - 1_000_000).to_string();
    assert_eq!(
        text(c.cmd(&["CONFIG", "SET", "maxmemory", &limit])),
        "+OK\r\n"
    );
    assert!(present(&mut c, &persistent).iter().all(|&p| p));
    present(&mut c, &volatile)
}

#[test]
fn volatile_ttl_evicts_the_shortest_ttl_first() {
    if !require_redis() {
        return;
    }
    let args = ["--maxmemory-policy", "volatile-ttl"];
    let ours = volatile_ttl_run(&Server::kvstore(&args));
    let theirs = volatile_ttl_run(&Server::redis(&args));
    for (server, left) in [("kvstore", &ours), ("redis-server", &theirs)] {
        let evicted = left.iter().filter(|&&p| !p).count();
        assert!(evicted > 500, "{server} evicted {evicted}");
        // Redis samples, so its order is approximate: most of what it evicted had a TTL in
        // the shorter half.
        let late = left[1000..].iter().filter(|&&p| !p).count();
        assert!(
            late * 4 <= evicted,
            "{server}: {late} of {evicted} from the longer half"
        );
    }
    // kvstore takes its candidates from the ordered expiry index: exactly the soonest go.
    let evicted = ours.iter().filter(|&&p| !p).count();
    assert!(
        ours[..evicted].iter().all(|&p| !p),
        "not a prefix: {ours:?}"
    );
}

#[test]
fn noeviction_refuses_denyoom_commands_with_redis_bytes_and_serves_reads_and_deletes() {
    let Some(servers) = Differential::start(&["--maxmemory-policy", "noeviction"]) else {
        return;
    };
    servers.check_both(
        r#"
        SET k1 v1
        SET k2 v2
        RPUSH list a b c
        CONFIG SET maxmemory 1
        SET a b
        SETNX a b
        INCR counter
        APPEND k1 more
        LPUSH list x
        HSET h f v
        SADD s m
        ZADD z 1 m
        GET k1
        MGET k1 k2 nothing
        LRANGE list 0 -1
        LPOP list
        DEL k1
        EXISTS k1
        UNLINK k2
        EXPIRE list 100
        TTL list
        PING
        MULTI
        SET a b
        GET k2
        EXEC
        MULTI
        PING
        DISCARD
        MULTI
        DEL list
        EXEC
        EVAL "return redis.call('set','x','y')" 0
        EVAL "return redis.pcall('set','x','y')" 0
        EVAL "return redis.call('get','x')" 0
        EVAL "return redis.call('del','list')" 0
        CONFIG SET maxmemory 0
        SET a b
        GET a
        "#,
    );
    // Scripts that declare flags (a shebang line) are `denyoom` unless the flags say
    // `no-writes` or `allow-oom`.
    servers.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = vec![text(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]))];
        for script in [
            "#!lua\nreturn 1",
            "#!lua flags=no-writes\nreturn redis.call('get','x')",
            "#!lua flags=allow-oom\nreturn redis.call('set','x','y')",
            "#!lua flags=allow-oom\nreturn redis.call('get','x')",
        ] {
            out.push(text(c.cmd(&["EVAL", script, "0"])));
        }
        // A subscribed RESP2 client: the OOM check comes before the subscribed-mode one.
        let mut sub = server.raw();
        for args in [&["SUBSCRIBE", "c"][..], &["SET", "a", "b"], &["PING"]] {
            out.push(text(sub.cmd(args)));
        }
        out.push(text(c.cmd(&["CONFIG", "SET", "maxmemory", "0"])));
        out.push(text(sub.cmd(&["SET", "a", "b"])));
        out
    });
}

#[test]
fn exec_of_a_queued_write_after_memory_ran_out_is_aborted_as_in_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.same_transcripts(|server| {
        let mut tx = server.raw();
        let mut admin = server.raw();
        let mut out = Vec::new();
        for args in [&["MULTI"][..], &["SET", "a", "b"], &["GET", "a"]] {
            out.push(text(tx.cmd(args)));
        }
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"])));
        for args in [
            &["EXEC"][..],
            &["EXEC"],
            &["MULTI"],
            &["GET", "a"],
            &["EXEC"],
        ] {
            out.push(text(tx.cmd(args)));
        }
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"])));
        for args in [&["MULTI"][..], &["GET", "a"]] {
            out.push(text(tx.cmd(args)));
        }
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"])));
        // Only reads queued: EXEC runs.
        out.push(text(tx.cmd(&["EXEC"])));
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"])));
        out
    });
}

#[test]
fn object_freq_and_idletime_answer_from_the_eviction_clock() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "
        CONFIG SET maxmemory-policy allkeys-lfu
        SET f v
        OBJECT FREQ f
        GET f
        OBJECT FREQ f
        OBJECT IDLETIME f
        OBJECT FREQ missing
        CONFIG SET maxmemory-policy allkeys-lru
        SET g v
        OBJECT IDLETIME g
        OBJECT FREQ g
        CONFIG SET maxmemory-policy noeviction
        ",
    );
}

/// Writes 5,000 keys under a limit set at run time, lists what is left, then restarts the
/// server (`restart`: kill -9 or SIGTERM) without the limit: the same keys come back.
fn survivors_after_restart(mut server: Server, kill9: bool) {
    let mut c = server.raw();
    assert_eq!(
        text(c.cmd(&["CONFIG", "SET", "maxmemory", "3mb"])),
        "+OK\r\n"
    );
    set_all(&mut c, &names("k", 5000), None);
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0);
    // The last command before the restart: any later one could evict more (Redis counts
    // the reply to KEYS itself).
    let before = all_keys(&mut c);
    assert!(
        !before.is_empty() && before.len() < 5000,
        "{:?} kept {}",
        server.flavor,
        before.len()
    );
    drop(c);
    if kill9 {
        server.kill9();
    } else {
        server.stop();
    }
    server.restart();
    let mut c = server.raw();
    let after = all_keys(&mut c);
    assert_eq!(
        before.len(),
        after.len(),
        "{:?}: key count after restart",
        server.flavor
    );
    assert!(
        before == after,
        "{:?}: other keys after restart",
        server.flavor
    );
}

#[test]
fn restart_after_eviction_brings_back_exactly_the_keys_not_evicted() {
    if !require_redis() {
        return;
    }
    // `always`: what a reply acknowledged is on disk, evictions included. Tenacity 100:
    // eviction never leaves work for later, so nothing changes after the last reply.
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--maxmemory-policy",
        "allkeys-random",
        "--maxmemory-eviction-tenacity",
        "100",
    ];
    survivors_after_restart(Server::kvstore(&args), true);
    survivors_after_restart(Server::kvstore(&args), false);
    survivors_after_restart(Server::redis(&args), true);
}

/// Loads 4,000 keys without a limit, then sets `maxmemory` to half of what they take.
/// Returns the fraction of keys left and the server's counted memory and limit.
fn halve_at_run_time(server: &Server) -> (f64, u64, u64) {
    let mut c = server.raw();
    set_all(&mut c, &names("k", 4000), None);
    let limit = counted(&mut c) / 2;
    let reply = c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    assert_eq!(text(reply), "+OK\r\n");
    // An eviction cycle stops after `maxmemory-eviction-tenacity`'s time and goes on in the
    // background and before the next commands: wait until it is done.
    let slack = 2 * VALUE_LEN as u64 + 1024;
    let started = std::time::Instant::now();
    while counted(&mut c) > limit + slack && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let dbsize: u64 = text(c.cmd(&["DBSIZE"]))
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("DBSIZE");
    assert_eq!(info_u64(&mut c, "memory", "maxmemory"), limit);
    // Later writes stay within the new limit too.
    set_all(&mut c, &names("more", 4000), None);
    (dbsize as f64 / 4000.0, counted(&mut c), limit)
}

#[test]
fn config_set_maxmemory_takes_effect_at_run_time() {
    if !require_redis() {
        return;
    }
    let args = ["--maxmemory-policy", "allkeys-lru"];
    let ours = halve_at_run_time(&Server::kvstore(&args));
    let theirs = halve_at_run_time(&Server::redis(&args));
    for (server, (kept, used, limit)) in [("kvstore", ours), ("redis-server", theirs)] {
        assert!((0.2..0.8).contains(&kept), "{server} kept {kept}");
        // At most the last write over the limit.
        assert!(
            used <= limit + 2 * VALUE_LEN as u64 + 1024 + 64 * 1024,
            "{server}: {used} > {limit}"
        );
    }
    assert!(
        (ours.0 - theirs.0).abs() < 0.25,
        "kvstore {ours:?}, redis {theirs:?}"
    );
}

/// 1,000 keys without a TTL and 1,000 with one, then a limit below what the persistent keys
/// alone take: every volatile key goes, no persistent one does, and writes are refused.
fn volatile_only_run(server: &Server) -> (Vec<bool>, Vec<bool>, String) {
    let mut c = server.raw();
    let persistent = names("p", 1000);
    let volatile = names("v", 1000);
    set_all(&mut c, &persistent, None);
    set_all(&mut c, &volatile, Some(&|_| 100_000));
    let limit = (counted(&mut c) * 3 / 10).to_string();
    assert_eq!(
        text(c.cmd(&["CONFIG", "SET", "maxmemory", &limit])),
        "+OK\r\n"
    );
    let refused = text(c.cmd(&["SET", "new", "value"]));
    (
        present(&mut c, &persistent),
        present(&mut c, &volatile),
        refused,
    )
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    if !require_redis() {
        return;
    }
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        // Tenacity 100: one cycle evicts all it must (a debug build is slow), so the write
        // right after the limit meets the outcome, not a cycle still running.
        let args = [
            "--maxmemory-policy",
            policy,
            "--maxmemory-eviction-tenacity",
            "100",
        ];
        let ours = volatile_only_run(&Server::kvstore(&args));
        let theirs = volatile_only_run(&Server::redis(&args));
        for (server, (persistent, volatile, refused)) in [("kvstore", &ours), ("redis", &theirs)] {
            assert!(persistent.iter().all(|&p| p), "{server} {policy}");
            assert!(volatile.iter().all(|&p| !p), "{server} {policy}");
            assert_eq!(
                refused, "-OOM command not allowed when used memory > 'maxmemory'.\r\n",
                "{server} {policy}"
            );
        }
    }
}

/// 500 keys read 30 times each, then 20 MB of keys written once into a 5 MB limit: under
/// allkeys-lfu the keys read often stay. Returns the fraction of them left.
fn lfu_run(server: &Server) -> f64 {
    let mut c = server.raw();
    let hot = names("hot", 500);
    set_all(&mut c, &hot, None);
    let gets: Vec<Vec<Vec<u8>>> = (0..30)
        .flat_map(|_| hot.iter())
        .map(|k| vec![b"GET".to_vec(), k.as_bytes().to_vec()])
        .collect();
    pipeline(&mut c, &gets);
    set_all(&mut c, &names("cold", 20_000), None);
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0);
    fraction(&present(&mut c, &hot))
}

#[test]
fn allkeys_lfu_keeps_frequently_read_keys_as_redis_does() {
    if !require_redis() {
        return;
    }
    let args = ["--maxmemory", "5mb", "--maxmemory-policy", "allkeys-lfu"];
    let ours = lfu_run(&Server::kvstore(&args));
    let theirs = lfu_run(&Server::redis(&args));
    assert!(
        ours >= theirs - 0.15,
        "frequently read keys kept: kvstore {ours}, redis-server {theirs}"
    );
}

/// The payload of a bulk string reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&b| b == b'\n').expect("header") + 1;
    reply[start..reply.len() - 2].to_vec()
}

#[test]
fn restore_sets_the_eviction_clock_from_idletime_and_freq() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.same_transcripts(|server| {
        let mut c = server.raw();
        let mut out = vec![text(c.cmd(&["SET", "k", "v"]))];
        let payload = bulk(&c.cmd(&["DUMP", "k"]));
        let restore = |c: &mut RawConn, key: &str, option: &str, n: &str| {
            let args: [&[u8]; 6] = [
                b"RESTORE",
                key.as_bytes(),
                b"0",
                &payload,
                option.as_bytes(),
                n.as_bytes(),
            ];
            text(c.cmd_bytes(&args))
        };
        out.push(restore(&mut c, "idle", "IDLETIME", "1000"));
        out.push(text(c.cmd(&["OBJECT", "IDLETIME", "idle"])));
        // FREQ is ignored under an LRU policy, IDLETIME under an LFU one.
        out.push(restore(&mut c, "lru-freq", "FREQ", "100"));
        out.push(text(c.cmd(&["OBJECT", "IDLETIME", "lru-freq"])));
        out.push(text(c.cmd(&[
            "CONFIG",
            "SET",
            "maxmemory-policy",
            "allkeys-lfu",
        ])));
        out.push(restore(&mut c, "freq", "FREQ", "100"));
        out.push(text(c.cmd(&["OBJECT", "FREQ", "freq"])));
        out.push(restore(&mut c, "lfu-idle", "IDLETIME", "1000"));
        out.push(text(c.cmd(&["OBJECT", "FREQ", "lfu-idle"])));
        out
    });
}

#[test]
fn fcall_is_denyoom_unless_the_function_declares_no_writes_or_allow_oom() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.same_transcripts(|server| {
        let mut c = server.raw();
        let library = "#!lua name=evictlib\n\
            redis.register_function('plain', function(keys, args) return redis.call('set','fx','1') end)\n\
            redis.register_function{function_name='ro', callback=function(keys, args) return redis.call('get','fx') end, flags={'no-writes'}}\n\
            redis.register_function{function_name='oomok', callback=function(keys, args) return redis.call('set','fx','2') end, flags={'allow-oom'}}";
        let mut out = vec![text(c.cmd(&["FUNCTION", "LOAD", "REPLACE", library]))];
        out.push(text(c.cmd(&["CONFIG", "SET", "maxmemory", "1"])));
        for function in ["plain", "ro", "oomok", "ro", "missing"] {
            out.push(text(c.cmd(&["FCALL", function, "0"])));
        }
        out.push(text(c.cmd(&["FUNCTION", "LOAD", "REPLACE", library])));
        out.push(text(c.cmd(&["CONFIG", "SET", "maxmemory", "0"])));
        out.push(text(c.cmd(&["FUNCTION", "FLUSH"])));
        out
    });
}

#[test]
fn an_evicted_key_is_a_change_for_watch_and_releases_stream_readers() {
    let Some(servers) = Differential::start(&["--maxmemory-policy", "allkeys-random"]) else {
        return;
    };
    servers.same_transcripts(|server| {
        let mut watcher = server.raw();
        let mut reader = server.raw();
        let mut admin = server.raw();
        let mut out = Vec::new();
        for args in [
            &["SET", "w", "v"][..],
            &["XADD", "s", "1-1", "f", "v"],
            &["XGROUP", "CREATE", "s", "g", "$"],
        ] {
            out.push(text(admin.cmd(args)));
        }
        out.push(text(watcher.cmd(&["WATCH", "w"])));
        e2e::send_command(
            &mut reader,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        e2e::wait_blocked(&mut admin, 1);
        // Every key goes: the reader is told its stream is gone, EXEC fails.
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"])));
        out.push(text(reader.read_reply().expect("reader released")));
        out.push(text(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"])));
        out.push(text(admin.cmd(&["DBSIZE"])));
        for args in [&["MULTI"][..], &["PING"], &["EXEC"]] {
            out.push(text(watcher.cmd(args)));
        }
        out
    });
}

/// Evicts about 300 of 1,000 keys with `notify-keyspace-events Ee` set and returns what a
/// subscriber to `__keyevent@0__:evicted` heard (each message's key), the keys left, and
/// `evicted_keys`.
fn evicted_events_run(server: &Server) -> (Vec<String>, BTreeSet<Vec<u8>>, u64) {
    let mut c = server.raw();
    let reply = c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    assert_eq!(text(reply), "+OK\r\n");
    let mut sub = server.raw();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    sub.cmd(&["SUBSCRIBE", "end"]);
    let keys = names("k", 1000);
    set_all(&mut c, &keys, None);
    let limit = counted(&mut c) - 300 * VALUE_LEN as u64;
    assert_eq!(
        text(c.cmd(&["CONFIG", "SET", "maxmemory", &limit.to_string()])),
        "+OK\r\n"
    );
    // A cycle that runs out of time goes on in the background (both servers): wait until
    // the memory is under the limit.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while counted(&mut c) > limit {
        assert!(std::time::Instant::now() < deadline, "still over the limit");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Redis evicts before any command while over the limit (INFO included): no limit from
    // here on, so the count read afterwards is the count of announced evictions.
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    c.cmd(&["PUBLISH", "end", "."]);
    let mut heard = Vec::new();
    loop {
        let frame = text(sub.read_reply().expect("message"));
        if frame.contains("$3\r\nend\r\n") {
            break;
        }
        // `*3 $7 message $22 __keyevent@0__:evicted $<n> <key>`: the frame, key masked.
        let (head, key) = frame.rsplit_once("\r\n$").expect("a message");
        assert_eq!(
            head, "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted",
            "{frame:?}"
        );
        heard.push(key.split("\r\n").nth(1).expect("the key").to_owned());
    }
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    (heard, all_keys(&mut c), evicted)
}

#[test]
fn evictions_publish_the_evicted_keyevent_as_redis_does() {
    if !require_redis() {
        return;
    }
    let args = ["--maxmemory-policy", "allkeys-lru"];
    for server in [Server::kvstore(&args), Server::redis(&args)] {
        let (heard, left, evicted) = evicted_events_run(&server);
        let flavor = &server.flavor;
        assert!(evicted >= 200, "{flavor:?} evicted {evicted}");
        assert_eq!(
            heard.len() as u64,
            evicted,
            "{flavor:?}: one message per eviction"
        );
        for key in &heard {
            assert!(
                !left.contains(key.as_bytes()),
                "{flavor:?}: {key} still there"
            );
        }
        assert_eq!(left.len() + heard.len(), 1000, "{flavor:?}");
    }
}
