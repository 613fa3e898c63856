//! Lua scripting against redis-server 7.0 byte for byte: EVAL / EVALSHA / *_RO and the script
//! cache, the Lua ⇄ RESP2/RESP3 conversions, error replies with their `script: ..., on
//! @user_script:N.` suffix, global protection, Redis's checks on `redis.call`, shebang
//! flags, `cjson`, `bit`, `struct`, `cmsgpack`, FUNCTION / FCALL, scripts inside MULTI and
//! under WATCH, and what survives a restart (functions do, the script cache does not).

use e2e::{Differential, RawConn, Server};

/// Runs commands given as argument lists (so scripts may span lines) on both servers, in
/// RESP2 and RESP3, and compares every reply.
fn same_replies(d: &Differential, commands: &[&[&str]]) {
    for resp in [2, 3] {
        d.check(resp, "FLUSHALL");
        d.check(resp, "FUNCTION FLUSH");
        let mut ours = d.ours.raw();
        let mut theirs = d.reference.raw();
        if resp == 3 {
            ours.cmd(&["HELLO", "3"]);
            theirs.cmd(&["HELLO", "3"]);
        }
        for args in commands {
            let (a, b) = (ours.cmd(args), theirs.cmd(args));
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "RESP{resp} reply to {args:?} differs (left: kvstore, right: redis-server)"
            );
        }
    }
}

#[test]
fn lua_values_convert_to_replies_as_in_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return 1" 0
        EVAL "return 3.99" 0
        EVAL "return -3.7" 0
        EVAL "return 1e20" 0
        EVAL "return 0/0" 0
        EVAL "return 'hello'" 0
        EVAL "return true" 0
        EVAL "return false" 0
        EVAL "return nil" 0
        EVAL "return {1, 2, 3, 'x', nil, 4}" 0
        EVAL "return {1, {2, {3}}, 'x', true, false}" 0
        EVAL "return {}" 0
        EVAL "return redis.status_reply('FINE')" 0
        EVAL "return redis.error_reply('MY err')" 0
        EVAL "return redis.error_reply('x')" 0
        EVAL "return {err='plain'}" 0
        EVAL "return {ok='fine'}" 0
        EVAL "return {double=3.5}" 0
        EVAL "return {big_number='123456789012345678901234567890'}" 0
        EVAL "return {verbatim_string={format='txt', string='hello'}}" 0
        EVAL "return {map={a=1}}" 0
        EVAL "return {set={a=true}}" 0
        EVAL "redis.setresp(3) return true" 0
        EVAL "redis.setresp(3) return false" 0
        EVAL "return KEYS[1] .. ARGV[1]" 1 a b
        EVAL "return {KEYS[1], ARGV[1], ARGV[2], #KEYS, #ARGV}" 1 a b c
        "#,
    );
}

#[test]
fn command_replies_convert_to_lua_as_in_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        HSET h a 1
        ZADD z 1.5 a
        SADD s x
        EVAL "return redis.call('hgetall', 'h')" 0
        EVAL "redis.setresp(3) return redis.call('hgetall', 'h')" 0
        EVAL "redis.setresp(3) local r = redis.call('hgetall', 'h') return r.map.a" 0
        EVAL "redis.setresp(3) return redis.call('get', 'nokey') == nil" 0
        EVAL "return redis.call('get', 'nokey') == false" 0
        EVAL "redis.setresp(3) return redis.call('zscore', 'z', 'a')" 0
        EVAL "redis.setresp(3) return redis.call('zscore', 'z', 'a').double * 2" 0
        EVAL "return redis.call('zscore', 'z', 'a')" 0
        EVAL "redis.setresp(3) return redis.call('smembers', 's')" 0
        EVAL "return redis.call('type', 's').ok" 0
        EVAL "return redis.call('type', 's')" 0
        EVAL "return redis.call('incrbyfloat', 'f', '1.5')" 0
        EVAL "return redis.call('set', 'n', 12.5)" 0
        EVAL "return redis.call('get', 'n')" 0
        EVAL "return redis.call('set', 'n', 0.1)" 0
        EVAL "return redis.call('get', 'n')" 0
        EVAL "return redis.call('set', 'n', 1e100)" 0
        EVAL "return redis.call('get', 'n')" 0
        EVAL "return redis.pcall('lpush', 'n', 'v')" 0
        EVAL "return redis.call('blpop', 'nolist', 0)" 0
        "#,
    );
}

