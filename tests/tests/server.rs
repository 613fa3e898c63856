//! Server commands (INFO, DBSIZE, FLUSH*, SAVE, BGSAVE, LASTSAVE, TIME, CONFIG, COMMAND,
//! SHUTDOWN), and the Redis tools (`redis-cli`, `redis-benchmark`) run against kvstore.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{Differential, RawConn, Server};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The payload of a bulk (RESP2) reply.
fn bulk_text(reply: Vec<u8>) -> String {
    let text = String::from_utf8(reply).expect("utf8");
    assert!(text.starts_with('$'), "not a bulk: {text:?}");
    let (_, body) = text.split_once("\r\n").expect("bulk header");
    body.strip_suffix("\r\n").expect("bulk end").to_owned()
}

/// `name:value` fields of an INFO text.
fn info_field(info: &str, name: &str) -> String {
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}:\n{info}"))
        .to_owned()
}

/// The `# Section` headers of an INFO text, in order.
fn headers(info: &str) -> Vec<String> {
    info.split("\r\n")
        .filter(|l| l.starts_with("# "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn server_command_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        DBSIZE x
        FLUSHDB x
        FLUSHDB async x
        FLUSHDB ASYNC
        FLUSHDB sync
        FLUSHALL x
        FLUSHALL SYNC
        FLUSHALL async
        SAVE x
        BGSAVE x
        BGSAVE schedule x
        BGREWRITEAOF x
        LASTSAVE x
        TIME x
        SHUTDOWN foo
        SHUTDOWN nosave save
        SHUTDOWN abort
        SHUTDOWN abort now
        SHUTDOWN now x
        INFO nosuch
        INFO a b c
        CONFIG
        CONFIG foo
        CONFIG help
        CONFIG GET
        CONFIG SET
        CONFIG SET foo
        CONFIG SET a b c
        CONFIG RESETSTAT x
        CONFIG RESETSTAT
        CONFIG REWRITE x
        CONFIG REWRITE
        CONFIG HELP x
        COMMAND COUNT x
        COMMAND foo
        COMMAND help
        COMMAND LIST x
        COMMAND LIST FILTERBY
        COMMAND LIST FILTERBY foo x
        COMMAND LIST FILTERBY module x
        COMMAND LIST FILTERBY aclcat nosuch
        COMMAND LIST FILTERBY pattern nosuch*
        COMMAND GETKEYS
        COMMAND GETKEYS get
        COMMAND GETKEYS nosuch a
        COMMAND GETKEYS get a b
        COMMAND GETKEYS echo a
        COMMAND GETKEYS get a
        COMMAND GETKEYSANDFLAGS get k
        COMMAND GETKEYSANDFLAGS del a b
        COMMAND INFO nosuch
        COMMAND DOCS nosuch
        "#,
    );
}

#[test]
fn keyspace_commands_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        DBSIZE
        INFO keyspace
        SET a 1
        SET b 2
        DBSIZE
        SELECT 1
        SET c 3
        DBSIZE
        INFO keyspace
        FLUSHDB
        DBSIZE
        SELECT 0
        DBSIZE
        SAVE
        FLUSHALL ASYNC
        DBSIZE
        INFO keyspace
        "#,
    );
}

/// The commands kvstore implements describe themselves exactly as Redis 7.0.15's do.
#[test]
fn command_info_and_docs_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let names = "ping echo select auth hello reset quit info dbsize flushdb flushall save \
                 bgsave bgrewriteaof lastsave time shutdown client|id client|info client|list client|kill \
                 client|setname client|getname client|no-evict client|reply client|help \
                 config|get config|set config|resetstat config|rewrite config|help \
                 command|count command|list command|info command|docs command|getkeys \
                 command|getkeysandflags command|help";
    let mut script = String::new();
    for name in names.split_whitespace() {
        script.push_str(&format!("COMMAND INFO {name}\nCOMMAND DOCS {name}\n"));
    }
    script.push_str(&format!("COMMAND INFO {names}\nCOMMAND DOCS {names}\n"));
    d.check_both(&script);
}

