//! Configuration: the environment (and flags) for what a compose file sets, an optional TOML
//! file for everything else. One [`Config`], validated once and printed at start-up, so a
//! typo stops the proxy with a message instead of a surprise at the first request.
//!
//! Precedence: flag / environment variable > TOML file > built-in default. The defaults are
//! the original stack's nginx (`upstream { server backend1:5000; server backend2:5000; }`,
//! `listen 80`) plus nginx's own defaults where nginx has one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// A bad setting; start-up stops with this message.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid upstream {0:?}: expected host:port or host:port=weight (weight 1..=100)")]
    Upstream(String),
    #[error("no upstreams configured (UPSTREAMS is empty)")]
    NoUpstreams,
    #[error("invalid {name} {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

/// One configured upstream: a name (or IP) that may resolve to several addresses, all of
/// which become backends with this weight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub weight: usize,
    /// nginx's per-server `max_fails` (`None`: the global `max_fails`).
    pub max_fails: Option<u32>,
    /// nginx's per-server `fail_timeout` (`None`: the global `fail_timeout_secs`).
    pub fail_timeout: Option<Duration>,
    /// nginx's `backup`: used only while no other server is usable.
    pub backup: bool,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if self.weight != 1 {
            write!(f, " weight={}", self.weight)?;
        }
        if let Some(n) = self.max_fails {
            write!(f, " max_fails={n}")?;
        }
        if let Some(t) = self.fail_timeout {
            write!(f, " fail_timeout={}s", t.as_secs_f64())?;
        }
        if self.backup {
            write!(f, " backup")?;
        }
        Ok(())
    }
}

/// Parses `host:port[=weight]`, with `[v6]:port` for IPv6 literals.
pub fn parse_upstream(item: &str) -> Result<Upstream, ConfigError> {
    let bad = || ConfigError::Upstream(item.to_string());
    let item = item.trim();
    let (addr, weight) = match item.rsplit_once('=') {
        Some((addr, w)) => (addr, w.trim().parse::<usize>().map_err(|_| bad())?),
        None => (item, 1),
    };
    if !(1..=100).contains(&weight) {
        return Err(bad());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    let valid_host = !host.is_empty()
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'));
    if !valid_host || port == 0 {
        return Err(bad());
    }
    Ok(Upstream {
        host: host.to_string(),
        port,
        weight,
        max_fails: None,
        fail_timeout: None,
        backup: false,
    })
}

/// Parses an nginx `server` line's arguments: `host:port` (or `host:port=weight`) then any
/// of `weight=N`, `max_fails=N`, `fail_timeout=T` (nginx time: `10s`, `500ms`, `1m`, bare
/// seconds) and `backup`.
pub fn parse_server(line: &str) -> Result<Upstream, ConfigError> {
    let bad = || ConfigError::Upstream(line.to_string());
    let mut words = line.split_whitespace();
    let mut up = parse_upstream(words.next().ok_or_else(bad)?)?;
    for word in words {
        match word.split_once('=') {
            Some(("weight", n)) => {
                up.weight = n.parse().map_err(|_| bad())?;
                if !(1..=100).contains(&up.weight) {
                    return Err(bad());
                }
            }
            Some(("max_fails", n)) => up.max_fails = Some(n.parse().map_err(|_| bad())?),
            Some(("fail_timeout", t)) => {
                up.fail_timeout = Some(nginx_time(t).ok_or_else(bad)?);
            }
            None if word == "backup" => up.backup = true,
            _ => return Err(bad()),
        }
    }
    Ok(up)
}

/// nginx's time syntax for one unit: `10s`, `500ms`, `2m`, `1h`, or bare seconds.
fn nginx_time(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// How a request's upstream is chosen, with nginx's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Weighted round robin (nginx's default).
    RoundRobin,
    /// `least_conn`: the server with the fewest requests in flight per weight.
    LeastConn,
    /// `ip_hash`: by the client address (IPv4: its first three octets, as nginx).
    IpHash,
    /// `hash KEY [consistent]`; consistent: Ketama, as nginx's.
    Hash { key: HashKey, consistent: bool },
}

/// The request variable a `hash` method hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKey {
    /// `$request_uri`: the request target as sent.
    RequestUri,
    /// `$remote_addr`: the client address.
    RemoteAddr,
}