#[test]
fn script_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET k v
        EVAL "return redis.call('nosuch')" 0
        EVAL "return redis.call('get')" 0
        EVAL "return redis.call('lpush', 'k', 'v')" 0
        EVAL "return redis.pcall('incr', 'a', 'b')" 0
        EVAL "local t = redis.pcall('nosuch') return t.err" 0
        EVAL "return redis.call('eval', 'return 1', 0)" 0
        EVAL "return redis.call('multi')" 0
        EVAL "return redis.call(1)" 0
        EVAL "return redis.call('get', {})" 0
        EVAL "return redis.call()" 0
        EVAL "return redis.pcall()" 0
        EVAL "return redis.call('config', 'foo')" 0
        EVAL "error('boom')" 0
        EVAL "error({err='MY boom'})" 0
        EVAL "return error()" 0
        EVAL "error(42)" 0
        EVAL "return {pcall(function() redis.call('nosuch') end)}" 0
        EVAL "return pcall(function() error('x') end)" 0
        EVAL "syntax error here" 0
        EVAL "return redis.sha1hex()" 0
        EVAL "return redis.log(1)" 0
        EVAL "return redis.log('x', 'y')" 0
        EVAL "return redis.log(7, 'y')" 0
        EVAL "return redis.setresp(4)" 0
        EVAL "return redis.set_repl(8)" 0
        EVAL "return redis.acl_check_cmd('nosuch')" 0
        EVAL "return redis.error_reply(1)" 0
        EVAL "return 1" -1
        EVAL "return 1" 2 a
        EVAL "return 1" x
        EVALSHA abc 0
        EVALSHA ffffffffffffffffffffffffffffffffffffffff 0
        EVAL_RO "return redis.call('set', 'k', 'v')" 0
        EVAL_RO "return redis.call('get', 'k')" 0
        "#,
    );
}

#[test]
fn globals_are_protected_as_in_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return x" 0
        EVAL "x = 1" 0
        EVAL "redis.call = 1" 0
        EVAL "string.foo = 1" 0
        EVAL "cjson.encode = nil" 0
        EVAL "return _G.x" 0
        EVAL "return tostring(print)" 0
        EVAL "return type(os)" 0
        EVAL "return type(io)" 0
        EVAL "return type(loadfile)" 0
        EVAL "return type(dofile)" 0
        EVAL "return type(debug)" 0
        EVAL "return type(newproxy)" 0
        EVAL "return type(require)" 0
        EVAL "return type(setfenv)" 0
        EVAL "return loadstring('return 5')()" 0
        EVAL "return getmetatable('').__index.upper('a')" 0
        EVAL "return redis.REDIS_VERSION" 0
        EVAL "return redis.REDIS_VERSION_NUM" 0
        EVAL "return _VERSION" 0
        EVAL "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}" 0
        EVAL "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_REPLICA, redis.REPL_ALL}" 0
        EVAL "return redis.breakpoint()" 0
        EVAL "return redis.replicate_commands()" 0
        EVAL "return redis.sha1hex('abc')" 0
        EVAL "return redis.acl_check_cmd('get', 'x')" 0
        "#,
    );
}

#[test]
fn script_cache_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        SCRIPT LOAD "return 1"
        EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        EVALSHA E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0
        EVALSHA_RO e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db E0E1F9FABFC9D4800C877A703B823AC0578FF8DB ffff
        SCRIPT LOAD "syntax error"
        SCRIPT FLUSH
        SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db
        EVAL "return 2" 0
        SCRIPT EXISTS 7f923f79fe76194c868d7e1d0820de36700eb649
        SCRIPT FLUSH ASYNC
        SCRIPT FLUSH SYNC
        SCRIPT FLUSH foo
        SCRIPT KILL
        SCRIPT HELP
        SCRIPT foo
        SCRIPT
        "#,
    );
}

#[test]
fn shebang_flags_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    same_replies(
        &d,
        &[
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
                "0",
            ],
            &["EVAL", "#!lua\nreturn redis.call('set','a','b')", "0"],
            &["EVAL_RO", "#!lua\nreturn redis.call('set','a','b')", "0"],
            &[
                "EVAL_RO",
                "#!lua flags=no-writes\nreturn redis.call('get','a')",
                "0",
            ],
            &["EVAL", "#!lua flags=bad\nreturn 1", "0"],
            &["EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0"],
            &["EVAL", "#!luax\nreturn 1", "0"],
            &["EVAL", "#!lua foo=bar\nreturn 1", "0"],
            &["EVAL", "#!lua\n\nerror('line 3')", "0"],
            &["EVAL", "#!lua", "0"],
            &["EVAL", "return redis.error_reply('a\\nb')", "0"],
            &["EVAL", "error('a\\nb')", "0"],
            &["EVAL", "return {err='a\\r\\nb'}", "0"],
            &["EVAL", "return redis.status_reply('a\\r\\nb')", "0"],
        ],
    );
}

