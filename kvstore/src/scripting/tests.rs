//! The engine on its own, with a host that answers `redis.call` from a script of canned
//! replies (the differential tests in `tests/tests/scripting.rs` cover the whole server).

use super::*;

/// Answers commands with fixed RESP bytes and records what it was asked.
#[derive(Default)]
struct FakeHost {
    calls: Vec<(Vec<Bytes>, u8, bool)>,
}

impl Host for FakeHost {
    fn call(&mut self, args: Vec<Bytes>, resp: u8, read_only: bool) -> Vec<u8> {
        let reply: &[u8] = match args[0].as_ref() {
            b"get" => b"$3\r\nbar\r\n",
            b"set" => b"+OK\r\n",
            b"nil" => b"$-1\r\n",
            b"hgetall" if resp == 3 => b"%1\r\n$1\r\na\r\n$1\r\n1\r\n",
            b"hgetall" => b"*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            _ => b"-ERR unknown\r\n",
        };
        self.calls.push((args, resp, read_only));
        reply.to_vec()
    }

    fn command_exists(&self, args: &[Bytes]) -> bool {
        args[0].as_ref() != b"nosuch"
    }

    fn permitted(&self, _: &[Bytes]) -> bool {
        true
    }
}

fn eval(scripts: &mut Scripts, host: &mut FakeHost, body: &str, keys: &[&str]) -> Reply {
    eval_as(scripts, host, body, keys, 2, false)
}

fn eval_as(
    scripts: &mut Scripts,
    host: &mut FakeHost,
    body: &str,
    keys: &[&str],
    caller_resp: u8,
    read_only: bool,
) -> Reply {
    let sha = match scripts.load(&Bytes::copy_from_slice(body.as_bytes())) {
        Ok(sha) => sha,
        Err(e) => return e,
    };
    let keys: Vec<Bytes> = keys
        .iter()
        .map(|k| Bytes::copy_from_slice(k.as_bytes()))
        .collect();
    let mut run = Run {
        host,
        resp: 2,
        caller_resp,
        read_only,
        name: sha.clone(),
        kill: None,
    };
    scripts.run(&sha, &keys, &[], &mut run)
}

fn encoded(reply: &Reply, resp: u8) -> String {
    let mut out = bytes::BytesMut::new();
    reply.encode(resp, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn sha1_matches_redis() {
    assert_eq!(
        sha1_hex(b"return 1"),
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    );
}

#[test]
fn shebangs_parse_as_in_redis() {
    let (flags, len) = parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
    assert!(flags.no_writes && flags.allow_oom && !flags.compat);
    assert_eq!(len, 31);
    assert!(parse_shebang(b"return 1").unwrap().0.compat);
    assert_eq!(
        parse_shebang(b"#!lua").unwrap_err(),
        "Invalid script shebang"
    );
    assert_eq!(
        parse_shebang(b"#!lua flags=bad\n").unwrap_err(),
        "Unexpected flag in script shebang: bad"
    );
    assert_eq!(
        parse_shebang(b"#!py\n").unwrap_err(),
        "Unexpected engine in script shebang: #!py"
    );
}

#[test]
fn lua_values_become_replies() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let mut run = |body: &str| encoded(&eval(&mut scripts, &mut host, body, &[]), 2);
    assert_eq!(run("return 3.99"), ":3\r\n");
    assert_eq!(
        run("return {1, 'a', true, false, nil, 2}"),
        "*4\r\n:1\r\n$1\r\na\r\n:1\r\n$-1\r\n"
    );
    assert_eq!(run("return {ok='fine'}"), "+fine\r\n");
    assert_eq!(run("return redis.error_reply('MY err')"), "-MY err\r\n");
    assert_eq!(run("return {double=1.5}"), "$3\r\n1.5\r\n");
    assert_eq!(run("return nil"), "$-1\r\n");
}

#[test]
fn command_replies_become_lua_values() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let reply = eval(
        &mut scripts,
        &mut host,
        "return redis.call('get', KEYS[1])",
        &["foo"],
    );
    assert_eq!(encoded(&reply, 2), "$3\r\nbar\r\n");
    assert_eq!(
        host.calls[0].0,
        vec![Bytes::from("get"), Bytes::from("foo")]
    );
    let reply = eval(
        &mut scripts,
        &mut host,
        "return redis.call('nil') == false",
        &[],
    );
    assert_eq!(encoded(&reply, 2), ":1\r\n");
    let reply = eval(
        &mut scripts,
        &mut host,
        "redis.setresp(3) return redis.call('hgetall', 'h').map.a",
        &[],
    );
    assert_eq!(encoded(&reply, 2), "$1\r\n1\r\n");
    assert_eq!(
        host.calls.last().unwrap().1,
        3,
        "the host is asked for RESP3"
    );
    let reply = eval(
        &mut scripts,
        &mut host,
        "return redis.call('set', 'k', 1.5)",
        &[],
    );
    assert_eq!(encoded(&reply, 2), "+OK\r\n");
    assert_eq!(host.calls.last().unwrap().0[2], Bytes::from("1.5"));
}

