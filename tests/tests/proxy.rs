//! The load balancer (`proxy`) end to end: real binary, in-process named backends on
//! loopback ports. The alternation and failover scenarios also run against Debian's nginx
//! with `configs/nginx.conf`, so the two stay equivalent. No test asserts a timing; waits are
//! bounded polls.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::http::{
    fnv1a, get, get_with, parse_response, raw_exchange, require_nginx, Backend, Nginx, Proxy,
    BIG_BODY,
};

/// Proxy settings that make the failure tests quick: a killed backend is found by the next
/// health check (every 0.2 s) or the first failed request, and returns within a second.
const QUICK_RECOVERY: &str = "fail_timeout_secs = 1";

fn two_backends() -> (Backend, Backend) {
    (Backend::start("alpha"), Backend::start("beta"))
}

fn upstreams(list: &[&Backend]) -> String {
    list.iter().map(|b| b.addr()).collect::<Vec<_>>().join(",")
}

/// Clients sending `GET /` on a new connection each until stopped (or for at most 60 s),
/// counting requests and recording every one that did not get a 200.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let clients = (0..clients)
            .map(|_| {
                let (stop, done, failures, addr) = (
                    stop.clone(),
                    done.clone(),
                    failures.clone(),
                    addr.to_string(),
                );
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        match get(&addr, "/") {
                            Ok(r) if r.status == 200 => {}
                            Ok(r) => failures
                                .lock()
                                .unwrap()
                                .push(format!("status {}", r.status)),
                            Err(e) => failures.lock().unwrap().push(e.to_string()),
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            failures,
            clients,
        }
    }

    fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits until `n` requests have finished (for at most 30 s).
    fn wait_for(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.done() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the clients and asserts that every request got a 200; returns how many ran.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().unwrap();
        }
        let total = self.done.load(Ordering::Relaxed);
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} of {total} requests failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        total
    }
}

/// 20 sequential requests alternate exactly between the two backends.
fn check_alternation(addr: &str) {
    let names: Vec<String> = (0..20)
        .map(|i| {
            let r = get(addr, "/").unwrap_or_else(|e| panic!("request {i}: {e}"));
            assert_eq!(r.status, 200, "request {i}: {r:?}");
            r.backend().to_string()
        })
        .collect();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "not alternating: {names:?}");
    }
    assert_eq!(
        names.iter().filter(|n| *n == "alpha").count(),
        10,
        "{names:?}"
    );
}

/// Runs concurrent clients, kills `victim` in the middle, and requires every request to
/// succeed; then restarts it and waits until it gets traffic again.
fn check_failover(addr: &str, victim: &mut Backend) {
    let load = Load::start(addr, 8);
    load.wait_for(300);
    victim.kill();
    let at_kill = load.done();
    load.wait_for(at_kill + 600);
    let total = load.finish();
    assert!(total > at_kill, "no request ran after the kill");

    victim.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        let r = get(addr, "/").expect("request after restart");
        assert_eq!(r.status, 200);
        seen = r.backend() == victim.name;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen, "{} got no traffic after its restart", victim.name);
}

/// Decodes a chunked body (trailers dropped).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk line");
        let line = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n", "chunk end");
        raw = &raw[size + 2..];
    }
}

/// Sends `request` and returns the parsed response (read until the server closes).
fn exchange(addr: &str, request: &[u8]) -> e2e::http::Response {
    parse_response(&raw_exchange(addr, request).unwrap()).unwrap()
}