#[test]
fn cjson_matches_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    same_replies(
        &d,
        &[
            &["EVAL", "return cjson.encode({1,2,3,{a=1}})", "0"],
            &[
                "EVAL",
                "return cjson.encode({a='x/y\\n', b=1.5, c=true, d={}})",
                "0",
            ],
            &["EVAL", "return cjson.encode({[1]=1,[2]=2,[4]=4})", "0"],
            &["EVAL", "return cjson.encode({[1]=1,[20]=2})", "0"],
            &["EVAL", "return cjson.encode(1/3)", "0"],
            &["EVAL", "return cjson.encode(1e300)", "0"],
            &["EVAL", "return cjson.encode(0/0)", "0"],
            &["EVAL", "return cjson.encode('\\0\\1\\127\\200\"\\\\')", "0"],
            &["EVAL", "return cjson.encode(function() end)", "0"],
            &["EVAL", "return cjson.encode({[true]=1})", "0"],
            &["EVAL", "return cjson.encode()", "0"],
            &[
                "EVAL",
                "local t = {} for i=1,20 do t['k'..i] = i end return cjson.encode(t)",
                "0",
            ],
            &["EVAL", "return cjson.decode('[1,2,{\"a\":3}]')[3].a", "0"],
            &["EVAL", "return cjson.decode('[1,2')", "0"],
            &["EVAL", "return cjson.decode('')", "0"],
            &["EVAL", "return cjson.decode('{\"a\" 1}')", "0"],
            &["EVAL", "return cjson.decode('nul')", "0"],
            &["EVAL", "return cjson.decode('[01]')", "0"],
            &[
                "EVAL",
                "return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')",
                "0",
            ],
            &["EVAL", "return cjson.decode('\"\\\\q\"')", "0"],
            &["EVAL", "return cjson.decode('1e400')", "0"],
            &["EVAL", "return cjson.decode('[1,2,3]  x')", "0"],
            &[
                "EVAL",
                "return cjson.encode(cjson.decode('{\"x\":null,\"y\":[true,false]}'))",
                "0",
            ],
            &["EVAL", "return cjson.encode_max_depth(0)", "0"],
            &["EVAL", "return cjson.encode_keep_buffer('x')", "0"],
            &["EVAL", "return {cjson.encode_sparse_array()}", "0"],
            &["EVAL", "return cjson.encode_invalid_numbers()", "0"],
            &["EVAL", "return cjson._NAME .. cjson._VERSION", "0"],
            &["EVAL", "return type(cjson.null)", "0"],
        ],
    );
}

#[test]
fn functions_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let lib = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)";
    let lib_v2 =
        "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return 'v2' end)";
    let named = "#!lua name=lib2\nredis.register_function{function_name='ro', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";
    let writer = "#!lua name=lib3\nredis.register_function{function_name='wr', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end}";
    let sneaky = "#!lua name=lib4\nredis.register_function{function_name='ro2', callback=function(keys, args) return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}";
    let failing =
        "#!lua name=lib6\nredis.register_function('g', function(keys, args) error('inside') end)";
    let helper = "#!lua name=lib7\nlocal function h() return 'h' end\nredis.register_function('k', function(keys, args) return h() .. string.upper('x') .. #keys end)";
    same_replies(
        &d,
        &[
            &["FUNCTION", "LOAD", lib],
            &["FUNCTION", "LOAD", lib],
            &["FCALL", "f1", "1", "k", "a"],
            &["FCALL_RO", "f1", "1", "k", "a"],
            &["FUNCTION", "LOAD", "REPLACE", lib_v2],
            &["FCALL", "f1", "0"],
            &["FCALL", "nosuch", "0"],
            &["FCALL", "f1", "x"],
            &["FCALL", "f1", "-1"],
            &["FCALL", "f1", "5", "a"],
            &["FUNCTION", "LIST"],
            &["FUNCTION", "LIST", "WITHCODE"],
            &["FUNCTION", "LIST", "LIBRARYNAME", "my*"],
            &["FUNCTION", "LIST", "LIBRARYNAME", "zz"],
            &["FUNCTION", "LIST", "LIBRARYNAME"],
            &["FUNCTION", "LIST", "foo"],
            &["FUNCTION", "STATS"],
            &["FUNCTION", "LOAD", named],
            &["FUNCTION", "LIST", "LIBRARYNAME", "lib2"],
            &["FUNCTION", "LOAD", writer],
            &["FUNCTION", "LOAD", sneaky],
            &["FCALL", "wr", "1", "k", "v"],
            &["FCALL_RO", "wr", "1", "k", "v"],
            &["FCALL_RO", "ro", "1", "k"],
            &["FCALL", "ro2", "1", "k"],
            &["FUNCTION", "LOAD", failing],
            &["FCALL", "g", "0"],
            &["FUNCTION", "LOAD", helper],
            &["FCALL", "k", "2", "a", "b"],
            &["FUNCTION", "DELETE", "lib2"],
            &["FUNCTION", "DELETE", "lib2"],
            &["FCALL", "ro", "1", "k"],
            &["FUNCTION", "FLUSH"],
            &["FUNCTION", "LIST"],
            &["FUNCTION", "STATS"],
        ],
    );
}