/// Parses `method`: `round_robin`, `least_conn`, `ip_hash`, or `hash $var [consistent]`.
pub fn parse_method(v: &str) -> Result<Method, ConfigError> {
    let bad = |why| ConfigError::Invalid {
        name: "method",
        value: v.to_string(),
        why,
    };
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        ["round_robin"] => Ok(Method::RoundRobin),
        ["least_conn"] => Ok(Method::LeastConn),
        ["ip_hash"] => Ok(Method::IpHash),
        ["hash", key, rest @ ..] => {
            let key = match *key {
                "$request_uri" => HashKey::RequestUri,
                "$remote_addr" => HashKey::RemoteAddr,
                _ => return Err(bad("hash keys: $request_uri, $remote_addr")),
            };
            let consistent = match rest {
                [] => false,
                ["consistent"] => true,
                _ => return Err(bad("expected hash KEY [consistent]")),
            };
            Ok(Method::Hash { key, consistent })
        }
        _ => Err(bad(
            "expected round_robin, least_conn, ip_hash or hash KEY [consistent]",
        )),
    }
}

/// Parses the `UPSTREAMS` list (comma or whitespace separated).
pub fn parse_upstreams(list: &str) -> Result<Vec<Upstream>, ConfigError> {
    let ups = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(parse_upstream)
        .collect::<Result<Vec<_>, _>>()?;
    if ups.is_empty() {
        return Err(ConfigError::NoUpstreams);
    }
    Ok(ups)
}

/// Active health check kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A TCP connect.
    Tcp,
    /// `GET health_path`, healthy on `200`.
    Http,
}

/// The TOML file: every key optional; proxy/README.md has the table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// nginx `server` lines: `host:port weight=N max_fails=N fail_timeout=T backup`.
    pub upstreams: Option<Vec<String>>,
    /// nginx's balancing method: `least_conn`, `ip_hash`, `hash $request_uri consistent`...
    pub method: Option<String>,
    pub listen: Option<String>,
    pub threads: Option<usize>,
    pub admin_listen: Option<String>,
    pub access_log: Option<bool>,
    pub hosts_file: Option<PathBuf>,
    pub server_header: Option<String>,
    pub resolve_interval_secs: Option<f64>,
    pub health_check: Option<CheckKind>,
    pub health_path: Option<String>,
    pub health_interval_secs: Option<f64>,
    pub health_timeout_secs: Option<f64>,
    pub health_rise: Option<usize>,
    pub health_fall: Option<usize>,
    pub max_fails: Option<u32>,
    pub fail_timeout_secs: Option<f64>,
    pub connect_timeout_secs: Option<f64>,
    pub read_timeout_secs: Option<f64>,
    pub send_timeout_secs: Option<f64>,
    pub client_header_timeout_secs: Option<u64>,
    pub client_body_timeout_secs: Option<f64>,
    pub keepalive_timeout_secs: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub client_max_body_size: Option<u64>,
    pub max_connections: Option<usize>,
    pub upstream_keepalive: Option<usize>,
    pub upstream_idle_timeout_secs: Option<f64>,
    pub max_tries: Option<usize>,
    pub work_stealing: Option<bool>,
    pub shutdown_grace_secs: Option<u64>,
    pub shutdown_timeout_secs: Option<u64>,
    pub limit_req_rate: Option<f64>,
    pub limit_req_burst: Option<u32>,
    pub limit_req_status: Option<u16>,
    pub limit_conn: Option<u32>,
    pub limit_conn_status: Option<u16>,
}

/// Values given as flags or environment variables (they win over the file).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub upstreams: Option<String>,
    pub listen: Option<String>,
    pub threads: Option<usize>,
    pub admin_listen: Option<String>,
    pub access_log: Option<bool>,
    pub hosts_file: Option<PathBuf>,
    pub health_check: Option<CheckKind>,
    pub health_path: Option<String>,
}

