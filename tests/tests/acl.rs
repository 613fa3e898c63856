//! ACL against redis-server 7.0.15 byte for byte: users and their rules (SETUSER, GETUSER,
//! LIST, USERS, DELUSER, CAT, GENPASS, HELP), AUTH and HELLO AUTH with users, permissions
//! enforced on commands, keys (`~`, `%R~`, `%W~`), channels and selectors, inside MULTI/EXEC
//! and scripts, ACL LOG entries and ACL DRYRUN. Refused commands are shown to change nothing.
//!
//! Redis prints single-command rules in its command table's hash order, which is random per
//! process, so rule strings with more than one such rule are compared as sets of words.

use e2e::{elements, same_as_redis, text, Differential, RawConn, Server};

/// Runs `args` on `c` and returns the reply as text.
fn run(c: &mut RawConn, args: &[&str]) -> String {
    text(c.cmd(args))
}

/// A reply with every bulk string's words sorted: for rule strings whose single-command part
/// Redis orders at random.
fn words_sorted(reply: Vec<u8>) -> String {
    let reply = text(reply);
    reply
        .split("\r\n")
        .map(|line| {
            let mut words: Vec<&str> = line.split(' ').collect();
            words.sort_unstable();
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// ACL LOG's entries without their time- and connection-dependent fields (age-seconds and
/// client-info), in RESP2.
fn log_entries(c: &mut RawConn) -> Vec<String> {
    let reply = c.cmd(&["ACL", "LOG"]);
    elements(&reply)
        .into_iter()
        .map(|entry| {
            let fields = elements(&entry);
            let mut kept = Vec::new();
            for pair in fields.chunks(2) {
                let name = text(pair[0].clone());
                if name.contains("age-seconds") {
                    continue;
                }
                if name.contains("client-info") {
                    // Only the user the connection was authenticated as is compared.
                    let info = text(pair[1].clone());
                    let user = info.split(' ').find(|w| w.starts_with("user="));
                    kept.push(format!("client-info {}", user.unwrap_or("?")));
                    continue;
                }
                kept.push(format!("{} {}", name.trim(), text(pair[1].clone()).trim()));
            }
            kept.join(" | ")
        })
        .collect()
}

#[test]
fn setuser_getuser_list_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER alice on >p1 >p2 ~cached:* %R~ro:* %W~wo:* &news.* +@string -set
        ACL GETUSER alice
        ACL SETUSER alice <p2 %RW~both &other
        ACL GETUSER alice
        ACL SETUSER bob
        ACL GETUSER bob
        ACL SETUSER bob reset
        ACL GETUSER bob
        ACL SETUSER carol on nopass allkeys allchannels allcommands -@dangerous
        ACL GETUSER carol
        ACL SETUSER dave on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a +@hash -hset
        ACL GETUSER dave
        ACL SETUSER dave !f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a resetkeys ~a* ~a* %R~a*
        ACL GETUSER dave
        ACL SETUSER erin on nocommands +select|0 (+get ~x* &c) (+@read ~r:*)
        ACL GETUSER erin
        ACL SETUSER erin clearselectors
        ACL GETUSER erin
        ACL SETUSER frank on +client|id ~* skip-sanitize-payload
        ACL GETUSER frank
        ACL SETUSER gina on \"(+set\" \"~s*)\"
        ACL GETUSER gina
        ACL LIST
        ACL USERS
        ACL GETUSER nosuch
        ACL WHOAMI
        ACL DELUSER alice bob nosuch
        ACL USERS
        ACL DELUSER carol dave erin frank gina
        ACL LIST",
    );
}

#[test]
fn setuser_errors_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER bad on +nosuch
        ACL SETUSER bad +@nosuch
        ACL SETUSER bad ~x allkeys ~y
        ACL SETUSER bad allkeys ~y
        ACL SETUSER bad allchannels &y
        ACL SETUSER bad #abc
        ACL SETUSER bad !abc
        ACL SETUSER bad <nopw
        ACL SETUSER bad +client|id|x
        ACL SETUSER bad +get|
        ACL SETUSER bad +nosuch|x
        ACL SETUSER bad +client|nosuch
        ACL SETUSER bad -client|nosuch
        ACL SETUSER bad foo
        ACL SETUSER bad %X~k
        ACL SETUSER bad (+get ~x
        ACL SETUSER bad (+nosuch)
        ACL SETUSER \"b d\" on
        ACL GETUSER bad
        ACL DELUSER default
        ACL DELUSER nosuch default
        ACL CAT nosuch
        ACL GENPASS 0
        ACL GENPASS 5000
        ACL GENPASS x
        ACL LOG x
        ACL LOG 1 2
        ACL FOO
        ACL
        ACL GETUSER
        ACL SETUSER
        ACL LIST x
        ACL DRYRUN nosuch get x
        ACL LOAD
        ACL SAVE
        ACL HELP
        ACL CAT
        ^ACL CAT geo
        ^ACL CAT scripting
        ^ACL CAT hyperloglog",
    );
}