#[test]
fn function_load_errors_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let bodies = [
        "#!lua name=lib5\nredis.register_function('f1', function() return 1 end)",
        "#!lua name=lib5\n",
        "#!lua name=lib5\nlocal x = string.format('a')",
        "#!lua name=lib5\nredis.call('ping')",
        "#!lua name=lib5\nerror('boom')",
        "#!lua name=lib5\nsyntax error",
        "#!lua name=lib5\nredis.register_function('bad-name', function() end)",
        "#!lua name=lib5\nredis.register_function('a', function() end) redis.register_function('a', function() end)",
        "#!lua name=lib5\nredis.register_function('a')",
        "#!lua name=lib5\nredis.register_function(1, 2, 3)",
        "#!lua name=lib5\nredis.register_function{}",
        "#!lua name=lib5\nredis.register_function{function_name='a'}",
        "#!lua name=lib5\nredis.register_function{callback=function() end}",
        "#!lua name=lib5\nredis.register_function{function_name='a', callback=function() end, flags={'bad'}}",
        "#!lua name=lib5\nredis.register_function{function_name='a', callback=function() end, foo=1}",
        "#!lua name=lib5\nx = 1",
        "#!lua name=lib5",
        "#!lua",
        "#!lua\n",
        "#!lua name=a name=b\n",
        "#!lua foo=b\n",
        "#!lua name=a-b\n",
        "#!js name=ab\n",
        "no shebang",
        // Top-level code runs at most 500 ms, and pcall cannot catch the timeout.
        "#!lua name=inf\nwhile true do end",
        "#!lua name=inf\nlocal ok = pcall(function() while true do end end) redis.register_function('x', function() return 1 end)",
    ];
    let mut commands: Vec<Vec<&str>> = vec![vec![
        "FUNCTION",
        "LOAD",
        "#!lua name=first\nredis.register_function('f1', function() return 1 end)",
    ]];
    commands.extend(bodies.iter().map(|b| vec!["FUNCTION", "LOAD", b]));
    commands.extend([
        vec!["FUNCTION", "LOAD", "foo", "#!lua name=x\n"],
        vec!["FUNCTION", "LOAD"],
        vec!["FUNCTION", "RESTORE", "x"],
        vec!["FUNCTION", "RESTORE", "x", "foo"],
        vec!["FUNCTION", "RESTORE", "x", "flush", "extra"],
        vec!["FUNCTION", "FLUSH", "foo"],
        vec!["FUNCTION", "FLUSH", "sync", "extra"],
        vec!["FUNCTION", "KILL"],
        vec!["FUNCTION", "HELP"],
        vec!["FUNCTION", "foo"],
    ]);
    let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    same_replies(&d, &commands);
}

#[test]
fn function_dump_restores_on_redis_and_back() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let lib = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)";
    let mut theirs = d.reference.raw();
    let mut ours = d.ours.raw();
    theirs.cmd(&["FUNCTION", "LOAD", lib]);
    ours.cmd(&["FUNCTION", "LOAD", lib]);
    // One library: the payload (LZF-compressed code, RDB version, CRC64) is Redis's, byte
    // for byte. (With several, Redis orders them by its randomly seeded hash table.)
    assert_eq!(
        ours.cmd(&["FUNCTION", "DUMP"]),
        theirs.cmd(&["FUNCTION", "DUMP"])
    );
    // Redis's payload restores on kvstore, and kvstore's on Redis.
    let dump = bulk_payload(&theirs.cmd(&["FUNCTION", "DUMP"]));
    assert_eq!(
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]),
        b"+OK\r\n"
    );
    let dump = bulk_payload(&ours.cmd(&["FUNCTION", "DUMP"]));
    assert_eq!(
        theirs.cmd_bytes(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]),
        b"+OK\r\n"
    );
    assert_eq!(
        theirs.cmd_bytes(&[b"FUNCTION", b"RESTORE", &dump]),
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &dump])
    );
    assert_eq!(
        theirs.cmd(&["FCALL", "f1", "1", "a", "b"]),
        ours.cmd(&["FCALL", "f1", "1", "a", "b"])
    );
    let mut corrupt = dump.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    assert_eq!(
        theirs.cmd_bytes(&[b"FUNCTION", b"RESTORE", &corrupt]),
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &corrupt])
    );
}

