//! Connection commands (PING, ECHO, SELECT, AUTH, HELLO, RESET, CLIENT): replies compared byte
//! for byte with redis-server where they are deterministic, kvstore-only checks where they
//! carry per-server data (client ids, addresses).

use std::time::{Duration, Instant};

use e2e::{Differential, RawConn, Server};

fn differential(args: &[&str]) -> Option<Differential> {
    Differential::start(args)
}

#[test]
fn ping_echo_select_match_redis() {
    let Some(d) = differential(&[]) else { return };
    d.check_both(
        r#"
        PING
        PING hello
        PING "hello world"
        PING a b
        ECHO
        ECHO "hello world"
        ECHO a b
        SELECT
        SELECT 16
        SELECT -1
        SELECT x
        SELECT 1.5
        SELECT 4294967296
        SELECT 99999999999999999999
        SELECT 15
        SELECT 0
        "#,
    );
}

#[test]
fn auth_without_password_matches_redis() {
    let Some(d) = differential(&[]) else { return };
    d.check_both(
        r#"
        AUTH
        AUTH secret
        AUTH default anything
        AUTH nosuchuser pw
        AUTH a b c
        PING
        "#,
    );
}

#[test]
fn hello_errors_match_redis() {
    let Some(d) = differential(&[]) else { return };
    d.check_both(
        r#"
        HELLO 4
        HELLO 1
        HELLO 0
        HELLO -3
        HELLO x
        HELLO 3.0
        HELLO 3 foo
        HELLO 3 setname
        HELLO 3 AUTH default
        HELLO 3 SETNAME "a b"
        HELLO 3 AUTH nosuch pw
        PING
        "#,
    );
}

/// Replaces the value after `id` in a HELLO reply, the one field that differs between servers.
fn without_id(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let marker = "$2\r\nid\r\n:";
    let start = text.find(marker).expect("id field") + marker.len();
    let end = start + text[start..].find("\r\n").expect("id value");
    format!("{}ID{}", &text[..start], &text[end..])
}

#[test]
fn hello_map_matches_redis_except_id() {
    let Some(d) = differential(&[]) else { return };
    let mut ours = d.ours.raw();
    let mut theirs = d.reference.raw();
    for args in [
        &["HELLO"][..],
        &["HELLO", "3"],
        &["HELLO", "2"],
        &["HELLO", "3", "SETNAME", "app"],
        &["HELLO", "3", "AUTH", "default", "whatever", "SETNAME", "x"],
        &["HELLO"],
    ] {
        assert_eq!(
            without_id(&ours.cmd(args)),
            without_id(&theirs.cmd(args)),
            "reply to {args:?}"
        );
    }
    assert_eq!(ours.cmd(&["CLIENT", "GETNAME"]), b"$1\r\nx\r\n");
}

#[test]
fn hello_reports_the_connection_id() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    let id = String::from_utf8(conn.cmd(&["CLIENT", "ID"])).expect("utf8");
    let id = id.trim_start_matches(':').trim_end();
    let hello = String::from_utf8(conn.cmd(&["HELLO", "3"])).expect("utf8");
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert!(hello.contains(&format!("$2\r\nid\r\n:{id}\r\n")), "{hello}");
    assert_eq!(conn.cmd(&["PING", "x"]), b"$1\r\nx\r\n");
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), b"_\r\n", "RESP3 null");
}

#[test]
fn reset_matches_redis() {
    let Some(d) = differential(&[]) else { return };
    d.check_both(
        r#"
        SELECT 2
        CLIENT SETNAME foo
        RESET
        CLIENT GETNAME
        PING
        CLIENT GETNAME
        "#,
    );
}