#[test]
fn genpass_lengths_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    for server in [&servers.ours, &servers.reference] {
        let mut c = server.raw();
        for (bits, chars) in [
            (None, 64),
            (Some("1"), 1),
            (Some("5"), 2),
            (Some("4096"), 1024),
        ] {
            let mut args = vec!["ACL", "GENPASS"];
            args.extend(bits);
            let reply = run(&mut c, &args);
            let pass = reply.split("\r\n").nth(1).unwrap();
            assert_eq!(pass.len(), chars, "{reply}");
            assert!(pass.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}

#[test]
fn auth_and_hello_with_users_as_redis() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut c = s.raw();
        let mut out = Vec::new();
        for args in [
            &[
                "ACL",
                "SETUSER",
                "bob",
                "on",
                ">secret",
                "allcommands",
                "allkeys",
            ][..],
            &["ACL", "SETUSER", "off", "off", ">pw", "allcommands"],
        ] {
            out.push(run(&mut admin, args));
        }
        for args in [
            &["AUTH", "bob", "wrong"][..],
            &["AUTH", "nosuch", "secret"],
            &["AUTH", "off", "pw"],
            &["AUTH", "pw"],
            &["AUTH", "a", "b", "c"],
            &["ACL", "WHOAMI"],
            &["AUTH", "bob", "secret"],
            &["ACL", "WHOAMI"],
            &["SET", "k", "v"],
            &["HELLO", "2", "AUTH", "bob", "nope"],
            &["ACL", "WHOAMI"],
            &["AUTH", "default", "anything"],
            &["ACL", "WHOAMI"],
        ] {
            out.push(run(&mut c, args));
        }
        // HELLO's reply carries the client id: only its success is compared.
        let hello = run(&mut c, &["HELLO", "2", "AUTH", "bob", "secret"]);
        out.push(hello.starts_with("*14\r\n").to_string());
        out.push(run(&mut c, &["ACL", "WHOAMI"]));
        out.extend(log_entries(&mut admin));
        out.push(
            run(&mut admin, &["ACL", "LOG", "1"])
                .lines()
                .next()
                .unwrap()
                .to_string(),
        );
        out.push(run(&mut admin, &["ACL", "LOG", "RESET"]));
        out.push(run(&mut admin, &["ACL", "LOG"]));
        out
    });
}

#[test]
fn requirepass_is_the_default_users_password() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = vec![
            run(&mut admin, &["CONFIG", "SET", "requirepass", "pw1"]),
            run(&mut admin, &["ACL", "LIST"]),
        ];
        let mut c = s.raw();
        out.push(run(&mut c, &["GET", "k"]));
        out.push(run(&mut c, &["ACL", "WHOAMI"]));
        out.push(run(&mut c, &["AUTH", "pw1"]));
        out.push(run(&mut c, &["CONFIG", "SET", "requirepass", ""]));
        out.push(run(&mut c, &["ACL", "LIST"]));
        let mut fresh = s.raw();
        out.push(run(&mut fresh, &["GET", "k"]));
        out.push(run(&mut fresh, &["AUTH", "x"]));
        out.push(run(
            &mut fresh,
            &["ACL", "SETUSER", "default", "resetpass", ">pw2"],
        ));
        let mut locked = s.raw();
        out.push(run(&mut locked, &["GET", "k"]));
        out.push(run(&mut locked, &["HELLO", "2"]));
        out.push(run(&mut locked, &["AUTH", "default", "pw2"]));
        out.push(run(&mut locked, &["ACL", "SETUSER", "default", "nopass"]));
        out.push(run(&mut locked, &["RESET"]));
        out.push(run(&mut locked, &["ACL", "WHOAMI"]));
        out
    });
}

