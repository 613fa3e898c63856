//! End-to-end tests of the `api` binary: real processes on ephemeral loopback ports, in front
//! of kvstore and of Debian's redis-server (the same scenarios against both).

use std::collections::HashMap;
use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::api::{flask_visit_body, raw_http, Api, RawResponse, StallingStore};
use e2e::{binary, require_redis, Flavor, Server};

/// Timeouts short enough that an outage shows within a second or two.
const FAST: &[(&str, &str)] = &[
    ("REDIS_CONNECT_TIMEOUT_MS", "500"),
    ("REDIS_COMMAND_TIMEOUT_MS", "1000"),
    ("REDIS_RECONNECT_MAX_MS", "200"),
];

/// A store of the given flavor that persists across a SIGTERM restart; `None` (after saying
/// why) when redis-server is not installed.
fn store(flavor: Flavor) -> Option<Server> {
    if flavor == Flavor::Redis && !require_redis() {
        return None;
    }
    Some(Server::start(flavor, &["--appendonly", "yes"]))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // A hang fails the test instead of blocking it.
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// `total_visits` out of a body (`null` → `None`).
fn total_visits(body: &str) -> Option<i64> {
    let rest = body.split("\"total_visits\":").nth(1)?;
    rest.trim_end().trim_end_matches('}').parse().ok()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let response = client.get(url).send().await.expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.expect("body"))
}