/// The payload of a bulk-string reply.
fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    reply[start..reply.len() - 2].to_vec()
}

#[test]
fn scripts_queue_inside_multi_and_watch_sees_their_writes() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        MULTI
        EVAL "return redis.call('incr', 'c')" 0
        EVAL "return redis.call('incr', 'c')" 0
        EVAL "return x" 0
        EXEC
        GET c
        "#,
    );
    d.same_transcripts(|server| {
        let mut a = server.raw();
        let mut b = server.raw();
        let mut log = Vec::new();
        for (conn, cmd) in [
            (0, vec!["WATCH", "w"]),
            (
                1,
                vec!["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", "w"],
            ),
            (0, vec!["MULTI"]),
            (0, vec!["SET", "w", "mine"]),
            (0, vec!["EXEC"]),
            (0, vec!["GET", "w"]),
        ] {
            let conn: &mut RawConn = if conn == 0 { &mut a } else { &mut b };
            log.push(e2e::text(conn.cmd(&cmd)));
        }
        log
    });
}

#[test]
fn select_inside_a_script_does_not_change_the_callers_database() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        SET k db0
        EVAL "redis.call('select', 1) redis.call('set', 'k', 'db1') return redis.call('get', 'k')" 0
        GET k
        SELECT 1
        GET k
        "#,
    );
}

#[test]
fn functions_survive_a_restart_and_scripts_do_not() {
    let mut server = Server::kvstore(&[]);
    let mut c = server.raw();
    let lib = "#!lua name=keep\nredis.register_function('kept', function(keys, args) return 'still here' end)";
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), b"$4\r\nkeep\r\n");
    assert_eq!(
        c.cmd(&["SCRIPT", "LOAD", "return 1"]),
        b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "return redis.call('set', 'written', 'by script')",
            "0"
        ]),
        b"+OK\r\n"
    );
    drop(c);
    server.stop();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["FCALL", "kept", "0"]), b"$10\r\nstill here\r\n");
    assert_eq!(
        c.cmd(&[
            "SCRIPT",
            "EXISTS",
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        ]),
        b"*1\r\n:0\r\n"
    );
    assert_eq!(c.cmd(&["GET", "written"]), b"$9\r\nby script\r\n");
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "keep"]), b"+OK\r\n");
    drop(c);
    server.stop();
    server.restart();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["FCALL", "kept", "0"]),
        b"-ERR Function not found\r\n"
    );
}

#[test]
fn read_only_tables_behave_as_in_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return getmetatable(_G)" 0
        EVAL "return type(getmetatable(_G).__index)" 0
        EVAL "return getmetatable(redis)" 0
        EVAL "return {pcall(setmetatable, _G, {})}" 0
        EVAL "return {pcall(setmetatable, redis, {})}" 0
        EVAL "return {pcall(rawset, redis, 'x', 1)}" 0
        EVAL "return {pcall(rawset, _G, 'x', 1)}" 0
        EVAL "return rawset(_G, 'x', 1)" 0
        EVAL "return rawget(redis, 'call') ~= nil" 0
        EVAL "local n = 0 for k, v in pairs(redis) do n = n + 1 end return n" 0
        EVAL "local n = 0 for k, v in pairs(_G) do n = n + 1 end return n" 0
        EVAL "return next(string) ~= nil" 0
        EVAL "return {pcall(table.insert, redis, 1)}" 0
        EVAL "return #redis" 0
        EVAL "local t = {} for k in pairs(cjson) do t[#t+1] = k end table.sort(t) return t" 0
        EVAL "return {pcall(function() getmetatable('').__index.x = 1 end)}" 0
        EVAL "return {pcall(function() local mt = getmetatable('') mt.__index = nil end)}" 0
        EVAL "return {pcall(setmetatable, getmetatable(''), {})}" 0
        EVAL "local mt = getmetatable('') return rawequal(mt.__index, string)" 0
        EVAL "return ('x'):upper()" 0
        EVAL "return {pcall(function() KEYS[1] = 'x' return KEYS[1] end)}" 0
        EVAL "local t = cjson.decode('[1]') t[2] = 5 return t" 0
        EVAL "local t = {} table.insert(t, 'a') table.insert(t, 1, 'b') return t" 0
        EVAL "return {pcall(table.insert, {}, 1, 2, 3)}" 0
        EVAL "local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.x" 0
        EVAL "local t = setmetatable({}, {__metatable = 'locked'}) return {getmetatable(t), pcall(setmetatable, t, {})}" 0
        "#,
    );
}