#[test]
fn errors_carry_the_script_and_line() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let body = "local x = 1\nreturn redis.call('boom')";
    let sha = sha1_hex(body.as_bytes());
    let reply = eval(&mut scripts, &mut host, body, &[]);
    assert_eq!(
        encoded(&reply, 2),
        format!("-ERR unknown script: {sha}, on @user_script:2.\r\n")
    );
    let reply = eval(&mut scripts, &mut host, "return redis.pcall('boom')", &[]);
    assert_eq!(encoded(&reply, 2), "-ERR unknown\r\n");
    let reply = eval(&mut scripts, &mut host, "syntax error", &[]);
    assert_eq!(
        encoded(&reply, 2),
        "-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n"
    );
}

#[test]
fn globals_are_read_only() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let reply = eval(&mut scripts, &mut host, "x = 1", &[]);
    assert!(encoded(&reply, 2)
        .starts_with("-ERR user_script:1: Attempt to modify a readonly table script: "));
    let reply = eval(&mut scripts, &mut host, "return undefined_name", &[]);
    assert!(encoded(&reply, 2).starts_with(
        "-ERR user_script:1: Script attempted to access nonexistent global variable 'undefined_name'"
    ));
    // A failed write leaves the library intact for the next script.
    let reply = eval(
        &mut scripts,
        &mut host,
        "pcall(function() redis.call = nil end) return redis.call('get', 'k')",
        &[],
    );
    assert_eq!(encoded(&reply, 2), "$3\r\nbar\r\n");
}

#[test]
fn read_only_runs_tell_the_host() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    eval_as(
        &mut scripts,
        &mut host,
        "return redis.call('get', 'k')",
        &[],
        2,
        true,
    );
    assert!(host.calls[0].2);
}

#[test]
fn booleans_follow_the_protocols() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let reply = eval_as(&mut scripts, &mut host, "return false", &[], 3, false);
    assert_eq!(encoded(&reply, 3), "_\r\n");
    let reply = eval_as(
        &mut scripts,
        &mut host,
        "redis.setresp(3) return false",
        &[],
        3,
        false,
    );
    assert_eq!(encoded(&reply, 3), "#f\r\n");
}

#[test]
fn cjson_round_trips() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let reply = eval(
        &mut scripts,
        &mut host,
        "return cjson.encode(cjson.decode('{\"a\":[1,2.5,\"x\\\\/\",null,true]}'))",
        &[],
    );
    assert_eq!(
        encoded(&reply, 2),
        "$29\r\n{\"a\":[1,2.5,\"x\\/\",null,true]}\r\n"
    );
}

#[test]
fn script_flush_forgets_scripts() {
    let mut scripts = Scripts::default();
    let sha = scripts.load(&Bytes::from_static(b"return 1")).unwrap();
    assert!(scripts.exists(sha.to_uppercase().as_bytes()));
    scripts.flush();
    assert!(!scripts.exists(sha.as_bytes()));
    assert!(scripts.is_empty());
}

#[test]
fn functions_get_keys_and_args_as_arguments() {
    let mut functions = Functions::default();
    let code = Bytes::from_static(
        b"#!lua name=lib\nredis.register_function('f', function(keys, args) return {keys[1], args[1], redis.call('get', keys[1])} end)",
    );
    functions.load(&code, false).unwrap();
    let mut host = FakeHost::default();
    let mut run = Run {
        host: &mut host,
        resp: 2,
        caller_resp: 2,
        read_only: false,
        name: "f".into(),
        kill: None,
    };
    let reply = functions.call(b"f", &[Bytes::from("k")], &[Bytes::from("a")], &mut run);
    assert_eq!(
        encoded(&reply, 2),
        "*3\r\n$1\r\nk\r\n$1\r\na\r\n$3\r\nbar\r\n"
    );
}

#[test]
fn libraries_cannot_call_redis_while_loading() {
    let mut functions = Functions::default();
    let code = Bytes::from_static(b"#!lua name=lib\nredis.call('get', 'x')");
    assert_eq!(
        functions.load(&code, false).unwrap_err(),
        "Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"
    );
}

#[test]
fn a_killed_script_stops() {
    let mut scripts = Scripts::default();
    let mut host = FakeHost::default();
    let kill = std::sync::atomic::AtomicBool::new(true);
    let sha = scripts
        .load(&Bytes::from_static(b"while true do end"))
        .unwrap();
    let mut run = Run {
        host: &mut host,
        resp: 2,
        caller_resp: 2,
        read_only: false,
        name: sha.clone(),
        kill: Some(&kill),
    };
    let reply = scripts.run(&sha, &[], &[], &mut run);
    assert_eq!(
        encoded(&reply, 2),
        format!(
            "-ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1.\r\n"
        )
    );
}