#[test]
fn client_subcommands_match_redis() {
    let Some(d) = differential(&[]) else { return };
    d.check_both(
        r#"
        CLIENT
        CLIENT FOO
        CLIENT ID x
        CLIENT GETNAME x
        CLIENT INFO x
        CLIENT SETNAME
        CLIENT GETNAME
        CLIENT SETNAME "a b"
        CLIENT SETNAME a\nb
        CLIENT SETNAME foo
        CLIENT GETNAME
        CLIENT SETNAME ""
        CLIENT GETNAME
        CLIENT LIST TYPE foo
        CLIENT LIST ID x
        CLIENT LIST ID 1 x
        CLIENT LIST foo
        CLIENT LIST TYPE
        CLIENT LIST TYPE normal x
        CLIENT LIST TYPE pubsub
        CLIENT LIST TYPE master
        CLIENT LIST TYPE replica
        CLIENT LIST TYPE slave
        CLIENT LIST ID 0
        CLIENT LIST ID 999999 -1
        CLIENT KILL
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL foo
        CLIENT KILL ID
        CLIENT KILL ID x
        CLIENT KILL ID 0
        CLIENT KILL ID -5
        CLIENT KILL ID 999999
        CLIENT KILL ADDR 1.2.3.4:5
        CLIENT KILL LADDR 1.2.3.4:5
        CLIENT KILL USER nouser
        CLIENT KILL TYPE foo
        CLIENT KILL TYPE pubsub
        CLIENT KILL TYPE master SKIPME no
        CLIENT KILL SKIPME maybe
        CLIENT KILL FOO bar
        CLIENT KILL ID 1 foo
        CLIENT KILL MAXAGE 10
        CLIENT NO-EVICT on
        CLIENT NO-EVICT OFF
        CLIENT NO-EVICT x
        CLIENT NO-EVICT
        CLIENT REPLY ON
        CLIENT REPLY x
        CLIENT REPLY on x
        "#,
    );
}

#[test]
fn requirepass_matches_redis() {
    let Some(d) = differential(&["--requirepass", "secret"]) else {
        return;
    };
    // The harness's HELLO 3 is refused before authentication, so both runs are RESP2.
    d.check_both(
        r#"
        DBSIZE
        PING
        SELECT 1
        CLIENT ID
        CLIENT SETNAME x
        INFO
        FLUSHALL
        NOSUCHCOMMAND
        DBSIZE extra
        HELLO
        HELLO 3
        HELLO 3 SETNAME x
        AUTH
        AUTH wrong
        AUTH default wrong
        AUTH nosuch secret
        HELLO 3 AUTH default wrong
        HELLO 3 AUTH nosuch secret
        PING
        AUTH secret
        PING
        DBSIZE
        AUTH wrong
        PING
        RESET
        PING
        AUTH default secret
        PING
        "#,
    );
}

#[test]
fn hello_auth_authenticates_and_switches_protocol() {
    let server = Server::kvstore(&["--requirepass", "secret"]);
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    let hello = conn.cmd(&["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app"]);
    assert!(
        hello.starts_with(b"%7\r\n"),
        "{:?}",
        String::from_utf8_lossy(&hello)
    );
    assert_eq!(conn.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), b"$3\r\napp\r\n");
    assert_eq!(conn.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(conn.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(conn.cmd(&["AUTH", "secret"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&["CLIENT", "GETNAME"]),
        b"$-1\r\n",
        "RESET is back on RESP2"
    );
}

/// Every command but the handshake ones answers NOAUTH before AUTH, whatever it is.
#[test]
fn requirepass_blocks_everything_but_the_handshake() {
    let server = Server::kvstore(&["--requirepass", "secret"]);
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["AUTH", "secret"]), b"+OK\r\n");
    let names = bulk_strings(&admin.cmd(&["COMMAND", "LIST"]));
    assert!(names.len() > 20, "{names:?}");
    let mut conn = server.raw();
    let mut tried = 0;
    for name in &names {
        let info = admin.cmd(&["COMMAND", "INFO", name]);
        let arity: i64 = String::from_utf8_lossy(&info)
            .split("\r\n")
            .find_map(|l| l.strip_prefix(':')?.parse().ok())
            .expect("arity");
        let mut args: Vec<&str> = name.split('|').collect();
        let wanted = arity.unsigned_abs() as usize;
        while args.len() < wanted.max(1) {
            args.push("x");
        }
        if name == "quit" {
            continue;
        }
        let reply = conn.cmd(&args);
        let reply = String::from_utf8_lossy(&reply);
        match name.as_str() {
            "auth" | "hello" | "reset" => {
                assert!(
                    !reply.starts_with("-NOAUTH Authentication"),
                    "{name}: {reply}"
                )
            }
            // Redis words a refused EXEC as the transaction's end.
            "exec" => assert_eq!(
                reply,
                "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
            ),
            // Redis checks `enable-debug-command` before authentication.
            "debug" => assert!(
                reply.starts_with("-ERR DEBUG command not allowed."),
                "{reply}"
            ),
            // A container with subcommands: the subcommands are checked one by one.
            _ if arity == -2 && names.iter().any(|n| n.starts_with(&format!("{name}|"))) => {}
            _ => assert_eq!(reply, "-NOAUTH Authentication required.\r\n", "{args:?}"),
        }
        tried += 1;
    }
    assert!(tried > 20);
}