#[test]
fn refused_commands_change_nothing() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        for args in [
            &["MSET", "app:1", "a", "other", "o", "ro:1", "r", "wo:1", "w"][..],
            &[
                "ACL",
                "SETUSER",
                "app",
                "on",
                ">pw",
                "~app:*",
                "%R~ro:*",
                "%W~wo:*",
                "&chan:*",
                "+@all",
                "-flushall",
                "-flushdb",
            ],
        ] {
            out.push(run(&mut admin, args));
        }
        let mut c = s.raw();
        for args in [
            &["AUTH", "app", "pw"][..],
            &["GET", "app:1"],
            &["SET", "app:2", "x"],
            &["GET", "other"],
            &["SET", "other", "changed"],
            &["DEL", "app:1", "other"],
            &["MSET", "app:3", "x", "other", "changed"],
            &["RENAME", "app:1", "other"],
            &["GET", "ro:1"],
            &["SET", "ro:1", "changed"],
            &["GET", "wo:1"],
            &["SET", "wo:1", "w2"],
            &["COPY", "ro:1", "wo:2"],
            &["COPY", "wo:1", "ro:2"],
            &["APPEND", "ro:1", "x"],
            &["FLUSHALL"],
            &["PUBLISH", "chan:1", "m"],
            &["PUBLISH", "news", "m"],
            &["SORT", "app:l", "STORE", "other"],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "other"],
            &["EVAL", "return redis.call('get', 'other')", "0"],
            &["EVAL", "return redis.pcall('set', 'other', 'x')", "0"],
            &["EVAL", "return redis.call('flushall')", "0"],
            &["EVAL", "return redis.call('publish', 'news', 'x')", "0"],
            &["ACL", "WHOAMI"],
        ] {
            out.push(run(&mut c, args));
        }
        out.push(run(&mut c, &["SUBSCRIBE", "chan:1", "news"]));
        out.push(run(&mut c, &["PSUBSCRIBE", "chan:*"]));
        out.push(run(&mut c, &["PSUBSCRIBE", "chan:1*"]));
        for args in [
            &[
                "MGET", "app:1", "app:2", "other", "ro:1", "wo:1", "wo:2", "ro:2",
            ][..],
            &["DBSIZE"],
        ] {
            out.push(run(&mut admin, args));
        }
        out.extend(log_entries(&mut admin));
        out
    });
}

#[test]
fn transactions_and_changed_rules_as_redis() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        out.push(run(
            &mut admin,
            &["ACL", "SETUSER", "t", "on", "nopass", "~*", "+@all"],
        ));
        let mut c = s.raw();
        for args in [
            &["AUTH", "t", "x"][..],
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCR", "b"],
            &["GET", "a"],
        ] {
            out.push(run(&mut c, args));
        }
        out.push(run(
            &mut admin,
            &["ACL", "SETUSER", "t", "-incr", "resetkeys", "~a"],
        ));
        out.push(run(&mut c, &["EXEC"]));
        for args in [
            &["MULTI"][..],
            &["SET", "a", "2"],
            &["INCR", "b"],
            &["EXEC"],
        ] {
            out.push(run(&mut c, args));
        }
        out.push(run(&mut admin, &["MGET", "a", "b"]));
        out.extend(log_entries(&mut admin));
        out
    });
}

#[test]
fn deluser_closes_its_connections() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        out.push(run(
            &mut admin,
            &["ACL", "SETUSER", "gone", "on", "nopass", "+@all", "~*"],
        ));
        let mut other = s.raw();
        let mut me = s.raw();
        out.push(run(&mut other, &["AUTH", "gone", "x"]));
        out.push(run(&mut me, &["AUTH", "gone", "x"]));
        out.push(run(&mut me, &["ACL", "DELUSER", "gone"]));
        out.push(text(me.read_to_close()));
        out.push(format!("{:?}", other.try_cmd(&["PING"]).map(text).ok()));
        out.push(run(&mut admin, &["ACL", "USERS"]));
        out
    });
}