/// Request and response bodies in every framing real clients use, HEAD, pipelining, and the
/// requests nginx refuses — with the same statuses from the proxy and from nginx.
fn check_framing(addr: &str) {
    // Request bodies with a length: one held in memory, one long enough to be streamed.
    for size in [5usize, 200_000] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut req = format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let r = exchange(addr, &req);
        assert_eq!(r.status, 200, "{size}-byte body: {r:?}");
        assert_eq!(r.echoed("body-length"), Some(size.to_string().as_str()));
        let sum = format!("{:016x}", fnv1a(&body));
        assert_eq!(r.echoed("body-sum"), Some(sum.as_str()), "{size}-byte body");
    }
    // A chunked request body arrives whole (nginx de-chunks it, the proxy passes it on).
    let r = exchange(
        addr,
        b"POST /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let sum = format!("{:016x}", fnv1a(b"hello world"));
    assert_eq!(r.echoed("body-sum"), Some(sum.as_str()), "{r:?}");

    // A chunked response, decoded, is the backend's whole echo.
    let raw = raw_exchange(
        addr,
        b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let r = parse_response(&raw).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
    let body = String::from_utf8(dechunk(r.body.as_bytes())).unwrap();
    assert!(body.contains("GET /chunked HTTP/1.1\n"), "{body}");
    assert!(body.contains("body-length: 0\n"), "{body}");

    // A response longer than any buffer on the way arrives whole.
    let r = exchange(
        addr,
        b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), BIG_BODY);

    // HEAD (no body despite Content-Length) and GETs pipelined on one connection: three
    // responses, in order, alternating between the backends.
    let raw = raw_exchange(
        addr,
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let heads: Vec<_> = text.match_indices("HTTP/1.1 200 OK\r\n").collect();
    assert_eq!(heads.len(), 3, "{text}");
    let (second, third) = (&text[heads[1].0..heads[2].0], &text[heads[2].0..]);
    let second = parse_response(second.as_bytes()).unwrap();
    let third = parse_response(third.as_bytes()).unwrap();
    assert!(second.body.contains("GET / HTTP/1.1"), "{text}");
    assert_ne!(second.backend(), third.backend(), "{text}");

    // Requests nginx refuses, refused with nginx's statuses.
    for (request, status) in [
        (&b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"[..], 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000000\r\n\r\n",
            413,
        ),
    ] {
        let r = exchange(addr, request);
        assert_eq!(r.status, status, "{}: {r:?}", String::from_utf8_lossy(request));
    }
}

#[test]
fn bodies_heads_and_pipelining_are_relayed_as_nginx_does() {
    let (a, b) = two_backends();
    let proxy = Proxy::start(&upstreams(&[&a, &b]), "");
    check_framing(&proxy.addr());
}

#[test]
fn nginx_relays_bodies_heads_and_pipelining() {
    if !require_nginx() {
        return;
    }
    let (a, b) = two_backends();
    let nginx = Nginx::start(&[a.addr(), b.addr()]);
    check_framing(&nginx.addr());
}

#[test]
fn twenty_requests_alternate_exactly() {
    let (a, b) = two_backends();
    let proxy = Proxy::start(&upstreams(&[&a, &b]), "");
    check_alternation(&proxy.addr());
}

#[test]
fn weights_share_requests_proportionally() {
    let (a, b) = two_backends();
    let proxy = Proxy::start(&format!("{}=2,{}", a.addr(), b.addr()), "");
    let alpha = (0..30)
        .filter(|_| get(&proxy.addr(), "/").unwrap().backend() == "alpha")
        .count();
    assert_eq!(alpha, 20, "alpha has weight 2 of 3");
}

#[test]
fn killing_a_backend_under_load_loses_no_request() {
    let (a, mut b) = two_backends();
    let proxy = Proxy::start(&upstreams(&[&a, &b]), QUICK_RECOVERY);
    check_failover(&proxy.addr(), &mut b);
    // Back to exact alternation once both are healthy.
    check_alternation(&proxy.addr());
    let metrics = proxy.metrics();
    assert!(
        metrics.contains("proxy_upstream_retries_total"),
        "{metrics}"
    );
}

#[test]
fn no_upstream_reachable_gives_502() {
    let mut a = Backend::start("alpha");
    let addr = a.addr();
    a.kill();
    let proxy = Proxy::start(&addr, "");
    for _ in 0..3 {
        let r = get(&proxy.addr(), "/").unwrap();
        assert_eq!(r.status, 502, "{r:?}");
        assert!(r.body.contains("502 Bad Gateway"), "{r:?}");
    }
}

#[test]
fn upstream_timeout_gives_504() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "read_timeout_secs = 1");
    let r = get(&proxy.addr(), "/slow").unwrap();
    assert_eq!(r.status, 504, "{r:?}");
    assert!(r.body.contains("504 Gateway Time-out"), "{r:?}");
    assert_eq!(get(&proxy.addr(), "/").unwrap().status, 200);
}