#[test]
fn bit_struct_and_cmsgpack_match_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return {bit.tobit(0xffffffff), bit.tobit(2^40 + 5), bit.bnot(0), bit.band(0xff, 0x0f, 0x3)}" 0
        EVAL "return {bit.bor(1, 2, 4, 8), bit.bxor(5, 3), bit.lshift(1, 31), bit.lshift(1, 33)}" 0
        EVAL "return {bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8)}" 0
        EVAL "return {bit.bswap(0x12345678), bit.tohex(255), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(-1, 12)}" 0
        EVAL "return {bit.tobit(1.7), bit.tobit(-1.5), bit.tobit('12')}" 0
        EVAL "return bit.tobit('x')" 0
        EVAL "return {bit.tohex(255, -2147483648), bit.tohex(1, 2147483648), bit.tohex(65535, 0)}" 0
        EVAL "return bit.band(1, {})" 0
        EVAL "return struct.pack('>I2', 258)" 0
        EVAL "return struct.pack('<i4', -2)" 0
        EVAL "return struct.pack('bBhHlLT', -1, 255, -2, 65535, -3, 4, 5)" 0
        EVAL "return struct.pack('!4 b i', 1, 2)" 0
        EVAL "return struct.pack('c5', 'abcdefg')" 0
        EVAL "return struct.pack('c5', 'ab')" 0
        EVAL "return struct.pack('s', 'abc')" 0
        EVAL "return struct.pack('>d', 1.5)" 0
        EVAL "return struct.pack('<f', 1.5)" 0
        EVAL "return struct.pack('z', 1)" 0
        EVAL "return struct.pack('i40', 1)" 0
        EVAL "return struct.pack('!3', 1)" 0
        EVAL "return struct.pack('i')" 0
        EVAL "return {struct.unpack('bBhHlL', struct.pack('bBhHlL', -1, 255, -2, 65535, -3, 4))}" 0
        EVAL "return {struct.unpack('c3', 'abcdef', 2)}" 0
        EVAL "return {struct.unpack('c3', 'ab')}" 0
        EVAL "return {struct.unpack('c0', 'abc')}" 0
        EVAL "return {struct.unpack('i', 'abcd', 0)}" 0
        EVAL "return {struct.unpack('>d', struct.pack('>d', 1.25))}" 0
        EVAL "return {struct.size('i4 i2 !4 d'), struct.size('bhli'), struct.size('!8 b d')}" 0
        EVAL "return struct.size('s')" 0
        EVAL "return cmsgpack.pack(1, -1, 200, -200, 70000, -70000, 5000000000, -5000000000)" 0
        EVAL "return cmsgpack.pack(1.5, 0.1, 1/0, 0/0, 2^63, -2^63)" 0
        EVAL "return cmsgpack.pack('abc', string.rep('x', 40), string.rep('y', 300), true, false, nil)" 0
        EVAL "return cmsgpack.pack({1, 2, 3}, {a=1}, {}, {1, nil, 3}, {[1]=1, [3]=3})" 0
        EVAL "return cmsgpack.pack()" 0
        EVAL "local t = {} t[1] = t return cmsgpack.pack(t)" 0
        EVAL "local t = {} for i=1,20 do t['k'..i] = i end return cmsgpack.pack(t)" 0
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {x='y'}, true))}" 0
        EVAL "return {cmsgpack.unpack(cmsgpack.pack(1.5, -5000000000, 2^53))}" 0
        EVAL "return cmsgpack.unpack('')" 0
        EVAL "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 10)}" 0
        EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)}" 0
        "#,
    );
    same_replies(
        &d,
        &[
            &["EVAL", "return cmsgpack.unpack(ARGV[1])", "0", "\u{c1}"],
            &["EVAL", "return cmsgpack.unpack(ARGV[1])", "0", "\u{cd}"],
            &[
                "EVAL",
                "return {struct.unpack('s', ARGV[1])}",
                "0",
                "abc\0def",
            ],
            &["EVAL", "return {struct.unpack('s', 'abc')}", "0"],
            &[
                "EVAL",
                "return {struct.unpack('b c0', ARGV[1])}",
                "0",
                "\u{3}abcdef",
            ],
        ],
    );
}