#[test]
fn dryrun_and_selectors_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER sel on nopass resetchannels -@all +get ~k1 (+set ~k2) (+@read %R~r* &ch)
        ACL DRYRUN sel get k1
        ACL DRYRUN sel get k2
        ACL DRYRUN sel set k2 v
        ACL DRYRUN sel set k1 v
        ACL DRYRUN sel get r1
        ACL DRYRUN sel mget k1 r1 zz
        ACL DRYRUN sel hgetall r1
        ACL DRYRUN sel hset r1 f v
        ACL DRYRUN sel publish ch m
        ACL DRYRUN sel publish other m
        ACL DRYRUN sel subscribe ch
        ACL DRYRUN sel client id
        ACL DRYRUN sel client
        ACL DRYRUN sel client nosuch
        ACL DRYRUN sel nosuch
        ACL DRYRUN sel get
        ACL DRYRUN sel set a
        ACL SETUSER fa on nopass -@all +select|1 +select|2 ~*
        ACL DRYRUN fa select 1
        ACL DRYRUN fa select 3
        ACL DRYRUN fa get x
        ACL DRYRUN default flushall
        ACL DELUSER sel fa",
    );
    for server in [&servers.ours, &servers.reference] {
        let mut c = server.raw();
        c.cmd(&[
            "ACL",
            "SETUSER",
            "many",
            "on",
            "-@all",
            "+get",
            "+set",
            "+select|0",
            "+client|id",
        ]);
        let list = words_sorted(c.cmd(&["ACL", "LIST"]));
        assert!(
            list.contains("+client|id +get +select|0 +set -@all many on resetchannels user"),
            "{list}"
        );
    }
}

/// A server of `flavor` whose `aclfile` starts with `text`; the file's path is returned too.
fn with_acl_file(
    flavor: e2e::Flavor,
    text: &str,
) -> (Server, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.acl");
    std::fs::write(&path, text).expect("acl file");
    let server = Server::start(flavor, &["--aclfile", path.to_str().unwrap()]);
    (server, path, dir)
}

#[test]
fn acl_file_load_and_save_as_redis() {
    if !e2e::require_redis() {
        return;
    }
    let initial =
        "user default on nopass ~* &* +@all\n\nuser alice on >pw ~a* resetchannels -@all +get\n";
    let mut transcripts = Vec::new();
    for flavor in [e2e::Flavor::Kvstore, e2e::Flavor::Redis] {
        let (server, path, _dir) = with_acl_file(flavor, initial);
        let shown = path.to_str().unwrap().to_string();
        let mut admin = server.raw();
        let mut alice = server.raw();
        let mut out = vec![
            run(&mut admin, &["ACL", "LIST"]),
            run(&mut alice, &["AUTH", "alice", "pw"]),
            run(&mut alice, &["GET", "a1"]),
            run(
                &mut admin,
                &[
                    "ACL", "SETUSER", "bob", "on", "nopass", "+@hash", "~h*", "&c",
                ],
            ),
            run(&mut admin, &["ACL", "SAVE"]),
            std::fs::read_to_string(&path).unwrap(),
        ];
        std::fs::write(
            &path,
            "user alice on >pw +nosuch ~x allkeys ~y\nuser alice off\nuser bob on bogus #xx\nfoo bar\nuser\n",
        )
        .unwrap();
        out.push(run(&mut admin, &["ACL", "LOAD"]).replace(&shown, "FILE"));
        out.push(run(&mut admin, &["ACL", "USERS"]));
        out.push(run(&mut alice, &["GET", "a1"]));
        std::fs::write(&path, "user carol on nopass ~c* +@string\n").unwrap();
        out.push(run(&mut admin, &["ACL", "LOAD"]));
        out.push(run(&mut admin, &["ACL", "LIST"]));
        out.push(text(alice.read_to_close()));
        std::fs::remove_file(&path).unwrap();
        out.push(run(&mut admin, &["ACL", "LOAD"]).replace(&shown, "FILE"));
        transcripts.push(out);
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "left: kvstore, right: redis-server"
    );
}

#[test]
fn user_directives_as_redis() {
    let args = [
        "--user",
        "alice",
        "on",
        ">pw",
        "~a*",
        "+@read",
        "--user",
        "default",
        "on",
        "nopass",
        "~*",
        "+@all",
        "-flushall",
    ];
    let Some(servers) = Differential::start(&args) else {
        return;
    };
    servers.check_both(
        "ACL LIST
        AUTH alice pw
        ACL WHOAMI
        GET a1
        GET b1
        SET a1 x",
    );
}