#[test]
fn info_sections_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let mut ours = d.ours.raw();
    let mut theirs = d.reference.raw();
    for args in [
        &["INFO"][..],
        &["INFO", "default"],
        &["INFO", "all"],
        &["INFO", "everything"],
        &["INFO", "SERVER", "clients"],
        &["INFO", "keyspace", "cpu", "nosuch"],
        &["INFO", "modules"],
        &["INFO", "cluster"],
    ] {
        let a = bulk_text(ours.cmd(args));
        let b = bulk_text(theirs.cmd(args));
        assert_eq!(headers(&a), headers(&b), "sections of {args:?}");
        // Same layout: CRLF line ends and one blank line between sections.
        assert!(!a.contains("\r\n\r\n\r\n") && !a.replace("\r\n", "").contains('\n'));
        assert_eq!(
            a.matches("\r\n\r\n#").count(),
            headers(&a).len().saturating_sub(1)
        );
    }
    assert_eq!(
        ours.cmd(&["INFO", "cluster"]),
        theirs.cmd(&["INFO", "cluster"])
    );
}

#[test]
fn info_has_the_fields_clients_parse() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "k", "v"]);
    conn.cmd(&["GET", "k"]);
    conn.cmd(&["GET", "missing"]);
    let info = bulk_text(conn.cmd(&["INFO"]));
    assert!(
        info.starts_with("# Server\r\nredis_version:7.0.15\r\n"),
        "{info}"
    );
    assert!(info.ends_with("\r\n"));
    assert_eq!(info_field(&info, "redis_mode"), "standalone");
    assert_eq!(info_field(&info, "tcp_port"), server.port.to_string());
    assert!(info_field(&info, "process_id").parse::<u32>().expect("pid") > 0);
    let run_id = info_field(&info, "run_id");
    assert!(run_id.len() == 40 && run_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(info_field(&info, "uptime_in_seconds")
        .parse::<u64>()
        .is_ok());
    assert_eq!(info_field(&info, "kvstore_version"), "0.1.0");
    assert!(
        info_field(&info, "connected_clients")
            .parse::<u64>()
            .expect("clients")
            >= 1
    );
    assert!(
        info_field(&info, "used_memory")
            .parse::<u64>()
            .expect("memory")
            > 0
    );
    assert!(info_field(&info, "used_memory_human").ends_with(['K', 'M', 'G']));
    assert_eq!(info_field(&info, "aof_enabled"), "0");
    let last_save: u64 = info_field(&info, "rdb_last_save_time")
        .parse()
        .expect("time");
    assert!(last_save.abs_diff(unix_now()) < 60);
    assert!(
        info_field(&info, "total_commands_processed")
            .parse::<u64>()
            .expect("n")
            >= 3
    );
    assert_eq!(info_field(&info, "keyspace_hits"), "1");
    assert_eq!(info_field(&info, "keyspace_misses"), "1");
    assert_eq!(info_field(&info, "expired_keys"), "0");
    assert_eq!(info_field(&info, "role"), "master");
    assert!(info_field(&info, "used_cpu_user").contains('.'));
    assert_eq!(info_field(&info, "db0"), "keys=1,expires=0,avg_ttl=0");

    assert_eq!(conn.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let stats = bulk_text(conn.cmd(&["INFO", "stats"]));
    assert_eq!(info_field(&stats, "keyspace_hits"), "0");

    // RESP3: a verbatim string.
    conn.cmd(&["HELLO", "3"]);
    let reply = conn.cmd(&["INFO", "server"]);
    assert!(
        reply.starts_with(b"="),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(String::from_utf8_lossy(&reply).contains("\r\ntxt:# Server\r\n"));
}

#[test]
fn info_reports_appendonly() {
    let server = Server::kvstore(&["--appendonly", "yes"]);
    let info = bulk_text(server.raw().cmd(&["INFO", "persistence"]));
    assert_eq!(info_field(&info, "aof_enabled"), "1");
}

#[test]
fn save_bgsave_lastsave_time() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    conn.cmd(&["SET", "k", "v"]);
    assert_eq!(conn.cmd(&["SAVE"]), b"+OK\r\n");
    let info = bulk_text(conn.cmd(&["INFO", "persistence"]));
    assert_eq!(info_field(&info, "rdb_changes_since_last_save"), "0");
    assert!(
        info_field(&info, "rdb_saves")
            .parse::<u64>()
            .expect("saves")
            >= 1
    );
    let last = String::from_utf8(conn.cmd(&["LASTSAVE"])).expect("utf8");
    let last: u64 = last
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .expect("lastsave");
    assert!(last.abs_diff(unix_now()) < 5, "{last}");
    assert_eq!(conn.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(
        conn.cmd(&["BGSAVE", "SCHEDULE"]),
        b"+Background saving started\r\n"
    );
    let time = String::from_utf8(conn.cmd(&["TIME"])).expect("utf8");
    let parts: Vec<&str> = time.split("\r\n").collect();
    assert_eq!(parts[0], "*2");
    let secs: u64 = parts[2].parse().expect("secs");
    let micros: u64 = parts[4].parse().expect("micros");
    assert!(secs.abs_diff(unix_now()) < 5 && micros < 1_000_000);
}

#[test]
fn shutdown_exits_zero_and_keeps_data() {
    for mode in [&["SHUTDOWN"][..], &["SHUTDOWN", "NOSAVE", "NOW"]] {
        let mut server = Server::kvstore(&[]);
        let mut conn = server.raw();
        assert_eq!(conn.cmd(&["SET", "kept", "yes"]), b"+OK\r\n");
        let args: Vec<&[u8]> = mode.iter().map(|a| a.as_bytes()).collect();
        conn.send(&e2e::encode_command(&args));
        assert_eq!(conn.read_to_close(), b"", "SHUTDOWN sends no reply");
        let status = server
            .wait_exit(Duration::from_secs(20))
            .expect("server exited");
        assert!(status.success(), "{mode:?}: {status:?}");
        server.restart();
        assert_eq!(server.raw().cmd(&["GET", "kept"]), b"$3\r\nyes\r\n");
    }
}

/// CONFIG GET/SET replies and errors are Redis's own, byte for byte.
#[test]
fn config_get_set_match_redis() {
    let Some(d) = Differential::start(&["--save", ""]) else {
        return;
    };
    d.check_both(
        r#"
        CONFIG GET save
        CONFIG GET appendonly
        # Redis orders several patterns' results by hash: compare them one by one.
        CONFIG GET maxclients
        CONFIG GET databases
        CONFIG GET nosuch
        CONFIG SET foo bar
        CONFIG SET maxclients x
        CONFIG SET timeout 10
        CONFIG GET timeout
        CONFIG SET timeout 0 maxclients x
        CONFIG GET timeout
        CONFIG SET timeout 0
        "#,
    );
}

/// latency-tracking-info-percentiles is the one float parameter: Redis reads it with
/// `string2d` (hex floats, a sign, no underflow to zero, no overflow, no NaN).
#[test]
fn config_set_float_parameter_matches_redis() {
    let Some(d) = Differential::start(&["--save", ""]) else {
        return;
    };
    d.check_both(
        r#"
        CONFIG SET latency-tracking-info-percentiles "0x1.8p1 0X1P+2 0x.8 +5 1e+2 -0 .5 5."
        CONFIG GET latency-tracking-info-percentiles
        CONFIG SET latency-tracking-info-percentiles 0x1p-2000
        CONFIG SET latency-tracking-info-percentiles 0x1p-1075
        CONFIG SET latency-tracking-info-percentiles 1e-400
        CONFIG SET latency-tracking-info-percentiles 1e400
        CONFIG SET latency-tracking-info-percentiles nan
        CONFIG SET latency-tracking-info-percentiles inf
        CONFIG SET latency-tracking-info-percentiles 0x
        CONFIG SET latency-tracking-info-percentiles 5e
        CONFIG SET latency-tracking-info-percentiles 100.0000000000000001
        CONFIG GET latency-tracking-info-percentiles
        CONFIG SET latency-tracking-info-percentiles 0x1p-1074
        CONFIG GET latency-tracking-info-percentiles
        CONFIG SET latency-tracking-info-percentiles ""
        CONFIG GET latency-tracking-info-percentiles
        "#,
    );
}

/// A bad directive in a config file stops both servers with the same stderr and status.
#[test]
fn config_file_errors_match_redis() {
    if !e2e::require_redis() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for line in [
        "latency-tracking-info-percentiles 0x1p-2000",
        "latency-tracking-info-percentiles \"50 101\"",
        "port 70000",
        "maxmemory 10xb",
        "maxmemory-clients 200%",
        "unixsocketperm 800",
        "save 60",
        "appendfsync sometimes",
        "port \"1",
        "foo bar",
    ] {
        // The last line is always bad, so a wrongly accepted line still ends the start-up.
        let path = dir.path().join("bad.conf");
        std::fs::write(
            &path,
            format!("bind 127.0.0.1\n{line}\nno-such-directive\n"),
        )
        .unwrap();
        let run = |program: std::path::PathBuf| {
            let out = Command::new(program)
                .arg(&path)
                .stdin(Stdio::null())
                .output()
                .expect("start server");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let kvstore = run(e2e::binary("kvstore"));
        let redis = run("redis-server".into());
        assert_eq!(kvstore, redis, "config line {line:?}");
        assert_eq!(kvstore.0, Some(1), "{line:?}");
    }
}

/// CONFIG SET timeout reaches the idle-client sweep at runtime.
#[test]
fn config_set_timeout_closes_idle_clients() {
    let server = Server::kvstore(&[]);
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "timeout", "1"]), b"+OK\r\n");
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.try_cmd(&["PING"]).is_err(), "idle client not closed");
    // The admin connection idled as long; like Redis, kvstore closed it too.
    assert!(admin.try_cmd(&["PING"]).is_err(), "idle admin not closed");
    assert_eq!(
        server.raw().cmd(&["CONFIG", "SET", "timeout", "0"]),
        b"+OK\r\n"
    );
}