async fn thousand_concurrent_visits(flavor: Flavor) {
    let Some(store) = store(flavor) else { return };
    let apis = [
        Api::start("api-one-0001", store.port, &[]),
        Api::start("api-two-0002", store.port, &[]),
    ];
    let client = client();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let api = &apis[i % 2];
        let (client, url, id) = (
            client.clone(),
            api.base_url() + "/",
            api.container_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (status, content_type, body) = get(&client, &url).await;
            (id, status, content_type, body)
        }));
    }
    let mut seen = Vec::new();
    let mut per_instance: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (id, status, content_type, body) = task.await.expect("task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(content_type, "application/json");
        let n = total_visits(&body).unwrap_or_else(|| panic!("no count in {body:?}"));
        assert_eq!(
            body,
            flask_visit_body(&id, n),
            "body bytes differ from Flask's"
        );
        seen.push(n);
        *per_instance.entry(id).or_default() += 1;
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=1000).collect::<Vec<i64>>(),
        "each count exactly once"
    );
    assert_eq!(per_instance.len(), 2);
    let stored: i64 = redis::cmd("GET")
        .arg("total_visits")
        .query(&mut store.client())
        .expect("GET total_visits");
    assert_eq!(stored, 1000);
    // The requests were multiplexed: one store connection per api, plus this test's.
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut store.client())
        .expect("CLIENT LIST");
    assert!(clients.lines().count() <= 3, "{clients}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_visits_count_1_to_1000_on_kvstore() {
    thousand_concurrent_visits(Flavor::Kvstore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_visits_count_1_to_1000_on_redis_server() {
    thousand_concurrent_visits(Flavor::Redis).await;
}

fn http10_and_keepalive(flavor: Flavor) {
    let Some(store) = store(flavor) else { return };
    let api = Api::start("d6f53c5499a2", store.port, &[]);
    redis::cmd("SET")
        .arg("total_visits")
        .arg(45)
        .query::<()>(&mut store.client())
        .expect("SET");

    // HTTP/1.0 (curl -0, ab): a complete response, then the server closes.
    let raw = raw_http(&api.addr(), b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let response = RawResponse::parse(&raw);
    assert!(
        response.status_line.starts_with("HTTP/1.") && response.status_line.contains(" 200 "),
        "{}",
        response.status_line
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("content-length"), Some("196"));
    assert_eq!(
        response.body,
        flask_visit_body("d6f53c5499a2", 46).as_bytes()
    );

    // HTTP/1.0 HEAD: the same headers, no body.
    let raw = raw_http(&api.addr(), b"HEAD / HTTP/1.0\r\n\r\n");
    let response = RawResponse::parse(&raw);
    assert!(
        response.status_line.contains(" 200 "),
        "{}",
        response.status_line
    );
    assert_eq!(response.header("content-length"), Some("196"));
    assert!(response.body.is_empty());

    // HTTP/1.1 keep-alive: two pipelined requests on one connection, two answers.
    let raw = raw_http(
        &api.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8(raw).expect("utf-8");
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert!(
        text.ends_with(&flask_visit_body("d6f53c5499a2", 49)),
        "{text}"
    );
}

#[test]
fn http10_head_and_keepalive_on_kvstore() {
    http10_and_keepalive(Flavor::Kvstore);
}

#[test]
fn http10_head_and_keepalive_on_redis_server() {
    http10_and_keepalive(Flavor::Redis);
}

async fn outage_then_recovery(flavor: Flavor) {
    let Some(mut store) = store(flavor) else {
        return;
    };
    let api = Api::start("c-outage", store.port, FAST);
    let client = client();
    let url = api.base_url() + "/";
    let ready = api.base_url() + "/readyz";

    let (status, _, body) = get(&client, &url).await;
    assert_eq!((status, total_visits(&body)), (200, Some(1)), "{body}");
    assert_eq!(get(&client, &ready).await.0, 200);

    store.stop();
    // Every request during the outage is answered (the client's timeout catches a hang).
    for _ in 0..3 {
        let (status, content_type, body) = get(&client, &url).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(content_type, "application/json");
        assert!(
            body.starts_with(
                "{\"container_id\":\"c-outage\",\"database_status\":\"Terputus\",\"error\":\"store "
            ),
            "{body}"
        );
        assert!(
            body.ends_with(
                "\"info\":\"Refresh halaman ini untuk melihat container_id berubah (Load Balancing)\",\
                 \"message\":\"Halo dari Backend API!\",\"total_visits\":null}\n"
            ),
            "{body}"
        );
    }
    assert_eq!(get(&client, &ready).await.0, 503);

    store.restart_same_port();
    // Reconnection waits at most REDIS_RECONNECT_MAX_MS after a failed attempt; poll for
    // the first success rather than assume a delay.
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, _, body) = get(&client, &url).await;
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "api did not recover: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        body,
        flask_visit_body("c-outage", 2),
        "the counter continues"
    );
    assert_eq!(get(&client, &ready).await.0, 200);

    let metrics = get(&client, &(api.base_url() + "/metrics")).await.2;
    assert!(metrics.contains("store_reconnects_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/\",status=\"503\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_503_terputus_then_recovers_on_kvstore() {
    outage_then_recovery(Flavor::Kvstore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_503_terputus_then_recovers_on_redis_server() {
    outage_then_recovery(Flavor::Redis).await;
}

fn auth_and_db(flavor: Flavor) {
    if flavor == Flavor::Redis && !require_redis() {
        return;
    }
    let store = Server::start(flavor, &["--requirepass", "s3cret"]);
    let port = store.port;
    let api = Api::start(
        "c-auth",
        port,
        &[("REDIS_PASSWORD", "s3cret"), ("REDIS_DB", "3")],
    );
    let raw = raw_http(&api.addr(), b"GET / HTTP/1.0\r\n\r\n");
    let response = RawResponse::parse(&raw);
    assert!(response.status_line.contains(" 200 "), "{raw:?}");
    assert_eq!(response.body, flask_visit_body("c-auth", 1).as_bytes());
    let mut conn = store.raw();
    conn.cmd(&["AUTH", "s3cret"]);
    conn.cmd(&["SELECT", "3"]);
    assert_eq!(conn.cmd(&["GET", "total_visits"]), b"$1\r\n1\r\n");

    let wrong = Api::start("c-auth", port, &[("REDIS_PASSWORD", "wrong")]);
    let raw = raw_http(&wrong.addr(), b"GET / HTTP/1.0\r\n\r\n");
    let response = RawResponse::parse(&raw);
    assert!(response.status_line.contains(" 503 "), "{raw:?}");
    let body = String::from_utf8_lossy(&response.body);
    assert!(body.contains("\"database_status\":\"Terputus\""), "{body}");
}

#[test]
fn password_and_db_are_used_on_kvstore() {
    auth_and_db(Flavor::Kvstore);
}

#[test]
fn password_and_db_are_used_on_redis_server() {
    auth_and_db(Flavor::Redis);
}

/// `REDIS_WAIT_REPLICAS=1`: a visit no replica acknowledged is a 503 (counted on the master,
/// not acknowledged); once a replica follows, each 200 comes after the replica has the count.
#[test]
fn wait_replicas_acknowledges_only_replicated_visits() {
    let master = Server::kvstore(&[]);
    let api = Api::start(
        "c-wait",
        master.port,
        &[
            ("REDIS_WAIT_REPLICAS", "1"),
            ("REDIS_WAIT_TIMEOUT_MS", "100"),
        ],
    );
    let visit = || {
        let response = RawResponse::parse(&raw_http(&api.addr(), b"GET / HTTP/1.0\r\n\r\n"));
        (
            response.status_line,
            String::from_utf8_lossy(&response.body).into_owned(),
        )
    };
    let (status, body) = visit();
    assert!(status.contains(" 503 "), "{status} {body}");
    assert!(
        body.contains("\"error\":\"visit 1 reached 0 of 1 replicas in time\""),
        "{body}"
    );

    let replica = Server::kvstore(&["--replicaof", &format!("127.0.0.1 {}", master.port)]);
    let mut on_replica = replica.raw();
    let deadline = Instant::now() + Duration::from_secs(30);
    while on_replica.cmd(&["GET", "total_visits"]) != b"$1\r\n1\r\n" {
        assert!(Instant::now() < deadline, "the replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    for n in 2..=20 {
        let (status, body) = visit();
        assert_eq!(
            (status.as_str(), body),
            ("HTTP/1.0 200 OK", flask_visit_body("c-wait", n))
        );
        let stored = on_replica.cmd(&["GET", "total_visits"]);
        assert_eq!(
            stored,
            format!("${}\r\n{n}\r\n", n.to_string().len()).as_bytes()
        );
    }
    let metrics = raw_http(&api.addr(), b"GET /metrics HTTP/1.0\r\n\r\n");
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("store_errors_total{kind=\"not_replicated\"} 1\n"),
        "{metrics}"
    );
}

/// SIGTERM while a request waits for the store: the request still gets its answer (a 503
/// once the command times out) and the process exits 0.
#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_0() {
    let store = StallingStore::start();
    let mut api = Api::start(
        "c-term",
        store.port,
        &[("REDIS_COMMAND_TIMEOUT_MS", "2000")],
    );
    let addr = api.addr();
    let request = std::thread::spawn(move || raw_http(&addr, b"GET / HTTP/1.0\r\n\r\n"));
    store.wait_for_incr();
    api.terminate();
    let raw = request.join().expect("request thread");
    let response = RawResponse::parse(&raw);
    assert!(response.status_line.contains(" 503 "), "{raw:?}");
    let body = String::from_utf8_lossy(&response.body);
    assert!(
        body.contains("\"error\":\"store did not answer within 2000 ms\""),
        "{body}"
    );
    let status = api
        .wait_exit(Duration::from_secs(20))
        .expect("api exits after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn healthcheck_subcommand_reports_liveness() {
    let port = e2e::free_port();
    let api = Api::start("c-health", port, FAST);
    let run_with = |api_port: u16, extra: &[&str]| {
        Command::new(binary("api"))
            .arg("healthcheck")
            .args(extra)
            .env("PORT", api_port.to_string())
            .env("BIND", "127.0.0.1")
            .output()
            .expect("run api healthcheck")
    };
    let run = |api_port: u16| run_with(api_port, &[]);
    // Alive even though no store listens on `port`: liveness is not readiness.
    let up = run(api.port);
    assert!(up.status.success(), "{up:?}");
    // `--ready` (the compose file's check) asks /readyz: not ready without a store.
    let ready = run_with(api.port, &["--ready"]);
    assert_eq!(ready.status.code(), Some(1), "{ready:?}");
    assert!(
        String::from_utf8_lossy(&ready.stderr).contains("/readyz"),
        "{ready:?}"
    );
    let store = Server::kvstore(&[]);
    let with_store = Api::start("c-ready", store.port, FAST);
    let ready = run_with(with_store.port, &["--ready"]);
    assert!(ready.status.success(), "{ready:?}");
    drop(api);
    let down = run(e2e::free_port());
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));
}

#[test]
fn bad_configuration_stops_startup_naming_the_variable() {
    for (var, value) in [
        ("REDIS_PORT", "abc"),
        ("PORT", "99999"),
        ("BIND", "not-an-ip"),
        ("REDIS_DB", "-1"),
        ("REDIS_COMMAND_TIMEOUT_MS", "0"),
    ] {
        let out = Command::new(binary("api"))
            .env(var, value)
            .output()
            .expect("run api");
        assert!(!out.status.success(), "{var}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
    }
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let api = Api::start(
        "c-slow",
        e2e::free_port(),
        &[("HTTP_HEADER_TIMEOUT_MS", "200")],
    );
    let mut stream = std::net::TcpStream::connect(api.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n").expect("write");
    // The server closes the connection (read returns) instead of waiting forever; a
    // WouldBlock/TimedOut error here would mean it kept the connection open.
    let mut rest = Vec::new();
    let result = stream.read_to_end(&mut rest);
    assert!(
        result.is_ok()
            || result
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{result:?}"
    );
    // Other clients are still served.
    let raw = raw_http(&api.addr(), b"GET /healthz HTTP/1.0\r\n\r\n");
    assert!(RawResponse::parse(&raw).status_line.contains(" 200 "));
}