/// The proxy's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub upstreams: Vec<Upstream>,
    pub method: Method,
    pub listen: SocketAddr,
    pub threads: usize,
    /// `None`: no admin listener.
    pub admin_listen: Option<SocketAddr>,
    pub access_log: bool,
    /// A hosts-format file consulted before DNS on every resolution (tests, static setups).
    pub hosts_file: Option<PathBuf>,
    /// Response `Server` header; empty: keep whatever the upstream sent.
    pub server_header: String,
    /// How often upstream names are re-resolved.
    pub resolve_interval: Duration,
    pub health_check: CheckKind,
    pub health_path: String,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    /// Consecutive successes that make a backend healthy again.
    pub health_rise: usize,
    /// Consecutive failures that make a backend unhealthy.
    pub health_fall: usize,
    /// Passive health, as nginx `max_fails`: failed attempts within `fail_timeout` that take
    /// a backend out of rotation for `fail_timeout` (0 disables).
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub send_timeout: Duration,
    /// Whole seconds, for the whole head of a connection's first request.
    pub client_header_timeout: u64,
    pub client_body_timeout: Duration,
    /// Idle keep-alive timeout for client connections, seconds (0: no keep-alive).
    pub keepalive_timeout: u64,
    /// Largest request head (request line + headers) accepted.
    pub max_header_bytes: usize,
    /// Largest request body accepted (nginx's `client_max_body_size`; 413 beyond it).
    pub client_max_body_size: u64,
    /// Client connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Idle keep-alive connections kept to the upstreams (all upstreams together), per
    /// worker thread as nginx's `keepalive` is per worker process.
    pub upstream_keepalive: usize,
    pub upstream_idle_timeout: Duration,
    /// Attempts per request (first try + retries on other upstreams), as nginx
    /// `proxy_next_upstream_tries` (0 = one per backend).
    pub max_tries: usize,
    /// One work-stealing runtime for all threads instead of one single-threaded runtime per
    /// thread (nginx's worker processes; the default).
    pub work_stealing: bool,
    /// SIGTERM: longest wait for in-flight requests (the proxy exits as soon as they end).
    pub shutdown_grace_secs: u64,
    /// Then: how long pingora waits for its runtimes to stop.
    pub shutdown_timeout_secs: u64,
    /// nginx's `limit_req`: requests per second per client address (`None`: no limit),
    /// with `limit_req_burst` more at once, refused with `limit_req_status`.
    pub limit_req_rate: Option<f64>,
    pub limit_req_burst: u32,
    pub limit_req_status: u16,
    /// nginx's `limit_conn`: requests in flight per client address (`None`: no limit).
    pub limit_conn: Option<u32>,
    pub limit_conn_status: u16,
}

fn secs(name: &'static str, v: Option<f64>, default: f64) -> Result<Duration, ConfigError> {
    let v = v.unwrap_or(default);
    if !(v.is_finite() && v > 0.0 && v < 1e7) {
        return Err(ConfigError::Invalid {
            name,
            value: v.to_string(),
            why: "must be a positive number of seconds",
        });
    }
    Ok(Duration::from_secs_f64(v))
}

/// True when binding both addresses would claim the same port (equal, or either is the
/// unspecified address of that family).
fn same_socket(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// nginx allows 400..=599 for `limit_req_status` / `limit_conn_status`; default 503.
fn limit_status(name: &'static str, v: Option<u16>) -> Result<u16, ConfigError> {
    match v.unwrap_or(503) {
        s @ 400..=599 => Ok(s),
        s => Err(ConfigError::Invalid {
            name,
            value: s.to_string(),
            why: "must be 400..=599",
        }),
    }
}

fn addr(name: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid {
        name,
        value: v.to_string(),
        why: "expected ip:port",
    })
}

