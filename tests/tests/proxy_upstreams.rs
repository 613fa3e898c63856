//! The load balancer's lifecycle and nginx-like upstream features end to end: orderly
//! shutdown under load, strict alternation from the first answer at start-up, SIGHUP reload,
//! and the nginx upstream settings. Real `proxy` binary, in-process named backends on loopback
//! ports; where nginx has the feature, the same scenario runs against Debian's nginx too. No
//! test asserts a timing; waits are bounded polls.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::http::{get, require_nginx, Backend, Nginx, Proxy};

fn upstreams(list: &[&Backend]) -> String {
    list.iter().map(|b| b.addr()).collect::<Vec<_>>().join(",")
}

/// How one request on its own connection ended, as a client sees it.
enum Outcome {
    /// A complete 200 response.
    Answered,
    /// The connection was refused, or closed or reset before any response byte.
    Unanswered,
    /// Anything else: another status, a cut or malformed response.
    Bad(String),
}

/// `GET /` with `Connection: close`; a response counts as complete only when its body has
/// the length its `Content-Length` announced.
fn one_request(addr: &str) -> Outcome {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return Outcome::Unanswered;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return Outcome::Unanswered;
    }
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        return Outcome::Unanswered;
    }
    let r = match e2e::http::parse_response(&raw) {
        Ok(r) => r,
        Err(e) => return Outcome::Bad(format!("{e} after {read:?}")),
    };
    let length: Option<usize> = r.header("content-length").and_then(|v| v.parse().ok());
    if r.status != 200 || length != Some(r.body.len()) {
        return Outcome::Bad(format!(
            "status {} body {} of {length:?}",
            r.status,
            r.body.len()
        ));
    }
    Outcome::Answered
}

/// Reads one response on a keep-alive connection: `Some(close)` when complete (`close`: the
/// server said `Connection: close`), `None` when the connection ended before any byte.
fn read_one(s: &mut TcpStream) -> Result<Option<bool>, String> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ if raw.is_empty() => return Ok(None),
            r => return Err(format!("head cut after {} bytes: {r:?}", raw.len())),
        }
    }
    let r = e2e::http::parse_response(&raw).map_err(|e| e.to_string())?;
    let length: usize = r
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or("no content-length")?;
    let mut body = vec![0u8; length];
    s.read_exact(&mut body)
        .map_err(|e| format!("body cut: {e}"))?;
    if r.status != 200 {
        return Err(format!("status {}", r.status));
    }
    Ok(Some(r.header("connection") == Some("close")))
}

/// Requests on one keep-alive connection, reconnecting when the server closes it.
fn keep_alive_requests(
    addr: &str,
    stop: &AtomicBool,
    answered: &AtomicU64,
    bad: &Mutex<Vec<String>>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    'connect: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
                continue 'connect;
            }
            match read_one(&mut s) {
                Ok(Some(close)) => {
                    answered.fetch_add(1, Ordering::Relaxed);
                    if close {
                        continue 'connect;
                    }
                }
                Ok(None) => continue 'connect,
                Err(why) => {
                    bad.lock().unwrap().push(why);
                    continue 'connect;
                }
            }
        }
    }
}

/// Clients sending requests until stopped, every other one on keep-alive connections, the
/// others on a new connection each; counts answers and records
/// bad outcomes.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    bad: Arc<Mutex<Vec<String>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|i| {
                let (stop, answered, bad, addr) = (
                    stop.clone(),
                    answered.clone(),
                    bad.clone(),
                    addr.to_string(),
                );
                std::thread::spawn(move || {
                    if i % 2 == 1 {
                        return keep_alive_requests(&addr, &stop, &answered, &bad);
                    }
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        match one_request(&addr) {
                            Outcome::Answered => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Outcome::Unanswered => {}
                            Outcome::Bad(why) => bad.lock().unwrap().push(why),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            bad,
            clients,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Stops the clients; returns the answered count and the bad outcomes.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().unwrap();
        }
        let bad = std::mem::take(&mut *self.bad.lock().unwrap());
        (self.answered.load(Ordering::Relaxed), bad)
    }
}