/// redis-cli's output; `None` when it is missing and the run opted out of missing references.
fn redis_cli(server: &Server, args: &[&str], stdin: &str) -> Option<String> {
    if !e2e::reference::require(&e2e::reference::REDIS_CLI) {
        return None;
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &server.port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("redis-cli");
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn redis_cli_info_and_ping() {
    let server = Server::kvstore(&[]);
    let Some(out) = redis_cli(&server, &["INFO"], "") else {
        return;
    };
    assert!(out.contains("redis_version:7.0.15"), "{out}");
    assert!(out.contains("# Keyspace"), "{out}");
    assert_eq!(redis_cli(&server, &["PING"], "").unwrap(), "PONG\n");
}

/// redis-cli prints CONFIG GET save from the value given on the command line.
#[test]
fn redis_cli_config_get_save() {
    let server = Server::kvstore(&["--save", "900 1"]);
    let Some(out) = redis_cli(&server, &["CONFIG", "GET", "save"], "") else {
        return;
    };
    assert_eq!(out, "save\n900 1\n");
}

/// Without command arguments redis-cli starts its interactive loop, which loads its help from
/// COMMAND DOCS first; then `help` must find our commands.
#[test]
fn redis_cli_interactive_start_up() {
    let server = Server::kvstore(&[]);
    let Some(out) = redis_cli(
        &server,
        &[],
        "help client list\nhelp @server\nset k v\nget k\nclient setname cli\nclient getname\n",
    ) else {
        return;
    };
    assert!(out.contains("CLIENT LIST"), "{out}");
    assert!(out.contains("summary:"), "{out}");
    assert!(out.contains("SHUTDOWN"), "{out}");
    assert!(out.contains("OK\nv\nOK\ncli\n"), "{out}");
}

#[test]
fn redis_benchmark_ping() {
    if !e2e::reference::require(&e2e::reference::REDIS_BENCHMARK) {
        return;
    }
    let server = Server::kvstore(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-t",
            "ping",
            "-n",
            "1000",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("spawn redis-benchmark");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PING_INLINE: ") && stdout.contains("PING_MBULK: "),
        "{stdout}"
    );
    assert!(stdout.contains("requests per second"), "{stdout}");
}

/// Regenerates `kvstore/src/cmd/introspection/redis-7.0.15-commands.resp` from the installed
/// redis-server: its RESP3 replies to COMMAND DOCS and COMMAND INFO.
#[test]
#[ignore = "run by hand when the reference Redis version changes"]
fn regenerate_command_metadata() {
    let server = Server::redis(&[]);
    let mut conn = RawConn::connect(&server.addr());
    conn.cmd(&["HELLO", "3"]);
    let mut data = conn.cmd(&["COMMAND", "DOCS"]);
    data.extend(conn.cmd(&["COMMAND", "INFO"]));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kvstore/src/cmd/introspection/redis-7.0.15-commands.resp");
    std::fs::write(&path, data).expect("write metadata");
}

/// `kvstore healthcheck` is the image's Docker HEALTHCHECK: 0 while the server answers (with or
/// without a password), non-zero once it is gone.
#[test]
fn healthcheck_subcommand_follows_the_server() {
    let check = |port: u16| {
        std::process::Command::new(e2e::binary("kvstore"))
            .args(["healthcheck", &port.to_string()])
            .output()
            .expect("run kvstore healthcheck")
    };
    let mut server = Server::kvstore(&["--requirepass", "secret"]);
    assert!(check(server.port).status.success());
    server.stop();
    let out = check(server.port);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
}
