//! Redis Sentinel (Debian's `redis-sentinel`) in front of kvstore: three Sentinels find each
//! other through the master's `__sentinel__:hello` channel, promote the kvstore replica when
//! the kvstore master is killed, and make the old master a replica of the new one when it
//! comes back; the api, pointed at the Sentinels, follows the failover without a restart.

use std::time::{Duration, Instant};

use e2e::api::{raw_http, Api, RawResponse};
use e2e::sentinel::{self, Sentinel};
use e2e::{RawConn, Server};

/// A field of INFO replication, on a new connection: Sentinel disconnects the clients of a
/// server it promotes or demotes (`CLIENT KILL TYPE normal`).
fn info_field(server: &Server, field: &str) -> Option<String> {
    let info = String::from_utf8_lossy(&server.raw().cmd(&["INFO", "replication"])).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A visit through the api: (status line, `total_visits` if the store answered).
fn visit(api: &Api) -> (String, Option<i64>) {
    let raw = raw_http(&api.addr(), b"GET / HTTP/1.0\r\n\r\n");
    let response = RawResponse::parse(&raw);
    let body = String::from_utf8_lossy(&response.body).into_owned();
    let visits = body
        .split("\"total_visits\":")
        .nth(1)
        .and_then(|rest| rest.trim_end().trim_end_matches('}').parse().ok());
    (response.status_line, visits)
}

#[test]
fn sentinels_fail_a_kvstore_master_over_to_its_replica_and_the_api_follows() {
    if !e2e::require_redis() || !sentinel::require() {
        return;
    }
    let mut master = Server::kvstore(&["--appendonly", "yes"]);
    let replica = Server::kvstore(&[
        "--appendonly",
        "yes",
        "--replicaof",
        &format!("127.0.0.1 {}", master.port),
    ]);
    wait_until("the replica's link is up", Duration::from_secs(30), || {
        info_field(&replica, "master_link_status").as_deref() == Some("up")
    });
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| Sentinel::start(master.port, 2, 1000))
        .collect();
    let logs = |sentinels: &[Sentinel]| {
        sentinels
            .iter()
            .map(Sentinel::log)
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    // Each Sentinel learns of the replica from INFO and of the two others from the hello
    // messages they publish on the master (and read back through it).
    wait_until(
        "every Sentinel knows the replica and the two other Sentinels",
        Duration::from_secs(30),
        || {
            sentinels.iter().all(|s| {
                let master =
                    RawConn::connect(&s.addr()).cmd(&["SENTINEL", "MASTER", sentinel::MASTER_NAME]);
                let text = String::from_utf8_lossy(&master).into_owned();
                let field = |name: &str| {
                    let mut lines = text.split("\r\n");
                    lines.find(|l| *l == name)?;
                    lines.nth(1).map(str::to_string)
                };
                field("num-slaves").as_deref() == Some("1")
                    && field("num-other-sentinels").as_deref() == Some("2")
            })
        },
    );

    let sentinel_list = sentinels
        .iter()
        .map(Sentinel::addr)
        .collect::<Vec<_>>()
        .join(",");
    // REDIS_HOST/REDIS_PORT point nowhere useful: only the Sentinels can lead to the store.
    let api = Api::start(
        "c-sentinel",
        1,
        &[
            ("REDIS_SENTINELS", &sentinel_list),
            ("REDIS_CONNECT_TIMEOUT_MS", "500"),
            ("REDIS_COMMAND_TIMEOUT_MS", "1000"),
            ("REDIS_RECONNECT_MAX_MS", "200"),
        ],
    );
    for n in 1..=5 {
        assert_eq!(visit(&api), ("HTTP/1.0 200 OK".to_string(), Some(n)));
    }
    let mut to_master = master.raw();
    for i in 0..100 {
        to_master.cmd(&["SET", &format!("key:{i}"), &i.to_string()]);
    }
    let offset = info_field(&master, "master_repl_offset");
    wait_until("the replica caught up", Duration::from_secs(30), || {
        info_field(&replica, "slave_repl_offset") == offset
    });

    master.kill9();
    let started = Instant::now();
    wait_until(
        "the Sentinels name the replica as master",
        Duration::from_secs(60),
        || {
            sentinels
                .iter()
                .all(|s| s.master_port() == Some(replica.port))
        },
    );
    let failover = started.elapsed();
    assert_eq!(
        info_field(&replica, "role").as_deref(),
        Some("master"),
        "{}",
        logs(&sentinels)
    );
    assert_eq!(replica.raw().cmd(&["GET", "key:99"]), b"$2\r\n99\r\n");
    // The api reconnects through the Sentinels: the count goes on from the replica's copy.
    let mut last = None;
    wait_until("the api answers 200 again", Duration::from_secs(30), || {
        last = visit(&api).1;
        last.is_some()
    });
    assert_eq!(last, Some(6), "no acknowledged visit was lost");
    assert_eq!(visit(&api).1, Some(7));

    // The old master comes back at its address with its old data, and the Sentinels make it
    // a replica of the new master.
    master.restart_same_port();
    wait_until(
        "the old master follows the new one",
        Duration::from_secs(60),
        || {
            info_field(&master, "role").as_deref() == Some("slave")
                && info_field(&master, "master_port") == Some(replica.port.to_string())
                && info_field(&master, "master_link_status").as_deref() == Some("up")
        },
    );
    replica.raw().cmd(&["SET", "after", "failover"]);
    let mut old = master.raw();
    wait_until(
        "the write reaches the old master",
        Duration::from_secs(30),
        || old.cmd(&["GET", "after"]) == b"$8\r\nfailover\r\n",
    );
    assert_eq!(old.cmd(&["GET", "total_visits"]), b"$1\r\n7\r\n");
    assert_eq!(
        old.cmd(&["SET", "x", "1"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    eprintln!("failover: the Sentinels named the new master {failover:?} after kill -9");
}