/// The bulk strings of a flat array reply.
fn bulk_strings(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with('$') {
            out.push(lines.next().unwrap_or_default().to_owned());
        }
    }
    out
}

/// The value of `field=` in a CLIENT INFO / CLIENT LIST line.
fn client_field(line: &str, field: &str) -> String {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in {line}"))
        .trim_end()
        .to_owned()
}

fn bulk_text(reply: Vec<u8>) -> String {
    let text = String::from_utf8(reply).expect("utf8");
    let (_, body) = text.split_once("\r\n").expect("bulk header");
    body.strip_suffix("\r\n").expect("bulk end").to_owned()
}

/// Waits until the server lists exactly `n` clients (connections closed by the test harness
/// may take a moment to be noticed).
fn wait_clients(conn: &mut RawConn, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count = bulk_text(conn.cmd(&["CLIENT", "LIST"])).lines().count();
        if count == n {
            return;
        }
        assert!(Instant::now() < deadline, "{count} clients, expected {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_closed(conn: &mut RawConn) {
    match conn.try_cmd(&["PING"]) {
        Err(_) => {}
        Ok(reply) => panic!(
            "connection still open: {:?}",
            String::from_utf8_lossy(&reply)
        ),
    }
}

#[test]
fn client_kill_closes_another_connection() {
    let server = Server::kvstore(&[]);
    let mut victim = server.raw();
    let mut killer = server.raw();
    let id = bulk_text(victim.cmd(&["CLIENT", "INFO"]));
    let id = client_field(&id, "id");
    assert_eq!(killer.cmd(&["CLIENT", "KILL", "ID", &id]), b":1\r\n");
    assert_closed(&mut victim);
    assert_eq!(killer.cmd(&["CLIENT", "KILL", "ID", &id]), b":0\r\n");

    // The old form, by address, answers OK.
    let mut victim = server.raw();
    let addr = client_field(&bulk_text(victim.cmd(&["CLIENT", "INFO"])), "addr");
    assert_eq!(killer.cmd(&["CLIENT", "KILL", &addr]), b"+OK\r\n");
    assert_closed(&mut victim);
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", &addr]),
        b"-ERR No such client\r\n"
    );
    assert_eq!(killer.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_kill_skips_or_kills_the_caller() {
    let server = Server::kvstore(&[]);
    let mut other = server.raw();
    let mut me = server.raw();
    let id = client_field(&bulk_text(me.cmd(&["CLIENT", "INFO"])), "id");
    assert_eq!(
        me.cmd(&["CLIENT", "KILL", "ID", &id]),
        b":0\r\n",
        "SKIPME yes by default"
    );
    assert_eq!(
        me.cmd(&["CLIENT", "KILL", "ID", &id, "SKIPME", "no"]),
        b":1\r\n"
    );
    assert_closed(&mut me);
    // TYPE normal with SKIPME yes takes every other client.
    let mut third = server.raw();
    wait_clients(&mut third, 2);
    assert_eq!(third.cmd(&["CLIENT", "KILL", "TYPE", "normal"]), b":1\r\n");
    assert_closed(&mut other);
    assert_eq!(third.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_list_and_info_describe_connections() {
    let server = Server::kvstore(&[]);
    let mut a = server.raw();
    let mut b = server.raw();
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), b"+OK\r\n");
    assert_eq!(
        a.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
        b"+OK\r\n"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "SETINFO", "lib-ver", "5.0.1"]),
        b"+OK\r\n"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "SETINFO", "lib-name", "a b"]),
        b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "SETINFO", "foo", "x"]),
        b"-ERR Unrecognized option 'foo'\r\n"
    );
    assert_eq!(a.cmd(&["SELECT", "3"]), b"+OK\r\n");
    let a_id = client_field(&bulk_text(a.cmd(&["CLIENT", "INFO"])), "id");
    wait_clients(&mut b, 2);
    let list = bulk_text(b.cmd(&["CLIENT", "LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(list.ends_with('\n'));
    let line_a = lines.iter().find(|l| l.contains("name=alpha")).expect("a");
    assert_eq!(client_field(line_a, "id"), a_id);
    assert_eq!(client_field(line_a, "db"), "3");
    assert_eq!(client_field(line_a, "lib-name"), "redis-py");
    assert_eq!(client_field(line_a, "lib-ver"), "5.0.1");
    assert_eq!(client_field(line_a, "cmd"), "client|info");
    let line_b = lines.iter().find(|l| !l.contains("name=alpha")).expect("b");
    assert_eq!(client_field(line_b, "cmd"), "client|list");

    let only_a = bulk_text(b.cmd(&["CLIENT", "LIST", "ID", &a_id, "999999"]));
    assert_eq!(only_a.lines().count(), 1);
    assert!(only_a.contains("name=alpha"));
    assert_eq!(
        bulk_text(b.cmd(&["CLIENT", "LIST", "TYPE", "normal"]))
            .lines()
            .count(),
        2
    );
    assert_eq!(b.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]), b"$0\r\n\r\n");

    // RESP3: verbatim strings.
    b.cmd(&["HELLO", "3"]);
    assert!(b.cmd(&["CLIENT", "LIST"]).starts_with(b"="));
    assert!(b.cmd(&["CLIENT", "INFO"]).starts_with(b"="));
    assert_eq!(
        b.cmd(&["CLIENT", "LIST", "TYPE", "master"]),
        b"=4\r\ntxt:\r\n"
    );
}