#[test]
fn forwarding_headers_reach_the_backend() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "server_header = \"kvstack-test\"");
    let r = get_with(
        &proxy.addr(),
        "/path?q=1",
        &[("X-Forwarded-For", "203.0.113.7"), ("User-Agent", "e2e")],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("GET /path?q=1 HTTP/1.1"), "{}", r.body);
    assert_eq!(
        r.echoed("host"),
        Some(proxy.addr().as_str()),
        "Host is preserved"
    );
    assert_eq!(r.echoed("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(r.echoed("x-forwarded-for"), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(r.echoed("x-forwarded-proto"), Some("http"));
    assert_eq!(r.echoed("user-agent"), Some("e2e"));
    assert_eq!(r.header("server"), Some("kvstack-test"));
}

#[test]
fn hostile_clients_are_cut_off_while_others_are_served() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start(
        &a.addr(),
        "client_header_timeout_secs = 1\nclient_body_timeout_secs = 1\nmax_header_bytes = 8192",
    );
    let addr = proxy.addr();
    let normal = Load::start(&addr, 1);

    // Slow headers: a partial head, then nothing. The proxy closes without a 200.
    let slow = raw_exchange(&addr, b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap_or_default();
    let slow = String::from_utf8_lossy(&slow);
    assert!(
        slow.is_empty() || slow.starts_with("HTTP/1.1 408"),
        "slow headers: {slow}"
    );

    // Oversized headers: 431 (nginx answers 400).
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let r = e2e::http::parse_response(&raw_exchange(&addr, big.as_bytes()).unwrap()).unwrap();
    assert!(r.status == 431 || r.status == 400, "oversized: {r:?}");

    // A garbage request line: 400.
    let r =
        e2e::http::parse_response(&raw_exchange(&addr, b"HELLO THERE\r\n\r\n").unwrap()).unwrap();
    assert_eq!(r.status, 400, "garbage: {r:?}");

    // A stalled body: 408, or a close.
    let stalled = raw_exchange(
        &addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .unwrap_or_default();
    let stalled = String::from_utf8_lossy(&stalled);
    assert!(
        stalled.is_empty() || stalled.starts_with("HTTP/1.1 408"),
        "stalled body: {stalled}"
    );

    let served = normal.finish();
    assert!(served > 0);
}

/// Backends `alpha` (127.0.0.1) and `beta` (127.0.0.2, same port) behind one name, `api`,
/// which a hosts file first resolves to alpha only, as before a scale-up.
struct ScaledApi {
    alpha: Backend,
    beta: Backend,
    hosts: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl ScaledApi {
    fn start() -> ScaledApi {
        let alpha = Backend::start("alpha");
        let port = alpha.addr.port();
        let beta = Backend::start_on("beta", format!("127.0.0.2:{port}").parse().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "127.0.0.1 api\n").unwrap();
        ScaledApi {
            alpha,
            beta,
            hosts,
            _dir: dir,
        }
    }

    /// A proxy in front of `api` that reads the hosts file, with more TOML lines.
    fn proxy(&self, extra_toml: &str) -> Proxy {
        Proxy::start(
            &format!("api:{}", self.alpha.addr.port()),
            &format!("hosts_file = \"{}\"\n{extra_toml}", self.hosts.display()),
        )
    }

    /// The name now resolves to beta too.
    fn scale_up(&self) {
        std::fs::write(&self.hosts, "127.0.0.1 api\n127.0.0.2 api\n").unwrap();
    }
}

/// Polls `GET /` until beta answers; false if it never did before `deadline`.
fn beta_answers(proxy: &Proxy, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if get(&proxy.addr(), "/").unwrap().backend() == "beta" {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn re_resolution_picks_up_a_new_backend() {
    let api = ScaledApi::start();
    let proxy = api.proxy("resolve_interval_secs = 0.2");
    for _ in 0..4 {
        assert_eq!(get(&proxy.addr(), "/").unwrap().backend(), "alpha");
    }
    api.scale_up();
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(
        beta_answers(&proxy, deadline),
        "the new address never got traffic"
    );
    assert!(api.beta.served() > 0);
}

/// A scaled-up backend that listens before it is ready (an api that cannot reach the store
/// yet) gets no user request until its health check passes; then it joins the rotation.
#[test]
fn a_new_backend_serves_only_after_its_check_passes() {
    let api = ScaledApi::start();
    api.beta.set_ready(false);
    // Checks once a second, names every 0.1 s: without the hold, beta would be picked for most
    // of the second between being resolved and being checked.
    let proxy = api.proxy(
        "resolve_interval_secs = 0.1\nhealth_interval_secs = 1\n\
         health_check = \"http\"\nhealth_path = \"/readyz\"",
    );
    api.scale_up();
    // beta answers only health checks while unready: three of them span two check intervals.
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.beta.served() < 3 {
        assert!(Instant::now() < deadline, "beta was never checked");
        assert_eq!(get(&proxy.addr(), "/").unwrap().backend(), "alpha");
    }
    api.beta.set_ready(true);
    assert!(
        beta_answers(&proxy, deadline),
        "beta never joined after passing"
    );
}

#[test]
fn metrics_and_healthz() {
    let mut a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "");
    let admin = format!("127.0.0.1:{}", proxy.admin_port);
    assert_eq!(get(&proxy.addr(), "/").unwrap().status, 200);
    let m = proxy.metrics();
    let series = format!(
        "proxy_requests_total{{status=\"200\",upstream=\"{}\"}}",
        a.addr()
    );
    assert!(m.contains(&series), "{series} missing from:\n{m}");
    assert!(m.contains("proxy_upstream_healthy"), "{m}");
    assert!(m.contains("proxy_request_duration_seconds_bucket"), "{m}");
    assert_eq!(get(&admin, "/healthz").unwrap().status, 200);

    a.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&admin, "/healthz").unwrap().status != 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&admin, "/healthz").unwrap().status, 503);
}

#[test]
fn healthcheck_subcommand_reports_the_admin_view() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "");
    let run = |admin: &str| {
        std::process::Command::new(e2e::binary("proxy"))
            .arg("healthcheck")
            .env("ADMIN_LISTEN", admin)
            .env("UPSTREAMS", a.addr())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    };
    assert!(run(&format!("127.0.0.1:{}", proxy.admin_port)).success());
    assert!(!run(&format!("127.0.0.1:{}", e2e::free_port())).success());
}