impl Config {
    /// Reads the optional TOML file and applies the overrides.
    pub fn load(file: Option<&Path>, over: Overrides) -> Result<Config, ConfigError> {
        let f = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            None => FileConfig::default(),
        };
        Config::build(f, over)
    }

    pub fn build(f: FileConfig, over: Overrides) -> Result<Config, ConfigError> {
        let upstreams = match (over.upstreams, f.upstreams) {
            (Some(list), _) => parse_upstreams(&list)?,
            (None, Some(list)) => {
                let ups = list
                    .iter()
                    .map(|l| parse_server(l))
                    .collect::<Result<Vec<_>, _>>()?;
                if ups.is_empty() {
                    return Err(ConfigError::NoUpstreams);
                }
                ups
            }
            (None, None) => parse_upstreams("backend1:5000,backend2:5000")?,
        };
        let listen = addr(
            "LISTEN",
            &over.listen.or(f.listen).unwrap_or("0.0.0.0:80".into()),
        )?;
        let threads = over
            .threads
            .or(f.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 || threads > 1024 {
            return Err(ConfigError::Invalid {
                name: "THREADS",
                value: threads.to_string(),
                why: "must be 1..=1024",
            });
        }
        let admin = over
            .admin_listen
            .or(f.admin_listen)
            .unwrap_or("127.0.0.1:9091".into());
        let admin_listen = match admin.as_str() {
            "" | "off" => None,
            a => Some(addr("ADMIN_LISTEN", a)?),
        };
        if admin_listen.is_some_and(|a| same_socket(a, listen)) {
            // pingora keys listening sockets by address: a second service on the client
            // listener's address would get a second owner of the same socket, and each would
            // close it at shutdown (the second close aborts a debug build, and in a release
            // build closes whatever descriptor has that number by then).
            return Err(ConfigError::Invalid {
                name: "ADMIN_LISTEN",
                value: admin,
                why: "must not be the client listener's address (LISTEN)",
            });
        }
        let health_path = over.health_path.or(f.health_path).unwrap_or("/".into());
        if !health_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                name: "health_path",
                value: health_path,
                why: "must start with /",
            });
        }
        let max_header_bytes = f.max_header_bytes.unwrap_or(32 * 1024);
        if !(1024..=1024 * 1024).contains(&max_header_bytes) {
            return Err(ConfigError::Invalid {
                name: "max_header_bytes",
                value: max_header_bytes.to_string(),
                why: "must be 1024..=1048576",
            });
        }
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    name,
                    value: "0".into(),
                    why: "must be at least 1",
                })
            } else {
                Ok(v)
            }
        };
        let server_header = f.server_header.unwrap_or("kvstack-proxy".into());
        if http::HeaderValue::from_str(&server_header).is_err() {
            return Err(ConfigError::Invalid {
                name: "server_header",
                value: server_header,
                why: "not a valid header value",
            });
        }
        let method = match f.method {
            Some(m) => parse_method(&m)?,
            None => Method::RoundRobin,
        };
        if upstreams.iter().all(|u| u.backup) {
            return Err(ConfigError::Invalid {
                name: "upstreams",
                value: "backup".into(),
                why: "every server is a backup",
            });
        }
        let hashing = matches!(method, Method::IpHash | Method::Hash { .. });
        if hashing && upstreams.iter().any(|u| u.backup) {
            // nginx refuses it too: "balancing method does not support backup".
            return Err(ConfigError::Invalid {
                name: "method",
                value: format!("{method:?}"),
                why: "backup servers need round_robin or least_conn",
            });
        }
        Ok(Config {
            upstreams,
            method,
            listen,
            threads,
            admin_listen,
            access_log: over.access_log.or(f.access_log).unwrap_or(true),
            hosts_file: over.hosts_file.or(f.hosts_file),
            server_header,
            resolve_interval: secs("resolve_interval_secs", f.resolve_interval_secs, 5.0)?,
            health_check: over
                .health_check
                .or(f.health_check)
                .unwrap_or(CheckKind::Tcp),
            health_path,
            health_interval: secs("health_interval_secs", f.health_interval_secs, 1.0)?,
            health_timeout: secs("health_timeout_secs", f.health_timeout_secs, 1.0)?,
            health_rise: positive("health_rise", f.health_rise.unwrap_or(1))?,
            // Two: one slow check (the store stalled on an fsync for a second, as it does
            // for every backend at once) is not an outage; the second comes at once.
            health_fall: positive("health_fall", f.health_fall.unwrap_or(2))?,
            max_fails: f.max_fails.unwrap_or(1),
            fail_timeout: secs("fail_timeout_secs", f.fail_timeout_secs, 10.0)?,
            connect_timeout: secs("connect_timeout_secs", f.connect_timeout_secs, 5.0)?,
            read_timeout: secs("read_timeout_secs", f.read_timeout_secs, 60.0)?,
            send_timeout: secs("send_timeout_secs", f.send_timeout_secs, 60.0)?,
            client_header_timeout: match f.client_header_timeout_secs.unwrap_or(60) {
                0 => {
                    return Err(ConfigError::Invalid {
                        name: "client_header_timeout_secs",
                        value: "0".into(),
                        why: "must be at least 1",
                    })
                }
                n => n,
            },
            client_body_timeout: secs(
                "client_body_timeout_secs",
                f.client_body_timeout_secs,
                60.0,
            )?,
            keepalive_timeout: f.keepalive_timeout_secs.unwrap_or(75),
            max_header_bytes,
            client_max_body_size: f.client_max_body_size.unwrap_or(1024 * 1024),
            max_connections: positive("max_connections", f.max_connections.unwrap_or(10_000))?,
            upstream_keepalive: f.upstream_keepalive.unwrap_or(128),
            upstream_idle_timeout: secs(
                "upstream_idle_timeout_secs",
                f.upstream_idle_timeout_secs,
                60.0,
            )?,
            max_tries: f.max_tries.unwrap_or(0),
            work_stealing: f.work_stealing.unwrap_or(false),
            shutdown_grace_secs: f.shutdown_grace_secs.unwrap_or(5),
            shutdown_timeout_secs: f.shutdown_timeout_secs.unwrap_or(1),
            limit_req_rate: match f.limit_req_rate {
                None => None,
                Some(r) if r.is_finite() && r > 0.0 => Some(r),
                Some(r) => {
                    return Err(ConfigError::Invalid {
                        name: "limit_req_rate",
                        value: r.to_string(),
                        why: "must be a positive number of requests per second",
                    })
                }
            },
            limit_req_burst: f.limit_req_burst.unwrap_or(0),
            limit_req_status: limit_status("limit_req_status", f.limit_req_status)?,
            limit_conn: match f.limit_conn {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        name: "limit_conn",
                        value: "0".into(),
                        why: "must be at least 1",
                    })
                }
                n => n,
            },
            limit_conn_status: limit_status("limit_conn_status", f.limit_conn_status)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("backend1:5000").unwrap(),
            Upstream {
                host: "backend1".into(),
                port: 5000,
                weight: 1,
                ..Upstream::default()
            }
        );
        assert_eq!(parse_upstream("10.0.0.1:80=3").unwrap().weight, 3);
        assert_eq!(parse_upstream("[::1]:8080").unwrap().host, "::1");
        for bad in [
            "backend1",
            "backend1:",
            ":80",
            "a:0",
            "a:80=0",
            "a:80=x",
            "a b:80",
            "a:99999",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn defaults_are_the_original_stack() {
        let c = Config::build(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(
            c.upstreams
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>(),
            ["backend1:5000", "backend2:5000"]
        );
        assert_eq!(c.admin_listen, Some("127.0.0.1:9091".parse().unwrap()));
    }

    #[test]
    fn environment_wins_over_file() {
        let f: FileConfig = toml::from_str("listen = \"127.0.0.1:1\"\nthreads = 3").unwrap();
        let c = Config::build(
            f,
            Overrides {
                listen: Some("127.0.0.1:2".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.threads, 3);
    }

    #[test]
    fn health_check_from_environment() {
        let f: FileConfig = toml::from_str("health_check = \"tcp\"\nhealth_path = \"/\"").unwrap();
        let c = Config::build(
            f,
            Overrides {
                health_check: Some(CheckKind::Http),
                health_path: Some("/readyz".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.health_check, CheckKind::Http);
        assert_eq!(c.health_path, "/readyz");
    }

    #[test]
    fn nginx_server_lines_and_methods() {
        let u = parse_server("10.0.0.1:80 weight=3 max_fails=2 fail_timeout=5s backup").unwrap();
        assert_eq!(u.weight, 3);
        assert_eq!(u.max_fails, Some(2));
        assert_eq!(u.fail_timeout, Some(Duration::from_secs(5)));
        assert!(u.backup);
        assert_eq!(
            parse_server("a:1 fail_timeout=500ms").unwrap().fail_timeout,
            Some(Duration::from_millis(500))
        );
        for bad in [
            "a:1 weight=0",
            "a:1 bogus",
            "a:1 fail_timeout=5x",
            "a:1 max_fails=-1",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_method("least_conn").unwrap(), Method::LeastConn);
        assert_eq!(
            parse_method("hash $request_uri consistent").unwrap(),
            Method::Hash {
                key: HashKey::RequestUri,
                consistent: true
            }
        );
        assert!(parse_method("hash $host").is_err());
        assert!(parse_method("random").is_err());
    }

    #[test]
    fn admin_listener_on_the_client_listener_is_refused() {
        let build = |listen: &str, admin: &str| {
            Config::build(
                FileConfig::default(),
                Overrides {
                    listen: Some(listen.into()),
                    admin_listen: Some(admin.into()),
                    ..Overrides::default()
                },
            )
        };
        for (listen, admin) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("127.0.0.1:8080", "0.0.0.0:8080"),
        ] {
            let e = build(listen, admin).expect_err(admin).to_string();
            assert!(e.contains("ADMIN_LISTEN"), "{e}");
        }
        for (listen, admin) in [
            ("127.0.0.1:8080", "127.0.0.1:9091"),
            ("127.0.0.1:8080", "127.0.0.2:8080"),
            ("0.0.0.0:8080", "off"),
        ] {
            assert!(build(listen, admin).is_ok(), "{listen} {admin}");
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