/// SIGTERM while clients keep sending: the proxy stops accepting, answers every request it
/// took, and exits 0 — every time (it used to die by SIGABRT now and then, exiting from a
/// side thread while its workers ran). "Answered" is checked from both ends: every request a
/// backend served reached its client complete, and no client got a cut response.
/// `KVSTACK_SIGTERM_ROUNDS` overrides the 200 rounds.
///
/// Quarantined: in a fresh-clone CI run on 2026-12-07 round 115 of 200 still ended by SIGABRT
/// (wait status 6), so the abort of issue 26 is not fixed by the orderly shutdown alone; the
/// cause is not found yet. Run it by hand with
/// `KVSTACK_TEST_LOGS=1 cargo nextest run -p e2e --test proxy_upstreams --run-ignored only`.
#[test]
#[ignore = "reproduces the proxy's SIGABRT at shutdown now and then (issue 26, cause not found)"]
fn sigterm_under_load_always_exits_0_with_every_request_answered() {
    let rounds: usize = std::env::var("KVSTACK_SIGTERM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    for round in 0..rounds {
        let mut proxy = Proxy::start(&upstreams(&[&a, &b]), "");
        let served_before = a.served() + b.served();
        let load = Load::start(&proxy.addr(), 8);
        let deadline = Instant::now() + Duration::from_secs(30);
        while load.answered() < 20 {
            assert!(Instant::now() < deadline, "round {round}: no load");
            std::thread::sleep(Duration::from_millis(1));
        }
        let status = proxy.stop();
        let (answered, bad) = load.finish();
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: proxy exited with {status:?}; its stderr ends with:\n{}",
            proxy.stderr()
        );
        assert!(bad.is_empty(), "round {round}: {bad:?}");
        let served = a.served() + b.served() - served_before;
        assert_eq!(
            served, answered,
            "round {round}: backends served {served} requests, clients got {answered}"
        );
    }
}

/// Two loopback addresses nothing listens on yet.
fn two_free_addrs() -> [std::net::SocketAddr; 2] {
    e2e::free_ports::<2>().map(|p| format!("127.0.0.1:{p}").parse().unwrap())
}

/// From the first 200 on, 20 consecutive requests alternate strictly between the two.
fn check_alternation_from_the_first_answer(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let r = get(addr, "/").expect("request");
        if r.status == 200 {
            break r.backend().to_string();
        }
        assert!(Instant::now() < deadline, "never a 200: {r:?}");
    };
    let mut seen = vec![first];
    for _ in 0..19 {
        let r = get(addr, "/").expect("request");
        assert_eq!(r.status, 200, "{r:?}");
        seen.push(r.backend().to_string());
    }
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "not alternating from the first answer: {seen:?}"
    );
}

/// Start-up as `docker compose up` does it: the proxy first (its first checks find nothing
/// listening), then the backends. From the very first 200, requests alternate: a configured
/// upstream whose start-up check failed is still tried, as nginx tries its servers.
#[test]
fn requests_alternate_from_the_first_answer_after_start_up() {
    let addrs = two_free_addrs();
    let list = addrs.map(|a| a.to_string()).join(",");
    // A long check interval: alternation must not depend on a check passing first.
    let proxy = Proxy::start_untouched(&list, "health_interval_secs = 30");
    let _a = Backend::start_on("alpha", addrs[0]);
    let _b = Backend::start_on("beta", addrs[1]);
    check_alternation_from_the_first_answer(&proxy.addr());
}

#[test]
fn nginx_alternates_from_the_first_answer_after_start_up() {
    if !require_nginx() {
        return;
    }
    let addrs = two_free_addrs();
    let nginx = Nginx::start_untouched(&addrs.map(|a| a.to_string()));
    let _a = Backend::start_on("alpha", addrs[0]);
    let _b = Backend::start_on("beta", addrs[1]);
    check_alternation_from_the_first_answer(&nginx.addr());
}

/// The race the issue measured: the first backend listened in time for the proxy's first
/// check, the second did not. The second is still tried from the first request on.
#[test]
fn a_backend_that_missed_the_first_check_is_in_rotation_at_once() {
    let addrs = two_free_addrs();
    let list = addrs.map(|a| a.to_string()).join(",");
    let _a = Backend::start_on("alpha", addrs[0]);
    let proxy = Proxy::start_untouched(&list, "health_interval_secs = 30");
    let _b = Backend::start_on("beta", addrs[1]);
    check_alternation_from_the_first_answer(&proxy.addr());
}