/// Starts `command` on its own connection and returns the connection (its reply is read
/// later), then waits (by asking, not sleeping) until `probe` on `ctl` stops answering
/// NOTBUSY, which happens once the script runs; returns that answer.
fn start_script_and_probe(
    server: &Server,
    ctl: &mut RawConn,
    command: &[&str],
    probe: &[&str],
) -> (RawConn, Vec<u8>) {
    let mut runner = server.raw();
    let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
    runner.send(&e2e::encode_command(&args));
    loop {
        let reply = ctl.cmd(probe);
        if !reply.starts_with(b"-NOTBUSY") {
            return (runner, reply);
        }
    }
}

#[test]
fn busy_scripts_refuse_other_commands_and_die_by_script_kill_or_function_kill() {
    busy_scripts_with(&["--io-threads", "4", "--busy-reply-threshold", "100"]);
}

#[test]
fn busy_scripts_are_killable_with_the_default_single_io_thread() {
    // With `io-threads 1` a script running past 20 ms hands its worker thread over, so the other
    // clients are still read and answered while the script runs.
    busy_scripts_with(&["--busy-reply-threshold", "100"]);
}

fn busy_scripts_with(server_args: &[&str]) {
    let Some(d) = Differential::start(server_args) else {
        return;
    };
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    d.same_transcripts(|server| {
        let mut ctl = server.raw();
        let mut log = Vec::new();
        ctl.cmd(&["FUNCTION", "LOAD", "REPLACE", lib]);
        log.push(e2e::text(ctl.cmd(&["SCRIPT", "KILL"])));
        // EVAL: FUNCTION KILL refuses, SCRIPT KILL stops it.
        let (mut runner, first) = start_script_and_probe(
            server,
            &mut ctl,
            &["EVAL", "while true do end", "0"],
            &["FUNCTION", "KILL"],
        );
        log.push(e2e::text(first));
        // Past busy-reply-threshold other commands are refused.
        log.push(e2e::text(ctl.cmd(&["GET", "k"])));
        log.push(e2e::text(server.raw().cmd(&["PING"])));
        log.push(e2e::text(ctl.cmd(&["SCRIPT", "KILL"])));
        log.push(e2e::text(runner.read_reply().unwrap()));
        // FCALL: SCRIPT KILL refuses, FUNCTION STATS reports it, FUNCTION KILL stops it.
        let (mut runner, first) = start_script_and_probe(
            server,
            &mut ctl,
            &["FCALL", "spin", "0"],
            &["SCRIPT", "KILL"],
        );
        log.push(e2e::text(first));
        let stats = ctl.cmd(&["FUNCTION", "STATS"]);
        // The duration varies; the rest of the reply must match.
        let text = e2e::text(stats);
        log.push(text.split("duration_ms").next().unwrap().to_string());
        log.push(e2e::text(ctl.cmd(&["FUNCTION", "KILL"])));
        log.push(e2e::text(runner.read_reply().unwrap()));
        log.push(e2e::text(ctl.cmd(&["FUNCTION", "KILL"])));
        log
    });
}

#[test]
fn blocked_clients_are_served_after_the_whole_script() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut waiter = server.raw();
        let mut ctl = server.raw();
        let mut log = Vec::new();
        e2e::send_command(&mut waiter, &["BLPOP", "q", "0"]);
        e2e::wait_blocked(&mut ctl, 1);
        let script = "redis.call('rpush', 'q', 'a', 'b') return redis.call('lpop', 'q')";
        log.push(e2e::text(ctl.cmd(&["EVAL", script, "0"])));
        log.push(e2e::text(waiter.read_reply().unwrap()));
        log.push(e2e::text(ctl.cmd(&["LRANGE", "q", "0", "-1"])));
        log
    });
}

#[test]
fn deeply_nested_replies_match_redis() {
    // Redis nests as deep as the Lua stack allows (about 8000 levels): the test's own reply
    // parser recurses that deep too, so it gets a big stack.
    let check = || {
        let Some(d) = Differential::start(&[]) else {
            return;
        };
        d.check_both(
            r#"
            EVAL "local t = {} local c = t for i=1,100 do c[1] = {} c = c[1] end return t" 0
            EVAL "local t = {} local c = t for i=1,100000 do c[1] = {} c = c[1] end return t" 0
            EVAL "local t = {} t[1] = t return t" 0
            EVAL "local t = {} local c = t for i=1,100000 do c.map = {} c = c.map end return t" 0
            EVAL_RO "return redis.call('publish', 'ch', 'm')" 0
            EVAL "return redis.call('publish', 'ch', 'm')" 0
            "#,
        );
    };
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(check)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn math_random_follows_redis_sequence() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return {math.random(100), tostring(math.random()), math.random(3, 9)}" 0
        EVAL "return {math.random(100), tostring(math.random()), math.random(3, 9)}" 0
        EVAL "math.randomseed(42) return {math.random(100), tostring(math.random())}" 0
        EVAL "return math.random(0)" 0
        EVAL "return math.random(1, 2, 3)" 0
        "#,
    );
}