#[test]
fn revoked_channels_disconnect_subscribers() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        out.push(run(
            &mut admin,
            &[
                "ACL",
                "SETUSER",
                "sub",
                "on",
                "nopass",
                "+@all",
                "resetchannels",
                "&news",
                "&sport*",
            ],
        ));
        let mut kept = s.raw();
        let mut dropped = s.raw();
        out.push(run(&mut kept, &["AUTH", "sub", "x"]));
        out.push(run(&mut dropped, &["AUTH", "sub", "x"]));
        out.push(run(&mut kept, &["SUBSCRIBE", "sport1"]));
        out.push(run(&mut dropped, &["SUBSCRIBE", "news"]));
        // Adding channels keeps everyone.
        out.push(run(&mut admin, &["ACL", "SETUSER", "sub", "&more"]));
        out.push(run(&mut admin, &["PUBLISH", "news", "1"]));
        out.push(text(dropped.read_reply().unwrap()));
        // Taking `news` away closes only its subscriber.
        out.push(run(
            &mut admin,
            &["ACL", "SETUSER", "sub", "resetchannels", "&sport*"],
        ));
        out.push(text(dropped.read_to_close()));
        out.push(run(&mut admin, &["PUBLISH", "sport1", "2"]));
        out.push(text(kept.read_reply().unwrap()));
        out
    });
}

#[test]
fn log_groups_and_trims_as_redis() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        for args in [
            &["CONFIG", "SET", "acllog-max-len", "3"][..],
            &[
                "ACL",
                "SETUSER",
                "l",
                "on",
                "nopass",
                "-@all",
                "+get",
                "~k*",
                "resetchannels",
            ],
        ] {
            out.push(run(&mut admin, args));
        }
        let mut c = s.raw();
        out.push(run(&mut c, &["AUTH", "l", "x"]));
        for args in [
            &["GET", "x1"][..],
            &["GET", "x1"],
            &["GET", "x2"],
            &["SET", "k1", "v"],
            &["SET", "k1", "v"],
            &["MULTI"],
            &["GET", "x1"],
            &["GET", "k1"],
            &["EXEC"],
            &["GET", "x3"],
        ] {
            out.push(run(&mut c, args));
        }
        out.extend(log_entries(&mut admin));
        out.push(run(&mut admin, &["ACL", "LOG", "0"]));
        out.push(run(&mut admin, &["ACL", "LOG", "-5"]));
        out.push(run(&mut admin, &["CONFIG", "SET", "acllog-max-len", "0"]));
        out.push(run(&mut c, &["GET", "x4"]));
        out.push(run(&mut admin, &["ACL", "LOG", "RESET"]));
        out.push(run(&mut admin, &["ACL", "LOG"]));
        out
    });
}

#[test]
fn client_kill_by_user_as_redis() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        out.push(run(
            &mut admin,
            &["ACL", "SETUSER", "k", "on", "nopass", "+@all", "~*"],
        ));
        let mut one = s.raw();
        let mut two = s.raw();
        out.push(run(&mut one, &["AUTH", "k", "x"]));
        out.push(run(&mut two, &["AUTH", "k", "x"]));
        out.push(run(&mut admin, &["CLIENT", "KILL", "USER", "nosuch"]));
        out.push(run(&mut admin, &["CLIENT", "KILL", "USER", "k"]));
        out.push(text(one.read_to_close()));
        out.push(text(two.read_to_close()));
        out.push(run(&mut admin, &["CLIENT", "KILL", "USER", "k"]));
        out.push(run(
            &mut admin,
            &["CLIENT", "KILL", "USER", "default", "SKIPME", "yes"],
        ));
        out
    });
}

#[test]
fn pubsub_default_and_reset_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER p1
        ACL GETUSER p1
        CONFIG SET acl-pubsub-default allchannels
        ACL SETUSER p2 (+get)
        ACL GETUSER p2
        ACL SETUSER p1 reset
        ACL LIST
        CONFIG SET acl-pubsub-default resetchannels
        ACL DELUSER p1 p2",
    );
}