#[test]
fn nginx_tries_a_backend_that_came_up_late_at_once() {
    if !require_nginx() {
        return;
    }
    let addrs = two_free_addrs();
    let _a = Backend::start_on("alpha", addrs[0]);
    let nginx = Nginx::start_untouched(&addrs.map(|a| a.to_string()));
    let _b = Backend::start_on("beta", addrs[1]);
    check_alternation_from_the_first_answer(&nginx.addr());
}

/// One failed check (a backend's store stalled past the check timeout for a moment, as in the
/// compose stack under `appendfsync always`) does not take the backend out: requests keep
/// alternating strictly while the check fails and is re-checked. Checks that keep failing do
/// take it out (`health_fall`, 2 by default).
#[test]
fn one_failed_check_keeps_the_rotation_and_a_failing_backend_leaves_it() {
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let proxy = Proxy::start(
        &upstreams(&[&a, &b]),
        "health_check = \"http\"\nhealth_path = \"/readyz\"\nhealth_interval_secs = 0.2",
    );
    let addr = proxy.addr();
    let mut seen = vec![who(&addr, "/")];
    let next = |seen: &mut Vec<String>| seen.push(who(&addr, "/"));
    b.fail_checks(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.checks_to_fail() > 0 {
        assert!(Instant::now() < deadline, "beta was never checked");
        next(&mut seen);
    }
    // Until the check after the failed one has surely run (it comes within 20 ms).
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        next(&mut seen);
    }
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "one failed check broke the rotation: {seen:?}"
    );

    b.set_ready(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = who(&addr, "/");
    loop {
        let now = who(&addr, "/");
        if now == "alpha" && last == "alpha" {
            break;
        }
        assert!(Instant::now() < deadline, "beta never left the rotation");
        last = now;
    }
}

