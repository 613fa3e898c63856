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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub weight: usize,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if self.weight != 1 {
            write!(f, "={}", self.weight)?;
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
    })
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
    pub upstreams: Option<Vec<String>>,
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
            (None, Some(list)) => parse_upstreams(&list.join(","))?,
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
        Ok(Config {
            upstreams,
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
            health_fall: positive("health_fall", f.health_fall.unwrap_or(1))?,
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
                weight: 1
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
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