#[test]
fn scripts_check_permissions_as_redis() {
    same_as_redis(|s: &Server| {
        let mut admin = s.raw();
        let mut out = Vec::new();
        out.push(run(
            &mut admin,
            &[
                "ACL", "SETUSER", "lua", "on", "nopass", "-@all", "+eval", "+get", "~k*",
            ],
        ));
        let mut c = s.raw();
        out.push(run(&mut c, &["AUTH", "lua", "x"]));
        for script in [
            "return redis.acl_check_cmd('get', 'k1')",
            "return redis.acl_check_cmd('get', 'x1')",
            "return redis.acl_check_cmd('set', 'k1', 'v')",
            "return redis.acl_check_cmd('get')",
            "return redis.acl_check_cmd('nosuch')",
            "return redis.pcall('set', 'k1', 'v')",
            "return redis.call('get', 'k1')",
        ] {
            out.push(run(&mut c, &["EVAL", script, "0"]));
        }
        out.push(run(&mut c, &["EVAL", "return 1", "1", "x1"]));
        out.push(run(&mut admin, &["EXISTS", "k1"]));
        out
    });
}

#[test]
fn key_access_of_movable_and_variable_commands_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER rw on nopass +@all %R~r* %W~w* ~b*
        ACL DRYRUN rw set w1 v
        ACL DRYRUN rw set w1 v GET
        ACL DRYRUN rw set r1 v get
        ACL DRYRUN rw set b1 v GET
        ACL DRYRUN rw bitfield r1 GET u8 0
        ACL DRYRUN rw bitfield r1 GET u8 0 SET u8 0 1
        ACL DRYRUN rw bitfield w1 INCRBY u8 0 1
        ACL DRYRUN rw bitfield_ro r1 GET u8 0
        ACL DRYRUN rw getex r1
        ACL DRYRUN rw getdel r1
        ACL DRYRUN rw copy r1 w1
        ACL DRYRUN rw copy w1 r1
        ACL DRYRUN rw lmove r1 w1 LEFT RIGHT
        ACL DRYRUN rw eval return 2 r1 w1
        ACL DRYRUN rw eval_ro return 1 r1
        ACL DRYRUN rw zunionstore w1 2 r1 r2
        ACL DRYRUN rw zunionstore r9 2 r1 r2
        ACL DRYRUN rw zunion 2 r1 w2
        ACL DRYRUN rw sintercard 2 r1 r2
        ACL DRYRUN rw lmpop 2 w1 w2 LEFT
        ACL DRYRUN rw xread COUNT 2 STREAMS r1 w1 0 0
        ACL DRYRUN rw xreadgroup GROUP g c STREAMS w1 0
        ACL DRYRUN rw sort r1 BY w* GET # STORE w1
        ACL DRYRUN rw sort r1 STORE r2
        ACL DRYRUN rw sort_ro r1
        ACL DRYRUN rw georadius r1 0 0 1 km STORE w1
        ACL DRYRUN rw georadius r1 0 0 1 km STORE r2
        ACL DRYRUN rw geosearchstore w1 r1 FROMLONLAT 0 0 BYRADIUS 1 km
        ACL DRYRUN rw mset w1 a r1 b
        ACL DRYRUN rw object encoding r1
        ACL DRYRUN rw memory usage w1
        ACL DRYRUN rw rename r1 w1
        ACL DRYRUN rw rename w1 b1
        ACL DRYRUN rw pfmerge w1 r1
        ACL DRYRUN rw pfcount w1
        ACL DRYRUN rw exists w1
        ACL DRYRUN rw touch r1
        ACL DRYRUN rw del r1
        ACL DELUSER rw",
    );
}

#[test]
fn first_args_and_subcommands_as_redis() {
    let Some(servers) = Differential::start(&[]) else {
        return;
    };
    servers.check_both(
        "ACL SETUSER sub on nopass ~* -@all +select|0 +config|get +client
        # Several single-command rules: Redis orders them at random.
        ~ACL GETUSER sub
        ACL DRYRUN sub select 0
        ACL DRYRUN sub select 1
        ACL DRYRUN sub config get maxmemory
        ACL DRYRUN sub config set maxmemory 1
        ACL DRYRUN sub client id
        ACL DRYRUN sub client kill 1.2.3.4:5
        ACL SETUSER sub -client|kill
        ACL DRYRUN sub client kill 1.2.3.4:5
        ACL DRYRUN sub client id
        ACL SETUSER sub -select
        ACL DRYRUN sub select 0
        ACL SETUSER all on nopass ~* +@all -config|set
        ACL GETUSER all
        ACL DRYRUN all config set maxmemory 1
        ACL DRYRUN all config get maxmemory
        ACL DELUSER sub all",
    );
}