#[test]
fn scripting_commands_describe_themselves_as_in_redis() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    // Not SCRIPT and FUNCTION themselves: Redis lists their subcommands in the order of its
    // randomly seeded hash table.
    let names = "eval evalsha eval_ro evalsha_ro fcall fcall_ro script|load \
                 script|exists script|flush script|kill script|help script|debug function|load \
                 function|list function|delete function|flush function|dump function|restore \
                 function|stats function|kill function|help";
    let mut script = String::new();
    for name in names.split_whitespace() {
        script.push_str(&format!("COMMAND INFO {name}\nCOMMAND DOCS {name}\n"));
    }
    script.push_str("COMMAND GETKEYS EVAL \"return 1\" 2 a b c\n");
    script.push_str("COMMAND GETKEYS FCALL f 1 a b\n");
    d.check_both(&script);
}

/// Streams read from a script never block: BLOCK is refused with Redis's error (checked
/// where the option is parsed, so before the group lookup), reads without it answer.
#[test]
fn stream_reads_with_block_are_refused_inside_scripts() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    d.check_both(
        r#"
        EVAL "return redis.pcall('XREAD','STREAMS','s','$')" 1 s
        EVAL "return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')" 1 s
        EVAL "return redis.call('XREAD','COUNT','x','BLOCK',0,'STREAMS','s','$')" 1 s
        EVAL "return redis.pcall('xreadgroup','GROUP','nogroup','c','BLOCK',0,'STREAMS','s','>')" 1 s
        XGROUP CREATE s g $ MKSTREAM
        EVAL "return redis.pcall('xreadgroup','group','g','c','STREAMS','s','>')" 1 s
        EVAL "return redis.pcall('XREADGROUP','group','g','c','BLOCK',0,'STREAMS','s','>')" 1 s
        XREAD BLOCK 1 STREAMS s $
        "#,
    );
}

#[test]
fn a_script_queued_in_multi_is_killable_with_one_io_thread() {
    let Some(d) = Differential::start(&["--busy-reply-threshold", "100"]) else {
        return;
    };
    d.same_transcripts(|server| {
        let mut ctl = server.raw();
        let mut runner = server.raw();
        let mut log = Vec::new();
        log.push(e2e::text(runner.cmd(&["MULTI"])));
        log.push(e2e::text(runner.cmd(&["EVAL", "while true do end", "0"])));
        runner.send(&e2e::encode_command(&[b"EXEC"]));
        // EXEC runs the script: other clients are answered, and SCRIPT KILL stops it.
        loop {
            let reply = ctl.cmd(&["SCRIPT", "KILL"]);
            if !reply.starts_with(b"-NOTBUSY") {
                log.push(e2e::text(reply));
                break;
            }
        }
        log.push(e2e::text(runner.read_reply().unwrap()));
        log.push(e2e::text(ctl.cmd(&["PING"])));
        log
    });
}

/// INFO memory's scripting fields: present in Redis's order, and the counts equal to
/// redis-server's as scripts and libraries come and go (the byte figures are each engine's
/// own and are not compared).
#[test]
fn info_memory_counts_scripts_and_functions_as_redis_does() {
    let Some(d) = Differential::start(&[]) else {
        return;
    };
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)\n\
               redis.register_function('g', function() return 2 end)";
    d.same_transcripts(|server| {
        let mut c = server.raw();
        let mut log = Vec::new();
        let snapshot = |c: &mut RawConn| {
            let info = e2e::text(c.cmd(&["INFO", "memory"]));
            let lines: Vec<String> = info
                .split("\r\n")
                .filter(|l| {
                    ["lua", "script", "function", "librar", "vm_"]
                        .iter()
                        .any(|w| l.contains(w))
                })
                .map(|l| match l.split_once(':') {
                    Some((name, _)) if name.starts_with("number_of") => l.to_string(),
                    Some((name, _)) => name.to_string(),
                    None => l.to_string(),
                })
                .collect();
            lines.join(" ")
        };
        log.push(snapshot(&mut c));
        c.cmd(&["EVAL", "return 1", "0"]);
        c.cmd(&["SCRIPT", "LOAD", "return 2"]);
        c.cmd(&["FUNCTION", "LOAD", lib]);
        log.push(snapshot(&mut c));
        c.cmd(&["SCRIPT", "FLUSH"]);
        c.cmd(&["FUNCTION", "DELETE", "lib"]);
        log.push(snapshot(&mut c));
        log
    });
}