#[test]
fn bad_configuration_stops_startup_with_a_message() {
    for (var, value, message) in [
        ("UPSTREAMS", "backend1", "invalid upstream"),
        ("UPSTREAMS", "a:80=0", "invalid upstream"),
        ("LISTEN", "nowhere", "invalid LISTEN"),
        ("THREADS", "0", "invalid THREADS"),
    ] {
        let out = std::process::Command::new(e2e::binary("proxy"))
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(message), "{var}={value}: {stderr}");
    }
    // Both listeners on one address would share one socket, closed twice at shutdown.
    let out = std::process::Command::new(e2e::binary("proxy"))
        .env("LISTEN", "127.0.0.1:18080")
        .env("ADMIN_LISTEN", "127.0.0.1:18080")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid ADMIN_LISTEN"), "{stderr}");
}

#[test]
fn sigterm_drains_in_flight_requests() {
    let a = Backend::start("alpha");
    let mut proxy = Proxy::start(&a.addr(), "shutdown_grace_secs = 30");
    let addr = proxy.addr();
    // /slow takes 5 s at the backend; SIGTERM arrives while it is in flight.
    let slow = std::thread::spawn(move || get(&addr, "/slow"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy
        .metrics()
        .contains("proxy_request_duration_seconds_count")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(proxy.stop().success());
    let r = slow.join().unwrap().expect("in-flight request");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.backend(), "alpha");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    use std::io::{Read, Write};
    let a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "keepalive_timeout_secs = 1");
    let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    // Returns Ok only when the proxy closes the idle connection (a timeout is an error).
    s.read_to_end(&mut out)
        .expect("the proxy closes the idle connection");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn sigterm_exits_cleanly() {
    let a = Backend::start("alpha");
    let mut proxy = Proxy::start(&a.addr(), "");
    assert_eq!(get(&proxy.addr(), "/").unwrap().status, 200);
    assert!(proxy.stop().success());
}

/// pingora's graceful upgrade (`--upgrade`, then SIGQUIT to the old process): the new process
/// takes the listening sockets over, clients connecting all through the handover are served,
/// the old process exits 0 and the new one serves from then on.
#[test]
fn graceful_upgrade_refuses_no_client() {
    let (a, b) = two_backends();
    let mut proxy = Proxy::start(&upstreams(&[&a, &b]), "");
    let old_pid = proxy.pid();
    let load = Load::start(&proxy.addr(), 1);
    let status = proxy.upgrade();
    assert!(status.success(), "old proxy exited with {status:?}");
    assert_ne!(proxy.pid(), old_pid);
    // The old process is gone, so whatever answers now is the new one; its own counters
    // (it started at zero) show the requests it relayed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.metrics().contains("proxy_requests_total{") {
        assert!(Instant::now() < deadline, "the new proxy relays no request");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(load.finish() > 0);
    assert!(proxy.stop().success());
}

#[test]
fn nginx_alternates_exactly() {
    if !require_nginx() {
        return;
    }
    let (a, b) = two_backends();
    let nginx = Nginx::start(&[a.addr(), b.addr()]);
    check_alternation(&nginx.addr());
}

#[test]
fn nginx_loses_no_request_when_a_backend_dies() {
    if !require_nginx() {
        return;
    }
    let (a, mut b) = two_backends();
    let nginx = Nginx::start(&[a.addr(), b.addr()]);
    check_failover(&nginx.addr(), &mut b);
}