/// The value of a counter series in the proxy's `/metrics` (0 when absent).
fn counter(proxy: &Proxy, series: &str) -> u64 {
    proxy
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_counter(proxy: &Proxy, series: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(proxy, series) < at_least {
        assert!(
            Instant::now() < deadline,
            "{series} never reached {at_least}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A request on an open keep-alive connection; returns the answering backend's name.
fn keep_alive_get(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        raw.push(byte[0]);
    }
    let r = e2e::http::parse_response(&raw).unwrap();
    let n: usize = r.header("content-length").unwrap().parse().unwrap();
    let mut body = vec![0u8; n];
    s.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// SIGHUP reads the file again, as `nginx -s reload`: new upstreams take the next requests,
/// including those on a connection opened before the reload, which stays open.
#[test]
fn sighup_reloads_the_upstreams_without_dropping_a_connection() {
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let proxy = Proxy::start("", &format!("upstreams = [\"{}\"]", a.addr()));
    let mut kept = TcpStream::connect(proxy.addr()).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(keep_alive_get(&mut kept), "alpha");
    assert_eq!(get(&proxy.addr(), "/").unwrap().backend(), "alpha");

    proxy.rewrite_config(&format!("upstreams = [\"{}\"]", b.addr()));
    proxy.signal("HUP");
    wait_counter(&proxy, "proxy_config_reloads_total{result=\"ok\"}", 1);
    for _ in 0..4 {
        assert_eq!(get(&proxy.addr(), "/").unwrap().backend(), "beta");
    }
    assert_eq!(keep_alive_get(&mut kept), "beta", "the kept connection");
}

/// A bad file on SIGHUP changes nothing: the old configuration keeps serving.
#[test]
fn sighup_with_a_bad_file_keeps_the_running_configuration() {
    let a = Backend::start("alpha");
    let mut proxy = Proxy::start("", &format!("upstreams = [\"{}\"]", a.addr()));
    proxy.rewrite_config("upstreams = [\"no port here\"]\nnot toml at all [");
    proxy.signal("HUP");
    wait_counter(&proxy, "proxy_config_reloads_total{result=\"error\"}", 1);
    proxy.rewrite_config("upstreams = [\"backend1\"]");
    proxy.signal("HUP");
    wait_counter(&proxy, "proxy_config_reloads_total{result=\"error\"}", 2);
    for _ in 0..4 {
        assert_eq!(get(&proxy.addr(), "/").unwrap().backend(), "alpha");
    }
    assert_eq!(
        counter(&proxy, "proxy_config_reloads_total{result=\"ok\"}"),
        0
    );
    assert!(proxy.stop().success());
}

/// Which backend answers `GET path` on a new connection.
fn who(addr: &str, path: &str) -> String {
    let r = get(addr, path).expect("request");
    assert_eq!(r.status, 200, "{path}: {r:?}");
    r.backend().to_string()
}

/// `backup`: the backup server takes no request while the primary serves, and every request
/// once the primary is gone.
fn check_backup(addr: &str, primary: &mut Backend, backup: &Backend) {
    for _ in 0..6 {
        assert_eq!(who(addr, "/"), "alpha");
    }
    assert_eq!(backup.received(), 0, "the backup got a request");
    primary.kill();
    for _ in 0..6 {
        assert_eq!(who(addr, "/"), "beta");
    }
}

#[test]
fn a_backup_server_serves_only_when_the_primary_is_down() {
    let (mut a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let proxy = Proxy::start(
        "",
        &format!("upstreams = [\"{}\", \"{} backup\"]", a.addr(), b.addr()),
    );
    check_backup(&proxy.addr(), &mut a, &b);
}

#[test]
fn nginx_uses_a_backup_server_only_when_the_primary_is_down() {
    if !require_nginx() {
        return;
    }
    let (mut a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let nginx = Nginx::start(&[a.addr(), format!("{} backup", b.addr())]);
    check_backup(&nginx.addr(), &mut a, &b);
}

/// `ip_hash`: one client sticks to one server; when it dies, to one other server.
fn check_ip_hash(addr: &str, backends: &mut [Backend; 3]) {
    let first = who(addr, "/");
    for i in 0..6 {
        assert_eq!(who(addr, &format!("/{i}")), first, "not sticky");
    }
    let victim = backends.iter_mut().find(|b| b.name == first).unwrap();
    victim.kill();
    let second = who(addr, "/");
    assert_ne!(second, first);
    for i in 0..6 {
        assert_eq!(
            who(addr, &format!("/{i}")),
            second,
            "not sticky after the failure"
        );
    }
}

fn three_backends() -> [Backend; 3] {
    ["alpha", "beta", "gamma"].map(Backend::start)
}

#[test]
fn ip_hash_keeps_a_client_on_one_server() {
    let mut bs = three_backends();
    let list: Vec<String> = bs.iter().map(|b| format!("\"{}\"", b.addr())).collect();
    let proxy = Proxy::start(
        "",
        &format!("method = \"ip_hash\"\nupstreams = [{}]", list.join(", ")),
    );
    check_ip_hash(&proxy.addr(), &mut bs);
}

#[test]
fn nginx_ip_hash_keeps_a_client_on_one_server() {
    if !require_nginx() {
        return;
    }
    let mut bs = three_backends();
    let nginx = Nginx::start_with(&bs.iter().map(|b| b.addr()).collect::<Vec<_>>(), "ip_hash;");
    check_ip_hash(&nginx.addr(), &mut bs);
}

/// Which backend answers each of 40 URIs (asked twice: the mapping must be stable).
fn uri_map(addr: &str) -> Vec<String> {
    let map: Vec<String> = (0..40).map(|i| who(addr, &format!("/item/{i}"))).collect();
    for (i, name) in map.iter().enumerate() {
        assert_eq!(&who(addr, &format!("/item/{i}")), name, "/item/{i} moved");
    }
    map
}

/// `hash $request_uri consistent` is nginx's Ketama (pingora-ketama is a port of it): the
/// same URI goes to the same server as with nginx, and removing a server moves only its URIs.
#[test]
fn consistent_hash_maps_uris_as_nginx_does() {
    if !require_nginx() {
        return;
    }
    let mut bs = three_backends();
    let addrs: Vec<String> = bs.iter().map(|b| b.addr()).collect();
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    let proxy = Proxy::start(
        "",
        &format!(
            "method = \"hash $request_uri consistent\"\nupstreams = [{}]",
            list.join(", ")
        ),
    );
    let nginx = Nginx::start_with(&addrs, "hash $request_uri consistent;");
    let ours = uri_map(&proxy.addr());
    for name in ["alpha", "beta", "gamma"] {
        assert!(
            ours.iter().any(|n| n == name),
            "{name} got no URI: {ours:?}"
        );
    }
    assert_eq!(ours, uri_map(&nginx.addr()), "ours vs nginx");
    bs[2].kill();
    let after = uri_map(&proxy.addr());
    for (before, now) in ours.iter().zip(&after) {
        if before != "gamma" {
            assert_eq!(before, now, "a URI of a live server moved");
        }
    }
}

/// `least_conn`: while one server holds a slow request, the quick ones go to the other.
fn check_least_conn(addr: &str, a: &Backend, b: &Backend) {
    let (a0, b0) = (a.received(), b.received());
    let slow_addr = addr.to_string();
    let slow = std::thread::spawn(move || who(&slow_addr, "/slow"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.received() + b.received() == a0 + b0 {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    let busy = if a.received() > a0 { "alpha" } else { "beta" };
    for _ in 0..6 {
        assert_ne!(
            who(addr, "/"),
            busy,
            "a quick request went to the busy server"
        );
    }
    assert_eq!(slow.join().unwrap(), busy);
}

#[test]
fn least_conn_avoids_the_busy_server() {
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let proxy = Proxy::start(
        "",
        &format!(
            "method = \"least_conn\"\nupstreams = [\"{}\", \"{}\"]",
            a.addr(),
            b.addr()
        ),
    );
    check_least_conn(&proxy.addr(), &a, &b);
}

#[test]
fn nginx_least_conn_avoids_the_busy_server() {
    if !require_nginx() {
        return;
    }
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let nginx = Nginx::start_with(&[a.addr(), b.addr()], "least_conn;");
    check_least_conn(&nginx.addr(), &a, &b);
}

/// `limit_req rate=1r/m burst=2 nodelay` with status 429: three requests pass at once, the
/// fourth is refused.
fn check_limit_req(addr: &str) {
    let statuses: Vec<u16> = (0..4).map(|_| get(addr, "/").unwrap().status).collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[test]
fn limit_req_refuses_beyond_the_burst() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start_untouched(
        &a.addr(),
        "limit_req_rate = 0.016667\nlimit_req_burst = 2\nlimit_req_status = 429",
    );
    check_limit_req(&proxy.addr());
}

#[test]
fn nginx_limit_req_refuses_beyond_the_burst() {
    if !require_nginx() {
        return;
    }
    let a = Backend::start("alpha");
    let nginx = Nginx::start_limited(
        &[a.addr()],
        "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;",
        "limit_req zone=one burst=2 nodelay; limit_req_status 429;",
    );
    check_limit_req(&nginx.addr());
}

/// `limit_conn 1`: while a client's slow request is in flight, its next one gets 503.
fn check_limit_conn(addr: &str, a: &Backend) {
    let before = a.received();
    let slow_addr = addr.to_string();
    let slow = std::thread::spawn(move || get(&slow_addr, "/slow").unwrap().status);
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.received() == before {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(get(addr, "/").unwrap().status, 503);
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(get(addr, "/").unwrap().status, 200, "the slot was released");
}

#[test]
fn limit_conn_refuses_a_second_request_in_flight() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start_untouched(&a.addr(), "limit_conn = 1");
    check_limit_conn(&proxy.addr(), &a);
}

#[test]
fn nginx_limit_conn_refuses_a_second_request_in_flight() {
    if !require_nginx() {
        return;
    }
    let a = Backend::start("alpha");
    let nginx = Nginx::start_limited(
        &[a.addr()],
        "limit_conn_zone $binary_remote_addr zone=addr:1m;",
        "limit_conn addr 1;",
    );
    check_limit_conn(&nginx.addr(), &a);
}

/// A reload applies the method and limits too: `backup` and `limit_req` appear at SIGHUP.
#[test]
fn sighup_applies_a_new_method_and_limits() {
    let (a, b) = (Backend::start("alpha"), Backend::start("beta"));
    let both = format!("upstreams = [\"{}\", \"{}\"]", a.addr(), b.addr());
    let proxy = Proxy::start("", &both);
    let seen: Vec<String> = (0..4).map(|_| who(&proxy.addr(), "/")).collect();
    assert!(seen.iter().any(|n| n == "beta"), "{seen:?}");
    proxy.rewrite_config(&format!(
        "upstreams = [\"{}\", \"{} backup\"]\nlimit_req_rate = 0.016667\nlimit_req_burst = 3",
        a.addr(),
        b.addr()
    ));
    proxy.signal("HUP");
    wait_counter(&proxy, "proxy_config_reloads_total{result=\"ok\"}", 1);
    for _ in 0..4 {
        assert_eq!(who(&proxy.addr(), "/"), "alpha");
    }
    assert_eq!(get(&proxy.addr(), "/").unwrap().status, 503);
}

/// A WebSocket-like backend: answers a request with `Connection: upgrade` and
/// `Upgrade: websocket` by `101 Switching Protocols`, then echoes every byte, upper-cased.
fn upgrade_backend() -> (String, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        // Health checks connect and close: wait for a connection that sends a head.
        let (mut s, head) = loop {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read_exact(&mut byte).is_err() {
                    break;
                }
                head.push(byte[0]);
            }
            if head.ends_with(b"\r\n\r\n") {
                break (s, head);
            }
        };
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        )
        .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    });
    (addr, server)
}

/// WebSocket pass-through: the upgrade headers reach the backend, the 101 reaches the
/// client, then bytes flow both ways on the same connection.
fn check_websocket(proxy_addr: &str, server: std::thread::JoinHandle<String>) {
    let mut c = TcpStream::connect(proxy_addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    for msg in ["hello", "second frame"] {
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.to_uppercase().as_bytes());
    }
    drop(c);
    let seen = server.join().unwrap();
    assert!(seen.contains("connection: upgrade"), "{seen}");
    assert!(seen.contains("upgrade: websocket"), "{seen}");
    assert!(seen.contains("x-forwarded-for: 127.0.0.1"), "{seen}");
}

#[test]
fn websocket_upgrade_is_passed_through() {
    let (addr, server) = upgrade_backend();
    let proxy = Proxy::start_untouched(&addr, "");
    check_websocket(&proxy.addr(), server);
}

/// nginx with the usual WebSocket lines in `location /`.
#[test]
fn nginx_passes_a_websocket_upgrade_through() {
    if !require_nginx() {
        return;
    }
    let (addr, server) = upgrade_backend();
    let nginx = Nginx::start_limited(
        &[addr],
        "",
        "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";",
    );
    check_websocket(&nginx.addr(), server);
}

/// A long chunked upload (past what the proxy holds for retries, so it is streamed) arrives
/// whole, and an HTTP/1.0 client gets an HTTP/1.x answer and a closed connection.
fn check_streamed_upload_and_http10(addr: &str) {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(7_001) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = e2e::http::parse_response(&e2e::http::raw_exchange(addr, &req).unwrap()).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("body-length"), Some("300000"));
    let sum = format!("{:016x}", e2e::http::fnv1a(&body));
    assert_eq!(r.echoed("body-sum"), Some(sum.as_str()));

    // HTTP/1.0 without Host: answered, then the connection closes (raw_exchange reads to
    // the close).
    let raw = e2e::http::raw_exchange(addr, b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let r = e2e::http::parse_response(&raw).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("GET /old HTTP/1.1"), "{}", r.body);
}

#[test]
fn streamed_uploads_and_http10_clients() {
    let a = Backend::start("alpha");
    let proxy = Proxy::start(&a.addr(), "");
    check_streamed_upload_and_http10(&proxy.addr());
}

#[test]
fn nginx_streams_uploads_and_serves_http10_clients() {
    if !require_nginx() {
        return;
    }
    let a = Backend::start("alpha");
    let nginx = Nginx::start(&[a.addr()]);
    check_streamed_upload_and_http10(&nginx.addr());
}