#[test]
fn client_setinfo_and_no_touch_are_accepted() {
    let server = Server::kvstore(&[]);
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["CLIENT", "SETINFO", "LIB-NAME", ""]), b"+OK\r\n");
    assert_eq!(conn.cmd(&["CLIENT", "NO-TOUCH", "on"]), b"+OK\r\n");
    assert_eq!(
        conn.cmd(&["CLIENT", "NO-TOUCH", "x"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        conn.cmd(&["CLIENT", "SETINFO", "lib-name"]),
        b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
    );
    let help = conn.cmd(&["CLIENT", "HELP"]);
    assert!(help.starts_with(b"*"));
    assert!(String::from_utf8_lossy(&help)
        .contains("+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
}

/// redis-py 5 opens every connection with CLIENT SETINFO; the `redis` crate with HELLO-less
/// RESP2. Both must work unchanged.
#[test]
fn redis_crate_client_works() {
    let server = Server::kvstore(&[]);
    let mut client = server.client();
    let pong: String = redis::cmd("PING").query(&mut client).expect("ping");
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("crate")
        .query(&mut client)
        .expect("setname");
    let name: Option<String> = redis::cmd("CLIENT")
        .arg("GETNAME")
        .query(&mut client)
        .expect("getname");
    assert_eq!(name.as_deref(), Some("crate"));
    let _: () = redis::cmd("SELECT")
        .arg(2)
        .query(&mut client)
        .expect("select");
}
